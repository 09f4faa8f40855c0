"""The environment protocol: conformance, exact DP, losses, path counts and max-ent RL on
environments other than the hypergrid, each checked against an independent brute force."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach.exact import uniform_log_pb
from gfn_teach.lego import BRICKS, DESIGNS, SLOTS, encode

N_SLOTS, N_BRICKS = len(SLOTS), len(BRICKS)


# ----- independent brute force on the Lego spaceship -----------------------------------------
def lego_row(ship) -> int:
    """Row of a ship in all_states(): base-5 digits, nose first (written out by hand)."""
    return sum(b * 5 ** (N_SLOTS - 1 - i) for i, b in enumerate(ship))


def lego_trajectories():
    """Every (ship, probability-path) by walking every order of filling the slots."""
    def walk(ship, actions):
        yield ship, actions
        for slot in range(N_SLOTS):
            if ship[slot] == 0:
                for brick in range(1, N_BRICKS + 1):
                    child = ship[:slot] + (brick,) + ship[slot + 1:]
                    yield from walk(child, actions + [(ship, slot * N_BRICKS + brick - 1)])

    yield from walk((0,) * N_SLOTS, [])


def brute_force_lego(pf: np.ndarray):
    """Terminal distribution of a forward policy table, and the number of paths into each ship."""
    stop = N_SLOTS * N_BRICKS
    dist, paths = np.zeros(5**N_SLOTS), np.zeros(5**N_SLOTS)
    for ship, actions in lego_trajectories():
        if not any(ship):
            continue  # the empty ship cannot stop
        row = lego_row(ship)
        prob = math.prod(pf[lego_row(s), a] for s, a in actions)
        dist[row] += prob * pf[row, stop]
        paths[row] += 1
    return dist, paths


def lego_reward(ship) -> float:
    env = g.LegoSpaceship()
    designs = {encode(bricks) for bricks in DESIGNS.values()}
    flies = ship[SLOTS.index("engine")] == BRICKS.index("thruster") + 1
    return env.base + env.flying_bonus * flies + env.design_bonus * (tuple(ship) in designs)


@pytest.fixture(scope="module")
def lego():
    return g.LegoSpaceship()


def random_log_pf(env, key):
    logits = jax.random.normal(key, (env.n_states, env.n_actions)) * 2
    return g.masked_log_softmax(logits, env.forward_valid(env.all_states()))


def test_lego_and_hypergrids_conform(lego):
    for env in (lego, g.Hypergrid(1, 5), g.Hypergrid(2, 4), g.Hypergrid(3, 3, "hard")):
        assert g.check_environment(env) is None


def test_lego_sizes_and_reward_by_hand(lego):
    assert (lego.n_states, lego.n_actions, lego.n_backward_actions, lego.max_length) == (3125, 21, 5, 6)
    states = np.asarray(lego.all_states())
    assert [lego_row(s) for s in states[:7]] == list(range(7))
    rewards = np.exp(np.asarray(lego.log_reward(lego.all_states())))
    expected = np.array([lego_reward(s) for s in states])
    np.testing.assert_allclose(rewards, expected, rtol=1e-5)
    terminal = np.asarray(lego.is_terminal(lego.all_states()))
    assert not terminal[0] and terminal[1:].all()  # every ship but the empty one
    target = np.asarray(lego.true_distribution())
    np.testing.assert_allclose(target, np.where(terminal, expected, 0) / expected[1:].sum(), rtol=1e-5)


def test_exact_dp_equals_trajectory_enumeration_on_lego(lego, key):
    log_pf = random_log_pf(lego, key)
    brute, _ = brute_force_lego(np.exp(np.asarray(log_pf, np.float64)))
    dp = np.asarray(g.terminal_distribution_from_log_pf(lego, log_pf))
    np.testing.assert_allclose(dp, brute, atol=1e-6)
    assert np.isclose(dp.sum(), 1.0, atol=1e-5)


def test_exact_dp_agrees_with_rollouts_on_lego(lego, key):
    policy = g.MLPPolicy(lego, key, hidden=32, depth=1)
    exact = np.asarray(g.terminal_distribution(policy, lego))
    n = 100_000
    traj = jax.jit(lambda k: g.forward_rollout(k, lego, policy, n))(jax.random.PRNGKey(3))
    empirical = np.asarray(g.empirical_distribution(lego, traj.final_states))
    tolerance = 5 * np.sqrt(exact * (1 - exact) / n) + 1e-4
    assert np.all(np.abs(empirical - exact) <= tolerance)


def test_exact_flows_sample_the_target_on_lego(lego, key):
    target = lego.true_distribution()
    for backward in (None, jax.random.normal(key, (lego.n_states, lego.n_backward_actions))):
        policy = g.exact_tabular_policy(lego, backward)
        assert float(g.total_variation(target, g.terminal_distribution(policy, lego))) < 1e-5
        assert np.isclose(float(policy.log_z), float(lego.log_partition()), atol=1e-4)


@pytest.mark.parametrize("learn_backward", [False, True])
def test_each_loss_is_zero_at_exact_flows_and_positive_when_perturbed(lego, key, learn_backward):
    backward = jax.random.normal(key, (lego.n_states, lego.n_backward_actions)) if learn_backward else None
    policy = g.exact_tabular_policy(lego, backward)
    traj = g.forward_rollout(jax.random.PRNGKey(1), lego, policy, 64, epsilon=0.5)
    noise = jax.random.normal(jax.random.PRNGKey(2), policy.table.shape)
    perturbed = eqx_replace_table(policy, policy.table + noise)
    for name, loss in {"fm": g.flow_matching, "db": g.detailed_balance, "tb": g.trajectory_balance,
                       "subtb": g.subtrajectory_balance}.items():
        if name == "fm" and learn_backward:
            continue  # flow matching has no backward policy
        assert float(loss(policy, lego, traj)) < 1e-6, name
        assert float(loss(perturbed, lego, traj)) > 1e-2, name


def eqx_replace_table(policy, table):
    import equinox as eqx

    return eqx.tree_at(lambda p: p.table, policy, table)


def test_backward_rollout_reaches_the_start_and_scores_like_forward(lego, key):
    policy = g.MLPPolicy(lego, key, hidden=16, depth=1, learn_backward=True)
    ships = lego.design_states()
    traj = g.backward_rollout(jax.random.PRNGKey(5), lego, policy, ships)
    assert (np.asarray(traj.states[0]) == 0).all()
    np.testing.assert_array_equal(np.asarray(traj.lengths), [6, 6, 3])  # n bricks, then stop
    # Replaying the actions forward from the start rebuilds each state.
    state = traj.states[0]
    for t in range(lego.max_length):
        nxt, _ = lego.step(state, traj.actions[t])
        state = jnp.where(traj.is_padding[t][:, None], state, nxt)
        np.testing.assert_array_equal(np.asarray(state), np.asarray(traj.states[t + 1]))


# ----- many paths --------------------------------------------------------------------------
def brute_force_hypergrid_paths(env):
    counts = np.zeros(env.n_states)

    def walk(x):
        counts[np.ravel_multi_index(tuple(x), (env.side,) * env.dim)] += 1
        for d in range(env.dim):
            if x[d] < env.side - 1:
                walk(x[:d] + (x[d] + 1,) + x[d + 1:])

    walk((0,) * env.dim)
    return counts


@pytest.mark.parametrize("dim,side", [(1, 4), (2, 4), (3, 3)])
def test_path_counts_and_maxent_on_small_grids(dim, side):
    env = g.Hypergrid(dim, side, "hard")
    paths = brute_force_hypergrid_paths(env)
    np.testing.assert_allclose(np.exp(np.asarray(g.log_path_counts(env))), paths, rtol=1e-5)
    weight = np.exp(np.asarray(env.log_reward(env.all_states()), np.float64)) * paths
    np.testing.assert_allclose(np.asarray(g.maxent_rl_distribution(env)), weight / weight.sum(), atol=1e-6)


def test_path_counts_and_maxent_on_lego(lego):
    _, paths = brute_force_lego(np.ones((lego.n_states, lego.n_actions)))
    log_counts = np.asarray(g.log_path_counts(lego))
    np.testing.assert_allclose(np.exp(log_counts[1:]), paths[1:], rtol=1e-5)
    bricks = (np.asarray(lego.all_states()) > 0).sum(-1)
    np.testing.assert_allclose(paths[1:], [math.factorial(n) for n in bricks[1:]])  # n! orders
    reward = np.array([lego_reward(s) for s in np.asarray(lego.all_states())])
    weight = np.where(np.arange(lego.n_states) > 0, reward * paths, 0.0)
    maxent = np.asarray(g.maxent_rl_distribution(lego))
    np.testing.assert_allclose(maxent, weight / weight.sum(), atol=1e-6)
    # The scout (2 bricks, 2 paths) gets far less than its reward share under max-ent RL.
    scout = lego_row(encode(DESIGNS["scout"]))
    assert maxent[scout] < 0.1 * float(lego.true_distribution()[scout])


def test_path_counts_stay_finite_on_a_grid_whose_counts_overflow_float32():
    env = g.Hypergrid(4, 20)
    log_counts = np.asarray(g.log_path_counts(env))
    far_corner = math.lgamma(4 * 19 + 1) - 4 * math.lgamma(20)  # log of the multinomial 76!/(19!)^4
    assert far_corner > math.log(np.finfo(np.float32).max)
    assert np.isfinite(log_counts).all()
    assert np.isclose(log_counts[-1], far_corner, rtol=1e-5)


def test_maxent_pulls_the_2d_grid_to_the_far_corner():
    env = g.Hypergrid(2, 20)
    marginal = np.asarray(g.marginal_2d(env, g.maxent_rl_distribution(env)))
    assert marginal[10:, 10:].sum() > 0.99  # nearly all mass in the far corner's quadrant
    target = np.asarray(g.marginal_2d(env, env.true_distribution()))
    assert 0.2 < target[10:, 10:].sum() < 0.3


# ----- training and the command line on Lego ----------------------------------------------------
def test_a_short_training_on_lego_lowers_exact_tv():
    config = g.TrainConfig(env="lego", loss="tb", steps=1500, eval_every=500)
    trainer = g.Trainer(config)
    fresh = trainer.init(trainer.keys()).policy
    before = float(g.total_variation(trainer.target, g.terminal_distribution(fresh, trainer.env)))
    result = trainer.fit(progress=False)
    tv = result.history["exact_tv"]
    assert tv[-1] < before - 0.15, (before, tv)
    assert result.history["marginal"].shape == (3, 4)  # design shares, then the rest
    assert set(np.asarray(result.history["modes_found"]).tolist()) <= {0, 1, 2, 3}


def test_config_refuses_grid_settings_for_lego():
    with pytest.raises(ValueError, match="side applies to env 'hypergrid' only"):
        g.TrainConfig(env="lego", side=5)
    with pytest.raises(ValueError, match="env must be one of hypergrid, lego"):
        g.TrainConfig(env="chain")
    with pytest.raises(ValueError, match="apply to the hypergrid only"):
        g.Trainer(g.TrainConfig(dim=3), env=g.LegoSpaceship())
    with pytest.raises(ValueError, match="env is a Hypergrid but the config has env='lego'"):
        g.Trainer(g.TrainConfig(env="lego"), env=g.Hypergrid())
    assert isinstance(g.TrainConfig(env="lego").make_env(), g.LegoSpaceship)


@pytest.mark.parametrize("flag", [["--side", "5"], ["--dim", "3"], ["--reward", "hard"], ["--r0", "0.5"]])
def test_cli_rejects_grid_flags_for_lego(flag, tmp_path, capsys):
    from gfn_teach.cli import main

    status = main(["train", "--env", "lego", *flag, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 2
    assert f"{flag[0]} does not apply to --env lego" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


# ----- check_environment catches each broken rule ------------------------------------------------
class Chain(g.Environment):
    """States 0..length-1 on a line: +1 or stop; the smallest environment there is."""

    length: int = 4

    state_size = property(lambda self: 1)
    n_actions = property(lambda self: 2)
    stop_action = property(lambda self: 1)
    n_backward_actions = property(lambda self: 1)
    max_length = property(lambda self: self.length)
    obs_size = property(lambda self: self.length)
    n_states = property(lambda self: self.length)

    def reset(self, batch_size):
        return jnp.zeros((batch_size, 1), jnp.int32)

    def step(self, state, action):
        return state + (action == 0)[..., None], action == 1

    def backward_step(self, state, backward_action):
        return state - 1

    def forward_valid(self, state):
        return jnp.concatenate([state < self.length - 1, jnp.ones_like(state, bool)], -1)

    def backward_valid(self, state):
        return state > 0

    def backward_action(self, forward_action):
        return jnp.zeros_like(forward_action)

    def parents(self, state):
        return (state - 1)[..., None, :], jnp.zeros(state.shape, jnp.int32), state > 0

    def observation(self, state):
        return jax.nn.one_hot(state[..., 0], self.length)

    def log_reward(self, state):
        return jnp.zeros(state.shape[:-1])

    def all_states(self):
        return jnp.arange(self.length, dtype=jnp.int32)[:, None]

    def state_index(self, state):
        return state[..., 0]


class Ring(Chain):
    """A cycle: the last state's move leads back to 0."""

    def step(self, state, action):
        return (state + (action == 0)[..., None]) % self.length, action == 1

    def backward_step(self, state, backward_action):
        return (state - 1) % self.length

    def forward_valid(self, state):
        return jnp.ones(state.shape[:-1] + (2,), bool)

    def backward_valid(self, state):
        return jnp.ones_like(state, bool)

    def parents(self, state):
        return ((state - 1) % self.length)[..., None, :], jnp.zeros(state.shape, jnp.int32), jnp.ones_like(state, bool)


