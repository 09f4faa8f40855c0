"""The command line: ``python -m gfn_teach train ...`` and ``python -m gfn_teach sample ...``.

The ``train`` flags are generated from :class:`TrainConfig`, one per field, with the
field's help text, so the command line can never fall behind the library.

Every check that can run before the work does (settings, memory, the output path), and an
error is one line on stderr: exit status 2 for a bad setting, 1 for a failure during the
work (training diverged, a file could not be written), 130 after Ctrl-C. A run folder is
written whole at the end or not at all; a run stopped by Ctrl-C keeps its completed chunks.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .config import HYPERGRID_FIELDS, LOSS_FIELDS, TrainConfig, check_seed


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``prog: error: what is wrong``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class Failed(Exception):
    """A failure during the work (not a bad setting): exit status 1."""


class Terminated(BaseException):
    """SIGTERM arrived: raised like ``KeyboardInterrupt``, so that every ``finally`` cleans up."""


# The narrowest network whose long runs the command line trains with 8 row buckets, and the
# narrowest whose middling runs (more than MIDDLING_RUN_STEPS steps) it trains with 2.
ROW_BUCKETS_MIN_HIDDEN = 128
TWO_BUCKETS_MIN_HIDDEN = 256
MIDDLING_RUN_STEPS = 1000

# Where each loss's estimate of log Z comes from (metrics.json).
LOG_Z_SOURCES = {"tb": "learned log Z", "fm": "log of the flow out of s0 (its edge flows)",
                 "mdb": "log R(s0) - log P_F(stop | s0)"}


def _terminate(signum, frame):
    raise Terminated


@contextlib.contextmanager
def signals_held(what: str):
    """Within the block, a first SIGINT or SIGTERM waits until ``what`` is done: it is noted
    on stderr and the yielded list gets its number (the caller exits with ``128 + number``);
    a second Ctrl-C aborts at once (``KeyboardInterrupt``). Outside the main thread, where
    signals cannot be caught, nothing changes."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum, frame):
        if signum == signal.SIGINT and signal.SIGINT in caught:
            raise KeyboardInterrupt
        caught.append(signum)
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        again = " (press it again to abort and lose it)" if signum == signal.SIGINT else ""
        print(f"{name}: stopping once {what} is written{again}", file=sys.stderr, flush=True)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(TrainConfig):
        flag = _flag(f.name)
        help_text = f"{f.metadata['help']} (default: {f.default})"
        if f.name in HYPERGRID_FIELDS or f.name in LOSS_FIELDS:  # absent unless given, so
            # that other environments and losses can refuse them
            kind = {"int": int, "str": str}.get(f.type, float)
            parser.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=help_text)
            continue
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=f.metadata["help"])
        elif f.type in ("int", int):
            parser.add_argument(flag, type=int, default=f.default, help=help_text)
        elif f.type in ("float", float, "float | None"):
            parser.add_argument(flag, type=float, default=f.default, help=help_text)
        else:
            parser.add_argument(flag, type=str, default=f.default, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gfn_teach", description="Train and sample GFlowNets on the hypergrid or Lego spaceships.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a GFlowNet and write metrics, a plot and a checkpoint")
    _add_config_flags(train)
    train.add_argument("--out", type=str, required=True, help="run folder to create (must not hold a run)")
    train.add_argument("--overwrite", action="store_true", help="replace the run in --out as a whole")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    sample = commands.add_parser("sample", help="sample terminal states from a saved run")
    sample.add_argument("--run", type=Path, required=True, help="run directory written by 'train'")
    sample.add_argument("--n", type=int, default=10_000, help="number of samples (default: 10000)")
    sample.add_argument("--out", type=str, required=True, help="output .npy file, int32 [n, state size]")
    sample.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    sample.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    sample.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config the flags describe; ``ValueError`` for a grid flag given with another env."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    given = [name for name in HYPERGRID_FIELDS if name in values]
    if args.env != "hypergrid" and given:
        raise ValueError(
            f"{_flag(given[0])} does not apply to --env {args.env} (only to --env hypergrid); "
            f"flags that apply: --loss, --steps, --batch-size, --policy, ... (see --help)"
        )
    for name, loss in LOSS_FIELDS.items():
        if name in values and values.get("loss") != loss:
            raise ValueError(
                f"{_flag(name)} does not apply to --loss {values.get('loss')} (only to --loss {loss})"
            )
    return TrainConfig(**values)


def _finite(value) -> float | None:
    """A float, or None for NaN and infinities (which strict JSON cannot hold)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _json_safe(values: list) -> list:
    """A history column as JSON: non-finite numbers become null."""
    return [_json_safe(v) if isinstance(v, list) else (_finite(v) if isinstance(v, float) else v) for v in values]


def _number(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def run_metrics(trainer, result, config: TrainConfig, train_seconds: float) -> dict:
    """The ``metrics.json`` of a run: the last evaluation, timings, config and history.

    Metrics that were not computed (exact evaluation skipped on a large grid, the speed of
    a single-chunk run) are ``None`` (JSON ``null``), never 0 or NaN.
    """
    history = result.history
    last = lambda name: _finite(history[name][-1]) if trainer.exact else None
    below = np.nonzero(history["exact_tv"] <= 0.05)[0]
    return {
        "exact_tv": last("exact_tv"),
        "exact_kl": last("exact_kl"),
        "exact_kl_reverse": last("exact_kl_reverse"),
        "exact_jsd": last("exact_jsd"),
        "exact_evaluation_skipped": None if trainer.exact else skipped_reason(trainer),
        "log_z_true": _finite(trainer.env.log_partition()),
        "log_z": _finite(history["log_z"][-1]),
        "log_z_source": LOG_Z_SOURCES.get(config.loss, "log F(s0) from the flow head"),
        "modes_found": int(history["modes_found"][-1]) if "modes_found" in history else None,
        "n_modes": trainer.env.n_modes,
        "steps_to_tv_0.05": int(history["step"][below[0]]) if below.size else None,
        "steps_done": int(result.state.step),
        "interrupted": result.interrupted,
        "steps_per_second": _finite(result.steps_per_second),
        "compile_seconds": _finite(result.compile_seconds),
        "row_buckets": trainer.row_buckets,
        "train_seconds": train_seconds,
        "config": dataclasses.asdict(config),
        "history": {k: _json_safe(v.tolist()) for k, v in history.items() if k != "marginal"},
    }


def skipped_reason(trainer) -> str:
    from .trainer import MAX_EXACT_STATES

    return f"{trainer.env.n_states} states > {MAX_EXACT_STATES}"


def row_buckets_for(config: TrainConfig) -> int:
    """The command line's row buckets (:class:`~gfn_teach.Trainer`'s ``row_buckets``): 8 for a
    run of more than ``speedups.SHORT_RUN_STEPS`` (3,000) steps of a network of at least
    :data:`ROW_BUCKETS_MIN_HIDDEN` units a layer; 2 for a run of more than
    :data:`MIDDLING_RUN_STEPS` steps, and at most 3,000, of at least
    :data:`TWO_BUCKETS_MIN_HIDDEN` units; else 1.

    More buckets compile longer (the medians: 2 buckets 0.4-0.6 s more than 1 in every setting
    measured but one, 256 units at 10,000 steps, where they were 0.5 s sooner; 8 buckets 1.7-4.7
    s more) and then step faster, the more so the wider the network, so they pay in the longer
    runs of the wider networks only. ``benchmarks/row_buckets.py`` (whole runs on the 20 x 20 grid, DB,
    2026-12-06), median seconds with 1 bucket against 8, 2 rounds: at 1,000 steps 4.2 against
    6.6 (64 units), 5.6 against 9.9 (128), 7.2 against 10.1 (256); at 3,000 steps 5.5 against
    9.1, 10.1 against 13.7, and 16.0 against 16.2 (256 units); at 10,000 steps 12.1 against
    14.0 (64 units), then 20.6 against 18.1 (128) and 46.1 against 35.9 (256). With 2 buckets,
    256 units, 4 rounds: 10.3 s against 10.9 at 2,000 steps and 14.1 against 15.2 at 3,000
    (``make train``), faster in every round; with 128 units, 2 rounds, 1 and 2 buckets are
    level (4.7 and 4.8 s at 1,000 steps, 7.8 and 7.8 at 3,000).
    """
    from .speedups import SHORT_RUN_STEPS
    from .trainer import ROW_BUCKETS

    if config.steps > SHORT_RUN_STEPS and config.hidden >= ROW_BUCKETS_MIN_HIDDEN:
        return ROW_BUCKETS
    if config.steps > MIDDLING_RUN_STEPS and config.hidden >= TWO_BUCKETS_MIN_HIDDEN:
        return 2
    return 1


def run_train(args: argparse.Namespace) -> int:
    """Train, then write ``metrics.json``, ``marginal.png`` and the checkpoint; exit status."""
    from .checkpoint import check_run_folder, check_run_space
    from .trainer import Trainer, TrainingDiverged

    config = _config_from_args(args)  # validates every field before any work
    out = check_run_folder(args.out, args.overwrite)
    check_run_space(out, config)
    trainer = Trainer(config, row_buckets=row_buckets_for(config))  # checks the memory it needs first
    if not trainer.exact:
        print(f"exact evaluation skipped: {skipped_reason(trainer)} (exact metrics will be null)")
    start = time.perf_counter()
    try:
        result = trainer.fit(progress=not args.no_progress)
    except TrainingDiverged as error:
        raise Failed(f"{error}; nothing was written") from None
    with signals_held("the run") as caught:  # the finished steps are written first
        train_seconds = time.perf_counter() - start
        metrics = run_metrics(trainer, result, config, train_seconds)
        replaced = replaced_run(out)
        write_run(out, args.overwrite, trainer, result, config, metrics)
    exact = (
        f"exact TV {_number(metrics['exact_tv'], '.4f')}  "
        f"KL(target||learned) {_number(metrics['exact_kl'], '.4f')}"
        if trainer.exact
        else f"exact evaluation skipped: {metrics['exact_evaluation_skipped']}"
    )
    stopped = f"interrupted at step {metrics['steps_done']} of {config.steps}: " if result.interrupted else ""
    print(
        f"{stopped}{exact}  log Z {_number(metrics['log_z'], '.3f')} (true {_number(metrics['log_z_true'], '.3f')})  "
        f"{_number(metrics['steps_per_second'], '.0f')} steps/s  "
        f"compile {_number(metrics['compile_seconds'], '.1f')} s  -> {out}{replaced}"
    )
    if caught:
        return 128 + caught[0]
    return 130 if result.interrupted else 0


def replaced_run(out: Path) -> str:
    """What ``--overwrite`` replaces in ``out``: `` (replaced a run of 2500 of 2500 steps)``,
    or an empty string when there is no run there."""
    from .checkpoint import RUN_FILE, is_run_folder

    if not out.exists() or not is_run_folder(out):
        return ""
    record = json.loads((out / RUN_FILE).read_text())
    return f" (replaced a run of {record['steps_done']} of {record['config'].get('steps')} steps)"


def write_run(out: Path, overwrite: bool, trainer, result, config: TrainConfig, metrics: dict) -> None:
    """Write the checkpoint, ``metrics.json`` and ``marginal.png`` into the run folder ``out``,
    whole or not at all (:func:`gfn_teach.checkpoint.new_run_folder`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .checkpoint import new_run_folder, save_checkpoint, save_json
    from .viz import plot_marginals

    with new_run_folder(out, overwrite) as folder:
        save_checkpoint(folder, result.state, config)
        save_json(folder / "metrics.json", metrics)
        if config.env == "hypergrid" and config.dim >= 2 and trainer.exact:
            history = result.history
            fig = plot_marginals(
                trainer.env, history["marginal"][-1], config.loss.upper(),
                step=history["step"][-1], exact_tv=history["exact_tv"][-1],
            )
            fig.savefig(folder / "marginal.png", dpi=120)
            plt.close(fig)


def check_sample_out(text: str, n: int, dim_bound: int, overwrite: bool) -> Path:
    """Check, writing nothing, that ``n`` samples can be written to the ``.npy`` file ``text``."""
    from .checkpoint import free_bytes

    path = Path(text)
    if path.suffix != ".npy":
        raise ValueError(f"--out must end in .npy, got {text!r}")
    if path.is_dir():
        raise ValueError(f"--out {text!r} is a folder; name a .npy file")
    if path.exists() and not overwrite:
        raise ValueError(f"--out {text!r} exists; pass --overwrite to replace it")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"--out folder {str(folder)!r} does not exist or is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--out folder {str(folder)!r} is not writable")
    need = 4 * n * dim_bound + 4096
    if need > free_bytes(folder):
        from .memory import format_bytes

        raise ValueError(
            f"--n {n} needs about {format_bytes(need)} on disk, more than the "
            f"{format_bytes(free_bytes(folder))} free in {str(folder)!r}"
        )
    return path


