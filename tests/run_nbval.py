"""nbval on every chapter that changed since it last passed here (`make test-nbval`).

Each chapter is re-executed in a fresh kernel and its outputs compared with the committed ones
(after ``tests/nbval_sanitize.cfg``, with numbers allowed to differ by one unit of their last
digit, ``tests/nbval_tolerance.py``; cells tagged ``nbval-ignore-output`` are executed, and
their own asserts checked, but their outputs not compared). Chapters run two at a time (pytest-xdist,
one worker per core, all cells of a chapter in one worker). A chapter whose code cells, outputs,
the library and the pins are unchanged since it passed is skipped (``tests/unchanged.py``).

XLA_FLAGS, when set (the Makefile sets a perturbation that moves the last bits of every
compiled result, as another CPU does), is part of each chapter's fingerprint.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import unchanged

ROOT = Path(__file__).resolve().parents[1]
DEPENDS_ON = ["gfn_teach", "requirements.txt", "pyproject.toml", "tests/nbval_sanitize.cfg",
              "tests/nbval_tolerance.py", "tests/run_nbval.py"]


def failed_files(report: Path) -> set[str]:
    """Notebooks with a failed or erroring cell, from pytest's JUnit XML report."""
    failed = set()
    for case in ElementTree.parse(report).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(case.get("file") or case.get("classname", ""))
    return failed


def main(argv: list[str]) -> int:
    chapters = argv or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "book").glob("*.ipynb"))
    stamps = unchanged.still_to_run("nbval", chapters, DEPENDS_ON)
    todo = list(stamps)
    if not todo:
        return 0
    workers = min(len(todo), os.cpu_count() or 1, 2)
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "nbval.xml"
        command = [
            sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "--nbval-cell-timeout=900",
            "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-p", "nbval_tolerance",
            "-p", "no:cacheprovider", "-q",
            f"--junitxml={report}", *(["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []),
            *todo,
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))}
        status = subprocess.run(command, cwd=ROOT, env=env).returncode
        failed = failed_files(report) if report.exists() else set(todo)
    for chapter in todo:
        if status in (0, 1) and not any(chapter.endswith(f) or f.endswith(chapter) for f in failed if f):
            unchanged.mark(stamps[chapter])
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
