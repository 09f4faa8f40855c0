"""Execute chapters in place with a fresh kernel of the project's venv (`make execute`).

The book renders the committed outputs and nbval compares fresh executions with them, so after
changing a chapter's code or the library it calls, execute the chapter and commit its outputs:

    .venv/bin/python tests/execute.py book/05_trajectory_balance.ipynb

Each chapter runs in its own folder-less kernel (cwd: book/), as nbval runs it; the time it took
is printed. A cell that raises stops that chapter, which is then left unchanged on disk.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]


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
    nbformat.write(notebook, path)
    print(f"{path}: executed in {time.perf_counter() - start:.1f} s", flush=True)
    return True


def main(paths: list[str]) -> int:
    chapters = [Path(p).resolve() for p in paths] or sorted((ROOT / "book").glob("*.ipynb"))
    return 0 if all([execute(chapter) for chapter in chapters]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
