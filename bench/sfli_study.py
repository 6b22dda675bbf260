"""SFLI study: every activation x dimension 1, 2, 3 x seeded targets x seeds.

Compares the Xavier-normal baseline with ``bridge.sfli_`` on plain
``nn.Sequential`` MLPs (3 hidden layers x 50, Adam lr 1e-3, full batch, MSE,
float32), optionally also SFLI of the first layer alone
(``bridge.sfli_(net, box, later=None)``, init name ``sfli-first``) and
Xavier with the output layer set to zero as ``sfli_`` does
(``xavier-zero-out``, an ablation).

Targets are not hand-picked: target ``t`` in dimension ``d`` is drawn from
``numpy.random.default_rng([20261127, d, t])`` as

    u(x) = sum_{m=1..4} a_m sin(pi k_m . x + phi_m)   on [-1, 1]^d,

``a_m ~ U(0.5, 1)``, ``phi_m ~ U(0, 2 pi)``, integer frequency vectors
``k_m`` with entries in ``1..8`` (1-D) or ``-4..4`` (2-D) or ``-2..2``
(3-D), not all zero, then scaled to mean square 0.5 on the training points
(like the 1-D multi-frequency target of the headline reproduction).
Training points: uniform grids of 200 (1-D), 32^2 (2-D), 12^3 (3-D).
A run is one (activation, d, target, seed, init); the same seed gives the
same Xavier draw to every init.

Reported per (activation, d, init), over targets x seeds: median and worst
iterations to loss 1e-2 / 1e-3 / 1e-4 (first iteration below the target;
a miss counts as steps + 1, printed ">steps"), median and worst final loss,
median final mean square error on the held-out grid of the training
grid's cell midpoints (a fit that only interpolates the training points
shows up there), median initial eps-rank (absolute eps 1e-3, default
quadrature of ``rankcore.sfli``) of the first and of the last hidden
layer, and the speed-up of the median to 1e-3 against Xavier.

Default settings (all 8 activations, d = 1, 2, 3, 3 targets, 5 seeds,
5000 / 3000 / 2000 iterations, inits xavier and sfli: 720 runs) took 2081 s
(35 min) on the 2 idle cores of the development machine with ``--procs 2``.  ``--quick`` runs a
small configuration; every size has its own flag.

Usage: python bench/sfli_study.py [--quick] [--acts tanh gelu] [--dims 1 2]
       [--targets 3] [--seeds 5] [--steps 5000 3000 2000]
       [--inits xavier sfli-first sfli] [--procs 2] [--detail] [--init-only]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import bridge  # noqa: E402
import rankcore  # noqa: E402
from bridge.nets import make_activation  # noqa: E402
from rankcore import sfli as S  # noqa: E402

TARGET_SEED = 20261127
FREQ = {1: (1, 8), 2: (-4, 4), 3: (-2, 2)}
GRID = {1: 200, 2: 32, 3: 12}
LOSS_TARGETS = (1e-2, 1e-3, 1e-4)
EPS = 1e-3
INITS = ("xavier", "xavier-zero-out", "sfli-first", "sfli")


def target(d, t, modes=4):
    """(function of (N, d) points, frequency matrix (modes, d)) of target t."""
    rng = np.random.default_rng([TARGET_SEED, d, t])
    lo, hi = FREQ[d]
    ks = []
    while len(ks) < modes:
        k = rng.integers(lo, hi + 1, d)
        if np.any(k != 0):
            ks.append(k)
    ks = np.array(ks, dtype=np.float64)
    amp = rng.uniform(0.5, 1.0, modes)
    phase = rng.uniform(0.0, 2 * np.pi, modes)
    return (lambda x: np.sin(np.pi * x @ ks.T + phase) @ amp), ks


def training_data(d, t, held_out=False):
    """(x, y) on the training grid, or on the held-out grid of its cell midpoints.

    The target is scaled to mean square 0.5 on the training grid; the
    held-out values use the same factor.
    """
    g = np.linspace(-1.0, 1.0, GRID[d])
    x = np.stack(np.meshgrid(*([g] * d), indexing="ij"), -1).reshape(-1, d)
    f = target(d, t)[0]
    y = f(x)
    c = np.sqrt(0.5 / np.mean(y ** 2))
    if held_out:
        gm = 0.5 * (g[:-1] + g[1:])
        x = np.stack(np.meshgrid(*([gm] * d), indexing="ij"), -1).reshape(-1, d)
        y = f(x)
    return (torch.tensor(x, dtype=torch.float32),
            torch.tensor(c * y[:, None], dtype=torch.float32))


def make_net(d, act, seed, init, width=50, depth=3):
    torch.manual_seed(seed)
    layers, fan_in = [], d
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), make_activation(act)]
        fan_in = width
    net = nn.Sequential(*layers, nn.Linear(width, 1))
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.xavier_normal_(m.weight)
            nn.init.zeros_(m.bias)
    box = [(-1.0, 1.0)] * d
    if init == "sfli":
        bridge.sfli_(net, box)
    elif init == "sfli-first":
        bridge.sfli_(net, box, later=None)
    elif init == "xavier-zero-out":  # ablation: only the output-layer part of sfli_
        with torch.no_grad():
            net[-1].weight.zero_()
    return net


def hidden_ranks(net, d):
    """eps-rank (absolute EPS) of every hidden layer's output at step 0."""
    q = S.default_quadrature([(-1.0, 1.0)] * d)
    h = torch.tensor(q.points, dtype=torch.float32)
    out = []
    with torch.no_grad():
        for m in list(net)[:-1]:
            h = m(h)
            if not isinstance(m, nn.Linear):
                M = rankcore.gram(h.numpy(), q.weights)
                out.append(int(rankcore.eps_rank(M, EPS, kind="gram")))
    return out


