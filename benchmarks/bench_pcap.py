"""Group "pcap": reading a 100 MB packet capture of small frames, side by side with tshark.

The file is a pcap (Ethernet, IPv4) of 8 WebSocket connections at once, each
a real handshake then small text frames both ways (20-byte payloads, masked
from the client), one frame per TCP segment, then the close handshake and
FIN: about a million packets. It is made once and kept in the temporary
directory (``$TMPDIR/wsexplore-bench/``).

Contenders, each in its own process so that its peak RSS is its own:

* ``Capture``: ``read_into(path, Capture(max_records=10_000))``, the reader
  behind ``Capture.load`` with a bounded capture (the records stream through);
* ``wsexplore read --summary``: the command line, every record built and
  counted;
* ``tshark -r``: Wireshark's reader, dissecting every packet (the WebSocket
  dissector finds the frames after the HTTP upgrade), output to /dev/null;
* ``Capture`` again on the same packets written as pcapng (Wireshark's own
  format: what dumpcap and Wireshark save), read block by block.

Frames per second count the WebSocket frames in the file (known from making
it); the ratio is against tshark. Memory: the peak RSS of each reader, and
ours again on a 10 MB file of the same traffic, to show it stays flat.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Goal, Table, fmt_rate, register

SIZES = {"100 MB": 100_000_000, "10 MB": 10_000_000}
CONNECTIONS = 8
PAYLOAD = 20
_CACHE = Path(tempfile.gettempdir()) / "wsexplore-bench"


def _make(path: Path, size: int) -> int:
    """Write the capture; returns how many WebSocket frames it holds."""
    import dpkt

    from wsexplore.protocol.connection import Connection

    rng = random.Random(6455)
    tmp = path.with_suffix(".part")
    frames = 0
    with open(tmp, "wb") as fp:
        writer = dpkt.pcap.Writer(fp, linktype=dpkt.pcap.DLT_EN10MB, snaplen=65535)
        ts = 1_700_000_000.0
        flows = []
        for i in range(CONNECTIONS):
            client = (bytes([127, 0, 0, 1]), 40000 + i)
            server = (bytes([127, 0, 0, 1]), 8765)
            flows.append({"c": client, "s": server, "cseq": 1000 + i * 7919, "sseq": 5000 + i * 104729,
                          "client": Connection("client"), "server": Connection("server")})

        def send(flow: dict, from_client: bool, payload: bytes, flags: int = 0x18) -> None:
            nonlocal ts
            ts += 0.00001
            (src, sport), (dst, dport) = (flow["c"], flow["s"]) if from_client else (flow["s"], flow["c"])
            seq, ack = (flow["cseq"], flow["sseq"]) if from_client else (flow["sseq"], flow["cseq"])
            tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=65535, data=payload)
            ip = dpkt.ip.IP(src=src, dst=dst, p=6, ttl=64, len=20 + len(tcp), data=tcp)
            writer.writepkt(bytes(dpkt.ethernet.Ethernet(src=b"\0" * 6, dst=b"\0" * 6, type=0x0800, data=ip)), ts=ts)
            step = len(payload) + (1 if flags & 0x03 else 0)  # SYN and FIN take a sequence number
            flow["cseq" if from_client else "sseq"] += step

        for flow in flows:
            send(flow, True, b"", 0x02)
            send(flow, False, b"", 0x12)
            send(flow, True, b"", 0x10)
            send(flow, True, b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8765\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            send(flow, False, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
        words = [bytes(rng.choice(b"abcdefghij") for _ in range(PAYLOAD)).decode() for _ in range(64)]
        n = 0
        while fp.tell() < size:
            flow = flows[n % CONNECTIONS]
            text = words[n % len(words)]
            send(flow, True, flow["client"].send_text(text))
            send(flow, False, flow["server"].send_text(text))
            frames += 2
            n += 1
        for flow in flows:
            send(flow, True, flow["client"].send_close(1000))
            send(flow, False, flow["server"].send_close(1000))
            frames += 2
            send(flow, False, b"", 0x11)
            send(flow, True, b"", 0x11)
    tmp.rename(path)
    return frames


def _as_pcapng(path: Path) -> Path:
    """The same packets, times and link type as a pcapng file (made once, kept beside the pcap)."""
    import dpkt

    target = path.with_suffix(".pcapng")
    if target.exists():
        return target
    tmp = target.with_suffix(".part")
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        reader = dpkt.pcap.Reader(src)
        writer = dpkt.pcapng.Writer(dst, snaplen=65535, linktype=reader.datalink())
        for ts, buf in reader:
            writer.writepkt(buf, ts=ts)
    tmp.rename(target)
    return target


def _capture_file(label: str) -> tuple[Path, int]:
    _CACHE.mkdir(exist_ok=True)
    size = SIZES[label]
    path = _CACHE / f"small-frames-{size // 1_000_000}MB.pcap"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text())["frames"]
    frames = _make(path, size)
    meta.write_text(json.dumps({"frames": frames}))
    return path, frames


# A small process that runs the command and reports the command's own peak RSS: a child inherits
# the high-water mark of the process it was forked from, so this keeps the benchmark's out of it.
_LAUNCH = ("import os, sys\n"
           "pid = os.fork()\n"
           "if pid == 0:\n"
           "    os.execvp(sys.argv[1], sys.argv[1:])\n"
           "_, status, usage = os.wait4(pid, 0)\n"
           "sys.stderr.write(f'{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}\\n')\n")


def _run(argv: list[str], *, output: bool = True) -> tuple[float, int, str]:
    """Wall time, peak RSS (KiB) and stdout (when ``output``) of a command run in its own process."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-S", "-c", _LAUNCH, *argv], stderr=subprocess.PIPE, text=True,
                          stdout=subprocess.PIPE if output else subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    code, rss = map(int, proc.stderr.strip().splitlines()[-1].split())
    if code not in (0, 1):
        raise RuntimeError(f"{argv[0]} failed ({code}): {proc.stderr[-500:]}")
    return dt, rss, proc.stdout


