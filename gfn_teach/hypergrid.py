"""The hypergrid environment: states, actions, masks and rewards.

A state is an integer coordinate vector ``x`` in ``{0, ..., side-1}^dim``; every trajectory
starts at the origin. Forward action ``i < dim`` increments coordinate ``i``; action ``dim``
is *stop*, which ends the trajectory and makes the current state the terminal object.
Backward action ``i`` decrements coordinate ``i``. The environment is functional: a
``Hypergrid`` holds only static configuration, and every method is a pure function of the
arrays it is given. State methods accept any leading batch shape ``[..., dim]``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .environment import Environment
from .metrics import marginal_2d


class HypergridReward(NamedTuple):
    r"""The standard hypergrid reward.

    With :math:`a_d = |x_d/(\text{side}-1) - 1/2|`,

    .. math::
        R(x) = R_0 + R_1 \prod_d [0.25 < a_d \le 0.5] + R_2 \prod_d [0.3 < a_d < 0.4].
    """

    r0: float
    r1: float
    r2: float


REWARD_PRESETS = {
    "easy": HypergridReward(r0=1e-3, r1=0.5, r2=2.0),
    "hard": HypergridReward(r0=1e-4, r1=1.0, r2=3.0),
    "original": HypergridReward(r0=0.1, r1=0.5, r2=2.0),
}

RewardSpec = Union[str, HypergridReward, Callable[[jax.Array], jax.Array]]

# A user reward function is checked on every state of grids up to this size.
_MAX_STATES_CHECKED = 2**22
# Every reward must lie in [MIN_REWARD, MAX_REWARD]: R and log R finite in float32.
MIN_REWARD = 1e-30
MAX_REWARD = float(np.finfo(np.float32).max)


def band_indicators(x: jax.Array, side: int) -> tuple[jax.Array, jax.Array]:
    """Per-coordinate band membership ``(0.25 < a_d <= 0.5, 0.3 < a_d < 0.4)`` in integers.

    ``a_d = |2 x_d - (side-1)| / (2 (side-1))``, so each comparison is multiplied through by
    ``20 (side-1)`` and done exactly in integers: symmetric cells get identical bands, with
    no floating-point ties at the band edges.
    """
    scale = side - 1
    twice_offset = abs(2 * x - scale)  # = 2 (side-1) a_d, an integer (NumPy in, NumPy out)
    outer = 2 * twice_offset > scale  # a_d > 1/4 (a_d <= 1/2 always holds)
    inner = (5 * twice_offset > 3 * scale) & (5 * twice_offset < 4 * scale)  # 0.3 < a_d < 0.4
    return outer, inner


def standard_reward(x: jax.Array, side: int, params: HypergridReward) -> jax.Array:
    """``R(x)`` of :class:`HypergridReward` for one state ``x`` of shape ``[dim]``."""
    outer, inner = band_indicators(x, side)
    return params.r0 + params.r1 * jnp.all(outer) + params.r2 * jnp.all(inner)


class Hypergrid(Environment):
    """A ``dim``-dimensional grid of ``side`` cells a side, with a positive reward.

    Args:
        dim: number of coordinates.
        side: cells along each coordinate (at least 2).
        reward: ``"easy"``, ``"hard"`` or ``"original"``, a :class:`HypergridReward`, or a
            function mapping one integer state ``[dim]`` to a positive reward. Rewards must lie
            in ``[1e-30, 3.4e38]``, so that ``R`` and ``log R`` are finite in float32 (the
            losses use ``log R``). The preset and :class:`HypergridReward` rewards are checked
            exactly; a user function on every state of grids up to 4M states (on larger grids
            on 100,000 random states, and there ``log R`` is floored at ``log(1e-30)`` in case
            an unchecked state's reward is smaller). A reward outside the range raises
            ``ValueError`` here.
    """

    dim: int = eqx.field(static=True)
    side: int = eqx.field(static=True)
    reward: RewardSpec = eqx.field(static=True)

    def __init__(self, dim: int = 2, side: int = 20, reward: RewardSpec = "easy"):
        if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        if isinstance(side, (bool, np.bool_)) or not isinstance(side, (int, np.integer)) or side < 2:
            raise ValueError(f"side must be an integer >= 2, got {side!r}")
        self.dim, self.side = int(dim), int(side)
        self.reward = _validated_reward(reward, self)

    # ----- sizes -------------------------------------------------------------------------
    @property
    def state_size(self) -> int:
        """A state is its ``dim`` coordinates."""
        return self.dim

    @property
    def n_actions(self) -> int:
        """Forward actions: ``dim`` increments and the stop action."""
        return self.dim + 1

    @property
    def stop_action(self) -> int:
        """Index of the stop action (the last forward action)."""
        return self.dim

    @property
    def n_backward_actions(self) -> int:
        """Backward actions: one decrement per coordinate."""
        return self.dim

    @property
    def max_length(self) -> int:
        """Most forward actions in a trajectory: ``dim (side-1)`` increments then stop."""
        return self.dim * (self.side - 1) + 1

    @property
    def n_states(self) -> int:
        """Number of states, ``side ** dim``."""
        return self.side**self.dim

    @property
    def obs_size(self) -> int:
        """Length of the one-hot observation, ``dim * side``."""
        return self.dim * self.side

    # ----- dynamics ----------------------------------------------------------------------
    def reset(self, batch_size: int) -> jax.Array:
        """``batch_size`` initial states: the origin, shape ``[batch_size, dim]``."""
        return jnp.zeros((batch_size, self.dim), dtype=jnp.int32)

    def step(self, state: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Apply a forward action; returns ``(next_state, done)``. Stop leaves ``state`` as is."""
        increment = jax.nn.one_hot(action, self.dim, dtype=state.dtype)  # zero for stop
        return state + increment, action == self.stop_action

    def backward_step(self, state: jax.Array, backward_action: jax.Array) -> jax.Array:
        """Apply backward action ``i``: decrement coordinate ``i``."""
        return state - jax.nn.one_hot(backward_action, self.dim, dtype=state.dtype)

    def forward_valid(self, state: jax.Array) -> jax.Array:
        """Boolean ``[..., dim+1]``: increments that stay on the grid, and stop (always valid)."""
        stop_valid = jnp.ones(state.shape[:-1] + (1,), dtype=bool)
        return jnp.concatenate([state < self.side - 1, stop_valid], axis=-1)

    def backward_valid(self, state: jax.Array) -> jax.Array:
        """Boolean ``[..., dim]``: decrements that stay on the grid (none at the origin)."""
        return state > 0

    def backward_action(self, forward_action: jax.Array) -> jax.Array:
        """The backward action undoing a forward increment: the same coordinate index.

        Stop has no backward action; it maps to ``0``, and callers mask it.
        """
        return jnp.where(forward_action == self.stop_action, 0, forward_action)

    def parents(self, state: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """The ``dim`` candidate parents ``x - e_d``, reached by increment ``d``; valid where
        ``x_d > 0`` (invalid ones are clipped onto the grid)."""
        parent_states = jnp.maximum(state[..., None, :] - jnp.eye(self.dim, dtype=state.dtype), 0)
        actions = jnp.broadcast_to(jnp.arange(self.dim), state.shape)
        return parent_states, actions, state > 0

    def observation(self, state: jax.Array) -> jax.Array:
        """One-hot encoding of each coordinate, concatenated: float ``[..., dim * side]``."""
        one_hot = jax.nn.one_hot(state, self.side, dtype=jnp.float32)
        return one_hot.reshape(state.shape[:-1] + (self.obs_size,))

    # ----- enumeration -------------------------------------------------------------------
    @eqx.filter_jit
    def all_states(self) -> jax.Array:
        """Every state, ``[side**dim, dim]``, in row-major order of the coordinates."""
        grids = jnp.meshgrid(*[jnp.arange(self.side)] * self.dim, indexing="ij")
        return jnp.stack([g.reshape(-1) for g in grids], axis=-1).astype(jnp.int32)

    @eqx.filter_jit
    def state_index(self, state: jax.Array) -> jax.Array:
        """Row-major index of a state (works on any leading batch shape)."""
        place_values = self.side ** jnp.arange(self.dim - 1, -1, -1)
        return jnp.sum(state * place_values, axis=-1)

    @eqx.filter_jit
    def index_to_state(self, index: jax.Array) -> jax.Array:
        """Inverse of :meth:`state_index`."""
        place_values = self.side ** jnp.arange(self.dim - 1, -1, -1)
        return ((jnp.asarray(index)[..., None] // place_values) % self.side).astype(jnp.int32)

    # ----- rewards -----------------------------------------------------------------------
    @eqx.filter_jit
    def log_reward(self, states: jax.Array) -> jax.Array:
        """``log R(x)`` for states of shape ``[..., dim]``.

        ``R`` is floored at ``MIN_REWARD = 1e-30``: a no-op for every checked reward (see the
        class), a guard against ``log 0`` for a user function on states it was not checked on.
        """
        flat = states.reshape(-1, self.dim)
        rewards = jax.vmap(self._reward_one)(flat)
        return jnp.log(jnp.maximum(rewards, MIN_REWARD)).reshape(states.shape[:-1])

    def _reward_one(self, x: jax.Array) -> jax.Array:
        if isinstance(self.reward, HypergridReward):
            return standard_reward(x, self.side, self.reward)
        return jnp.asarray(self.reward(x), dtype=jnp.float32)

    @eqx.filter_jit
    def mode_mask(self) -> jax.Array:
        """Boolean ``[side**dim]``: the states whose reward is the maximum reward."""
        log_r = self.log_reward(self.all_states())
        return log_r >= jnp.max(log_r) - 1e-6

    @eqx.filter_jit
    def mode_regions(self) -> jax.Array:
        """Integer ``[side**dim]``: which of the ``2**dim`` corner regions each state is in.

        Bit ``d`` is set when ``x_d`` lies in the upper half of the grid. The standard reward
        has one mode (a block of maximum-reward cells) in each corner region.
        """
        upper = 2 * self.all_states() > self.side - 1
        return jnp.sum(upper * (2 ** jnp.arange(self.dim)), axis=-1)

    @property
    def n_modes(self) -> int:
        """One mode per corner region: ``2**dim``."""
        return 2**self.dim

    @eqx.filter_jit
    def mode_ids(self) -> jax.Array:
        """Int ``[side**dim]``: the corner region of each maximum-reward state, -1 elsewhere."""
        return jnp.where(self.mode_mask(), self.mode_regions(), -1)

    def log_partition(self) -> jax.Array:
        r""":math:`\log Z`, without listing the states when the reward is a
        :class:`HypergridReward`: with :math:`n_1` and :math:`n_2` the cells of one coordinate
        in its outer and inner band, the sum over the grid factorises,

        .. math:: Z = R_0\,\text{side}^{\text{dim}} + R_1 n_1^{\text{dim}} + R_2 n_2^{\text{dim}},

        computed in float64 logarithms (exact for any number of states). A reward function is
        summed over every state (:meth:`Environment.log_partition`).
        """
        if not isinstance(self.reward, HypergridReward):
            return super().log_partition()
        outer, inner = (np.asarray(band).sum() for band in band_indicators(np.arange(self.side), self.side))
        terms = [
            np.log(r) + self.dim * np.log(n)
            for r, n in [(self.reward.r0, self.side), (self.reward.r1, outer), (self.reward.r2, inner)]
            if r > 0 and n > 0
        ]
        return jnp.asarray(np.logaddexp.reduce(terms))  # float64 under jax_enable_x64, else float32

    def marginal(self, p: jax.Array) -> jax.Array:
        """The 2D marginal of the first two coordinates (``[1, side]`` for ``dim = 1``)."""
        return marginal_2d(self, p) if self.dim >= 2 else p[None]


def _validated_reward(reward: RewardSpec, env: Hypergrid) -> RewardSpec:
    """Resolve a preset name and check that every reward is strictly positive."""
    if isinstance(reward, str):
        if reward not in REWARD_PRESETS:
            raise ValueError(
                f"reward must be one of {sorted(REWARD_PRESETS)}, a HypergridReward or a "
                f"function of the state, got {reward!r}"
            )
        return REWARD_PRESETS[reward]
    if isinstance(reward, HypergridReward):
        for name, value in zip(("R0", "R1", "R2"), reward):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
        values = [float(v) for v in reward]
        if not all(np.isfinite(values)):
            raise ValueError(f"reward parameters must be finite, got {reward}")
        if values[0] <= 0:
            raise ValueError(
                f"R0 must be > 0 so that every state has a positive reward (log R is used), "
                f"got R0={reward.r0}"
            )
        if values[1] < 0 or values[2] < 0:
            raise ValueError(f"R1 and R2 must be >= 0, got R1={reward.r1}, R2={reward.r2}")
        if values[0] < MIN_REWARD:
            raise ValueError(f"R0 must be >= {MIN_REWARD:g} (log R must stay finite in float32), got R0={reward.r0}")
        if sum(values) > MAX_REWARD:
            raise ValueError(
                f"R0 + R1 + R2 = {sum(values):.3g} is not finite in float32 (at most {MAX_REWARD:.3g})"
            )
        return HypergridReward(*values)
    if callable(reward):
        n_states = env.side**env.dim
        states = (
            env.all_states()
            if n_states <= _MAX_STATES_CHECKED
            else jax.random.randint(jax.random.key(0), (100_000, env.dim), 0, env.side)
        )
        values = np.asarray(jax.vmap(lambda x: jnp.asarray(reward(x), jnp.float32))(states))
        if values.shape != (states.shape[0],):
            raise ValueError(
                f"a reward function must map one state [dim] to a scalar, got shape "
                f"{values.shape[1:]} per state"
            )
        bad = ~(np.isfinite(values) & (values >= MIN_REWARD))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"rewards must be finite in float32 and >= {MIN_REWARD:g} (log R is used); the "
                f"reward function gives {str(values[i])} at state {np.asarray(states[i]).tolist()}"
            )
        return reward
    raise ValueError(
        f"reward must be a preset name, a HypergridReward or a callable, got {reward!r}"
    )
