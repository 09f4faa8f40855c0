"""benchmarks/compare.py's report: ratios measured on runs that did not learn are flagged.

Rewrites the report from the committed raw results (no benchmark is run) into a temporary
folder, and checks the like-for-like rules on small hand-made runs.
"""

import json
import os
import runpy

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")


@pytest.fixture(scope="module")
def compare():
    return runpy.run_path(os.path.join(BENCH, "compare.py"), run_name="compare")


@pytest.fixture
def fake_runs(monkeypatch):
    """run_one's subprocess faked: each command and environment is recorded, and its JSON says
    1 step/s and 1 s of compile. Returns the list of (command, environment)."""
    import subprocess
    launched = []

    class Finished:
        pid, returncode = 0, 0

    def popen(cmd, env=None, **kwargs):
        launched.append((cmd, env))
        with open(cmd[cmd.index("--out") + 1], "w") as fh:
            json.dump({"steps_per_second": 1.0, "compile_seconds": 1.0}, fh)
        return Finished()

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(os, "wait4", lambda pid, options: (pid, 0, type("Usage", (), {"ru_maxrss": 1024})()))
    return launched


def run(library, final_tv=None, steps=3000, sps=100.0):
    r = {"library": library, "steps": steps, "steps_per_second": sps}
    if final_tv is not None:
        r["final_tv"] = final_tv
    return r


def test_like_for_like_rules(compare):
    like = compare["like_for_like"]
    assert like([run("gfn_teach", 0.025)], [run("gfnx", 0.03)]) is None
    assert "gfnx did not learn (final TV 0.75)" in like([run("gfn_teach", 0.025)], [run("gfnx", 0.75)])
    assert "gfn_teach did not learn" in like([run("gfn_teach", 0.75)], [run("gfnx", 0.02)])
    assert "final TVs differ" in like([run("gfn_teach", 0.025)], [run("torchgfn", 0.25, steps=600)])
    assert "untrained (80 steps" in like([run("gfn_teach", steps=80)], [run("gfnx", steps=80)])


def test_report_from_latest_flags_collapsed_tb(compare, tmp_path):
    with open(os.path.join(BENCH, "results", "latest.json")) as fh:
        raw = json.load(fh)
    write_report = compare["write_report"]
    write_report.__globals__["RESULTS"] = str(tmp_path)
    write_report.__globals__["APPENDIX"] = str(tmp_path / "appendix.md")
    write_report(raw, book=True)
    text = (tmp_path / "appendix.md").read_text()
    # the dated copy is named by the newest section's start: the 16x16 one, from a later --only-16
    # run, or its compile comparison, from a later --only-compile-16 run
    assert raw["grid16"]["started"] > raw["started"]
    newest = max(compare["datetime"].datetime.fromisoformat(part["started"])
                 for part in (raw["grid16"], raw["grid16"].get("compile", {})) if "started" in part)
    assert (tmp_path / f"{newest:%Y-%m-%d_%H%M}.md").read_text() == (tmp_path / "latest.md").read_text()
    first = text.index("## Like-for-like comparisons first")
    assert first < text.index("## 2D 20×20: speed")  # the like-for-like section leads
    for line in text.splitlines():
        if line.startswith("| 2D TB: gfn_teach steps/s"):  # every TB run collapsed (TV 0.75)
            assert "not like-for-like" in line and "| yes |" not in line, line
    assert "| DB vs gfnx: steps/s |" in text


def tv_run(library, dumps, train_seconds, sps=100.0, compile_seconds=1.0):
    """A run with (step, seconds, exact TV) evaluations; its final TV is the last one's."""
    return {"library": library, "steps": dumps[-1][0], "steps_per_second": sps,
            "compile_seconds": compile_seconds, "total_train_seconds": train_seconds,
            "dumps": [{"step": s, "train_seconds": t, "exact_tv": tv} for s, t, tv in dumps],
            "final_tv": dumps[-1][2]}


