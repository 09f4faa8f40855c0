/* The reward explorer panel: sliders for side, R0, R1 and R2 redraw the 2D reward R(x), the
 * target pi(x) = R(x)/Z (on a log colour scale, so the background worth R0 shows) and log Z,
 * all computed in the page (hypergrid.js). Mounted on <div id="gfn-reward-explorer">.
 *
 * The element's `gfnState` holds what is shown, in full precision, for the page tests:
 * {params: {side, r0, r1, r2}, logZ, z, maxPi, backgroundShare, pi}.
 */
(function (GFN) {
  "use strict";

  const SLIDERS = [
    // name, label, min, max, step, default (the "easy" preset on the 20 x 20 grid)
    ["side", "side", 4, 64, 1, 20],
    ["log10_r0", "log\u2081\u2080 R\u2080", -6, 0, 0.25, -3],
    ["r1", "R\u2081", 0, 4, 0.1, 0.5],
    ["r2", "R\u2082", 0, 4, 0.1, 2.0],
  ];

  const SUPERSCRIPT = {
    "-": "\u207b",
    0: "\u2070",
    1: "\u00b9",
    2: "\u00b2",
    3: "\u00b3",
    4: "\u2074",
    5: "\u2075",
    6: "\u2076",
    7: "\u2077",
    8: "\u2078",
    9: "\u2079",
  };

  /** 10^e with a superscript exponent, e.g. 10⁻³. */
  function powerOfTen(e) {
    return (
      "10" +
      String(e)
        .split("")
        .map((c) => SUPERSCRIPT[c] || c)
        .join("")
    );
  }

  /** A number with `digits` significant digits, without a trailing exponent for ordinary sizes. */
  function sig(v, digits = 5) {
    if (v === 0) return "0";
    return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6
      ? String(+v.toPrecision(digits))
      : v.toExponential(digits - 1);
  }

  /** Every number the panel shows, for side and {r0, r1, r2}. */
  function compute(side, params) {
    const H = GFN.hypergrid;
    const { logR, pi, logZ } = H.target(side, params);
    let maxPi = 0;
    let backgroundShare = 0; // the mass on cells in neither band, worth only R0
    for (let i = 0; i < pi.length; i++) {
      maxPi = Math.max(maxPi, pi[i]);
      const x = H.stateOf(i, side);
      const b0 = H.bands(x[0], side);
      const b1 = H.bands(x[1], side);
      if (!(b0.outer && b1.outer) && !(b0.inner && b1.inner)) backgroundShare += pi[i];
    }
    return {
      params: Object.assign({ side }, params),
      logR,
      pi,
      logZ,
      z: Math.exp(logZ),
      maxPi,
      backgroundShare,
    };
  }

  function mount(root) {
    root.classList.add("gfn-live");
    root.innerHTML = "";
    const controls = document.createElement("div");
    controls.className = "gfn-live-controls";
    const inputs = {};
    for (const [name, label, min, max, step, value] of SLIDERS) {
      const wrap = document.createElement("label");
      wrap.className = "gfn-live-slider";
      const text = document.createElement("span");
      text.textContent = label;
      const input = document.createElement("input");
      Object.assign(input, { type: "range", name, min, max, step, value });
      input.setAttribute("aria-label", label);
      const out = document.createElement("output");
      wrap.append(text, input, out);
      controls.append(wrap);
      inputs[name] = { input, out };
    }
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    const numbers = document.createElement("p");
    numbers.className = "gfn-live-numbers";
    const hover = document.createElement("p");
    hover.className = "gfn-live-hover";
    hover.textContent = "Point at a cell to read its R(x) and \u03c0(x).";
    root.append(controls, canvas, numbers, hover);

    let layout = null;

    function read() {
      const v = (name) => Number(inputs[name].input.value);
      return {
        side: Math.round(v("side")),
        params: { r0: Math.pow(10, v("log10_r0")), r1: v("r1"), r2: v("r2") },
      };
    }

    function render() {
      const { side, params } = read();
      inputs.side.out.textContent = String(side);
      const r0Text = sig(params.r0, 3);
      inputs.log10_r0.out.textContent = `${inputs.log10_r0.input.value} (R\u2080 = ${r0Text})`;
      inputs.r1.out.textContent = Number(inputs.r1.input.value).toFixed(1);
      inputs.r2.out.textContent = Number(inputs.r2.input.value).toFixed(1);
      const state = compute(side, params);
      root.gfnState = state;
      draw(state);
      numbers.textContent = GFN.draw.items([
        `log Z = ${state.logZ.toFixed(4)}`,
        `Z = ${sig(state.z)}`,
        `max \u03c0(x) = ${sig(state.maxPi, 4)}`,
        `background share of Z = ${(100 * state.backgroundShare).toFixed(2)}%`,
      ]);
      canvas.setAttribute(
        "aria-label",
        `reward and target on the ${side} by ${side} grid; ${numbers.textContent}`,
      );
    }

    function draw(state) {
      const D = GFN.draw;
      const ink = D.inkOf(root);
      const width = Math.max(480, Math.min(root.clientWidth || 720, 760));
      const size = Math.floor(Math.min(250, (width - 230) / 2));
      const height = size + 60;
      const ctx = D.setup(canvas, width, height);
      const side = state.params.side;
      const left = { x: 30, y: 26, w: size, h: size };
      const right = { x: 30 + size + 120, y: 26, w: size, h: size };
      const rewards = state.logR.map(Math.exp);
      const maxR = Math.max(...rewards);
      D.heatmap(ctx, rewards, side, left, 0, maxR);
      D.frame(ctx, left, "reward R(x)", ink);
      const barL = { x: left.x + size + 10, y: left.y, w: 12, h: size };
      D.colourBar(ctx, barL, 0, maxR, D.niceTicks(0, maxR, 4), (v) => sig(v, 3), "", ink);
      // log10 pi on the right, so that the background (worth only R0) is visible
      const logPi = state.pi.map((p) => Math.log10(p));
      let lo = Math.min(...logPi);
      let hi = Math.max(...logPi);
      if (hi - lo < 1e-9) {
        lo -= 0.5;
        hi += 0.5;
      }
      D.heatmap(ctx, logPi, side, right, lo, hi);
      D.frame(ctx, right, "target \u03c0(x) = R(x)/Z, log scale", ink);
      const barR = { x: right.x + size + 10, y: right.y, w: 12, h: size };
      const ticks = [];
      for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) ticks.push(e);
      D.colourBar(
        ctx,
        barR,
        lo,
        hi,
        ticks.length ? ticks : [lo, hi],
        (e) => (Number.isInteger(e) ? powerOfTen(e) : sig(Math.pow(10, e), 2)),
        "",
        ink,
      );
      layout = { side, boxes: [left, right] };
    }

    function onHover(event) {
      const state = root.gfnState;
      if (!layout || !state) return;
      const rect = canvas.getBoundingClientRect();
      const scale = parseFloat(canvas.style.width) / rect.width; // the canvas may be shrunk to fit
      const mx = (event.clientX - rect.left) * scale;
      const my = (event.clientY - rect.top) * scale;
      for (const box of layout.boxes) {
        if (mx < box.x || mx >= box.x + box.w || my < box.y || my >= box.y + box.h) continue;
        const x0 = Math.floor(((mx - box.x) / box.w) * layout.side);
        const x1 = Math.floor(((box.y + box.h - my) / box.h) * layout.side);
        const i = x0 * layout.side + x1;
        const r = sig(Math.exp(state.logR[i]));
        hover.textContent = `x = (${x0}, ${x1}):  R(x) = ${r},  \u03c0(x) = ${sig(state.pi[i], 4)}`;
        return;
      }
    }

    for (const { input } of Object.values(inputs)) input.addEventListener("input", render);
    canvas.addEventListener("mousemove", onHover);
    GFN.draw.onRestyle(render);
    render();
    return { render, compute };
  }

  GFN.explorer = { mount, compute, SLIDERS };
})((globalThis.GFN = globalThis.GFN || {}));
