r"""Many paths: how many trajectories reach each object, and what max-entropy RL samples.

A GFlowNet samples :math:`x` with probability :math:`R(x)/Z`, however many paths lead to
:math:`x`. The optimal policy of max-entropy RL (reward :math:`\log R(x)` on the stop edge,
no discount) puts probability :math:`R(\tau) / e^{V(s_0)}` on each *trajectory* instead, where
the normaliser is the soft value of the start, :math:`e^{V(s_0)} = \sum_y R(y)\, n(y)` (not
:math:`Z`), so an object reached by :math:`n(x)` paths is sampled with probability
:math:`R(x)\, n(x) / \sum_y R(y)\, n(y)`.
Each function is compiled (``eqx.filter_jit``) and works by dynamic programming over the
environment's DAG (see :func:`gfn_teach.exact.state_graph`), in log space: on the hypergrid
20^4 the path counts overflow float32. A grid whose tables cannot fit is refused first
(``ValueError``, see :func:`gfn_teach.memory.check_grid_fits`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from .environment import Environment
from .exact import state_graph, terminal_distribution_from_log_pf, uniform_log_pb
from .memory import check_grid_fits


@eqx.filter_jit
def log_path_counts(env: Environment) -> jax.Array:
    r"""``[n_states]``: :math:`\log n(s)`, the log of the number of paths from the start to
    each state, from :math:`n(s_0) = 1` and :math:`n(s) = \sum_{p \in \mathrm{Par}(s)} n(p)`."""
    check_grid_fits(env)
    graph = state_graph(env)
    at_start = jnp.where(jnp.arange(env.n_states) == graph.start, 0.0, -jnp.inf)

    def sweep(_, log_count):
        from_parents = jnp.where(graph.has_parent, log_count[graph.parent], -jnp.inf)
        return jnp.logaddexp(at_start, jax.nn.logsumexp(from_parents, axis=-1))

    return jax.lax.fori_loop(0, env.max_length - 1, sweep, at_start)


@eqx.filter_jit
def soft_values(env: Environment, log_pb: jax.Array | None = None) -> jax.Array:
    r"""``[n_states]``: the optimal max-entropy value :math:`V(s)` of each state (soft value
    iteration): :math:`Q(s, \text{stop}) = \log R(s)`, :math:`Q(s, a) = V(s')` for a move to
    :math:`s'`, and :math:`V(s) = \log \sum_a e^{Q(s, a)}` over the valid actions, so that
    :math:`e^{V(s)}` sums :math:`R(x)` over every path from :math:`s` to a stop.

    With ``log_pb`` (``[n_states, n_backward_actions]``, a backward policy's table), every move
    also earns :math:`\log P_B(s \mid s')`: :math:`Q(s, a) = \log P_B(s \mid s') + V(s')`, the
    soft-RL correction (see :func:`soft_rl_distribution`)."""
    return jax.nn.logsumexp(_soft_q(env, None, log_pb), axis=-1)


def _soft_q(env: Environment, values: jax.Array | None, log_pb: jax.Array | None = None) -> jax.Array:
    """``[n_states, n_actions]`` soft Q-values given the values (iterated to the fixed point when
    None); with ``log_pb``, a move to ``s'`` also earns ``log P_B(s | s')``."""
    check_grid_fits(env)
    graph = state_graph(env)
    log_r = jnp.where(graph.can_stop, env.log_reward(env.all_states()), -jnp.inf)
    is_stop = jnp.arange(env.n_actions) == env.stop_action
    # log P_B of stepping back along each move: the child's backward action that undoes it.
    move_reward = 0.0 if log_pb is None else log_pb[graph.child, graph.undo]

    def q_of(values):
        moves = jnp.where(graph.is_move, move_reward + values[graph.child], -jnp.inf)
        return jnp.where(is_stop, log_r[:, None], moves)

    if values is None:
        values = jax.lax.fori_loop(
            0, env.max_length, lambda _, v: jax.nn.logsumexp(q_of(v), axis=-1), log_r
        )
    return q_of(values)


@eqx.filter_jit
def maxent_rl_policy(env: Environment, log_pb: jax.Array | None = None) -> jax.Array:
    r"""``[n_states, n_actions]``: :math:`\log \pi(a|s) = Q(s, a) - V(s)`, the optimal
    max-entropy RL policy (``-inf`` on invalid actions); with ``log_pb``, that of soft RL whose
    moves also earn :math:`\log P_B(s \mid s')`."""
    values = soft_values(env, log_pb)
    return _soft_q(env, values, log_pb) - values[:, None]


@eqx.filter_jit
def maxent_rl_distribution(env: Environment) -> jax.Array:
    r"""``[n_states]``: the exact terminal distribution of the optimal max-entropy RL policy,
    :math:`R(x)\, n(x) / \sum_y R(y)\, n(y)` (0 on states that cannot stop)."""
    log_pf = maxent_rl_policy(env)
    return terminal_distribution_from_log_pf(env, jnp.maximum(log_pf, -1e30))


@eqx.filter_jit
def soft_rl_distribution(env: Environment, log_pb: jax.Array | None = None) -> jax.Array:
    r"""``[n_states]``: the exact terminal distribution of optimal soft RL with the
    :math:`\log P_B` correction, which is :math:`R(x)/Z`.

    Each move :math:`s \to s'` earns :math:`\log P_B(s \mid s')` for a fixed backward policy
    (``log_pb``, ``[n_states, n_backward_actions]``; uniform over the valid parents when None),
    and stopping at :math:`x` earns :math:`\log R(x)`. A trajectory :math:`\tau` into :math:`x`
    then has return :math:`\log R(x) + \log P_B(\tau \mid x)` and the optimal policy samples it
    with probability :math:`R(x) P_B(\tau \mid x) / e^{V(s_0)}`; summed over the trajectories into
    :math:`x`, where :math:`\sum_\tau P_B(\tau \mid x) = 1`, that is :math:`R(x)/Z`, with
    :math:`e^{V(s_0)} = Z` (Tiapkin et al., 2024; Deleu et al., 2024). Without the correction,
    :func:`maxent_rl_distribution` favours objects reached by many paths.
    """
    log_pb = uniform_log_pb(env) if log_pb is None else log_pb
    log_pf = maxent_rl_policy(env, log_pb)
    return terminal_distribution_from_log_pf(env, jnp.maximum(log_pf, -1e30))
