"""Checker for chapter 11: the tempered target :math:`R(x)^\\beta / Z_\\beta`.

The answer is recomputed in NumPy (float64) from its definition, never from
:class:`gfn_teach.Tempered`, and the commonest slips get their own hint.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ._check import call_reader, compiled_first, report

# Inverse temperatures the answer is checked at: sharper, flatter, and uniform (beta = 0).
BETAS = (2.0, 0.5, 0.0)


def _log_rewards() -> np.ndarray:
    """The log-rewards of a few objects, from 1e-3 to 2.5 as on the book's grids."""
    rng = np.random.default_rng(0)
    return np.log(np.concatenate([[1e-3, 0.5, 2.5], rng.uniform(1e-3, 2.5, 21)]))


def _normalise(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


def _close(got: np.ndarray, expected: np.ndarray) -> bool:
    return got.shape == expected.shape and bool(np.all(np.abs(got - expected) <= 1e-6 + 1e-4 * np.abs(expected)))


def _diagnose(got: np.ndarray, log_r: np.ndarray, beta: float) -> str:
    """The hint for an answer that is not R^beta / Z_beta at this beta."""
    rewards = np.exp(log_r)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        slips = [
            (np.exp(beta * log_r), "these are the weights R(x)^beta: divide them by their sum, Z_beta, "
                                   "so that the probabilities sum to 1."),
            (_normalise(rewards) ** beta, "(R/Z)^beta is not normalised: Z_beta = sum_x R(x)^beta is not Z^beta. "
                                          "Normalise after raising to the power beta."),
            (_normalise(rewards ** (1.0 / beta)) if beta else None,
             "that is R^(1/beta): beta is the inverse temperature, so it multiplies log R (it does not divide it)."),
            (_normalise(rewards), "the answer does not depend on beta: raise the rewards to the power beta."),
            (_normalise(np.exp(beta * rewards)), "that treats the rewards as logits, softmax(beta * R): use the "
                                                  "log-rewards, softmax(beta * log R)."),
            (beta * log_r - np.log(np.sum(np.exp(beta * log_r))),
             "those are log-probabilities: return the probabilities themselves."),
            (_normalise(beta * rewards) if beta else None,
             "beta * R(x) normalised is just R/Z again: the power, R^beta, is what changes the shape."),
        ]
    for wrong, hint in slips:
        if wrong is not None and _close(got, wrong):
            return hint
    if not np.isclose(got.sum(), 1.0, atol=1e-4):
        return f"the probabilities must sum to 1; at beta = {beta} yours sum to {got.sum():.4g}."
    return f"at beta = {beta} some probabilities differ from R(x)^beta / Z_beta."


def check_tempered_target(fn) -> bool:
    r"""Check ``fn(log_r, beta) -> p``: the tempered target over objects with log-rewards
    ``log_r`` ``[N]``, at inverse temperature ``beta`` (a scalar),

    .. math:: p(x) = \frac{R(x)^\beta}{Z_\beta}, \qquad Z_\beta = \sum_{x'} R(x')^\beta .
    """
    log_r = _log_rewards()
    run = compiled_first(fn)
    for beta in BETAS:
        got, error = call_reader(run, jnp.asarray(log_r, jnp.float32), jnp.float32(beta))
        if error:
            return report(False, error)
        if got is None:
            return report(False, "the function returns None: fill in the body.")
        got = np.asarray(got, np.float64)
        if got.shape != log_r.shape:
            return report(False, f"return one probability per object, shape {log_r.shape}; got shape {got.shape}.")
        if not np.all(np.isfinite(got)):
            return report(False, f"at beta = {beta} some answers are inf or NaN: work with beta * log R, "
                                 "and normalise with a softmax (or subtract the largest before exp).")
        expected = _normalise(np.exp(beta * log_r - np.max(beta * log_r)))
        if not _close(got, expected):
            return report(False, _diagnose(got, log_r, beta))
    return report(True, "", "beta > 1 sharpens the target onto the best objects, beta < 1 flattens it, "
                            "and beta = 0 makes it uniform.")
