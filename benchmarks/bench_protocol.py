"""Group "protocol": receive rate of masked client frames through sans-I/O servers, by kind of frame.

Workloads, each a stream of client frames masked with a random key per frame
(RFC 6455 section 5.3), concatenated and delivered in 4 KiB reads, the very
same chunks for every contender after a real opening handshake:

* small text: 20,000 text frames of 20-120 bytes (ASCII with some multi-byte
  UTF-8), each a whole message: our receive loop's fast path;
* 16-bit lengths: binary messages of 126 B to 16 KiB (section 5.2);
* 64-bit lengths: binary messages of 64 KiB to 256 KiB;
* fragments: text messages in 3 frames each (a text frame with FIN=0, then two
  continuation frames, section 5.4), which miss the fast path;
* control frames: a ping after every small text message (section 5.5.2), which
  each server must answer with a pong.

Every contender must decode every message (and answer every ping) before its
rate counts; the messages are checked against what was sent first. Our
``Connection`` keeps each frame's raw bytes (``FrameReceived.raw``) and
validates UTF-8; websockets' sans-I/O ``ServerProtocol`` does not validate
UTF-8 (its I/O layer decodes text later), so it is also shown with that
decode added.

A second table times pieces that tests used to time: appending a frame to a
``Capture`` (the live path, no dissection) and dissecting a 16 MiB frame.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
import statistics
from dataclasses import dataclass
from typing import Callable

from common import Goal, Table, best_of, fmt_rate, register

from wsexplore.protocol.connection import Connection
from wsexplore.protocol.events import FrameReceived, MessageReceived, PingReceived

FRAMES = 20_000
CHUNK = 4096
SEED = 6455
REPEAT = 10
GOAL_VS_WEBSOCKETS = 1.5  # small text frames, our fast path
GOAL_OTHERS = 1.0  # every other kind of frame

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


def _frame(opcode: int, payload: bytes, rng: random.Random, fin: bool = True) -> bytes:
    """A masked client frame in the minimal length form (section 5.2)."""
    key = rng.randbytes(4)
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        head = bytes((b0, 0x80 | n))
    elif n < 65536:
        head = bytes((b0, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + key + _mask(payload, key)


@dataclass(frozen=True)
class Workload:
    """A stream of client frames: the messages it carries (str or bytes) and its reads."""

    name: str
    messages: list[str | bytes]
    frames: int
    pings: int
    chunks: list[bytes]

    @property
    def nbytes(self) -> int:
        return sum(map(len, self.chunks))


def _chunked(wire: bytes) -> list[bytes]:
    return [wire[i : i + CHUNK] for i in range(0, len(wire), CHUNK)]


def make_workload(frames: int = FRAMES, seed: int = SEED) -> tuple[list[str], list[bytes]]:
    """The small-text workload: the expected messages and the client's byte stream cut into ``CHUNK``-byte reads."""
    w = small_text(frames, seed)
    return w.messages, w.chunks  # type: ignore[return-value]


def small_text(frames: int = FRAMES, seed: int = SEED, *, pings: bool = False) -> Workload:
    rng = random.Random(seed)
    texts: list[str | bytes] = []
    wire = bytearray()
    for i in range(frames):
        text = _random_text(rng, rng.randint(20, 120))
        wire += _frame(0x1, text.encode(), rng)
        texts.append(text)
        if pings:
            wire += _frame(0x9, i.to_bytes(8, "big"), rng)
    name = (f"text + a ping each ({frames:,} + {frames:,})" if pings else f"small text, 20-120 B ({frames:,})")
    return Workload(name, texts, frames * (2 if pings else 1), frames if pings else 0, _chunked(bytes(wire)))


def binary(name: str, count: int, low: int, high: int, seed: int) -> Workload:
    rng = random.Random(seed)
    data: list[str | bytes] = []
    wire = bytearray()
    base = rng.randbytes(high)
    for i in range(count):
        payload = i.to_bytes(4, "big") + base[: rng.randint(low, high) - 4]
        wire += _frame(0x2, payload, rng)
        data.append(payload)
    return Workload(name, data, count, 0, _chunked(bytes(wire)))


def fragmented(count: int, seed: int) -> Workload:
    """Text messages of 3 frames: TEXT with FIN=0, CONTINUATION, CONTINUATION with FIN=1 (section 5.4)."""
    rng = random.Random(seed)
    texts: list[str | bytes] = []
    wire = bytearray()
    for _ in range(count):
        parts = [_random_text(rng, rng.randint(10, 40)) for _ in range(3)]
        wire += _frame(0x1, parts[0].encode(), rng, fin=False)
        wire += _frame(0x0, parts[1].encode(), rng, fin=False)
        wire += _frame(0x0, parts[2].encode(), rng, fin=True)
        texts.append("".join(parts))
    return Workload(f"fragments, 3 per text message ({count:,} x 3)", texts, 3 * count, 0, _chunked(bytes(wire)))


