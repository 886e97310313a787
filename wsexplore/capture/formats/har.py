"""HAR files in: the WebSocket connections a browser's developer tools exported, as message records.

Chrome DevTools (since Chrome 76) writes each WebSocket as an entry with
``_resourceType: "websocket"``, the upgrade request and response headers, and
``_webSocketMessages``: ``{"type": "send" | "receive", "time": <epoch
seconds>, "opcode": 1 | 2, "data": <text, or base64 for binary>}``. A browser
reports *messages*, after reassembly and inflation: there are no frames in a
HAR (no FIN, RSV, lengths, masking keys, no control frames), so none are made
up here. Each message becomes a ``MessageRecord`` whose ``frames`` is 0, and
the connection's ``OpenRecord`` (via "har") says so. The request and
response heads are rebuilt from the listed headers, as the note says.

Firefox's HAR export lists a WebSocket's upgrade (status 101, ``Upgrade:
websocket``) and, in the versions that export them, the same
``_webSocketMessages``; an entry without them is listed with a note.

Every field read is type-checked; a file that is not such a HAR raises one
ValueError naming the JSON path (``log.entries[3]._webSocketMessages[7].opcode``).
"""

from __future__ import annotations

import binascii
import json
import math
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...protocol.events import MessageReceived
from ...protocol.opcodes import Opcode
from ..records import WALL_RANGE
from .b64 import decode as decode_base64

if TYPE_CHECKING:
    from ..store import Capture

__all__ = ["read", "DIRECTIONS"]

