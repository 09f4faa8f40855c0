"""Exact flows and the exact terminal distribution, checked against brute force."""

import itertools

import equinox as eqx

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach.sampling import sample_terminal_states


def brute_force_terminal_distribution(env, log_pf_table):
    """Sum the probability of every trajectory, enumerated one by one (tiny grids only)."""
    pf = np.exp(np.asarray(log_pf_table, dtype=np.float64))
    dist = np.zeros(env.n_states)

    def walk(x, prob):
        index = int(np.ravel_multi_index(tuple(x), (env.side,) * env.dim))
        dist[index] += prob * pf[index, env.dim]
        for d in range(env.dim):
            if x[d] < env.side - 1:
                child = list(x)
                child[d] += 1
                walk(child, prob * pf[index, d])

    walk([0] * env.dim, 1.0)
    return dist


def random_policy_table(env, key):
    logits = jax.random.normal(key, (env.n_states, env.n_actions)) * 2
    return g.masked_log_softmax(logits, env.forward_valid(env.all_states()))


@pytest.mark.parametrize("dim,side", [(1, 5), (2, 4), (3, 3)])
def test_dp_matches_trajectory_enumeration(dim, side, key):
    env = g.Hypergrid(dim, side)
    table = random_policy_table(env, key)
    dp = np.asarray(g.terminal_distribution_from_log_pf(env, table))
    np.testing.assert_allclose(dp, brute_force_terminal_distribution(env, table), atol=1e-6)
    assert np.isclose(dp.sum(), 1.0, atol=1e-5)


def test_dp_matches_a_large_sample_of_rollouts(key):
    env = g.Hypergrid(2, 5)
    policy = g.MLPPolicy(env, key, hidden=32, depth=1)
    exact = np.asarray(g.terminal_distribution(policy, env))
    n = 200_000
    traj = jax.jit(lambda k: g.forward_rollout(k, env, policy, n))(jax.random.PRNGKey(7))
    empirical = np.asarray(g.empirical_distribution(env, traj.final_states))
    # Each cell's count is binomial: allow 5 standard deviations (plus a small floor).
    tolerance = 5 * np.sqrt(exact * (1 - exact) / n) + 1e-4
    assert np.all(np.abs(empirical - exact) <= tolerance)
    assert float(g.total_variation(exact, empirical)) < 0.01


def test_exact_flows_sample_the_target_for_uniform_and_learned_backward(key):
    env = g.Hypergrid(3, 5)
    for backward_logits in (None, jax.random.normal(key, (env.n_states, env.dim)) * 3):
        policy = g.exact_tabular_policy(env, backward_logits)
        dist = g.terminal_distribution(policy, env)
        np.testing.assert_allclose(dist, env.true_distribution(), atol=1e-6)
        np.testing.assert_allclose(policy.log_z, env.log_partition(), rtol=1e-5)


def test_exact_flows_satisfy_conservation_by_direct_summation():
    env = g.Hypergrid(2, 4, "original")
    flows = g.exact_flows(env)
    states = np.asarray(env.all_states())
    rewards = np.exp(np.asarray(env.log_reward(env.all_states())))
    edge = np.exp(np.asarray(flows.log_edge_flow))
    state_flow = np.exp(np.asarray(flows.log_flow))
    index = {tuple(x): i for i, x in enumerate(states)}
    for i, x in enumerate(states):
        out = sum(edge[i, d] for d in range(2) if x[d] < 3) + edge[i, 2]
        assert np.isclose(out, state_flow[i], rtol=1e-5)
        assert np.isclose(edge[i, 2], rewards[i], rtol=1e-5)
        parents = [index[tuple(x - np.eye(2, dtype=int)[d])] for d in range(2) if x[d] > 0]
        inflow = sum(edge[p, d] for p, d in zip(parents, [d for d in range(2) if x[d] > 0]))
        if parents:
            assert np.isclose(inflow, state_flow[i], rtol=1e-5)
    assert np.isclose(state_flow[0], rewards.sum(), rtol=1e-5)


