"""Exact answers by dynamic programming over the hypergrid's DAG (no sampling).

Both recursions are written on the grid as a ``dim``-dimensional array, so one sweep updates
every state at once: moving along coordinate ``d`` is a shift of that array by one cell.
The DAG is ``L = dim (side-1)`` edges deep, so ``L`` sweeps reach the exact fixed point.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .hypergrid import Hypergrid
from . import memory as _memory
from .memory import exact_evaluation_bytes, format_bytes, n_states
from .policy import (
    INVALID_LOGIT,
    TabularPolicy,
    evaluate_states,
    log_probs,
    masked_log_softmax,
)


class PolicyTables(NamedTuple):
    """A policy evaluated on every state, rows in :meth:`Hypergrid.all_states` order."""

    log_pf: jax.Array  # [N, dim+1]
    log_pb: jax.Array  # [N, dim]
    log_flow: jax.Array  # [N]


def policy_tables(policy, env: Hypergrid) -> PolicyTables:
    """Masked forward/backward log-probabilities and log-flows of ``policy`` on all states."""
    states = env.all_states()
    out = evaluate_states(policy, env, states)
    log_pf, log_pb = log_probs(out, env, states)
    return PolicyTables(log_pf, log_pb, out.log_flow)


def _shift_up(grid: jax.Array, axis: int) -> jax.Array:
    """``out[x] = grid[x - e_axis]`` (zero where ``x_axis = 0``): mass moved one cell up."""
    moved = jnp.roll(grid, 1, axis=axis)
    first = jax.lax.broadcasted_iota(jnp.int32, grid.shape, axis) == 0
    return jnp.where(first, 0.0, moved)


def _shift_down(grid: jax.Array, axis: int, fill: float) -> jax.Array:
    """``out[x] = grid[x + e_axis]`` (``fill`` where ``x_axis = side-1``)."""
    moved = jnp.roll(grid, -1, axis=axis)
    last = jax.lax.broadcasted_iota(jnp.int32, grid.shape, axis) == grid.shape[axis] - 1
    return jnp.where(last, fill, moved)


def terminal_distribution_from_log_pf(env: Hypergrid, log_pf: jax.Array) -> jax.Array:
    r"""Exact terminal distribution of a forward policy given as a table ``[N, dim+1]``.

    The probability of reaching a state obeys :math:`\rho(s_0) = 1` and

    .. math:: \rho(s) = \sum_{p \in \mathrm{Par}(s)} \rho(p)\, P_F(s|p),
              \qquad P_T(x) = \rho(x)\, P_F(\text{stop}|x).

    Returns :math:`P_T` as ``[N]`` in :meth:`Hypergrid.all_states` order.
    """
    shape = (env.side,) * env.dim
    move = jnp.exp(log_pf[:, : env.dim]).T.reshape((env.dim,) + shape)
    stop = jnp.exp(log_pf[:, env.stop_action]).reshape(shape)
    origin = jnp.zeros(shape).at[(0,) * env.dim].set(1.0)

    def sweep(_, reach):
        inflow = sum(_shift_up(reach * move[d], d) for d in range(env.dim))
        return origin + inflow

    reach = jax.lax.fori_loop(0, env.max_length - 1, sweep, origin)
    return (reach * stop).reshape(-1)


def terminal_distribution(policy, env: Hypergrid) -> jax.Array:
    """Exact terminal distribution ``[N]`` of ``policy``'s forward policy (jittable).

    Raises ``ValueError`` before allocating anything when the grid's tables cannot fit in
    memory (see :func:`check_grid_fits`).
    """
    check_grid_fits(env, _row_width(policy))
    return terminal_distribution_from_log_pf(env, policy_tables(policy, env).log_pf)


def _row_width(policy) -> int:
    """Activations per state when the policy runs on it: the MLP's hidden units, else 0."""
    mlp = getattr(policy, "mlp", None)
    return getattr(mlp, "width_size", 0) * getattr(mlp, "depth", 0) if mlp is not None else 0


