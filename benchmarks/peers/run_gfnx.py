"""Drive gfnx (JAX) on the hypergrid through its own public API, for the side-by-side benchmark.

Run inside benchmarks/.envs/gfnx (see setup_envs.sh):

    benchmarks/.envs/gfnx/bin/python benchmarks/peers/run_gfnx.py \
        --loss tb --dim 2 --side 20 --steps 300 --seed 0 --out /tmp/gfnx.json --dump-every 100

Training follows gfnx's own hypergrid baselines (baselines/db_hypergrid.py,
baselines/tb_hypergrid.py and baselines/subtb_hypergrid.py in the gfnx repository): an equinox MLP policy, trajectories from
gfnx.utils.forward_rollout, losses written against gfnx's env API, and the training loop run
as a jitted jax.lax.fori_loop over train_step. Differences from those baselines, on purpose:
  * the backward policy is uniform (train_backward_policy=False: backward logits are zeros,
    masked by env.get_invalid_backward_mask), as in our library; the baselines' configs learn it;
  * no metrics module / logging callback inside the step (pure training work is timed);
  * TB uses the library's own gfnx.utils.forward_trajectory_log_probs for log PF / log PB.

Timing: compile_seconds = wall time of the first call of the jitted loop running step 1 only
(trace + XLA compile + one step). The loop's bounds are traced values, so that one compiled
executable then runs steps 2..N in chunks (one chunk per --dump-every, or one chunk for all);
steps_per_second = (N-1) / wall time of those chunks (each ended with block_until_ready).
Dumps happen between chunks and their time is excluded.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import json
import os
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import gfnx

HypergridEnvState = gfnx.HypergridEnvState

R1, R2 = 0.5, 2.0
R0 = {"easy": 1e-3, "original": 0.1}  # --reward


class MLPPolicy(eqx.Module):
    """The baselines' policy: one eqx.nn.MLP; DB adds one output for log F(s)."""

    network: eqx.nn.MLP
    n_fwd_actions: int
    n_bwd_actions: int
    with_flow: bool

    def __init__(self, input_size, n_fwd_actions, n_bwd_actions, hidden_size, depth, with_flow, key):
        self.n_fwd_actions = n_fwd_actions
        self.n_bwd_actions = n_bwd_actions
        self.with_flow = with_flow
        self.network = eqx.nn.MLP(
            in_size=input_size,
            out_size=n_fwd_actions + (1 if with_flow else 0),
            width_size=hidden_size,
            depth=depth,
            key=key,
        )

    def __call__(self, x):
        out = self.network(x)
        fwd = out[: self.n_fwd_actions]
        res = {
            "forward_logits": fwd,
            # uniform backward policy: constant logits, masked by the env
            "backward_logits": jnp.zeros((self.n_bwd_actions,), dtype=jnp.float32),
        }
        if self.with_flow:
            res["log_flow"] = out[self.n_fwd_actions]
        return res


def make_problem(args):
    reward_module = gfnx.GeneralHypergridRewardModule(R0=R0[args.reward], R1=R1, R2=R2)  # easy: EasyHypergridRewardModule
    env = gfnx.HypergridEnvironment(reward_module, dim=args.dim, side=args.side)
    env_params = env.init(jax.random.PRNGKey(1))
    return env, env_params