def reserve_disk(path: Path, what: str) -> None:
    """Allocate every block of the (sparse) file ``path`` now, so that a full disk is an
    ``OSError`` here, not a ``SIGBUS`` later when a memory map writes into a hole. Skipped
    where the file system or the OS cannot allocate ahead."""
    if not hasattr(os, "posix_fallocate"):
        return
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        try:
            os.posix_fallocate(f.fileno(), 0, size)
        except OSError as error:
            if error.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                return
            from .memory import format_bytes

            raise OSError(error.errno, f"{error.strerror} ({what} needs {format_bytes(size)})") from None


def run_sample(args: argparse.Namespace) -> int:
    """Load a run and write ``n`` terminal states to a ``.npy`` file, in bounded memory."""
    import jax

    from .checkpoint import load_checkpoint, load_config
    from .sampling import sample_terminal_states

    if args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    check_seed(args.seed, "--seed")
    size = load_config(args.run).make_env().state_size
    out = check_sample_out(args.out, args.n, size, args.overwrite)
    state, config = load_checkpoint(args.run)
    if int(state.step) < config.steps:
        print(
            f"note: the run in {str(args.run)!r} was interrupted at step {int(state.step)} of "
            f"{config.steps} (not complete); sampling its policy as it was then",
            file=sys.stderr,
        )
    tmp = out.with_name(f".{out.name}.partial")
    try:
        samples = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.int32, shape=(args.n, size))
        reserve_disk(tmp, f"--out {str(out)!r}")
        sample_terminal_states(
            jax.random.PRNGKey(args.seed), config.make_env(), state.policy, args.n,
            out=samples, progress=not args.no_progress,
        )
        samples.flush()
        del samples
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote {args.n} terminal states of size {size} to {out}")
    return 0


