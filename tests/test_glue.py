"""gfn_teach.glue (gfn_teach.prose) sends exactly what myst-nb's own glue sends, so the book's build reads it."""

import jax.numpy as jnp
import numpy as np
import pytest
from myst_nb.ext import glue as myst_glue

import gfn_teach.prose as our_glue


def recorded(monkeypatch, module, attribute):
    calls = []
    monkeypatch.setattr(module, attribute, lambda *args, **kwargs: calls.append((args, kwargs)))
    return calls


@pytest.mark.parametrize("value", [0.1234, 7, "four modes"])
def test_same_message_as_myst_nb(monkeypatch, value):
    ours = recorded(monkeypatch, our_glue, "display")
    theirs = recorded(monkeypatch, myst_glue, "ipy_display")
    assert our_glue.glue("x", value) == value
    myst_glue.glue("x", value, display=False)
    assert ours == theirs and len(ours) == 1


@pytest.mark.parametrize("value", [np.float32(0.25), jnp.asarray(0.25), np.int64(3)])
def test_array_scalars_are_glued_as_python_numbers(monkeypatch, value):
    calls = recorded(monkeypatch, our_glue, "display")
    glued = our_glue.glue("x", value)
    assert type(glued) in (float, int) and glued == value
    (args, _), = calls
    assert args[0]["application/papermill.record/text/plain"] == repr(glued)
