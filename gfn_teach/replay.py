r"""A reward-prioritised replay buffer of terminal objects, for off-policy training.

On-policy training learns from what the policy samples now; once exploration has decayed, a
mode that the policy has stopped visiting drops out of the data, and nothing pulls it back
(chapter 7). A replay buffer remembers the best objects found so far and trains on them again,
as in prioritised replay training (Shen et al., 2023; Vemgal et al., 2023):

* the buffer keeps the ``capacity`` distinct terminal states of highest reward seen so far;
* each step, ``n`` of them are drawn with probability proportional to their reward,
  :math:`q(x) = R(x) / \sum_{x' \in \text{buffer}} R(x')`;
* a trajectory ending at each is sampled backward with :math:`P_B`
  (:func:`gfn_teach.rollout.backward_rollout`), and the loss trains on those next to the
  on-policy ones.

Why this leaves the target unchanged: the losses are zero exactly when the flows balance on
every trajectory, whichever trajectories are shown; the buffer changes which trajectories the
loss looks at, not where its minimum is.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp


class ReplayBuffer(eqx.Module):
    """The ``K`` highest-reward distinct terminal states seen; empty slots have log R = -inf."""

    states: jax.Array  # [K, state_size] int32
    log_rewards: jax.Array  # [K] float32, -inf on empty slots

    @classmethod
    def empty(cls, capacity: int, state_size: int) -> "ReplayBuffer":
        return cls(
            jnp.zeros((capacity, state_size), jnp.int32),
            jnp.full(capacity, -jnp.inf, jnp.float32),
        )

    @property
    def size(self) -> jax.Array:
        """The number of filled slots, ``[]``."""
        return jnp.sum(self.log_rewards > -jnp.inf)

    def add(self, states: jax.Array, log_rewards: jax.Array) -> "ReplayBuffer":
        """The buffer with ``states [B, state_size]`` merged in: the ``K`` best distinct ones.

        A new state already in the buffer, or equal to an earlier one of the batch, is
        dropped; among equal rewards the states already kept stay. A state of zero reward
        (log R = -inf) is never kept.
        """
        filled = self.log_rewards > -jnp.inf
        in_buffer = jnp.any(filled[None, :] & _equal_rows(states, self.states), axis=1)  # [B]
        earlier = jnp.tril(_equal_rows(states, states), k=-1)  # [B, B]: row i equals a j < i
        duplicate = in_buffer | jnp.any(earlier, axis=1)
        candidates = jnp.concatenate([self.states, states.astype(jnp.int32)])
        scores = jnp.concatenate([self.log_rewards, jnp.where(duplicate, -jnp.inf, log_rewards)])
        _, best = jax.lax.top_k(scores, self.log_rewards.shape[0])  # ties: lower index first
        return ReplayBuffer(candidates[best], scores[best])

    def sample(self, key: jax.Array, n: int) -> jax.Array:
        """``n`` states ``[n, state_size]`` drawn with replacement, with probability proportional
        to their reward among the filled slots (the buffer must hold at least one state)."""
        return self.states[jax.random.categorical(key, self.log_rewards, shape=(n,))]


def _equal_rows(a: jax.Array, b: jax.Array) -> jax.Array:
    """``[len(a), len(b)]``: whether row i of ``a`` equals row j of ``b``."""
    return jnp.all(a[:, None, :] == b[None, :, :], axis=-1)