class Island(Chain):
    """One more state, 9, listed but never reached."""

    n_states = property(lambda self: self.length + 1)

    def all_states(self):
        return jnp.array([[0], [1], [2], [3], [9]], jnp.int32)

    def state_index(self, state):
        return jnp.where(state[..., 0] == 9, self.length, state[..., 0])

    def forward_valid(self, state):  # at 9: stop only
        valid = super().forward_valid(state)
        return valid.at[..., 0].set(valid[..., 0] & (state[..., 0] != 9))

    def backward_valid(self, state):
        return (state > 0) & (state != 9)

    def parents(self, state):
        parent_states, actions, valid = super().parents(state)
        return parent_states, actions, valid & (state != 9)


class WrongStop(g.LegoSpaceship):
    def step(self, state, action):
        next_state, _ = super().step(state, action)
        return next_state, jnp.zeros_like(action, bool)


class OffCatalogue(g.LegoSpaceship):
    def step(self, state, action):
        next_state, done = super().step(state, action)
        return jnp.where((next_state == 4) & (state != 4), 7, next_state), done  # a thruster becomes brick 7


class WrongUndo(g.LegoSpaceship):
    def backward_action(self, forward_action):
        return (super().backward_action(forward_action) + 1) % self.n_slots


class LooseBackwardMask(g.LegoSpaceship):
    def backward_valid(self, state):
        return jnp.ones_like(state, bool)


