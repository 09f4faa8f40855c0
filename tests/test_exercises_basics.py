"""The chapter 2-3 checkers accept the book's solutions and reject wrong answers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach.exercises import (
    check_background_r0,
    check_backward_policy,
    check_forward_valid,
    check_random_walk,
    report,
)
from gfn_teach.exercises.basics import background_share


def backward_policy_solution(env, edge_flow, state_flow):
    states = env.all_states()
    columns = []
    for d in range(env.dim):
        parent = states.at[:, d].add(-1)
        into_s = edge_flow[env.state_index(parent), d]  # F(parent -> s)
        columns.append(jnp.where(states[:, d] > 0, into_s / state_flow, 0.0))
    return jnp.stack(columns, axis=-1)


def forward_valid_solution(env, states):
    can_grow = states < env.side - 1
    can_stop = jnp.ones(states.shape[:-1] + (1,), dtype=bool)
    return jnp.concatenate([can_grow, can_stop], axis=-1)


def test_report_prints_and_returns(capsys):
    assert report(True, "hint", "well done") is True
    assert report(False, "look again") is False
    assert capsys.readouterr().out == "Correct! well done\nNot yet: look again\n"


def test_backward_policy_accepts_solution(capsys):
    assert check_backward_policy(backward_policy_solution)
    assert capsys.readouterr().out.startswith("Correct!")


def uniform_backward(env, edge_flow, state_flow):
    valid = env.backward_valid(env.all_states())
    return valid / jnp.maximum(valid.sum(-1, keepdims=True), 1)


@pytest.mark.parametrize(
    "wrong",
    [
        lambda env, f, F: None,
        lambda env, f, F: f[:, : env.dim] / F[:, None],  # forward policy, not backward
        lambda env, f, F: backward_policy_solution(env, f, F)[:-1],  # wrong shape
        lambda env, f, F: backward_policy_solution(env, f, F) + 1e-3 * (F[:, None] > 0),
        uniform_backward,  # right on the first grid only: the second P_B is not uniform
        lambda env, f, F: 1 / 0,  # raises
    ],
)
def test_backward_policy_rejects_wrong_answers(wrong, capsys):
    assert not check_backward_policy(wrong)
    assert capsys.readouterr().out.startswith("Not yet:")


def test_forward_valid_accepts_solution_and_library():
    assert check_forward_valid(forward_valid_solution)
    assert check_forward_valid(lambda env, s: env.forward_valid(s))


@pytest.mark.parametrize(
    "wrong",
    [
        lambda env, s: None,
        lambda env, s: s < env.side - 1,  # no stop column
        lambda env, s: forward_valid_solution(env, s).astype(jnp.int32),  # not bool
        lambda env, s: ~forward_valid_solution(env, s),  # opposite polarity
        lambda env, s: jnp.concatenate([s < env.side, s[..., :1] >= 0], -1),  # off by one
        lambda env, s: forward_valid_solution(env, s).reshape(-1, env.dim + 1),  # flattens
    ],
)
def test_forward_valid_rejects_wrong_answers(wrong, capsys):
    assert not check_forward_valid(wrong)
    assert capsys.readouterr().out.startswith("Not yet:")


def test_background_share_matches_the_library():
    for dim, side, preset in [(2, 20, "easy"), (4, 20, "original"), (3, 11, "hard")]:
        params = g.REWARD_PRESETS[preset]
        env = g.Hypergrid(dim, side, preset)
        rewards = np.exp(np.asarray(env.log_reward(env.all_states()), dtype=np.float64))
        background = np.isclose(rewards, params.r0, rtol=1e-5)
        expected = rewards[background].sum() / rewards.sum()
        got = background_share(params.r0, dim, side, params.r1, params.r2)
        assert got == pytest.approx(expected, rel=1e-3)


def test_background_r0_accepts_the_closed_form():
    # 4D, side 20: 150000 background cells, 10^4 outer and 4^4 inner band cells.
    r0 = 0.5 * (0.5 * 10**4 + 2.0 * 4**4) / (150_000 - 0.5 * 20**4)
    assert check_background_r0(r0)


@pytest.mark.parametrize("wrong", [None, "abc", -1.0, 0.0, 1e-3, 0.1, float("nan")])
def test_background_r0_rejects_wrong_answers(wrong, capsys):
    assert not check_background_r0(wrong)
    assert capsys.readouterr().out.startswith("Not yet:")


def random_walk_solution(key, env, n_steps):
    def step(state, key):
        d = jax.random.randint(key, (), 0, env.dim)  # a coordinate, uniformly
        moved = state.at[d].add(1)
        state = jnp.where(moved[d] < env.side, moved, state)  # stay on the grid
        return state, state

    start = jnp.zeros(env.dim, dtype=int)
    _, visited = jax.lax.scan(step, start, jax.random.split(key, n_steps))
    return jnp.concatenate([start[None], visited])


def python_loop_walk(key, env, n_steps):  # right walks, but no scan
    state, visited = jnp.zeros(env.dim, dtype=int), [jnp.zeros(env.dim, dtype=int)]
    for step_key in jax.random.split(key, n_steps):
        d = jax.random.randint(step_key, (), 0, env.dim)
        moved = state.at[d].add(1)
        state = jnp.where(moved[d] < env.side, moved, state)
        visited.append(state)
    return jnp.stack(visited)


def one_key_walk(key, env, n_steps):  # reuses one key: the same coordinate at every step
    def step(state, _):
        d = jax.random.randint(key, (), 0, env.dim)
        moved = state.at[d].add(1)
        state = jnp.where(moved[d] < env.side, moved, state)
        return state, state

    start = jnp.zeros(env.dim, dtype=int)
    return jnp.concatenate([start[None], jax.lax.scan(step, start, None, length=n_steps)[1]])


def walk_with(step_fn):
    def walk(key, env, n_steps):
        def step(state, key):
            return (new := step_fn(state, key, env)), new

        start = jnp.zeros(env.dim, dtype=int)
        return jnp.concatenate([start[None], jax.lax.scan(step, start, jax.random.split(key, n_steps))[1]])

    return walk


def biased_step(state, key, env):  # picks x0 half of the time, not a third
    k1, k2 = jax.random.split(key)
    d = jnp.where(jax.random.uniform(k1) < 0.5, 0, jax.random.randint(k2, (), 1, env.dim))
    moved = state.at[d].add(1)
    return jnp.where(moved[d] < env.side, moved, state)


def next_coordinate_at_the_wall(state, key, env):  # a blocked choice moves the next coordinate
    d = jax.random.randint(key, (), 0, env.dim)
    d = jnp.where(state[d] == env.side - 1, (d + 1) % env.dim, d)
    moved = state.at[d].add(1)
    return jnp.where(moved[d] < env.side, moved, state)


def stays_at_random_near_a_wall(state, key, env):  # stays half the time once any coordinate is at the wall
    k1, k2 = jax.random.split(key)
    d = jax.random.randint(k1, (), 0, env.dim)
    moved = state.at[d].add(1)
    moved = jnp.where(moved[d] < env.side, moved, state)
    near_wall = jnp.any(state == env.side - 1)
    return jnp.where(near_wall & (jax.random.uniform(k2) < 0.5), state, moved)


def test_random_walk_accepts_solution(capsys):
    assert check_random_walk(random_walk_solution)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda key, env, n: None, "returns None"),
        (lambda key, env, n: random_walk_solution(key, env, n)[1:], "n_steps + 1"),
        (lambda key, env, n: random_walk_solution(key, env, n) + 1, "starts at the origin"),
        (python_loop_walk, "lax.scan"),
        (one_key_walk, "split the key"),
        (walk_with(lambda s, k, env: s.at[jax.random.randint(k, (), 0, env.dim)].add(1)), "left the grid"),
        (walk_with(lambda s, k, env: jnp.minimum(s + 1, env.side - 1)), "adds one to one coordinate"),
        (walk_with(lambda s, k, env: jnp.where(jax.random.uniform(k) < 0.5, s, s)), "stays at"),
        (walk_with(biased_step), "picked with frequencies"),
        (walk_with(next_coordinate_at_the_wall), "not 1/3"),
        (walk_with(stays_at_random_near_a_wall), "stayed put"),
        (lambda key, env, n: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_random_walk_rejects_wrong_answers(wrong, hint, capsys):
    assert not check_random_walk(wrong)
    out = capsys.readouterr().out
    assert out.startswith("Not yet:") and hint in out
