"""The tutorial's toy WebSocket server (its ``ws.js`` and ``index.js``), ported to Python line by line, bugs and all.

It is teaching material, kept apart from :mod:`wsexplore.live`: it does
*exactly* what the tutorial's Node.js code does, so that its shortcomings can
be watched on real sockets, next to ``wsexplore.Server`` doing it right. A
real ``node`` running the tutorial's files verbatim (``tests/toy``) is the
reference: the same bytes in give the same bytes out, the same console
lines and the same crashes. What it does, as the tutorial's code does:

* **The handshake** answers any request that asks for an upgrade (whatever
  ``Upgrade`` says, no version check) with ``101`` and
  ``hashKey(req.headers['sec-websocket-key'])``: without a key that is the
  hash of the string "undefined". The ``head`` bytes that came with the
  request (frames sent right behind it) are ignored: lost.
* **Each read is taken for one whole frame** (``processData`` per
  ``'data'`` event): a second frame in the same read is lost, a frame split
  across reads is decoded from what is there. ``byte2.toString(2)`` drops
  leading zeros, so for an unmasked frame MASK always reads as set and the
  length comes from the wrong bits; a read too short for the header throws a
  ``RangeError``; a 64-bit length is a BigInt, and ``index + BigInt`` throws
  a ``TypeError``. RSV bits are ignored, any opcode but text and binary
  (continuation, close, ping, pong, reserved ones) emits ``'close'``, which
  index.js logs as ``close: undefined undefined``; no close frame is sent,
  the TCP connection stays open.
* **One** ``this.socket`` for the whole server: the last client to connect
  gets every reply. **Each message** starts a ``setInterval`` that sends it
  back with ``Date.now()`` every 2 seconds, forever, to whoever is
  ``this.socket`` then; ``encodeMessage`` writes the length in one byte, so
  replies of 126-255 bytes are malformed frames and 256 bytes or more throw.
* **An exception nobody catches ends the Node process**: the port prints it
  as Node does (``RangeError [ERR_OUT_OF_RANGE]: ...`` and the line of
  ``ws.js`` it came from), stops listening and drops every connection. So
  does an ``'error'`` event on a socket: writing to a client that has gone
  (``Error: write EPIPE``) or a reset (``Error: read ECONNRESET``).

Differences, on purpose: it listens on 127.0.0.1 and a free port (Node's
``listen(8080)`` listens on every interface); ``interval`` and ``clock``
may be changed (2 s and the real time by default) so that a notebook can
wait less and print the same bytes every run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ..protocol.handshake import accept_key
from .node import (
    ConsoleLine,
    EventEmitter,
    JSError,
    NodeProcess,
    js_add,
    js_slice,
    js_string,
    parse_int_2,
    read_big_uint64_be,
    read_uint8,
    read_uint16_be,
    string_to_utf8,
    thrown_at,
    to_string_2,
    utf8_to_string,
    write_uint8,
)
from .node_net import HttpServer, IncomingMessage, Socket

__all__ = ["ToyServer", "MyWebsocket", "OPCODES", "hash_key", "handle_mask", "encode_message", "read_frame",
           "UNSUPPORTED_TYPE"]

#: ws.js's ``OPCODES``.
OPCODES = {"CONTINUE": 0, "TEXT": 1, "BINARY": 2, "CLOSE": 8, "PING": 9, "PONG": 10}
#: What ``send()`` prints for a value that is neither a string nor a Buffer ("data type not supported yet").
UNSUPPORTED_TYPE = "暂不支持发送的数据类型"

# Where in ws.js each step is (function (file:line:column)), as Node names the first frame of an error.
_PROCESS_DATA = "MyWebsocket.processData (ws.js:{})"
_ENCODE = "encodeMessage (ws.js:{})"
_DO_SEND = "MyWebsocket.doSend (ws.js:136:17)"


# ------------------------------------------------------------------------------------------ ws.js
def hash_key(key: str | None) -> str:
    """``hashKey(key)``: base64(SHA-1(key + GUID)), with no check at all; ``None`` is JavaScript's undefined."""
    return accept_key(js_string(key))


def handle_mask(mask_bytes: bytes, data: bytes) -> bytes:
    """``handleMask``: byte i XOR key byte i % 4; a key cut short XORs with ``undefined``, that is 0."""
    payload = bytearray(len(data))
    for i in range(len(data)):
        key = mask_bytes[i % 4] if i % 4 < len(mask_bytes) else 0
        payload[i] = key ^ data[i]
    return bytes(payload)


