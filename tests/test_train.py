"""Training lowers exact TV, is reproducible, vmaps over seeds and hyperparameters, compiles
once for runs that differ only in their numbers, and validates its config."""

import contextlib
import dataclasses
import logging
import os
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gfn_teach as g
from gfn_teach.exercises.losses import subtb_reference  # float64 loops
from gfn_teach.train import epsilon

trainer_module = sys.modules["gfn_teach.trainer"]

SMALL = dict(dim=2, side=6, hidden=32, depth=1, batch_size=16, eval_every=50)


@contextlib.contextmanager
def compilations():
    """The names of the programs XLA compiles inside the block (``jax.log_compiles``)."""
    names = []

    class Record(logging.Handler):
        def emit(self, record):
            message = record.getMessage()
            if message.startswith("Compiling "):
                names.append(message.split()[1])

    handler, logger = Record(), logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles():
            yield names
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("loss", ["fm", "db", "tb", "subtb"])
def test_short_training_really_lowers_exact_tv(loss):
    config = g.TrainConfig(loss=loss, steps=400, epsilon_start=0.5, lr=3e-3, **SMALL)
    result = g.train(config, progress=False)
    tv = result.history["exact_tv"]
    assert tv.shape == (8,)
    assert tv[-1] < 0.5 * tv[0], f"{loss}: TV {tv[0]:.3f} -> {tv[-1]:.3f}"
    assert np.all(np.isfinite(result.history["loss"]))


def test_same_seed_same_numbers_and_other_seed_other_numbers():
    config = g.TrainConfig(loss="db", steps=100, **SMALL)
    a = g.train(config, progress=False).history["exact_tv"]
    b = g.train(config, progress=False).history["exact_tv"]
    c = g.train(dataclasses.replace(config, seed=1), progress=False).history["exact_tv"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_remainder_chunk_and_history_fields():
    config = g.TrainConfig(loss="tb", steps=120, **SMALL)
    result = g.train(config, progress=False)
    np.testing.assert_array_equal(result.history["step"], [50, 100, 120])
    assert result.history["marginal"].shape == (3, 6, 6)
    np.testing.assert_allclose(result.history["marginal"].sum(axis=(1, 2)), 1.0, atol=1e-4)
    assert int(result.state.step) == 120


def test_vmap_over_seeds_matches_single_seed_runs():
    config = g.TrainConfig(loss="db", steps=100, **SMALL)
    trainer = g.Trainer(config, n_seeds=3)
    many = trainer.fit(progress=False).history["exact_tv"]
    assert many.shape == (2, 3)
    keys = trainer.keys()
    single = g.Trainer(config)
    state = single.init(keys[1])
    for n in single.chunk_sizes():
        state, record = single.run_chunk(state, n)
    np.testing.assert_allclose(record.exact_tv, many[-1, 1], rtol=1e-4, atol=1e-5)


def test_on_visited_rows_packs_rows_without_changing_the_loss_or_gradient():
    config = g.TrainConfig(loss="subtb", steps=100, **SMALL)
    env = config.make_env()
    policy = g.init_state(config, env, jax.random.PRNGKey(0)).policy
    fast = g.on_visited_rows(g.subtrajectory_balance, 8)
    assert fast == g.on_visited_rows(g.subtrajectory_balance, 8)  # equal, so jit reuses programs
    for key, epsilon in ((0, 0.0), (1, 1.0), (2, 0.3)):
        traj = g.forward_rollout(jax.random.PRNGKey(key), env, policy, 16, epsilon)
        assert int(np.sum(g.visited_nodes(traj))) <= traj.is_padding.size * 7 // 8  # packs
        loss, grads = eqx.filter_value_and_grad(fast)(policy, env, traj, lam=0.9)
        plain, plain_grads = eqx.filter_value_and_grad(g.subtrajectory_balance)(policy, env, traj, lam=0.9)
        np.testing.assert_allclose(loss, plain, rtol=1e-5)
        for a, b in zip(jax.tree.leaves(eqx.filter(grads, eqx.is_array)),
                        jax.tree.leaves(eqx.filter(plain_grads, eqx.is_array))):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_a_trainer_trains_a_loss_fn_of_its_own():
    # Chapter 9 hands its broken losses to g.Trainer; a zero objective must leave the policy
    # as it was (the network weights; Adam moves nothing on a zero gradient).
    def frozen(policy, env, traj):
        return 0.0 * g.detailed_balance(policy, env, traj)

    config = g.TrainConfig(loss="db", steps=100, **SMALL)
    trainer = g.Trainer(config, loss_fn=frozen)
    start = trainer.init(trainer.keys())
    result = trainer.fit(start, progress=False)
    np.testing.assert_array_equal(result.history["loss"], 0.0)
    for a, b in zip(jax.tree.leaves(eqx.filter(start.policy, eqx.is_array)),
                    jax.tree.leaves(eqx.filter(result.state.policy, eqx.is_array))):
        np.testing.assert_array_equal(a, b)


def test_a_trainers_loss_fn_reads_its_keywords_from_hparams():
    def scaled_tb(policy, env, traj, scale):
        return scale * g.trajectory_balance(policy, env, traj)

    config = g.TrainConfig(loss="tb", steps=50, **SMALL)
    hparams = lambda scale: g.Hyperparams.from_config(config, scale=scale)
    scaled = g.Trainer(config, loss_fn=scaled_tb, hparams=hparams(1.0)).fit(progress=False).history
    builtin = g.Trainer(config).fit(progress=False).history
    np.testing.assert_allclose(scaled["loss"], builtin["loss"], rtol=1e-5)
    zero = g.Trainer(config, loss_fn=scaled_tb, hparams=hparams(0.0), n_seeds=2).fit(progress=False)
    np.testing.assert_array_equal(zero.history["loss"], 0.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"loss_fn": "tb"}, "loss_fn must be None or a function"),
     ({"hparams": {"lr": 1e-3}}, "hparams must be None or a g.Hyperparams"),
     ({"hparams": "stacked"}, "hparams must hold one setting shared by the seeds")],
)
def test_bad_loss_fn_or_hparams_raise_a_clear_error(kwargs, message):
    config = g.TrainConfig(loss="tb", steps=50, **SMALL)
    if kwargs.get("hparams") == "stacked":
        one = g.Hyperparams.from_config(config)
        kwargs = {"hparams": jax.tree.map(lambda *runs: jnp.stack(runs), one, one)}
    with pytest.raises(ValueError, match=message):
        g.Trainer(config, n_seeds=2, **kwargs)


