"""Pictures of the grid: reward maps, learned marginals, a static scrubber and live widgets.

Every picture that puts a learned distribution beside the target follows one rule: the colour
scale runs from 0 to the **target's** maximum, whatever the learned distribution holds, so the
target's modes are always clearly visible. Larger learned values are clipped to the top colour
(the colour bar's arrow says so). A third panel shows learned minus target on a diverging
colour map centred at 0, on the same range.
"""

from __future__ import annotations

import base64
import html
import io
import json
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML
from matplotlib import animation

from .hypergrid import Hypergrid
from .metrics import marginal_2d

CMAP = "viridis"
DIFFERENCE_CMAP = "RdBu_r"  # red: the learned sampler has too much mass; blue: too little


def target_marginal(env: Hypergrid) -> np.ndarray:
    """The target distribution's marginal on the first two coordinates, ``[side, side]``."""
    return np.asarray(marginal_2d(env, env.true_distribution()))


def _show(ax, grid: np.ndarray, title: str, vmax: float, cmap: str = CMAP, vmin: float = 0.0):
    image = ax.imshow(np.asarray(grid).T, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_title(title)
    ax.set_xlabel("$x_0$")
    ax.set_ylabel("$x_1$")
    return image


def plot_reward(env: Hypergrid, ax=None):
    """Heat map of ``R(x)`` (2D) or of the target's 2D marginal (higher dimensions)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3.4))
    if env.dim == 2:
        grid = np.exp(np.asarray(env.log_reward(env.all_states()))).reshape(env.side, env.side)
        title, label = "reward $R(x)$", "$R(x)$"
    else:
        grid, title, label = target_marginal(env), "target marginal $(x_0, x_1)$", "probability"
    image = _show(ax, grid, title, grid.max())
    plt.colorbar(image, ax=ax, label=label)
    return ax


def comparison_title(title: str, step=None, exact_tv=None) -> str:
    """``"DB: step 500, exact TV 0.123"``: what one comparison (or one frame) shows."""
    parts = [f"step {int(step)}"] if step is not None else []
    if exact_tv is not None:
        parts.append(f"exact TV {float(exact_tv):.3f}")
    return f"{title}: {', '.join(parts)}" if parts else title


def plot_marginals(
    env: Hypergrid, learned, title: str = "learned", *, step=None, exact_tv=None, difference_scale=None,
    label: str = "learned",
):
    """Target, learned and learned minus target 2D marginals.

    ``label`` names the second panel (and the difference): "learned" for a trained policy,
    something else for what is not, such as "uniform-policy samples".

    The first two panels share the colour scale ``[0, max(target)]``: the target's highest
    cell reaches the top colour, and learned values above it are clipped (the colour bar's
    arrow marks that). The third panel shows ``learned - target`` on a diverging map centred
    at 0, over ``[-difference_scale, difference_scale]``: by default the difference's own
    largest absolute value, so that a small residual error is still visible, and the panel's
    title says the scale. ``step`` and ``exact_tv``, when given, go into the figure's title.
    """
    target = target_marginal(env)
    learned = np.asarray(learned)
    if learned.shape != target.shape:
        raise ValueError(f"learned marginal has shape {learned.shape}, expected {target.shape}")
    top = float(target.max())
    if difference_scale is None:
        difference_scale = float(np.abs(learned - target).max()) or top
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    _show(axes[0], target, "target $R(x)/Z$", top)
    image = _show(axes[1], learned, label, top)
    difference = _show(
        axes[2], learned - target, f"{label} $-$ target (scale $\\pm${difference_scale:.2g})",
        difference_scale, DIFFERENCE_CMAP, -difference_scale,
    )
    fig.colorbar(image, ax=list(axes[:2]), extend="max", label="probability (clipped at target max)")
    fig.colorbar(difference, ax=axes[2], extend="both", label="difference (its own scale)")
    fig.suptitle(comparison_title(title, step, exact_tv))
    return fig


def scrubber(env: Hypergrid, history: Mapping, title: str = "learned") -> HTML:
    """A slider over training snapshots of the learned marginal, beside the target.

    ``history`` holds ``marginal`` (``[frames, side, side]``), ``step`` and ``exact_tv``
    (``[frames]``), as :func:`gfn_teach.train` returns them. Every frame is drawn by
    :func:`plot_marginals` (one colour scale set by the target, and one for the differences,
    the largest over all frames), with the frame's step and
    exact TV in its title, and the same words in a caption above the frames that follows the
    slider. Built with matplotlib's ``HTMLWriter`` (what ``FuncAnimation.to_jshtml`` uses):
    the frames are embedded as images and the controls are plain JavaScript, so it works on
    a static page with no kernel, server or CDN. Wrapped in ``<div class="gfn-scrubber">``
    so the page tests can find it.
    """
    marginals = np.asarray(history["marginal"])
    steps, tvs = np.asarray(history["step"]), np.asarray(history["exact_tv"])
    if not len(marginals) == len(steps) == len(tvs):
        raise ValueError(
            f"history has {len(marginals)} marginals, {len(steps)} steps and {len(tvs)} exact TVs; "
            "expected one of each per frame"
        )
    captions = [comparison_title(title, s, tv) for s, tv in zip(steps, tvs)]
    target = target_marginal(env)
    scale = float(np.abs(marginals - target).max()) or float(target.max())  # one scale for every frame
    fig = plot_marginals(env, marginals[0], title, step=steps[0], exact_tv=tvs[0], difference_scale=scale)
    learned_image, difference_image = fig.axes[1].images[0], fig.axes[2].images[0]

    def show_frame(i):
        learned_image.set_data(marginals[i].T)
        difference_image.set_data((marginals[i] - target).T)
        fig.suptitle(captions[i])

    # Lay the first frame out once (two passes settle it) and keep that layout: the frames
    # differ only in their pixels and numbers, and the constrained layout would otherwise be
    # solved again for every frame.
    show_frame(0)
    fig.canvas.draw()
    fig.canvas.draw()
    fig.set_layout_engine("none")
    # What FuncAnimation.to_jshtml writes, one draw per frame (it draws each frame twice).
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "scrubber.html"
        writer = animation.HTMLWriter(fps=4, embed_frames=True, default_mode="once")
        with writer.saving(fig, page, dpi=fig.dpi):
            for i in range(len(marginals)):
                show_frame(i)
                writer.grab_frame()
        player = page.read_text()
    plt.close(fig)
    root = f"gfn-scrubber-{uuid.uuid4().hex}"
    # The caption follows the frame: to_jshtml sets the image's src on every frame change
    # (buttons, slider, keys, play), and its slider's value is the frame index.
    follow = f"""<script>
(function () {{
  const root = document.getElementById("{root}");
  const captions = {json.dumps(captions)};
  const image = root.querySelector("img"), slider = root.querySelector("input[type=range]");
  const caption = root.querySelector(".gfn-scrubber-caption");
  new MutationObserver(() => {{ caption.textContent = captions[Number(slider.value)]; }})
    .observe(image, {{attributes: true, attributeFilter: ["src"]}});
}})();
</script>"""
    return HTML(
        f'<div class="gfn-scrubber" id="{root}" title="{html.escape(title)}">'
        f'<p class="gfn-scrubber-caption">{html.escape(captions[0])}</p>{player}{follow}</div>'
    )


HISTORY_LABELS = {
    "exact_tv": "exact TV",
    "exact_kl": "KL(target || learned)",
    "exact_kl_reverse": "KL(learned || target)",
    "exact_jsd": "Jensen-Shannon divergence",
    "log_z": "log Z estimate",
    "modes_found": "modes found",
    "loss": "training loss",
}


def plot_history(histories: dict, key: str = "exact_tv", ax=None, log: bool = True):
    """One curve per run of ``history[key]`` against the step (mean and band over seeds)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for name, history in histories.items():
        values = np.asarray(history[key])
        steps = np.asarray(history["step"])
        steps = steps if steps.ndim == 1 else steps[:, 0]
        if values.ndim == 2:  # [evals, seeds]
            ax.fill_between(steps, values.min(1), values.max(1), alpha=0.2)
            values = values.mean(1)
        ax.plot(steps, values, label=name)
    ax.set_xlabel("training step")
    ax.set_ylabel(HISTORY_LABELS.get(key, key.replace("_", " ")))
    if log:
        ax.set_yscale("log")
    ax.legend()
    return ax


class LiveWidget:
    """A live ipywidget that carries a picture of its first view for pages without a kernel.

    Displayed, it offers both: Jupyter and Colab render the widget (live, it redraws as you
    move its controls), while a static page, such as this book's HTML (its build ranks the
    widget view below PNG), shows the picture. ``widget`` is the ipywidget itself.
    """

    def __init__(self, widget, first_view):
        self.widget = widget
        buffer = io.BytesIO()
        first_view.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(first_view)
        self.picture = base64.b64encode(buffer.getvalue()).decode("ascii")

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.widget.model_id,
            },
            "image/png": self.picture,
            "text/plain": f"{type(self.widget).__name__} widget (needs a live kernel; its first view is shown)",
        }


