"""Speed machinery kept out of the training algorithm: it changes how fast, never what.

* Row buckets: a padded batch repeats each trajectory's final state, so most of its rows are
  copies the loss does not need. :func:`value_and_grad_on_visited` runs the network on the
  visited rows only, packed into the fewest of ``row_buckets`` equal parts of the batch.
* Seeds over devices: on a CPU, XLA runs a rollout step's small matrix products on one core;
  :func:`use_every_cpu_core` gives JAX one device per core and :func:`split_seeds_over`
  gives each device its share of the seeds.
* Compiler options: on a CPU, :func:`compiler_options` asks XLA's code generator for less
  optimisation than its default, which compiles a training program about a third faster.
"""

from __future__ import annotations

import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .losses import visited_nodes


def row_sizes(n_rows: int, row_buckets: int) -> list[int]:
    """The row counts the loss is compiled for: ``ceil(n_rows * k / row_buckets)``, k = 1..row_buckets."""
    return [-(-n_rows * k // row_buckets) for k in range(1, row_buckets + 1)]


def value_and_grad_on_visited(loss, policy, traj, row_buckets: int, seed_axis: str | None = None):
    """``loss(policy, traj, max_visited)`` and its gradient, the network run on the visited
    nodes only.

    Row counts must be static, so the batch's rows are cut into ``row_buckets`` equal parts
    and ``lax.switch`` runs the loss compiled for the fewest parts that hold the visited
    nodes: a small fraction early in training or when a policy stops early, about half once
    trajectories are long. The switch sits outside the gradient, so only the chosen branch
    is differentiated. Under a ``vmap`` over seeds named ``seed_axis``, every seed takes the
    fewest parts that hold the visited nodes of every seed (a ``vmap`` would otherwise turn
    the switch into running every branch).
    """
    sizes = row_sizes(traj.states.shape[0] * traj.states.shape[1], row_buckets)
    n_visited = jnp.sum(visited_nodes(traj))
    if seed_axis is not None:
        n_visited = jax.lax.pmax(n_visited, seed_axis)
    bucket = jnp.searchsorted(jnp.array(sizes), n_visited)  # the first size >= n_visited
    params, static = eqx.partition(policy, eqx.is_array)  # switch takes arrays only

    def branch(size):
        on_rows = lambda params: loss(eqx.combine(params, static), traj, size)
        return lambda params: jax.value_and_grad(on_rows)(params)

    return jax.lax.switch(bucket, [branch(size) for size in sizes], params)


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


def compiler_options() -> dict:
    """XLA options for the training programs: on a CPU, LLVM at -O2
    (:data:`CPU_COMPILER_OPTIONS`); none (XLA's defaults) on other backends, or when
    ``jax_disable_most_optimizations`` asks for even less. Call it once JAX has started
    (it asks for the backend), and pass it to ``jax.jit(..., compiler_options=...)``."""
    if jax.default_backend() != "cpu" or jax.config.values["jax_disable_most_optimizations"]:
        return {}
    return dict(CPU_COMPILER_OPTIONS)


def split_seeds_over(mesh: jax.sharding.Mesh, seeds_chunk):
    """Run ``seeds_chunk(state, n_steps, *inputs) -> (state, outputs)``, a ``vmap`` over
    seeds, on every device of ``mesh`` for its share of the seeds; every device gets all of
    ``inputs`` (arrays shared by the seeds).

    ``shard_map`` gives each device its slice of the seed axis. The devices never talk to
    each other: the seed-axis collective in the rollout's skip (``forward_rollout``) only
    waits for the seeds on the same device.
    """
    on_each_device = jax.sharding.PartitionSpec("devices")
    on_every_device = jax.sharding.PartitionSpec()

    def chunk(state, n_steps: int, *inputs):
        arrays, static = eqx.partition(state, eqx.is_array)

        def on_one_device(arrays, inputs):
            state, record = seeds_chunk(eqx.combine(arrays, static), n_steps, *inputs)
            return eqx.filter(state, eqx.is_array), record

        # check_vma=False: the check does not follow collectives over the vmapped seed axis.
        arrays, record = jax.shard_map(
            on_one_device,
            mesh=mesh,
            in_specs=(on_each_device, on_every_device),
            out_specs=on_each_device,
            check_vma=False,
        )(arrays, inputs)
        return eqx.combine(arrays, static), record

    return chunk


def place_seeds(tree, mesh: jax.sharding.Mesh):
    """Put the arrays of ``tree`` on the devices of ``mesh``, split along the seed axis."""
    arrays, static = eqx.partition(tree, eqx.is_array)
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("devices"))
    return eqx.combine(jax.device_put(arrays, sharding), static)
