"""How much memory a run needs, estimated from its sizes before anything is allocated.

The estimate counts the large arrays only, in float32 words (4 bytes), and is compared with
the memory of the device JAX computes on (an accelerator's, else the machine's RAM). It is
rough on purpose: cheap, so that a run that cannot fit fails in a second with a message
naming the setting to lower, instead of minutes later with an allocator's traceback.
"""

from __future__ import annotations

import math
import os

WORD = 4  # bytes of a float32 or an int32


def machine_memory() -> int | None:
    """Bytes of memory available to JAX's first device (None if it cannot be told).

    An accelerator reports its own limit; on a CPU it is the machine's physical memory,
    ``SC_PHYS_PAGES * SC_PAGE_SIZE`` (``psutil`` if that is missing).
    """
    try:
        import jax

        device = jax.local_devices()[0]
        if device.platform != "cpu":
            limit = (device.memory_stats() or {}).get("bytes_limit")
            if limit:
                return int(limit)
    except Exception:  # no backend, or one without memory statistics: fall back to RAM
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        try:
            import psutil

            return int(psutil.virtual_memory().total)
        except Exception:
            return None


def n_states(dim: int, side: int) -> float:
    """``side ** dim`` as a float (``inf`` when astronomically large, without computing it)."""
    return float(side**dim) if dim * math.log2(side) < 1000 else math.inf


