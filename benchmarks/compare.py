"""Side-by-side benchmark: gfn_teach vs gfnx vs torchgfn on the same hypergrid problem.

    make bench                                   # builds the peer venvs, then runs this
    .venv/bin/python benchmarks/compare.py       # full run (about 30 min on a quiet 2-core CPU)
    .venv/bin/python benchmarks/compare.py --quick   # 1 repeat, few steps: checks the plumbing
    .venv/bin/python benchmarks/compare.py --only-16 # the 16x16 section alone (about 17 min)

Problem, the same for all: hypergrid, "easy" reward (R0=1e-3, R1=0.5, R2=2), 16 trajectories a
step, MLP 256 wide with 2 hidden layers, Adam 1e-3 (log Z: 0.1), DB and TB, uniform P_B,
on-policy sampling. Every run is its own subprocess in its library's venv
(benchmarks/run_ours.py, benchmarks/peers/run_gfnx.py, benchmarks/peers/run_torchgfn.py) and
runs alternate between libraries (ours, gfnx, torchgfn, ours, gfnx, torchgfn, ...), with
the same seed within a round. Each run's peak resident memory comes from os.wait4.

Exact TV of every library is computed here, in our venv, by our DP
(g.terminal_distribution_from_log_pf) on the forward log-prob tables each runner dumps.

Sections of the report:
  1. 2D 20x20: steps/s after compilation, compile/start-up seconds, training seconds to reach
     exact TV <= 0.05 (first dump at or under it); gfn_teach also in its recommended config
     (learned P_B, epsilon 1 -> 0 over 1000 steps), clearly labelled.
  2. 4D 20^4: steps/s and compile seconds (a short run).
  3. gfn_teach alone on 20^4: steps and seconds to exact TV <= 0.1 (DB, TB), peak memory.
  4. benchmarks/speed.py (exact DP time on 20^4, vmap over 8 seeds).
  5. 2D 16x16 at 32,000 trajectories (torchgfn's 2026 notebook setting): TB, DB and SubTB,
     R0 = 0.1, every library; final exact TV, training seconds, and how much sooner gfn_teach
     reaches each peer's final TV (--only-16: this section alone, the rest from latest.json);
     then the DB run's compile time, gfn_teach (its default, and 2 row buckets) against gfnx,
     compile-only runs alternating (--only-compile-16: this part alone).
  0. Like-for-like comparisons first (runs of both libraries that learned); the ratios measured
     on runs that did not learn are listed and flagged (their trajectories are short).
  5. The targets, met or not (speed targets on runs that did not learn: not like-for-like).

Writes benchmarks/results/latest.md, a dated copy, latest.json (raw results) and refreshes
book/appendix_benchmarks.md (unless --no-book). --quick writes benchmarks/results/quick.md only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# Benchmark the working tree's gfn_teach, whatever the venv's install points at.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import jax.numpy as jnp
import numpy as np

import gfn_teach as g

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
APPENDIX = os.path.join(ROOT, "book", "appendix_benchmarks.md")
ENVS = os.path.join(ROOT, "benchmarks", ".envs")

LIBS = ("gfn_teach", "gfnx", "torchgfn")
PEERS = ("gfnx", "torchgfn")
OURS_REC = "gfn_teach (recommended)"
REC_FLAGS = ["--learn-backward", "--epsilon-start", "1.0", "--exploration-steps", "1000"]

TV_2D = 0.05
TV_4D = 0.1
# torchgfn's 2026 notebook setting: TB, DB and SubTB on a 16x16 grid for 32,000 trajectories.
SIDE_16, TRAJECTORIES_16, LOSSES_16 = 16, 32_000, ("tb", "db", "subtb")
LOSS_TITLES = {"tb": "TB", "db": "DB", "subtb": "SubTB"}
# gfn_teach's loss runs the network on the visited rows, compiled for this many row counts
# (Trainer's row_buckets). On the 2D grids 2 compile in about 60% of the time of 8 (the CLI's
# choice for long runs) and step as fast: measured on 20x20 DB, 3000 steps, 3 seeds,
# compile 1.66-1.83 s against 2.69-3.05 s, 302-341 steps/s against 332-367. The 4D runs keep 8,
# where an untrained policy's short trajectories fill a small share of the rows.
ROW_BUCKETS_2D, ROW_BUCKETS_4D = 2, 8
# The compile-time comparison of the 16x16 DB run: compile-only runs (2 steps), alternating, this
# many rounds; gfn_teach with the library's default (the loss on every row, as Trainer and
# g.train run it) and with the row buckets of the runs timed to a TV. Each variant by its label
# (run_one runs gfn_teach for a label that starts with its name, as for OURS_REC) and extra flags.
COMPILE_ROUNDS = 5
# gfn_teach compiles the 2,000-step runs' program (their XLA options), run for 2 steps.
_AS_THE_16X16_RUNS = ["--options-for-steps", str(TRAJECTORIES_16 // 16)]
COMPILE_VARIANTS = {
    "gfn_teach, library default (1 row bucket)": ["--row-buckets", "1", *_AS_THE_16X16_RUNS],
    f"gfn_teach, {ROW_BUCKETS_2D} row buckets (the runs above)": _AS_THE_16X16_RUNS,
    "gfnx": [],
}
# A run whose final exact TV is above this did not learn (a policy on one mode of four: 0.75).
LEARNED_TV = 0.3


def command(lib: str) -> list[str]:
    if lib.startswith("gfn_teach"):
        return [sys.executable, os.path.join(ROOT, "benchmarks", "run_ours.py")]
    script = {"gfnx": "run_gfnx.py", "torchgfn": "run_torchgfn.py"}[lib]
    return [os.path.join(ENVS, lib, "bin", "python"), os.path.join(ROOT, "benchmarks", "peers", script)]


# JAX's persistent compilation cache, as `make` sets it for its test runs (JAX_COMPILATION_CACHE_DIR
# and its JAX_PERSISTENT_CACHE_* settings). A run that loads its program from there compiles in
# a fraction of a second: the second and third rounds would time a cache lookup, for gfnx too.
COMPILATION_CACHE_SETTINGS = ("JAX_COMPILATION_CACHE_DIR", "JAX_ENABLE_COMPILATION_CACHE")


def cold_compile_environment(environ=None) -> dict:
    """The environment every benchmark run gets: ``environ`` (default ``os.environ``) without
    JAX's persistent compilation cache, so that each run compiles as a user's first run does."""
    environ = os.environ if environ is None else environ
    return {name: value for name, value in environ.items()
            if name not in COMPILATION_CACHE_SETTINGS and not name.startswith("JAX_PERSISTENT_CACHE_")}


def run_one(lib: str, loss: str, dim: int, side: int, steps: int, seed: int, workdir: str,
            dump_every: int = 0, extra: list[str] | None = None, log=None) -> dict:
    """One run in its own subprocess; returns its JSON plus wall time and peak RSS (os.wait4)."""
    name = re.sub(r"\W", "", lib.split()[0])  # the library, whatever the label adds
    tag = f"{name}{'_rec' if 'recommended' in lib else ''}_{dim}d_{loss}_s{seed}_{len(os.listdir(workdir))}"
    out = os.path.join(workdir, tag + ".json")
    cmd = command(lib) + ["--loss", loss, "--dim", str(dim), "--side", str(side), "--steps", str(steps),
                          "--seed", str(seed), "--out", out]
    if dump_every:
        cmd += ["--dump-every", str(dump_every)]
    cmd += extra or []
    if lib.startswith("gfn_teach") and "--row-buckets" not in cmd:
        cmd += ["--row-buckets", str(ROW_BUCKETS_2D if dim == 2 else ROW_BUCKETS_4D)]
    start = time.perf_counter()
    with open(os.path.join(workdir, tag + ".log"), "w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=cold_compile_environment(), stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        with open(os.path.join(workdir, tag + ".log")) as fh:
            tail = fh.read()[-3000:]
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")
    with open(out) as fh:
        result = json.load(fh)
    result["label"] = lib
    result["wall_seconds"] = wall
    result["child_peak_rss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux
    msg = (f"  {lib:24s} {dim}D {loss} seed {seed}: {result['steps_per_second']:8.1f} steps/s, "
           f"compile {result['compile_seconds']:5.2f} s, wall {wall:6.1f} s, "
           f"RSS {result['child_peak_rss_mib']:.0f} MiB")
    print(msg, flush=True)
    if log is not None:
        log.append(msg)
    return result


class TVEvaluator:
    """Exact TV of dumped forward log-prob tables, by our DP, against the exact target."""

    def __init__(self, dim: int, side: int, reward: str = "easy"):
        self.env = g.Hypergrid(dim, side, reward)
        target = self.env.true_distribution()
        env = self.env
        self._tv = jax.jit(lambda t: g.total_variation(target, g.terminal_distribution_from_log_pf(env, t)))

    def _table(self, path: str) -> jax.Array:
        table = np.load(path)
        assert table.shape == (self.env.n_states, self.env.dim + 1), (path, table.shape)
        return jnp.asarray(table, dtype=jnp.float32)

    def __call__(self, path: str) -> float:
        return float(self._tv(self._table(path)))

    def near_origin_mass(self, path: str) -> float:
        """Terminal mass of the policy on the orthant nearest the origin (all x_d < side/2)."""
        p = g.terminal_distribution_from_log_pf(self.env, self._table(path))
        near = jnp.all(2 * self.env.all_states() < self.env.side, axis=-1)
        return float(jnp.sum(jnp.where(near, p, 0.0)))


def first_dump_at_or_under(result: dict, tv: float) -> dict | None:
    """The run's first dump (exact evaluation) with exact TV <= ``tv``, or None."""
    return next((d for d in result["dumps"] if d["exact_tv"] <= tv), None)


