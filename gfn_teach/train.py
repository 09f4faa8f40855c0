"""Training: one compiled chunk of steps (``lax.scan``) followed by an exact evaluation.

``Trainer.run_chunk`` is compiled once and reused for every chunk, so the host only wakes
up between chunks (to advance the progress bar and store a history row), never per step.
``make_train(config)`` wraps the whole run in one pure function ``train(key)`` that can be
``jit``-ed and ``vmap``-ed over seeds, PureJaxRL style.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from .config import TrainConfig
from .exact import terminal_distribution
from .hypergrid import Hypergrid
from .losses import LOSSES
from .metrics import compare, marginal_2d, modes_found
from .policy import INVALID_LOGIT, MLPPolicy, TabularPolicy, evaluate_states
from .rollout import forward_rollout

# Grids larger than this are not evaluated exactly (the metrics come out as NaN).
MAX_EXACT_STATES = 2**21


class TrainState(eqx.Module):
    """Everything that changes during training."""

    policy: eqx.Module
    opt_state: optax.OptState
    key: jax.Array
    step: jax.Array  # [] int
    visited: jax.Array  # [N] bool: terminal states sampled so far (for modes found)


class EvalRecord(NamedTuple):
    """One row of the training history, recorded at the end of each chunk."""

    step: jax.Array
    loss: jax.Array  # mean training loss over the chunk
    exact_tv: jax.Array
    exact_kl: jax.Array  # KL(target || learned)
    exact_kl_reverse: jax.Array  # KL(learned || target)
    exact_jsd: jax.Array
    log_z: jax.Array  # the policy's estimate of log Z (see ``log_z_estimate``)
    modes_found: jax.Array
    marginal: jax.Array  # [side, side] learned marginal of the first two coordinates


def make_policy(config: TrainConfig, env: Hypergrid, key: jax.Array):
    """The policy a configuration asks for, freshly initialised."""
    if config.policy == "tabular":
        return TabularPolicy(env, learn_backward=config.learn_backward)
    return MLPPolicy(env, key, config.hidden, config.depth, config.learn_backward)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Adam on the network, with its own (larger) learning rate for ``log Z``."""

    def labels(params):  # a function: the label tree is itself a (callable) module
        network = jax.tree.map(lambda _: "network", params)
        return eqx.tree_at(lambda p: p.log_z, network, "log_z")

    return optax.multi_transform(
        {"network": optax.adam(config.lr), "log_z": optax.adam(config.lr_log_z)}, labels
    )


def log_z_estimate(policy, env: Hypergrid, loss: str) -> jax.Array:
    """What the policy believes ``log Z`` is: the learned scalar for TB, else the flow at s0.

    For FM the flow at the origin is its total out-flow, the logsumexp of its edge flows.
    """
    origin = jnp.zeros((env.dim,), jnp.int32)
    out = evaluate_states(policy, env, origin[None])
    if loss == "tb":
        return policy.log_z
    if loss == "fm":
        valid = env.forward_valid(origin)
        return jax.nn.logsumexp(jnp.where(valid, out.forward_logits[0], INVALID_LOGIT))
    return out.log_flow[0]