#: HAR message type -> record direction (the browser is the client: what it sends goes "in" to the server).
DIRECTIONS = {"send": "in", "receive": "out"}
_VERSION = re.compile(r"HTTP/\d(\.\d)?")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _get(obj: dict, key: str, kind: type | tuple[type, ...], path: str, *, required: bool = True) -> Any:
    """``obj[key]`` checked to be of ``kind``; ``path`` names ``obj`` in the error ("" for the top)."""
    if key not in obj:
        if required:
            raise ValueError(f"{path or 'the file'}: no {key!r}")
        return None
    value = obj[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool) and bool not in (
            kind if isinstance(kind, tuple) else (kind,))):
        wanted = " or ".join(_type_name(k()) if k is not float else "a number"
                             for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ValueError(f"{f'{path}.{key}' if path else key}: must be {wanted}, got {_type_name(value)}")
    return value


def _number(obj: dict, key: str, path: str, *, required: bool = True) -> float | None:
    value = _get(obj, key, (int, float), path, required=required)
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{path}.{key}: must be a finite number, got {value!r}")
    return None if value is None else float(value)


def read(text: str, capture: Capture) -> int:
    """Append the WebSocket connections of the HAR ``text`` to ``capture``; returns how many there were."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {exc.lineno}, column {exc.colno}: not JSON ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"a HAR file is a JSON object, got {_type_name(doc)}")
    log = _get(doc, "log", dict, "")
    entries = _get(log, "entries", list, "log")
    creator = _creator(log)
    conn = max(capture.connections, default=0)
    found = 0
    for i, entry in enumerate(entries):
        path = f"log.entries[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: must be an object, got {_type_name(entry)}")
        if not _is_websocket(entry, path):
            continue
        conn += 1
        found += 1
        _read_entry(entry, path, conn, capture, creator)
    return found


def _creator(log: dict) -> str:
    creator = log.get("creator")
    if not isinstance(creator, dict):
        return "an unnamed tool"
    name, version = creator.get("name"), creator.get("version")
    if not isinstance(name, str):
        return "an unnamed tool"
    return f"{name} {version}" if isinstance(version, str) and version else name


def _headers(message: dict, path: str) -> list[tuple[str, str]]:
    items = _get(message, "headers", list, path)
    out = []
    for j, item in enumerate(items):
        where = f"{path}.headers[{j}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: must be an object, got {_type_name(item)}")
        name = _get(item, "name", str, where)
        value = _get(item, "value", str, where)
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"{where}.name: {name!r} is not an HTTP header name (RFC 9110 section 5.1)")
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"{where}.value: a header value cannot hold CR, LF or NUL (RFC 9110 section 5.5)")
        out.append((name, value))
    return out


def _is_websocket(entry: dict, path: str) -> bool:
    if entry.get("_resourceType") == "websocket" or "_webSocketMessages" in entry:
        return True
    request = entry.get("request")
    if isinstance(request, dict):
        url = request.get("url")
        if isinstance(url, str) and url.lower().startswith(("ws://", "wss://")):
            return True
        headers = request.get("headers")
        if isinstance(headers, list):
            for item in headers:
                if (isinstance(item, dict) and str(item.get("name", "")).lower() == "upgrade"
                        and "websocket" in str(item.get("value", "")).lower()):
                    return True
    return False


def _head(start_line: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [start_line, *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("utf-8")


def _time(entry: dict, path: str) -> float:
    started = _get(entry, "startedDateTime", str, path)
    try:
        when = datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        raise ValueError(f"{path}.startedDateTime: {started!r} is not an ISO 8601 date and time") from None
    return _wall(when, f"{path}.startedDateTime")


def _wall(when: float, where: str) -> float:
    """A time as a record's wall clock: a date from year 1 to 9999 (``WALL_RANGE``), or ValueError."""
    if not WALL_RANGE[0] <= when <= WALL_RANGE[1]:
        raise ValueError(f"{where}: {when:g} s since 1970 is not a date from year 1 to 9999")
    return when


def _read_entry(entry: dict, path: str, conn: int, capture: Capture, creator: str) -> None:
    request = _get(entry, "request", dict, path)
    response = _get(entry, "response", dict, path)
    rpath, spath = f"{path}.request", f"{path}.response"
    method = _get(request, "method", str, rpath)
    url = _get(request, "url", str, rpath)
    version = _get(request, "httpVersion", str, rpath, required=False) or ""
    status = _get(response, "status", int, spath)
    reason = _get(response, "statusText", str, spath, required=False) or ""
    response_version = _get(response, "httpVersion", str, spath, required=False) or ""
    if not _TOKEN.fullmatch(method):
        raise ValueError(f"{rpath}.method: {method!r} is not an HTTP method")
    if any(c in url for c in " \r\n\0"):
        raise ValueError(f"{rpath}.url: a URL cannot hold spaces or line breaks")
    if any(c in reason for c in "\r\n\0"):
        raise ValueError(f"{spath}.statusText: cannot hold CR, LF or NUL")
    if not 0 <= status <= 999:
        raise ValueError(f"{spath}.status: {status} is not an HTTP status code")
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    rebuilt = []
    if not _VERSION.fullmatch(version):
        rebuilt.append(f"request version {version!r}")
        version = "HTTP/1.1"
    if not _VERSION.fullmatch(response_version):
        rebuilt.append(f"response version {response_version!r}")
        response_version = "HTTP/1.1"
    request_head = _head(f"{method} {target} {version}", _headers(request, rpath))
    response_head = _head(f"{response_version} {status} {reason}".rstrip(), _headers(response, spath))
    when = _time(entry, path)
    server = entry.get("serverIPAddress")
    note = f"{url}" + (f", server {server}" if isinstance(server, str) and server else "") + f"; exported by {creator}"
    if rebuilt:
        note += f"; {' and '.join(rebuilt)} not HTTP/x.y, written as HTTP/1.1"
    messages = _get(entry, "_webSocketMessages", list, path, required=False)
    if messages is None:
        note += "; the entry lists the handshake but no messages (this HAR has no _webSocketMessages)"
    else:
        note += "; messages as the browser delivered them (reassembled, inflated): no frames"
    capture.opened(conn, None, request_head, response_head, status, via="har", note=note, time=when, wall=when)
    skipped: dict[int, int] = {}
    for k, message in enumerate(messages or ()):
        mpath = f"{path}._webSocketMessages[{k}]"
        if not isinstance(message, dict):
            raise ValueError(f"{mpath}: must be an object, got {_type_name(message)}")
        kind = _get(message, "type", str, mpath)
        at = _number(message, "time", mpath)
        if at is not None:
            at = _wall(at, f"{mpath}.time")
        opcode = _get(message, "opcode", int, mpath)
        data = _get(message, "data", str, mpath)
        assert at is not None
        if kind == "error":  # Chrome lists a frame error as a message of its own
            capture.error(conn, f"the browser reported a WebSocket error: {data}", time=at, wall=at)
            continue
        direction = DIRECTIONS.get(kind)
        if direction is None:
            raise ValueError(f"{mpath}.type: must be \"send\" or \"receive\", got {kind!r}")
        if opcode == Opcode.TEXT:
            payload: str | bytes = data
        elif opcode == Opcode.BINARY:
            try:
                payload = decode_base64(data.encode("ascii"))
            except (binascii.Error, UnicodeEncodeError):
                raise ValueError(f"{mpath}.data: a binary message (opcode 2) must be base64, and this is not") \
                    from None
        elif opcode in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
            skipped[opcode] = skipped.get(opcode, 0) + 1
            continue
        else:
            raise ValueError(f"{mpath}.opcode: must be 1 (text) or 2 (binary), got {opcode}")
        capture.record_events(conn, [MessageReceived(Opcode(opcode), payload, 0)], time=at, wall=at,
                              received=direction)  # type: ignore[arg-type]
    if skipped:
        listed = ", ".join(f"{n} {Opcode(op).name}" for op, n in sorted(skipped.items()))
        capture.error(conn, f"the HAR lists control messages ({listed}) that are not recorded: without their frames "
                            "they say nothing a record could show", time=when, wall=when)