class WrongParents(g.LegoSpaceship):
    def parents(self, state):
        parent_states, _, valid = super().parents(state)
        return parent_states, jnp.broadcast_to(jnp.arange(self.n_slots) * self.n_bricks, state.shape), valid


class ShortMaxLength(g.LegoSpaceship):
    max_length = property(lambda self: 5)


class StuckWhenFull(g.LegoSpaceship):
    def forward_valid(self, state):
        valid = super().forward_valid(state)
        return valid.at[..., self.stop_action].set(valid[..., self.stop_action] & jnp.any(state == 0, -1))


class ZeroRewardScout(g.LegoSpaceship):
    def log_reward(self, state):
        scout = self.design(state) == 2
        return jnp.where(scout, -jnp.inf, super().log_reward(state))


class ShuffledIndex(g.LegoSpaceship):
    def state_index(self, state):
        return (super().state_index(state) + 1) % self.n_states


class TwoMovesOneUndo(Chain):
    """Issue 21, item 21: forward actions 0 and 1 both move +1, and one backward action undoes both."""

    length: int = 2
    n_actions = property(lambda self: 3)
    stop_action = property(lambda self: 2)

    def step(self, state, action):
        return state + (action < 2)[..., None], action == 2

    def forward_valid(self, state):
        more = state < self.length - 1
        return jnp.concatenate([more, more, jnp.ones_like(state, bool)], -1)

    def parents(self, state):
        both = jnp.broadcast_to(state[..., None, :] - 1, state.shape[:-1] + (2, 1))
        actions = jnp.broadcast_to(jnp.arange(2), state.shape[:-1] + (2,))
        return both, actions, jnp.broadcast_to(state > 0, state.shape[:-1] + (2,))


