/* Mounts the live panels on the page's placeholders, once the page is parsed:
 * <div id="gfn-reward-explorer"> (explorer.js) and <div id="gfn-training-panel">
 * (trainer_panel.js).
 * In Colab or Jupyter the same Markdown cells hold only the empty divs, and no script runs.
 */
(function (GFN) {
  "use strict";
  if (typeof document === "undefined") return; // under node (the tests): nothing to mount

  const PANELS = [
    ["gfn-reward-explorer", () => GFN.explorer],
    ["gfn-training-panel", () => GFN.trainerPanel],
  ];

  function boot() {
    for (const [id, panel] of PANELS) {
      const root = document.getElementById(id);
      if (root && !root.gfnMounted) {
        root.gfnMounted = true;
        panel().mount(root);
      }
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})((globalThis.GFN = globalThis.GFN || {}));
