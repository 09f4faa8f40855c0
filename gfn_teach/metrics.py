"""Distances between distributions over the states, modes found, and 2D marginals.

Every function takes probability vectors over the environment's ``all_states()`` (``[N]``). The
exact versions use the policy's terminal distribution from :mod:`gfn_teach.exact`; the
empirical versions use the histogram of a buffer of sampled terminal states.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .environment import Environment

_TINY = 1e-30  # stands in for q(x) = 0 in KL(p || q), so that log q stays finite


def total_variation(p: jax.Array, q: jax.Array) -> jax.Array:
    r""":math:`\mathrm{TV}(p, q) = \tfrac12 \sum_x |p(x) - q(x)|`, in [0, 1]."""
    return 0.5 * jnp.sum(jnp.abs(p - q))


def kl_divergence(p: jax.Array, q: jax.Array) -> jax.Array:
    r""":math:`\mathrm{KL}(p \,\|\, q) = \sum_x p(x) \log \frac{p(x)}{q(x)}` (order matters).

    Terms with :math:`p(x) = 0` are 0. Where :math:`q(x) = 0 < p(x)` the true value is
    infinite; ``q`` is replaced by ``1e-30`` there (and only there), so the result is finite
    but large. Every other term is exact. The sum is clipped at 0: for two distributions KL
    is never negative, though rounding can make the float32 sum a hair below 0.
    """
    log_p = jnp.log(jnp.where(p > 0, p, 1.0))
    log_q = jnp.log(jnp.where(q > 0, q, _TINY))
    return jnp.maximum(jnp.sum(jnp.where(p > 0, p * (log_p - log_q), 0.0)), 0.0)


def jensen_shannon(p: jax.Array, q: jax.Array) -> jax.Array:
    r""":math:`\mathrm{JSD}(p, q) = \tfrac12 \mathrm{KL}(p\|m) + \tfrac12 \mathrm{KL}(q\|m)`, :math:`m = \tfrac12(p+q)`."""
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m) + 0.5 * kl_divergence(q, m)


def empirical_distribution(env: Environment, states: jax.Array) -> jax.Array:
    """Histogram of terminal states ``[M, dim]``, normalised: ``[N]``."""
    counts = jnp.bincount(env.state_index(states), length=env.n_states)
    return counts / states.shape[0]


def marginal_2d(env, p: jax.Array, dims: tuple[int, int] = (0, 1)) -> jax.Array:
    """Hypergrid only: marginal of ``p`` over coordinates ``dims``, summing out the others,
    ``[side, side]``."""
    if env.dim < 2:
        raise ValueError(f"a 2D marginal needs dim >= 2, got dim={env.dim}")
    grid = p.reshape((env.side,) * env.dim)
    others = tuple(d for d in range(env.dim) if d not in dims)
    marginal = grid.sum(axis=others)
    return marginal if dims[0] < dims[1] else marginal.T


def modes_found(env: Environment, visited: jax.Array) -> jax.Array:
    """How many of the environment's ``n_modes`` modes have had a state sampled (for the
    hypergrid: a maximum-reward state of each of the ``2**dim`` corners).

    ``visited`` is a boolean ``[N]`` of states sampled so far. ``ValueError`` when the
    environment defines no modes (``env.mode_ids()`` is None).
    """
    ids = env.mode_ids()
    if ids is None:
        raise ValueError(f"{type(env).__name__} defines no modes (its mode_ids() is None)")
    hit = visited & (ids >= 0)
    found = jnp.zeros(env.n_modes + 1, dtype=bool).at[jnp.where(ids >= 0, ids, env.n_modes)].max(hit)
    return jnp.sum(found[: env.n_modes])


class DistributionMetrics(NamedTuple):
    """How far a learned distribution is from the target."""

    tv: jax.Array
    kl_target_to_learned: jax.Array  # KL(target || learned): large when modes are missed
    kl_learned_to_target: jax.Array  # KL(learned || target): large on low-reward mass
    jsd: jax.Array


@jax.jit
def compare(target: jax.Array, learned: jax.Array) -> DistributionMetrics:
    """All distances between the target and a learned (exact or empirical) distribution."""
    return DistributionMetrics(
        tv=total_variation(target, learned),
        kl_target_to_learned=kl_divergence(target, learned),
        kl_learned_to_target=kl_divergence(learned, target),
        jsd=jensen_shannon(target, learned),
    )


@partial(jax.jit, static_argnames=("env", "n_samples", "n_repeats"))
def sampling_noise_floor(
    key: jax.Array, env: Environment, n_samples: int, n_repeats: int = 8
) -> jax.Array:
    """Median TV between the target and the histogram of ``n_samples`` exact samples from it.

    What a *perfect* sampler scores: an empirical TV near this number cannot be told apart from
    one. It is not a lower bound: a sampler sharper than the target can score below it at small
    ``n_samples`` (at one sample, always returning the mode scores ``1 - max(pi)``, below a
    perfect sampler's ``1 - sum(pi**2)`` on average).
    """
    target = env.true_distribution()
    log_target = jnp.log(target)

    def one(key):
        idx = jax.random.categorical(key, log_target, shape=(n_samples,))
        counts = jnp.bincount(idx, length=env.n_states)
        return total_variation(target, counts / n_samples)

    return jnp.median(jax.vmap(one)(jax.random.split(key, n_repeats)))