class FirstAxisObservation(Chain):
    """Issue 21, item 22: ``state[:, 0]`` works on ``[n, 1]`` only, not on ``[T, B, 1]``."""

    def observation(self, state):
        return jax.nn.one_hot(state[:, 0], self.length)


class BatchSizeReward(Chain):
    """Issue 21, item 22: a reward that takes ``state.shape[0]`` as the number of states: the
    shapes are right on ``[T, B, 1]``, the values are not."""

    def log_reward(self, state):
        return (state[..., 0] * state.shape[0]).astype(jnp.float32)


@pytest.mark.parametrize("env,rule", [
    (TwoMovesOneUndo(), r"each forward move into a state has its own backward action: action 0 at state \[0\] "
                        r"and action 1 at state \[0\] both lead to state \[1\] and are both undone by backward action 0"),
    (FirstAxisObservation(), r"methods work on any leading shape: observation on states of shape \(2, 4, 1\) gives "
                             r"shape \(2, 1, 4\), expected \(2, 4, 4\) \(as on state \[0\]"),
    (BatchSizeReward(), r"methods work on any leading shape: log_reward at state \[1\] gives other values on states "
                        r"of shape \(2, 4, 1\) than on \(4, 1\)"),
    (ShuffledIndex(), "state_index numbers all_states in order"),
    (WrongStop(), "step reports done for stop only"),
    (OffCatalogue(), "every forward step lands on a valid state"),
    (WrongUndo(), "each forward step is undone by its backward action"),
    (LooseBackwardMask(), "every backward step lands on a valid state|backward masks agree with step"),
    (WrongParents(), "parents agree with step"),
    (ShortMaxLength(), "max_length bounds every trajectory"),
    (StuckWhenFull(), "stop is valid where no move is"),
    (ZeroRewardScout(), "rewards are finite and positive on terminal states"),
    (Ring(), "the graph is acyclic"),
    (Island(), "every state is reachable from the start"),
])
def test_check_environment_names_each_broken_rule(env, rule):
    with pytest.raises(ValueError, match=rule) as error:
        g.check_environment(env)
    assert "state" in str(error.value) or "cycle" in str(error.value)
    assert len(str(error.value).splitlines()) == 1


