"""Every chapter, run as a Colab reader runs it and compared with its committed outputs (nbval).

`make test-chapters` (part of `make test`) runs this script. It

1. keeps a virtual environment in ``.cache/colab-venv`` with Colab's published GPU-runtime
   versions (``COLAB_PINS``) and no equinox, plus the test tools of ``requirements.txt``
   (pytest, nbval, pytest-xdist; Colab has pytest too), built once and rebuilt when the pins change;
2. builds the project's wheel from a clean copy of its sources and installs it there the way
   the chapters' first cell does (``pip install``: no ``-e``, no ``requirements.txt``), then
   checks that ``jax`` is still the pinned version;
3. copies each chapter alone into an empty temporary folder, with one last cell that checks
   that the kernel is this environment's and ``gfn_teach`` its installed wheel, and runs nbval
   on it from that environment: every cell executed in a fresh kernel, and its outputs compared
   with the committed ones (after ``tests/nbval_sanitize.cfg``, numbers allowed to differ by one
   unit of their last digit, ``tests/nbval_tolerance.py``; cells tagged
   ``nbval-ignore-output`` are executed and their own asserts checked, their outputs not
   compared). Two chapters at a time (one process per core), the longest first.

``XLA_FLAGS`` passes through to the kernels: `make test` sets a perturbation that moves the last
bits of compiled results as another processor does. The committed outputs were written by
`make execute` with ``requirements.txt``'s newer jax, so each comparison is also one across jax
versions and processors: what a Colab reader sees is what the page shows.

A chapter whose code cells, outputs, the library and this script are unchanged since it passed
here is skipped (``tests/unchanged.py``; ``FRESH=1`` runs everything).

Any failure names the chapter and the cell. Python here is the machine's (3.11); Colab's is 3.13.
"""

from __future__ import annotations

import argparse
import os
import re
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
# What runs and compares the chapters there, at the versions requirements.txt pins.
TEST_TOOLS = ("pytest", "nbval", "pytest-xdist")
CELL_TIMEOUT = 900
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
TOLERANCE = ROOT / "tests" / "nbval_tolerance.py"
RUNTIME_LINE = re.compile(r"\*Runtime: about (\d+) s")
# What a chapter run here depends on, besides the chapter itself (see tests/unchanged.py).
DEPENDS_ON = ["gfn_teach", "pyproject.toml", "README.md", "requirements.txt", "tests/colab_like.py",
              "tests/nbval_sanitize.cfg", "tests/nbval_tolerance.py"]


def run(*command, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], check=True, **kwargs)


def venv_python() -> Path:
    return VENV / "bin" / "python"


def test_tool_pins() -> list[str]:
    """``name==version`` of each of TEST_TOOLS, as requirements.txt pins it."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, separator, version = line.split("#")[0].strip().partition("==")
        if separator and name.lower() in TEST_TOOLS:
            pins[name.lower()] = f"{name}=={version}"
    missing = [tool for tool in TEST_TOOLS if tool not in pins]
    if missing:
        sys.exit(f"colab-like run: requirements.txt pins no version of {', '.join(missing)}")
    return [pins[tool] for tool in TEST_TOOLS]


def ensure_colab_venv() -> None:
    """Create (or recreate) the Colab-like environment unless it already has these pins."""
    pins = COLAB_PINS + test_tool_pins()
    wanted = "\n".join(pins)
    if STAMP.exists() and STAMP.read_text() == wanted and venv_python().exists():
        return
    shutil.rmtree(VENV, ignore_errors=True)
    venv.create(VENV, with_pip=True)
    run(venv_python(), "-m", "pip", "install", "-q", *pins)
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


# ------------------------------------------------------------------ each chapter, alone
def probe_cell():
    """A last cell, with the output it must print: the kernel and the library are the venv's."""
    import nbformat

    source = (
        "import sys, gfn_teach, jax\n"
        f"venv = {str(VENV)!r}\n"
        'print("kernel from the Colab-like venv:", sys.executable.startswith(venv))\n'
        'print("gfn_teach from its installed wheel:", gfn_teach.__file__.startswith(venv))\n'
        'print("jax", jax.__version__)\n'
    )
    expected = (f"kernel from the Colab-like venv: True\ngfn_teach from its installed wheel: True\n"
                f"jax {JAX_VERSION}\n")
    cell = nbformat.v4.new_code_cell(source, execution_count=1)  # nbval compares run cells only
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=expected)]
    return cell


