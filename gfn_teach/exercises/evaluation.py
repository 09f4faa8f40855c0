"""Checkers for chapters 7 and 8: KL with zeros, a trained TV, the noise floor, a masked P_B.

Each checker recomputes the answer independently (NumPy in float64, never the library
function the reader is re-deriving) and prints a hint when the reader's answer differs.
"""

from __future__ import annotations

import jax
import numpy as np

from ..hypergrid import Hypergrid
from ._check import call_reader, compiled_first, report, scalar_answer


# ----- chapter 7: KL divergence with zeros ----------------------------------------------
def _reference_kl(p: np.ndarray, q: np.ndarray) -> float:
    """``sum_x p log(p/q)`` over ``p > 0`` (assumes ``q > 0`` wherever ``p > 0``)."""
    support = p > 0
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def _kl_cases():
    """Pairs ``(name, p, q)`` with ``q > 0`` wherever ``p > 0``, some with zeros in p and q."""
    rng = np.random.default_rng(0)
    dense_p, dense_q = rng.dirichlet(np.ones(12)), rng.dirichlet(np.ones(12))
    yield "two dense distributions", dense_p, dense_q
    env = Hypergrid(2, 8, "easy")
    target = np.asarray(env.true_distribution(), np.float64)
    target /= target.sum()
    flat = np.full(env.n_states, 1.0 / env.n_states)
    yield "the hypergrid target against the uniform distribution", target, flat
    half = np.where(np.arange(12) < 6, dense_p, 0.0)
    half /= half.sum()
    yield "p with zeros (p(x) = 0 on half the states)", half, dense_q
    both = np.where(np.arange(12) % 3 == 0, 0.0, dense_q)
    both /= both.sum()
    p_both = np.where(np.arange(12) % 3 == 0, 0.0, dense_p)
    p_both /= p_both.sum()
    yield "p and q both zero on the same states", p_both, both


def check_kl_divergence(fn) -> bool:
    r"""Check ``fn(p, q) -> KL(p || q)`` on distributions with zeros.

    :math:`\mathrm{KL}(p\|q) = \sum_{x: p(x) > 0} p(x) \log \frac{p(x)}{q(x)}`: a state with
    :math:`p(x) = 0` contributes 0 (the limit of :math:`t \log t`), whatever :math:`q(x)` is.
    The cases keep :math:`q > 0` wherever :math:`p > 0`, so the answer is finite.
    """
    for name, p, q in _kl_cases():
        p32, q32 = jax.numpy.asarray(p, np.float32), jax.numpy.asarray(q, np.float32)
        value, problem = scalar_answer(fn, p32, q32, shape_hint="return one number (a scalar),")
        if problem:
            return report(False, problem)
        expected = _reference_kl(p, q)
        if not np.isfinite(value):
            return report(
                False,
                f"{name}: got {value}. 0 * log 0 is NaN in floating point; states with "
                "p(x) = 0 must contribute exactly 0 (e.g. jnp.where(p > 0, ..., 0.0)).",
            )
        if abs(value - expected) <= 1e-4 + 1e-3 * abs(expected):
            continue
        swapped = _reference_kl(q, p) if np.all(p[q > 0] > 0) else None
        if swapped is not None and abs(value - swapped) <= 1e-4 + 1e-3 * abs(swapped):
            return report(False, f"{name}: you computed KL(q || p); the order matters: sum over p.")
        if abs(value - expected / np.log(2)) <= 1e-3 * abs(expected / np.log(2)) + 1e-4:
            return report(False, f"{name}: use the natural logarithm (nats), not log2.")
        return report(False, f"{name}: got {value:.5g}, expected {expected:.5g}.")
    return report(True, "", "your KL matches on dense distributions and on ones with zeros.")


# ----- chapter 7: a training run that reaches a TV ---------------------------------------
def check_trained_tv(history, threshold: float = 0.05, n_modes: int = 4) -> bool:
    """Check that training ends at exact TV <= ``threshold`` (the median over seeds, if several).

    Args:
        history: a training history (``result.history``; ``[evaluations]`` or
            ``[evaluations, seeds]`` arrays) or a :class:`gfn_teach.TrainResult`.
        threshold: the exact TV to reach at the last evaluation.
        n_modes: the number of modes of the grid (4 on a 2D grid), for the hint.
    """
    history = getattr(history, "history", history)
    tv = np.asarray(history["exact_tv"], np.float64)
    if tv.ndim not in (1, 2):
        return report(False, f"pass one run's history: exact_tv has shape {tv.shape}.")
    tv = tv.reshape(len(tv), -1)  # [evaluations, seeds]
    last = tv[-1]
    if not np.all(np.isfinite(last)) or not np.all(np.isfinite(np.asarray(history["loss"]))):
        return report(False, "the loss or the TV became NaN: check the loss on a batch first.")
    median = float(np.median(last))
    seeds = "" if len(last) == 1 else f" (median of {len(last)} seeds: {' '.join(f'{v:.3f}' for v in last)})"
    if median <= threshold:
        return report(True, "", f"final exact TV {median:.3f} <= {threshold}{seeds}.")
    hint = f"final exact TV {median:.3f} > {threshold}{seeds}. "
    modes = np.asarray(history["modes_found"]).reshape(len(tv), -1)[-1]
    first = np.median(tv[0])
    if np.median(modes) < n_modes:
        hint += "Some modes were never sampled: keep the exploration (epsilon from 1 down to 0)."
    elif len(tv) > 1 and median < first and median < 0.8 * np.min(np.median(tv[:-1], axis=1)):
        hint += "The TV is still falling: train for more steps."
    else:
        hint += "Check that the trainer's loss is your SubTB, with lambda around 0.9 and lr 1e-3."
    return report(False, hint)