def test_time_to_peer_quality(compare):
    ratio = compare["time_to_peer_quality"]
    ours = tv_run("gfn_teach", [(100, 1.0, 0.3), (200, 2.0, 0.05), (300, 3.0, 0.02)], 3.0)
    # the peer ends at TV 0.04 after 30 s; gfn_teach is first at or under 0.04 at 3 s, not at
    # 2 s (0.05 > 0.04) nor at its end: 30 / 3 = 10
    assert ratio([ours], [tv_run("torchgfn", [(2000, 30.0, 0.04)], 30.0)]) == (10.0, 1)
    # a peer better than gfn_teach ever gets: not reached, the round counts as 0
    assert ratio([ours], [tv_run("gfnx", [(2000, 9.0, 0.01)], 9.0)]) == (0.0, 0)
    # median over rounds, a missed round included: ratios 10, 0, 20 -> 10
    peers = [tv_run("gfnx", [(9, 30.0, 0.04)], 30.0), tv_run("gfnx", [(9, 9.0, 0.01)], 9.0),
             tv_run("gfnx", [(9, 40.0, 0.25)], 40.0)]
    assert ratio([ours] * 3, peers) == (10.0, 2)


def test_grid16_section_and_targets(compare):
    ours = tv_run("gfn_teach", [(100, 1.0, 0.3), (200, 2.0, 0.05), (300, 3.0, 0.02)], 3.0)
    slow = {"torchgfn": tv_run("torchgfn", [(100, 15.0, 0.2), (200, 30.0, 0.04)], 30.0),
            "gfnx": tv_run("gfnx", [(100, 4.0, 0.2), (200, 6.0, 0.03)], 6.0)}
    runs = {loss: {"gfn_teach": [ours], **{k: [v] for k, v in slow.items()}} for loss in ("tb", "db", "subtb")}
    g16 = {"started": "2026-12-04T15:00:00", "finished": "2026-12-04T15:10:00", "load_start": "0.1",
           "load_end": "0.2", "steps": 2000, "runs": runs, "log": []}
    text = "\n".join(compare["grid16_section"](g16, 1))
    assert "32,000 trajectories" in text and "| SubTB | gfnx | 0.03 |" in text
    assert "| TB | torchgfn | 0.04 | 30 | 1 | 100 | 3 s (10.00×) |" in text
    # the shortfall is spelt out: gfnx's 6 s over gfn_teach's 3 s, compile 1 s of 3 s
    assert "DB against gfnx: 2.00× where the goal is 3×; gfn_teach steps 1.00× as fast, and " \
           "compilation is 33% of its training time" in text
    assert "against torchgfn" not in text
    targets = compare["grid16_targets"](g16)
    # torchgfn: 30 s / 3 s = 10x, met; gfnx: 6 s / 3 s = 2x, short of 3x
    assert all("| yes |" in t for t in targets if "torchgfn" in t)
    assert all("2.00× (1/1 rounds reached) | **no** |" in t for t in targets if "gfnx" in t)


def test_a_subtb_shortfall_against_gfnx_says_whether_the_losses_agree(compare):
    ours = tv_run("gfn_teach", [(100, 1.0, 0.3), (200, 2.0, 0.05), (300, 3.0, 0.02)], 3.0)
    better = tv_run("gfnx", [(100, 4.0, 0.2), (200, 6.0, 0.01)], 6.0)  # lower than ours ever gets
    runs = {loss: {"gfn_teach": [ours], "gfnx": [better], "torchgfn": [ours]} for loss in ("tb", "db", "subtb")}
    g16 = {"started": "2026-12-04T15:00:00", "finished": "2026-12-04T15:10:00", "load_start": "0.1",
           "load_end": "0.2", "steps": 2000, "runs": runs, "log": []}
    line = "SubTB(lambda=0.9) on one batch: gfn_teach 0.0131, gfnx baseline 0.0131 (relative difference 3.6e-07)"
    without = "\n".join(compare["grid16_section"](g16, 1))
    assert "SubTB against gfnx: 0×" in without and "same_subtb.py" not in without  # not run: not said
    agree = "\n".join(compare["grid16_section"]({**g16, "same_subtb": {"returncode": 0, "line": line}}, 1))
    assert ("The loss is not the difference: on one batch and one set of weights, gfn_teach's SubTB and "
            f"the gfnx baseline's agree (benchmarks/peers/same_subtb.py: {line}).") in agree
    differ = "\n".join(compare["grid16_section"]({**g16, "same_subtb": {"returncode": 1, "line": line}}, 1))
    assert "gfn_teach's SubTB and the gfnx baseline's do not agree" in differ and "not the difference" not in differ


