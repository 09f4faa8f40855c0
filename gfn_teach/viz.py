"""Pictures of the grid: reward maps, learned marginals, a static scrubber and live widgets.

Side-by-side panels always share one colour scale, so equal colours mean equal probability.
"""

from __future__ import annotations

import html

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation

from .hypergrid import Hypergrid
from .metrics import marginal_2d

CMAP = "viridis"


def target_marginal(env: Hypergrid) -> np.ndarray:
    """The target distribution's marginal on the first two coordinates, ``[side, side]``."""
    return np.asarray(marginal_2d(env, env.true_distribution()))


def _show(ax, grid: np.ndarray, title: str, vmax: float):
    image = ax.imshow(grid.T, origin="lower", cmap=CMAP, vmin=0.0, vmax=vmax)
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


def plot_marginals(env: Hypergrid, learned: np.ndarray, title: str = "learned", axes=None):
    """The learned 2D marginal next to the target's, on one colour scale."""
    target = target_marginal(env)
    learned = np.asarray(learned)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), constrained_layout=True)
    else:
        fig = axes[0].figure
    vmax = max(target.max(), learned.max())
    _show(axes[0], target, "target $R(x)/Z$", vmax)
    image = _show(axes[1], learned, title, vmax)
    fig.colorbar(image, ax=list(axes), label="probability")
    return fig


def scrubber(env: Hypergrid, marginals: np.ndarray, steps, title: str = "learned") -> str:
    """HTML of a slider over training snapshots of the learned marginal, beside the target.

    Built with ``FuncAnimation.to_jshtml``: the frames are embedded as images and the
    controls are plain JavaScript, so it works on a static page with no kernel, server or
    CDN. Wrapped in ``<div class="gfn-scrubber">`` so the page tests can find it.
    """
    marginals = np.asarray(marginals)
    fig = plot_marginals(env, marginals[0], title)
    learned_image = fig.axes[1].images[0]

    def show_frame(i):
        learned_image.set_data(marginals[i].T)
        fig.axes[1].set_title(f"{title}, step {int(steps[i])}")
        return (learned_image,)

    anim = animation.FuncAnimation(fig, show_frame, frames=len(marginals), blit=False)
    page = anim.to_jshtml(fps=4, default_mode="once")
    plt.close(fig)
    return f'<div class="gfn-scrubber" title="{html.escape(title)}">{page}</div>'


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
    ax.set_ylabel(key.replace("_", " "))
    if log:
        ax.set_yscale("log")
    ax.legend()
    return ax


def reward_explorer():
    """Live widget: sliders for side, R0, R1, R2 and the 2D reward map they give."""
    import ipywidgets as widgets

    from .hypergrid import HypergridReward

    def draw(side, log10_r0, r1, r2):
        env = Hypergrid(2, side, HypergridReward(10.0**log10_r0, r1, r2))
        fig, ax = plt.subplots(figsize=(4.5, 3.6))
        plot_reward(env, ax)
        share = float(np.exp(env.log_partition() - np.log(side**2) - np.log(10.0**log10_r0)))
        ax.set_title(f"R(x), side {side}; Z / (R0 * cells) = {share:.1f}")
        plt.show()

    return widgets.interactive(
        draw,
        side=widgets.IntSlider(value=20, min=4, max=64, description="side"),
        log10_r0=widgets.FloatSlider(value=-3, min=-6, max=0, step=0.25, description="log10 R0"),
        r1=widgets.FloatSlider(value=0.5, min=0, max=4, step=0.1, description="R1"),
        r2=widgets.FloatSlider(value=2.0, min=0, max=4, step=0.1, description="R2"),
    )


def training_viewer(env: Hypergrid, histories: dict):
    """Live widget: pick a loss, slide over its snapshots, see learned against target.

    ``histories`` maps a name (e.g. the loss) to a training history with ``marginal`` and
    ``step`` entries, as returned by :func:`gfn_teach.train`.
    """
    import ipywidgets as widgets

    names = list(histories)

    def draw(name, index):
        history = histories[name]
        index = min(index, len(history["step"]) - 1)
        fig = plot_marginals(env, history["marginal"][index], f"{name}, step {history['step'][index]}")
        fig.suptitle(f"exact TV = {history['exact_tv'][index]:.3f}")
        plt.show()

    n_max = max(len(h["step"]) for h in histories.values()) - 1
    return widgets.interactive(
        draw,
        name=widgets.Dropdown(options=names, value=names[0], description="loss"),
        index=widgets.IntSlider(value=n_max, min=0, max=n_max, description="snapshot"),
    )
