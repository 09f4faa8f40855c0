"""Drive gfn_teach on the hypergrid, for the side-by-side benchmark (same CLI and JSON as the peers).

Run in our own venv:

    .venv/bin/python benchmarks/run_ours.py \
        --loss tb --dim 2 --side 20 --steps 300 --seed 0 --out /tmp/ours.json --dump-every 100

By default the run uses the peers' set-up: uniform backward policy (--no-learn-backward) and
on-policy sampling (--epsilon-start 0). Our recommended set-up is

    --learn-backward --epsilon-start 1.0 --exploration-steps 1000

(learned P_B; epsilon decays linearly from 1 to 0 over the first 1000 steps).

Training is ``g.train_step`` (sample 16 trajectories, one Adam step) on the Trainer's loss
(``g.on_visited_rows`` of the config's loss, compiled for ``--row-buckets`` row counts; 1: the
plain loss on every row) under the library's XLA options for a run of ``--steps`` steps
(``compiler_options(steps)``: LLVM -O2 on a CPU, and XLA's classic fusion emitters up to 3,000
steps, as ``Trainer`` compiles; ``--options-for-steps`` for another run's, ``--xla-defaults``
for XLA's own), looped by a jitted ``jax.lax.fori_loop`` whose
bounds are traced values, exactly as the gfnx runner does, so one compiled executable runs
any number of steps. The library's own ``Trainer.run_chunk`` would add an exact evaluation
at the end of every chunk; it is not used here because peers are timed on training alone.

Timing: compile_seconds = wall time of the first call running step 1 only (trace + XLA
compile + one step). steps_per_second = (N-1) / wall time of the calls running steps 2..N
(one call per --dump-every steps, or one for all, each ended by block_until_ready). Dumps,
``g.policy_tables(policy, env).log_pf`` jitted once, happen between calls and are excluded.

Extras beyond the peers' JSON: peak_rss_mib (resource.getrusage, whole process),
config (the TrainConfig), and with --stop-tv X the run stops at the first dump whose exact
TV (our DP, computed between calls and excluded from train time) is <= X.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import resource
import sys
import time

# Benchmark the working tree's gfn_teach, whatever the venv's install points at.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import gfn_teach as g
from gfn_teach.speedups import compiler_options
from gfn_teach.trainer import ROW_BUCKETS


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loss", choices=["db", "tb", "subtb"], required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--side", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reward", choices=["easy", "original"], default="easy",
                   help="R0 = 1e-3 (easy) or 0.1 (original, torchgfn's default); R1 = 0.5, R2 = 2")
    p.add_argument("--subtb-lambda", type=float, default=0.9, help="SubTB only (torchgfn's default)")
    p.add_argument("--out", required=True)
    p.add_argument("--dump-every", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--logz-lr", type=float, default=1e-1, help="TB only (TrainConfig.lr_log_z)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--depth", type=int, default=2, help="hidden layers")
    p.add_argument("--learn-backward", action=argparse.BooleanOptionalAction, default=False,
                   help="learn P_B (default: uniform, as the peers)")
    p.add_argument("--epsilon-start", type=float, default=0.0,
                   help="exploration at step 0, decaying linearly to 0 (default 0: on-policy, as the peers)")
    p.add_argument("--exploration-steps", type=int, default=1000, help="steps over which epsilon decays")
    p.add_argument("--row-buckets", type=int, default=ROW_BUCKETS,
                   help="sizes the loss is compiled for (g.on_visited_rows); 1: every row, one size")
    p.add_argument("--xla-defaults", action="store_true",
                   help="compile with XLA's default options instead of the library's "
                        "(g.speedups.compiler_options(steps), as Trainer does)")
    p.add_argument("--options-for-steps", type=int, default=None,
                   help="compile with the library's options for a run of this many steps "
                        "(default: --steps; a compile-only run of a longer run's program)")
    p.add_argument("--stop-tv", type=float, default=None,
                   help="stop at the first dump whose exact TV <= this (needs --dump-every)")
    p.add_argument("--no-save-dumps", action="store_true",
                   help="do not write .npy tables (dumps still record exact_tv when --stop-tv is set)")
    args = p.parse_args()
    assert args.steps >= 2

    config = g.TrainConfig(
        dim=args.dim, side=args.side, reward=args.reward, loss=args.loss, steps=args.steps, batch_size=args.batch_size,
        hidden=args.hidden, depth=args.depth, lr=args.lr, lr_log_z=args.logz_lr,
        learn_backward=args.learn_backward, epsilon_start=args.epsilon_start, epsilon_end=0.0,
        exploration_steps=args.exploration_steps, seed=args.seed,
        **({"subtb_lambda": args.subtb_lambda} if args.loss == "subtb" else {}),
    )
    env = config.make_env()
    loss_fn = {"db": g.detailed_balance, "tb": g.trajectory_balance, "subtb": g.subtrajectory_balance}[args.loss]
    if args.row_buckets > 1:
        loss_fn = g.on_visited_rows(loss_fn, args.row_buckets)
    hparams = g.Hyperparams.from_config(config)
    state = g.init_state(config, env, jax.random.PRNGKey(config.seed))
    arrays, static = eqx.partition(state, eqx.is_array)

    def run_steps(arrays, lo, hi):
        def body(_, arrays):
            new_state, _loss = g.train_step(eqx.combine(arrays, static), hparams, env, loss_fn, config.batch_size)
            return eqx.filter(new_state, eqx.is_array)

        return jax.lax.fori_loop(lo, hi, body, arrays)

    planned_steps = args.steps if args.options_for_steps is None else args.options_for_steps
    options = {} if args.xla_defaults else compiler_options(planned_steps)
    run_steps = jax.jit(run_steps, donate_argnums=(0,), compiler_options=options)
    log_pf_table = eqx.filter_jit(lambda policy: g.policy_tables(policy, env).log_pf)
    if args.stop_tv is not None:
        target = env.true_distribution()
        exact_tv = jax.jit(lambda t: g.total_variation(target, g.terminal_distribution_from_log_pf(env, t)))

    base = os.path.splitext(args.out)[0] if args.out.endswith(".json") else args.out
    dumps = []

    def do_dump(step, train_seconds, arrays) -> bool:
        """Write the table; return True when --stop-tv is reached."""
        table = log_pf_table(eqx.combine(arrays, static).policy)
        row = {"step": step, "train_seconds": train_seconds}
        if not args.no_save_dumps:
            f = f"{base}.logpf_{step}.npy"
            np.save(f, np.asarray(table, dtype=np.float32))
            row["file"] = os.path.abspath(f)
        stop = False
        if args.stop_tv is not None:
            row["exact_tv"] = float(exact_tv(table))
            stop = row["exact_tv"] <= args.stop_tv
        dumps.append(row)
        return stop

    t0 = time.perf_counter()
    arrays = run_steps(arrays, jnp.int32(0), jnp.int32(1))
    jax.block_until_ready(arrays)
    compile_seconds = time.perf_counter() - t0
    train_seconds = compile_seconds
    stopped = False
    if args.dump_every == 1:
        stopped = do_dump(1, train_seconds, arrays)

    bounds = []
    if args.dump_every:
        bounds = [b for b in range(args.dump_every, args.steps, args.dump_every) if b > 1]
    bounds.append(args.steps)
    done, steady = 1, 0.0
    for b in bounds:
        if stopped:
            break
        t = time.perf_counter()
        arrays = run_steps(arrays, jnp.int32(done), jnp.int32(b))
        jax.block_until_ready(arrays)
        dt = time.perf_counter() - t
        steady += dt
        train_seconds += dt
        done = b
        if args.dump_every:
            stopped = do_dump(b, train_seconds, arrays)

    state = eqx.combine(arrays, static)
    result = {
        "library": "gfn_teach",
        "version": importlib.metadata.version("gfn_teach"),
        "jax_version": jax.__version__,
        "loss": args.loss,
        "dim": args.dim,
        "side": args.side,
        "steps": done,
        "steps_requested": args.steps,
        "stopped_at_tv": stopped,
        "seed": args.seed,
        "reward": args.reward,
        "subtb_lambda": args.subtb_lambda if args.loss == "subtb" else None,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "logz_lr": args.logz_lr if args.loss == "tb" else None,
        "learn_backward": args.learn_backward,
        "epsilon_start": args.epsilon_start,
        "exploration_steps": args.exploration_steps,
        "row_buckets": args.row_buckets,
        "compiler_options": options,
        "compile_seconds": compile_seconds,
        "steps_per_second": (done - 1) / steady,
        "total_train_seconds": train_seconds,
        "peak_rss_mib": peak_rss_mib(),
        "config": dataclasses.asdict(config),
        "dumps": dumps,
    }
    if args.loss == "tb":
        result["final_logZ"] = float(state.policy.log_z)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k not in ("dumps", "config")}))


if __name__ == "__main__":
    main()
