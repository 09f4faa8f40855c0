"""The command line end to end on a tiny budget, and its error messages."""

import json
import subprocess
import sys

import numpy as np
import pytest

from gfn_teach.cli import main

TINY = ["--dim", "2", "--side", "6", "--hidden", "16", "--depth", "1", "--steps", "60", "--eval-every", "30"]


def test_train_then_sample(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--loss", "tb", "--out", str(run), "--no-progress"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("exact_tv", "exact_kl", "log_z_true", "log_z", "steps_per_second", "compile_seconds", "history"):
        assert key in metrics
    assert len(metrics["history"]["exact_tv"]) == 2
    assert metrics["row_buckets"] == 1  # a short run: the loss on every row, compiled once
    assert (run / "marginal.png").stat().st_size > 1000
    assert (run / "state.eqx").is_file() and (run / "config.json").is_file()
    out = tmp_path / "s.npy"
    assert main(["sample", "--run", str(run), "--n", "500", "--out", str(out)]) == 0
    samples = np.load(out)
    assert samples.shape == (500, 2) and samples.dtype == np.int32
    assert samples.min() >= 0 and samples.max() <= 5


def test_row_buckets_only_for_long_runs_of_wide_networks():
    from gfn_teach import TrainConfig
    from gfn_teach.cli import MIDDLING_RUN_STEPS, ROW_BUCKETS_MIN_HIDDEN, TWO_BUCKETS_MIN_HIDDEN, row_buckets_for
    from gfn_teach.speedups import SHORT_RUN_STEPS
    from gfn_teach.trainer import ROW_BUCKETS

    assert ROW_BUCKETS > 2 and MIDDLING_RUN_STEPS < SHORT_RUN_STEPS
    assert ROW_BUCKETS_MIN_HIDDEN < TWO_BUCKETS_MIN_HIDDEN
    wide, narrow = ROW_BUCKETS_MIN_HIDDEN, ROW_BUCKETS_MIN_HIDDEN - 1
    buckets = lambda steps, hidden: row_buckets_for(TrainConfig(steps=steps, hidden=hidden))
    assert [buckets(steps, wide) for steps in (1, 1000, SHORT_RUN_STEPS)] == [1, 1, 1]
    assert [buckets(steps, wide) for steps in (SHORT_RUN_STEPS + 1, 10_000)] == [ROW_BUCKETS] * 2
    assert buckets(10_000, 256) == ROW_BUCKETS and buckets(10_000, narrow) == 1
    # Middling runs of the widest networks: 2 buckets, from just past MIDDLING_RUN_STEPS.
    widest = TWO_BUCKETS_MIN_HIDDEN
    assert [buckets(steps, widest) for steps in (1, MIDDLING_RUN_STEPS)] == [1, 1]
    assert [buckets(steps, widest) for steps in (MIDDLING_RUN_STEPS + 1, SHORT_RUN_STEPS)] == [2, 2]
    assert buckets(SHORT_RUN_STEPS + 1, widest) == ROW_BUCKETS
    assert buckets(SHORT_RUN_STEPS, widest - 1) == 1


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--steps", "abc", "--out", "x"], "argument --steps: invalid int value: 'abc'"),
        (["train", "--loss", "xx", "--out", "x"], "loss must be one of fm, db, tb, subtb, mdb, got 'xx'"),
        (["train", "--batch-size", "0", "--out", "x"], "batch_size must be an integer >= 1, got 0"),
        (["train", "--r0", "0", "--out", "x"], "R0 must be > 0"),
        (["sample", "--run", "/nonexistent", "--out", "s.npy"], "not a gfn_teach run directory"),
    ],
)
def test_bad_values_exit_nonzero_with_one_line(argv, message, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "gfn_teach", *argv], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]
    assert not (tmp_path / "x").exists()  # nothing was started


def test_help_documents_every_flag():
    proc = subprocess.run([sys.executable, "-m", "gfn_teach", "train", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    import dataclasses

    from gfn_teach import TrainConfig

    for f in dataclasses.fields(TrainConfig):
        assert "--" + f.name.replace("_", "-") in proc.stdout
    assert "--out" in proc.stdout
