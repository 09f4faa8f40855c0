"""Tempered rewards R^beta and the beta-conditional policy, each against an independent answer:
R^beta / Z_beta recomputed in NumPy (float64) from the rewards, losses at the exact flows, and
the conditional step's loss recomputed one beta at a time."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g

BETAS = [0.0, 0.3, 1.0, 2.5]


def numpy_tempered_target(env, beta):
    """R(x)^beta / sum_x R(x)^beta over the terminal states, 0 elsewhere, in float64."""
    states = env.all_states()
    rewards = np.exp(np.asarray(env.log_reward(states), np.float64))
    terminal = np.asarray(env.is_terminal(states))
    weights = np.where(terminal, rewards**beta, 0.0)
    return weights / weights.sum(), np.log(weights.sum())


@pytest.fixture(scope="module")
def grid():
    return g.Hypergrid(2, 5, "easy")


@pytest.mark.parametrize("beta", BETAS)
def test_target_is_r_to_the_beta_over_z_beta(grid, beta):
    for env in (grid, g.LegoSpaceship()):  # the Lego start state cannot stop
        expected, log_z = numpy_tempered_target(env, beta)
        tempered = g.Tempered(env, beta)
        np.testing.assert_allclose(np.asarray(tempered.true_distribution()), expected, atol=1e-6, rtol=1e-4)
        assert abs(float(tempered.log_partition()) - log_z) < 1e-4 * max(1.0, abs(log_z))


def test_beta_zero_is_uniform_and_beta_one_is_the_environment(grid):
    np.testing.assert_allclose(np.asarray(g.Tempered(grid, 0.0).true_distribution()), 1 / grid.n_states, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(g.Tempered(grid, 1.0).true_distribution()),
                               np.asarray(grid.true_distribution()), atol=1e-7)


def test_large_beta_concentrates_on_the_modes():
    env = g.Hypergrid(2, 8, "easy")
    modes = np.asarray(env.mode_mask())
    mass = [float(np.asarray(g.Tempered(env, b).true_distribution())[modes].sum()) for b in (0.5, 1.0, 4.0)]
    assert mass[0] < mass[1] < mass[2] and mass[2] > 0.99 and modes.sum() == 4  # one cell per corner on 8 x 8


def test_tempered_environments_conform(grid):
    for env in (g.Tempered(grid, 0.7), g.Tempered(g.LegoSpaceship(), 2.0), g.Tempered(g.Tempered(grid, 2.0), 0.5)):
        assert g.check_environment(env) is None


def test_nested_tempering_multiplies_the_betas(grid):
    nested = g.Tempered(g.Tempered(grid, 2.0), 0.5)
    np.testing.assert_allclose(np.asarray(nested.true_distribution()), np.asarray(grid.true_distribution()), atol=1e-7)


def test_the_observation_is_the_wrapped_one_with_beta_appended(grid):
    states = grid.all_states().reshape(5, 5, 2)  # a leading batch shape, as the losses use
    obs = g.Tempered(grid, 1.5).observation(states)
    assert obs.shape == (5, 5, grid.obs_size + 1) == (5, 5, g.Tempered(grid, 1.5).obs_size)
    np.testing.assert_array_equal(np.asarray(obs[..., :-1]), np.asarray(grid.observation(states)))
    np.testing.assert_array_equal(np.asarray(obs[..., -1]), 1.5)


def test_an_mlp_policy_built_for_a_tempered_env_is_conditional_on_beta(grid, key):
    policy = g.MLPPolicy(g.Tempered(grid, 1.0), key, hidden=16)
    p_low = g.terminal_distribution(policy, g.Tempered(grid, 0.5))
    p_high = g.terminal_distribution(policy, g.Tempered(grid, 2.0))
    assert float(g.total_variation(p_low, p_high)) > 1e-3  # same network, another beta, another P_T
    with pytest.raises(ValueError, match="observations of size"):
        g.terminal_distribution(policy, grid)  # the untempered env does not tell it beta


def test_a_batch_of_tempered_envs_maps_like_each_one(grid):
    betas = jnp.array([0.5, 1.0, 3.0])
    batch = g.tempered_batch(grid, betas)
    mapped = eqx.filter_vmap(lambda env: env.true_distribution())(batch)
    for beta, row in zip(betas, mapped):
        expected, _ = numpy_tempered_target(grid, float(beta))
        np.testing.assert_allclose(np.asarray(row), expected, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("beta", [-1.0, float("nan"), float("inf"), True, [1.0, 2.0], "1"])
def test_bad_beta_raises_a_clear_error(grid, beta):
    with pytest.raises(ValueError, match="beta must be"):
        g.Tempered(grid, beta)


@pytest.mark.parametrize("loss", ["db", "tb", "subtb", "fm"])
def test_each_loss_is_zero_at_the_exact_tempered_flows(grid, loss):
    env = g.Tempered(grid, 2.0)
    policy = g.exact_tabular_policy(env)
    traj = g.forward_rollout(jax.random.PRNGKey(1), env, policy, 64, epsilon=0.5)
    assert float(g.losses.LOSSES[loss](policy, env, traj)) < 1e-6
    assert abs(float(policy.log_z) - numpy_tempered_target(grid, 2.0)[1]) < 1e-4  # log Z_beta
    untempered = g.exact_tabular_policy(grid)  # the flows of R, not of R^2: far from zero
    assert float(g.losses.LOSSES[loss](untempered, env, traj)) > 1e-2


def test_the_config_takes_a_tempered_grid_of_its_own_size(grid):
    config = g.TrainConfig(dim=2, side=5, loss="db", steps=10, eval_every=10)
    config.check_env(g.Tempered(grid, 2.0))
    with pytest.raises(ValueError, match="must agree"):
        g.TrainConfig(dim=2, side=6).check_env(g.Tempered(grid, 2.0))


def test_a_trainer_trains_at_one_beta_towards_r_to_the_beta():
    env = g.Tempered(g.Hypergrid(2, 4, "easy"), 0.5)
    config = g.TrainConfig(dim=2, side=4, loss="db", hidden=32, steps=600, eval_every=300, exploration_steps=200)
    result = g.Trainer(config, env=env).fit(progress=False)
    learned = g.terminal_distribution(result.state.policy, env)
    expected, log_z = numpy_tempered_target(env.env, 0.5)
    tv = 0.5 * np.abs(np.asarray(learned, np.float64) - expected).sum()
    assert abs(tv - float(result.history["exact_tv"][-1])) < 1e-5 and tv < 0.1
    assert abs(float(result.history["log_z"][-1]) - log_z) < 0.2


def test_the_conditional_step_loss_is_the_mean_of_each_betas_loss(grid, key):
    config = g.TrainConfig(dim=2, side=5, loss="db", hidden=16)
    state = g.init_state(config, g.Tempered(grid, 1.0), key)
    hparams = g.Hyperparams.from_config(config)
    betas = jnp.array([0.5, 2.0])
    step = eqx.filter_jit(g.conditional_train_step)
    _, loss = step(state, hparams, grid, betas, g.detailed_balance, 8)
    _, same = step(state, hparams, grid, [0.5, 2.0], g.detailed_balance, 8)  # a list will do
    assert float(same) == float(loss)
    # The same trajectories, one beta at a time: the step's keys, split as it splits them.
    _, rollout_key = jax.random.split(state.key)
    keys = jax.random.split(rollout_key, 2)
    eps = float(hparams.epsilon_decay + hparams.epsilon_end)  # step 0
    each = []

    @eqx.filter_jit
    def one_beta(env, k):
        traj = g.forward_rollout(k, env, state.policy, 8, eps)
        return traj, g.detailed_balance(state.policy, env, traj)

    for beta, k in zip(betas, keys):
        traj, loss_at_beta = one_beta(g.Tempered(grid, float(beta)), k)
        assert np.allclose(np.asarray(traj.log_rewards), float(beta) * np.asarray(grid.log_reward(traj.final_states)))
        each.append(float(loss_at_beta))
    assert abs(float(loss) - np.mean(each)) < 1e-4 * max(1.0, abs(np.mean(each)))


def test_conditional_training_lowers_the_exact_tv_at_each_beta_it_trains_on():
    env = g.Hypergrid(2, 4, "easy")
    config = g.TrainConfig(dim=2, side=4, loss="db", hidden=32, steps=1500, exploration_steps=200)
    train = eqx.filter_jit(g.make_conditional_train(config, env))
    state, losses = train(jax.random.PRNGKey(0), jnp.array([0.5, 1.0]))
    fresh = g.init_state(config, g.Tempered(env, 1.0), jax.random.PRNGKey(0))
    assert losses.shape == (1500,) and np.all(np.isfinite(np.asarray(losses)))
    for beta in (0.5, 1.0):
        tempered = g.Tempered(env, beta)
        target, _ = numpy_tempered_target(env, beta)
        tv = lambda policy: 0.5 * np.abs(np.asarray(g.terminal_distribution(policy, tempered), np.float64) - target).sum()
        assert tv(state.policy) < 0.1 < tv(fresh.policy)


def test_a_schedule_of_betas_is_an_input_one_compilation_serves_every_schedule():
    env = g.Hypergrid(2, 3, "easy")
    config = g.TrainConfig(dim=2, side=3, loss="subtb", hidden=8, steps=5, exploration_steps=2)
    traces = []

    def counted_subtb(policy, env, traj, **kwargs):
        traces.append(1)  # runs when the program is traced, not when it runs
        return g.subtrajectory_balance(policy, env, traj, **kwargs)

    train = eqx.filter_jit(g.make_conditional_train(config, env, loss_fn=counted_subtb))
    drawn = g.log_uniform_betas(jax.random.PRNGKey(1), 0.5, 2.0, (5, 3))
    state, losses = train(jax.random.PRNGKey(0), drawn)
    n_traces = len(traces)
    repeated = jnp.tile(jnp.array([0.5, 1.0, 2.0]), (5, 1))
    state_2, _ = train(jax.random.PRNGKey(0), repeated)
    assert len(traces) == n_traces and losses.shape == (5,) and int(state.step) == int(state_2.step) == 5
    # A vector [K] is the same row at every step: the same run as the repeated schedule.
    state_3, _ = eqx.filter_jit(g.make_conditional_train(config, env))(jax.random.PRNGKey(0), jnp.array([0.5, 1.0, 2.0]))
    leaves = lambda s: jax.tree.leaves(eqx.filter(s.policy, eqx.is_array))
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(leaves(state_2), leaves(state_3)))


def test_log_uniform_betas_stay_in_range_and_spread_evenly_in_log():
    betas = np.asarray(g.log_uniform_betas(jax.random.PRNGKey(0), 0.25, 4.0, (20_000,)))
    assert betas.shape == (20_000,) and betas.min() >= 0.25 * (1 - 1e-6) and betas.max() <= 4.0 * (1 + 1e-6)
    assert abs(np.mean(betas < 1.0) - 0.5) < 0.02  # 1 is the geometric midpoint of [1/4, 4]
    assert abs(np.mean(betas < 0.5) - 0.25) < 0.02  # a quarter in [1/4, 1/2], as in [2, 4]
    with pytest.raises(ValueError):
        g.log_uniform_betas(jax.random.PRNGKey(0), 0.0, 1.0, (3,))


def test_conditional_training_refuses_tb_replay_and_a_wrong_shape_of_betas():
    env = g.Hypergrid(2, 3, "easy")
    with pytest.raises(ValueError, match="log Z_beta"):
        g.make_conditional_train(g.TrainConfig(dim=2, side=3, loss="tb"), env)
    with pytest.raises(ValueError, match="has no replay buffer; leave replay_size at 0"):
        g.make_conditional_train(g.TrainConfig(dim=2, side=3, replay_size=8), env)
    train = g.make_conditional_train(g.TrainConfig(dim=2, side=3, steps=4), env)
    for betas in (jnp.ones((3, 2)), jnp.ones((4, 2, 1))):
        with pytest.raises(ValueError, match=r"betas must be \[K\] or \[steps, K\]"):
            train(jax.random.PRNGKey(0), betas)
    with pytest.raises(ValueError, match="must agree"):
        g.make_conditional_train(g.TrainConfig(dim=2, side=4), env)
