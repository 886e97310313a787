"""Group "protocol": receive rate of small masked text frames through sans-I/O servers.

The workload is a chat-like stream: 20,000 client text frames of 20-120 bytes
(ASCII with some multi-byte UTF-8), each masked with its own random key
(RFC 6455 section 5.3), concatenated and delivered in 4 KiB reads. Every
contender gets the very same chunks, after a real opening handshake, and must
decode every message before its rate counts.

Our ``Connection`` keeps each frame's raw bytes (``FrameReceived.raw``) and
validates UTF-8; websockets' sans-I/O ``ServerProtocol`` does not validate UTF-8
(its I/O layer decodes text later), so it is also shown with that decode added.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
from typing import Callable

from common import Goal, Table, best_of, fmt_rate, register

from wsexplore.protocol.connection import Connection
from wsexplore.protocol.events import FrameReceived, MessageReceived

FRAMES = 20_000
CHUNK = 4096
SEED = 6455
REPEAT = 10
GOAL_VS_WEBSOCKETS = 1.5

HANDSHAKE = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: localhost:8765\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)

_WIDE = "éßøñ€✓→中文😀🚀"


def _random_text(rng: random.Random, size: int) -> str:
    """Text whose UTF-8 form is exactly ``size`` bytes, about one character in six non-ASCII."""
    chars: list[str] = []
    left = size
    while left:
        c = rng.choice(_WIDE) if rng.random() < 0.17 else chr(rng.randint(0x20, 0x7E))
        n = len(c.encode())
        if n > left:
            c, n = "x", 1
        chars.append(c)
        left -= n
    return "".join(chars)


def _mask(data: bytes, key: bytes) -> bytes:
    # Independent of the code under test: one big-integer XOR with the repeated key.
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def make_workload(frames: int = FRAMES, seed: int = SEED) -> tuple[list[str], list[bytes]]:
    """The expected messages and the client's byte stream cut into ``CHUNK``-byte reads."""
    rng = random.Random(seed)
    texts: list[str] = []
    wire = bytearray()
    for _ in range(frames):
        text = _random_text(rng, rng.randint(20, 120))
        payload = text.encode()
        key = rng.randbytes(4)
        wire += bytes((0x81, 0x80 | len(payload))) + key + _mask(payload, key)
        texts.append(text)
    stream = bytes(wire)
    return texts, [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]


# --------------------------------------------------------------------------- contenders
# Each contender: ``open()`` returns a connection after the opening handshake (not
# timed); ``feed(conn, chunks)`` is the timed server loop and returns how many text
# messages it got; ``collect(conn, chunks)`` returns the decoded texts (checked once).


def _ours_open() -> Connection:
    return Connection("server")  # the handshake is a separate layer: this is the open state


def _ours_feed(conn: Connection, chunks: list[bytes]) -> int:
    count = 0
    receive = conn.receive_data
    for chunk in chunks:
        for event in receive(chunk):
            if type(event) is MessageReceived:
                count += 1
    return count


def _ours_collect(conn: Connection, chunks: list[bytes]) -> list[str]:
    out = []
    raw_total = 0
    for chunk in chunks:
        for event in conn.receive_data(chunk):
            if type(event) is MessageReceived:
                out.append(event.data)
            elif type(event) is FrameReceived:
                raw_total += len(event.raw)
    if raw_total != sum(len(c) for c in chunks):
        raise AssertionError(f"FrameReceived.raw covers {raw_total} bytes, stream has {sum(map(len, chunks))}")
    return out


def _websockets_open():  # type: ignore[no-untyped-def]
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    proto = ServerProtocol()
    proto.receive_data(HANDSHAKE)
    (request,) = proto.events_received()
    proto.send_response(proto.accept(request))
    proto.data_to_send()
    if proto.state is not State.OPEN or proto.handshake_exc is not None:
        raise RuntimeError(f"websockets handshake failed: {proto.handshake_exc!r}")
    return proto


def _websockets_feed(proto, chunks: list[bytes]) -> int:  # type: ignore[no-untyped-def]
    from websockets.frames import Opcode

    text = Opcode.TEXT
    count = 0
    receive, events, to_send = proto.receive_data, proto.events_received, proto.data_to_send
    for chunk in chunks:
        receive(chunk)
        for frame in events():
            if frame.opcode is text:
                count += 1
        if to_send():
            raise RuntimeError("websockets wants to send data on a plain text stream")
    return count


def _websockets_decode_feed(proto, chunks: list[bytes]) -> int:  # type: ignore[no-untyped-def]
    from websockets.frames import Opcode

    text = Opcode.TEXT
    count = 0
    receive, events, to_send = proto.receive_data, proto.events_received, proto.data_to_send
    for chunk in chunks:
        receive(chunk)
        for frame in events():
            if frame.opcode is text:
                frame.data.decode()  # what websockets' I/O layer does with a final text frame
                count += 1
        if to_send():
            raise RuntimeError("websockets wants to send data on a plain text stream")
    return count


def _websockets_collect(proto, chunks: list[bytes]) -> list[str]:  # type: ignore[no-untyped-def]
    from websockets.frames import Opcode

    out = []
    for chunk in chunks:
        proto.receive_data(chunk)
        out += [bytes(f.data).decode() for f in proto.events_received() if f.opcode is Opcode.TEXT and f.fin]
        proto.data_to_send()
    return out


