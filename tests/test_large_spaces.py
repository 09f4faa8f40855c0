"""Spaces too large to list: log Z in closed form, training and sampling that never list states."""

import itertools
from fractions import Fraction

import jax
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach.memory import training_bytes
from gfn_teach.sampling import sample_terminal_states
from gfn_teach.train import MAX_EXACT_STATES


def brute_force_log_z(dim, side, r0, r1, r2):
    """Sum R over every state, from the reward's definition in exact fractions (small grids
    only: a band edge such as a = 0.3 on 11 cells is then not rounded into the band)."""
    a = [abs(Fraction(i, side - 1) - Fraction(1, 2)) for i in range(side)]
    outer = [Fraction(1, 4) < v <= Fraction(1, 2) for v in a]
    inner = [Fraction(3, 10) < v < Fraction(2, 5) for v in a]
    total = 0.0
    for x in itertools.product(range(side), repeat=dim):
        total += r0 + r1 * all(outer[i] for i in x) + r2 * all(inner[i] for i in x)
    return np.log(total)


@pytest.mark.parametrize(
    "dim, side, reward",
    [(2, 20, "easy"), (3, 7, "hard"), (4, 5, "original"), (1, 2, "easy"), (3, 11, g.HypergridReward(0.01, 0.0, 5.0))],
)
def test_closed_form_log_z_equals_the_sum_over_every_state(dim, side, reward):
    env = g.Hypergrid(dim, side, reward)
    r = g.REWARD_PRESETS[reward] if isinstance(reward, str) else reward
    np.testing.assert_allclose(float(env.log_partition()), brute_force_log_z(dim, side, *r), rtol=1e-6)


def test_a_reward_function_is_summed_over_every_state():
    env = g.Hypergrid(2, 6, lambda x: 1.0 + x.sum())
    expected = np.log(sum(1.0 + i + j for i in range(6) for j in range(6)))
    np.testing.assert_allclose(float(env.log_partition()), expected, rtol=1e-6)


def test_log_z_of_two_to_the_64_states():
    # side 2: both cells of a coordinate are in the outer band, none in the inner one.
    env = g.Hypergrid(64, 2, "easy")
    np.testing.assert_allclose(float(env.log_partition()), 64 * np.log(2) + np.log(1e-3 + 0.5), rtol=1e-6)


@pytest.fixture(scope="module")
def unlisted_run():
    config = g.TrainConfig(dim=22, side=2, hidden=16, depth=1, steps=10, eval_every=10, loss="tb")
    assert config.make_env().n_states > MAX_EXACT_STATES
    return config, g.Trainer(config).fit(progress=False)


def test_training_beyond_the_exact_limit_lists_no_state(unlisted_run):
    config, result = unlisted_run
    assert result.state.visited.shape == (0,)  # no array over every state
    assert "modes_found" not in result.history  # not computed: absent, never 0
    assert np.isnan(result.history["exact_tv"]).all()
    assert np.isfinite(result.history["log_z"]).all()
    sizes = {**vars(config), "dim": 30}  # a billion states: no memory for them is counted
    assert training_bytes(sizes, MAX_EXACT_STATES)["grid"] == 0


def test_sampling_beyond_the_exact_limit(unlisted_run):
    config, result = unlisted_run
    env = config.make_env()
    states = sample_terminal_states(jax.random.PRNGKey(0), env, result.state.policy, 64, batch_size=32)
    assert states.shape == (64, 22) and set(np.unique(states)) <= {0, 1}
