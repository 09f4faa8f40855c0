"""Exact answers by dynamic programming over an environment's DAG (no sampling).

Any enumerable environment works: :func:`state_graph` lists, for every state, the index
of the child each forward action leads to and of each parent. A sweep then updates every
state at once with gathers along those edges. Flows only move one edge per sweep, and no
path is longer than ``max_length`` edges, so that many sweeps reach the exact fixed point.

The functions a reader calls directly are compiled (``eqx.filter_jit``, once per environment
and policy shape): called one operation at a time, JAX would compile every operation on its
own, which takes seconds on a CPU; inside another ``jit`` they are simply inlined.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from .environment import Environment
from .memory import check_grid_fits, describe
from .policy import (
    INVALID_LOGIT,
    TabularPolicy,
    evaluate_states,
    log_probs,
    masked_log_softmax,
)


class StateGraph(NamedTuple):
    """The DAG of an environment as index tables over ``all_states()`` (``N`` rows)."""

    child: jax.Array  # [N, A] the state each forward action leads to (own row for stop)
    is_move: jax.Array  # [N, A] bool: a valid forward action other than stop
    undo: jax.Array  # [N, A] the backward action, at the child, that undoes the move
    can_stop: jax.Array  # [N] bool: the state is terminal
    parent: jax.Array  # [N, P] each parent's row
    parent_action: jax.Array  # [N, P] the forward action from that parent to this state
    has_parent: jax.Array  # [N, P] bool
    start: jax.Array  # [] the row of the start state s0


def state_graph(env: Environment) -> StateGraph:
    """Every edge of ``env``'s DAG, found by calling its ``step`` and ``parents`` (jittable)."""
    states = env.all_states()
    n, n_actions = states.shape[0], env.n_actions
    actions = jnp.broadcast_to(jnp.arange(n_actions), (n, n_actions))
    moved, _ = env.step(jnp.repeat(states[:, None], n_actions, axis=1), actions)
    valid = env.forward_valid(states)
    is_move = valid & (actions != env.stop_action)
    own_row = jnp.arange(n)[:, None]
    child = jnp.where(is_move, env.state_index(moved), own_row)
    parent_states, parent_action, has_parent = env.parents(states)
    parent = jnp.where(has_parent, env.state_index(parent_states), own_row)
    return StateGraph(
        child=child.astype(jnp.int32),
        is_move=is_move,
        undo=env.backward_action(actions),
        can_stop=valid[:, env.stop_action],
        parent=parent.astype(jnp.int32),
        parent_action=parent_action,
        has_parent=has_parent,
        start=env.state_index(env.reset(1)[0]),
    )


class PolicyTables(NamedTuple):
    """A policy evaluated on every state, rows in ``env.all_states()`` order."""

    log_pf: jax.Array  # [N, n_actions]
    log_pb: jax.Array  # [N, n_backward_actions]
    log_flow: jax.Array  # [N]


@eqx.filter_jit
def policy_tables(policy, env: Environment) -> PolicyTables:
    """Masked forward/backward log-probabilities and log-flows of ``policy`` on all states
    (``ValueError`` for a policy built for other sizes, see :func:`check_policy_fits`)."""
    check_policy_fits(policy, env)
    states = env.all_states()
    out = evaluate_states(policy, env, states)
    log_pf, log_pb = log_probs(out, env, states)
    return PolicyTables(log_pf, log_pb, out.log_flow)


def reach_probabilities(env: Environment, log_pf: jax.Array, graph: StateGraph | None = None) -> jax.Array:
    r"""The probability :math:`\rho(s)` that a trajectory of :math:`P_F` passes through
    each state: :math:`\rho(s_0) = 1` and

    .. math:: \rho(s) = \sum_{p \in \mathrm{Par}(s)} \rho(p)\, P_F(s|p).
    """
    graph = state_graph(env) if graph is None else graph
    rows = jnp.arange(log_pf.shape[0])
    start = (rows == graph.start).astype(log_pf.dtype)
    # P_F(s | p) for each parent slot of each state, 0 for the empty slots.
    edge = jnp.where(graph.has_parent, jnp.exp(log_pf[graph.parent, graph.parent_action]), 0.0)

    def sweep(_, reach):
        return start + jnp.sum(reach[graph.parent] * edge, axis=-1)

    return jax.lax.fori_loop(0, env.max_length - 1, sweep, start)


@eqx.filter_jit
def terminal_distribution_from_log_pf(env: Environment, log_pf: jax.Array) -> jax.Array:
    r"""Exact terminal distribution of a forward policy given as a table ``[N, n_actions]``:

    .. math:: P_T(x) = \rho(x)\, P_F(\text{stop}|x)

    with :math:`\rho` from :func:`reach_probabilities`. Returns ``[N]`` in
    ``env.all_states()`` order (0 on states that cannot stop).
    """
    graph = state_graph(env)
    stop = jnp.where(graph.can_stop, jnp.exp(log_pf[:, env.stop_action]), 0.0)
    return reach_probabilities(env, log_pf, graph) * stop


def terminal_distribution(policy, env: Environment) -> jax.Array:
    """Exact terminal distribution ``[N]`` of ``policy``'s forward policy (also inside ``jit``).

    Raises ``ValueError`` before allocating anything when the grid's tables cannot fit in
    memory (:func:`check_grid_fits`) or the policy was built for other sizes
    (:func:`check_policy_fits`).
    """
    check_grid_fits(env, _row_width(policy))
    check_policy_fits(policy, env)
    return _terminal_distribution(policy, env)


@eqx.filter_jit
def _terminal_distribution(policy, env: Environment) -> jax.Array:
    return terminal_distribution_from_log_pf(env, policy_tables(policy, env).log_pf)


