"""Speed machinery kept out of the training algorithm: it changes how fast, never what.

* Row buckets: a padded batch repeats each trajectory's final state, so most of its rows are
  copies the loss does not need. :func:`on_visited_rows` wraps a loss to run the network on
  the visited rows only, packed into the fewest of ``row_buckets`` equal parts of the batch.
* Seeds over devices: on a CPU, XLA runs a rollout step's small matrix products on one core;
  :func:`use_every_cpu_core` gives JAX one device per core and :func:`split_seeds_over`
  gives each device its share of the seeds.
* Compiler options: on a CPU, :func:`compiler_options` asks XLA's code generator for less
  optimisation than its default, which compiles a training program about a third faster, and
  for a short run also XLA's classic fusion emitters, which compile it sooner still;
  :func:`compile_quickly` asks for still less for every other program (eager operations,
  one-off functions), which compiles them about twice as fast.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pkgutil
import re
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap

from .losses import visited_nodes
from .policy import evaluate_packed, evaluate_states


def row_sizes(n_rows: int, row_buckets: int) -> list[int]:
    """The row counts the loss is compiled for: ``ceil(n_rows * k / row_buckets)``, k = 1..row_buckets."""
    return [-(-n_rows * k // row_buckets) for k in range(1, row_buckets + 1)]


class OnVisitedRows(eqx.Module):
    """``policy``, run on at most ``n_rows`` of a batch's ``n_nodes`` trajectory nodes: the
    visited ones, packed (:func:`gfn_teach.losses.evaluate_nodes` asks for it)."""

    policy: eqx.Module
    n_rows: int = eqx.field(static=True)
    n_nodes: int = eqx.field(static=True)

    @property
    def log_z(self) -> jax.Array:
        return self.policy.log_z

    def __call__(self, x):
        return self.policy(x)

    def evaluate_nodes(self, env, states: jax.Array, visited: jax.Array):
        """Outputs on the ``visited`` rows of ``states``; a node's parents (``visited`` of shape
        ``[T+1, B, P]``) get ``P`` times the rows."""
        n_rows = self.n_rows * visited.size // self.n_nodes
        if n_rows >= visited.size:
            return evaluate_states(self.policy, env, states)
        return evaluate_packed(self.policy, env, states, visited, n_rows)


@custom_vmap
def largest_over_runs(n: jax.Array) -> jax.Array:
    """``n`` itself; under ``vmap``, the largest ``n`` of all the mapped runs (unbatched), so
    that a ``lax.switch`` on it stays a switch instead of running every branch."""
    return n


@largest_over_runs.def_vmap
def _largest_batched(axis_size, in_batched, n):
    return (jnp.max(n, axis=0) if in_batched[0] else n), False


class VisitedRowsLoss(eqx.Module):
    """``loss_fn`` with the same value and gradient, the network run on the visited nodes
    only; made by :func:`on_visited_rows`."""

    loss_fn: Callable
    row_buckets: int = eqx.field(static=True)

    def __call__(self, policy, env, traj, **loss_kwargs):
        n_nodes = traj.states.shape[0] * traj.states.shape[1]
        sizes = row_sizes(n_nodes, self.row_buckets)
        n_visited = largest_over_runs(jnp.sum(visited_nodes(traj)))
        bucket = jnp.searchsorted(jnp.array(sizes), n_visited)  # the first size >= n_visited
        return _loss_on_rows(policy, self.loss_fn, tuple(sizes), n_nodes, bucket, env, traj, loss_kwargs)


def on_visited_rows(loss_fn: Callable, row_buckets: int = 8) -> VisitedRowsLoss:
    """``loss_fn(policy, env, traj, **kwargs)``, faster: the network runs on the visited nodes only.

    A padded batch repeats each trajectory's final state, so most of its rows are copies the
    loss does not need. Row counts must be static, so the batch's rows are cut into
    ``row_buckets`` equal parts and ``lax.switch`` runs the loss compiled for the fewest parts
    that hold the visited nodes: a small fraction early in training or when a policy stops
    early, about half once trajectories are long. Under ``vmap`` every run takes the fewest
    parts that hold the visited nodes of every run. The switch sits outside the gradient
    (a custom VJP returns the chosen branch's), so only that branch is differentiated.
    ``loss_fn`` must evaluate the policy through :func:`gfn_teach.losses.evaluate_nodes`, as
    every built-in loss does; the result is equal (and hashable, so ``jit`` reuses programs).
    """
    return VisitedRowsLoss(loss_fn, row_buckets)


def _on_each_size(policy, loss_fn, sizes, n_nodes, env, traj, loss_kwargs):
    """The policy's arrays, and the loss as a function of them on each number of rows."""
    params, static = eqx.partition(policy, eqx.is_array)  # switch takes arrays only

    def on_rows(size):
        policy_on_rows = lambda params: OnVisitedRows(eqx.combine(params, static), size, n_nodes)
        return lambda params: loss_fn(policy_on_rows(params), env, traj, **loss_kwargs)

    return params, [on_rows(size) for size in sizes]


@eqx.filter_custom_vjp
def _loss_on_rows(policy, loss_fn, sizes, n_nodes, bucket, env, traj, loss_kwargs):
    # Without a gradient: the loss on every row, the same value (and traced once, not per size).
    return loss_fn(policy, env, traj, **loss_kwargs)


@_loss_on_rows.def_fwd
def _loss_on_rows_fwd(perturbed, policy, loss_fn, sizes, n_nodes, bucket, env, traj, loss_kwargs):
    params, losses = _on_each_size(policy, loss_fn, sizes, n_nodes, env, traj, loss_kwargs)
    # Residuals: the chosen branch's gradient, computed inside the switch.
    return jax.lax.switch(bucket, [jax.value_and_grad(loss) for loss in losses], params)


@_loss_on_rows.def_bwd
def _loss_on_rows_bwd(grads, cotangent, perturbed, policy, *args):
    return jax.tree.map(lambda g: g * cotangent, grads)


def use_every_cpu_core() -> bool:
    """Give JAX one CPU device per core, so that ``Trainer(n_seeds=...)`` uses every core.

    XLA runs a small matrix product, such as a rollout step's, on one core, so on a CPU
    ``vmap`` alone leaves the other cores idle; with one device per core the seeds are split
    over them (:func:`seed_mesh`). Call this right after ``import gfn_teach``, before JAX
    computes anything: it returns False, and changes nothing, once JAX has started.
    (The environment variable ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` does
    the same from outside Python.)
    """
    try:
        jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)
    except RuntimeError:  # JAX's CPU backend exists already, with its number of devices
        return False
    return True


