"""One exception family for every protocol violation.

Each error carries what an endpoint needs to answer it (the close code of
RFC 6455 section 7.4.1, or an HTTP status for the handshake), and what a
person needs to understand it: the field, the bit offset inside the frame
where the offending field starts, and the RFC rule that was broken.
"""

from __future__ import annotations

__all__ = [
    "ProtocolError",
    "FramingError",
    "InvalidUTF8",
    "InvalidCloseCode",
    "MessageTooBig",
    "TruncatedFrame",
    "HandshakeError",
]


class ProtocolError(Exception):
    """A violation of RFC 6455; ``close_code`` is what the connection fails with."""

    close_code: int = 1002

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        bit_offset: int | None = None,
        rfc: str | None = None,
        close_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.bit_offset = bit_offset
        self.rfc = rfc
        if close_code is not None:
            self.close_code = close_code

    def __str__(self) -> str:
        where = []
        if self.field:
            where.append(self.field)
        if self.bit_offset is not None:
            where.append(f"bit {self.bit_offset}")
        prefix = f"[{', '.join(where)}] " if where else ""
        suffix = f" (RFC 6455 section {self.rfc})" if self.rfc and not self.rfc.startswith("RFC") else (
            f" ({self.rfc})" if self.rfc else ""
        )
        return f"{prefix}{self.message}{suffix}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, close_code={self.close_code})"

    def __eq__(self, other: object) -> bool:
        return (
            type(self) is type(other)
            and (self.message, self.field, self.bit_offset, self.rfc, self.close_code)
            == (other.message, other.field, other.bit_offset, other.rfc, other.close_code)  # type: ignore[attr-defined]
        )

    __hash__ = Exception.__hash__


class FramingError(ProtocolError):
    """A frame that breaks the framing rules of section 5 (close 1002)."""

    close_code = 1002


class InvalidCloseCode(FramingError):
    """A close frame whose status code may not appear on the wire (close 1002)."""


class InvalidUTF8(ProtocolError):
    """Text (a text message or a close reason) that is not UTF-8 (close 1007)."""

    close_code = 1007


class MessageTooBig(ProtocolError):
    """A frame or message larger than the configured limit (close 1009)."""

    close_code = 1009


class TruncatedFrame(ProtocolError):
    """The bytes end before the frame does (the connection would end abnormally: 1006)."""

    close_code = 1006

    def __init__(self, message: str, *, missing: int, field: str | None = None, bit_offset: int | None = None,
                 rfc: str | None = None) -> None:
        super().__init__(message, field=field, bit_offset=bit_offset, rfc=rfc)
        self.missing = missing


class HandshakeError(ProtocolError):
    """An opening handshake that must be refused; ``status`` is the HTTP answer."""

    close_code = 1002

    def __init__(self, message: str, *, status: int = 400, header: str | None = None, rfc: str | None = "4.2.1",
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message, field=header, rfc=rfc)
        self.status = status
        self.header = header
        self.headers = headers
