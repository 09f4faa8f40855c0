"""Numbers in the chapters' prose, checked against the outputs that the chapter glued.

A chapter's code records a value with ``g.glue("ch5_final_tv", tv)``; its Markdown writes the
number out, followed by an HTML comment naming the value and its format::

    the final exact TV is 0.041<!-- glue ch5_final_tv:.3f -->

Plain Markdown, so Colab, Jupyter and the web page all show the number (and none shows the
comment). ``tests/test_prose_numbers.py`` fails when a written number is not the glued value in
that format, when a comment names a value the chapter does not glue, or when MyST's glue role
appears (Colab would show it raw). After re-executing a chapter, rewrite its numbers with

    .venv/bin/python tests/prose_numbers.py --update book/05_trajectory_balance.ipynb
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GLUE_MIME = "application/papermill.record/text/plain"
# The number written out, then the comment: `0.041<!-- glue ch5_final_tv:.3f -->`.
MARKER = re.compile(r"(?P<number>[^\s(\[]{0,40}?)<!-- glue (?P<name>\w+)(?::(?P<format>[^ ]*))? -->")
MYST_GLUE_ROLE = re.compile(r"\{glue(:\w+)?\}`(?P<name>\w+)(?::(?P<format>[^`]*))?`")


def glued_values(notebook: dict) -> dict:
    """Every value a notebook's outputs glued, by name (the Python literal of its repr)."""
    values = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None and GLUE_MIME in output.get("data", {}):
                text = output["data"][GLUE_MIME]
                try:
                    values[name] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    values[name] = text.strip("'\"")
    return values


def written(value, format_spec: str | None) -> str:
    return format(value, format_spec or "")


def problems(path: Path) -> list[str]:
    """Every written number that does not match its glued value, and every leftover MyST role."""
    notebook = json.loads(path.read_text())
    values, found = glued_values(notebook), []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        for role in MYST_GLUE_ROLE.finditer(text):
            found.append(f"{path.name} cell {index}: MyST role {role.group(0)} (Colab shows it raw)")
        for marker in MARKER.finditer(text):
            name, spec = marker.group("name"), marker.group("format")
            if name not in values:
                found.append(f"{path.name} cell {index}: '{name}' is not glued by the chapter")
            elif not marker.group("number").endswith(written(values[name], spec)):
                found.append(
                    f"{path.name} cell {index}: the prose says {marker.group('number')!r} where "
                    f"'{name}' is {written(values[name], spec)!r}"
                )
    return found


def update(path: Path) -> int:
    """Rewrite a chapter's written numbers (and MyST glue roles) from its glued outputs."""
    notebook = json.loads(path.read_text())
    values, changed = glued_values(notebook), 0

    def rewritten(match: re.Match) -> str:  # a MyST role or a marker, with its number now
        name, spec = match.group("name"), match.group("format")
        tail = f":{spec}" if spec else ""
        return f"{written(values[name], spec)}<!-- glue {name}{tail} -->"

    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        new = MARKER.sub(rewritten, MYST_GLUE_ROLE.sub(rewritten, text))
        if new != text:
            cell["source"] = new.splitlines(keepends=True)
            changed += 1
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False))  # as nbformat writes it
    return changed


def main(argv: list[str]) -> int:
    rewrite = "--update" in argv
    paths = [Path(a) for a in argv if a != "--update"] or sorted((ROOT / "book").glob("*.ipynb"))
    if rewrite:
        for path in paths:
            print(f"{path}: {update(path)} Markdown cells rewritten")
        return 0
    found = [problem for path in paths for problem in problems(path)]
    print("\n".join(found) or "every number in the prose matches its glued value")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
