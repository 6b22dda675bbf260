"""Choose the UDI shape factor per dimension by training, not by rank alone.

For every activation and d = 2, 3 this trains the study's networks
(``bench/sfli_study.py``: ``nn.Sequential`` 3x50, Adam 1e-3, full batch,
seeded multi-frequency targets) initialised by ``bridge.sfli_`` with the UDI
shape factor ``s`` set to multiples of a reference value, and prints the
median iterations to loss 1e-2 / 1e-3 and the median final loss per ``s``.
Training loss alone is a trap: with sin features at s = 4 and 8 the
training loss reached 1e-11 while the error between the training points
was 1e-2 to 0.5 (the features oscillate faster than the training grid
resolves).  So every run also reports the mean square error on the grid of
cell midpoints of the training grid ("held-out"), and the rule is: among
the ``s`` whose median held-out loss is within 2x of the best ``s``, the
one with the fewest median iterations to 1e-3 (training loss); when none
of them reaches 1e-3, the lowest median held-out loss.

Targets here are the study's targets with indices offset by 100, so the
shape is not tuned on the targets the study reports.

``--dims 1`` runs the same sweep for the shape ``s`` of the 1-D grid
(around ``DEFAULT_SHAPE["grid"]``), which was chosen by a rank rule.

Usage: python bench/sfli_udi_shapes.py [--dims 2 3] [--acts tanh ...]
       [--mult 0.25 0.5 1 2 4] [--targets 2] [--seeds 2]
       [--steps 3000 2000 1500] [--procs 2]
"""

import argparse
import multiprocessing as mp
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import sfli_study as study  # noqa: E402
from rankcore import activations as _act  # noqa: E402
from rankcore import sfli as S  # noqa: E402

TARGET_OFFSET = 100
#: The centre of the sweep: the UDI shape factors the rank rule had chosen
#: (first-layer rank at eps = 1e-4 >= 0.95 n, in 2-D) before this sweep.
REFERENCE = {"tanh": 2.0, "sigmoid": 8.0, "relu": 1.0, "elu": 4.0,
             "gelu": 4.0, "silu": 4.0, "sin": 2.0, "cos": 2.0}
#: ``--dims 1`` sweeps the 1-D grid's ``s`` around its default instead.
GRID_REFERENCE = dict(S.DEFAULT_SHAPE["grid"])


def _reference(act, d):
    return (GRID_REFERENCE if d == 1 else REFERENCE)[act]


def job(args):
    act, d, t, seed, s, steps = args
    torch.set_num_threads(1)
    # Worker processes only: udi_init looks its default up through this
    # module-level function, so replacing it sets the UDI shape of the run.
    saved = S.default_shape
    scheme_used = "grid" if d == 1 else "udi"
    S.default_shape = lambda activation, scheme="grid", dim=None: (
        s if scheme == scheme_used else saved(activation, scheme, dim))
    try:
        r = study.one_run((act, d, t + TARGET_OFFSET, seed, "sfli", steps))
    finally:
        S.default_shape = saved
    r["s"] = s
    return r


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dims", nargs="+", type=int, default=[2, 3], choices=(1, 2, 3),
                   help="2, 3: UDI shape; 1: the 1-D grid's shape")
    p.add_argument("--acts", nargs="+", default=None)
    p.add_argument("--mult", nargs="+", type=float, default=[0.25, 0.5, 1.0, 2.0, 4.0])
    p.add_argument("--targets", type=int, default=2)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--steps", nargs=3, type=int, default=[3000, 2000, 1500],
                   metavar=("D1", "D2", "D3"))
    p.add_argument("--procs", type=int, default=2)
    a = p.parse_args(argv)
    acts = [_act.canonical_name(x, "--acts") for x in (a.acts or _act.names())]
    steps = dict(zip((1, 2, 3), a.steps))
    print(f"# UDI shape sweep {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
          f"loadavg {tuple(round(v, 2) for v in os.getloadavg())} args "
          f"{' '.join(sys.argv[1:] if argv is None else argv) or '(default)'}")
    jobs = [(act, d, t, seed, _reference(act, d) * m, steps[d]) for d in sorted(a.dims, reverse=True)
            for act in acts for m in a.mult for t in range(a.targets) for seed in range(a.seeds)]
    t0 = time.perf_counter()
    if a.procs > 1:
        with mp.get_context("fork").Pool(a.procs, initializer=study._init_worker) as pool:
            rows = pool.map(job, jobs, chunksize=1)
    else:
        rows = [job(j) for j in jobs]
    print(f"# {len(rows)} runs in {time.perf_counter() - t0:.0f} s")
    print(f"{'act':>7} {'d':>1} {'s':>6} {'it->1e-2':>9} {'it->1e-3':>9} {'final':>9} "
          f"{'held-out':>9} {'rL':>3}")
    choice = {}
    for d in sorted(a.dims):
        n = steps[d]
        for act in acts:
            stats = []
            for m in a.mult:
                s = _reference(act, d) * m
                rs = [r for r in rows if r["act"] == act and r["d"] == d and r["s"] == s]
                it = [int(np.median([n + 1 if r["hits"][i] is None else r["hits"][i]
                                     for r in rs])) for i in (0, 1)]
                fin = float(np.median([study.finite_or_inf(r["final"]) for r in rs]))
                held = float(np.median([study.finite_or_inf(r["held_out"]) for r in rs]))
                stats.append((s, it, fin, held))
                f = (lambda k: f">{n}" if k > n else str(k))
                print(f"{act:>7} {d:>1} {s:>6g} {f(it[0]):>9} {f(it[1]):>9} {fin:9.2e} "
                      f"{held:9.2e} {np.median([r['r_last'] for r in rs]):3.0f}")
            best_held = min(h for _, _, _, h in stats)
            ok = [x for x in stats if x[3] <= 2.0 * best_held]
            if any(x[1][1] <= n for x in ok):
                s_best = min(ok, key=lambda x: (x[1][1], x[3]))[0]
            else:
                s_best = min(stats, key=lambda x: x[3])[0]
            choice[(act, d)] = s_best
            print(f"{act:>7} {d:>1} chosen s = {s_best:g}")
    print("\nchosen UDI shape factors s:")
    for d in sorted(a.dims):
        print(f"  d = {d}: " + ", ".join(f"{act} {choice[(act, d)]:g}" for act in acts))
    return choice


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
