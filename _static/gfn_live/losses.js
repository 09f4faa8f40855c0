/* Trajectory balance and detailed balance for the tabular policy, with their gradients derived
 * by hand (gfn_teach/losses.py has the same losses; the tests compare both values and
 * jax.grad's gradients).
 *
 * A trajectory is {states: [s_0, ..., s_n], actions: [a_0, ..., a_n]}: row-major state indices
 * and forward actions, with a_t leading from s_t to s_{t+1} for t < n and a_n = stop, so that
 * x = s_n is the terminal state. The backward action undoing a_t (t < n) is the same
 * coordinate, b = a_t, taken at s_{t+1}.
 *
 * Gradients of a masked log-softmax: for valid actions a and a',
 *     d log P(a) / d l_{a'} = [a = a'] - P(a'),
 * and 0 for invalid a' (the library masks invalid logits to a constant, so they get no gradient).
 */
(function (GFN) {
  "use strict";

  /** Scratch buffers for one row's log-probabilities. */
  const rowF = new Float64Array(3);
  const rowB = new Float64Array(2);

  /** Zero gradient of the same shape as the policy: {table, logZ}. */
  function zeroGrad(policy) {
    return { table: new Float64Array(policy.table.length), logZ: 0 };
  }

  /** grad[s, forward logits] += scale * d log P_F(a | s) / d logits. */
  function addForward(policy, grad, s, a, scale) {
    const P = GFN.policy;
    P.logPF(policy, s, rowF);
    const base = s * P.WIDTH;
    for (let k = 0; k < P.N_ACTIONS; k++) {
      if (rowF[k] === -Infinity) continue; // invalid action: no gradient
      grad.table[base + k] += scale * ((k === a ? 1 : 0) - Math.exp(rowF[k]));
    }
  }

  /** grad[s', backward logits] += scale * d log P_B(b | s') / d logits (when P_B is learned). */
  function addBackward(policy, grad, sNext, b, scale) {
    const P = GFN.policy;
    if (!policy.learnBackward) return;
    P.logPB(policy, sNext, rowB);
    const base = sNext * P.WIDTH + P.N_ACTIONS + 1;
    for (let k = 0; k < P.N_BACKWARD; k++) {
      if (rowB[k] === -Infinity) continue;
      grad.table[base + k] += scale * ((k === b ? 1 : 0) - Math.exp(rowB[k]));
    }
  }

  /** log P_F(a_t | s_t) and, for t < n, log P_B(s_t | s_{t+1}) of one step. */
  function stepLogProbs(policy, traj, t) {
    const P = GFN.policy;
    const logPf = P.logPF(policy, traj.states[t], rowF)[traj.actions[t]];
    const isStop = t === traj.actions.length - 1;
    const logPb = isStop ? 0 : P.logPB(policy, traj.states[t + 1], rowB)[traj.actions[t]];
    return { logPf, logPb, isStop };
  }

  /** Trajectory balance with the learned log Z, averaged over the B trajectories:
   *
   *     delta(tau) = log Z + sum_t log P_F(s_{t+1}|s_t) - log R(x) - sum_t log P_B(s_t|s_{t+1}),
   *     L = (1/B) sum_tau delta(tau)^2.
   *
   * dL/d delta = 2 delta / B; d delta / d log Z = 1; each forward step adds
   * d log P_F / d logits at s_t, each backward step subtracts d log P_B / d logits at s_{t+1}.
   * Returns {loss, grad: {table, logZ}} (grad omitted when withGrad is false).
   */
  function trajectoryBalance(policy, logR, batch, withGrad = true) {
    const grad = withGrad ? zeroGrad(policy) : null;
    let loss = 0;
    for (const traj of batch) {
      const n = traj.actions.length - 1;
      let delta = policy.logZ - logR[traj.states[n]];
      for (let t = 0; t <= n; t++) {
        const { logPf, logPb } = stepLogProbs(policy, traj, t);
        delta += logPf - logPb;
      }
      loss += (delta * delta) / batch.length;
      if (!withGrad) continue;
      const g = (2 * delta) / batch.length;
      grad.logZ += g;
      for (let t = 0; t <= n; t++) {
        addForward(policy, grad, traj.states[t], traj.actions[t], g);
        if (t < n) addBackward(policy, grad, traj.states[t + 1], traj.actions[t], -g);
      }
    }
    return { loss, grad };
  }

  /** Detailed balance, averaged over all M transitions of the batch (stop included):
   *
   *     delta(s -> s') = log F(s) + log P_F(s'|s) - log F(s') - log P_B(s|s'),
   *     delta(x -> s_f) = log F(x) + log P_F(stop|x) - log R(x),
   *     L = (1/M) sum delta^2.
   *
   * dL/d delta = 2 delta / M; d delta / d log F(s) = 1, d delta / d log F(s') = -1, and the
   * log-probabilities as in trajectoryBalance. log Z is not used (its gradient is 0).
   */
  function detailedBalance(policy, logR, batch, withGrad = true) {
    const P = GFN.policy;
    const grad = withGrad ? zeroGrad(policy) : null;
    let m = 0;
    for (const traj of batch) m += traj.actions.length;
    let loss = 0;
    const table = policy.table;
    for (const traj of batch) {
      const n = traj.actions.length - 1;
      for (let t = 0; t <= n; t++) {
        const s = traj.states[t];
        const { logPf, logPb, isStop } = stepLogProbs(policy, traj, t);
        const sNext = isStop ? -1 : traj.states[t + 1];
        const target = isStop ? logR[s] : table[sNext * P.WIDTH + P.LOG_FLOW] + logPb;
        const delta = table[s * P.WIDTH + P.LOG_FLOW] + logPf - target;
        loss += (delta * delta) / m;
        if (!withGrad) continue;
        const g = (2 * delta) / m;
        grad.table[s * P.WIDTH + P.LOG_FLOW] += g;
        addForward(policy, grad, s, traj.actions[t], g);
        if (!isStop) {
          grad.table[sNext * P.WIDTH + P.LOG_FLOW] -= g;
          addBackward(policy, grad, sNext, traj.actions[t], -g);
        }
      }
    }
    return { loss, grad };
  }

  /** The states of a trajectory given its actions (ending with stop), from the origin. */
  function walk(actions, side) {
    const states = [0];
    let x0 = 0;
    let x1 = 0;
    for (let t = 0; t < actions.length - 1; t++) {
      if (actions[t] === 0) x0 += 1;
      else if (actions[t] === 1) x1 += 1;
      else throw new Error("stop before the last action");
      if (x0 >= side || x1 >= side) throw new Error("trajectory leaves the grid");
      states.push(x0 * side + x1);
    }
    if (actions[actions.length - 1] !== GFN.policy.STOP)
      throw new Error("trajectory must end with stop");
    return { states, actions: Array.from(actions) };
  }

  GFN.losses = {
    tb: trajectoryBalance,
    db: detailedBalance,
    trajectoryBalance,
    detailedBalance,
    walk,
  };
})((globalThis.GFN = globalThis.GFN || {}));
