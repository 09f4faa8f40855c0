"""The chapter 10 checker accepts Metropolis–Hastings's acceptance and rejects the likely slips."""

import jax.numpy as jnp
import pytest

from gfn_teach import mcmc
from gfn_teach.exercises import check_mh_acceptance


def acceptance_solution(log_r_x, log_r_y):
    return jnp.minimum(1.0, jnp.exp(log_r_y - log_r_x))


def test_accepts_the_solution_and_an_equivalent_form(capsys):
    assert check_mh_acceptance(acceptance_solution)
    assert check_mh_acceptance(lambda lx, ly: jnp.exp(jnp.minimum(0.0, ly - lx)))
    assert "Correct!" in capsys.readouterr().out


WRONG = {
    "upside down": (lambda lx, ly: jnp.minimum(1.0, jnp.exp(lx - ly)), "upside down"),
    "no min": (lambda lx, ly: jnp.exp(ly - lx), "[0, 1]"),
    "Barker": (lambda lx, ly: jnp.exp(ly) / (jnp.exp(lx) + jnp.exp(ly)), "Barker"),
    "log-rewards": (lambda lx, ly: jnp.minimum(1.0, ly / lx), "not log-rewards"),
    "never moves": (lambda lx, ly: jnp.zeros_like(lx), "never moves"),
    "one number": (lambda lx, ly: jnp.minimum(1.0, jnp.exp(ly - lx)).mean(), "shape"),
    "stub": (lambda lx, ly: None, "fill in"),
}


@pytest.mark.parametrize("name", WRONG)
def test_rejects_a_plausible_wrong_answer(name, capsys):
    fn, hint = WRONG[name]
    assert not check_mh_acceptance(fn)
    out = capsys.readouterr().out
    assert out.startswith("Not yet:") and hint in out


def test_the_solution_is_the_acceptance_the_library_kernel_uses():
    # K(x, y) for a proposed y is (1 / M) * acceptance: recompute one off-diagonal entry.
    import gfn_teach as g
    import numpy as np

    env = g.Hypergrid(2, 4, "easy")
    kernel = mcmc.transition_matrix(env)
    log_r = np.asarray(env.log_reward(env.all_states()), np.float64)
    x, y = 0, int(np.asarray(env.state_index(jnp.array([[1, 0]])))[0])
    slots = 2 * (env.n_actions - 1)  # forward moves and backward actions
    expected = float(acceptance_solution(jnp.asarray(log_r[x]), jnp.asarray(log_r[y]))) / slots
    assert abs(kernel[x, y] - expected) < 1e-6
