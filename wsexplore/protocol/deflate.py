"""permessage-deflate (RFC 7692): negotiate it, compress and inflate messages, sans-I/O.

Three jobs, each in one place:

* **Parameters** (RFC 7692 section 7.1): ``DeflateOffer.from_extension`` reads a
  client's offer, ``DeflateParams.from_extension`` a server's response. Each
  rejects a duplicate or unknown parameter, a value on a flag, a missing or
  bad window size, with a reason that names the parameter.
* **Negotiation**: a ``DeflateConfig`` says what this endpoint wants. A server
  calls ``config.negotiate(offers)``: the first acceptable offer wins and the
  declined ones keep their reason (section 7: a server *declines* a bad offer,
  it does not refuse the handshake). A client sends ``config.offer()`` and
  checks the answer with ``config.accept_response(...)``, which raises
  ``HandshakeError`` where the client must fail the connection.
* **Compression**: ``PerMessageDeflate`` holds one side's zlib state. A message
  is deflated with ``Z_SYNC_FLUSH`` and loses its trailing ``00 00 ff ff``;
  the receiver appends them back and inflates (section 7.2.1, 7.2.2). With
  context takeover the LZ77 window carries over from message to message; with
  ``*_no_context_takeover`` each message starts afresh.

A message is inflated with ``max_length``, so a small payload that would
inflate to gigabytes (a deflate bomb, section 8) is stopped as soon as its
output passes the limit: memory stays bounded by the limit, not by the bomb.

Window size 8: RFC 7692 allows 8 to 15, but zlib 1.2.9 and later refuse to
*compress* raw deflate with an 8-bit window (``zlib.compressobj(wbits=-8)``
raises "Invalid initialization option"). As websockets does, this endpoint
never agrees to compress with 8: a server declines an offer that limits the
server to 8, and a client fails a response that limits the client to 8.
Inflating with an 8-bit window works, so a peer may be limited to 8.

A message whose deflate data ends with a final block (BFINAL, section 7.2.3.4)
is inflated; the next message then starts with a fresh window, so a peer that
keeps referring to the earlier window after a final block fails to inflate.

A message of ``FAST_FROM`` bytes or more is deflated by zlib-ng when it is
installed (a dependency): the same format, level, window and memLevel, in about
half the time. Its compressor lives for that one message, primed with the
window of the messages before it, so a connection keeps no more memory for it
(see ``PerMessageDeflate.compress``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Union

from .errors import HandshakeError, MessageTooBig, ProtocolError
from .handshake import Extension, Headers, format_extensions, parse_extensions
from .rules import Role

try:
    from zlib_ng import zlib_ng as _zlib_ng
except ImportError:  # pragma: no cover - a dependency; without its wheel zlib deflates everything
    _zlib_ng = None

__all__ = [
    "NAME",
    "TAIL",
    "CompressionError",
    "DeflateOffer",
    "DeflateParams",
    "DeflateConfig",
    "Negotiation",
    "PerMessageDeflate",
    "deflate_message",
    "inflate_message",
    "find_params",
    "SERVER_DEFAULT",
]

#: The extension's name in ``Sec-WebSocket-Extensions``.
NAME = "permessage-deflate"

#: The empty stored block a sync flush ends with: stripped when sending, appended when receiving.
TAIL = b"\x00\x00\xff\xff"

_RFC = "RFC 7692 section 7"
_FLAGS = ("server_no_context_takeover", "client_no_context_takeover")
_WINDOWS = ("server_max_window_bits", "client_max_window_bits")
_KNOWN = _FLAGS + _WINDOWS
# Section 7.1.2.1: 1*DIGIT, 8 to 15, no leading zero.
_WINDOW_VALUES = {str(bits): bits for bits in range(8, 16)}

Sender = Role


class CompressionError(ProtocolError):
    """A compressed message that does not inflate (RFC 7692 section 7.2.2): close 1002."""

    close_code = 1002


def _error(message: str, rfc: str = _RFC, status: int = 400) -> HandshakeError:
    return HandshakeError(message, status=status, header="Sec-WebSocket-Extensions", rfc=rfc)


def _check_bits(name: str, bits: object, *, low: int = 8, allow_true: bool = False) -> None:
    if bits is None or (allow_true and bits is True):
        return
    if isinstance(bits, bool) or not isinstance(bits, int) or not low <= bits <= 15:
        more = " or True" if allow_true else ""
        raise ValueError(f"{name} must be None{more} or an integer from {low} to 15, got {bits!r}")


def _parse(params: Iterable[tuple[str, str | None]], *, offer: bool) -> dict[str, bool | int]:
    """The parameters of one element, validated as an offer's or a response's (section 7.1)."""
    kind = "offer" if offer else "response"
    found: dict[str, bool | int] = {}
    for name, value in params:
        if name not in _KNOWN:
            raise _error(f"unknown permessage-deflate parameter {name!r} in the {kind}: the extension defines "
                         f"{', '.join(_KNOWN)}")
        if name in found:
            raise _error(f"permessage-deflate parameter {name} appears more than once in the {kind}")
        if name in _FLAGS:
            if value is not None:
                raise _error(f"permessage-deflate parameter {name} takes no value, got {name}={value}",
                             rfc="RFC 7692 section 7.1.1")
            found[name] = True
        elif value is None:
            if name == "client_max_window_bits" and offer:
                found[name] = True  # "supported, the server may pick": only in an offer (section 7.1.2.2)
            else:
                where = "in a response" if name == "client_max_window_bits" else "always"
                raise _error(f"permessage-deflate parameter {name} needs a value from 8 to 15 ({where})",
                             rfc="RFC 7692 section 7.1.2")
        else:
            bits = _WINDOW_VALUES.get(value)
            if bits is None:
                raise _error(f"permessage-deflate parameter {name}={value}: the value must be an integer from "
                             "8 to 15 without leading zeros", rfc="RFC 7692 section 7.1.2")
            found[name] = bits
    return found


def _params(snct: bool, cnct: bool, smwb: int | None, cmwb: int | bool | None) -> tuple[tuple[str, str | None], ...]:
    out: list[tuple[str, str | None]] = []
    if snct:
        out.append(("server_no_context_takeover", None))
    if cnct:
        out.append(("client_no_context_takeover", None))
    if smwb is not None:
        out.append(("server_max_window_bits", str(smwb)))
    if cmwb is True:
        out.append(("client_max_window_bits", None))
    elif cmwb is not None and cmwb is not False:
        out.append(("client_max_window_bits", str(cmwb)))
    return tuple(out)


# -- offers and responses ---------------------------------------------------------------


def _from_extension(cls: type, extension: Extension | str, *, offer: bool) -> Any:
    """Build ``cls`` (an offer or the agreed parameters) from one parsed extension element."""
    p = _parse(_one(extension).params, offer=offer)
    return cls(bool(p.get("server_no_context_takeover")), bool(p.get("client_no_context_takeover")),
               p.get("server_max_window_bits"), p.get("client_max_window_bits"))


@dataclass(frozen=True)
class DeflateOffer:
    """One ``permessage-deflate`` element of a client's offer (RFC 7692 section 7.1).

    ``client_max_window_bits`` is None when absent, True when present without
    a value (the client supports the parameter in the response), else its value.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | Literal[True] | None = None

    def __post_init__(self) -> None:
        _check_bits("server_max_window_bits", self.server_max_window_bits)
        _check_bits("client_max_window_bits", self.client_max_window_bits, allow_true=True)

    @classmethod
    def from_extension(cls, extension: Extension | str) -> DeflateOffer:
        """Read an offer element; ``HandshakeError`` names the parameter a server must decline it for."""
        return _from_extension(cls, extension, offer=True)

    def extension(self) -> Extension:
        return Extension(NAME, _params(self.server_no_context_takeover, self.client_no_context_takeover,
                                       self.server_max_window_bits, self.client_max_window_bits))

    def __str__(self) -> str:
        return format_extensions([self.extension()])


