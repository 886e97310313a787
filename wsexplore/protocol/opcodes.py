"""Opcodes and close codes (RFC 6455 section 5.2, 7.4), with their names and meanings.

The header's bit masks live in :mod:`wsexplore.protocol.header`.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "Opcode",
    "CloseCode",
    "as_opcode",
    "opcode_name",
    "opcode_meaning",
    "close_code_meaning",
    "close_code_allowed",
]

class Opcode(IntEnum):
    """Frame opcodes defined by RFC 6455 section 5.2; 0x3-0x7 and 0xB-0xF are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        return self >= 0x8

    def __repr__(self) -> str:
        return f"Opcode.{self.name}"


# Every 4-bit value: the Opcode member where one is defined, the plain int where it is reserved,
# so that frames with reserved opcodes can still be represented.
_AS_OPCODE: tuple[Opcode | int, ...] = tuple(
    Opcode(v) if v in Opcode._value2member_map_ else v for v in range(16)
)


def as_opcode(value: int) -> Opcode | int:
    """``Opcode(value)`` for a defined opcode, ``value`` itself for a reserved one (0-15)."""
    return _AS_OPCODE[value]


def opcode_name(value: int) -> str:
    """'TEXT', 'PING', ...; a reserved opcode as '0x3'."""
    op = _AS_OPCODE[value]
    return op.name if isinstance(op, Opcode) else f"0x{value:X}"


_OPCODE_MEANING = {
    0x0: "continuation frame",
    0x1: "text frame",
    0x2: "binary frame",
    0x8: "connection close",
    0x9: "ping",
    0xA: "pong",
}


def opcode_meaning(value: int) -> str:
    """'0x1: text frame', or the reserved range a value falls in."""
    if value in _OPCODE_MEANING:
        return f"0x{value:X}: {_OPCODE_MEANING[value]}"
    kind = "non-control" if value < 0x8 else "control"
    return f"0x{value:X}: reserved for further {kind} frames"


class CloseCode(IntEnum):
    """Status codes of RFC 6455 section 7.4.1 and the IANA registry."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    RESERVED = 1004
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015

    def __repr__(self) -> str:
        return f"CloseCode.{self.name}"


_CLOSE_MEANING = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1004: "reserved",
    1005: "no status received (never sent on the wire)",
    1006: "abnormal closure (never sent on the wire)",
    1007: "invalid frame payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failure (never sent on the wire)",
}

# Codes a close frame may carry (RFC 6455 section 7.4.1-7.4.2 and the IANA registry).
_SENDABLE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def close_code_allowed(code: int) -> bool:
    """True when ``code`` may appear in a close frame on the wire."""
    return code in _SENDABLE or 3000 <= code <= 4999


def close_code_meaning(code: int) -> str:
    if code in _CLOSE_MEANING:
        return f"{code}: {_CLOSE_MEANING[code]}"
    if 0 <= code <= 999:
        return f"{code}: not used (0-999 may never appear)"
    if 1016 <= code <= 2999:
        return f"{code}: unassigned (1016-2999 reserved for RFC 6455 and extensions)"
    if 3000 <= code <= 3999:
        return f"{code}: registered for libraries and frameworks"
    if 4000 <= code <= 4999:
        return f"{code}: private use"
    return f"{code}: out of range"