def one_run(job):
    act, d, t, seed, init, steps = job
    torch.set_num_threads(1)
    x, y = training_data(d, t)
    net = make_net(d, act, seed, init)
    ranks = hidden_ranks(net, d)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    hits = [None] * len(LOSS_TARGETS)
    loss_v = np.nan
    t0 = time.perf_counter()
    for step in range(steps + 1):
        loss = torch.mean((net(x) - y) ** 2)
        loss_v = loss.item()
        if not np.isfinite(loss_v):
            break
        for i, lt in enumerate(LOSS_TARGETS):
            if hits[i] is None and loss_v < lt:
                hits[i] = step
        if step == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    elapsed = time.perf_counter() - t0
    xh, yh = training_data(d, t, held_out=True)
    with torch.no_grad():
        held = float(torch.mean((net(xh) - yh) ** 2))
    return {"act": act, "d": d, "t": t, "seed": seed, "init": init, "hits": hits,
            "final": loss_v, "held_out": held, "r_first": ranks[0], "r_last": ranks[-1],
            "time": elapsed}


def init_table(acts, dims, t_ids, ns, inits):
    """Step-0 diagnostics only (no training): medians over targets x seeds."""
    print(f"\nstep 0 (no training), medians over targets x seeds: loss0 = initial MSE; "
          f"|h1|max = largest first-layer feature on the domain; out rms = RMS of the "
          f"network output; r1/rL = eps-rank (abs eps={EPS:g}) of first/last hidden "
          f"layer; rL rel = last hidden eps-rank relative to its largest eigenvalue")
    print(f"{'act':>7} {'d':>1} {'init':>15} {'loss0':>9} {'|h1|max':>8} {'out rms':>8} "
          f"{'r1':>3} {'rL':>3} {'rL rel':>6}")
    for act in acts:
        for d in dims:
            q = S.default_quadrature([(-1.0, 1.0)] * d)
            xq = torch.tensor(q.points, dtype=torch.float32)
            for init in inits:
                vals = []
                for t in t_ids:
                    x, y = training_data(d, t)
                    for seed in range(ns):
                        net = make_net(d, act, seed, init)
                        with torch.no_grad():
                            h1 = net[:2](xq).numpy()
                            hl = net[:-1](xq).numpy()
                            out = net(x)
                            loss0 = float(torch.mean((out - y) ** 2))
                        lam = rankcore.spectrum(rankcore.gram(hl, q.weights))
                        vals.append((loss0, np.abs(h1).max(), float(out.pow(2).mean().sqrt()),
                                     hidden_ranks(net, d)[0], int(np.sum(lam > EPS)),
                                     int(np.sum(lam > EPS * lam[0]))))
                m = np.median(np.array(vals), axis=0)
                print(f"{act:>7} {d:>1} {init:>15} {m[0]:9.2e} {m[1]:8.2f} {m[2]:8.3f} "
                      f"{m[3]:3.0f} {m[4]:3.0f} {m[5]:6.0f}")


