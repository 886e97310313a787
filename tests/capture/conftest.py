"""Recordings shared by the file-format tests: made once per run (each takes a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .recordings import Traffic, record


@pytest.fixture(scope="session")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Traffic]:
    """Three connections at once (full conversation, server closes, raw client), no compression."""
    path = tmp_path_factory.mktemp("plain") / "plain.pcapng"
    return path, record(path)


@pytest.fixture(scope="session")
def deflate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Traffic]:
    """The same three connections with permessage-deflate."""
    path = tmp_path_factory.mktemp("deflate") / "deflate.pcapng"
    return path, record(path, compression="deflate")
