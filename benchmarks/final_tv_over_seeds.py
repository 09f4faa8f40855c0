"""Does a loss end at the same quality in gfn_teach and in a peer? Many seeds, one setting.

    .venv/bin/python benchmarks/final_tv_over_seeds.py --loss subtb --seeds 20 --peer gfnx

The 16x16 section of `make bench` decides each goal on 3 rounds, and its final exact TVs vary
several-fold from seed to seed in every library (SubTB, 20 seeds, 2026-12-05: 0.0068-0.0312 in
gfn_teach, 0.0073-0.0632 in gfnx), so 3 seeds cannot tell a better sampler from a luckier one. This runs that section's setting (2,000 steps of 16 trajectories, R0 = 0.1, the same network
and optimiser, compare.py's own runners) for seeds 0 .. N-1 in both libraries, alternating, and
prints each library's final exact TVs, their medians, in how many seeds gfn_teach ends lower, and
a two-sided Mann-Whitney U test of the two samples (scipy).
"""

from __future__ import annotations

import argparse
import os
import runpy
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def summary(loss: str, peer: str, ours: list[float], theirs: list[float]) -> str:
    """The printed comparison of two lists of final TVs (seed i of each side by side)."""
    from scipy.stats import mannwhitneyu

    lower = sum(a < b for a, b in zip(ours, theirs))
    p = mannwhitneyu(ours, theirs, alternative="two-sided").pvalue
    sorted_tvs = lambda tvs: " ".join(f"{v:.4f}" for v in sorted(tvs))
    return (f"{loss}, 16x16, {len(ours)} seeds: final exact TV median gfn_teach {statistics.median(ours):.4f}, "
            f"{peer} {statistics.median(theirs):.4f}; gfn_teach lower in {lower} of {len(ours)} seeds; "
            f"Mann-Whitney two-sided p = {p:.2f}\n  gfn_teach: {sorted_tvs(ours)}\n  {peer}: {sorted_tvs(theirs)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", choices=["tb", "db", "subtb"], default="subtb")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--peer", choices=["gfnx", "torchgfn"], default="gfnx")
    args = parser.parse_args()
    if args.seeds < 2:
        sys.exit(f"--seeds must be at least 2, got {args.seeds}")
    compare = runpy.run_path(os.path.join(HERE, "compare.py"), run_name="compare")
    if not os.path.exists(compare["command"](args.peer)[0]):
        sys.exit(f"missing {compare['command'](args.peer)[0]}: run `bash benchmarks/peers/setup_envs.sh`")
    evaluator = compare["TVEvaluator"](2, compare["SIDE_16"], "original")
    steps = compare["TRAJECTORIES_16"] // 16
    final = {"gfn_teach": [], args.peer: []}
    with tempfile.TemporaryDirectory() as workdir:
        for seed in range(args.seeds):
            for lib in final:
                result = compare["run_one"](lib, args.loss, 2, compare["SIDE_16"], steps, seed, workdir, steps,
                                            ["--reward", "original"])
                final[lib].append(evaluator(result["dumps"][-1]["file"]))
                os.remove(result["dumps"][-1]["file"])
    print(summary(args.loss, args.peer, final["gfn_teach"], final[args.peer]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