def _wsproto_open():  # type: ignore[no-untyped-def]
    from wsproto import ConnectionState, ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request

    ws = WSConnection(ConnectionType.SERVER)
    ws.receive_data(HANDSHAKE)
    events = list(ws.events())
    if len(events) != 1 or not isinstance(events[0], Request):
        raise RuntimeError(f"wsproto handshake: unexpected events {events!r}")
    ws.send(AcceptConnection())
    if ws.state is not ConnectionState.OPEN:
        raise RuntimeError(f"wsproto handshake left state {ws.state}")
    return ws


def _wsproto_feed(ws, chunks: list[bytes]) -> int:  # type: ignore[no-untyped-def]
    from wsproto.events import TextMessage

    count = 0
    receive, events = ws.receive_data, ws.events
    for chunk in chunks:
        receive(chunk)
        for event in events():
            if type(event) is TextMessage and event.message_finished:
                count += 1
    return count


def _wsproto_collect(ws, chunks: list[bytes]) -> list[str]:  # type: ignore[no-untyped-def]
    from wsproto.events import TextMessage

    out = []
    parts: list[str] = []  # wsproto hands out a frame split across reads in pieces
    for chunk in chunks:
        ws.receive_data(chunk)
        for event in ws.events():
            if isinstance(event, TextMessage):
                parts.append(event.data)
                if event.message_finished:
                    out.append("".join(parts))
                    parts = []
    return out


CONTENDERS: list[tuple[str, str, Callable, Callable, Callable]] = [
    ("wsexplore", "Connection('server'), raw bytes + offset per frame, UTF-8 validated",
     _ours_open, _ours_feed, _ours_collect),
    ("websockets", "sans-I/O ServerProtocol after a real handshake, data_to_send() drained, no UTF-8 check",
     _websockets_open, _websockets_feed, _websockets_collect),
    ("websockets+utf8", "same, plus frame.data.decode() as its I/O layer does",
     _websockets_open, _websockets_decode_feed, _websockets_collect),
    ("wsproto", "WSConnection(SERVER) after a real handshake (h11 + FrameProtocol), UTF-8 validated",
     _wsproto_open, _wsproto_feed, _wsproto_collect),
]


def _versions() -> str:
    import websockets
    import wsproto

    try:
        from websockets.speedups import apply_mask  # noqa: F401

        speedups = "C speedups on"
    except ImportError:
        speedups = "C speedups OFF"
    return f"websockets {websockets.__version__} ({speedups}), wsproto {wsproto.__version__}"


def run() -> list[Table]:
    texts, chunks = make_workload()
    stream_bytes = sum(len(c) for c in chunks)
    rates: dict[str, float] = {}
    for name, _, open_, feed, collect in CONTENDERS:
        got = collect(open_(), chunks)
        if got != texts:
            bad = next(i for i, (a, b) in enumerate(zip(got, texts)) if a != b) if len(got) == len(texts) else len(got)
            raise AssertionError(f"{name} decoded {len(got)} messages, first mismatch at #{bad}")
        counts: list[int] = []
        state: list = []
        seconds = best_of(
            lambda: counts.append(feed(state[-1], chunks)),
            repeat=REPEAT,
            setup=lambda: state.append(open_()),
        )
        if set(counts) != {FRAMES}:
            raise AssertionError(f"{name} counted {sorted(set(counts))} messages per run, expected {FRAMES}")
        rates[name] = FRAMES / seconds

    ours = rates["wsexplore"]
    table = Table(
        f"protocol: receive {FRAMES:,} masked text frames of 20-120 B ({stream_bytes / 1e6:.2f} MB in"
        f" {len(chunks)} reads of {CHUNK} B), best of {REPEAT}",
        ["contender", "frames/s", "MB/s", "µs/frame", "ours / this"],
    )
    for name, _, *_ in CONTENDERS:
        r = rates[name]
        table.add(name, fmt_rate(r), f"{r * stream_bytes / FRAMES / 1e6:.1f}", f"{1e6 / r:.2f}", f"{ours / r:.2f}x")
    table.notes.append(_versions() + "; every contender decoded all messages, checked against the sent texts")
    table.notes.append("handshakes are not timed; the collector is off while timing (as timeit does)")
    for name, desc, *_ in CONTENDERS:
        table.notes.append(f"{name}: {desc}")
    ratio = ours / rates["websockets"]
    table.goals.append(Goal(f"wsexplore >= {GOAL_VS_WEBSOCKETS}x websockets ServerProtocol (now {ratio:.2f}x)",
                            ratio >= GOAL_VS_WEBSOCKETS))
    return [table]


def profile(limit: int = 25) -> str:
    """cProfile of our receive loop on the same workload: where the time goes."""
    _, chunks = make_workload()
    conn = _ours_open()
    prof = cProfile.Profile()
    prof.enable()
    _ours_feed(conn, chunks)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


register("protocol", "small-frame receive rate: wsexplore vs websockets vs wsproto", order=10, profile=profile)(run)
