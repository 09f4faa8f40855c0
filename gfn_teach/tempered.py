r"""Temperature and conditioning: the reward :math:`R(x)^\beta`, and one policy for every :math:`\beta`.

:class:`Tempered` wraps an environment and raises its reward to the power :math:`\beta`
(an inverse temperature): :math:`\log R_\beta(x) = \beta \log R(x)`, so the target becomes
:math:`R(x)^\beta / Z_\beta` with :math:`Z_\beta = \sum_x R(x)^\beta`. :math:`\beta > 1`
sharpens it onto the highest rewards, :math:`\beta < 1` flattens it, :math:`\beta = 0` is
uniform over the terminal states. Everything else (states, actions, masks) is the wrapped
environment's.

The observation is the wrapped environment's with :math:`\beta` appended as one more input:
the environment tells the policy its :math:`\beta`. An ordinary :class:`~gfn_teach.MLPPolicy`
built for a tempered environment is therefore *conditional* on :math:`\beta`. ``beta`` is an
array field, not static configuration, so tempered environments with different :math:`\beta`
share one compiled program, and a batch of them, ``jax.vmap(lambda b: Tempered(env, b))(betas)``
(:func:`tempered_batch`) can be mapped over. :func:`conditional_train_step` trains one policy
on several :math:`\beta` at once that way, and :func:`make_conditional_train` scans it into a
whole run (conditional GFlowNets: Bengio et al., 2023).
"""

from __future__ import annotations

from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .environment import Environment
from .losses import LOSSES
from .rollout import forward_rollout
from .train import Hyperparams, TrainState, epsilon, init_state, make_optimizer, mark_visited


class Tempered(Environment):
    r"""``env`` with the reward :math:`R(x)^\beta` and :math:`\beta` appended to the observation.

    Args:
        env: the environment to temper (any :class:`~gfn_teach.Environment`).
        beta: the inverse temperature, a number :math:`\ge 0` (or a traced scalar inside
            ``jit``/``vmap``, which is not checked).
    """

    env: Environment
    beta: jax.Array

    def __init__(self, env: Environment, beta):
        if not isinstance(env, Environment):
            raise ValueError(f"env must be a gfn_teach.Environment, got {type(env).__name__}")
        if not isinstance(beta, jax.core.Tracer):
            number = isinstance(beta, (int, float, np.number, np.ndarray, jax.Array))
            if not number or np.ndim(beta) != 0 or np.asarray(beta).dtype.kind not in "iuf":
                raise ValueError(f"beta must be one number >= 0, got {beta!r}")
            value = float(beta)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
        self.env = env
        self.beta = jnp.asarray(beta, dtype=jnp.float32)

    # ----- sizes: the wrapped environment's, and one more input ---------------------------------
    @property
    def state_size(self) -> int:
        return self.env.state_size

    @property
    def n_actions(self) -> int:
        return self.env.n_actions

    @property
    def stop_action(self) -> int:
        return self.env.stop_action

    @property
    def n_backward_actions(self) -> int:
        return self.env.n_backward_actions

    @property
    def max_length(self) -> int:
        return self.env.max_length

    @property
    def obs_size(self) -> int:
        """The wrapped observation and :math:`\\beta`: ``env.obs_size + 1``."""
        return self.env.obs_size + 1

    @property
    def n_states(self) -> int:
        return self.env.n_states

    # ----- dynamics and enumeration: the wrapped environment's -----------------------------------
    def reset(self, batch_size: int) -> jax.Array:
        return self.env.reset(batch_size)

    def step(self, state, action):
        return self.env.step(state, action)

    def backward_step(self, state, backward_action):
        return self.env.backward_step(state, backward_action)

    def forward_valid(self, state):
        return self.env.forward_valid(state)

    def backward_valid(self, state):
        return self.env.backward_valid(state)

    def backward_action(self, forward_action):
        return self.env.backward_action(forward_action)

    def parents(self, state):
        return self.env.parents(state)

    def all_states(self):
        return self.env.all_states()

    def state_index(self, state):
        return self.env.state_index(state)

    # ----- what changes -----------------------------------------------------------------------
    def observation(self, state: jax.Array) -> jax.Array:
        """The wrapped observation with :math:`\\beta` appended: float ``[..., obs_size + 1]``."""
        obs = self.env.observation(state)
        beta = jnp.broadcast_to(self.beta.astype(obs.dtype), obs.shape[:-1] + (1,))
        return jnp.concatenate([obs, beta], axis=-1)

    def log_reward(self, state: jax.Array) -> jax.Array:
        """:math:`\\log R_\\beta(x) = \\beta \\log R(x)`."""
        return self.beta * self.env.log_reward(state)

    # ----- views: the wrapped environment's (the modes of R are those of R^beta, beta > 0) -----
    @property
    def n_modes(self) -> int | None:
        return self.env.n_modes

    def mode_ids(self):
        return self.env.mode_ids()

    def marginal(self, p):
        return self.env.marginal(p)


def tempered_batch(env: Environment, betas) -> Tempered:
    """One :class:`Tempered` whose ``beta`` holds a whole vector ``[K]``: map over it with
    ``eqx.filter_vmap`` (or ``jax.vmap``) to get the ``K`` tempered environments."""
    betas = jnp.asarray(betas, dtype=jnp.float32)
    if betas.ndim != 1:
        raise ValueError(f"betas must be a vector [K], got shape {betas.shape}")
    return jax.vmap(lambda beta: Tempered(env, beta))(betas)


