"""Each loss is zero at exact flows (computed independently by DP) and positive off them."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach.speedups import OnVisitedRows

LOSSES = {
    "fm": g.flow_matching,
    "db": g.detailed_balance,
    "tb": g.trajectory_balance,
    "subtb": g.subtrajectory_balance,
}


def perturbed(policy, key, scale=0.3):
    noise = jax.random.normal(key, policy.table.shape) * scale
    return eqx.tree_at(lambda p: p.table, policy, policy.table + noise)


@pytest.fixture(scope="module")
def env():
    return g.Hypergrid(3, 5, "easy")


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("learned_backward", [False, True])
def test_loss_is_zero_at_exact_flows_and_positive_when_perturbed(env, name, learned_backward):
    key = jax.random.PRNGKey(3)
    backward = jax.random.normal(key, (env.n_states, env.dim)) if learned_backward else None
    exact = g.exact_tabular_policy(env, backward)
    traj = g.forward_rollout(jax.random.PRNGKey(1), env, exact, 64, epsilon=0.5)
    loss = LOSSES[name]
    assert float(loss(exact, env, traj)) < 1e-8
    assert float(loss(perturbed(exact, key), env, traj)) > 1e-3
    wrong_z = eqx.tree_at(lambda p: p.log_z, exact, exact.log_z + 0.5)
    if name == "tb":
        assert np.isclose(float(loss(wrong_z, env, traj)), 0.25, rtol=1e-4)


def test_losses_on_backward_rollouts_are_zero_too(env):
    exact = g.exact_tabular_policy(env)
    finals = env.index_to_state(jnp.arange(env.n_states))
    traj = g.backward_rollout(jax.random.PRNGKey(2), env, exact, finals)
    for loss in LOSSES.values():
        assert float(loss(exact, env, traj)) < 1e-8


def test_db_residual_by_hand_on_one_transition():
    env = g.Hypergrid(2, 3)
    policy = g.MLPPolicy(env, jax.random.PRNGKey(0), hidden=8, depth=1)
    traj = g.forward_rollout(jax.random.PRNGKey(4), env, policy, 1, epsilon=1.0)
    terms = g.trajectory_terms(policy, env, traj)
    # Recompute the first transition from raw policy outputs.
    s, a = traj.states[0, 0], int(traj.actions[0, 0])
    out = policy(env.observation(s))
    valid = np.asarray(env.forward_valid(s))
    logits = np.where(valid, np.asarray(out.forward_logits), -np.inf)
    log_pf = logits[a] - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
    assert np.isclose(float(terms.log_pf[0, 0]), log_pf, atol=1e-5)
    assert np.isclose(float(terms.log_flow[0, 0]), float(out.log_flow), atol=1e-6)
    if a != env.stop_action:
        parent_count = int(np.asarray(traj.states[1, 0] > 0).sum())
        assert np.isclose(float(terms.log_pb[0, 0]), -np.log(parent_count), atol=1e-6)


def test_subtb_with_lambda_one_on_length_one_trajectory_is_mean_of_db_and_tb():
    env = g.Hypergrid(2, 3)
    policy = g.MLPPolicy(env, jax.random.PRNGKey(0), hidden=8, depth=1)
    traj = g.forward_rollout(jax.random.PRNGKey(0), env, policy, 64, epsilon=0.0)
    # Keep only trajectories that stop at once: nodes s0, sink; one pair (0, 1) = DB = TB(log F(s0)).
    first_stop = np.asarray(traj.actions[0] == env.stop_action)
    assert first_stop.any()
    sub = traj._replace(
        states=traj.states[:, first_stop],
        actions=traj.actions[:, first_stop],
        is_padding=traj.is_padding[:, first_stop],
        log_pf=traj.log_pf[:, first_stop],
        log_rewards=traj.log_rewards[first_stop],
        final_states=traj.final_states[first_stop],
    )
    np.testing.assert_allclose(
        g.subtrajectory_balance(policy, env, sub, lam=1.0), g.detailed_balance(policy, env, sub), rtol=1e-5
    )


@pytest.mark.parametrize("name", LOSSES)
def test_gradients_are_finite_with_masked_actions(env, name):
    policy = g.MLPPolicy(env, jax.random.PRNGKey(0), hidden=16, depth=1, learn_backward=True)
    traj = g.forward_rollout(jax.random.PRNGKey(5), env, policy, 32, epsilon=1.0)
    grads = eqx.filter_grad(lambda p: LOSSES[name](p, env, traj))(policy)
    leaves = jax.tree.leaves(eqx.filter(grads, eqx.is_array))
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in leaves)
    assert any(float(jnp.abs(leaf).sum()) > 0 for leaf in leaves)


def test_masked_log_softmax_ignores_invalid_entries_and_has_no_nan_gradient():
    logits = jnp.array([1.0, 2.0, 3.0])
    valid = jnp.array([True, False, True])
    out = g.masked_log_softmax(logits, valid)
    np.testing.assert_allclose(np.exp(out[jnp.array([0, 2])]).sum(), 1.0, rtol=1e-6)
    none_valid = jax.grad(lambda l: g.masked_log_softmax(l, jnp.zeros(3, bool)).sum())(logits)
    assert bool(jnp.all(jnp.isfinite(none_valid)))


def on_rows(policy, traj, n_rows):
    """``policy`` run on ``n_rows`` packed rows of the batch's nodes (the speedup's wrapper)."""
    return OnVisitedRows(policy, n_rows, traj.states.shape[0] * traj.states.shape[1])


@pytest.mark.parametrize("name", LOSSES)
def test_packing_the_visited_nodes_changes_no_value_or_gradient(env, name):
    # n_rows = the exact number of visited nodes: the tightest packing that is allowed.
    policy = g.MLPPolicy(env, jax.random.PRNGKey(0), hidden=16, depth=1, learn_backward=True)
    traj = g.forward_rollout(jax.random.PRNGKey(6), env, policy, 16, epsilon=0.5)
    n_visited = int(jnp.sum(g.visited_nodes(traj)))
    assert n_visited < 0.5 * traj.is_padding.size  # so that packing really drops rows
    plain, plain_grad = eqx.filter_value_and_grad(lambda p: LOSSES[name](p, env, traj))(policy)
    packed, packed_grad = eqx.filter_value_and_grad(
        lambda p: LOSSES[name](on_rows(p, traj, n_visited), env, traj)
    )(policy)
    np.testing.assert_allclose(packed, plain, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(eqx.filter(packed_grad, eqx.is_array)),
                    jax.tree.leaves(eqx.filter(plain_grad, eqx.is_array))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_packing_too_few_rows_is_caught_by_the_comparison():
    # The check above can fail: one row too few drops a visited node and changes the loss.
    env = g.Hypergrid(3, 5, "easy")
    policy = g.MLPPolicy(env, jax.random.PRNGKey(0), hidden=16, depth=1)
    traj = g.forward_rollout(jax.random.PRNGKey(6), env, policy, 16, epsilon=0.5)
    n_visited = int(jnp.sum(g.visited_nodes(traj)))
    plain = g.detailed_balance(policy, env, traj)
    short = g.detailed_balance(on_rows(policy, traj, n_visited - 1), env, traj)
    assert not np.isclose(float(short), float(plain), rtol=1e-5)


def mdb_by_hand(policy, env, traj):
    """Modified DB from the policy's tables, one transition at a time in NumPy (float64)."""
    tables = g.policy_tables(policy, env)
    log_pf, log_pb = np.asarray(tables.log_pf, np.float64), np.asarray(tables.log_pb, np.float64)
    log_r = np.asarray(env.log_reward(env.all_states()), np.float64)
    rows = np.asarray(env.state_index(traj.states))  # [T+1, B]
    actions, padding = np.asarray(traj.actions), np.asarray(traj.is_padding)
    squares = []
    for t, b in zip(*np.nonzero((actions != env.stop_action) & ~padding)):
        s, s_next, a = rows[t, b], rows[t + 1, b], actions[t, b]
        back = int(env.backward_action(jnp.asarray(a)))
        delta = (log_r[s] + log_pf[s, a] + log_pf[s_next, env.stop_action]
                 - log_r[s_next] - log_pb[s_next, back] - log_pf[s, env.stop_action])
        squares.append(delta**2)
    return np.mean(squares)