SPLIT_OVER_TWO_DEVICES = """
import gfn_teach as g
assert g.use_every_cpu_core()  # before JAX starts: one CPU device per core
import jax, numpy as np
jax.config.update("jax_num_cpu_devices", 2)  # exactly two, whatever the core count
config = g.TrainConfig(loss="db", steps=100, dim=2, side=6, hidden=32, depth=1, eval_every=50)
trainer = g.Trainer(config, n_seeds=4)
assert trainer.mesh is not None and trainer.mesh.size == 2
result = trainer.fit(progress=False)
assert len(result.state.step.sharding.device_set) == 2  # the seeds really were split
single = g.Trainer(config)
for i, key in enumerate(trainer.keys()):
    state = single.init(key)
    for n in single.chunk_sizes():
        state, record = single.run_chunk(state, n)
    np.testing.assert_allclose(record.exact_tv, result.history["exact_tv"][-1, i], rtol=1e-4, atol=1e-5)
print("split ok")
"""


def test_seeds_split_over_two_cpu_devices_match_single_seed_runs(in_fresh_interpreter):
    # A fresh interpreter: the number of CPU devices is fixed once JAX has started.
    assert "split ok" in in_fresh_interpreter(SPLIT_OVER_TWO_DEVICES)


def test_use_every_cpu_core_is_a_no_op_once_jax_has_started():
    jax.numpy.zeros(1).block_until_ready()
    devices = jax.devices()
    assert g.use_every_cpu_core() is False
    assert jax.devices() == devices


@pytest.mark.parametrize("n_seeds", [0, -2, 2.0, True, "4"])
def test_bad_number_of_seeds_raises_a_clear_error(n_seeds):
    config = g.TrainConfig(loss="db", steps=100, **SMALL)
    with pytest.raises(ValueError, match="n_seeds must be None or an integer >= 1"):
        g.Trainer(config, n_seeds=n_seeds)


@pytest.mark.parametrize("row_buckets", [0, 2.5, True, None])
def test_bad_row_buckets_raise_a_clear_error(row_buckets):
    config = g.TrainConfig(loss="db", steps=100, **SMALL)
    with pytest.raises(ValueError, match="row_buckets must be an integer >= 1"):
        g.Trainer(config, row_buckets=row_buckets)


