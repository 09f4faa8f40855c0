"""The web page shows the chapter, not its test harness, and each cell's printout in one box.

A chapter checks its prose against its outputs with ``g.glue(...)`` and ``assert`` lines; they
live in code cells tagged ``remove-cell`` (the book leaves them out; Colab shows them, headed by
a comment that says what they are). A visible cell keeps only ``assert check_...(...)``, the
exercise checkers whose printed verdict the reader is meant to see.
"""

import json
import re
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "book").glob("*.ipynb"))
HIDDEN = {"remove-cell", "hide-cell"}  # left out of the page, or folded (the solutions)
HARNESS = re.compile(r"^\s*(g\.glue\(|assert (?!check_))")


def harness_lines(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if HARNESS.match(line)]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_visible_code_cells_hold_no_glue_or_asserts(chapter):
    cells = json.loads(chapter.read_text())["cells"]
    found = [f"cell {i}: {line}" for i, cell in enumerate(cells)
             if cell["cell_type"] == "code" and not HIDDEN & set(cell["metadata"].get("tags", []))
             for line in harness_lines("".join(cell["source"]))]
    assert found == []


def test_harness_lines_are_found_and_checkers_are_not():
    source = 'x = 1\ng.glue("ch1_x", x)\nassert x == 1\n    assert x > 0\nassert check_tv(f)\n'
    assert harness_lines(source) == ['g.glue("ch1_x", x)', "assert x == 1", "assert x > 0"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_each_cell_prints_into_one_box(chapter):
    # tests/execute.py joins a cell's consecutive outputs to one stream (the page draws a box each)
    cells = json.loads(chapter.read_text())["cells"]
    split = [i for i, cell in enumerate(cells) if cell["cell_type"] == "code"
             for a, b in zip(cell["outputs"], cell["outputs"][1:])
             if a["output_type"] == b["output_type"] == "stream" and a["name"] == b["name"]]
    assert split == []
