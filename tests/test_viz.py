"""The pictures hold the book's colour rule: the target sets the scale, whatever the learned holds."""

import base64
import io
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import gfn_teach as g  # noqa: E402
from gfn_teach import viz  # noqa: E402

VIRIDIS_TOP = np.array([253, 231, 37])  # the colour of the scale's maximum


@pytest.fixture(scope="module")
def env():
    return g.Hypergrid(dim=2, side=20, reward="easy")


@pytest.fixture(scope="module")
def target(env):
    return viz.target_marginal(env)


def untrained_marginal(target):
    """Like an untrained policy: a third of the mass at the origin, ten times the target's maximum."""
    learned = np.full_like(target, 0.67 / (target.size - 1))
    learned[0, 0] = 0.33
    return learned


def test_target_maximum_is_top_of_the_scale_whatever_the_learned_holds(env, target):
    fig = viz.plot_marginals(env, untrained_marginal(target), "DB", step=250, exact_tv=0.7214)
    target_image, learned_image, difference_image = (ax.images[0] for ax in fig.axes[:3])
    top = target.max()
    assert target_image.norm.vmin == learned_image.norm.vmin == 0.0
    assert target_image.norm.vmax == pytest.approx(top)
    assert learned_image.norm.vmax == pytest.approx(top)  # not 0.33: clipped instead
    assert difference_image.norm.vmin == pytest.approx(-top)
    assert difference_image.norm.vmax == pytest.approx(top)  # centred at 0
    assert difference_image.get_cmap().name == viz.DIFFERENCE_CMAP
    assert fig._suptitle.get_text() == "DB: step 250, exact TV 0.721"
    colorbar_labels = [ax.get_ylabel() for ax in fig.axes[3:]]
    assert any("clipped" in label for label in colorbar_labels)
    plt.close(fig)


def test_plot_marginals_rejects_a_marginal_of_another_shape(env):
    with pytest.raises(ValueError, match=r"shape \(10, 10\), expected \(20, 20\)"):
        viz.plot_marginals(env, np.zeros((10, 10)))


def frames_of(page: str) -> list[np.ndarray]:
    encoded = re.findall(r'frames\[\d+\] = "data:image/png;base64,([^"]+)"', page)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(f))).convert("RGB")) for f in encoded]


def top_colour_pixels(frame: np.ndarray) -> int:
    """Pixels of the scale's top colour in the left third (the target panel, no colour bar)."""
    left = frame[:, : frame.shape[1] // 3].astype(int)
    return int((np.abs(left - VIRIDIS_TOP).sum(-1) < 40).sum())


def test_scrubber_keeps_the_target_visible_in_every_frame(env, target):
    history = {
        "step": np.array([0, 500, 1000]),
        "exact_tv": np.array([0.82, 0.4, 0.03]),
        "marginal": np.stack([untrained_marginal(target), 0.5 * (target + untrained_marginal(target)), target]),
    }
    page = viz.scrubber(env, history, "DB").data
    assert 'class="gfn-scrubber"' in page
    frames = frames_of(page)
    assert len(frames) == 3
    # The target panel shows its modes at the top colour in every frame, the first included.
    assert all(top_colour_pixels(frame) > 50 for frame in frames)
    assert not np.array_equal(frames[0], frames[-1])
    captions = json.loads(re.search(r"const captions = (\[.*?\]);", page).group(1))
    assert captions == ["DB: step 0, exact TV 0.820", "DB: step 500, exact TV 0.400", "DB: step 1000, exact TV 0.030"]
    assert f'<p class="gfn-scrubber-caption">{captions[0]}</p>' in page


def test_scrubber_needs_one_step_and_tv_per_frame(env, target):
    history = {"step": np.array([0, 1]), "exact_tv": np.array([0.5]), "marginal": np.stack([target, target])}
    with pytest.raises(ValueError, match="2 marginals, 2 steps and 1 exact TVs"):
        viz.scrubber(env, history)


@pytest.mark.parametrize("make", ["reward_explorer", "training_viewer"])
def test_live_widgets_carry_a_picture_of_their_first_view(env, target, make):
    history = {"step": np.array([0, 100]), "exact_tv": np.array([0.8, 0.1]), "marginal": np.stack([target, target])}
    live = viz.reward_explorer() if make == "reward_explorer" else viz.training_viewer(env, {"db": history})
    bundle = live._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == live.widget.model_id
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(bundle["image/png"]))).convert("L"))
    assert picture.shape[0] > 100 and picture.std() > 10  # a drawn figure, not a blank
    live.widget.close()
