/* A tabular policy on the 2D grid and its exact terminal distribution (gfn_teach/policy.py,
 * gfn_teach/exact.py).
 *
 * Actions, as in the library's Hypergrid with dim = 2:
 *   forward  a = 0: x0 + 1,  a = 1: x1 + 1,  a = 2: stop (always valid);
 *   backward b = 0: x0 - 1,  b = 1: x1 - 1.
 * An increment is valid while x_d < side - 1, a decrement while x_d > 0.
 *
 * The table has one row of WIDTH = 6 numbers per state (the layout of gfn_teach.TabularPolicy
 * with n_actions = 3 and n_backward_actions = 2):
 *   [forward logit 0, forward logit 1, forward logit stop, log F(s),
 *    backward logit 0, backward logit 1]
 * and the policy also holds log Z. When the backward policy is not learned, its logits are
 * ignored: P_B is uniform over the valid parents.
 *
 * Probabilities are the masked softmax of the logits over the valid actions only:
 *     log P(a) = l_a - log sum_{b valid} exp(l_b).
 */
(function (GFN) {
  "use strict";

  const N_ACTIONS = 3; // x0 + 1, x1 + 1, stop
  const STOP = 2;
  const N_BACKWARD = 2; // x0 - 1, x1 - 1
  const LOG_FLOW = 3; // column of log F(s)
  const WIDTH = N_ACTIONS + 1 + N_BACKWARD; // 6

  /** A zero table (uniform P_F and P_B over valid actions) with log Z = 0. */
  function create(side, learnBackward) {
    return {
      side,
      learnBackward: !!learnBackward,
      table: new Float64Array(side * side * WIDTH),
      logZ: 0,
    };
  }

  /** Which forward actions are valid at x = [x0, x1]: [x0 < side-1, x1 < side-1, true]. */
  function forwardValid(x, side) {
    return [x[0] < side - 1, x[1] < side - 1, true];
  }

  /** Which backward actions are valid at x: [x0 > 0, x1 > 0]. */
  function backwardValid(x) {
    return [x[0] > 0, x[1] > 0];
  }

  /** Masked log-softmax of logits[offset .. offset+valid.length) into out (invalid: -Infinity). */
  function maskedLogSoftmax(logits, offset, valid, out) {
    let top = -Infinity;
    for (let a = 0; a < valid.length; a++)
      if (valid[a] && logits[offset + a] > top) top = logits[offset + a];
    let sum = 0;
    for (let a = 0; a < valid.length; a++) if (valid[a]) sum += Math.exp(logits[offset + a] - top);
    const norm = top + Math.log(sum);
    for (let a = 0; a < valid.length; a++)
      out[a] = valid[a] ? logits[offset + a] - norm : -Infinity;
    return out;
  }

  /** log P_F(. | s) at row-major state i: [3] (-Infinity where invalid). */
  function logPF(policy, i, out) {
    const side = policy.side;
    const x = [Math.floor(i / side), i % side];
    return maskedLogSoftmax(
      policy.table,
      i * WIDTH,
      forwardValid(x, side),
      out || new Float64Array(N_ACTIONS),
    );
  }

  /** log P_B(. | s) at state i: [2]; uniform over valid parents unless learned;
   *  all -Infinity at the origin (no parent). */
  function logPB(policy, i, out) {
    const side = policy.side;
    const x = [Math.floor(i / side), i % side];
    const valid = backwardValid(x);
    out = out || new Float64Array(N_BACKWARD);
    if (!valid[0] && !valid[1]) {
      out[0] = out[1] = -Infinity;
      return out;
    }
    if (policy.learnBackward)
      return maskedLogSoftmax(policy.table, i * WIDTH + N_ACTIONS + 1, valid, out);
    const uniform = -Math.log((valid[0] ? 1 : 0) + (valid[1] ? 1 : 0));
    for (let b = 0; b < N_BACKWARD; b++) out[b] = valid[b] ? uniform : -Infinity;
    return out;
  }

  /** P_F for every state: Float64Array [N * 3], probabilities (0 for invalid actions). */
  function forwardProbabilities(policy) {
    const n = policy.side * policy.side;
    const probs = new Float64Array(n * N_ACTIONS);
    const row = new Float64Array(N_ACTIONS);
    for (let i = 0; i < n; i++) {
      logPF(policy, i, row);
      for (let a = 0; a < N_ACTIONS; a++) probs[i * N_ACTIONS + a] = Math.exp(row[a]);
    }
    return probs;
  }

  /** The exact terminal distribution of the forward policy, by dynamic programming on the DAG.
   *
   * rho(s) is the probability that a trajectory passes through s:
   *     rho(s0) = 1,   rho(s) = sum_{p in Par(s)} rho(p) P_F(s | p),
   * and the trajectory ends at x with probability
   *     P_T(x) = rho(x) P_F(stop | x).
   * The parents of s = (x0, x1) are (x0-1, x1) (index i - side, by action 0) and (x0, x1-1)
   * (index i - 1, by action 1); both come before s in row-major order, so one pass in that
   * order gives the same fixed point as the library's max_length - 1 sweeps
   * (gfn_teach.exact.reach_probabilities). Returns Float64Array [side * side].
   */
  function terminalDistribution(policy) {
    const side = policy.side;
    const n = side * side;
    const pf = forwardProbabilities(policy);
    const rho = new Float64Array(n);
    const pT = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const x0 = Math.floor(i / side);
      const x1 = i % side;
      let r = i === 0 ? 1 : 0; // s0 is the origin
      if (x0 > 0) r += rho[i - side] * pf[(i - side) * N_ACTIONS + 0];
      if (x1 > 0) r += rho[i - 1] * pf[(i - 1) * N_ACTIONS + 1];
      rho[i] = r;
      pT[i] = r * pf[i * N_ACTIONS + STOP];
    }
    return pT;
  }

  GFN.policy = {
    N_ACTIONS,
    STOP,
    N_BACKWARD,
    LOG_FLOW,
    WIDTH,
    create,
    forwardValid,
    backwardValid,
    maskedLogSoftmax,
    logPF,
    logPB,
    forwardProbabilities,
    terminalDistribution,
  };
})((globalThis.GFN = globalThis.GFN || {}));
