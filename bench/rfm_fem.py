"""RFM against finite elements: time to reach a relative L2 error of 1e-4, 1e-6, 1e-8.

    python bench/rfm_fem.py                     # all three problems, full sweeps
    python bench/rfm_fem.py --quick             # reduced sweeps (smoke test)
    python bench/rfm_fem.py --only poisson2d    # one problem (repeatable)
    python bench/rfm_fem.py --threads 1         # BLAS / numba threads
    python bench/rfm_fem.py --fem-cap-s 60 --mem-cap-gb 8

Problems (unit square / unit cube, Dirichlet data from the exact solution on
the whole boundary):

  poisson2d    -Lap u = f,  u = sin(2 pi x) sin(2 pi y)
  poisson3d    -Lap u = f,  u = sin(2 pi x) sin(2 pi y) sin(2 pi z) + x
  helmholtz2d  -Lap u - k^2 u = f,  k = 40,  u = sin(28 x + 1/2) cos(29 y):
               a product of four plane waves with |wave vector| = sqrt(28^2 +
               29^2) = 40.31, so it oscillates at the wavenumber (6.4
               wavelengths across the square) while f = (28^2 + 29^2 - 40^2) u
               = 25 u is not zero.  k^2 = 1600 is not a Dirichlet eigenvalue of
               the Laplacian on the unit square (those are pi^2 (m^2 + n^2));
               the nearest one is 162 pi^2 = 1598.9 (m = n = 9), 0.07 % below
               k^2, so the problem is near-resonant: its stability constant is
               about k^2 / 1.1 = 1.4e3, and both methods' residuals turn into
               errors about that much larger in the sin(9 pi x) sin(9 pi y)
               direction.  (k = 40 was asked for; it was kept.)

Error: relative L2 over 20 000 uniform random points in the box (seed 12345),
the same points for both methods.  FEM solutions are evaluated at the points
exactly (the element basis functions at the points' reference coordinates,
as skfem's ``CellBasis.probes``); the element holding a point is found from
the structured mesh (each square / cube of the tensor grid holds 2 triangles /
6 tetrahedra) instead of skfem's ``element_finder``, whose per-call matrix of
points x candidate elements needs tens of GB for 20 000 points.

RFM (rankcore): ``RFM(box, subdomains=n, features=J, random_state=0)``, tanh
features, psi_b partition of unity, default collocation points (about twice
as many equations as unknowns per cell) and the default solver.  Poisson with
``fit_poisson(f, g)``; Helmholtz with ``fit_linear`` on the blocks
``(X_interior, {(2,0): -1, (0,2): -1, (0,0): -k^2}, f)`` and
``(X_boundary, {(0,0): 1}, g)``.  Timed: model construction + collocation
points + right-hand sides + assembly + least-squares solve (``fit_poisson``
does all of these itself).  Sweep: 2-D n = 1..4 cells per dimension x J in
{50, 75, 100, 150, 200, 250, 300, 400}; 3-D n = 1..3 x J in {200, 300, 400,
600, 900}; Helmholtz also with the feature scale R = 1 beside the default
R = 0.5 (the default was chosen on smooth problems; at k = 40 R = 1 is
sometimes better).  A configuration whose time, extrapolated from the previous J of the
same n as J^3, would pass ``--rfm-cap-s`` is skipped.

FEM (scikit-fem): Lagrange P1, P2, P3 (``ElementTriP1..P3``; in 3-D
``ElementTetP1``, ``ElementTetP2`` and ``ElementTetP3`` defined below, since
scikit-fem 12 has no cubic tetrahedron) on the tensor meshes
``MeshTri.init_tensor`` / ``MeshTet.init_tensor`` with N cells per side, N
growing by 2^(1/2) per step in 2-D and 2^(1/3) in 3-D (the DOFs about double
each step; a finer ladder than uniform refinement's 4x / 8x, so that the
cheapest mesh reaching a level is not overshot much).  ``BilinearForm``
``grad u . grad v - k^2 u v``, ``LinearForm`` ``f v`` (f at the quadrature
points, skfem's default rule of degree 2p), Dirichlet values interpolated at
the boundary DOFs, ``solve(*condense(A, b, x=x, D=D))`` (skfem's default:
scipy's ``spsolve``, SuperLU with COLAMD ordering, single-threaded).  Timed:
basis construction + assembly + boundary data + condense + solve; mesh
construction and the error evaluation are excluded.  A mesh is the last of
its order when its error is below 1e-8, when its solve took longer than
``--fem-cap-s``, or when the next mesh's time (extrapolated from the last two
as a power of the DOFs) would pass ``--fem-cap-s`` or its memory (peak RSS
growth extrapolated as DOFs^1.5) would pass ``--mem-cap-gb``.

Both sides: every configuration runs in this process; a run under 1 s is
repeated (``--repeats``, default 3) and the best time kept; one tiny fit of
each kind runs first (loading rankcore's compiled kernels).  For each level
the table gives the fastest configuration that reaches it (error <= level),
or "not reached (best e=...)"; the ratio row is the fastest FEM time over the
RFM time.  scikit-fem is a bench-only dependency: the bench installs it with
pip when it is missing (and says so).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import time

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS")


def _threads_from_argv(argv, default=2):
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return str(default)


if __name__ == "__main__":   # before numpy is imported (BLAS reads these once)
    for _k in _THREAD_VARS:
        os.environ[_k] = _threads_from_argv(sys.argv[1:])

import numpy as np  # noqa: E402

LEVELS = (1e-4, 1e-6, 1e-8)
N_ERR_POINTS = 20000
ERR_SEED = 12345
HELM_K = 40.0
HELM_K1, HELM_K2, HELM_PHASE = 28.0, 29.0, 0.5
TWO_PI = 2 * np.pi


# ------------------------------------------------------------ problems ---

class Problem:
    """u, f as functions of coordinate arrays: ``u(x, y[, z])``, any shapes."""

    def __init__(self, name, d, u, f, k2, title):
        self.name, self.d, self.u, self.f, self.k2, self.title = name, d, u, f, k2, title

    def u_pts(self, X):
        return self.u(*np.asarray(X).T)

    def f_pts(self, X):
        return self.f(*np.asarray(X).T)


def _p2_u(x, y):
    return np.sin(TWO_PI * x) * np.sin(TWO_PI * y)


def _p2_f(x, y):
    return 2 * TWO_PI ** 2 * _p2_u(x, y)


def _p3_s(x, y, z):
    return np.sin(TWO_PI * x) * np.sin(TWO_PI * y) * np.sin(TWO_PI * z)


def _p3_u(x, y, z):
    return _p3_s(x, y, z) + x


def _p3_f(x, y, z):
    return 3 * TWO_PI ** 2 * _p3_s(x, y, z)


def _h_u(x, y):
    return np.sin(HELM_K1 * x + HELM_PHASE) * np.cos(HELM_K2 * y)


def _h_f(x, y):
    return (HELM_K1 ** 2 + HELM_K2 ** 2 - HELM_K ** 2) * _h_u(x, y)


PROBLEMS = {
    "poisson2d": Problem("poisson2d", 2, _p2_u, _p2_f, 0.0,
                         "2-D Poisson, u = sin(2 pi x) sin(2 pi y)"),
    "poisson3d": Problem("poisson3d", 3, _p3_u, _p3_f, 0.0,
                         "3-D Poisson, u = sin(2 pi x) sin(2 pi y) sin(2 pi z) + x"),
    "helmholtz2d": Problem("helmholtz2d", 2, _h_u, _h_f, HELM_K ** 2,
                           "2-D Helmholtz k = 40, u = sin(28 x + 0.5) cos(29 y), f = 25 u"),
}
ORDER = list(PROBLEMS)


def error_points(d):
    return np.random.default_rng(ERR_SEED).uniform(0.0, 1.0, (N_ERR_POINTS, d))


def rel_l2(values, exact):
    return float(np.linalg.norm(values - exact) / np.linalg.norm(exact))


# -------------------------------------------------------- level picking ---

def fastest_reaching(runs, level):
    """The run with the smallest time among those with error <= level, or None."""
    ok = [r for r in runs if r["error"] <= level]
    return min(ok, key=lambda r: r["time"]) if ok else None


def best_error(runs):
    errs = [r["error"] for r in runs if np.isfinite(r["error"])]
    return min(errs) if errs else float("nan")


def timed(fn, repeats, short_s=1.0):
    """(result of the first call, best wall time); calls again while under short_s."""
    t0 = time.perf_counter()
    out = fn()
    best = time.perf_counter() - t0
    if best < short_s:
        for _ in range(repeats - 1):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    return out, best


# ------------------------------------------------------------------ RFM ---

def rfm_fit(prob, n, J, scale=None):
    """Build and fit the RFM model of ``prob`` (everything inside is timed)."""
    from rankcore.rfm import RFM
    d = prob.d
    m = RFM([(0.0, 1.0)] * d, subdomains=n, features=J, random_state=0, scale=scale)
    if prob.k2 == 0.0:
        return m.fit_poisson(prob.f_pts, prob.u_pts)
    Xi, Xb = m.collocation_points()
    lap = {tuple(2 * int(i == a) for i in range(d)): -1.0 for a in range(d)}
    lap[(0,) * d] = -prob.k2
    return m.fit_linear([(Xi, lap, prob.f_pts(Xi)), (Xb, {(0,) * d: 1.0}, prob.u_pts(Xb))])


def rfm_configs(name, quick):
    if name == "poisson3d":
        ns, Js, scales = ((1, 2), (200, 400), (None,)) if quick else \
            ((1, 2, 3), (200, 300, 400, 600, 900), (None,))
    else:
        ns, Js = ((1, 2), (50, 100, 200)) if quick else \
            ((1, 2, 3, 4), (50, 75, 100, 150, 200, 250, 300, 400))
        scales = (None, 1.0) if name == "helmholtz2d" and not quick else (None,)
    return [(n, J, s) for s in scales for n in ns for J in Js]


def run_rfm(prob, quick, repeats, cap_s, log):
    import warnings
    X = error_points(prob.d)
    ue = prob.u_pts(X)
    runs, last_t = [], {}
    for n, J, s in rfm_configs(prob.name, quick):
        key = (n, s)
        if key in last_t:
            J0, t0 = last_t[key]
            if t0 * (J / J0) ** 3 > cap_s:
                log(f"  RFM n={n} J={J}{_rs(s)}: skipped, predicted "
                    f"{t0 * (J / J0) ** 3:.0f} s > --rfm-cap-s {cap_s:g}")
                continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # ill-conditioning warnings: expected
            m, t = timed(lambda n=n, J=J, s=s: rfm_fit(prob, n, J, s), repeats)
        e = rel_l2(m.predict(X), ue)
        last_t[key] = (J, t)
        cfg = f"n={n} J={J}{_rs(s)}"
        runs.append(dict(time=t, error=e, config=cfg, unknowns=m.n_unknowns_))
        log(f"  RFM {cfg:<18} unknowns {m.n_unknowns_:>6}  {t:9.4f} s  e = {e:.2e}")
    return runs


def _rs(scale):
    return "" if scale is None else f" R={scale:g}"


# ------------------------------------------------------------------ FEM ---

def ensure_skfem(log=print):
    try:
        import skfem  # noqa: F401
    except ImportError:
        log("# scikit-fem is not installed: installing it with pip (a bench-only "
            "dependency, not one of rankcore's)")
        subprocess.run([sys.executable, "-m", "pip", "install", "scikit-fem"], check=True)
    import skfem
    return skfem


_TET_P3 = None


def element_tet_p3():
    """Lagrange P3 on tetrahedra for scikit-fem (which has no ElementTetP3).

    DOFs: the 4 vertices, 2 per edge (at 1/3 and 2/3 along it, the first near
    the edge's first vertex in ``RefTet.edges``) and 1 per face (its
    centroid).  The two edge DOFs are told apart by the edge's direction, so
    the mesh's ``t`` must be sorted per column (``fem_mesh`` does that) for
    neighbouring elements to agree: then every local edge (a, b), a < b, runs
    from the lower to the higher global vertex.
    """
    global _TET_P3
    if _TET_P3 is not None:
        return _TET_P3
    from skfem.element.element_h1 import ElementH1
    from skfem.refdom import RefTet

    verts = np.array([[0., 0., 0.], [1., 0., 0.], [0., 1., 0.], [0., 0., 1.]])
    dofs = [("v", (i,)) for i in range(4)]
    for a, b in RefTet.edges:
        dofs += [("e", (a, b)), ("e", (b, a))]    # near a, then near b
    dofs += [("f", tuple(f)) for f in RefTet.facets]
    locs = []
    for kind, ix in dofs:
        if kind == "v":
            locs.append(verts[ix[0]])
        elif kind == "e":
            locs.append((2 * verts[ix[0]] + verts[ix[1]]) / 3)
        else:
            locs.append(verts[list(ix)].mean(axis=0))
    grads = np.array([[-1., -1., -1.], [1., 0., 0.], [0., 1., 0.], [0., 0., 1.]])

    class ElementTetP3(ElementH1):
        nodal_dofs = 1
        edge_dofs = 2
        facet_dofs = 1
        maxdeg = 3
        dofnames = ["u", "u", "u", "u"]
        doflocs = np.array(locs)
        refdom = RefTet

        def lbasis(self, X, i):
            x, y, z = X
            lam = [1.0 - x - y - z, x, y, z]
            if not 0 <= i < len(dofs):
                self._index_error()
            kind, ix = dofs[i]
            g = [grads[j].reshape((3,) + (1,) * np.ndim(x)) for j in range(4)]
            if kind == "v":
                a = ix[0]
                la = lam[a]
                phi = 0.5 * la * (3 * la - 1) * (3 * la - 2)
                dphi = 0.5 * (27 * la ** 2 - 18 * la + 2) * g[a]
            elif kind == "e":
                a, b = ix
                la, lb = lam[a], lam[b]
                phi = 4.5 * la * lb * (3 * la - 1)
                dphi = 4.5 * (lb * (6 * la - 1) * g[a] + la * (3 * la - 1) * g[b])
            else:
                a, b, c = ix
                la, lb, lc = lam[a], lam[b], lam[c]
                phi = 27.0 * la * lb * lc
                dphi = 27.0 * (lb * lc * g[a] + la * lc * g[b] + la * lb * g[c])
            return phi, dphi

    _TET_P3 = ElementTetP3
    return _TET_P3


def fem_element(d, p):
    import skfem
    if d == 2:
        return {1: skfem.ElementTriP1, 2: skfem.ElementTriP2, 3: skfem.ElementTriP3}[p]()
    if p == 3:
        return element_tet_p3()()
    return {1: skfem.ElementTetP1, 2: skfem.ElementTetP2}[p]()


def fem_mesh(d, N):
    """Tensor mesh of the unit square (cube), N cells per side; tetrahedra sorted."""
    import skfem
    ax = np.linspace(0.0, 1.0, N + 1)
    if d == 2:
        return skfem.MeshTri.init_tensor(ax, ax)       # MeshTri sorts t itself
    m = skfem.MeshTet.init_tensor(ax, ax, ax)
    return skfem.MeshTet(m.p, np.sort(m.t, axis=0))


def fem_ndofs(d, p, N):
    """DOFs of P_p on the N^d tensor mesh (a vertex lattice with spacing 1/(pN))."""
    return (p * N + 1) ** d


def fem_solve(prob, p, mesh):
    """Assemble and solve; returns (basis, solution).  Everything here is timed."""
    import skfem
    from skfem.helpers import dot, grad
    k2, f, u = prob.k2, prob.f, prob.u

    @skfem.BilinearForm
    def a(uu, vv, w):
        return dot(grad(uu), grad(vv)) - k2 * uu * vv if k2 else dot(grad(uu), grad(vv))

    @skfem.LinearForm
    def rhs(vv, w):
        return f(*w.x) * vv

    basis = skfem.Basis(mesh, fem_element(prob.d, p))
    A = a.assemble(basis)
    b = rhs.assemble(basis)
    D = basis.get_dofs().all()
    x = basis.zeros()
    x[D] = u(*basis.doflocs[:, D])
    return basis, skfem.solve(*skfem.condense(A, b, x=x, D=D))


def locate(mesh, N, X):
    """Index of the element holding each point of X (n, d) on a tensor mesh.

    Each grid cell of the N^d tensor mesh holds the same number of simplices;
    a point's candidates are its cell's, and it goes to the one where its
    smallest barycentric coordinate is largest.
    """
    from skfem.mapping import MappingAffine
    d = X.shape[1]
    mapping = MappingAffine(mesh)
    cent = mesh.p[:, mesh.t].mean(axis=1).T                    # (nel, d)
    cid = _cell_ids(cent, N)
    order = np.argsort(cid, kind="stable")
    per = mesh.t.shape[1] // N ** d
    by_cell = order.reshape(N ** d, per)
    cand = by_cell[_cell_ids(X, N)]                            # (n, per)
    best = np.full(len(X), -np.inf)
    out = cand[:, 0].copy()
    for j in range(per):
        R = mapping.invF(X.T[:, :, None], tind=cand[:, j])[:, :, 0]   # (d, n)
        bary = np.vstack([1.0 - R.sum(axis=0), R]).min(axis=0)
        better = bary > best
        best[better] = bary[better]
        out[better] = cand[better, j]
    if best.min() < -1e-10:
        raise RuntimeError("a point was not located in its grid cell")
    return out


def _cell_ids(P, N):
    idx = np.clip(np.floor(P * N).astype(np.int64), 0, N - 1)
    cid = np.zeros(len(P), dtype=np.int64)
    for k in range(P.shape[1]):
        cid = cid * N + idx[:, k]
    return cid


def probe_matrix(basis, N, X):
    """Sparse matrix mapping a solution vector to its values at X (as skfem's probes)."""
    from scipy.sparse import coo_matrix
    cells = locate(basis.mesh, N, X)
    x = X.T
    pts = basis.mapping.invF(x[:, :, None], tind=cells)
    phis = np.array([basis.elem.gbasis(basis.mapping, pts, k, tind=cells)[0]
                     for k in range(basis.Nbfun)]).flatten()
    rows = np.tile(np.arange(x.shape[1], dtype=np.int64), basis.Nbfun)
    cols = basis.element_dofs[:, cells].flatten()
    return coo_matrix((phis, (rows, cols)), shape=(x.shape[1], basis.N)).tocsr()


def fem_error(prob, basis, N, sol, X=None):
    X = error_points(prob.d) if X is None else X
    return rel_l2(probe_matrix(basis, N, X) @ sol, prob.u_pts(X))


def mesh_ladder(d, quick):
    if d == 2:
        return [4, 8, 16] if quick else sorted({int(round(4 * 2 ** (i / 2))) for i in range(19)})
    return [2, 3, 4] if quick else sorted({int(round(2 * 2 ** (i / 3))) for i in range(19)})


def _peak_rss_reset():
    """Reset the kernel's peak-RSS mark of this process (Linux); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _rss_gb(field):
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2 ** 20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def run_fem(prob, p, quick, repeats, cap_s, mem_cap_gb, log):
    X = error_points(prob.d)
    default_exp = 1.5 if prob.d == 2 else 2.0
    runs, ladder = [], mesh_ladder(prob.d, quick)
    for i, N in enumerate(ladder):
        mesh = fem_mesh(prob.d, N)
        base = _rss_gb("VmRSS")
        _peak_rss_reset()
        (basis, sol), t = timed(lambda mesh=mesh: fem_solve(prob, p, mesh), repeats)
        grow = max(_rss_gb("VmHWM") - base, 0.0)
        e = fem_error(prob, basis, N, sol, X)
        runs.append(dict(time=t, error=e, config=f"N={N} dofs={basis.N}", ndofs=basis.N,
                         mem_gb=grow))
        log(f"  FEM P{p} N={N:<4} dofs {basis.N:>8}  {t:9.4f} s  e = {e:.2e}  "
            f"+mem {grow:.2f} GB")
        del basis, sol, mesh
        if e <= min(LEVELS):
            break
        if t > cap_s:
            log(f"  FEM P{p}: stopped, the last solve took {t:.0f} s > --fem-cap-s {cap_s:g}")
            break
        if i + 1 == len(ladder):
            break
        n1 = fem_ndofs(prob.d, p, ladder[i + 1])
        expo = default_exp
        if len(runs) >= 2 and runs[-2]["time"] > 0.05:
            expo = math.log(t / runs[-2]["time"]) / math.log(runs[-1]["ndofs"] / runs[-2]["ndofs"])
            expo = min(max(expo, 1.0), 3.0)
        t_next = t * (n1 / basis_n(runs)) ** expo
        m_next = grow * (n1 / basis_n(runs)) ** 1.5
        if t_next > cap_s:
            log(f"  FEM P{p}: stopped, the next mesh (N={ladder[i + 1]}, {n1} dofs) would take "
                f"about {t_next:.0f} s > --fem-cap-s {cap_s:g}")
            break
        if m_next > mem_cap_gb:
            log(f"  FEM P{p}: stopped, the next mesh (N={ladder[i + 1]}, {n1} dofs) would need "
                f"about {m_next:.1f} GB > --mem-cap-gb {mem_cap_gb:g}")
            break
    return runs


def basis_n(runs):
    return runs[-1]["ndofs"]


# ---------------------------------------------------------------- table ---

def cell(run, runs):
    if run is None:
        return f"not reached (best e={best_error(runs):.1e})"
    return f"{run['time']:.4f} s  {run['config']}"


def table(prob, results):
    """Lines of the summary table: method x level, then the ratio row."""
    w = 40
    lines = [f"{'method':<8}" + "".join(f" | {'rel L2 <= %.0e' % lv:<{w}}" for lv in LEVELS),
             "-" * (8 + len(LEVELS) * (w + 3))]
    for meth, runs in results.items():
        lines.append(f"{meth:<8}" + "".join(f" | {cell(fastest_reaching(runs, lv), runs):<{w}}"
                                           for lv in LEVELS))
    ratio = []
    for lv in LEVELS:
        r = fastest_reaching(results["RFM"], lv)
        fem = [x for x in (fastest_reaching(v, lv) for k, v in results.items() if k != "RFM")
               if x is not None]
        if r is None and not fem:
            ratio.append("neither reached")
        elif r is None:
            ratio.append("RFM not reached")
        elif not fem:
            ratio.append("no FEM order reached")
        else:
            best = min(fem, key=lambda x: x["time"])
            ratio.append(f"{best['time'] / r['time']:.1f}x")
    lines.append(f"{'FEM/RFM':<8}" + "".join(f" | {x:<{w}}" for x in ratio))
    return [line.rstrip() for line in lines]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="reduced sweeps (smoke test)")
    ap.add_argument("--only", action="append", choices=ORDER, help="run only this problem")
    ap.add_argument("--threads", type=int, default=2,
                    help="BLAS/OpenMP/numba threads (set before numpy is imported)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of a configuration under 1 s; the best time is kept")
    ap.add_argument("--fem-cap-s", type=float, default=60.0,
                    help="largest FEM solve time (s) the mesh sweep goes to")
    ap.add_argument("--rfm-cap-s", type=float, default=60.0,
                    help="skip RFM configurations predicted to take longer (s)")
    ap.add_argument("--mem-cap-gb", type=float, default=8.0,
                    help="stop a FEM sweep before a mesh predicted to need more memory")
    ap.add_argument("--orders", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3],
                    help="FEM polynomial orders")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.repeats < 1:
        ap.error("--threads and --repeats must be positive")
    skfem = ensure_skfem()
    import importlib.metadata as md
    import scipy
    print(f"# bench/rfm_fem.py  loadavg {tuple(round(v, 2) for v in os.getloadavg())}  "
          f"cpus {os.cpu_count()}  threads {args.threads} (BLAS, numba; SuperLU is "
          f"single-threaded)  quick={args.quick}")
    print(f"# rankcore {md.version('rankcore')}, numpy {np.__version__}, scipy "
          f"{scipy.__version__}, scikit-fem {md.version('scikit-fem')}; caps: FEM solve "
          f"{args.fem_cap_s:g} s, memory {args.mem_cap_gb:g} GB, RFM fit {args.rfm_cap_s:g} s",
          flush=True)
    del skfem

    def log(s):
        print(s, flush=True)

    # one tiny fit of each kind first: rankcore's compiled kernels, scipy/skfem imports
    rfm_fit(PROBLEMS["poisson2d"], 1, 20)
    rfm_fit(PROBLEMS["helmholtz2d"], 1, 20)
    for name in ("poisson2d", "poisson3d"):
        for p in (1, 2, 3):
            fem_solve(PROBLEMS[name], p, fem_mesh(PROBLEMS[name].d, 2))
    t_all = time.perf_counter()
    for name in args.only or ORDER:
        prob = PROBLEMS[name]
        t_prob = time.perf_counter()
        print(f"\n## {prob.title}  (loadavg {os.getloadavg()[0]:.2f})", flush=True)
        results = {"RFM": run_rfm(prob, args.quick, args.repeats, args.rfm_cap_s, log)}
        for p in args.orders:
            results[f"FEM P{p}"] = run_fem(prob, p, args.quick, args.repeats, args.fem_cap_s,
                                           args.mem_cap_gb, log)
        print(f"\n{prob.title}: seconds to reach each level (fastest configuration that "
              f"reaches it; {time.perf_counter() - t_prob:.0f} s for this problem, loadavg "
              f"{os.getloadavg()[0]:.2f})")
        for line in table(prob, results):
            print(line)
    print(f"\n# total {time.perf_counter() - t_all:.0f} s; loadavg at the end "
          f"{tuple(round(v, 2) for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