def record_tv_reached(result: dict, threshold: float) -> None:
    """The step and training seconds of the first dump at or under ``threshold`` (None: never)."""
    hit = first_dump_at_or_under(result, threshold)
    result["tv_reached_step"] = hit["step"] if hit else None
    result["tv_reached_seconds"] = hit["train_seconds"] if hit else None


def add_tv(result: dict, evaluator: TVEvaluator, threshold: float) -> None:
    """Fill exact_tv on every dump and the first dump at or under ``threshold``."""
    for d in result["dumps"]:
        if "exact_tv" not in d:
            d["exact_tv"] = evaluator(d["file"])
    result["tv_threshold"] = threshold
    record_tv_reached(result, threshold)
    result["final_tv"] = result["dumps"][-1]["exact_tv"] if result["dumps"] else None
    last = result["dumps"][-1] if result["dumps"] else {}
    result["final_near_origin_mass"] = evaluator.near_origin_mass(last["file"]) if "file" in last else None


# ----------------------------------------------------------------------------- formatting
def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def fmt(x, digits=3):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if math.isinf(x):
        return "∞"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def ratio_str(r):
    if r is None or math.isnan(r):
        return "—"
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.2g}×"


def paired_ratio(ours: list[dict], peer: list[dict], key: str, higher_is_better: bool) -> float:
    """Median over rounds of the ratio ours/peer (speeds) or peer/ours (seconds): > 1 = ours better."""
    ratios = []
    for a, b in zip(ours, peer):
        va, vb = a[key], b[key]
        if not va or not vb:
            continue
        ratios.append(va / vb if higher_is_better else vb / va)
    return med(ratios)


def tv_time_cell(runs: list[dict]) -> str:
    """Median training seconds to the threshold; unreached runs count as infinitely slow."""
    times = [r["tv_reached_seconds"] if r["tv_reached_seconds"] is not None else math.inf for r in runs]
    steps = [r["tv_reached_step"] if r["tv_reached_step"] is not None else math.inf for r in runs]
    reached = sum(t < math.inf for t in times)
    m, ms = statistics.median(times), statistics.median(steps)
    if math.isinf(m):
        return f"not reached in {runs[0]['steps']} steps ({reached}/{len(runs)} runs reached)"
    note = "" if reached == len(runs) else f" ({reached}/{len(runs)} runs reached)"
    return f"{fmt(m)} s (step {int(ms)}){note}"


def tv_ratio_cell(ours: list[dict], peer: list[dict]) -> str:
    """Median over rounds of peer seconds / ours seconds; a lower bound when the peer never got there."""
    ratios, bound = [], False
    for a, b in zip(ours, peer):
        ta, tb = a["tv_reached_seconds"], b["tv_reached_seconds"]
        if ta is None:
            continue
        if tb is None:
            ratios.append(b["total_train_seconds"] / ta)
            bound = True
        else:
            ratios.append(tb / ta)
    if not ratios:
        return "—"
    return (">" if bound else "") + ratio_str(med(ratios))


def not_learned(runs: list[dict]) -> str | None:
    """Why these runs' speed is not like-for-like (they did not learn), or None if they learned.

    gfn_teach skips the network once every trajectory has stopped and torchgfn stops sampling
    when every trajectory has ended, while gfnx always rolls out the maximal length: on a
    policy that stops early (untrained, or collapsed onto the origin's corner), the first two
    look faster than they are on a policy that samples the target.
    """
    finals = [x.get("final_tv") for x in runs]
    if any(v is None for v in finals):  # a speed-only run: no TV, a few steps from initialisation
        return f"untrained ({med([x['steps'] for x in runs]):.0f} steps)"
    tv = med(finals)
    return None if tv <= LEARNED_TV else f"did not learn (final TV {fmt(tv)})"


