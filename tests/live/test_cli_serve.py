"""``wsexplore serve``: a real process, a real client, its printed lines, Ctrl-C and the saved capture.

Also ``format_record`` on records built by hand (violations, closes, errors,
escaping) and the argument errors that need no server.
"""

from __future__ import annotations

import errno
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

from wsexplore.cli import main
from wsexplore.capture import Capture, CloseRecord, FrameRecord, OpenRecord
from wsexplore.capture.lines import format_record
from wsexplore.live.console import ConsolePrinter
from wsexplore.protocol.errors import FramingError
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode

TIMEOUT = 20.0
LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} #\d+\s")


class ServeProcess:
    """``wsexplore serve`` in a subprocess; stdout read line by line by a thread, so waits stay bounded."""

    def __init__(self, *args: str) -> None:
        exe = Path(sys.executable).parent / "wsexplore"
        command = [str(exe)] if exe.exists() else [sys.executable, "-m", "wsexplore"]
        env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [*command, "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", env=env,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        """The first line (seen so far or arriving) matching ``pattern``."""
        regex = re.compile(pattern)
        for line in self.lines:
            m = regex.search(line)
            if m:
                return m
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; got:\n" + "\n".join(self.lines))
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"process ended before a line matching {pattern!r}; got:\n"
                                     + "\n".join(self.lines) + f"\nstderr: {self.stderr()}")
            self.lines.append(line)
            m = regex.search(line)
            if m:
                return m

    def url(self) -> str:
        return self.wait_for(r"WebSocket clients:\s+(ws://\S+)").group(1)

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=TIMEOUT)
        self._reader.join(timeout=TIMEOUT)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return code

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return "(still running)"
        return self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def serve_process():
    started: list[ServeProcess] = []

    def start(*args: str) -> ServeProcess:
        p = ServeProcess(*args)
        started.append(p)
        return p

    try:
        yield start
    finally:
        for p in started:
            p.kill()


def _frame_line(lines: list[str], direction: str, opcode: str) -> list[str]:
    arrow = "in  →" if direction == "in" else "out ←"
    return [line for line in lines if LINE.match(line) and f" {arrow} {opcode} " in line]


@pytest.mark.timeout(90)
def test_serve_prints_handshake_and_frames_and_saves_on_sigint(serve_process, tmp_path: Path) -> None:
    saved = tmp_path / "capture.jsonl"
    server = serve_process("--save", str(saved))
    url = server.url()
    port = int(url.rsplit(":", 1)[1].strip("/"))
    assert port > 0
    server.wait_for(rf"open the client page:\s+http://127\.0\.0\.1:{port}/")

    secrets = {"Cookie": "session=hunter2-cookie", "Authorization": "Bearer hunter2-token"}
    with connect(url, open_timeout=TIMEOUT, close_timeout=5, additional_headers=secrets) as ws:
        ws.send("发送数据")
        assert ws.recv(timeout=TIMEOUT) == "发送数据"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(timeout=TIMEOUT) == b"\x01\x02\x03"
        server.wait_for(r" out ← BINARY ")
        # Stop while the client is still connected: the server closes it with 1001.
        assert server.stop(signal.SIGINT) == 0, server.stderr()

    lines = server.lines
    text = "\n".join(lines)
    handshake = [line for line in lines if LINE.match(line) and " handshake " in line]
    assert len(handshake) == 1
    assert "GET / HTTP/1.1" in handshake[0] and "101 Switching Protocols" in handshake[0]
    assert "permessage-deflate" in handshake[0]  # the offer is shown
    assert "[Cookie, Authorization not shown]" in handshake[0]
    assert "hunter2" not in text

    (text_in,) = _frame_line(lines, "in", "TEXT")
    (text_out,) = _frame_line(lines, "out", "TEXT")
    (bin_in,) = _frame_line(lines, "in", "BINARY")
    (bin_out,) = _frame_line(lines, "out", "BINARY")
    for line in (text_in, bin_in):
        assert "FIN=1 RSV1=0 RSV2=0 RSV3=0 MASK=1" in line
        assert re.search(r" key=[0-9a-f]{8} ", line), line
    for line in (text_out, bin_out):
        assert "FIN=1 RSV1=0 RSV2=0 RSV3=0 MASK=0" in line and " key=- " in line
    assert re.search(r' len=12 key=[0-9a-f]{8} "发送数据"$', text_in), text_in
    assert text_out.endswith('len=12 key=- "发送数据"')
    assert bin_in.endswith(" 01 02 03") and " len=3 " in bin_in
    assert bin_out.endswith("len=3 key=- 01 02 03")
    assert _frame_line(lines, "out", "CLOSE") and "code=1001" in _frame_line(lines, "out", "CLOSE")[0]
    assert any(" closed 1001" in line and "closed first by the server" in line for line in lines)
    assert "stopping (SIGINT)" in text
    assert re.search(rf"saved \d+ records \(1 connection\) to {re.escape(str(saved))}", text), text

    # The saved file loads back and holds the frames; its masking keys are the ones printed.
    cap = Capture.load(saved)
    opens = [r for r in cap if isinstance(r, OpenRecord)]
    assert len(opens) == 1 and opens[0].status == 101
    assert b"hunter2" not in opens[0].request  # credentials redacted in the file too
    frames = [r for r in cap if isinstance(r, FrameRecord)]
    by = {(r.direction, r.opcode): r for r in frames if r.opcode in (Opcode.TEXT, Opcode.BINARY)}
    assert by["in", Opcode.TEXT].frame.payload == "发送数据".encode()
    assert by["in", Opcode.BINARY].frame.payload == b"\x01\x02\x03"
    assert by["out", Opcode.TEXT].frame.payload == "发送数据".encode()
    assert by["out", Opcode.BINARY].frame.payload == b"\x01\x02\x03"
    for key in (("in", Opcode.TEXT), ("in", Opcode.BINARY)):
        mask = by[key].frame.mask_key
        assert mask is not None and len(mask) == 4
        assert f" key={mask.hex()} " in (text_in if key[1] == Opcode.TEXT else bin_in)
    assert by["out", Opcode.TEXT].frame.mask_key is None
    closes = [r for r in cap if isinstance(r, CloseRecord)]
    assert [(c.code, c.initiator, c.clean) for c in closes] == [(1001, "local", True)]


