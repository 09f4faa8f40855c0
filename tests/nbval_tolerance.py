"""nbval plugin: printed numbers agree if they differ by at most one unit of their last digit.

Compiled CPU code gives results that differ in the last bits from one processor to another,
and a printed number can then round the other way ("3.26" here, "3.27" there), or a value
glued with all its digits can differ in the seventh. This plugin (``-p nbval_tolerance``, as
``tests/run_nbval.py`` passes it; ``tests/colab_like.py`` copies it beside each chapter as its
``conftest.py``) lets nbval accept a fresh output whose text is the committed
one except for numbers that are *close*:

- a number written with a decimal point or an exponent may differ from the committed one by one
  unit of its last written digit, or by a relative 1e-5 (for values printed with all their
  digits, such as glued floats);
- an integer must be equal (a count of modes or a shape is never "close").

Numbers that training produces can differ in their second digit across processors: their cells
are tagged ``nbval-ignore-output`` and assert their claims with tolerances instead.
"""

from __future__ import annotations

import copy
import re

from nbval.plugin import IPyNbCell

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
RELATIVE = 1e-5
IMAGES = ("image/png", "image/jpeg", "image/svg+xml")


def last_digit_unit(number: str) -> float | None:
    """The value of one unit in the last written digit of ``number``; None for an integer."""
    mantissa, _, exponent = number.lower().partition("e")
    if "." not in mantissa and not exponent:
        return None
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def close(committed: str, fresh: str) -> bool:
    if committed == fresh:
        return True
    unit = last_digit_unit(committed)
    if unit is None or last_digit_unit(fresh) is None:
        return False
    a, b = float(committed), float(fresh)
    return abs(a - b) <= unit * (1 + 1e-9) or abs(a - b) <= RELATIVE * max(abs(a), abs(b))


def snapped(committed: str, fresh: str) -> str:
    """``committed`` if ``fresh`` is the same text with close numbers, else ``fresh`` unchanged."""
    if NUMBER.split(committed) != NUMBER.split(fresh):
        return fresh
    pairs = zip(NUMBER.findall(committed), NUMBER.findall(fresh))
    return committed if all(close(a, b) for a, b in pairs) else fresh


def snap_output(committed: dict, fresh: dict) -> dict:
    """``fresh`` with every text field snapped to ``committed``'s where they are close."""
    if committed.get("output_type") != fresh.get("output_type") or committed.get("name") != fresh.get("name"):
        return fresh
    fresh = copy.deepcopy(fresh)
    if isinstance(fresh.get("text"), str) and isinstance(committed.get("text"), str):
        fresh["text"] = snapped(committed["text"], fresh["text"])
    for mime, value in fresh.get("data", {}).items():
        reference = committed.get("data", {}).get(mime)
        if mime not in IMAGES and isinstance(value, str) and isinstance(reference, str):
            fresh["data"][mime] = snapped(reference, value)
    return fresh


_compare_outputs = IPyNbCell.compare_outputs


def compare_outputs(self, test, ref, skip_compare=None):
    test = [snap_output(r, t) for r, t in zip(ref, test)] + list(test[len(ref):])
    return _compare_outputs(self, test, ref, skip_compare)


IPyNbCell.compare_outputs = compare_outputs
