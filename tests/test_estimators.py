"""Estimates without enumeration (gfn_teach.estimators), held to the exact answers on small grids."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach import estimators


@pytest.fixture(scope="module")
def env():
    return g.Hypergrid(dim=2, side=5, reward="easy")


@pytest.fixture(scope="module")
def untrained(env):
    return g.MLPPolicy(env, jax.random.PRNGKey(3), hidden=32, learn_backward=True)


def test_at_the_exact_flows_every_estimate_is_exact(env):
    """P_F(tau) / P_B(tau | x) = pi(x) on every trajectory: one backward trajectory suffices."""
    exact = g.exact_tabular_policy(env)
    states = env.all_states()
    estimate = estimators.estimate_log_pt(exact, env, states, jax.random.PRNGKey(0), n=1)
    np.testing.assert_allclose(estimate, jnp.log(env.true_distribution()), atol=1e-4)
    log_z = float(env.log_partition())
    assert estimators.elbo(exact, env, jax.random.PRNGKey(1), 64) == pytest.approx(log_z, abs=1e-4)
    target_states = states[jax.random.categorical(jax.random.PRNGKey(2), jnp.log(env.true_distribution()), shape=(64,))]
    assert estimators.eubo(exact, env, target_states, jax.random.PRNGKey(3)) == pytest.approx(log_z, abs=1e-4)
    log_r = env.log_reward(states)
    assert estimators.reward_log_pt_correlation(log_r, estimate) == pytest.approx(1.0, abs=1e-5)


def test_the_log_pt_estimate_converges_to_the_exact_value(env, untrained):
    exact = jnp.log(g.terminal_distribution(untrained, env))
    states = env.all_states()
    errors = {n: float(jnp.mean(jnp.abs(estimators.estimate_log_pt(untrained, env, states, jax.random.PRNGKey(n), n)
                                        - exact))) for n in (1, 16, 256)}
    assert errors[256] < errors[16] < errors[1]  # less error with more trajectories
    assert errors[256] < 0.02
    # ... and biased low at small n (Jensen): the log of an unbiased estimate of P_T.
    low = estimators.estimate_log_pt(untrained, env, states, jax.random.PRNGKey(7), 2) - exact
    assert float(jnp.mean(low)) < 0


def test_elbo_and_eubo_bracket_log_z_for_an_untrained_policy(env, untrained):
    log_z = float(env.log_partition())
    lower = float(estimators.elbo(untrained, env, jax.random.PRNGKey(0), 4096))
    target_states = env.all_states()[jax.random.categorical(jax.random.PRNGKey(1), jnp.log(env.true_distribution()), shape=(4096,))]
    upper = float(estimators.eubo(untrained, env, target_states, jax.random.PRNGKey(2)))
    assert lower < log_z - 0.1 and upper > log_z + 0.1


def test_a_uniform_policy_does_not_correlate_perfectly_with_the_reward(env):
    uniform = g.TabularPolicy(env)
    states = env.all_states()
    log_pt = jnp.log(g.terminal_distribution(uniform, env))
    assert estimators.reward_log_pt_correlation(env.log_reward(states), log_pt) < 0.9


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_the_number_of_trajectories_is_checked(env, untrained, n):
    with pytest.raises(ValueError, match=r"n must be an integer >= 1"):
        estimators.estimate_log_pt(untrained, env, env.all_states(), jax.random.PRNGKey(0), n)