def _init_worker():
    torch.set_num_threads(1)


def summarize(rows, steps, inits):
    print(f"\nit->t: iterations to loss t, median over targets x seeds [worst]; "
          f">N: not reached in N; held-out: median final mean square error on the "
          f"midpoints of the training grid; r1/rL: median initial eps-rank (eps={EPS:g}) of the "
          f"first/last hidden layer (of 50); x1e-3: median Xavier / median init to 1e-3")
    head = (f"{'act':>7} {'d':>1} {'init':>10} {'runs':>4} " + " ".join(
        f"{'it->' + format(lt, '.0e'):>13}" for lt in LOSS_TARGETS)
        + f" {'final loss':>19} {'held-out':>9} {'r1':>3} {'rL':>3} {'x1e-3':>7}")
    print(head)
    keyed = {}
    for r in rows:
        keyed.setdefault((r["act"], r["d"], r["init"]), []).append(r)
    acts = list(dict.fromkeys(r["act"] for r in rows))
    dims = sorted({r["d"] for r in rows})
    for act in acts:
        for d in dims:
            n = steps[d]
            med_x = None
            for init in inits:
                rs = keyed.get((act, d, init))
                if not rs:
                    continue
                cells, med3 = [], None
                for i in range(len(LOSS_TARGETS)):
                    v = np.array([n + 1 if r["hits"][i] is None else r["hits"][i] for r in rs])
                    med, worst = int(np.median(v)), int(v.max())
                    if i == 1:
                        med3 = med
                    f = (lambda k: f">{n}" if k > n else str(k))
                    cells.append(f"{f(med):>6} [{f(worst):>5}]")
                fin = np.array([r["final"] for r in rs])
                fin = np.where(np.isfinite(fin), fin, np.inf)
                if init == "xavier":
                    med_x = med3
                    sp = ""
                elif med_x is None or med3 > n:
                    sp = "-"
                else:
                    sp = f"{'>' if med_x > n else ''}{med_x / max(med3, 1):.1f}x"
                print(f"{act:>7} {d:>1} {init:>10} {len(rs):>4} " + " ".join(cells)
                      + f" {np.median(fin):9.2e} [{fin.max():7.1e}]"
                      + f" {np.median([finite_or_inf(r['held_out']) for r in rs]):9.2e}"
                      + f" {np.median([r['r_first'] for r in rs]):3.0f}"
                      + f" {np.median([r['r_last'] for r in rs]):3.0f} {sp:>7}")


def finite_or_inf(v):
    """A diverged run (NaN or inf) counts as +inf in medians."""
    return v if np.isfinite(v) else np.inf