@dataclass(frozen=True)
class DeflateParams:
    """The agreed parameters (RFC 7692 section 7.1): what each side may do.

    ``server_*`` bind the server's compressor, ``client_*`` the client's. A
    window size of None means 15 (a 32 KiB window). As read from a response
    by ``from_extension`` they are the response's parameters.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None

    def __post_init__(self) -> None:
        _check_bits("server_max_window_bits", self.server_max_window_bits)
        _check_bits("client_max_window_bits", self.client_max_window_bits)

    @classmethod
    def from_extension(cls, extension: Extension | str) -> DeflateParams:
        """Read a response element; ``HandshakeError`` says why a client must fail the connection."""
        return _from_extension(cls, extension, offer=False)

    def no_context_takeover(self, sender: Sender) -> bool:
        """Whether ``sender`` resets its compressor (and its peer the decompressor) for each message."""
        return self.server_no_context_takeover if sender == "server" else self.client_no_context_takeover

    def window_bits(self, sender: Sender) -> int:
        """The LZ77 window (in bits) that ``sender`` compresses with at most."""
        bits = self.server_max_window_bits if sender == "server" else self.client_max_window_bits
        return 15 if bits is None else bits

    def extension(self) -> Extension:
        return Extension(NAME, _params(self.server_no_context_takeover, self.client_no_context_takeover,
                                       self.server_max_window_bits, self.client_max_window_bits))

    def __str__(self) -> str:
        return format_extensions([self.extension()])


def _one(extension: Extension | str) -> Extension:
    if isinstance(extension, str):
        parsed = parse_extensions(extension)
        if len(parsed) != 1:
            raise ValueError(f"expected one extension element, got {len(parsed)} in {extension!r}")
        extension = parsed[0]
    if extension.name != NAME:
        raise ValueError(f"not a {NAME} element: {extension.name!r}")
    return extension


ExtensionsArg = Union[Headers, str, Iterable[Extension]]


def _elements(extensions: ExtensionsArg) -> list[Extension]:
    if isinstance(extensions, (Headers, str)):
        return parse_extensions(extensions)
    return [e if isinstance(e, Extension) else Extension(e[0], tuple(e[1])) for e in extensions]


def find_params(extensions: ExtensionsArg) -> DeflateParams | None:
    """The ``permessage-deflate`` parameters in a 101 response's extensions, None when absent.

    For reading a handshake after the fact (a capture): it checks the
    response's own syntax, not what was offered (see ``DeflateConfig.accept_response``).
    """
    found = [e for e in _elements(extensions) if e.name == NAME]
    if not found:
        return None
    if len(found) > 1:
        raise _error(f"the response accepts {NAME} {len(found)} times")
    return DeflateParams.from_extension(found[0])


# -- negotiation -------------------------------------------------------------------


@dataclass(frozen=True)
class Negotiation:
    """What a server made of a client's ``permessage-deflate`` offers.

    ``params`` are the agreed parameters (None when no offer was acceptable or
    none was made), ``response`` the element to send back, ``declined`` each
    offer passed over before it, with the reason.
    """

    offers: tuple[Extension, ...]
    params: DeflateParams | None
    declined: tuple[tuple[Extension, str], ...] = ()

    @property
    def accepted(self) -> bool:
        return self.params is not None

    @property
    def response(self) -> Extension | None:
        return None if self.params is None else self.params.extension()

    def __repr__(self) -> str:
        if not self.offers:
            return f"Negotiation(no {NAME} offer)"
        if self.params is None:
            why = "; ".join(f"{format_extensions([e])!r}: {reason}" for e, reason in self.declined)
            return f"Negotiation(declined {len(self.offers)} offer(s){': ' + why if why else ''})"
        return f"Negotiation(accepted: {str(self.params)!r}, {len(self.declined)} offer(s) declined first)"


class _Decline(Exception):
    pass


@dataclass(frozen=True)
class DeflateConfig:
    """What this endpoint asks for when it negotiates ``permessage-deflate``.

    As a client (``offer`` / ``accept_response``):

    * ``server_no_context_takeover``: ask the server to reset its compressor for each message;
    * ``client_no_context_takeover``: announce that this client resets its own;
    * ``server_max_window_bits`` (8-15): ask the server to use at most this window;
    * ``client_max_window_bits``: True offers it without a value (the server
      may limit this client, as Chromium offers), 9-15 promises at most that
      window, None leaves it out.

    As a server (``negotiate``):

    * ``server_no_context_takeover``: always reset this server's compressor;
    * ``client_no_context_takeover``: always ask the client to reset its own;
    * ``server_max_window_bits`` (9-15): compress with at most this window;
    * ``client_max_window_bits`` (8-15): ask the client for at most this
      window when it offers the parameter (without it, its value is echoed).

    ``level`` and ``mem_level`` tune zlib's compressor (``zlib.compressobj``).
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | Literal[True] | None = None
    level: int = zlib.Z_DEFAULT_COMPRESSION
    mem_level: int = 8

    def __post_init__(self) -> None:
        _check_bits("server_max_window_bits", self.server_max_window_bits)
        _check_bits("client_max_window_bits", self.client_max_window_bits, allow_true=True)
        if not -1 <= self.level <= 9:
            raise ValueError(f"level must be -1 to 9, got {self.level}")
        if not 1 <= self.mem_level <= 9:
            raise ValueError(f"mem_level must be 1 to 9, got {self.mem_level}")

    # -- client ----------------------------------------------------------------------
    def offer(self) -> DeflateOffer:
        """The client's offer (send ``str(offer)`` or ``offer.extension()`` in the request)."""
        if self.client_max_window_bits == 8:
            raise ValueError("client_max_window_bits=8: zlib cannot compress with an 8-bit window; use 9")
        return DeflateOffer(self.server_no_context_takeover, self.client_no_context_takeover,
                            self.server_max_window_bits, self.client_max_window_bits)

    def accept_response(self, extensions: ExtensionsArg) -> DeflateParams | None:
        """Check the server's answer to ``offer()`` as a client must (RFC 7692 section 7.1).

        ``extensions`` are the response's (``ClientHandshake.extensions``, its
        headers, or a header value). None means the server declined: messages
        go uncompressed. ``HandshakeError`` says why the client must fail the
        connection. The result is what was agreed, which may be stricter than
        the response (a window this client promised in its offer holds).
        """
        found = [e for e in _elements(extensions) if e.name == NAME]
        if not found:
            return None
        if len(found) > 1:
            raise _error(f"the response accepts {NAME} {len(found)} times; the offer made one")
        r = DeflateParams.from_extension(found[0])
        offer = self.offer()
        if offer.server_no_context_takeover and not r.server_no_context_takeover:
            raise _error("the offer asked for server_no_context_takeover but the response does not include it",
                         rfc="RFC 7692 section 7.1.1.1")
        smwb = r.server_max_window_bits
        if offer.server_max_window_bits is not None:
            if smwb is None:
                raise _error(f"the offer asked for server_max_window_bits={offer.server_max_window_bits} but the "
                             "response does not include server_max_window_bits", rfc="RFC 7692 section 7.1.2.1")
            if smwb > offer.server_max_window_bits:
                raise _error(f"server_max_window_bits={smwb} in the response is larger than the "
                             f"{offer.server_max_window_bits} offered", rfc="RFC 7692 section 7.1.2.1")
        cmwb = r.client_max_window_bits
        if offer.client_max_window_bits is None:
            if cmwb is not None:
                raise _error(f"client_max_window_bits={cmwb} in the response, but the offer did not include "
                             "client_max_window_bits", rfc="RFC 7692 section 7.1.2.2")
        elif offer.client_max_window_bits is not True:
            if cmwb is None:
                cmwb = offer.client_max_window_bits  # the window this client promised still holds
            elif cmwb > offer.client_max_window_bits:
                raise _error(f"client_max_window_bits={cmwb} in the response is larger than the "
                             f"{offer.client_max_window_bits} offered", rfc="RFC 7692 section 7.1.2.2")
        if cmwb == 8:
            raise _error("client_max_window_bits=8 in the response: zlib cannot compress with an 8-bit window, "
                         "so this client cannot comply", rfc="RFC 7692 section 7.1.2.2")
        return DeflateParams(r.server_no_context_takeover,
                             r.client_no_context_takeover or offer.client_no_context_takeover, smwb, cmwb)

    # -- server ----------------------------------------------------------------------
    def negotiate(self, offers: ExtensionsArg) -> Negotiation:
        """Accept the first acceptable ``permessage-deflate`` offer (RFC 7692 sections 5 and 7).

        ``offers`` are the request's extensions (``ServerHandshake.extensions_offered``,
        its headers, or a header value); other extensions are ignored. An offer
        with a bad parameter, or one this server cannot honour, is declined and
        the next one tried.
        """
        if self.server_max_window_bits == 8:
            raise ValueError("server_max_window_bits=8: zlib cannot compress with an 8-bit window; use 9")
        elements = tuple(e for e in _elements(offers) if e.name == NAME)
        declined: list[tuple[Extension, str]] = []
        for element in elements:
            try:
                offer = DeflateOffer.from_extension(element)
                params = self._answer(offer)
            except HandshakeError as exc:
                declined.append((element, exc.message))
                continue
            except _Decline as exc:
                declined.append((element, str(exc)))
                continue
            return Negotiation(elements, params, tuple(declined))
        return Negotiation(elements, None, tuple(declined))

    def _answer(self, offer: DeflateOffer) -> DeflateParams:
        # The tables of section 7.1: what this server may answer to what was offered.
        snct = offer.server_no_context_takeover or self.server_no_context_takeover
        cnct = offer.client_no_context_takeover or self.client_no_context_takeover
        smwb = offer.server_max_window_bits
        mine = self.server_max_window_bits
        if mine is not None:
            smwb = mine if smwb is None else min(smwb, mine)
        if smwb == 8:
            raise _Decline("server_max_window_bits=8: zlib cannot compress with an 8-bit window, so this server "
                           "cannot honour the offer")
        cmwb: int | None
        offered = offer.client_max_window_bits
        limit = self.client_max_window_bits if self.client_max_window_bits is not True else None
        if offered is None:
            cmwb = None  # the client did not say it understands the parameter: it must not be sent
        elif offered is True:
            cmwb = limit
        else:
            cmwb = offered if limit is None else min(offered, limit)
        return DeflateParams(snct, cnct, smwb, cmwb)

    def connection(self, params: DeflateParams, role: Role) -> PerMessageDeflate:
        """The compression state for ``role`` once ``params`` are agreed, with this config's zlib tuning."""
        return PerMessageDeflate(params, role, level=self.level, mem_level=self.mem_level)