def test_benchmark_runs_compile_cold(compare, monkeypatch, tmp_path, fake_runs):
    """`make` exports JAX's persistent compilation cache for its tests; a benchmark run that
    inherited it would load its program from there in later rounds and time a cache lookup."""
    made_by_make = {"JAX_COMPILATION_CACHE_DIR": "/x/.cache/jax", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                    "JAX_ENABLE_COMPILATION_CACHE": "1", "PATH": "/bin", "XLA_FLAGS": "--flag"}
    assert compare["cold_compile_environment"](made_by_make) == {"PATH": "/bin", "XLA_FLAGS": "--flag"}

    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "cache"))
    log = []  # empty at first: the run's line must still be kept
    compare["run_one"]("gfnx", "db", 2, 4, 10, 0, str(tmp_path), log=log)
    [(_, env)] = fake_runs
    assert env is not None and "JAX_COMPILATION_CACHE_DIR" not in env
    assert len(log) == 1 and log[0].strip().startswith("gfnx") and "compile  1.00 s" in log[0]


def test_a_shortfall_on_tv_cites_the_seed_comparisons_recorded_for_it(compare, tmp_path, monkeypatch):
    ours = tv_run("gfn_teach", [(100, 1.0, 0.3), (200, 2.0, 0.05), (300, 3.0, 0.02)], 3.0)
    better = tv_run("torchgfn", [(100, 40.0, 0.2), (200, 60.0, 0.01)], 60.0)  # lower than ours ever gets
    fast = tv_run("gfnx", [(100, 40.0, 0.2), (200, 60.0, 0.03)], 60.0)  # reached, 20x: no shortfall
    runs = {loss: {"gfn_teach": [ours], "gfnx": [fast], "torchgfn": [better]} for loss in ("tb", "db", "subtb")}
    g16 = {"started": "2026-12-04T15:00:00", "finished": "2026-12-04T15:10:00", "load_start": "0.1",
           "load_end": "0.2", "steps": 2000, "runs": runs, "log": []}
    section = compare["grid16_section"]
    monkeypatch.setitem(section.__globals__, "RESULTS", str(tmp_path))
    assert "It found" not in "\n".join(section(g16, 1))  # nothing recorded: nothing said
    recorded = {
        "subtb torchgfn": {"date": "2026-12-06", "seeds": 10, "gfn_teach": [], "torchgfn": [],
                           "median_gfn_teach": 0.0154, "median_torchgfn": 0.0177, "gfn_teach_lower": 5,
                           "p_two_sided": 0.7337},
        "db torchgfn": {"date": "2026-12-06", "seeds": 8, "gfn_teach": [], "torchgfn": [],
                        "median_gfn_teach": 0.02, "median_torchgfn": 0.01, "gfn_teach_lower": 0,
                        "p_two_sided": 0.0002},
        "subtb gfnx": {"date": "2026-12-06", "seeds": 20, "gfn_teach": [], "gfnx": [],  # gfnx is no shortfall
                       "median_gfn_teach": 0.015, "median_gfnx": 0.016, "gfn_teach_lower": 11, "p_two_sided": 0.8},
    }
    (tmp_path / "final_tv_over_seeds.json").write_text(json.dumps(recorded))
    text = "\n".join(section(g16, 1))
    assert ("It found: DB against torchgfn, 8 seeds (2026-12-06): median final exact TV gfn_teach 0.02, "
            "torchgfn 0.01, gfn_teach lower in 0 of 8 seeds, Mann-Whitney two-sided p = 0.00 (they differ); "
            "SubTB against torchgfn, 10 seeds (2026-12-06): median final exact TV gfn_teach 0.0154, "
            "torchgfn 0.0177, gfn_teach lower in 5 of 10 seeds, Mann-Whitney two-sided p = 0.73 "
            "(no evidence that they differ).") in text
    assert "against gfnx, 20 seeds" not in text


