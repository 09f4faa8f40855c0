"""Rollouts: shapes, padding, exploration and log-probabilities."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import gfn_teach as g


def test_forward_rollout_structure(env3d, key):
    policy = g.MLPPolicy(env3d, key, hidden=16, depth=1)
    traj = jax.jit(lambda k: g.forward_rollout(k, env3d, policy, 50, 0.3))(key)
    T = env3d.max_length
    assert traj.states.shape == (T + 1, 50, 3) and traj.actions.shape == (T, 50)
    states, actions, pad = map(np.asarray, (traj.states, traj.actions, traj.is_padding))
    assert (states >= 0).all() and (states < env3d.side).all()
    for b in range(50):
        n = int((~pad[:, b]).sum())  # actions including stop
        assert actions[n - 1, b] == env3d.stop_action
        assert (actions[: n - 1, b] < env3d.dim).all()
        assert pad[n:, b].all() and not pad[:n, b].any()
        np.testing.assert_array_equal(states[n:, b], np.broadcast_to(states[n - 1, b], states[n:, b].shape))
        assert states[n - 1, b].sum() == n - 1
    np.testing.assert_array_equal(traj.final_states, states[-1])
    np.testing.assert_allclose(traj.log_rewards, env3d.log_reward(traj.final_states))


def test_stored_log_probs_are_the_policy_not_the_exploration_mix(env3d, key):
    policy = g.MLPPolicy(env3d, key, hidden=16, depth=1)
    traj = g.forward_rollout(jax.random.PRNGKey(1), env3d, policy, 20, epsilon=1.0)
    terms = g.trajectory_terms(policy, env3d, traj)
    np.testing.assert_allclose(traj.log_pf, terms.log_pf, atol=1e-5)


def test_full_exploration_is_uniform_over_valid_actions():
    env = g.Hypergrid(2, 4)
    policy = g.TabularPolicy(env, table=jnp.zeros((16, 6)).at[:, 2].set(20.0))  # always stop
    traj = g.forward_rollout(jax.random.PRNGKey(0), env, policy, 20_000, epsilon=1.0)
    first = np.asarray(traj.actions[0])
    np.testing.assert_allclose(np.bincount(first, minlength=3) / first.size, [1 / 3] * 3, atol=0.02)
    greedy = g.forward_rollout(jax.random.PRNGKey(0), env, policy, 100, epsilon=0.0)
    assert (np.asarray(greedy.actions[0]) == env.stop_action).all()


def test_backward_rollout_ends_in_the_given_states(env3d, key):
    finals = env3d.index_to_state(jax.random.randint(key, (40,), 0, env3d.n_states))
    policy = g.MLPPolicy(env3d, key, hidden=16, depth=1, learn_backward=True)
    traj = g.backward_rollout(jax.random.PRNGKey(3), env3d, policy, finals)
    np.testing.assert_array_equal(traj.final_states, finals)
    states = np.asarray(traj.states)
    assert (states[0] == 0).all()
    # Replaying the forward actions from the origin reproduces every state.
    replay = jnp.zeros_like(finals)
    for t in range(env3d.max_length):
        replay = jnp.where(traj.is_padding[t][:, None], replay, env3d.step(replay, traj.actions[t])[0])
        np.testing.assert_array_equal(replay, states[t + 1])


def test_transitions_flatten_time_and_batch(env3d, key):
    policy = g.MLPPolicy(env3d, key, hidden=16, depth=1)
    traj = g.forward_rollout(key, env3d, policy, 8, 0.5)
    tr = g.split_into_transitions(env3d, traj)
    n = env3d.max_length * 8
    assert tr.state.shape == (n, 3) and tr.action.shape == (n,)
    assert int(tr.is_stop.sum()) == 8
    moved = np.asarray(tr.next_state - tr.state)
    real_moves = np.asarray(~tr.is_padding & ~tr.is_stop)
    assert (moved[real_moves].sum(1) == 1).all()
    assert (moved[~real_moves] == 0).all()


def test_rollout_skip_under_vmap_stays_a_cond_and_changes_no_value(env3d):
    # Under vmap, the rollout skips the network only once every run's trajectories have
    # stopped (the predicate is shared, so the cond stays a cond); the samples must be those
    # of each run rolled out on its own.
    keys = jax.random.split(jax.random.PRNGKey(4), 3)
    policies = eqx.filter_vmap(lambda k: g.MLPPolicy(env3d, k, hidden=16, depth=1))(keys)
    one_seed = lambda policy, key: g.forward_rollout(key, env3d, policy, 8, 0.2)
    together = eqx.filter_vmap(one_seed)(policies, keys)
    assert "cond[" in str(eqx.filter_make_jaxpr(eqx.filter_vmap(one_seed))(policies, keys)[0])
    for i in range(3):
        policy = jax.tree.map(lambda a: a[i] if eqx.is_array(a) else a, policies)
        alone = one_seed(policy, keys[i])
        np.testing.assert_array_equal(together.states[i], alone.states)
        np.testing.assert_array_equal(together.is_padding[i], alone.is_padding)
        np.testing.assert_allclose(together.log_pf[i], alone.log_pf, rtol=1e-5, atol=1e-6)
