"""The environment: dynamics, masks, enumeration and the reward formula."""

import itertools
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g


def reward_by_formula(x, side, r0, r1, r2):
    """R(x) with exact rational arithmetic: no float ties at the band edges."""
    a = [abs(Fraction(int(xd), side - 1) - Fraction(1, 2)) for xd in x]
    outer = all(Fraction(1, 4) < ad <= Fraction(1, 2) for ad in a)
    inner = all(Fraction(3, 10) < ad < Fraction(2, 5) for ad in a)
    return r0 + r1 * outer + r2 * inner


@pytest.mark.parametrize("dim,side", [(1, 11), (2, 5), (2, 11), (2, 20), (3, 21), (2, 41)])
@pytest.mark.parametrize("preset", ["easy", "hard", "original"])
def test_reward_matches_formula_on_every_state(dim, side, preset):
    env = g.Hypergrid(dim, side, preset)
    params = g.REWARD_PRESETS[preset]
    states = np.asarray(env.all_states())
    expected = np.array([reward_by_formula(x, side, *params) for x in states])
    got = np.exp(np.asarray(env.log_reward(jnp.asarray(states))))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("side", [11, 16, 21, 41])
def test_reward_is_symmetric_under_mirroring(side):
    # On these sides some cells sit exactly on a band edge: in float64, x = 12 of side 16
    # gives |12/15 - 1/2| = 0.30000000000000004 > 0.3 while its mirror x = 3 gives 0.3.
    env = g.Hypergrid(2, side, "easy")
    grid = np.asarray(env.log_reward(env.all_states())).reshape(side, side)
    np.testing.assert_array_equal(grid, grid[::-1, :])
    np.testing.assert_array_equal(grid, grid.T)


def test_custom_reward_function_and_explicit_parameters():
    env = g.Hypergrid(2, 4, reward=lambda x: 1.0 + x.sum())
    np.testing.assert_allclose(np.exp(env.log_reward(jnp.array([[3, 2]]))), [6.0], rtol=1e-6)
    explicit = g.Hypergrid(2, 8, g.HypergridReward(0.5, 1.0, 2.0))
    assert np.isclose(np.exp(explicit.log_reward(jnp.array([0, 0]))), 1.5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(reward=g.HypergridReward(0.0, 0.5, 2.0)), "R0 must be > 0"),
        (dict(reward=g.HypergridReward(-1.0, 0.5, 2.0)), "R0 must be > 0"),
        (dict(reward=g.HypergridReward(1e-3, -0.5, 2.0)), "R1 and R2 must be >= 0"),
        (dict(reward="medium"), "reward must be one of"),
        (dict(reward=lambda x: x.sum() * 1.0), r"gives 0.0 at state \[0, 0\]"),
        (dict(reward=lambda x: jnp.nan * x.sum()), "finite in float32 and >= 1e-30"),
        # Below the 1e-30 floor of log_reward, or infinite in float32: refused, not floored.
        (dict(reward=lambda x: 1e-35 + 0.0 * x.sum()), r"gives 1e-35 at state \[0, 0\]"),
        (dict(reward=g.HypergridReward(1e-31, 0.5, 2.0)), "R0 must be >= 1e-30"),
        (dict(reward=g.HypergridReward(1e-3, 0.5, 1e39)), "not finite in float32"),
        (dict(reward=g.HypergridReward(1e-3, True, 2.0)), "R1 must be a number, got True"),
        (dict(dim=0), "dim must be an integer >= 1"),
        (dict(side=1), "side must be an integer >= 2"),
        (dict(side=2.5), "side must be an integer >= 2"),
    ],
)
def test_bad_environment_arguments_raise_clear_errors(kwargs, match):
    args = dict(dim=2, side=5) | kwargs
    with pytest.raises(ValueError, match=match):
        g.Hypergrid(**args)


def test_masks_never_leave_the_grid(env3d):
    states = env3d.all_states()
    fwd = np.asarray(env3d.forward_valid(states))
    bwd = np.asarray(env3d.backward_valid(states))
    assert fwd[:, env3d.stop_action].all()
    for action in range(env3d.dim):
        moved, _ = env3d.step(states, jnp.full(states.shape[0], action))
        inside = np.asarray((moved >= 0) & (moved < env3d.side)).all(axis=1)
        np.testing.assert_array_equal(fwd[:, action], inside)
        back = env3d.backward_step(states, jnp.full(states.shape[0], action))
        np.testing.assert_array_equal(bwd[:, action], np.asarray(back >= 0).all(axis=1))
    assert not bwd[0].any()  # the origin has no parent


def test_backward_action_undoes_forward_action(env3d):
    states = env3d.all_states()
    for action in range(env3d.dim):
        actions = jnp.full(states.shape[0], action)
        moved, done = env3d.step(states, actions)
        assert not done.any()
        back = env3d.backward_step(moved, env3d.backward_action(actions))
        np.testing.assert_array_equal(back, states)
    stopped, done = env3d.step(states, jnp.full(states.shape[0], env3d.stop_action))
    assert done.all()
    np.testing.assert_array_equal(stopped, states)


def test_enumeration_and_index_map_are_inverse(env3d):
    states = env3d.all_states()
    assert states.shape == (env3d.side**env3d.dim, env3d.dim)
    assert len({tuple(s) for s in np.asarray(states)}) == env3d.n_states
    np.testing.assert_array_equal(env3d.state_index(states), np.arange(env3d.n_states))
    np.testing.assert_array_equal(env3d.index_to_state(jnp.arange(env3d.n_states)), states)
    for x in itertools.islice(itertools.product(range(env3d.side), repeat=env3d.dim), 20):
        index = sum(xd * env3d.side ** (env3d.dim - 1 - d) for d, xd in enumerate(x))
        assert int(env3d.state_index(jnp.array(x))) == index


def test_observation_is_one_hot_per_coordinate(small_env):
    obs = np.asarray(small_env.observation(jnp.array([2, 5])))
    assert obs.shape == (small_env.dim * small_env.side,)
    expected = np.zeros(12)
    expected[2] = expected[6 + 5] = 1
    np.testing.assert_array_equal(obs, expected)


def test_true_distribution_and_log_partition(small_env):
    rewards = np.array(
        [reward_by_formula(x, 6, *g.REWARD_PRESETS["easy"]) for x in np.asarray(small_env.all_states())]
    )
    np.testing.assert_allclose(small_env.true_distribution(), rewards / rewards.sum(), rtol=1e-5)
    np.testing.assert_allclose(small_env.log_partition(), np.log(rewards.sum()), rtol=1e-6)
    assert small_env.max_length == 2 * 5 + 1


def test_reset_and_step_are_jittable_and_batched(small_env):
    states = small_env.reset(7)
    assert states.shape == (7, 2) and not states.any()
    step = jax.jit(small_env.step)
    next_states, done = step(states, jnp.array([0, 1, 2, 0, 1, 2, 0]))
    np.testing.assert_array_equal(next_states[:3], [[1, 0], [0, 1], [0, 0]])
    np.testing.assert_array_equal(done[:3], [False, False, True])
