"""The package a reader installs is whole: every module of gfn_teach/ is in the wheel and the sdist.

Readers install the wheel (Colab's first cell runs ``pip install git+URL``), not the checkout,
so a module left out of it breaks every chapter that imports it. Both are built from a copy
of the sources, so that no stale ``build/`` folder can hide a missing module.
"""

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from colab_like import copy_sources  # tests/ is on sys.path under pytest

ROOT = Path(__file__).resolve().parents[1]


def checkout_modules() -> set[str]:
    """``gfn_teach/**/*.py`` of the checkout, as paths relative to the repository root."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "gfn_teach").rglob("*.py")}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """A wheel (``pip wheel . --no-deps``) and an sdist (``python -m build --sdist``)."""
    folder = tmp_path_factory.mktemp("dist")
    source = copy_sources(folder)
    out = folder / "out"
    quiet = {"check": True, "capture_output": True}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)], **quiet)
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), str(source)], **quiet)
    return out


def test_the_checkout_has_subpackages():
    """The check below means something only if there is more than one package to miss."""
    assert "gfn_teach/exercises/__init__.py" in checkout_modules()


def test_wheel_holds_every_module(dist):
    (wheel,) = dist.glob("gfn_teach-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.endswith(".py")}
    assert sorted(checkout_modules() - shipped) == []


def test_sdist_holds_every_module(dist):
    (sdist,) = dist.glob("gfn_teach-*.tar.gz")
    with tarfile.open(sdist) as archive:
        # Paths inside start with the sdist's folder, e.g. gfn_teach-0.1.0/gfn_teach/viz.py.
        shipped = {name.split("/", 1)[1] for name in archive.getnames() if name.endswith(".py")}
    assert sorted(checkout_modules() - shipped) == []