def check_grid_fits(env: Hypergrid, row_width: int = 0, memory: int | None = None) -> None:
    """``ValueError`` if evaluating a policy on every state of ``env`` needs more memory than
    the device has (estimate: :func:`gfn_teach.memory.exact_evaluation_bytes`)."""
    memory = _memory.machine_memory() if memory is None else memory
    n = n_states(env.dim, env.side)
    need = exact_evaluation_bytes(n, env.dim, env.side, row_width)
    if memory is not None and need > memory:
        per_state = need / n
        raise ValueError(
            f"an exact evaluation of Hypergrid(dim={env.dim}, side={env.side}) ({n:.6g} states) "
            f"needs about {format_bytes(need)} of memory, more than the {format_bytes(memory)} of "
            f"this machine; it fits up to about {int(memory // per_state):,} states"
        )


class ExactFlows(NamedTuple):
    """The unique flow that matches the reward for a given backward policy."""

    log_flow: jax.Array  # [N] log F(s)
    log_edge_flow: jax.Array  # [N, dim+1] log F(s -> s + e_d), then log F(s -> s_f) = log R(s)
    log_pf: jax.Array  # [N, dim+1] log P_F = log edge flow - log F(s)


def exact_flows(env: Hypergrid, log_pb: jax.Array | None = None) -> ExactFlows:
    r"""Exact flows for a backward policy (uniform over valid parents when ``log_pb`` is None).

    The state flow is the reward plus what flows back from the children,

    .. math:: F(s) = R(s) + \sum_{c \in \mathrm{Ch}(s)} F(c)\, P_B(s|c),

    and the edge flows are :math:`F(s \to c) = F(c) P_B(s|c)`, :math:`F(s \to s_f) = R(s)`.
    Then :math:`P_F(c|s) = F(s\to c)/F(s)` samples :math:`x` with probability :math:`R(x)/Z`
    and :math:`F(s_0) = Z`. ``log_pb`` is a table ``[N, dim]`` of :math:`\log P_B` at each state.
    """
    states = env.all_states()
    if log_pb is None:
        valid = env.backward_valid(states)
        log_pb = jnp.where(valid, -jnp.log(jnp.maximum(valid.sum(-1, keepdims=True), 1)), INVALID_LOGIT)
    shape = (env.side,) * env.dim
    log_r = env.log_reward(states).reshape(shape)
    log_pb_grid = log_pb.T.reshape((env.dim,) + shape)

    def child_terms(log_flow):  # [dim, *shape]: log F(s + e_d) + log P_B(s | s + e_d)
        return jnp.stack(
            [_shift_down(log_flow + log_pb_grid[d], d, INVALID_LOGIT) for d in range(env.dim)]
        )

    def sweep(_, log_flow):
        return jnp.logaddexp(log_r, jax.nn.logsumexp(child_terms(log_flow), axis=0))

    log_flow = jax.lax.fori_loop(0, env.max_length, sweep, log_r)
    edges = jnp.concatenate([child_terms(log_flow), log_r[None]], axis=0)
    log_edge_flow = edges.reshape(env.dim + 1, -1).T
    flat_flow = log_flow.reshape(-1)
    return ExactFlows(flat_flow, log_edge_flow, log_edge_flow - flat_flow[:, None])


def exact_tabular_policy(
    env: Hypergrid, backward_logits: jax.Array | None = None
) -> TabularPolicy:
    """A :class:`TabularPolicy` holding the exact flows: every loss is zero at it.

    Forward logits are the log edge flows (so flow matching holds too), log-flows are
    :math:`\\log F(s)`, and ``log_z`` is :math:`\\log Z`. With ``backward_logits`` ``[N, dim]``
    the backward policy is learned and the flows are the ones consistent with it.
    """
    learn_backward = backward_logits is not None
    if learn_backward:
        log_pb = masked_log_softmax(backward_logits, env.backward_valid(env.all_states()))
    else:
        backward_logits = jnp.zeros((env.n_states, env.dim))
        log_pb = None
    flows = exact_flows(env, log_pb)
    table = jnp.concatenate(
        [flows.log_edge_flow, flows.log_flow[:, None], backward_logits], axis=-1
    )
    return TabularPolicy(env, learn_backward, table=table, log_z=flows.log_flow[0])