# -- compression ------------------------------------------------------------------------

# Messages shorter than this never deflate smaller (the smallest back-reference and the block's
# bits take 2-3 bytes), so they are sent uncompressed without touching the compressor.
_NEVER_SMALLER = 4

# From this size on a message is looked at before it is compressed: when its first _SAMPLE bytes do
# not shrink at all under zlib's fastest level (data compressed or encrypted already: images,
# archives, random bytes), it goes uncompressed and the compressor never sees it, so its context is
# kept. Measured (Python 3.11, zlib 1.2): the look costs 7 µs on JSON and 19 µs on random bytes;
# deflating 64 KiB of random bytes to find them incompressible costs 1.9 ms, 64 KiB of JSON 0.35 ms
# (the look adds 2% there). A message whose start does not compress but whose rest would is then
# sent uncompressed: RFC 7692 section 6 allows it, and compress=True still compresses anything.
_LOOK_FROM = 32 * 1024
_SAMPLE = 1024


def _start_is_incompressible(data: bytes) -> bool:
    """Whether the first ``_SAMPLE`` bytes of ``data`` fail to shrink at zlib's fastest level."""
    look = zlib.compressobj(1, zlib.DEFLATED, -15)
    return len(look.compress(memoryview(data)[:_SAMPLE])) + len(look.flush()) >= _SAMPLE