def encode_message(opcode: int | None, payload: bytes | None) -> bytes:
    """``encodeMessage``: FIN + opcode, then the length in **one** byte, then the payload (never masked).

    A payload of 126-255 bytes gives a second byte that means "a 16-bit length
    follows" (126, 127) or sets MASK (128 and up); 256 bytes or more throw,
    as ``writeUInt8`` does. ``payload`` None (undefined) throws a TypeError.
    """
    if payload is None:
        raise JSError("TypeError", "Cannot read properties of undefined (reading 'length')",
                      at=_ENCODE.format("31:41"))
    buffer_data = bytearray(len(payload) + 2 + 0)
    byte1 = parse_int_2("10000000") | (opcode or 0)  # 128 | undefined is 128
    byte2 = len(payload)
    write_uint8(buffer_data, byte1, 0)
    with thrown_at(_ENCODE.format("37:14")):
        write_uint8(buffer_data, byte2, 1)
    buffer_data[2:] = payload
    return bytes(buffer_data)


def read_frame(buffer_data: bytes) -> tuple[int, bytes | None]:
    """The reading half of ``processData``: ``(opcode, realData)`` from one read, as the toy sees it.

    Raises the ``JSError`` Node would throw (a read too short for the header,
    a 64-bit length). Every line is the tutorial's.
    """
    byte1 = read_uint8(buffer_data, 0)
    opcode = byte1 & 0x0F

    with thrown_at(_PROCESS_DATA.format("93:30")):
        byte2 = read_uint8(buffer_data, 1)
    str2 = to_string_2(byte2)
    MASK = str2[0]  # noqa: N806 - the tutorial's name; a one-character string, never empty: always truthy

    cur_byte_index = 2

    payload_length: Any = parse_int_2(str2[1:])
    if payload_length == 126:
        with thrown_at(_PROCESS_DATA.format("101:34")):
            payload_length = read_uint16_be(buffer_data, 2)
        cur_byte_index += 2
    elif payload_length == 127:
        with thrown_at(_PROCESS_DATA.format("104:34")):
            payload_length = read_big_uint64_be(buffer_data, 2)
        cur_byte_index += 8

    real_data = None

    if MASK:
        mask_key = js_slice(buffer_data, cur_byte_index, cur_byte_index + 4)
        cur_byte_index += 4
        with thrown_at(_PROCESS_DATA.format("113:71")):
            end = js_add(cur_byte_index, payload_length)
        payload_data = js_slice(buffer_data, cur_byte_index, end)
        real_data = handle_mask(mask_key, payload_data)

    return opcode, real_data


class MyWebsocket(EventEmitter):
    """ws.js's ``MyWebsocket``: an ``http`` server whose ``'upgrade'`` listener turns reads into events.

    Emits ``'data'`` (a ``str`` for a text frame, ``bytes`` for binary) and
    ``'close'`` (with no arguments). ``socket`` is the last client that
    connected. Made by :class:`ToyServer`; ``await listen()`` starts it.
    """

    def __init__(self, process: NodeProcess, port: int = 0, host: str = "127.0.0.1") -> None:
        super().__init__()
        self.process = process
        self.port = port
        self.host = host
        #: ``this.socket``: one for the whole server, replaced by each new connection.
        self.socket: Socket | None = None
        self.server = HttpServer(process)
        self.server.on("upgrade", self._on_upgrade)

    async def listen(self) -> MyWebsocket:
        await self.server.listen(self.port, self.host)
        address = self.server.address
        if address is not None:
            self.port = address[1]  # port 0 picked a free one: keep it, for a restart on the same port
        return self

    def _on_upgrade(self, req: IncomingMessage, socket: Socket, head: bytes) -> None:
        # ws.js's listener is (req, socket) => {...}: the third argument, head, is never looked at.
        self.socket = socket
        socket.set_keep_alive(True)

        res_headers = "\r\n".join([
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Accept: " + hash_key(req.headers.get("sec-websocket-key")),
            "",
            "",
        ])
        socket.write(res_headers)

        socket.on("data", lambda data: self.process_data(data))
        socket.on("close", lambda error: self.emit("close"))

    def handle_real_data(self, opcode: int, real_data_buffer: bytes | None) -> None:
        if opcode == OPCODES["TEXT"]:
            if real_data_buffer is None:
                # Unreachable: MASK is a non-empty string, always truthy, so realData is never left null.
                raise JSError("TypeError", "Cannot read properties of null (reading 'toString')")
            self.emit("data", utf8_to_string(real_data_buffer))
        elif opcode == OPCODES["BINARY"]:
            self.emit("data", real_data_buffer)
        else:
            self.emit("close")

    def process_data(self, buffer_data: bytes) -> None:
        opcode, real_data = read_frame(buffer_data)
        self.handle_real_data(opcode, real_data)

    def send(self, data: Any) -> None:
        """``send(data)``: bytes as a binary frame, str as text; anything else prints an error, then throws."""
        opcode: int | None
        buffer: bytes | None
        if isinstance(data, (bytes, bytearray)):
            opcode = OPCODES["BINARY"]
            buffer = bytes(data)
        elif isinstance(data, str):
            opcode = OPCODES["TEXT"]
            buffer = string_to_utf8(data)
        else:
            self.process.error(UNSUPPORTED_TYPE)
            opcode = buffer = None
        self.do_send(opcode, buffer)

    def do_send(self, opcode: int | None, buffer_datafer: bytes | None) -> None:
        socket = self.socket
        if socket is None:  # this.socket.write: the property is read before the argument is computed
            raise JSError("TypeError", "Cannot read properties of undefined (reading 'write')", at=_DO_SEND)
        socket.write(encode_message(opcode, buffer_datafer), site=_DO_SEND)


