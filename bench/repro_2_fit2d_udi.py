"""Reproduction 2 (paper Ex. 4.2): 2-D function fit with UDI, default vs SFLI.

Stand-in targets (the paper's formula was lost in the text conversion) on
[-1, 1]^2: A: u = sin(2 pi x) cos(2 pi y) (no low-frequency part: default
init plateaus), B: u = sin(pi x) sin(pi y) + 0.5 sin(3 pi x) sin(4 pi y) (a
low-frequency part that default init fits quickly).  Both are reported.
tanh MLP depth 3, width 50; MSE on a 40x40 uniform grid; full-batch Adam
lr 1e-3, float32; relative L2 error on the 64x64 Gauss-Legendre rule
(``rankcore.sfli.default_quadrature``), which also gives the eps-rank of the
last hidden layer (absolute eps 1e-3).  SFLI = ``bridge.sfli_(net, box)``,
i.e. UDI with the measured default gamma.  Paper's claim: relative error
after 1000 iterations at least 90% lower with SFLI.

Usage: python bench/repro_2_fit2d_udi.py [--quick | --full] [--out DIR]
"""

import os

import numpy as np
import torch

import _sfli_common as C
import bridge
import rankcore
from bridge.nets import MLP

BOX = [(-1.0, 1.0), (-1.0, 1.0)]


def target_a(x):
    return torch.sin(2 * np.pi * x[:, :1]) * torch.cos(2 * np.pi * x[:, 1:])


def target_b(x):
    X, Y = x[:, :1], x[:, 1:]
    return (torch.sin(np.pi * X) * torch.sin(np.pi * Y)
            + 0.5 * torch.sin(3 * np.pi * X) * torch.sin(4 * np.pi * Y))


TARGETS = {"A: sin(2pi x)cos(2pi y)": target_a,
           "B: sin(pi x)sin(pi y)+0.5sin(3pi x)sin(4pi y)": target_b}


def main(argv=None):
    p = C.parser(__doc__)
    a = p.parse_args(argv)
    C.set_threads()
    C.header("repro 2: Ex 4.2 2-D fit, default (Xavier) vs SFLI (UDI)", argv)
    steps = 300 if a.quick else (5000 if a.full else 1000)
    seeds = [0] if a.quick else [0, 1, 2]
    q = rankcore.sfli.default_quadrature(BOX)
    xq = torch.tensor(q.points, dtype=torch.float32)
    wq = torch.tensor(q.weights, dtype=torch.float32)
    g1 = torch.linspace(-1, 1, 40)
    x = torch.stack(torch.meshgrid(g1, g1, indexing="ij"), -1).reshape(-1, 2)
    checkpoints = [c for c in (0, 100, 250, 500, 1000, 2000, 5000) if c <= steps]
    curves = []
    for (tname, target), ls in zip(TARGETS.items(), ("-", "--")):
        uq = target(xq)
        norm_u = torch.sqrt(torch.sum(wq[:, None] * uq ** 2))
        y = target(x)

        def rel_err(m):
            with torch.no_grad():
                e = m(xq) - uq
            return float(torch.sqrt(torch.sum(wq[:, None] * e ** 2)) / norm_u)

        res = {"default": [], "sfli": []}
        for seed in seeds:
            for init in res:
                torch.manual_seed(seed)
                net = MLP(2, 1, 50, 3, "tanh")
                if init == "sfli":
                    bridge.sfli_(net, BOX, generator=torch.Generator().manual_seed(seed))
                r = C.train(net, lambda m: torch.mean((m(x) - y) ** 2), steps, lr=1e-3, q=q,
                            rank_every=50, extra=rel_err, extra_every=50)
                res[init].append(r)
        print(f"\ntarget {tname}: {steps} iterations, seeds {seeds}; relative L2 error (median over "
              f"seeds) and eps-rank of the last hidden layer (eps = 1e-3, absolute)")
        print(f"{'step':>6s} {'err default':>12s} {'err SFLI':>10s} {'reduction':>10s} "
              f"{'rank def':>9s} {'rank SFLI':>10s}")
        for c in checkpoints:
            ed = np.median([r["extra"][list(r["extra_steps"]).index(c)] for r in res["default"]])
            es = np.median([r["extra"][list(r["extra_steps"]).index(c)] for r in res["sfli"]])
            rd = int(np.median([C.rank(r["spectra"][list(r["rank_steps"]).index(c)], 1e-3)
                                for r in res["default"]]))
            rs = int(np.median([C.rank(r["spectra"][list(r["rank_steps"]).index(c)], 1e-3)
                                for r in res["sfli"]]))
            print(f"{c:6d} {ed:12.3e} {es:10.3e} {100 * (1 - es / ed):9.1f}% {rd:9d} {rs:10d}")
        per_seed = [100 * (1 - s_["extra"][-1] / d_["extra"][-1])
                    for d_, s_ in zip(res["default"], res["sfli"])]
        print(f"error reduction at step {steps} per seed: " + ", ".join(f"{v:.1f}%" for v in per_seed))
        curves += [(f"{tname[:1]} {k} seed {seeds[0]}", c, ls, res[k][0])
                   for k, c in (("default", "tab:gray"), ("sfli", "tab:red"))]
    C.save_plot(os.path.join(a.out, "repro_2_fit2d_udi.png"), curves,
                "Ex 4.2 2-D fit, tanh 3x50, UDI", ylabel="training loss")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
