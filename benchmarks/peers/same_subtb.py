"""Is gfn_teach's SubTB the benchmark's gfnx SubTB? One batch, one set of weights, both losses.

    .venv/bin/python benchmarks/peers/same_subtb.py     # after bash benchmarks/peers/setup_envs.sh gfnx

In gfn_teach's venv: trains SubTB for 300 steps on the 16x16 grid (the benchmark's network,
reward and lambda), samples 16 trajectories, and computes ``g.subtrajectory_balance`` and its
gradient. Then, in the gfnx venv, the same script (``--gfnx``) rebuilds that batch as a gfnx
rollout records it (``done``: the state after the transition is terminal; ``pad``: it is
padding; the log reward on the stop transition) with gfnx's own hypergrid masks and backward
actions, loads the same weights into ``run_gfnx.py``'s policy, and computes ``run_gfnx.py``'s
SubTB loss and gradient. Prints both and their largest relative differences; exits 1 if the
loss differs by more than 1e-5 or a gradient by more than 1e-4 (float32 rounding is ~1e-6).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GFNX_PYTHON = os.path.join(HERE, "..", ".envs", "gfnx", "bin", "python")
LAMBDA, DIM, SIDE, HIDDEN, DEPTH = 0.9, 2, 16, 256, 2


def ours(path: str) -> None:
    """gfn_teach's side: weights, batch, loss and gradient, saved to ``path``."""
    import equinox as eqx
    import jax

    import gfn_teach as g

    config = g.TrainConfig(dim=DIM, side=SIDE, reward="original", loss="subtb", steps=300, eval_every=100,
                           hidden=HIDDEN, depth=DEPTH, learn_backward=False, epsilon_start=0.0, seed=3)
    env = config.make_env()
    policy = g.Trainer(config).fit(progress=False).state.policy  # trained a little: not near uniform
    traj = g.forward_rollout(jax.random.PRNGKey(11), env, policy, 16)
    loss, grads = eqx.filter_value_and_grad(g.subtrajectory_balance)(policy, env, traj, lam=LAMBDA)
    saved = {"loss": np.asarray(loss), "states": np.asarray(traj.states), "actions": np.asarray(traj.actions),
             "is_padding": np.asarray(traj.is_padding), "log_rewards": np.asarray(traj.log_rewards)}
    for i, (layer, grad) in enumerate(zip(policy.mlp.layers, grads.mlp.layers)):
        saved |= {f"w{i}": np.asarray(layer.weight), f"b{i}": np.asarray(layer.bias),
                  f"gw{i}": np.asarray(grad.weight), f"gb{i}": np.asarray(grad.bias)}
    np.savez(path, **saved)


def gfnx_side(path: str) -> int:
    """The gfnx venv's side: the same batch and weights through run_gfnx.py's SubTB."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    import gfnx

    sys.path.insert(0, HERE)
    import run_gfnx

    d = np.load(path)
    env, env_params = run_gfnx.make_problem(types.SimpleNamespace(reward="original", dim=DIM, side=SIDE))
    model = run_gfnx.MLPPolicy(DIM * SIDE, env.action_space.n, env.backward_action_space.n, HIDDEN, DEPTH,
                               True, jax.random.PRNGKey(0))
    for i in range(DEPTH + 1):  # same layout: [forward logits, log flow] from one eqx.nn.MLP
        model = eqx.tree_at(lambda m: m.network.layers[i].weight, model, jnp.asarray(d[f"w{i}"]))
        model = eqx.tree_at(lambda m: m.network.layers[i].bias, model, jnp.asarray(d[f"b{i}"]))

    states = np.swapaxes(d["states"], 0, 1)  # [B, T+1, dim], node t = the state before action t
    batch, nodes, _ = states.shape
    t = np.arange(nodes)[None, :]
    length = (~d["is_padding"]).sum(0)[:, None]  # actions, stop included: node `length` is terminal
    state = gfnx.HypergridEnvState(state=jnp.asarray(states), is_terminal=jnp.asarray(t >= length),
                                   is_initial=jnp.asarray(np.broadcast_to(t == 0, (batch, nodes))),
                                   is_pad=jnp.asarray(t >= length + 1))
    traj_data = types.SimpleNamespace(
        obs=jax.vmap(env.get_obs, in_axes=(1, None), out_axes=1)(state, env_params),
        state=state,
        action=jnp.asarray(np.concatenate([d["actions"].T, np.zeros((batch, 1), np.int32)], axis=1)),
        done=jnp.asarray(t >= length - 1),  # gfnx: the state after transition t is terminal
        pad=jnp.asarray(t >= length),  # gfnx: the state after transition t is padding
        log_gfn_reward=jnp.asarray(np.where(t == length - 1, d["log_rewards"][:, None], 0.0), jnp.float32),
    )
    loss_fn = run_gfnx.subtb_loss_fn(env, env_params, LAMBDA)  # what the benchmark's gfnx runs train
    params, static = eqx.partition(model, eqx.is_array)
    loss, grads = jax.value_and_grad(loss_fn)(params, static, traj_data)
    worst_grad = 0.0
    for i in range(DEPTH + 1):
        for name, theirs in (("w", grads.network.layers[i].weight), ("b", grads.network.layers[i].bias)):
            mine = d[f"g{name}{i}"]
            worst_grad = max(worst_grad, float(np.abs(np.asarray(theirs) - mine).max() / np.abs(mine).max()))
    loss_gap = abs(float(loss) - float(d["loss"])) / abs(float(d["loss"]))
    print(f"SubTB(lambda={LAMBDA}) on one batch of 16 trajectories, {DIM}D side {SIDE}, same weights: "
          f"gfn_teach {float(d['loss']):.7g}, gfnx baseline {float(loss):.7g} (relative difference "
          f"{loss_gap:.1e}); gradients: largest relative difference {worst_grad:.1e}")
    return 0 if loss_gap < 1e-5 and worst_grad < 1e-4 else 1


def main() -> int:
    if sys.argv[1:2] == ["--gfnx"]:
        return gfnx_side(sys.argv[2])
    if not os.path.exists(GFNX_PYTHON):
        sys.exit(f"missing {GFNX_PYTHON}: run `bash benchmarks/peers/setup_envs.sh gfnx`")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "batch.npz")
        ours(path)
        return subprocess.run([GFNX_PYTHON, os.path.abspath(__file__), "--gfnx", path]).returncode


if __name__ == "__main__":
    sys.exit(main())