def test_check_environment_accepts_the_chain_and_refuses_non_environments():
    assert g.check_environment(Chain()) is None
    with pytest.raises(ValueError, match="must be a gfn_teach.Environment"):
        g.check_environment(object())


@pytest.mark.parametrize("kwargs,message", [
    (dict(base=1e-50), r"base must be a finite number >= 1e-30 \(log R must stay finite in float32\), got 1e-50"),
    (dict(base=0.0), r"base must be a finite number >= 1e-30"),
    (dict(flying_bonus=-1.0), r"flying_bonus must be a finite number >= 0, got -1.0"),
])
def test_lego_refuses_rewards_whose_log_is_not_finite(kwargs, message):
    # Issue 21, item 19: base=1e-50 was accepted, and training then blamed the learning rate.
    with pytest.raises(ValueError, match=message):
        g.LegoSpaceship(**kwargs)
    assert g.LegoSpaceship(base=1e-30).base == 1e-30


def random_valid_log_pb(env, seed=0):
    """A backward policy that is not uniform: random logits, masked to the valid parents."""
    valid = np.asarray(env.backward_valid(env.all_states()))
    logits = np.random.default_rng(seed).normal(size=valid.shape) * 2.0
    logits = np.where(valid, logits, -np.inf)
    with np.errstate(invalid="ignore"):  # the start has no parent: a row of -inf, masked below
        log_pb = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    return jnp.asarray(np.where(valid, log_pb, -np.inf), jnp.float32)


@pytest.mark.parametrize("make_env", [lambda: g.Hypergrid(2, 4, "hard"), lambda: g.Hypergrid(3, 3), g.LegoSpaceship],
                         ids=["grid 2x4", "grid 3x3", "lego"])
@pytest.mark.parametrize("backward", ["uniform", "random"])
def test_soft_rl_with_the_log_pb_correction_samples_r_over_z(make_env, backward):
    env = make_env()
    log_pb = uniform_log_pb(env) if backward == "uniform" else random_valid_log_pb(env)
    reward = np.exp(np.asarray(env.log_reward(env.all_states()), np.float64))
    can_stop = np.asarray(env.forward_valid(env.all_states()))[:, env.stop_action]
    target = np.where(can_stop, reward, 0.0) / np.where(can_stop, reward, 0.0).sum()  # R/Z, by hand
    soft_rl = np.asarray(g.soft_rl_distribution(env, log_pb))
    np.testing.assert_allclose(soft_rl, target, atol=1e-6)
    start = int(env.state_index(env.reset(1))[0])
    values = g.soft_values(env, log_pb)
    assert np.isclose(float(values[start]), np.log(np.where(can_stop, reward, 0.0).sum()), rtol=1e-5)  # V(s0) = log Z
    maxent = np.asarray(g.maxent_rl_distribution(env))
    assert np.abs(maxent - target).sum() / 2 > 0.05  # without the correction: another distribution
