"""Fixtures shared across the test areas."""

from __future__ import annotations

import pytest

from .binder_env import BinderEnv, build


@pytest.fixture(scope="session")
def binder_env(tmp_path_factory: pytest.TempPathFactory) -> BinderEnv:
    """One environment built from binder/ alone (tests/binder_env.py) for the whole run."""
    return build(tmp_path_factory.mktemp("binder") / "env")