_READER = ("import sys\n"
           "from wsexplore.capture.files import read_into\n"
           "from wsexplore.capture.store import Capture\n"
           "capture = Capture(max_records=10_000)\n"
           "print(read_into(sys.argv[1], capture))\n")


@register("pcap", "reading a 100 MB pcap of small frames: Capture, wsexplore read, tshark -r", order=50)
def run() -> list[Table]:
    big, frames = _capture_file("100 MB")
    small, small_frames = _capture_file("10 MB")
    size_mb = big.stat().st_size / 1e6
    table = Table(f"pcap: {size_mb:.0f} MB, {fmt_rate(frames)} WebSocket frames of {PAYLOAD} B "
                  f"({CONNECTIONS} connections), one run each",
                  ["reader", "seconds", "frames/s", "vs tshark", "peak RSS"])
    results: dict[str, tuple[float, int]] = {}
    ours = [sys.executable, "-c", _READER]
    dt, rss, out = _run([*ours, str(big)])
    assert f"{CONNECTIONS} WebSocket connections" in out, out
    results["Capture (bounded, 10k records)"] = (dt, rss)
    exe = shutil.which("wsexplore") or str(Path(sys.executable).parent / "wsexplore")
    dt, rss, out = _run([exe, "read", "--summary", str(big)])
    results["wsexplore read --summary"] = (dt, rss)
    tshark = shutil.which("tshark")
    if tshark:
        dt, rss, _ = _run([tshark, "-r", str(big)], output=False)
        results["tshark -r"] = (dt, rss)
    dt, rss, out = _run([*ours, str(_as_pcapng(big))])
    assert f"{CONNECTIONS} WebSocket connections" in out, out
    results["Capture, the same as pcapng"] = (dt, rss)
    base = results.get("tshark -r")
    for name, (dt, rss) in results.items():
        ratio = f"{base[0] / dt:.2f}x" if base else "-"
        table.add(name, f"{dt:.1f}", fmt_rate(frames / dt), ratio, f"{rss / 1024:.0f} MiB")
    dt, rss_small, _ = _run([*ours, str(small)])
    table.add(f"Capture on the 10 MB file ({fmt_rate(small_frames)} frames)", f"{dt:.1f}",
              fmt_rate(small_frames / dt), "", f"{rss_small / 1024:.0f} MiB")
    if not tshark:
        table.notes.append("tshark not installed (make test installs it): no ratio")
    table.notes.append("vs tshark: how many times faster than tshark -r on the same file (above 1: faster)")
    rss_big = results["Capture (bounded, 10k records)"][1]
    table.goals.append(Goal(f"memory flat: peak RSS on 100 MB ({rss_big / 1024:.0f} MiB) within 1.25x of "
                            f"10 MB ({rss_small / 1024:.0f} MiB)", rss_big <= 1.25 * rss_small))
    if base:
        table.goals.append(Goal("Capture reads frames faster than tshark -r",
                                results["Capture (bounded, 10k records)"][0] < base[0]))
    return [table]
