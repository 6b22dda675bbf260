"""The 3-D default ``scale`` of rankcore.RFM against smaller ones, on several cell grids.

    OPENBLAS_NUM_THREADS=1 python bench/rfm_defaults_3d.py            # about 10 min on a loaded machine
    OPENBLAS_NUM_THREADS=1 python bench/rfm_defaults_3d.py --quick    # the 1-cell and 2x2x2 rows only
    OPENBLAS_NUM_THREADS=1 nice -n 5 python bench/rfm_defaults_3d.py --big  # 4x4x4 x 480 only

``--big`` is one run at scale: 4x4x4 cells x 480 features (30 720 unknowns),
all defaults (scale, points, solver), target ``k1``; it prints the error,
the wall and CPU time of the fit and the peak resident memory of the process.

``fit_poisson`` on the unit cube with the default collocation points, for
the scales R in SCALES, on three bases of at most 1e4 unknowns (one cell x
1000 features, 2x2x2 x 400, 3x3x3 x 300) and three targets: ``k1`` =
sin(pi x) sin(pi y) sin(pi z), ``k2`` = the same with 2 pi, ``ec`` = exp(0.7x +
0.3y) cos(1.3z + 0.2x) (smooth, non-zero on the boundary).  Relative L2 error
on a 21^3 grid; ``*`` marks a fit that raised IllConditionedWarning.  R acts
on each cell's local coordinate, so more cells per dimension means less
variation per cell, which favours a smaller R.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rankcore import RFM  # noqa: E402
from rankcore.rfm import DEFAULT_SCALE, IllConditionedWarning  # noqa: E402

PI = np.pi
SCALES = (0.2, 0.3, 0.5)
CASES = [(1, 1000, ("k1", "k2", "ec")), (2, 400, ("k1", "k2", "ec")), (3, 300, ("k1", "k2"))]


def target(name):
    """(u, f) with f = -lap u."""
    if name in ("k1", "k2"):
        k = PI * (1 if name == "k1" else 2)

        def u(X):
            return np.prod(np.sin(k * X), axis=1)

        def f(X):
            return 3 * k ** 2 * u(X)
        return u, f

    def u(X):
        return np.exp(0.7 * X[:, 0] + 0.3 * X[:, 1]) * np.cos(1.3 * X[:, 2] + 0.2 * X[:, 0])

    def f(X):
        ea = np.exp(0.7 * X[:, 0] + 0.3 * X[:, 1])
        b = 1.3 * X[:, 2] + 0.2 * X[:, 0]
        lap = ea * ((0.49 - 0.04 + 0.09 - 1.69) * np.cos(b) - 0.28 * np.sin(b))
        return -lap
    return u, f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--big", action="store_true")
    args = ap.parse_args()
    if args.big:
        return big()
    print(f"# bench/rfm_defaults_3d.py  loadavg {os.getloadavg()}  "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}  "
          f"DEFAULT_SCALE[3]={DEFAULT_SCALE[3]:g}")
    print("relative L2 error of fit_poisson on [0,1]^3 (default points); * = IllConditionedWarning")
    print(f"{'cells':>6} {'J':>5} {'unknowns':>8} {'u':>3} "
          + " ".join(f"{'R=' + format(s, 'g'):>9}" for s in SCALES) + f" {'s/fit':>6}")
    g = np.linspace(0, 1, 21)
    Xt = np.stack([a.ravel() for a in np.meshgrid(g, g, g, indexing="ij")], 1)
    for sub, J, names in CASES[:2] if args.quick else CASES:
        for name in names:
            u, f = target(name)
            cols = []
            t0 = time.perf_counter()
            for R in SCALES:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", IllConditionedWarning)
                    m = RFM([(0.0, 1.0)] * 3, sub, J, scale=R, random_state=0).fit_poisson(f, u)
                err = np.linalg.norm(m.predict(Xt) - u(Xt)) / np.linalg.norm(u(Xt))
                flag = "*" if any(issubclass(w.category, IllConditionedWarning)
                                  for w in caught) else " "
                cols.append(f"{err:>8.1e}{flag}")
            dt = (time.perf_counter() - t0) / len(SCALES)
            print(f"{sub:>4}^3 {J:>5} {m.n_unknowns_:>8} {name:>3} " + " ".join(cols)
                  + f" {dt:>6.1f}", flush=True)
    print(f"# end loadavg {os.getloadavg()}")


def big():
    import resource
    print(f"# bench/rfm_defaults_3d.py --big  loadavg {os.getloadavg()}  "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    u, f = target("k1")
    c0, t0 = time.process_time(), time.perf_counter()
    m = RFM([(0.0, 1.0)] * 3, 4, 480, random_state=0).fit_poisson(f, u)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    X = np.random.default_rng(12345).uniform(0, 1, (20000, 3))
    err = np.linalg.norm(m.predict(X) - u(X)) / np.linalg.norm(u(X))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"{'cells':>6} {'J':>4} {'R':>4} {'unknowns':>8} {'equations':>9} {'solver':>12} "
          f"{'rel L2':>8} {'wall s':>7} {'cpu s':>7} {'peak GB':>7}")
    print(f"{'4^3':>6} {480:>4} {m.scale_:>4g} {m.n_unknowns_:>8} {m.n_equations_:>9} "
          f"{m.solver_:>12} {err:>8.1e} {wall:>7.0f} {cpu:>7.0f} {peak:>7.2f}")
    print(f"# end loadavg {os.getloadavg()}")


if __name__ == "__main__":
    main()
