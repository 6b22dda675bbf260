"""RFM at scale: which least-squares method, and how far it goes on one machine.

    python bench/rfm_scale.py                 # everything (long on a busy machine)
    python bench/rfm_scale.py --section solvers
    python bench/rfm_scale.py --section scale2d --max-unknowns 20000
    python bench/rfm_scale.py --section scale3d
    python bench/rfm_scale.py --section peer  # pyrfm 0.4.2 on the same problems
    python bench/rfm_scale.py --section epsrank  # RFM.eps_rank against the dense route
    python bench/rfm_scale.py --section prune    # prune_eps against unpruned bases
    python bench/rfm_scale.py --section goals [--big]  # the scale goal cases, with the
                                                 # code before the change side by side
    python bench/rfm_scale.py --section jobs     # the goal cases with n_jobs=2
    python bench/rfm_scale.py --section dask     # solver="dask": 1 worker against 2

Problem: -Laplace u = f on the unit square (cube), u = g on the boundary,
u = sin(2 pi x) sin(2 pi y) (sin(pi x) sin(pi y) sin(pi z) in 3-D), collocation
on rankcore's default grid (about twice as many equations as unknowns), error
= relative L2 on 20000 random points.

The 3-D goal cases use u = sin(2 pi x) sin(2 pi y) sin(2 pi z) + x.  Rows of
``--section goals/scale2d/dask`` add the per-phase seconds of ``RFM.timings_``
(rows: row assembly; front asm: symbolic analysis and scattering rows into
fronts; priv QR: per-cell reduction of private rows; front QR; back: back
substitution; cond: condition estimate; resid: the residual product; floor:
the rounding-floor check); the code before the change has no ``timings_``
and shows its assembly and solve times only.

Every row runs in a fresh subprocess: "peak GB" is its ``ru_maxrss``, "wall s"
the elapsed time of assembly plus solve and "cpu s" the CPU time the process
used (all its BLAS threads).  On a shared machine the CPU time is the better
measure of the work; the load average is printed beside each table.

Solvers compared on one system (``--section solvers``):

* ``multifrontal`` -- Householder QR in nested-dissection order
  (``solver="multifrontal"``, rankcore.rfm.multifrontal);
* ``banded`` -- the one-sweep block Householder QR (``solver="banded"``);
* ``dense`` -- LAPACK Householder QR of the whole matrix (``solver="dense"``);
* ``lsmr`` -- scipy LSMR with unit column scaling (``solver="lsmr"``);
* ``lsmr+blockQR`` -- LSMR on ``A P`` with the right preconditioner
  ``P = blockdiag(R_n^-1)``, ``R_n`` the column-pivoted QR factor of cell
  n's block column truncated at ``1e-12`` relative (this script);
* ``normal eq.`` -- Cholesky of ``A^T A`` (dense LAPACK; this script);
* ``normal eq. sparse`` -- SuperLU on the sparse ``A^T A`` (this script).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)
ROOT = os.path.dirname(os.path.dirname(HERE))


def _u(np, d, kind=None):
    if kind == "2pi+x":   # the 3-D problem of the accuracy goal: two periods plus x
        def u(X):
            return np.prod(np.sin(2 * np.pi * X), axis=1) + X[:, 0]
        k2 = 3 * (2 * np.pi) ** 2
        return u, (lambda X: k2 * (u(X) - X[:, 0]))
    if d == 2:
        def u(X):
            return np.sin(2 * np.pi * X[:, 0]) * np.sin(2 * np.pi * X[:, 1])
        k2 = 8 * np.pi ** 2
    else:
        def u(X):
            return np.prod(np.sin(np.pi * X), axis=1)
        k2 = 3 * np.pi ** 2
    return u, (lambda X: k2 * u(X))


def _error(np, m, u, d):
    X = np.random.default_rng(12345).uniform(0, 1, (20000, d))
    return float(np.linalg.norm(m.predict(X) - u(X)) / np.linalg.norm(u(X)))


def _system(model, f, u):
    """The row-scaled system that fit_poisson solves, in pair storage."""
    import numpy as np
    from rankcore.rfm import assembly as asm
    from rankcore.rfm.equations import normalize_blocks

    d = model.box_.shape[0]
    Xi, Xb = model.collocation_points()
    lap = {tuple(2 * int(i == a) for i in range(d)): -1.0 for a in range(d)}
    blocks = normalize_blocks([(Xi, lap, f), (Xb, {(0,) * d: 1.0}, u)], d, 1,
                              model._check_points)
    systems = [asm.linear_rows(model.basis_, b, 1) for b in blocks]
    return asm.stack(systems) + (np,)


def _lsmr_block(rows, blocks, vals, rhs, n_rows, nb, tol=1e-12):
    import numpy as np
    import scipy.linalg as sla
    from scipy.sparse.linalg import LinearOperator, lsmr
    from rankcore.rfm.lstsq import to_csr

    J = vals.shape[1]
    A = to_csr(rows, blocks, vals, n_rows, nb).tocsc()
    facs, cols = [], []
    for n in range(nb):
        An = A[:, n * J:(n + 1) * J]
        D = An[np.unique(An.indices)].toarray()
        _, R, P = sla.qr(D, mode="economic", pivoting=True)
        dg = np.abs(np.diag(R))
        r = int(np.sum(dg > tol * dg[0]))
        facs.append(R[:r, :r])
        cols.append(n * J + P[:r])
    cols = np.concatenate(cols)
    off = np.concatenate([[0], np.cumsum([R.shape[0] for R in facs])])
    Ak = A[:, cols].tocsr()
    AkT = Ak.T.tocsr()

    def pre(y, trans=False):
        z = np.empty_like(y)
        for k, R in enumerate(facs):
            z[off[k]:off[k + 1]] = sla.solve_triangular(
                R, y[off[k]:off[k + 1]], trans="T" if trans else "N", check_finite=False)
        return z

    op = LinearOperator((n_rows, off[-1]), matvec=lambda y: Ak @ pre(y),
                        rmatvec=lambda r: pre(AkT @ r, trans=True))
    out = lsmr(op, rhs, atol=1e-15, btol=1e-15, conlim=1e20, maxiter=20 * off[-1])
    x = np.zeros(nb * J)
    x[cols] = pre(out[0])
    return x.reshape(nb, J), int(out[2])


def _normal_equations(rows, blocks, vals, rhs, n_rows, nb, sparse):
    import numpy as np
    import scipy.linalg as sla
    from rankcore.rfm.lstsq import to_csr

    J = vals.shape[1]
    A = to_csr(rows, blocks, vals, n_rows, nb)
    if sparse:
        from scipy.sparse.linalg import splu
        x = splu((A.T @ A).tocsc()).solve(A.T @ rhs)
    else:
        G = (A.T @ A).toarray()
        c, low = sla.cho_factor(G, check_finite=False)
        x = sla.cho_solve((c, low), A.T @ rhs, check_finite=False)
    return x.reshape(nb, J)


def worker(cfg):
    import numpy as np
    import rankcore  # noqa: F401 - imports before the base measurement
    from rankcore import RFM

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    d = cfg["d"]
    u, f = _u(np, d, cfg.get("u"))
    box = [(0.0, 1.0)] * d
    method = cfg["method"]
    if method.startswith("dask-"):
        return worker_dask(cfg, u, f, box, base)
    jobs = None
    if method.startswith("multifrontal-j"):   # subtrees in parallel processes (n_jobs)
        method, jobs = "multifrontal", int(method.split("-j")[1])
    lib = method if method in ("banded", "multifrontal", "dense", "lsmr") else "banded"
    c0, t0 = time.process_time(), time.perf_counter()
    m = RFM(box, subdomains=cfg["sub"], features=cfg["J"], random_state=0, solver=lib,
            scale=cfg.get("scale"), n_jobs=jobs)
    extra = ""
    if lib == method:
        m.fit_poisson(f, u)
        n_eq = m.n_equations_
    else:
        m._setup()
        rows, blocks, vals, rhs, n_rows, _ = _system(m, f, u)
        n_eq = n_rows
        if method == "lsmr+blockQR":
            coef, its = _lsmr_block(rows, blocks, vals, rhs, n_rows, m.n_subdomains_)
            extra = f"{its} iterations"
        else:
            coef = _normal_equations(rows, blocks, vals, rhs, n_rows, m.n_subdomains_,
                                     method == "normal eq. sparse")
        m.coef_ = coef
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)   # n_jobs' worker processes
    if jobs:
        cpu += kids.ru_utime + kids.ru_stime
        extra = f"CPU s includes the {jobs} worker processes; their peak {kids.ru_maxrss / 1e6:.2f} GB"
    return dict(err=_error(np, m, u, d), wall=wall, cpu=cpu, n=m.n_unknowns_, n_eq=n_eq,
                peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                base=base, extra=extra, timings=getattr(m, "timings_", None),
                asm=getattr(m, "assembly_time_", None), solve=getattr(m, "solve_time_", None))


def worker_dask(cfg, u, f, box, base):
    """The same fit with solver="dask" on a LocalCluster of cfg["workers"] workers."""
    import numpy as np
    from distributed import Client, LocalCluster
    from rankcore import RFM

    n_workers = int(cfg["method"].split("-")[1])
    env = {k: str(cfg["threads"]) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                             "MKL_NUM_THREADS")}
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      memory_limit=0, dashboard_address=":0", env=env) as lc, \
            Client(lc) as client:
        client.wait_for_workers(n_workers)
        start = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6)
        c0, t0 = time.process_time(), time.perf_counter()
        m = RFM(box, subdomains=cfg["sub"], features=cfg["J"], random_state=0,
                solver="dask").fit_poisson(f, u)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6)
    worker_peaks = sorted(peaks.values(), reverse=True)
    return dict(err=_error(np, m, u, cfg["d"]), wall=wall, cpu=cpu, n=m.n_unknowns_,
                n_eq=m.n_equations_, peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                base=base, timings=m.timings_, worker_peaks=worker_peaks,
                worker_start=sorted(start.values(), reverse=True),
                extra="worker peaks GB " + ", ".join(f"{p:.2f}" for p in worker_peaks))


def worker_pyrfm(cfg):
    import numpy as np
    import torch
    import pyrfm

    torch.set_num_threads(cfg["threads"])
    torch.set_default_dtype(torch.float64)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    u, f = _u(torch, 2)
    n = cfg["sub"] * cfg["pts"]
    c0, t0 = time.process_time(), time.perf_counter()
    model = pyrfm.RFMBase(dim=2, n_hidden=cfg["J"], domain=[0, 1, 0, 1],
                          n_subdomains=cfg["sub"], pou=pyrfm.PsiB, rf=pyrfm.RFTanH,
                          dtype=torch.float64, seed=100)
    xin = model.domain.in_sample((n, n), with_boundary=False)
    xb = model.domain.on_sample(4 * n)
    A = torch.cat([-(model.features_second_derivative(xin, 0, 0).cat(dim=1)
                     + model.features_second_derivative(xin, 1, 1).cat(dim=1)),
                   model.features(xb).cat(dim=1)])
    model.compute(A, verbose=False)
    model.solve(torch.cat([f(xin), u(xb)]).reshape(-1, 1))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    X = torch.tensor(np.random.default_rng(12345).uniform(0, 1, (20000, 2)))
    e = (model(X).reshape(-1) - u(X)).numpy()
    return dict(err=float(np.linalg.norm(e) / np.linalg.norm(u(X).numpy())), wall=wall,
                cpu=cpu, n=int(A.shape[1]), n_eq=int(A.shape[0]),
                peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                base=base, extra="pyrfm QR")


def run(cfg, threads, timeout, root=ROOT):
    """Run one configuration in a fresh process importing rankcore from ``root``."""
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    cfg = dict(cfg, threads=threads)
    try:
        p = subprocess.run([sys.executable, HERE, "--worker", json.dumps(cfg)],
                           capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {timeout} s"}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (p.stderr.strip().splitlines() or ["no output"])[-1][:100]}


HEAD = (f"| {'method':<18} | {'grid':>8} | {'J':>4} | {'unknowns':>8} | {'equations':>9} | "
        f"{'wall s':>7} | {'cpu s':>7} | {'peak GB':>7} | {'rel L2':>8} | note |")


def row(method, cfg, r):
    grid = "x".join([str(cfg["sub"])] * cfg["d"]) + (f" R={cfg['scale']}" if cfg.get("scale") else "")
    if "error" in r:
        return f"| {method:<18} | {grid:>8} | {cfg['J']:>4} | {'':>8} | {'':>9} | " \
               f"{'':>7} | {'':>7} | {'':>7} | {'':>8} | {r['error']} |"
    return (f"| {method:<18} | {grid:>8} | {cfg['J']:>4} | {r['n']:>8} | {r['n_eq']:>9} | "
            f"{r['wall']:>7.1f} | {r['cpu']:>7.1f} | {r['peak']:>7.2f} | {r['err']:>8.1e} | "
            f"{r['extra']} |")


def table(title, items, threads, timeout):
    print(f"\n### {title}  (load average {os.getloadavg()[0]:.1f}, {threads} BLAS threads)\n")
    print(HEAD)
    print("|" + "---|" * 10)
    for method, cfg in items:
        print(row(method, cfg, run(dict(cfg, method=method), threads, timeout)), flush=True)


PHASES = ("row assembly", "front assembly", "private QR", "front QR", "back substitution",
          "condition estimate", "residual", "rounding floor")


def phase_table(title, items, threads, timeout):
    """Like :func:`table`, with the per-phase seconds of ``RFM.timings_``.

    ``items``: (label, method, cfg, root) -- root is the source tree to
    import rankcore from (the code before a change, from a git worktree).
    """
    print(f"\n### {title}  (load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}, "
          f"{threads} BLAS threads, {os.cpu_count()} cores)\n")
    short = {"row assembly": "rows", "front assembly": "front asm", "private QR": "priv QR",
             "front QR": "front QR", "back substitution": "back", "condition estimate": "cond",
             "residual": "resid", "rounding floor": "floor"}
    print("| code | grid x J | unknowns | wall s | cpu s | peak GB | rel L2 | "
          + " | ".join(short[p] for p in PHASES) + " | note |")
    print("|" + "---|" * (8 + len(PHASES)))
    out = []
    for label, method, cfg, root in items:
        r = run(dict(cfg, method=method), threads, timeout, root=root)
        out.append(r)
        grid = "x".join([str(cfg["sub"])] * cfg["d"]) + f" x {cfg['J']}"
        if "error" in r:
            print(f"| {label} | {grid} | | | | | | " + " | " * len(PHASES) + f"{r['error']} |")
            continue
        t = r.get("timings") or {}
        ph = " | ".join(f"{t[p]:.2f}" if p in t else "-" for p in PHASES)
        if not t and r.get("solve") is not None:   # code without timings_
            ph = f"{r['asm']:.2f} | - | - | {r['solve']:.2f} (solve) | - | - | - | -"
        note = r.get("extra", "")
        print(f"| {label} | {grid} | {r['n']} | {r['wall']:.1f} | {r['cpu']:.1f} | "
              f"{r['peak']:.2f} | {r['err']:.1e} | {ph} | {note} |", flush=True)
    return out


def before_tree(ref):
    """A git worktree of ``ref`` (the code before a change), made once under /tmp."""
    path = os.path.join("/tmp", f"rankcore-before-{ref}")
    if not os.path.isdir(path):
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", path, ref],
                       check=True, capture_output=True)
    return path


def epsrank_table(threads):
    """RFM.eps_rank (block-sparse inertia) against gram + spectrum + eps_rank."""
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    import numpy as np
    import rankcore
    from rankcore import RFM
    from rankcore.quadrature import composite_gauss_legendre

    eps = [1e-4, 1e-8, 1e-12]
    print(f"\n### eps-rank of a 4x4 x 300 basis (4800 features), 80x80 Gauss points "
          f"(load average {os.getloadavg()[0]:.1f}, {threads} BLAS thread(s))\n")
    print("| pou | route | wall s | cpu s | eps-rank at 1e-4, 1e-8, 1e-12 |")
    print("|---|---|---|---|---|")
    for pou in ("b", "a"):
        m = RFM([(0, 1), (0, 1)], subdomains=4, features=300, pou=pou, random_state=0)
        m.fit_function(lambda X: np.sin(X[:, 0]) * X[:, 1])
        q = composite_gauss_legendre([(0, 1), (0, 1)], 8, 10)
        m.eps_rank(1e-4, composite_gauss_legendre([(0, 1), (0, 1)], 2, 3))  # compile
        for route in ("RFM.eps_rank", "dense"):
            c0, t0 = time.process_time(), time.perf_counter()
            if route == "dense":
                lam = rankcore.spectrum(rankcore.gram(m.feature_matrix(q.points), q.weights))
                r = rankcore.eps_rank(lam, eps)
            else:
                r = m.eps_rank(eps, q)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"| {pou} | {route} | {wall:.2f} | {cpu:.2f} | {r.tolist()} |", flush=True)


def prune_table(threads):
    """Pruned bases (prune_eps) against unpruned ones of the same and full size."""
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    import numpy as np
    from rankcore import RFM

    u, f = _u(np, 2)
    print(f"\n### prune_eps: 2-D Poisson, 4x4 cells, 20x20 points per cell "
          f"(load average {os.getloadavg()[0]:.1f}, {threads} BLAS thread(s))\n")
    print("| basis | features per cell | unknowns | wall s | cpu s | rel L2 |")
    print("|---|---|---|---|---|---|")

    def one(label, J, prune):
        c0, t0 = time.process_time(), time.perf_counter()
        m = RFM([(0, 1), (0, 1)], subdomains=4, features=J, random_state=0,
                prune_eps=prune, solver="multifrontal").fit_poisson(f, u, points=20)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        k = getattr(m, "features_", J)
        print(f"| {label} | {k} | {m.n_unknowns_} | {wall:.2f} | {cpu:.2f} | "
              f"{_error(np, m, u, 2):.1e} |", flush=True)
        return k

    one("all 200", 200, None)
    for pe in (1e-20, 1e-24, 1e-28):
        k = one(f"200 pruned at {pe:g}", 200, pe)
        one(f"{k} unpruned", k, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--section", choices=["solvers", "scale2d", "scale3d", "peer", "epsrank",
                                          "prune", "goals", "jobs", "dask", "all"],
                    default="all")
    ap.add_argument("--before", default="005c7a7",
                    help="git revision of the code before the change, run side by side on "
                         "the 1e5 case of --section goals (a worktree under /tmp)")
    ap.add_argument("--dask-sub", type=int, default=32,
                    help="--section dask: cells per dimension (100 features per cell)")
    ap.add_argument("--big", action="store_true",
                    help="--section goals: also the 409,600-unknown 2-D case")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--max-unknowns", type=float, default=4.1e5)
    ap.add_argument("--subs", default="7,10,14,22,32,45,64",
                    help="cells per dimension of the 2-D series (100 features per cell)")
    ap.add_argument("--scale", type=float, default=None,
                    help="feature scale R of the 3-D series (default: the library's)")
    ap.add_argument("--worker")
    args = ap.parse_args()
    if args.worker:
        cfg = json.loads(args.worker)
        out = worker_pyrfm(cfg) if cfg["method"] == "pyrfm" else worker(cfg)
        print("RESULT " + json.dumps(out))
        return
    sec = args.section
    big = args.max_unknowns
    if sec in ("goals", "all"):
        old = before_tree(args.before)
        c2 = dict(d=2, sub=32, J=100)
        items = [(f"before ({args.before})", "multifrontal", c2, old),
                 ("this code", "multifrontal", c2, ROOT)]
        if args.big:
            items.append(("this code", "multifrontal", dict(d=2, sub=64, J=100), ROOT))
        items += [("this code", "multifrontal", dict(d=3, sub=3, J=900, u="2pi+x"), ROOT),
                  ("this code", "multifrontal", dict(d=3, sub=4, J=600, u="2pi+x"), ROOT)]
        phase_table("Scale goals: 2-D Poisson (sin 2pi x sin 2pi y) and "
                    "3-D Poisson (sin 2pi x sin 2pi y sin 2pi z + x), default points and scale",
                    items, args.threads, args.timeout)
    if sec in ("jobs", "all"):
        c2, c3 = dict(d=2, sub=32, J=100), dict(d=3, sub=3, J=900, u="2pi+x")
        phase_table("Scale goals with n_jobs=2 (two processes with one BLAS thread each "
                    "factor the subtrees; the top separators with the BLAS threads given)",
                    [("n_jobs=2", "multifrontal-j2", c2, ROOT),
                     ("n_jobs=2", "multifrontal-j2", c3, ROOT)], args.threads, args.timeout)
    if sec in ("dask", "all"):
        cfg = dict(d=2, sub=args.dask_sub, J=100)
        phase_table(f"solver='dask' on a LocalCluster (threads_per_worker=1, "
                    f"{args.threads} BLAS thread(s) per worker): 1 worker against 2",
                    [("dask, 1 worker", "dask-1", cfg, ROOT),
                     ("dask, 2 workers", "dask-2", cfg, ROOT)], args.threads, args.timeout)
    if sec in ("epsrank", "all"):
        epsrank_table(args.threads)
    if sec in ("prune", "all"):
        prune_table(args.threads)
    if sec in ("solvers", "all"):
        cfg = dict(d=2, sub=6, J=100)
        table("Solvers on one system: 2-D Poisson, 6x6 cells x 100 features",
              [(mth, cfg) for mth in ("multifrontal", "banded", "dense", "lsmr",
                                      "lsmr+blockQR", "normal eq.", "normal eq. sparse")],
              args.threads, args.timeout)
    if sec in ("scale2d", "all"):
        items = [("this code", "multifrontal", dict(d=2, sub=sub, J=100), ROOT)
                 for sub in (int(v) for v in args.subs.split(",")) if sub * sub * 100 <= big]
        phase_table("2-D scale series: Poisson, 100 features per cell, multifrontal QR",
                    items, args.threads, args.timeout)
    if sec in ("scale3d", "all"):
        items = [("multifrontal", dict(d=3, sub=4, J=80)),
                 ("multifrontal", dict(d=3, sub=8, J=60))]
        if big < 3e4:
            items = items[:1]
        if args.scale is not None:
            items = [(mth, dict(cfg, scale=args.scale)) for mth, cfg in items]
        table("3-D Poisson (sin pi x sin pi y sin pi z)", items, args.threads, args.timeout)
    if sec in ("peer", "all"):
        items = []
        for sub, J, pts in ((4, 150, 18), (7, 100, 15)):
            cfg = dict(d=2, sub=sub, J=J, pts=pts)
            items += [("pyrfm", cfg), ("multifrontal", cfg), ("banded", cfg)]
        table("pyrfm 0.4.2 (dense QR, torch float64) on the same problem", items,
              args.threads, args.timeout)


if __name__ == "__main__":
    main()
