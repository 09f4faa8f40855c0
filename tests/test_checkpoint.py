"""Checkpoints round-trip exactly and refuse a mismatched config."""

import dataclasses

import equinox as eqx
import jax
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_is_exact_and_training_continues_identically(tmp_path):
    config = g.TrainConfig(dim=2, side=5, hidden=16, depth=1, steps=40, eval_every=20, loss="tb")
    trainer = g.Trainer(config)
    state, _ = trainer.run_chunk(trainer.init(trainer.keys()), 20)
    save_checkpoint(tmp_path, state, config)
    loaded, loaded_config = load_checkpoint(tmp_path, config)
    assert loaded_config == config
    for a, b in zip(jax.tree.leaves(eqx.filter(state, eqx.is_array)), jax.tree.leaves(eqx.filter(loaded, eqx.is_array))):
        np.testing.assert_array_equal(a, b)
    after_original, rec_a = trainer.run_chunk(state, 20)
    after_loaded, rec_b = trainer.run_chunk(loaded, 20)
    np.testing.assert_array_equal(rec_a.exact_tv, rec_b.exact_tv)
    assert not any(p.suffix == ".tmp" for p in tmp_path.iterdir())


def test_mismatched_config_raises_naming_the_fields(tmp_path):
    config = g.TrainConfig(dim=2, side=5, hidden=16, depth=1, steps=20, eval_every=20)
    trainer = g.Trainer(config)
    save_checkpoint(tmp_path, trainer.init(trainer.keys()), config)
    other = dataclasses.replace(config, hidden=32, lr=0.01)
    with pytest.raises(ValueError, match=r"hidden: saved 16, given 32; lr: saved 0.001, given 0.01"):
        load_checkpoint(tmp_path, other)
    with pytest.raises(ValueError, match="not a gfn_teach run directory"):
        load_checkpoint(tmp_path / "missing")


@pytest.mark.parametrize(
    "config",
    [g.TrainConfig(dim=2, side=4, steps=10, eval_every=5, policy="tabular"),
     g.TrainConfig(env="lego", steps=10, eval_every=5, policy="tabular")],
    ids=["hypergrid", "lego"],
)
def test_tabular_runs_save_load_and_sample(tmp_path, config):
    # Issue 21, item 1: state_like traced TabularPolicy's place values and could not save.
    from gfn_teach.cli import main

    trainer = g.Trainer(config)
    state = trainer.init(trainer.keys())
    save_checkpoint(tmp_path / "run", state, config)
    loaded, _ = load_checkpoint(tmp_path / "run", config)
    np.testing.assert_array_equal(loaded.policy.table, state.policy.table)
    out = tmp_path / "s.npy"
    assert main(["sample", "--run", str(tmp_path / "run"), "--n", "20", "--out", str(out), "--no-progress"]) == 0
    assert np.load(out).shape == (20, config.make_env().state_size)