def test_each_seed_starts_from_its_single_seed_init():
    config = g.TrainConfig(loss="tb", steps=100, **SMALL)
    trainer = g.Trainer(config, n_seeds=3)
    stacked = jax.tree.leaves(eqx.filter(trainer.init(trainer.keys()), eqx.is_array))
    assert len(stacked) > 10
    for i, key in enumerate(trainer.keys()):
        single = jax.tree.leaves(eqx.filter(g.init_state(config, trainer.env, key), eqx.is_array))
        for a, b in zip(stacked, single):
            assert a.shape == (3, *b.shape) and a.dtype == b.dtype
            np.testing.assert_array_equal(a[i], b)
    assert any(not np.array_equal(leaf[0], leaf[1]) for leaf in stacked)  # the seeds differ
    # A vmapped init draws the same numbers, up to the rounding of its fused arithmetic.
    vmapped = eqx.filter_vmap(lambda key: g.init_state(config, trainer.env, key))(trainer.keys())
    for a, b in zip(stacked, jax.tree.leaves(eqx.filter(vmapped, eqx.is_array))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss", ["fm", "tb"])
def test_eight_row_buckets_train_to_the_same_numbers(loss):
    config = g.TrainConfig(loss=loss, steps=100, epsilon_start=0.5, **SMALL)
    one = g.Trainer(config, n_seeds=2).fit(progress=False).history  # the default
    eight = g.Trainer(config, n_seeds=2, row_buckets=8).fit(progress=False).history
    for key in ["exact_tv", "loss", "log_z"]:
        np.testing.assert_allclose(one[key], eight[key], rtol=1e-4, atol=1e-5)


def test_make_train_is_pure_and_vmappable():
    config = g.TrainConfig(loss="subtb", steps=100, **SMALL)
    train_fn = g.make_train(config)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    _, history = eqx.filter_jit(eqx.filter_vmap(train_fn))(keys)
    assert history.exact_tv.shape == (2, 2)
    with pytest.raises(ValueError, match="multiple of eval_every"):
        g.make_train(dataclasses.replace(config, steps=120))


def test_make_train_refuses_a_run_too_large_for_the_machine_before_any_work(monkeypatch):
    from gfn_teach import memory

    monkeypatch.setattr(memory, "machine_memory", lambda: 8 * 10**9)
    with pytest.raises(ValueError, match="the largest batch_size that fits is"):
        g.make_train(g.TrainConfig(**{**SMALL, "batch_size": 10**8}))


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("loss", "xx", "loss must be one of fm, db, tb, subtb, mdb, got 'xx'"),
        ("steps", 0, r"steps must be an integer in \[1, 2147483647\] \(the step counter is int32\), got 0"),
        ("batch_size", 2.5, "batch_size must be an integer >= 1"),
        ("side", 1, "side must be an integer >= 2"),
        ("lr", -1.0, "lr must be > 0"),
        ("epsilon_start", 1.5, r"epsilon_start must be in \[0, 1\]"),
        ("subtb_lambda", 0.0, "subtb_lambda must be > 0, got 0.0"),
        ("subtb_lambda", -0.5, "subtb_lambda must be > 0, got -0.5"),
        ("subtb_lambda", float("nan"), "subtb_lambda must be a number finite in float32, got nan"),
        ("reward", "medium", "reward must be one of easy, hard, original"),
        ("r0", 0.0, "R0 must be > 0"),
        ("policy", "cnn", "policy must be one of mlp, tabular"),
    ],
)
def test_bad_config_values_raise_clear_errors(field, value, match):
    with pytest.raises(ValueError, match=match):
        g.TrainConfig(**{field: value})


def test_tabular_policy_trains_on_a_tiny_grid():
    config = g.TrainConfig(
        loss="db", policy="tabular", steps=300, lr=0.1, exploration_steps=150, **SMALL
    )
    tv = g.train(config, progress=False).history["exact_tv"]
    assert tv[-1] < 0.5 * tv[0]


@pytest.mark.parametrize("lam", [1.5, 4.0, 100.0])
def test_subtb_lambda_above_one_is_accepted_and_trains_without_overflow(lam):
    # SubTB's lambda is any positive number (Madan et al., 2023); lambda**(j - i) would
    # overflow float32 on long trajectories, so the loss must stay finite.
    config = g.TrainConfig(loss="subtb", subtb_lambda=lam, steps=100, **SMALL)
    assert config.subtb_lambda == lam
    history = g.train(config, progress=False).history
    assert np.all(np.isfinite(history["loss"])) and np.all(np.isfinite(history["exact_tv"]))


