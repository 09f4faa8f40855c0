"""How fast is gfn_teach? Prints steps/second of training and the cost of exact evaluation.

    .venv/bin/python benchmarks/speed.py            # full run (a few minutes)
    .venv/bin/python benchmarks/speed.py --smoke    # a few steps, to check it still runs

Each figure is the median over ``--repeats`` timed calls of one compiled function, after
a first call that compiles it and 1600 steps of training (trained policies walk further
than fresh ones, and longer trajectories cost more). Training steps are timed without evaluation (a
``lax.scan`` of ``train_step`` only); the exact evaluation is timed on its own.

The last sections train 8 seeds at once, on one device and split over one CPU device per
core, and compare trajectories/second with one seed, with the ceiling on that ratio: 8 seeds
do at least 8 times one seed's arithmetic, so they cannot beat one seed by more than the
machine's peak FLOP/s over the FLOP/s that one seed already reaches. They also time two
one-seed Trainers fitted one after the other against the same two fitted side by side
(``g.fit_together``).
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
from gfn_teach.speedups import row_sizes, split_seeds_over
from gfn_teach.trainer import ROW_BUCKETS
from gfn_teach.train import scan_state


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` (which must block until its result is ready)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def training_speed(
    config: g.TrainConfig,
    n_steps: int,
    repeats: int,
    warmup_steps: int = 0,
    n_seeds: int | None = None,
    split_over_devices: bool = True,
) -> dict:
    """Compile seconds and steps/second of ``n_steps`` training steps without evaluation,
    timed after ``warmup_steps`` steps of training: the Trainer's loss (on the visited rows),
    state and seeds, its chunk without the evaluation."""
    trainer = g.Trainer(
        config, n_seeds=n_seeds, split_over_devices=split_over_devices, row_buckets=ROW_BUCKETS
    )

    def steps(state, hparams):
        step = lambda state: g.train_step(state, hparams, trainer.env, trainer.loss_fn, config.batch_size)
        return scan_state(step, state, n_steps)

    if n_seeds is not None:
        steps = eqx.filter_vmap(steps, in_axes=(eqx.if_array(0), None))
        if trainer.mesh is not None:
            steps = split_seeds_over(trainer.mesh, steps)
    run = eqx.filter_jit(steps)
    state = trainer.init(trainer.keys())
    start = time.perf_counter()
    state, losses = run(state, trainer.hparams)
    jax.block_until_ready(losses)
    compile_seconds = time.perf_counter() - start
    # Train a while first: a fresh policy stops almost at once, and short trajectories are
    # cheap. The timed steps then run at the trained policy's trajectory lengths.
    for _ in range(warmup_steps // n_steps):
        state, losses = run(state, trainer.hparams)
    jax.block_until_ready(losses)
    seconds = median_seconds(lambda: jax.block_until_ready(run(state, trainer.hparams)[1]), repeats)
    seeds = 1 if n_seeds is None else n_seeds
    return {
        "compile_s": compile_seconds,
        "steps_per_s": n_steps / seconds,
        "trajectories_per_s": n_steps * seeds * config.batch_size / seconds,
        "state": state,
        "trainer": trainer,
        "devices": 1 if trainer.mesh is None else trainer.mesh.size,
    }


def network_flops_per_step(trainer: g.Trainer, policy) -> float:
    """Floating-point operations of one training step's network calls (one seed).

    A layer of ``a`` inputs and ``b`` outputs costs ``2ab`` per row forward and ``4ab``
    backward (gradients of its weights and of its inputs; the first layer's inputs need
    none). On a batch sampled from ``policy``: the rollout runs the network on all
    ``batch_size`` rows until every trajectory has stopped, and the loss runs it forward and
    backward on the fewest packed rows that hold the visited nodes
    (:func:`gfn_teach.speedups.row_sizes`).
    Everything else (sampling, masks, Adam) is left out, so this undercounts.
    """
    config, env = trainer.config, trainer.env
    outputs = env.n_actions + 1 + (env.n_backward_actions if config.learn_backward else 0)
    widths = [env.obs_size] + [config.hidden] * config.depth + [outputs]
    layers = [a * b for a, b in zip(widths[:-1], widths[1:])]
    forward = 2 * sum(layers)
    backward = 4 * sum(layers) - 2 * layers[0]
    traj = g.forward_rollout(jax.random.PRNGKey(1), env, policy, config.batch_size)
    rollout_rows = int(traj.lengths.max()) * config.batch_size
    n_visited = int(g.visited_nodes(traj).sum())
    n_nodes = traj.states.shape[0] * traj.states.shape[1]
    loss_rows = min(n for n in row_sizes(n_nodes, trainer.row_buckets) if n >= n_visited)
    return forward * rollout_rows + (forward + backward) * loss_rows


def peak_flops(repeats: int, size: int = 2048) -> float:
    """FLOP/s of a large float32 matrix product, every core busy: the machine's ceiling.

    The fastest of ``repeats`` calls, not the median: a ceiling should not be noisy-low.
    """
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size))
    product = jax.jit(lambda a: a @ a)
    jax.block_until_ready(product(a))
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(product(a))
        seconds.append(time.perf_counter() - start)
    return 2 * size**3 / min(seconds)


def exact_evaluation_seconds(config: g.TrainConfig, repeats: int) -> float:
    """Median seconds of the exact terminal distribution (DP over every state)."""
    env = config.make_env()
    policy = g.MLPPolicy(env, jax.random.PRNGKey(0), config.hidden, config.depth)
    dp = eqx.filter_jit(lambda p: g.terminal_distribution(p, env))
    jax.block_until_ready(dp(policy))
    return median_seconds(lambda: jax.block_until_ready(dp(policy)), repeats)


def side_by_side_seconds(steps: int, repeats: int) -> tuple[float, float]:
    """Median wall times of two one-seed Trainers (TB and DB on the 2D grid, side 20) fitted
    one after the other, and fitted side by side with ``g.fit_together``, alternating; every
    program is compiled (on each device it runs on) before the timed calls."""
    configs = [g.TrainConfig(dim=2, side=20, loss=loss, steps=steps, eval_every=max(steps // 10, 1))
               for loss in ("tb", "db")]
    one_after_other = lambda: [g.Trainer(config).fit(progress=False) for config in configs]
    side_by_side = lambda: g.fit_together([g.Trainer(config) for config in configs], progress=False)
    one_after_other(), side_by_side()  # compile
    times = {one_after_other: [], side_by_side: []}
    for _ in range(repeats):
        for fit in times:
            start = time.perf_counter()
            fit()
            times[fit].append(time.perf_counter() - start)
    return statistics.median(times[one_after_other]), statistics.median(times[side_by_side])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny budget: checks that it runs")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    # One CPU device per core, for the 8 seeds split over the cores (a no-op when JAX has
    # already started, as when the tests run this script).
    g.use_every_cpu_core()
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
    together = training_speed(config, steps, repeats, warmup, n_seeds=8, split_over_devices=False)
    split = training_speed(config, steps, repeats, warmup, n_seeds=8)
    per_second = one["trajectories_per_s"]
    print(f"\nvmap over 8 seeds (2D DB), on one device: {together['trajectories_per_s']:.0f} "
          f"trajectories/s vs {per_second:.0f} for one seed "
          f"({together['trajectories_per_s'] / per_second:.1f}x)")
    print(f"vmap over 8 seeds (2D DB), split over {split['devices']} CPU devices (one per core): "
          f"{split['trajectories_per_s']:.0f} trajectories/s vs {per_second:.0f} for one seed "
          f"({split['trajectories_per_s'] / per_second:.1f}x)")
    sequential, together = side_by_side_seconds(steps * 5, repeats)
    print(f"two one-seed Trainers (2D DB and TB, {steps * 5} steps each): {sequential:.2f} s one after "
          f"the other, {together:.2f} s side by side with g.fit_together ({sequential / together:.1f}x)")
    flops = network_flops_per_step(one["trainer"], one["state"].policy)
    one_seed_rate, peak = flops * one["steps_per_s"], peak_flops(repeats)
    print(f"ceiling: one seed already computes at {one_seed_rate / 1e9:.0f} GFLOP/s "
          f"({flops / 1e6:.0f} MFLOP a step) of the {peak / 1e9:.0f} GFLOP/s that a 2048^3 "
          f"matrix product reaches on all cores here, so 8 seeds, with 8 times the arithmetic, "
          f"can be at most {peak / one_seed_rate:.1f} times faster in trajectories/s")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
