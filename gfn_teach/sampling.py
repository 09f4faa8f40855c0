"""Drawing many terminal states from a trained policy, in compiled batches."""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np

from .hypergrid import Hypergrid
from .rollout import forward_rollout


def sample_terminal_states(
    key: jax.Array, env: Hypergrid, policy, n: int, batch_size: int = 4096
) -> np.ndarray:
    """``n`` terminal states ``[n, dim]`` (int32) from the policy, without exploration."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    batch_size = min(batch_size, n)
    keys = jax.random.split(key, -(-n // batch_size))
    batches = [np.asarray(_final_states(k, env, policy, batch_size)) for k in keys]
    return np.concatenate(batches)[:n].astype(np.int32)


@eqx.filter_jit
def _final_states(key, env: Hypergrid, policy, batch_size: int) -> jax.Array:
    """One compiled batch of terminal states (compiled once per env, policy shape and size)."""
    return forward_rollout(key, env, policy, batch_size).final_states
