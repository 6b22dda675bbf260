"""RFM on geometries: rankcore against pyrfm 0.4.2 on the same domains and points.

    python bench/rfm_geometry.py [--threads 1] [--no-peer]

Problems (manufactured solutions, relative L2 error on 20000 random points of
the domain, all components together):

* ``square-disk``: -Laplace u = f on the unit square minus the disk of
  radius 0.2 at (0.5, 0.5); u given on the outer square, the normal
  derivative on the hole; u = sin(pi x) cos(pi y);
* ``L-shape``: -Laplace u = f on [0, 2]^2 minus [1, 2]^2, u given on the
  whole boundary;
* ``plate-hole``: plane-strain linear elasticity (E = 1, nu = 0.3) on the
  unit square minus the same disk: clamped (displacement given) on the
  outer square, traction given on the hole, the displacement of
  bench/rfm_pde.py's elasticity problem.

Both libraries get the same collocation points (rankcore's
``collocation_points`` on the geometry: the interior grid points inside the
domain and boundary samples), the same right-hand sides and the same cell
grid over the bounding box and features per cell.  rankcore keeps only the
cells that meet the domain and normalises the partition there; pyrfm (which
has no cell dropping on a plain RFMBase) uses every cell of the box.  "cpu s"
is the process CPU time of the fit (all threads), "wall s" its elapsed time.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _pde_module():
    spec = importlib.util.spec_from_file_location(
        "rfm_pde", os.path.join(ROOT, "bench", "rfm_pde.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _Prob:
    def __init__(self, sub, features, components):
        self.sub, self.features, self.components, self.scale = sub, features, components, 0.5


def problems():
    from rankcore import RFM
    from rankcore.geometry import Box, Disk, Polygon

    P = _pde_module()
    sp, xs = P._sym()
    x, y = xs[0], xs[1]
    hole_c, hole_r = np.array([0.5, 0.5]), 0.2
    out = []

    def split_hole(Xb):
        on = np.abs(np.linalg.norm(Xb - hole_c, axis=1) - hole_r) < 1e-9
        return Xb[~on], Xb[on], -(Xb[on] - hole_c) / hole_r

    # Poisson, square minus disk
    u = sp.sin(sp.pi * x) * sp.cos(sp.pi * y)
    U, F = P._lamb(u, 2), P._lamb(-(u.diff(x, 2) + u.diff(y, 2)), 2)
    Ux, Uy = P._lamb(u.diff(x), 2), P._lamb(u.diff(y), 2)
    g = Box([(0, 1), (0, 1)]) - Disk(hole_c, hole_r)
    sub, J = (4, 4), 120
    Xi, Xb = RFM(g, subdomains=4, features=J).collocation_points()
    Xo, Xh, n = split_hole(Xb)
    blocks = [dict(X=Xi, terms={(0, (2, 0)): -1.0, (0, (0, 2)): -1.0}, rhs=F(Xi)),
              dict(X=Xo, terms={(0, (0, 0)): 1.0}, rhs=U(Xo)),
              dict(X=Xh, terms={(0, (1, 0)): n[:, 0], (0, (0, 1)): n[:, 1]},
                   rhs=Ux(Xh) * n[:, 0] + Uy(Xh) * n[:, 1])]
    out.append(("square-disk", g, _Prob(sub, J, 1), blocks, [U]))

    # Poisson, L-shape
    L = Polygon([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])
    Xi, Xb = RFM(L, subdomains=4, features=100).collocation_points()
    blocks = [dict(X=Xi, terms={(0, (2, 0)): -1.0, (0, (0, 2)): -1.0}, rhs=F(Xi)),
              dict(X=Xb, terms={(0, (0, 0)): 1.0}, rhs=U(Xb))]
    out.append(("L-shape", L, _Prob((4, 4), 100, 1), blocks, [U]))

    # plane-strain elasticity, plate with a hole
    E, nu = 1, sp.Rational(3, 10)
    lam = E * nu / ((1 + nu) * (1 - 2 * nu))
    mu = E / (2 * (1 + nu))
    u1 = sp.sin(sp.pi * x / 2) * sp.cos(sp.pi * y) * y / 2 + x * y / 10
    u2 = sp.sin(sp.pi * y) * x ** 2 / 3 - sp.sin(sp.pi * x * y / 2) / 5
    us = [u1, u2]
    op = [{(0, (2, 0)): -(lam + 2 * mu), (0, (0, 2)): -mu, (1, (1, 1)): -(lam + mu)},
          {(1, (2, 0)): -mu, (1, (0, 2)): -(lam + 2 * mu), (0, (1, 1)): -(lam + mu)}]

    def apply(eq):
        return sum(c * P._diff(us[k], xs, a) for (k, a), c in eq.items())
    sig = {"xx": {(0, (1, 0)): lam + 2 * mu, (1, (0, 1)): lam},
           "yy": {(0, (1, 0)): lam, (1, (0, 1)): lam + 2 * mu},
           "xy": {(0, (0, 1)): mu, (1, (1, 0)): mu}}
    S = {k: P._lamb(apply(v), 2) for k, v in sig.items()}
    J = 120
    Xi, Xb = RFM(g, subdomains=4, features=J).collocation_points()
    Xo, Xh, n = split_hole(Xb)
    blocks = [dict(X=Xi, terms={k: float(v) for k, v in eq.items()},
                   rhs=P._lamb(apply(eq), 2)(Xi)) for eq in op]
    for c, uc in enumerate(us):
        blocks.append(dict(X=Xo, terms={(c, (0, 0)): 1.0}, rhs=P._lamb(uc, 2)(Xo)))
    for first, second in (("xx", "xy"), ("xy", "yy")):   # traction sigma . n
        terms = {}
        for name, nc in ((first, n[:, 0]), (second, n[:, 1])):
            for key, coef in sig[name].items():
                terms[key] = terms.get(key, 0.0) + float(coef) * nc
        blocks.append(dict(X=Xh, terms=terms,
                           rhs=S[first](Xh) * n[:, 0] + S[second](Xh) * n[:, 1]))
    out.append(("plate-hole", g, _Prob((4, 4), J, 2), blocks,
                [P._lamb(u1, 2), P._lamb(u2, 2)]))
    return P, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    P, probs = problems()
    sides = [P.RankcoreSide(args.threads)]
    if not args.no_peer and importlib.util.find_spec("pyrfm") is not None:
        sides.append(P.PyrfmSide(args.threads))
    for side in sides:  # warm-up: Numba kernels and torch, outside the timings
        name, g, prob, blocks, _ = probs[1]
        with contextlib.redirect_stdout(io.StringIO()):
            side.solve_linear(_Prob((2, 2), 10, 1), g if side.name == "rankcore"
                              else g.bbox.tolist(), blocks)
    print(f"load average {os.getloadavg()[0]:.1f}, {args.threads} thread(s)\n")
    print("| problem | library | cells | unknowns | equations | wall s | cpu s | rel L2 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, g, prob, blocks, exact in probs:
        X = g.sample_interior(20000, seed=3)
        want = np.stack([u(X) for u in exact], axis=1)
        for side in sides:
            box = g if side.name == "rankcore" else g.bbox.tolist()
            c0, t0 = time.process_time(), time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                m, _ = side.solve_linear(prob, box, blocks)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            got = side.predict(m, X, prob)
            err = np.linalg.norm(got - want) / np.linalg.norm(want)
            if side.name == "rankcore":
                cells, n_unk = m.n_subdomains_, m.n_unknowns_
            else:
                cells = 16
                n_unk = cells * prob.features * prob.components
            n_eq = sum(b["X"].shape[0] for b in blocks)
            print(f"| {name} | {side.name} | {cells} | {n_unk} | {n_eq} | {wall:.1f} | "
                  f"{cpu:.1f} | {err:.1e} |", flush=True)


if __name__ == "__main__":
    main()