class Trainer:
    """Compiled training for one configuration (and optionally several seeds at once).

    Args:
        config: the run's settings.
        env: an environment to use instead of ``config.make_env()`` (e.g. a custom reward).
        n_seeds: if given, train this many seeds at once with ``vmap``; every array in the
            state and the history gains a leading seed axis.
    """

    def __init__(self, config: TrainConfig, env: Hypergrid | None = None, n_seeds: int | None = None):
        self.config = config
        self.env = config.make_env() if env is None else env
        self.n_seeds = n_seeds
        self.skip_padding = n_seeds is None  # see losses.evaluate_nodes
        self.exact = self.env.n_states <= MAX_EXACT_STATES
        self.target = self.env.true_distribution() if self.exact else None
        self.optimizer = make_optimizer(config)
        self.epsilon = optax.linear_schedule(
            config.epsilon_start, config.epsilon_end, max(config.exploration_steps, 1)
        )
        init, chunk = self._init_one, self._chunk_one
        if n_seeds is not None:
            init, chunk = eqx.filter_vmap(init), eqx.filter_vmap(chunk, in_axes=(eqx.if_array(0), None))
        # Not jitted: run eagerly, each op's compilation is cached across Trainers (a jitted
        # init recompiles the random MLP initialisation, ~3 s on CPU, for every Trainer).
        self.init = init
        # n_steps is a Python int, hence static: at most two compilations (full chunks and
        # a shorter last one when eval_every does not divide steps).
        self.run_chunk = eqx.filter_jit(chunk)

    # ----- pure pieces -------------------------------------------------------------------
    def _init_one(self, key: jax.Array) -> TrainState:
        policy_key, key = jax.random.split(key)
        policy = make_policy(self.config, self.env, policy_key)
        opt_state = self.optimizer.init(eqx.filter(policy, eqx.is_array))
        visited = jnp.zeros(self.env.n_states, dtype=bool)
        return TrainState(policy, opt_state, key, jnp.zeros((), jnp.int32), visited)

    def loss(self, policy, traj) -> jax.Array:
        """The configured objective on a batch of trajectories."""
        options = {"skip_padding": self.skip_padding}
        if self.config.loss == "subtb":
            options["lam"] = self.config.subtb_lambda
        return LOSSES[self.config.loss](policy, self.env, traj, **options)

    def train_step(self, state: TrainState) -> tuple[TrainState, jax.Array]:
        """Sample a batch with epsilon exploration, take one Adam step on the loss."""
        key, rollout_key = jax.random.split(state.key)
        epsilon = self.epsilon(state.step)
        traj = forward_rollout(rollout_key, self.env, state.policy, self.config.batch_size, epsilon)
        loss, grads = eqx.filter_value_and_grad(self.loss)(state.policy, traj)
        params = eqx.filter(state.policy, eqx.is_array)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, params)
        policy = eqx.apply_updates(state.policy, updates)
        visited = state.visited.at[self.env.state_index(traj.final_states)].set(True)
        return TrainState(policy, opt_state, key, state.step + 1, visited), loss

    def evaluate(self, state: TrainState, mean_loss: jax.Array) -> EvalRecord:
        """Exact metrics of the current policy (NaN where the grid is too large)."""
        env = self.env
        if self.exact:
            learned = terminal_distribution(state.policy, env)
            distances = compare(self.target, learned)
            marginal = marginal_2d(env, learned) if env.dim >= 2 else learned[None]
        else:
            distances = compare(jnp.full(1, jnp.nan), jnp.full(1, jnp.nan))
            marginal = jnp.full((env.side, env.side), jnp.nan)
        return EvalRecord(
            step=state.step,
            loss=mean_loss,
            exact_tv=distances.tv,
            exact_kl=distances.kl_target_to_learned,
            exact_kl_reverse=distances.kl_learned_to_target,
            exact_jsd=distances.jsd,
            log_z=log_z_estimate(state.policy, env, self.config.loss),
            modes_found=modes_found(env, state.visited),
            marginal=marginal,
        )

    def _chunk_one(self, state: TrainState, n_steps: int) -> tuple[TrainState, EvalRecord]:
        """Run ``n_steps`` training steps in one ``lax.scan``, then evaluate."""
        arrays, static = eqx.partition(state, eqx.is_array)

        def body(arrays, _):
            new_state, loss = self.train_step(eqx.combine(arrays, static))
            return eqx.filter(new_state, eqx.is_array), loss

        arrays, losses = jax.lax.scan(body, arrays, None, length=n_steps)
        state = eqx.combine(arrays, static)
        return state, self.evaluate(state, jnp.mean(losses))

    # ----- host loop ---------------------------------------------------------------------
    def keys(self) -> jax.Array:
        """The PRNG key(s) for ``config.seed`` (one per seed when ``n_seeds`` is set)."""
        key = jax.random.PRNGKey(self.config.seed)
        return key if self.n_seeds is None else jax.random.split(key, self.n_seeds)

    def chunk_sizes(self, steps: int | None = None) -> list[int]:
        steps = self.config.steps if steps is None else steps
        full, rest = divmod(steps, self.config.eval_every)
        return [self.config.eval_every] * full + ([rest] if rest else [])

    def fit(self, state: TrainState | None = None, progress: bool = True) -> "TrainResult":
        """Train for ``config.steps`` from ``state`` (a fresh one by default)."""
        state = self.init(self.keys()) if state is None else state
        history, compile_seconds, run_seconds = [], 0.0, 0.0
        bar = tqdm(total=self.config.steps, disable=not progress, desc=f"{self.config.loss}")
        for i, n in enumerate(self.chunk_sizes()):
            start = time.perf_counter()
            state, record = self.run_chunk(state, n)
            record = jax.device_get(record)  # the one host round trip per chunk
            elapsed = time.perf_counter() - start
            if i == 0:
                compile_seconds = elapsed
            else:
                run_seconds += elapsed
            history.append(record)
            bar.update(n)
            bar.set_postfix(tv=f"{np.mean(record.exact_tv):.3f}", loss=f"{np.mean(record.loss):.3g}")
        bar.close()
        later_steps = self.config.steps - self.chunk_sizes()[0]
        steps_per_second = later_steps / run_seconds if run_seconds > 0 else float("nan")
        if run_seconds > 0:  # the first chunk's own steps ran at the later chunks' speed
            compile_seconds = max(compile_seconds - self.chunk_sizes()[0] / steps_per_second, 0.0)
        return TrainResult(state, stack_history(history), compile_seconds, steps_per_second)


