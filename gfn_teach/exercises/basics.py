"""Checkers for chapters 2 and 3: the backward policy of a flow, the forward mask, the bands.

Each checker recomputes the answer independently (plain NumPy loops or exact fractions,
never the library function the reader is re-deriving) and prints a hint when they differ.
"""

from __future__ import annotations

import re
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np

from ..exact import exact_flows
from ..hypergrid import Hypergrid
from ..policy import masked_log_softmax
from ._check import call_reader, report


# ----- chapter 2: the backward policy hidden in a flow --------------------------------------
def _backward_cases():
    """Flows to test on, each with the backward policy that produced it ``[N, dim]``."""
    small = Hypergrid(2, 3, "original")
    valid = np.asarray(small.backward_valid(small.all_states()))
    uniform = valid / np.maximum(valid.sum(-1, keepdims=True), 1)
    yield small, exact_flows(small), uniform
    env3 = Hypergrid(3, 4, "easy")
    logits = jax.random.normal(jax.random.PRNGKey(0), (env3.n_states, env3.dim))
    log_pb = masked_log_softmax(logits, env3.backward_valid(env3.all_states()))
    valid3 = np.asarray(env3.backward_valid(env3.all_states()))
    yield env3, exact_flows(env3, log_pb), np.exp(np.asarray(log_pb, np.float64)) * valid3


def check_backward_policy(fn) -> bool:
    r"""Check ``fn(env, edge_flow, state_flow) -> P_B [N, dim]`` against the true backward policy.

    ``edge_flow`` is ``[N, dim+1]`` (not logs): column ``d < dim`` of row ``s`` holds
    :math:`F(s \to s + e_d)`, the last column :math:`F(s \to s_f) = R(s)`; ``state_flow`` is
    :math:`F(s)`, ``[N]``. Column ``d`` of the answer is :math:`P_B(s - e_d \mid s)`, and 0 where
    :math:`s_d = 0`. The flows are built from a known backward policy, which is the reference.
    """
    for env, flows, expected in _backward_cases():
        edge_flow = jnp.exp(flows.log_edge_flow)
        state_flow = jnp.exp(flows.log_flow)
        got, error = call_reader(fn, env, edge_flow, state_flow)
        if error:
            return report(False, error)
        if got is None:
            return report(False, "the function returns None: fill in the body.")
        got = np.asarray(got, dtype=np.float64)
        where = f"(dim={env.dim}, side={env.side})"
        if got.shape != expected.shape:
            return report(
                False,
                f"return one row per state and one column per coordinate, shape "
                f"{expected.shape} {where}; got shape {got.shape}.",
            )
        if not np.all(np.isfinite(got)):
            return report(False, f"some entries are not finite {where}: mask the missing parents.")
        if np.abs(got[0]).max() > 1e-6:
            return report(False, "the origin s0 has no parents, so its row is all zeros.")
        if not np.allclose(got, expected, atol=1e-4):
            worst = np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
            state = np.asarray(env.index_to_state(int(worst[0]))).tolist()
            return report(
                False,
                f"at state {state}, column {int(worst[1])} {where}: got {got[worst]:.4g}, "
                f"expected {expected[worst]:.4g}. P_B(s - e_d | s) = F(s - e_d -> s) / F(s), "
                "and F(s - e_d -> s) is column d of the parent's row; 0 where s_d = 0.",
            )
    return report(
        True, "", "The edge flows into s, divided by F(s), give back the backward policy."
    )


# ----- chapter 3: the forward mask ---------------------------------------------------------
def reference_forward_valid(dim: int, side: int, states: np.ndarray) -> np.ndarray:
    """The forward mask by explicit loops: increment ``d`` is valid when ``x_d + 1 < side``."""
    states = np.asarray(states)
    flat = states.reshape(-1, dim)
    valid = np.ones((flat.shape[0], dim + 1), dtype=bool)
    for row, state in enumerate(flat):
        for d in range(dim):
            valid[row, d] = state[d] + 1 <= side - 1
    return valid.reshape(states.shape[:-1] + (dim + 1,))


