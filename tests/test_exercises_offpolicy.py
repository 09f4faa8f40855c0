"""The chapter 12 checker accepts the conditional TV and rejects the likely slips."""

import jax.numpy as jnp
import pytest

from gfn_teach.exercises import check_conditional_tv


def conditional_tv_solution(p, q, subset):
    p_h = jnp.where(subset, p, 0.0) / jnp.sum(jnp.where(subset, p, 0.0))
    q_h = jnp.where(subset, q, 0.0) / jnp.sum(jnp.where(subset, q, 0.0))
    return 0.5 * jnp.sum(jnp.abs(p_h - q_h))


def test_accepts_the_solution_and_boolean_indexing(capsys):
    assert check_conditional_tv(conditional_tv_solution)
    # Boolean indexing cannot be compiled (its shape depends on the mask): run eagerly.
    assert check_conditional_tv(lambda p, q, h: 0.5 * jnp.abs(p[h] / p[h].sum() - q[h] / q[h].sum()).sum())
    assert "Correct!" in capsys.readouterr().out


def restricted(x, h):
    return jnp.where(h, x, 0.0)


WRONG = {
    "not renormalised": (lambda p, q, h: 0.5 * jnp.sum(jnp.abs(restricted(p, h) - restricted(q, h))), "renormalise both"),
    "whole space": (lambda p, q, h: 0.5 * jnp.sum(jnp.abs(p - q)), "every state"),
    "no half": (lambda p, q, h: 2 * conditional_tv_solution(p, q, h), "half"),
    "only p": (lambda p, q, h: 0.5 * jnp.sum(jnp.abs(restricted(p, h) / restricted(p, h).sum() - restricted(q, h))), "q on the subset too"),
    "complement": (lambda p, q, h: conditional_tv_solution(p, q, ~h), "not where it is False"),
    "stub": (lambda p, q, h: None, "fill in"),
    "a vector": (lambda p, q, h: jnp.abs(p - q), "shape"),
}


@pytest.mark.parametrize("name", WRONG)
def test_rejects_a_plausible_wrong_answer(name, capsys):
    fn, hint = WRONG[name]
    assert not check_conditional_tv(fn)
    out = capsys.readouterr().out
    assert out.startswith("Not yet:") and hint in out, out
