"""The training algorithm as pure functions, to read top to bottom.

One step (:func:`train_step`) samples a batch of trajectories with epsilon-uniform
exploration (some of them, with a replay buffer, replayed backward from the best objects found
so far), computes a loss ``loss_fn(policy, env, traj, **loss_kwargs)`` and its gradient,
and takes one Adam step. :func:`train_chunk` runs steps in one ``lax.scan`` and then
evaluates the policy exactly (:func:`evaluate`). :func:`make_train` puts a whole run into one
pure function ``train(key, hparams)``, PureJaxRL style, to ``jit`` and to ``vmap`` over seeds
and over :class:`Hyperparams`.

The numbers a run may change without changing the program (learning rates, exploration, the
loss's own numbers such as SubTB's lambda) are :class:`Hyperparams`, inputs of the program;
the environment, the loss function and the batch size shape it. The host side (chunks,
progress bar, Ctrl-C, divergence) is :mod:`gfn_teach.trainer`; what only makes training
faster is :mod:`gfn_teach.speedups`, which wraps these functions.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from .config import TrainConfig, memory_sizes
from .environment import Environment
from .exact import terminal_distribution
from .losses import LOSSES
from .memory import check_training_fits
from .metrics import DistributionMetrics, compare, modes_found
from .policy import INVALID_LOGIT, MLPPolicy, TabularPolicy, evaluate_states, log_probs
from .replay import ReplayBuffer
from .rollout import backward_rollout, concatenate, forward_rollout

# Environments with more states are not evaluated exactly (the exact metrics come out as NaN).
MAX_EXACT_STATES = 2**21


class TrainState(eqx.Module):
    """Everything that changes during training."""

    policy: eqx.Module
    opt_state: optax.OptState
    key: jax.Array
    step: jax.Array  # [] int32
    visited: jax.Array  # [N] bool: terminal states sampled so far (for modes found); [0] when
    # the environment has more than MAX_EXACT_STATES states (its states are never listed)
    replay: ReplayBuffer | None  # the best terminal states found so far (None: no replay)


class Hyperparams(NamedTuple):
    r"""A run's numbers: inputs of the compiled program, never constants in it, so runs that
    differ only in them share one compilation, and any of them may carry a leading axis to
    ``vmap`` over (a sweep of SubTB's lambda, say).

    Exploration decays linearly over :math:`T` = ``exploration_steps`` steps,
    :math:`\varepsilon_t = (\varepsilon_\text{start} - \varepsilon_\text{end})(1 - \min(t, T)/T)
    + \varepsilon_\text{end}`, as ``optax.linear_schedule`` computes it for :math:`T \ge 1`.
    ``exploration_steps=0`` counts as :math:`T = 1` (:math:`\varepsilon_\text{start}` at step 0
    only), where optax would keep :math:`\varepsilon_\text{start}` throughout.
    """

    lr: jax.Array  # [] float32: Adam's learning rate for the network
    lr_log_z: jax.Array  # [] float32: Adam's learning rate for log Z (used by TB)
    epsilon_decay: jax.Array  # [] float32: epsilon_start - epsilon_end
    epsilon_end: jax.Array  # [] float32
    exploration_steps: jax.Array  # [] int32, at least 1
    loss_kwargs: dict  # the loss's own numbers, passed as keywords: {"lam": ...} for SubTB

    @classmethod
    def from_config(cls, config: TrainConfig, **loss_kwargs) -> "Hyperparams":
        """The config's numbers; ``loss_kwargs`` default to ``lam=config.subtb_lambda`` for SubTB."""
        if not loss_kwargs and config.loss == "subtb":
            loss_kwargs = {"lam": config.subtb_lambda}
        return cls(
            jnp.float32(config.lr),
            jnp.float32(config.lr_log_z),
            # The difference in Python's float64, then rounded, as optax does.
            jnp.float32(config.epsilon_start - config.epsilon_end),
            jnp.float32(config.epsilon_end),
            jnp.int32(max(config.exploration_steps, 1)),
            jax.tree.map(jnp.asarray, loss_kwargs),
        )


def epsilon(hparams: Hyperparams, step: jax.Array) -> jax.Array:
    """The probability of a uniform action at ``step`` (see :class:`Hyperparams`)."""
    fraction_left = 1 - jnp.clip(step, 0, hparams.exploration_steps) / hparams.exploration_steps
    return hparams.epsilon_decay * fraction_left + hparams.epsilon_end


def make_policy(config: TrainConfig, env: Environment, key: jax.Array):
    """The policy a configuration asks for, freshly initialised."""
    if config.policy == "tabular":
        return TabularPolicy(env, learn_backward=config.learn_backward)
    return MLPPolicy(env, key, config.hidden, config.depth, config.learn_backward)


def make_optimizer(hparams: Hyperparams) -> optax.GradientTransformation:
    """Adam on the network, with its own (larger) learning rate for ``log Z``."""

    def labels(params):  # a function: the label tree is itself a (callable) module
        network = jax.tree.map(lambda _: "network", params)
        return eqx.tree_at(lambda p: p.log_z, network, "log_z")

    adams = {"network": optax.adam(hparams.lr), "log_z": optax.adam(hparams.lr_log_z)}
    return optax.multi_transform(adams, labels)


def init_state(config: TrainConfig, env: Environment, key: jax.Array) -> TrainState:
    """A fresh state: a new policy from ``key``, Adam's zero moments, step 0.

    ``eqx.filter_eval_shape(init_state, config, env, key)`` gives its shapes for free.
    """
    policy_key, key = jax.random.split(key)
    policy = make_policy(config, env, policy_key)
    opt_state = make_optimizer(Hyperparams.from_config(config)).init(eqx.filter(policy, eqx.is_array))
    visited = jnp.zeros(env.n_states if env.n_states <= MAX_EXACT_STATES else 0, dtype=bool)
    replay = ReplayBuffer.empty(config.replay_size, env.state_size) if config.replay_size else None
    return TrainState(policy, opt_state, key, jnp.zeros((), jnp.int32), visited, replay)


def train_step(
    state: TrainState,
    hparams: Hyperparams,
    env: Environment,
    loss_fn: Callable,
    batch_size: int,
    n_replay: int = 0,
) -> tuple[TrainState, jax.Array]:
    """Sample ``batch_size`` trajectories with epsilon exploration; one Adam step on the loss.

    With a replay buffer, ``n_replay`` more are replayed: the on-policy samples join the
    buffer, then ``n_replay`` of its states are drawn in proportion to reward and walked back
    to the start with :math:`P_B` (:mod:`gfn_teach.replay`); the loss sees both.
    """
    key, rollout_key = jax.random.split(state.key)
    traj = forward_rollout(rollout_key, env, state.policy, batch_size, epsilon(hparams, state.step))
    visited = mark_visited(state.visited, env, traj.final_states)
    replay = state.replay
    if replay is not None:
        pick_key, walk_key = jax.random.split(jax.random.fold_in(rollout_key, 1))
        replay = replay.add(traj.final_states, traj.log_rewards)
        replayed = backward_rollout(walk_key, env, state.policy, replay.sample(pick_key, n_replay))
        traj = concatenate(traj, replayed)
    loss, grads = eqx.filter_value_and_grad(loss_fn)(state.policy, env, traj, **hparams.loss_kwargs)
    params = eqx.filter(state.policy, eqx.is_array)
    updates, opt_state = make_optimizer(hparams).update(grads, state.opt_state, params)
    policy = eqx.apply_updates(state.policy, updates)
    return TrainState(policy, opt_state, key, state.step + 1, visited, replay), loss


def mark_visited(visited: jax.Array, env: Environment, states: jax.Array) -> jax.Array:
    """``visited [N]`` with the terminal ``states [B, state_size]`` set; an empty ``visited``
    (an environment too large to list, see :class:`TrainState`) stays empty."""
    return visited.at[env.state_index(states)].set(True) if visited.size else visited


def scan_state(step: Callable, state: eqx.Module, length: int):
    """``lax.scan`` of ``step(state) -> (state, output)``, ``length`` times; the outputs stacked.

    The carry holds the state's arrays; its other parts (activation functions, sizes) wait aside.
    """
    arrays, static = eqx.partition(state, eqx.is_array)

    def body(arrays, _):
        state, output = step(eqx.combine(arrays, static))
        return eqx.filter(state, eqx.is_array), output

    arrays, outputs = jax.lax.scan(body, arrays, None, length=length)
    return eqx.combine(arrays, static), outputs


def log_z_estimate(policy, env: Environment, loss: str) -> jax.Array:
    r"""What the policy believes ``log Z`` is: the learned scalar for TB, else the flow at s0.

    For FM the flow at the start is its total out-flow, the logsumexp of its edge flows; for
    modified DB, which has no flow head, :math:`\log R(s_0) - \log P_F(\text{stop} \mid s_0)`.
    """
    start = env.reset(1)
    out = evaluate_states(policy, env, start)
    if loss == "tb":
        return policy.log_z
    if loss == "fm":
        valid = env.forward_valid(start[0])
        return jax.nn.logsumexp(jnp.where(valid, out.forward_logits[0], INVALID_LOGIT))
    if loss == "mdb":  # F(s0) = R(s0) / P_F(stop | s0)
        log_pf, _ = log_probs(out, env, start)
        return env.log_reward(start)[0] - log_pf[0, env.stop_action]
    return out.log_flow[0]


def counts_modes(env: Environment) -> bool:
    """Whether training counts the modes found: the environment defines modes, and has at most
    ``MAX_EXACT_STATES`` states (beyond, no array over every state is ever made)."""
    return env.n_states <= MAX_EXACT_STATES and env.mode_ids() is not None


class EvalRecord(NamedTuple):
    """One row of the training history, recorded at the end of each chunk."""

    step: jax.Array
    loss: jax.Array  # mean training loss over the chunk
    exact_tv: jax.Array
    exact_kl: jax.Array  # KL(target || learned)
    exact_kl_reverse: jax.Array  # KL(learned || target)
    exact_jsd: jax.Array
    log_z: jax.Array  # the policy's estimate of log Z (see ``log_z_estimate``)
    modes_found: jax.Array  # -1 when the environment defines no modes
    marginal: jax.Array  # env.marginal(learned): the hypergrid's 2D marginal ([0] if none)
    # The first step of the chunk whose loss, or after which the parameters, were not
    # finite; -1 when all were.
    first_nonfinite_step: jax.Array


def evaluate(state: TrainState, env: Environment, target: jax.Array | None, loss: str) -> EvalRecord:
    """Exact metrics of the policy against ``target``, the true distribution (None: too many
    states to evaluate, the metrics are NaN); ``loss`` names the log Z estimate. The record's
    ``loss`` and ``first_nonfinite_step`` are left for :func:`train_chunk` to fill in."""
    picture = jax.eval_shape(env.marginal, jax.ShapeDtypeStruct((env.n_states,), jnp.float32))
    if target is not None:
        learned = terminal_distribution(state.policy, env)
        distances = compare(target, learned)
        marginal = jnp.zeros(0) if picture is None else env.marginal(learned)
    else:
        distances = DistributionMetrics(*[jnp.array(jnp.nan)] * 4)
        marginal = jnp.zeros(0) if picture is None else jnp.full(picture.shape, jnp.nan)
    has_modes = counts_modes(env)
    return EvalRecord(
        step=state.step,
        loss=jnp.array(jnp.nan),
        exact_tv=distances.tv,
        exact_kl=distances.kl_target_to_learned,
        exact_kl_reverse=distances.kl_learned_to_target,
        exact_jsd=distances.jsd,
        log_z=log_z_estimate(state.policy, env, loss),
        modes_found=modes_found(env, state.visited) if has_modes else jnp.array(-1),
        marginal=marginal,
        first_nonfinite_step=jnp.array(-1, jnp.int32),
    )


def train_chunk(state, hparams, n_steps, env, loss_fn, batch_size, target, loss, n_replay=0):
    """``n_steps`` training steps in one ``lax.scan``, then :func:`evaluate`.

    The record's ``loss`` is the chunk's mean loss, and its ``first_nonfinite_step`` the
    first step whose loss was not finite, else the chunk's last step if the parameters it
    ends with are not, else -1.
    """
    step = lambda state: train_step(state, hparams, env, loss_fn, batch_size, n_replay)
    state, losses = scan_state(step, state, n_steps)
    bad_loss = ~jnp.isfinite(losses)
    params = jax.tree.leaves(eqx.filter(state.policy, eqx.is_inexact_array))
    params_finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(p)) for p in params]))
    first = jnp.where(jnp.any(bad_loss), jnp.argmax(bad_loss), jnp.where(params_finite, -1, n_steps - 1))
    first_step = jnp.where(first >= 0, state.step - n_steps + first + 1, -1).astype(jnp.int32)
    record = evaluate(state, env, target, loss)
    return state, record._replace(loss=jnp.mean(losses), first_nonfinite_step=first_step)