def check_forward_valid(fn) -> bool:
    """Check ``fn(env, states [..., dim]) -> bool [..., dim+1]``: the forward action mask."""
    for dim, side in [(2, 3), (1, 5), (3, 4), (4, 2)]:
        env = Hypergrid(dim, side)
        states = env.all_states()
        for batch in (states, states.reshape(2, -1, dim) if states.shape[0] % 2 == 0 else states):
            got, error = call_reader(fn, env, batch)
            if error:
                return report(False, error)
            if got is None:
                return report(False, "the function returns None: fill in the body.")
            got = np.asarray(got)
            expected = reference_forward_valid(dim, side, np.asarray(batch))
            if got.shape != expected.shape:
                return report(
                    False,
                    f"for states of shape {tuple(batch.shape)} the mask has shape "
                    f"{expected.shape}: one column per increment, then one for stop. "
                    f"Got {got.shape}.",
                )
            if got.dtype != bool:
                return report(False, f"return booleans (True = allowed), got dtype {got.dtype}.")
            if not got[..., -1].all():
                return report(False, "stop (the last column) is valid in every state.")
            if not np.array_equal(got, expected):
                wrong = np.argwhere(got != expected)[0]
                state = np.asarray(batch)[tuple(wrong[:-1])].tolist()
                return report(
                    False,
                    f"state {state} on a side-{side} grid, action {int(wrong[-1])}: got "
                    f"{bool(got[tuple(wrong)])}. Increment d is allowed while x_d < side - 1.",
                )
    return report(True, "", "Your mask matches an explicit loop on every state.")


# ----- chapter 3: how much of Z sits in the background -------------------------------------
def band_counts(side: int) -> tuple[int, int]:
    """Cells of one coordinate in the outer band (1/4 < a <= 1/2) and the inner one
    (3/10 < a < 2/5), with a = |i/(side-1) - 1/2| in exact fractions (also chapter 13's)."""
    a = [abs(Fraction(i, side - 1) - Fraction(1, 2)) for i in range(side)]
    outer = sum(Fraction(1, 4) < v <= Fraction(1, 2) for v in a)
    inner = sum(Fraction(3, 10) < v < Fraction(2, 5) for v in a)
    return outer, inner


def background_share(r0: float, dim: int, side: int, r1: float, r2: float) -> float:
    """Fraction of ``Z`` carried by cells outside both bands, counted with exact fractions."""
    outer, inner = band_counts(side)
    n_outer, n_inner = outer**dim, inner**dim
    n_background = side**dim - n_outer
    z = r0 * side**dim + r1 * n_outer + r2 * n_inner
    return r0 * n_background / z


def check_background_r0(
    r0, share: float = 0.5, dim: int = 4, side: int = 20, r1: float = 0.5, r2: float = 2.0
) -> bool:
    r"""Check that ``R0 = r0`` puts a fraction ``share`` (within 0.005) of :math:`Z` in the background.

    The background is the set of cells outside both bands, where :math:`R(x) = R_0`.
    """
    if r0 is None:
        return report(False, "r0 is None: compute it and assign a number.")
    try:
        r0 = float(r0)
    except (TypeError, ValueError):
        return report(False, f"r0 must be a number, got {r0!r}.")
    if not np.isfinite(r0) or r0 <= 0:
        return report(False, f"R0 must be a finite number > 0, got {r0}.")
    got = background_share(r0, dim, side, r1, r2)
    if abs(got - share) > 0.005:
        direction = "smaller" if got > share else "larger"
        return report(
            False,
            f"with R0 = {r0:.4g} the background holds {got:.1%} of Z, not {share:.0%}: "
            f"try a {direction} R0. Count the background cells (R(x) = R0) and the band cells.",
        )
    return report(True, "", f"With R0 = {r0:.4g}, {got:.1%} of Z sits in the background.")


# ----- chapter 3: a random walk on the grid, written with lax.scan --------------------------
def _uses_scan(fn, key, env, n_steps) -> bool:
    """Whether ``fn`` traced with ``key`` as its only traced input contains a ``scan``."""
    return re.search(r"\bscan\[", str(jax.make_jaxpr(lambda k: fn(k, env, n_steps))(key))) is not None


def _walk_problem(walk: np.ndarray, env: Hypergrid, n_steps: int) -> str | None:
    """What is wrong with one walk ``[n_steps + 1, dim]``, or None when it is a valid walk."""
    if walk.shape != (n_steps + 1, env.dim):
        return (
            f"return the n_steps + 1 = {n_steps + 1} visited states (the start included), "
            f"shape {(n_steps + 1, env.dim)}; got shape {walk.shape}."
        )
    if np.any(walk[0] != 0):
        return f"the walk starts at the origin; its first state is {walk[0].tolist()}."
    if walk.min() < 0 or walk.max() > env.side - 1:
        return f"a state left the grid (side {env.side}): coordinates run from 0 to {env.side - 1}."
    for t, (before, after) in enumerate(zip(walk[:-1], walk[1:])):
        step = after - before
        if np.all(step == 0):
            if before.max() < env.side - 1:
                return (
                    f"step {t} stays at {before.tolist()}, where every increment is allowed: "
                    "stay put only when the chosen increment would leave the grid."
                )
        elif not (np.sum(step == 1) == 1 and np.sum(step == 0) == env.dim - 1):
            return (
                f"step {t} goes from {before.tolist()} to {after.tolist()}: each step adds one "
                "to one coordinate (or stays put at the edge)."
            )
    return None


