"""Drawing many terminal states from a trained policy, in compiled batches."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .environment import Environment
from .exact import check_policy_fits
from .rollout import forward_rollout
from .train import MAX_EXACT_STATES  # environments with more states are never listed


def sample_terminal_states(
    key: jax.Array,
    env: Environment,
    policy,
    n: int,
    batch_size: int = 4096,
    out: np.ndarray | None = None,
    progress: bool = False,
) -> np.ndarray:
    """``n`` terminal states ``[n, state_size]`` (int32) from the policy, without exploration.

    Batches of ``batch_size`` trajectories are drawn one after the other, each from its own
    key of ``jax.random.split(key, ceil(n / batch_size))``, so memory stays bounded: pass
    ``out``, an ``[n, state_size]`` int32 array such as a ``numpy.lib.format.open_memmap`` file,
    to have the states written there (and returned) instead of into a new array.
    ``progress`` shows a progress bar over the batches.

    Raises ``ValueError`` for a policy built for other sizes, and if the policy produces
    something that is not a terminal state of ``env``, which only a policy with non-finite
    parameters can do: no such state is ever returned.
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    check_policy_fits(policy, env)
    n, batch_size = int(n), min(int(batch_size), int(n))
    if out is None:
        out = np.empty((n, env.state_size), np.int32)
    elif out.shape != (n, env.state_size) or out.dtype != np.int32:
        raise ValueError(f"out must be an int32 array of shape {(n, env.state_size)}, got {out.dtype} {out.shape}")
    keys = jax.random.split(key, -(-n // batch_size))
    with tqdm(total=n, disable=not progress, desc="sample", unit="state") as bar:
        for i, batch_key in enumerate(keys):
            states, all_valid = _final_states(batch_key, env, policy, batch_size)
            if not bool(all_valid):
                raise ValueError(
                    "the policy produced states that are not terminal states of the environment: "
                    "its parameters are not finite"
                )
            start = i * batch_size
            stop = min(start + batch_size, n)
            out[start:stop] = np.asarray(states)[: stop - start]
            bar.update(stop - start)
    return out


@eqx.filter_jit
def _final_states(key, env: Environment, policy, batch_size: int) -> tuple[jax.Array, jax.Array]:
    """One compiled batch of terminal states, and whether all of them are terminal states
    (checked against the list of states on environments small enough to list)."""
    states = forward_rollout(key, env, policy, batch_size).final_states
    if env.n_states > MAX_EXACT_STATES:
        return states, jnp.all(env.is_terminal(states))
    index = env.state_index(states)
    listed = (index >= 0) & (index < env.n_states)
    listed &= jnp.all(env.all_states()[jnp.clip(index, 0, env.n_states - 1)] == states, axis=-1)
    return states, jnp.all(listed & env.is_terminal(states))
