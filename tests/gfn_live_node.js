// Runs the book page's JavaScript (_static/gfn_live/) under node for tests/test_gfn_live.py.
// Reads one JSON request on stdin and writes one JSON answer on stdout:
//   {"op": "target", "side": 8, "params": {"r0": .., "r1": .., "r2": ..}}
//       -> {"logR": [N], "pi": [N], "logZ": x}
//   {"op": "terminal", "side": 8, "learnBackward": false, "table": [N * 6], "logZ": x}
//       -> {"pT": [N]}
//   {"op": "loss", "loss": "tb" | "db", "side", "params", "learnBackward", "table", "logZ",
//    "trajectories": [[actions ending with stop (2)], ...]}
//       -> {"loss": x, "gradTable": [N * 6], "gradLogZ": x}
//   {"op": "train", "options": {...train.DEFAULTS overrides}, "maxSteps": n, "goal": 0.05}
//       -> {"reachedStep": n | null, "finalTv": x, "logZ": x, "trueLogZ": x}
"use strict";
const path = require("path");

const dir = path.join(__dirname, "..", "_static", "gfn_live");
for (const name of ["hypergrid", "policy", "losses", "train"])
  require(path.join(dir, name + ".js"));
const GFN = globalThis.GFN;

function policyOf(req) {
  const policy = GFN.policy.create(req.side, req.learnBackward);
  if (req.table.length !== policy.table.length) throw new Error("table has the wrong size");
  policy.table.set(req.table);
  policy.logZ = req.logZ;
  return policy;
}

const OPS = {
  target(req) {
    const t = GFN.hypergrid.target(req.side, req.params);
    return { logR: Array.from(t.logR), pi: Array.from(t.pi), logZ: t.logZ };
  },
  terminal(req) {
    return { pT: Array.from(GFN.policy.terminalDistribution(policyOf(req))) };
  },
  loss(req) {
    const policy = policyOf(req);
    const logR = GFN.hypergrid.logRewards(req.side, req.params);
    const batch = req.trajectories.map((actions) => GFN.losses.walk(actions, req.side));
    const { loss, grad } = GFN.losses[req.loss](policy, logR, batch);
    return { loss, gradTable: Array.from(grad.table), gradLogZ: grad.logZ };
  },
  train(req) {
    const trainer = GFN.train.createTrainer(req.options);
    let reachedStep = null;
    while (trainer.step < req.maxSteps && reachedStep === null) {
      trainer.trainSteps(trainer.config.evalEvery);
      if (trainer.history.tv[trainer.history.tv.length - 1] <= req.goal) reachedStep = trainer.step;
    }
    const { tv } = trainer.evaluate();
    return { reachedStep, finalTv: tv, logZ: trainer.logZ(), trueLogZ: trainer.target.logZ };
  },
};

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const req = JSON.parse(input);
  if (!OPS[req.op]) throw new Error("unknown op " + req.op);
  process.stdout.write(JSON.stringify(OPS[req.op](req)));
});
