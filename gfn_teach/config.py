"""``TrainConfig``: every setting of a training run, typed, documented and validated.

The command line is generated from this dataclass (each field's ``help`` becomes the flag's
help text), and a checkpoint stores it as JSON, so the three never drift apart.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .environment import Environment
from .hypergrid import REWARD_PRESETS, Hypergrid, HypergridReward
from .lego import LegoSpaceship
from .memory import n_states

ENV_NAMES = ("hypergrid", "lego")
# Settings of the hypergrid only: any other environment needs them left at their defaults.
HYPERGRID_FIELDS = ("dim", "side", "reward", "r0", "r1", "r2")
LOSS_NAMES = ("fm", "db", "tb", "subtb", "mdb")
# Settings of one loss only: any other loss needs them left at their defaults.
LOSS_FIELDS = {"lr_log_z": "tb", "subtb_lambda": "subtb"}
POLICY_NAMES = ("mlp", "tabular")
FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # the smallest normal float32
INT32_MAX = 2**31 - 1  # the step counter is an int32
SEED_MAX = 2**32 - 1  # jax.random.PRNGKey keeps the low 32 bits of a seed
MAX_DEPTH = 256  # every layer is compiled on its own: 256 already take over a minute
MAX_REPLAY = 2**20  # every step merges the new states into the buffer, comparing with each
# (lowest, highest or None) of every integer field; sizes are bounded by memory instead.
INTEGER_RANGES = {
    "dim": (1, None),
    "side": (2, None),
    "steps": (1, INT32_MAX),
    "batch_size": (1, None),
    "hidden": (1, None),
    "depth": (0, MAX_DEPTH),
    "exploration_steps": (0, INT32_MAX),
    "replay_size": (0, MAX_REPLAY),
    "replay_batch": (1, None),
    "eval_every": (1, INT32_MAX),
    "seed": (0, SEED_MAX),
}
_WHY = {
    INT32_MAX: " (the step counter is int32)",
    SEED_MAX: " (PRNG seeds are 32-bit)",
    MAX_DEPTH: " (each layer is compiled on its own; deeper takes many minutes)",
    MAX_REPLAY: " (each step compares the new states with every state in the buffer)",
}


def _range_text(name: str) -> str:
    low, high = INTEGER_RANGES[name]
    return f">= {low}" if high is None else f"in [{low}, {high}]{_WHY.get(high, '')}"


def is_integer(value) -> bool:
    """An ``int`` or NumPy integer, but not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_type(name: str, kind: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` has the field's type (``kind`` as annotated)."""
    if kind == "float | None" and value is None:
        return
    if kind == "bool":
        ok, want = isinstance(value, bool), "true or false (a bool)"
    elif kind == "int":
        ok, want = is_integer(value), f"an integer {_range_text(name)}"
    elif kind == "str":
        ok, want = isinstance(value, str), "a string"
    else:  # float, float | None
        ok = is_integer(value) or isinstance(value, (float, np.floating))
        ok = ok and bool(np.isfinite(value)) and abs(value) <= FLOAT32_MAX
        want = "a number finite in float32" + (" or null" if "None" in kind else "")
    if not ok:
        raise ValueError(f"{name} must be {want}, got {value!r} ({type(value).__name__})")


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as an int, or ``ValueError`` unless it is an integer in ``[0, 2**32 - 1]``."""
    if not is_integer(seed) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"{name} must be an integer in [0, {SEED_MAX}] (PRNG seeds are 32-bit), got {seed!r}")
    return int(seed)


def _doc(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """A training run. Build with keywords; ``validate`` runs on creation."""

    env: str = _doc("hypergrid", f"environment: one of {', '.join(ENV_NAMES)}")
    dim: int = _doc(2, "hypergrid: number of grid coordinates")
    side: int = _doc(20, "hypergrid: cells along each coordinate")
    reward: str = _doc("easy", f"hypergrid: reward preset, one of {', '.join(REWARD_PRESETS)}")
    r0: float | None = _doc(None, "hypergrid: override the preset's R0 (background reward, > 0)")
    r1: float | None = _doc(None, "hypergrid: override the preset's R1 (outer band bonus, >= 0)")
    r2: float | None = _doc(None, "hypergrid: override the preset's R2 (inner band bonus, >= 0)")
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
    replay_size: int = _doc(
        0, "replay buffer: keep the replay_size distinct terminal states of highest reward seen (0: no replay)"
    )
    replay_batch: int = _doc(
        16, "replay buffer: trajectories replayed per step, drawn in proportion to reward, on top of batch_size"
    )
    eval_every: int = _doc(100, "steps between evaluations (one compiled chunk)")
    seed: int = _doc(0, "random seed (same seed, same numbers)")

    def __post_init__(self):
        for f in dataclasses.fields(self):  # NumPy scalars become the Python type they stand for
            value = getattr(self, f.name)
            if isinstance(value, (np.integer, np.floating, np.bool_)):
                object.__setattr__(self, f.name, value.item())
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field and what would be valid.

        Types are strict: integers (Python or NumPy, never bools) for counts, numbers for
        rates, ``True``/``False`` only for flags. Every number must also be finite in float32,
        the precision training runs in.
        """
        for f in dataclasses.fields(self):
            _check_type(f.name, f.type, getattr(self, f.name))
        for name, (low, high) in INTEGER_RANGES.items():
            value = getattr(self, name)
            if value < low or (high is not None and value > high):
                raise ValueError(f"{name} must be an integer {_range_text(name)}, got {value!r}")
        choices = {"env": ENV_NAMES, "reward": REWARD_PRESETS, "loss": LOSS_NAMES, "policy": POLICY_NAMES}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(
                    f"{name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}"
                )
        for name in ("lr", "lr_log_z"):
            if not FLOAT32_TINY <= getattr(self, name) <= FLOAT32_MAX:
                raise ValueError(
                    f"{name} must be > 0 and finite in float32 (in [{FLOAT32_TINY:.3g}, "
                    f"{FLOAT32_MAX:.3g}]), got {getattr(self, name)!r}"
                )
        for name in ("epsilon_start", "epsilon_end"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        self._validate_replay()
        # Any positive lambda (Madan et al., 2023); False for NaN. Below the smallest normal
        # float32 the weights lambda**k underflow to 0.
        if not self.subtb_lambda >= FLOAT32_TINY:
            raise ValueError(
                f"subtb_lambda must be > 0, got {self.subtb_lambda!r} (and at least "
                f"{FLOAT32_TINY:.3g}, the smallest normal float32)"
            )
        if self.env != "hypergrid":
            for name in HYPERGRID_FIELDS:
                if getattr(self, name) != _DEFAULTS[name]:
                    raise ValueError(
                        f"{name} applies to env 'hypergrid' only, not to env {self.env!r}; "
                        f"leave it at its default ({_DEFAULTS[name]!r})"
                    )
        for name, loss in LOSS_FIELDS.items():
            if self.loss != loss and getattr(self, name) != _DEFAULTS[name]:
                raise ValueError(
                    f"{name} applies to loss {loss!r} only, not to loss {self.loss!r}; leave it "
                    f"at its default ({_DEFAULTS[name]!r})"
                )
        if self.loss == "mdb" and self.env == "lego":
            raise ValueError(
                "loss 'mdb' needs an environment where every state can stop; env 'lego' cannot "
                "stop at the empty baseplate (use env 'hypergrid', or another loss)"
            )
        if self.policy == "tabular" and self.env == "hypergrid" and n_states(self.dim, self.side) > 1_000_000:
            raise ValueError(
                f"policy 'tabular' needs side**dim <= 1,000,000 states, got {n_states(self.dim, self.side):.6g}"
            )
        self.reward_params()  # checks R0/R1/R2

    def _validate_replay(self) -> None:
        if not self.replay_size and self.replay_batch != _DEFAULTS["replay_batch"]:
            raise ValueError(
                "replay_batch applies only with a replay buffer (replay_size > 0); set "
                f"replay_size or leave replay_batch at its default ({_DEFAULTS['replay_batch']!r})"
            )

    @property
    def n_replay(self) -> int:
        """Trajectories replayed from the buffer each step, on top of the ``batch_size``
        on-policy ones: ``replay_batch``, or 0 without a buffer."""
        return self.replay_batch if self.replay_size else 0

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

    def make_env(self) -> Environment:
        """The environment this configuration describes."""
        if self.env == "lego":
            return LegoSpaceship()
        return Hypergrid(self.dim, self.side, self.reward_params())

    def check_env(self, env) -> None:
        """``ValueError`` unless ``env`` can stand in for :meth:`make_env`: a
        :class:`Hypergrid` (any reward) with this config's ``env``, ``dim`` and ``side``, or
        any other :class:`Environment` when this config leaves the grid settings at their
        defaults (checked by :meth:`validate` for every ``env`` but ``'hypergrid'``). A
        :class:`~gfn_teach.Tempered` environment is checked as the environment it wraps."""
        from .tempered import Tempered  # here: gfn_teach.tempered imports this module

        if not isinstance(env, Environment):
            raise ValueError(f"env must be a gfn_teach.Environment, got {type(env).__name__}")
        while isinstance(env, Tempered):
            env = env.env
        if isinstance(env, Hypergrid):
            if self.env != "hypergrid":
                raise ValueError(f"env is a Hypergrid but the config has env={self.env!r}")
            if (env.dim, env.side) != (self.dim, self.side):
                raise ValueError(
                    f"env is Hypergrid(dim={env.dim}, side={env.side}) but the config has "
                    f"dim={self.dim}, side={self.side}; they must agree"
                )
            return
        changed = [name for name in HYPERGRID_FIELDS if getattr(self, name) != _DEFAULTS[name]]
        if changed:
            raise ValueError(
                f"the config sets {', '.join(changed)}, which apply to the hypergrid only, but env "
                f"is a {type(env).__name__}; leave them at their defaults"
            )

    def to_json(self) -> str:
        """Every field, as indented JSON with sorted keys (strict: no NaN or Infinity)."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        """The config written by :meth:`to_json`; every field must be there, with its type."""
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except ValueError as error:  # JSONDecodeError is a ValueError
            raise ValueError(f"not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise ValueError(f"must hold a JSON object of TrainConfig fields, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        data.setdefault("env", "hypergrid")  # runs saved before there was a choice
        for name in ("replay_size", "replay_batch"):  # runs saved before replay existed
            data.setdefault(name, _DEFAULTS[name])
        unknown, missing = sorted(set(data) - known), sorted(known - set(data))
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; valid fields: {sorted(known)}")
        if missing:
            raise ValueError(f"missing TrainConfig fields {missing}")
        return cls(**data)


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a valid JSON value")


def marginal_shape(env: Environment) -> tuple[int, ...] | None:
    """The shape of ``env.marginal`` of a distribution, or None when it gives none."""
    picture = jax.eval_shape(env.marginal, jax.ShapeDtypeStruct((env.n_states,), jnp.float32))
    return None if picture is None else tuple(picture.shape)


def memory_sizes(config: TrainConfig, env: Environment) -> dict:
    """The sizes :func:`gfn_teach.memory.check_training_fits` needs: the config's fields, and
    for an environment other than the hypergrid its own sizes."""
    sizes = dataclasses.asdict(config)
    if not isinstance(env, Hypergrid):
        picture = marginal_shape(env)
        sizes.update(env="other", env_sizes=(
            float(env.n_states), env.max_length, env.obs_size, env.n_actions, env.state_size,
            0 if picture is None else int(np.prod(picture)),
        ))
    return sizes