def _reward_view(side=20, log10_r0=-3.0, r1=0.5, r2=2.0):
    from .hypergrid import HypergridReward

    env = Hypergrid(2, side, HypergridReward(10.0**log10_r0, r1, r2))
    fig, ax = plt.subplots(figsize=(4.5, 3.6))
    plot_reward(env, ax)
    reward = np.exp(np.asarray(env.log_reward(env.all_states()), np.float64))
    log_z = float(env.log_partition())
    background = reward[np.isclose(reward, 10.0**log10_r0)].sum() / np.exp(log_z)  # R0 x its cells, over Z
    ax.set_title(f"R(x), side {side}: log Z = {log_z:.2f}, background {background:.1%} of Z")
    return fig


def reward_explorer() -> LiveWidget:
    """Live widget: sliders for side, R0, R1, R2 and the 2D reward map they give."""
    import ipywidgets as widgets

    def draw(side, log10_r0, r1, r2):
        _reward_view(side, log10_r0, r1, r2)
        plt.show()

    live = widgets.interactive(
        draw,
        side=widgets.IntSlider(value=20, min=4, max=64, description="side"),
        log10_r0=widgets.FloatSlider(value=-3, min=-6, max=0, step=0.25, description="log10 R0"),
        r1=widgets.FloatSlider(value=0.5, min=0, max=4, step=0.1, description="R1"),
        r2=widgets.FloatSlider(value=2.0, min=0, max=4, step=0.1, description="R2"),
    )
    return LiveWidget(live, _reward_view())