class TrainResult(NamedTuple):
    state: TrainState
    history: dict  # name -> numpy array, one entry per evaluation
    compile_seconds: float  # first chunk's wall time less its steps at the later speed
    steps_per_second: float  # after compilation (all later chunks)


def stack_history(records: list[EvalRecord]) -> dict:
    """A list of records -> a dict of arrays with a leading evaluation axis."""
    return {name: np.stack([getattr(r, name) for r in records]) for name in EvalRecord._fields}


def train(config: TrainConfig, env: Hypergrid | None = None, progress: bool = True) -> TrainResult:
    """Train one configuration with a progress bar; the simplest entry point."""
    return Trainer(config, env).fit(progress=progress)


def make_train(config: TrainConfig, env: Hypergrid | None = None):
    """Return a pure ``train(key) -> (TrainState, EvalRecord history)`` for ``jit``/``vmap``.

    The whole run is a ``lax.scan`` over chunks of ``lax.scan`` over steps::

        keys = jax.random.split(jax.random.PRNGKey(0), 8)
        states, history = eqx.filter_jit(eqx.filter_vmap(make_train(config)))(keys)
    """
    if config.steps % config.eval_every:
        raise ValueError(
            f"make_train needs steps to be a multiple of eval_every, got steps={config.steps}, "
            f"eval_every={config.eval_every}"
        )
    trainer = Trainer(config, env)
    trainer.skip_padding = False  # meant for vmap, where skipping padding cannot help

    def train_fn(key: jax.Array):
        state = trainer._init_one(key)
        arrays, static = eqx.partition(state, eqx.is_array)

        def chunk(arrays, _):
            state, record = trainer._chunk_one(eqx.combine(arrays, static), config.eval_every)
            return eqx.filter(state, eqx.is_array), record

        n_chunks = config.steps // config.eval_every
        arrays, history = jax.lax.scan(chunk, arrays, None, length=n_chunks)
        return eqx.combine(arrays, static), history

    return train_fn
