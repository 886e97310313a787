"""The toy tests compare with the tutorial's files run by Node.js: without ``node`` they fail, saying so."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(autouse=True, scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("the toy tests need Node.js (Debian package nodejs) to run the tutorial's server", pytrace=False)
    return path