def _rarely_stopping(policy, env):
    """The same policy with a stop logit lowered by 10: trajectories run towards the far edges."""
    bias = policy.mlp.layers[-1].bias
    return eqx.tree_at(lambda p: p.mlp.layers[-1].bias, policy, bias.at[env.stop_action].add(-10.0))


@pytest.mark.parametrize("lam", [0.3, 1.0, 3.0, 40.0])
def test_subtb_matches_its_definition_for_lambda_below_and_above_one(lam):
    env = g.Hypergrid(2, 24, "easy")  # up to 46 moves: 40**47 overflows float32
    policy = g.MLPPolicy(env, jax.random.PRNGKey(0), hidden=16, depth=1, learn_backward=True)
    long_runner = _rarely_stopping(policy, env)
    batches = [g.forward_rollout(jax.random.PRNGKey(1), env, policy, 8, epsilon=0.0),
               g.forward_rollout(jax.random.PRNGKey(2), env, long_runner, 8, epsilon=0.0)]
    assert int(np.sum(~np.asarray(batches[1].is_padding), axis=0).max()) > 30
    for p, batch in zip((policy, long_runner), batches):
        got = float(g.subtrajectory_balance(p, env, batch, lam=lam))
        assert np.isfinite(got)
        np.testing.assert_allclose(got, subtb_reference(g.trajectory_terms(p, env, batch), lam), rtol=2e-4)


@pytest.mark.optimized
def test_training_compiled_at_o2_on_cpu_gives_the_numbers_of_xla_defaults(monkeypatch):
    from gfn_teach import speedups

    on_cpu = jax.default_backend() == "cpu"
    assert speedups.compiler_options() == ({"xla_backend_optimization_level": 2} if on_cpu else {})
    short_run = {"xla_backend_optimization_level": 2, "xla_cpu_use_fusion_emitters": False}
    assert speedups.compiler_options(speedups.SHORT_RUN_STEPS) == (short_run if on_cpu else {})
    assert speedups.compiler_options(speedups.SHORT_RUN_STEPS + 1) == speedups.compiler_options()
    config = g.TrainConfig(loss="db", steps=100, epsilon_start=0.5, **SMALL)  # a short run
    faster = g.Trainer(config, n_seeds=2).fit(progress=False).history
    monkeypatch.setattr(trainer_module, "compiler_options", lambda steps=None: {})
    default = g.Trainer(config, n_seeds=2).fit(progress=False).history
    for key in ["exact_tv", "loss", "log_z"]:
        np.testing.assert_allclose(faster[key], default[key], rtol=1e-5, atol=1e-6)


def test_compiler_options_yield_to_jax_disable_most_optimizations():
    from gfn_teach.speedups import compiler_options

    before = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        assert compiler_options() == {}  # the user's quicker compilation is kept, not raised to -O2
    finally:
        jax.config.update("jax_disable_most_optimizations", before)



@pytest.mark.parametrize("start, end, steps", [(1.0, 0.0, 270), (0.2, 0.05, 77), (0.3, 0.3, 0), (0.7, 0.1, 1)])
def test_exploration_input_follows_optax_linear_schedule_exactly(start, end, steps):
    config = g.TrainConfig(epsilon_start=start, epsilon_end=end, exploration_steps=steps, **SMALL)
    hparams = g.Hyperparams.from_config(config)
    schedule = optax.linear_schedule(start, end, max(steps, 1))
    step = np.arange(steps + 5, dtype=np.int32)
    # Compiled as in training: the schedule's numbers an input, against optax's as constants.
    ours = jax.jit(lambda hparams, step: jax.vmap(lambda t: epsilon(hparams, t))(step))(hparams, step)
    np.testing.assert_array_equal(ours, jax.jit(jax.vmap(schedule))(step))
    np.testing.assert_allclose(ours, [schedule(t) for t in step], rtol=1e-6, atol=1e-7)  # and eagerly