def detail(rows, steps):
    print("\nper target (median over seeds of it->1e-3; final loss median)")
    keyed = {}
    for r in rows:
        keyed.setdefault((r["act"], r["d"], r["t"], r["init"]), []).append(r)
    for (act, d, t, init), rs in keyed.items():
        n = steps[d]
        v = [n + 1 if r["hits"][1] is None else r["hits"][1] for r in rs]
        m = int(np.median(v))
        print(f"{act:>7} d={d} t={t} k={target(d, t)[1].astype(int).tolist()} {init:>10}: "
              f"it->1e-3 {'>' + str(n) if m > n else m:>6}  final "
              f"{np.median([r['final'] for r in rs]):.2e}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="tanh, gelu, sin; d = 1, 2; 2 targets; 2 seeds; 1500/1000 iterations")
    p.add_argument("--acts", nargs="+", default=None, help="activations (default: all)")
    p.add_argument("--dims", nargs="+", type=int, default=None, choices=(1, 2, 3))
    p.add_argument("--targets", type=int, default=None, help="targets per dimension (default 3)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per target (default 5)")
    p.add_argument("--steps", nargs=3, type=int, default=None, metavar=("D1", "D2", "D3"),
                   help="iterations in 1-D, 2-D, 3-D (default 5000 3000 2000)")
    p.add_argument("--first-target", type=int, default=0,
                   help="index of the first target (targets are numbered from it)")
    p.add_argument("--inits", nargs="+", default=["xavier", "sfli"], choices=INITS)
    p.add_argument("--procs", type=int, default=2, help="worker processes, 1 torch thread each")
    p.add_argument("--detail", action="store_true", help="also print per-target medians")
    p.add_argument("--init-only", action="store_true",
                   help="only the step-0 diagnostics (initial loss, feature scale, eps-ranks)")
    a = p.parse_args(argv)
    if a.quick:
        acts, dims, nt, ns, st = ["tanh", "gelu", "sin"], [1, 2], 2, 2, (1500, 1000, 1000)
    else:
        acts, dims, nt, ns, st = list(rankcore.activations.names()), [1, 2, 3], 3, 5, (5000, 3000, 2000)
    acts = [rankcore.activations.canonical_name(x, "--acts") for x in (a.acts or acts)]
    dims = a.dims or dims
    nt = a.targets or nt
    ns = a.seeds or ns
    steps = dict(zip((1, 2, 3), a.steps or st))
    inits = [i for i in INITS if i in a.inits]
    la = tuple(round(v, 2) for v in os.getloadavg())
    print("# SFLI study: Xavier-normal vs bridge.sfli_, nn.Sequential 3x50, Adam 1e-3, full batch")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  loadavg {la}  "
          f"{os.cpu_count()} cpus  torch {torch.__version__}  procs {a.procs} x 1 thread  "
          f"args {' '.join(sys.argv[1:] if argv is None else argv) or '(default)'}")
    print(f"# acts {acts}  dims {dims}  targets {nt}  seeds {ns}  steps "
          f"{ {d: steps[d] for d in dims} }  inits {inits}")
    t_ids = range(a.first_target, a.first_target + nt)
    for d in dims:
        for t in t_ids:
            print(f"#   d={d} target {t}: k = {target(d, t)[1].astype(int).tolist()}")
    if a.init_only:
        init_table(acts, dims, t_ids, ns, inits)
        return
    # Longest runs first, so that the two workers finish together.
    jobs = [(act, d, t, s, init, steps[d]) for d in sorted(dims, reverse=True)
            for act in acts for t in t_ids for s in range(ns) for init in inits]
    t0 = time.perf_counter()
    if a.procs > 1:
        with mp.get_context("fork").Pool(a.procs, initializer=_init_worker) as pool:
            rows = pool.map(one_run, jobs, chunksize=1)
    else:
        rows = [one_run(j) for j in jobs]
    wall = time.perf_counter() - t0
    per = {d: np.mean([r["time"] / steps[d] for r in rows if r["d"] == d]) * 1e3 for d in dims}
    print(f"# {len(rows)} runs in {wall:.0f} s wall; ms per iteration "
          f"{ {d: round(v, 2) for d, v in per.items()} }; loadavg now "
          f"{tuple(round(v, 2) for v in os.getloadavg())}")
    summarize(rows, steps, inits)
    if a.detail:
        detail(rows, steps)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
