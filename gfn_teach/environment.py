"""The environment protocol: what rollouts, losses, exact evaluation and training need.

An environment is a DAG of states with one start state :math:`s_0`. A state is a small
integer vector (``[state_size]``, batched as ``[..., state_size]``). Forward actions move to
a child or, with the *stop* action, end the trajectory: the current state becomes the
terminal object :math:`x`, rewarded with :math:`R(x) > 0`. Backward actions undo forward
moves (they exist for the backward policy :math:`P_B`). Every method is a pure function of
the arrays it is given, so it runs under ``jit`` and ``vmap``; the environment object holds
only static configuration.

Write an environment by subclassing :class:`Environment` and defining each abstract method
and property, reading a state's entries as ``state[..., i]`` (never ``state[:, i]``: the
losses call every method on ``[T+1, B, state_size]``); then run
:func:`gfn_teach.check_environment` on it. :class:`Hypergrid` and
:class:`LegoSpaceship` are the two in the library.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp

from .memory import check_states_fit


class Environment(eqx.Module):
    """The protocol (an abstract Equinox module). Sizes are properties; the rest methods.

    Sizes: ``state_size`` (length of a state vector), ``n_actions`` (forward actions, stop
    included), ``stop_action`` (its index), ``n_backward_actions``, ``max_length`` (most
    forward actions in a trajectory, stop included), ``obs_size`` (length of the policy's
    input), ``n_states`` (number of states, for enumerable environments).
    """

    # ----- sizes (define each as a property) ---------------------------------------------
    @property
    @abc.abstractmethod
    def state_size(self) -> int: ...

    @property
    @abc.abstractmethod
    def n_actions(self) -> int: ...

    @property
    @abc.abstractmethod
    def stop_action(self) -> int: ...

    @property
    @abc.abstractmethod
    def n_backward_actions(self) -> int: ...

    @property
    @abc.abstractmethod
    def max_length(self) -> int: ...

    @property
    @abc.abstractmethod
    def obs_size(self) -> int: ...

    @property
    @abc.abstractmethod
    def n_states(self) -> int: ...

    # ----- dynamics ----------------------------------------------------------------------
    @abc.abstractmethod
    def reset(self, batch_size: int) -> jax.Array:
        """``batch_size`` copies of the start state, int32 ``[batch_size, state_size]``."""

    @abc.abstractmethod
    def step(self, state: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Apply valid forward actions ``[...]``: ``(next_state, done)``; stop keeps the state."""

    @abc.abstractmethod
    def backward_step(self, state: jax.Array, backward_action: jax.Array) -> jax.Array:
        """Apply valid backward actions: the parent the action leads back to."""

    @abc.abstractmethod
    def forward_valid(self, state: jax.Array) -> jax.Array:
        """Boolean ``[..., n_actions]``: which forward actions are allowed (stop included)."""

    @abc.abstractmethod
    def backward_valid(self, state: jax.Array) -> jax.Array:
        """Boolean ``[..., n_backward_actions]``: which backward actions are allowed."""

    @abc.abstractmethod
    def backward_action(self, forward_action: jax.Array) -> jax.Array:
        """The backward action that undoes each forward move (any valid index for stop).

        Each forward edge into a state needs its own backward action: two moves into one
        child (from one parent or two) may not share theirs, or :math:`P_B` would give both
        edges one probability and the exact flows would count it twice."""

    @abc.abstractmethod
    def parents(self, state: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Every parent of each state, for flow matching: ``(parent_states [..., P,
        state_size], forward_action [..., P] from the parent to the state, valid [..., P])``,
        for a fixed bound ``P`` on the number of parents (invalid slots hold any state)."""

    @abc.abstractmethod
    def observation(self, state: jax.Array) -> jax.Array:
        """What the policy network reads: float ``[..., obs_size]``."""

    @abc.abstractmethod
    def log_reward(self, state: jax.Array) -> jax.Array:
        """``log R(x)`` ``[...]``; finite on every terminal state (others are never used)."""

    # ----- enumeration (for exact evaluation) ----------------------------------------------
    @abc.abstractmethod
    def all_states(self) -> jax.Array:
        """Every state, int32 ``[n_states, state_size]``."""

    @abc.abstractmethod
    def state_index(self, state: jax.Array) -> jax.Array:
        """The row of each state in :meth:`all_states`: int ``[...]``."""

    # ----- derived (shared by every environment) -------------------------------------------
    def is_terminal(self, state: jax.Array) -> jax.Array:
        """Boolean ``[...]``: the states where stop is valid, i.e. the objects ``x``."""
        return self.forward_valid(state)[..., self.stop_action]

    def log_terminal_reward(self, state: jax.Array) -> jax.Array:
        """``log R(x)`` on terminal states and ``-inf`` elsewhere (no mass to sample)."""
        return jnp.where(self.is_terminal(state), self.log_reward(state), -jnp.inf)

    @eqx.filter_jit
    def true_distribution(self) -> jax.Array:
        r"""The target :math:`\pi(x) = R(x)/Z` over :meth:`all_states` (0 where not terminal).

        Compiled (once per environment), like every exact evaluation: called outside ``jit``,
        one compiled program is far quicker to build than one per operation. ``ValueError``
        first when the states cannot all be held (see :func:`gfn_teach.memory.check_states_fit`).
        """
        self._check_enumerable("the target distribution")
        return jax.nn.softmax(self.log_terminal_reward(self.all_states()))

    @eqx.filter_jit
    def log_partition(self) -> jax.Array:
        r""":math:`\log Z = \log \sum_x R(x)` over the terminal states (``ValueError`` first
        when the states cannot all be held)."""
        self._check_enumerable("log Z")
        return jax.nn.logsumexp(self.log_terminal_reward(self.all_states()))

    def _check_enumerable(self, what: str) -> None:
        """Every state, its actions' mask and its reward in memory at once: ``ValueError`` if not."""
        check_states_fit(self, self.state_size + self.n_actions + 2, what)

    # ----- optional views (None: not available, and then not reported) ----------------------
    @property
    def n_modes(self) -> int | None:
        """How many modes :meth:`mode_ids` tells apart; None when the environment has none."""
        return None

    def mode_ids(self) -> jax.Array | None:
        """Int ``[n_states]``: the mode each state belongs to, or -1; None when not defined."""
        return None

    def marginal(self, p: jax.Array) -> jax.Array | None:
        """A small picture of a distribution ``p`` over :meth:`all_states`, kept in the
        training history (the hypergrid's 2D marginal); None to keep none."""
        return None