def make_train(config: TrainConfig, env: Environment | None = None, loss_fn: Callable | None = None):
    """A pure ``train(key, hparams=None) -> (TrainState, EvalRecord history)`` for ``jit``/``vmap``.

    The run is a ``lax.scan`` over ``steps / eval_every`` chunks (:func:`train_chunk`).
    ``loss_fn(policy, env, traj, **hparams.loss_kwargs)`` defaults to the config's loss, and
    ``hparams`` to :meth:`Hyperparams.from_config`; pass them, with a leading axis, to sweep::

        keys = jax.random.split(jax.random.PRNGKey(0), 8)
        states, history = eqx.filter_jit(eqx.filter_vmap(make_train(config)))(keys)
    """
    if config.steps % config.eval_every:
        raise ValueError(
            f"make_train needs steps to be a multiple of eval_every, got steps={config.steps}, "
            f"eval_every={config.eval_every}"
        )
    if env is not None:
        config.check_env(env)
    env = config.make_env() if env is None else env
    check_training_fits(memory_sizes(config, env), MAX_EXACT_STATES)  # one seed; a vmap multiplies it
    loss_fn = LOSSES[config.loss] if loss_fn is None else loss_fn
    target = env.true_distribution() if env.n_states <= MAX_EXACT_STATES else None

    def train(key: jax.Array, hparams: Hyperparams | None = None):
        hparams = Hyperparams.from_config(config) if hparams is None else hparams
        chunk = lambda state: train_chunk(
            state, hparams, config.eval_every, env, loss_fn, config.batch_size, target, config.loss,
            config.n_replay,
        )
        return scan_state(chunk, init_state(config, env, key), config.steps // config.eval_every)

    return train
