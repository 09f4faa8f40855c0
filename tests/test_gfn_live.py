"""The book page's JavaScript (_static/gfn_live/) against gfn_teach: same numbers.

The JavaScript runs under node (tests/gfn_live_node.js) on the inputs given here: reward
settings, a tabular logit table, a batch of trajectories sampled by the library. It computes in
float64, so the library is run with JAX's x64 on and the two must agree to 1e-12 or better;
the reward, target and log Z are also compared with the library's default float32.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g

NODE_SCRIPT = Path(__file__).with_name("gfn_live_node.js")
WIDTH = 6  # a table row: 3 forward logits, log F, 2 backward logits
SETTINGS = [  # (side, r0, r1, r2)
    (8, *g.REWARD_PRESETS["easy"]),
    (20, *g.REWARD_PRESETS["hard"]),
    (7, *g.REWARD_PRESETS["original"]),
    (4, 1e-6, 4.0, 0.0),
    (13, 10**-2.25, 0.0, 3.7),
    (64, 1.0, 0.3, 1.1),
]


def run_js(request: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: the book's JavaScript is tested with node (Node.js 18+)")
    done = subprocess.run(
        [node, str(NODE_SCRIPT)], input=json.dumps(request), capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def params_of(r0, r1, r2) -> dict:
    return {"r0": float(r0), "r1": float(r1), "r2": float(r2)}


def max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def random_table(side: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.5, (side * side, WIDTH))


@pytest.mark.parametrize("side, r0, r1, r2", SETTINGS)
def test_target_and_log_z_match_the_library(side, r0, r1, r2):
    js = run_js({"op": "target", "side": side, "params": params_of(r0, r1, r2)})
    reward = g.HypergridReward(r0, r1, r2)
    with jax.enable_x64(True):
        env = g.Hypergrid(dim=2, side=side, reward=reward)
        log_r = env.log_reward(env.all_states())
        pi, log_z = env.true_distribution(), env.log_partition()
        assert pi.dtype == jnp.float64
        assert max_abs(js["logR"], log_r) < 1e-12
        assert max_abs(js["pi"], pi) < 1e-15
        assert abs(js["logZ"] - float(log_z)) < 1e-12
    # The library's default float32: agreement to float32 precision.
    env = g.Hypergrid(dim=2, side=side, reward=reward)
    pi32 = np.asarray(env.true_distribution())
    assert pi32.dtype == np.float32
    np.testing.assert_allclose(js["pi"], pi32, rtol=2e-6, atol=1e-12)
    assert abs(js["logZ"] - float(env.log_partition())) < 4e-6 * max(1.0, abs(js["logZ"]))


@pytest.mark.parametrize("side", [8, 5])
@pytest.mark.parametrize("learn_backward", [False, True])
def test_terminal_distribution_matches_the_library(side, learn_backward):
    table = random_table(side, seed=side)
    log_z = float(np.float32(0.37))
    js = run_js({
        "op": "terminal", "side": side, "learnBackward": learn_backward,
        "table": table.ravel().tolist(), "logZ": log_z,
    })
    with jax.enable_x64(True):
        env = g.Hypergrid(dim=2, side=side, reward="easy")
        policy = g.TabularPolicy(env, learn_backward, table=jnp.asarray(table), log_z=log_z)
        p_t = g.terminal_distribution(policy, env)
        assert p_t.dtype == jnp.float64
        assert max_abs(js["pT"], p_t) < 1e-14
        assert abs(sum(js["pT"]) - 1.0) < 1e-12


def library_loss_and_grad(loss, env, policy, traj):
    """The library's loss and jax.grad's gradient with respect to the table and log Z."""
    fn = {"tb": g.trajectory_balance, "db": g.detailed_balance}[loss]

    def of(table, log_z):
        return fn(eqx.tree_at(lambda p: (p.table, p.log_z), policy, (table, log_z)), env, traj)

    value, (grad_table, grad_log_z) = jax.value_and_grad(of, argnums=(0, 1))(
        policy.table, jnp.asarray(policy.log_z, jnp.float64)
    )
    return float(value), np.asarray(grad_table), float(grad_log_z)


def action_lists(traj) -> list[list[int]]:
    """Each trajectory's actions up to and including stop (padding dropped)."""
    actions, padding = np.asarray(traj.actions), np.asarray(traj.is_padding)
    return [actions[~padding[:, b], b].tolist() for b in range(actions.shape[1])]


@pytest.mark.parametrize("loss", ["tb", "db"])
@pytest.mark.parametrize("learn_backward", [False, True])
def test_loss_and_gradient_match_the_library(loss, learn_backward):
    side, reward = 8, g.REWARD_PRESETS["easy"]
    table = random_table(side, seed=3)
    log_z = float(np.float32(1.25))
    with jax.enable_x64(True):
        env = g.Hypergrid(dim=2, side=side, reward=reward)
        policy = g.TabularPolicy(env, learn_backward, table=jnp.asarray(table), log_z=log_z)
        rollout = eqx.filter_jit(g.forward_rollout)  # one compiled scan, not op by op
        traj = rollout(jax.random.PRNGKey(7), env, policy, batch_size=32, epsilon=0.5)
        value, grad_table, grad_log_z = library_loss_and_grad(loss, env, policy, traj)
    trajectories = action_lists(traj)
    assert len(trajectories) == 32 and max(len(a) for a in trajectories) > 5
    js = run_js({
        "op": "loss", "loss": loss, "side": side, "params": params_of(*reward),
        "learnBackward": learn_backward, "table": table.ravel().tolist(), "logZ": log_z,
        "trajectories": trajectories,
    })
    assert abs(js["loss"] - value) < 1e-12 * max(1.0, value)
    assert max_abs(js["gradTable"], grad_table.ravel()) < 1e-12
    assert abs(js["gradLogZ"] - grad_log_z) < 1e-12
    if not learn_backward:  # a fixed uniform P_B has no parameters
        assert not np.any(np.asarray(js["gradTable"]).reshape(-1, WIDTH)[:, 4:])


@pytest.mark.parametrize("loss, max_steps", [("tb", 1500), ("db", 6000)])
def test_the_page_trainer_reaches_tv_005_on_the_easy_8x8_grid(loss, max_steps):
    js = run_js({
        "op": "train", "options": {"loss": loss, "side": 8, "reward": "easy", "seed": 0},
        "maxSteps": max_steps, "goal": 0.05,
    })
    assert js["reachedStep"] is not None, js
    assert js["finalTv"] <= 0.05
    env = g.Hypergrid(dim=2, side=8, reward="easy")
    assert abs(js["trueLogZ"] - float(env.log_partition())) < 1e-5
