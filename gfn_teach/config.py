"""``TrainConfig``: every setting of a training run, typed, documented and validated.

The command line is generated from this dataclass (each field's ``help`` becomes the flag's
help text), and a checkpoint stores it as JSON, so the three never drift apart.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from .hypergrid import REWARD_PRESETS, Hypergrid, HypergridReward

LOSS_NAMES = ("fm", "db", "tb", "subtb")
POLICY_NAMES = ("mlp", "tabular")


def _doc(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """A training run on the hypergrid. Build with keywords; ``validate`` runs on creation."""

    dim: int = _doc(2, "number of grid coordinates")
    side: int = _doc(20, "cells along each coordinate")
    reward: str = _doc("easy", f"reward preset: one of {', '.join(REWARD_PRESETS)}")
    r0: float | None = _doc(None, "override the preset's R0 (background reward, > 0)")
    r1: float | None = _doc(None, "override the preset's R1 (outer band bonus, >= 0)")
    r2: float | None = _doc(None, "override the preset's R2 (inner band bonus, >= 0)")
    loss: str = _doc("db", f"training objective: one of {', '.join(LOSS_NAMES)}")
    steps: int = _doc(3000, "number of gradient steps")
    batch_size: int = _doc(16, "trajectories sampled per step")
    policy: str = _doc("mlp", f"policy parametrisation: one of {', '.join(POLICY_NAMES)}")
    hidden: int = _doc(256, "width of each hidden layer of the MLP")
    depth: int = _doc(2, "number of hidden layers of the MLP")
    learn_backward: bool = _doc(True, "learn P_B (--no-learn-backward: uniform over valid parents)")
    lr: float = _doc(1e-3, "Adam learning rate of the network")
    lr_log_z: float = _doc(0.1, "Adam learning rate of log Z (used by tb)")
    subtb_lambda: float = _doc(
        0.9, "SubTB weight lambda > 0 of a length-k sub-trajectory, lambda**k (large: towards TB)"
    )
    epsilon_start: float = _doc(1.0, "exploration: probability of a uniform action at step 0")
    epsilon_end: float = _doc(0.0, "exploration probability after the decay")
    exploration_steps: int = _doc(1000, "steps over which epsilon decays linearly")
    eval_every: int = _doc(100, "steps between evaluations (one compiled chunk)")
    seed: int = _doc(0, "random seed (same seed, same numbers)")

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field and what would be valid."""
        positive = ("dim", "steps", "batch_size", "hidden", "eval_every")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.side, bool) or not isinstance(self.side, int) or self.side < 2:
            raise ValueError(f"side must be an integer >= 2, got {self.side!r}")
        for name in ("depth", "exploration_steps", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        choices = {"reward": REWARD_PRESETS, "loss": LOSS_NAMES, "policy": POLICY_NAMES}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(
                    f"{name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}"
                )
        for name in ("lr", "lr_log_z"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("epsilon_start", "epsilon_end"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not self.subtb_lambda > 0:  # any positive lambda (Madan et al., 2023); False for NaN
            raise ValueError(f"subtb_lambda must be > 0, got {self.subtb_lambda!r}")
        if self.policy == "tabular" and self.side**self.dim > 1_000_000:
            raise ValueError(
                f"policy 'tabular' needs side**dim <= 1,000,000 states, got {self.side**self.dim}"
            )
        self.reward_params()  # checks R0/R1/R2

    def reward_params(self) -> HypergridReward:
        """The preset with any explicit R0/R1/R2 overrides applied (checked)."""
        preset = REWARD_PRESETS[self.reward]
        params = HypergridReward(
            r0=preset.r0 if self.r0 is None else self.r0,
            r1=preset.r1 if self.r1 is None else self.r1,
            r2=preset.r2 if self.r2 is None else self.r2,
        )
        Hypergrid(1, 2, params)  # raises a clear error on R0 <= 0 or negative R1/R2
        return params

    def make_env(self) -> Hypergrid:
        """The environment this configuration describes."""
        return Hypergrid(self.dim, self.side, self.reward_params())

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; valid fields: {sorted(known)}")
        return cls(**data)
