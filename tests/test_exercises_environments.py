"""The chapter 8 checker accepts a right wings-first backward mask and rejects wrong ones."""

import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g
from gfn_teach.exercises import check_wings_first
from gfn_teach.exercises.environments import BODY, WINGS, wings_first_backward_valid


class WingsFirst(g.LegoSpaceship):
    """The Lego spaceship whose wings go on only while the body slot is empty (the chapter's
    rule); its parents follow its backward mask, as the chapter's ship does."""

    def forward_valid(self, state):
        slot_of_action = jnp.arange(self.n_actions) // self.n_bricks  # stop: slot 5, none
        wing_action = (slot_of_action == WINGS[0]) | (slot_of_action == WINGS[1])
        body_on = state[..., BODY] > 0
        return super().forward_valid(state) & ~(body_on[..., None] & wing_action)

    def parents(self, state):
        parent_states, actions, _ = super().parents(state)
        return parent_states, actions, self.backward_valid(state)


def solution(self, state):
    wing = (jnp.arange(self.n_slots) == WINGS[0]) | (jnp.arange(self.n_slots) == WINGS[1])
    body_on = state[..., BODY:BODY + 1] > 0
    return (state > 0) & ~(wing & body_on)


def with_mask(mask):
    return type("Reader", (WingsFirst,), {"backward_valid": mask})()


def test_reference_by_hand():
    ships = np.array([[0, 2, 0, 1, 0], [0, 2, 3, 0, 4], [1, 0, 0, 0, 4], [0, 0, 0, 0, 0]])
    expected = [[False, False, False, True, False], [False, True, True, False, True],
                [True, False, False, False, True], [False] * 5]
    np.testing.assert_array_equal(wings_first_backward_valid(ships), expected)


def test_accepts_the_solution(capsys):
    env = with_mask(solution)
    assert g.check_environment(env) is None
    assert check_wings_first(env)
    assert capsys.readouterr().out.startswith("Correct!")


def test_the_path_counts_change_but_not_the_target():
    env = with_mask(solution)
    counts = np.exp(np.asarray(g.log_path_counts(env)))
    designs = np.asarray(env.state_index(env.design_states()))
    np.testing.assert_allclose(counts[designs], [40, 40, 2], rtol=1e-5)  # body after both wings: 5!/3
    np.testing.assert_allclose(env.true_distribution(), g.LegoSpaceship().true_distribution())


@pytest.mark.parametrize(
    "mask, hint",
    [
        (lambda self, s: None, "returns None"),
        (lambda self, s: s > 0, "backward masks agree with step"),  # the plain ship's mask
        (lambda self, s: (s > 0) & ~((jnp.arange(5) == 1) | (jnp.arange(5) == 2)) | (s > 0) & (s[..., 3:4] > 0), "g.check_environment says"),
        (lambda self, s: (s > 0) & ~((jnp.arange(5) == BODY) & (s[..., 1:3] > 0).any(-1, keepdims=True)), "g.check_environment says"),  # body-first
        (lambda self, s: solution(self, s).astype(jnp.int32), "return booleans"),
        (lambda self, s: solution(self, s).reshape(-1, 5), "any batch shape"),
        (lambda self, s: (s > 0) & ~(jnp.isin(jnp.arange(5), jnp.array(WINGS)) & (s[:, BODY:BODY + 1] > 0)), "shape"),
        (lambda self, s: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_rejects_wrong_masks(mask, hint, capsys):
    assert not check_wings_first(with_mask(mask))
    out = capsys.readouterr().out
    assert out.startswith("Not yet:") and hint in out, out


def test_rejects_the_plain_ship_and_other_objects(capsys):
    assert not check_wings_first(g.LegoSpaceship())  # every rule kept, but not the wings-first mask
    assert "expected False" in capsys.readouterr().out
    assert not check_wings_first(g.Hypergrid(2, 4))
    assert "not the five-slot spaceship" in capsys.readouterr().out
    assert not check_wings_first(WingsFirst)  # the class, not an instance
    assert "instance" in capsys.readouterr().out
