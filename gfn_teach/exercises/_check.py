"""The one helper every checker uses to tell the reader how they did."""

from __future__ import annotations


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
