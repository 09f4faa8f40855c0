"""The chapter 11 checker accepts R^beta / Z_beta and rejects the likely slips."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach.exercises import check_tempered_target


def tempered_solution(log_r, beta):
    return jax.nn.softmax(beta * log_r)


def test_accepts_the_solution_and_an_equivalent_form(capsys):
    assert check_tempered_target(tempered_solution)
    assert check_tempered_target(lambda lr, b: jnp.exp(b * lr) / jnp.sum(jnp.exp(b * lr)))
    assert "Correct!" in capsys.readouterr().out


def normalise(w):
    return w / jnp.sum(w)


WRONG = {
    "not normalised": (lambda lr, b: jnp.exp(b * lr), "divide them by their sum"),
    "(R/Z)^beta": (lambda lr, b: jax.nn.softmax(lr) ** b, "not Z^beta"),
    "R^(1/beta)": (lambda lr, b: jax.nn.softmax(lr / b), "inverse temperature"),
    "R / beta": (lambda lr, b: normalise(jnp.exp(lr) / b), "does not depend on beta"),
    "beta ignored": (lambda lr, b: jax.nn.softmax(lr), "does not depend on beta"),
    "rewards as logits": (lambda lr, b: jax.nn.softmax(b * jnp.exp(lr)), "as logits"),
    "log-probabilities": (lambda lr, b: jax.nn.log_softmax(b * lr), "log-probabilities"),
    "beta * R": (lambda lr, b: normalise(b * jnp.exp(lr)), "power"),
    "one number": (lambda lr, b: jax.nn.softmax(b * lr).sum(), "shape"),
    "stub": (lambda lr, b: None, "fill in"),
    "raises": (lambda lr, b: lr.nonexistent, "raised AttributeError"),
}


@pytest.mark.parametrize("name", WRONG)
def test_rejects_a_plausible_wrong_answer(name, capsys):
    fn, hint = WRONG[name]
    assert not check_tempered_target(fn)
    out = capsys.readouterr().out
    assert out.startswith("Not yet:") and hint in out


def test_the_solution_is_the_target_of_the_tempered_environment():
    env = g.Hypergrid(2, 8, "easy")
    log_r = env.log_reward(env.all_states())  # every state of the grid is terminal
    for beta in (0.5, 2.0):
        expected = np.asarray(g.Tempered(env, beta).true_distribution())
        np.testing.assert_allclose(np.asarray(tempered_solution(log_r, beta)), expected, atol=1e-7)
