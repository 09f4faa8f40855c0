"""When do row buckets pay? Whole training runs with 1 and 8 row buckets, side by side.

    .venv/bin/python benchmarks/row_buckets.py      # the grid behind gfn_teach.cli.row_buckets_for
                                                    # (2D 20 x 20, DB; about 10 minutes)
    .venv/bin/python benchmarks/row_buckets.py --hidden 256 --steps 3000 --loss tb --repeats 3

Row buckets (``Trainer(..., row_buckets=8)``, :func:`gfn_teach.speedups.on_visited_rows`)
run the loss's network on the visited rows of a batch only: each step is faster, and the
program takes longer to compile. Whether a run ends sooner depends on its length and its
network, so this times whole runs, compile included, as the command line runs them: each in
a fresh process, ``Trainer(config, row_buckets=b).fit()``. Within a round the settings
alternate, so the machine's slow spells fall on all of them; the table gives, for each
setting, the median wall time over the rounds with its range, and the median compile time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import time


def one_run(hidden: int, steps: int, buckets: int, loss: str, dim: int, side: int) -> dict:
    """Train once in this process; wall and compile seconds, and the final exact TV."""
    import gfn_teach as g

    config = g.TrainConfig(dim=dim, side=side, reward="easy", loss=loss, hidden=hidden, steps=steps,
                           eval_every=max(100, steps // 20))
    start = time.perf_counter()
    result = g.Trainer(config, row_buckets=buckets).fit(progress=False)
    return {"wall": time.perf_counter() - start, "compile": result.compile_seconds,
            "exact_tv": float(result.history["exact_tv"][-1])}


def run_in_fresh_process(hidden: int, steps: int, buckets: int, loss: str, dim: int, side: int) -> dict:
    """:func:`one_run` in a new interpreter, so that no compiled program is reused."""
    argv = [sys.executable, __file__, "--one", *map(str, (hidden, steps, buckets, loss, dim, side))]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(runs: dict) -> str:
    """Markdown: one row per (hidden, steps, loss), one column per number of row buckets."""
    settings = sorted({key[:3] for key in runs})
    buckets = sorted({key[3] for key in runs})
    lines = ["| hidden | steps | loss | " + " | ".join(f"{b} bucket{'s' * (b > 1)}: wall s (range), compile s"
                                                    for b in buckets) + " |",
             "|---|---|---|" + "---|" * len(buckets)]
    for hidden, steps, loss in settings:
        cells = []
        for b in buckets:
            times = runs[(hidden, steps, loss, b)]
            wall = [t["wall"] for t in times]
            cells.append(f"{statistics.median(wall):.1f} ({min(wall):.1f}-{max(wall):.1f}), "
                         f"{statistics.median(t['compile'] for t in times):.1f}")
        lines.append(f"| {hidden} | {steps:,} | {loss} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--steps", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--loss", nargs="+", default=["db"])
    parser.add_argument("--buckets", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--side", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2, help="rounds; each runs every setting once")
    parser.add_argument("--one", nargs=6, metavar=("HIDDEN", "STEPS", "BUCKETS", "LOSS", "DIM", "SIDE"),
                        help=argparse.SUPPRESS)  # a single run, in this process (used by the rounds)
    args = parser.parse_args(argv)
    if args.one:
        hidden, steps, buckets, loss, dim, side = args.one
        print(json.dumps(one_run(int(hidden), int(steps), int(buckets), loss, int(dim), int(side))))
        return
    settings = list(itertools.product(args.hidden, args.steps, args.loss, args.buckets))
    runs = {setting: [] for setting in settings}
    for round_ in range(args.repeats):
        for hidden, steps, loss, buckets in settings:
            run = run_in_fresh_process(hidden, steps, buckets, loss, args.dim, args.side)
            runs[(hidden, steps, loss, buckets)].append(run)
            print(f"round {round_ + 1}: {hidden} units, {steps} steps, {loss}, {buckets} buckets: "
                  f"{run['wall']:.2f} s (compile {run['compile']:.2f} s)", file=sys.stderr)
    rounds = f"{args.repeats} round{'s' * (args.repeats > 1)}"
    print(f"Whole runs on the {args.dim}D grid of side {args.side}, {rounds}, {time.strftime('%Y-%m-%d %H:%M')}\n")
    print(table(runs))


if __name__ == "__main__":
    main()
