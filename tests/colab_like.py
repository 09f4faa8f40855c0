"""Run every chapter the way a Colab reader does: the installed wheel, Colab's versions, no checkout.

`make test-colab` (part of `make test`) runs this script. It

1. keeps a virtual environment in ``.cache/colab-venv`` with Colab's published GPU-runtime
   versions (``COLAB_PINS``) and no equinox, built once and rebuilt when the pins change;
2. builds the project's wheel from a clean copy of its sources and installs it there the way
   the chapters' first cell does (``pip install``: no ``-e``, no ``requirements.txt``), then
   checks that ``jax`` is still the pinned version;
3. copies each chapter alone into an empty temporary folder and executes it with a fresh
   kernel of that environment, checking inside the kernel that ``gfn_teach`` comes from the
   installed wheel, not from a checkout; two chapters at a time (one process per core).

A chapter whose code, the library and this script are unchanged since it passed here is
skipped (``tests/unchanged.py``; ``FRESH=1`` runs everything).

Any error fails the run with a line naming the chapter and the cell. Python here is the
machine's (3.11); Colab's is 3.13.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import unchanged

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".cache" / "colab-venv"
STAMP = VENV / ".colab-pins"
JAX_VERSION = "0.7.2"
# Colab's GPU runtime, as published (Aug 2026): these, and no equinox.
COLAB_PINS = [
    f"jax=={JAX_VERSION}",
    f"jaxlib=={JAX_VERSION}",
    "optax==0.2.8",
    "numpy==2.1.3",
    "matplotlib==3.10.0",
    "ipywidgets==7.7.1",
    "ipykernel",
    "nbclient",
]
CELL_TIMEOUT = 900
# What a chapter run here depends on, besides the chapter itself (see tests/unchanged.py).
DEPENDS_ON = ["gfn_teach", "pyproject.toml", "README.md", "tests/colab_like.py"]


def run(*command, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], check=True, **kwargs)


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_colab_venv() -> None:
    """Create (or recreate) the Colab-like environment unless it already has these pins."""
    wanted = "\n".join(COLAB_PINS)
    if STAMP.exists() and STAMP.read_text() == wanted and venv_python().exists():
        return
    shutil.rmtree(VENV, ignore_errors=True)
    venv.create(VENV, with_pip=True)
    run(venv_python(), "-m", "pip", "install", "-q", *COLAB_PINS)
    STAMP.write_text(wanted)


def copy_sources(folder: Path) -> Path:
    """What a wheel is built from, copied into ``folder/source``: no stale build folders."""
    source = folder / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "gfn_teach", source / "gfn_teach", ignore=shutil.ignore_patterns("__pycache__"))
    return source


def build_wheel(out: Path) -> Path:
    """The project's wheel, built from a copy of its sources."""
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, copy_sources(out))
    (wheel,) = out.glob("gfn_teach-*.whl")
    return wheel


def install_wheel(wheel: Path) -> None:
    """Install as the Colab cell does; reinstall the project itself every time."""
    pip = [venv_python(), "-m", "pip", "install", "-q"]
    run(*pip, wheel)  # brings what Colab lacks (equinox, ...) and leaves what satisfies the bounds
    run(*pip, "--force-reinstall", "--no-deps", wheel)
    version = run(
        venv_python(), "-c", "import jax; print(jax.__version__)", capture_output=True, text=True
    ).stdout.strip()
    if version != JAX_VERSION:
        sys.exit(f"colab-like run: installing the wheel changed jax from {JAX_VERSION} to {version}")


def clean_environment() -> dict:
    """The environment for the kernels: nothing that points back at the checkout or its venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_PATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


# --------------------------------------------------------------------------- in the venv
PROBE = """
import sys, gfn_teach, jax
print(sys.executable, gfn_teach.__file__, jax.__version__, sep="\\n")
"""


def execute_chapters(chapters: list[str]) -> int:
    """Run inside the Colab-like venv: execute each chapter alone in an empty folder."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    failures, times = [], {}
    for chapter in chapters:
        name = Path(chapter).name
        with tempfile.TemporaryDirectory(prefix="colab-like-") as folder:
            shutil.copy2(chapter, Path(folder) / name)
            notebook = nbformat.read(Path(folder) / name, as_version=4)
            client = NotebookClient(
                notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                resources={"metadata": {"path": folder}},
            )
            start = time.perf_counter()
            with client.setup_kernel(stderr=subprocess.DEVNULL):  # cells' stderr still comes back
                index = None
                probe = nbformat.v4.new_code_cell(PROBE)  # run last, in the same kernel
                notebook.cells.append(probe)
                try:
                    for index, cell in enumerate(notebook.cells):
                        client.execute_cell(cell, index)
                except CellExecutionError as error:
                    first_line = notebook.cells[index].source.splitlines()[0] if notebook.cells[index].source else ""
                    message = f"{error.ename}: {error.evalue}".splitlines()[0]
                    failures.append(f"{chapter}: cell {index} ({first_line!r}) raised {message}")
                    continue
            times[name] = time.perf_counter() - start
            executable, module, jax_version = probe.outputs[0]["text"].split()
            if not executable.startswith(str(VENV)) or not module.startswith(str(VENV)):
                failures.append(f"{chapter}: the kernel used {executable} and {module}, not the Colab-like venv")
            elif jax_version != JAX_VERSION:
                failures.append(f"{chapter}: the kernel has jax {jax_version}, not {JAX_VERSION}")
            print(f"  {name:34s} {times[name]:6.1f} s", flush=True)
    if len(times) > 1:
        print(f"chapters executed in the Colab-like environment: {sum(times.values()):.0f} s in all")
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapters to run (default: book/*.ipynb)")
    parser.add_argument("--execute", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true",
                        help="only create the Colab-like venv (make test does it while the unit tests run)")
    args = parser.parse_args()
    if args.prepare:
        ensure_colab_venv()
        return 0
    chapters = [str(Path(c).resolve()) for c in args.chapters] or [
        str(p) for p in sorted((ROOT / "book").glob("*.ipynb"))
    ]
    if args.execute:
        return execute_chapters(chapters)

    start = time.perf_counter()
    stamps = unchanged.still_to_run("colab-like", chapters, DEPENDS_ON)
    todo = list(stamps)
    if not todo:
        return 0
    ensure_colab_venv()
    with tempfile.TemporaryDirectory(prefix="colab-wheel-") as folder:
        install_wheel(build_wheel(Path(folder)))
    print(f"Colab-like environment ready in {time.perf_counter() - start:.0f} s "
          f"(jax {JAX_VERSION}, project installed from its wheel)", flush=True)
    status = 0
    for chapter, returncode in run_in_parallel(todo):
        status = status or returncode
        if returncode == 0:
            unchanged.mark(stamps[chapter])
    print(f"Colab-like run took {time.perf_counter() - start:.0f} s")
    return status


def run_in_parallel(chapters: list[str]):
    """Each chapter in its own process of the Colab-like venv, one per core; yields exit codes."""
    waiting, running = list(chapters), {}
    while waiting or running:
        while waiting and len(running) < min(2, os.cpu_count() or 1):
            chapter = waiting.pop(0)
            running[chapter] = subprocess.Popen(
                [str(venv_python()), __file__, "--execute", chapter],
                cwd=tempfile.gettempdir(), env=clean_environment(),
            )
        time.sleep(0.2)
        for chapter, process in list(running.items()):
            if process.poll() is not None:
                del running[chapter]
                yield chapter, process.returncode

if __name__ == "__main__":
    sys.exit(main())