def workloads() -> list[Workload]:
    return [
        small_text(),
        binary("16-bit lengths, 126 B-16 KiB binary (5,000)", 5_000, 126, 16 * 1024, SEED + 1),
        binary("64-bit lengths, 64-256 KiB binary (200)", 200, 65536, 256 * 1024, SEED + 2),
        fragmented(7_000, SEED + 3),
        small_text(10_000, SEED + 4, pings=True),
    ]


# --------------------------------------------------------------------------- contenders
# Each contender: ``open()`` returns a connection after the opening handshake (not
# timed); ``feed(conn, chunks)`` is the timed server loop and returns how many
# messages it completed and pings it answered; ``collect(conn, chunks)`` returns the
# decoded messages (checked once).


def _ours_open() -> Connection:
    return Connection("server")  # the handshake is a separate layer: this is the open state


def _ours_feed(conn: Connection, chunks: list[bytes]) -> tuple[int, int]:
    messages = pings = 0
    receive = conn.receive_data
    for chunk in chunks:
        for event in receive(chunk):
            kind = type(event)
            if kind is MessageReceived:
                messages += 1
            elif kind is PingReceived:
                pings += 1
    return messages, pings


def _ours_collect(conn: Connection, chunks: list[bytes]) -> list[str | bytes]:
    out: list[str | bytes] = []
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

    proto = ServerProtocol(max_size=None)
    proto.receive_data(HANDSHAKE)
    (request,) = proto.events_received()
    proto.send_response(proto.accept(request))
    proto.data_to_send()
    if proto.state is not State.OPEN or proto.handshake_exc is not None:
        raise RuntimeError(f"websockets handshake failed: {proto.handshake_exc!r}")
    return proto


