"""Where each chapter's time goes: XLA compiling, or everything else (`make profile-chapters`).

Runs each chapter as `make execute` does (a fresh kernel of the project's venv, cwd ``book/``,
one chapter at a time) without writing it back, and reports, from JAX's own compile events
(``jax.monitoring``; ``jax_log_compiles`` for the names):

* per chapter: its time, the seconds XLA spent compiling (``backend_compile``), the seconds
  spent tracing and lowering to XLA, the number of programs compiled, how many of them were
  quick (under 0.1 s: mostly eager operations, one program each), and the rest (running the
  programs, Python, plotting);
* the cells that took longest, each with its compile share;
* the functions whose compilations cost most over the whole book;
* what ran the quick programs: for each, the gfn_teach function the cell called (the
  outermost gfn_teach frame on the stack), or "the cell" for the cell's own operations (and
  for a jitted gfn_teach function called by the cell: XLA compiles it after its frame is gone).

    .venv/bin/python tests/profile_chapters.py                      # every chapter, cold
    .venv/bin/python tests/profile_chapters.py book/07_evaluating.ipynb
    .venv/bin/python tests/profile_chapters.py --shared-cache       # one compilation cache
                                                                     # for the run, empty at first
    .venv/bin/python tests/profile_chapters.py --cache-dir DIR      # that cache, kept: a second
                                                                     # run has every program cached

Without ``--shared-cache`` or ``--cache-dir`` nothing is loaded from JAX's persistent
compilation cache: the times are a reader's first run. Run it on an otherwise idle machine; the JSON of the whole profile
goes to ``--json`` when given.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
QUICK = 0.1  # seconds: a compilation under this is counted as quick
PREFIX = "PROFILE-CHAPTERS "

# Run first in the chapter's kernel: every compile event is added to the cell that runs it, the
# chapter's code cells numbered from 0 in the order they run (this cell is -1).
LISTEN = r'''
import collections as _collections, logging as _logging, re as _re, traceback as _traceback
import jax as _jax, jax.monitoring as _monitoring
_profile = {"cell": -1, "events": _collections.defaultdict(float), "compiled": []}

def _on_duration(event, seconds, **kwargs):
    _profile["events"][(_profile["cell"], event.rsplit("/", 1)[-1])] += seconds

def _entry_point():
    """The gfn_teach function the cell called that led to this compile, or "the cell"."""
    for frame in _traceback.extract_stack():  # outermost first
        path = frame.filename.replace("\\", "/")
        if "/gfn_teach/" in path:
            return f"g.{path.rsplit('/gfn_teach/', 1)[1][:-3].replace('/', '.')}.{frame.name}"
    return "the cell"

class _Compiled(_logging.Handler):
    def emit(self, record):
        found = _re.search(r"Finished XLA compilation of (.*) in ([0-9.e+-]+) sec", record.getMessage())
        if found:
            _profile["compiled"].append((_profile["cell"], found.group(1), float(found.group(2)), _entry_point()))

def _next_cell(info):
    _profile["cell"] += 1

_monitoring.register_event_duration_secs_listener(_on_duration)
for _name in ("jax._src.interpreters.pxla", "jax._src.dispatch"):
    _logger = _logging.getLogger(_name)
    _logger.addHandler(_Compiled(_logging.DEBUG)); _logger.setLevel(_logging.DEBUG); _logger.propagate = False
_jax.config.update("jax_log_compiles", True)
get_ipython().events.register("pre_run_cell", _next_cell)
'''
REPORT = r'''
import json as _json
print("PROFILE-CHAPTERS " + _json.dumps({
    "events": [[cell, name, seconds] for (cell, name), seconds in _profile["events"].items()],
    "compiled": _profile["compiled"]}))
'''


def cell_seconds(cell) -> float:
    """A cell's run time, from the timestamps nbclient records in its metadata."""
    from datetime import datetime

    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return parse(end) - parse(start)


def profile(path: Path) -> dict:
    """Run ``path`` in a fresh kernel; its time, and each cell's time and compile events."""
    notebook = nbformat.read(path, as_version=4)
    code_cells = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    notebook.cells.insert(0, nbformat.v4.new_code_cell(LISTEN))
    notebook.cells.append(nbformat.v4.new_code_cell(REPORT))
    client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs if o.output_type == "stream")
    found = json.loads(printed.split(PREFIX, 1)[1])
    ran = [c for c in notebook.cells[1:-1] if c.cell_type == "code"]  # the chapter's code cells
    cells = {index: {"seconds": cell_seconds(c), "source": c.source.splitlines()[0] if c.source else "",
                     "compile": 0.0, "trace": 0.0, "programs": 0}
             for index, c in zip(code_cells, ran)}
    at = lambda run: code_cells[run] if 0 <= run < len(code_cells) else None  # its index in the notebook
    for run, event, value in found["events"]:
        cell = cells.get(at(run))
        if cell is None:  # the profiling cells' own
            continue
        if event == "backend_compile_duration":
            cell["compile"] += value
        elif event in ("jaxpr_trace_duration", "jaxpr_to_mlir_module_duration"):
            cell["trace"] += value
    compiled = [(at(run), name, value, caller) for run, name, value, caller in found["compiled"]]
    for index, *_ in compiled:
        if index in cells:
            cells[index]["programs"] += 1
    return {"seconds": seconds, "cells": cells, "compiled": compiled}


