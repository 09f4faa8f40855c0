"""What every checker shares: running the reader's function and telling them how they did."""

from __future__ import annotations

import equinox as eqx
import numpy as np


def report(ok: bool, hint: str, success: str = "") -> bool:
    """Print ``Correct! <success>`` or ``Not yet: <hint>``, and return ``ok``.

    Args:
        ok: whether the reader's answer passed.
        hint: what to look at when it did not.
        success: an optional sentence saying what the right answer shows.
    """
    if ok:
        print(f"Correct! {success}".rstrip())
    else:
        print(f"Not yet: {hint}")
    return bool(ok)


def call_reader(fn, *args):
    """Run the reader's function; return ``(result, error message or None)``."""
    try:
        return fn(*args), None
    except Exception as error:  # the reader's code may raise anything
        return None, f"your function raised {type(error).__name__}: {error}"


def compiled_first(fn):
    """``fn`` run compiled (``eqx.filter_jit``: one compilation, instead of one for every
    operation and shape it meets when run eagerly), or eagerly when it cannot be traced, so
    that its errors come from the reader's code as written. Array arguments are traced; any
    other argument (an environment, a sample count) is static."""
    compiled = eqx.filter_jit(fn)

    def run(*args):
        try:
            return compiled(*args)
        except Exception:  # e.g. Python control flow on a traced value
            return fn(*args)

    return run


def as_scalar(value) -> float | None:
    """The reader's answer as a Python float, or None when it is not a single number."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return float(array) if array.size == 1 else None


def scalar_answer(fn, *args, shape_hint: str) -> tuple[float | None, str | None]:
    """Run the reader's function and read its answer as one number.

    Returns ``(value, None)``, or ``(None, hint)`` when the function raised, returned None
    or returned more than one number (``shape_hint`` starts that last hint).
    """
    got, error = call_reader(fn, *args)
    if error:
        return None, error
    if got is None:
        return None, "the function returns None: fill in the body."
    value = as_scalar(got)
    if value is None:
        return None, f"{shape_hint} got shape {np.shape(got)}."
    return value, None
