"""The states of a connection after its opening handshake, and every move between them.

As in h11, one table says what may happen in each state and which state
follows: ``TRANSITIONS``. ``Connection`` changes its state only through
:func:`next_state`, so reading the table is reading every transition there is.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["State", "Trigger", "InvalidState", "TRANSITIONS", "next_state", "allows"]


class State(Enum):
    """OPEN: data flows. CLOSING: we sent a close and wait for the peer's. CLOSED: done."""

    OPEN = "OPEN"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"

    # Members compare by identity: hashing them by identity too keeps the table lookups that every
    # send and receive makes in C (Enum's own __hash__ is a Python function).
    __hash__ = object.__hash__


class Trigger(Enum):
    """What can happen to a connection; the value words it in ``InvalidState`` messages."""

    SEND = "send"  # a data, ping or pong frame of ours
    SEND_CLOSE = "send a close"  # we start the closing handshake
    RECEIVE = "receive"  # bytes from the peer
    RECEIVE_CLOSE = "receive a close"  # the peer's close frame
    FAIL = "fail"  # the peer broke a rule, or we give up on it (a limit, a stall): section 7.1.7
    EOF = "see the end of the stream"  # the transport ended

    __hash__ = object.__hash__  # see State


class InvalidState(RuntimeError):
    """Sending after the close handshake started (section 5.5.1: nothing follows a close)."""


#: state -> {trigger: next state}. A trigger missing from a state's row may not happen in it.
TRANSITIONS: dict[State, dict[Trigger, State]] = {
    State.OPEN: {
        Trigger.SEND: State.OPEN,
        Trigger.RECEIVE: State.OPEN,
        Trigger.SEND_CLOSE: State.CLOSING,
        Trigger.RECEIVE_CLOSE: State.CLOSED,  # we echo the close (section 5.5.1): both are sent
        Trigger.FAIL: State.CLOSED,  # our close goes out; nothing more is read
        Trigger.EOF: State.CLOSED,  # without a closing handshake: 1006
    },
    State.CLOSING: {
        Trigger.RECEIVE: State.CLOSING,  # frames the peer sent before it saw our close
        Trigger.RECEIVE_CLOSE: State.CLOSED,  # the peer's answer completes the handshake
        Trigger.FAIL: State.CLOSED,
        Trigger.EOF: State.CLOSED,
    },
    State.CLOSED: {},
}


def allows(state: State, trigger: Trigger) -> bool:
    """Whether ``trigger`` may happen in ``state``."""
    return trigger in TRANSITIONS[state]


def next_state(state: State, trigger: Trigger) -> State:
    """The state after ``trigger``; ``InvalidState`` when it may not happen in ``state``."""
    try:
        return TRANSITIONS[state][trigger]
    except KeyError:
        raise InvalidState(f"cannot {trigger.value}: connection is {state.name}") from None
