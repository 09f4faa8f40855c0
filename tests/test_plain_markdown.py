"""The chapters' Markdown is plain Markdown: Colab and Jupyter show MyST syntax raw.

No roles (``{cite}`...```, ``{doc}``, ``{glue:text}``), no directive fences (```` ```{admonition} ````,
``:::{...}``) and no target labels (``(name)=``) in any chapter's Markdown cells: citations are
"(Author et al., year)" linked to the bibliography, cross-references are links to the chapter's
file, solutions fold in a ``<details>`` block, and numbers are written out
(``tests/prose_numbers.py``).
"""

import json
import re
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "book").glob("*.ipynb"))
MYST = {
    "role": re.compile(r"\{[a-z][a-z:-]*\}`"),
    "directive": re.compile(r"^(```+|:::+)\{", re.M),
    "label": re.compile(r"^\([\w-]+\)=\s*$", re.M),
}


def myst_in(text: str) -> list[str]:
    return [f"{kind}: {m.group(0)!r}" for kind, pattern in MYST.items() for m in pattern.finditer(text)]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_markdown_has_no_myst_syntax(chapter):
    cells = json.loads(chapter.read_text())["cells"]
    found = [f"cell {i}: {hit}" for i, cell in enumerate(cells) if cell["cell_type"] == "markdown"
             for hit in myst_in("".join(cell["source"]))]
    assert found == []


@pytest.mark.parametrize("text", ["see {cite}`bengio2021flow`", "```{admonition} Solution\n:class: dropdown\n```",
                                  "(eval-subtb)=\n## SubTB", ":::{note}\nx\n:::", "{glue:text}`ch5_tv:.3f`"])
def test_each_kind_of_myst_syntax_is_found(text):
    assert myst_in(text)


def test_plain_markdown_passes():
    assert myst_in("A [link](07_evaluating.ipynb), $\\{x\\}$ maths, `code`, and <details> blocks.") == []