def subtb_loss_fn(env, env_params, subtb_lambda):
    """``subtb_loss(params, static, traj_data)`` of the gfnx baseline (module level so that
    benchmarks/peers/same_subtb.py can check it against gfn_teach's on one batch)."""

    def subtb_loss(params, static, traj_data):
        """SubTB(lambda) on the batch-first rollout [B, T+1], as gfnx's baselines/subtb_hypergrid.py
        defines it: transition t goes from node t to node t+1; the stop transition's target adds
        log R and its end node's flow counts 0; padded transitions are left out."""
        model = eqx.combine(params, static)
        out = jax.vmap(jax.vmap(model))(traj_data.obs)  # [B, T+1, ...]
        state = traj_data.state
        fwd_invalid = jax.vmap(env.get_invalid_mask, in_axes=(1, None), out_axes=1)(state, env_params)
        bwd_invalid = jax.vmap(env.get_invalid_backward_mask, in_axes=(1, None), out_axes=1)(state, env_params)
        action = traj_data.action[:, :-1]
        before = jax.tree.map(lambda x: x[:, :-1], state)
        after = jax.tree.map(lambda x: x[:, 1:], state)
        bwd_action = jax.vmap(env.get_backward_action, in_axes=(1, 1, 1, None), out_axes=1)(
            before, action, after, env_params
        )
        pad, done = traj_data.pad[:, :-1], traj_data.done[:, :-1]  # [B, T]
        log_pf = jax.nn.log_softmax(gfnx.utils.mask_logits(out["forward_logits"], fwd_invalid), axis=-1)
        log_pf = jnp.take_along_axis(log_pf[:, :-1], action[..., None], axis=-1)[..., 0]
        log_pb = jax.nn.log_softmax(gfnx.utils.mask_logits(out["backward_logits"], bwd_invalid), axis=-1)
        log_pb = jnp.take_along_axis(log_pb[:, 1:], bwd_action[..., None], axis=-1)[..., 0]
        log_pf = jnp.where(pad, 0.0, log_pf)
        log_pb = jnp.where(pad, 0.0, log_pb + traj_data.log_gfn_reward[:, :-1])
        log_flow = jnp.where(traj_data.pad, 0.0, out["log_flow"])  # [B, T+1]
        zero = jnp.zeros_like(log_pf[:, :1])
        cum_pf = jnp.concatenate([zero, jnp.cumsum(log_pf, axis=1)], axis=1)  # [B, T+1]
        cum_pb = jnp.concatenate([zero, jnp.cumsum(log_pb, axis=1)], axis=1)
        ends_done = jnp.concatenate([jnp.zeros_like(done[:, :1]), done], axis=1)
        start = log_flow - cum_pf + cum_pb  # pair (i, j): start[i] - end[j]
        end = jnp.where(ends_done, 0.0, log_flow) - cum_pf + cum_pb
        delta = start[:, :, None] - end[:, None, :]  # [B, i, j]
        n = log_flow.shape[1]
        i, j = jnp.arange(n)[:, None], jnp.arange(n)[None, :]
        ends_real = jnp.concatenate([jnp.zeros_like(pad[:, :1]), ~pad], axis=1)  # j >= 1, not padding
        weight = jnp.where((i < j) & ends_real[:, None, :], subtb_lambda ** (j - i).astype(jnp.float32), 0.0)
        return (jnp.sum(weight * delta**2, axis=(1, 2)) / jnp.sum(weight, axis=(1, 2))).mean()

    return subtb_loss


