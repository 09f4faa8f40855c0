"""Training: one compiled chunk of steps (``lax.scan``) followed by an exact evaluation.

One training step (:meth:`Trainer.train_step`) samples a batch of trajectories with
epsilon-uniform exploration, computes the configured loss and its gradient, and takes one
Adam step. ``Trainer.run_chunk`` compiles ``eval_every`` steps and an exact evaluation into
one function, reused for every chunk, so the host only wakes up between chunks (to advance
the progress bar, store a history row and check that the loss and the parameters stayed
finite), never per step. The exploration schedule is an input of that function, not a
constant in it, so Trainers that differ only in their exploration share one compilation.
``make_train(config)`` wraps the whole run in one pure function ``train(key)`` that can be
``jit``-ed and ``vmap``-ed over seeds, PureJaxRL style.
What only makes it faster lives in :mod:`gfn_teach.speedups`.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import signal
import sys
import threading
import time
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from .config import TrainConfig, is_integer
from .environment import Environment
from .exact import terminal_distribution
from .hypergrid import Hypergrid, HypergridReward
from .losses import LOSSES
from .memory import check_training_fits
from .metrics import DistributionMetrics, compare, modes_found
from .policy import INVALID_LOGIT, MLPPolicy, TabularPolicy, evaluate_states
from .rollout import forward_rollout
from .speedups import (
    compiler_options,
    place_seeds,
    row_sizes,
    seed_mesh,
    split_seeds_over,
    value_and_grad_on_visited,
)

# Environments with more states are not evaluated exactly (the exact metrics come out as NaN).
MAX_EXACT_STATES = 2**21
# Name of the vmapped seed axis, so that skips can ask whether *every* seed can skip.
SEED_AXIS = "seed"
# The losses run the network on 1/8, 2/8, ... or all of a batch's rows, whichever is the
# fewest that holds the visited nodes (see Trainer.loss_and_grad).
ROW_BUCKETS = 8


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
    modes_found: jax.Array  # -1 when the environment defines no modes (left out of fit's history)
    marginal: jax.Array  # env.marginal(learned): the hypergrid's 2D marginal ([0] if none)
    # The first step of the chunk whose loss, or after which the parameters, were not
    # finite; -1 when all were. Checked by ``fit`` and left out of its history.
    first_nonfinite_step: jax.Array


class Exploration(NamedTuple):
    r"""The exploration schedule as arrays, an input of the compiled training program.

    :math:`\varepsilon_t = (\varepsilon_0 - \varepsilon_1)(1 - \min(t, T) / T) + \varepsilon_1`
    with :math:`T` = ``steps``: a linear decay from ``epsilon_start`` to ``epsilon_end``
    over ``exploration_steps`` steps (at least 1), as ``optax.linear_schedule`` computes it.
    """

    decay: jax.Array  # [] float32: epsilon_start - epsilon_end
    end: jax.Array  # [] float32: epsilon_end
    steps: jax.Array  # [] int32: exploration_steps, at least 1

    @classmethod
    def from_config(cls, config: TrainConfig) -> "Exploration":
        # The difference is taken in Python's float64, then rounded, as optax does.
        return cls(
            jnp.float32(config.epsilon_start - config.epsilon_end),
            jnp.float32(config.epsilon_end),
            jnp.int32(max(config.exploration_steps, 1)),
        )

    def epsilon(self, step: jax.Array) -> jax.Array:
        """The probability of a uniform action at ``step``."""
        fraction_left = 1 - jnp.clip(step, 0, self.steps) / self.steps
        return self.decay * fraction_left + self.end


def make_policy(config: TrainConfig, env: Environment, key: jax.Array):
    """The policy a configuration asks for, freshly initialised."""
    if config.policy == "tabular":
        return TabularPolicy(env, learn_backward=config.learn_backward)
    return MLPPolicy(env, key, config.hidden, config.depth, config.learn_backward)


def init_state(
    config: TrainConfig, env: Environment, key: jax.Array, optimizer: optax.GradientTransformation | None = None
) -> TrainState:
    """A fresh single-seed state: a new policy from ``key``, Adam's zero moments, step 0.

    ``eqx.filter_eval_shape(init_state, config, env, key)`` gives its shapes for free.
    """
    optimizer = make_optimizer(config) if optimizer is None else optimizer
    policy_key, key = jax.random.split(key)
    policy = make_policy(config, env, policy_key)
    opt_state = optimizer.init(eqx.filter(policy, eqx.is_array))
    visited = jnp.zeros(env.n_states, dtype=bool)
    return TrainState(policy, opt_state, key, jnp.zeros((), jnp.int32), visited)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Adam on the network, with its own (larger) learning rate for ``log Z``."""

    def labels(params):  # a function: the label tree is itself a (callable) module
        network = jax.tree.map(lambda _: "network", params)
        return eqx.tree_at(lambda p: p.log_z, network, "log_z")

    return optax.multi_transform(
        {"network": optax.adam(config.lr), "log_z": optax.adam(config.lr_log_z)}, labels
    )