def test_dp_on_the_20_to_the_4_grid_runs_and_normalises():
    env = g.Hypergrid(4, 20)
    policy = g.MLPPolicy(env, jax.random.PRNGKey(0), hidden=16, depth=1)
    dist = eqx.filter_jit(lambda p: g.terminal_distribution(p, env))(policy)
    assert dist.shape == (160_000,)
    assert np.isclose(float(dist.sum()), 1.0, atol=1e-4)
    assert float(dist.min()) >= 0


@pytest.mark.parametrize(
    "make_policy,env,message",
    [
        (lambda: g.TabularPolicy(g.Hypergrid(2, 8)), g.Hypergrid(2, 9),
         r"its table is 64 states x 6 values, Hypergrid\(dim=2, side=9\) needs 81 x 6"),
        (lambda: g.MLPPolicy(g.Hypergrid(2, 8), jax.random.PRNGKey(0), 8, 1), g.Hypergrid(2, 9),
         r"it reads observations of size 16, Hypergrid\(dim=2, side=9\)'s have size 18"),
        (lambda: g.MLPPolicy(g.Hypergrid(4, 4), jax.random.PRNGKey(0), 8, 1), g.Hypergrid(2, 8),
         r"it gives 5 forward and 4 backward logits, Hypergrid\(dim=2, side=8\) has 3 forward and 2"),
        (lambda: g.TabularPolicy(g.LegoSpaceship()), g.Hypergrid(2, 8), r"its table is \d+ states"),
        (lambda: g.MLPPolicy(g.LegoSpaceship(), jax.random.PRNGKey(0), 8, 1), g.Hypergrid(2, 8),
         r"it reads observations of size \d+, Hypergrid\(dim=2, side=8\)'s have size 16"),
        (lambda: g.TabularPolicy(g.Hypergrid(2, 8)), g.LegoSpaceship(), r"LegoSpaceship: its table is 64 states x 6 values, LegoSpaceship needs 3125 x 27"),
    ],
)
def test_a_policy_built_for_other_sizes_is_refused(make_policy, env, message):
    # Issue 21, item 4: a 64-row table on an 81-state grid gave a plausible distribution.
    policy = make_policy()
    for exact in (g.terminal_distribution, g.policy_tables):
        with pytest.raises(ValueError, match="the policy does not fit " + ".*" + message) as caught:
            exact(policy, env)
        assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="the policy does not fit"):
        sample_terminal_states(jax.random.PRNGKey(0), env, policy, 5)


@pytest.mark.parametrize("name,exact", [
    ("an exact evaluation", g.exact_flows),
    ("an exact evaluation", g.log_path_counts),
    ("an exact evaluation", g.maxent_rl_distribution),
    ("the target distribution", lambda env: env.true_distribution()),
    # A reward function's log Z is a sum over the states (a preset's has a closed form).
    ("log Z", lambda env: g.Hypergrid(env.dim, env.side, lambda x: 1.0 + x.sum()).log_partition()),
])
def test_exact_functions_refuse_a_grid_they_cannot_hold_at_once(name, exact, monkeypatch):
    # Issue 21, item 18: an int32 OverflowError, or an unguarded 40-800 GB allocation.
    from gfn_teach import memory

    with pytest.raises(ValueError, match=rf"^{name} of Hypergrid\(dim=10, side=10\) \(1e\+10 states\) is impossible: "
                                         r"states are numbered by int32 indices, at most 2,147,483,647 of them") as caught:
        exact(g.Hypergrid(10, 10))
    assert "\n" not in str(caught.value)  # one line (pytest also matches JAX's traceback note)
    monkeypatch.setattr(memory, "machine_memory", lambda: 10**9)
    with pytest.raises(ValueError, match=rf"^{name} of Hypergrid\(dim=6, side=20\) \(6.4e\+07 states\) needs about "
                                         r".* GB of memory, more than the 1 GB of this machine"):
        exact(g.Hypergrid(6, 20))