@pytest.mark.timeout(120)
def test_serve_prints_every_line_of_a_burst_to_a_pipe_in_order(serve_process, tmp_path: Path) -> None:
    """Lines are formatted off the hot path, after a burst, but a pipe still gets every one, in order."""
    saved = tmp_path / "capture.jsonl"
    server = serve_process("--save", str(saved))
    count = 3000
    with connect(server.url(), open_timeout=TIMEOUT, close_timeout=5, max_queue=None) as ws:
        texts = [f"burst {i:05d}" for i in range(count)]
        for text in texts:
            ws.send(text)
        assert [ws.recv(timeout=TIMEOUT) for _ in texts] == texts
        server.wait_for(rf' out ← TEXT .* "burst {count - 1:05d}"$')
    server.wait_for(r" closed 1000")
    assert server.stop(signal.SIGINT) == 0, server.stderr()
    ins = [line.rsplit('"', 2)[1] for line in _frame_line(server.lines, "in", "TEXT")]
    outs = [line.rsplit('"', 2)[1] for line in _frame_line(server.lines, "out", "TEXT")]
    assert ins == texts and outs == texts
    assert re.search(r"saved \d+ records \(1 connection\)", "\n".join(server.lines))


@pytest.mark.timeout(60)
def test_serve_with_compression_shows_rsv1_frames(serve_process) -> None:
    server = serve_process("--compression", "deflate")
    with connect(server.url(), open_timeout=TIMEOUT, close_timeout=5, compression="deflate") as ws:
        ws.send("发送数据" * 20)
        assert ws.recv(timeout=TIMEOUT) == "发送数据" * 20
        server.wait_for(r" out ← TEXT ")
    assert "permessage-deflate" in "\n".join(server.lines)
    (incoming,) = _frame_line(server.lines, "in", "TEXT")
    (outgoing,) = _frame_line(server.lines, "out", "TEXT")
    assert "RSV1=1" in incoming and "MASK=1" in incoming and "RSV1=1" in outgoing
    assert server.stop(signal.SIGINT) == 0, server.stderr()


@pytest.mark.timeout(60)
def test_serve_stops_on_sigterm_and_saves(serve_process, tmp_path: Path) -> None:
    saved = tmp_path / "sub" / "term.jsonl"
    saved.parent.mkdir()
    server = serve_process("--save", str(saved), "--handler", "demo", "--max-message-size", "16")
    url = server.url()
    with connect(url, open_timeout=TIMEOUT, close_timeout=5) as ws:
        ws.send("x" * 17)  # over --max-message-size: the server fails the connection with 1009
        server.wait_for(r" closed 1009")
    assert server.stop(signal.SIGTERM) == 0, server.stderr()
    text = "\n".join(server.lines)
    assert "stopping (SIGTERM)" in text and f"to {saved}" in text
    (bad,) = [line for line in server.lines if " in  → TEXT " in line]
    assert "!! MessageTooBig" in bad and "len=17" in bad
    cap = Capture.load(saved)
    assert any(isinstance(r, CloseRecord) and r.code == 1009 for r in cap)


