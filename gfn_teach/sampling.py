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

    @eqx.filter_jit
    def one_batch(key, policy):
        return forward_rollout(key, env, policy, batch_size).final_states

    keys = jax.random.split(key, -(-n // batch_size))
    batches = [np.asarray(one_batch(k, policy)) for k in keys]
    return np.concatenate(batches)[:n].astype(np.int32)

