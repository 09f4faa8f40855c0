"""The command line: ``python -m gfn_teach train ...`` and ``python -m gfn_teach sample ...``.

The ``train`` flags are generated from :class:`TrainConfig`, one per field, with the
field's help text, so the command line can never fall behind the library.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from .config import TrainConfig


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``prog: error: what is wrong``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata['help']} (default: {f.default})"
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=f.metadata["help"])
        elif f.type in ("int", int):
            parser.add_argument(flag, type=int, default=f.default, help=help_text)
        elif f.type in ("float", float, "float | None"):
            parser.add_argument(flag, type=float, default=f.default, help=help_text)
        else:
            parser.add_argument(flag, type=str, default=f.default, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gfn_teach", description="Train and sample GFlowNets on the hypergrid.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a GFlowNet and write metrics, a plot and a checkpoint")
    _add_config_flags(train)
    train.add_argument("--out", type=Path, required=True, help="run directory to write into")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    sample = commands.add_parser("sample", help="sample terminal states from a saved run")
    sample.add_argument("--run", type=Path, required=True, help="run directory written by 'train'")
    sample.add_argument("--n", type=int, default=10_000, help="number of samples (default: 10000)")
    sample.add_argument("--out", type=Path, required=True, help="output .npy file, int32 [n, dim]")
    sample.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    return parser


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**values)


def run_train(args: argparse.Namespace) -> dict:
    """Train, then write ``metrics.json``, ``marginal.png`` and the checkpoint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .checkpoint import ensure_writable, save_checkpoint, save_json
    from .train import Trainer
    from .viz import plot_marginals

    config = _config_from_args(args)  # validates every field before any work
    out = ensure_writable(args.out)
    trainer = Trainer(config)
    start = time.perf_counter()
    result = trainer.fit(progress=not args.no_progress)
    train_seconds = time.perf_counter() - start
    save_checkpoint(out, result.state, config)

    history = result.history
    below = np.nonzero(history["exact_tv"] <= 0.05)[0]
    metrics = {
        "exact_tv": float(history["exact_tv"][-1]),
        "exact_kl": float(history["exact_kl"][-1]),
        "exact_kl_reverse": float(history["exact_kl_reverse"][-1]),
        "exact_jsd": float(history["exact_jsd"][-1]),
        "log_z_true": float(trainer.env.log_partition()),
        "log_z": float(history["log_z"][-1]),
        "log_z_source": "learned log Z" if config.loss == "tb" else "log F(s0) from the flow head",
        "modes_found": int(history["modes_found"][-1]),
        "n_modes": 2**config.dim,
        "steps_to_tv_0.05": int(history["step"][below[0]]) if below.size else None,
        "steps_per_second": result.steps_per_second,
        "compile_seconds": result.compile_seconds,
        "train_seconds": train_seconds,
        "config": dataclasses.asdict(config),
        "history": {k: v.tolist() for k, v in history.items() if k != "marginal"},
    }
    save_json(out / "metrics.json", metrics)
    if config.dim >= 2:
        fig = plot_marginals(trainer.env, history["marginal"][-1], f"learned ({config.loss})")
        fig.savefig(out / "marginal.png", dpi=120)
        plt.close(fig)
    print(
        f"exact TV {metrics['exact_tv']:.4f}  KL(target||learned) {metrics['exact_kl']:.4f}  "
        f"log Z {metrics['log_z']:.3f} (true {metrics['log_z_true']:.3f})  "
        f"{metrics['steps_per_second']:.0f} steps/s  compile {metrics['compile_seconds']:.1f} s  "
        f"-> {out}"
    )
    return metrics


def run_sample(args: argparse.Namespace) -> None:
    """Load a run and write ``n`` terminal states to a ``.npy`` file."""
    import jax

    from .checkpoint import load_checkpoint
    from .sampling import sample_terminal_states

    if args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    if args.out.suffix != ".npy":
        raise ValueError(f"--out must end in .npy, got {str(args.out)!r}")
    if args.out.parent and not args.out.parent.exists():
        raise ValueError(f"--out directory {str(args.out.parent)!r} does not exist")
    state, config = load_checkpoint(args.run)
    samples = sample_terminal_states(
        jax.random.PRNGKey(args.seed), config.make_env(), state.policy, args.n
    )
    np.save(args.out, samples)
    print(f"wrote {samples.shape[0]} terminal states of dim {samples.shape[1]} to {args.out}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            run_train(args)
        else:
            run_sample(args)
    except ValueError as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0
