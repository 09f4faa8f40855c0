"""The replay buffer against brute force, and training with it: same optimum, saved, resumed."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach.checkpoint import load_checkpoint, save_checkpoint
from gfn_teach.replay import ReplayBuffer
from gfn_teach.rollout import concatenate
from gfn_teach.train import Hyperparams, init_state, train_step


def best_distinct(pairs, capacity):
    """Brute force: the ``capacity`` distinct states of highest reward, as {state: log R}."""
    seen = {}
    for state, log_r in pairs:
        if np.isfinite(log_r):
            seen.setdefault(tuple(state), log_r)
    return dict(sorted(seen.items(), key=lambda kv: -kv[1])[:capacity])


def as_dict(buffer):
    filled = np.asarray(buffer.log_rewards) > -np.inf
    return {tuple(s): r for s, r in zip(np.asarray(buffer.states)[filled].tolist(), np.asarray(buffer.log_rewards)[filled])}


def test_add_keeps_the_best_distinct_states_as_brute_force_does():
    rng = np.random.default_rng(0)
    reward_of = {(i, j): r for (i, j), r in np.ndenumerate(rng.normal(size=(4, 4)))}  # distinct rewards
    buffer, pairs = ReplayBuffer.empty(6, 2), []
    for _ in range(8):
        batch = rng.integers(0, 4, size=(5, 2))  # repeats within and across batches
        log_r = np.array([reward_of[tuple(s)] for s in batch.tolist()], np.float32)
        buffer = buffer.add(jnp.asarray(batch), jnp.asarray(log_r))
        pairs += list(zip(batch.tolist(), log_r))
        expected = best_distinct(pairs, 6)
        got = as_dict(buffer)
        assert got.keys() == expected.keys()
        assert int(buffer.size) == len(expected)


def test_zero_reward_states_are_never_kept_and_the_empty_buffer_has_size_0():
    buffer = ReplayBuffer.empty(4, 1)
    assert int(buffer.size) == 0
    buffer = buffer.add(jnp.array([[1], [2], [3]]), jnp.array([0.0, -jnp.inf, -1.0]))
    assert as_dict(buffer) == {(1,): 0.0, (3,): -1.0}


def test_sample_draws_in_proportion_to_reward_and_never_an_empty_slot():
    buffer = ReplayBuffer.empty(8, 1).add(jnp.arange(1, 5)[:, None], jnp.log(jnp.array([1.0, 2.0, 3.0, 4.0])))
    n = 40_000
    drawn = np.asarray(buffer.sample(jax.random.PRNGKey(0), n))[:, 0]
    assert set(np.unique(drawn)) <= {1, 2, 3, 4}  # slots 4..7 are empty (their state is 0)
    counts = np.bincount(drawn, minlength=5)[1:]
    p = np.array([1, 2, 3, 4]) / 10
    assert np.all(np.abs(counts - n * p) < 5 * np.sqrt(n * p * (1 - p)))
    assert not np.allclose(counts / n, 0.25, atol=0.02)  # a uniform draw is rejected


def test_concatenate_is_one_batch_whose_tb_loss_is_the_weighted_mean():
    env = g.Hypergrid(2, 4)
    policy = g.MLPPolicy(env, jax.random.PRNGKey(0), hidden=8, depth=1)

    @eqx.filter_jit
    def losses(policy):
        forward = g.forward_rollout(jax.random.PRNGKey(1), env, policy, 3, epsilon=1.0)
        backward = g.backward_rollout(jax.random.PRNGKey(2), env, policy, forward.final_states[:2])
        joined = concatenate(forward, backward)
        tb = g.trajectory_balance
        return joined.states.shape, tb(policy, env, joined), tb(policy, env, forward), tb(policy, env, backward)

    shape, joined, forward, backward = losses(policy)
    assert shape[1] == 5
    np.testing.assert_allclose(joined, (3 * forward + 2 * backward) / 5, rtol=1e-6)


@pytest.mark.parametrize("loss", ["tb", "db"])
def test_replay_leaves_the_optimum_where_it_was(loss):
    """At the exact flows the loss is zero on the on-policy and the replayed trajectories."""
    env = g.Hypergrid(2, 5)
    config = g.TrainConfig(dim=2, side=5, loss=loss, policy="tabular", learn_backward=False,
                           replay_size=8, replay_batch=16)
    state = init_state(config, env, jax.random.PRNGKey(0))
    state = eqx.tree_at(lambda s: s.policy, state, g.exact_tabular_policy(env))
    loss_fn = g.detailed_balance if loss == "db" else g.trajectory_balance
    # One step: after it Adam, which divides by the gradients' own scale, moves the weights.
    state, value = eqx.filter_jit(train_step)(state, Hyperparams.from_config(config), env, loss_fn, 16, 16)
    assert float(value) < 1e-8
    assert int(state.replay.size) >= 2  # 16 replayed trajectories from >= 2 distinct states
    wrong = eqx.tree_at(lambda p: p.table, state.policy, state.policy.table * 1.1)
    assert float(loss_fn(wrong, env, g.forward_rollout(jax.random.PRNGKey(0), env, wrong, 8))) > 1e-4


@pytest.fixture(scope="module")
def replay_run():
    """A Trainer with a replay buffer, and its state after 20 steps."""
    config = g.TrainConfig(dim=2, side=6, hidden=16, depth=1, steps=40, eval_every=20, loss="tb",
                           replay_size=10, replay_batch=4)
    trainer = g.Trainer(config)
    state, _ = trainer.run_chunk(trainer.init(trainer.keys()), 20)
    return trainer, state


def test_the_buffer_holds_the_best_of_what_training_visited(replay_run):
    trainer, state = replay_run
    env = trainer.env
    index = np.asarray(env.state_index(state.replay.states))
    visited = np.asarray(state.visited)
    assert visited[index].all() and len(set(index.tolist())) == 10  # visited, distinct
    log_r = np.asarray(env.log_reward(env.all_states()))
    others = visited.copy()
    others[index] = False
    assert others.any() and log_r[index].min() >= log_r[others].max()


def test_replay_runs_save_and_resume_exactly(replay_run, tmp_path):
    trainer, state = replay_run
    save_checkpoint(tmp_path, state, trainer.config)
    loaded, _ = load_checkpoint(tmp_path, trainer.config)
    np.testing.assert_array_equal(loaded.replay.states, state.replay.states)
    _, a = trainer.run_chunk(state, 20)
    _, b = trainer.run_chunk(loaded, 20)
    np.testing.assert_array_equal(a.exact_tv, b.exact_tv)


def test_bad_replay_settings_fail_in_one_line():
    with pytest.raises(ValueError, match=r"replay_batch applies only with a replay buffer \(replay_size > 0\)"):
        g.TrainConfig(replay_batch=4)
    with pytest.raises(ValueError, match=r"replay_size must be an integer in \[0, 1048576\]"):
        g.TrainConfig(replay_size=-1)
    with pytest.raises(ValueError, match=r"replay_batch must be an integer >= 1, got 0"):
        g.TrainConfig(replay_size=8, replay_batch=0)


def test_configs_saved_before_replay_still_load():
    config = g.TrainConfig(replay_size=8, replay_batch=4)
    assert g.TrainConfig.from_json(config.to_json()) == config
    old = {k: v for k, v in dataclasses.asdict(g.TrainConfig()).items() if not k.startswith("replay")}
    import json

    assert g.TrainConfig.from_json(json.dumps(old)) == g.TrainConfig()
