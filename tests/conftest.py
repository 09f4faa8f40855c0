import jax
import pytest

import gfn_teach as g


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
