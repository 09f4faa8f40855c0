"""Saving and loading a training run without pickle.

A run directory holds ``config.json`` (the :class:`TrainConfig`), ``state.eqx`` (every array
of the :class:`TrainState`, written by ``equinox.tree_serialise_leaves``, i.e. ``.npy``
records, never pickle) and ``run.json``: the steps the state holds, the config it was saved
with and the SHA-256 of ``state.eqx``. Loading checks all three against each other and
reads each array into the shape and dtype its config gives it, so a file that was edited,
truncated or corrupted is refused with one line naming the run and what differs.

Each file is written to a temporary name and renamed; :func:`new_run_folder` does the same
for a whole run folder, so that a run on disk is either complete or absent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .config import TrainConfig, memory_sizes
from .memory import check_training_fits
from .train import MAX_EXACT_STATES, TrainState, init_state

CONFIG_FILE = "config.json"
STATE_FILE = "state.eqx"
RUN_FILE = "run.json"
RUN_FORMAT = 1
# Every file ``python -m gfn_teach train`` writes into a run folder.
RUN_FILES = (CONFIG_FILE, STATE_FILE, RUN_FILE, "metrics.json", "marginal.png")


def _atomic_write(path: Path, write) -> None:
    """Write through ``write(file)`` to a temporary name, then rename it to ``path``. A
    failure to write (a full disk) is an ``OSError`` naming the file, however deep the
    writer (Equinox wraps it in its own errors) raised it."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except Exception as error:
        cause = _os_error_in(error)
        if cause is None:
            raise
        raise OSError(cause.errno, f"{cause.strerror or cause} while writing {path.name}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _os_error_in(error: BaseException | None) -> OSError | None:
    """The first ``OSError`` among ``error`` and its causes, or None."""
    while error is not None and not isinstance(error, OSError):
        error = error.__cause__ or error.__context__
    return error


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_json(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as indented, strict JSON (NaN and infinities are refused), atomically."""
    text = json.dumps(data, indent=2, allow_nan=False)
    _atomic_write(Path(path), lambda f: f.write(text.encode()))


# ----- the state against its config -----------------------------------------------------------
# Runs are 32-bit: with JAX_ENABLE_X64 set, JAX's defaults are 64-bit, the run's arrays are not.
_RUN_DTYPES = {np.dtype(np.float64): np.dtype(np.float32), np.dtype(np.int64): np.dtype(np.int32),
               np.dtype(np.uint64): np.dtype(np.uint32)}


def state_like(config: TrainConfig) -> TrainState:
    """The shapes and dtypes of a single-seed state for ``config`` (nothing is computed);
    32-bit, as training makes them, even where ``JAX_ENABLE_X64`` makes JAX's defaults 64-bit."""
    env = config.make_env()
    check_training_fits(memory_sizes(config, env), MAX_EXACT_STATES)
    like = eqx.filter_eval_shape(init_state, config, env, jax.random.PRNGKey(0))
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, _RUN_DTYPES[x.dtype])
        if isinstance(x, jax.ShapeDtypeStruct) and x.dtype in _RUN_DTYPES else x,
        like,
    )


