"""The chapter 7-8 checkers accept the book's solutions and reject wrong answers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach.exercises.evaluation import (
    check_kl_divergence,
    check_masked_log_pb,
    check_noise_floor,
    check_trained_tv,
)


# ----- the solutions, as the chapters give them ---------------------------------------------
def kl_solution(p, q):
    return jnp.sum(jnp.where(p > 0, p * (jnp.log(jnp.where(p > 0, p, 1.0)) - jnp.log(q)), 0.0))


def noise_floor_solution(key, env, n_samples, n_repeats=16):
    target = env.true_distribution()

    def one(key):
        idx = jax.random.categorical(key, jnp.log(target), shape=(n_samples,))
        empirical = jnp.bincount(idx, length=env.n_states) / n_samples
        return 0.5 * jnp.sum(jnp.abs(target - empirical))

    return jnp.median(jax.vmap(one)(jax.random.split(key, n_repeats)))


def masked_log_pb_solution(env, state, backward_logits):
    valid = state > 0
    return jax.nn.log_softmax(jnp.where(valid, backward_logits, -jnp.inf))


# ----- KL ---------------------------------------------------------------------------------
def test_kl_accepts_solution_and_library(capsys):
    assert check_kl_divergence(kl_solution)
    assert check_kl_divergence(g.kl_divergence)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "wrong,hint",
    [
        (lambda p, q: None, "returns None"),
        (lambda p, q: jnp.sum(p * jnp.log(p / q)), "0 * log 0"),
        (lambda p, q: jnp.sum(jnp.where(q > 0, q * jnp.log(q / p), 0.0)), "KL(q || p)"),
        (lambda p, q: jnp.sum(jnp.where(p > 0, p * jnp.log2(p / q), 0.0)), "natural logarithm"),
        (lambda p, q: p * jnp.log(p / q), "scalar"),
        (lambda p, q: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_kl_rejects_wrong_answers(wrong, hint, capsys):
    assert not check_kl_divergence(wrong)
    out = capsys.readouterr().out
    assert out.startswith("Not yet:") and hint in out


# ----- noise floor -------------------------------------------------------------------------
def test_noise_floor_accepts_solution_and_library(capsys):
    assert check_noise_floor(noise_floor_solution)
    assert check_noise_floor(g.sampling_noise_floor)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "wrong,hint",
    [
        (lambda key, env, m: None, "returns None"),
        (lambda key, env, m: 0.0, "got 0"),
        (lambda key, env, m: 2 * noise_floor_solution(key, env, m), "factor 1/2"),
        (lambda key, env, m: noise_floor_solution(key, env, 10 * m), "Normalise"),
    ],
)
def test_noise_floor_rejects_wrong_answers(wrong, hint, capsys):
    assert not check_noise_floor(wrong)
    out = capsys.readouterr().out
    assert out.startswith("Not yet:") and hint in out


# ----- masked backward policy --------------------------------------------------------------
def test_masked_log_pb_accepts_solution_and_library(capsys):
    assert check_masked_log_pb(masked_log_pb_solution)
    assert check_masked_log_pb(lambda env, s, l: g.masked_log_softmax(l, env.backward_valid(s)))
    assert capsys.readouterr().out.startswith("Correct!")


def test_masked_log_pb_accepts_a_python_loop(capsys):
    def with_python_if(env, state, logits):  # not vmappable: the checker falls back to a loop
        if int(state.sum()) < 0:
            raise AssertionError
        return masked_log_pb_solution(env, state, logits)

    assert check_masked_log_pb(with_python_if)


@pytest.mark.parametrize(
    "wrong,hint",
    [
        (lambda env, s, l: None, "returns None"),
        (lambda env, s, l: jax.nn.log_softmax(l), "off the grid"),
        (lambda env, s, l: jnp.where(s > 0, l, -jnp.inf), "normalise over the valid"),
        (lambda env, s, l: jnp.where(s > 0, jax.nn.log_softmax(l), -jnp.inf), "normalise"),
        (lambda env, s, l: l[:1], "shape"),
    ],
)
def test_masked_log_pb_rejects_wrong_answers(wrong, hint, capsys):
    assert not check_masked_log_pb(wrong)
    out = capsys.readouterr().out
    assert out.startswith("Not yet:") and hint in out


# ----- chapter 7: a run that reaches a TV --------------------------------------------------------
def _fake_run(tv, modes=(4, 4, 4), loss=(1.0, 0.5, 0.2)):
    history = {"exact_tv": np.array(tv), "modes_found": np.array(modes), "loss": np.array(loss)}
    return g.TrainResult(None, history, 0.0, 0.0)


def test_trained_tv_accepts_a_run_below_the_threshold(capsys):
    assert check_trained_tv(_fake_run([0.5, 0.1, 0.04]))
    assert "final exact TV 0.040 <= 0.05" in capsys.readouterr().out
    # several seeds: the median counts, and every seed is reported
    seeds = _fake_run(np.array([[0.5, 0.6, 0.5], [0.03, 0.04, 0.2]]), modes=np.full((2, 3), 4), loss=np.ones((2, 3)))
    assert check_trained_tv(seeds.history)
    assert "median of 3 seeds: 0.030 0.040 0.200" in capsys.readouterr().out


@pytest.mark.parametrize(
    "run,hint",
    [
        (_fake_run([0.5, 0.3, 0.06]), "still falling"),
        (_fake_run([0.7, 0.75, 0.75], modes=(1, 1, 1)), "keep the exploration"),
        (_fake_run([0.5, 0.1, 0.1]), "Check that the trainer's loss"),
        (_fake_run([0.5, 0.1, float("nan")]), "NaN"),
        (_fake_run([0.5, 0.1, 0.04], loss=(1.0, float("nan"), 0.1)), "NaN"),
        (_fake_run(np.full((3, 4, 2), 0.01)), "pass one run's history"),
        (_fake_run(np.array([[0.5, 0.6], [0.06, 0.2]]), modes=np.full((2, 2), 4), loss=np.ones((2, 2))), "median of 2 seeds"),
    ],
)
def test_trained_tv_rejects_runs_that_did_not_get_there(run, hint, capsys):
    assert not check_trained_tv(run)
    out = capsys.readouterr().out
    assert out.startswith("Not yet:") and hint in out, out


def test_trained_tv_on_a_real_short_run(capsys):
    config = g.TrainConfig(dim=2, side=6, hidden=32, depth=1, steps=100, eval_every=50)
    assert not check_trained_tv(g.train(config, progress=False), threshold=1e-4)
    assert "Not yet:" in capsys.readouterr().out
