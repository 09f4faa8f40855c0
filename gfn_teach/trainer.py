"""Training from the host: the pure core of :mod:`gfn_teach.train`, driven chunk by chunk.

:class:`Trainer` runs ``eval_every`` steps and an exact evaluation as one compiled call
(:func:`gfn_teach.train.train_chunk`), so the host only wakes up between chunks: to advance
the progress bar, store a history row, time the run, stop on Ctrl-C and check that the loss
and the parameters stayed finite. With ``n_seeds`` the seeds run at once (``vmap``), split
over the devices when there are several. The chunk is compiled by ``jit`` for its static
arguments only (the environment, the loss function, the batch size, the number of steps and
of seeds) and its XLA options (:func:`~gfn_teach.speedups.compiler_options`: a run of at most
3,000 steps compiles sooner), so Trainers that differ in the seed or any
:class:`~gfn_teach.train.Hyperparams` (learning rates, exploration, SubTB's lambda) reuse
one compilation through ``jit``'s own cache.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import signal
import sys
import threading
import time
from typing import Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .config import TrainConfig, is_integer, marginal_shape, memory_sizes
from .environment import Environment
from .hypergrid import Hypergrid, HypergridReward
from .losses import LOSSES
from .memory import check_training_fits, describe
from .speedups import compiler_options, on_visited_rows, place, place_seeds, seed_mesh, split_seeds_over
from .train import MAX_EXACT_STATES, EvalRecord, Hyperparams, TrainState, counts_modes, init_state, train_chunk

# For long runs: the built-in losses run the network on 1/8, 2/8, ... or all of a batch's
# rows, whichever is the fewest that holds the visited nodes (speedups.on_visited_rows).
ROW_BUCKETS = 8


def run_chunk_on_seeds(
    state, hparams, target, *, n_steps, env, loss_fn, batch_size, loss, n_seeds, mesh, n_replay=0
):
    """:func:`~gfn_teach.train.train_chunk` on one seed, or with ``n_seeds`` on every seed of
    ``state`` (``vmap`` over its leading axis; ``hparams`` and ``target`` shared), split over
    the devices of ``mesh`` when it is not None."""
    chunk = lambda state, hparams, target: train_chunk(
        state, hparams, n_steps, env, loss_fn, batch_size, target, loss, n_replay
    )
    if n_seeds is None:
        return chunk(state, hparams, target)
    seeds = eqx.filter_vmap(chunk, in_axes=(eqx.if_array(0), None, None))
    if mesh is not None:
        seeds = split_seeds_over(mesh, seeds)
    return seeds(state, hparams, target)


@functools.cache
def compiled_chunk(options: tuple):
    """:func:`run_chunk_on_seeds` under ``jit`` with these XLA ``options`` (key, value pairs).
    ``jit`` keeps one program for each set of static (keyword) arguments."""
    return eqx.filter_jit(run_chunk_on_seeds, compiler_options=dict(options))


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
        row_buckets: 1 (the default) runs the built-in losses' network on every row of a
            batch, one compiled size. More (:data:`ROW_BUCKETS` = 8, say) runs it on the
            visited rows only, compiled for that many sizes
            (:func:`gfn_teach.speedups.on_visited_rows`): the compilation takes longer (2 to
            4 times), and each step is faster, the more so the bigger the network and the
            more of a batch is padding (measured on a 2-core CPU: 13% on Lego spaceships,
            25% on the 20 x 20 grid with 128 hidden units, 40% (DB) to 2x (TB) with 256;
            on the 20^4 grid, DB in runs of at most 3,000 steps, 1.2x with 64 units and
            1.4x with 256). It pays from a thousand to a few thousand steps, later for a
            small network: on the 20^4 grid with 256 units, 1,000 steps of DB take as long
            with 8 buckets as with 1 (11.3-11.5 s), and with 64 units 2,000 steps take
            9.5-10.5 s with 8 buckets against 6.3-7.2 s with 1 (2026-12-06). The command
            line uses 8 in runs of more than 3,000 steps with at least 128 hidden units, and
            2 in runs of 1,001 to 3,000 steps with at least 256
            (:func:`gfn_teach.cli.row_buckets_for`, measured by ``benchmarks/row_buckets.py``).
            The results agree up to float rounding.
        loss_fn: a loss of your own, ``loss_fn(policy, env, traj, **hparams.loss_kwargs)``
            returning a number, to train instead of the config's (it runs on every row).
            ``config.loss`` still names the log Z estimate the history records.
        hparams: the run's :class:`~gfn_teach.train.Hyperparams` (learning rates,
            exploration, the loss's own keywords), shared by every seed; by default
            ``Hyperparams.from_config(config)``.

    Raises ``ValueError`` before allocating anything if the run cannot fit in the device's
    memory (:func:`gfn_teach.memory.check_training_fits`).
    """

    def __init__(
        self,
        config: TrainConfig,
        env: Environment | None = None,
        n_seeds: int | None = None,
        split_over_devices: bool = True,
        row_buckets: int = 1,
        loss_fn: Callable | None = None,
        hparams: Hyperparams | None = None,
    ):
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
        if n_seeds is not None and not (is_integer(n_seeds) and n_seeds >= 1):
            raise ValueError(f"n_seeds must be None or an integer >= 1, got {n_seeds!r}")
        if not (is_integer(row_buckets) and row_buckets >= 1):
            raise ValueError(f"row_buckets must be an integer >= 1, got {row_buckets!r}")
        if loss_fn is not None and not callable(loss_fn):
            raise ValueError(
                f"loss_fn must be None or a function (policy, env, traj, **loss_kwargs), got {loss_fn!r}"
            )
        if hparams is not None and not isinstance(hparams, Hyperparams):
            raise ValueError(f"hparams must be None or a g.Hyperparams, got {type(hparams).__name__}")
        if hparams is not None and any(np.ndim(number) for number in hparams[:-1]):
            raise ValueError(
                "hparams must hold one setting shared by the seeds (scalar learning rates and "
                "exploration); to sweep settings, vmap g.make_train over stacked Hyperparams"
            )
        if env is not None:
            config.check_env(env)
        env = config.make_env() if env is None else env
        n_seeds = None if n_seeds is None else int(n_seeds)
        check_training_fits(memory_sizes(config, env), MAX_EXACT_STATES, n_seeds or 1)
        self.config = config
        self.env = env
        self.n_seeds = n_seeds
        self.row_buckets = int(row_buckets)
        self.exact = self.env.n_states <= MAX_EXACT_STATES
        self.target = self.env.true_distribution() if self.exact else None
        # Metrics the environment cannot give are left out of the history (never 0).
        self.has_modes = counts_modes(self.env)
        self.marginal_shape = marginal_shape(self.env)
        self.hparams = Hyperparams.from_config(config) if hparams is None else hparams
        self.mesh = seed_mesh(n_seeds) if n_seeds is not None and split_over_devices else None
        if loss_fn is None:  # the config's (with row_buckets > 1, on the visited rows only)
            loss_fn = LOSSES[config.loss]
            loss_fn = loss_fn if self.row_buckets == 1 else on_visited_rows(loss_fn, self.row_buckets)
        self.loss_fn = loss_fn

    def run_chunk(self, state: TrainState, n_steps: int) -> tuple[TrainState, EvalRecord]:
        """``n_steps`` training steps then an exact evaluation, compiled.

        ``n_steps`` is static: at most two compilations (full chunks and a shorter last one
        when eval_every does not divide steps), shared with every Trainer whose environment,
        loss, batch size and seeds are the same, and whose run is short (at most
        ``speedups.SHORT_RUN_STEPS`` steps) or long alike.
        """
        program = compiled_chunk(tuple(sorted(compiler_options(self.config.steps).items())))
        config = self.config
        return program(
            state, self.hparams, self.target, n_steps=n_steps, env=self.env, loss_fn=self.loss_fn,
            batch_size=config.batch_size, loss=config.loss, n_seeds=self.n_seeds, mesh=self.mesh,
            n_replay=config.n_replay,
        )

    def keys(self) -> jax.Array:
        """The PRNG key(s) for ``config.seed`` (one per seed when ``n_seeds`` is set)."""
        key = jax.random.PRNGKey(self.config.seed)
        return key if self.n_seeds is None else jax.random.split(key, self.n_seeds)

    def init(self, key: jax.Array) -> TrainState:
        """A fresh state from ``key`` (with ``n_seeds``: one key per seed, see :meth:`keys`).

        Not jitted: each seed is initialised eagerly, exactly as a single-seed Trainer
        would from its key, and the seeds are stacked. Eager ops are compiled once per shape
        and cached, so every later Trainer, whatever its number of seeds, reuses them (a
        jitted or vmapped init recompiles the random MLP initialisation, about 3 s on CPU,
        for each new Trainer or number of seeds).
        """
        if self.n_seeds is None:
            return init_state(self.config, self.env, key)
        seeds = [init_state(self.config, self.env, seed_key) for seed_key in key]
        _, static = eqx.partition(seeds[0], eqx.is_array)
        arrays = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[eqx.filter(s, eqx.is_array) for s in seeds])
        state = eqx.combine(arrays, static)
        return state if self.mesh is None else place_seeds(state, self.mesh)

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
        else:
            self.check_state(state)
            if self.mesh is not None:  # a state from elsewhere: split it like a fresh one
                state = place_seeds(state, self.mesh)
        with stop_on_interrupt() as interrupt:
            return self._fit(state, progress, steps, interrupt)

    def _fit(self, state, progress, steps, interrupt: threading.Event, position: int | None = None):
        """:meth:`fit` from a checked ``state``, stopping after the chunk during which
        ``interrupt`` is set; the progress bar on line ``position`` (for several at once)."""
        chunks = self.chunk_sizes(steps)
        history, compile_seconds, run_seconds, done = [], 0.0, 0.0, 0
        bar = tqdm(total=sum(chunks), disable=not progress, desc=f"{self.config.loss}", position=position)
        with bar:
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

    def check_state(self, state) -> None:
        """``ValueError`` in one line unless ``state`` has the structure and shapes of this
        trainer's own states (a checkpoint of another environment, policy or seed count)."""
        want = eqx.filter_eval_shape(self.init, self.keys())

        def layout(tree):  # arrays, or their shapes (from eval_shape)
            is_leaf = lambda x: eqx.is_array(x) or isinstance(x, jax.ShapeDtypeStruct)
            leaves, structure = jax.tree.flatten(eqx.filter(tree, is_leaf))
            return structure, [(np.shape(leaf), np.dtype(leaf.dtype)) for leaf in leaves]

        try:
            same = layout(state) == layout(want)
        except Exception:  # not a pytree of the same kind at all
            same = False
        if not same:
            raise ValueError(
                f"the state does not fit this Trainer ({describe(self.env)}, policy "
                f"{self.config.policy!r}, {self.n_seeds or 1} seed(s)): it was made for another "
                "environment, policy or number of seeds"
            )

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