def log_z_estimate(policy, env: Environment, loss: str) -> jax.Array:
    """What the policy believes ``log Z`` is: the learned scalar for TB, else the flow at s0.

    For FM the flow at the start is its total out-flow, the logsumexp of its edge flows.
    """
    start = env.reset(1)
    out = evaluate_states(policy, env, start)
    if loss == "tb":
        return policy.log_z
    if loss == "fm":
        valid = env.forward_valid(start[0])
        return jax.nn.logsumexp(jnp.where(valid, out.forward_logits[0], INVALID_LOGIT))
    return out.log_flow[0]


def memory_sizes(config: TrainConfig, env: Environment) -> dict:
    """The sizes :func:`gfn_teach.memory.check_training_fits` needs: the config's fields, and
    for an environment other than the hypergrid its own sizes."""
    sizes = dataclasses.asdict(config)
    if not isinstance(env, Hypergrid):
        picture = jax.eval_shape(env.marginal, jax.ShapeDtypeStruct((env.n_states,), jnp.float32))
        sizes.update(env="other", env_sizes=(
            float(env.n_states), env.max_length, env.obs_size, env.n_actions, env.state_size,
            0 if picture is None else int(np.prod(picture.shape)),
        ))
    return sizes


# Compiled training programs by Trainer.program_key, the most recently used last.
_PROGRAMS: collections.OrderedDict = collections.OrderedDict()
MAX_SHARED_PROGRAMS = 16


def compiled_program(trainer: "Trainer"):
    """``chunk(state, exploration, n_steps)``: ``trainer``'s chunk of steps and evaluation on
    every seed, compiled; the same function as an earlier Trainer's with the same
    :meth:`Trainer.program_key`, so that it is compiled once for both."""
    key = trainer.program_key()
    if key in _PROGRAMS:
        _PROGRAMS.move_to_end(key)
        return _PROGRAMS[key]
    seeds = trainer.over_seeds(trainer._chunk_one)
    program = eqx.filter_jit(
        lambda state, exploration, n_steps: seeds(state, n_steps, exploration),
        compiler_options=compiler_options(),
    )
    if key is not None:
        _PROGRAMS[key] = program
        if len(_PROGRAMS) > MAX_SHARED_PROGRAMS:
            _PROGRAMS.popitem(last=False)
    return program


