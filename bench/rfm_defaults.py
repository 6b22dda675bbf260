"""How rankcore.RFM's default ``scale`` per dimension was chosen.

    OPENBLAS_NUM_THREADS=1 python bench/rfm_defaults.py          # full table
    OPENBLAS_NUM_THREADS=1 python bench/rfm_defaults.py --quick  # 1-D and 2-D only

Poisson problems ``-lap u = f`` with Dirichlet data on the unit box, solved
by ``fit_poisson`` for the scales R in SCALES (weights and biases drawn from
U(-R, R) on the local coordinates of each cell in [-1, 1]^d), a few bases
per dimension and two targets per dimension: a smooth one (one half-wave
per coordinate) and a more oscillatory one.  The relative L2 error on a
uniform grid is printed per case, then the worst error and the geometric
mean of each column per dimension, and the *loss* of each scale: the largest
factor, over the cases of that dimension, by which its error exceeds the
best error any scale reached on that case (errors below 1e-13 count as
1e-13, rounding noise).  The default of a dimension is the scale with the
smallest loss -- it is never far from the best choice on any case, and a case
that no scale solves well (too small a basis for its target) counts by how
much worse it gets, not by its absolute error -- which
``rankcore.rfm.DEFAULT_SCALE`` holds (the script checks it).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rankcore import RFM  # noqa: E402
from rankcore.rfm import DEFAULT_SCALE  # noqa: E402

PI = math.pi
SCALES = {1: (0.25, 0.5, 1.0, 2.0, 4.0), 2: (0.25, 0.5, 1.0, 2.0, 4.0),
          3: (0.2, 0.3, 0.5, 1.0, 2.0)}
NOISE = 1e-13


def target(d, k):
    """u = prod_i sin(k pi x_i) + x_0 and f = -lap u."""
    def u(X):
        return np.prod(np.sin(k * PI * X), axis=1) + X[:, 0]

    def f(X):
        return d * (k * PI) ** 2 * np.prod(np.sin(k * PI * X), axis=1)
    return u, f


# (subdomains, features, points per cell and dimension) per dimension
CASES = {
    1: [(1, 60, 120), (4, 40, 80)],
    2: [(1, 300, 25), (2, 150, 18), (3, 100, 15)],
    3: [(1, 600, 12), ((2, 1, 1), 500, 10)],
}
FREQ = {1: (1, 4), 2: (1, 2), 3: (1, 2)}
GRID = {1: 2001, 2: 101, 3: 21}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dims", default="1,2,3", help="dimensions to run (comma-separated)")
    args = ap.parse_args()
    dims = [d for d in (1, 2, 3) if str(d) in args.dims.split(",") and not (args.quick and d == 3)]
    print(f"# bench/rfm_defaults.py  loadavg {os.getloadavg()}  "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print("relative L2 error of fit_poisson on [0,1]^d, u = prod sin(k pi x_i) + x_0")
    print("default: the R with the smallest loss = max over cases of error / best error "
          f"of the case (errors below {NOISE:g} count as {NOISE:g})")
    chosen = {}
    for d in dims:
        print(f"{'d':>2} {'cells':>9} {'J':>5} {'pts':>4} {'k':>2} "
              + " ".join(f"{'R=' + format(s, 'g'):>9}" for s in SCALES[d]) + f" {'s/fit':>6}")
        logs = []
        for sub, J, pts in CASES[d]:
            for k in FREQ[d]:
                u, f = target(d, k)
                g = np.linspace(0, 1, GRID[d])
                X = np.stack([a.ravel() for a in np.meshgrid(*([g] * d), indexing="ij")], 1)
                errs = []
                t0 = time.perf_counter()
                for R in SCALES[d]:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        m = RFM([(0.0, 1.0)] * d, sub, J, scale=R, random_state=0)
                        m.fit_poisson(f, u, points=pts)
                    errs.append(float(np.linalg.norm(m.predict(X) - u(X)) / np.linalg.norm(u(X))))
                dt = (time.perf_counter() - t0) / len(SCALES[d])
                logs.append(np.log10(np.maximum(errs, NOISE)))
                cells = "x".join(map(str, sub)) if isinstance(sub, tuple) else str(sub)
                print(f"{d:>2} {cells:>9} {J:>5} {pts:>4} {k:>2} "
                      + " ".join(f"{e:>9.1e}" for e in errs) + f" {dt:>6.1f}", flush=True)
        logs = np.array(logs)
        mean = np.mean(logs, axis=0)
        worst = np.max(logs, axis=0)
        loss = np.max(logs - logs.min(axis=1, keepdims=True), axis=0)
        best = SCALES[d][int(np.argmin(loss))]
        chosen[d] = best
        print(f"{d:>2} {'geo-mean':>9} {'':>5} {'':>4} {'':>2} "
              + " ".join(f"{10 ** v:>9.1e}" for v in mean))
        print(f"{d:>2} {'worst':>9} {'':>5} {'':>4} {'':>2} "
              + " ".join(f"{10 ** v:>9.1e}" for v in worst))
        print(f"{d:>2} {'loss':>9} {'':>5} {'':>4} {'':>2} "
              + " ".join(f"{10 ** v:>9.1f}" for v in loss) + f"   -> default R = {best:g}")
    for d, best in chosen.items():
        status = "matches" if DEFAULT_SCALE[d] == best else "DIFFERS FROM"
        print(f"d={d}: measured best R={best:g} {status} DEFAULT_SCALE[{d}]={DEFAULT_SCALE[d]:g}")


if __name__ == "__main__":
    main()
