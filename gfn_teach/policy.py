"""Policies: one network pass gives forward logits, the log state flow and backward logits.

Every policy is an Equinox module called on what it reads of *one* state (the
environment's observation; a :class:`TabularPolicy` reads the state's row index) and
returns a :class:`PolicyOutput`; batch it with ``jax.vmap``. Both also hold ``log_z``, the
learnable log partition function that trajectory balance uses.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from .environment import Environment

# Logit given to invalid actions. Finite on purpose: ``-inf`` would turn into NaN as soon as
# it is multiplied by a zero mask or when no action is valid (backward, at the origin).
INVALID_LOGIT = -1e9


class PolicyOutput(NamedTuple):
    """What a policy says about one state."""

    forward_logits: jax.Array  # [n_actions] (hypergrid: increments, then stop)
    log_flow: jax.Array  # []: log F(s)
    backward_logits: jax.Array  # [n_backward_actions] (zeros = uniform over valid parents)


def masked_log_softmax(logits: jax.Array, valid: jax.Array) -> jax.Array:
    r"""``log softmax`` over the valid entries only.

    .. math:: \log \pi(a) = \ell_a - \log \sum_{b\,\text{valid}} e^{\ell_b}

    Invalid entries come out near ``INVALID_LOGIT`` (finite) and get zero gradient.
    """
    return jax.nn.log_softmax(jnp.where(valid, logits, INVALID_LOGIT), axis=-1)


class MLPPolicy(eqx.Module):
    """A multilayer perceptron with three heads, and a learnable ``log Z``.

    Args:
        env: the environment, for the observation and action sizes.
        key: PRNG key for the initial weights.
        hidden: width of each hidden layer.
        depth: number of hidden layers.
        learn_backward: True (the default, as in :class:`~gfn_teach.TrainConfig`) adds a
            head of backward logits, one per backward action, so the loss trains P_B too;
            False keeps them zeros, i.e. the backward policy uniform over valid parents.
    """

    mlp: eqx.nn.MLP
    log_z: jax.Array
    n_actions: int = eqx.field(static=True)
    n_backward_actions: int = eqx.field(static=True)
    learn_backward: bool = eqx.field(static=True)

    def __init__(
        self,
        env: Environment,
        key: jax.Array,
        hidden: int = 256,
        depth: int = 2,
        learn_backward: bool = True,
    ):
        if hidden < 1 or depth < 0:
            raise ValueError(f"hidden must be >= 1 and depth >= 0, got {hidden=}, {depth=}")
        self.n_actions = env.n_actions
        self.n_backward_actions = env.n_backward_actions
        self.learn_backward = learn_backward
        out_size = self.n_actions + 1 + (self.n_backward_actions if learn_backward else 0)
        self.mlp = eqx.nn.MLP(env.obs_size, out_size, hidden, depth, key=key)
        self.log_z = jnp.zeros(())

    def __call__(self, obs: jax.Array) -> PolicyOutput:
        """Evaluate the heads on one observation ``[obs_size]``."""
        out = self.mlp(obs)
        forward_logits = out[: self.n_actions]
        log_flow = out[self.n_actions]
        if self.learn_backward:
            backward_logits = out[self.n_actions + 1 :]
        else:
            backward_logits = jnp.zeros(self.n_backward_actions, out.dtype)
        return PolicyOutput(forward_logits, log_flow, backward_logits)


class TabularPolicy(eqx.Module):
    """One free parameter vector per state: exact flows are representable.

    Called on a state's row index (``env.state_index``, what :func:`policy_inputs` gives it)
    or, like any policy, on its observation when the observation is one-hot per state
    entry in row-major order (the hypergrid's and the Lego spaceship's are), so tabular and
    MLP policies are interchangeable everywhere. Rows hold ``[forward logits, log flow,
    backward logits]``; with ``learn_backward=False`` the backward logits read as zeros (a
    uniform P_B over valid parents) whatever the table holds. True is the default, as for
    :class:`MLPPolicy` and :class:`~gfn_teach.TrainConfig`.
    """

    table: jax.Array  # [n_states, n_actions + 1 + n_backward_actions]
    log_z: jax.Array
    place_values: jax.Array | None  # [obs_size]: obs @ place_values = row (None: index only)
    n_actions: int = eqx.field(static=True)
    learn_backward: bool = eqx.field(static=True)

    def __init__(self, env: Environment, learn_backward: bool = True, table=None, log_z=0.0):
        width = env.n_actions + 1 + env.n_backward_actions
        self.table = jnp.zeros((env.n_states, width)) if table is None else jnp.asarray(table)
        if self.table.shape != (env.n_states, width):
            raise ValueError(f"table must have shape {(env.n_states, width)}, got {self.table.shape}")
        self.log_z = jnp.asarray(log_z, dtype=jnp.float32)
        self.place_values = one_hot_place_values(env)
        self.n_actions = env.n_actions
        self.learn_backward = learn_backward

    def __call__(self, index_or_obs: jax.Array) -> PolicyOutput:
        """Look up the row of a state, given its index (a scalar) or its observation."""
        if jnp.ndim(index_or_obs) == 0:
            index = index_or_obs
        elif self.place_values is None:
            raise ValueError(
                "this environment's observation does not give the state's row: call a "
                "TabularPolicy on env.state_index(state), or use gfn_teach.evaluate_states"
            )
        else:
            index = jnp.round(index_or_obs @ jax.lax.stop_gradient(self.place_values)).astype(jnp.int32)
        row = self.table[index]
        backward_logits = row[self.n_actions + 1 :]
        if not self.learn_backward:
            backward_logits = jnp.zeros_like(backward_logits)
        return PolicyOutput(row[: self.n_actions], row[self.n_actions], backward_logits)


def one_hot_place_values(env: Environment) -> jax.Array | None:
    """``w`` with ``observation(s) @ w = state_index(s)`` when the observation is one-hot per
    state entry (``obs_size / state_size`` values each) and the index row-major; else None."""
    values, size = divmod(env.obs_size, env.state_size)
    if size or values < 2:
        return None
    with jax.ensure_compile_time_eval():  # concrete, and checked on a few states, under a trace too
        digit = jnp.tile(jnp.arange(values), env.state_size)
        place = jnp.repeat(values ** jnp.arange(env.state_size - 1, -1, -1), values)
        weights = (digit * place).astype(jnp.float32)
        states = env.all_states()[:: max(env.n_states // 64, 1)]
        works = jnp.array_equal(jnp.round(env.observation(states) @ weights), env.state_index(states))
    return weights if bool(works) else None


def policy_inputs(policy, env: Environment, states: jax.Array) -> jax.Array:
    """What ``policy`` reads of states ``[B, state_size]``: row indices for a table, the
    observations ``[B, obs_size]`` for any other policy."""
    if isinstance(policy, TabularPolicy):
        return env.state_index(states)
    return env.observation(states)


def evaluate_states(policy, env: Environment, states: jax.Array) -> PolicyOutput:
    """Policy outputs for states of any leading shape ``[..., state_size]`` (one network pass)."""
    lead = states.shape[:-1]
    out = jax.vmap(policy)(policy_inputs(policy, env, states.reshape(-1, env.state_size)))
    return jax.tree.map(lambda a: a.reshape(lead + a.shape[1:]), out)


def evaluate_packed(
    policy, env: Environment, states: jax.Array, visited: jax.Array, n_rows: int
) -> PolicyOutput:
    """Policy outputs on the states where ``visited`` is True (at most ``n_rows`` of them).

    Padded trajectories repeat their final state, so many of a batch's rows are copies
    nobody needs. The visited rows are packed, in order, into an array of ``n_rows`` rows,
    the network runs on that array alone, and each output goes back to its row; rows not
    visited get zeros. Same values as :func:`evaluate_states` on the visited rows.

    ``n_rows`` is static (it fixes the shapes). Visited rows beyond it would be dropped, so
    the caller chooses it from the count of visited rows (see :func:`gfn_teach.speedups.on_visited_rows`).
    """
    lead = visited.shape
    flat = states.reshape(-1, env.state_size)
    keep = visited.reshape(-1)
    slot = jnp.cumsum(keep) - 1  # the packed row of each visited row
    packed = jnp.zeros((n_rows, env.state_size), flat.dtype)
    packed = packed.at[jnp.where(keep, slot, n_rows)].set(flat, mode="drop")
    out = evaluate_states(policy, env, packed)

    def unpack(a):
        rows = a[jnp.where(keep, slot, 0)]
        rows = jnp.where(keep.reshape((-1,) + (1,) * (rows.ndim - 1)), rows, 0)
        return rows.reshape(lead + a.shape[1:])

    return jax.tree.map(unpack, out)


def log_probs(policy_out: PolicyOutput, env: Environment, states: jax.Array):
    """Masked forward and backward log-probabilities for states ``[..., state_size]``.

    Returns ``(log_pf [..., n_actions], log_pb [..., n_backward_actions])``.
    """
    return (
        masked_log_softmax(policy_out.forward_logits, env.forward_valid(states)),
        masked_log_softmax(policy_out.backward_logits, env.backward_valid(states)),
    )
