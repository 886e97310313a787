"""Base64 of capture files: the fast codec gives the standard library's text, and decoding is
exactly as strict as ``base64.b64decode(validate=True)``, with or without the fast codec."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsexplore.capture.formats import b64

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Base64 text, bent: padding anywhere, whitespace, other alphabets' characters, plain junk.
_texts = st.text(alphabet=_ALPHABET + "=\n\r \t-_*.", max_size=40) | st.binary(max_size=40).map(
    lambda data: base64.b64encode(data).decode())


def _standard(text: bytes) -> tuple[str, bytes | None]:
    try:
        return "ok", base64.b64decode(text, validate=True)
    except binascii.Error:
        return "error", None


def _ours(text: bytes) -> tuple[str, bytes | None]:
    try:
        return "ok", b64.decode(text)
    except binascii.Error:
        return "error", None


@pytest.fixture(params=["fast", "standard library"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "fast":
        assert b64._fast_encode is not None, "pybase64 is a dependency: it must be installed"
    else:
        monkeypatch.setattr(b64, "_fast_encode", None)
        monkeypatch.setattr(b64, "_fast_decode", None)
    return request.param


# The codec fixture only chooses the codec: the same for every generated input.
_each_input = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@_each_input
@given(data=st.binary(max_size=300), start=st.integers(0, 7))
def test_encoding_writes_the_standard_text(codec: str, data: bytes, start: int) -> None:
    assert b64.encode(data) == base64.b64encode(data)
    assert b64.encode(memoryview(data)[start:]) == base64.b64encode(data[start:])


@_each_input
@given(text=_texts)
def test_decoding_accepts_and_refuses_what_the_standard_library_does(codec: str, text: str) -> None:
    raw = text.encode("ascii")
    assert _ours(raw) == _standard(raw)


@pytest.mark.parametrize("text", [b"QUJD====", b"0PCX=", b"QQ", b"QU=D", b"QUJ*", b"QUJD\n"])
def test_edge_cases_that_the_fast_codec_judges_otherwise_are_judged_as_before(codec: str, text: bytes) -> None:
    assert _ours(text) == _standard(text)


def test_a_large_payload_round_trips() -> None:
    data = bytes(range(256)) * 4099
    text = b64.encode(data)
    assert text == base64.b64encode(data) and b64.decode(text) == data
