"""Checker for chapter 13: the hypergrid's log Z in closed form, without listing the states.

The answer is recomputed with exact rational arithmetic (Python integers and fractions), never
from :meth:`gfn_teach.Hypergrid.log_partition`, and the commonest slips get their own hint.
"""

from __future__ import annotations

import math
from fractions import Fraction

from ._check import call_reader, report
from .basics import band_counts

CASES = [  # (dim, side, r0, r1, r2): small, the chapter's, huge, and band edges on 11 cells
    (2, 20, 1e-3, 0.5, 2.0),
    (3, 7, 1e-4, 1.0, 3.0),
    (4, 5, 0.1, 0.5, 2.0),
    (10, 8, 1e-3, 0.5, 2.0),
    (5, 11, 0.01, 0.0, 5.0),
    (400, 8, 1e-3, 0.5, 2.0),
]


def _log(z: Fraction) -> float:
    return math.log(z.numerator) - math.log(z.denominator)  # math.log takes integers of any size


def _log_z(dim, side, r0, r1, r2, *, disjoint=False, no_background=False, as_sum=False) -> float:
    outer, inner = band_counts(side)
    r0, r1, r2 = Fraction(r0), Fraction(r1), Fraction(r2)
    power = (lambda n: n * dim) if as_sum else (lambda n: n**dim)
    # disjoint: the outer band's bonus counted only outside the inner band
    earning_r1 = power(outer) - power(inner) if disjoint else power(outer)
    z = (0 if no_background else r0 * power(side)) + r1 * earning_r1 + r2 * power(inner)
    return _log(z)


def check_log_partition(fn) -> bool:
    r"""Check ``fn(dim, side, r0, r1, r2) -> log Z`` of the hypergrid's reward
    :math:`R(x) = R_0 + R_1 \prod_d [x_d \in \text{outer}] + R_2 \prod_d [x_d \in \text{inner}]`,
    summed over all :math:`\text{side}^\text{dim}` states, on grids of up to :math:`8^{400}` states.
    """
    for case in CASES:
        got, error = call_reader(fn, *case)
        if error and "OverflowError" in error:
            return report(False, f"side**dim overflows a float for dim={case[0]}: add the three terms in "
                                 "logarithms (np.logaddexp).")
        if error:
            return report(False, f"{error} (for dim={case[0]}, side={case[1]})")
        if got is None:
            return report(False, "the function returns None: fill in the body.")
        try:
            got = float(got)
        except (TypeError, ValueError):
            return report(False, f"return one number, log Z; got {type(got).__name__}.")
        expected = _log_z(*case)
        if abs(got - expected) <= 1e-6 * max(1.0, abs(expected)):
            continue
        if not math.isfinite(got):
            return report(False, f"log Z is {got} for dim={case[0]}: side**dim overflows a float there; "
                                 "add the three terms in logarithms (np.logaddexp).")
        for slip, hint in [
            ({"disjoint": True}, "the inner band lies inside the outer one: its states earn R1 as well as R2, "
                                 "so R1 multiplies every state of the outer band, n1**dim of them."),
            ({"no_background": True}, "every state earns R0, not only those in a band: add R0 * side**dim."),
            ({"as_sum": True}, "a state is in a band when *every* coordinate is: the counts multiply, "
                               "n**dim, they do not add."),
        ]:
            if abs(got - _log_z(*case, **slip)) <= 1e-6 * max(1.0, abs(expected)):
                return report(False, hint)
        if expected < 700 and abs(got - math.exp(expected)) <= 1e-6 * math.exp(expected):
            return report(False, "that is Z; return its logarithm.")
        return report(False, f"log Z for dim={case[0]}, side={case[1]} should be {expected:.6f}, got {got:.6f}.")
    return report(True, "", "a billion states, or 8**400, summed in three terms: the reward factorises over the coordinates.")
