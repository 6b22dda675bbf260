"""The staircase demo: default initialisation versus SFLI, one line apart.

Run ``python -m bridge.demo [--out DIR] [--quick]``.

The embedded problem is the paper's 1-D multi-frequency fit (Ex. 2.1/4.1),
with a stand-in target (the formula of eq. (5) was lost in the text
conversion of the paper, see docs/sfli.md):

    u(x) = (sin(pi x) + sin(2 pi x) + sin(4 pi x) + sin(8 pi x)) / 2  on [-1, 1],

a tanh MLP of depth 4 and width 50 (the paper's deep network), mean square
error on 250 uniform points, full-batch Adam (lr 1e-3), float64, seed 0.  The
same network is trained twice: as initialised (Xavier normal, zero biases)
and after ``bridge.sfli_(model, domain=(-1, 1))``.  Both runs are recorded
with ``bridge.SnapshotRecorder`` (Gram matrix of the last hidden layer on
129 Gauss-Legendre points) and read back with ``rankcore.open_run``; the demo
prints the iterations each run needed to reach the loss targets, the
epsilon-rank over time and the staircase statistics of ``rankcore.staircase``,
and writes ``staircase.png``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import rankcore

from .init import sfli_
from .nets import MLP
from .recorder import SnapshotRecorder, progress_bar

__all__ = []

DOMAIN = (-1.0, 1.0)
FREQS = (1, 2, 4, 8)
TARGETS = (1e-2, 1e-3, 1e-4)
EPS = (1e-3, 1e-6)  # absolute tolerances reported


def target(x):
    """The demo's target function (works on NumPy arrays and torch tensors)."""
    lib = torch if isinstance(x, torch.Tensor) else np
    return sum(lib.sin(k * np.pi * x) for k in FREQS) / 2.0


def first_hits(losses, targets=TARGETS):
    """First iteration at which each loss target is reached (None if never)."""
    losses = np.asarray(losses)
    out = {}
    for t in targets:
        idx = np.flatnonzero(losses < t)
        out[t] = int(idx[0]) if idx.size else None
    return out


def train(init, steps, record_every, path, *, width=50, depth=4, lr=1e-3,
          n_train=250, seed=0, quadrature=None, progress=None):
    """Train one network and record it; returns the per-step loss history.

    ``progress``: tqdm bar on stderr (None: only when it is a terminal).
    """
    torch.manual_seed(seed)
    model = MLP(1, 1, width, depth, "tanh").double()
    if init == "sfli":
        sfli_(model, domain=DOMAIN)          # <- the one line
    x = torch.linspace(*DOMAIN, n_train, dtype=torch.float64)[:, None]
    y = target(x)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = np.empty(steps + 1)
    with SnapshotRecorder(path, model, quadrature, every=record_every, seed=seed,
                          overwrite=True, metadata={"init": init}) as rec:
        for step in progress_bar(range(steps + 1), progress, desc=f"training {init}",
                                 unit="it", mininterval=0.5):
            loss = torch.mean((model(x) - y) ** 2)
            losses[step] = loss.item()
            rec.record(step, loss=losses[step])
            if step == steps:
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
    return losses


def _fmt(v):
    return "never" if v is None else str(v)