#: What ``Server(compression="deflate")`` asks for: the settings a server with many browser
#: connections wants. Memory per connection, measured (``make bench``, group "deflate"): the
#: compressor takes 2^(bits+2) + 2^(mem_level+9) bytes and the decompressor 2^bits plus about
#: 7 KiB, so 12-bit windows and mem_level 5 hold about 49 KiB where no limits (15, 8) hold about
#: 300 KiB; on JSON messages with context takeover the compressed size grows by 5-11% (1 KiB chat
#: messages 14.8% of their size against 13.6%, 7 KB API documents 16.9% against 15.2%), and each
#: message compresses faster. The same choice as websockets' server, so the two compare alike.
SERVER_DEFAULT = DeflateConfig(server_max_window_bits=12, client_max_window_bits=12, mem_level=5)


#: From this size on a message is deflated by zlib-ng (when installed) in a compressor of its own.
#: Measured (Python 3.11, zlib 1.2.13, zlib-ng 2.3, 12-bit windows, memLevel 5, level 6, context
#: takeover): 7 KB JSON documents 71 µs a message with the connection's zlib compressor, 49 µs
#: with a zlib-ng one made for each message and primed with the window; 256 KiB of logs 2.74 ms
#: against 1.35 ms, 1.4% smaller. 1 KiB chat messages take 15 µs with the kept compressor and
#: 18 µs with a primed one (priming hashes the whole window): small messages stay with zlib.
FAST_FROM = 4 * 1024


