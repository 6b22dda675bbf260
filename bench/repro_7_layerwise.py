"""Reproduction 7 (paper Fig. 8): layer-wise eps-rank rising with depth.

The repro-1 problem (u = (sin pi x + sin 2pi x + sin 4pi x + sin 8pi x)/2 on
[-1, 1]), tanh MLP of depth 4 and width 50 (Ex. 2.1(c)), full-batch Adam
lr 1e-3, float32.  At several steps the eps-rank of *every* hidden layer is
computed on 129 Gauss-Legendre points (absolute eps 1e-3), for the default
(Xavier) initialisation and for SFLI.  The paper's observation: within one
network the eps-rank of a later hidden layer is higher than that of an
earlier one (under default initialisation); SFLI moves the first layer to
full rank at step 0 and the deeper layers follow.

Usage: python bench/repro_7_layerwise.py [--quick | --full] [--out DIR]
"""

import os

import numpy as np
import torch

import _sfli_common as C
import bridge
import rankcore
from bridge.nets import MLP

DOMAIN = (-1.0, 1.0)
EPS = 1e-3


def target(x):
    return sum(torch.sin(k * np.pi * x) for k in (1, 2, 4, 8)) / 2.0


def layer_ranks(net, xq, q, eps):
    acts = [f"hidden.{i}" for i in range(1, len(net.hidden), 2)]  # activation outputs
    grams = bridge.capture(net, xq, acts, weights=q.weights).grams
    return [int(rankcore.eps_rank(grams[a], eps, kind="gram")) for a in acts]


def run(init, seed, steps, checkpoints, q, depth, width):
    torch.manual_seed(seed)
    net = MLP(1, 1, width, depth, "tanh")
    if init == "sfli":
        bridge.sfli_(net, DOMAIN)
    x = torch.linspace(*DOMAIN, 250)[:, None]
    y = target(x)
    xq = torch.tensor(q.points, dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    out, losses = {}, np.empty(steps + 1)
    for step in range(steps + 1):
        if step in checkpoints:
            out[step] = layer_ranks(net, xq, q, EPS)
        loss = torch.mean((net(x) - y) ** 2)
        losses[step] = loss.item()
        if step == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return out, losses


def main(argv=None):
    p = C.parser(__doc__)
    a = p.parse_args(argv)
    C.set_threads()
    C.header("repro 7: Fig 8, eps-rank per hidden layer (tanh 4x50)", argv)
    q = rankcore.quadrature.gauss_legendre(DOMAIN, 129)
    depth, width = 4, 50
    steps = 1000 if a.quick else (20000 if a.full else 4000)
    seeds = [0, 1, 2] if a.full else [0]
    checkpoints = sorted({0, 250, 500, 1000, 2000, 3000, 4000, 8000, 12000, 16000, steps} & set(range(steps + 1)))
    print(f"eps = {EPS:g} (absolute), {steps} iterations, seeds {seeds}; entries: eps-rank of hidden "
          f"layers 1..{depth} (median over seeds)")
    results = {}
    for init in ("default", "sfli"):
        per_seed = [run(init, s, steps, set(checkpoints), q, depth, width) for s in seeds]
        results[init] = per_seed
        print(f"\n{init}:")
        print(f"{'step':>6s} " + " ".join(f"{'L%d' % (i + 1):>4s}" for i in range(depth)) + f" {'loss':>9s}")
        for c in checkpoints:
            r = np.median(np.array([ps[0][c] for ps in per_seed]), axis=0).astype(int)
            loss = np.median([ps[1][c] for ps in per_seed])
            print(f"{c:6d} " + " ".join(f"{v:4d}" for v in r) + f" {loss:9.2e}")
    # monotonicity check of the paper's claim under default init
    mono = sum(all(np.diff(results["default"][0][0][c]) >= 0) for c in checkpoints)
    print(f"\ndefault init, seed {seeds[0]}: eps-rank non-decreasing with depth at {mono} of "
          f"{len(checkpoints)} checkpoints")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, init in zip(axes, ("default", "sfli")):
        ranks = np.array([results[init][0][0][c] for c in checkpoints])
        for layer in range(depth):
            ax.plot(checkpoints, ranks[:, layer], marker="o", label=f"layer {layer + 1}")
        ax.set_title(f"{init} (seed {seeds[0]})")
        ax.set_xlabel("iteration")
    axes[0].set_ylabel(f"eps-rank (eps={EPS:g})")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "repro_7_layerwise.png")
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
