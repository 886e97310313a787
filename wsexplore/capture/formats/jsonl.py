"""JSON Lines, the capture's own file format: a header line, then one object per record.

Lossless: bytes are base64, a frame's ``Frame`` is written only when it is
not what its raw bytes decode to, and a ``ProtocolError`` keeps its class and
attributes. The handshake's credentials (Cookie, Authorization,
Proxy-Authorization, Set-Cookie) are redacted unless ``include_secrets``, in
the raw handshakes and in the headers an error carries.
"""

from __future__ import annotations

import base64
import importlib
import json
from dataclasses import dataclass, field
from typing import Any

from ...protocol.errors import ProtocolError
from ...protocol.frames import Frame
from ..records import CloseRecord, ErrorRecord, FrameRecord, MessageRecord, OpenRecord, Record, parse_frame
from ..redact import redact_headers

__all__ = ["FORMAT", "FORMAT_VERSION", "Saved", "dumps", "loads"]

FORMAT = "wsexplore-capture"
FORMAT_VERSION = 1


@dataclass
class Saved:
    """What a file holds: the records and the state of the capture they came from."""

    records: list[Record]
    last_seq: int = 0
    dropped: int = 0
    dropped_bytes: int = 0
    max_records: int | None = None
    max_bytes: int | None = None
    connections: list[int] = field(default_factory=list)


def dumps(saved: Saved, *, include_secrets: bool = False) -> str:
    """The file's text: the header line, then one line per record."""
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "records": len(saved.records),
        "next_seq": saved.last_seq,
        "dropped": saved.dropped,
        "dropped_bytes": saved.dropped_bytes,
        "max_records": saved.max_records,
        "max_bytes": saved.max_bytes,
        "connections": saved.connections,
        "secrets": include_secrets,
    }
    lines = [json.dumps(header)]
    lines += [json.dumps(record_to_json(r, include_secrets)) for r in saved.records]
    return "\n".join(lines) + "\n"


