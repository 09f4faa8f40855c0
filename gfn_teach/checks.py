"""``check_environment``: does an environment keep every promise of the protocol?

Run it on an environment you wrote before training on it. It calls every method on every
state (so the environment must be enumerable) and raises ``ValueError`` on the first broken
rule, naming the rule and the state; it returns None when the environment conforms.
"""

from __future__ import annotations

import numpy as np
import jax.numpy as jnp

from .environment import Environment


class _Broken(ValueError):
    pass


def _fail(rule: str, detail: str):
    raise _Broken(f"check_environment: {rule}: {detail}")


def _state(s) -> str:
    return str(np.asarray(s).tolist())


def check_environment(env: Environment) -> None:
    """Check ``env`` against each rule of :class:`gfn_teach.Environment`; ``ValueError`` names
    the first rule broken and the state (and action) where it breaks.

    1. sizes are positive integers and ``stop_action < n_actions``;
    2. ``all_states()`` lists ``n_states`` distinct states and ``state_index`` numbers them
       ``0 .. n_states-1`` in that order; ``reset`` gives a state among them;
    3. masks, observations and rewards have the promised shapes, and every method gives the
       same answers on states with an extra leading axis (``[2, n, state_size]``, as the
       losses call them) as on ``[n, state_size]``;
    4. every valid forward move lands on a state of ``all_states()``, ``step`` reports
       ``done`` exactly for stop, and stop leaves the state unchanged;
    5. the move is undone by its backward action (valid at the child, leading back), and no
       two moves into one state share a backward action (each edge needs its own, or
       :math:`P_B` and the exact flows would count one backward edge twice);
    6. every valid backward action leads to a parent with a valid forward move back;
    7. ``parents`` lists exactly the states with a valid move into the state, with that move;
    8. the graph is acyclic, no path is longer than ``max_length - 1`` moves, and every state
       is reachable from the start;
    9. stop is valid wherever no move is (no trajectory gets stuck), and somewhere;
    10. ``log R`` is finite on every terminal state, and ``R`` finite in float32.
    """
    if not isinstance(env, Environment):
        raise ValueError(f"check_environment: env must be a gfn_teach.Environment, got {type(env).__name__}")
    try:
        _check(env)
    except _Broken:
        raise
    except Exception as error:  # a method that crashes breaks its promise too
        raise ValueError(f"check_environment: calling the environment failed: {type(error).__name__}: {error}") from None


