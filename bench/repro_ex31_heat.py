"""Paper Ex. 3.1: a heat-equation PINN with too few versus enough sample points.

The paper's claim (Sec. 3.2, Fig. 6): with an insufficient number of sample
points the eps-rank of the last hidden layer stays critically low and the loss
stays at an elevated level; with enough points the eps-rank grows and the loss
falls.  The converted paper text keeps only the network (3 hidden layers of
100, tanh), zero Dirichlet data, an analytic solution and the total sample
sizes 2050 (insufficient) and 12550 (sufficient); the equation, the solution
and the split into interior / initial / boundary points were lost.  This bench
therefore fixes them itself (documented, changeable on the command line):

    u_t = kappa u_xx on x in [0, 1], t in [0, 1], u = 0 at x = 0 and x = 1,
    u(x, 0) = sum_k a_k sin(k pi x),   u = sum_k a_k exp(-kappa (k pi)^2 t) sin(k pi x)

with kappa = 0.01, modes k = (1, 4), a = (1, 0.5).  Sample points: N_f
interior (uniform random), N_0 initial (uniform grid), N_b boundary (half per
side, random t).  The paper-sized split is read as N_f = 2000 / 12500 with
N_0 = N_b = 25 (2050 / 12550 in total; ``--full``, which adds a very-few
setting (200, 10, 10)).  The default run is scaled down for 2 shared CPU
cores: very-few (10, 3, 3), few (40, 5, 5) and enough (1000, 25, 25) points,
1500 Adam iterations.

Reported per setting and seed: training loss (mean squared residual + initial
+ boundary misfit on the training points), a test loss (the same loss on an
independent set of 4000 interior, 200 initial and 200 boundary points), the
relative L2 error against the analytic solution on a 101 x 101 grid, and the
eps-rank (absolute eps, default 1e-3) of the last hidden layer on a composite
Gauss-Legendre rule on the space-time box (``rankcore``).

Run ``python bench/repro_ex31_heat.py`` (about 3 minutes), ``--quick``,
``--full``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402

import rankcore  # noqa: E402
from rankcore import quadrature as quad  # noqa: E402

from bridge.nets import MLP  # noqa: E402

import _sfli_common as C  # noqa: E402

BOX = [(0.0, 1.0), (0.0, 1.0)]  # (t, x)


def exact(t, x, kappa, modes, amps):
    u = np.zeros(np.broadcast(t, x).shape)
    for k, a in zip(modes, amps):
        u = u + a * np.exp(-kappa * (k * np.pi) ** 2 * t) * np.sin(k * np.pi * x)
    return u


def make_points(n_f, n_0, n_b, rng, grid_ic, args):
    tf = np.column_stack([rng.uniform(0, 1, n_f), rng.uniform(0, 1, n_f)])
    x0 = (np.linspace(0, 1, n_0 + 2)[1:-1] if grid_ic else rng.uniform(0, 1, n_0))
    tb = rng.uniform(0, 1, n_b)
    xb = np.where(np.arange(n_b) % 2 == 0, 0.0, 1.0)
    as_t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return {
        "f": as_t(tf),
        "ic": as_t(np.column_stack([np.zeros_like(x0), x0])),
        "ic_u": as_t(exact(0.0, x0, args.kappa, args.modes, args.amps)[:, None]),
        "bc": as_t(np.column_stack([tb, xb])),
    }


def pinn_loss(model, d, kappa):
    xf = d["f"].clone().requires_grad_(True)
    u = model(xf)
    g = torch.autograd.grad(u.sum(), xf, create_graph=True)[0]
    u_t, u_x = g[:, :1], g[:, 1:]
    u_xx = torch.autograd.grad(u_x.sum(), xf, create_graph=True)[0][:, 1:]
    l_f = ((u_t - kappa * u_xx) ** 2).mean()
    l_0 = ((model(d["ic"]) - d["ic_u"]) ** 2).mean()
    l_b = (model(d["bc"]) ** 2).mean()
    return l_f + l_0 + l_b


def train(setting, n_f, n_0, n_b, seed, args, rule, qpts, test, grid):
    rng = np.random.default_rng(1000 + seed)
    data = make_points(n_f, n_0, n_b, rng, True, args)
    torch.manual_seed(seed)
    model = MLP(2, 1, width=args.width, depth=args.depth, activation="tanh")
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    h = {"it": [], "loss": [], "test": [], "spec": [], "err": []}
    T, X, U = grid
    gpts = torch.tensor(np.column_stack([T.ravel(), X.ravel()]), dtype=torch.float32)
    t0 = time.perf_counter()
    for it in range(args.iters + 1):
        loss = pinn_loss(model, data, args.kappa)
        lv = float(loss.detach())
        if not np.isfinite(lv):
            raise FloatingPointError(f"{setting} seed {seed}: loss {lv} at iteration {it}")
        if it % args.rec_every == 0:
            h["it"].append(it)
            h["loss"].append(lv)
            h["test"].append(float(pinn_loss(model, test, args.kappa).detach()))
            with torch.no_grad():
                F = model.hidden(qpts).double().numpy()
                pred = model(gpts).double().numpy().reshape(U.shape)
            h["spec"].append(rankcore.spectrum(rankcore.gram(F, rule.weights)))
            h["err"].append(float(np.linalg.norm(pred - U) / np.linalg.norm(U)))
        if it == args.iters:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    h["wall"] = time.perf_counter() - t0
    h["spec"] = np.array(h["spec"])
    return h


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join("bench", "out"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--full", action="store_true",
                   help="paper-sized: N_f 2000 vs 12500, N_0 = N_b = 25, 10000 iterations")
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--very-few", type=int, nargs=3, default=None, metavar=("N_F", "N_0", "N_B"))
    p.add_argument("--few", type=int, nargs=3, default=None, metavar=("N_F", "N_0", "N_B"))
    p.add_argument("--enough", type=int, nargs=3, default=None, metavar=("N_F", "N_0", "N_B"))
    p.add_argument("--width", type=int, default=100)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--kappa", type=float, default=0.01)
    p.add_argument("--modes", type=int, nargs="+", default=[1, 4])
    p.add_argument("--amps", type=float, nargs="+", default=[1.0, 0.5])
    p.add_argument("--eps", type=float, default=1e-3)
    args = p.parse_args(argv)
    if len(args.modes) != len(args.amps):
        p.error("--modes and --amps need the same length")
    if args.quick:
        it, seeds, vfew, few, enough = 150, [0], (10, 3, 3), (40, 5, 5), (400, 25, 25)
    elif args.full:
        it, seeds, vfew, few, enough = (10000, [0, 1, 2], (200, 10, 10), (2000, 25, 25),
                                        (12500, 25, 25))
    else:
        it, seeds, vfew, few, enough = 1500, [0, 1], (10, 3, 3), (40, 5, 5), (1000, 25, 25)
    args.iters = args.iters if args.iters is not None else it
    args.seeds = args.seeds if args.seeds is not None else seeds
    args.very_few = tuple(args.very_few) if args.very_few is not None else vfew
    args.few = tuple(args.few) if args.few is not None else few
    args.enough = tuple(args.enough) if args.enough is not None else enough
    args.rec_every = max(1, args.iters // 50)

    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    print(f"Heat PINN (paper Ex. 3.1): u_t = {args.kappa:g} u_xx on [0,1]x[0,1], modes "
          f"{args.modes} amps {args.amps}; MLP {args.depth}x{args.width} tanh, Adam lr "
          f"{args.lr}, {args.iters} iterations, seeds {args.seeds}")
    settings = (("very-few", args.very_few), ("few", args.few), ("enough", args.enough))
    print("settings (N_f, N_0, N_b): " + ", ".join(f"{n} = {c} (total {sum(c)})"
                                                   for n, c in settings))

    rule = quad.composite_gauss_legendre(BOX, (5, 5), 4)
    qpts = torch.tensor(rule.points, dtype=torch.float32)
    print(f"eps-rank: last hidden layer, absolute eps = {args.eps:g}, composite Gauss-Legendre "
          f"{rule.n_points} points on the (t, x) box (|Omega| = {rule.volume:g})")
    trng = np.random.default_rng(12345)
    test = make_points(4000, 200, 200, trng, False, args)
    tg, xg = np.meshgrid(np.linspace(0, 1, 101), np.linspace(0, 1, 101), indexing="ij")
    grid = (tg, xg, exact(tg, xg, args.kappa, args.modes, args.amps))

    runs = {}
    for seed in args.seeds:
        for setting, cfg in settings:
            h = train(setting, *cfg, seed, args, rule, qpts, test, grid)
            runs[(setting, seed)] = h
            print(f"  trained {setting:8s} seed {seed}: {h['wall']:.1f} s")

    eps = args.eps
    its = runs[("enough", args.seeds[0])]["it"]
    cps = [its[int(round(i * (len(its) - 1) / 5))] for i in range(6)]
    print()
    print(f"Training loss / test loss / eps-rank (eps = {eps:g}, absolute) at checkpoints")
    print("seed  setting  " + "".join(f"{'it ' + str(c):>26s}" for c in cps))
    for seed in args.seeds:
        for setting, _ in settings:
            h = runs[(setting, seed)]
            cells = []
            for c in cps:
                i = h["it"].index(c)
                r = rankcore.eps_rank(h["spec"][i], eps, kind="spectrum")
                cells.append(f"{h['loss'][i]:8.1e}/{h['test'][i]:8.1e}/{r:3d}")
            print(f"{seed:4d}  {setting:8s} " + "".join(f"{c:>26s}" for c in cells))
    print()
    print("Summary at the last iteration (rel L2 = error vs the analytic solution, 101x101 grid)")
    print("seed  setting    train loss   test loss   rel L2   eps-rank  max eps-rank  wall s")
    for seed in args.seeds:
        for setting, _ in settings:
            h = runs[(setting, seed)]
            ranks = rankcore.eps_rank(h["spec"], eps, kind="spectrum")
            print(f"{seed:4d}  {setting:8s}  {h['loss'][-1]:10.2e}  {h['test'][-1]:10.2e}  "
                  f"{h['err'][-1]:8.2e}  {ranks[-1]:8d}  {ranks.max():12d}  {h['wall']:6.1f}")

    fig, ax = C.figure(1, 3, figsize=(15, 4.2))
    colors = {"very-few": "tab:red", "few": "tab:orange", "enough": "tab:green"}
    for (setting, seed), h in runs.items():
        ls = "-" if seed == args.seeds[0] else "--"
        lab = f"{setting} s{seed}"
        ax[0].semilogy(h["it"], h["loss"], ls, color=colors[setting], label="train " + lab)
        ax[0].semilogy(h["it"], h["test"], ls, color=colors[setting], alpha=0.4,
                       label="test " + lab)
        ax[1].plot(h["it"], rankcore.eps_rank(h["spec"], eps, kind="spectrum"), ls,
                   color=colors[setting], label=lab)
        ax[2].semilogy(h["it"], h["err"], ls, color=colors[setting], label=lab)
    ax[0].set(xlabel="iteration", ylabel="loss", title="heat PINN loss (train, test faint)")
    ax[1].set(xlabel="iteration", ylabel=f"eps-rank (eps={eps:g})", title="last hidden layer")
    ax[2].set(xlabel="iteration", ylabel="relative L2 error", title="error vs exact")
    path = C.save_figure(fig, os.path.join(args.out, "repro_ex31_heat.png"), legends=ax)
    print(f"plot written to {path}")


if __name__ == "__main__":
    main()
