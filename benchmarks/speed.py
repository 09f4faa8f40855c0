"""How fast is gfn_teach? Prints steps/second of training and the cost of exact evaluation.

    .venv/bin/python benchmarks/speed.py            # full run (a few minutes)
    .venv/bin/python benchmarks/speed.py --smoke    # a few steps, to check it still runs

Each figure is the median over ``--repeats`` timed calls of one compiled function, after
a first call that compiles it and 1600 steps of training (trained policies walk further
than fresh ones, and longer trajectories cost more). Training steps are timed without evaluation (a
``lax.scan`` of ``train_step`` only); the exact evaluation is timed on its own.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time

import equinox as eqx
import jax

import gfn_teach as g


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` (which must block until its result is ready)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def training_speed(
    config: g.TrainConfig, n_steps: int, repeats: int, warmup_steps: int = 0, n_seeds=None
) -> dict:
    """Compile seconds and steps/second of ``n_steps`` training steps without evaluation,
    timed after ``warmup_steps`` steps of training."""
    trainer = g.Trainer(config, n_seeds=n_seeds)

    def steps_only(state):
        arrays, static = eqx.partition(state, eqx.is_array)

        def body(arrays, _):
            new_state, loss = trainer.train_step(eqx.combine(arrays, static))
            return eqx.filter(new_state, eqx.is_array), loss

        arrays, losses = jax.lax.scan(body, arrays, None, length=n_steps)
        return eqx.combine(arrays, static), losses

    if n_seeds is not None:
        steps_only = eqx.filter_vmap(steps_only)
    run = eqx.filter_jit(steps_only)
    state = trainer.init(trainer.keys())
    start = time.perf_counter()
    state, losses = run(state)
    jax.block_until_ready(losses)
    compile_seconds = time.perf_counter() - start
    # Train a while first: a fresh policy stops almost at once, and short trajectories are
    # cheap. The timed steps then run at the trained policy's trajectory lengths.
    for _ in range(warmup_steps // n_steps):
        state, losses = run(state)
    jax.block_until_ready(losses)
    seconds = median_seconds(lambda: jax.block_until_ready(run(state)[1]), repeats)
    seeds = 1 if n_seeds is None else n_seeds
    return {
        "compile_s": compile_seconds,
        "steps_per_s": n_steps / seconds,
        "trajectories_per_s": n_steps * seeds * config.batch_size / seconds,
    }


def exact_evaluation_seconds(config: g.TrainConfig, repeats: int) -> float:
    """Median seconds of the exact terminal distribution (DP over every state)."""
    env = config.make_env()
    policy = g.MLPPolicy(env, jax.random.PRNGKey(0), config.hidden, config.depth)
    dp = eqx.filter_jit(lambda p: g.terminal_distribution(p, env))
    jax.block_until_ready(dp(policy))
    return median_seconds(lambda: jax.block_until_ready(dp(policy)), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny budget: checks that it runs")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    steps, repeats, warmup = (5, 1, 0) if args.smoke else (200, args.repeats, 1600)

    print(f"# gfn_teach speed, jax {jax.__version__} on {jax.devices()[0].platform}, "
          f"{platform.processor() or platform.machine()}, python {platform.python_version()}")
    print("| grid | loss | compile s | steps/s | exact DP s |")
    print("|---|---|---|---|---|")
    for dim in (2, 4):
        for loss in ("db", "tb") if not args.smoke else ("db",):
            config = g.TrainConfig(dim=dim, side=20, loss=loss, batch_size=16, hidden=256, depth=2)
            speed = training_speed(config, steps, repeats, warmup)
            dp = exact_evaluation_seconds(config, repeats)
            print(f"| {dim}D side 20 | {loss} | {speed['compile_s']:.1f} | {speed['steps_per_s']:.0f} | {dp:.3f} |")
    config = g.TrainConfig(dim=2, side=20, loss="db")
    one = training_speed(config, steps, repeats, warmup)
    eight = training_speed(config, steps, repeats, warmup, n_seeds=8)
    print(f"\nvmap over 8 seeds (2D DB): {eight['trajectories_per_s']:.0f} trajectories/s "
          f"vs {one['trajectories_per_s']:.0f} for one seed "
          f"({eight['trajectories_per_s'] / one['trajectories_per_s']:.1f}x)")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
