"""Drive torchgfn (PyTorch) on the hypergrid through its own public API, for the side-by-side benchmark.

Run inside benchmarks/.envs/torchgfn (see setup_envs.sh):

    benchmarks/.envs/torchgfn/bin/python benchmarks/peers/run_torchgfn.py \
        --loss db --dim 2 --side 20 --steps 300 --seed 0 --out /tmp/tg.json --dump-every 100

Set-up follows torchgfn's own examples (tutorials/examples/train_hypergrid_simple.py and
train_hypergrid.py in the torchgfn repository): HyperGrid(reward_fn_str="original") with
R0=1e-3 (--reward original: 0.1), R1=0.5, R2=2.0, KHotPreprocessor, gfn.utils.modules.MLP (256 wide, 2 hidden
layers) for P_F, DiscreteUniform for a uniform P_B (the examples' --uniform_pb), a separate
MLP ScalarEstimator for log F (DB, and SubTBGFlowNet with weighting "geometric_within", lambda 0.9,
its defaults), a scalar log Z parameter (TB), Sampler.sample_trajectories
(on-policy, epsilon=0, save_logprobs=True) and gflownet.loss_from_trajectories(...,
recalculate_all_logprobs=False) as in the examples. Adam: lr 1e-3 for P_F / log F, 1e-1 for
log Z (the examples' --lr_logz default). Unlike the examples there is no gradient clipping.

Timing: compile_seconds = wall time of the first training step (no compilation in eager
PyTorch, so this is the warm-up step). steps_per_second = (N-1) / wall time of steps 2..N,
dump time excluded. torch runs single-threaded by default (--threads, see its help).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import time

import numpy as np
import torch

from gfn.estimators import DiscretePolicyEstimator, ScalarEstimator
from gfn.gflownet import DBGFlowNet, SubTBGFlowNet, TBGFlowNet
from gfn.gym import HyperGrid
from gfn.preprocessors import KHotPreprocessor
from gfn.samplers import Sampler
from gfn.utils.common import set_seed
from gfn.utils.modules import MLP, DiscreteUniform

R1, R2 = 0.5, 2.0
R0 = {"easy": 1e-3, "original": 0.1}  # --reward; torchgfn's own default R0 is 0.1


def build(args):
    env = HyperGrid(
        ndim=args.dim,
        height=args.side,
        reward_fn_str="original",
        reward_fn_kwargs={"R0": R0[args.reward], "R1": R1, "R2": R2},
        device="cpu",
        calculate_partition=False,
        store_all_states=False,
        validate_modes=False,  # its check refuses grids with no R2 band (e.g. side 5); nothing else
    )
    pre = KHotPreprocessor(height=env.height, ndim=env.ndim)
    module_pf = MLP(
        input_dim=pre.output_dim, output_dim=env.n_actions,
        hidden_dim=args.hidden, n_hidden_layers=args.depth,
    )
    module_pb = DiscreteUniform(output_dim=env.n_actions - 1)
    pf = DiscretePolicyEstimator(module_pf, env.n_actions, preprocessor=pre, is_backward=False)
    pb = DiscretePolicyEstimator(module_pb, env.n_actions, preprocessor=pre, is_backward=True)
    if args.loss == "tb":
        gfn = TBGFlowNet(pf=pf, pb=pb, init_logZ=0.0)
        opt = torch.optim.Adam(gfn.pf_pb_parameters(), lr=args.lr)
        opt.add_param_group({"params": gfn.logz_parameters(), "lr": args.logz_lr})
    else:
        module_logf = MLP(
            input_dim=pre.output_dim, output_dim=1,
            hidden_dim=args.hidden, n_hidden_layers=args.depth,
        )
        logF = ScalarEstimator(module=module_logf, preprocessor=pre)
        if args.loss == "db":
            gfn = DBGFlowNet(pf=pf, pb=pb, logF=logF)
        else:  # SubTB(lambda), each trajectory's sub-trajectories weighted lambda**length
            gfn = SubTBGFlowNet(pf=pf, pb=pb, logF=logF, weighting="geometric_within", lamda=args.subtb_lambda)
        opt = torch.optim.Adam(gfn.pf_pb_parameters(), lr=args.lr)
        opt.add_param_group({"params": gfn.logF_parameters(), "lr": args.lr})
    sampler = Sampler(estimator=pf)
    return env, pf, gfn, opt, sampler


@torch.no_grad()
def dump_logpf(path, env, pf, dim, side, chunk):
    n_states = side**dim
    out = np.empty((n_states, dim + 1), dtype=np.float32)
    for start in range(0, n_states, chunk):
        stop = min(start + chunk, n_states)
        idx = np.arange(start, stop)
        # row-major: index = sum_d x_d * side**(dim-1-d)  (== HyperGrid.get_states_indices)
        coords = torch.as_tensor(np.stack(np.unravel_index(idx, (side,) * dim), axis=-1), dtype=torch.long)
        states = env.States(coords)
        dist = pf.to_probability_distribution(states, pf(states))
        logp = torch.log_softmax(dist.logits, dim=-1)
        logp = torch.where(states.forward_masks, logp, torch.full_like(logp, -float("inf")))
        out[start:stop] = logp.numpy()
    # torchgfn action order: 0..ndim-1 = "increment coordinate d", ndim = exit -> same as ours.
    np.save(path, out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loss", choices=["db", "tb", "subtb"], required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--side", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reward", choices=sorted(R0), default="easy", help="R0 = 1e-3 (easy) or 0.1 (original)")
    p.add_argument("--subtb-lambda", type=float, default=0.9, help="SubTB only (torchgfn's default)")
    p.add_argument("--out", required=True)
    p.add_argument("--dump-every", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--logz-lr", type=float, default=1e-1, help="TB only (torchgfn examples: --lr_logz 1e-1)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--depth", type=int, default=2, help="hidden layers (MLP n_hidden_layers)")
    p.add_argument("--dump-chunk", type=int, default=8192)
    p.add_argument("--threads", type=int, default=1,
                   help="torch.set_num_threads(N) if N > 0 (default 1); 0 keeps torch's own default "
                        "(= cores). With 16-row batches, intra-op threads only add sync cost, and on a "
                        "busy 2-core machine torch's default 2 threads ran DB 15-25x slower.")
    args = p.parse_args()
    assert args.steps >= 2
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    set_seed(args.seed)
    env, pf, gfn, opt, sampler = build(args)

    def step():
        trajectories = sampler.sample_trajectories(
            env, n=args.batch_size, save_logprobs=True, save_estimator_outputs=False, epsilon=0.0
        )
        opt.zero_grad()
        loss = gfn.loss_from_trajectories(env, trajectories, recalculate_all_logprobs=False)
        loss.backward()
        opt.step()
        return loss

    base = os.path.splitext(args.out)[0] if args.out.endswith(".json") else args.out
    dumps = []

    def do_dump(s, train_seconds):
        f = f"{base}.logpf_{s}.npy"
        dump_logpf(f, env, pf, args.dim, args.side, args.dump_chunk)
        dumps.append({"step": s, "train_seconds": train_seconds, "file": os.path.abspath(f)})

    t0 = time.perf_counter()
    step()
    compile_seconds = time.perf_counter() - t0
    train_seconds = compile_seconds
    steady = 0.0
    if args.dump_every == 1:
        do_dump(1, train_seconds)
    for s in range(2, args.steps + 1):
        t = time.perf_counter()
        step()
        dt = time.perf_counter() - t
        steady += dt
        train_seconds += dt
        if args.dump_every and (s % args.dump_every == 0 or s == args.steps):
            do_dump(s, train_seconds)

    result = {
        "library": "torchgfn",
        "version": importlib.metadata.version("torchgfn"),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "loss": args.loss,
        "dim": args.dim,
        "side": args.side,
        "steps": args.steps,
        "seed": args.seed,
        "reward": args.reward,
        "subtb_lambda": args.subtb_lambda if args.loss == "subtb" else None,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "logz_lr": args.logz_lr if args.loss == "tb" else None,
        "compile_seconds": compile_seconds,
        "steps_per_second": (args.steps - 1) / steady,
        "total_train_seconds": train_seconds,
        "dumps": dumps,
    }
    if args.loss == "tb":
        result["final_logZ"] = float(gfn.logZ.detach())
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "dumps"}))


if __name__ == "__main__":
    main()