def jax_has_started() -> bool:
    """Whether JAX's backends exist (after the first computation): settings that JAX reads
    when it starts, such as ``XLA_FLAGS``, can no longer change. (Setting the number of CPU
    devices to its current value is no probe: JAX accepts an unchanged value at any time.)"""
    from jax._src import xla_bridge  # JAX has no public way to ask (checked on jax >= 0.7.2)

    return xla_bridge.backends_are_initialized()


# For every program but training's: LLVM at -O1, and XLA's classic CPU fusion emitters
# instead of its newer ones. Measured on this 2-core CPU: small eager operations compile
# about twice as fast (173 ms against 351 ms for a round of six), a training chunk of the
# 12 x 12 grid (64 hidden units) in 0.8 s instead of 1.6 s and runs 3% slower.
QUICK_COMPILE_FLAGS = ("--xla_backend_optimization_level=1", "--xla_cpu_use_fusion_emitters=false")
OLDEST_WITH_QUICK_COMPILE_FLAGS = (0, 7, 2)  # checked with jaxlib 0.7.2 (Colab's) and 0.10.2


def jaxlib_version() -> tuple[int, ...]:
    """jaxlib's version as numbers, e.g. (0, 10, 2)."""
    return tuple(int(part) for part in re.findall(r"\d+", jax.lib.__version__)[:3])


def accelerator_plugins() -> list[str]:
    """The accelerator back ends installed for JAX (a GPU's or a TPU's), by package name;
    empty on a CPU-only install. Found as JAX finds them, without starting JAX: the
    ``jax_plugins`` entry points and namespace package, and ``libtpu``."""
    names = [entry.name for entry in importlib.metadata.entry_points(group="jax_plugins")]
    try:
        import jax_plugins  # a namespace package, present only with a plugin installed

        names += [module.name for module in pkgutil.iter_modules(jax_plugins.__path__)]
    except ImportError:
        pass
    if importlib.util.find_spec("libtpu") is not None:
        names.append("libtpu")
    return sorted(set(names))


def compile_quickly() -> bool:
    """Compile JAX's programs on a CPU for less optimisation, except the library's training
    programs, which keep :func:`compiler_options`.

    A notebook runs hundreds of small programs once each (every eager operation on a new
    shape is one), and compiling them takes longer than running them: with
    :data:`QUICK_COMPILE_FLAGS` added to ``XLA_FLAGS`` they compile about twice as fast, and
    run a few percent slower. Call it right after ``import gfn_teach``, before JAX computes
    anything. It returns False, and changes nothing, once JAX has started (XLA reads its
    flags when it starts), with a jaxlib older than :data:`OLDEST_WITH_QUICK_COMPILE_FLAGS`,
    or where JAX has a GPU or TPU back end installed (:func:`accelerator_plugins`), whose
    code generator reads the optimisation level too.
    """
    if jaxlib_version() < OLDEST_WITH_QUICK_COMPILE_FLAGS:
        return False  # an older XLA would stop the process on a flag it does not know
    if jax_has_started() or accelerator_plugins():
        return False
    flags = os.environ.get("XLA_FLAGS", "").split()
    os.environ["XLA_FLAGS"] = " ".join(flags + [f for f in QUICK_COMPILE_FLAGS if f not in flags])
    return True