def conditional_train_step(
    state: TrainState,
    hparams: Hyperparams,
    env: Environment,
    betas: jax.Array,
    loss_fn: Callable,
    batch_size: int,
) -> tuple[TrainState, jax.Array]:
    """:func:`gfn_teach.train_step` for a policy conditional on :math:`\\beta`.

    For each of the ``K`` values in ``betas`` (``[K]``), ``batch_size`` trajectories are
    sampled from ``Tempered(env, beta)`` (``vmap`` over the tempered environments); the loss is
    the mean of the ``K`` losses, and one Adam step follows. The policy must read the tempered
    observation (build it for ``Tempered(env, 1.0)``). The loss must get its :math:`\\log Z`
    from the policy's outputs, which see :math:`\\beta` (DB, SubTB, FM, modified DB): TB's
    single learned ``log_z`` cannot be :math:`\\log Z_\\beta` for every :math:`\\beta`.
    """
    envs = tempered_batch(env, betas)
    key, rollout_key = jax.random.split(state.key)
    keys = jax.random.split(rollout_key, envs.beta.shape[0])
    explore = epsilon(hparams, state.step)
    sample = lambda one_env, key: forward_rollout(key, one_env, state.policy, batch_size, explore)
    traj = eqx.filter_vmap(sample)(envs, keys)

    def mean_loss(policy):
        losses = eqx.filter_vmap(lambda one_env, t: loss_fn(policy, one_env, t, **hparams.loss_kwargs))(envs, traj)
        return jnp.mean(losses)

    loss, grads = eqx.filter_value_and_grad(mean_loss)(state.policy)
    params = eqx.filter(state.policy, eqx.is_array)
    updates, opt_state = make_optimizer(hparams).update(grads, state.opt_state, params)
    policy = eqx.apply_updates(state.policy, updates)
    visited = mark_visited(state.visited, env, traj.final_states)
    return TrainState(policy, opt_state, key, state.step + 1, visited, state.replay), loss


def log_uniform_betas(key: jax.Array, low: float, high: float, shape: tuple[int, ...]) -> jax.Array:
    """Inverse temperatures drawn log-uniformly from ``[low, high]`` (as many below the geometric
    midpoint :math:`\\sqrt{\\text{low} \\cdot \\text{high}}` as above it), of the given shape:
    ``(steps, K)`` gives :func:`make_conditional_train` ``K`` new values at every step."""
    if not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high, got {low=}, {high=}")
    return jnp.exp(jax.random.uniform(key, shape, minval=float(np.log(low)), maxval=float(np.log(high))))


def make_conditional_train(config, env: Environment, loss_fn: Callable | None = None):
    """A pure ``train(key, betas, hparams=None) -> (TrainState, losses [steps])`` that trains
    one policy on ``Tempered(env, beta)`` for several ``beta`` at each step
    (:func:`conditional_train_step`), all ``config.steps`` steps in one ``lax.scan``.

    ``betas`` is an input of the program, ``[steps, K]``: the ``K`` inverse temperatures of
    each step (drawn anew, e.g. by :func:`log_uniform_betas`, or the same row repeated); a
    vector ``[K]`` stands for the same values at every step. Runs with the same shape of
    ``betas`` share one compilation. ``config`` (a :class:`~gfn_teach.TrainConfig`) gives the
    network, the loss (not ``'tb'``: see :func:`conditional_train_step`), the batch size per
    :math:`\\beta`, the steps, the learning rate and the exploration. No evaluation runs during
    training: evaluate the policy afterwards, at any :math:`\\beta`, with
    ``g.terminal_distribution(policy, g.Tempered(env, beta))``.
    """
    if loss_fn is None and config.loss == "tb":
        raise ValueError(
            "loss 'tb' learns one log Z, which cannot be log Z_beta for every beta; use 'db', "
            "'subtb', 'fm' or 'mdb', whose log Z is the flow at s0 and sees beta"
        )
    if config.replay_size:
        raise ValueError(
            f"make_conditional_train has no replay buffer; leave replay_size at 0 (got {config.replay_size})"
        )
    config.check_env(env)
    loss_fn = LOSSES[config.loss] if loss_fn is None else loss_fn

    def train(key: jax.Array, betas: jax.Array, hparams: Hyperparams | None = None):
        hparams = Hyperparams.from_config(config) if hparams is None else hparams
        betas = jnp.asarray(betas, dtype=jnp.float32)
        if betas.ndim == 1:
            betas = jnp.broadcast_to(betas, (config.steps, betas.shape[0]))
        if betas.ndim != 2 or betas.shape[0] != config.steps:
            raise ValueError(
                f"betas must be [K] or [steps, K] = [{config.steps}, K], got shape {betas.shape}"
            )
        arrays, static = eqx.partition(init_state(config, Tempered(env, 1.0), key), eqx.is_array)

        def body(arrays, step_betas):
            state = eqx.combine(arrays, static)
            state, loss = conditional_train_step(state, hparams, env, step_betas, loss_fn, config.batch_size)
            return eqx.filter(state, eqx.is_array), loss

        arrays, losses = jax.lax.scan(body, arrays, betas)
        return eqx.combine(arrays, static), losses

    return train