# ---------------------------------------------------------------------------- --host wildcards
def _listening(port: int) -> set[str]:
    """The addresses a socket on ``port`` listens on, read from the kernel's tables (/proc/net/tcp, tcp6)."""
    found: set[str] = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, _, hex_port = local.partition(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # The kernel writes each 32-bit word in host byte order.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)) if sys.byteorder == "little" else raw
            found.add(socket.inet_ntop(family, raw))
    return found


def _needs_proc_net() -> None:
    if not Path("/proc/net/tcp").is_file():
        pytest.skip("no /proc/net/tcp (Linux's socket table) to see which address the server listens on")


def _ipv6_loopback() -> str | None:
    """Why this machine cannot serve on ``::1``, or None when it can."""
    if not socket.has_ipv6:
        return "this Python has no IPv6 support (socket.has_ipv6 is False)"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        return f"cannot bind the IPv6 loopback address ::1 here: {exc}"
    return None


def _echo_through(url: str) -> None:
    with connect(url, open_timeout=TIMEOUT, close_timeout=5) as ws:
        ws.send("发送数据")
        assert ws.recv(timeout=TIMEOUT) == "发送数据"
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\xff"


def _client_page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        assert response.status == 200
        assert response.headers.get_content_type() == "text/html"
        return response.read().decode("utf-8")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("host", "loopback"), [("0.0.0.0", "127.0.0.1"), ("::", "::1")], ids=["ipv4", "ipv6"])
def test_serve_on_a_wildcard_listens_everywhere_and_prints_a_loopback_url(serve_process, host: str,
                                                                          loopback: str) -> None:
    if ":" in host and (missing := _ipv6_loopback()):
        pytest.skip(missing)
    _needs_proc_net()
    server = serve_process("--host", host)
    listening = server.wait_for(r"listening on (\S+) \(all interfaces\)").group(1)
    address, _, port_text = listening.rpartition(":")
    port = int(port_text)
    assert address.strip("[]") == host
    # A wildcard is no address a browser can open: the URLs name the loopback address
    # (bracketed when IPv6, as URLs require).
    shown = f"[{loopback}]" if ":" in loopback else loopback
    assert server.url() == f"ws://{shown}:{port}/"
    page = server.wait_for(r"open the client page:\s+(\S+)").group(1)
    assert page == f"http://{shown}:{port}/"
    assert host in _listening(port)  # bound to every interface, not only the loopback one
    assert "<html" in _client_page(page).lower()
    _echo_through(server.url())
    server.wait_for(r" out ← BINARY ")
    assert server.stop(signal.SIGINT) == 0, server.stderr()
    handshakes = [line for line in server.lines if LINE.match(line) and " handshake " in line]
    assert len(handshakes) == 1 and f" handshake {shown}:" in handshakes[0]  # the client came through the loopback


# ---------------------------------------------------------------------------- --save failing at stop
@pytest.mark.timeout(60)
def test_serve_save_failing_at_stop_exits_1_with_one_line_naming_the_path(serve_process, tmp_path: Path) -> None:
    """The check at start passes (and writes the empty capture); the write at stop fails (the path
    became a directory, which root cannot write through either): exit 1 and one error line that
    names the path."""
    saved = tmp_path / "capture.jsonl"
    server = serve_process("--save", str(saved), "--save-every", "600")
    _echo_through(server.url())
    server.wait_for(r" out ← BINARY ")
    saved.unlink()
    saved.mkdir()
    code = server.stop(signal.SIGINT)
    err = server.stderr()
    assert code == 1, err
    assert err.splitlines() == [f"wsexplore serve: cannot save to {saved}: {os.strerror(errno.EISDIR)}"], err
    text = "\n".join(server.lines)
    assert "stopping (SIGINT)" in text
    assert not any(line.startswith("wsexplore serve: saved ") for line in server.lines), text
    assert saved.is_dir() and not any(saved.iterdir())


def test_serve_save_into_proc_is_refused_before_serving(capsys: pytest.CaptureFixture[str]) -> None:
    """/proc exists but takes no new file, not even from root: refused at start, not at the stop."""
    if not Path("/proc/self/stat").is_file():
        pytest.skip("no procfs mounted at /proc")
    target = Path("/proc") / f"wsexplore-capture-{os.getpid()}.jsonl"
    assert main(["serve", "--port", "0", "--save", str(target)]) == 2
    out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert line.startswith(f"wsexplore serve: cannot save to {target}: "), line
    assert "listening" not in out and not target.exists()


