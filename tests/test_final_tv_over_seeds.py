"""benchmarks/final_tv_over_seeds.py: its summary of two samples of final TVs, and its refusal
of too few seeds (the runs themselves need the peers' venvs: `make bench` territory)."""

import os
import runpy
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks",
                      "final_tv_over_seeds.py")


def test_summary_gives_medians_paired_wins_and_a_rank_test():
    summary = runpy.run_path(SCRIPT, run_name="final_tv_over_seeds")["summary"]
    ours, theirs = [0.01, 0.02, 0.03, 0.04], [0.015, 0.005, 0.05, 0.06]
    text = summary("subtb", "gfnx", ours, theirs)
    # medians 0.025 and 0.0325; seed by seed ours is lower in seeds 0, 2 and 3
    assert "median gfn_teach 0.0250, gfnx 0.0325; gfn_teach lower in 3 of 4 seeds" in text
    # U = 9 of 16 pairs; of the 70 equally likely orders of 4 + 4 values, 31 give U >= 9 (and
    # 31 U <= 7): exact two-sided p = 62/70
    assert "Mann-Whitney two-sided p = 0.89" in text
    assert "gfnx: 0.0050 0.0150 0.0500 0.0600" in text
    # two samples apart: 2 of the 70 orders are that extreme, p = 2/70
    assert "p = 0.03" in summary("db", "torchgfn", [0.010, 0.011, 0.012, 0.013], [0.05, 0.06, 0.07, 0.08])


def test_fewer_than_two_seeds_are_refused_before_any_run(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["final_tv_over_seeds.py", "--seeds", "1"])
    with pytest.raises(SystemExit, match="--seeds must be at least 2, got 1"):
        runpy.run_path(SCRIPT, run_name="__main__")


def test_record_adds_the_comparison_and_keeps_the_others(tmp_path):
    import datetime
    import json

    record = runpy.run_path(SCRIPT, run_name="final_tv_over_seeds")["record"]
    path = tmp_path / "records.json"
    path.write_text(json.dumps({"db gfnx": {"seeds": 3}, "subtb gfnx": {"seeds": 99}}))
    ours, theirs = [0.01, 0.02, 0.03, 0.04], [0.015, 0.005, 0.05, 0.06]
    entry = record("subtb", "gfnx", ours, theirs, datetime.datetime(2026, 12, 6, 3, 0), str(path))
    saved = json.loads(path.read_text())
    assert saved["db gfnx"] == {"seeds": 3}  # another pair's record is kept
    assert saved["subtb gfnx"] == entry  # this pair's old record is replaced
    assert entry["date"] == "2026-12-06" and entry["seeds"] == 4
    assert entry["gfn_teach"] == ours and entry["gfnx"] == theirs
    assert entry["median_gfn_teach"] == 0.025 and entry["median_gfnx"] == 0.0325
    assert entry["gfn_teach_lower"] == 3 and abs(entry["p_two_sided"] - 62 / 70) < 1e-12
