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
import uuid
from collections.abc import Mapping

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


def plot_marginals(env: Hypergrid, learned, title: str = "learned", *, step=None, exact_tv=None):
    """Target, learned and learned minus target 2D marginals, on one scale set by the target.

    The first two panels share the colour scale ``[0, max(target)]``: the target's highest
    cell reaches the top colour, and learned values above it are clipped (the colour bar's
    arrow marks that). The third panel shows ``learned - target`` on a diverging map centred
    at 0, over ``[-max(target), max(target)]``, clipped the same way. ``step`` and
    ``exact_tv``, when given, go into the figure's title.
    """
    target = target_marginal(env)
    learned = np.asarray(learned)
    if learned.shape != target.shape:
        raise ValueError(f"learned marginal has shape {learned.shape}, expected {target.shape}")
    top = float(target.max())
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    _show(axes[0], target, "target $R(x)/Z$", top)
    image = _show(axes[1], learned, "learned", top)
    difference = _show(axes[2], learned - target, "learned $-$ target", top, DIFFERENCE_CMAP, -top)
    fig.colorbar(image, ax=list(axes[:2]), extend="max", label="probability (clipped at target max)")
    fig.colorbar(difference, ax=axes[2], extend="both", label="difference")
    fig.suptitle(comparison_title(title, step, exact_tv))
    return fig


def scrubber(env: Hypergrid, history: Mapping, title: str = "learned") -> HTML:
    """A slider over training snapshots of the learned marginal, beside the target.

    ``history`` holds ``marginal`` (``[frames, side, side]``), ``step`` and ``exact_tv``
    (``[frames]``), as :func:`gfn_teach.train` returns them. Every frame is drawn by
    :func:`plot_marginals` (one colour scale set by the target), with the frame's step and
    exact TV in its title, and the same words in a caption above the frames that follows the
    slider. Built with ``FuncAnimation.to_jshtml``: the frames are embedded as images and
    the controls are plain JavaScript, so it works on a static page with no kernel, server
    or CDN. Wrapped in ``<div class="gfn-scrubber">`` so the page tests can find it.
    """
    marginals = np.asarray(history["marginal"])
    steps, tvs = np.asarray(history["step"]), np.asarray(history["exact_tv"])
    if not len(marginals) == len(steps) == len(tvs):
        raise ValueError(
            f"history has {len(marginals)} marginals, {len(steps)} steps and {len(tvs)} exact TVs; "
            "expected one of each per frame"
        )
    captions = [comparison_title(title, s, tv) for s, tv in zip(steps, tvs)]
    fig = plot_marginals(env, marginals[0], title, step=steps[0], exact_tv=tvs[0])
    target = target_marginal(env)
    learned_image, difference_image = fig.axes[1].images[0], fig.axes[2].images[0]

    def show_frame(i):
        learned_image.set_data(marginals[i].T)
        difference_image.set_data((marginals[i] - target).T)
        fig.suptitle(captions[i])
        return learned_image, difference_image

    anim = animation.FuncAnimation(fig, show_frame, frames=len(marginals), blit=False)
    player = anim.to_jshtml(fps=4, default_mode="once")
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
    share = float(np.exp(env.log_partition() - np.log(side**2) - np.log(10.0**log10_r0)))
    ax.set_title(f"R(x), side {side}; Z / (R0 * cells) = {share:.1f}")
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
