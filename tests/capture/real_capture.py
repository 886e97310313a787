"""A capture recorded by the real server from real peers, saved as JSON Lines: the seed that
hostile-file tests mutate. It holds every record kind and every error class a live server
records: accepted and refused handshakes (403, 421, 426), text, binary, fragmented and
compressed messages, pings, clean and failed closes, invalid UTF-8, a frame over the size
limit, a frame that does not inflate, a stream cut inside a frame, a bad close code."""

from __future__ import annotations

import asyncio
import io
import zlib

from websockets.asyncio.client import connect

from wsexplore import Server
from wsexplore.capture import Capture
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode

T = 10
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x37\xfa\x21\x3d"


def _upgrade(port: int, extra: str = "") -> bytes:
    return (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


async def _raw(port: int, request: bytes, frames: bytes, *, eof: bool = True) -> None:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)
    writer.write(request)
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
    writer.write(frames)
    if eof:
        writer.write_eof()
    try:
        await asyncio.wait_for(reader.read(), T)
    finally:
        writer.transport.abort()


async def _record() -> Capture:
    capture = Capture()
    async with Server("127.0.0.1", 0, capture=capture, compression="deflate", max_message_size=4096) as server:
        port = server.port
        async with connect(server.url, compression=None, open_timeout=T) as ws:
            await ws.send("发送数据")
            await ws.recv()
            await ws.send(b"\x00\x01\xff")
            await ws.recv()
            await ws.send(["frag", "mented"])
            await ws.recv()
            await (await ws.ping(b"hi"))
        async with connect(server.url, open_timeout=T) as ws:  # permessage-deflate
            await ws.send("compressed " * 20)
            await ws.recv()
        for origin, host in (("http://evil.example", f"127.0.0.1:{port}"), (None, f"evil.example:{port}")):
            extra = f"Origin: {origin}\r\n" if origin else ""
            request = _upgrade(port, extra).replace(f"Host: 127.0.0.1:{port}".encode(), f"Host: {host}".encode())
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await asyncio.wait_for(reader.read(), T)
            writer.transport.abort()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_upgrade(port).replace(b"Version: 13", b"Version: 8"))
        await asyncio.wait_for(reader.read(), T)
        writer.transport.abort()
        bad_utf8 = Frame(Opcode.TEXT, b"\xc3\x28", mask_key=MASK).encode()
        await _raw(port, _upgrade(port), bad_utf8)
        too_big = Frame(Opcode.BINARY, bytes(5000), mask_key=MASK).encode()
        await _raw(port, _upgrade(port), too_big)
        not_deflate = Frame(Opcode.TEXT, b"\xff\xff\xff\xff", rsv1=True, mask_key=MASK).encode()
        await _raw(port, _upgrade(port, "Sec-WebSocket-Extensions: permessage-deflate\r\n"), not_deflate)
        compressor = zlib.compressobj(wbits=-15)
        deflated = compressor.compress(b"x" * 3000) + compressor.flush(zlib.Z_SYNC_FLUSH)
        inflates = Frame(Opcode.BINARY, deflated[:-4], rsv1=True, mask_key=MASK).encode()
        await _raw(port, _upgrade(port, "Sec-WebSocket-Extensions: permessage-deflate\r\n"), inflates,
                   eof=True)
        cut = Frame(Opcode.BINARY, b"cut short", mask_key=MASK).encode()[:7]
        await _raw(port, _upgrade(port), cut)
        unmasked = Frame(Opcode.TEXT, b"plain").encode()
        await _raw(port, _upgrade(port), unmasked)
        bad_code = Frame(Opcode.CLOSE, b"\x03\xe7", mask_key=MASK).encode()  # 999: InvalidCloseCode
        await _raw(port, _upgrade(port), bad_code)
    capture.opened(99, "relay", b"GET / HTTP/1.1\r\nHost: x\r\nCookie: a=b\r\n\r\n", b"HTTP/1.1 101 OK\r\n\r\n",
                   101, via="relay", note="the head was re-serialised", forwarded_request=b"GET / HTTP/1.1\r\n\r\n")
    capture.error(None, "a subscriber raised")
    return capture


def real_capture_text() -> str:
    """The JSON Lines text of a freshly recorded capture (secrets kept, so the file is what was seen)."""
    capture = asyncio.run(_record())
    out = io.StringIO()
    capture.save(out, include_secrets=True)
    return out.getvalue()
