"""Does a loss end at the same quality in gfn_teach and in a peer? Many seeds, one setting.

    .venv/bin/python benchmarks/final_tv_over_seeds.py --loss subtb --seeds 20 --peer gfnx

The 16x16 section of `make bench` decides each goal on 3 rounds, and its final exact TVs vary
several-fold from seed to seed in every library (SubTB, 20 seeds, 2026-12-05: 0.0068-0.0312 in
gfn_teach, 0.0073-0.0632 in gfnx), so 3 seeds cannot tell a better sampler from a luckier one.
This runs that section's setting (2,000 steps of 16 trajectories, R0 = 0.1, the networks and
optimiser of compare.py's own runners) for seeds 0 .. N-1 in both libraries, alternating, and
prints each library's final exact TVs, their medians, in how many seeds gfn_teach ends lower, and
a two-sided Mann-Whitney U test of the two samples (scipy). It records them in
benchmarks/results/final_tv_over_seeds.json, under "<loss> <peer>" (a new run of the same pair
replaces the old record), where `compare.py` finds them for the report's 16x16 section.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import runpy
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDS = os.path.join(HERE, "results", "final_tv_over_seeds.json")


def comparison(peer: str, ours: list[float], theirs: list[float]) -> dict:
    """Two samples of final TVs (seed i of each side by side): both samples, their medians, in how
    many seeds gfn_teach is lower, and a two-sided Mann-Whitney U test's p."""
    from scipy.stats import mannwhitneyu

    return {
        "seeds": len(ours),
        "gfn_teach": ours,
        peer: theirs,
        "median_gfn_teach": statistics.median(ours),
        f"median_{peer}": statistics.median(theirs),
        "gfn_teach_lower": sum(a < b for a, b in zip(ours, theirs)),
        "p_two_sided": float(mannwhitneyu(ours, theirs, alternative="two-sided").pvalue),
    }


def summary(loss: str, peer: str, ours: list[float], theirs: list[float]) -> str:
    """The printed comparison of two lists of final TVs (seed i of each side by side)."""
    c = comparison(peer, ours, theirs)
    sorted_tvs = lambda tvs: " ".join(f"{v:.4f}" for v in sorted(tvs))
    return (f"{loss}, 16x16, {c['seeds']} seeds: final exact TV median gfn_teach {c['median_gfn_teach']:.4f}, "
            f"{peer} {c[f'median_{peer}']:.4f}; gfn_teach lower in {c['gfn_teach_lower']} of {c['seeds']} seeds; "
            f"Mann-Whitney two-sided p = {c['p_two_sided']:.2f}\n  gfn_teach: {sorted_tvs(ours)}\n  {peer}: {sorted_tvs(theirs)}")


def record(loss: str, peer: str, ours: list[float], theirs: list[float], when: datetime.datetime,
           path: str = RECORDS) -> dict:
    """Add this comparison to the records file, under "<loss> <peer>" (keeping the others);
    returns the record: the date and :func:`comparison`'s numbers."""
    entry = {"date": f"{when:%Y-%m-%d}", **comparison(peer, ours, theirs)}
    records = {}
    if os.path.exists(path):
        with open(path) as fh:
            records = json.load(fh)
    records[f"{loss} {peer}"] = entry
    with open(path, "w") as fh:
        json.dump(records, fh, indent=1, sort_keys=True)
        fh.write("\n")
    return entry


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
    record(args.loss, args.peer, final["gfn_teach"], final[args.peer], datetime.datetime.now())
    print(f"recorded in {os.path.relpath(RECORDS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
