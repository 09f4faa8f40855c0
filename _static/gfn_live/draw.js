/* Canvas drawing for the live panels: heat maps of a grid, colour bars and a line plot.
 *
 * A grid is drawn as gfn_teach.viz draws it (imshow(grid.T, origin="lower")): x0 runs to the
 * right, x1 upwards, the cell of row-major index i = x0 * side + x1 at column x0, row x1 from
 * the bottom. Colours are matplotlib's viridis (17 stops, interpolated linearly).
 */
(function (GFN) {
  "use strict";

  const VIRIDIS = [
    [68, 1, 84],
    [72, 24, 106],
    [71, 45, 123],
    [66, 64, 134],
    [59, 82, 139],
    [51, 99, 141],
    [44, 114, 142],
    [38, 130, 142],
    [33, 145, 140],
    [31, 160, 136],
    [40, 174, 128],
    [63, 188, 115],
    [94, 201, 98],
    [132, 212, 75],
    [173, 220, 48],
    [216, 226, 25],
    [253, 231, 37],
  ];
  const FONT = "12px system-ui, -apple-system, 'Segoe UI', sans-serif";

  /** The viridis colour of t in [0, 1] (clipped), as [r, g, b]. */
  function viridisRGB(t) {
    const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
    const k = Math.min(VIRIDIS.length - 2, Math.floor(u));
    const f = u - k;
    return VIRIDIS[k].map((v, j) => Math.round(v + f * (VIRIDIS[k + 1][j] - v)));
  }

  /** The viridis colour of t as a CSS colour "rgb(r,g,b)". */
  function viridis(t) {
    const c = viridisRGB(t);
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  /** Size a canvas to cssWidth x cssHeight CSS pixels, sharp on high-DPI screens;
   *  returns its 2D context. */
  function setup(canvas, cssWidth, cssHeight) {
    const ratio = Math.max(1, Math.min(3, globalThis.devicePixelRatio || 1));
    canvas.width = Math.round(cssWidth * ratio);
    canvas.height = Math.round(cssHeight * ratio);
    canvas.style.width = cssWidth + "px";
    canvas.style.height = cssHeight + "px";
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, cssWidth, cssHeight);
    ctx.font = FONT;
    return ctx;
  }

  /** Heat map of values [side * side] in box {x, y, w, h}, colour scale [vmin, vmax] (clipped).
   *  One pixel per cell in an offscreen image, scaled up without smoothing: sharp cells,
   *  no seams. */
  function heatmap(ctx, values, side, box, vmin, vmax) {
    const span = vmax > vmin ? vmax - vmin : 1;
    const cells = document.createElement("canvas");
    cells.width = side;
    cells.height = side;
    const cctx = cells.getContext("2d");
    const image = cctx.createImageData(side, side);
    for (let x0 = 0; x0 < side; x0++) {
      for (let x1 = 0; x1 < side; x1++) {
        const c = viridisRGB((values[x0 * side + x1] - vmin) / span);
        const p = 4 * ((side - 1 - x1) * side + x0); // image row 0 is the top: x1 = side - 1
        image.data[p] = c[0];
        image.data[p + 1] = c[1];
        image.data[p + 2] = c[2];
        image.data[p + 3] = 255;
      }
    }
    cctx.putImageData(image, 0, 0);
    ctx.save();
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cells, box.x, box.y, box.w, box.h);
    ctx.restore();
  }

  /** A title above a box and the axis names x0 (below) and x1 (left). */
  function frame(ctx, box, title, ink) {
    ctx.fillStyle = ink;
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    ctx.fillText(title, box.x + box.w / 2, box.y - 6);
    ctx.textBaseline = "top";
    ctx.fillText("x\u2080", box.x + box.w / 2, box.y + box.h + 4);
    ctx.save();
    ctx.translate(box.x - 8, box.y + box.h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "bottom";
    ctx.fillText("x\u2081", 0, 0);
    ctx.restore();
  }

  /** A vertical colour bar in box from vmin (bottom) to vmax (top), tick labels at its right. */
  function colourBar(ctx, box, vmin, vmax, ticks, format, label, ink) {
    const steps = 64;
    for (let k = 0; k < steps; k++) {
      ctx.fillStyle = viridis((k + 0.5) / steps);
      ctx.fillRect(box.x, box.y + box.h - ((k + 1) * box.h) / steps, box.w, box.h / steps + 0.5);
    }
    ctx.fillStyle = ink;
    ctx.strokeStyle = ink;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    for (const v of ticks) {
      const y = box.y + box.h - ((v - vmin) / (vmax - vmin || 1)) * box.h;
      ctx.beginPath();
      ctx.moveTo(box.x + box.w, y);
      ctx.lineTo(box.x + box.w + 3, y);
      ctx.stroke();
      ctx.fillText(format(v), box.x + box.w + 5, y);
    }
    if (label) {
      ctx.textAlign = "center";
      ctx.textBaseline = "bottom";
      ctx.fillText(label, box.x + box.w / 2, box.y - 6);
    }
  }

  /** A few round tick values between lo and hi. */
  function niceTicks(lo, hi, count = 4) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12 * step; v += step)
      out.push(+v.toPrecision(12));
    return out;
  }

  /** Line plot of ys against xs in box, y on a log10 scale over [yMin, yMax], x over [0, xMax];
   *  a dashed horizontal line at `threshold`. */
  function logLinePlot(ctx, box, xs, ys, opts) {
    const { yMin, yMax, xMax, threshold, ink, colour, xLabel, yLabel } = opts;
    const lo = Math.log10(yMin);
    const hi = Math.log10(yMax);
    const px = (x) => box.x + (x / (xMax || 1)) * box.w;
    const py = (y) => box.y + box.h - ((Math.log10(Math.max(y, yMin)) - lo) / (hi - lo)) * box.h;
    ctx.strokeStyle = ink;
    ctx.fillStyle = ink;
    ctx.lineWidth = 1;
    ctx.strokeRect(box.x, box.y, box.w, box.h);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
      const y = py(Math.pow(10, e));
      ctx.beginPath();
      ctx.moveTo(box.x - 3, y);
      ctx.lineTo(box.x, y);
      ctx.stroke();
      ctx.fillText(String(Math.pow(10, e)), box.x - 5, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const x of niceTicks(0, xMax, 5)) {
      ctx.beginPath();
      ctx.moveTo(px(x), box.y + box.h);
      ctx.lineTo(px(x), box.y + box.h + 3);
      ctx.stroke();
      ctx.fillText(String(x), px(x), box.y + box.h + 5);
    }
    ctx.fillText(xLabel, box.x + box.w / 2, box.y + box.h + 20);
    ctx.save();
    ctx.translate(box.x - 42, box.y + box.h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "bottom";
    ctx.fillText(yLabel, 0, 0);
    ctx.restore();
    if (threshold) {
      ctx.save();
      ctx.setLineDash([5, 4]);
      ctx.strokeStyle = "#888";
      ctx.beginPath();
      ctx.moveTo(box.x, py(threshold));
      ctx.lineTo(box.x + box.w, py(threshold));
      ctx.stroke();
      ctx.restore();
      ctx.textAlign = "right";
      ctx.textBaseline = "bottom";
      ctx.fillStyle = "#888";
      ctx.fillText(String(threshold), box.x + box.w - 4, py(threshold) - 2);
    }
    if (xs.length) {
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      for (let k = 0; k < xs.length; k++) {
        const x = px(xs[k]);
        const y = py(ys[k]);
        if (k === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      }
      ctx.stroke();
      ctx.lineWidth = 1;
      // the latest point as a dot (before training, the only one)
      ctx.fillStyle = colour;
      ctx.beginPath();
      ctx.arc(px(xs[xs.length - 1]), py(ys[ys.length - 1]), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  /** Items of a status line: no break inside an item, wide gaps between them. */
  function items(list) {
    return list.map((t) => t.replace(/ /g, "\u00a0")).join("   ");
  }

  /** Call redraw (at most once per animation frame) when the window's width changes or the
   *  theme switches between light and dark (the text colour drawn on the canvas changes). */
  function onRestyle(redraw) {
    let pending = false;
    let width = globalThis.innerWidth;
    const later = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        width = globalThis.innerWidth;
        redraw();
      });
    };
    globalThis.addEventListener("resize", () => {
      if (globalThis.innerWidth !== width) later();
    });
    new MutationObserver(later).observe(document.documentElement, {
      attributes: true,
      attributeFilter: ["data-theme"],
    });
  }

  /** The page's text colour at element el (follows the theme's light or dark mode). */
  function inkOf(el) {
    return (globalThis.getComputedStyle && getComputedStyle(el).color) || "#222";
  }

  GFN.draw = {
    viridis,
    viridisRGB,
    setup,
    heatmap,
    frame,
    colourBar,
    niceTicks,
    logLinePlot,
    items,
    onRestyle,
    inkOf,
  };
})((globalThis.GFN = globalThis.GFN || {}));