def _training_view(env: Hypergrid, histories: dict, name: str, index: int):
    history = histories[name]
    index = min(index, len(history["step"]) - 1)
    return plot_marginals(
        env, history["marginal"][index], name,
        step=history["step"][index], exact_tv=history["exact_tv"][index],
    )


def training_viewer(env: Hypergrid, histories: dict) -> LiveWidget:
    """Live widget: pick a run, slide over its snapshots, see learned against target.

    ``histories`` maps a name (e.g. the loss) to a training history with ``marginal``,
    ``step`` and ``exact_tv`` entries, as returned by :func:`gfn_teach.train`. Its first
    view, the last snapshot of the first run, is what a page without a kernel shows.
    """
    import ipywidgets as widgets

    names = list(histories)
    n_max = max(len(h["step"]) for h in histories.values()) - 1

    def draw(name, index):
        _training_view(env, histories, name, index)
        plt.show()

    live = widgets.interactive(
        draw,
        name=widgets.Dropdown(options=names, value=names[0], description="run"),
        index=widgets.IntSlider(value=n_max, min=0, max=n_max, description="snapshot"),
    )
    return LiveWidget(live, _training_view(env, histories, names[0], n_max))


# ----- the DAG of a small 2D grid, with its flows ------------------------------------------
NODE_RADIUS = 0.17  # a state's disc, in grid units
SINK_RADIUS = 0.1  # the small disc of s_f drawn next to each state
SINK_OFFSET = np.array([0.4, -0.4])  # where that disc sits, from its state: down and right


def dag_edges(env: Hypergrid):
    """The edges of a 2D grid's DAG, as segments to draw, in ``env.all_states()`` order.

    Returns ``(moves, stops)``. ``moves`` holds ``(i, d, start, end)`` for every edge
    :math:`s \\to s + e_d` that stays on the grid (``i`` is the row of ``s``); ``stops`` holds
    ``(i, start, end)`` for every stop edge :math:`s \\to s_f`. The sink :math:`s_f` is drawn
    once per state, at ``s + SINK_OFFSET`` (a diagonal step that no move edge takes), so that no
    stop edge crosses or covers a move edge. Segments run between the discs' rims.
    """
    if env.dim != 2:
        raise ValueError(f"the DAG is drawn for 2D grids only, got dim={env.dim}")
    states = np.asarray(env.all_states())
    moves, stops = [], []
    for i, s in enumerate(states):
        for d in range(env.dim):
            if s[d] < env.side - 1:
                step = np.eye(env.dim)[d]  # a unit vector: shorten by the radius at both ends
                moves.append((i, d, s + NODE_RADIUS * step, s + (1 - NODE_RADIUS) * step))
        unit = SINK_OFFSET / np.linalg.norm(SINK_OFFSET)
        sink = s + SINK_OFFSET
        stops.append((i, s + NODE_RADIUS * unit, sink - SINK_RADIUS * unit))
    return moves, stops


