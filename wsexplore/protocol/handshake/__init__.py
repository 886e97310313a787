"""The opening handshake of RFC 6455 section 4, sans-I/O.

Bytes in, values and bytes out; nothing here touches a socket. One module a job:

- ``head``: the HTTP/1.1 head parser, fed bytes in any pieces
  (``RequestParser``, ``ResponseParser``; ``parse_request`` / ``parse_response``
  for one buffer). ``None`` means "send more bytes".
- ``headers``: ``Headers`` as received, and the credentials ``redact`` hides.
- ``messages``: ``Request`` and ``Response`` values, and the bytes of one to send.
- ``grammar``: tokens, comma-separated lists and the HTTP version (RFC 9110).
- ``subprotocols`` and ``extensions``: the values of ``Sec-WebSocket-Protocol``
  and ``Sec-WebSocket-Extensions`` (section 9.1 grammar).
- ``accept``: the accept key, and its computation step by step.
- ``checks``: each rule as an inspectable ``HandshakeCheck``: ``request_checks``
  (server side, section 4.2.1) and ``response_checks`` (client side, section 4.1).
- ``server``: ``validate_request``, ``accept_response``, ``reject_response``.
- ``client``: ``client_request``, ``validate_response``.

Everything public is importable from this package directly.
"""

from ..errors import HandshakeError
from .accept import GUID, AcceptKeySteps, accept_key, accept_key_steps
from .checks import HandshakeCheck, request_checks, response_checks
from .client import ClientHandshake, client_request, validate_response
from .extensions import Extension, format_extensions, parse_extensions
from .head import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HEADER_BYTES,
    HeadParser,
    RequestParser,
    ResponseParser,
    parse_request,
    parse_response,
)
from .headers import SENSITIVE_HEADERS, Headers, redact
from .messages import Request, Response
from .server import ServerHandshake, accept_response, reject_response, validate_request
from .subprotocols import parse_subprotocols

__all__ = [
    "GUID",
    "DEFAULT_MAX_HEADER_BYTES",
    "DEFAULT_MAX_BODY_BYTES",
    "SENSITIVE_HEADERS",
    "accept_key",
    "accept_key_steps",
    "AcceptKeySteps",
    "Headers",
    "redact",
    "Request",
    "Response",
    "HeadParser",
    "RequestParser",
    "ResponseParser",
    "parse_request",
    "parse_response",
    "Extension",
    "parse_extensions",
    "format_extensions",
    "parse_subprotocols",
    "HandshakeCheck",
    "HandshakeError",
    "request_checks",
    "response_checks",
    "ServerHandshake",
    "validate_request",
    "accept_response",
    "reject_response",
    "client_request",
    "ClientHandshake",
    "validate_response",
]