# ----- chapter 7: the sampling noise floor ----------------------------------------------
def _reference_floor(env: Hypergrid, n_samples: int, n_repeats: int = 64) -> float:
    """Median TV between the target and the histogram of ``n_samples`` exact samples."""
    target = np.asarray(env.true_distribution(), np.float64)
    target /= target.sum()
    rng = np.random.default_rng(1)
    counts = rng.multinomial(n_samples, target, size=n_repeats)
    tv = 0.5 * np.abs(counts / n_samples - target).sum(axis=1)
    return float(np.median(tv))


def check_noise_floor(fn) -> bool:
    r"""Check ``fn(key, env, n_samples) -> TV`` of ``n_samples`` exact samples from the target.

    The answer is random, so it is compared with a NumPy simulation (multinomial counts,
    median over 64 repeats) within 25%; it should shrink like :math:`1/\sqrt{M}`.
    """
    env = Hypergrid(2, 8, "easy")
    key = jax.random.PRNGKey(0)
    compiled = compiled_first(fn)
    for n_samples in (300, 3_000):
        value, problem = scalar_answer(
            compiled, key, env, n_samples, shape_hint="return one number (a TV),"
        )
        if problem:
            return report(False, problem)
        expected = _reference_floor(env, n_samples)
        if abs(value) < 1e-9:
            return report(
                False,
                "got 0: compare the target with the histogram of samples drawn from it "
                "(jax.random.categorical on log p), not with itself.",
            )
        if abs(value - 2 * expected) <= 0.25 * 2 * expected:
            return report(False, "the value is twice too large: TV has a factor 1/2.")
        if not abs(value - expected) <= 0.25 * expected:
            return report(
                False,
                f"with M = {n_samples} samples on a 2D grid of side 8 got {value:.4f}, "
                f"a simulation gives about {expected:.4f}. Normalise the counts by M.",
            )
    return report(True, "", "the floor shrinks like 1/sqrt(M), as it should.")


# ----- chapter 9: a masked backward policy ----------------------------------------------
def _reference_log_pb(logits: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Log-softmax over the valid entries of each row (rows with a valid entry only)."""
    shifted = np.where(valid, logits, -np.inf)
    top = shifted.max(axis=-1, keepdims=True)
    log_norm = top + np.log(np.sum(np.where(valid, np.exp(logits - top), 0.0), axis=-1, keepdims=True))
    return logits - log_norm


def _evaluate_on_states(fn, env: Hypergrid, states, logits):
    """The reader's ``fn(env, state, logits)`` on every row, vmapped (a loop as a fallback)."""
    try:
        return np.asarray(jax.vmap(lambda s, l: fn(env, s, l))(states, logits)), None
    except Exception:
        pass
    rows = []
    for state, row in zip(states, logits):
        got, error = call_reader(fn, env, state, row)
        if error:
            return None, error
        if got is None:
            return None, "the function returns None: fill in the body."
        rows.append(np.asarray(got))
    return np.stack(rows), None


def check_masked_log_pb(fn) -> bool:
    r"""Check ``fn(env, state [dim], backward_logits [dim]) -> log P_B [dim]``.

    :math:`\log P_B(s - e_d \mid s) = \ell_d - \log \sum_{d': s_{d'} > 0} e^{\ell_{d'}}` for the
    decrements that stay on the grid; the others must get probability 0 (``-inf`` or a large
    negative number). The origin has no parent and is not checked.
    """
    for env in (Hypergrid(2, 5, "easy"), Hypergrid(3, 4, "easy")):
        states = env.all_states()[1:]  # the origin has no parents
        logits = jax.random.normal(jax.random.PRNGKey(env.dim), (states.shape[0], env.dim))
        got, error = _evaluate_on_states(fn, env, states, logits)
        if error:
            return report(False, error)
        if got is None or got.dtype == object:
            return report(False, "the function returns None: fill in the body.")
        if got.shape != logits.shape:
            return report(False, f"return one log-probability per coordinate: shape ({env.dim},).")
        got = got.astype(np.float64)
        valid = np.asarray(states) > 0
        expected = _reference_log_pb(np.asarray(logits, np.float64), valid)
        where = f"(dim={env.dim}, side={env.side})"
        if np.any(np.isnan(got)):
            row = int(np.argmax(np.isnan(got).any(-1)))
            return report(False, f"NaN at state {np.asarray(states[row]).tolist()} {where}.")
        leak = np.exp(np.where(valid, -np.inf, got)).sum(-1)
        if leak.max() > 1e-6:
            row = int(np.argmax(leak))
            return report(
                False,
                f"at state {np.asarray(states[row]).tolist()} {where} a parent off the grid gets "
                f"probability {leak[row]:.3f}: mask the coordinates with s_d = 0 before the softmax.",
            )
        error_valid = np.abs(np.where(valid, got - expected, 0.0))
        if error_valid.max() > 1e-4:
            row = int(np.argmax(error_valid.max(-1)))
            return report(
                False,
                f"at state {np.asarray(states[row]).tolist()} {where}: got "
                f"{np.round(got[row], 4).tolist()}, expected {np.round(expected[row], 4).tolist()} "
                "on the valid parents (normalise over the valid ones only).",
            )
    return report(True, "", "only parents on the grid get probability, and they sum to 1.")