def _check(env: Environment) -> None:
    # 1. sizes
    sizes = {name: getattr(env, name) for name in (
        "state_size", "n_actions", "stop_action", "n_backward_actions", "max_length", "obs_size", "n_states")}
    for name, value in sizes.items():
        low = 0 if name == "stop_action" else 1
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            _fail("sizes are integers", f"{name} must be an integer >= {low}, got {value!r}")
    if env.stop_action >= env.n_actions:
        _fail("sizes are integers", f"stop_action {env.stop_action} must be < n_actions {env.n_actions}")
    n, n_actions, stop = env.n_states, env.n_actions, env.stop_action

    # 2. enumeration
    states = np.asarray(env.all_states())
    if states.shape != (n, env.state_size):
        _fail("all_states lists every state", f"shape {states.shape}, expected (n_states, state_size) = {(n, env.state_size)}")
    index = np.asarray(env.state_index(jnp.asarray(states)))
    wrong = np.nonzero(index != np.arange(n))[0]
    if wrong.size:
        i = int(wrong[0])
        _fail("state_index numbers all_states in order", f"state {_state(states[i])} is row {i} but state_index gives {index[i]}")
    if len({row.tobytes() for row in states}) != n:
        _fail("all_states lists every state", "some state is listed twice")
    start = np.asarray(env.reset(2))
    if start.shape != (2, env.state_size) or not (start[0] == start[1]).all():
        _fail("reset gives the start state", f"reset(2) has shape {start.shape}, expected {(2, env.state_size)} with equal rows")
    start_row = _rows_of(env, states, start[:1], "reset gives the start state", "reset(1)")[0]

    # 3. shapes
    forward = np.asarray(env.forward_valid(jnp.asarray(states)))
    backward = np.asarray(env.backward_valid(jnp.asarray(states)))
    for name, array, shape in (("forward_valid", forward, (n, n_actions)), ("backward_valid", backward, (n, env.n_backward_actions))):
        if array.shape != shape or array.dtype != bool:
            _fail("masks have the promised shapes", f"{name} on all states gives {array.dtype} {array.shape}, expected bool {shape}")
    obs = np.asarray(env.observation(jnp.asarray(states)))
    if obs.shape != (n, env.obs_size) or not np.isfinite(obs).all():
        _fail("observations have the promised shape", f"observation gives {obs.shape}, expected finite {(n, env.obs_size)}")
    log_r = np.asarray(env.log_reward(jnp.asarray(states)))
    if log_r.shape != (n,):
        _fail("log_reward gives one number a state", f"shape {log_r.shape}, expected {(n,)}")

    # 4-5. forward moves
    rows, actions = np.nonzero(forward)
    _check_leading_axis(env, states, rows, actions)
    children, done = (np.asarray(a) for a in env.step(jnp.asarray(states[rows]), jnp.asarray(actions)))
    is_stop = actions == stop
    bad = np.nonzero(done != is_stop)[0]
    if bad.size:
        i = bad[0]
        _fail("step reports done for stop only", f"at state {_state(states[rows[i]])}, action {actions[i]} gives done={bool(done[i])}")
    bad = np.nonzero(is_stop & (children != states[rows]).any(-1))[0]
    if bad.size:
        i = bad[0]
        _fail("stop leaves the state unchanged", f"at state {_state(states[rows[i]])} stop gives {_state(children[i])}")
    moves = ~is_stop
    rows, actions, children = rows[moves], actions[moves], children[moves]
    child_rows = _rows_of(env, states, children, "every forward step lands on a valid state",
                          lambda i: f"action {actions[i]} at state {_state(states[rows[i]])}")
    undo = np.asarray(env.backward_action(jnp.asarray(actions)))
    undo_valid = backward[child_rows, undo] if undo.size else np.zeros(0, bool)
    bad = np.nonzero(~undo_valid)[0]
    if bad.size:
        i = bad[0]
        _fail("each forward step is undone by its backward action",
              f"action {actions[i]} takes state {_state(states[rows[i]])} to {_state(children[i])}, where its backward action {undo[i]} is not valid")
    back = np.asarray(env.backward_step(jnp.asarray(children), jnp.asarray(undo)))
    bad = np.nonzero((back != states[rows]).any(-1))[0]
    if bad.size:
        i = bad[0]
        _fail("each forward step is undone by its backward action",
              f"action {actions[i]} takes state {_state(states[rows[i]])} to {_state(children[i])}, but backward action {undo[i]} leads to {_state(back[i])}")

    edge_keys = child_rows * env.n_backward_actions + undo
    _, first, counts = np.unique(edge_keys, return_index=True, return_counts=True)
    if (counts > 1).any():
        i = first[np.argmax(counts > 1)]
        j = np.nonzero(edge_keys == edge_keys[i])[0][1]
        _fail("each forward move into a state has its own backward action",
              f"action {actions[i]} at state {_state(states[rows[i]])} and action {actions[j]} at state "
              f"{_state(states[rows[j]])} both lead to state {_state(children[i])} and are both undone "
              f"by backward action {undo[i]}")

    # 6. backward moves
    edges = set(zip(rows.tolist(), child_rows.tolist(), undo.tolist()))
    b_rows, b_actions = np.nonzero(backward)
    parents = np.asarray(env.backward_step(jnp.asarray(states[b_rows]), jnp.asarray(b_actions)))
    parent_rows = _rows_of(env, states, parents, "every backward step lands on a valid state",
                           lambda i: f"backward action {b_actions[i]} at state {_state(states[b_rows[i]])}")
    for i, (p, c, b) in enumerate(zip(parent_rows.tolist(), b_rows.tolist(), b_actions.tolist())):
        if (p, c, b) not in edges:
            _fail("backward masks agree with step",
                  f"backward action {b} is valid at state {_state(states[c])} and leads to state {_state(states[p])}, "
                  "but no valid forward action there leads back (with that backward action undoing it)")

    # 7. parents
    parent_states, parent_actions, has_parent = (np.asarray(a) for a in env.parents(jnp.asarray(states)))
    if parent_states.ndim != 3 or parent_states.shape[::2] != (n, env.state_size) or has_parent.shape != parent_states.shape[:2]:
        _fail("parents has the promised shapes", f"parents gives {parent_states.shape}, {parent_actions.shape}, {has_parent.shape}")
    into = {}
    for p, a, c in zip(rows.tolist(), actions.tolist(), child_rows.tolist()):
        into.setdefault(c, set()).add((p, a))
    c_idx, slot = np.nonzero(has_parent)
    listed_rows = _rows_of(env, states, parent_states[c_idx, slot], "parents agree with step",
                           lambda i: f"a parent listed for state {_state(states[c_idx[i]])}")
    listed = {}
    for c, p, a in zip(c_idx.tolist(), listed_rows.tolist(), parent_actions[c_idx, slot].tolist()):
        listed.setdefault(c, []).append((p, a))
    for c in range(n):
        want, got = into.get(c, set()), listed.get(c, [])
        if len(got) != len(set(got)) or set(got) != want:
            extra = sorted(set(got) - want)
            missing = sorted(want - set(got))
            what = (f"lists parent {_state(states[extra[0][0]])} with action {extra[0][1]}, which does not lead here"
                    if extra else f"misses parent {_state(states[missing[0][0]])} (action {missing[0][1]})"
                    if missing else "lists a parent twice")
            _fail("parents agree with step", f"at state {_state(states[c])} parents {what}")

    # 8. acyclic, short enough, reachable: longest path by Kahn's algorithm from the start
    in_degree = np.bincount(child_rows, minlength=n)
    order = np.argsort(rows, kind="stable")
    out_start = np.searchsorted(rows[order], np.arange(n + 1))
    depth = np.full(n, -1)
    frontier = [r for r in range(n) if in_degree[r] == 0]
    unreachable = [r for r in frontier if r != start_row]
    if unreachable:
        _fail("every state is reachable from the start", f"state {_state(states[unreachable[0]])} has no parent and is not the start")
    depth[start_row], seen = 0, 0
    remaining = in_degree.copy()
    while frontier:
        r = frontier.pop()
        seen += 1
        for e in order[out_start[r]:out_start[r + 1]]:
            c = child_rows[e]
            depth[c] = max(depth[c], depth[r] + 1)
            remaining[c] -= 1
            if remaining[c] == 0:
                frontier.append(c)
    if seen < n:
        cycle = int(np.nonzero(remaining > 0)[0][0])
        _fail("the graph is acyclic", f"state {_state(states[cycle])} lies on a cycle (or below one)")
    longest = int(depth.max())
    if longest > env.max_length - 1:
        deepest = int(np.argmax(depth))
        _fail("max_length bounds every trajectory",
              f"state {_state(states[deepest])} is {longest} moves from the start, so max_length must be >= {longest + 1}, got {env.max_length}")

    # 9. stop
    can_stop = forward[:, stop]
    stuck = np.nonzero(~forward.any(-1))[0]
    if stuck.size:
        _fail("stop is valid where no move is", f"no action is valid at state {_state(states[stuck[0]])}")
    if not can_stop.any():
        _fail("stop is valid somewhere", "no state allows stop, so there are no objects to sample")

    # 10. rewards on terminal states
    with np.errstate(over="ignore"):
        too_big = log_r > np.log(np.finfo(np.float32).max)
    bad = np.nonzero(can_stop & (~np.isfinite(log_r) | too_big))[0]
    if bad.size:
        i = bad[0]
        _fail("rewards are finite and positive on terminal states", f"log R = {log_r[i]} at terminal state {_state(states[i])}")


