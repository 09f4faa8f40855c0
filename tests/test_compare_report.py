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
    first = text.index("## Like-for-like comparisons first")
    assert first < text.index("## 2D 20×20: speed")  # the like-for-like section leads
    for line in text.splitlines():
        if line.startswith("| 2D TB: gfn_teach steps/s"):  # every TB run collapsed (TV 0.75)
            assert "not like-for-like" in line and "| yes |" not in line, line
    assert "| DB vs gfnx: steps/s |" in text
