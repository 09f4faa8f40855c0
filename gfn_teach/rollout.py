"""Sampling trajectories, forward from the start state or backward from terminal states.

Trajectories are padded to the environment's ``max_length`` ``T`` so that a whole batch is
one fixed-shape array and sampling is a single ``jax.lax.scan``. Arrays are time-major:
``states[t]`` is the state before action ``t``; ``states[T]`` is the final state.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap

from .environment import Environment
from .policy import INVALID_LOGIT, evaluate_states, log_probs


class Trajectory(NamedTuple):
    """A batch of ``B`` padded trajectories of at most ``T`` forward actions."""

    states: jax.Array  # [T+1, B, state_size] int32
    actions: jax.Array  # [T, B] int32; the stop action on padding steps
    is_padding: jax.Array  # [T, B] bool; True for the steps after stop
    log_pf: jax.Array  # [T, B] log P_F(a_t | s_t) under the policy (0 on padding)
    log_rewards: jax.Array  # [B] log R(x) of the terminal states
    final_states: jax.Array  # [B, state_size] the terminal states x

    @property
    def lengths(self) -> jax.Array:
        """Number of actions of each trajectory, stop included: ``[B]``."""
        return jnp.sum(~self.is_padding, axis=0)


def forward_rollout(
    key: jax.Array,
    env: Environment,
    policy,
    batch_size: int,
    epsilon: jax.Array | float = 0.0,
) -> Trajectory:
    """Sample ``batch_size`` trajectories from the start with epsilon-uniform exploration.

    At each step, with probability ``epsilon`` an action is drawn uniformly among the valid
    ones, otherwise from the policy :math:`P_F(\\cdot|s)`. The stored ``log_pf`` is always
    the policy's own log-probability of the action taken, never the exploration mixture's:
    the losses train the policy, not the behaviour that collected the data.

    Once every trajectory has stopped, the remaining steps skip the network. Under ``vmap``
    (over seeds, say) they are skipped once every trajectory of every run has stopped
    (:func:`everywhere`).

    ``batch_size`` must be an integer >= 1 and ``epsilon`` a probability in [0, 1] (checked
    here when it is a concrete number; a traced value, e.g. a schedule's, is the caller's).
    """
    _check_batch_size(batch_size)
    _check_probability("epsilon", epsilon)

    def sample_actions(state, done, step_key):
        explore_key, action_key = jax.random.split(step_key)
        valid = env.forward_valid(state)
        log_pf_all, _ = log_probs(evaluate_states(policy, env, state), env, state)
        uniform_logits = jnp.where(valid, 0.0, INVALID_LOGIT)
        explore = jax.random.bernoulli(explore_key, epsilon, (batch_size, 1))
        action = jax.random.categorical(action_key, jnp.where(explore, uniform_logits, log_pf_all))
        action = jnp.where(done, env.stop_action, action)
        log_pf = jnp.take_along_axis(log_pf_all, action[:, None], axis=-1)[:, 0]
        return action, log_pf

    def all_finished(state, done, step_key):  # skip the network once every trajectory stopped
        action, log_pf = jax.eval_shape(sample_actions, state, done, step_key)  # the same dtypes
        return jnp.full(batch_size, env.stop_action, action.dtype), jnp.zeros(batch_size, log_pf.dtype)

    def one_step(carry, step_key):
        state, done = carry
        everyone_stopped = everywhere(jnp.all(done))
        action, log_pf = jax.lax.cond(
            everyone_stopped, all_finished, sample_actions, state, done, step_key
        )
        next_state, stopped = env.step(state, action)
        next_state = jnp.where(done[:, None], state, next_state)
        return (next_state, done | stopped), (state, action, done, jnp.where(done, 0.0, log_pf))

    start = (env.reset(batch_size), jnp.zeros(batch_size, dtype=bool))
    step_keys = jax.random.split(key, env.max_length)
    (final, _), (states, actions, padding, log_pf) = jax.lax.scan(one_step, start, step_keys)
    return Trajectory(
        states=jnp.concatenate([states, final[None]], axis=0),
        actions=actions,
        is_padding=padding,
        log_pf=log_pf,
        log_rewards=env.log_reward(final),
        final_states=final,
    )


@custom_vmap
def everywhere(flag: jax.Array) -> jax.Array:
    """``flag`` itself; under ``vmap``, True only where it is True for every mapped run.

    A ``lax.cond`` whose predicate differs between the runs of a ``vmap`` runs both branches
    (a select); this predicate is the same for all of them, so the cond stays a cond and the
    branch that skips work is really skipped once every run can skip it.
    """
    return flag


@everywhere.def_vmap
def _everywhere_batched(axis_size, in_batched, flag):
    return (jnp.all(flag, axis=0) if in_batched[0] else flag), False


def _check_batch_size(batch_size) -> None:
    whole = isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, (bool, np.bool_))
    if not whole or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def _check_probability(name: str, value) -> None:
    """``ValueError`` unless a concrete ``value`` is a number in [0, 1] (tracers pass)."""
    if isinstance(value, jax.core.Tracer):
        return
    if isinstance(value, (bool, np.bool_)) or jnp.ndim(value) != 0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")


def backward_rollout(key: jax.Array, env: Environment, policy, final_states: jax.Array) -> Trajectory:
    """Sample trajectories that end in the given terminal states ``[B, state_size]``.

    Walks back to the start with the backward policy :math:`P_B(s|s')` (uniform over valid
    parents unless the policy learns it) until no backward action is valid, then returns the
    trajectories in forward time, in the same padded layout as :func:`forward_rollout`, with
    ``log_pf`` under the policy.
    """
    batch_size = final_states.shape[0]

    def one_step(carry, step_key):
        state, n_moves = carry
        _, log_pb_all = log_probs(evaluate_states(policy, env, state), env, state)
        back = jax.random.categorical(step_key, log_pb_all)
        at_start = ~jnp.any(env.backward_valid(state), axis=-1)
        next_state = jnp.where(at_start[:, None], state, env.backward_step(state, back))
        return (next_state, n_moves + ~at_start), (state, back)

    step_keys = jax.random.split(key, env.max_length)
    start = (final_states, jnp.zeros(batch_size, jnp.int32))
    (_, n_moves), (back_states, back_actions) = jax.lax.scan(one_step, start, step_keys)
    # Undo each backward move with the forward action that made it: the child's change.
    forward_of = _forward_actions(env, back_states, back_actions)
    # Forward step t undoes backward step n-1-t; after the n-th step comes stop, then padding.
    t = jnp.arange(env.max_length)[:, None]  # [T, 1]
    reversed_index = jnp.clip(n_moves[None, :] - 1 - t, 0, env.max_length - 1)
    batch = jnp.arange(batch_size)[None, :]
    actions = jnp.where(t < n_moves, forward_of[reversed_index, batch], env.stop_action)
    state_index = jnp.where(t <= n_moves, jnp.clip(n_moves - t, 0), 0)
    states = jnp.concatenate([back_states[state_index, batch], final_states[None]], axis=0)
    padding = t > n_moves
    log_pf_all, _ = log_probs(evaluate_states(policy, env, states[:-1]), env, states[:-1])
    log_pf = jnp.take_along_axis(log_pf_all, actions[..., None], axis=-1)[..., 0]
    return Trajectory(
        states=states,
        actions=actions.astype(jnp.int32),
        is_padding=padding,
        log_pf=jnp.where(padding, 0.0, log_pf),
        log_rewards=env.log_reward(final_states),
        final_states=final_states,
    )


def concatenate(first: Trajectory, second: Trajectory) -> Trajectory:
    """One batch of ``B1 + B2`` trajectories: ``first``'s then ``second``'s (same ``T``)."""
    batch_axis = Trajectory(states=1, actions=1, is_padding=1, log_pf=1, log_rewards=0, final_states=0)
    return Trajectory(*[jnp.concatenate([a, b], axis) for a, b, axis in zip(first, second, batch_axis)])


def _forward_actions(env: Environment, children: jax.Array, backward_actions: jax.Array) -> jax.Array:
    """The forward action from ``backward_step(child, b)`` back to ``child``, ``[T, B]``:
    the parent slot (``env.parents``) whose parent is that state."""
    parent = env.backward_step(children, backward_actions)  # [T, B, state_size]
    candidates, actions, valid = env.parents(children)  # [T, B, P, state_size], [T, B, P]
    same = valid & jnp.all(candidates == parent[..., None, :], axis=-1)
    return jnp.take_along_axis(actions, jnp.argmax(same, axis=-1)[..., None], axis=-1)[..., 0]


class Transitions(NamedTuple):
    """Single steps ``s -> s'`` cut out of trajectories, flattened to ``N = T * B`` rows."""

    state: jax.Array  # [N, state_size]
    action: jax.Array  # [N]
    next_state: jax.Array  # [N, state_size] (equal to state for stop)
    backward_action: jax.Array  # [N] the backward action that undoes action (any for stop)
    is_stop: jax.Array  # [N] bool
    is_padding: jax.Array  # [N] bool
    log_reward: jax.Array  # [N] log R(state), used where is_stop


def split_into_transitions(env: Environment, traj: Trajectory) -> Transitions:
    """Cut padded trajectories into transitions (padding rows stay, flagged ``is_padding``)."""
    size = traj.states.shape[-1]
    state = traj.states[:-1].reshape(-1, size)
    action = traj.actions.reshape(-1)
    padding = traj.is_padding.reshape(-1)
    return Transitions(
        state=state,
        action=action,
        next_state=traj.states[1:].reshape(-1, size),
        backward_action=env.backward_action(action),
        is_stop=(action == env.stop_action) & ~padding,
        is_padding=padding,
        log_reward=env.log_reward(state),
    )