def like_for_like(ours: list[dict], peer: list[dict]) -> str | None:
    """None when both libraries' runs learned the same distribution (final TVs within a factor
    2), the nearest the raw results come to matched trajectory lengths; else why not."""
    peer_name = peer[0]["library"]
    reasons = [f"{lib} {why}" for lib, why in (("gfn_teach", not_learned(ours)), (peer_name, not_learned(peer))) if why]
    if reasons:
        return "; ".join(reasons)
    tv_ours, tv_peer = med([x["final_tv"] for x in ours]), med([x["final_tv"] for x in peer])
    if max(tv_ours, tv_peer) > 2 * min(tv_ours, tv_peer):
        return f"final TVs differ (gfn_teach {fmt(tv_ours)}, {peer_name} {fmt(tv_peer)} after {med([x['steps'] for x in peer]):.0f} steps)"
    return None


def machine_info() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                    break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "memory": mem, "python": platform.python_version(),
            "platform": platform.platform()}


def load_str():
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


# ----------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 repeat, few steps (development)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each library per setting")
    p.add_argument("--side", type=int, default=20)
    p.add_argument("--steps-2d", type=int, default=3000, help="2D run length (TV-time cut-off)")
    p.add_argument("--steps-2d-torchgfn", type=int, default=600,
                   help="torchgfn's 2D run length (its eager steps are slow: capped for time; "
                        "0 = same as --steps-2d)")
    p.add_argument("--dump-every-2d", type=int, default=100)
    p.add_argument("--steps-4d", type=int, default=80, help="4D speed-run length")
    p.add_argument("--steps-4d-tv", type=int, default=8000, help="max steps of our 4D TV run")
    p.add_argument("--dump-every-4d-tv", type=int, default=500)
    p.add_argument("--dump-every-16", type=int, default=100,
                   help="16x16 section: exact TV every this many steps (its run length is "
                        f"{TRAJECTORIES_16:,} trajectories / 16 a step)")
    p.add_argument("--only-16", action="store_true",
                   help="run the 16x16 section alone; the other sections come from results/latest.json")
    p.add_argument("--only-compile-16", action="store_true",
                   help="run the 16x16 DB compile comparison alone; the rest comes from results/latest.json")
    p.add_argument("--skip-speed-py", action="store_true")
    p.add_argument("--speed-repeats", type=int, default=3, help="speed.py --repeats")
    p.add_argument("--no-book", action="store_true", help="do not refresh book/appendix_benchmarks.md")
    p.add_argument("--keep", action="store_true", help="keep the run directory (JSON, logs, dumps)")
    p.add_argument("--report-from", metavar="JSON", help="only rewrite the report from saved raw results")
    args = p.parse_args()
    if args.report_from:
        with open(args.report_from) as fh:
            write_report(json.load(fh), book=not args.no_book)
        return
    if args.quick:
        args.repeats, args.steps_2d, args.steps_2d_torchgfn, args.dump_every_2d = 1, 200, 100, 50
        args.steps_4d, args.steps_4d_tv, args.dump_every_4d_tv = 20, 1000, 500
        args.dump_every_16 = 50

    for lib in PEERS:
        if not os.path.exists(command(lib)[0]):
            sys.exit(f"missing {command(lib)[0]}: run `bash benchmarks/peers/setup_envs.sh` (or `make bench`)")

    if args.only_16 or args.only_compile_16:
        flag = "--only-16" if args.only_16 else "--only-compile-16"
        saved = os.path.join(RESULTS, "latest.json")
        if not os.path.exists(saved):
            sys.exit(f"{flag} needs {saved} from a full run for the other sections: run without it")
        with open(saved) as fh:
            raw = json.load(fh)
        workdir = tempfile.mkdtemp(prefix="gfn_bench_")
        if args.only_16:
            raw["grid16"] = run_grid16(args, workdir)
        else:
            raw["grid16"]["compile"] = run_compile16(COMPILE_ROUNDS, workdir)
        write_results(raw, args, workdir)
        return

    started = datetime.datetime.now()
    load_start = load_str()
    machine = machine_info()
    workdir = tempfile.mkdtemp(prefix="gfn_bench_")
    print(f"[compare] run directory {workdir}; load average at start {load_start}", flush=True)
    log: list[str] = []
    side, R = args.side, args.repeats
    ev2 = TVEvaluator(2, side)
    runs2 = {loss: {lib: [] for lib in LIBS + (OURS_REC,)} for loss in ("db", "tb")}
    runs4 = {loss: {lib: [] for lib in LIBS} for loss in ("db", "tb")}

    # 1. 2D, alternating: ours, gfnx, torchgfn, ours (recommended), then the next round.
    print(f"[compare] 2D {side}x{side}: {R} rounds of {args.steps_2d} steps", flush=True)
    for r in range(R):
        for loss in ("db", "tb"):
            for lib in LIBS + (OURS_REC,):
                # the recommended configuration is ours only: stop it at the threshold to save time
                extra = REC_FLAGS + ["--stop-tv", str(TV_2D)] if lib == OURS_REC else None
                steps = args.steps_2d_torchgfn if lib == "torchgfn" and args.steps_2d_torchgfn else args.steps_2d
                res = run_one(lib, loss, 2, side, steps, r, workdir, args.dump_every_2d, extra, log)
                add_tv(res, ev2, TV_2D)
                runs2[loss][lib].append(res)

    # 2. 4D speed, alternating, no dumps.
    print(f"[compare] 4D {side}^4: {R} rounds of {args.steps_4d} steps", flush=True)
    for r in range(R):
        for loss in ("db", "tb"):
            for lib in LIBS:
                # A speed probe of the long 4D runs below: their program, with their XLA options.
                extra = ["--options-for-steps", str(args.steps_4d_tv)] if lib == "gfn_teach" else []
                runs4[loss][lib].append(run_one(lib, loss, 4, side, args.steps_4d, r, workdir, 0, extra, log))

    # 3. ours alone, 4D to TV <= 0.1 (TV by the same DP, in the runner, between chunks).
    print(f"[compare] gfn_teach 4D to TV <= {TV_4D} (<= {args.steps_4d_tv} steps)", flush=True)
    long4 = {}
    for loss in ("db", "tb"):
        res = run_one(OURS_REC, loss, 4, side, args.steps_4d_tv, 0, workdir, args.dump_every_4d_tv,
                      REC_FLAGS + ["--stop-tv", str(TV_4D), "--no-save-dumps"], log)
        record_tv_reached(res, TV_4D)
        long4[loss] = res

    # 4. speed.py
    speed_out = ""
    if not args.skip_speed_py:
        print("[compare] benchmarks/speed.py" + (" --smoke" if args.quick else ""), flush=True)
        cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "speed.py")]
        cmd += ["--smoke"] if args.quick else ["--repeats", str(args.speed_repeats)]
        speed_out = subprocess.run(cmd, cwd=ROOT, env=cold_compile_environment(), check=True,
                                   capture_output=True, text=True).stdout
        print(speed_out, flush=True)

    load_end = load_str()
    finished = datetime.datetime.now()

    raw = {"machine": machine, "load_start": load_start, "load_end": load_end, "quick": args.quick,
           "started": started.isoformat(), "finished": finished.isoformat(), "args": vars(args),
           "runs_2d": runs2, "runs_4d": runs4, "long_4d": long4, "speed_py": speed_out, "log": log}
    # 5. torchgfn's notebook setting: 16x16, 32,000 trajectories, TB / DB / SubTB.
    raw["grid16"] = run_grid16(args, workdir)
    write_results(raw, args, workdir)


