"""Issue 13, "nothing silent": every case found, with its message and proof that nothing
was written or lost. The command line runs in-process (``gfn_teach.cli.main``), Ctrl-C
included (a real SIGINT sent to this process); only a few tests compile a training run."""

import dataclasses
import importlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach import checkpoint, memory
from gfn_teach.cli import main
from gfn_teach.sampling import sample_terminal_states

train = importlib.import_module("gfn_teach.trainer")  # the host driver (g.train is a function)
TINY = ["--dim", "2", "--side", "6", "--steps", "40", "--eval-every", "10", "--hidden", "16", "--depth", "1"]
TINY_CONFIG = g.TrainConfig(dim=2, side=6, steps=40, eval_every=10, hidden=16, depth=1)


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its bytes: equal snapshots mean nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def strict_json(path: Path):
    """Parse as other languages would: NaN and Infinity are not JSON."""
    return json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in {path}"))


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny finished run, trained once for the whole module; copy it before changing it."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", *TINY, "--no-progress", "--out", str(run)]) == 0
    return run


@pytest.fixture
def run_copy(trained_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ----- 1. no run lost -------------------------------------------------------------------------
def test_train_refuses_an_existing_run_without_overwrite(run_copy, capsys):
    before = snapshot(run_copy)
    assert main(["train", *TINY, "--no-progress", "--out", str(run_copy)]) == 2
    assert "already holds a run; pass --overwrite to replace it as a whole" in error_line(capsys)
    assert snapshot(run_copy) == before


def test_overwrite_replaces_the_whole_folder(run_copy):
    # What train --overwrite does once a dim-1 run (which has no marginal.png) is trained.
    assert (run_copy / "marginal.png").exists()  # the old dim-2 run
    checkpoint.check_run_folder(run_copy, overwrite=True)
    with checkpoint.new_run_folder(run_copy, overwrite=True) as folder:
        (folder / "metrics.json").write_text("{}")
    assert [p.name for p in run_copy.iterdir()] == ["metrics.json"]  # no stale file
    assert [p.name for p in run_copy.parent.iterdir()] == ["run"]  # no temporary left


def test_a_failed_write_keeps_the_old_run_and_leaves_no_folder(run_copy, tmp_path):
    before = snapshot(run_copy)
    with pytest.raises(OSError):
        with checkpoint.new_run_folder(run_copy, overwrite=True) as folder:
            (folder / "metrics.json").write_text("{}")
            raise OSError("disk full")
    assert snapshot(run_copy) == before
    with pytest.raises(KeyboardInterrupt):
        with checkpoint.new_run_folder(tmp_path / "new" / "run") as folder:
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_folder_of_other_files_is_never_replaced(in_tmp, overwrite, capsys):
    (in_tmp / "mine").mkdir()
    (in_tmp / "mine" / "notes.txt").write_text("precious")
    before = snapshot(in_tmp)
    assert main(["train", *TINY, "--out", "mine", *overwrite]) == 2
    assert "holds files that are not part of a run (notes.txt)" in error_line(capsys)
    assert snapshot(in_tmp) == before


@pytest.mark.parametrize("out,message", [("", "--out must name a folder for the run, got ''"),
                                         (".", "is the current folder or one above it"),
                                         ("..", "is the current folder or one above it")])
def test_out_cannot_be_empty_or_the_current_folder(in_tmp, out, message, capsys):
    (in_tmp / "keep.txt").write_text("x")
    before = snapshot(in_tmp.parent)
    assert main(["train", *TINY, "--out", out, "--overwrite"]) == 2
    assert message in error_line(capsys)
    assert snapshot(in_tmp.parent) == before


def test_a_diverged_run_writes_nothing_not_even_parent_folders(in_tmp, monkeypatch, capsys):
    raised = []
    fit = train.Trainer.fit

    def spy(self, *args, **kwargs):
        try:
            return fit(self, *args, **kwargs)
        except train.TrainingDiverged as error:
            raised.append(error)
            raise

    monkeypatch.setattr(train.Trainer, "fit", spy)
    assert main(["train", *TINY, "--no-progress", "--lr", "1e30", "--out", "new/deeper/run"]) == 1
    line = error_line(capsys)
    assert line.startswith("python -m gfn_teach train: error: training diverged at step ")
    assert "learning rate too large (lr=1e+30)" in line and "reward range too wide (R from 0.001 to 2.501)" in line
    assert line.endswith("nothing was written")
    assert list(in_tmp.iterdir()) == []
    # The Python API keeps the finite chunks before the divergence (here: none).
    partial = raised[0].result
    assert partial.interrupted and int(partial.state.step) < int(line.split("at step ")[1].split(":")[0])
    for leaf in jax.tree.leaves(eqx.filter(partial.state.policy, eqx.is_inexact_array)):
        assert bool(jnp.all(jnp.isfinite(leaf)))


# ----- 2. no NaN passed off as a result -------------------------------------------------------
@pytest.mark.parametrize(
    "flags,message",
    [
        (["--lr", "inf"], "lr must be a number finite in float32, got inf"),
        (["--lr", "1e-46"], "lr must be > 0 and finite in float32"),
        (["--loss", "tb", "--lr-log-z", "inf"], "lr_log_z must be a number finite in float32, got inf"),
        (["--loss", "subtb", "--subtb-lambda", "1e-46"], "subtb_lambda must be > 0, got 1e-46 (and at least 1.18e-38"),
        (["--r2", "1e39"], "r2 must be a number finite in float32 or null, got 1e+39"),
        (["--r1", "3e38", "--r2", "3e38"], "R0 + R1 + R2 = 6e+38 is not finite in float32"),
        (["--r0", "1e-35"], "R0 must be >= 1e-30"),
        (["--lr", "nan"], "lr must be a number finite in float32, got nan"),
        (["--lr", "-inf"], "lr must be a number finite in float32, got -inf"),  # issue 21: "expected one argument"
        (["--lr", "-1e-3"], "lr must be > 0 and finite in float32"),
        (["--epsilon-end", "-0.5"], "epsilon_end must be in [0, 1], got -0.5"),
    ],
)
def test_settings_not_finite_in_float32_are_refused_up_front(in_tmp, flags, message, capsys):
    assert main(["train", *TINY, *flags, "--out", "run"]) == 2
    assert message in error_line(capsys)
    assert list(in_tmp.iterdir()) == []


# ----- 3. sample never returns a state off the grid -------------------------------------------
def _rewrite_state(run: Path, state) -> None:
    """Write ``state`` into a run as a consistent checkpoint (checksum updated), bypassing
    save_checkpoint's checks: what an older version or another tool could leave behind."""
    eqx.tree_serialise_leaves(run / "state.eqx", state)
    record = json.loads((run / "run.json").read_text())
    record["state_sha256"] = checkpoint.sha256_of(run / "state.eqx")
    (run / "run.json").write_text(json.dumps(record))


def test_sample_refuses_a_checkpoint_with_nan_parameters(run_copy, in_tmp, capsys):
    state, config = checkpoint.load_checkpoint(run_copy)
    nan_state = jax.tree.map(lambda x: x * jnp.nan if eqx.is_inexact_array(x) else x, state)
    _rewrite_state(run_copy, nan_state)
    assert main(["sample", "--run", str(run_copy), "--n", "50", "--out", "s.npy"]) == 2
    assert "holds non-finite values (NaN or inf) in .policy" in error_line(capsys)
    assert not (in_tmp / "s.npy").exists()
    with pytest.raises(ValueError, match="not terminal states of the environment: its parameters are not finite"):
        sample_terminal_states(jax.random.PRNGKey(0), config.make_env(), nan_state.policy, 5000)
    with pytest.raises(ValueError, match="holds non-finite values"):
        checkpoint.save_checkpoint(in_tmp / "nan", nan_state, config)
    assert not (in_tmp / "nan").exists()


# ----- 4 and 5. skipped metrics are null, metrics.json is strict JSON -------------------------
def test_skipped_exact_evaluation_is_null_and_said(in_tmp, trained_run, monkeypatch, capsys):
    monkeypatch.setattr(train, "MAX_EXACT_STATES", 30)  # the 6 x 6 grid is now "too large"
    # One chunk (--eval-every >= --steps): no speed can be measured either (it was NaN).
    assert main(["train", *TINY, "--eval-every", "40", "--no-progress", "--out", "run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "exact evaluation skipped: 36 states > 30 (exact metrics will be null)"
    assert out[-1].startswith("exact evaluation skipped: 36 states > 30  log Z ")
    assert " n/a steps/s " in out[-1]
    metrics = strict_json(in_tmp / "run" / "metrics.json")
    for name in ("exact_tv", "exact_kl", "exact_kl_reverse", "exact_jsd", "steps_to_tv_0.05", "steps_per_second"):
        assert metrics[name] is None, name
    assert metrics["exact_evaluation_skipped"] == "36 states > 30"
    assert metrics["history"]["exact_kl"] == [None]  # was [0.0]
    assert not (in_tmp / "run" / "marginal.png").exists()
    exact = strict_json(trained_run / "metrics.json")  # the module's run: 4 chunks, exact
    assert exact["exact_evaluation_skipped"] is None and exact["steps_per_second"] > 0
    assert all(isinstance(v, float) for v in exact["history"]["exact_kl"])


# ----- 6. seeds -----------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["train", "sample"])
@pytest.mark.parametrize("seed", ["4294967296", "-1"])
def test_seeds_outside_32_bits_are_refused_alike(command, seed, trained_run, in_tmp, capsys):
    args = TINY + ["--out", "x"] if command == "train" else ["--run", str(trained_run), "--out", "x.npy"]
    assert main([command, *args, "--seed", seed]) == 2
    assert f"seed must be an integer in [0, 4294967295] (PRNG seeds are 32-bit), got {seed}" in error_line(capsys)
    assert list(in_tmp.iterdir()) == []


# ----- 7. sizes checked before any work -------------------------------------------------------
@pytest.mark.parametrize(
    "flags,message",
    [
        (["--side", "100000", "--dim", "4"], "the largest side that fits is"),
        (["--dim", "100000", "--side", "2"], "the largest dim that fits is"),  # 2**64 states now train
        (["--dim", "1", "--side", str(10**30)], "the largest side that fits is"),  # issue 21: blamed batch_size
        (["--batch-size", "100000000"], "the largest batch_size that fits is"),
        (["--hidden", "10000000", "--depth", "2"], "the largest hidden that fits is"),
        (["--steps", "100000000000"], "steps must be an integer in [1, 2147483647]"),
        (["--depth", "10000"], "depth must be an integer in [0, 256]"),
    ],
)
def test_runs_too_large_for_the_machine_are_refused_before_any_work(in_tmp, monkeypatch, flags, message, capsys):
    monkeypatch.setattr(memory, "machine_memory", lambda: 8 * 10**9)  # the same on every machine
    start = time.perf_counter()
    assert main(["train", *TINY, *flags, "--out", "run"]) == 2
    line = error_line(capsys)
    assert message in line
    assert "more than the 8 GB of this machine" in line or "must be an integer" in line
    assert time.perf_counter() - start < 5 and list(in_tmp.iterdir()) == []


def test_the_largest_value_named_really_fits(monkeypatch):
    monkeypatch.setattr(memory, "machine_memory", lambda: 8 * 10**9)
    sizes = dataclasses.asdict(dataclasses.replace(TINY_CONFIG, batch_size=10**8))
    with pytest.raises(ValueError, match=r"the largest batch_size that fits is (\d+)") as caught:
        memory.check_training_fits(sizes, train.MAX_EXACT_STATES)
    fit = int(caught.value.args[0].split("the largest batch_size that fits is ")[1].split()[0])
    memory.check_training_fits({**sizes, "batch_size": fit}, train.MAX_EXACT_STATES)
    with pytest.raises(ValueError):
        memory.check_training_fits({**sizes, "batch_size": fit + 1}, train.MAX_EXACT_STATES)


def test_terminal_distribution_refuses_a_grid_it_cannot_hold(monkeypatch):
    monkeypatch.setattr(memory, "machine_memory", lambda: 8 * 10**9)
    env = g.Hypergrid(6, 20)
    with pytest.raises(ValueError, match=r"Hypergrid\(dim=6, side=20\) \(6.4e\+07 states\) needs about .* GB"):
        g.terminal_distribution(g.TabularPolicy(g.Hypergrid(2, 2)), env)


# ----- 8. Ctrl-C ------------------------------------------------------------------------------
def _interrupt(monkeypatch, before: int, after: int, trainers: list):
    """Make every Trainer send this process ``before`` SIGINTs before its first chunk and
    ``after`` once it has finished; the trainers are appended to ``trainers``."""
    original_init = train.Trainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        run_chunk, trainers[:] = self.run_chunk, [*trainers, self]

        def run_chunk_then_interrupt(state, n):
            for _ in range(before):
                os.kill(os.getpid(), signal.SIGINT)
            out = run_chunk(state, n)
            for _ in range(after):
                os.kill(os.getpid(), signal.SIGINT)
            self.run_chunk = run_chunk  # once
            return out

        self.run_chunk = run_chunk_then_interrupt

    monkeypatch.setattr(train.Trainer, "__init__", init)


def test_ctrl_c_saves_the_completed_chunks_and_they_resume_exactly(in_tmp, trained_run, monkeypatch, capsys):
    trainers, handler = [], signal.getsignal(signal.SIGINT)
    _interrupt(monkeypatch, before=0, after=1, trainers=trainers)
    assert main(["train", *TINY, "--no-progress", "--out", "run"]) == 130
    captured = capsys.readouterr()
    assert captured.err.strip() == "Ctrl-C: stopping after the current chunk (press it again to abort)"
    assert captured.out.startswith("interrupted at step 10 of 40: exact TV ")
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    record = strict_json(in_tmp / "run" / "run.json")
    assert record["steps_done"] == 10 and record["complete"] is False
    metrics = strict_json(in_tmp / "run" / "metrics.json")
    assert metrics["interrupted"] is True and metrics["history"]["step"] == [10]
    state, config = checkpoint.load_checkpoint(in_tmp / "run")
    assert int(state.step) == 10
    # Resuming for the 30 remaining steps gives the uninterrupted run's numbers.
    resumed = trainers[0].fit(state, progress=False, steps=config.steps - int(state.step))
    whole = strict_json(trained_run / "metrics.json")["history"]["exact_tv"]
    np.testing.assert_array_equal(resumed.history["exact_tv"], np.float32(whole[1:]))


def test_a_second_ctrl_c_aborts_at_once_and_writes_nothing(in_tmp, monkeypatch, capsys):
    _interrupt(monkeypatch, before=2, after=0, trainers=[])
    assert main(["train", *TINY, "--no-progress", "--out", "run"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["Ctrl-C: stopping after the current chunk (press it again to abort)",
                   "python -m gfn_teach train: interrupted; nothing was written"]
    assert list(in_tmp.iterdir()) == []


# ----- 9. strict types at every door ----------------------------------------------------------
@pytest.mark.parametrize(
    "field,value,message",
    [
        ("learn_backward", "false", "learn_backward must be true or false (a bool), got 'false' (str)"),
        ("lr", "0.001", "lr must be a number finite in float32, got '0.001' (str)"),
        ("hidden", 16.0, "hidden must be an integer >= 1, got 16.0 (float)"),
        ("seed", None, "seed must be an integer in [0, 4294967295]"),
    ],
)
def test_config_json_with_a_wrong_type_names_field_and_file(run_copy, field, value, message, capsys):
    data = json.loads((run_copy / "config.json").read_text())
    data[field] = value
    (run_copy / "config.json").write_text(json.dumps(data))
    assert main(["sample", "--run", str(run_copy), "--n", "5", "--out", str(run_copy.parent / "s.npy")]) == 2
    line = error_line(capsys)
    assert f"{str(run_copy / 'config.json')!r}: {message}" in line
    assert not (run_copy.parent / "s.npy").exists()


def test_invalid_json_names_the_file(run_copy):
    (run_copy / "config.json").write_text('{"dim": 2,')
    with pytest.raises(ValueError, match=r"config.json': not valid JSON: Expecting"):
        checkpoint.load_config(run_copy)
    (run_copy / "config.json").write_text('{"dim": NaN}')
    with pytest.raises(ValueError, match="config.json': not valid JSON: NaN is not a valid JSON value"):
        checkpoint.load_config(run_copy)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(learn_backward="no"), "learn_backward must be true or false (a bool), got 'no'"),
        (dict(lr=True), "lr must be a number finite in float32, got True (bool)"),
        (dict(dim=True), "dim must be an integer >= 1, got True (bool)"),
        (dict(loss=3), "loss must be a string, got 3 (int)"),
    ],
)
def test_train_config_types_are_strict(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        g.TrainConfig(**kwargs)


def test_numpy_scalars_are_accepted_everywhere_as_python_values():
    config = g.TrainConfig(dim=np.int64(2), side=np.int32(6), lr=np.float32(0.5), learn_backward=np.bool_(False))
    assert type(config.dim) is int and type(config.lr) is float and config.learn_backward is False
    assert config == g.TrainConfig(dim=2, side=6, lr=0.5, learn_backward=False)
    assert g.TrainConfig.from_json(config.to_json()) == config
    assert g.Trainer(TINY_CONFIG, n_seeds=np.int64(2)).n_seeds == 2
    assert g.Hypergrid(np.int64(2), np.int64(6)).n_states == 36


# ----- 10. a checkpoint that disagrees with itself -------------------------------------------
def test_config_json_edited_after_saving(run_copy, capsys):
    data = json.loads((run_copy / "config.json").read_text())
    data["hidden"] = 32
    (run_copy / "config.json").write_text(json.dumps(data))
    assert main(["sample", "--run", str(run_copy), "--n", "5", "--out", str(run_copy.parent / "s.npy")]) == 2
    assert "config.json in" in (line := error_line(capsys))
    assert "was changed after the run was saved: hidden: saved 16, config.json 32" in line


def test_config_and_record_edited_together_still_do_not_fit_the_state(run_copy):
    for name in ("config.json", "run.json"):
        data = json.loads((run_copy / name).read_text())
        (data["config"] if name == "run.json" else data)["hidden"] = 32
        (run_copy / name).write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"state.eqx' does not match config.json: .policy.mlp.layers\[0\].weight "
                                         r"is float32\[16, 12\] in the file, config.json gives float32\[32, 12\]"):
        checkpoint.load_checkpoint(run_copy)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_state_fails_its_checksum(run_copy, damage):
    data = bytearray((run_copy / "state.eqx").read_bytes())
    data = data[: len(data) // 2] if damage == "truncate" else data[:-50] + bytes([data[-50] ^ 1]) + data[-49:]
    (run_copy / "state.eqx").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"state.eqx in '.*' fails its checksum .*changed or corrupted"):
        checkpoint.load_checkpoint(run_copy)


def test_a_truncated_state_with_a_matching_checksum_is_one_clear_error(run_copy):
    data = (run_copy / "state.eqx").read_bytes()
    (run_copy / "state.eqx").write_bytes(data[: len(data) // 2])
    record = json.loads((run_copy / "run.json").read_text())
    record["state_sha256"] = checkpoint.sha256_of(run_copy / "state.eqx")
    (run_copy / "run.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"state.eqx' cannot be read at \.") as caught:
        checkpoint.load_checkpoint(run_copy)
    assert "\n" not in str(caught.value)


def test_no_pickle_ever(run_copy, monkeypatch):
    # A state.eqx whose first record is a pickled object array, with a valid checksum.
    with open(run_copy / "state.eqx", "wb") as f:
        np.save(f, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    record = json.loads((run_copy / "run.json").read_text())
    record["state_sha256"] = checkpoint.sha256_of(run_copy / "state.eqx")
    (run_copy / "run.json").write_text(json.dumps(record))

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    with pytest.raises(ValueError, match="Object arrays cannot be loaded when allow_pickle=False"):
        checkpoint.load_checkpoint(run_copy)


def test_a_run_without_its_record_is_refused(run_copy):
    (run_copy / "run.json").unlink()
    with pytest.raises(ValueError, match=r"no run.json in '.*': not a complete gfn_teach run"):
        checkpoint.load_checkpoint(run_copy)


# ----- 11. rollouts, trainers and checkpoints check their inputs ------------------------------
@pytest.mark.parametrize("epsilon", [2.0, -0.5, float("nan"), True])
def test_forward_rollout_refuses_a_bad_epsilon(small_env, epsilon):
    with pytest.raises(ValueError, match=r"epsilon must be a number in \[0, 1\]"):
        g.forward_rollout(jax.random.PRNGKey(0), small_env, g.TabularPolicy(small_env), 4, epsilon)


def test_trainer_refuses_an_env_of_another_shape():
    with pytest.raises(ValueError, match=r"env is Hypergrid\(dim=3, side=6\) but the config has dim=2, side=6"):
        g.Trainer(TINY_CONFIG, env=g.Hypergrid(3, 6))


def test_save_checkpoint_refuses_a_state_that_does_not_match_its_config(tmp_path):
    # Shapes are checked before values, so shape-only states (no weights computed) suffice.
    wider = checkpoint.state_like(dataclasses.replace(TINY_CONFIG, hidden=32))
    with pytest.raises(ValueError, match=r"does not match the config: .policy.mlp.layers\[0\].weight is float32\[32, 12\]"):
        checkpoint.save_checkpoint(tmp_path / "a", wider, TINY_CONFIG)
    add_seed_axis = lambda x: jax.ShapeDtypeStruct((2, *x.shape), x.dtype) if isinstance(x, jax.ShapeDtypeStruct) else x
    seeds = jax.tree.map(add_seed_axis, checkpoint.state_like(TINY_CONFIG))
    with pytest.raises(ValueError, match="must be saved one seed at a time"):
        checkpoint.save_checkpoint(tmp_path / "b", seeds, TINY_CONFIG)
    assert list(tmp_path.iterdir()) == []


# ----- 12. KL is exact except where q = 0 -----------------------------------------------------
def test_kl_floors_q_only_where_it_is_zero():
    p = jnp.array([0.5, 0.5])
    exact = 0.5 * np.log(0.5) + 0.5 * np.log(0.5 / 1e-35)
    np.testing.assert_allclose(g.kl_divergence(p, jnp.array([1.0, 1e-35])), exact, rtol=1e-5)  # was 33.85
    np.testing.assert_allclose(g.kl_divergence(p, jnp.array([1.0, 0.0])), 0.5 * np.log(0.5) + 0.5 * np.log(0.5 / 1e-30), rtol=1e-5)


# ----- 13. sample: progress, bounded memory, output checked first -----------------------------
@pytest.mark.parametrize(
    "out,flags,message",
    [
        ("folder.npy", [], "--out 'folder.npy' is a folder; name a .npy file"),
        ("a_file/s.npy", [], "--out folder 'a_file' does not exist or is not a folder"),
        ("exists.npy", [], "--out 'exists.npy' exists; pass --overwrite to replace it"),
        ("s.npy", ["--n", "1000000000000000"], "--n 1000000000000000 needs about 8 PB on disk"),
    ],
)
def test_sample_checks_its_output_before_any_work(trained_run, in_tmp, out, flags, message, monkeypatch, capsys):
    (in_tmp / "folder.npy").mkdir()
    (in_tmp / "a_file").write_text("x")
    (in_tmp / "exists.npy").write_text("keep")
    before = snapshot(in_tmp)
    monkeypatch.setattr(checkpoint, "load_checkpoint", lambda *a: pytest.fail("loaded before checking --out"))
    assert main(["sample", "--run", str(trained_run), "--out", out, *flags]) == 2
    assert message in error_line(capsys)
    assert snapshot(in_tmp) == before


def test_sample_writes_in_batches_with_a_progress_bar(trained_run, in_tmp, capsys):
    assert main(["sample", "--run", str(trained_run), "--n", "5000", "--out", "s.npy", "--seed", "3"]) == 0
    assert "5000/5000" in capsys.readouterr().err  # the progress bar
    samples = np.load(in_tmp / "s.npy")
    state, config = checkpoint.load_checkpoint(trained_run)
    direct = sample_terminal_states(jax.random.PRNGKey(3), config.make_env(), state.policy, 5000)
    np.testing.assert_array_equal(samples, direct)  # same numbers as one array in memory
    assert samples.dtype == np.int32 and samples.min() >= 0 and samples.max() <= 5
    assert sorted(p.name for p in in_tmp.iterdir()) == ["s.npy"]  # no temporary left


# ----- Issue 21: a run folder is recognised by its run.json and checksum, never by names --------
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_overwrite_keeps_a_folder_named_like_a_run_file(in_tmp, overwrite, capsys):
    (in_tmp / "trap" / "config.json").mkdir(parents=True)
    (in_tmp / "trap" / "config.json" / "thesis.tex").write_text("precious")
    before = snapshot(in_tmp)
    assert main(["train", *TINY, "--out", "trap", *overwrite]) == 2
    assert "'trap' holds files that are not part of a run (config.json); it is never replaced" in error_line(capsys)
    assert snapshot(in_tmp) == before


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_another_tools_metrics_json_is_not_a_run(in_tmp, overwrite, capsys):
    (in_tmp / "theirs").mkdir()
    (in_tmp / "theirs" / "metrics.json").write_text('{"accuracy": 0.9}')
    before = snapshot(in_tmp)
    assert main(["train", *TINY, "--out", "theirs", *overwrite]) == 2
    assert "'theirs' holds no valid run.json, so it is not a gfn_teach run; it is never replaced" in error_line(capsys)
    assert snapshot(in_tmp) == before


def test_a_run_whose_state_fails_its_checksum_is_not_replaced(run_copy, capsys):
    (run_copy / "state.eqx").write_bytes(b"someone else's bytes")
    before = snapshot(run_copy)
    with pytest.raises(ValueError, match="holds a state.eqx that does not match its run.json"):
        checkpoint.check_run_folder(run_copy, overwrite=True)
    assert snapshot(run_copy) == before


def test_a_symbolic_link_as_out_is_refused_before_training(in_tmp, capsys):
    (in_tmp / "dangling").symlink_to(in_tmp / "nowhere")
    assert main(["train", *TINY, "--out", "dangling"]) == 2
    assert "--out 'dangling' is a symbolic link (to " in error_line(capsys)
    assert sorted(p.name for p in in_tmp.iterdir()) == ["dangling"]


# ----- Issue 21: a signal while the finished run is written never loses it ---------------------
@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_saving_keeps_the_finished_run(in_tmp, monkeypatch, signum, code, capsys):
    save = checkpoint.save_checkpoint

    def save_then_signal(folder, *args):
        path = save(folder, *args)
        assert (folder / "state.eqx").is_file()  # the temporary run folder holds the state
        os.kill(os.getpid(), signum)
        return path

    monkeypatch.setattr(checkpoint, "save_checkpoint", save_then_signal)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(["train", *TINY, "--no-progress", "--out", "run"]) == code
    captured = capsys.readouterr()
    name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert captured.err.strip().splitlines()[0].startswith(f"{name}: stopping once the run is written")
    assert "Exception ignored" not in captured.err and captured.out.rstrip().endswith("-> run")
    record = strict_json(in_tmp / "run" / "run.json")
    assert record["steps_done"] == 40 and record["complete"] is True
    checkpoint.load_checkpoint(in_tmp / "run")
    assert sorted(p.name for p in in_tmp.iterdir()) == ["run"]  # no .partial folder left
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers  # restored


def test_sigterm_during_sample_leaves_no_partial_file(trained_run, in_tmp, monkeypatch, capsys):
    from gfn_teach import sampling

    sample = sampling.sample_terminal_states

    def sample_then_terminate(*args, out, **kwargs):
        sample(*args, out=out, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(sampling, "sample_terminal_states", sample_then_terminate)
    assert main(["sample", "--run", str(trained_run), "--n", "50", "--out", "s.npy", "--no-progress"]) == 143
    assert error_line(capsys) == "python -m gfn_teach sample: terminated (SIGTERM); no samples were written"
    assert list(in_tmp.iterdir()) == []


# ----- Issue 21: what was interrupted or replaced is said ---------------------------------------
def test_sample_says_when_the_run_was_interrupted(trained_run, in_tmp, capsys):
    state, config = checkpoint.load_checkpoint(trained_run)
    checkpoint.save_checkpoint(in_tmp / "stopped", eqx.tree_at(lambda s: s.step, state, jnp.int32(10)), config)
    assert main(["sample", "--run", "stopped", "--n", "20", "--out", "s.npy", "--no-progress"]) == 0
    assert error_line(capsys) == ("note: the run in 'stopped' was interrupted at step 10 of 40 (not complete); "
                                  "sampling its policy as it was then")
    assert main(["sample", "--run", str(trained_run), "--n", "20", "--out", "t.npy", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_overwrite_says_what_it_replaced(run_copy, monkeypatch, capsys):
    _interrupt(monkeypatch, before=0, after=1, trainers=[])
    assert main(["train", *TINY, "--no-progress", "--out", str(run_copy), "--overwrite"]) == 130
    out = capsys.readouterr().out.strip()
    assert out.startswith("interrupted at step 10 of 40: ")
    assert out.endswith(f"-> {run_copy} (replaced a run of 40 of 40 steps)")


# ----- Issue 21: a flag the chosen loss does not use is refused --------------------------------
@pytest.mark.parametrize("flags,message", [
    (["--loss", "db", "--subtb-lambda", "0.5"], "--subtb-lambda does not apply to --loss db (only to --loss subtb)"),
    (["--loss", "fm", "--lr-log-z", "0.01"], "--lr-log-z does not apply to --loss fm (only to --loss tb)"),
    (["--subtb-lambda", "0.9"], "--subtb-lambda does not apply to --loss db (only to --loss subtb)"),
])
def test_a_flag_of_another_loss_is_refused(in_tmp, flags, message, capsys):
    assert main(["train", *TINY, *flags, "--out", "run"]) == 2
    assert message in error_line(capsys)
    assert list(in_tmp.iterdir()) == []


def test_the_config_refuses_a_setting_of_another_loss():
    with pytest.raises(ValueError, match=r"subtb_lambda applies to loss 'subtb' only, not to loss 'tb'; leave it at its default \(0.9\)"):
        g.TrainConfig(loss="tb", subtb_lambda=0.5)
    with pytest.raises(ValueError, match=r"lr_log_z applies to loss 'tb' only, not to loss 'subtb'"):
        g.TrainConfig(loss="subtb", lr_log_z=0.5)
    assert g.TrainConfig(loss="subtb", subtb_lambda=0.5).subtb_lambda == 0.5


def test_a_platform_jax_cannot_start_is_one_line(in_tmp, monkeypatch, capsys):
    # Issue 21, item 16: JAX_PLATFORMS=cuda without a GPU gave a 27-line bare AssertionError.
    def no_device():
        raise AssertionError

    monkeypatch.setenv("JAX_PLATFORMS", "cuda")
    monkeypatch.setattr(jax, "devices", no_device)
    assert main(["train", *TINY, "--out", "run"]) == 2
    assert error_line(capsys) == (
        "python -m gfn_teach train: error: JAX cannot start a device for JAX_PLATFORMS='cuda' (AssertionError); "
        "unset JAX_PLATFORMS, or install the jax plugin for that platform on a machine that has it")
    assert list(in_tmp.iterdir()) == []


# ----- Issue 21: a full disk is one line, checked before training where it can be ---------------
def test_train_checks_disk_space_before_any_work(in_tmp, monkeypatch, capsys):
    monkeypatch.setattr(checkpoint, "free_bytes", lambda path: 1000)
    monkeypatch.setattr(train.Trainer, "__init__", lambda *a, **k: pytest.fail("trained without room to save"))
    assert main(["train", *TINY, "--out", "run"]) == 2
    assert "--out 'run': the run needs about 2.01 MB on disk, more than the 1 kB free in" in error_line(capsys)
    assert list(in_tmp.iterdir()) == []


def test_a_write_that_fails_for_want_of_space_is_one_line_and_leaves_nothing(in_tmp, capsys):
    import resource

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, limit[1]))  # like `ulimit -f`: files stop at 1 kB
    try:
        code = main(["train", *TINY, "--no-progress", "--out", "run"])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    assert code == 1
    assert error_line(capsys) == ("python -m gfn_teach train: error: OSError: [Errno 27] File too large while "
                                  "writing state.eqx; nothing was written")
    assert list(in_tmp.iterdir()) == []


def test_an_error_wrapped_around_an_os_error_is_that_os_error(tmp_path):
    def write(f):
        try:
            raise OSError(28, "No space left on device")
        except OSError as error:
            raise RuntimeError("Error at leaf with path ...") from error  # what Equinox raises

    with pytest.raises(OSError, match=r"^\[Errno 28\] No space left on device while writing state.eqx$"):
        checkpoint._atomic_write(tmp_path / "state.eqx", write)
    assert list(tmp_path.iterdir()) == []


def test_sample_reserves_its_disk_space_and_a_full_disk_is_one_line(trained_run, in_tmp, monkeypatch, capsys):
    # Issue 21, item 10: the output is a memory map, and a full disk killed the process with SIGBUS.
    reserved = []

    def full_disk(fd, offset, length):
        reserved.append(length)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full_disk)
    assert main(["sample", "--run", str(trained_run), "--n", "5000", "--out", "s.npy", "--no-progress"]) == 1
    assert error_line(capsys) == ("python -m gfn_teach sample: error: OSError: [Errno 28] No space left on device "
                                  "(--out 's.npy' needs 40.1 kB); no samples were written")
    assert reserved == [40128] and list(in_tmp.iterdir()) == []


def test_jax_enable_x64_samples_a_float32_run_as_float32(trained_run, in_tmp):
    # Issue 21, item 17: with JAX_ENABLE_X64=1 the run's float32 arrays were refused as "not float64".
    import subprocess
    import sys

    env = {**os.environ, "JAX_ENABLE_X64": "1"}
    proc = subprocess.run([sys.executable, "-m", "gfn_teach", "sample", "--run", str(trained_run), "--n", "200",
                           "--out", "x64.npy", "--no-progress"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert main(["sample", "--run", str(trained_run), "--n", "200", "--out", "x32.npy", "--no-progress"]) == 0
    np.testing.assert_array_equal(np.load(in_tmp / "x64.npy"), np.load(in_tmp / "x32.npy"))


def test_sigterm_during_training_writes_nothing_and_restores_the_handlers(in_tmp, monkeypatch, capsys):
    run_chunk = train.Trainer.run_chunk

    def terminated(self, state, n):
        os.kill(os.getpid(), signal.SIGTERM)
        return run_chunk(self, state, n)

    monkeypatch.setattr(train.Trainer, "run_chunk", terminated)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(["train", *TINY, "--no-progress", "--out", "deeper/run"]) == 143
    assert error_line(capsys) == "python -m gfn_teach train: terminated (SIGTERM); nothing was written"
    assert list(in_tmp.iterdir()) == []
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


# A hook that holds the import of JAX until the test has sent its signal, so the test does not
# depend on how fast this machine imports JAX (a fast machine once finished `--help` first).
SLOW_JAX_IMPORT = """
import os, sys, time

class HoldJax:
    def find_spec(self, name, path=None, target=None):
        if name == "jax":
            open(os.environ["JAX_IMPORT_STARTED"], "w").close()
            time.sleep(60)
        return None

sys.meta_path.insert(0, HoldJax())
"""


def test_ctrl_c_while_starting_is_one_line(tmp_path):
    """SIGINT while `python -m gfn_teach` still imports JAX: one line and status 130 (issue 21, item 14)."""
    (tmp_path / "sitecustomize.py").write_text(SLOW_JAX_IMPORT)
    started = tmp_path / "jax-import-started"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "JAX_IMPORT_STARTED": str(started)}
    # As from a terminal, SIGINT starts at its default in `python -m gfn_teach`, whatever this
    # process does with it (an ignored SIGINT would be inherited through exec): a small Python
    # resets it, then execs the command (no preexec_fn, which forks this multithreaded process).
    command = [sys.executable, "-m", "gfn_teach", "train", "--help"]
    reset_then_exec = f"import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv({sys.executable!r}, {command!r})"
    process = subprocess.Popen([sys.executable, "-c", reset_then_exec], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not started.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert started.exists(), "the package never started importing JAX"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err == "python -m gfn_teach: interrupted while starting; nothing was done\n"


def test_a_library_import_keeps_pythons_keyboard_interrupt():
    import gfn_teach._startup as startup

    before = signal.getsignal(signal.SIGINT)
    with startup.quiet_interrupt_while_importing():  # not run as `python -m`: nothing changes
        assert signal.getsignal(signal.SIGINT) is before
