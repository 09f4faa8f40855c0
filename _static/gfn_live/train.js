/* Training the tabular policy in the page: sampling with exploration, Adam, exact evaluation.
 *
 * One step, as gfn_teach.train does it (with a table instead of a network):
 *   1. sample B trajectories from the behaviour policy mu: at each state, with probability
 *      epsilon a uniformly random valid action, otherwise an action of P_F(. | s); epsilon
 *      decays linearly from epsilonStart to 0 over explorationSteps steps;
 *   2. the loss (TB or DB) on that batch and its gradient (losses.js);
 *   3. one Adam step on the table (learning rate lr) and on log Z (lrLogZ).
 * Every evalEvery steps the exact TV between the policy's terminal distribution (policy.js,
 * by dynamic programming: no sampling) and the target pi = R/Z is recorded.
 */
(function (GFN) {
  "use strict";

  /** A small seeded generator (mulberry32): uniform floats in [0, 1). */
  function rng(seed) {
    let a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** Adam (as optax.adam): m <- b1 m + (1-b1) g, v <- b2 v + (1-b2) g^2,
   *  p <- p - lr * m_hat / (sqrt(v_hat) + eps),
   *  with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t). */
  function adam(size, lr, b1 = 0.9, b2 = 0.999, eps = 1e-8) {
    const m = new Float64Array(size);
    const v = new Float64Array(size);
    let t = 0;
    return {
      lr,
      /** Update params (Float64Array) in place with gradient g (Float64Array). */
      update(params, g) {
        t += 1;
        const c1 = 1 - Math.pow(b1, t);
        const c2 = 1 - Math.pow(b2, t);
        for (let i = 0; i < size; i++) {
          m[i] = b1 * m[i] + (1 - b1) * g[i];
          v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
          params[i] -= (this.lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
        }
      },
    };
  }

  /** Draw an index from probabilities p (valid entries sum to 1) with a uniform u in [0, 1). */
  function categorical(p, u) {
    let c = 0;
    for (let k = 0; k < p.length; k++) {
      c += p[k];
      if (u < c && p[k] > 0) return k;
    }
    for (let k = p.length - 1; k >= 0; k--) if (p[k] > 0) return k; // rounding: the last valid
    return p.length - 1;
  }

  /** One trajectory of mu = epsilon-uniform mixed with P_F, from the origin to stop. */
  function sampleTrajectory(policy, epsilon, random) {
    const P = GFN.policy;
    const side = policy.side;
    const states = [0];
    const actions = [];
    const logPf = new Float64Array(P.N_ACTIONS);
    const probs = new Float64Array(P.N_ACTIONS);
    let x0 = 0;
    let x1 = 0;
    for (;;) {
      const i = x0 * side + x1;
      const valid = P.forwardValid([x0, x1], side);
      let a;
      if (random() < epsilon) {
        const nValid = valid.filter(Boolean).length;
        for (let k = 0; k < P.N_ACTIONS; k++) probs[k] = valid[k] ? 1 / nValid : 0;
      } else {
        P.logPF(policy, i, logPf);
        for (let k = 0; k < P.N_ACTIONS; k++) probs[k] = Math.exp(logPf[k]);
      }
      a = categorical(probs, random());
      actions.push(a);
      if (a === P.STOP) return { states, actions };
      if (a === 0) x0 += 1;
      else x1 += 1;
      states.push(x0 * side + x1);
    }
  }

  /** Default settings (the training panel's). */
  const DEFAULTS = {
    side: 8,
    reward: "easy",
    loss: "tb",
    learnBackward: false,
    batchSize: 16,
    lr: 0.05,
    lrLogZ: 0.1,
    epsilonStart: 1.0,
    explorationSteps: 300,
    evalEvery: 10,
    seed: 0,
  };

  /** A trainer: {policy, target, step, history: {step, tv, logZ, loss}, trainSteps(k),
   *  evaluate()}. */
  function createTrainer(options) {
    const cfg = Object.assign({}, DEFAULTS, options || {});
    const params = typeof cfg.reward === "string" ? GFN.hypergrid.PRESETS[cfg.reward] : cfg.reward;
    const target = GFN.hypergrid.target(cfg.side, params);
    const policy = GFN.policy.create(cfg.side, cfg.learnBackward);
    const lossFn = GFN.losses[cfg.loss];
    if (!lossFn) throw new Error("unknown loss " + cfg.loss);
    const tableOpt = adam(policy.table.length, cfg.lr);
    const logZOpt = adam(1, cfg.lrLogZ);
    const logZParam = new Float64Array(1);
    const logZGrad = new Float64Array(1);
    const random = rng(cfg.seed);
    const trainer = {
      config: cfg,
      policy,
      target,
      step: 0,
      lastLoss: NaN,
      history: { step: [], tv: [], logZ: [], loss: [] },
      /** The exploration probability at the current step. */
      epsilon() {
        return cfg.epsilonStart * Math.max(0, 1 - trainer.step / cfg.explorationSteps);
      },
      /** P_T of the current policy and its exact TV to the target. */
      evaluate() {
        const pT = GFN.policy.terminalDistribution(policy);
        return { pT, tv: GFN.hypergrid.totalVariation(pT, target.pi) };
      },
      /** Record (step, exact TV, log Z, loss) in the history. */
      record() {
        const { tv } = trainer.evaluate();
        trainer.history.step.push(trainer.step);
        trainer.history.tv.push(tv);
        trainer.history.logZ.push(trainer.logZ());
        trainer.history.loss.push(trainer.lastLoss);
        return tv;
      },
      /** log Z as TB learns it; for DB, the learned log F(s0). */
      logZ() {
        return cfg.loss === "tb" ? policy.logZ : policy.table[GFN.policy.LOG_FLOW];
      },
      /** k training steps (recording every evalEvery steps). */
      trainSteps(k) {
        for (let j = 0; j < k; j++) {
          const epsilon = trainer.epsilon();
          const batch = [];
          for (let b = 0; b < cfg.batchSize; b++)
            batch.push(sampleTrajectory(policy, epsilon, random));
          const { loss, grad } = lossFn(policy, target.logR, batch);
          tableOpt.update(policy.table, grad.table);
          logZParam[0] = policy.logZ;
          logZGrad[0] = grad.logZ;
          logZOpt.update(logZParam, logZGrad);
          policy.logZ = logZParam[0];
          trainer.step += 1;
          trainer.lastLoss = loss;
          if (trainer.step % cfg.evalEvery === 0) trainer.record();
        }
      },
    };
    trainer.record(); // step 0
    return trainer;
  }

  GFN.train = { rng, adam, categorical, sampleTrajectory, DEFAULTS, createTrainer };
})((globalThis.GFN = globalThis.GFN || {}));