def write_results(raw: dict, args, workdir: str) -> None:
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "quick.json" if args.quick else "latest.json"), "w") as fh:
        json.dump(raw, fh, indent=1, default=str)
    write_report(raw, book=not args.no_book, quick=args.quick)
    if args.keep:
        print(f"[compare] kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def run_grid16(args, workdir: str) -> dict:
    """TB, DB and SubTB on 16x16 with R0 = 0.1 (torchgfn's default reward), 32,000 trajectories
    (2,000 steps of 16; --quick: 200), each library alternating, exact TV every --dump-every-16 steps."""
    steps = 200 if args.quick else TRAJECTORIES_16 // 16
    started, load_start = datetime.datetime.now(), load_str()
    evaluator = TVEvaluator(2, SIDE_16, "original")
    runs = {loss: {lib: [] for lib in LIBS} for loss in LOSSES_16}
    log: list[str] = []
    print(f"[compare] 2D {SIDE_16}x{SIDE_16}, R0 = 0.1: {args.repeats} rounds of {steps} steps", flush=True)
    for r in range(args.repeats):
        for loss in LOSSES_16:
            for lib in LIBS:
                res = run_one(lib, loss, 2, SIDE_16, steps, r, workdir, args.dump_every_16,
                              ["--reward", "original"], log)
                add_tv(res, evaluator, TV_2D)
                runs[loss][lib].append(res)
    compile16 = run_compile16(1 if args.quick else COMPILE_ROUNDS, workdir)
    finished, load_end = datetime.datetime.now().isoformat(), load_str()
    return {"started": started.isoformat(), "finished": finished, "load_start": load_start,
            "load_end": load_end, "steps": steps, "runs": runs, "log": log,
            "same_subtb": same_subtb(), "compile": compile16}


def run_compile16(rounds: int, workdir: str) -> dict:
    """Compile-only runs (2 steps) of the 16x16 DB setting, each variant of COMPILE_VARIANTS in
    turn, ``rounds`` times: the compile seconds of each, by variant."""
    print(f"[compare] 2D {SIDE_16}x{SIDE_16} DB compile: {rounds} rounds", flush=True)
    started, load_start = datetime.datetime.now().isoformat(), load_str()
    seconds = {name: [] for name in COMPILE_VARIANTS}
    log: list[str] = []
    for r in range(rounds):
        for name, extra in COMPILE_VARIANTS.items():
            res = run_one(name, "db", 2, SIDE_16, 2, r, workdir, 0, ["--reward", "original", *extra], log)
            seconds[name].append(res["compile_seconds"])
    return {"started": started, "load_start": load_start, "load_end": load_str(), "rounds": rounds,
            "seconds": seconds, "log": log}


def same_subtb() -> dict:
    """benchmarks/peers/same_subtb.py: gfn_teach's SubTB loss and gradient against the gfnx
    baseline's, on one batch and one set of weights (its printed line and exit status)."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "peers", "same_subtb.py")],
                          cwd=ROOT, env=cold_compile_environment(), capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("SubTB(")]
    return {"returncode": done.returncode, "line": lines[-1] if lines else done.stderr.strip()[-300:]}


# Where each library's log F (DB, SubTB) comes from: torchgfn's examples give it a second network
# of the policy's size, gfn_teach and gfnx one more output of the policy's.
NETWORKS = ("for P_F; for DB and SubTB, gfn_teach and gfnx give it one more output, log F(s), while "
            "torchgfn, as in its examples, learns log F with a second MLP of the same size")


def write_report(raw: dict, book: bool = True, quick: bool | None = None) -> None:
    """Markdown report from the raw results (also: `compare.py --report-from latest.json`)."""
    args = argparse.Namespace(**raw["args"])
    if quick is not None:
        args.quick = quick
    machine, load_start, load_end = raw["machine"], raw["load_start"], raw["load_end"]
    runs2, runs4, long4, speed_out = raw["runs_2d"], raw["runs_4d"], raw["long_4d"], raw["speed_py"]
    started = datetime.datetime.fromisoformat(raw["started"])
    finished = datetime.datetime.fromisoformat(raw["finished"])
    R, side = args.repeats, args.side
    log = [line for line in raw.get("log", [])]
    # ------------------------------------------------------------------ report
    versions = {}
    for loss in runs2:
        for lib in LIBS:
            r0 = runs2[loss][lib][0]
            v = f"{r0['library']} {r0['version']}"
            if "jax_version" in r0:
                v += f" (jax {r0['jax_version']})"
            if "torch_version" in r0:
                v += f" (torch {r0['torch_version']}, {r0.get('torch_threads')} thread)"
            versions[lib] = v
    L = []
    L.append(f"Run {started:%Y-%m-%d %H:%M} – {finished:%H:%M} ({(finished - started).total_seconds() / 60:.0f} min)"
             + (", **quick mode** (1 repeat, few steps: not for quoting)" if args.quick else "") + ".")
    L.append("")
    L.append("| machine | |")
    L.append("|---|---|")
    L.append(f"| CPU | {machine['cpu']}, {machine['cores']} cores |")
    L.append(f"| memory | {machine['memory']} |")
    L.append(f"| load average (1/5/15 min) at start | {load_start} |")
    L.append(f"| load average (1/5/15 min) at end | {load_end} |")
    L.append(f"| Python | {machine['python']} ({machine['platform']}) |")
    for lib in LIBS:
        L.append(f"| {lib} | {versions[lib]} |")
    L.append("")
    L.append(f"Same problem for all: hypergrid with the easy reward (R0 = 1e-3, R1 = 0.5, R2 = 2), "
             f"16 trajectories a step, MLP with 2 hidden layers of 256 ({NETWORKS}), Adam 1e-3 (log Z 0.1), "
             f"uniform backward policy, on-policy sampling. Each run is its own process; runs alternate "
             f"between libraries (gfn_teach, gfnx, torchgfn, ...) with the same seed within a round; "
             f"{R} run(s) of each. Cells are medians over the runs; ratios are medians over rounds of the "
             f"pairwise ratio, written so that **> 1× means gfn_teach is better** "
             f"(steps/s: ours / peer; seconds: peer / ours). Steps/s exclude compilation (step 1) "
             f"and dumps; compile = wall time of step 1 (trace + compile + one step; torchgfn: "
             f"first eager step). Peak memory: resident set of the whole run process (os.wait4).")
    L.append("")

    def speed_table(runs, title):
        L.append(title)
        L.append("")
        L.append("| loss | library | steps/s | ratio (steps/s) | compile s | ratio (compile) | peak RSS MiB | runs learned? |")
        L.append("|---|---|---|---|---|---|---|---|")
        for loss in ("db", "tb"):
            ours = runs[loss]["gfn_teach"]
            for lib in LIBS:
                rs = runs[loss][lib]
                sps = med([x["steps_per_second"] for x in rs])
                cs = med([x["compile_seconds"] for x in rs])
                rss = med([x["child_peak_rss_mib"] for x in rs])
                if lib == "gfn_teach":
                    r1 = r2 = "1 (ref.)"
                else:
                    r1 = ratio_str(paired_ratio(ours, rs, "steps_per_second", True))
                    r2 = ratio_str(paired_ratio(ours, rs, "compile_seconds", False))
                    if like_for_like(ours, rs):
                        r1 += " ⚠"
                why = not_learned(rs)
                learned = f"**no**: {why}" if why else f"yes (final TV {fmt(med([x['final_tv'] for x in rs]))})"
                L.append(f"| {loss.upper()} | {lib} | {fmt(sps)} | {r1} | {fmt(cs)} | {r2} | {fmt(rss)} | {learned} |")
        L.append("")
        L.append("⚠: not like-for-like (runs that did not learn, or learned to different final TVs; "
                 "see the first section).")
        L.append("")

    tg_steps = args.steps_2d_torchgfn or args.steps_2d
    # ---- lead: the like-for-like comparisons, then the others, flagged
    L.append("## Like-for-like comparisons first")
    L.append("")
    L.append(f"A speed ratio compares libraries fairly only when their runs sample trajectories of the "
             f"same lengths. gfn_teach skips the network once every trajectory of the batch has stopped "
             f"(and its loss runs it on the visited states only), torchgfn stops sampling when every "
             f"trajectory has ended, while gfnx always rolls out the maximal length. A run that did not "
             f"learn (an untrained policy, or one collapsed onto the corner at the origin) stops early, "
             f"so it makes gfn_teach and torchgfn look faster than they are on a policy that samples "
             f"the target. The raw results do not record trajectory lengths; the nearest thing to "
             f"matched lengths is a pair of runs that both learned the same distribution (final exact "
             f"TV ≤ {LEARNED_TV} for both, within a factor 2 of each other), and the fairest figure is the training "
             f"time to a given exact TV, which compares outcomes rather than steps.")
    L.append("")
    L.append("| comparison (2D, both libraries learned the same distribution) | gfn_teach | peer | ratio (> 1×: gfn_teach better) |")
    L.append("|---|---|---|---|")
    matched = 0
    for loss in ("db", "tb"):
        ours = runs2[loss]["gfn_teach"]
        for lib in PEERS:
            rs = runs2[loss][lib]
            if like_for_like(ours, rs):
                continue
            matched += 1
            L.append(f"| {loss.upper()} vs {lib}: steps/s | {fmt(med([x['steps_per_second'] for x in ours]))} "
                     f"(final TV {fmt(med([x['final_tv'] for x in ours]))}) | "
                     f"{fmt(med([x['steps_per_second'] for x in rs]))} (final TV {fmt(med([x['final_tv'] for x in rs]))}) | "
                     f"{ratio_str(paired_ratio(ours, rs, 'steps_per_second', True))} |")
            L.append(f"| {loss.upper()} vs {lib}: training seconds to exact TV ≤ {TV_2D} | {tv_time_cell(ours)} | "
                     f"{tv_time_cell(rs)} | {tv_ratio_cell(ours, rs)} |")
    if not matched:
        L.append("| (none: no pair of runs where both libraries learned) | | | |")
    L.append("")
    flagged = []
    for runs, grid in ((runs2, "2D"), (runs4, "4D")):
        for loss in ("db", "tb"):
            ours = runs[loss]["gfn_teach"]
            for lib in PEERS:
                why = like_for_like(ours, runs[loss][lib])
                if why:
                    ratio = ratio_str(paired_ratio(ours, runs[loss][lib], "steps_per_second", True))
                    flagged.append(f"{grid} {loss.upper()} vs {lib} ({ratio}: {why})")
    if flagged:
        L.append("Not like-for-like, so not evidence of speed on a learned policy: the steps/s ratios of "
                 + "; ".join(flagged) + ". To compare those fairly, each runner would have to record "
                 "the mean number of actions per sampled trajectory (or every library would have to "
                 "time the same fixed policy, e.g. the exact one, so that all roll out trajectories "
                 "of the same lengths).")
        L.append("")

    L.append(f"## 2D {side}×{side}: speed ({args.steps_2d} steps a run"
             + (f"; torchgfn {tg_steps}, capped for time" if tg_steps != args.steps_2d else "") + ")")
    L.append("")
    speed_table(runs2, "Same configuration for all (gfn_teach with uniform P_B, epsilon 0)."
                + options_sentence(runs2["db"]["gfn_teach"][0], args.steps_2d))
    L.append(f"## 2D {side}×{side}: training seconds to exact TV ≤ {TV_2D}")
    L.append("")
    L.append(f"Exact TV between the target and each library's policy, by gfn_teach's DP on the dumped "
             f"forward log-prob table, every {args.dump_every_2d} steps; the time is the training time "
             f"(compile included, dumps excluded) at the first dump with TV ≤ {TV_2D}. Runs that never "
             f"got there count as infinitely slow in the median. The ratio for a peer that never got "
             f"there is a lower bound (its whole training time / ours).")
    L.append("")
    L.append("| loss | library / configuration | seconds to TV ≤ 0.05 (step) | ratio | final TV (median) |")
    L.append("|---|---|---|---|---|")
    for loss in ("db", "tb"):
        ours = runs2[loss]["gfn_teach"]
        for lib in LIBS + (OURS_REC,):
            rs = runs2[loss][lib]
            name = {"gfn_teach": "gfn_teach, peers' configuration",
                    OURS_REC: "gfn_teach, recommended (learned P_B, epsilon 1 → 0 over 1000 steps)"}.get(lib, lib)
            ratio = {"gfn_teach": "1 (ref.)", OURS_REC: "—"}.get(lib) or tv_ratio_cell(ours, rs)
            L.append(f"| {loss.upper()} | {name} | {tv_time_cell(rs)} | {ratio} | "
                     f"{fmt(med([x['final_tv'] for x in rs]))} |")
    L.append("")
    for loss in ("db", "tb"):
        finals = {lib: med([x["final_tv"] for x in runs2[loss][lib]]) for lib in LIBS}
        if all(v > 0.5 for v in finals.values()):
            near = {lib: med([x.get("final_near_origin_mass") for x in runs2[loss][lib]]) for lib in LIBS}
            L.append(f"In the peers' configuration (on-policy, uniform P_B), {loss.upper()} got stuck in every "
                     f"library: final exact TV {', '.join(f'{k} {fmt(v)}' for k, v in finals.items())}, with "
                     f"a terminal mass of {', '.join(f'{fmt(v)}' for v in near.values())} (same order) on the "
                     f"quarter of the grid nearest the origin, which holds 1/4 of the target. Mass that "
                     f"stops early means short trajectories, which make the steps of torchgfn (its "
                     f"sampler stops when every trajectory has ended) and of gfn_teach (its rollout "
                     f"skips the network once every trajectory has stopped, and its loss runs the "
                     f"network on the visited states only) cheaper, while gfnx always rolls out the "
                     f"maximal length.")
            L.append("")
    L.append(f"Ratios in this table compare with gfn_teach in the peers' configuration. "
             f"The recommended configuration trains a different objective (learned P_B) with "
             f"exploration, so it is listed for information, with the same time base.")
    L.append("")
    L.append(f"## 4D {side}^4: speed ({args.steps_4d} steps a run)")
    L.append("")
    speed_table(runs4, "Same configuration for all." + options_sentence(runs4["db"]["gfn_teach"][0], args.steps_4d_tv))
    L.append(f"## gfn_teach alone on 4D {side}^4: reaching exact TV ≤ {TV_4D}")
    L.append("")
    L.append(f"Recommended configuration (learned P_B, epsilon 1 → 0 over 1000 steps), seed 0, exact TV "
             f"over all {side ** 4:,} states every {args.dump_every_4d_tv} steps (not timed), up to "
             f"{args.steps_4d_tv} steps.")
    L.append("")
    L.append("| loss | steps to TV ≤ 0.1 | training seconds | last TV | steps/s | peak RSS MiB (with exact evaluation) |")
    L.append("|---|---|---|---|---|---|")
    for loss in ("db", "tb"):
        res = long4[loss]
        st = res["tv_reached_step"]
        reached = st if st else "not reached in " + str(res["steps"])
        L.append(f"| {loss.upper()} | {reached} | "
                 f"{fmt(res['tv_reached_seconds']) if st else fmt(res['total_train_seconds'])} | "
                 f"{fmt(res['dumps'][-1]['exact_tv'])} | {fmt(res['steps_per_second'])} | "
                 f"{fmt(res['child_peak_rss_mib'])} |")
    L.append("")

    # speed.py
    dp4, vmap_ratio, vmap_line, vmap_ceiling = None, None, None, None
    if speed_out:
        L.append("## `benchmarks/speed.py" + (" --smoke" if args.quick else "") + "`")
        L.append("")
        for line in speed_out.strip().splitlines():
            if line.startswith("# "):
                L.append(line[2:].strip() + ".")
                L.append("")
                continue
            L.append(line)
            if line.strip() and not line.startswith("|"):
                L.append("")  # its own paragraph
            m = re.match(r"\|\s*4D side \d+\s*\|\s*\w+\s*\|[^|]*\|[^|]*\|\s*([\d.]+)\s*\|", line)
            if m:
                dp4 = max(dp4 or 0.0, float(m.group(1)))
            m = re.search(r"\(([\d.]+)x\)", line)
            if m:
                vmap_ratio, vmap_line = float(m.group(1)), line.strip()
            m = re.search(r"at most ([\d.]+) times", line)
            if m:
                vmap_ceiling = float(m.group(1))
        L.append("")

    if raw.get("grid16"):
        L.extend(grid16_section(raw["grid16"], args.repeats))

    # targets
    L.append("## Targets")
    L.append("")
    L.append("| target | measured | met? |")
    L.append("|---|---|---|")

    def yes(ok):
        return "—" if ok is None else ("yes" if ok else "**no**")

    for loss in ("db", "tb"):
        ours = runs2[loss]["gfn_teach"]
        for lib, want in (("gfnx", 3.0), ("torchgfn", 6.0)):
            rt = paired_ratio(ours, runs2[loss][lib], "steps_per_second", True)
            why = like_for_like(ours, runs2[loss][lib])
            met = f"not like-for-like: {why}" if why else yes(rt >= want)
            L.append(f"| 2D {loss.upper()}: gfn_teach steps/s ≥ {want:g}× {lib} | {ratio_str(rt)} | {met} |")
    L.append(f"| exact DP of the {side}^4 grid < 1 s after compilation | "
             f"{fmt(dp4) + ' s (slowest of DB/TB)' if dp4 is not None else '—'} | {yes(None if dp4 is None else dp4 < 1)} |")
    vmap_cell = "—" if vmap_ratio is None else f"{vmap_ratio:.1f}× (split over the cores)"
    if vmap_ceiling is not None:
        vmap_cell += f"; at most {vmap_ceiling:.1f}× possible on this machine (see speed.py above)"
    L.append(f"| 8 seeds with vmap ≥ 3× the trajectories/s of one seed | {vmap_cell} | "
             f"{yes(None if vmap_ratio is None else vmap_ratio >= 3)} |")
    for loss in ("db", "tb"):
        res = long4[loss]
        st = res["tv_reached_step"]
        L.append(f"| 4D {loss.upper()}: reach exact TV ≤ {TV_4D} (report steps and seconds) | "
                 + (f"{st} steps, {fmt(res['tv_reached_seconds'])} s" if st else f"not reached in {res['steps']} steps")
                 + f" | {yes(st is not None)} |")
    if raw.get("grid16"):
        L.extend(grid16_targets(raw["grid16"]))
    rss4 = max(long4[loss]["child_peak_rss_mib"] for loss in long4)
    L.append(f"| 4D run with exact evaluation < 4 GiB resident | {rss4:.0f} MiB | {yes(rss4 < 4096)} |")
    rss2 = med([x["child_peak_rss_mib"] for loss in runs2 for x in runs2[loss]["gfn_teach"]])
    L.append(f"| peak memory of a 2D run (report) | {rss2:.0f} MiB (median) | — |")
    L.append("")
    grid16 = raw.get("grid16") or {}
    compile16 = grid16.get("compile") or {}
    run_log = [s.strip() for s in log + grid16.get("log", []) + compile16.get("log", [])]
    if run_log:  # none in results saved before run_one's log was fixed (2026-12-04)
        L.extend(["## Run log", "", "```text", *run_log, "```"])
    body = "\n".join(L) + "\n"

    title = "# Benchmark: gfn_teach, gfnx and torchgfn on the hypergrid\n\n"
    regen = ("Regenerate with `make bench` (builds the peers' venvs, then runs "
             "`benchmarks/compare.py`); see `benchmarks/README.md`.\n\n")
    report = title + regen + body
    if args.quick:
        paths = [os.path.join(RESULTS, "quick.md")]
    else:
        # The dated copy is named by its newest section's start: --only-16 keeps the earlier copy.
        starts = [started] + [datetime.datetime.fromisoformat(part["started"])
                              for part in (grid16, compile16) if "started" in part]
        paths = [os.path.join(RESULTS, "latest.md"), os.path.join(RESULTS, f"{max(starts):%Y-%m-%d_%H%M}.md")]
    os.makedirs(RESULTS, exist_ok=True)
    for path in paths:
        with open(path, "w") as fh:
            fh.write(report)
    if not args.quick and book:
        cores = os.cpu_count() or 1
        busy = max(float(x) for x in (load_start.split(" / ")[0], load_end.split(" / ")[0])) > 0.5 * cores
        write_appendix(body, busy)
    print(report)
    print(f"[compare] wrote {', '.join(os.path.relpath(x, ROOT) for x in paths)}", flush=True)


# Time-to-quality goals of the 16x16 section: gfn_teach reaches each peer's final TV this many
# times sooner (training seconds, compile included).
GOAL_16 = {"torchgfn": 10.0, "gfnx": 3.0}


def seconds_to_tv(run: dict, tv: float) -> float | None:
    """Training seconds (compile included) at the run's first dump with exact TV <= tv."""
    hit = first_dump_at_or_under(run, tv)
    return hit["train_seconds"] if hit else None


def time_to_peer_quality(ours: list[dict], peer: list[dict]) -> tuple[float, int]:
    """Median over rounds of (peer's training seconds) / (ours to reach the peer's final TV),
    and how many rounds ours reached it; a round where ours never did counts as 0."""
    ratios, reached = [], 0
    for a, b in zip(ours, peer):
        t = seconds_to_tv(a, b["final_tv"])
        reached += t is not None
        ratios.append(b["total_train_seconds"] / t if t else 0.0)
    return med(ratios), reached


def options_sentence(run: dict, steps: int) -> str:
    """Which XLA options gfn_teach's run compiled with, as its JSON records them ("" if not)."""
    options = run.get("compiler_options")
    if options is None:
        return ""
    listed = ", ".join(f"{name} = {value}" for name, value in sorted(options.items())) or "XLA's defaults"
    return f" gfn_teach's runs compiled with these XLA options, the library's choice when they ran for a run of {steps:,} steps: {listed}."


def grid16_section(g16: dict, repeats: int) -> list[str]:
    runs, steps = g16["runs"], g16["steps"]
    started = datetime.datetime.fromisoformat(g16["started"])
    finished = datetime.datetime.fromisoformat(g16["finished"])
    L = [f"## 2D {SIDE_16}×{SIDE_16}, {steps * 16:,} trajectories: TB, DB and SubTB", ""]
    L.append(f"The setting of torchgfn's 2026 policy-gradient notebook, which reports exact TV after "
             f"{TRAJECTORIES_16:,} trajectories on this grid: {steps:,} steps of 16 trajectories, "
             f"R0 = 0.1 (torchgfn's default; R1 = 0.5, R2 = 2), the same networks, optimiser and "
             f"uniform backward policy as above, on-policy; SubTB with lambda = 0.9, each "
             f"trajectory's sub-trajectories weighted lambda^length and normalised per trajectory "
             f"(torchgfn's `geometric_within`). Run {started:%Y-%m-%d %H:%M} – {finished:%H:%M}, "
             f"load average {g16['load_start']} at the start and {g16['load_end']} at the end; "
             f"{repeats} run(s) of each, alternating. Training seconds include compilation (step 1) "
             f"and exclude the exact evaluations, every {g16['runs']['tb']['gfn_teach'][0]['dumps'][0]['step']} steps."
             + options_sentence(runs["db"]["gfn_teach"][0], steps))
    L.append("")
    L.append("| loss | library | final exact TV | training s | compile s | steps/s | gfn_teach at this TV (× sooner) |")
    L.append("|---|---|---|---|---|---|---|")
    for loss in LOSSES_16:
        ours = runs[loss]["gfn_teach"]
        for lib in LIBS:
            rs = runs[loss][lib]
            if lib == "gfn_teach":
                reach = "—"
            else:
                times = [seconds_to_tv(a, b["final_tv"]) for a, b in zip(ours, rs)]
                got = [t for t in times if t is not None]
                r, _ = time_to_peer_quality(ours, rs)
                reach = (f"{fmt(med(got))} s ({ratio_str(r)})"
                         + ("" if len(got) == len(times) else f", {len(got)}/{len(times)} runs")
                         if got else "not reached")
            L.append(f"| {LOSS_TITLES[loss]} | {lib} | "
                     f"{fmt(med([x['final_tv'] for x in rs]))} | {fmt(med([x['total_train_seconds'] for x in rs]))} | "
                     f"{fmt(med([x['compile_seconds'] for x in rs]))} | {fmt(med([x['steps_per_second'] for x in rs]))} | "
                     f"{reach} |")
    L.append("")
    L.append("\"gfn_teach at this TV\": training seconds of gfn_teach's run, in the same round, at its "
             "first evaluation with exact TV at or under the peer's final TV (median over the rounds "
             "where it got there); in brackets the peer's training seconds over that, median over "
             "rounds, > 1× when gfn_teach is sooner (a round where gfn_teach never got there counts as 0).")
    L.append("")
    short, short_on_tv = [], []
    for loss in LOSSES_16:
        ours = runs[loss]["gfn_teach"]
        name = LOSS_TITLES[loss]
        compile_share = med([x["compile_seconds"] / x["total_train_seconds"] for x in ours])
        for lib, want in GOAL_16.items():
            rs = runs[loss][lib]
            r, reached = time_to_peer_quality(ours, rs)
            if r >= want and reached == len(ours):
                continue
            why = (f"{name} against {lib}: {ratio_str(r)} where the goal is {want:g}×; gfn_teach steps "
                   f"{ratio_str(paired_ratio(ours, rs, 'steps_per_second', True))} as fast, and "
                   f"compilation is {compile_share:.0%} of its training time")
            if reached < len(ours):
                why += (f"; in {len(ours) - reached} of {len(ours)} rounds gfn_teach never got to {lib}'s "
                        f"final TV (medians: gfn_teach {fmt(med([x['final_tv'] for x in ours]))}, "
                        f"{lib} {fmt(med([x['final_tv'] for x in rs]))})")
            short.append(why)
            if reached < len(ours):
                short_on_tv.append((loss, lib))
    if short:
        L.append("Where the goals (gfn_teach at the peer's final TV at least 10× sooner than torchgfn, "
                 "3× sooner than gfnx) fall short: " + "; ".join(short) + ". Every library runs the "
                 "same algorithm on 16 trajectories a step, so gfn_teach's lead comes mostly from "
                 "time per step and compilation; the models differ in one respect, torchgfn's DB and "
                 "SubTB learning log F with a network of their own (see above). A peer that ends a round at a lower TV than "
                 "gfn_teach reached in that round is not caught at any speed. Final TVs vary from seed "
                 "to seed in every library, so a few rounds cannot tell a better sampler from a luckier "
                 "one: benchmarks/final_tv_over_seeds.py compares two libraries' final TVs over many "
                 "seeds." + seed_records_sentence(short_on_tv))
        check = g16.get("same_subtb")
        if check and any(why.startswith(f"{LOSS_TITLES['subtb']} against gfnx") for why in short):
            agree = check["returncode"] == 0
            L[-1] += ((" The loss is not the difference: on" if agree else " On") + " one batch and one set "
                      "of weights, gfn_teach's SubTB and the gfnx baseline's " + ("agree" if agree else "do not agree")
                      + f" (benchmarks/peers/same_subtb.py: {check['line'].rstrip('.')}).")
        L.append("")
    if g16.get("compile"):
        L.extend(compile16_section(g16["compile"]))
    return L


def compile_ratios(compile16: dict) -> dict[str, float]:
    """For each gfn_teach variant: the median over rounds of gfnx's compile seconds over its
    own, > 1 when gfn_teach compiles sooner."""
    seconds = compile16["seconds"]
    return {name: med([b / a for a, b in zip(secs, seconds["gfnx"])])
            for name, secs in seconds.items() if name != "gfnx"}


def compile16_section(compile16: dict) -> list[str]:
    started = datetime.datetime.fromisoformat(compile16["started"])
    ratios = compile_ratios(compile16)
    L = [f"Compile time of the DB run: {compile16['rounds']} rounds of compile-only runs (2 steps of "
         "the 2,000-step runs' program, gfn_teach with the library's XLA options for that length), "
         f"alternating, {started:%Y-%m-%d %H:%M}, load average {compile16['load_start']} at the start "
         f"and {compile16['load_end']} at the end; compile = wall time of step 1, as above. The "
         "library's default runs the loss's network on every row of the batch (Trainer and g.train "
         f"unless given row_buckets); the runs above use {ROW_BUCKETS_2D} row buckets, which compile "
         "more and step faster.", "",
         "| DB, 16×16 | compile s (median) | range | gfnx's over this (median of rounds) |",
         "|---|---|---|---|"]
    for name, secs in compile16["seconds"].items():
        ratio = "1 (ref.)" if name == "gfnx" else ratio_str(ratios[name])
        L.append(f"| {name} | {fmt(med(secs))} | {fmt(min(secs))}–{fmt(max(secs))} | {ratio} |")
    L.append("")
    return L


def seed_records_sentence(pairs: list[tuple[str, str]]) -> str:
    """What benchmarks/final_tv_over_seeds.py recorded (results/final_tv_over_seeds.json) for
    these (loss, peer) pairs, as one sentence; "" when it has recorded none of them."""
    path = os.path.join(RESULTS, "final_tv_over_seeds.json")
    if not os.path.exists(path):
        return ""
    with open(path) as fh:
        records = json.load(fh)
    found = []
    for loss, peer in pairs:
        r = records.get(f"{loss} {peer}")
        if r is None:
            continue
        verdict = "no evidence that they differ" if r["p_two_sided"] >= 0.05 else "they differ"
        found.append(f"{LOSS_TITLES[loss]} against {peer}, {r['seeds']} seeds ({r['date']}): median final "
                     f"exact TV gfn_teach {fmt(r['median_gfn_teach'])}, {peer} {fmt(r[f'median_{peer}'])}, "
                     f"gfn_teach lower in {r['gfn_teach_lower']} of {r['seeds']} seeds, Mann-Whitney "
                     f"two-sided p = {r['p_two_sided']:.2f} ({verdict})")
    return " It found: " + "; ".join(found) + "." if found else ""


def grid16_targets(g16: dict) -> list[str]:
    L = []
    runs = g16["runs"]
    for loss in LOSSES_16:
        ours = runs[loss]["gfn_teach"]
        name = LOSS_TITLES[loss]
        for lib, want in GOAL_16.items():
            r, reached = time_to_peer_quality(ours, runs[loss][lib])
            L.append(f"| 16×16 {name}: gfn_teach reaches {lib}'s final TV ≥ {want:g}× sooner | "
                     f"{ratio_str(r)} ({reached}/{len(ours)} rounds reached) | "
                     f"{'yes' if r >= want and reached == len(ours) else '**no**'} |")
    if g16.get("compile"):
        for name, r in compile_ratios(g16["compile"]).items():
            L.append(f"| 16×16 DB: {name} compiles no slower than gfnx | gfnx's compile over its: "
                     f"{ratio_str(r)} | {'yes' if r >= 1 else '**no**'} |")
    return L


def write_appendix(body: str, busy: bool) -> None:
    """book/appendix_benchmarks.md: a static copy of the latest report (not executed)."""
    note = (
        "```{note}\n"
        "These numbers come from a small shared machine whose load average, at the start or "
        "the end of the run, was above half its core count (see below), so absolute timings "
        "may be noisy; the ratios, measured on runs interleaved in time, are the figures to "
        "read, and among them those on runs that learned (see the first section).\n"
        "```\n\n"
    ) if busy else ""
    head = (
        "# Appendix: benchmarks\n\n"
        "How fast is `gfn_teach` next to two other GFlowNet libraries, "
        "gfnx (JAX) {cite}`tiapkin2025gfnx` and torchgfn (PyTorch) {cite}`lahlou2023torchgfn`, "
        "on the same problem? The table below is a static copy of `benchmarks/results/latest.md`; "
        "nothing on this page is executed when the book is built. To regenerate it, run "
        "`make bench` from the repository root: it builds the two peer libraries' virtual "
        "environments and runs `benchmarks/compare.py`, which rewrites the results and this page.\n\n"
        "Each chapter's runtime line gives its time on this 2-core CPU in a fresh kernel with no "
        "compilation cache, as `make execute` measures it. The chapters have not been timed on a "
        "GPU yet: no GPU machine was available to the session that measured them. `make test` "
        "runs every chapter with Colab's package versions on the CPU (`tests/colab_like.py`).\n\n"
        + note
    )
    with open(APPENDIX, "w") as fh:
        fh.write(head + body)


if __name__ == "__main__":
    main()