def run_bytes(config: TrainConfig) -> float:
    """About how many bytes a run folder of ``config`` takes: ``state.eqx`` (every array of
    :func:`state_like`) and a margin for ``metrics.json`` (one row of numbers per
    evaluation), ``marginal.png`` and the JSON records."""
    arrays = jax.tree.leaves(state_like(config))
    state = sum(math.prod(a.shape) * a.dtype.itemsize + 128 for a in arrays if hasattr(a, "shape"))
    n_chunks = -(-config.steps // config.eval_every)
    return state + 400 * n_chunks + 2_000_000


def check_run_space(out: Path, config: TrainConfig, flag: str = "--out") -> None:
    """``ValueError`` unless the file system that will hold ``out`` has room for the run."""
    from .memory import format_bytes

    folder = Path(out).absolute().parent
    while not folder.exists():
        folder = folder.parent
    need, free = run_bytes(config), free_bytes(folder)
    if need > free:
        raise ValueError(
            f"{flag} {os.fspath(out)!r}: the run needs about {format_bytes(need)} on disk, more than "
            f"the {format_bytes(free)} free in {str(folder)!r}"
        )


def _leaves_with_names(tree) -> list[tuple[str, object]]:
    arrays = eqx.filter(tree, lambda x: isinstance(x, (jax.Array, jax.ShapeDtypeStruct, np.ndarray)))
    return [(jax.tree_util.keystr(path), leaf) for path, leaf in jax.tree_util.tree_leaves_with_path(arrays)]


def check_state(state: TrainState, config: TrainConfig) -> None:
    """``ValueError`` unless ``state`` has the arrays ``config`` gives a single-seed state,
    with their shapes and dtypes, and every floating-point value is finite."""
    got, want = _leaves_with_names(state), _leaves_with_names(state_like(config))
    if [name for name, _ in got] != [name for name, _ in want]:
        raise ValueError("the state does not have the structure of this config's TrainState")
    for (name, leaf), (_, like) in zip(got, want):
        if leaf.shape != like.shape or leaf.dtype != like.dtype:
            raise ValueError(
                f"the state does not match the config: {name} is {leaf.dtype}{list(leaf.shape)}, "
                f"the config gives {like.dtype}{list(like.shape)} (a state with a seed axis "
                f"must be saved one seed at a time)"
            )
        if jnp.issubdtype(leaf.dtype, jnp.inexact) and not bool(jnp.all(jnp.isfinite(leaf))):
            raise ValueError(f"the state holds non-finite values (NaN or inf) in {name}")


# ----- saving -----------------------------------------------------------------------------------
def save_checkpoint(directory: str | os.PathLike, state: TrainState, config: TrainConfig) -> Path:
    """Write ``config.json``, ``state.eqx`` and ``run.json`` into ``directory``; returns its path.

    The state is checked first (:func:`check_state`): a state that does not match its
    config, or holds NaN or inf, is refused (``ValueError``) and nothing is written.
    ``run.json`` records the steps the state holds (``steps_done``; fewer than
    ``config.steps`` for a run stopped early) and the SHA-256 of ``state.eqx``.
    """
    check_state(state, config)
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{str(path)!r} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    _atomic_write(path / CONFIG_FILE, lambda f: f.write(config.to_json().encode()))
    _atomic_write(path / STATE_FILE, lambda f: eqx.tree_serialise_leaves(f, state))
    steps_done = int(state.step)
    save_json(
        path / RUN_FILE,
        {
            "format": RUN_FORMAT,
            "steps_done": steps_done,
            "complete": steps_done >= config.steps,
            "state_sha256": sha256_of(path / STATE_FILE),
            "config": dataclasses.asdict(config),
        },
    )
    return path


# ----- loading ----------------------------------------------------------------------------------
def load_config(directory: str | os.PathLike) -> TrainConfig:
    """The :class:`TrainConfig` stored in a run directory (errors name the file)."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"no {CONFIG_FILE} in {str(directory)!r}: not a gfn_teach run directory")
    try:
        return TrainConfig.from_json(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{str(path)!r}: {error}") from None


def _load_run_record(directory: Path) -> dict:
    path = directory / RUN_FILE
    if not path.is_file():
        raise ValueError(
            f"no {RUN_FILE} in {str(directory)!r}: not a complete gfn_teach run (or one saved "
            f"before runs had checksums; train it again)"
        )
    try:
        record = json.loads(path.read_text(), parse_constant=float)
        ok = isinstance(record, dict) and record.get("format") == RUN_FORMAT
        ok = ok and isinstance(record.get("steps_done"), int) and isinstance(record.get("config"), dict)
        ok = ok and isinstance(record.get("state_sha256"), str)
    except (ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise ValueError(f"{str(path)!r} is not a valid run record (format {RUN_FORMAT})")
    return record


def _config_diff(a: dict, b: dict, a_name: str, b_name: str) -> str:
    names = sorted(set(a) | set(b))
    return "; ".join(f"{n}: {a_name} {a.get(n)!r}, {b_name} {b.get(n)!r}" for n in names if a.get(n) != b.get(n))


def _load_leaf(name: str, like, path: Path):
    """A filter spec for one leaf: read one ``.npy`` record (no pickle) of ``like``'s shape."""

    def load(f, _):
        try:
            value = np.load(f, allow_pickle=False)
        except Exception as error:  # truncated or corrupted bytes
            raise ValueError(f"{str(path)!r} cannot be read at {name}: {error}") from None
        if value.shape != like.shape or value.dtype != like.dtype:
            raise ValueError(
                f"{str(path)!r} does not match config.json: {name} is {value.dtype}{list(value.shape)} "
                f"in the file, config.json gives {like.dtype}{list(like.shape)}"
            )
        return jnp.asarray(value)

    return load


def load_checkpoint(
    directory: str | os.PathLike, config: TrainConfig | None = None
) -> tuple[TrainState, TrainConfig]:
    """Load ``(state, config)`` from a run directory.

    If ``config`` is given it must equal the saved one; otherwise ``ValueError`` lists every
    field that differs (a state trained under one config is meaningless under another).
    Also ``ValueError``, naming the run and what differs, when ``config.json`` disagrees with
    the config in ``run.json``, when ``state.eqx`` fails its SHA-256 or does not hold the
    arrays of its config, or when the state holds NaN or inf.
    """
    directory = Path(directory)
    where = repr(str(directory))
    saved = load_config(directory)
    if config is not None and config != saved:
        diffs = [
            f"{f.name}: saved {getattr(saved, f.name)!r}, given {getattr(config, f.name)!r}"
            for f in dataclasses.fields(TrainConfig)
            if getattr(saved, f.name) != getattr(config, f.name)
        ]
        raise ValueError(f"checkpoint config mismatch in {where}: " + "; ".join(diffs))
    record = _load_run_record(directory)
    in_file = dataclasses.asdict(saved)
    if record["config"] != in_file:
        diff = _config_diff(record["config"], in_file, "saved", "config.json")
        raise ValueError(f"config.json in {where} was changed after the run was saved: {diff}")
    state_path = directory / STATE_FILE
    if not state_path.is_file():
        raise ValueError(f"no {STATE_FILE} in {where}")
    if sha256_of(state_path) != record["state_sha256"]:
        raise ValueError(
            f"{STATE_FILE} in {where} fails its checksum (its SHA-256 differs from {RUN_FILE}'s): "
            f"the file was changed or corrupted after saving"
        )
    like = state_like(saved)
    specs = jax.tree_util.tree_map_with_path(
        lambda path, leaf: _load_leaf(jax.tree_util.keystr(path), leaf, state_path)
        if isinstance(leaf, jax.ShapeDtypeStruct)
        else eqx.default_deserialise_filter_spec,
        like,
    )
    with open(state_path, "rb") as f:
        try:
            state = eqx.tree_deserialise_leaves(f, like, filter_spec=specs)
        except Exception as error:  # equinox wraps the loader's ValueError in its own errors
            while error.__cause__ is not None and not str(error).startswith(repr(str(state_path))):
                error = error.__cause__
            raise ValueError(str(error).splitlines()[0] if str(error) else repr(error)) from None
        if f.read(1):
            raise ValueError(f"{str(state_path)!r} holds more arrays than config.json's state")
    try:
        check_state(state, saved)
    except ValueError as error:
        raise ValueError(f"{STATE_FILE} in {where}: {error}") from None
    if int(state.step) != record["steps_done"]:
        raise ValueError(f"{STATE_FILE} in {where} holds step {int(state.step)}, {RUN_FILE} says {record['steps_done']}")
    return state, saved


# ----- whole run folders ------------------------------------------------------------------------
def _plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def not_a_run(path: Path) -> str | None:
    """Why the folder ``path`` is not a run ``train`` wrote, or None when it is one.

    A run holds only plain files with the names a run writes (no folders, no links), and a
    valid ``run.json`` whose SHA-256 matches ``state.eqx``: names alone prove nothing.
    """
    others = sorted(p.name for p in path.iterdir() if p.name not in RUN_FILES or not _plain_file(p))
    if others:
        return f"holds files that are not part of a run ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''})"
    try:
        record = _load_run_record(path)
    except ValueError:
        return f"holds no valid {RUN_FILE}, so it is not a gfn_teach run"
    if not _plain_file(path / STATE_FILE) or sha256_of(path / STATE_FILE) != record["state_sha256"]:
        return f"holds a {STATE_FILE} that does not match its {RUN_FILE}, so it is not a whole gfn_teach run"
    return None


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` is a folder holding a run ``train`` wrote (see :func:`not_a_run`)."""
    return path.is_dir() and not path.is_symlink() and not_a_run(path) is None


def check_run_folder(out: str | os.PathLike, overwrite: bool = False, flag: str = "--out") -> Path:
    """Check, writing nothing, that a new run can be written to folder ``out``.

    Refused (``ValueError``): an empty name; the current folder or one above it; a path
    that is a file or a symbolic link; a non-empty folder that is not a run (never replaced;
    see :func:`not_a_run`); an existing run unless ``overwrite``; a path whose nearest
    existing folder cannot be written.
    """
    text = os.fspath(out)
    if not text.strip():
        raise ValueError(f"{flag} must name a folder for the run, got {text!r}")
    path = Path(text)
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise ValueError(f"{flag} {text!r} is the current folder or one above it; name a new folder")
    if path.is_symlink():
        raise ValueError(f"{flag} {text!r} is a symbolic link (to {os.readlink(path)!r}); name a real folder")
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{flag} {text!r} exists and is not a folder")
        if any(path.iterdir()):
            why = not_a_run(path)
            if why is not None:
                raise ValueError(f"{flag} {text!r} {why}; it is never replaced: choose a new folder")
            if not overwrite:
                raise ValueError(
                    f"{flag} {text!r} already holds a run; pass --overwrite to replace it as a "
                    f"whole, or choose another {flag}"
                )
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {text!r} cannot be created: {str(ancestor)!r} is not a writable folder")
    return path


@contextlib.contextmanager
def new_run_folder(path: Path, overwrite: bool = False):
    """Yield a new temporary folder beside ``path`` to write a run into.

    When the block ends normally the folder is renamed to ``path`` (replacing the run there
    as a whole when ``overwrite``); on any error or interrupt it is deleted, with any parent
    folders made for it, so a run folder is either complete or absent.
    """
    path = Path(path)
    made = [p for p in [path.absolute().parent, *path.absolute().parent.parents] if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a run folder is not
        yield tmp
        if not path.exists():
            os.rename(tmp, path)
            return
        check_run_folder(path, overwrite)  # still a run we may replace
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
        os.rename(path, old / "run")
        try:
            os.rename(tmp, path)
        except BaseException:
            os.rename(old / "run", path)  # put the old run back
            old.rmdir()
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in made:  # deepest first; only if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def free_bytes(path: Path) -> float:
    """Free bytes on the file system holding ``path`` (``inf`` if it cannot be told)."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return math.inf
