"""Checkers for chapter 8: one method of your own environment.

The wings-first spaceship is the Lego spaceship of :class:`gfn_teach.LegoSpaceship` (five
slots, four bricks, a state is the brick in each slot, 0 for empty) with one building rule
more: the wings clip in under the body, so a wing goes on only while the body slot is empty.
Undoing a move must respect the same rule, which is what the reader's ``backward_valid``
says. The checker compares it with explicit loops over every ship, on several batch shapes,
and runs :func:`gfn_teach.check_environment` on the reader's environment.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_environment
from ..environment import Environment
from ..lego import BRICKS, SLOTS
from ._check import call_reader, report

WINGS = (SLOTS.index("left wing"), SLOTS.index("right wing"))
BODY = SLOTS.index("body")


def wings_first_backward_valid(states) -> np.ndarray:
    """Which slot's brick can come off each wings-first ship, by explicit loops over ships and
    slots: any brick, except a wing while the body is on (it went on before the body)."""
    states = np.asarray(states)
    flat = states.reshape(-1, len(SLOTS))
    valid = np.zeros(flat.shape, dtype=bool)
    for row, ship in enumerate(flat):
        for slot in range(len(SLOTS)):
            valid[row, slot] = ship[slot] > 0 and not (slot in WINGS and ship[BODY] > 0)
    return valid.reshape(states.shape)


def _describe(ship) -> str:
    """``[0, 2, 0, 1, 0]`` (left wing: cannon, body: cockpit)."""
    parts = [f"{SLOTS[slot]}: {BRICKS[brick - 1]}" for slot, brick in enumerate(ship) if brick > 0]
    return f"{list(ship)} ({', '.join(parts) or 'empty'})"


def _first_difference(got: np.ndarray, expected: np.ndarray, states: np.ndarray) -> str:
    """A sentence about the first ship and slot where ``got`` and ``expected`` differ."""
    wrong = np.argwhere(got != expected)[0]
    ship = np.asarray(states)[tuple(wrong[:-1])].tolist()
    slot = int(wrong[-1])
    why = (
        "that slot is empty" if ship[slot] == 0
        else "a wing stays on while the body is on: it went on first" if slot in WINGS and ship[BODY] > 0
        else "the rule only holds the wings back, and only while the body is on"
    )
    return (
        f"at ship {_describe(ship)}, taking the {SLOTS[slot]}'s brick off (backward action {slot}): "
        f"got {bool(got[tuple(wrong)])}, expected {bool(expected[tuple(wrong)])}, since {why}."
    )


def check_wings_first(env) -> bool:
    """Check the reader's wings-first ship ``env``: its ``backward_valid`` against explicit loops
    (on every ship, on one ship and on a ``[5, 625, 5]`` batch), then the whole environment
    with :func:`gfn_teach.check_environment`."""
    if not isinstance(env, Environment):
        return report(False, f"pass an instance of your class, e.g. MyWingsFirstShip(); got {type(env).__name__}.")
    states = np.asarray(env.all_states())
    n_ships = (len(BRICKS) + 1) ** len(SLOTS)
    if states.shape != (n_ships, len(SLOTS)):
        return report(False, f"this is not the five-slot spaceship: all_states() has shape {states.shape}.")
    difference = None
    for batch in (states, states[n_ships // 2], states.reshape(len(SLOTS), -1, len(SLOTS))):
        got, error = call_reader(env.backward_valid, batch)
        if error:
            return report(False, f"backward_valid on states of shape {batch.shape}: {error}")
        if got is None:
            return report(False, "backward_valid returns None: fill in the body.")
        got = np.asarray(got)
        if got.shape != batch.shape:
            return report(
                False,
                f"for states of shape {batch.shape} backward_valid must give one column per slot, "
                f"shape {batch.shape}; got {got.shape}. Index the last axis (state[..., slot]) so "
                "that any batch shape works.",
            )
        if got.dtype != bool:
            return report(False, f"return booleans (True: that slot's brick can come off), got dtype {got.dtype}.")
        expected = wings_first_backward_valid(batch)
        if difference is None and not np.array_equal(got, expected):
            difference = _first_difference(got, expected, batch)
    try:
        check_environment(env)
    except ValueError as failure:
        return report(False, "g.check_environment says: " + str(failure).removeprefix("check_environment: ") + (f". In words: {difference}" if difference else ""))
    if difference:
        return report(False, difference)
    return report(
        True, "",
        "A wing comes off only while the body slot is empty, and g.check_environment finds every rule kept.",
    )