def check_backend() -> None:
    """``ValueError`` in one line when JAX cannot start a device (``JAX_PLATFORMS=cuda`` on a
    machine without a GPU raises a bare ``AssertionError`` deep inside the first computation)."""
    import jax

    try:
        jax.devices()
    except Exception as error:
        platforms = os.environ.get("JAX_PLATFORMS")
        asked = f" for JAX_PLATFORMS={platforms!r}" if platforms else ""
        raise ValueError(
            f"JAX cannot start a device{asked} ({_one_line(error)}); unset JAX_PLATFORMS, or "
            f"install the jax plugin for that platform on a machine that has it"
        ) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def join_negative_values(argv: list[str]) -> list[str]:
    """``--lr -inf`` as ``--lr=-inf``: argparse takes a value that starts with ``-`` for a
    flag unless it looks like ``-1`` or ``-.5`` (so ``-inf`` and ``-1e-3`` were refused with
    "expected one argument" instead of being checked as values)."""
    joined: list[str] = []
    for arg in argv:
        previous = joined[-1] if joined else ""
        if arg.startswith("-") and _is_number(arg) and previous.startswith("--") and "=" not in previous:
            joined[-1] = f"{previous}={arg}"
        else:
            joined.append(arg)
    return joined


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(join_negative_values(sys.argv[1:] if argv is None else list(argv)))
    prog = f"{parser.prog} {args.command}"
    nothing = "nothing was written" if args.command == "train" else "no samples were written"
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        check_backend()
        return run_train(args) if args.command == "train" else run_sample(args)
    except ValueError as error:
        print(f"{prog}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except Failed as error:
        print(f"{prog}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {nothing}", file=sys.stderr)
        return 130
    except Terminated:
        print(f"{prog}: terminated (SIGTERM); {nothing}", file=sys.stderr)
        return 128 + signal.SIGTERM
    except (OSError, MemoryError) as error:
        print(f"{prog}: error: {type(error).__name__}: {_one_line(error)}; {nothing}", file=sys.stderr)
        return 1
    except Exception as error:  # XLA running out of memory despite the estimate
        if "RESOURCE_EXHAUSTED" not in str(error):
            raise
        print(f"{prog}: error: out of memory ({_one_line(error)}); {nothing}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
