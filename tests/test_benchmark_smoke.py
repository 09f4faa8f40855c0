"""Smoke test of our side of the benchmark: benchmarks/run_ours.py and benchmarks/speed.py --smoke.

The full side-by-side benchmark (`make bench`) needs the peers' venvs and takes tens of
minutes; these few steps only check that our scripts still run and write what
benchmarks/compare.py reads, so they cannot rot unnoticed. Both scripts run in this process
(runpy, with their real command lines) so the JAX import is paid once, and speed.py's
configurations are shrunk to a tiny grid and network so that its compilations stay cheap.
"""

import json
import os
import runpy
import sys
import types

import jax
import numpy as np
import pytest

import gfn_teach as g

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
PEER_KEYS = {"library", "version", "loss", "dim", "side", "steps", "seed", "compile_seconds",
             "steps_per_second", "dumps"}


@pytest.fixture(autouse=True)
def cheap_compiles():
    """Compile with most XLA optimisations off: these runs check plumbing, not speed."""
    before = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


def run_script(monkeypatch, name, *argv):
    monkeypatch.setattr(sys, "argv", [name, *argv])
    return runpy.run_path(os.path.join(BENCH, name), run_name="__main__")


def test_run_ours_writes_the_peers_json_and_tables(tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    run_script(monkeypatch, "run_ours.py", "--loss", "tb", "--dim", "2", "--side", "6", "--steps", "20",
               "--seed", "0", "--out", str(out), "--dump-every", "10", "--hidden", "16", "--depth", "1",
               "--learn-backward", "--epsilon-start", "1.0", "--exploration-steps", "10", "--stop-tv", "0.0",
               "--options-for-steps", "5000")
    result = json.loads(out.read_text())
    assert PEER_KEYS <= set(result)
    assert result["library"] == "gfn_teach" and result["steps"] == 20 and result["learn_backward"]
    assert result["steps_per_second"] > 0 and result["compile_seconds"] > 0 and result["peak_rss_mib"] > 0
    assert [d["step"] for d in result["dumps"]] == [10, 20]
    env = g.Hypergrid(2, 6, "easy")
    for d in result["dumps"]:
        table = np.load(d["file"])
        assert table.shape == (36, 3) and table.dtype == np.float32
        # a policy table (rows sum to 1), and compare.py's TV (our DP) = the runner's
        assert np.allclose(np.exp(table).sum(-1), 1.0, atol=1e-5)
        tv = float(g.total_variation(env.true_distribution(), g.terminal_distribution_from_log_pf(env, table)))
        assert abs(tv - d["exact_tv"]) < 1e-5


def test_speed_smoke(monkeypatch, capsys):
    # speed.py --smoke end to end, with every TrainConfig it builds shrunk to a tiny problem
    def tiny(**kw):
        return g.TrainConfig(**{**kw, "side": 4, "hidden": 16, "depth": 1})

    monkeypatch.setitem(sys.modules, "gfn_teach", types.SimpleNamespace(**{**vars(g), "TrainConfig": tiny}))
    run_script(monkeypatch, "speed.py", "--smoke")
    text = capsys.readouterr().out
    assert "| 4D side" in text and "| db |" in text
    assert "vmap over 8 seeds" in text and "trajectories/s" in text
    assert "side by side with g.fit_together" in text


@pytest.fixture(scope="module")
def row_buckets():
    return runpy.run_path(os.path.join(BENCH, "row_buckets.py"), run_name="row_buckets")


def test_row_buckets_one_run_trains_and_times_it(row_buckets):
    result = row_buckets["one_run"](hidden=16, steps=20, buckets=2, loss="tb", dim=2, side=4)
    assert result["wall"] > result["compile"] > 0 and 0 <= result["exact_tv"] <= 1


def test_row_buckets_alternates_the_settings_and_tabulates_medians(row_buckets, monkeypatch, capsys):
    # Each fresh-process run faked at subprocess.run: its command line is recorded, and it prints
    # the JSON line that --one would.
    import subprocess
    calls = []

    def fake_run(argv, **kwargs):
        hidden, steps, buckets = map(int, argv[argv.index("--one") + 1:][:3])
        calls.append((hidden, steps, buckets))
        wall = {1: [4.0, 9.0, 5.0], 8: [7.0, 12.0, 8.0]}[buckets][sum(c[2] == buckets for c in calls) - 1]
        line = json.dumps({"wall": wall, "compile": buckets / 2, "exact_tv": 0.1})
        return subprocess.CompletedProcess(argv, 0, stdout=f"{line}\n", stderr="")

    monkeypatch.setattr(subprocess, "run", fake_run)
    row_buckets["main"](["--hidden", "64", "--steps", "1000", "--repeats", "3"])
    assert calls == [(64, 1000, 1), (64, 1000, 8)] * 3  # every setting once per round
    out = capsys.readouterr().out
    assert "| 64 | 1,000 | db | 5.0 (4.0-9.0), 0.5 | 8.0 (7.0-12.0), 4.0 |" in out  # medians, not means
