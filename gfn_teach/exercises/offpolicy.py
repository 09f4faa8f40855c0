"""Checker for chapter 12: the distance between two distributions restricted to a subset.

The answer is recomputed in NumPy (float64) from its definition, never from the library's
metrics, and the commonest slips get their own hint.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ._check import call_reader, compiled_first, report


def _cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(p, q, subset)`` triples: random distributions and random subsets of their states."""
    rng = np.random.default_rng(0)
    cases = []
    for n, fraction in [(144, 0.25), (50, 0.5), (20, 0.2)]:
        p, q = rng.dirichlet(np.ones(n)), rng.dirichlet(np.full(n, 0.5))
        subset = rng.random(n) < fraction
        subset[:2] = [True, False]  # never empty, never everything
        cases.append((p, q, subset))
    return cases


def _tv(a: np.ndarray, b: np.ndarray) -> float:
    return 0.5 * float(np.abs(a - b).sum())


def _expected(p, q, subset) -> float:
    return _tv(p[subset] / p[subset].sum(), q[subset] / q[subset].sum())


def check_conditional_tv(fn) -> bool:
    r"""Check ``fn(p, q, subset) -> d``: the total variation between ``p`` and ``q`` conditioned on
    the states where ``subset`` (a boolean mask) is True,

    .. math:: d = \frac12 \sum_{x \in H} \left| \frac{p(x)}{p(H)} - \frac{q(x)}{q(H)} \right|.
    """
    wrong = {}
    for p, q, subset in _cases():
        got, error = call_reader(compiled_first(fn), jnp.asarray(p, jnp.float32), jnp.asarray(q, jnp.float32), jnp.asarray(subset))
        if error:
            return report(False, error)
        if got is None:
            return report(False, "the function returns None: fill in the body.")
        got = np.asarray(got, np.float64)
        if got.shape != ():
            return report(False, f"return one number, the distance; got shape {got.shape}.")
        if abs(float(got) - _expected(p, q, subset)) <= 1e-5:
            continue
        h = subset
        for name, value in {
            "raw": _tv(p[h], q[h]),
            "whole": _tv(p, q),
            "no half": 2 * _expected(p, q, subset),
            "one side": _tv(p[h] / p[h].sum(), q[h]),
            "other side": _tv(p[h], q[h] / q[h].sum()),
            "outside": _expected(p, q, ~subset),
        }.items():
            wrong.setdefault(name, True)
            wrong[name] &= abs(float(got) - value) <= 1e-5
        hints = {
            "raw": "renormalise both distributions on the subset first: p(x)/p(H) and q(x)/q(H); "
                   "without it the distance mixes how much mass H gets with how it is spread.",
            "whole": "restrict to the states where subset is True: this is the TV over every state.",
            "no half": "total variation is half the L1 distance.",
            "one side": "renormalise q on the subset too, not only p.",
            "other side": "renormalise p on the subset too, not only q.",
            "outside": "the subset is where the mask is True, not where it is False.",
        }
        for name, hint in hints.items():
            if wrong.get(name):
                return report(False, hint)
        return report(False, "some answers differ from half the L1 distance of p(.|H) and q(.|H).")
    return report(True, "", "it compares how the mass is spread within H, whatever mass H gets in all.")
