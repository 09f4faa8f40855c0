"""The Metropolis–Hastings baseline (gfn_teach.mcmc): its kernel, marginals and hitting times,
against detailed balance, the target, and a plain simulation of the chain."""

import numpy as np
import pytest

import gfn_teach as g
from gfn_teach import mcmc


@pytest.fixture(scope="module")
def env():
    return g.Hypergrid(dim=2, side=6, reward="easy")


def target_of(env):
    """R/Z in float64, from the rewards (the environment's own is float32)."""
    reward = np.exp(np.asarray(env.log_reward(env.all_states()), np.float64))
    return reward / reward.sum()


def test_the_kernel_is_stochastic_and_in_detailed_balance_with_the_target(env):
    kernel = mcmc.transition_matrix(env)
    target = target_of(env)
    assert (kernel >= 0).all() and np.allclose(kernel.sum(axis=1), 1.0)
    flow = target[:, None] * kernel  # pi(x) K(x, y)
    np.testing.assert_allclose(flow, flow.T, atol=1e-12)
    # A move to a neighbour, proposed with probability 1/M: (1, 0) from (0, 0), both background.
    origin, right = 0, int(np.asarray(env.state_index(np.array([[1, 0]])))[0])
    assert kernel[origin, right] == pytest.approx(1 / (env.n_actions - 1 + env.dim))


def test_the_chain_forgets_its_start_and_reaches_the_target():
    env = g.Hypergrid(dim=2, side=6, reward="original")
    marginals = mcmc.chain_marginals(env, [0, 10, 100, 1000])
    tv = 0.5 * np.abs(marginals - target_of(env)).sum(axis=1)
    assert tv[0] > 0.9 and tv[0] > tv[1] > tv[2] > tv[3] and tv[3] < 1e-3


def test_a_low_background_slows_the_chain_down(env):
    """R0 = 1e-3 between the corner modes: after 1000 steps the chain is still far from pi."""
    tv = 0.5 * np.abs(mcmc.chain_marginals(env, [1000, 100_000]) - target_of(env)).sum(axis=1)
    assert tv[0] > 0.3 and tv[1] < 1e-3


def simulated_hitting_time(kernel, start, targets, n_chains=4000, seed=0):
    """The same quantity by brute force: run chains with the kernel until they hit a target."""
    rng, total = np.random.default_rng(seed), 0
    cumulative = np.cumsum(kernel, axis=1)
    for _ in range(n_chains):
        x, steps = start, 0
        while x not in targets:
            x = int(np.searchsorted(cumulative[x], rng.random(), side="right"))
            steps += 1
        total += steps
    return total / n_chains


def test_hitting_time_matches_simulation():
    env = g.Hypergrid(dim=1, side=6, reward="original")  # R0 = 0.1: crossings short enough to simulate
    kernel = mcmc.transition_matrix(env)
    exact = mcmc.hitting_time(env, 0, [5])
    assert exact == pytest.approx(simulated_hitting_time(kernel, 0, {5}), rel=0.05)
    assert mcmc.hitting_time(env, 5, [5]) == 0.0
    # The lower the reward between the modes, the longer the crossing: R0 = 1e-3 ("easy").
    assert mcmc.hitting_time(g.Hypergrid(dim=1, side=6, reward="easy"), 0, [5]) > 50 * exact


def test_bad_starts_and_steps_are_refused(env):
    with pytest.raises(ValueError, match="increasing"):
        mcmc.chain_marginals(env, [10, 5])
    with pytest.raises(ValueError, match="non-negative"):
        mcmc.chain_marginals(env, [-1])
    with pytest.raises(ValueError, match="cannot stop"):
        mcmc.chain_marginals(g.LegoSpaceship(), [1])  # the empty baseplate is no ship
