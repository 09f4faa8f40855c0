"""tests/unchanged.py: what changes a chapter's fingerprint, and what does not."""

import json
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import unchanged  # noqa: E402

CHAPTER = sorted((unchanged.ROOT / "book").glob("*.ipynb"))[0]


def edited(tmp_path, edit):
    copy = tmp_path / CHAPTER.name
    notebook = json.loads(CHAPTER.read_text())
    edit(notebook["cells"])
    copy.write_text(json.dumps(notebook))
    return unchanged.fingerprint("nbval", [str(copy)])


def first(cells, kind):
    return next(c for c in cells if c["cell_type"] == kind)


def test_markdown_does_not_count_code_outputs_and_tags_do(tmp_path):
    same = edited(tmp_path, lambda cells: None)
    assert edited(tmp_path, lambda cells: first(cells, "markdown")["source"].append("More prose.")) == same
    assert edited(tmp_path, lambda cells: first(cells, "code")["source"].append("\nx = 1")) != same
    assert edited(tmp_path, lambda cells: first(cells, "code")["outputs"].clear()) != same
    assert edited(tmp_path, lambda cells: first(cells, "code")["metadata"].update(tags=[])) != same


def test_the_perturbation_counts(tmp_path, monkeypatch):
    shutil.copy(CHAPTER, tmp_path / CHAPTER.name)
    monkeypatch.setenv("XLA_FLAGS", "")
    plain = unchanged.fingerprint("nbval", [str(tmp_path / CHAPTER.name)])
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=SSE4_2")
    assert unchanged.fingerprint("nbval", [str(tmp_path / CHAPTER.name)]) != plain


def test_a_stamp_is_ignored_when_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(unchanged, "STAMPS", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("FRESH", raising=False)
    assert not unchanged.passed("abc")
    unchanged.mark("abc")
    assert unchanged.passed("abc")
    monkeypatch.setenv("FRESH", "1")
    assert not unchanged.passed("abc")


def test_markdown_counts_where_the_check_reads_it(tmp_path):
    """The unit tests read the chapters' prose (tests/test_prose_numbers.py and others): for
    them, a chapter counts whole."""
    copy = tmp_path / CHAPTER.name
    shutil.copy(CHAPTER, copy)
    same = unchanged.fingerprint("unit", [str(copy)], whole_notebooks=True)
    notebook = json.loads(CHAPTER.read_text())
    first(notebook["cells"], "markdown")["source"].append("More prose.")
    copy.write_text(json.dumps(notebook))
    assert unchanged.fingerprint("unit", [str(copy)], whole_notebooks=True) != same


READS_THE_BOOK = re.compile(r"""["']book["'/]|\.ipynb""")


def test_every_unit_test_that_reads_the_book_reruns_after_a_prose_edit():
    """After an edit of book/ alone, `make test-unit` runs only the Makefile's BOOK_TESTS: every
    test file that names the book's folder or a notebook must be one of them."""
    makefile = (unchanged.ROOT / "Makefile").read_text()
    listed = re.search(r"^BOOK_TESTS\s*:=((?:.*\\\n)*.*)$", makefile, re.MULTILINE)
    assert listed, "the Makefile defines no BOOK_TESTS"
    book_tests = set(listed.group(1).replace("\\\n", " ").split())
    reading = {
        f"tests/{path.name}"
        for path in (unchanged.ROOT / "tests").glob("test_*.py")
        if READS_THE_BOOK.search(path.read_text())
    }
    assert reading - book_tests == set(), "these read book/ but are not in the Makefile's BOOK_TESTS"
    assert all((unchanged.ROOT / name).is_file() for name in book_tests)
