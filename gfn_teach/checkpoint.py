"""Saving and loading a training run without pickle.

A run directory holds ``config.json`` (the :class:`TrainConfig`) and ``state.eqx`` (every
array of the :class:`TrainState`, written by ``equinox.tree_serialise_leaves``). Loading
rebuilds a fresh state from the config and fills it in, so the arrays' shapes are checked.
Files are written to a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import equinox as eqx

from .config import TrainConfig
from .train import Trainer, TrainState

CONFIG_FILE = "config.json"
STATE_FILE = "state.eqx"


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def ensure_writable(directory: str | os.PathLike) -> Path:
    """Create ``directory`` if needed and check that files can be written in it."""
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output path {str(path)!r} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK):
        raise ValueError(f"output directory {str(path)!r} is not writable")
    return path


def save_checkpoint(directory: str | os.PathLike, state: TrainState, config: TrainConfig) -> Path:
    """Write ``config.json`` and ``state.eqx`` into ``directory``; returns its path."""
    path = ensure_writable(directory)
    _atomic_write(path / CONFIG_FILE, lambda f: f.write(config.to_json().encode()))
    _atomic_write(path / STATE_FILE, lambda f: eqx.tree_serialise_leaves(f, state))
    return path


def load_config(directory: str | os.PathLike) -> TrainConfig:
    """The :class:`TrainConfig` stored in a run directory."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"no {CONFIG_FILE} in {str(directory)!r}: not a gfn_teach run directory")
    return TrainConfig.from_json(path.read_text())


def load_checkpoint(
    directory: str | os.PathLike, config: TrainConfig | None = None
) -> tuple[TrainState, TrainConfig]:
    """Load ``(state, config)`` from a run directory.

    If ``config`` is given it must equal the saved one; otherwise ``ValueError`` lists every
    field that differs (a state trained under one config is meaningless under another).
    """
    saved = load_config(directory)
    if config is not None and config != saved:
        diffs = [
            f"{f.name}: saved {getattr(saved, f.name)!r}, given {getattr(config, f.name)!r}"
            for f in dataclasses.fields(TrainConfig)
            if getattr(saved, f.name) != getattr(config, f.name)
        ]
        raise ValueError(f"checkpoint config mismatch in {str(directory)!r}: " + "; ".join(diffs))
    trainer = Trainer(saved)
    skeleton = trainer.init(trainer.keys())
    state_path = Path(directory) / STATE_FILE
    if not state_path.is_file():
        raise ValueError(f"no {STATE_FILE} in {str(directory)!r}")
    with open(state_path, "rb") as f:
        state = eqx.tree_deserialise_leaves(f, skeleton)
    return state, saved


def save_json(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    _atomic_write(Path(path), lambda f: f.write(json.dumps(data, indent=2).encode()))
