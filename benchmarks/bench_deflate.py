"""Group "deflate": compressed echo (permessage-deflate, RFC 7692) over real sockets, one run.

The same ``websockets`` asyncio client (``compression="deflate"``: it offers
``permessage-deflate; client_max_window_bits`` as Chromium does) drives three
echo servers, each in its own process (the helpers of ``bench_echo.py``):

* ``wsexplore``: our capturing ``Server(compression="deflate")``; it answers
  ``permessage-deflate`` (no limits: 32 KiB windows, zlib's default memLevel 8);
* ``wsexplore 12/12``: our ``Server`` with the parameters websockets' server
  picks (``server_max_window_bits=12; client_max_window_bits=12``, memLevel 5),
  so that both servers do the same compression work;
* ``websockets``: ``serve(echo, compression="deflate")``.

Workloads: sequential round trips of 1 KiB JSON-like text messages, the same
messages pipelined, and 256 KiB compressible binary messages (log lines). Each
echo is checked; after the run our server's capture must hold every frame
(RSV1 set on every data frame both ways) and every message both ways with its
compressed size. One run per server, as compression is far from the hot path
the "echo" group measures.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from typing import Any, Awaitable, Callable

from bench_echo import ServerProcess, _Timer, _versions
from common import Table, fmt_rate, register

SEQUENTIAL = 2_000
PIPELINED = 5_000
BIG_COUNT = 20
BIG_SIZE = 256 * 1024
SERVERS = {
    "wsexplore": "wsexplore+deflate",
    "wsexplore 12/12": "wsexplore+deflate12",
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


async def _sequential(url: str) -> tuple[float, int, int]:
    texts = _texts(SEQUENTIAL)
    ws = await _connect(url)
    try:
        with _Timer() as t:
            for text in texts:
                await ws.send(text)
                if await ws.recv() != text:
                    raise AssertionError("sequential: an echo differs")
    finally:
        await ws.close()
    return t.seconds, len(texts), len(texts)


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
    ws = await _connect(url)
    try:
        with _Timer() as t:
            for p in payloads:
                await ws.send(p)
                if await ws.recv() != p:
                    raise AssertionError("binary: an echo differs")
    finally:
        await ws.close()
    return t.seconds, BIG_COUNT * BIG_SIZE, BIG_COUNT


WORKLOADS: list[tuple[str, Callable[[str], Awaitable[tuple[float, int, int]]], str, float]] = [
    (f"sequential, 1 KiB JSON text ({SEQUENTIAL:,})", _sequential, "round trips/s", 1),
    (f"pipelined, 1 KiB JSON text ({PIPELINED:,})", _pipelined, "messages/s", 1),
    (f"sequential, {BIG_SIZE >> 10} KiB log binary ({BIG_COUNT})", _big, "MiB/s", 1 / (1 << 20)),
]


def _check_capture(name: str, stats: dict[str, Any], messages: int) -> None:
    """Every data frame compressed (RSV1) and recorded, every message recorded both ways."""
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
    if stats["compressed_frames"] != 2 * messages or stats["compressed_messages"] != 2 * messages:
        problems.append(f"{stats['compressed_frames']} RSV1 frames, {stats['compressed_messages']} messages with a"
                        f" compressed size, expected {2 * messages} each")
    if problems:
        raise AssertionError(f"{name}: our capture is incomplete: " + "; ".join(problems))


def run() -> list[Table]:
    procs: dict[str, ServerProcess] = {}
    rates: dict[str, dict[str, float]] = {w[0]: {} for w in WORKLOADS}
    ratios: dict[str, float] = {}
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
            for name, workload, _, _ in WORKLOADS:
                for label, proc in procs.items():
                    seconds, units, messages = await workload(proc.url)
                    rates[name][label] = units / seconds
                    if label.startswith("wsexplore"):
                        stats = await asyncio.to_thread(proc.stats)
                        _check_capture(name, stats, messages)
                        ratios.setdefault(name, stats["in_ratio"])

        asyncio.run(main())
    finally:
        for proc in procs.values():
            proc.stop()

    labels = list(SERVERS)
    table = Table("deflate: compressed echo, each server in its own process, one websockets client"
                  " (compression=\"deflate\"), one run",
                  ["workload", "unit", *labels, "ours / websockets", "12/12 / websockets", "client -> server size"])
    for name, _, unit, scale in WORKLOADS:
        r = rates[name]
        table.add(name, unit, *(fmt_rate(r[label] * scale) for label in labels),
                  f"{r['wsexplore'] / r['websockets']:.2f}x", f"{r['wsexplore 12/12'] / r['websockets']:.2f}x",
                  f"{100 * ratios[name]:.0f}%")
    table.notes.append("our servers record every compressed frame (raw) and every inflated message both ways in"
                       " their Capture; after each workload the capture was checked: every data frame has RSV1,"
                       " every message has its compressed size")
    table.notes.append("'client -> server size': compressed payload bytes / message bytes, as our capture saw them"
                       " (the client compresses with the window our default server leaves it: 32 KiB)")
    table.notes.append(f"{_versions()}; every echo checked; connect and close not timed; {os.cpu_count()} CPU(s)")
    return [table]


register("deflate", "compressed echo (permessage-deflate): our Server vs websockets, same client", order=60)(run)
