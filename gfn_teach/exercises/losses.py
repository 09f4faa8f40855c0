"""Checkers for chapters 4 to 7: a state's log inflow, a TB residual, a DB residual, SubTB.

Each checker recomputes the answer independently, with plain NumPy loops over the policy's
raw outputs (never the library loss the reader is re-deriving), and prints a hint when the
reader's answer differs.
"""

from __future__ import annotations

from functools import lru_cache

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..exact import exact_tabular_policy
from ..hypergrid import Hypergrid
from ..losses import TrajectoryTerms, trajectory_terms
from ..policy import MLPPolicy, TabularPolicy
from ..rollout import forward_rollout
from ._check import call_reader, compiled_first, report, scalar_answer


def _log_softmax_np(logits: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Masked log-softmax in float64 NumPy (``-inf`` on invalid entries)."""
    masked = np.where(valid, logits, -np.inf)
    top = masked.max()
    return masked - (top + np.log(np.sum(np.exp(masked - top))))


@eqx.filter_jit
def _heads(policy, env: Hypergrid, state):
    return policy(env.observation(state))


def _raw(policy, env: Hypergrid, state) -> tuple[np.ndarray, float, np.ndarray]:
    """The policy's three heads at one state, as float64 NumPy."""
    out = _heads(policy, env, jnp.asarray(state, jnp.int32))
    return (
        np.asarray(out.forward_logits, np.float64),
        float(out.log_flow),
        np.asarray(out.backward_logits, np.float64),
    )


# ----- chapter 4: the flow into a state ---------------------------------------------------
def _inflow_reference(policy, env: Hypergrid, state: np.ndarray) -> float:
    """``log sum_d exp(forward logit d of s - e_d)`` over the coordinates with ``s_d > 0``."""
    terms = []
    for d in range(env.dim):
        if state[d] > 0:
            parent = state.copy()
            parent[d] -= 1
            terms.append(_raw(policy, env, parent)[0][d])
    terms = np.array(terms)
    return float(terms.max() + np.log(np.sum(np.exp(terms - terms.max()))))


@lru_cache(maxsize=1)
def _inflow_cases():
    """``(policy, env, state, expected log inflow, at exact flows?)`` (built once, then reused)."""
    env = Hypergrid(2, 5, "easy")
    mlp = MLPPolicy(env, jax.random.PRNGKey(0), hidden=16, depth=1, learn_backward=False)
    cases = []
    for state in ([1, 0], [0, 3], [2, 3], [4, 4]):
        state = np.array(state, dtype=np.int32)
        cases.append((mlp, env, state, _inflow_reference(mlp, env, state), False))
    env3 = Hypergrid(3, 4, "original")
    exact3 = exact_tabular_policy(env3)  # its log-flow column is F(s) from dynamic programming
    flows3 = np.asarray(exact3.table[:, env3.n_actions])
    for state in ([1, 2, 0], [3, 3, 3]):
        state = np.array(state, dtype=np.int32)
        expected = float(flows3[int(env3.state_index(jnp.asarray(state)))])
        cases.append((exact3, env3, state, expected, True))
    return cases


def check_log_inflow(fn) -> bool:
    r"""Check ``fn(policy, env, state) -> log inflow`` of one state ``s != s0`` (a scalar).

    The edge flows are :math:`F(p \to s) = \exp(\text{forward logit of } p \text{ for the move to } s)`,
    and the answer is :math:`\log \sum_{p \in \mathrm{Par}(s)} F(p \to s)`. Tested on a random
    MLP (against a NumPy loop over the parents) and on the exact flows (against
    :math:`\log F(s)` from dynamic programming, since at exact flows inflow = state flow).
    """
    for policy, grid, state, expected, at_exact_flows in _inflow_cases():
        value, problem = scalar_answer(
            fn, policy, grid, jnp.asarray(state), shape_hint="return one number per state;"
        )
        if problem:
            return report(False, problem)
        if not np.isclose(value, expected, atol=1e-3):
            hint = (
                f"at state {state.tolist()} (dim={grid.dim}) got {value:.4f}, expected "
                f"{expected:.4f}. The parents of s are s - e_d for every d with s_d > 0; the edge "
                "into s from s - e_d is forward logit d of the parent. Combine the parents' "
                "logits with logsumexp (a log of a sum of flows, not a sum of logs)."
            )
            if at_exact_flows:
                hint = (
                    f"at the exact flows, the inflow of {state.tolist()} should equal its state "
                    f"flow log F(s) = {expected:.4f}; got {value:.4f}."
                )
            return report(False, hint)
    return report(True, "", "At exact flows the inflow of every state equals its flow F(s).")


# ----- chapter 5: the trajectory balance residual ------------------------------------------
@lru_cache(maxsize=1)
def _tb_batches():
    """``(policy, terms, trajectories, expected)``: uniform and learned backward policies."""
    env = Hypergrid(2, 5, "easy")
    rng = np.random.default_rng(0)
    width = env.n_actions + 1 + env.n_backward_actions
    batches = []
    for backward_scale, seed in ((0.0, 0), (1.0, 1)):  # zero backward logits: a uniform P_B
        # Random tables, not a random MLP: nothing new to compile for its initialisation.
        table = rng.normal(0.0, 1.0, (env.n_states, width)).astype(np.float32)
        table[:, width - env.n_backward_actions:] *= backward_scale
        policy = TabularPolicy(env, True, table, log_z=1.5)  # a nonzero log Z
        traj, terms = _rollout_and_terms(jax.random.PRNGKey(seed + 10), env, policy)
        batches.append((policy, terms, traj, _tb_reference(policy, env, traj)))
    return batches


@eqx.filter_jit
def _rollout_and_terms(key, env, policy):
    """Six trajectories with half the actions uniform, and their TB terms: one compilation."""
    traj = forward_rollout(key, env, policy, 6, epsilon=0.5)
    return traj, trajectory_terms(policy, env, traj)


def _tb_reference(policy, env: Hypergrid, traj) -> np.ndarray:
    """Per-trajectory TB residuals from the raw policy outputs, one NumPy loop per trajectory."""
    states, actions = np.asarray(traj.states), np.asarray(traj.actions)
    padding = np.asarray(traj.is_padding)
    residuals = []
    for b in range(states.shape[1]):
        total = float(policy.log_z) - float(traj.log_rewards[b])
        for t in range(actions.shape[0]):
            if padding[t, b]:
                break
            s, a = states[t, b], int(actions[t, b])
            logits, _, _ = _raw(policy, env, s)
            total += _log_softmax_np(logits, np.asarray(env.forward_valid(jnp.asarray(s))))[a]
            if a != env.stop_action:
                s_next = states[t + 1, b]
                _, _, back = _raw(policy, env, s_next)
                total -= _log_softmax_np(back, s_next > 0)[a]
        residuals.append(total)
    return np.array(residuals)


def check_tb_residual(fn) -> bool:
    r"""Check ``fn(terms) -> [B]`` TB residuals from :func:`gfn_teach.trajectory_terms`.

    .. math:: \delta(\tau) = \log Z + \sum_t \log P_F(s_{t+1}|s_t) - \log R(x) - \sum_t \log P_B(s_t|s_{t+1})

    Compared with a NumPy loop over each trajectory's raw policy outputs.
    """
    for policy, terms, traj, expected in _tb_batches():
        got, error = call_reader(fn, terms)
        if error:
            return report(False, error)
        if got is None:
            return report(False, "the function returns None: fill in the body.")
        got = np.asarray(got, dtype=np.float64)
        if got.shape != expected.shape:
            return report(
                False,
                f"return one residual per trajectory, shape {expected.shape}; got shape "
                f"{got.shape}. Sum the per-step terms over time (axis 0).",
            )
        if not np.allclose(got, expected, atol=1e-3):
            b = int(np.argmax(np.abs(got - expected)))
            gap = got[b] - expected[b]
            hint = (
                f"trajectory {b}: got {got[b]:.4f}, expected {expected[b]:.4f}. "
                "delta = log Z + sum_t log P_F - log R(x) - sum_t log P_B."
            )
            doubled = 2 * np.abs([float(policy.log_z), float(traj.log_rewards[b])])
            if np.any(np.isclose(np.abs(gap), doubled, atol=1e-3) & (doubled > 1e-3)):
                hint += " Check the signs of log Z and log R(x)."
            return report(False, hint)
    return report(True, "", "Its mean square is exactly g.trajectory_balance.")


# ----- chapter 6: the detailed balance residual ---------------------------------------------
def _db_reference(policy, env: Hypergrid, state: np.ndarray, action: int) -> float:
    """DB residual of one transition from the raw outputs, in float64 NumPy."""
    logits, log_flow, _ = _raw(policy, env, state)
    log_pf = _log_softmax_np(logits, np.asarray(env.forward_valid(jnp.asarray(state))))[action]
    if action == env.stop_action:
        return log_flow + log_pf - float(env.log_reward(jnp.asarray(state)))
    nxt = state.copy()
    nxt[action] += 1
    _, next_log_flow, back = _raw(policy, env, nxt)
    log_pb = _log_softmax_np(back, nxt > 0)[action]
    return log_flow + log_pf - next_log_flow - log_pb


@lru_cache(maxsize=1)
def _db_cases():
    """``(policy, env, state, action, expected)``: moves and stops, both kinds of P_B."""
    env = Hypergrid(2, 5, "easy")
    pairs = [([0, 0], 0), ([1, 2], 1), ([4, 1], 1), ([2, 2], 2), ([4, 4], 2), ([0, 3], 0)]
    cases = []
    for learn_backward, seed in ((False, 0), (True, 1)):
        policy = MLPPolicy(env, jax.random.PRNGKey(seed), hidden=16, depth=1, learn_backward=learn_backward)
        for state, action in pairs:
            state = np.array(state, dtype=np.int32)
            cases.append((policy, env, state, action, _db_reference(policy, env, state, action)))
    return cases


def check_db_residual(fn) -> bool:
    r"""Check ``fn(policy, env, state, action) -> scalar`` DB residual of one transition.

    .. math:: \delta(s \to s') = \log F(s) + \log P_F(s'|s) - \log F(s') - \log P_B(s|s'),

    and for the stop action :math:`\log F(x) + \log P_F(\text{stop}|x) - \log R(x)`. Tested on
    MLPs with uniform and learned backward policies, moves and stops, against NumPy.
    """
    for policy, env, state, action, expected in _db_cases():
        learn_backward = policy.learn_backward
        args = (policy, env, jnp.asarray(state), jnp.asarray(action))
        value, problem = scalar_answer(fn, *args, shape_hint="return one number per transition;")
        if problem:
            return report(False, problem)
        if not np.isclose(value, expected, atol=1e-3):
            kind = "stop" if action == env.stop_action else f"increment {action}"
            which = "learned" if learn_backward else "uniform"
            hint = (
                f"state {state.tolist()}, action {action} ({kind}), {which} P_B: got "
                f"{value:.4f}, expected {expected:.4f}. "
            )
            if action == env.stop_action:
                hint += "For stop the target is log R(x): log F(x) + log P_F(stop|x) - log R(x)."
            else:
                hint += (
                    "Mask both log-softmaxes (forward at s, backward at s'), and take the "
                    "backward log-probability of the same coordinate at s' = s + e_a."
                )
            return report(False, hint)
    return report(True, "", "Its mean square over a batch is g.detailed_balance.")


# ----- chapter 7: sub-trajectory balance, from its equation ----------------------------------
def subtb_reference(terms, lam: float, variant: str = "correct") -> float:
    """SubTB(lambda) from the terms, one trajectory and one pair (i, j) at a time, in NumPy.

    ``variant`` computes a typical mistake instead, so that the checker can name it:
    ``"no_log_r"`` (pairs end at x, the sink and its log R are left out), ``"unnormalised"``
    (no division by the sum of the weights), ``"global"`` (one normalisation over the whole
    batch), ``"padding"`` (pairs beyond the sink are counted).
    """
    log_pf, log_pb = np.asarray(terms.log_pf, np.float64), np.asarray(terms.log_pb, np.float64)
    log_flow = np.asarray(terms.log_flow, np.float64)
    padding = np.asarray(terms.is_padding)
    log_r = np.asarray(terms.log_reward, np.float64)
    n_nodes = log_flow.shape[0]
    numerators, denominators = [], []
    for b in range(log_pf.shape[1]):
        sink = int(np.sum(~padding[:, b]))  # n + 1: the index of s_f
        flow = np.concatenate([log_flow[:sink, b], [log_r[b]], log_flow[sink + 1 :, b]])
        last = {"no_log_r": sink - 1, "padding": n_nodes - 1}.get(variant, sink)
        num = den = 0.0
        for i in range(last + 1):
            for j in range(i + 1, last + 1):
                delta = flow[i] + log_pf[i:j, b].sum() - flow[j] - log_pb[i:j, b].sum()
                num += lam ** (j - i) * delta**2
                den += lam ** (j - i)
        numerators.append(num)
        denominators.append(den)
    num, den = np.array(numerators), np.array(denominators)
    if variant == "unnormalised":
        return float(np.mean(num))
    if variant == "global":
        return float(num.sum() / den.sum())
    return float(np.mean(num / np.maximum(den, 1e-300)))


@lru_cache(maxsize=1)
def _subtb_batches():
    """``(terms, lam)`` cases: random terms of 8 trajectories of 1 to 9 actions, lambda below,
    at and above 1. Random numbers test the algebra, and need no rollout (nothing to compile)."""
    rng = np.random.default_rng(0)
    T, B = 9, 8
    cases = []
    for lengths in (rng.integers(1, T + 1, size=B), np.array([T, 1, 2, T, 5, 3, T, 7])):
        step = np.arange(T)[:, None]
        is_padding = step >= lengths[None, :]  # actions 0..n are real, the last is the stop
        is_stop = step == lengths[None, :] - 1
        log_pf = np.where(is_padding, 0.0, -rng.exponential(1.0, (T, B)))
        log_pb = np.where(is_padding | is_stop, 0.0, -rng.exponential(0.7, (T, B)))
        terms = TrajectoryTerms(
            log_pf=jnp.asarray(log_pf, jnp.float32),
            log_pb=jnp.asarray(log_pb, jnp.float32),
            log_flow=jnp.asarray(rng.normal(2.0, 1.0, (T + 1, B)), jnp.float32),
            is_stop=jnp.asarray(is_stop),
            is_padding=jnp.asarray(is_padding),
            log_reward=jnp.asarray(rng.normal(0.0, 1.0, B), jnp.float32),
            log_z=jnp.asarray(1.5, jnp.float32),
        )
        for lam in (0.9, 0.3, 2.5):
            cases.append((terms, lam))
    return cases


_SUBTB_HINTS = {
    "no_log_r": "the pairs must run up to the sink s_f = s_{n+1}, whose flow is R(x): "
    "log F(s_{n+1}) := log R(x) (the pairs (i, n+1) are TB-like, with the stop step).",
    "unnormalised": "divide each trajectory's weighted sum by the sum of its weights "
    "sum_{i<j} lambda^(j-i), then average over trajectories.",
    "global": "normalise each trajectory by its own sum of weights, then average over "
    "trajectories (not one sum over the whole batch).",
    "padding": "only the pairs 0 <= i < j <= n+1 count: mask the padding nodes after the sink.",
}


def check_subtb(fn) -> bool:
    r"""Check ``fn(terms, lam) -> scalar``: SubTB(:math:`\lambda`) of a batch.

    With nodes :math:`s_0, \dots, s_n = x, s_{n+1} = s_f` and :math:`\log F(s_{n+1}) := \log R(x)`,

    .. math::
        \mathcal L = \frac1B \sum_\tau \frac{\sum_{0 \le i < j \le n+1} \lambda^{j-i}\,
        \delta_{ij}^2}{\sum_{0 \le i < j \le n+1} \lambda^{j-i}}, \qquad
        \delta_{ij} = \log F(s_i) + \sum_{t=i}^{j-1} \log P_F(s_{t+1}|s_t) - \log F(s_j)
        - \sum_{t=i}^{j-1} \log P_B(s_t|s_{t+1}).

    Compared with NumPy loops over the pairs of each trajectory, on random terms of
    trajectories of 1 to 9 actions and :math:`\lambda` = 0.9, 0.3 and 2.5; typical mistakes
    get a hint.
    """
    compiled = compiled_first(fn)  # as in training; lambda traced, so one compilation
    for terms, lam in _subtb_batches():
        value, problem = scalar_answer(
            compiled, terms, jnp.float32(lam), shape_hint="return one number (the batch mean),"
        )
        if problem:
            return report(False, problem)
        expected = subtb_reference(terms, lam)
        if np.isclose(value, expected, rtol=1e-3, atol=1e-4):
            continue
        where = f"with lambda = {lam}: got {value:.5g}, expected {expected:.5g}. "
        for variant, hint in _SUBTB_HINTS.items():
            if np.isclose(value, subtb_reference(terms, lam, variant), rtol=1e-3, atol=1e-4):
                return report(False, where + hint)
        if np.isclose(value, subtb_reference(terms, 1.0), rtol=1e-3, atol=1e-4):
            return report(False, where + "every pair has the same weight: weight a pair (i, j) by lambda**(j - i).")
        return report(
            False,
            where + "delta_ij = (log F(s_i) - C_i) - (log F(s_j) - C_j), with C_k the sum of "
            "log P_F - log P_B over the steps t < k.",
        )
    return report(True, "", "Its value is g.subtrajectory_balance's, for lambda below and above 1.")
