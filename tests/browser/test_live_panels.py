"""Browser test of the live panels (_static/gfn_live/): the page's own JavaScript, no kernel.

The reward explorer (chapter 3): moving each slider redraws the picture and the numbers, and
what the page computed (its element's ``gfnState``) equals gfn_teach's reward, target and
log Z. The training panel (chapter 5): Train brings the exact TV of the learned sampler on
the easy 8 x 8 reward to 0.05 or below within 30 s, the page's TV equals gfn_teach's for the
page's own logit table, and Pause, Reset and the loss choice work. Screenshots (a
mid-training frame and the final one) go to _build/screenshots/.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gfn_teach as g
from book_site import SCREENSHOT_DIR
from gfn_teach.hypergrid import band_indicators

EXPLORER = "#gfn-reward-explorer"
TRAINING = "#gfn-training-panel"
TV_GOAL, TIME_BUDGET_S = 0.05, 30.0

JS_STATE = "sel => document.querySelector(sel).gfnState"
JS_PICTURE = "sel => document.querySelector(sel + ' canvas').toDataURL()"


def open_panel(page, server, docname, selector):
    page.goto(f"{server}/book/{docname}.html", wait_until="load")
    page.wait_for_function(
        "sel => { const e = document.querySelector(sel); return e && e.gfnState; }", arg=selector
    )
    panel = page.locator(selector)
    panel.scroll_into_view_if_needed()
    return panel


def state(page, selector):
    return page.evaluate(JS_STATE, selector)


def picture(page, selector):
    return page.evaluate(JS_PICTURE, selector)


def library_target(side, params):
    """log Z, pi and the background's share of Z by gfn_teach (float64), as the page shows them."""
    with jax.enable_x64(True):
        reward = g.HypergridReward(params["r0"], params["r1"], params["r2"])
        env = g.Hypergrid(dim=2, side=side, reward=reward)
        pi = np.asarray(env.true_distribution())
        log_z = float(env.log_partition())
    outer, inner = (np.asarray(b) for b in band_indicators(jnp.arange(side), side))
    background = ~np.outer(outer, outer) & ~np.outer(inner, inner)  # [x0, x1], row-major
    return log_z, pi, float(pi[background.ravel()].sum())


def assert_explorer_agrees(page, problems, what):
    shown = state(page, EXPLORER)
    side = shown["params"]["side"]
    log_z, pi, background = library_target(side, shown["params"])
    pi_page = np.asarray(shown["pi"], np.float64)
    if abs(shown["logZ"] - log_z) > 1e-12:
        problems.append(f"{what}: page log Z {shown['logZ']!r}, gfn_teach {log_z!r}")
    if np.max(np.abs(pi_page - pi)) > 1e-15:
        gap = np.max(np.abs(pi_page - pi))
        problems.append(f"{what}: page pi differs from gfn_teach by {gap:.2e}")
    if abs(shown["backgroundShare"] - background) > 1e-12:
        problems.append(f"{what}: background share {shown['backgroundShare']} against {background}")
    text = page.locator(f"{EXPLORER} .gfn-live-numbers").inner_text().replace("\xa0", " ")
    if f"log Z = {log_z:.4f}" not in text:
        problems.append(f"{what}: the page says {text!r}, gfn_teach's log Z is {log_z:.4f}")
    return shown


def test_reward_explorer_follows_each_slider_and_agrees_with_python(server, page):
    problems = []
    open_panel(page, server, "03_hypergrid", EXPLORER)
    first = assert_explorer_agrees(page, problems, "first view")
    if first["params"]["side"] != 20 or abs(first["params"]["r0"] - 1e-3) > 1e-15:
        problems.append(f"first view is not the easy reward on the 20 x 20 grid: {first['params']}")
    for name, presses in (("side", 3), ("log10_r0", 4), ("r1", 5), ("r2", 7)):
        slider = page.locator(f"{EXPLORER} input[name={name}]")
        before_picture, before_state = picture(page, EXPLORER), state(page, EXPLORER)
        before_text = page.locator(f"{EXPLORER} .gfn-live-numbers").inner_text()
        slider.focus()
        for _ in range(presses):
            page.keyboard.press("ArrowRight")
        after = assert_explorer_agrees(page, problems, f"after moving {name}")
        if after["params"] == before_state["params"]:
            problems.append(f"moving {name} did not change the reward's settings")
        if picture(page, EXPLORER) == before_picture:
            problems.append(f"moving {name} did not change the picture")
        if page.locator(f"{EXPLORER} .gfn-live-numbers").inner_text() == before_text:
            problems.append(f"moving {name} did not change the numbers shown")
    page.locator(EXPLORER).screenshot(path=str(SCREENSHOT_DIR / "live_reward_explorer.png"))
    problems.extend(page.console_errors)
    assert not problems, "\n".join(problems)


