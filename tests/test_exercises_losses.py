"""The chapter 4-6 checkers accept the book's solutions and reject typical mistakes."""

import jax
import jax.numpy as jnp

from gfn_teach.exercises.losses import check_db_residual, check_log_inflow, check_tb_residual
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
