"""The chapter 4-7 checkers accept the book's solutions and reject typical mistakes."""

import jax
import jax.numpy as jnp
import pytest

import gfn_teach as g
from gfn_teach.exercises.losses import (
    _subtb_batches,
    check_db_residual,
    check_log_inflow,
    check_subtb,
    check_tb_residual,
)
from gfn_teach.policy import masked_log_softmax


# ----- chapter 4 ---------------------------------------------------------------------------
def log_inflow(policy, env, state):
    parents = state - jnp.eye(env.dim, dtype=state.dtype)  # row d: s - e_d
    logits = jax.vmap(policy)(env.observation(jnp.maximum(parents, 0))).forward_logits
    into_s = jnp.diagonal(logits[:, : env.dim])  # logit d of parent s - e_d
    return jax.nn.logsumexp(jnp.where(state > 0, into_s, -jnp.inf))


def test_log_inflow_solution_passes(capsys):
    assert check_log_inflow(log_inflow)
    assert capsys.readouterr().out.startswith("Correct!")


def test_log_inflow_rejects_none_a_sum_of_logs_and_an_error(capsys):
    assert not check_log_inflow(lambda policy, env, state: None)
    assert "fill in the body" in capsys.readouterr().out

    def sum_of_logs(policy, env, state):
        parents = state - jnp.eye(env.dim, dtype=state.dtype)
        logits = jax.vmap(policy)(env.observation(jnp.maximum(parents, 0))).forward_logits
        return jnp.sum(jnp.where(state > 0, jnp.diagonal(logits[:, : env.dim]), 0.0))

    assert not check_log_inflow(sum_of_logs)
    assert "logsumexp" in capsys.readouterr().out
    assert not check_log_inflow(lambda policy, env, state: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_log_inflow_rejects_the_unmasked_origin_parent():
    def unmasked(policy, env, state):  # counts the clipped "parent" at s_d = 0 too
        parents = jnp.maximum(state - jnp.eye(env.dim, dtype=state.dtype), 0)
        logits = jax.vmap(policy)(env.observation(parents)).forward_logits
        return jax.nn.logsumexp(jnp.diagonal(logits[:, : env.dim]))

    assert not check_log_inflow(unmasked)


# ----- chapter 5 ---------------------------------------------------------------------------
def tb_residuals(terms):
    return terms.log_z + terms.log_pf.sum(0) - terms.log_reward - terms.log_pb.sum(0)


def test_tb_residual_solution_passes():
    assert check_tb_residual(tb_residuals)


def test_tb_residual_rejects_wrong_sign_wrong_shape_and_missing_pb(capsys):
    assert not check_tb_residual(lambda t: t.log_z + t.log_pf.sum(0) + t.log_reward - t.log_pb.sum(0))
    assert "signs" in capsys.readouterr().out
    assert not check_tb_residual(lambda t: t.log_z + t.log_pf - t.log_reward - t.log_pb)
    assert "shape" in capsys.readouterr().out
    assert not check_tb_residual(lambda t: t.log_z + t.log_pf.sum(0) - t.log_reward)
    assert not check_tb_residual(lambda t: None)


# ----- chapter 6 ---------------------------------------------------------------------------
def db_residual(policy, env, state, action):
    out = policy(env.observation(state))
    log_pf = masked_log_softmax(out.forward_logits, env.forward_valid(state))[action]
    next_state, is_stop = env.step(state, action)
    next_out = policy(env.observation(next_state))
    log_pb = masked_log_softmax(next_out.backward_logits, env.backward_valid(next_state))[action]
    target = jnp.where(is_stop, env.log_reward(state), next_out.log_flow + log_pb)
    return out.log_flow + log_pf - target


def test_db_residual_solution_passes():
    assert check_db_residual(db_residual)


def test_db_residual_rejects_unmasked_softmax_and_wrong_stop_target(capsys):
    def unmasked(policy, env, state, action):
        out = policy(env.observation(state))
        log_pf = jax.nn.log_softmax(out.forward_logits)[action]
        next_state, is_stop = env.step(state, action)
        next_out = policy(env.observation(next_state))
        log_pb = jax.nn.log_softmax(next_out.backward_logits)[action]
        target = jnp.where(is_stop, env.log_reward(state), next_out.log_flow + log_pb)
        return out.log_flow + log_pf - target

    assert not check_db_residual(unmasked)

    def stop_like_a_move(policy, env, state, action):
        out = policy(env.observation(state))
        log_pf = masked_log_softmax(out.forward_logits, env.forward_valid(state))[action]
        next_state, _ = env.step(state, action)
        next_out = policy(env.observation(next_state))
        return out.log_flow + log_pf - next_out.log_flow

    capsys.readouterr()
    assert not check_db_residual(stop_like_a_move)
    assert "Not yet" in capsys.readouterr().out
    assert not check_db_residual(lambda policy, env, state, action: None)


def test_db_residual_rejects_backward_policy_read_at_s(capsys):
    """A plausible slip: P_B(s | s') taken from the heads at s instead of at s'."""

    def pb_at_s(policy, env, state, action):
        out = policy(env.observation(state))
        log_pf = masked_log_softmax(out.forward_logits, env.forward_valid(state))[action]
        next_state, is_stop = env.step(state, action)
        next_out = policy(env.observation(next_state))
        log_pb = masked_log_softmax(out.backward_logits, env.backward_valid(state))[action]
        target = jnp.where(is_stop, env.log_reward(state), next_out.log_flow + log_pb)
        return out.log_flow + log_pf - target

    capsys.readouterr()
    assert not check_db_residual(pb_at_s)
    assert "backward log-probability" in capsys.readouterr().out


# ----- chapter 7: SubTB from its equation ------------------------------------------------------
def _subtb_parts(terms, lam):
    """(weights [i, j, B], delta [i, j, B]) of the book's solution."""
    node = jnp.arange(terms.log_flow.shape[0])[:, None]  # [T+1, 1]
    sink = jnp.sum(~terms.is_padding, axis=0)  # [B] n + 1, the index of s_f
    log_f = jnp.where(node == sink, terms.log_reward, terms.log_flow)
    steps = terms.log_pf - terms.log_pb
    c = jnp.concatenate([jnp.zeros_like(steps[:1]), jnp.cumsum(steps, axis=0)])
    g_ = log_f - c
    delta = g_[:, None] - g_[None, :]
    i, j = node[:, None], node[None, :]
    return i, j, sink, delta


def subtb_solution(terms, lam):
    i, j, sink, delta = _subtb_parts(terms, lam)
    w = jnp.where((i < j) & (j <= sink), lam ** (j - i), 0.0)
    return jnp.mean(jnp.sum(w * delta**2, axis=(0, 1)) / jnp.sum(w, axis=(0, 1)))


def test_subtb_solution_and_library_pass(capsys):
    assert check_subtb(subtb_solution)
    assert capsys.readouterr().out.startswith("Correct!")
    # The solution is the library's loss, written on the terms.
    env = g.Hypergrid(2, 6, "easy")
    policy = g.MLPPolicy(env, jax.random.PRNGKey(3), hidden=16, depth=1, learn_backward=True)
    traj = g.forward_rollout(jax.random.PRNGKey(4), env, policy, 8, epsilon=0.5)
    for lam in (0.9, 2.0):
        expected = g.subtrajectory_balance(policy, env, traj, lam=lam)
        assert jnp.allclose(subtb_solution(g.trajectory_terms(policy, env, traj), lam), expected, rtol=1e-5)
    assert len(_subtb_batches()) == 6


def _unnormalised(terms, lam):
    i, j, sink, delta = _subtb_parts(terms, lam)
    w = jnp.where((i < j) & (j <= sink), lam ** (j - i), 0.0)
    return jnp.mean(jnp.sum(w * delta**2, axis=(0, 1)))


def _global(terms, lam):
    i, j, sink, delta = _subtb_parts(terms, lam)
    w = jnp.where((i < j) & (j <= sink), lam ** (j - i), 0.0)
    return jnp.sum(w * delta**2) / jnp.sum(w)


def _no_log_r(terms, lam):  # pairs end at x: log F(s_n), never log R(x)
    i, j, sink, delta = _subtb_parts(terms, lam)
    w = jnp.where((i < j) & (j <= sink - 1), lam ** (j - i), 0.0)
    return jnp.mean(jnp.sum(w * delta**2, axis=(0, 1)) / jnp.maximum(jnp.sum(w, axis=(0, 1)), 1e-30))


def _with_padding(terms, lam):
    i, j, sink, delta = _subtb_parts(terms, lam)
    w = jnp.where(i < j, lam ** (j - i), 0.0) * jnp.ones_like(delta)
    return jnp.mean(jnp.sum(w * delta**2, axis=(0, 1)) / jnp.sum(w, axis=(0, 1)))


def _same_weights(terms, lam):
    return subtb_solution(terms, 1.0)


def _db_only(terms, lam):
    i, j, sink, delta = _subtb_parts(terms, lam)
    w = jnp.where((j == i + 1) & (j <= sink), 1.0, 0.0)
    return jnp.mean(jnp.sum(w * delta**2, axis=(0, 1)) / jnp.sum(w, axis=(0, 1)))


def _tb_only(terms, lam):
    return jnp.mean((terms.log_flow[0] + terms.log_pf.sum(0) - terms.log_reward - terms.log_pb.sum(0)) ** 2)


@pytest.mark.parametrize(
    "wrong,hint",
    [
        (lambda terms, lam: None, "fill in the body"),
        (lambda terms, lam: jnp.zeros(3), "return one number"),
        (lambda terms, lam: terms.nothing, "AttributeError"),
        (_unnormalised, "divide each trajectory's weighted sum"),
        (_global, "normalise each trajectory by its own sum"),
        (_no_log_r, "log F(s_{n+1}) := log R(x)"),
        (_with_padding, "mask the padding nodes"),
        (_same_weights, "weight a pair (i, j) by lambda**(j - i)"),
        (_db_only, "delta_ij = (log F(s_i) - C_i)"),
        (_tb_only, "delta_ij = (log F(s_i) - C_i)"),
    ],
)
def test_subtb_checker_rejects_wrong_losses(wrong, hint, capsys):
    assert not check_subtb(wrong)
    out = capsys.readouterr().out
    assert out.startswith("Not yet:") and hint in out, out
