/* The 2D hypergrid reward and its target, as in gfn_teach/hypergrid.py (no dependencies).
 *
 * A state is x = (x0, x1) in {0, ..., side-1}^2, stored at row-major index i = x0 * side + x1
 * (the order of Hypergrid.all_states()). Every state is terminal.
 *
 * With a_d = |x_d / (side-1) - 1/2|, the standard reward is
 *
 *     R(x) = R0 + R1 * prod_d [0.25 < a_d <= 0.5] + R2 * prod_d [0.3 < a_d < 0.4].
 *
 * Like the library (band_indicators), the bands are tested in integers: with m = side - 1 and
 * k_d = |2 x_d - m| = 2 m a_d,
 *
 *     0.25 < a_d           <=>  2 k_d > m,
 *     0.3 < a_d < 0.4      <=>  5 k_d > 3 m  and  5 k_d < 4 m,
 *
 * so symmetric cells get the same reward and no float rounding decides a band edge.
 * The target is pi(x) = R(x) / Z with Z = sum_x R(x); log Z is computed as a log-sum-exp.
 * Everything here is float64 (the library computes in float32 unless JAX's x64 is on).
 */
(function (GFN) {
  "use strict";

  /** Reward presets, as gfn_teach.REWARD_PRESETS. */
  const PRESETS = {
    easy: { r0: 1e-3, r1: 0.5, r2: 2.0 },
    hard: { r0: 1e-4, r1: 1.0, r2: 3.0 },
    original: { r0: 0.1, r1: 0.5, r2: 2.0 },
  };

  /** Band membership of one coordinate value: {outer: 0.25 < a <= 0.5, inner: 0.3 < a < 0.4}. */
  function bands(x, side) {
    const m = side - 1;
    const k = Math.abs(2 * x - m); // = 2 m a, an integer
    return { outer: 2 * k > m, inner: 5 * k > 3 * m && 5 * k < 4 * m };
  }

  /** R(x) for x = [x0, x1] and params {r0, r1, r2}. */
  function reward(x, side, params) {
    const b0 = bands(x[0], side);
    const b1 = bands(x[1], side);
    return (
      params.r0 +
      params.r1 * (b0.outer && b1.outer ? 1 : 0) +
      params.r2 * (b0.inner && b1.inner ? 1 : 0)
    );
  }

  /** State of row-major index i: [i / side, i % side] (Hypergrid.index_to_state). */
  function stateOf(i, side) {
    return [Math.floor(i / side), i % side];
  }

  /** log R(x) for every state, Float64Array [side * side] in row-major order. */
  function logRewards(side, params) {
    const out = new Float64Array(side * side);
    for (let i = 0; i < out.length; i++) out[i] = Math.log(reward(stateOf(i, side), side, params));
    return out;
  }

  /** log sum_i exp(v_i), shifted by the maximum so that nothing overflows. */
  function logSumExp(v) {
    let top = -Infinity;
    for (let i = 0; i < v.length; i++) if (v[i] > top) top = v[i];
    if (top === -Infinity) return -Infinity;
    let sum = 0;
    for (let i = 0; i < v.length; i++) sum += Math.exp(v[i] - top);
    return top + Math.log(sum);
  }

  /** The target: {logR, pi = R / Z, logZ = log sum_x R(x)} for a 2D grid. */
  function target(side, params) {
    const logR = logRewards(side, params);
    const logZ = logSumExp(logR);
    const pi = new Float64Array(logR.length);
    for (let i = 0; i < pi.length; i++) pi[i] = Math.exp(logR[i] - logZ);
    return { logR, pi, logZ };
  }

  /** Total variation 1/2 sum_x |p(x) - q(x)| (gfn_teach.total_variation). */
  function totalVariation(p, q) {
    let s = 0;
    for (let i = 0; i < p.length; i++) s += Math.abs(p[i] - q[i]);
    return 0.5 * s;
  }

  GFN.hypergrid = {
    PRESETS,
    bands,
    reward,
    stateOf,
    logRewards,
    logSumExp,
    target,
    totalVariation,
  };
})((globalThis.GFN = globalThis.GFN || {}));
