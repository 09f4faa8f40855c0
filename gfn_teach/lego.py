"""Lego spaceships: an environment whose objects are reachable by many paths.

A ship has five slots (nose, left wing, right wing, body, engine), each empty or holding one
brick from a small catalogue. A state is the brick in each slot (0 for empty); the start is
the empty ship. Forward action ``slot * n_bricks + (brick - 1)`` puts ``brick`` in an empty
``slot``; the last action stops (allowed once the ship has a brick). Backward action
``slot`` takes that slot's brick off. Slots fill in any order, so a ship of ``n`` bricks is
reached by ``n!`` different paths.

The reward is a readable ship score: a small amount for any ship, more if it can fly (a
thruster as its engine), and a large bonus for each of the catalogue's designs (a fighter,
a cargo ship and a scout). The designs are the modes.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .environment import Environment
from .hypergrid import MIN_REWARD

SLOTS = ("nose", "left wing", "right wing", "body", "engine")
BRICKS = ("cockpit", "cannon", "cargo", "thruster")  # brick k is BRICKS[k - 1]; 0 is empty
BRICK_COLOURS = ("#f4f4f4", "#c0392b", "#f1c40f", "#2e86de", "#7f8c8d")  # empty, then bricks
DESIGNS = {
    "fighter": ("cannon", "cannon", "cannon", "cockpit", "thruster"),
    "cargo ship": ("cockpit", "cargo", "cargo", "cargo", "thruster"),
    "scout": ("cockpit", None, None, None, "thruster"),
}


def encode(bricks) -> tuple[int, ...]:
    """A ship from brick names per slot (None for empty) to its state, e.g. ``(3, 3, 0, 0, 4)``."""
    return tuple(0 if name is None else BRICKS.index(name) + 1 for name in bricks)


class LegoSpaceship(Environment):
    """Build a spaceship brick by brick.

    .. math:: R(x) = r_0 + r_\\text{fly}\\,[\\text{engine is a thruster}]
              + r_\\text{design}\\,[x \\text{ is one of the designs}]

    Args:
        base: :math:`r_0 \\ge 10^{-30}`, the reward of any ship (``log R`` finite in float32).
        flying_bonus: :math:`r_\\text{fly} \\ge 0`, added when the engine slot holds a thruster.
        design_bonus: :math:`r_\\text{design} \\ge 0`, added for an exact design of ``DESIGNS``.

    The defaults give the book's environment: 5 slots, 4 bricks, ``5**5 = 3125`` states, of
    which 3124 ships are terminal (all but the empty one).
    """

    base: float = eqx.field(static=True)
    flying_bonus: float = eqx.field(static=True)
    design_bonus: float = eqx.field(static=True)

    def __init__(self, base: float = 0.01, flying_bonus: float = 0.1, design_bonus: float = 50.0):
        for name, value, low in (("base", base, MIN_REWARD), ("flying_bonus", flying_bonus, 0),
                                 ("design_bonus", design_bonus, 0)):
            ok = isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))
            if not (ok and math.isfinite(value) and value >= low):
                why = " (log R must stay finite in float32)" if low else ""
                raise ValueError(f"{name} must be a finite number >= {low:g}{why}, got {value!r}")
        if base + flying_bonus + design_bonus > float(np.finfo(np.float32).max):
            raise ValueError("base + flying_bonus + design_bonus must be finite in float32")
        self.base, self.flying_bonus, self.design_bonus = float(base), float(flying_bonus), float(design_bonus)

    # ----- sizes -------------------------------------------------------------------------
    n_slots = len(SLOTS)
    n_bricks = len(BRICKS)

    @property
    def state_size(self) -> int:
        return self.n_slots

    @property
    def n_actions(self) -> int:
        """One action per (slot, brick), then stop."""
        return self.n_slots * self.n_bricks + 1

    @property
    def stop_action(self) -> int:
        return self.n_slots * self.n_bricks

    @property
    def n_backward_actions(self) -> int:
        """One per slot: take its brick off."""
        return self.n_slots

    @property
    def max_length(self) -> int:
        """Every slot filled, then stop."""
        return self.n_slots + 1

    @property
    def obs_size(self) -> int:
        """One-hot of each slot's content (empty or a brick)."""
        return self.n_slots * (self.n_bricks + 1)

    @property
    def n_states(self) -> int:
        return (self.n_bricks + 1) ** self.n_slots

    # ----- dynamics ----------------------------------------------------------------------
    def reset(self, batch_size: int) -> jax.Array:
        return jnp.zeros((batch_size, self.n_slots), jnp.int32)

    def step(self, state: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Put brick ``action % n_bricks + 1`` in slot ``action // n_bricks``; stop keeps the ship."""
        slot, brick = action // self.n_bricks, action % self.n_bricks + 1
        placed = jax.nn.one_hot(slot, self.n_slots, dtype=state.dtype) * brick[..., None].astype(state.dtype)
        done = action == self.stop_action
        return jnp.where(done[..., None], state, state + placed), done

    def backward_step(self, state: jax.Array, backward_action: jax.Array) -> jax.Array:
        """Take the brick in slot ``backward_action`` off."""
        return state * (1 - jax.nn.one_hot(backward_action, self.n_slots, dtype=state.dtype))

    def forward_valid(self, state: jax.Array) -> jax.Array:
        """Any brick in an empty slot; stop once the ship has at least one brick."""
        empty = jnp.repeat(state == 0, self.n_bricks, axis=-1)
        has_brick = jnp.any(state > 0, axis=-1, keepdims=True)
        return jnp.concatenate([empty, has_brick], axis=-1)

    def backward_valid(self, state: jax.Array) -> jax.Array:
        return state > 0

    def backward_action(self, forward_action: jax.Array) -> jax.Array:
        """Placing a brick in slot ``i`` is undone by taking slot ``i`` off (stop maps to 0)."""
        return jnp.where(forward_action == self.stop_action, 0, forward_action // self.n_bricks)

    def parents(self, state: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """One candidate parent per slot: the ship without that slot's brick."""
        slots = jnp.arange(self.n_slots)
        parent_states = self.backward_step(state[..., None, :], slots)
        actions = slots * self.n_bricks + jnp.maximum(state, 1) - 1
        return parent_states, actions, state > 0

    def observation(self, state: jax.Array) -> jax.Array:
        one_hot = jax.nn.one_hot(state, self.n_bricks + 1, dtype=jnp.float32)
        return one_hot.reshape(state.shape[:-1] + (self.obs_size,))

    def log_reward(self, state: jax.Array) -> jax.Array:
        flies = state[..., SLOTS.index("engine")] == BRICKS.index("thruster") + 1
        reward = self.base + self.flying_bonus * flies + self.design_bonus * (self.design(state) >= 0)
        return jnp.log(reward)

    # ----- enumeration -------------------------------------------------------------------
    def all_states(self) -> jax.Array:
        """Every ship, in row-major order of the slots (base ``n_bricks + 1``)."""
        return self.index_to_state(jnp.arange(self.n_states))

    def state_index(self, state: jax.Array) -> jax.Array:
        return jnp.sum(state * self._place_values(), axis=-1)

    def index_to_state(self, index: jax.Array) -> jax.Array:
        """Inverse of :meth:`state_index`."""
        return ((jnp.asarray(index)[..., None] // self._place_values()) % (self.n_bricks + 1)).astype(jnp.int32)

    def _place_values(self) -> jax.Array:
        return (self.n_bricks + 1) ** jnp.arange(self.n_slots - 1, -1, -1)

    # ----- designs: the modes ------------------------------------------------------------
    @property
    def design_names(self) -> tuple[str, ...]:
        return tuple(DESIGNS)

    def design_states(self) -> jax.Array:
        """``[n_designs, n_slots]``: each design as a state."""
        return jnp.array([encode(bricks) for bricks in DESIGNS.values()], jnp.int32)

    def design(self, state: jax.Array) -> jax.Array:
        """Int ``[...]``: which design each ship is (its index in ``DESIGNS``), -1 for none."""
        same = jnp.all(state[..., None, :] == self.design_states(), axis=-1)  # [..., n_designs]
        return jnp.where(jnp.any(same, axis=-1), jnp.argmax(same, axis=-1), -1)

    @property
    def n_modes(self) -> int:
        return len(DESIGNS)

    def mode_ids(self) -> jax.Array:
        return self.design(self.all_states())

    def marginal(self, p: jax.Array) -> jax.Array:
        """``[n_designs + 1]``: the probability of each design, then of every other ship."""
        ids = self.mode_ids()
        return jnp.zeros(self.n_modes + 1).at[jnp.where(ids >= 0, ids, self.n_modes)].add(p)


def draw_ships(states, titles=None, ncols: int = 8, size: float = 1.1):
    """Draw ships (states ``[n, 5]``) as coloured blocks; returns the matplotlib figure.

    The nose sits on top, the wings either side of the body, the engine below. An empty
    slot is a dashed outline. ``titles`` (one string per ship) go above the ships.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    states = np.asarray(states).reshape(-1, len(SLOTS))
    n = states.shape[0]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.5), squeeze=False)
    where = {"nose": (1, 2), "left wing": (0, 1), "body": (1, 1), "right wing": (2, 1), "engine": (1, 0)}
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        for slot, brick in zip(SLOTS, states[i]):
            x, y = where[slot]
            ax.add_patch(Rectangle(
                (x, y), 0.92, 0.92, facecolor=BRICK_COLOURS[brick] if brick else "none",
                edgecolor="#333333" if brick else "#bbbbbb", linestyle="-" if brick else "--",
            ))
        ax.set(xlim=(-0.1, 3.0), ylim=(-0.1, 3.0), aspect="equal")
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    handles = [Patch(facecolor=BRICK_COLOURS[k + 1], edgecolor="#333333", label=name) for k, name in enumerate(BRICKS)]
    fig.legend(handles=handles, loc="lower center", ncol=len(BRICKS), frameon=False, fontsize=8)
    fig.subplots_adjust(bottom=0.5 / (size * nrows + 0.5) + 0.02)
    return fig
