"""Group "deflate": compressed echo (permessage-deflate, RFC 7692) over real sockets, and the settings behind it.

The same ``websockets`` asyncio client (``compression="deflate"``: it offers
``permessage-deflate; client_max_window_bits`` as Chromium does) drives three
echo servers, each in its own process (the helpers of ``bench_echo.py``):

* ``wsexplore``: our capturing ``Server(compression="deflate")``, with its
  defaults (``deflate.SERVER_DEFAULT``: ``server_max_window_bits=12;
  client_max_window_bits=12``, memLevel 5), the parameters websockets' server
  picks, so that both compress with the same settings;
* ``wsexplore 15-bit``: our ``Server`` with no limits (32 KiB windows, zlib's
  default memLevel 8), the best ratio at six times the memory;
* ``websockets``: ``serve(echo, compression="deflate")``.

Both use the same zlib settings (level 6, the windows above, memLevel 5 at 12
bits); ours deflates a message of ``deflate.FAST_FROM`` bytes or more with
zlib-ng (a dependency), in about half the time.

Workloads: sequential round trips of 1 KiB JSON-like text messages, the same
messages pipelined, 256 KiB compressible binary messages (log lines), and
64 KiB of random bytes, which deflate makes larger: our server sends those
uncompressed (RSV1=0, RFC 7692 section 6), websockets compresses them anyway.
Ours finds that out from their first KiB (a message of 32 KiB or more is looked
at before it is deflated, ``deflate._LOOK_FROM``), so it does not deflate them.
Each echo is checked; after every trial our server's capture must hold every
frame (RSV1 on every data frame the client sent, and on every one our server
sent except the random ones) and every message both ways with its compressed
size. Trials rotate between the servers; the median of ``REPEAT`` counts, and
each ratio is the median of the rounds' ratios (``common.paired_ratio``). Each
trial lasts half a second or more, longer than a small virtual machine's
scheduling hiccups.

A second table is what the defaults were chosen from: zlib's memory per
connection (compressor and decompressor, measured with ``tracemalloc``) for
window bits 9-15 and memLevels, against the compressed size of JSON messages
sent one after the other on one connection (context takeover).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
import tracemalloc
import zlib
from typing import Any, Awaitable, Callable

from bench_echo import PAIRED, ServerProcess, _Timer, _versions
from common import Goal, Table, fmt_rate, paired_ratio, register

from wsexplore.protocol import deflate

REPEAT = 9
SEQUENTIAL = 4_000
PIPELINED = 20_000
BIG_COUNT = 80
BIG_SIZE = 256 * 1024
NOISE_COUNT = 100
NOISE_SIZE = 64 * 1024
GOAL_RATIO = 1.0
SERVERS = {
    "wsexplore": "wsexplore+deflate",
    "wsexplore 15-bit": "wsexplore+deflate15",
    "websockets": "websockets+deflate",
}


def _texts(count: int, seed: int = 7692) -> list[str]:
    """JSON-like chat messages of about 1 KiB: repetitive keys, varied values (compresses to ~1/4)."""
    rng = random.Random(seed)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    out = []
    for i in range(count):
        items = [{"id": i * 100 + k, "user": rng.choice(words), "text": " ".join(rng.choices(words, k=6)),
                  "score": round(rng.random(), 4)} for k in range(8)]
        out.append(json.dumps({"seq": i, "items": items})[:1024].ljust(1024))
    return out


def _documents(count: int, seed: int = 1951) -> list[bytes]:
    """JSON API responses of about 7 KB: lists of user records (ids, names, e-mails, dates, tags)."""
    rng = random.Random(seed)
    tags = ["admin", "beta", "staff", "paid", "trial", "eu", "us", "mobile"]
    out = []
    for page in range(count):
        results = [{"id": rng.randint(1, 10**9), "name": f"user{rng.randint(1, 5000)}",
                    "email": f"u{rng.randint(1, 5000)}@example.com",
                    "created_at": f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T1{rng.randint(0, 9)}:00:00Z",
                    "tags": rng.sample(tags, 3), "score": round(rng.random() * 100, 2), "active": rng.random() < 0.5}
                   for _ in range(40)]
        out.append(json.dumps({"page": page, "results": results}).encode())
    return out


def _logs(count: int) -> list[bytes]:
    rng = random.Random(6455)
    out = []
    for i in range(count):
        lines = []
        while sum(map(len, lines)) < BIG_SIZE:
            lines.append(f"{i:04d} 2026-01-01T00:00:{rng.randint(0, 59):02d} INFO worker-{rng.randint(0, 31)} "
                         f"handled request {rng.getrandbits(32):08x} in {rng.randint(1, 999)} ms\n".encode())
        out.append(b"".join(lines)[:BIG_SIZE])
    return out


async def _connect(url: str) -> Any:
    from websockets.asyncio.client import connect

    return await connect(url, compression="deflate", max_size=None, max_queue=None, proxy=None,
                         ping_interval=None)


async def _round_trips(url: str, messages: list) -> float:
    ws = await _connect(url)
    try:
        with _Timer() as t:
            for m in messages:
                await ws.send(m)
                if await ws.recv() != m:
                    raise AssertionError("an echo differs")
    finally:
        await ws.close()
    return t.seconds


async def _sequential(url: str) -> tuple[float, int, int]:
    texts = _texts(SEQUENTIAL)
    return await _round_trips(url, texts), len(texts), len(texts)


async def _pipelined(url: str) -> tuple[float, int, int]:
    texts = _texts(PIPELINED, seed=1)
    ws = await _connect(url)
    try:
        with _Timer() as t:
            for text in texts:
                await ws.send(text)
            got = [await ws.recv() for _ in texts]
    finally:
        await ws.close()
    if got != texts:
        raise AssertionError("pipelined: the echoes differ")
    return t.seconds, len(texts), len(texts)


async def _big(url: str) -> tuple[float, int, int]:
    payloads = _logs(BIG_COUNT)
    return await _round_trips(url, payloads), BIG_COUNT * BIG_SIZE, BIG_COUNT


_NOISE = [os.urandom(NOISE_SIZE) for _ in range(NOISE_COUNT)]


async def _noise(url: str) -> tuple[float, int, int]:
    return await _round_trips(url, _NOISE), NOISE_COUNT * NOISE_SIZE, NOISE_COUNT


# (name, run, unit, scale, our server compresses its echoes)
WORKLOADS: list[tuple[str, Callable[[str], Awaitable[tuple[float, int, int]]], str, float, bool]] = [
    (f"sequential, 1 KiB JSON text ({SEQUENTIAL:,})", _sequential, "round trips/s", 1, True),
    (f"pipelined, 1 KiB JSON text ({PIPELINED:,})", _pipelined, "messages/s", 1, True),
    (f"sequential, {BIG_SIZE >> 10} KiB log binary ({BIG_COUNT})", _big, "MiB/s", 1 / (1 << 20), True),
    (f"sequential, {NOISE_SIZE >> 10} KiB random binary ({NOISE_COUNT})", _noise, "MiB/s", 1 / (1 << 20), False),
]


def _check_capture(name: str, stats: dict[str, Any], messages: int, echoes_compressed: bool) -> None:
    """Every data frame recorded, RSV1 where it must be, every message recorded both ways."""
    problems = []
    data_frames = {k: v for k, v in stats["frames"].items() if k.split()[1] in ("TEXT", "BINARY")}
    for direction in ("in", "out"):
        frames = sum(v for k, v in data_frames.items() if k.startswith(direction))
        msgs = sum(v for k, v in stats["messages"].items() if k.startswith(direction))
        if frames != messages or msgs != messages:
            problems.append(f"{direction}: {frames} data frames and {msgs} messages, expected {messages}")
    for key in ("dropped", "violations", "errors"):
        if stats[key]:
            problems.append(f"{key}: {stats[key]}")
    want = messages * (2 if echoes_compressed else 1)  # the client compresses everything it sends
    if stats["compressed_frames"] != want or stats["compressed_messages"] != want:
        problems.append(f"{stats['compressed_frames']} RSV1 frames, {stats['compressed_messages']} messages with a"
                        f" compressed size, expected {want} each")
    if problems:
        raise AssertionError(f"{name}: our capture is incomplete: " + "; ".join(problems))


def echo_table() -> Table:
    procs: dict[str, ServerProcess] = {}
    rates: dict[str, dict[str, list[float]]] = {w[0]: {} for w in WORKLOADS}
    ratios: dict[str, float] = {}
    labels = list(SERVERS)
    try:
        for label, kind in SERVERS.items():
            procs[label] = ServerProcess(kind)

        async def main() -> None:
            for proc in procs.values():  # warm-up (imports, first connection), untimed
                ws = await _connect(proc.url)
                await ws.send("warm-up")
                await ws.recv()
                await ws.close()
                if proc.kind.startswith("wsexplore"):
                    await asyncio.to_thread(proc.stats)  # and a fresh capture
            for name, workload, _, _, compressed in WORKLOADS:
                for i in range(REPEAT):
                    for label in labels[i % len(labels):] + labels[:i % len(labels)]:  # rotate who goes first
                        proc = procs[label]
                        seconds, units, messages = await workload(proc.url)
                        rates[name].setdefault(label, []).append(units / seconds)
                        if label.startswith("wsexplore"):
                            stats = await asyncio.to_thread(proc.stats)
                            _check_capture(name, stats, messages, compressed)
                            ratios.setdefault(name, stats["in_ratio"])

        asyncio.run(main())
    finally:
        for proc in procs.values():
            proc.stop()

    median = statistics.median
    table = Table(f"deflate: compressed echo, each server in its own process, one websockets client"
                  f" (compression=\"deflate\"); median of {REPEAT} (best in brackets); ratios: {PAIRED}",
                  ["workload", "unit", *labels, "ours / websockets", "15-bit / websockets", "client -> server size"])
    for name, _, unit, scale, _ in WORKLOADS:
        r = {label: median(v) for label, v in rates[name].items()}
        ratio = paired_ratio(rates[name]["wsexplore"], rates[name]["websockets"])
        ratio15 = paired_ratio(rates[name]["wsexplore 15-bit"], rates[name]["websockets"])
        table.add(name, unit, *(f"{fmt_rate(r[label] * scale)} ({fmt_rate(max(rates[name][label]) * scale)})"
                                for label in labels),
                  f"{ratio:.2f}x", f"{ratio15:.2f}x", f"{100 * ratios[name]:.0f}%")
        table.goals.append(Goal(f"{name}: >= {GOAL_RATIO:.1f}x websockets with the same settings (now {ratio:.2f}x)",
                                ratio >= GOAL_RATIO))
    table.notes.append("our servers record every compressed frame (raw) and every inflated message both ways in"
                       " their Capture; after each trial the capture was checked: RSV1 on every data frame the"
                       " client sent and on every echo except the random ones (sent uncompressed: deflate makes"
                       " them larger; ours sees that from their first KiB and does not deflate them), a"
                       " compressed size on every compressed message")
    table.notes.append("'client -> server size': compressed payload bytes / message bytes, as our default server's"
                       " capture saw them (the client compresses with the 12-bit window the server asks for)")
    fast = deflate._zlib_ng
    libraries = f"zlib {zlib.ZLIB_RUNTIME_VERSION}, " + (f"zlib-ng {fast.ZLIBNG_VERSION} from {deflate.FAST_FROM >> 10}"
                                                        " KiB" if fast is not None else "no zlib-ng")
    table.notes.append(f"{_versions()}; ours: {libraries}; every echo checked; connect and close not timed;"
                       f" {os.cpu_count()} CPU(s)")
    return table


def _memory(bits: int, level: int, lib: Any = zlib) -> tuple[int, int]:
    """Bytes zlib (or ``lib``) holds for a compressor and a decompressor with these settings, once each has worked."""
    tracemalloc.start()
    c = lib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -bits, level)
    data = c.compress(b"x" * 100) + c.flush(zlib.Z_SYNC_FLUSH)
    compressor = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    tracemalloc.start()
    d = lib.decompressobj(-bits)
    d.decompress(data)
    decompressor = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del c, d
    return compressor, decompressor


def _ratio(bits: int, level: int, messages: list[bytes]) -> tuple[float, float]:
    """Compressed size over message size for ``messages`` sent in a row (context takeover); µs per message."""
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -bits, level)
    total = compressed = 0
    t0 = time.process_time()
    for m in messages:
        compressed += len(c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)) - 4
        total += len(m)
    return compressed / total, (time.process_time() - t0) / len(messages) * 1e6


def settings_table() -> Table:
    chat = [t.encode() for t in _texts(400, seed=2)]
    docs = _documents(60)
    table = Table("deflate settings: zlib memory per connection against compressed size (JSON, context takeover)",
                  ["window bits", "memLevel", "compressor", "decompressor", "per connection",
                   "1 KiB chat JSON", "7 KB API JSON", "µs per 7 KB"])
    for bits in range(9, 16):
        for level in (1, 5, 8):
            compressor, decompressor = _memory(bits, level)
            chat_ratio, _ = _ratio(bits, level, chat)
            doc_ratio, us = _ratio(bits, level, docs)
            mark = " <- default" if (bits, level) == (12, 5) else ""
            table.add(f"{bits}{mark}", level, f"{compressor / 1024:.0f} KiB", f"{decompressor / 1024:.0f} KiB",
                      f"{(compressor + decompressor) / 1024:.0f} KiB", f"{100 * chat_ratio:.1f}%",
                      f"{100 * doc_ratio:.1f}%", f"{us:.0f}")
    table.notes.append("per connection: a server compresses what it sends and inflates what the client sends with"
                       " the window it asked the client for (Chromium offers client_max_window_bits, so it can be"
                       " asked); sizes are compressed bytes over message bytes, messages sent one after the other")
    table.notes.append("default (deflate.SERVER_DEFAULT): 12-bit windows, memLevel 5, as websockets' server: about"
                       " 49 KiB per connection against about 300 KiB for 15 and 8, for 5-11% more bytes on JSON")
    if deflate._zlib_ng is not None:
        fast, _ = _memory(12, 5, deflate._zlib_ng)
        table.notes.append(f"messages of {deflate.FAST_FROM >> 10} KiB or more are deflated by zlib-ng, in a compressor"
                           f" made for the message and primed with the window: {fast / 1024:.0f} KiB at 12 and 5"
                           " while it works (its hash table has a fixed size), none held between messages; the"
                           " connection keeps the window's last bytes (at most twice the window) to prime it")
    return table


def run() -> list[Table]:
    return [echo_table(), settings_table()]


register("deflate", "compressed echo (permessage-deflate): our Server vs websockets, same client; memory vs ratio"
         " by window size", order=60)(run)