def _compressor(bits: int, level: int, mem_level: int, window: bytes = b"", fast: bool = False) -> Any:
    """A raw deflate compressor (zlib-ng's when ``fast``) that may refer back into ``window``, the
    last bytes the peer inflated: it goes on with the stream where the last message left it."""
    lib = _zlib_ng if fast else zlib
    if window:
        return lib.compressobj(level, zlib.DEFLATED, -bits, mem_level, zlib.Z_DEFAULT_STRATEGY, window)
    return lib.compressobj(level, zlib.DEFLATED, -bits, mem_level)


def _deflated(c: Any, data: bytes) -> bytes:
    """``data`` through compressor ``c`` with a sync flush, without its ``00 00 ff ff`` (section 7.2.1)."""
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


class PerMessageDeflate:
    """One side's compression state on a connection (RFC 7692 section 7.2).

    ``role`` is this side. It compresses what it sends under its own
    parameters (``server_*`` for a server) and inflates what it receives under
    the peer's. Messages must be compressed, and inflated, in the order they
    are sent: with context takeover each one may refer to the ones before.

    ``inflate_only=True`` is for a reader that never sends (an observer on a
    tap): ``role``'s own window may then be 8 bits, which zlib cannot
    compress with but a peer may have agreed to.
    """

    def __init__(self, params: DeflateParams | None = None, role: Role = "server", *,
                 level: int = zlib.Z_DEFAULT_COMPRESSION, mem_level: int = 8, inflate_only: bool = False) -> None:
        if role not in ("server", "client"):
            raise ValueError(f"role must be 'server' or 'client', got {role!r}")
        params = params if params is not None else DeflateParams()
        peer: Role = "client" if role == "server" else "server"
        self.params = params
        self.role: Role = role
        self.level = level
        self.mem_level = mem_level
        self.compress_bits = params.window_bits(role)
        self.compress_reset = params.no_context_takeover(role)
        self.inflate_bits = params.window_bits(peer)
        self.inflate_reset = params.no_context_takeover(peer)
        self.inflate_only = inflate_only
        if self.compress_bits < 9 and not inflate_only:
            raise ValueError(f"{role}_max_window_bits={self.compress_bits}: zlib cannot compress with an 8-bit window")
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None
        # The last bytes compressed and sent (with context takeover), the peer's window: the newest
        # messages as they were given, the older ones cut to what the window still holds.
        self._recent: list[bytes] = []
        self._recent_size = 0

    def __repr__(self) -> str:
        return f"PerMessageDeflate({str(self.params)!r}, role={self.role!r})"

    # -- sending ---------------------------------------------------------------------
    def compress(self, data: bytes) -> bytes:
        """One whole message deflated, without the ``00 00 ff ff`` of the sync flush (section 7.2.1).

        With context takeover the connection keeps one zlib compressor from message to message. A
        message of ``FAST_FROM`` bytes or more is deflated instead by a zlib-ng compressor made for
        it and primed with the window (the last ``2**bits`` bytes sent compressed, which the peer's
        inflater holds): after a sync flush the stream is at a byte boundary between blocks, so a
        new compressor may go on with it. zlib-ng's compressor takes 160 KiB at 12-bit windows and
        memLevel 5 (its hash table has a fixed size), against 38 KiB for zlib's: made for one
        message, it is not held by the connection. The zlib compressor, which did not see that
        message, is made again, primed, for the next small one. To prime them the connection
        keeps the last bytes it sent compressed: fewer than twice the window.
        """
        out = self._deflate(data)
        self._sent(data)
        return out

    def _deflate(self, data: bytes) -> bytes:
        if self.inflate_only:
            raise ValueError("this PerMessageDeflate was made with inflate_only=True: it does not compress")
        reset = self.compress_reset
        if len(data) >= FAST_FROM and _zlib_ng is not None:
            c = _compressor(self.compress_bits, self.level, self.mem_level, b"" if reset else self._window(), True)
            self._compressor = None
        else:
            c = self._compressor
            if c is None or reset:
                c = _compressor(self.compress_bits, self.level, self.mem_level, b"" if reset else self._window())
                if not reset:
                    self._compressor = c
        return _deflated(c, data)

    def _sent(self, data: bytes) -> None:
        """``data`` went compressed: it is now the newest part of the peer's window."""
        if self.compress_reset:
            return
        if type(data) is not bytes:  # held for later: a buffer changed meanwhile must not change the window
            data = bytes(data)
        size = 1 << self.compress_bits
        if len(data) >= size:  # the window is this message's end: a copy, not the whole message held
            self._recent = [data[-size:]]
            self._recent_size = size
            return
        recent = self._recent
        recent.append(data)
        self._recent_size += len(data)
        while self._recent_size - len(recent[0]) >= size:
            self._recent_size -= len(recent.pop(0))

    def _window(self) -> bytes:
        recent = self._recent
        if not recent:
            return b""
        window = recent[0] if len(recent) == 1 else b"".join(recent)
        return window[-(1 << self.compress_bits):]

    def compress_if_smaller(self, data: bytes) -> bytes | None:
        """``compress(data)`` when that is smaller than ``data``; None when the message should go
        uncompressed (RSV1=0), which RFC 7692 section 6 allows on a deflate connection.

        A compressor that deflated a message the peer will not inflate has gone past the
        peer's window. With context takeover it is then replaced: the next message starts a
        new block at a byte boundary (the sync flush left the stream there), in a compressor
        primed with the window as it was before that message, which is what the peer holds.
        A message of a few bytes never shrinks, and one of ``_LOOK_FROM`` bytes or more whose
        first ``_SAMPLE`` bytes do not shrink is taken for data that is compressed already:
        neither is compressed at all, and the compressor does not see them.
        """
        if len(data) < _NEVER_SMALLER or (len(data) >= _LOOK_FROM and _start_is_incompressible(data)):
            return None
        out = self._deflate(data)
        if len(out) < len(data):
            self._sent(data)
            return out
        self._compressor = None  # primed again with the window before this message
        return None

    # -- receiving -------------------------------------------------------------------
    def inflate(self, data: bytes, *, first: bool = True, fin: bool = True, max_size: int | None = None) -> bytes:
        """Inflate the next piece of a received message (section 7.2.2).

        ``first`` marks the message's first frame, ``fin`` its last: the
        ``00 00 ff ff`` tail is appended then. ``max_size`` is how many inflated
        bytes this piece may still add to the message: past it ``MessageTooBig``
        (1009) is raised while inflating, so the output never grows beyond
        ``max_size + 1`` bytes. Data that does not inflate raises ``CompressionError``.
        """
        d = self._decompressor
        if d is None or (first and self.inflate_reset):
            d = self._decompressor = zlib.decompressobj(-self.inflate_bits)
        try:
            out = _inflate(d, data, fin, max_size)
        except ProtocolError:
            self._decompressor = None
            raise
        if fin and (self.inflate_reset or d.eof):
            self._decompressor = None  # a final block ends the stream: the next message starts afresh
        return out


