"""Reproduction 3 (paper Ex. 4.3): PINN for a 2-D Poisson problem, default vs SFLI.

Stand-in problem (the paper's formulas were lost in the text conversion):
-Laplace(u) = f on [-1, 1]^2, u = g on the boundary, exact solution
u = sin(2 pi x) sin(2 pi y) (so f = 8 pi^2 u, g = 0).  tanh MLP depth 2 and
width 50 (and 100 with ``--full``), loss = mean PDE residual^2 on a 30x30
interior grid + 10 * mean boundary misfit^2 on 4x100 boundary points,
full-batch Adam lr 1e-3, float32.  Relative L2 error and eps-rank of the last
hidden layer (absolute eps 1e-3) on the 64x64 Gauss-Legendre rule.
SFLI = ``bridge.sfli_(net, box)`` (UDI, measured default gamma).

Usage: python bench/repro_3_pinn_poisson.py [--quick | --full] [--out DIR]
"""

import os

import numpy as np
import torch

import _sfli_common as C
import bridge
import rankcore
from bridge.nets import MLP

BOX = [(-1.0, 1.0), (-1.0, 1.0)]
LAMBDA_B = 10.0


def exact(x):
    return torch.sin(2 * np.pi * x[:, :1]) * torch.sin(2 * np.pi * x[:, 1:])


def laplacian(model, x):
    x = x.clone().requires_grad_(True)
    u = model(x)
    g = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    lap = 0.0
    for i in range(2):
        lap = lap + torch.autograd.grad(g[:, i].sum(), x, create_graph=True)[0][:, i:i + 1]
    return lap


def problem():
    g1 = torch.linspace(-1, 1, 32)[1:-1]
    xi = torch.stack(torch.meshgrid(g1, g1, indexing="ij"), -1).reshape(-1, 2)
    fi = 8 * np.pi ** 2 * exact(xi)
    t = torch.linspace(-1, 1, 100)
    one = torch.ones_like(t)
    xb = torch.cat([torch.stack([t, -one], 1), torch.stack([t, one], 1),
                    torch.stack([-one, t], 1), torch.stack([one, t], 1)])
    gb = exact(xb)
    return xi, fi, xb, gb


def pinn_loss(xi, fi, xb, gb):
    def loss(m):
        res = -laplacian(m, xi) - fi
        return torch.mean(res ** 2) + LAMBDA_B * torch.mean((m(xb) - gb) ** 2)
    return loss


def main(argv=None):
    p = C.parser(__doc__)
    a = p.parse_args(argv)
    C.set_threads()
    C.header("repro 3: Ex 4.3 PINN 2-D Poisson, default (Xavier) vs SFLI (UDI)", argv)
    steps = 300 if a.quick else (10000 if a.full else 2000)
    seeds = [0] if a.quick else ([0, 1, 2] if a.full else [0, 1])
    widths = [50, 100] if a.full else [50]
    q = rankcore.sfli.default_quadrature(BOX)
    xq = torch.tensor(q.points, dtype=torch.float32)
    wq = torch.tensor(q.weights, dtype=torch.float32)
    uq = exact(xq)
    nu = torch.sqrt(torch.sum(wq[:, None] * uq ** 2))
    xi, fi, xb, gb = problem()
    loss_fn = pinn_loss(xi, fi, xb, gb)

    def rel_err(m):
        with torch.no_grad():
            return float(torch.sqrt(torch.sum(wq[:, None] * (m(xq) - uq) ** 2)) / nu)

    checkpoints = [c for c in (0, 250, 500, 1000, 2000, 5000, 10000) if c <= steps]
    curves = []
    for width in widths:
        res = {"default": [], "sfli": []}
        for seed in seeds:
            for init in res:
                torch.manual_seed(seed)
                net = MLP(2, 1, width, 2, "tanh")
                if init == "sfli":
                    bridge.sfli_(net, BOX, generator=torch.Generator().manual_seed(seed))
                res[init].append(C.train(net, loss_fn, steps, lr=1e-3, q=q, rank_every=50,
                                         extra=rel_err, extra_every=50))
        print(f"\ntanh 2x{width}, {steps} iterations, seeds {seeds} (medians): loss, relative L2 "
              f"error, eps-rank of the last hidden layer (eps 1e-3)")
        print(f"{'step':>6s} {'loss def':>9s} {'loss SFLI':>10s} {'err def':>9s} {'err SFLI':>9s} "
              f"{'rank def':>8s} {'rank SFLI':>9s}")
        for c in checkpoints:
            i = list(res["default"][0]["extra_steps"]).index(c)
            j = list(res["default"][0]["rank_steps"]).index(c)
            row = []
            for key in ("loss", "extra"):
                for init in ("default", "sfli"):
                    vals = [r[key][c] if key == "loss" else r[key][i] for r in res[init]]
                    row.append(np.median(vals))
            rk = [int(np.median([C.rank(r["spectra"][j], 1e-3) for r in res[init]]))
                  for init in ("default", "sfli")]
            print(f"{c:6d} {row[0]:9.2e} {row[1]:10.2e} {row[2]:9.2e} {row[3]:9.2e} {rk[0]:8d} {rk[1]:9d}")
        for t in (1e0, 1e-1):
            hd = C.median_hit([C.first_hit(r["loss"], t) for r in res["default"]], steps)
            hs = C.median_hit([C.first_hit(r["loss"], t) for r in res["sfli"]], steps)
            print(f"iterations to loss < {t:g}: default {C.fmt_hit(hd, steps)}, SFLI "
                  f"{C.fmt_hit(hs, steps)} ({C.ratio(hd, hs, steps)})")
        curves += [(f"2x{width} {k} seed {seeds[0]}", c, "-" if width == 50 else "--", res[k][0])
                   for k, c in (("default", "tab:gray"), ("sfli", "tab:red"))]
    C.save_plot(os.path.join(a.out, "repro_3_pinn_poisson.png"), curves,
                "Ex 4.3 PINN Poisson, u = sin(2 pi x) sin(2 pi y)", ylabel="PINN loss")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
