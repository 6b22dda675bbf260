"""Shared helpers of the SFLI reproductions (bench/repro_*.py).

Training is full-batch Adam; the epsilon-rank of the last hidden layer (the
input of the final nn.Linear, i.e. the output of ``model.features``) is
computed directly: features on a rankcore quadrature -> ``rankcore.gram`` ->
``rankcore.spectrum``; spectra are kept so any eps can be read later.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import rankcore  # noqa: E402
import bridge  # noqa: E402


def set_threads(n=1):
    """One torch thread: for these tiny matrices it is faster than two, and
    on the shared 2-core machine two threads were 6x slower (measured: 1000
    Adam steps of a 4x50 MLP took 3.3 s with 1 thread, 20.4 s with 2, at
    load average 4.6)."""
    torch.set_num_threads(n)


def parser(doc):
    """The options every reproduction takes: --quick | --full, and --out."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="short smoke-test run")
    g.add_argument("--full", action="store_true", help="paper-sized run")
    p.add_argument("--out", default="bench/out", help="folder for plots (default bench/out)")
    return p


def header(title, argv=None):
    la = tuple(round(v, 2) for v in os.getloadavg())
    print(f"# {title}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  loadavg {la}  "
          f"{platform.machine()} {os.cpu_count()} cpus  torch {torch.__version__} "
          f"threads {torch.get_num_threads()}  args {' '.join(argv or sys.argv[1:]) or '(default)'}")


def last_hidden(model, x):
    """Features of the last hidden layer at points ``x``, through ``bridge.capture``
    (the library's one capture path: no grad, eval mode, state restored)."""
    return bridge.capture(model, x, features=True).features[bridge.default_layer(model)]


def spectrum_at(model, q, x_q=None):
    """Spectrum of the last hidden layer's float64 Gram matrix on the rule ``q``."""
    grams = bridge.capture(model, q if x_q is None else x_q, weights=q.weights).grams
    return rankcore.spectrum(grams[bridge.default_layer(model)])


def train(model, loss_fn, steps, *, lr=1e-3, q=None, rank_every=100, extra=None,
          extra_every=None, optimizer=None):
    """Full-batch Adam; returns dict(loss (steps+1,), rank_steps, spectra, extra).

    ``loss_fn(model)`` returns the scalar loss; ``extra(model)`` (optional)
    returns a float recorded every ``extra_every`` steps (e.g. a relative
    error).
    """
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    losses = np.empty(steps + 1)
    rank_steps, spectra, ex_steps, ex_vals = [], [], [], []
    x_q = None if q is None else torch.tensor(q.points, dtype=next(model.parameters()).dtype)
    extra_every = extra_every or rank_every
    for step in range(steps + 1):
        if q is not None and (step % rank_every == 0 or step == steps):
            rank_steps.append(step)
            spectra.append(spectrum_at(model, q, x_q))
        if extra is not None and (step % extra_every == 0 or step == steps):
            ex_steps.append(step)
            ex_vals.append(float(extra(model)))
        loss = loss_fn(model)
        losses[step] = loss.item()
        if not np.isfinite(losses[step]):
            raise FloatingPointError(f"loss became {losses[step]} at step {step}")
        if step == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"loss": losses, "rank_steps": np.array(rank_steps),
            "spectra": np.array(spectra) if spectra else None,
            "extra_steps": np.array(ex_steps), "extra": np.array(ex_vals)}


def first_hit(losses, target):
    idx = np.flatnonzero(np.asarray(losses) < target)
    return int(idx[0]) if idx.size else None


def fmt_hit(v, steps):
    return f">{steps}" if v is None else str(v)


def ratio(d, s, steps):
    if s is None:
        return "-"
    if d is None:
        return f">{steps / max(s, 1):.1f}x"
    return f"{d / max(s, 1):.1f}x"


def median_hit(hits, steps):
    """Median over seeds, a miss counted as steps+1 (so the median is a bound)."""
    vals = [steps + 1 if h is None else h for h in hits]
    m = int(np.median(vals))
    return None if m > steps else m


def rank(spec, eps):
    return int(rankcore.eps_rank(spec, eps))


def figure(nrows, ncols, **kwargs):
    """A matplotlib figure on the file-only Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.subplots(nrows, ncols, **kwargs)


def save_figure(fig, path, legends=()):
    """Legends on ``legends``, tight layout, write ``path`` (folders made), close."""
    import matplotlib.pyplot as plt
    for a in legends:
        a.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_plot(path, curves, title, ylabel="loss", eps=1e-3, logy=True):
    """curves: list of (label, colour, linestyle, result dict).  Two panels:
    loss (or any per-step series) and eps-rank steps."""
    fig, (a1, a2) = figure(2, 1, sharex=True, figsize=(7.5, 6))
    for label, colour, ls, res in curves:
        y = res["loss"]
        (a1.semilogy if logy else a1.plot)(np.arange(y.size), y, color=colour, ls=ls,
                                            lw=1, label=label)
        if res["spectra"] is not None:
            r = rankcore.eps_rank(res["spectra"], eps, kind="spectrum")
            a2.step(res["rank_steps"], r, where="post", color=colour, ls=ls, label=label)
    a1.set_ylabel(ylabel)
    a1.set_title(title, fontsize=10)
    a2.set_ylabel(f"eps-rank last hidden (eps={eps:g})")
    a2.set_xlabel("iteration")
    print(f"plot: {save_figure(fig, path, legends=(a1,))}")