def _inflate(d: zlib._Decompress, data: bytes, fin: bool, max_size: int | None) -> bytes:
    """Feed ``data`` (then the tail when ``fin``) to ``d``, never producing more than ``max_size + 1`` bytes."""
    try:
        if fin and len(data) < 2048:
            # One call for a small final piece: appending the tail (a copy) costs less than a second call.
            out = d.decompress(data + TAIL) if max_size is None else d.decompress(data + TAIL, max_size + 1)
            if max_size is not None and len(out) > max_size:
                raise _too_big(max_size)
            if d.eof and d.unused_data not in _AFTER_FINAL_TAIL:
                raise _after_final(d.unused_data[:-4])
            return out
        if max_size is None:
            out = d.decompress(data)
        else:
            out = d.decompress(data, max_size + 1)
            if len(out) > max_size:
                raise _too_big(max_size)
        if d.eof and d.unused_data not in _AFTER_FINAL:
            raise _after_final(d.unused_data)
        if fin:
            if max_size is None:
                more = d.decompress(TAIL)
            else:
                left = max_size - len(out)
                more = d.decompress(TAIL, left + 1)
                if len(more) > left:
                    raise _too_big(max_size)
            if more:
                out += more
            if d.eof and d.unused_data not in _AFTER_FINAL_TAIL:
                raise _after_final(d.unused_data[:-4])
    except zlib.error as exc:
        raise CompressionError(f"compressed data does not inflate: {exc}", field="Payload",
                               rfc="RFC 7692 section 7.2.2") from None
    return out


