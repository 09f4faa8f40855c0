"""Checker for chapter 10: the Metropolis–Hastings acceptance probability.

The answer is recomputed in NumPy (float64) from its definition, never from
:mod:`gfn_teach.mcmc`, and the commonest slips get their own hint.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ._check import call_reader, compiled_first, report


def _log_reward_pairs() -> tuple[np.ndarray, np.ndarray]:
    """``(log R(x), log R(y))`` pairs: equal, up, down, by tiny and by huge steps."""
    rng = np.random.default_rng(0)
    log_r_x = rng.uniform(-12.0, 3.0, 64)
    log_r_y = np.concatenate([log_r_x[:8], rng.uniform(-12.0, 3.0, 48), log_r_x[56:] + 40.0])
    return log_r_x, log_r_y


def _close(got: np.ndarray, expected: np.ndarray) -> bool:
    return bool(np.all(np.abs(got - expected) <= 1e-6 + 1e-4 * np.abs(expected)))


def check_mh_acceptance(fn) -> bool:
    r"""Check ``fn(log_r_x, log_r_y) -> a``, Metropolis–Hastings's acceptance probability of
    a proposed move from :math:`x` to :math:`y` under a symmetric proposal, for arrays of pairs:

    .. math:: a(x \to y) = \min\left(1, \frac{R(y)}{R(x)}\right).
    """
    log_r_x, log_r_y = _log_reward_pairs()
    got, error = call_reader(compiled_first(fn), jnp.asarray(log_r_x, jnp.float32), jnp.asarray(log_r_y, jnp.float32))
    if error:
        return report(False, error)
    if got is None:
        return report(False, "the function returns None: fill in the body.")
    got = np.asarray(got, np.float64)
    if got.shape != log_r_x.shape:
        return report(False, f"return one probability per pair, shape {log_r_x.shape}; got shape {got.shape}.")
    ratio = np.exp(log_r_y - log_r_x)
    if _close(got, np.minimum(1.0, ratio)):
        return report(True, "", "moves up are always accepted, moves down with probability R(y)/R(x).")
    if not np.all(np.isfinite(got)):
        return report(False, "some answers are inf or NaN: the ratio R(y)/R(x) can be huge; cap it at 1.")
    if _close(got, np.minimum(1.0, 1.0 / ratio)):
        return report(False, "the ratio is upside down: a move to a higher reward must always be accepted.")
    if _close(got, ratio / (1.0 + ratio)):
        return report(False, "that is Barker's rule, R(y) / (R(x) + R(y)): it also leaves R/Z stationary, "
                             "but accepts less often. Metropolis–Hastings uses min(1, R(y)/R(x)).")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.minimum(1.0, log_r_y / log_r_x)
    if _close(got, log_ratio):
        return report(False, "compare rewards, not log-rewards: R(y)/R(x) = exp(log R(y) - log R(x)).")
    if np.any((got < 0) | (got > 1)):
        return report(False, "a probability must lie in [0, 1]: did you forget the min(1, ...)?")
    if np.all(got == 0):
        return report(False, "a chain that never moves satisfies detailed balance, but samples nothing.")
    return report(False, "some pairs differ from min(1, R(y)/R(x)).")