def build_train_step(env, env_params, optimizer, loss_kind, num_envs, subtb_lambda=0.9):
    def fwd_policy_fn_factory(static):
        def fwd_policy_fn(rng_key, env_obs, params):
            del rng_key
            model = eqx.combine(params, static)
            out = jax.vmap(model)(env_obs)
            return out["forward_logits"], out

        return fwd_policy_fn

    def db_loss(params, static, traj_data):
        model = eqx.combine(params, static)
        transitions = gfnx.utils.split_traj_to_transitions(traj_data)
        bwd_actions = env.get_backward_action(
            transitions.state, transitions.action, transitions.next_state, env_params
        )
        out = jax.vmap(model)(transitions.obs)
        fwd_logits = gfnx.utils.mask_logits(
            out["forward_logits"], env.get_invalid_mask(transitions.state, env_params)
        )
        fwd_logprobs = jnp.take_along_axis(
            jax.nn.log_softmax(fwd_logits, axis=-1), transitions.action[:, None], axis=-1
        ).squeeze(-1)
        next_out = jax.vmap(model)(transitions.next_obs)
        bwd_logits = gfnx.utils.mask_logits(
            next_out["backward_logits"],
            env.get_invalid_backward_mask(transitions.next_state, env_params),
        )
        bwd_logprobs = jnp.take_along_axis(
            jax.nn.log_softmax(bwd_logits, axis=-1), bwd_actions[:, None], axis=-1
        ).squeeze(-1)
        target = jnp.where(
            transitions.done, transitions.log_gfn_reward, bwd_logprobs + next_out["log_flow"]
        )
        return optax.l2_loss(
            jnp.where(transitions.pad, 0.0, fwd_logprobs + out["log_flow"]),
            jnp.where(transitions.pad, 0.0, target),
        ).mean()

    def tb_loss(params, static, traj_data, log_reward):
        model = eqx.combine(params["model"], static)
        out = jax.vmap(jax.vmap(model))(traj_data.obs)
        info = dict(traj_data.info)
        info["forward_logits"] = out["forward_logits"]
        info["backward_logits"] = out["backward_logits"]
        log_pf, log_pb = gfnx.utils.forward_trajectory_log_probs(
            env, traj_data.replace(info=info), env_params
        )
        return optax.losses.squared_error(params["logZ"] + log_pf, log_pb + log_reward).mean()

    subtb_loss = subtb_loss_fn(env, env_params, subtb_lambda)

    def train_step(idx, carry):
        del idx
        rng_key, params, opt_state, static = carry
        rng_key, traj_key = jax.random.split(rng_key)
        model_params = params["model"] if loss_kind == "tb" else params
        traj_data, log_info = gfnx.utils.forward_rollout(
            rng_key=traj_key,
            num_envs=num_envs,
            policy_fn=fwd_policy_fn_factory(static),
            policy_params=model_params,
            env=env,
            env_params=env_params,
        )
        if loss_kind == "tb":
            grads = jax.grad(tb_loss)(params, static, traj_data, log_info["log_gfn_reward"])
        elif loss_kind == "subtb":
            grads = jax.grad(subtb_loss)(params, static, traj_data)
        else:
            grads = jax.grad(db_loss)(params, static, traj_data)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return rng_key, params, opt_state, static

    return train_step


def all_states_logpf_fn(env, env_params, static, chunk):
    """Jitted: forward log-probs for `chunk` coordinate rows (invalid actions -> -inf)."""

    @jax.jit
    def f(model_params, coords):
        model = eqx.combine(model_params, static)
        n = coords.shape[0]
        st = HypergridEnvState(
            state=coords,
            is_terminal=jnp.zeros((n,), dtype=jnp.bool_),
            is_initial=jnp.all(coords == 0, axis=-1),
            is_pad=jnp.zeros((n,), dtype=jnp.bool_),
        )
        obs = env.get_obs(st, env_params)
        logits = jax.vmap(model)(obs)["forward_logits"]
        invalid = env.get_invalid_mask(st, env_params)
        logp = jax.nn.log_softmax(gfnx.utils.mask_logits(logits, invalid), axis=-1)
        return jnp.where(invalid, -jnp.inf, logp)

    return f


