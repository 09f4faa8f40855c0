"""Distances, marginals and modes, against direct numpy computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g


@pytest.fixture
def two_distributions():
    rng = np.random.default_rng(0)
    p = rng.random(50)
    q = rng.random(50)
    q[:5] = 0.0  # zeros in q: KL(q||p) must stay finite
    return p / p.sum(), q / q.sum()


def test_tv_kl_jsd_against_numpy(two_distributions):
    p, q = two_distributions
    assert np.isclose(g.total_variation(p, q), 0.5 * np.abs(p - q).sum(), rtol=1e-5)
    nz = q > 0
    assert np.isclose(g.kl_divergence(q, p), np.sum(q[nz] * np.log(q[nz] / p[nz])), rtol=1e-4)
    m = (p + q) / 2
    kl = lambda a, b: np.sum(a[a > 0] * np.log(a[a > 0] / b[a > 0]))
    assert np.isclose(g.jensen_shannon(p, q), 0.5 * kl(p, m) + 0.5 * kl(q, m), rtol=1e-4)
    assert float(g.total_variation(p, p)) == 0.0 and abs(float(g.kl_divergence(p, p))) < 1e-6
    # Where q = 0 < p the true KL(p||q) is infinite; the documented floor q >= 1e-30 keeps it
    # finite (and large) so histories stay plottable.
    floored = np.sum(p * (np.log(p) - np.log(q + 1e-30)))
    metrics = g.compare(jnp.asarray(p), jnp.asarray(q))
    assert np.isclose(float(metrics.kl_target_to_learned), floored, rtol=1e-4)
    assert np.isclose(float(metrics.kl_learned_to_target), np.sum(q[nz] * np.log(q[nz] / p[nz])), rtol=1e-4)


def test_marginal_sums_out_other_dimensions():
    env = g.Hypergrid(3, 4)
    p = np.random.default_rng(1).random(64)
    p /= p.sum()
    expected = p.reshape(4, 4, 4).sum(axis=2)
    np.testing.assert_allclose(g.marginal_2d(env, jnp.asarray(p)), expected, rtol=1e-5)
    np.testing.assert_allclose(g.marginal_2d(env, jnp.asarray(p), (0, 2)), p.reshape(4, 4, 4).sum(1), rtol=1e-5)
    with pytest.raises(ValueError, match="dim >= 2"):
        g.marginal_2d(g.Hypergrid(1, 4), jnp.ones(4) / 4)


def test_empirical_distribution_counts_states():
    env = g.Hypergrid(2, 3)
    states = jnp.array([[0, 0], [0, 0], [2, 1], [1, 2]])
    expected = np.zeros(9)
    expected[0], expected[7], expected[5] = 0.5, 0.25, 0.25
    np.testing.assert_allclose(g.empirical_distribution(env, states), expected)


def test_modes_found_counts_corner_regions():
    env = g.Hypergrid(2, 20, "easy")
    modes = np.asarray(env.mode_mask())
    assert modes.sum() == 16  # cells 2,3,16,17 on each axis
    visited = np.zeros(env.n_states, bool)
    assert int(g.modes_found(env, jnp.asarray(visited))) == 0
    visited[int(env.state_index(jnp.array([2, 3])))] = True
    visited[int(env.state_index(jnp.array([3, 2])))] = True  # same corner
    visited[int(env.state_index(jnp.array([17, 2])))] = True
    visited[int(env.state_index(jnp.array([10, 10])))] = True  # not a mode
    assert int(g.modes_found(env, jnp.asarray(visited))) == 2


def test_noise_floor_shrinks_with_more_samples():
    env = g.Hypergrid(2, 10)
    key = jax.random.PRNGKey(0)
    small, large = (float(g.sampling_noise_floor(key, env, n)) for n in (100, 10_000))
    assert 0 < large < small < 1


def test_kl_of_two_close_distributions_is_never_negative_in_float32():
    # Issue 21 (minor): this pair gave -2.7e-08.
    k1, k2 = jax.random.split(jax.random.PRNGKey(2))
    p = jax.nn.softmax(jax.random.normal(k1, (50,)))
    q = jax.nn.softmax(jnp.log(p) + 1e-4 * jax.random.normal(k2, (50,)))
    assert float(g.kl_divergence(p, q)) >= 0.0
    assert float(g.jensen_shannon(p, q)) >= 0.0