def test_the_db_compile_comparison_is_tabled_and_judged_per_configuration(compare):
    ours = tv_run("gfn_teach", [(100, 1.0, 0.3), (200, 2.0, 0.05), (300, 3.0, 0.02)], 3.0)
    runs = {loss: {lib: [ours] for lib in ("gfn_teach", "gfnx", "torchgfn")} for loss in ("tb", "db", "subtb")}
    default, buckets = list(compare["COMPILE_VARIANTS"])[:2]
    # rounds: gfnx over default 1.7/1.3, 1.8/1.2, 1.6/1.6 -> median 1.31; over buckets 1.7/1.8,
    # 1.8/1.7, 1.6/1.7 -> median 0.94
    compile16 = {"started": "2026-12-06T04:00:00", "load_start": "0.5", "load_end": "0.6", "rounds": 3,
                 "seconds": {default: [1.3, 1.2, 1.6], buckets: [1.8, 1.7, 1.7], "gfnx": [1.7, 1.8, 1.6]}}
    g16 = {"started": "2026-12-04T15:00:00", "finished": "2026-12-04T15:10:00", "load_start": "0.1",
           "load_end": "0.2", "steps": 2000, "runs": runs, "log": []}
    assert "Compile time of the DB run" not in "\n".join(compare["grid16_section"](g16, 1))  # not run
    text = "\n".join(compare["grid16_section"]({**g16, "compile": compile16}, 1))
    assert ("Compile time of the DB run: 3 rounds of compile-only runs (2 steps of the 2,000-step runs' "
            "program, gfn_teach with the library's XLA options for that length), alternating, 2026-12-06 04:00") in text
    assert f"| {default} | 1.3 | 1.2–1.6 | 1.31× |" in text
    assert f"| {buckets} | 1.7 | 1.7–1.8 | 0.94× |" in text
    assert "| gfnx | 1.7 | 1.6–1.8 | 1 (ref.) |" in text
    targets = compare["grid16_targets"]({**g16, "compile": compile16})
    assert f"| 16×16 DB: {default} compiles no slower than gfnx | gfnx's compile over its: 1.31× | yes |" in targets
    assert f"| 16×16 DB: {buckets} compiles no slower than gfnx | gfnx's compile over its: 0.94× | **no** |" in targets


def test_an_explicit_row_bucket_count_wins_over_the_benchmark_default(compare, tmp_path, fake_runs):
    compare["run_one"]("gfn_teach", "db", 2, 16, 2, 0, str(tmp_path), 0, ["--row-buckets", "1"])
    cmd = fake_runs[-1][0]
    assert cmd.count("--row-buckets") == 1 and cmd[cmd.index("--row-buckets") + 1] == "1"
    compare["run_one"]("gfn_teach", "db", 2, 16, 2, 0, str(tmp_path))
    cmd = fake_runs[-1][0]
    assert cmd[cmd.index("--row-buckets") + 1] == str(compare["ROW_BUCKETS_2D"])


def test_compile_only_runs_compile_the_program_of_the_2000_step_runs(compare, tmp_path, fake_runs):
    compare["run_compile16"](1, str(tmp_path))
    assert len(fake_runs) == len(compare["COMPILE_VARIANTS"])
    for cmd, _ in fake_runs:
        assert cmd[cmd.index("--steps") + 1] == "2"
        ours = "run_ours.py" in " ".join(cmd)
        assert ("--options-for-steps" in cmd) == ours  # gfnx's runner has no such option
        if ours:
            assert cmd[cmd.index("--options-for-steps") + 1] == "2000"


def test_the_16x16_section_names_the_xla_options_its_runs_recorded(compare):
    sentence = compare["options_sentence"]
    short = {"xla_backend_optimization_level": 2, "xla_cpu_use_fusion_emitters": False}
    assert sentence({"compiler_options": short}, 2000) == (
        " gfn_teach's runs compiled with these XLA options, the library's choice when they ran for a "
        "run of 2,000 steps: xla_backend_optimization_level = 2, xla_cpu_use_fusion_emitters = False.")
    assert sentence({"compiler_options": {}}, 2000).endswith("2,000 steps: XLA's defaults.")
    assert sentence({}, 2000) == ""  # a run that did not record them: nothing claimed