def test_runs_that_differ_only_in_seed_steps_or_hyperparameters_compile_once():
    config = g.TrainConfig(loss="subtb", steps=100, exploration_steps=60, **SMALL)
    with compilations() as first:
        exploring = g.Trainer(config, n_seeds=2).fit(progress=False).history
    assert first.count("jit(run_chunk_on_seeds)") == 1
    changes = [dict(seed=3), dict(steps=150), dict(epsilon_start=0.0), dict(exploration_steps=7),
               dict(epsilon_start=0.5, epsilon_end=0.1), dict(lr=2e-3), dict(subtb_lambda=2.0)]  # lr_log_z: TB only
    runs = []
    with compilations() as later:
        for change in changes:
            runs.append(g.Trainer(dataclasses.replace(config, **change), n_seeds=2).fit(progress=False).history)
    assert later == []  # no program at all, the training chunk's included, was compiled again
    print(f"compilations of the training chunk: {first.count('jit(run_chunk_on_seeds)')} for the first "
          f"run, {later.count('jit(run_chunk_on_seeds)')} for {len(changes)} runs with other numbers")
    for change, history in zip(changes, runs):  # each ran its own numbers (more steps: the same first)
        assert np.array_equal(history["loss"][:2], exploring["loss"]) == ("steps" in change), change
    with compilations() as other_program:  # another batch size is another program
        g.Trainer(dataclasses.replace(config, batch_size=8), n_seeds=2).fit(progress=False)
    assert other_program.count("jit(run_chunk_on_seeds)") == 1


def test_a_reused_program_runs_each_runs_own_numbers():
    # Compiled for the first run, reused for the second: its numbers are the second run's.
    config = g.TrainConfig(loss="tb", steps=100, exploration_steps=60, **SMALL)
    greedy = dataclasses.replace(config, epsilon_start=0.0, seed=3, lr=2e-3)
    g.Trainer(config, n_seeds=2).fit(progress=False)
    shared = g.Trainer(greedy, n_seeds=2).fit(progress=False).history
    _, alone = eqx.filter_jit(eqx.filter_vmap(g.make_train(greedy)))(jax.random.split(jax.random.PRNGKey(3), 2))
    # One program against another (chunks against one whole run): float rounding.
    np.testing.assert_allclose(shared["exact_tv"], alone.exact_tv.T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(shared["log_z"], alone.log_z.T, rtol=1e-4, atol=1e-5)


def test_make_train_trains_a_custom_loss_fn():
    def scaled_tb(policy, env, traj, scale):  # a reader's loss, with its own hyperparameter
        return scale * g.trajectory_balance(policy, env, traj)

    config = g.TrainConfig(loss="tb", steps=100, **SMALL)
    key = jax.random.PRNGKey(5)
    train = eqx.filter_jit(g.make_train(config, loss_fn=scaled_tb))
    start = g.init_state(config, config.make_env(), key)
    state, history = train(key, g.Hyperparams.from_config(config, scale=1.0))
    _, builtin = eqx.filter_jit(g.make_train(config))(key)
    np.testing.assert_allclose(history.exact_tv, builtin.exact_tv, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.loss, builtin.loss, rtol=1e-5, atol=1e-6)
    frozen, history = train(key, g.Hyperparams.from_config(config, scale=0.0))
    np.testing.assert_array_equal(history.loss, 0.0)
    for a, b in zip(jax.tree.leaves(eqx.filter(start.policy, eqx.is_array)),
                    jax.tree.leaves(eqx.filter(frozen.policy, eqx.is_array))):
        # A zero loss moves nothing (the init inside the program rounds as its fusion does).
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=0)