def train(config: TrainConfig, env: Environment | None = None, progress: bool = True) -> TrainResult:
    """Train one configuration with a progress bar; the simplest entry point."""
    return Trainer(config, env).fit(progress=progress)


def fit_together(trainers, progress: bool = True):
    """Fit several Trainers side by side; their results, as each ``trainer.fit()`` gives them.

    A small network's training step runs on one CPU core, so two runs one after the other
    leave the other cores idle. Here each Trainer fits in a thread of its own: one whose seeds
    stay on one device gets a device of its own in turn (on a CPU, one per core after
    :func:`~gfn_teach.speedups.use_every_cpu_core`); one that splits its seeds over the
    devices keeps doing so; and while one waits for XLA to compile its program, another runs.
    Each run compiles and runs the same program as ``trainer.fit()`` alone, so its numbers are
    the same.

    Args:
        trainers: a list of :class:`Trainer`, or a dict of them by name.
        progress: one progress bar per Trainer.

    Returns a list of :class:`TrainResult` in the same order, or a dict by the same names.
    Ctrl-C stops every run after its current chunk (``interrupted=True``); if a run diverges,
    its :class:`TrainingDiverged` is raised once the others have finished.
    """
    named = trainers if isinstance(trainers, dict) else None
    items = list(trainers.values()) if named is not None else list(trainers)
    if not items:
        raise ValueError("fit_together needs at least one Trainer, got none")
    for trainer in items:
        if not isinstance(trainer, Trainer):
            raise ValueError(f"fit_together takes Trainers, got {type(trainer).__name__}: {trainer!r}")
    devices = jax.local_devices()
    on_one_device = [i for i, trainer in enumerate(items) if trainer.mesh is None]
    device_of = {i: devices[k % len(devices)] for k, i in enumerate(on_one_device)}
    # Initialised here, one after the other, by the eager operations that fit() itself runs
    # (compiled once, on the default device), then moved to the device each run trains on.
    states = [trainer.init(trainer.keys()) for trainer in items]
    states = [place(state, device_of[i]) if i in device_of else state for i, state in enumerate(states)]

    def fit(i, interrupt):
        return items[i]._fit(states[i], progress, None, interrupt, position=i)

    workers = min(len(items), max(len(devices), 2))
    with stop_on_interrupt() as interrupt, concurrent.futures.ThreadPoolExecutor(workers) as pool:
        try:
            futures = [pool.submit(fit, i, interrupt) for i in range(len(items))]
            concurrent.futures.wait(futures)
        except BaseException:  # a second Ctrl-C: the runs stop after their current chunk
            interrupt.set()
            raise
    results = [future.result() for future in futures]  # raises the first run's error, if any
    return dict(zip(named, results)) if named is not None else results