def _transition_law_problem(walks: np.ndarray, env: Hypergrid) -> str | None:
    r"""What is wrong with the one-step law of many walks ``[n_walks, n_steps + 1, dim]``, or None.

    From a state with :math:`k` coordinates at the wall, the walk stays put with probability
    :math:`k / D`, and moves along each coordinate that is not at the wall with probability
    :math:`1 / D`. Each frequency is compared with its probability, within four standard errors.
    """
    before = walks[:, :-1].reshape(-1, env.dim)
    step = (walks[:, 1:] - walks[:, :-1]).reshape(-1, env.dim)
    at_wall = before == env.side - 1
    walls = at_wall.sum(1)

    def off(count, total, p):
        return total > 0 and abs(count / total - p) > 4 * np.sqrt(p * (1 - p) / total) + 0.01

    for k in range(1, env.dim):
        here = walls == k
        stays = np.all(step[here] == 0, axis=1).sum()
        if off(stays, here.sum(), k / env.dim):
            return (
                f"from states with {k} coordinate(s) at the wall the walk stayed put "
                f"{stays / here.sum():.0%} of the time, not {k}/{env.dim}: pick d uniformly among "
                "all coordinates, and stay put only when that increment would leave the grid."
            )
    for d in range(env.dim):
        free = ~at_wall[:, d]
        moves = (step[free, d] == 1).sum()
        if off(moves, free.sum(), 1 / env.dim):
            return (
                f"from states where x{d} can still grow, the walk increased x{d} "
                f"{moves / free.sum():.0%} of the time, not 1/{env.dim}: each coordinate is "
                "chosen with probability 1/D, and a blocked choice is not passed on to another."
            )
    return None


def check_random_walk(fn) -> bool:
    r"""Check ``fn(key, env, n_steps) -> states [n_steps + 1, dim]``: a random walk with ``lax.scan``.

    The walk starts at the origin; at each of ``n_steps`` steps it picks a coordinate
    :math:`d` uniformly and moves to :math:`s + e_d` if that stays on the grid, else stays.
    On a 3D grid of side 4, the checker maps ``fn`` over 2048 keys (and the first one again)
    with ``jax.vmap``, compiled once with ``jax.jit``, and verifies every walk step by step,
    that different keys give different walks and the same key the same walk, that each
    coordinate is picked about a third of the time, that the one-step law is right at the walls
    too (stay put with probability k/D next to k walls), and that the function contains a
    ``lax.scan``.
    """
    env, n_steps = Hypergrid(3, 4), 10
    keys = jax.random.split(jax.random.PRNGKey(0), 2048)
    keys = jnp.concatenate([keys, keys[:1]])  # the first key again, last: the same walk?
    walks, error = call_reader(jax.jit(jax.vmap(lambda k: fn(k, env, n_steps))), keys)  # one compile
    if error:
        return report(
            False,
            f"{error}. (The checker runs it under jax.jit and jax.vmap: use only JAX operations on "
            "the key and the state, no Python `if` on their values; jnp.where instead.)",
        )
    if walks is None:
        return report(False, "the function returns None: fill in the body.")
    walks = np.asarray(walks)
    for walk in walks:
        problem = _walk_problem(walk, env, n_steps)
        if problem:
            return report(False, f"on a {env.dim}D grid of side {env.side}, {problem}")
    if not np.array_equal(walks[0], walks[-1]):
        return report(False, "the same key must give the same walk: draw only from the key.")
    if len({w.tobytes() for w in walks}) < 1500:
        return report(False, "different keys should give different walks: split the key at each step.")
    first_steps = walks[:, 3] - walks[:, 0]  # no wall is within reach in 3 steps
    shares = first_steps.sum(0) / first_steps.sum()
    if np.abs(shares - 1 / env.dim).max() > 0.08:
        return report(
            False,
            f"the coordinates were picked with frequencies {np.round(shares, 2).tolist()}, not a "
            "third each: pick d uniformly, e.g. with jax.random.randint(key, (), 0, env.dim).",
        )
    problem = _transition_law_problem(walks, env)
    if problem:
        return report(False, problem)
    try:
        scanned = _uses_scan(fn, keys[0], env, n_steps)
    except Exception as error:
        return report(False, f"tracing your function failed ({type(error).__name__}): {error}")
    if not scanned:
        return report(False, "the walk is right, but write the loop with jax.lax.scan (no Python for).")
    return report(True, "", "Your scan carries the state and stacks the visited states.")