def dump_logpf(path, logpf_fn, model_params, dim, side, chunk):
    n_states = side**dim
    out = np.empty((n_states, dim + 1), dtype=np.float32)
    for start in range(0, n_states, chunk):
        idx = np.arange(start, start + chunk)
        valid = idx < n_states
        idx = np.where(valid, idx, 0)
        # row-major: index = sum_d x_d * side**(dim-1-d)
        coords = np.stack(np.unravel_index(idx, (side,) * dim), axis=-1).astype(np.int32)
        res = np.asarray(logpf_fn(model_params, jnp.asarray(coords)))
        stop = min(start + chunk, n_states)
        out[start:stop] = res[: stop - start]
    # gfnx action order: 0..dim-1 = "increment coordinate d", dim = stop -> same as ours.
    np.save(path, out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loss", choices=["db", "tb", "subtb"], required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--side", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reward", choices=sorted(R0), default="easy", help="R0 = 1e-3 (easy) or 0.1 (original)")
    p.add_argument("--subtb-lambda", type=float, default=0.9, help="SubTB only (torchgfn's default; gfnx's subtb_hypergrid.yaml uses 1.0)")
    p.add_argument("--out", required=True)
    p.add_argument("--dump-every", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--logz-lr", type=float, default=1e-1, help="TB only (gfnx tb_hypergrid.yaml: 0.1)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--depth", type=int, default=2, help="hidden layers (eqx.nn.MLP depth)")
    p.add_argument("--dump-chunk", type=int, default=8192)
    args = p.parse_args()
    assert args.steps >= 2

    env, env_params = make_problem(args)
    rng_key = jax.random.PRNGKey(args.seed)
    rng_key, net_key = jax.random.split(rng_key)
    model = MLPPolicy(
        input_size=env.observation_space.shape[0],
        n_fwd_actions=env.action_space.n,
        n_bwd_actions=env.backward_action_space.n,
        hidden_size=args.hidden,
        depth=args.depth,
        with_flow=args.loss in ("db", "subtb"),
        key=net_key,
    )
    model_params, static = eqx.partition(model, eqx.is_array)
    if args.loss == "tb":
        params = {"model": model_params, "logZ": jnp.array(0.0)}
        labels = {"model": jax.tree.map(lambda _: "net", model_params), "logZ": "logZ"}
        optimizer = optax.multi_transform(
            {"net": optax.adam(args.lr), "logZ": optax.adam(args.logz_lr)}, labels
        )
    else:
        params = model_params
        optimizer = optax.adam(args.lr)
    opt_state = optimizer.init(params)

    train_step = build_train_step(env, env_params, optimizer, args.loss, args.batch_size, args.subtb_lambda)

    # gfnx baseline style: fori_loop over train_step inside one jit, carry donated.
    @functools.partial(jax.jit, donate_argnums=(0,))
    def run_steps(carry_arrays, lo, hi):
        def body(i, c):
            rk, prm, opt = c
            rk, prm, opt, _ = train_step(i, (rk, prm, opt, static))
            return rk, prm, opt

        return jax.lax.fori_loop(lo, hi, body, carry_arrays)

    logpf_fn = all_states_logpf_fn(env, env_params, static, args.dump_chunk)
    base = os.path.splitext(args.out)[0] if args.out.endswith(".json") else args.out
    dumps = []

    def do_dump(step, train_seconds, carry):
        prm = carry[1]["model"] if args.loss == "tb" else carry[1]
        f = f"{base}.logpf_{step}.npy"
        dump_logpf(f, logpf_fn, prm, args.dim, args.side, args.dump_chunk)
        dumps.append({"step": step, "train_seconds": train_seconds, "file": os.path.abspath(f)})

    carry = (rng_key, params, opt_state)
    lo, hi = jnp.int32(0), jnp.int32(1)
    t0 = time.perf_counter()
    carry = run_steps(carry, lo, hi)
    jax.block_until_ready(carry)
    compile_seconds = time.perf_counter() - t0
    train_seconds = compile_seconds
    if args.dump_every and 1 % args.dump_every == 0:
        do_dump(1, train_seconds, carry)

    # chunk boundaries after step 1: multiples of dump_every, and the end
    bounds = []
    if args.dump_every:
        bounds = list(range(args.dump_every, args.steps, args.dump_every))
        bounds = [b for b in bounds if b > 1]
    bounds.append(args.steps)
    done = 1
    steady = 0.0
    for b in bounds:
        t = time.perf_counter()
        carry = run_steps(carry, jnp.int32(done), jnp.int32(b))
        jax.block_until_ready(carry)
        dt = time.perf_counter() - t
        steady += dt
        train_seconds += dt
        done = b
        if args.dump_every:
            do_dump(b, train_seconds, carry)

    result = {
        "library": "gfnx",
        "version": importlib.metadata.version("gfnx"),
        "jax_version": jax.__version__,
        "loss": args.loss,
        "dim": args.dim,
        "side": args.side,
        "steps": args.steps,
        "seed": args.seed,
        "reward": args.reward,
        "subtb_lambda": args.subtb_lambda if args.loss == "subtb" else None,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "logz_lr": args.logz_lr if args.loss == "tb" else None,
        "compile_seconds": compile_seconds,
        "steps_per_second": (args.steps - 1) / steady,
        "total_train_seconds": train_seconds,
        "dumps": dumps,
    }
    if args.loss == "tb":
        result["final_logZ"] = float(carry[1]["logZ"])
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "dumps"}))


if __name__ == "__main__":
    main()