def loads(text: str) -> Saved:
    """What ``dumps`` wrote; ValueError names what is wrong (not a capture, version, truncation, line)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty file: not a wsexplore capture")
    header = json.loads(lines[0])
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError("not a wsexplore capture (the first line is not its header)")
    if header.get("version") != FORMAT_VERSION:
        raise ValueError(f"capture format version {header.get('version')} is not supported "
                         f"(this version reads {FORMAT_VERSION})")
    if header.get("records", len(lines) - 1) != len(lines) - 1:
        raise ValueError(f"truncated capture: the header announces {header['records']} records, "
                         f"the file holds {len(lines) - 1}")
    records = []
    for number, line in enumerate(lines[1:], 2):
        try:
            records.append(record_from_json(json.loads(line)))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"line {number}: not a capture record ({exc})") from exc
    return Saved(records=records, last_seq=header.get("next_seq", 0), dropped=header.get("dropped", 0),
                 dropped_bytes=header.get("dropped_bytes", 0), max_records=header.get("max_records"),
                 max_bytes=header.get("max_bytes"), connections=list(header.get("connections", ())))


# ---------------------------------------------------------------------------- values
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return {"base64": _b64(value)}
    raise TypeError(type(value).__name__)


def _unjson(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_unjson(v) for v in value)
    if isinstance(value, dict) and set(value) == {"base64"}:
        return _unb64(value["base64"])
    return value


def _error_to_json(err: ProtocolError, include_secrets: bool) -> dict[str, Any]:
    cls = type(err)
    attrs: dict[str, Any] = {}
    for name, value in vars(err).items():
        if name == "headers" and not include_secrets:
            value = redact_headers(value)
        try:
            attrs[name] = _jsonable(value)
        except TypeError:
            continue
    attrs.setdefault("message", str(err))
    return {"type": f"{cls.__module__}:{cls.__qualname__}", "attrs": attrs}


def _error_from_json(data: dict[str, Any]) -> ProtocolError:
    """The same exception class with the same attributes (classes outside wsexplore are not imported)."""
    module, _, qualname = data["type"].partition(":")
    cls: type = ProtocolError
    if module == "wsexplore" or module.startswith("wsexplore."):
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            obj = None
        if isinstance(obj, type) and issubclass(obj, ProtocolError):
            cls = obj
    attrs = {name: _unjson(value) for name, value in data["attrs"].items()}
    err = cls.__new__(cls)
    Exception.__init__(err, attrs["message"])
    err.__dict__.update(attrs)
    return err


def _frame_to_json(rec: FrameRecord) -> bool | dict[str, Any] | None:
    f = rec.frame
    if f is None:
        return None
    if rec._frame is None or parse_frame(rec.raw) == f:
        return True  # decoded back from raw
    return {"opcode": int(f.opcode), "payload": _b64(f.payload), "fin": f.fin, "rsv1": f.rsv1,
            "rsv2": f.rsv2, "rsv3": f.rsv3, "mask_key": f.mask_key.hex() if f.mask_key is not None else None}


def _frame_from_json(value: Any, raw: bytes, has_error: bool) -> Frame | None:
    if value is None:
        return None
    if value is True:
        if not has_error:
            return None  # decoded from raw on first access
        frame = parse_frame(raw)
        if frame is None:
            raise ValueError("the raw bytes of a parsed frame do not hold one complete frame")
        return frame
    return Frame(value["opcode"], _unb64(value["payload"]), fin=value["fin"], rsv1=value["rsv1"],
                 rsv2=value["rsv2"], rsv3=value["rsv3"],
                 mask_key=bytes.fromhex(value["mask_key"]) if value["mask_key"] is not None else None)


# ---------------------------------------------------------------------------- records
def record_to_json(r: Record, include_secrets: bool) -> dict[str, Any]:
    """One record as a JSON object (credentials redacted unless ``include_secrets``)."""
    d: dict[str, Any] = {"kind": r.kind, "seq": r.seq, "conn": r.conn, "time": r.time, "wall": r.wall}
    if isinstance(r, FrameRecord):
        d.update(direction=r.direction, offset=r.offset, raw=_b64(r.raw), frame=_frame_to_json(r),
                 error=None if r.error is None else _error_to_json(r.error, include_secrets))
        if r.injected:
            d["injected"] = True
    elif isinstance(r, OpenRecord):
        shown = r if include_secrets else r.redacted()
        d.update(peer=_jsonable(r.peer), request=_b64(shown.request), response=_b64(shown.response),
                 status=r.status)
        if r.via is not None:
            d["via"] = r.via
        if r.note:
            d["note"] = r.note
        if shown.forwarded_request is not None:
            d["forwarded_request"] = _b64(shown.forwarded_request)
    elif isinstance(r, MessageRecord):
        d.update(direction=r.direction, opcode=int(r.opcode), frames=r.frames)
        if r.compressed_size is not None:
            d["compressed_size"] = r.compressed_size
        if isinstance(r.data, str):
            d["text"] = r.data
        else:
            d["data"] = _b64(r.data)
    elif isinstance(r, CloseRecord):
        d.update(code=r.code, reason=r.reason, initiator=r.initiator, clean=r.clean)
    elif isinstance(r, ErrorRecord):
        d.update(message=r.message, error=None if r.error is None else _error_to_json(r.error, include_secrets))
    else:  # pragma: no cover
        raise TypeError(f"cannot export {type(r).__name__}")
    return d


def record_from_json(d: dict[str, Any]) -> Record:
    """The record ``record_to_json`` wrote."""
    kind = d["kind"]
    common = (d["seq"], d["conn"], d["time"], d["wall"])
    if kind == "frame":
        raw = _unb64(d["raw"])
        error = None if d.get("error") is None else _error_from_json(d["error"])
        return FrameRecord(*common, d["direction"], d["offset"], raw,
                           _frame_from_json(d.get("frame"), raw, error is not None), error,
                           bool(d.get("injected", False)))
    if kind == "open":
        forwarded = d.get("forwarded_request")
        return OpenRecord(*common, _unjson(d["peer"]), _unb64(d["request"]), _unb64(d["response"]), d["status"],
                          d.get("via"), d.get("note", ""), None if forwarded is None else _unb64(forwarded))
    if kind == "message":
        data = d["text"] if "text" in d else _unb64(d["data"])
        return MessageRecord(*common, d["direction"], d["opcode"], data, d["frames"],
                             d.get("compressed_size"))
    if kind == "close":
        return CloseRecord(*common, d["code"], d["reason"], d["initiator"], d["clean"])
    if kind == "error":
        error = None if d.get("error") is None else _error_from_json(d["error"])
        return ErrorRecord(*common, d["message"], error)
    raise ValueError(f"unknown record kind {kind!r}")