# ------------------------------------------------------------------------------------------ index.js
class ToyServer:
    """The tutorial's ``index.js``, running in this kernel: a ``MyWebsocket`` with its two listeners.

    ``await toy.start()`` listens (127.0.0.1, a free port) and returns;
    clients connect to ``toy.url``. What index.js prints is in ``toy.output``
    (``await toy.next_line()`` waits for the next line); ``toy.crashed`` is
    the exception that ended the "process", if one did; ``toy.timers`` counts
    the ``setInterval`` timers running. ``interval`` is the timers' period in
    seconds (index.js: 2), ``clock`` what ``Date.now()`` returns (default:
    the time in milliseconds). ``echo=True`` also prints each console line as
    it comes (handy in a terminal; in a notebook it lands in whichever cell
    runs at the time). ``await toy.stop()`` ends it, as Ctrl-C would.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, interval: float = 2.0,
                 clock: Callable[[], int] | None = None, echo: bool = False) -> None:
        self.process = NodeProcess(echo=(lambda line: print(line)) if echo else None)
        self.interval = interval
        self.clock = clock if clock is not None else (lambda: int(time.time() * 1000))
        # const ws = new MyWebSocket({ port: 8080 });
        self.ws = MyWebsocket(self.process, port=port, host=host)
        self.ws.on("data", self._on_data)
        self.ws.on("close", self._on_close)
        self._read = 0
        self._waiters: list[asyncio.Future] = []
        self.process.subscribe(self._line_written)

    # ws.on('data', (data) => { console.log('receive data:' + data); setInterval(() => {...}, 2000) });
    def _on_data(self, data: str | bytes) -> None:
        self.process.log("receive data:" + js_string(data))
        self.process.set_interval(lambda: self.ws.send(js_string(data) + " " + js_string(self.clock())),
                                  self.interval)

    # ws.on('close', (code, reason) => { console.log('close:', code, reason); });
    def _on_close(self, code: Any = None, reason: Any = None) -> None:
        self.process.log("close:", code, reason)

    # -- running it ---------------------------------------------------------------------
    async def start(self) -> ToyServer:
        await self.ws.listen()
        return self

    async def stop(self) -> None:
        """End the process (as Ctrl-C does): timers stop, the server and every connection close."""
        self.process.exit()
        await self.ws.server.wait_closed()

    async def __aenter__(self) -> ToyServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def send(self, data: Any) -> None:
        """``ws.send(data)`` called from index.js's own code: what it throws is uncaught, and fatal."""
        self.process.run(self.ws.send, data)

    # -- looking at it ------------------------------------------------------------------
    @property
    def port(self) -> int:
        address = self.ws.server.address
        return address[1] if address else self.ws.port

    @property
    def url(self) -> str:
        return f"ws://{self.ws.host}:{self.port}/"

    @property
    def alive(self) -> bool:
        """The process still runs (no uncaught exception, not stopped)."""
        return self.process.alive

    @property
    def crashed(self) -> JSError | None:
        """The uncaught exception that ended the process, or None."""
        return self.process.crashed

    @property
    def output(self) -> list[ConsoleLine]:
        """Every console line so far, stdout and stderr, in order."""
        return self.process.output

    @property
    def timers(self) -> int:
        """How many ``setInterval`` timers run (one per message received, never cleared)."""
        return len(self.process.timers)

    def _line_written(self, line: ConsoleLine) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def next_line(self, timeout: float = 5) -> ConsoleLine:
        """The next console line not returned before, waiting up to ``timeout`` seconds for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._read >= len(self.process.output):
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, max(deadline - loop.time(), 0))
            except asyncio.TimeoutError:
                raise TimeoutError(f"the toy printed nothing more within {timeout}s "
                                   f"({'alive' if self.alive else 'its process has exited'})") from None
        line = self.process.output[self._read]
        self._read += 1
        return line

    def __repr__(self) -> str:
        if self.crashed is not None:
            state = f"crashed: {self.crashed.header}"
        elif not self.alive:
            state = "stopped"
        elif self.ws.server.listening:
            state = f"listening on {self.url}"
        else:
            state = "not started"
        return (f"<ToyServer {state}, {self.ws.server.open_connections} connection(s), "
                f"{self.timers} timer(s)>")
