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
    largest = np.abs(untrained_marginal(target) - target).max()
    assert difference_image.norm.vmin == pytest.approx(-largest)
    assert difference_image.norm.vmax == pytest.approx(largest)  # centred at 0, its own scale
    assert difference_image.get_cmap().name == viz.DIFFERENCE_CMAP
    assert fig._suptitle.get_text() == "DB: step 250, exact TV 0.721"
    colorbar_labels = [ax.get_ylabel() for ax in fig.axes[3:]]
    assert any("clipped" in label for label in colorbar_labels)
    plt.close(fig)


def test_a_small_residual_error_still_fills_the_difference_scale(env, target):
    nearly = target * (1 + 0.01 * np.cos(np.arange(target.size)).reshape(target.shape))
    fig = viz.plot_marginals(env, nearly / nearly.sum())
    difference_image = fig.axes[2].images[0]
    residual = np.abs(nearly / nearly.sum() - target).max()
    assert difference_image.norm.vmax == pytest.approx(residual) and residual < target.max() / 50
    assert f"{residual:.2g}" in fig.axes[2].get_title()
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


def segments_cross(p1, p2, q1, q2) -> bool:
    """Whether the closed segments p1-p2 and q1-q2 share a point."""

    def orient(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    def on(a, b, c):  # c on segment a-b, given collinear
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    o1, o2, o3, o4 = orient(p1, p2, q1), orient(p1, p2, q2), orient(q1, q2, p1), orient(q1, q2, p2)
    if o1 != o2 and o3 != o4:
        return True
    return any(
        o == 0 and on(a, b, c)
        for o, a, b, c in [(o1, p1, p2, q1), (o2, p1, p2, q2), (o3, q1, q2, p1), (o4, q1, q2, p2)]
    )


@pytest.mark.parametrize("side", [3, 4])
def test_dag_has_every_edge_and_stop_edges_never_touch_move_edges(side):
    env = g.Hypergrid(dim=2, side=side)
    moves, stops = viz.dag_edges(env)
    assert len(moves) == 2 * side * (side - 1)  # 12 on the 3 x 3 grid
    assert len(stops) == side * side
    states = np.asarray(env.all_states())
    for i, d, start, end in moves:  # each move edge joins a state to s + e_d
        assert np.allclose(end - start, (1 - 2 * viz.NODE_RADIUS) * np.eye(2)[d])
        assert np.allclose(start - viz.NODE_RADIUS * np.eye(2)[d], states[i])
    for _, a, b in stops:
        assert not any(segments_cross(a, b, start, end) for _, _, start, end in moves)
    for (_, a, b), (_, c, e) in zip(stops, stops[1:]):
        assert not segments_cross(a, b, c, e)


def test_segments_cross_sees_a_crossing():  # the helper above can fail
    assert segments_cross((0, 0), (1, 1), (0, 1), (1, 0))
    assert not segments_cross((0, 0), (1, 0), (0, 0.1), (1, 0.1))


def test_draw_dag_writes_the_flow_on_every_edge_and_sizes_arrows_by_it():
    env = g.Hypergrid(dim=2, side=3, reward="original")
    edge_flow = np.exp(np.asarray(g.exact_flows(env).log_edge_flow))
    ax = viz.draw_dag(env, edge_flow)
    moves = [t for t in ax.texts if t.get_gid() == "move edge"]
    stops = [t for t in ax.texts if t.get_gid() == "stop edge"]
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "flow label"]
    assert (len(moves), len(stops), len(labels)) == (12, 9, 21)
    expected = [f"{edge_flow[i, d]:.2f}" for i, d, _, _ in viz.dag_edges(env)[0]]
    expected += [f"{r:.2f}" for r in edge_flow[:, 2]]  # stop edges carry R(x)
    assert labels == expected
    widths = [a.arrow_patch.get_linewidth() for a in moves]
    flows = [edge_flow[i, d] for i, d, _, _ in viz.dag_edges(env)[0]]
    assert widths[int(np.argmax(flows))] == max(widths) > min(widths) == widths[int(np.argmin(flows))]
    assert all(a.arrow_patch.get_linestyle() != "-" for a in stops)  # dashed
    plt.close(ax.figure)


def test_draw_dag_without_flows_draws_plain_arrows_and_rejects_bad_input():
    env = g.Hypergrid(dim=2, side=3)
    ax = viz.draw_dag(env)
    assert not [t for t in ax.texts if t.get_gid() == "flow label"]
    assert ax.get_title() == "the DAG of a 3 x 3 grid"
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="2D grids only"):
        viz.draw_dag(g.Hypergrid(dim=3, side=3))
    with pytest.raises(ValueError, match=r"shape \(9, 2\), expected \(9, 3\)"):
        viz.draw_dag(env, np.ones((9, 2)))


def test_table_renders_one_html_table_and_aligned_text():
    table = viz.Table(["state", "R(s)", "n"], [["(0, 0)", np.float32(0.6), 3], ["a < b", 0.1, 12]])
    page = table._repr_html_()
    assert page.count("<table") == 1 and page.count("<tr>") == 3 and page.count("<th>") == 3
    assert "<td>0.600</td><td>3</td>" in page
    assert "<td>a &lt; b</td>" in page  # escaped
    assert repr(table).splitlines() == [" state   R(s)   n", "(0, 0)  0.600   3", " a < b  0.100  12"]
    with pytest.raises(ValueError, match="every row needs 3 cells"):
        viz.Table(["a", "b", "c"], [[1, 2]])