def _row_width(policy) -> int:
    """Activations per state when the policy runs on it: the MLP's hidden units, else 0."""
    mlp = getattr(policy, "mlp", None)
    return getattr(mlp, "width_size", 0) * getattr(mlp, "depth", 0) if mlp is not None else 0


def check_policy_fits(policy, env: Environment) -> None:
    """``ValueError``, naming both sizes, unless ``policy`` has ``env``'s sizes: a table of one
    row per state, a network that reads ``env``'s observations, and as many forward and
    backward logits as ``env`` has actions. (A table with too few rows would otherwise be
    read with its indices clamped: a plausible, wrong answer.)"""
    where = describe(env)
    if isinstance(policy, TabularPolicy):
        want = (env.n_states, env.n_actions + 1 + env.n_backward_actions)
        if policy.table.shape != want:
            raise ValueError(
                f"the policy does not fit {where}: its table is {policy.table.shape[0]} states x "
                f"{policy.table.shape[1]} values, {where} needs {want[0]} x {want[1]}; build the "
                f"policy for this environment"
            )
        return
    in_size = getattr(getattr(policy, "mlp", None), "in_size", None)
    if in_size is not None and in_size != env.obs_size:
        raise ValueError(
            f"the policy does not fit {where}: it reads observations of size {in_size}, "
            f"{where}'s have size {env.obs_size}; build the policy for this environment"
        )
    out = jax.eval_shape(lambda: evaluate_states(policy, env, env.reset(1)))
    got = (out.forward_logits.shape[-1], out.backward_logits.shape[-1])
    if got != (env.n_actions, env.n_backward_actions):
        raise ValueError(
            f"the policy does not fit {where}: it gives {got[0]} forward and {got[1]} backward "
            f"logits, {where} has {env.n_actions} forward and {env.n_backward_actions} backward "
            f"actions; build the policy for this environment"
        )


class ExactFlows(NamedTuple):
    """The unique flow that matches the reward for a given backward policy."""

    log_flow: jax.Array  # [N] log F(s)
    log_edge_flow: jax.Array  # [N, n_actions] log F(s -> child), and log F(s -> s_f) = log R(s)
    log_pf: jax.Array  # [N, n_actions] log P_F = log edge flow - log F(s)


def uniform_log_pb(env: Environment) -> jax.Array:
    """``[N, n_backward_actions]``: the uniform backward policy over each state's valid parents."""
    valid = env.backward_valid(env.all_states())
    return jnp.where(valid, -jnp.log(jnp.maximum(valid.sum(-1, keepdims=True), 1)), INVALID_LOGIT)


@eqx.filter_jit
def exact_flows(env: Environment, log_pb: jax.Array | None = None) -> ExactFlows:
    r"""Exact flows for a backward policy (uniform over valid parents when ``log_pb`` is None).

    The state flow is the reward (where the state can stop) plus what flows back from the
    children,

    .. math:: F(s) = R(s) + \sum_{c \in \mathrm{Ch}(s)} F(c)\, P_B(s|c),

    and the edge flows are :math:`F(s \to c) = F(c) P_B(s|c)`, :math:`F(s \to s_f) = R(s)`.
    Then :math:`P_F(c|s) = F(s\to c)/F(s)` samples :math:`x` with probability :math:`R(x)/Z`
    and :math:`F(s_0) = Z`. ``log_pb`` is a table ``[N, n_backward_actions]`` of
    :math:`\log P_B` at each state. Invalid edges get ``INVALID_LOGIT``. ``ValueError``
    before any work when the tables cannot fit (:func:`check_grid_fits`).
    """
    check_grid_fits(env)
    graph = state_graph(env)
    log_pb = uniform_log_pb(env) if log_pb is None else log_pb
    log_r = jnp.where(graph.can_stop, env.log_reward(env.all_states()), INVALID_LOGIT)
    back_into_s = log_pb[graph.child, graph.undo]  # [N, A]: log P_B(s | child)
    action_is_stop = jnp.arange(env.n_actions) == env.stop_action

    def edge_flows(log_flow):  # [N, A]: log F(s -> child), log R(s) for stop
        moves = jnp.where(graph.is_move, log_flow[graph.child] + back_into_s, INVALID_LOGIT)
        return jnp.where(action_is_stop, log_r[:, None], moves)

    def sweep(_, log_flow):
        return jax.nn.logsumexp(edge_flows(log_flow), axis=-1)

    log_flow = jax.lax.fori_loop(0, env.max_length, sweep, log_r)
    log_edge_flow = edge_flows(log_flow)
    return ExactFlows(log_flow, log_edge_flow, log_edge_flow - log_flow[:, None])


def exact_tabular_policy(
    env: Environment, backward_logits: jax.Array | None = None
) -> TabularPolicy:
    """A :class:`TabularPolicy` holding the exact flows: every loss is zero at it.

    Forward logits are the log edge flows (so flow matching holds too), log-flows are
    :math:`\\log F(s)`, and ``log_z`` is :math:`\\log Z`. With ``backward_logits``
    ``[N, n_backward_actions]`` the backward policy is learned and the flows are the ones
    consistent with it.
    """
    learn_backward = backward_logits is not None
    if learn_backward:
        log_pb = masked_log_softmax(backward_logits, env.backward_valid(env.all_states()))
    else:
        backward_logits = jnp.zeros((env.n_states, env.n_backward_actions))
        log_pb = None
    flows = exact_flows(env, log_pb)
    table = jnp.concatenate(
        [flows.log_edge_flow, flows.log_flow[:, None], backward_logits], axis=-1
    )
    start = env.state_index(env.reset(1)[0])
    return TabularPolicy(env, learn_backward, table=table, log_z=flows.log_flow[start])
