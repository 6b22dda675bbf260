"""Paper Ex. 2.2: the staircase in a PINN for the Allen-Cahn equation.

    u_t - 1e-4 u_xx + 5 u^3 - 5 u = 0,   x in [-1, 1], t in [0, 1],
    u(0, x) = x^2 cos(pi x),   u periodic in x.

The reference solution is computed here, with no data download, by a Fourier
spectral method in x and ETDRK4 in t (Cox-Matthews scheme with the
Kassam-Trefethen contour-integral evaluation of the phi-functions).  Its
accuracy is checked in the same run by self-convergence in the time step and
by doubling the number of Fourier modes; both checks are printed.

The PINN is a tanh MLP (``bridge.nets.MLP``: 3 hidden layers of 50, the
paper's size; Xavier-normal weights, zero biases = "default") with inputs
(t, x).  Loss = mean squared residual at fixed random collocation points
+ ``w_ic`` * mean squared initial-condition misfit + ``w_bc`` * mean squared
periodicity misfit of u and u_x at x = -1 vs x = 1.  Periodicity is imposed by
these boundary terms rather than a periodic input embedding so that the first
layer sees the space-time box itself, which is the domain SFLI (UDI in 2-D)
is defined on; the paper's loss also has a separate boundary term.

"SFLI" = ``bridge.sfli_(model, domain=[(0, 1), (-1, 1)])`` (UDI, default shape)
applied to the same seeded network.  The epsilon-rank of the last hidden layer
(absolute eps, default 1e-3) is measured on a composite Gauss-Legendre rule on
the space-time box with ``rankcore``; error = relative L2 error against the
reference on a 51 x 512 (t, x) grid.

Run ``python bench/repro_ex22_allen_cahn.py`` (about 3 minutes on 2 shared
cores), ``--quick`` for a smoke run, ``--full`` for longer, paper-like runs.
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

import bridge  # noqa: E402
from bridge.nets import MLP  # noqa: E402

import _sfli_common as C  # noqa: E402

DIFF = 1e-4
REACT = 5.0
T_END = 1.0
BOX = [(0.0, T_END), (-1.0, 1.0)]  # (t, x)


# --------------------------------------------------------------------------
# Reference solution: Fourier spectral + ETDRK4
# --------------------------------------------------------------------------

def u0(x):
    return x ** 2 * np.cos(np.pi * x)


def etdrk4_allen_cahn(n_modes, dt, t_out, n_contour=64):
    """Solve the Allen-Cahn problem above; return u at times ``t_out``.

    Parameters
    ----------
    n_modes : int
        Number of grid points / Fourier modes on the periodic interval [-1, 1).
    dt : float
        Time step; every entry of ``t_out`` must be a multiple of it.
    t_out : array of float
        Output times (sorted, within [0, T_END]).
    n_contour : int
        Points on the circle used to evaluate the phi-functions (Kassam &
        Trefethen 2005): direct formulas cancel catastrophically for small
        h*L, the contour mean does not.

    Returns
    -------
    x : (n_modes,) grid, U : (len(t_out), n_modes) solution.
    """
    x = -1.0 + 2.0 * np.arange(n_modes) / n_modes
    k = np.pi * np.fft.rfftfreq(n_modes, d=1.0 / n_modes)  # wavenumbers, period 2
    L = -DIFF * k ** 2  # stiff linear part; the reaction goes into N
    E = np.exp(dt * L)
    E2 = np.exp(dt * L / 2)
    r = np.exp(1j * np.pi * (np.arange(1, n_contour + 1) - 0.5) / n_contour)
    LR = dt * L[:, None] + r[None, :]
    Q = dt * np.real(np.mean((np.exp(LR / 2) - 1) / LR, axis=1))
    f1 = dt * np.real(np.mean((-4 - LR + np.exp(LR) * (4 - 3 * LR + LR ** 2)) / LR ** 3, axis=1))
    f2 = dt * np.real(np.mean((2 + LR + np.exp(LR) * (-2 + LR)) / LR ** 3, axis=1))
    f3 = dt * np.real(np.mean((-4 - 3 * LR - LR ** 2 + np.exp(LR) * (4 - LR)) / LR ** 3, axis=1))

    def nonlin(v):
        u = np.fft.irfft(v, n=n_modes)
        return np.fft.rfft(REACT * (u - u ** 3))

    t_out = np.asarray(t_out, dtype=float)
    steps_out = np.rint(t_out / dt).astype(int)
    if np.any(np.abs(steps_out * dt - t_out) > 1e-9):
        raise ValueError("every output time must be a multiple of dt")
    v = np.fft.rfft(u0(x))
    U = np.empty((len(t_out), n_modes))
    step = 0
    for i, s_target in enumerate(steps_out):
        while step < s_target:
            Nv = nonlin(v)
            a = E2 * v + Q * Nv
            Na = nonlin(a)
            b = E2 * v + Q * Na
            Nb = nonlin(b)
            c = E2 * a + Q * (2 * Nb - Nv)
            Nc = nonlin(c)
            v = E * v + Nv * f1 + 2 * (Na + Nb) * f2 + Nc * f3
            step += 1
        U[i] = np.fft.irfft(v, n=n_modes)
    if not np.all(np.isfinite(U)):
        raise FloatingPointError("ETDRK4 produced non-finite values")
    return x, U


def reference_with_checks(n_modes, dt_ref):
    """Reference on a 51-time grid plus printed self-convergence checks."""
    t_grid = np.linspace(0.0, T_END, 51)
    print(f"Reference: Fourier spectral ({n_modes} modes) + ETDRK4, dt = {dt_ref:g}")
    x, U = etdrk4_allen_cahn(n_modes, dt_ref, t_grid)

    # Time-step self-convergence at t = 1 against a run with dt_ref / 4.
    _, U_fine = etdrk4_allen_cahn(n_modes, dt_ref / 4, [T_END])
    u_fine = U_fine[-1]
    print("  time-step self-convergence at t = 1 (vs dt = %g):" % (dt_ref / 4))
    print("  %10s  %12s  %8s" % ("dt", "max |err|", "ratio"))
    prev = None
    for m in (8, 4, 2, 1):
        dt = dt_ref * m
        _, Ud = etdrk4_allen_cahn(n_modes, dt, [T_END])
        err = np.max(np.abs(Ud[-1] - u_fine))
        ratio = "" if prev is None else f"{prev / err:8.1f}"
        print(f"  {dt:10.5f}  {err:12.3e}  {ratio}")
        prev = err
    err_dt = err  # error of the dt_ref run itself (vs dt_ref / 4)

    # Spatial check: double the modes, compare on the coarse grid.
    _, U2 = etdrk4_allen_cahn(2 * n_modes, dt_ref, [T_END])
    err_x = np.max(np.abs(U2[-1][::2] - U[-1]))
    print(f"  modes {n_modes} vs {2 * n_modes} at t = 1: max |diff| = {err_x:.3e}")
    print("  (ETDRK4 is 4th order: the ratio should approach 16 as dt halves)")
    return t_grid, x, U, err_dt, err_x


# --------------------------------------------------------------------------
# PINN
# --------------------------------------------------------------------------

def make_data(n_f, n_ic, n_bc, seed):
    rng = np.random.default_rng(seed)
    xf = np.column_stack([rng.uniform(0, T_END, n_f), rng.uniform(-1, 1, n_f)])
    x_ic = np.linspace(-1, 1, n_ic)
    t_bc = rng.uniform(0, T_END, n_bc)
    as_t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return {
        "f": as_t(xf),
        "ic": as_t(np.column_stack([np.zeros(n_ic), x_ic])),
        "ic_u": as_t(u0(x_ic)[:, None]),
        "bl": as_t(np.column_stack([t_bc, -np.ones(n_bc)])),
        "br": as_t(np.column_stack([t_bc, np.ones(n_bc)])),
    }


def pinn_losses(model, data, w_ic, w_bc):
    xf = data["f"].clone().requires_grad_(True)
    u = model(xf)
    g = torch.autograd.grad(u.sum(), xf, create_graph=True)[0]
    u_t, u_x = g[:, :1], g[:, 1:]
    u_xx = torch.autograd.grad(u_x.sum(), xf, create_graph=True)[0][:, 1:]
    res = u_t - DIFF * u_xx + REACT * u ** 3 - REACT * u
    l_f = (res ** 2).mean()
    l_ic = ((model(data["ic"]) - data["ic_u"]) ** 2).mean()
    xb = torch.cat([data["bl"], data["br"]]).requires_grad_(True)
    ub = model(xb)
    ub_x = torch.autograd.grad(ub.sum(), xb, create_graph=True)[0][:, 1:]
    nb = data["bl"].shape[0]
    l_bc = ((ub[:nb] - ub[nb:]) ** 2).mean() + ((ub_x[:nb] - ub_x[nb:]) ** 2).mean()
    return l_f + w_ic * l_ic + w_bc * l_bc


def rel_l2(model, t_grid, x, U):
    T, X = np.meshgrid(t_grid, x, indexing="ij")
    pts = torch.tensor(np.column_stack([T.ravel(), X.ravel()]), dtype=torch.float32)
    with torch.no_grad():
        pred = model(pts).double().numpy().reshape(U.shape)
    return float(np.linalg.norm(pred - U) / np.linalg.norm(U))


def train(init, seed, args, data, rule, qpts, ref):
    torch.manual_seed(seed)
    model = MLP(2, 1, width=args.width, depth=args.depth, activation="tanh")
    if init == "sfli":
        bridge.sfli_(model, domain=BOX, shape=args.shape,
                     generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    hist = {"it": [], "loss": [], "spec": [], "err_it": [], "err": []}

    def record(it, loss):
        F = C.last_hidden(model, qpts)
        hist["it"].append(it)
        hist["loss"].append(loss)
        hist["spec"].append(rankcore.spectrum(rankcore.gram(F, rule.weights)))
        if it % args.err_every == 0 or it == args.iters:
            hist["err_it"].append(it)
            hist["err"].append(rel_l2(model, *ref))

    t0 = time.perf_counter()
    for it in range(args.iters + 1):
        loss = pinn_losses(model, data, args.w_ic, args.w_bc)
        lv = float(loss.detach())
        if not np.isfinite(lv):
            raise FloatingPointError(f"{init} seed {seed}: loss is {lv} at iteration {it}")
        if it % args.rec_every == 0:
            record(it, lv)
        if it == args.iters:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    hist["wall"] = time.perf_counter() - t0
    hist["spec"] = np.array(hist["spec"])
    return hist


def first_reach(its, losses, target):
    for i, l in zip(its, losses):
        if l <= target:
            return i
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join("bench", "out"))
    p.add_argument("--quick", action="store_true", help="smoke run (seconds)")
    p.add_argument("--full", action="store_true", help="paper-like: 20000 iterations, 3 seeds")
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--width", type=int, default=50)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--n-f", type=int, default=None, help="collocation points")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--w-ic", type=float, default=100.0)
    p.add_argument("--w-bc", type=float, default=1.0)
    p.add_argument("--eps", type=float, default=1e-3, help="absolute eps for the eps-rank")
    p.add_argument("--shape", type=float, default=None,
                   help="SFLI (UDI) shape factor; default rankcore.sfli.DEFAULT_SHAPE")
    p.add_argument("--modes", type=int, default=512)
    p.add_argument("--dt", type=float, default=1e-3)
    args = p.parse_args(argv)
    if args.quick:
        iters, seeds, n_f = 200, [0], 500
    elif args.full:
        iters, seeds, n_f = 20000, [0, 1, 2], 8000
    else:
        iters, seeds, n_f = 3000, [0, 1], 1000
    args.iters = args.iters if args.iters is not None else iters
    args.seeds = args.seeds if args.seeds is not None else seeds
    args.n_f = args.n_f if args.n_f is not None else n_f
    args.rec_every = max(1, args.iters // 50)
    args.err_every = max(args.rec_every, (args.iters // 6) // args.rec_every * args.rec_every)

    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    print(f"Allen-Cahn PINN (paper Ex. 2.2): MLP {args.depth}x{args.width} tanh, "
          f"Adam lr {args.lr}, "
          f"{args.iters} iterations, N_f = {args.n_f}, w_ic = {args.w_ic}, w_bc = {args.w_bc}, "
          f"seeds {args.seeds}")
    shape = args.shape if args.shape is not None else rankcore.sfli.default_shape("tanh", "udi", 2)
    print(f"SFLI: bridge.sfli_(model, domain={BOX}) -> UDI, tanh, shape s = {shape:g} "
          f"({'--shape' if args.shape is not None else 'rankcore.sfli.DEFAULT_SHAPE'})")

    t0 = time.perf_counter()
    t_grid, x, U, err_dt, err_x = reference_with_checks(args.modes, args.dt)
    print(f"  reference computed and checked in {time.perf_counter() - t0:.1f} s")
    ref = (t_grid, x, U)

    rule = quad.composite_gauss_legendre(BOX, (5, 10), 4)
    qpts = torch.tensor(rule.points, dtype=torch.float32)
    print(f"eps-rank: last hidden layer, absolute eps = {args.eps:g}, composite Gauss-Legendre "
          f"{rule.n_points} points on (t, x) in {BOX} (|Omega| = {rule.volume:g})")

    runs = {}
    for seed in args.seeds:
        data = make_data(args.n_f, 256, 128, seed=1000 + seed)
        for init in ("default", "sfli"):
            h = train(init, seed, args, data, rule, qpts, ref)
            runs[(init, seed)] = h
            print(f"  trained {init:7s} seed {seed}: {h['wall']:.1f} s, final loss "
                  f"{h['loss'][-1]:.3e}, rel L2 {h['err'][-1]:.3e}")

    # ---- tables
    eps = args.eps
    its = runs[("default", args.seeds[0])]["it"]
    n_cp = 6
    cps = [its[int(round(i * (len(its) - 1) / (n_cp - 1)))] for i in range(n_cp)]
    print()
    print(f"Loss / eps-rank (eps = {eps:g}, absolute) at checkpoints; D = default, S = SFLI")
    head = "seed  init    " + "".join(f"{'it ' + str(c):>18s}" for c in cps)
    print(head)
    for seed in args.seeds:
        for init, tag in (("default", "D"), ("sfli", "S")):
            h = runs[(init, seed)]
            cells = []
            for c in cps:
                i = h["it"].index(c)
                r = rankcore.eps_rank(h["spec"][i], eps, kind="spectrum")
                cells.append(f"{h['loss'][i]:10.2e} /{r:3d}  ")
            print(f"{seed:4d}  {tag:7s} " + "".join(f"{c:>18s}" for c in cells))

    targets = [3.0, 1.0, 3e-1, 1e-1, 3e-2, 1e-2]
    print()
    print("Iterations to reach loss targets (recorded every %d iterations; '-' = not reached)"
          % args.rec_every)
    print("seed  init    " + "".join(f"{t:>9.0e}" for t in targets)
          + "   min loss   rel L2 err  wall s")
    for seed in args.seeds:
        for init, tag in (("default", "D"), ("sfli", "S")):
            h = runs[(init, seed)]
            reach = [first_reach(h["it"], h["loss"], t) for t in targets]
            cells = "".join(f"{('-' if r is None else str(r)):>9s}" for r in reach)
            print(f"{seed:4d}  {tag:7s} {cells}   {min(h['loss']):.3e}  {h['err'][-1]:.3e}"
                  f"  {h['wall']:6.1f}")

    print()
    print("Relative L2 error vs the ETDRK4 reference during training (mean over seeds)")
    err_its = runs[("default", args.seeds[0])]["err_it"]
    print("init    " + "".join(f"{'it ' + str(c):>11s}" for c in err_its))
    for init, tag in (("default", "D"), ("sfli", "S")):
        e = np.mean([runs[(init, s)]["err"] for s in args.seeds], axis=0)
        print(f"{tag:7s} " + "".join(f"{v:11.3e}" for v in e))
    print(f"(reference accuracy: time-step error {err_dt:.1e}, mode-doubling difference "
          f"{err_x:.1e}, both max-norm at t = 1)")

    # ---- plot
    fig, ax = C.figure(1, 3, figsize=(15, 4.2))
    colors = {"default": "tab:blue", "sfli": "tab:red"}
    for (init, seed), h in runs.items():
        ls = "-" if seed == args.seeds[0] else "--"
        ax[0].semilogy(h["it"], h["loss"], ls, color=colors[init], label=f"{init} s{seed}")
        ax[1].plot(h["it"], rankcore.eps_rank(h["spec"], eps, kind="spectrum"), ls,
                   color=colors[init], label=f"{init} s{seed}")
    ax[0].set(xlabel="iteration", ylabel="loss", title="Allen-Cahn PINN loss")
    ax[1].set(xlabel="iteration", ylabel=f"eps-rank (eps={eps:g})",
              title="last hidden layer eps-rank")
    im = ax[2].pcolormesh(t_grid, x, U.T, shading="auto", cmap="RdBu_r")
    fig.colorbar(im, ax=ax[2])
    ax[2].set(xlabel="t", ylabel="x", title="ETDRK4 reference u(t, x)")
    path = C.save_figure(fig, os.path.join(args.out, "repro_ex22_allen_cahn.png"),
                         legends=ax[:2])
    print(f"plot written to {path}")


if __name__ == "__main__":
    main()