def draw_dag(env: Hypergrid, edge_flow=None, ax=None, title: str | None = None):
    r"""Draw the DAG of a 2D grid: blue arrows for increments, dashed orange ones for *stop*.

    Each state is a white disc labelled with its coordinates. Every stop edge
    :math:`s \to s_f` ends in a small grey disc, the sink :math:`s_f`, drawn next to its
    state so that stop edges never overlap the move edges (all the grey discs are the one sink).

    Given ``edge_flow`` (``[N, dim + 1]``, not logarithms, rows in ``env.all_states()`` order:
    column ``d`` is :math:`F(s \to s + e_d)`, the last column :math:`F(s \to s_f) = R(s)`),
    each arrow is as thick as the flow it carries, and its flow is written beside it.
    Returns the axes.
    """
    moves, stops = dag_edges(env)
    states = np.asarray(env.all_states())
    if edge_flow is not None:
        edge_flow = np.asarray(edge_flow, dtype=float)
        if edge_flow.shape != (env.n_states, env.dim + 1):
            raise ValueError(
                f"edge_flow has shape {edge_flow.shape}, expected {(env.n_states, env.dim + 1)}"
            )
        top = edge_flow.max()
    if ax is None:
        size = 1.7 * env.side + 0.6
        _, ax = plt.subplots(figsize=(size, size))

    def arrow(start, end, flow, stop):
        width = 1.5 if edge_flow is None else 0.6 + 6.0 * flow / top
        ax.annotate(
            "", end, start,
            arrowprops=dict(
                arrowstyle="-|>", lw=width, shrinkA=0, shrinkB=0, mutation_scale=10,
                color="tab:orange" if stop else "tab:blue", linestyle="--" if stop else "-",
            ),
        ).set_gid("stop edge" if stop else "move edge")

    def label(xy, flow):
        ax.text(
            *xy, f"{flow:.2f}", ha="center", va="center", fontsize=7, zorder=5, gid="flow label",
            bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.85),
        )

    for i, d, start, end in moves:
        flow = None if edge_flow is None else edge_flow[i, d]
        arrow(start, end, flow, stop=False)
        if flow is not None:  # beside the arrow: above a horizontal one, left of a vertical one
            beside = np.array([0.0, 0.13]) if d == 0 else np.array([-0.15, 0.0])
            label((start + end) / 2 + beside, flow)
    for i, start, end in stops:
        flow = None if edge_flow is None else edge_flow[i, env.dim]
        arrow(start, end, flow, stop=True)
        if flow is not None:
            label(states[i] + SINK_OFFSET + np.array([0.0, -0.19]), flow)
    for s in states:
        ax.add_patch(plt.Circle(s, NODE_RADIUS, fc="white", ec="k", zorder=3))
        ax.text(*s, f"{s[0]},{s[1]}", ha="center", va="center", fontsize=8, zorder=4)
        ax.add_patch(plt.Circle(s + SINK_OFFSET, SINK_RADIUS, fc="lightgray", ec="k", zorder=3))
        ax.text(*(s + SINK_OFFSET), "$s_f$", ha="center", va="center", fontsize=6, zorder=4)
    handles = [
        plt.Line2D([], [], color="tab:blue", lw=1.5, label="move $s \\to s + e_d$"),
        plt.Line2D([], [], color="tab:orange", lw=1.5, ls="--", label="stop $s \\to s_f$ (grey disc)"),
    ]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8,
              frameon=False)
    default = f"the DAG of a {env.side} x {env.side} grid"
    ax.set(xlim=(-0.5, env.side - 0.3), ylim=(-0.75, env.side - 0.6), aspect="equal",
           title=title or default, xlabel="$x_0$", ylabel="$x_1$")
    ax.set_xticks(range(env.side))
    ax.set_yticks(range(env.side))
    return ax


# ----- a table that renders as one table ---------------------------------------------------
class Table:
    """A small table that a page renders as one table, built from values (no pandas).

    Displayed, it offers HTML (a ``<table>``, which Jupyter, Colab and the book render as one
    table) and a plain-text version with aligned columns (what a terminal, and nbval, compare).
    Cells are formatted with ``fmt`` when they are floats, ``str`` otherwise, and escaped: write
    plain text (``"P_T(x)"``, ``"π(x)"``), not maths or HTML.
    """

    def __init__(self, header, rows, fmt: str = ".3f"):
        self.header = [str(h) for h in header]
        self.rows = [[self._cell(v, fmt) for v in row] for row in rows]
        if any(len(row) != len(self.header) for row in self.rows):
            raise ValueError(f"every row needs {len(self.header)} cells, one per column")

    @staticmethod
    def _cell(value, fmt):
        if isinstance(value, str):
            return value
        if np.ndim(value) == 0 and isinstance(np.asarray(value).item(), (int, float)):
            value = np.asarray(value).item()
            return format(value, fmt) if isinstance(value, float) else str(value)
        return str(value)

    def _repr_html_(self):
        def row(cells, tag):
            return "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"

        body = "".join(row(r, "td") for r in self.rows)
        return (
            f'<table class="table gfn-table"><thead>{row(self.header, "th")}</thead>'
            f"<tbody>{body}</tbody></table>"
        )

    def __repr__(self):
        columns = [self.header] + self.rows
        widths = [max(len(row[j]) for row in columns) for j in range(len(self.header))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in columns)
