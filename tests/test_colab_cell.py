"""Every chapter opens with the same short install cell, and that cell never changes jax.

The cell is what a Colab reader runs first: it installs gfn_teach only when it is missing,
pins the runtime's own jax so that pip cannot move it, and on failure stops with one line
that says what to do. Here it runs with pip replaced by a recorder.
"""

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
URL = "git+https://github.com/gfn-teach/gfn-teach"


def first_code_cell(chapter: Path) -> dict:
    cells = json.loads(chapter.read_text(encoding="utf-8"))["cells"]
    return next(c for c in cells if c["cell_type"] == "code")


def test_every_chapter_opens_with_the_same_install_cell():
    cells = [first_code_cell(c) for c in CHAPTERS]
    sources = {"".join(c["source"]) for c in cells}
    assert len(CHAPTERS) >= 8 and len(sources) == 1
    assert all("nbval-ignore-output" in c["metadata"].get("tags", []) for c in cells)
    assert len(sources.pop().splitlines()) <= 11  # one short cell


@pytest.fixture
def install_cell():
    return "".join(first_code_cell(CHAPTERS[0])["source"])


@pytest.fixture
def without_gfn_teach(monkeypatch):
    """Make the cell believe gfn_teach is missing, and record what it asks pip to do."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gfn_teach" else find_spec(name, *a))
    calls = []

    def fake_run(command, *args, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, fake_run.returncode)

    fake_run.returncode = 0
    monkeypatch.setattr(subprocess, "run", fake_run)
    return calls, fake_run


def test_install_keeps_the_runtimes_jax(install_cell, without_gfn_teach, capsys):
    calls, _ = without_gfn_teach
    exec(install_cell, {})
    (command,) = calls
    assert command[1:4] == ["-m", "pip", "install"] and URL in command
    assert f"jax=={jax.__version__}" in command
    assert re.match(rf"JAX {re.escape(jax.__version__)} on \d+ x \S", capsys.readouterr().out)  # "on 2 x cpu"


def test_failed_install_stops_with_one_line_saying_what_to_do(install_cell, without_gfn_teach):
    _, fake_run = without_gfn_teach
    fake_run.returncode = 1
    with pytest.raises(SystemExit) as stop:
        exec(install_cell, {})
    message = str(stop.value)
    assert "\n" not in message
    assert message.startswith("Could not install gfn_teach") and f"pip install {URL}" in message


def test_nothing_is_installed_when_gfn_teach_is_there(install_cell, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda command, *a, **k: calls.append(command))
    exec(install_cell, {})
    assert calls == []
