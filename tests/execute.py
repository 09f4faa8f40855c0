"""Execute chapters in place with a fresh kernel of the project's venv (`make execute`).

The book renders the committed outputs and nbval compares fresh executions with them, so after
changing a chapter's code or the library it calls, execute the chapter and commit its outputs:

    .venv/bin/python tests/execute.py book/05_trajectory_balance.ipynb

Each chapter runs in a fresh kernel (cwd: book/), as nbval runs it. The time it took is printed
and written into the chapter's runtime line ("*Runtime: about N s on a 2-core laptop CPU
(measured by `make execute`...)*"), so that the line says what was measured. A cell that raises
stops that chapter, which is then left unchanged on disk. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_LINE = re.compile(r"\*Runtime: about \d+ s on a 2-core laptop CPU \([^)]*\)\.\*")


def with_runtime(notebook, seconds: float) -> None:
    """Write the measured time into the chapter's runtime line (in its Markdown cells)."""
    line = (f"*Runtime: about {seconds:.0f} s on a 2-core laptop CPU (measured by `make execute`, "
            "one chapter at a time; no GPU timing yet).*")
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and RUNTIME_LINE.search(cell.source):
            cell.source = RUNTIME_LINE.sub(line, cell.source)


def merge_streams(notebook) -> None:
    """Join each cell's consecutive outputs to the same stream into one, as a live kernel shows
    them: the page then draws one box per cell, not one per message the kernel happened to send.
    Only consecutive ones: nbval's ``coalesce_streams`` joins a stream across figures too, which
    would move text above a plot on the page."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for output in cell.outputs:
            last = merged[-1] if merged else None
            if (output.output_type == "stream" and last is not None and last.output_type == "stream"
                    and last.name == output.name):
                last.text += output.text
            else:
                merged.append(output)
        cell.outputs = merged


def execute(path: Path) -> bool:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        print(f"{path}: a cell raised, the chapter is left unchanged\n{error}", file=sys.stderr)
        return False
    seconds = time.perf_counter() - start
    merge_streams(notebook)
    with_runtime(notebook, seconds)
    nbformat.write(notebook, path)
    print(f"{path}: executed in {seconds:.1f} s", flush=True)
    return True


def main(paths: list[str]) -> int:
    chapters = [Path(p).resolve() for p in paths] or sorted((ROOT / "book").glob("*.ipynb"))
    return 0 if all([execute(chapter) for chapter in chapters]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