class Trainer:
    """Compiled training for one configuration (and optionally several seeds at once).

    Args:
        config: the run's settings.
        env: an environment to use instead of ``config.make_env()``: a :class:`Hypergrid`
            (e.g. with a custom reward) with the config's ``dim`` and ``side``, or any other
            :class:`Environment` (then the config's grid settings must keep their defaults;
            see :meth:`TrainConfig.check_env`).
        n_seeds: if given, train this many seeds at once with ``vmap``; every array in the
            state and the history gains a leading seed axis.
        split_over_devices: with ``n_seeds``, split the seeds over the local devices when
            there are several (see :func:`seed_mesh`); False keeps them on one device.
        row_buckets: the built-in losses are compiled for this many batch sizes, so as to
            run the network on the visited rows only (:meth:`loss_and_grad`). The default
            pays on long runs; 1 (every row, one size) compiles in about half the time and
            suits runs of a few hundred steps. The results agree up to float rounding.

    Raises ``ValueError`` before allocating anything if the run cannot fit in the device's
    memory (:func:`gfn_teach.memory.check_training_fits`).

    Trainers whose configs differ only in the seed, the number of steps or the exploration
    schedule run one compiled program (:meth:`program_key`): exploration on and off, say,
    costs one compilation.
    """

    def __init__(
        self,
        config: TrainConfig,
        env: Environment | None = None,
        n_seeds: int | None = None,
        split_over_devices: bool = True,
        row_buckets: int = ROW_BUCKETS,
    ):
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
        if n_seeds is not None and not (is_integer(n_seeds) and n_seeds >= 1):
            raise ValueError(f"n_seeds must be None or an integer >= 1, got {n_seeds!r}")
        if not (is_integer(row_buckets) and row_buckets >= 1):
            raise ValueError(f"row_buckets must be an integer >= 1, got {row_buckets!r}")
        if env is not None:
            config.check_env(env)
        env = config.make_env() if env is None else env
        n_seeds = None if n_seeds is None else int(n_seeds)
        check_training_fits(memory_sizes(config, env), MAX_EXACT_STATES, n_seeds or 1)
        self.config = config
        self.env = env
        self.n_seeds = n_seeds
        # Several seeds skip work (padding rows, finished rollout steps) only when none of
        # them needs it, which they learn over the named seed axis.
        self.seed_axis = None if n_seeds is None else SEED_AXIS
        self.row_buckets = int(row_buckets)
        self.exact = self.env.n_states <= MAX_EXACT_STATES
        self.target = self.env.true_distribution() if self.exact else None
        # Metrics the environment cannot give are left out of the history (never 0).
        self.has_modes = self.env.mode_ids() is not None
        self.marginal_shape = marginal_shape(self.env)
        self.optimizer = make_optimizer(config)
        self.exploration = Exploration.from_config(config)
        self.mesh = seed_mesh(n_seeds) if n_seeds is not None and split_over_devices else None
        self._compiled_chunk = compiled_program(self)

    def run_chunk(self, state: TrainState, n_steps: int) -> tuple[TrainState, EvalRecord]:
        """``n_steps`` training steps then an exact evaluation, compiled (:meth:`_chunk_one`).

        ``n_steps`` is a Python int, hence static: at most two compilations (full chunks and
        a shorter last one when eval_every does not divide steps), shared with every Trainer
        whose :meth:`program_key` is the same.
        """
        return self._compiled_chunk(state, self.exploration, n_steps)

    def program_key(self):
        """What the compiled program depends on, hashable; None when that cannot be hashed.

        Everything but the seed, the number of steps and the exploration schedule, which
        are not part of the program. A subclass may read any field of its config, so for
        one the whole config counts.
        """
        config = self.config
        if type(self) is Trainer:
            not_in_program = dict(epsilon_start=0.0, epsilon_end=0.0, exploration_steps=0)
            config = dataclasses.replace(config, seed=0, steps=config.eval_every, **not_in_program)
        options = tuple(sorted(compiler_options().items()))
        key = (type(self), config, self.env, self.n_seeds, self.mesh, self.row_buckets, options)
        try:
            hash(key)
        except TypeError:  # e.g. an environment that holds arrays
            return None
        return key

    def over_seeds(self, one_seed):
        """Run ``one_seed(state, n_steps, *inputs) -> (state, outputs)`` on every seed at once.

        One seed: ``one_seed`` itself. Several: ``vmap`` over the seed axis of ``state``
        (named ``SEED_AXIS``, so that the skips can ask whether every seed can skip), the
        ``inputs`` shared by every seed, split over the local devices when there are several
        (:func:`seed_mesh`). Not jitted.
        """
        if self.n_seeds is None:
            return one_seed

        def seeds(state, n_steps: int, *inputs):
            each = lambda state, inputs: one_seed(state, n_steps, *inputs)
            return eqx.filter_vmap(each, in_axes=(eqx.if_array(0), None), axis_name=SEED_AXIS)(state, inputs)

        return seeds if self.mesh is None else split_seeds_over(self.mesh, seeds)

    def seed_index(self) -> jax.Array:
        """Which of the ``n_seeds`` runs is being computed (0 without ``n_seeds``).

        For a subclass's ``loss`` that gives each run its own setting, e.g.
        ``lambdas[self.seed_index() // 4]``. Only inside the compiled program: it is the
        position along the seed axis that ``vmap`` maps over, counted across devices when
        the seeds are split over several (``jax.lax.axis_index`` alone counts on one).
        """
        if self.n_seeds is None:
            return jnp.array(0, jnp.int32)
        index = jax.lax.axis_index(SEED_AXIS)
        if self.mesh is not None:  # each device holds a consecutive block of the seeds
            index = jax.lax.axis_index("devices") * (self.n_seeds // self.mesh.size) + index
        return index

    def init(self, key: jax.Array) -> TrainState:
        """A fresh state from ``key`` (with ``n_seeds``: one key per seed, see :meth:`keys`).

        Not jitted: each seed is initialised eagerly, exactly as a single-seed Trainer
        would from its key, and the seeds are stacked. Eager ops are compiled once per shape
        and cached, so every later Trainer, whatever its number of seeds, reuses them (a
        jitted or vmapped init recompiles the random MLP initialisation, about 3 s on CPU,
        for each new Trainer or number of seeds).
        """
        if self.n_seeds is None:
            return self._init_one(key)
        seeds = [self._init_one(seed_key) for seed_key in key]
        _, static = eqx.partition(seeds[0], eqx.is_array)
        arrays = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[eqx.filter(s, eqx.is_array) for s in seeds])
        state = eqx.combine(arrays, static)
        return state if self.mesh is None else place_seeds(state, self.mesh)

    # ----- pure pieces -------------------------------------------------------------------
    def _init_one(self, key: jax.Array) -> TrainState:
        return init_state(self.config, self.env, key, self.optimizer)

    def loss(self, policy, traj, max_visited: int | None = None) -> jax.Array:
        """The configured objective on a batch of trajectories.

        Override ``loss(self, policy, traj)`` in a subclass to train another objective
        (chapter 9 does). ``max_visited`` is for the built-in losses only: they run the
        network on the visited nodes (:meth:`loss_and_grad`), an override on every row.
        """
        options = {"max_visited": max_visited}
        if self.config.loss == "subtb":
            options["lam"] = self.config.subtb_lambda
        return LOSSES[self.config.loss](policy, self.env, traj, **options)

    def row_sizes(self, n_rows: int) -> list[int]:
        """The row counts the loss is compiled for (:func:`gfn_teach.speedups.row_sizes`)."""
        return row_sizes(n_rows, self.row_buckets)

    def loss_and_grad(self, policy, traj) -> tuple[jax.Array, eqx.Module]:
        """The loss and its gradient. The built-in losses run the network on the visited
        nodes only (:func:`gfn_teach.speedups.value_and_grad_on_visited`); an overridden
        ``loss`` runs on every row."""
        if type(self).loss is not Trainer.loss or self.row_buckets == 1:
            return eqx.filter_value_and_grad(self.loss)(policy, traj)
        return value_and_grad_on_visited(self.loss, policy, traj, self.row_buckets, self.seed_axis)

    def train_step(
        self, state: TrainState, exploration: Exploration | None = None
    ) -> tuple[TrainState, jax.Array]:
        """Sample a batch with epsilon exploration, take one Adam step on the loss.

        ``exploration`` defaults to the config's (:attr:`exploration`)."""
        exploration = self.exploration if exploration is None else exploration
        key, rollout_key = jax.random.split(state.key)
        epsilon = exploration.epsilon(state.step)
        traj = forward_rollout(
            rollout_key, self.env, state.policy, self.config.batch_size, epsilon, self.seed_axis
        )
        loss, grads = self.loss_and_grad(state.policy, traj)
        params = eqx.filter(state.policy, eqx.is_array)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, params)
        policy = eqx.apply_updates(state.policy, updates)
        visited = state.visited.at[self.env.state_index(traj.final_states)].set(True)
        return TrainState(policy, opt_state, key, state.step + 1, visited), loss

    def evaluate(self, state: TrainState, mean_loss: jax.Array) -> EvalRecord:
        """Exact metrics of the current policy (all NaN where the grid is too large)."""
        env = self.env
        no_marginal = self.marginal_shape is None
        if self.exact:
            learned = terminal_distribution(state.policy, env)
            distances = compare(self.target, learned)
            marginal = jnp.zeros(0) if no_marginal else env.marginal(learned)
        else:
            distances = DistributionMetrics(*[jnp.array(jnp.nan)] * 4)
            marginal = jnp.zeros(0) if no_marginal else jnp.full(self.marginal_shape, jnp.nan)
        return EvalRecord(
            step=state.step,
            loss=mean_loss,
            exact_tv=distances.tv,
            exact_kl=distances.kl_target_to_learned,
            exact_kl_reverse=distances.kl_learned_to_target,
            exact_jsd=distances.jsd,
            log_z=log_z_estimate(state.policy, env, self.config.loss),
            modes_found=modes_found(env, state.visited) if self.has_modes else jnp.array(-1),
            marginal=marginal,
            first_nonfinite_step=jnp.array(-1, jnp.int32),
        )

    def train_steps(
        self, state: TrainState, n_steps: int, exploration: Exploration | None = None
    ) -> tuple[TrainState, jax.Array]:
        """Run ``n_steps`` training steps in one ``lax.scan``; returns the ``[n_steps]`` losses."""
        arrays, static = eqx.partition(state, eqx.is_array)

        def body(arrays, _):
            new_state, loss = self.train_step(eqx.combine(arrays, static), exploration)
            return eqx.filter(new_state, eqx.is_array), loss

        arrays, losses = jax.lax.scan(body, arrays, None, length=n_steps)
        return eqx.combine(arrays, static), losses

    def _chunk_one(
        self, state: TrainState, n_steps: int, exploration: Exploration | None = None
    ) -> tuple[TrainState, EvalRecord]:
        """Run ``n_steps`` training steps in one ``lax.scan``, then evaluate.

        The record's ``first_nonfinite_step`` is the first step whose loss was not finite,
        else the chunk's last step if the parameters it ends with are not, else -1.
        """
        state, losses = self.train_steps(state, n_steps, exploration)
        record = self.evaluate(state, jnp.mean(losses))
        bad_loss = ~jnp.isfinite(losses)
        params = jax.tree.leaves(eqx.filter(state.policy, eqx.is_inexact_array))
        params_finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(p)) for p in params]))
        first = jnp.where(jnp.any(bad_loss), jnp.argmax(bad_loss), jnp.where(params_finite, -1, n_steps - 1))
        step = jnp.where(first >= 0, state.step - n_steps + first + 1, -1).astype(jnp.int32)
        return state, record._replace(first_nonfinite_step=step)

    # ----- host loop ---------------------------------------------------------------------
    def keys(self) -> jax.Array:
        """The PRNG key(s) for ``config.seed`` (one per seed when ``n_seeds`` is set)."""
        key = jax.random.PRNGKey(self.config.seed)
        return key if self.n_seeds is None else jax.random.split(key, self.n_seeds)

    def chunk_sizes(self, steps: int | None = None) -> list[int]:
        """``steps`` (default ``config.steps``) cut into chunks of ``eval_every`` and a rest."""
        steps = self.config.steps if steps is None else int(steps)
        full, rest = divmod(steps, self.config.eval_every)
        return [self.config.eval_every] * full + ([rest] if rest else [])

    def fit(
        self, state: TrainState | None = None, progress: bool = True, steps: int | None = None
    ) -> "TrainResult":
        """Train for ``steps`` (default ``config.steps``) from ``state`` (a fresh one by default).

        After each chunk the host checks the chunk's ``first_nonfinite_step``: on the first
        non-finite loss or parameter, training stops and :class:`TrainingDiverged` is raised,
        holding the result of the chunks before it. Ctrl-C (SIGINT) stops training after the
        current chunk and returns the chunks done so far, with ``interrupted=True``; a second
        Ctrl-C aborts at once. To resume a state, pass ``steps=config.steps - state.step``.
        """
        if steps is not None and not (is_integer(steps) and 0 <= steps <= self.config.steps):
            raise ValueError(f"steps must be an integer in [0, config.steps={self.config.steps}], got {steps!r}")
        if state is None:
            state = self.init(self.keys())
        elif self.mesh is not None:  # a state from elsewhere: split it like a fresh one
            state = place_seeds(state, self.mesh)
        chunks = self.chunk_sizes(steps)
        history, compile_seconds, run_seconds, done = [], 0.0, 0.0, 0
        bar = tqdm(total=sum(chunks), disable=not progress, desc=f"{self.config.loss}")
        with bar, stop_on_interrupt() as interrupt:
            for i, n in enumerate(chunks):
                start = time.perf_counter()
                new_state, record = self.run_chunk(state, n)
                record = jax.device_get(record)  # the one host round trip per chunk
                elapsed = time.perf_counter() - start
                if np.any(record.first_nonfinite_step >= 0):
                    bar.close()
                    partial = self._result(state, history, compile_seconds, run_seconds, done, True)
                    raise TrainingDiverged(self._diverged_message(record), partial)
                state, done = new_state, done + n
                if i == 0:
                    compile_seconds = elapsed
                else:
                    run_seconds += elapsed
                history.append(record)
                bar.update(n)
                bar.set_postfix(tv=f"{np.mean(record.exact_tv):.3f}", loss=f"{np.mean(record.loss):.3g}")
                if interrupt.is_set() and done < sum(chunks):
                    return self._result(state, history, compile_seconds, run_seconds, done, True)
        return self._result(state, history, compile_seconds, run_seconds, done, False)

    def _result(self, state, history, compile_seconds, run_seconds, done, interrupted):
        """The :class:`TrainResult` of the chunks in ``history`` (``done`` steps in all)."""
        first = self.chunk_sizes(done)[0] if done else 0
        steps_per_second = (done - first) / run_seconds if run_seconds > 0 else float("nan")
        if run_seconds > 0:  # the first chunk's own steps ran at the later chunks' speed
            compile_seconds = max(compile_seconds - first / steps_per_second, 0.0)
        history = stack_history(history, self.left_out()) if history else {}
        return TrainResult(state, history, compile_seconds, steps_per_second, interrupted)

    def left_out(self) -> tuple[str, ...]:
        """History entries this environment cannot give: absent, never 0."""
        return (() if self.has_modes else ("modes_found",)) + (
            () if self.marginal_shape is not None else ("marginal",)
        )

    def _diverged_message(self, record: EvalRecord) -> str:
        """One line: where training stopped being finite, and what usually causes it."""
        steps = np.atleast_1d(record.first_nonfinite_step)
        seed = int(np.argmax(steps >= 0))
        where = f"step {int(steps[seed])}" + (f" (seed {seed})" if self.n_seeds is not None else "")
        config = self.config
        rates = f"lr={config.lr:g}" + (f", lr_log_z={config.lr_log_z:g}" if config.loss == "tb" else "")
        reward = getattr(self.env, "reward", None)
        if isinstance(reward, HypergridReward):
            rewards = f"R from {reward.r0:g} to {sum(reward):g}"
        elif isinstance(self.env, Hypergrid) or not self.exact:
            rewards = "a custom reward function"
        else:
            log_r = np.asarray(self.env.log_terminal_reward(self.env.all_states()))
            log_r = log_r[np.isfinite(log_r)]
            rewards = f"R from {np.exp(log_r.min()):.3g} to {np.exp(log_r.max()):.3g}"
        return (
            f"training diverged at {where}: the loss or the parameters are not finite; likely "
            f"causes: a learning rate too large ({rates}) or a reward range too wide ({rewards})"
        )


