"""g.fit_together trains several Trainers side by side, each on a device of its own, to the
numbers each gives alone; it refuses what is not a Trainer and reports a diverged run."""

import contextlib
import sys
import threading

import pytest

import gfn_teach as g

SMALL = dict(dim=2, side=6, hidden=32, depth=1, batch_size=16, eval_every=50, steps=100)

SIDE_BY_SIDE_ON_TWO_DEVICES = """
import gfn_teach as g
assert g.use_every_cpu_core()
import jax, numpy as np
jax.config.update("jax_num_cpu_devices", 2)  # exactly two, whatever the core count
SMALL = %r
configs = {"tb": g.TrainConfig(loss="tb", **SMALL), "db": g.TrainConfig(loss="db", **SMALL),
           "subtb": g.TrainConfig(loss="subtb", **SMALL), "fm": g.TrainConfig(loss="fm", **SMALL)}
seeds = {"tb": None, "db": None, "subtb": 2, "fm": 3}  # fm: 3 seeds, not split over 2 devices
make = lambda: {name: g.Trainer(config, n_seeds=seeds[name]) for name, config in configs.items()}
together = g.fit_together(make(), progress=False)
alone = {name: trainer.fit(progress=False) for name, trainer in make().items()}
assert list(together) == list(configs)
for name in configs:
    assert together[name].history.keys() == alone[name].history.keys()
    for key, value in alone[name].history.items():
        np.testing.assert_array_equal(together[name].history[key], value, err_msg=f"{name} {key}")
    assert not together[name].interrupted
devices = [together[name].state.step.sharding.device_set for name in ["tb", "db", "subtb"]]
assert devices[0] != devices[1], devices  # the single-seed runs each had a device of their own
assert len(devices[2]) == 2  # the split seeds stayed split
listed = g.fit_together([g.Trainer(configs["tb"])], progress=False)
np.testing.assert_array_equal(listed[0].history["exact_tv"], alone["tb"].history["exact_tv"])
print("together ok")
""" % (SMALL,)


def test_side_by_side_runs_give_each_runs_own_numbers_on_devices_of_their_own(in_fresh_interpreter):
    # A fresh interpreter: the number of CPU devices is fixed once JAX has started.
    assert "together ok" in in_fresh_interpreter(SIDE_BY_SIDE_ON_TWO_DEVICES)


@pytest.mark.parametrize("trainers,message", [
    ([], "fit_together needs at least one Trainer, got none"),
    ({}, "fit_together needs at least one Trainer, got none"),
    ([g.TrainConfig()], "fit_together takes Trainers, got TrainConfig"),
])
def test_anything_but_trainers_is_refused_before_any_work(trainers, message):
    with pytest.raises(ValueError, match=message):
        g.fit_together(trainers)


def test_a_diverged_run_raises_training_diverged():
    fine = g.Trainer(g.TrainConfig(loss="tb", **SMALL))
    diverging = g.Trainer(g.TrainConfig(loss="tb", lr=1e30, **SMALL))
    with pytest.raises(g.TrainingDiverged, match="training diverged at step"):
        g.fit_together({"fine": fine, "diverging": diverging}, progress=False)


def test_ctrl_c_stops_every_run_after_its_current_chunk(monkeypatch):
    @contextlib.contextmanager
    def pressed_at_once():  # as if Ctrl-C came during the first chunk
        event = threading.Event()
        event.set()
        yield event

    monkeypatch.setattr(sys.modules["gfn_teach.trainer"], "stop_on_interrupt", pressed_at_once)
    trainers = [g.Trainer(g.TrainConfig(loss=loss, **SMALL)) for loss in ["tb", "db"]]
    results = g.fit_together(trainers, progress=False)
    assert [r.interrupted for r in results] == [True, True]
    assert [len(r.history["step"]) for r in results] == [1, 1]  # one chunk of two each
