"""Every number written in a chapter's prose is the value its outputs glued (tests/prose_numbers.py)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import prose_numbers  # noqa: E402

CHAPTERS = sorted((prose_numbers.ROOT / "book").glob("*.ipynb"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_prose_numbers_match_the_outputs(chapter):
    assert prose_numbers.problems(chapter) == []


def test_the_book_writes_its_numbers_out():
    markdown = ["".join(cell["source"]) for chapter in CHAPTERS for cell in json.loads(chapter.read_text())["cells"]
                if cell["cell_type"] == "markdown"]
    assert sum(len(prose_numbers.MARKER.findall(text)) for text in markdown) > 100


def edited_copy(tmp_path, change):
    """A chapter whose first written number went through ``change``."""
    chapter = CHAPTERS[4]
    notebook = json.loads(chapter.read_text())
    for cell in notebook["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and prose_numbers.MARKER.search(text):
            cell["source"] = change(text)
            break
    copy = tmp_path / chapter.name
    copy.write_text(json.dumps(notebook))
    return copy


def test_an_edited_number_fails(tmp_path):
    def off_by_one_digit(text):
        marker = prose_numbers.MARKER.search(text)
        number = marker.group("number")
        digit = next(i for i in reversed(range(len(number))) if number[i].isdigit())
        wrong = number[:digit] + str((int(number[digit]) + 1) % 10) + number[digit + 1:]
        return text[: marker.start()] + wrong + text[marker.start("number") + len(number):]

    (problem,) = prose_numbers.problems(edited_copy(tmp_path, off_by_one_digit))
    assert "the prose says" in problem


def test_a_myst_role_or_an_unknown_name_fails(tmp_path):
    role = edited_copy(tmp_path, lambda text: text + "\nTV {glue:text}`ch5_uniform_tv:.3f`.")
    assert any("MyST role" in p for p in prose_numbers.problems(role))
    unknown = edited_copy(tmp_path, lambda text: text + "\nTV 0.1<!-- glue no_such_value:.1f -->.")
    assert any("not glued" in p for p in prose_numbers.problems(unknown))