def summary(name: str, result: dict) -> dict:
    cells = result["cells"].values()
    quick = [value for _, _, value, _ in result["compiled"] if value < QUICK]
    compile_seconds = sum(c["compile"] for c in cells)
    trace_seconds = sum(c["trace"] for c in cells)
    return {"chapter": name, "seconds": result["seconds"], "compile": compile_seconds, "trace": trace_seconds,
            "programs": len(result["compiled"]), "quick": len(quick), "quick_seconds": sum(quick),
            "rest": result["seconds"] - compile_seconds - trace_seconds}


def print_report(results: dict, top_cells: int, top_functions: int) -> None:
    rows = [summary(name, result) for name, result in results.items()]
    print(f"\n{'chapter':40s} {'s':>6s} {'compile':>8s} {'trace':>6s} {'programs':>9s} {'quick':>11s} {'rest':>6s}")
    for r in rows + [{"chapter": "book", **{k: sum(r[k] for r in rows) for k in rows[0] if k != "chapter"}}]:
        print(f"{r['chapter']:40s} {r['seconds']:6.1f} {r['compile']:8.1f} {r['trace']:6.1f} {r['programs']:9d} "
              f"{r['quick']:5d} {r['quick_seconds']:4.1f} s {r['rest']:6.1f}")
    print("(compile: XLA; trace: tracing and lowering; quick: programs compiled in under "
          f"{QUICK} s and their seconds; rest: running, Python, plotting, the kernel's start)")
    cells = [(c["seconds"], name, index, c) for name, result in results.items() for index, c in result["cells"].items()]
    print(f"\nthe {top_cells} longest cells")
    for seconds, name, index, c in sorted(cells, key=lambda row: row[0], reverse=True)[:top_cells]:
        print(f"  {seconds:5.1f} s, compile {c['compile']:4.1f} s ({c['programs']:3d} programs)  "
              f"{name[:2]} cell {index:3d}: {c['source'][:60]}")
    costliest(f"the {top_functions} functions whose compilations cost most",
              [(function, seconds, name) for name, result in results.items()
               for _, function, seconds, _ in result["compiled"]], top_functions)
    costliest("what ran the quick programs (eager operations, mostly): the gfn_teach function a cell called",
              [(caller, seconds, name) for name, result in results.items()
               for _, _, seconds, caller in result["compiled"] if seconds < QUICK], top_functions)


def costliest(title: str, compiles: list[tuple[str, float, str]], top: int) -> None:
    """Print the ``top`` keys of ``(key, seconds, chapter)`` compiles by total seconds: each
    key's seconds, count and chapters."""
    by_key = collections.defaultdict(lambda: [0, 0.0, set()])
    for key, seconds, chapter in compiles:
        entry = by_key[key]
        entry[0] += 1
        entry[1] += seconds
        entry[2].add(chapter[:2])
    print(f"\n{title}")
    for key, (count, seconds, chapters) in sorted(by_key.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"  {seconds:5.1f} s {count:4d}x  {key[:50]:50s} chapters {' '.join(sorted(chapters))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapters (default: book/*.ipynb)")
    parser.add_argument("--shared-cache", action="store_true",
                        help="one persistent compilation cache for the run's chapters, empty at first")
    parser.add_argument("--cache-dir", help="the persistent compilation cache to use and keep (run "
                        "twice with the same folder: the second run is the book with every program cached)")
    parser.add_argument("--top-cells", type=int, default=15)
    parser.add_argument("--top-functions", type=int, default=15)
    parser.add_argument("--json", help="write the whole profile here")
    args = parser.parse_args()
    paths = [Path(p).resolve() for p in args.chapters] or sorted((ROOT / "book").glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"profile_chapters: no such notebook: {', '.join(missing)}")
    os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
    with tempfile.TemporaryDirectory(prefix="profile-cache-") as cache:
        if args.shared_cache or args.cache_dir:
            os.environ["JAX_COMPILATION_CACHE_DIR"] = args.cache_dir or cache
            os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        results = {}
        for path in paths:
            results[path.name] = profile(path)
            print(f"{path.name}: {results[path.name]['seconds']:.1f} s", flush=True)
    print_report(results, args.top_cells, args.top_functions)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