# After a final block (BFINAL=1) only an empty stored block may follow: at most one byte of its header
# bits in the payload, then the appended tail as its LEN/NLEN (section 7.2.3.4).
_AFTER_FINAL = (b"", b"\x00")
_AFTER_FINAL_TAIL = (b"", TAIL, b"\x00" + TAIL)


def _after_final(extra: bytes) -> CompressionError:
    return CompressionError(f"{len(extra)} byte(s) of data after the final deflate block (BFINAL=1): only an "
                            "empty block may follow it", field="Payload", rfc="RFC 7692 section 7.2.3.4")


def _too_big(max_size: int) -> MessageTooBig:
    return MessageTooBig(f"the compressed message inflates to more than {max_size} bytes", field="Payload",
                         rfc="RFC 7692 section 8")


def deflate_message(data: bytes, *, window_bits: int = 15, level: int = zlib.Z_DEFAULT_COMPRESSION) -> bytes:
    """``data`` deflated as the first message of a connection (no earlier context), tail stripped."""
    if not 9 <= window_bits <= 15:
        raise ValueError("window_bits must be 9 to 15 for compression")
    return _deflated(_compressor(window_bits, level, 8), data)


def inflate_message(payload: bytes, *, max_size: int | None = None, window_bits: int = 15) -> bytes:
    """A compressed message's payload inflated on its own (no earlier context).

    A message that refers to earlier ones (context takeover) raises
    ``CompressionError``; one that inflates past ``max_size`` raises
    ``MessageTooBig`` without inflating further.
    """
    if not 8 <= window_bits <= 15:
        raise ValueError("window_bits must be 8 to 15")
    return _inflate(zlib.decompressobj(-window_bits), payload, True, max_size)
