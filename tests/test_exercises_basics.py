"""The chapter 2-3 checkers accept the book's solutions and reject wrong answers."""

import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach.exercises import (
    check_background_r0,
    check_backward_policy,
    check_forward_valid,
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
