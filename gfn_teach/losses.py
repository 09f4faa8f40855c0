r"""The four GFlowNet training objectives, as pure functions of a policy and trajectories.

Each loss evaluates the policy once on every state of the batch (``T+1`` states per
trajectory) and slices the outputs for :math:`s` and :math:`s'`, rather than calling the
network once for each side of every transition. Stopping at a terminal state :math:`x`
is the edge :math:`x \to s_f`, whose flow is :math:`R(x)` (on the hypergrid every state
is terminal).

Each loss is a plain function ``loss(policy, env, traj, ...)``; nothing in it exists for speed
only. :func:`gfn_teach.speedups.on_visited_rows` wraps a loss to run the network on the
visited nodes only (same value and gradient).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .environment import Environment
from .policy import INVALID_LOGIT, evaluate_states, log_probs
from .rollout import Trajectory


class TrajectoryTerms(NamedTuple):
    """Per-step quantities of a batch of trajectories under a policy (differentiable)."""

    log_pf: jax.Array  # [T, B] log P_F(s_{t+1} | s_t) (0 on padding)
    log_pb: jax.Array  # [T, B] log P_B(s_t | s_{t+1}) (0 for stop and padding)
    log_flow: jax.Array  # [T+1, B] log F(s_t)
    is_stop: jax.Array  # [T, B]
    is_padding: jax.Array  # [T, B]
    log_reward: jax.Array  # [B]
    log_z: jax.Array  # [] learned log Z


def visited_nodes(traj: Trajectory) -> jax.Array:
    """``[T+1, B]`` bool: node ``t`` is a real state of its trajectory (``t <= n``)."""
    n_moves = jnp.sum(~traj.is_padding, axis=0) - 1  # [B] increments before stop
    return jnp.arange(traj.states.shape[0])[:, None] <= n_moves


def evaluate_nodes(policy, env: Environment, states: jax.Array, visited: jax.Array):
    """Policy outputs on trajectory nodes ``[..., state_size]``; rows not ``visited`` may be zeros.

    The network runs on every row, unless the policy says how to run it on the visited rows
    only (a method ``evaluate_nodes(env, states, visited)``, which the wrapper of
    :func:`gfn_teach.speedups.on_visited_rows` has). Same values on the visited rows either way.
    """
    if hasattr(policy, "evaluate_nodes"):
        return policy.evaluate_nodes(env, states, visited)
    return evaluate_states(policy, env, states)


def trajectory_terms(policy, env: Environment, traj: Trajectory) -> TrajectoryTerms:
    """Evaluate the policy once on every visited node of the batch and gather the terms."""
    out = evaluate_nodes(policy, env, traj.states, visited_nodes(traj))
    log_pf_all, log_pb_all = log_probs(out, env, traj.states)
    log_pf = jnp.take_along_axis(log_pf_all[:-1], traj.actions[..., None], axis=-1)[..., 0]
    backward_action = env.backward_action(traj.actions)
    log_pb = jnp.take_along_axis(log_pb_all[1:], backward_action[..., None], axis=-1)[..., 0]
    is_stop = (traj.actions == env.stop_action) & ~traj.is_padding
    is_move = ~is_stop & ~traj.is_padding
    return TrajectoryTerms(
        log_pf=jnp.where(traj.is_padding, 0.0, log_pf),
        log_pb=jnp.where(is_move, log_pb, 0.0),
        log_flow=out.log_flow,
        is_stop=is_stop,
        is_padding=traj.is_padding,
        log_reward=traj.log_rewards,
        log_z=policy.log_z,
    )


def detailed_balance(policy, env: Environment, traj: Trajectory) -> jax.Array:
    r"""Detailed balance, averaged over the real (non-padding) transitions.

    .. math::
        \delta(s \to s') = \log F(s) + \log P_F(s'|s) - \log F(s') - \log P_B(s|s'),

    and for the stop edge :math:`\delta(x \to s_f) = \log F(x) + \log P_F(\text{stop}|x) - \log R(x)`.
    The loss is the mean of :math:`\delta^2`.
    """
    terms = trajectory_terms(policy, env, traj)
    log_reward = jnp.broadcast_to(terms.log_reward, terms.is_stop.shape)
    target = jnp.where(terms.is_stop, log_reward, terms.log_flow[1:] + terms.log_pb)
    residual = terms.log_flow[:-1] + terms.log_pf - target
    real = ~terms.is_padding
    return jnp.sum(jnp.where(real, residual**2, 0.0)) / jnp.sum(real)


def trajectory_balance(policy, env: Environment, traj: Trajectory) -> jax.Array:
    r"""Trajectory balance with the learned :math:`\log Z`, averaged over trajectories.

    .. math::
        \delta(\tau) = \log Z + \sum_t \log P_F(s_{t+1}|s_t) - \log R(x) - \sum_t \log P_B(s_t|s_{t+1}).
    """
    terms = trajectory_terms(policy, env, traj)
    residual = terms.log_z + terms.log_pf.sum(0) - terms.log_reward - terms.log_pb.sum(0)
    return jnp.mean(residual**2)


def subtrajectory_balance(
    policy,
    env: Environment,
    traj: Trajectory,
    lam: float | jax.Array = 0.9,
) -> jax.Array:
    r"""Sub-trajectory balance SubTB(:math:`\lambda`) (Madan et al., 2023).

    Number the nodes of a trajectory :math:`s_0, \dots, s_n, s_{n+1} = s_f`, where
    :math:`x = s_n` and the last edge is stop, and set :math:`\log F(s_{n+1}) := \log R(x)`.
    For every pair :math:`0 \le i < j \le n+1`,

    .. math::
        \delta_{ij} = \log F(s_i) + \sum_{t=i}^{j-1} \log P_F(s_{t+1}|s_t)
                    - \log F(s_j) - \sum_{t=i}^{j-1} \log P_B(s_t|s_{t+1}),

    and each trajectory's loss is :math:`\sum \lambda^{j-i} \delta_{ij}^2 / \sum \lambda^{j-i}`,
    averaged over trajectories. Pairs :math:`(t, t+1)` are DB; the pair :math:`(0, n+1)` is TB
    with :math:`\log Z = \log F(s_0)`. Any :math:`\lambda > 0`: small :math:`\lambda` weights
    the short sub-trajectories most (towards DB), large :math:`\lambda` the long ones (towards TB).
    """
    terms = trajectory_terms(policy, env, traj)
    n_nodes = terms.log_flow.shape[0]  # T + 1 positions; the sink sits at index n + 1
    k = jnp.arange(n_nodes)[:, None]  # [T+1, 1]
    sink = jnp.sum(~terms.is_padding, axis=0)[None, :]  # [1, B] = n + 1
    node_flow = jnp.where(k == sink, terms.log_reward[None, :], terms.log_flow)
    step = terms.log_pf - terms.log_pb  # [T, B]
    cumulative = jnp.concatenate([jnp.zeros_like(step[:1]), jnp.cumsum(step, axis=0)], axis=0)
    g = node_flow - cumulative  # delta_ij = g_i - g_j
    delta = g[:, None, :] - g[None, :, :]  # [i, j, B]
    i, j = jnp.arange(n_nodes)[:, None, None], jnp.arange(n_nodes)[None, :, None]
    # Weights lambda^(j-i); for lambda > 1, lambda^(j-i-(n+1)), the same weights up to the
    # trajectory's factor lambda^(n+1) that the normalisation cancels, so none overflows.
    shift = jnp.where(lam > 1, sink[None], 0)
    weight = jnp.where((i < j) & (j <= sink[None]), lam ** (j - i - shift).astype(jnp.float32), 0.0)
    per_trajectory = jnp.sum(weight * delta**2, axis=(0, 1)) / jnp.sum(weight, axis=(0, 1))
    return jnp.mean(per_trajectory)


def flow_matching(policy, env: Environment, traj: Trajectory) -> jax.Array:
    r"""Flow matching with edge flows :math:`F(s \to s') = \exp(\text{forward logit})`.

    For every visited state :math:`s \ne s_0` the flow in equals the flow out,

    .. math::
        \log \sum_{p \in \mathrm{Par}(s)} F(p \to s) = \log \Big( \sum_{c \in \mathrm{Ch}(s)} F(s \to c) + F(s \to s_f) \Big),

    and the terminating edge carries the reward, :math:`F(s \to s_f) = R(s)`, at every visited
    terminal state. The loss is the mean squared log-ratio of the first plus that of the second. The
    forward policy is :math:`P_F(c|s) \propto F(s \to c)`; no backward policy is needed.
    """
    states = traj.states  # [T+1, B, state_size]
    visited = visited_nodes(traj)
    out = evaluate_nodes(policy, env, states, visited)
    valid_out = env.forward_valid(states)
    log_outflow = jax.nn.logsumexp(jnp.where(valid_out, out.forward_logits, INVALID_LOGIT), axis=-1)

    parents, action_into_s, has_parent = env.parents(states)  # [T+1, B, P, ...]
    needed = has_parent & visited[..., None]
    parent_out = evaluate_nodes(policy, env, parents, needed)
    edge_into_s = jnp.take_along_axis(parent_out.forward_logits, action_into_s[..., None], axis=-1)[..., 0]
    log_inflow = jax.nn.logsumexp(jnp.where(has_parent, edge_into_s, INVALID_LOGIT), axis=-1)

    not_initial = visited.at[0].set(False)
    matching = jnp.where(not_initial, log_inflow - log_outflow, 0.0)
    stop_logit = out.forward_logits[..., env.stop_action]
    can_stop = visited & valid_out[..., env.stop_action]
    terminating = jnp.where(can_stop, stop_logit - env.log_reward(states), 0.0)
    return (
        jnp.sum(matching**2) / jnp.maximum(jnp.sum(not_initial), 1)
        + jnp.sum(terminating**2) / jnp.maximum(jnp.sum(can_stop), 1)
    )


def modified_detailed_balance(policy, env: Environment, traj: Trajectory) -> jax.Array:
    r"""Modified detailed balance (Deleu et al., 2022), for environments where every state can stop.

    With every state terminal, the stop probability stands in for the state flow,
    :math:`F(s) = R(s) / P_F(\text{stop} \mid s)`, and detailed balance on a move
    :math:`s \to s'` becomes an equation without a flow network:

    .. math::
        \delta(s \to s') = \log R(s) + \log P_F(s' \mid s) + \log P_F(\text{stop} \mid s')
        - \log R(s') - \log P_B(s \mid s') - \log P_F(\text{stop} \mid s).

    The loss is the mean of :math:`\delta^2` over the moves of the batch (the stop steps and the
    padding give no equation). It is zero exactly when :math:`P_F` samples :math:`R/Z`
    for the backward policy :math:`P_B`.
    """
    states = traj.states  # [T+1, B, state_size]
    log_pf_all, log_pb_all = log_probs(evaluate_states(policy, env, states), env, states)
    log_stop = log_pf_all[..., env.stop_action]  # [T+1, B]: log P_F(stop | s_t)
    log_pf = jnp.take_along_axis(log_pf_all[:-1], traj.actions[..., None], axis=-1)[..., 0]
    back = env.backward_action(traj.actions)
    log_pb = jnp.take_along_axis(log_pb_all[1:], back[..., None], axis=-1)[..., 0]  # log P_B(s_t | s_t+1)
    log_r = env.log_reward(states)  # [T+1, B]
    is_move = (traj.actions != env.stop_action) & ~traj.is_padding
    log_pb = jnp.where(is_move, log_pb, 0.0)  # a stop step has no P_B (the start: -inf)
    residual = log_r[:-1] + log_pf + log_stop[1:] - log_r[1:] - log_pb - log_stop[:-1]
    return jnp.sum(jnp.where(is_move, residual, 0.0) ** 2) / jnp.maximum(jnp.sum(is_move), 1)


LOSSES = {
    "fm": flow_matching,
    "db": detailed_balance,
    "tb": trajectory_balance,
    "subtb": subtrajectory_balance,
    "mdb": modified_detailed_balance,
}