def test_a_lambda_by_seed_sweep_is_one_vmapped_program():
    config = g.TrainConfig(loss="subtb", steps=100, **SMALL)
    lambdas = [0.3, 0.9, 2.0, 8.0]
    per_lambda = [g.Hyperparams.from_config(dataclasses.replace(config, subtb_lambda=lam)) for lam in lambdas]
    hparams = jax.tree.map(lambda *values: jnp.stack(values), *per_lambda)  # [4] each
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    over_seeds = eqx.filter_vmap(g.make_train(config), in_axes=(0, None))
    sweep = eqx.filter_jit(eqx.filter_vmap(over_seeds, in_axes=(None, 0)))
    with compilations() as compiled:
        _, history = sweep(keys, hparams)
    assert history.exact_tv.shape == (4, 4, 2)  # [lambda, seed, evaluation]
    assert len([name for name in compiled if "make_train" in name or "train" in name]) == 1, compiled
    _, alone = eqx.filter_jit(g.make_train(dataclasses.replace(config, subtb_lambda=2.0)))(keys[1])
    np.testing.assert_allclose(history.exact_tv[2, 1], alone.exact_tv, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(history.loss[2, 1], alone.loss, rtol=1e-4, atol=1e-5)
    assert not np.allclose(history.loss[0, 1], history.loss[3, 1])


def test_fit_refuses_a_state_of_another_environment_policy_or_seed_count():
    grid = g.Trainer(g.TrainConfig(side=4, hidden=8, steps=10, eval_every=10))
    others = [
        g.Trainer(g.TrainConfig(env="lego", hidden=8, steps=10, eval_every=10)),
        g.Trainer(g.TrainConfig(side=5, hidden=8, steps=10, eval_every=10)),
        g.Trainer(g.TrainConfig(side=4, hidden=8, steps=10, eval_every=10, policy="tabular")),
        g.Trainer(g.TrainConfig(side=4, hidden=8, steps=10, eval_every=10), n_seeds=2),
    ]
    for other in others:
        with pytest.raises(ValueError, match=r"^the state does not fit this Trainer \(Hypergrid\(dim=2, side=4\)"):
            grid.fit(state=other.init(other.keys()), progress=False)
    assert grid.fit(state=grid.init(grid.keys()), progress=False).history["step"][-1] == 10


QUICK_THEN_TRAIN = """
import os, sys
os.environ.pop("XLA_FLAGS", None)
os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "0"  # as a reader runs (the unit tests set 1)
import gfn_teach as g
if sys.argv[1] == "quick":
    assert g.compile_quickly()
    assert g.compile_quickly()  # again, before JAX starts: the flags are not repeated
    flags = os.environ["XLA_FLAGS"].split()
    assert all(flags.count(f) == 1 for f in g.speedups.QUICK_COMPILE_FLAGS), flags
import jax, numpy as np
from gfn_teach.speedups import compiler_options
config = g.TrainConfig(loss="tb", steps=60, eval_every=30, dim=2, side=6, hidden=32, depth=1, epsilon_start=0.5)
for run, short_run_steps in (("short", g.speedups.SHORT_RUN_STEPS), ("long", 0)):  # 0: every run is long
    g.speedups.SHORT_RUN_STEPS = short_run_steps
    print(f"{run}_options", sorted(compiler_options(config.steps).items()))
    history = g.Trainer(config).fit(progress=False).history
    print(f"{run}_history", [np.asarray(history[k]).tobytes().hex() for k in ("exact_tv", "loss", "log_z")])
before = os.environ["XLA_FLAGS"] if "XLA_FLAGS" in os.environ else None
assert g.compile_quickly() is False  # JAX has started: nothing changes
assert (os.environ["XLA_FLAGS"] if "XLA_FLAGS" in os.environ else None) == before
"""


def test_compile_quickly_leaves_training_programs_alone(in_fresh_interpreter):
    # Two fresh interpreters (XLA reads its flags once): with the quick flags, training keeps
    # its own options (named, so that the flags do not reach it) and gives the same bits, for a
    # short run (classic fusion emitters) and a long one (the newer emitters, despite the flags).
    def run(mode):
        printed = in_fresh_interpreter(QUICK_THEN_TRAIN.replace("sys.argv[1]", repr(mode)))
        return dict(line.split(" ", 1) for line in printed.splitlines())

    plain, quick = run("plain"), run("quick")
    short = "[('xla_backend_optimization_level', 2), ('xla_cpu_use_fusion_emitters', False)]"
    assert plain["short_options"] == quick["short_options"] == short
    assert plain["long_options"] == "[('xla_backend_optimization_level', 2)]"
    assert quick["long_options"] == "[('xla_backend_optimization_level', 2), ('xla_cpu_use_fusion_emitters', True)]"
    assert quick["short_history"] == plain["short_history"]
    assert quick["long_history"] == plain["long_history"]


def test_compile_quickly_is_a_no_op_once_jax_has_started(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    jax.numpy.zeros(1).block_until_ready()
    assert g.compile_quickly() is False
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_enable_fast_math=false"


@pytest.mark.parametrize("where, probe, answer", [
    ("a jaxlib too old for its flags", "jaxlib_version", (0, 6, 9)),
    ("an install with a GPU back end", "accelerator_plugins", ["xla_cuda12"]),
])
def test_compile_quickly_changes_nothing_with(where, probe, answer, monkeypatch):
    from gfn_teach import speedups

    monkeypatch.setattr(speedups, "jax_has_started", lambda: False)  # as if JAX had not started
    monkeypatch.setattr(speedups, probe, lambda: answer)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert g.compile_quickly() is False and "XLA_FLAGS" not in os.environ


def test_accelerator_plugins_finds_an_installed_plugin(tmp_path, monkeypatch):
    from gfn_teach import speedups

    assert "xla_fake_gpu" not in speedups.accelerator_plugins()
    plugin = tmp_path / "jax_plugins" / "xla_fake_gpu"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "xla_fake_gpu" in speedups.accelerator_plugins()
