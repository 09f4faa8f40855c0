"""Shared fixtures, and how the unit tests compile.

The unit tests check the maths and the plumbing, not the speed: they compile with most of XLA's
optimisations off (``JAX_DISABLE_MOST_OPTIMIZATIONS=1``, set before JAX is imported and inherited
by the tests' subprocesses), which makes the whole suite about a fifth quicker. The chapters
(nbval, the Colab-like run) keep JAX's defaults, as readers run them. A test about the optimised
compile itself is marked ``@pytest.mark.optimized``. ``JAX_DISABLE_MOST_OPTIMIZATIONS=0 pytest``
runs everything optimised.
"""

import os
import subprocess
import sys

os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

import gfn_teach as g  # noqa: E402


@pytest.fixture(autouse=True)
def optimized_when_marked(request):
    """``@pytest.mark.optimized`` tests compile with JAX's default optimisations."""
    if request.node.get_closest_marker("optimized") is None:
        yield
        return
    before = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", False)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture(scope="session")
def small_env():
    """A 2D grid small enough to enumerate by hand, big enough to have every reward band."""
    return g.Hypergrid(dim=2, side=6, reward="easy")


@pytest.fixture(scope="session")
def env3d():
    return g.Hypergrid(dim=3, side=4, reward="original")


@pytest.fixture
def key():
    return jax.random.PRNGKey(0)


@pytest.fixture
def in_fresh_interpreter():
    """Run Python code in a new interpreter and return what it printed; the test fails with its
    stderr if it fails. For what must happen before JAX starts (its number of CPU devices)."""

    def run(code: str) -> str:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    return run
