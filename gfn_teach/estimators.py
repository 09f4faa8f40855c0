r"""Evaluating a sampler without enumerating its space: estimates from trajectories alone.

When the states cannot be listed, :func:`gfn_teach.terminal_distribution` is out of reach,
but a trained GFlowNet still gives unbiased estimates through its backward policy. For a
terminal state :math:`x` and trajectories :math:`\tau \sim P_B(\cdot \mid x)`,

.. math::
    P_T(x) = \sum_{\tau \to x} P_F(\tau)
           = \mathbb{E}_{\tau \sim P_B(\cdot \mid x)}\left[\frac{P_F(\tau)}{P_B(\tau \mid x)}\right],

importance sampling with :math:`P_B` as the proposal; and for :math:`\log Z`,

.. math::
    \mathrm{ELBO} = \mathbb{E}_{\tau \sim P_F}\left[\log \frac{R(x) P_B(\tau \mid x)}{P_F(\tau)}\right]
    \le \log Z \le
    \mathbb{E}_{x \sim \pi,\, \tau \sim P_B(\cdot \mid x)}\left[\log \frac{R(x) P_B(\tau \mid x)}{P_F(\tau)}\right]
    = \mathrm{EUBO},

both equalities holding exactly when :math:`P_F(\tau) = R(x) P_B(\tau \mid x) / Z` for every
trajectory. The EUBO needs samples of the target :math:`\pi`, so it is a check for spaces
where some are known, not a general tool. :math:`P_F(\tau)` here includes the stop action.
Each estimate is compiled (``eqx.filter_jit``; ``n`` is static).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from .environment import Environment
from .losses import trajectory_terms
from .rollout import Trajectory, backward_rollout, forward_rollout


def log_ratio(policy, env: Environment, traj: Trajectory) -> jax.Array:
    r"""``[B]``: :math:`\log P_F(\tau) - \log P_B(\tau \mid x)` of each trajectory."""
    terms = trajectory_terms(policy, env, traj)
    return terms.log_pf.sum(0) - terms.log_pb.sum(0)


def estimate_log_pt(policy, env: Environment, states: jax.Array, key: jax.Array, n: int) -> jax.Array:
    r"""``[B]``: the importance-sampled estimate of :math:`\log P_T(x)` for each terminal state
    of ``states`` (``[B, state_size]``), from ``n`` backward trajectories each:

    .. math::
        \widehat{\log P_T}(x) = \log \frac{1}{n} \sum_{k=1}^n \frac{P_F(\tau_k)}{P_B(\tau_k \mid x)},
        \qquad \tau_k \sim P_B(\cdot \mid x).

    The average inside the log is unbiased for :math:`P_T(x)`; its log is biased low (Jensen),
    by less as ``n`` grows, and exact for any ``n`` when :math:`P_B` is the backward policy
    of :math:`P_F`'s own flows.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:  # checked before the compiled part,
        raise ValueError(f"n must be an integer >= 1 (backward trajectories per state), got {n!r}")
    return _estimate_log_pt(policy, env, states, key, n)  # whose cache would take True for 1


@eqx.filter_jit
def _estimate_log_pt(policy, env: Environment, states: jax.Array, key: jax.Array, n: int) -> jax.Array:
    batch = states.shape[0]
    repeated = jnp.repeat(states, n, axis=0)  # [B * n, state_size]: n copies of each x in a row
    ratios = log_ratio(policy, env, backward_rollout(key, env, policy, repeated)).reshape(batch, n)
    return jax.nn.logsumexp(ratios, axis=1) - jnp.log(n)


@eqx.filter_jit
def elbo(policy, env: Environment, key: jax.Array, n: int) -> jax.Array:
    r"""The ELBO of :math:`\log Z` from ``n`` trajectories of the policy itself (no exploration):
    the mean of :math:`\log R(x) + \log P_B(\tau \mid x) - \log P_F(\tau)`, at most
    :math:`\log Z` in expectation."""
    traj = forward_rollout(key, env, policy, n)
    return jnp.mean(traj.log_rewards - log_ratio(policy, env, traj))


@eqx.filter_jit
def eubo(policy, env: Environment, target_states: jax.Array, key: jax.Array) -> jax.Array:
    r"""The EUBO of :math:`\log Z` from terminal states drawn from the target
    (``[M, state_size]``), one backward trajectory each: the mean of
    :math:`\log R(x) + \log P_B(\tau \mid x) - \log P_F(\tau)`, at least :math:`\log Z` in
    expectation."""
    traj = backward_rollout(key, env, policy, target_states)
    return jnp.mean(traj.log_rewards - log_ratio(policy, env, traj))


def reward_log_pt_correlation(log_rewards: jax.Array, log_pt: jax.Array) -> jax.Array:
    r"""Pearson correlation of :math:`\log R(x)` and (estimated) :math:`\log P_T(x)` over a set
    of states: 1 for a perfect sampler, whose :math:`\log P_T = \log R - \log Z`. A necessary
    check, not a sufficient one: any :math:`P_T \propto R^\beta` with :math:`\beta > 0` also
    scores 1."""
    return jnp.corrcoef(jnp.stack([log_rewards, log_pt]))[0, 1]