def library_tv(shown):
    """Exact TV of the page's own table under gfn_teach (float64)."""
    cfg = shown["config"]
    with jax.enable_x64(True):
        env = g.Hypergrid(dim=2, side=cfg["side"], reward=cfg["reward"])
        table = jnp.asarray(np.asarray(shown["table"], np.float64).reshape(env.n_states, -1))
        policy = g.TabularPolicy(env, cfg["learnBackward"], table=table, log_z=shown["policyLogZ"])
        p_t = g.terminal_distribution(policy, env)
        return float(g.total_variation(env.true_distribution(), p_t))


def train_until_goal(page, problems, label):
    """Press Train, wait for exact TV <= 0.05 (at most 30 s), pause; returns the wall seconds."""
    start_picture = picture(page, TRAINING)
    page.click(f"{TRAINING} button[name=train]")
    start = time.monotonic()
    time.sleep(1.0)
    mid = state(page, TRAINING)
    if label == "tb":
        page.locator(TRAINING).screenshot(path=str(SCREENSHOT_DIR / "live_training_mid.png"))
    if not mid["running"] or mid["step"] == 0:
        problems.append(f"{label}: one second after Train, the panel is at step {mid['step']}")
    if picture(page, TRAINING) == start_picture:
        problems.append(f"{label}: the picture did not change while training")
    try:
        page.wait_for_function(
            "sel => document.querySelector(sel).gfnState.reached !== null",
            arg=TRAINING, timeout=TIME_BUDGET_S * 1000,
        )
    except Exception:  # playwright's TimeoutError
        shown = state(page, TRAINING)
        problems.append(
            f"{label}: exact TV {shown['tv']:.3f} at step {shown['step']} after {TIME_BUDGET_S} s"
        )
        return None
    wall = time.monotonic() - start
    time.sleep(0.5)  # a few more frames, then pause
    page.click(f"{TRAINING} button[name=train]")
    shown = state(page, TRAINING)
    if shown["running"]:
        problems.append(f"{label}: Pause did not stop training")
    step = shown["step"]
    time.sleep(0.3)
    if state(page, TRAINING)["step"] != step:
        problems.append(f"{label}: steps went on after Pause")
    tv = library_tv(shown)
    if abs(tv - shown["tv"]) > 1e-9:
        problems.append(f"{label}: page TV {shown['tv']}, gfn_teach's {tv} for the same table")
    reached = shown["reached"]
    print(
        f"{label}: exact TV <= {TV_GOAL} at step {reached['step']} after "
        f"{reached['seconds']:.2f} s of training ({wall:.2f} s wall from the click); "
        f"paused at step {step}, TV {tv:.4f}"
    )
    return wall


def test_training_panel_reaches_tv_005_within_30_s(server, page):
    problems = []
    open_panel(page, server, "05_trajectory_balance", TRAINING)
    first = state(page, TRAINING)
    cfg = first["config"]
    if (cfg["side"], cfg["reward"], cfg["loss"], first["step"]) != (8, "easy", "tb", 0):
        problems.append(f"the panel does not start untrained with TB on the easy 8 x 8 grid: {cfg}")
    env = g.Hypergrid(dim=2, side=8, reward="easy")
    if abs(first["trueLogZ"] - float(env.log_partition())) > 1e-5:
        problems.append(f"true log Z {first['trueLogZ']}, gfn_teach's {float(env.log_partition())}")
    if abs(first["tv"] - library_tv(first)) > 1e-9:
        problems.append("the untrained panel's TV differs from gfn_teach's")

    wall = train_until_goal(page, problems, "tb")
    page.locator(TRAINING).screenshot(path=str(SCREENSHOT_DIR / "live_training_final.png"))
    if wall is not None and wall > TIME_BUDGET_S:
        problems.append(f"tb: TV <= {TV_GOAL} took {wall:.1f} s")

    page.click(f"{TRAINING} button[name=reset]")
    if state(page, TRAINING)["step"] != 0:
        problems.append("Reset did not return to step 0")
    page.select_option(f"{TRAINING} select[name=loss]", "db")
    shown = state(page, TRAINING)
    if shown["config"]["loss"] != "db" or shown["step"] != 0:
        problems.append(f"choosing DB did not restart: {shown['config']}, step {shown['step']}")
    page.select_option(f"{TRAINING} select[name=speed]", "25")  # DB needs more steps: go faster
    wall = train_until_goal(page, problems, "db")
    page.locator(TRAINING).screenshot(path=str(SCREENSHOT_DIR / "live_training_db_final.png"))
    problems.extend(page.console_errors)
    assert not problems, "\n".join(problems)


@pytest.fixture(autouse=True)
def _screenshot_dir():
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