def test_serve_refuses_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_serve_refuses_a_save_path_in_a_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--save", str(tmp_path / "nope" / "c.jsonl")]) == 2
    assert "no directory" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["serve", "--port", "70000"], ["serve", "--handler", "nope"],
                                  ["serve", "--max-message-size", "0"]])
def test_serve_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


# ---------------------------------------------------------------------------- format_record
def _capture() -> Capture:
    return Capture()


def test_format_frame_lines_show_bits_key_and_preview() -> None:
    cap = _capture()
    frame = Frame(Opcode.TEXT, "发送数据".encode(), fin=False, rsv2=True, mask_key=b"\x55\xd0\xe1\xe6")
    rec = cap.frame(3, "in", 0, frame.encode(), frame)
    line = format_record(rec)
    assert LINE.match(line) and " #3 " in line
    assert line.endswith('in  → TEXT         FIN=0 RSV1=0 RSV2=1 RSV3=0 MASK=1 len=12 key=55d0e1e6 "发送数据"')

    close = Frame(Opcode.CLOSE, (1000).to_bytes(2, "big") + b"bye")
    assert format_record(cap.frame(3, "out", 0, close.encode(), close)).endswith(
        'MASK=0 len=5 key=- code=1000: normal closure reason="bye"')

    big = Frame(Opcode.BINARY, bytes(range(100)))
    line = format_record(cap.frame(3, "out", 0, big.encode(), big))
    assert "len=100" in line and line.endswith("15 16 17 …")

    long_text = Frame(Opcode.TEXT, b"a" * 500)
    assert format_record(cap.frame(3, "out", 0, long_text.encode(), long_text)).endswith('"' + "a" * 60 + '"…')


def test_format_violation_reads_the_raw_bytes() -> None:
    cap = _capture()
    raw = bytes.fromhex("c1 83 01 02 03 04") + bytes(a ^ b for a, b in zip(b"abc", b"\x01\x02\x03"))
    error = FramingError("RSV1 set without an extension", field="RSV1", bit_offset=1, rfc="5.2")
    line = format_record(cap.frame(1, "in", 0, raw, None, error))
    assert "TEXT" in line and "FIN=1 RSV1=1 RSV2=0 RSV3=0 MASK=1 len=3 key=01020304" in line
    assert '"abc"' in line
    assert line.endswith("!! FramingError: [RSV1, bit 1] RSV1 set without an extension (RFC 6455 section 5.2)")

    cut = bytes.fromhex("82 7e 01 00") + b"\x00" * 10  # 256 bytes announced, 10 arrived
    truncated = format_record(cap.frame(1, "in", 20, cut, None, FramingError("cut")))
    assert "BINARY" in truncated and "len=256" in truncated and "(payload not complete of 256 B)" in truncated


def test_format_escapes_control_characters_and_hides_credentials() -> None:
    cap = _capture()
    evil = Frame(Opcode.TEXT, "\x1b[2J\u202e\x9b\"q".encode())
    line = format_record(cap.frame(1, "out", 0, evil.encode(), evil))
    assert "\x1b" not in line and "\u202e" not in line and "\x9b" not in line
    assert line.endswith(r'"\x1b[2J\u202e\x9b\"q"')

    request = (b"GET /ws HTTP/1.1\r\nHost: h\r\nUser-Agent: Chrome/1\x1b]\r\nCookie: s=SECRET\r\n"
               b"authorization: Basic SECRET\r\nSec-WebSocket-Key: k\r\n\r\n")
    response = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 9\r\n\r\nbad key\n"
    line = format_record(cap.opened(1, ("127.0.0.1", 5), request, response, 400))
    assert "SECRET" not in line and "\x1b" not in line
    assert "[Cookie, authorization not shown]" in line
    assert '(refused: "bad key")' in line and 'User-Agent: "Chrome/1\\x1b]"' in line

    assert format_record(cap.closed(1, None, "", "remote", False)).endswith(
        "closed no code, closed first by the client, not clean")
    assert format_record(cap.error(None, "boom\x07")).endswith("#-   error boom\\x07")


def test_console_printer_skips_messages_by_default() -> None:
    import io

    out = io.StringIO()
    cap = _capture()
    cap.subscribe(ConsolePrinter(out))
    cap.message(1, "in", Opcode.TEXT, "hi")
    cap.closed(1, 1000, "", "remote", True)
    assert out.getvalue().count("\n") == 1 and "closed 1000" in out.getvalue()

    everything = io.StringIO()
    cap.subscribe(ConsolePrinter(everything, kinds={"message"}))
    cap.message(1, "in", Opcode.TEXT, "hi")
    assert everything.getvalue().endswith('in  → message TEXT 2 B in 1 frame "hi"\n')