def seed_mesh(n_seeds: int) -> jax.sharding.Mesh | None:
    """The local devices to split ``n_seeds`` seeds over, or None to keep them on one.

    Several devices come from several GPUs, or on a CPU from :func:`use_every_cpu_core`.
    One device, or a number of seeds that the devices do not divide, keeps every seed on
    the first device.
    """
    devices = jax.local_devices()
    if len(devices) == 1 or n_seeds % len(devices):
        return None
    return jax.sharding.Mesh(np.array(devices), ("devices",))


# LLVM at -O2 instead of XLA's default -O3 (still vectorised): on a CPU the small programs
# of training compile about a third faster and run as fast.
CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 2}
# XLA's newer fusion emitters (its default) make a training step faster and its compilation
# longer than the classic ones. Measured on this 2-core CPU (2026-12-06, two runs each, whole
# Trainer.fit): with the classic ones a chunk program compiles 0.6-0.9 s sooner (16 x 16 grid,
# 256 hidden units: 1.4-1.5 s against 2.1-2.2 s) and steps 3-15% slower (there: 310-365
# against 365-380 steps/s). Runs of the book's sizes end sooner: 12 x 12 grid, 64 units, 4
# seeds, 800 steps: 3.7-3.9 s against 4.5-5.2 s; Lego, 3,000 steps: 5.3 s against 5.7-5.9 s;
# 20 x 20 grid, 128 units, 2,500 steps: 4.9-5.4 s against 5.5-5.9 s. On the 16 x 16 grid with
# 256 units, 2,000 steps of DB take as long either way (8.2-8.7 s against 8.2-8.4 s): about
# where the two cross. A longer run ends sooner with the newer ones.
FUSION_EMITTERS = "xla_cpu_use_fusion_emitters"
SHORT_RUN_STEPS = 3000


def compiler_options(steps: int | None = None) -> dict:
    """XLA options for a training program that runs ``steps`` steps (None: as many as a long
    run): on a CPU, LLVM at -O2 (:data:`CPU_COMPILER_OPTIONS`), and for a run of at most
    :data:`SHORT_RUN_STEPS` steps XLA's classic fusion emitters, which compile sooner and step
    a little slower; a longer run keeps XLA's default, newer emitters, even where ``XLA_FLAGS``
    turns them off (as :func:`compile_quickly` does for the other programs). None (XLA's
    defaults) on other backends, or when ``jax_disable_most_optimizations`` asks for even
    less. The options change how fast a program compiles and runs, and what one step computes
    only in the last bits of float rounding (which a training run amplifies, as it does any
    change of compiler or processor). Call it once JAX has started (it asks for the backend), and
    pass it to ``jax.jit(..., compiler_options=...)``."""
    if jax.default_backend() != "cpu" or jax.config.values["jax_disable_most_optimizations"]:
        return {}
    options = dict(CPU_COMPILER_OPTIONS)
    short = steps is not None and steps <= SHORT_RUN_STEPS
    if short and jaxlib_version() >= OLDEST_WITH_QUICK_COMPILE_FLAGS:  # older XLA: flag unknown
        options[FUSION_EMITTERS] = False
    elif any(flag.startswith(f"--{FUSION_EMITTERS}") for flag in os.environ.get("XLA_FLAGS", "").split()):
        options[FUSION_EMITTERS] = True
    return options


def split_seeds_over(mesh: jax.sharding.Mesh, seeds_fn):
    """Run ``seeds_fn(state, *inputs) -> (state, outputs)``, a ``vmap`` over seeds, on every
    device of ``mesh`` for its share of the seeds; every device gets all of ``inputs``
    (arrays shared by the seeds).

    ``shard_map`` gives each device its slice of the seed axis. The devices never talk to
    each other: what ``vmap`` decides for all seeds at once (the rollout's skip, the row
    bucket) is decided for the seeds on the same device.
    """
    on_each_device = jax.sharding.PartitionSpec("devices")
    on_every_device = jax.sharding.PartitionSpec()

    def run(state, *inputs):
        arrays, static = eqx.partition(state, eqx.is_array)

        def on_one_device(arrays, inputs):
            state, outputs = seeds_fn(eqx.combine(arrays, static), *inputs)
            return eqx.filter(state, eqx.is_array), outputs

        # check_vma=False: the check does not follow collectives over the vmapped seed axis.
        arrays, outputs = jax.shard_map(
            on_one_device,
            mesh=mesh,
            in_specs=(on_each_device, on_every_device),
            out_specs=on_each_device,
            check_vma=False,
        )(arrays, inputs)
        return eqx.combine(arrays, static), outputs

    return run


def place(tree, where):
    """Put the arrays of ``tree`` on ``where`` (a device or a sharding); its other leaves stay."""
    arrays, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.device_put(arrays, where), static)


def place_seeds(tree, mesh: jax.sharding.Mesh):
    """Put the arrays of ``tree`` on the devices of ``mesh``, split along the seed axis."""
    return place(tree, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("devices")))