def stage(chapter: str, folder: Path) -> Path:
    """``chapter`` alone in ``folder``, with the probe cell last; nbval's plugin beside it."""
    import nbformat

    folder.mkdir()
    notebook = nbformat.read(chapter, as_version=4)
    notebook.cells.append(probe_cell())
    copy = folder / Path(chapter).name
    nbformat.write(notebook, copy)
    shutil.copy2(TOLERANCE, folder / "conftest.py")  # loaded by pytest; not on the kernel's path
    return copy


def expected_seconds(chapter: str) -> int:
    """The time the chapter's runtime line states (0 without one): longest chapters go first."""
    match = RUNTIME_LINE.search(Path(chapter).read_text())
    return int(match.group(1)) if match else 0


def nbval_command(notebook: Path) -> list[str]:
    return [
        str(venv_python()), "-m", "pytest", "--nbval", "--nbval-current-env",
        f"--nbval-cell-timeout={CELL_TIMEOUT}", "--nbval-sanitize-with", str(SANITIZE),
        "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "--color=no",
        f"--rootdir={notebook.parent}", notebook.name,
    ]


def run_in_parallel(chapters: list[str], folder: Path):
    """nbval on each chapter in its own process of the Colab-like venv, one per core.

    Yields (chapter, exit code, seconds, the run's output)."""
    waiting = sorted(chapters, key=expected_seconds, reverse=True)
    running = {}
    while waiting or running:
        while waiting and len(running) < min(2, os.cpu_count() or 1):
            chapter = waiting.pop(0)
            notebook = stage(chapter, folder / Path(chapter).stem)
            log = open(notebook.parent / "nbval.log", "w+")
            process = subprocess.Popen(nbval_command(notebook), cwd=notebook.parent,
                                       env=clean_environment(), stdout=log, stderr=subprocess.STDOUT)
            running[chapter] = (process, log, time.perf_counter())
        time.sleep(0.2)
        for chapter, (process, log, start) in list(running.items()):
            if process.poll() is not None:
                del running[chapter]
                log.seek(0)
                yield chapter, process.returncode, time.perf_counter() - start, log.read()
                log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapters to run (default: book/*.ipynb)")
    parser.add_argument("--prepare", action="store_true",
                        help="only create the Colab-like venv (make test does it while the unit tests run)")
    args = parser.parse_args()
    if args.prepare:
        ensure_colab_venv()
        return 0
    chapters = [str(Path(c).resolve()) for c in args.chapters] or [
        str(p) for p in sorted((ROOT / "book").glob("*.ipynb"))
    ]
    start = time.perf_counter()
    stamps = unchanged.still_to_run("chapters", chapters, DEPENDS_ON)
    todo = list(stamps)
    if not todo:
        return 0
    ensure_colab_venv()
    with tempfile.TemporaryDirectory(prefix="colab-wheel-") as folder:
        install_wheel(build_wheel(Path(folder)))
    print(f"Colab-like environment ready in {time.perf_counter() - start:.0f} s "
          f"(jax {JAX_VERSION}, project installed from its wheel; XLA_FLAGS="
          f"{os.environ.get('XLA_FLAGS', '')!r})", flush=True)
    failed = []
    with tempfile.TemporaryDirectory(prefix="colab-like-") as folder:
        for chapter, returncode, seconds, output in run_in_parallel(todo, Path(folder)):
            name = Path(chapter).name
            if returncode == 0:
                unchanged.mark(stamps[chapter])
                print(f"  {name:40s} {seconds:6.1f} s  passed", flush=True)
            else:
                failed.append(name)
                print(f"  {name:40s} {seconds:6.1f} s  FAILED (nbval exit {returncode}):\n{output}", flush=True)
    print(f"chapters run and compared in the Colab-like venv in {time.perf_counter() - start:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