def _check_leading_axis(env, states, rows, actions) -> None:
    """Rule 3's second half: each method on ``[2, m, ...]`` (the inputs and the inputs
    reversed) gives its answers on ``[m, ...]`` stacked the same way, row by row."""
    children = np.asarray(env.step(jnp.asarray(states[rows]), jnp.asarray(actions))[0])
    undo = np.asarray(env.backward_action(jnp.asarray(actions)))
    calls = [
        ("forward_valid", env.forward_valid, (states,), states),
        ("backward_valid", env.backward_valid, (states,), states),
        ("observation", env.observation, (states,), states),
        ("log_reward", env.log_reward, (states,), states),
        ("state_index", env.state_index, (states,), states),
        ("parents", env.parents, (states,), states),
        ("step", env.step, (states[rows], actions), states[rows]),
        ("backward_action", env.backward_action, (actions,), states[rows]),
        ("backward_step", env.backward_step, (children, undo), children),
    ]
    for name, method, inputs, at in calls:
        if len(at) == 0:
            continue
        flat = [np.asarray(a) for a in _leaves(method(*(jnp.asarray(x) for x in inputs)))]
        shape = (2, *np.shape(inputs[0]))
        try:
            twice = method(*(jnp.asarray(np.stack([x, x[::-1]])) for x in inputs))
            twice = [np.asarray(a) for a in _leaves(twice)]
        except Exception as error:
            _fail("methods work on any leading shape",
                  f"{name} on states of shape {shape} (e.g. state {_state(at[0])}) raised "
                  f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}")
        for one, two in zip(flat, twice):
            want = np.stack([one, one[::-1]])
            if two.shape != want.shape:
                _fail("methods work on any leading shape",
                      f"{name} on states of shape {shape} gives shape {two.shape}, expected {want.shape} "
                      f"(as on state {_state(at[0])} and the others, stacked); index with [..., i], not [:, i]")
            if np.issubdtype(want.dtype, np.inexact):
                same = np.isclose(two, want, rtol=1e-5, atol=1e-6, equal_nan=True)
            else:
                same = two == want
            wrong = ~same.reshape(2, len(one), -1).all(-1)
            if wrong.any():
                i = int((wrong[0] | wrong[1][::-1]).argmax())  # the input row, in either half
                _fail("methods work on any leading shape",
                      f"{name} at state {_state(at[i])} gives other values on states of shape {shape} "
                      f"than on {tuple(np.shape(inputs[0]))}; index with [..., i], not [:, i]")


def _leaves(out) -> list:
    return list(out) if isinstance(out, tuple) else [out]


def _rows_of(env, states, found, rule, where) -> np.ndarray:
    """The rows of ``found`` states in ``all_states``, or a failure naming ``where``."""
    found = np.asarray(found)
    if found.size == 0:
        return np.zeros(0, int)
    index = np.asarray(env.state_index(jnp.asarray(found)))
    ok = (index >= 0) & (index < len(states))
    ok[ok] = (states[index[ok]] == found[ok]).all(-1)
    bad = np.nonzero(~ok)[0]
    if bad.size:
        i = bad[0]
        place = where(i) if callable(where) else where
        _fail(rule, f"{place} gives {_state(found[i])}, which is not among all_states()")
    return index
