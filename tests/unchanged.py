"""Skip a check whose inputs have not changed since it last passed in this checkout.

`make test` runs each slow check (the unit tests, each chapter's run in the Colab-like venv)
through this script. A check's *fingerprint* is a SHA-256 over everything it reads: the files
named on the command line (folders are walked, ``__pycache__`` skipped), and for a notebook only
what executing it depends on and compares (its code cells' source, outputs and tags; not its
Markdown, unless the check reads the prose, as the unit tests do), plus the environment
variables that change results (``XLA_FLAGS``).
When a check passes, its fingerprint is written under ``.cache/passed/``; the next run with the
same fingerprint says so and skips it. A fresh clone has no ``.cache`` and runs everything, and
``FRESH=1`` (or ``CI=true``) ignores the stamps.

    python tests/unchanged.py fingerprint NAME FILE...   print NAME's fingerprint (notebooks whole)
    python tests/unchanged.py passed FINGERPRINT         exit 0 if it passed before
    python tests/unchanged.py mark FINGERPRINT           record that it passed
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAMPS = ROOT / ".cache" / "passed"
ENVIRONMENT = ("XLA_FLAGS", "JAX_ENABLE_X64", "PYTHONHASHSEED")


def notebook_inputs(path: Path) -> bytes:
    """What executing and comparing a notebook depends on: code cells, their outputs and tags."""
    notebook = json.loads(path.read_text())
    cells = [
        [cell["source"], cell.get("outputs", []), cell.get("metadata", {}).get("tags", [])]
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
    ]
    return json.dumps(cells, sort_keys=True).encode()


def files_under(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return [path]


def fingerprint(name: str, paths: list[str], whole_notebooks: bool = False) -> str:
    """SHA-256 of ``name``, ENVIRONMENT and the files under ``paths``.

    A notebook counts by what executing it reads (``notebook_inputs``), or whole, Markdown
    included, with ``whole_notebooks`` (for checks that read the prose, as the unit tests do)."""
    digest = hashlib.sha256(name.encode())
    for variable in ENVIRONMENT:
        digest.update(f"{variable}={os.environ.get(variable, '')}\n".encode())
    for path in paths:
        for file in files_under(Path(path)):
            digest.update(file.as_posix().encode())
            as_run = file.suffix == ".ipynb" and not whole_notebooks
            digest.update(notebook_inputs(file) if as_run else file.read_bytes())
    return digest.hexdigest()[:16]


def fresh() -> bool:
    return os.environ.get("FRESH", "") not in ("", "0") or os.environ.get("CI", "") == "true"


def passed(stamp: str) -> bool:
    return not fresh() and (STAMPS / stamp).exists()


def still_to_run(check: str, chapters: list[str], depends_on: list[str]) -> dict[str, str]:
    """The chapters ``check`` must run, each with its fingerprint; says which are skipped."""
    stamps = {c: fingerprint(check, [c, *depends_on]) for c in chapters}
    for chapter, stamp in stamps.items():
        if passed(stamp):
            print(f"{check}: {Path(chapter).name} unchanged since it passed ({stamp}), skipped "
                  "(FRESH=1 reruns it)")
    return {c: stamp for c, stamp in stamps.items() if not passed(stamp)}


def mark(stamp: str) -> None:
    STAMPS.mkdir(parents=True, exist_ok=True)
    (STAMPS / stamp).touch()


def main(argv: list[str]) -> int:
    command, *rest = argv
    if command == "fingerprint":
        print(fingerprint(rest[0], rest[1:], whole_notebooks=True))
        return 0
    if command == "passed":
        return 0 if passed(rest[0]) else 1
    if command == "mark":
        mark(rest[0])
        return 0
    sys.exit(f"unchanged.py: unknown command {command!r}; use fingerprint, passed or mark")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
