"""The shared text forms: what every view shows for bytes, text and sizes."""

from __future__ import annotations

from wsexplore.display import data_size, format_size, hex_preview, plural, quote, text_or_hex


def test_hex_and_text_previews_mark_what_they_cut() -> None:
    assert hex_preview(b"") == "(empty)"
    assert hex_preview(bytes(range(20)), 4) == "00 01 02 03 …"
    assert quote("ab\x1b\u202e", 10) == '"ab\\x1b\\u202e"'  # controls and bidi overrides escaped
    assert quote("x" * 5, 3) == '"xxx"…'


def test_text_or_hex_may_cut_text_and_hex_at_different_lengths() -> None:
    assert text_or_hex("é".encode() * 50, 3, 24) == '"ééé"…'
    assert text_or_hex(b"\xff" * 30, 60, 4) == "ff ff ff ff …"
    assert text_or_hex(b"\xff" * 30, 2) == "ff ff …"  # hex_limit defaults to limit
    assert text_or_hex(b"") == "(empty)"


def test_sizes_count_utf8_bytes() -> None:
    assert data_size("发送数据") == 12 and data_size(b"\x00\x01") == 2
    assert (format_size(1023), format_size(1536), format_size(3 << 30)) == ("1023 B", "1.5 KiB", "3.0 GiB")
    assert (plural(1, "frame"), plural(2, "frame")) == ("1 frame", "2 frames")


def test_quote_escapes_backslashes_so_typed_escapes_differ_from_escaped_bytes() -> None:
    typed = "a\\x15"  # a peer typed a backslash, x, 1, 5
    control = "a\x15"  # a peer sent the control byte 0x15
    assert quote(typed) == '"a\\\\x15"'
    assert quote(control) == '"a\\x15"'
    assert quote(typed) != quote(control)
    assert quote('say "hi"') == '"say \\"hi\\""'