def plot(runs, path):
    """Write :func:`figure` of the recorded runs to ``path``."""
    import matplotlib.pyplot as plt

    fig = figure(runs)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def figure(runs):
    """Loss (log scale, running minimum beside the raw curve, labelled targets)
    and epsilon-rank (steps) of the recorded runs; returns the figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(7, 6))
    colours = {"default": "tab:gray", "sfli": "tab:red"}
    for name, (losses, run_path) in runs.items():
        with rankcore.open_run(run_path) as run:
            steps, ranks = run.steps, run.eps_rank(list(EPS))
        label = "default (Xavier)" if name == "default" else "SFLI"
        it = np.arange(losses.size)
        # Adam's loss is spiky: the raw curve faint, its running minimum beside it
        ax1.semilogy(it, losses, color=colours[name], lw=0.6, alpha=0.35)
        ax1.semilogy(it, np.minimum.accumulate(losses), color=colours[name], lw=1.6,
                     label=f"{label} (running minimum; faint: raw)")
        for j, (e, ls) in enumerate(zip(EPS, ("-", "--"))):
            ax2.step(steps, ranks[:, j], where="post", color=colours[name], ls=ls,
                     label=f"{label}, eps={e:g}")
    for t in TARGETS:
        ax1.axhline(t, color="k", lw=0.5, ls=":")
        ax1.annotate(f"target {t:g}", (1.0, t), xycoords=("axes fraction", "data"),
                     xytext=(-4, 2), textcoords="offset points", ha="right",
                     va="bottom", fontsize=7)
    ax1.set_ylabel("training loss (MSE)")
    ax1.legend()
    ax2.set_ylabel("eps-rank, last hidden layer\n(absolute eps)")
    ax2.legend(fontsize=8)
    ax2.set_xlabel("iteration (full-batch Adam)")
    ax1.set_title("1-D multi-frequency fit, tanh MLP 4x50")
    fig.tight_layout()
    return fig


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bridge.demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="demo_out", help="output folder (default ./demo_out)")
    p.add_argument("--quick", action="store_true", help="2500 iterations instead of 10000")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (they are shown only on a terminal anyway)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: for these tiny matrices one thread was "
                        "faster than two, and 6x faster on a loaded 2-core machine)")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    os.makedirs(args.out, exist_ok=True)
    steps = 2500 if args.quick else 10000
    every = 25 if args.quick else 50
    q = rankcore.quadrature.gauss_legendre(DOMAIN, 129)
    print(f"loadavg {tuple(round(v, 2) for v in os.getloadavg())}; torch threads "
          f"{torch.get_num_threads()}; "
          f"{steps} full-batch Adam iterations per run")
    print("problem: u(x) = (sin pi x + sin 2pi x + sin 4pi x + sin 8pi x)/2 on [-1, 1], "
          "tanh MLP depth 4 width 50, seed 0")
    runs = {}
    for init in ("default", "sfli"):
        t0 = time.time()
        path = os.path.join(args.out, f"{init}.h5")
        losses = train(init, steps, every, path, quadrature=q,
                       progress=False if args.no_progress else None)
        runs[init] = (losses, path)
        print(f"  {init:7s} trained and recorded in {time.time() - t0:5.1f} s -> {path}")

    hits = {k: first_hits(v[0]) for k, v in runs.items()}
    print("\nIterations to reach the loss target (first iteration with loss below it):")
    print(f"{'target':>8s} {'default':>9s} {'SFLI':>7s} {'speed-up':>9s}")
    for t in TARGETS:
        d, s = hits["default"][t], hits["sfli"][t]
        if d is not None and s is not None:
            ratio = f"{d / max(s, 1):.1f}x"
        elif s is not None:
            ratio = f">{steps / max(s, 1):.1f}x"
        else:
            ratio = "-"
        print(f"{t:8.0e} {_fmt(d):>9s} {_fmt(s):>7s} {ratio:>9s}")
    print(f"{'final':>8s} {runs['default'][0][-1]:9.2e} {runs['sfli'][0][-1]:7.2e}")
    print(f"{'min':>8s} {runs['default'][0].min():9.2e} {runs['sfli'][0].min():7.2e}")

    print("\neps-rank of the last hidden layer (50 neurons), absolute eps, read back with "
          "rankcore.open_run:")
    ranks, steps_rec = {}, None
    for k, (_, path) in runs.items():
        with rankcore.open_run(path) as run:
            steps_rec = run.steps
            ranks[k] = run.eps_rank(list(EPS))
    show = [s for s in (0, 100, 250, 500, 1000, 2000, 3000, 4000, 6000, 8000, steps)
            if s <= steps]
    head = "  default  SFLI" * len(EPS)
    print(f"{'':6s}" + "".join(f"  {'eps=%g' % e:>13s}" for e in EPS))
    print(f"{'step':>6s}{head}")
    for s in show:
        i = int(np.searchsorted(steps_rec, s))
        cols = "".join(f"  {int(ranks['default'][i, j]):7d} {int(ranks['sfli'][i, j]):5d}"
                       for j in range(len(EPS)))
        print(f"{int(steps_rec[i]):6d}{cols}")
    print("\nStaircase alignment measured by rankcore.staircase on the recorded runs "
          f"(snapshots every {every} iterations; method in docs/theory.md):")
    print(f"{'run':>8s} {'eps':>6s} {'loss steps':>10s} {'rank rises':>10s} {'pairs':>5s} "
          f"{'corr':>5s} {'lagged corr (lag)':>17s} {'decrease in rises':>17s} "
          f"{'time in rises':>13s}")
    for k, (_, path) in runs.items():
        with rankcore.open_run(path) as run:
            for e in EPS:
                st = rankcore.staircase(run, e).stats
                lag = f"{st['lagged_correlation']:.2f} ({st['correlation_lag']})"
                print(f"{k:>8s} {e:6.0e} {st['n_loss_steps']:10d} {st['n_rank_rises']:10d} "
                      f"{st['n_pairs']:5d} {st['correlation']:5.2f} {lag:>17s} "
                      f"{100 * st['loss_fraction_in_rises']:16.0f}% "
                      f"{100 * st['time_fraction_in_rises']:12.0f}%")
    png = os.path.join(args.out, "staircase.png")
    plot(runs, png)
    print(f"\nplot: {png}\n(or: rankcore plot {runs['default'][1]} {runs['sfli'][1]} -o FILE.png)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
