r"""A Metropolis–Hastings chain over an environment's objects, computed exactly: the baseline a
GFlowNet is compared with ("why not MCMC?").

The chain walks on the terminal states. From :math:`x` it proposes one of :math:`M` slots
uniformly, one per forward move and one per backward action: the state a valid move or a valid
step back leads to, or nothing (an invalid slot, or a state that cannot stop). Because each
forward edge has its own backward action (the environment protocol's rule), the proposal is
symmetric, :math:`q(x \to y) = q(y \to x) = 1/M`, and accepting with probability
:math:`\min(1, R(y)/R(x))` makes :math:`\pi = R/Z` the chain's stationary distribution
(detailed balance, :math:`\pi(x) K(x, y) = \pi(y) K(y, x)`). Every function here works on the
dense transition matrix :math:`K`, in float64 on the host: small environments only.
"""

from __future__ import annotations

import numpy as np

from .environment import Environment
from .exact import state_graph
from .memory import check_grid_fits


def transition_matrix(env: Environment) -> np.ndarray:
    r"""``[N, N]``: :math:`K(x, y)`, the probability that one step of the chain moves from
    :math:`x` to :math:`y` (rows of states that cannot stop are 0 but for :math:`K(x, x) = 1`)."""
    check_grid_fits(env)
    if env.n_states > 20_000:
        raise ValueError(f"the dense transition matrix of {env.n_states} states is too large; "
                         "use an environment of at most 20,000 states")
    graph = state_graph(env)
    can_stop = np.asarray(graph.can_stop)
    log_r = np.where(can_stop, np.asarray(env.log_reward(env.all_states()), np.float64), -np.inf)
    not_stop = np.arange(env.n_actions) != env.stop_action
    moves = np.where(np.asarray(graph.is_move), np.asarray(graph.child), -1)[:, not_stop]  # -1: nothing
    parents = np.where(np.asarray(graph.has_parent), np.asarray(graph.parent), -1)  # [N, P]
    proposals = np.concatenate([moves, parents], axis=1)  # [N, M]
    n, slots = env.n_states, proposals.shape[1]
    x = np.repeat(np.arange(n), slots)
    y = proposals.reshape(-1)
    real = (y >= 0) & can_stop[x] & can_stop[np.maximum(y, 0)]  # a proposal both ends can stop at
    x, y = x[real], y[real]
    kernel = np.zeros((n, n))
    np.add.at(kernel, (x, y), np.exp(np.minimum(0.0, log_r[y] - log_r[x])) / slots)  # repeats add up
    kernel[np.arange(n), np.arange(n)] += 1.0 - kernel.sum(axis=1)
    return kernel


def chain_marginals(env: Environment, steps, start: int | None = None) -> np.ndarray:
    r"""``[len(steps), N]``: the exact distribution of the chain after each number of steps,
    :math:`p_t = p_0 K^t`, from the start state's row (or ``start``, a row index of a state
    that can stop)."""
    kernel = transition_matrix(env)
    if start is None:
        start = int(np.asarray(env.state_index(env.reset(1)))[0])
    if not np.asarray(state_graph(env).can_stop)[start]:
        raise ValueError(f"the chain cannot start at state row {start}: that state cannot stop")
    steps = [int(t) for t in steps]
    if any(t < 0 for t in steps) or steps != sorted(steps):
        raise ValueError(f"steps must be non-negative and increasing, got {steps}")
    p, t, out = np.eye(env.n_states)[start], 0, []
    for target in steps:
        p = p @ np.linalg.matrix_power(kernel, target - t)  # by repeated squaring
        t = target
        out.append(p)
    return np.stack(out)


def hitting_time(env: Environment, start: int, targets) -> float:
    r"""Expected number of steps for the chain started at row ``start`` to first reach any row
    of ``targets``: :math:`h = 0` on the targets and :math:`h(x) = 1 + \sum_y K(x, y) h(y)`
    elsewhere, solved as one linear system over the states the chain can reach."""
    kernel = transition_matrix(env)
    targets = np.isin(np.arange(env.n_states), np.asarray(targets))
    if targets[start]:
        return 0.0
    reachable = _reachable_from(kernel, start)
    if not (reachable & targets).any():
        raise ValueError(f"the chain started at row {start} never reaches the targets")
    free = reachable & ~targets
    index = np.flatnonzero(free)
    system = np.eye(len(index)) - kernel[np.ix_(index, index)]
    h = np.linalg.solve(system, np.ones(len(index)))
    return float(h[np.searchsorted(index, start)])


def _reachable_from(kernel: np.ndarray, start: int) -> np.ndarray:
    seen = np.zeros(len(kernel), bool)
    seen[start] = True
    frontier = seen.copy()
    while frontier.any():
        frontier = (kernel[frontier].sum(axis=0) > 0) & ~seen
        seen |= frontier
    return seen