def _websockets_feed(proto, chunks: list[bytes]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    from websockets.frames import Opcode

    ping = Opcode.PING
    messages = pings = 0
    receive, events, to_send = proto.receive_data, proto.events_received, proto.data_to_send
    for chunk in chunks:
        receive(chunk)
        for frame in events():
            if frame.opcode is ping:
                pings += 1
            elif frame.fin:
                messages += 1
        to_send()  # the pongs it answered with
    return messages, pings


def _websockets_decode_feed(proto, chunks: list[bytes]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """As websockets' I/O layer reads text: the data decoded, incrementally for a fragmented message."""
    import codecs

    from websockets.frames import Opcode

    text, cont, ping = Opcode.TEXT, Opcode.CONT, Opcode.PING
    utf8 = codecs.getincrementaldecoder("utf-8")
    decoder = None
    messages = pings = 0
    receive, events, to_send = proto.receive_data, proto.events_received, proto.data_to_send
    for chunk in chunks:
        receive(chunk)
        for frame in events():
            op = frame.opcode
            if op is ping:
                pings += 1
                continue
            if op is text:
                if frame.fin:
                    frame.data.decode()
                else:
                    decoder = utf8()
                    decoder.decode(frame.data)
            elif op is cont and decoder is not None:
                decoder.decode(frame.data, frame.fin)
            if frame.fin:
                messages += 1
                decoder = None
        to_send()
    return messages, pings


def _websockets_collect(proto, chunks: list[bytes]) -> list[str | bytes]:  # type: ignore[no-untyped-def]
    from websockets.frames import Opcode

    out: list[str | bytes] = []
    parts: list[bytes] = []
    is_text = False
    for chunk in chunks:
        proto.receive_data(chunk)
        for f in proto.events_received():
            if f.opcode in (Opcode.TEXT, Opcode.BINARY):
                parts, is_text = [bytes(f.data)], f.opcode is Opcode.TEXT
            elif f.opcode is Opcode.CONT:
                parts.append(bytes(f.data))
            else:
                continue
            if f.fin:
                data = b"".join(parts)
                out.append(data.decode() if is_text else data)
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


def _wsproto_feed(ws, chunks: list[bytes]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    from wsproto.events import BytesMessage, Ping, TextMessage

    messages = pings = 0
    receive, events, send = ws.receive_data, ws.events, ws.send
    for chunk in chunks:
        receive(chunk)
        for event in events():
            kind = type(event)
            if (kind is TextMessage or kind is BytesMessage) and event.message_finished:
                messages += 1
            elif kind is Ping:
                send(event.response())  # wsproto leaves the pong to its user
                pings += 1
    return messages, pings


def _wsproto_collect(ws, chunks: list[bytes]) -> list[str | bytes]:  # type: ignore[no-untyped-def]
    from wsproto.events import BytesMessage, Ping, TextMessage

    out: list[str | bytes] = []
    parts: list = []  # wsproto hands out a message in pieces (frames, and frames split across reads)
    for chunk in chunks:
        ws.receive_data(chunk)
        for event in ws.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                parts.append(event.data)
                if event.message_finished:
                    out.append(("" if isinstance(event, TextMessage) else b"").join(parts))
                    parts = []
            elif isinstance(event, Ping):
                ws.send(event.response())
    return out


CONTENDERS: list[tuple[str, str, Callable, Callable, Callable]] = [
    ("wsexplore", "Connection('server'), raw bytes + offset per frame, UTF-8 validated, pongs sent",
     _ours_open, _ours_feed, _ours_collect),
    ("websockets", "sans-I/O ServerProtocol(max_size=None) after a real handshake, data_to_send() drained,"
     " no UTF-8 check", _websockets_open, _websockets_feed, _websockets_collect),
    ("websockets+utf8", "same, plus the text decoded as its I/O layer does (incrementally when fragmented)",
     _websockets_open, _websockets_decode_feed, _websockets_collect),
    ("wsproto", "WSConnection(SERVER) after a real handshake (h11 + FrameProtocol), UTF-8 validated,"
     " pongs sent", _wsproto_open, _wsproto_feed, _wsproto_collect),
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


def _measure(workload: Workload) -> dict[str, list[float]]:
    """Frames per second of each timed run, per contender, after checking what each decodes.

    The runs take turns: round r runs every contender once, starting with a different one each
    round, so that a stretch of noise on a shared machine lands on all of them, not on one.
    """
    chunks = workload.chunks
    for name, _, open_, _, collect in CONTENDERS:
        got = collect(open_(), chunks)
        if got != workload.messages:
            want = workload.messages
            bad = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            raise AssertionError(f"{workload.name}: {name} decoded {len(got)} messages, first mismatch at #{bad}")
    counts: dict[str, list[tuple[int, int]]] = {name: [] for name, *_ in CONTENDERS}
    times: dict[str, list[float]] = {name: [] for name, *_ in CONTENDERS}
    for r in range(REPEAT):
        turn = r % len(CONTENDERS)
        for name, _, open_, feed, _ in CONTENDERS[turn:] + CONTENDERS[:turn]:
            state: list = []
            times[name].append(best_of(lambda: counts[name].append(feed(state[-1], chunks)), repeat=1,
                                       setup=lambda: state.append(open_())))
    for name, *_ in CONTENDERS:
        if set(counts[name]) != {(len(workload.messages), workload.pings)}:
            raise AssertionError(f"{workload.name}: {name} counted {sorted(set(counts[name]))} (messages, pings)"
                                 f" per run, expected {(len(workload.messages), workload.pings)}")
    return {name: [workload.frames / t for t in times[name]] for name, *_ in CONTENDERS}


def receive_table() -> Table:
    names = [c[0] for c in CONTENDERS]
    others = names[1:]
    table = Table(
        f"protocol: receive masked client frames in {CHUNK} B reads, frames/s (median of {REPEAT} runs, the"
        " contenders taking turns; best in brackets) and ours over each",
        ["workload", "MB", *names, *(f"ours / {n}" for n in others)],
    )
    for workload in workloads():
        rates = _measure(workload)
        med = {n: statistics.median(r) for n, r in rates.items()}
        table.add(workload.name, f"{workload.nbytes / 1e6:.2f}",
                  *(f"{fmt_rate(med[n])} ({fmt_rate(max(rates[n]))})" for n in names),
                  *(f"{med['wsexplore'] / med[n]:.2f}x" for n in others))
        ratio = med["wsexplore"] / med["websockets"]
        goal = GOAL_VS_WEBSOCKETS if workload.name.startswith("small text") else GOAL_OTHERS
        table.goals.append(Goal(f"{workload.name}: >= {goal}x websockets ServerProtocol (now {ratio:.2f}x)",
                                ratio >= goal))
    table.notes.append(_versions() + "; every contender decoded all messages (checked against the sent ones)"
                       " and answered every ping")
    table.notes.append("handshakes are not timed; the collector is off while timing (as timeit does)")
    for name, desc, *_ in CONTENDERS:
        table.notes.append(f"{name}: {desc}")
    return table


def pieces_table() -> Table:
    """Figures tests used to assert: a capture append, a 16 MiB dissection."""
    from wsexplore.capture import Capture
    from wsexplore.protocol.dissector import dissect
    from wsexplore.protocol.frames import Frame
    from wsexplore.protocol.opcodes import Opcode

    table = Table(f"protocol: pieces of the live and the offline path (median of {REPEAT})", ["what", "time"])
    frame = Frame(Opcode.TEXT, b"x" * 100)
    raw = frame.encode()
    n = 20_000

    def append() -> None:
        cap = Capture()
        for i in range(n):
            cap.frame(1, "out", i * len(raw), raw, frame)

    per = [best_of(append, repeat=1) / n for _ in range(REPEAT)]
    table.add(f"Capture.frame(): append a 102 B frame ({n:,} in a row)", f"{statistics.median(per) * 1e6:.2f} µs")
    key = bytes.fromhex("37fa213d")
    big = Frame(Opcode.BINARY, bytes(range(256)) * (1 << 16), mask_key=key).encode()
    whole = [best_of(lambda: str(dissect(big)), repeat=1) for _ in range(3)]
    table.add("dissect() and draw a masked 16 MiB frame", f"{statistics.median(whole) * 1e3:.0f} ms")
    table.notes.append("the append keeps the bytes as given, no dissection (tests check that); a 16 MiB"
                       " dissection labels every bit (a bitarray over the buffer) and draws a short diagram")
    return table


def run() -> list[Table]:
    return [receive_table(), pieces_table()]


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


register("protocol", "receive rates by kind of frame: wsexplore vs websockets vs wsproto; capture append,"
         " 16 MiB dissection", order=10, profile=profile)(run)
