"""The Python port of the tutorial's toy against the real thing: its ws.js and index.js run by Node.

Every scenario runs twice over real sockets, once against
``wsexplore.teaching.ToyServer`` and once against ``node index.js`` (the
tutorial's files, verbatim, in this folder); the bytes each client receives,
the console output and the end of the process (which error, thrown where in
ws.js, or still running) must be the same. Both print ``Date.now()`` fixed
and run the 2 s timers every 150 ms.
"""

from __future__ import annotations


import pytest

from .runner import (
    REQUEST,
    Abort,
    Close,
    Connect,
    ConnectRefused,
    Eof,
    Exit,
    HalfClose,
    Out,
    Quiet,
    Read,
    Send,
    Sleep,
    Step,
    both,
    masked,
)

CHROMIUM = bytes.fromhex("818c55d0e1e6b05f700fd5510773e5366c48" "8283e85d0b2be95f08")  # "发送数据", then 01 02 03


def _with(header: bytes, value: bytes | None) -> bytes:
    """REQUEST with ``header`` set to ``value`` (None: without it)."""
    lines = [line for line in REQUEST[:-4].split(b"\r\n") if not line.lower().startswith(header.lower() + b":")]
    if value is not None:
        lines.insert(2, header + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n"


HANDSHAKES = {
    "valid": REQUEST,
    "no key: the accept of 'undefined'": _with(b"Sec-WebSocket-Key", None),
    "empty key": _with(b"Sec-WebSocket-Key", b""),
    "two keys, joined with a comma": REQUEST[:-2] + b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n",
    "a key that is not base64 (Latin-1 bytes)": _with(b"Sec-WebSocket-Key", b"\xe9t\xe9"),
    "a key with spaces around it": _with(b"Sec-WebSocket-Key", b"  dGhlIHNhbXBsZSBub25jZQ==  "),
    "Upgrade: h2c": _with(b"Upgrade", b"h2c"),
    "version 8": _with(b"Sec-WebSocket-Version", b"8"),
    "no version": _with(b"Sec-WebSocket-Version", None),
    "POST": REQUEST.replace(b"GET", b"POST", 1),
    "HTTP/1.0": REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0", 1),
    "Connection: keep-alive, Upgrade": _with(b"Connection", b"keep-alive, Upgrade"),
    "lower-case header names": REQUEST.replace(b"Connection: Upgrade", b"connection: upgrade"),
    "no Connection header: not an upgrade, no answer": _with(b"Connection", None),
    "no Upgrade header: no answer": _with(b"Upgrade", None),
    "an empty Upgrade header: no answer": _with(b"Upgrade", b""),
    "Connection: upgradex: no answer": _with(b"Connection", b"upgradex"),
    "not HTTP: 400": b"HELLO\r\n\r\n",
    "a bare LF: 400": REQUEST.replace(b"\r\n", b"\n"),
    "a space before a colon: 400": REQUEST.replace(b"Host: ", b"Host : "),
    "an unknown method: 400": REQUEST.replace(b"GET", b"FOO", 1),
    "a lower-case method: 400": REQUEST.replace(b"GET", b"get", 1),
    "a control character in a value: 400": _with(b"X-Test", b"a\x01b"),
    "a folded header line: 400": _with(b"X-Test", b"a\r\n b"),
    "15000 bytes of header: fine": _with(b"X-Big", b"a" * 15000),
    "20000 bytes of header: 431": _with(b"X-Big", b"a" * 20000),
    "CONNECT: closed without an answer": b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", HANDSHAKES.values(), ids=HANDSHAKES.keys())
async def test_the_handshake_answers_as_nodes_does(request_bytes: bytes) -> None:
    ours, node = await both([Connect("a", request_bytes), Quiet("a")])
    assert ours == node


async def test_what_each_handshake_gets_from_the_port() -> None:
    """The answers the comparison agrees on, spelled out: a 101 with the "undefined" hash, a 400, a 431, nothing."""
    ours, _ = await both([Connect("a", _with(b"Sec-WebSocket-Key", None))])
    assert ours.seen[0][1] == "answer"
    assert b"Sec-WebSocket-Accept: gH2cR3x4MfGXKljgIwL3fMYv0sY=\r\n" in ours.seen[0][2]
    for request, first_line in [(b"HELLO\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
                                (_with(b"X-Big", b"a" * 20000), b"HTTP/1.1 431 Request Header Fields Too Large")]:
        ours, _ = await both([Connect("a", request)])
        assert ours.seen[0][2].startswith(first_line)
    ours, _ = await both([Connect("a", _with(b"Upgrade", None))])
    assert ours.seen[0][1:] == ("no answer",)


# ------------------------------------------------------------------------------------------ reads and frames
FRAMES: dict[str, list[Step]] = {
    "two frames in one read: the second is lost": [Send("a", CHROMIUM), Out(), Quiet("a")],
    "a frame split across two reads": [Send("a", CHROMIUM[:10]), Out(), Send("a", CHROMIUM[10:18]), Out()],
    "unmasked: MASK misread, the length from the wrong bits": [Send("a", b"\x81\x05hello"), Out()],
    "unmasked and empty: length NaN": [Send("a", b"\x81\x00"), Out()],
    "second byte 01: length NaN": [Send("a", b"\x81\x01x"), Out()],
    "masked, empty": [Send("a", masked(1, b"")), Out()],
    "masking key cut short": [Send("a", b"\x81\x85\x01\x02"), Out()],
    "16-bit length, all in one read": [Send("a", masked(1, "长".encode() * 100)), Out()],
    "16-bit length for 5 bytes (not minimal)": [Send("a", masked(1, b"hello", form="16")), Out()],
    "RSV bits set: ignored": [Send("a", masked(1, b"rsv", rsv=7)), Out()],
    "invalid UTF-8: replacement characters": [Send("a", masked(1, b"caf\xe9 \xf0\x9f\x98 \xed\xa0\x80 \xc0\xaf x")), Out()],
    "binary: logged as UTF-8": [Send("a", masked(2, bytes([1, 2, 3, 0xFF, 0x41]))), Out()],
    "format characters in the text": [Send("a", masked(1, b"%s %d %% %o")), Out()],
    "newlines in the text": [Send("a", masked(1, b"one\ntwo\r\nthree")), Out()],
    "a fragmented message: the first part, then 'close'": [
        Send("a", masked(1, b"Hello, ", fin=False)), Out(), Send("a", masked(0, b"world")), Out()],
    "ping: 'close'": [Send("a", masked(9, b"are you there?")), Out(), Quiet("a")],
    "unsolicited pong: 'close'": [Send("a", masked(10, b"")), Out(), Quiet("a")],
    "close frame: 'close', no answer, TCP left open": [Send("a", masked(8, b"\x03\xe8bye")), Out(), Quiet("a")],
    "reserved opcodes 3 and 0xB: 'close'": [Send("a", masked(3, b"x")), Out(), Send("a", masked(0xB, b"")), Out()],
    "a 126-byte ping (control frames stop at 125)": [Send("a", masked(9, bytes(126))), Out()],
    "a fragmented ping": [Send("a", masked(9, b"p", fin=False)), Out()],
    "one byte: readUInt8 throws": [Send("a", b"\x81"), Exit(), Eof("a")],
    "two bytes saying 126: readUInt16BE throws": [Send("a", b"\x81\xfe"), Exit(), Eof("a")],
    "three bytes saying 126: readUInt16BE throws": [Send("a", b"\x81\xfe\x00"), Exit(), Eof("a")],
    "four bytes saying 127: readBigUInt64BE throws": [Send("a", b"\x82\xff\x00\x00"), Exit(), Eof("a")],
    "nine bytes saying 127": [Send("a", b"\x82\xff" + bytes(7)), Exit(), Eof("a")],
    "a 64-bit length: Number + BigInt throws": [Send("a", masked(2, bytes(10), form="64")), Exit(), Eof("a")],
}
FRAMES = {name: [Connect("a"), *steps] for name, steps in FRAMES.items()}
# A frame written with the request arrives in the same read: Node hands it to 'upgrade' as head, ws.js ignores it.
FRAMES["frame bytes in the request's read (head) are lost"] = [
    Connect("a", REQUEST, then=masked(1, b"lost")), Send("a", masked(1, b"second")), Out(), Quiet("a")]


@pytest.mark.parametrize("steps", FRAMES.values(), ids=FRAMES.keys())
async def test_each_read_is_handled_as_nodes_toy_does(steps: list[Step]) -> None:
    # Long intervals: no reply is due while the frames go in (replies have tests of their own).
    ours, node = await both(steps, interval_ms=60_000)
    assert ours == node


# ------------------------------------------------------------------------------------------ replies
REPLIES: dict[str, list[Step]] = {
    "a short reply": [Send("a", masked(1, b"hi")), Out(), Read("a", 2 + 16)],
    "126 bytes: the length byte says 'a 16-bit length follows'": [
        Send("a", masked(1, b"a" * 112)), Out(), Read("a", 2 + 126)],
    "200 bytes: the length byte sets MASK": [Send("a", masked(1, b"a" * 186)), Out(), Read("a", 2 + 200)],
    "256 bytes: writeUInt8 throws in the timer": [Send("a", masked(1, b"a" * 242)), Out(), Exit(), Eof("a")],
    "binary, echoed as text": [Send("a", masked(2, bytes([1, 2, 3, 0xFF]))), Out(), Read("a", 2 + 20)],
    "every message starts one more timer": [
        Send("a", masked(1, b"one")), Out(), Send("a", masked(1, b"two")), Out(),
        Read("a", 2 * (2 + 17))],
}


def _sorted_frames(data: str) -> list[str]:
    """Two timers' replies in whichever order they fired: the frames, sorted."""
    raw = bytes.fromhex(data)
    frames = []
    while raw:
        n = 2 + raw[1]
        frames.append(raw[:n].hex(" "))
        raw = raw[n:]
    return sorted(frames)


@pytest.mark.parametrize("steps", REPLIES.values(), ids=REPLIES.keys())
async def test_replies_are_the_bytes_nodes_toy_sends(steps: list[Step], request: pytest.FixtureRequest) -> None:
    ours, node = await both([Connect("a"), *steps])
    if "timer" in request.node.callspec.id and "one more" in request.node.callspec.id:
        # Both timers fire within a few ms of each other: compare the set of frames, not their order.
        assert _sorted_frames(ours.seen[-1][2]) == _sorted_frames(node.seen[-1][2])
        ours.seen[-1] = node.seen[-1] = ("compared above",)
    assert ours == node


# ------------------------------------------------------------------------------------------ connections
CONNECTIONS: dict[str, list[Step]] = {
    "a second client takes the first one's replies": [
        Connect("a"), Send("a", masked(1, b"for a")), Out(), Connect("b"), Read("b", 2 + 19),
        Send("b", masked(1, b"for b")), Out(), Read("b", 2 + 19), Quiet("a")],
    "the client closes while a timer runs: write EPIPE kills the process": [
        Connect("a"), Send("a", masked(1, b"hi")), Out(), Read("a", 18), Close("a"), Exit(), ConnectRefused("b")],
    "the client resets: read ECONNRESET kills the process": [
        Connect("a"), Connect("b"), Abort("a"), Exit(), Eof("b")],
    "the client ends its side: the toy keeps the socket and keeps writing": [
        Connect("a"), Send("a", masked(1, b"hi")), Out(), HalfClose("a"), Read("a", 18), Read("a", 18)],
    "a close frame, then FIN, no timer: nothing more, no crash": [
        Connect("a"), Send("a", masked(8, b"\x03\xe8")), Out(), HalfClose("a"), Quiet("a"),
        Connect("b"), Send("b", masked(1, b"still here")), Out()],
    "a crash drops every connection and the listening socket": [
        Connect("a"), Connect("b"), Send("b", b"\x81"), Exit(), Eof("a"), Eof("b"), ConnectRefused("c")],
    "a request split across two writes": [
        Connect("a", REQUEST[:20]), Send("a", REQUEST[20:]), Sleep(0.2), Send("a", masked(1, b"x")), Out()],
}


@pytest.mark.parametrize("steps", CONNECTIONS.values(), ids=CONNECTIONS.keys())
async def test_connections_end_as_with_node(steps: list[Step]) -> None:
    ours, node = await both(steps)
    assert ours == node


async def test_what_the_comparisons_agree_on() -> None:
    """Spelled out on the port alone, so a reader sees what 'the same' means above."""
    ours, _ = await both(CONNECTIONS["the client closes while a timer runs: write EPIPE kills the process"])
    assert ours.crash == ("Error: write EPIPE", "MyWebsocket.doSend (ws.js:136:17)", "Socket")
    assert ours.seen[-1] == ("b", "refused")
    ours, _ = await both([Connect("a"), Send("a", b"\x81\xfe\x00"), Exit()])
    assert ours.crash == ('RangeError [ERR_OUT_OF_RANGE]: The value of "offset" is out of range. It must be '
                          ">= 0 and <= 1. Received 2", "MyWebsocket.processData (ws.js:101:34)", None)
    ours, _ = await both([Connect("a"), Send("a", masked(9, b"x")), Out(), Quiet("a")])
    assert ours.stdout == b"close: undefined undefined\n" and ours.alive


# ------------------------------------------------------------------------------------------ send()
SENDS = {
    "send() before any connection": ("early", "text"),
    "send(42) before any connection": ("early", "number"),
    "send(42) on a message": ("on-data", "number"),
    "send({a: 1}) on a message": ("on-data", "object"),
    "send(null) on a message": ("on-data", "null"),
    "send('hello') on a message": ("on-data", "text"),
}


@pytest.mark.parametrize("args", SENDS.values(), ids=SENDS.keys())
async def test_send_fails_as_in_node(args: tuple[str, str]) -> None:
    if args[0] == "early":
        steps: list[Step] = [Exit()]
    elif args[1] == "text":
        steps = [Connect("a"), Send("a", masked(1, b"go")), Read("a", 2 + 5), Quiet("a")]
    else:
        steps = [Connect("a"), Send("a", masked(1, b"go")), Exit(), Eof("a")]
    ours, node = await both(steps, script="send.js", args=args)
    assert ours == node
    if args != ("on-data", "text"):
        assert ours.crash is not None and not ours.alive
