"""Predict, then check: the notebooks' exercises compare a reader's prediction with what really happens.

An exercise cell holds ``prediction = None``; the reader replaces ``None``
with a guess and runs the check cell, which computes the truth (from the
dissector, a live server, the toy) and calls :func:`check`. The answer,
hidden in a collapsed cell after it, is asserted against the same truth, so
the notebook's tests keep every answer honest.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check", "check_that"]


def check(prediction: Any, actual: Any) -> None:
    """Print whether ``prediction`` matches ``actual``, without giving ``actual`` away."""
    if prediction is None:
        print("no prediction yet: replace None above with yours and run this cell again "
              "(the answer is in the hidden cell below)")
    elif prediction == actual:
        print("✓ right")
    else:
        print(f"✗ not quite: you predicted {prediction!r}; the answer (hidden cell below) explains why")


def check_that(done: bool, not_yet: str) -> None:
    """For a build-it exercise: say whether the reader's construction does what was asked."""
    print("✓ it does" if done else f"not yet: {not_yet} (one way is in the hidden cell below)")
