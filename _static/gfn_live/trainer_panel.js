/* The training panel: trains the tabular GFlowNet of train.js live, in the page.
 * Mounted on <div id="gfn-training-panel">.
 *
 * Train / Pause runs a few steps per animation frame (so the reader sees it learn); Reset
 * starts again with the chosen loss, reward and grid. The learned terminal distribution P_T
 * (exact, policy.js) is drawn beside the target pi on the target's colour scale [0, max pi]
 * (larger learned values are clipped, as in gfn_teach.viz.plot_marginals), and the exact TV is
 * plotted against the steps. The element's `gfnState` holds what is shown, for the page tests:
 * {running, step, tv, logZ, trueLogZ, reached: {step, seconds} | null, seconds, config, table,
 * policyLogZ}.
 */
(function (GFN) {
  "use strict";

  const TV_GOAL = 0.05;
  const MAX_STEPS = 20000; // training stops by itself here
  const CHOICES = {
    loss: [
      ["tb", "TB"],
      ["db", "DB"],
    ],
    reward: [
      ["easy", "easy"],
      ["hard", "hard"],
    ],
    // Not 16 x 16: there exploration by uniform actions, which stop a third of the time, rarely
    // reaches the far corner, and the table collapses onto the near modes (TV stays near 0.7).
    side: [
      ["8", "8 \u00d7 8"],
      ["12", "12 \u00d7 12"],
    ],
    speed: [
      ["1", "1"],
      ["5", "5"],
      ["25", "25"],
    ],
  };
  const LABELS = { loss: "loss", reward: "reward", side: "grid", speed: "steps per frame" };
  const DEFAULT_SPEED = "5";

  function mount(root) {
    root.classList.add("gfn-live");
    root.innerHTML = "";
    const controls = document.createElement("div");
    controls.className = "gfn-live-controls";
    const trainButton = button("Train", "train");
    const resetButton = button("Reset", "reset");
    controls.append(trainButton, resetButton);
    const selects = {};
    for (const [name, options] of Object.entries(CHOICES)) {
      const label = document.createElement("label");
      label.className = "gfn-live-slider";
      const select = document.createElement("select");
      select.name = name;
      for (const [value, text] of options) select.append(new Option(text, value));
      if (name === "speed") select.value = DEFAULT_SPEED;
      label.append(LABELS[name] + " ", select);
      controls.append(label);
      selects[name] = select;
    }
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    const status = document.createElement("p");
    status.className = "gfn-live-numbers";
    root.append(controls, canvas, status);

    let trainer = null;
    let running = false;
    let seconds = 0; // time spent training since the last reset (pauses excluded)
    let reached = null;
    let lastFrame = null;
    let frameRequest = null;

    function button(text, name) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.name = name;
      return b;
    }

    function reset() {
      const side = Number(selects.side.value);
      trainer = GFN.train.createTrainer({
        side,
        reward: selects.reward.value,
        loss: selects.loss.value,
        // bigger grids need longer exploration before epsilon reaches 0
        explorationSteps: Math.round(300 * (side / 8) * (side / 8)),
      });
      seconds = 0;
      reached = null;
      setRunning(false);
      render();
    }

    function setRunning(on) {
      running = on;
      trainButton.textContent = on ? "Pause" : "Train";
      trainButton.setAttribute("aria-pressed", String(on));
      if (on && frameRequest === null) {
        lastFrame = null;
        frameRequest = requestAnimationFrame(frame);
      }
    }

    function frame(now) {
      frameRequest = null;
      if (!running) return;
      if (lastFrame !== null) seconds += Math.min(now - lastFrame, 250) / 1000;
      lastFrame = now;
      const steps = Math.min(Number(selects.speed.value), MAX_STEPS - trainer.step);
      trainer.trainSteps(steps);
      const h = trainer.history;
      if (reached === null) {
        const k = h.tv.findIndex((tv) => tv <= TV_GOAL);
        if (k >= 0) reached = { step: h.step[k], seconds };
      }
      if (trainer.step >= MAX_STEPS) setRunning(false);
      render();
      if (running) frameRequest = requestAnimationFrame(frame);
    }

    function render() {
      const { pT, tv } = trainer.evaluate();
      const h = trainer.history;
      const state = {
        running,
        step: trainer.step,
        tv,
        logZ: trainer.logZ(),
        trueLogZ: trainer.target.logZ,
        reached,
        seconds,
        config: trainer.config,
        epsilon: trainer.epsilon(),
        table: Array.from(trainer.policy.table),
        policyLogZ: trainer.policy.logZ,
      };
      root.gfnState = state;
      draw(pT, h);
      const name = trainer.config.loss === "tb" ? "learned log Z" : "learned log F(s\u2080)";
      const parts = [
        `step ${state.step}`,
        `exact TV ${tv.toFixed(3)}`,
        `${name} ${state.logZ.toFixed(3)} (true log Z ${state.trueLogZ.toFixed(3)})`,
        `\u03b5 ${state.epsilon.toFixed(2)}`,
      ];
      if (reached)
        parts.push(
          `TV \u2264 ${TV_GOAL} at step ${reached.step} (${reached.seconds.toFixed(1)} s)`,
        );
      if (trainer.step >= MAX_STEPS) parts.push(`stopped at ${MAX_STEPS} steps`);
      const text = GFN.draw.items(parts);
      status.textContent = text;
      canvas.setAttribute("aria-label", `target and learned distribution; ${text}`);
    }

    function draw(pT, h) {
      const D = GFN.draw;
      const ink = D.inkOf(root);
      const width = Math.max(480, Math.min(root.clientWidth || 720, 760));
      const size = Math.floor(Math.min(230, (width - 150) / 2));
      const plotTop = size + 80;
      const plotHeight = 150;
      const ctx = D.setup(canvas, width, plotTop + plotHeight + 40);
      const side = trainer.config.side;
      const pi = trainer.target.pi;
      const top = Math.max(...pi);
      const left = { x: 30, y: 26, w: size, h: size };
      const right = { x: 30 + size + 30, y: 26, w: size, h: size };
      D.heatmap(ctx, pi, side, left, 0, top);
      D.frame(ctx, left, "target \u03c0(x) = R(x)/Z", ink);
      D.heatmap(ctx, pT, side, right, 0, top);
      D.frame(ctx, right, "learned P_T(x), on the target's scale", ink);
      const bar = { x: right.x + size + 10, y: right.y, w: 12, h: size };
      D.colourBar(
        ctx,
        bar,
        0,
        top,
        D.niceTicks(0, top, 4),
        (v) => String(+v.toPrecision(3)),
        "",
        ink,
      );
      const plot = { x: 70, y: plotTop, w: width - 100, h: plotHeight };
      const xMax = Math.max(500, Math.ceil(trainer.step / 500) * 500);
      D.logLinePlot(ctx, plot, h.step, h.tv, {
        yMin: 1e-3,
        yMax: 1,
        xMax,
        threshold: TV_GOAL,
        ink,
        colour: "#1f77b4",
        xLabel: "training step",
        yLabel: "exact TV",
      });
    }

    trainButton.addEventListener("click", () => {
      setRunning(!running);
      render();
    });
    resetButton.addEventListener("click", reset);
    GFN.draw.onRestyle(render);
    for (const name of ["loss", "reward", "side"]) selects[name].addEventListener("change", reset);
    reset();
    return { reset };
  }

  GFN.trainerPanel = { mount, TV_GOAL, MAX_STEPS };
})((globalThis.GFN = globalThis.GFN || {}));
