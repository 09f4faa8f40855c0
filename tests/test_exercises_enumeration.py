"""The chapter 13 checker accepts the closed-form log Z and rejects the likely slips."""

import numpy as np
import pytest

import gfn_teach as g
from gfn_teach.exercises import check_log_partition
from gfn_teach.exercises.enumeration import band_counts


def log_partition_solution(dim, side, r0, r1, r2):
    outer, inner = band_counts(side)
    terms = [np.log(r) + dim * np.log(n) for r, n in [(r0, side), (r1, outer), (r2, inner)] if r > 0 and n > 0]
    return np.logaddexp.reduce(terms)


def test_accepts_the_solution_and_agrees_with_the_library(capsys):
    assert check_log_partition(log_partition_solution)
    assert "Correct!" in capsys.readouterr().out
    for dim, side in [(2, 20), (10, 8), (3, 11)]:
        expected = float(g.Hypergrid(dim, side, "easy").log_partition())
        np.testing.assert_allclose(log_partition_solution(dim, side, 1e-3, 0.5, 2.0), expected, rtol=1e-6)


def plain(dim, side, r0, r1, r2, disjoint=False, background=True, power=lambda n, dim: float(n) ** dim):
    outer, inner = band_counts(side)
    z = (r0 * power(side, dim) if background else 0.0) + r1 * power(outer, dim) + r2 * power(inner, dim)
    if disjoint:
        z = r0 * power(side, dim) + r1 * (power(outer, dim) - power(inner, dim)) + r2 * power(inner, dim)
    return np.log(z)


WRONG = {
    "overflows": (lambda *c: plain(*c), "logaddexp"),
    "disjoint bands": (lambda d, s, *r: log_partition_solution(d, s, *r) if d > 300 else plain(d, s, *r, disjoint=True), "inside the outer"),
    "no background": (lambda d, s, *r: plain(d, s, *r, background=False), "every state earns R0"),
    "sum of counts": (lambda d, s, *r: plain(d, s, *r, power=lambda n, dim: float(n) * dim), "multiply"),
    "Z, not log Z": (lambda *c: np.exp(log_partition_solution(*c)), "its logarithm"),
    "stub": (lambda *c: None, "fill in"),
}


@pytest.mark.parametrize("name", WRONG)
def test_rejects_a_plausible_wrong_answer(name, capsys):
    fn, hint = WRONG[name]
    with np.errstate(all="ignore"):
        assert not check_log_partition(fn)
    out = capsys.readouterr().out
    assert out.startswith("Not yet:") and hint in out, out
