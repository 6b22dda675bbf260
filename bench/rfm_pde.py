"""RFM as a general PDE solver: rankcore.RFM side by side with pyrfm 0.4.2.

    python bench/rfm_pde.py                 # every problem, full sizes
    python bench/rfm_pde.py --quick         # smaller bases and point sets
    python bench/rfm_pde.py --only stokes   # one problem (repeatable)
    python bench/rfm_pde.py --threads 1     # BLAS/torch/numba threads, both sides

Problems (manufactured solutions; right-hand sides and boundary data are
derived symbolically with sympy, so they are exact to rounding):

  helm1d      u'' - 10 u = f on [0, 8], Dirichlet (the locELM test case)
  helm2d      -Lap u - k^2 u = f on [0, 1]^2, k = 8, Dirichlet
  advdiff     -div(a grad u) + b.grad u + c u = f, variable a, b, c; Dirichlet
              on x = 0 and y = 0, Neumann on x = 1, Robin on y = 1
  heat        u_t - nu u_xx = f on [0, 1] x [0, 2] (time the last coordinate),
              Dirichlet in x, initial condition at t = 0: one space-time solve
  heat_slabs  the same problem in 4 time slabs solved in turn, each slab's
              initial condition the previous slab's solution at its end
  heat_march  the same problem in 8 slabs with the same points in every slab
              (each slab its own grid): the slabs' matrices are equal, and
              both libraries factor once -- rankcore by itself
              (``fit_time_slabs`` reuses the factorization), pyrfm by hand
              (``compute`` on the first slab, ``solve`` for every slab); the
              row "rankcore-f" is rankcore factoring every slab
              (``reuse=False``), the reference for the reuse
  elasticity  plane-strain Navier-Cauchy (E = 1, nu = 0.3): clamped at x = 0
              and y = 0, prescribed traction on x = 1 and y = 1
  stokes      -Lap u + grad p = f, div u = 0, velocity on the boundary,
              pressure pinned at one point (components u, v, p)
  nonlinear   -Lap u + u^3 = f, Dirichlet, Gauss-Newton from u = 0
  poisson3d   -Lap u = f on [0, 1]^3, u = sin(pi x) sin(pi y) sin(pi z)

Both libraries get exactly the same points (uniform interior grids, boundary
grids per face), the same right-hand sides and coefficients (numpy arrays
evaluated once, outside the timed region), the same number of subdomains and
features per subdomain, tanh features with weights and biases from U(-R, R)
on local coordinates and the psi_b partition of unity.  pyrfm's ``RFTanH``
draws from U(-1, 1); the bench multiplies its weights and biases by R after
construction so that both sides draw from the same distribution (the draws
themselves differ: different generators).  pyrfm is driven with its own API:
``RFMBase``, its feature-derivative matrices, ``compute`` (row scaling, dense
Householder QR) and ``solve``; systems as column blocks of one matrix (its
``solve`` returns one column of weights per component); nonlinear problems
with ``pyrfm.nonlinear_least_square(method="newton")`` (Gauss-Newton with its
golden-section line search and its default tolerances; with xtol = gtol =
1e-12 it took 9 iterations instead of 5 and its error stayed at 2e-8).  It
runs on CPU in float64.

Time: model construction, assembly and solve (for slabs: all slabs, including
the evaluation of each slab's final state); rhs evaluation and point
generation are excluded on both sides.  Each process solves the problem
``--repeats`` times (default 3), and problems that solve in well under a
second more often (up to 20 solves, until the timed ones add up to 1 s):
"cold s" is the first solve (it includes loading rankcore's cached Numba
kernels, torch's first-call set-up), "time s" the best of the others.  Memory: each library runs each problem
in its own subprocess; "peak MB" is that process's ``ru_maxrss`` (on CPU
torch's tensors live in the process heap, so it includes them), "+solve MB" is
the peak minus ``ru_maxrss`` just before the model is built (after imports and
problem setup), "import MB" the ``ru_maxrss`` right after the library is
imported (before sympy and the problem data), and "floor MB" that of another
subprocess that imports the library, makes the problem's data and solves a
tiny problem of the same kind (one cell, 4 features, 40 points per block):
what every solve of the problem holds before its own arrays (for rankcore
the compiled kernels and the LLVM runtime they load).  Where rankcore's floor
is above a quarter of pyrfm's peak ("floor/pk" > 0.25 in the ratio table),
the peak-memory goal cannot be met by any solver.  Errors: relative L2 and max absolute error over all
components on an independent uniform grid that includes the boundary, for
the timed draw (seed 0).  One draw says little at these error levels: over
12 draws the relative L2 error of 2-D Helmholtz ranged over 4e-11..2e-10 for
either library, so ``--seeds K`` (default 5) also solves with K - 1 other
draws (rankcore ``random_state`` = s, pyrfm ``seed`` = 100 + s) and "med L2"
is the median over the K; the ratio table compares the medians and gives a
two-sided Mann-Whitney p-value (small p: the libraries' errors differ).

sympy derives the right-hand sides (not a dependency of rankcore; it is in
the ``test`` extra because tests/test_bench_rfm_pde.py checks these problem
definitions, and torch requires it, so it is present wherever pyrfm is).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN_TIMED_S = 1.0   # see worker()
ORDER = ["helm1d", "helm2d", "advdiff", "heat", "heat_slabs", "heat_march", "elasticity",
         "stokes", "nonlinear", "poisson3d"]


# ------------------------------------------------------------ geometry ---

def _axis_interior(lo, hi, n):
    import numpy as np
    return lo + (hi - lo) * (np.arange(1, n + 1) / (n + 1.0))


def _grid(axes):
    import numpy as np
    G = np.meshgrid(*axes, indexing="ij")
    return np.ascontiguousarray(np.stack([g.ravel() for g in G], axis=1))


def interior_points(box, n):
    """Uniform grid of n[i] points per dimension, end points excluded."""
    return _grid([_axis_interior(lo, hi, k) for (lo, hi), k in zip(box, n)])


def face_points(box, n, axis, side):
    """Grid on the face x[axis] = box[axis][side], edges included."""
    import numpy as np
    axes = [np.linspace(lo, hi, k) for (lo, hi), k in zip(box, n)]
    axes[axis] = np.array([box[axis][side]], dtype=float)
    return _grid(axes)


def slab_interior(box, n, K):
    """Interior grid of each of K slabs along the last axis (n[-1] // K levels each)."""
    import numpy as np
    edges = np.linspace(box[-1][0], box[-1][1], K + 1)
    lead = [_axis_interior(lo, hi, k) for (lo, hi), k in zip(box[:-1], n[:-1])]
    return np.concatenate([_grid(lead + [_axis_interior(edges[j], edges[j + 1], n[-1] // K)])
                           for j in range(K)])


def slab_face(box, n, axis, side, K):
    """A face grid whose levels along the last axis repeat in each of K slabs.

    Each slab gets ``n[-1] // K`` levels from its start (included) to its
    end (excluded); the face t = t0 is the ordinary grid.
    """
    import numpy as np
    if axis == len(box) - 1:
        return face_points(box, n, axis, side)
    edges = np.linspace(box[-1][0], box[-1][1], K + 1)
    m = n[-1] // K
    levels = np.concatenate([np.linspace(edges[j], edges[j + 1], m + 1)[:-1] for j in range(K)])
    axes = [np.linspace(lo, hi, k) for (lo, hi), k in zip(box[:-1], n[:-1])] + [levels]
    axes[axis] = np.array([box[axis][side]], dtype=float)
    return _grid(axes)


def test_points(box, n):
    import numpy as np
    return _grid([np.linspace(lo, hi, n) for lo, hi in box])


# ------------------------------------------------------------ problems ---

class Problem:
    """A problem in library-neutral form.

    ``block_fn(box)`` returns equation blocks ``dict(X, terms, rhs)`` with
    ``terms`` mapping ``(component, alpha)`` to a float or an (N,) array
    (a nonlinear block has ``nonlinear`` instead of ``terms``).
    """

    def __init__(self, name, box, sub, features, scale, exact, points,
                 components=1, slabs=0, nonlinear=None, n_test=101):
        self.name, self.box, self.sub, self.features = name, box, sub, features
        self.scale, self.exact, self.points = scale, exact, points
        self.components, self.slabs, self.nonlinear = components, slabs, nonlinear
        self.n_test = n_test
        self.block_fn = None
        self.same_slabs = False   # every slab has the same points (heat_march)

    @property
    def d(self):
        return len(self.box)

    def n_sub(self):
        import numpy as np
        return int(np.prod(self.sub))


def _sym():
    import sympy as sp
    return sp, sp.symbols("x0 x1 x2")


def _lamb(expr, d):
    """numpy callable X (N, d) -> (N,) for a sympy expression in x0..x{d-1}."""
    import numpy as np
    sp, xs = _sym()
    f = sp.lambdify(xs[:d], expr, "numpy")

    def call(X):
        v = f(*[X[:, i] for i in range(d)])
        return np.broadcast_to(np.asarray(v, dtype=float), (X.shape[0],)).copy()
    return call


def _alpha(d, *axes):
    a = [0] * d
    for i in axes:
        a[i] += 1
    return tuple(a)


def _diff(expr, xs, alpha):
    for i, k in enumerate(alpha):
        if k:
            expr = expr.diff(xs[i], k)
    return expr


def _linear_problem(name, box, sub, features, scale, pts_per_sub, us, operator, conditions,
                    n_test=101, slabs=0, interior=interior_points, face=face_points):
    """Build a Problem from sympy solutions ``us`` (one per component).

    ``operator``: list of equations, each a dict ``{(c, alpha): sympy coefficient}``;
    ``conditions``: list of ``(axis, side, equation)`` boundary blocks, each
    equation such a dict too.  Right-hand sides are the operator applied to
    the exact solution, evaluated exactly.  ``interior(box, n)`` and
    ``face(box, n, axis, side)`` make the points (default: uniform grids).
    """
    sp, xs = _sym()
    d = len(box)

    def apply(eq):
        return sum(coef * _diff(us[c], xs, a) for (c, a), coef in eq.items())

    rhs_int = [_lamb(apply(eq), d) for eq in operator]
    coef_int = [{k: _lamb(v, d) for k, v in eq.items()} for eq in operator]
    conds = [(ax, side, {k: _lamb(v, d) for k, v in eq.items()}, _lamb(apply(eq), d))
             for ax, side, eq in conditions]
    exact = [_lamb(u, d) for u in us]
    n = [p * s for p, s in zip(pts_per_sub, sub)]

    def blocks(bx):
        out = []
        Xi = interior(bx, n)
        for eq, r in zip(coef_int, rhs_int):
            out.append(dict(X=Xi, terms={k: f(Xi) for k, f in eq.items()}, rhs=r(Xi)))
        for ax, side, eq, r in conds:
            Xb = face(bx, n, ax, side)
            out.append(dict(X=Xb, terms={k: f(Xb) for k, f in eq.items()}, rhs=r(Xb)))
        return out

    p = Problem(name, box, sub, features, scale, exact, n, components=len(us),
                slabs=slabs, n_test=n_test)
    p.block_fn = blocks
    return p


def make_problem(name, quick=False, size=None):
    """The problem ``name``; ``size=(subdomains, features, points per subdomain)`` overrides."""
    sp, (x, y, z) = _sym()
    V0 = lambda d: (0, (0,) * d)  # noqa: E731

    if name == "helm1d":
        u = sp.sin(3 * sp.pi * x + 3 * sp.pi / 20) * sp.cos(2 * sp.pi * x + sp.pi / 10) + 2
        op = [{(0, (2,)): 1, (0, (0,)): -10}]
        bc = [(0, 0, {V0(1): 1}), (0, 1, {V0(1): 1})]
        pts = (250,) if not quick else (200,)
        return _linear_problem(name, [(0.0, 8.0)], (4,), 125, 4.0,
                               pts, [u], op, bc, n_test=4001)
    if name == "helm2d":
        k2 = 64
        u = sp.sin(2 * sp.pi * x + 0.5) * sp.cos(3 * sp.pi * y - 0.3) + x * y
        op = [{(0, (2, 0)): -1, (0, (0, 2)): -1, (0, (0, 0)): -k2}]
        bc = [(a, s, {V0(2): 1}) for a in range(2) for s in range(2)]
        sub, J, p = size or (((2, 2), 400, (30, 30)) if not quick else ((2, 2), 250, (24, 24)))
        return _linear_problem(name, [(0.0, 1.0)] * 2, sub, J, 1.0, p, [u], op, bc)
    if name == "advdiff":
        a = 1 + sp.Rational(1, 2) * sp.sin(sp.pi * x) * y
        b1, b2, c = 1 + y ** 2, x - sp.Rational(1, 2), 1 + x
        u = sp.exp(x / 2) * sp.sin(2 * sp.pi * y + sp.Rational(3, 10)) + sp.cos(sp.pi * x) / 2
        op = [{(0, (2, 0)): -a, (0, (0, 2)): -a, (0, (1, 0)): b1 - a.diff(x),
               (0, (0, 1)): b2 - a.diff(y), (0, (0, 0)): c}]
        bc = [(0, 0, {V0(2): 1}), (1, 0, {V0(2): 1}),
              (0, 1, {(0, (1, 0)): 1}),                      # Neumann, normal +x
              (1, 1, {(0, (0, 1)): 1, (0, (0, 0)): 2})]      # Robin, normal +y
        sub, J, p = size or (((2, 2), 400, (30, 30)) if not quick else ((2, 2), 250, (24, 24)))
        return _linear_problem(name, [(0.0, 1.0)] * 2, sub, J, 1.0, p, [u], op, bc)
    if name in ("heat", "heat_slabs", "heat_march"):
        nu = sp.Rational(1, 10)
        u = sp.exp(-y / 2) * sp.sin(2 * sp.pi * x + sp.Rational(1, 5)) * sp.cos(sp.pi * y) + x * y / 4
        op = [{(0, (0, 1)): 1, (0, (2, 0)): -nu}]
        bc = [(0, 0, {V0(2): 1}), (0, 1, {V0(2): 1}), (1, 0, {V0(2): 1})]
        J = 250 if not quick else 150
        p = (30, 30) if not quick else (22, 22)
        if name == "heat":
            return _linear_problem(name, [(0.0, 1.0), (0.0, 2.0)], (2, 4), J, 1.0, p, [u], op, bc)
        if name == "heat_slabs":
            # 4 slabs of 2 x 1 subdomains: the same basis size and the same points
            return _linear_problem(name, [(0.0, 1.0), (0.0, 2.0)], (2, 1), J, 1.0,
                                   (p[0], 4 * p[1]), [u], op, bc, slabs=4)
        # 8 slabs of 2 x 1 subdomains, each with the points heat_slabs gives
        # one slab, laid out the same in every slab
        K = 8
        prob = _linear_problem(name, [(0.0, 1.0), (0.0, 2.0)], (2, 1), J, 1.0,
                               (p[0], K * p[1]), [u], op, bc, slabs=K,
                               interior=lambda bx, n: slab_interior(bx, n, K),
                               face=lambda bx, n, ax, side: slab_face(bx, n, ax, side, K))
        prob.same_slabs = True
        return prob
    if name == "elasticity":
        E, nu = 1, sp.Rational(3, 10)
        lam = E * nu / ((1 + nu) * (1 - 2 * nu))
        mu = E / (2 * (1 + nu))
        u1 = sp.sin(sp.pi * x / 2) * sp.cos(sp.pi * y) * y / 2 + x * y / 10
        u2 = sp.sin(sp.pi * y) * x ** 2 / 3 - sp.sin(sp.pi * x * y / 2) / 5
        op = [{(0, (2, 0)): -(lam + 2 * mu), (0, (0, 2)): -mu, (1, (1, 1)): -(lam + mu)},
              {(1, (2, 0)): -mu, (1, (0, 2)): -(lam + 2 * mu), (0, (1, 1)): -(lam + mu)}]
        sxx = {(0, (1, 0)): lam + 2 * mu, (1, (0, 1)): lam}
        syy = {(0, (1, 0)): lam, (1, (0, 1)): lam + 2 * mu}
        sxy = {(0, (0, 1)): mu, (1, (1, 0)): mu}
        bc = [(0, 0, {(0, (0, 0)): 1}), (0, 0, {(1, (0, 0)): 1}),
              (1, 0, {(0, (0, 0)): 1}), (1, 0, {(1, (0, 0)): 1}),
              (0, 1, sxx), (0, 1, sxy),           # traction on x = 1
              (1, 1, sxy), (1, 1, syy)]           # traction on y = 1
        sub, J, p = size or (((2, 2), 300, (26, 26)) if not quick else ((2, 2), 200, (20, 20)))
        return _linear_problem(name, [(0.0, 1.0)] * 2, sub, J, 1.0, p, [u1, u2], op, bc)
    if name == "stokes":
        psi = sp.sin(sp.pi * x) ** 2 * sp.sin(sp.pi * y) ** 2
        uu, vv = psi.diff(y), -psi.diff(x)
        pp = sp.cos(sp.pi * x) * sp.cos(sp.pi * y)
        op = [{(0, (2, 0)): -1, (0, (0, 2)): -1, (2, (1, 0)): 1},
              {(1, (2, 0)): -1, (1, (0, 2)): -1, (2, (0, 1)): 1},
              {(0, (1, 0)): 1, (1, (0, 1)): 1}]
        bc = [(a, s, {(c, (0, 0)): 1}) for a in range(2) for s in range(2) for c in range(2)]
        sub, J, p = size or (((2, 2), 300, (30, 30)) if not quick else ((2, 2), 200, (22, 22)))
        prob = _linear_problem(name, [(0.0, 1.0)] * 2, sub, J, 1.0, p, [uu, vv, pp], op, bc)
        inner = prob.block_fn
        pex = prob.exact[2]

        def blocks(bx):
            import numpy as np
            X0 = np.array([[0.25, 0.25]])
            return inner(bx) + [dict(X=X0, terms={(2, (0, 0)): 1.0}, rhs=pex(X0))]
        prob.block_fn = blocks
        return prob
    if name == "nonlinear":
        u = sp.exp(x) * sp.sin(sp.pi * y) / 2 + sp.cos(sp.pi * x * y) / 2
        f = -(u.diff(x, 2) + u.diff(y, 2)) + u ** 3
        sub, J, p = size or (((2, 2), 300, (26, 26)) if not quick else ((2, 2), 200, (20, 20)))
        box = [(0.0, 1.0)] * 2
        n = [q * s for q, s in zip(p, sub)]
        fl, ul = _lamb(f, 2), _lamb(u, 2)
        prob = Problem(name, box, sub, J, 1.0, [ul], n)

        def blocks(bx):
            import numpy as np
            Xi = interior_points(bx, n)
            Xb = np.concatenate([face_points(bx, n, a, s) for a in range(2) for s in range(2)])
            return [dict(X=Xi, nonlinear=fl, rhs=fl(Xi)),
                    dict(X=Xb, terms={(0, (0, 0)): 1.0}, rhs=ul(Xb))]
        prob.block_fn = blocks
        prob.nonlinear = True
        return prob
    if name == "poisson3d":
        u = sp.sin(sp.pi * x) * sp.sin(sp.pi * y) * sp.sin(sp.pi * z)
        op = [{(0, (2, 0, 0)): -1, (0, (0, 2, 0)): -1, (0, (0, 0, 2)): -1}]
        bc = [(a, s, {V0(3): 1}) for a in range(3) for s in range(2)]
        sub, J, p = size or (((2, 2, 2), 400, (10, 10, 10)) if not quick else ((2, 2, 2), 200, (8, 8, 8)))
        return _linear_problem(name, [(0.0, 1.0)] * 3, sub, J, 0.2, p, [u], op, bc, n_test=26)
    raise ValueError(f"unknown problem {name!r}; choose from {ORDER}")


# ------------------------------------------------------------ adapters ---

class RankcoreSide:
    name = "rankcore"

    def __init__(self, threads, reuse=True):
        sys.path.insert(0, ROOT)
        import rankcore  # noqa: F401
        from rankcore import RFM
        self.RFM = RFM
        self.seed = 0   # random_state of the models
        self.reuse = reuse   # fit_time_slabs(reuse=...)

    def model(self, prob, box):
        kw = dict(subdomains=list(prob.sub), features=prob.features, pou="b",
                  activation="tanh", scale=prob.scale, random_state=self.seed)
        if prob.components > 1:
            kw["components"] = prob.components
        return self.RFM(box, **kw)

    def _eqs(self, prob, blocks):
        eqs = []
        for b in blocks:
            if prob.components > 1:
                terms = dict(b["terms"])
            else:
                terms = {a: v for (c, a), v in b["terms"].items()}
            eqs.append((b["X"], terms, b["rhs"]))
        return eqs

    def solve_linear(self, prob, box, blocks):
        m = self.model(prob, box)
        m.fit_linear(self._eqs(prob, blocks))
        return m, {}

    def solve_slabs(self, prob, blocks):
        m = self.model(prob, prob.box)
        m.fit_time_slabs(self._eqs(prob, blocks), prob.slabs, reuse=self.reuse)
        return (lambda X: self.predict(m, X, prob)), dict(reused=int(m.slab_reused_.sum()))

    def solve_nonlinear(self, prob, box, blocks):
        import numpy as np
        m = self.model(prob, box)
        nl, lin = blocks[0], blocks[1:]
        d = len(box)
        keys = [_alpha(d, 0, 0), _alpha(d, 1, 1), _alpha(d)]
        f = nl["nonlinear"]

        def residual(X, D):
            return -(D[keys[0]] + D[keys[1]]) + D[keys[2]] ** 3 - f(X)
        eqs = [(nl["X"], residual, keys)] + self._eqs(prob, lin)
        m.fit_nonlinear(eqs)     # defaults: max_iter=30, tol=1e-8
        hist = getattr(m, "residual_history_", getattr(m, "history_", None))
        info = dict(iters=int(m.n_iter_))
        if hist is not None:
            info["history"] = [float(h) for h in np.ravel(np.asarray(hist, dtype=float))][:40]
        return m, info

    def predict(self, m, X, prob):
        import numpy as np
        if prob.components == 1:
            return m.predict(X)[:, None]
        return np.asarray(m.predict(X))


class PyrfmSide:
    name = "pyrfm"

    def __init__(self, threads):
        import torch
        import pyrfm
        torch.set_num_threads(threads)
        torch.set_default_dtype(torch.float64)
        self.torch, self.pyrfm = torch, pyrfm
        self.seed = 0   # pyrfm's seed is 100 + this

    def model(self, prob, box):
        torch, pyrfm = self.torch, self.pyrfm
        dom = [v for lh in box for v in lh]
        sub = list(prob.sub) if len(prob.sub) > 1 else int(prob.sub[0])
        m = pyrfm.RFMBase(dim=len(box), n_hidden=prob.features, domain=dom,
                          n_subdomains=sub, pou=pyrfm.PsiB, rf=pyrfm.RFTanH,
                          dtype=torch.float64, seed=100 + self.seed)
        for sm in m.submodels.flat_data:   # U(-1, 1) -> U(-R, R)
            sm.weights *= prob.scale
            sm.biases *= prob.scale
        return m

    def _feat(self, m, X, alpha, cache):
        key = (id(X), alpha)
        if key not in cache:
            order = sum(alpha)
            if order == 0:
                F = m.features(X).cat(dim=1)
            elif order == 1:
                F = m.features_derivative(X, alpha.index(1)).cat(dim=1)
            else:
                ax = [i for i, k in enumerate(alpha) for _ in range(k)]
                F = m.features_second_derivative(X, ax[0], ax[1]).cat(dim=1)
            cache[key] = F
        return cache[key]

    def _assemble(self, prob, m, blocks):
        torch = self.torch
        M = m.submodels.numel() * prob.features
        rows, rhs, cache, Xt = [], [], {}, {}
        for b in blocks:
            X = Xt.setdefault(id(b["X"]), torch.from_numpy(b["X"]))
            A = torch.zeros(X.shape[0], M * prob.components)
            for (c, a), coef in b["terms"].items():
                F = self._feat(m, X, a, cache)
                cf = torch.as_tensor(coef).reshape(-1, 1) if not isinstance(coef, float) else coef
                A[:, c * M:(c + 1) * M] += cf * F
            rows.append(A)
            rhs.append(torch.from_numpy(b["rhs"]).reshape(-1, 1))
        return torch.cat(rows), torch.cat(rhs)

    def solve_linear(self, prob, box, blocks):
        m = self.model(prob, box)
        A, b = self._assemble(prob, m, blocks)
        with contextlib.redirect_stdout(io.StringIO()):
            m.compute(A, verbose=False)
            m.solve(b)
        return m, {}

    def solve_slabs(self, prob, blocks):
        return march(self, prob, blocks)

    def solve_again(self, prob, box, eqs, first):
        """A slab with the first slab's matrix: ``first.solve`` with this slab's rhs.

        pyrfm keeps the QR factors of ``compute`` in the model, and ``solve``
        applies them (and its row scaling) to any right-hand side; the new
        slab's model (same seed, so the same features on its own box) takes
        the weights.
        """
        import numpy as np
        torch = self.torch
        m = self.model(prob, box)
        rows = sum(e["X"].shape[0] for e in eqs)
        if rows != first.A_row_norm.shape[0]:
            raise RuntimeError(f"slab with {rows} rows, the first had "
                               f"{first.A_row_norm.shape[0]}: not the same matrix")
        b = torch.cat([torch.from_numpy(np.asarray(e["rhs"], dtype=float)).reshape(-1, 1)
                       for e in eqs])
        w0 = first.W
        with contextlib.redirect_stdout(io.StringIO()):
            first.solve(b)
        m.W, first.W = first.W, w0
        return m, {}

    def solve_nonlinear(self, prob, box, blocks):
        torch = self.torch
        m = self.model(prob, box)
        d = len(box)
        nl, lin = blocks[0], blocks[1:]
        Xi = torch.from_numpy(nl["X"])
        cache = {}
        F0 = self._feat(m, Xi, _alpha(d), cache)
        L = -(self._feat(m, Xi, _alpha(d, 0, 0), cache) + self._feat(m, Xi, _alpha(d, 1, 1), cache))
        f = torch.from_numpy(nl["rhs"]).reshape(-1, 1)
        B, g = self._assemble(prob, m, lin)
        si = 1.0 / torch.linalg.norm(L, dim=1, keepdim=True)   # row scaling, as for linear rows
        sb = 1.0 / torch.linalg.norm(B, dim=1, keepdim=True)
        count = [0]

        def fcn(w):
            u = F0 @ w
            return torch.cat([(L @ w + u ** 3 - f) * si, (B @ w - g) * sb])

        def jac(w):
            count[0] += 1
            u = F0 @ w
            return torch.cat([(L + 3 * u ** 2 * F0) * si, B * sb])
        w0 = torch.zeros(F0.shape[1], 1)
        with contextlib.redirect_stdout(io.StringIO()):
            w, status = self.pyrfm.nonlinear_least_square(
                fcn, w0, jac, method="newton", maxfev=4000)
        m.W = w
        res = float(torch.linalg.norm(fcn(w)) / torch.linalg.norm(torch.cat([f * si, g * sb])))
        return m, dict(iters=count[0] - 1, status=int(status), final_residual=res)

    def predict(self, m, X, prob):
        out = m(self.torch.from_numpy(X))
        return out.detach().numpy().reshape(X.shape[0], -1)


# -------------------------------------------------------------- worker ---

def _maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def slab_index(edges, t):
    """Slab of each time: edges[k] <= t < edges[k+1], the last slab closed."""
    import numpy as np
    return np.clip(np.searchsorted(edges, t, side="right") - 1, 0, edges.size - 2)


def march(side, prob, blocks):
    """Time slabs by hand (for pyrfm): the same splitting rankcore's
    ``fit_time_slabs`` documents.  Blocks whose points all lie on t = t0 are
    initial conditions, moved to t_k for slab k with the previous slab's
    solution as right-hand side; every other block is split by its points' t.
    """
    import numpy as np
    t0, t1 = prob.box[-1]
    edges = np.linspace(t0, t1, prob.slabs + 1)
    initial = [b for b in blocks if np.all(b["X"][:, -1] == t0)]
    others = [b for b in blocks if not any(b is i for i in initial)]
    models = []
    reused = 0
    for k in range(prob.slabs):
        box = [tuple(b) for b in prob.box[:-1]] + [(edges[k], edges[k + 1])]
        eqs = []
        for b in others:
            sel = slab_index(edges, b["X"][:, -1]) == k
            terms = {key: (v[sel] if np.ndim(v) else v) for key, v in b["terms"].items()}
            eqs.append(dict(X=np.ascontiguousarray(b["X"][sel]), terms=terms, rhs=b["rhs"][sel]))
        for b in initial:
            X = b["X"].copy()
            X[:, -1] = edges[k]
            rhs = b["rhs"]
            if k:   # value conditions only (what the heat problem needs)
                P = side.predict(models[-1], X, prob)
                rhs = sum(v * P[:, c] for (c, a), v in b["terms"].items())
            eqs.append(dict(X=X, terms=b["terms"], rhs=rhs))
        if k and prob.same_slabs:   # the first slab's factorization, new right-hand side
            m, info = side.solve_again(prob, box, eqs, models[0])
            reused += 1
        else:
            m, info = side.solve_linear(prob, box, eqs)
        models.append(m)

    def predict(X):
        part = slab_index(edges, X[:, -1])
        out = np.empty((X.shape[0], prob.components))
        for k, m in enumerate(models):
            sel = part == k
            out[sel] = side.predict(m, np.ascontiguousarray(X[sel]), prob)
        return out
    return predict, dict(info, reused=reused)


def run_problem(side, prob):
    """Solve ``prob`` with one library: (predict, seconds, info)."""
    blocks = prob.block_fn(prob.box)
    start = time.perf_counter()
    if prob.slabs:
        predict, info = side.solve_slabs(prob, blocks)
        return predict, time.perf_counter() - start, info
    if prob.nonlinear:
        m, info = side.solve_nonlinear(prob, prob.box, blocks)
    else:
        m, info = side.solve_linear(prob, prob.box, blocks)
    elapsed = time.perf_counter() - start
    return (lambda X: side.predict(m, X, prob)), elapsed, info


def floor_mb(side, prob):
    """Resident MB before any real work: the library imported, the problem's
    data made, and a tiny solve of the same kind (one cell, 4 features, the
    first 40 points of each block) that loads what a first solve loads
    (rankcore: the cached Numba kernels and the LLVM runtime; pyrfm: torch's
    first-call state).  No solve of the problem can peak below this."""
    import copy
    import warnings

    import numpy as np
    blocks = prob.block_fn(prob.box)   # alive, as in a real run
    tiny = copy.copy(prob)
    tiny.sub, tiny.features, tiny.slabs = (1,) * prob.d, 4, 0

    def small(bx):
        out = []
        for b in blocks:
            nb = dict(b, X=np.ascontiguousarray(b["X"][:40]), rhs=b["rhs"][:40])
            if "terms" in b:
                nb["terms"] = {k: (v[:40] if np.ndim(v) else v) for k, v in b["terms"].items()}
            out.append(nb)
        return out
    tiny.block_fn = small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_problem(side, tiny)
    return _maxrss_mb()


def worker(cfg):
    import warnings

    import numpy as np
    if cfg["lib"] == "pyrfm":
        side = PyrfmSide(cfg["threads"])
    else:   # "rankcore-f": slabs factored one by one (the reference for reuse)
        side = RankcoreSide(cfg["threads"], reuse=cfg["lib"] != "rankcore-f")
    import_mb = _maxrss_mb()  # interpreter + the library and what it imports
    prob = make_problem(cfg["problem"], cfg["quick"])
    if cfg.get("floor"):
        return dict(floor_mb=floor_mb(side, prob))
    Xt = test_points(prob.box, prob.n_test)
    U = np.stack([u(Xt) for u in prob.exact], axis=1)
    base = _maxrss_mb()
    times = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # a cold solve, then timed ones: at least repeats - 1 of them and,
        # for problems that solve in well under a second, more (up to 20)
        # until they add up to MIN_TIMED_S, so that the best of them is not
        # one noisy sample (the same rule for both libraries)
        while (len(times) < cfg.get("repeats", 3)
               or (sum(times[1:]) < MIN_TIMED_S and len(times) < 21)):
            predict = None   # drop the previous model before the next solve
            predict, elapsed, info = run_problem(side, prob)
            times.append(elapsed)
    peak = _maxrss_mb()
    P = predict(Xt)
    e = P - U
    # other random draws (seeds 1..K-1), for the error only: after the
    # timed solves and the memory reading
    l2 = [float(np.linalg.norm(e) / np.linalg.norm(U))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(1, cfg.get("seeds", 1)):
            side.seed = seed
            pred_s = run_problem(side, prob)[0]
            l2.append(float(np.linalg.norm(pred_s(Xt) - U) / np.linalg.norm(U)))
    n_unknowns = prob.n_sub() * prob.features * prob.components * max(1, prob.slabs)
    kinds = sorted({w.category.__name__ for w in caught})
    return dict(rel_l2=l2[0], l2_seeds=l2,
                max_err=float(np.abs(e).max()), cold_s=times[0], n_timed=len(times) - 1,
                timed_total_s=sum(times[1:]),
                time_s=min(times[1:] or times), peak_mb=peak,
                solve_mb=peak - base, import_mb=import_mb, unknowns=n_unknowns,
                warnings=kinds, **info)


def run_sub(cfg, threads, timeout):
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMBA_NUM_THREADS"):
        env[k] = str(threads)
    cfg = dict(cfg, threads=threads)
    try:
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                            json.dumps(cfg)], capture_output=True, text=True, env=env,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": tail[:150]}


# --------------------------------------------------------------- table ---

HEADER = (f"{'problem':<11} {'library':<10} {'unknowns':>8} {'rel L2':>9} {'med L2':>9} "
          f"{'max err':>9} "
          f"{'time s':>8} {'cold s':>8} {'peak MB':>8} {'+solve MB':>9} {'import MB':>9} "
          f"{'floor MB':>8}  notes")


def fmt(name, lib, r):
    if "error" in r:
        return f"{name:<11} {lib:<10} {'':>8} n/a: {r['error']}"
    notes = []
    if r.get("reused"):
        notes.append(f"factorization reused by {r['reused']} slabs")
    if "iters" in r:
        notes.append(f"GN iterations {r['iters']}")
    if "final_residual" in r:
        notes.append(f"rel. residual {r['final_residual']:.1e}")
    if r.get("status") is not None:
        notes.append(f"status {r['status']}")
    if r.get("warnings"):
        notes.append("warned: " + "/".join(r["warnings"]))
    med = statistics.median(r["l2_seeds"])
    return (f"{name:<11} {lib:<10} {r['unknowns']:>8} {r['rel_l2']:>9.2e} {med:>9.2e} "
            f"{r['max_err']:>9.2e} "
            f"{r['time_s']:>8.3f} {r['cold_s']:>8.3f} {r['peak_mb']:>8.0f} {r['solve_mb']:>9.0f} "
            f"{r['import_mb']:>9.0f} "
            + (f"{r['floor_mb']:>8.0f}  " if "floor_mb" in r else f"{'-':>8}  ")
            + ", ".join(notes))


def mann_whitney_p(a, b):
    """Two-sided Mann-Whitney U p-value (scipy's, exact for small samples)."""
    from scipy.stats import mannwhitneyu
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def describe(name, quick):
    p = make_problem(name, quick)
    sub = "x".join(map(str, p.sub))
    pts = "x".join(map(str, p.points))
    extra = f", {p.slabs} slabs of {sub}" if p.slabs else ""
    return (f"{name}: box {[tuple(b) for b in p.box]}, subdomains {sub} x {p.features} "
            f"features{extra}, R = {p.scale}, interior grid {pts}"
            + (" (split among the slabs)" if p.slabs else ""))


def with_floor(r, cfg, args):
    """``r`` with the library's memory floor on this problem (own subprocess)."""
    if "error" in r:
        return r
    f = run_sub(dict(cfg, floor=True), args.threads, args.timeout)
    return dict(r, floor_mb=f.get("floor_mb", float("nan")))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller bases and point sets")
    ap.add_argument("--only", action="append", choices=ORDER, help="run only this problem")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=900, help="seconds per run")
    ap.add_argument("--repeats", type=int, default=3,
                    help="solves per process: 'cold s' is the first, 'time s' the best "
                         "of the others")
    ap.add_argument("--seeds", type=int, default=5,
                    help="random draws per problem and library for 'med L2' (the median "
                         "relative L2 error); seed 0 is the timed one")
    ap.add_argument("--no-peer", action="store_true", help="skip pyrfm")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    for name in ("seeds", "repeats", "threads", "timeout"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if args.worker:
        cfg = json.loads(args.worker)
        print("RESULT " + json.dumps(worker(cfg)), flush=True)
        return
    import importlib.metadata as md
    import importlib.util
    peer = importlib.util.find_spec("pyrfm") is not None and not args.no_peer
    print(f"# bench/rfm_pde.py  loadavg {tuple(round(v, 2) for v in os.getloadavg())}  "
          f"cpus {os.cpu_count()}  threads {args.threads} (BLAS, numba and torch, both sides)  "
          f"quick={args.quick}")
    if peer:
        print(f"# peer: pyrfm {md.version('pyrfm')} (torch {md.version('torch')}, CPU, float64)")
    else:
        print("# pyrfm not installed or --no-peer: peer rows skipped")
    names = args.only or ORDER
    for n in names:
        print("#   " + describe(n, args.quick))
    print()
    print(HEADER)
    results = {}
    reuse_lines = []
    for n in names:
        cfg = dict(problem=n, quick=args.quick, repeats=args.repeats, seeds=args.seeds)
        r = with_floor(run_sub(dict(cfg, lib="rankcore"), args.threads, args.timeout),
                       dict(cfg, lib="rankcore"), args)
        print(fmt(n, "rankcore", r), flush=True)
        if make_problem(n, args.quick).same_slabs:   # reuse against factoring each slab
            rf = run_sub(dict(cfg, lib="rankcore-f"), args.threads, args.timeout)
            print(fmt(n, "rankcore-f", rf), flush=True)
            if "error" not in r and "error" not in rf:
                reuse_lines.append(f"{n}: rankcore {r['time_s']:.3f} s reusing the first "
                                   f"slab's factors, {rf['time_s']:.3f} s factoring every "
                                   f"slab ({rf['time_s'] / r['time_s']:.1f}x)")
        if peer:
            rp = with_floor(run_sub(dict(cfg, lib="pyrfm"), args.threads, args.timeout),
                            dict(cfg, lib="pyrfm"), args)
            print(fmt(n, "pyrfm", rp), flush=True)
            results[n] = (r, rp)
    if results:
        print("\nratios rankcore / pyrfm (goals: time <= 0.33, peak memory <= 0.25, "
              "error no worse)")
        print(f"(med L2: ratio of the medians over {args.seeds} draws per library; p: two-sided "
              "Mann-Whitney test of 'the two libraries' errors come from one distribution')")
        print("(floor/pk: rankcore's memory floor over pyrfm's peak; above 0.25 the peak "
              "memory goal cannot be met by any solve)")
        print(f"{'problem':<11} {'time':>7} {'peak':>7} {'+solve':>7} {'floor/pk':>8} "
              f"{'rel L2':>9} {'med L2':>9} {'p':>6}")
        for n, (r, rp) in results.items():
            if "error" in r or "error" in rp:
                continue
            a, b = r["l2_seeds"], rp["l2_seeds"]
            p = mann_whitney_p(a, b) if min(len(a), len(b)) > 1 else float("nan")
            print(f"{n:<11} {r['time_s'] / rp['time_s']:>7.2f} {r['peak_mb'] / rp['peak_mb']:>7.2f} "
                  f"{r['solve_mb'] / max(rp['solve_mb'], 1.0):>7.2f} "
                  f"{r.get('floor_mb', float('nan')) / rp['peak_mb']:>8.2f} "
                  f"{r['rel_l2'] / rp['rel_l2']:>9.2g} "
                  f"{statistics.median(a) / statistics.median(b):>9.2g} {p:>6.2f}")
    for line in reuse_lines:
        print("\nfactorization reuse, " + line)
    print(f"# loadavg at the end {tuple(round(v, 2) for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