class TrainingDiverged(RuntimeError):
    """Training reached a non-finite loss or parameters. ``result`` holds the finite chunks
    before it (its ``state`` is the last finite one; it is not a finished run)."""

    def __init__(self, message: str, result: "TrainResult"):
        super().__init__(message)
        self.result = result


@contextlib.contextmanager
def stop_on_interrupt():
    """Within the block, a first Ctrl-C (SIGINT) sets the yielded event instead of raising,
    with a one-line note on stderr; a second one raises ``KeyboardInterrupt``. Outside the
    main thread (where signals cannot be caught) the event is never set."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def handler(signum, frame):
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        tqdm.write("Ctrl-C: stopping after the current chunk (press it again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


class TrainResult(NamedTuple):
    state: TrainState
    history: dict  # name -> numpy array, one entry per evaluation
    compile_seconds: float  # first chunk's wall time less its steps at the later speed
    steps_per_second: float  # after compilation (all later chunks); NaN with a single chunk
    interrupted: bool = False  # True when stopped early (Ctrl-C, or in TrainingDiverged.result)


def stack_history(records: list[EvalRecord], left_out: tuple[str, ...] = ()) -> dict:
    """A list of records -> a dict of arrays with a leading evaluation axis. The finiteness
    check, ``first_nonfinite_step``, is left out (a returned history is finite), and so are
    the ``left_out`` metrics (those the environment cannot give)."""
    names = [n for n in EvalRecord._fields if n != "first_nonfinite_step" and n not in left_out]
    return {name: np.stack([getattr(r, name) for r in records]) for name in names}


def marginal_shape(env: Environment) -> tuple[int, ...] | None:
    """The shape of ``env.marginal`` of a distribution, or None when it gives none."""
    picture = jax.eval_shape(env.marginal, jax.ShapeDtypeStruct((env.n_states,), jnp.float32))
    return None if picture is None else tuple(picture.shape)


def train(config: TrainConfig, env: Environment | None = None, progress: bool = True) -> TrainResult:
    """Train one configuration with a progress bar; the simplest entry point."""
    return Trainer(config, env).fit(progress=progress)


def make_train(config: TrainConfig, env: Environment | None = None):
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
    # Meant for a plain vmap, which would turn lax.switch into computing every branch.
    trainer = Trainer(config, env, row_buckets=1)

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