@pytest.mark.parametrize("learned_backward", [False, True])
def test_modified_db_is_zero_at_exact_flows_positive_elsewhere_and_matches_a_loop(env, learned_backward):
    key = jax.random.PRNGKey(5)
    backward = jax.random.normal(key, (env.n_states, env.dim)) if learned_backward else None
    exact = g.exact_tabular_policy(env, backward)
    traj = g.forward_rollout(jax.random.PRNGKey(1), env, exact, 64, epsilon=0.5)
    assert float(g.modified_detailed_balance(exact, env, traj)) < 1e-8
    wrong = perturbed(exact, key)
    loss = float(g.modified_detailed_balance(wrong, env, traj))
    assert loss > 1e-3 and np.isclose(loss, mdb_by_hand(wrong, env, traj), rtol=1e-4)
    grads = eqx.filter_grad(g.modified_detailed_balance)(wrong, env, traj)
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(grads))


def test_mdb_trains_on_the_grid_and_is_refused_where_a_state_cannot_stop():
    config = g.TrainConfig(loss="mdb", side=8, hidden=64, steps=1500, eval_every=500)
    history = g.train(config, progress=False).history
    true_log_z = float(g.Hypergrid(2, 8).log_partition())
    assert history["exact_tv"][-1] < 0.05 and abs(history["log_z"][-1] - true_log_z) < 0.05
    with pytest.raises(ValueError, match="every state can stop"):
        g.TrainConfig(env="lego", loss="mdb")
