"""What the notebooks rely on in ``ToyServer`` beyond doing what Node does: its handles, not its bugs."""

from __future__ import annotations

import pytest

from wsexplore import Frame, Opcode
from wsexplore.teaching import RawClient, ToyServer, check, check_that

KEY = bytes.fromhex("37fa213d")


async def test_a_restart_on_the_same_port_after_a_crash() -> None:
    toy = await ToyServer().start()
    port = toy.port
    client = await RawClient.open(port)
    await client.send(b"\x81")                      # readUInt8(1) throws: the process ends
    line = await toy.next_line()
    assert line.stream == "stderr" and line.text.startswith("RangeError [ERR_OUT_OF_RANGE]")
    assert not toy.alive and toy.port == port       # the port is remembered once the socket is gone
    assert await client.rest() == (b"", "closed")
    with pytest.raises(ConnectionRefusedError):
        await RawClient.open(port)
    again = await ToyServer(port=toy.port).start()
    try:
        assert again.port == port and (await RawClient.open(port)).status_line == "HTTP/1.1 101 Switching Protocols"
    finally:
        await again.stop()


async def test_next_line_waits_then_says_why_it_gave_up() -> None:
    async with ToyServer(interval=60) as toy:
        client = await RawClient.open(toy.port)
        await client.send(Frame(Opcode.TEXT, b"one", mask_key=KEY).encode())
        assert (await toy.next_line()).text == "receive data:one"
        assert toy.timers == 1
        with pytest.raises(TimeoutError, match="printed nothing more within 0.2s"):
            await toy.next_line(timeout=0.2)


async def test_stop_ends_timers_connections_and_the_listening_socket() -> None:
    toy = await ToyServer(interval=0.05, clock=lambda: 7).start()
    client = await RawClient.open(toy.port)
    await client.send(Frame(Opcode.TEXT, b"hi", mask_key=KEY).encode())
    assert await client.read(6) == b"\x81\x04hi 7"
    await toy.stop()
    assert toy.timers == 0 and not toy.alive and toy.crashed is None
    data, state = await client.rest(1)
    assert state == "closed"                        # whatever replies were in flight, then the end
    assert repr(toy).startswith("<ToyServer stopped")


async def test_send_from_index_js_before_a_connection_is_fatal() -> None:
    async with ToyServer() as toy:
        toy.send("hello")
        assert toy.crashed is not None
        assert toy.crashed.header == "TypeError: Cannot read properties of undefined (reading 'write')"
        assert toy.crashed.at == "MyWebsocket.doSend (ws.js:136:17)"
        assert "crashed: TypeError" in repr(toy)


async def test_echo_prints_each_console_line(capsys: pytest.CaptureFixture[str]) -> None:
    async with ToyServer(echo=True, interval=60) as toy:
        client = await RawClient.open(toy.port)
        await client.send(Frame(Opcode.PING, b"", mask_key=KEY).encode())
        await toy.next_line()
    assert capsys.readouterr().out == "close: undefined undefined\n"


def test_check_says_right_wrong_or_nothing_yet(capsys: pytest.CaptureFixture[str]) -> None:
    check(None, 5)
    check(5, 5)
    check(4, 5)
    check_that(False, "the frame must be valid")
    check_that(True, "unused")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("no prediction yet")
    assert out[1] == "✓ right"
    assert out[2].startswith("✗ not quite: you predicted 4") and "5" not in out[2]   # the answer stays hidden
    assert out[3].startswith("not yet: the frame must be valid")
    assert out[4] == "✓ it does"