def format_bytes(n: float) -> str:
    """``1234567`` -> ``'1.2 MB'`` (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}" if n < 1e18 else f"{n:.2e} {unit}"
        n /= 1000
    return f"{n} PB"


def exact_evaluation_bytes(n: float, obs_size: int, n_actions: int, row_width: int) -> float:
    r"""Exact terminal distribution over ``n`` states: every state's observation
    (``obs_size``), the network's ``row_width`` activations, the policy tables and the DAG's
    index tables (about ``11 n_actions`` words a state),
    :math:`4 n (\text{obs} + w + 11 A)`."""
    return WORD * n * (obs_size + row_width + 11 * n_actions)


INT32_MAX = 2**31 - 1  # states are numbered by int32 indices


def describe(env) -> str:
    """``Hypergrid(dim=2, side=20)``, or the class name of any other environment."""
    if hasattr(env, "dim") and hasattr(env, "side"):
        return f"{type(env).__name__}(dim={env.dim}, side={env.side})"
    return type(env).__name__


def check_states_fit(env, words_per_state: float, what: str, memory: int | None = None) -> None:
    """``ValueError``, before anything is allocated, if ``what`` (a computation over every
    state of ``env``, ``words_per_state`` float32 words a state) cannot run: more states than
    int32 indices can number, or more memory than the device has."""
    n = float(env.n_states) if env.n_states < 2**1000 else math.inf  # a float cannot hold more
    if n > INT32_MAX:
        raise ValueError(
            f"{what} of {describe(env)} ({n:.6g} states) is impossible: states are numbered by "
            f"int32 indices, at most {INT32_MAX:,} of them"
        )
    memory = machine_memory() if memory is None else memory
    need = WORD * n * words_per_state
    if memory is not None and need > memory:
        raise ValueError(
            f"{what} of {describe(env)} ({n:.6g} states) needs about {format_bytes(need)} of memory, "
            f"more than the {format_bytes(memory)} of this machine; it fits up to about "
            f"{int(memory // (WORD * words_per_state)):,} states"
        )


def check_grid_fits(env, row_width: int = 0, memory: int | None = None) -> None:
    """``ValueError`` if evaluating a policy on every state of ``env`` cannot fit (estimate:
    :func:`exact_evaluation_bytes`; see :func:`check_states_fit`)."""
    words = exact_evaluation_bytes(1, env.obs_size, env.n_actions, row_width) / WORD
    check_states_fit(env, words, "an exact evaluation", memory)


def environment_sizes(sizes: dict) -> tuple[float, int, int, int, int, int]:
    """``(n_states, max_length, obs_size, n_actions, state_size, picture)`` of a run's
    environment: from ``dim`` and ``side`` for the hypergrid, else from the ``env_sizes``
    entry that the caller added (see ``gfn_teach.config.memory_sizes``)."""
    if sizes.get("env", "hypergrid") == "hypergrid":
        dim, side = sizes["dim"], sizes["side"]
        return n_states(dim, side), dim * (side - 1) + 1, dim * side, dim + 1, dim, side * side
    return tuple(sizes["env_sizes"])


def training_bytes(sizes: dict, exact_limit: float, n_seeds: int = 1) -> dict[str, float]:
    """Bytes each part of a training run needs, from a dict of :class:`TrainConfig` fields.

    * ``network``: weights, gradient, Adam's two moments and the update (5 copies);
    * ``batch``: the loss runs the network on every one of the ``T * batch_size`` rows of a
      batch (``T`` = the environment's ``max_length``), kept for the backward pass (about 3 copies);
      (with replay, the ``replay_batch`` replayed trajectories are rows too);
    * ``replay``: the replay buffer, ``replay_size`` states and rewards, and its merged copy;
    * ``grid``: every state, for the modes and the visited set (only on grids of at most
      ``exact_limit`` states: beyond, training never lists the states);
    * ``exact``: the exact evaluation (:func:`exact_evaluation_bytes`), on grids of at most
      ``exact_limit`` states;
    * ``history``: one row per evaluation, with the environment's marginal picture.
    """
    hidden, depth = sizes["hidden"], sizes["depth"]
    n, length, obs, n_actions, state_size, picture = environment_sizes(sizes)
    heads = 2 * n_actions
    if sizes["policy"] == "tabular":
        params, width = n * heads, 0
    else:
        params = obs * hidden + hidden * hidden * max(depth - 1, 0) + hidden * heads if depth else obs * heads
        width = hidden * depth
    n_chunks = -(-sizes["steps"] // sizes["eval_every"])
    replay_size = sizes.get("replay_size", 0)
    rows = sizes["batch_size"] + (sizes.get("replay_batch", 0) if replay_size else 0)
    return {
        "network": n_seeds * 5 * WORD * params,
        "batch": n_seeds * 3 * WORD * length * rows * (obs + width + heads + 2 * state_size),
        "replay": n_seeds * 2 * WORD * replay_size * (state_size + 1),
        "grid": WORD * n * (3 * state_size + 4) + n_seeds * n if n <= exact_limit else 0.0,
        "exact": n_seeds * exact_evaluation_bytes(n, obs, n_actions, width) if n <= exact_limit else 0.0,
        "history": n_seeds * WORD * n_chunks * (picture + 16),
    }


# Which settings make each part grow, in the order they are suggested.
PART_FLAGS = {
    "network": ("hidden", "depth"),
    "batch": ("batch_size", "hidden", "side", "dim"),  # side and dim: the trajectories' length
    "replay": ("replay_size",),
    "grid": ("side", "dim"),
    "exact": ("side", "dim"),
    "history": ("steps",),
}
SMALLEST = {"replay_size": 0, "dim": 1, "side": 2, "batch_size": 1, "hidden": 1, "depth": 0, "steps": 1}


def largest_that_fits(sizes: dict, name: str, total, limit: float) -> int | None:
    """The largest value of setting ``name`` (others fixed) with ``total(sizes) <= limit``."""
    low, high = SMALLEST[name], sizes[name]
    if total({**sizes, name: low}) > limit:
        return None
    while low < high:  # invariant: low fits, every value above high does not
        mid = (low + high + 1) // 2
        low, high = (mid, high) if total({**sizes, name: mid}) <= limit else (low, mid - 1)
    return low


def check_training_fits(sizes: dict, exact_limit: float, n_seeds: int = 1, memory: int | None = None) -> None:
    """Raise ``ValueError`` if a run with these sizes cannot fit in the device's memory.

    The message names the largest part, and for each setting that makes it grow the largest
    value that fits with the others unchanged.
    """
    memory = machine_memory() if memory is None else memory
    parts = training_bytes(sizes, exact_limit, n_seeds)
    if memory is None or sum(parts.values()) <= memory:
        return
    total = lambda s: sum(training_bytes(s, exact_limit, n_seeds).values())
    worst = max(parts, key=parts.get)
    grid = sizes.get("env", "hypergrid") == "hypergrid"
    names = [name for name in PART_FLAGS[worst] if grid or name not in ("side", "dim")]
    advice = []
    for name in names:
        fit = largest_that_fits(sizes, name, total, memory)
        if fit is not None:
            advice.append(f"the largest {name} that fits is {fit} (--{name.replace('_', '-')} {fit})")
    given = ", ".join(f"{name}={sizes[name]}" for name in names)
    raise ValueError(
        f"{given} needs about {format_bytes(sum(parts.values()))} of memory (mostly the {worst}), "
        f"more than the {format_bytes(memory)} of this machine; "
        + ("; or ".join(advice) if advice else "lower several settings together")
    )
