"""Benchmark: strong RRQR row selection against scipy's pivoted QR.

Run ``python bench/subset.py`` (about a minute on an idle 2-core machine) or
``python bench/subset.py --quick``.  Three tables:

1. ``select_rows(V, "srrqr", f=1)`` (start "qrcp", the default, and "lu") next to ``scipy.linalg.qr(V.T,
   mode="r", pivoting=True)`` in the same run, n = 2000 and k in
   {50, 200, 1000}, for a Haar-random V and for the top-k eigenvectors of a
   tanh-feature Gram matrix: best-of-R wall time, swaps, sigma_min achieved,
   and the Hong--Pan bound 1/sqrt(k(n-k)+1) (the srrqr bound for f = 1).
   srrqr's time includes the orthonormality check and its pivoted-QR start;
   neither time includes computing sigma_min (an SVD done afterwards).
2. Kahan-type orthonormal bases (``rankcore.subset.kahan_basis``) on which
   pivoted QR misses the Hong--Pan bound and srrqr meets it.
3. The Numba swap kernel against the same rank-one update loop in NumPy,
   from a deliberately bad start (the first k rows) so that there are many
   swaps.
4. Forming the interpolation matrix by a triangular solve or by an explicit
   inverse and one GEMM.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _parse(argv=None):
    ap = argparse.ArgumentParser(description="strong RRQR vs pivoted QR")
    ap.add_argument("--quick", action="store_true", help="short run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads (default 1: on a loaded shared machine "
                         "multi-threaded OpenBLAS timings are erratic); the "
                         "Numba kernel is single-threaded either way")
    return ap.parse_args(argv)


ARGS = _parse() if __name__ == "__main__" else _parse([])
# BLAS reads these when numpy is first imported, so they are set before it.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = str(ARGS.threads)

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.linalg  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from rankcore import hong_pan_bound, select_rows  # noqa: E402
from rankcore import _subset_kernels as kern  # noqa: E402
from rankcore.subset import SWAP_SLACK, _interp, kahan_basis  # noqa: E402


def best_of(fn, reps):
    """Best wall time of ``reps`` runs, more for fast calls (best of >= 0.5 s)."""
    t = time.perf_counter()
    out = fn()
    times = [time.perf_counter() - t]
    reps = max(reps, min(100, int(0.5 / max(times[0], 1e-6))))
    for _ in range(reps - 1):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def sigma_min(V, idx):
    return float(scipy.linalg.svdvals(V[idx])[-1])


def haar(n, k, seed):
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((n, k)))[0]


def tanh_eigvecs(n, kmax, seed):
    """Top-kmax eigenvectors (descending) of the Gram matrix of n tanh neurons."""
    rng = np.random.default_rng(seed)
    x, w = np.polynomial.legendre.leggauss(3000)
    a = rng.uniform(-30, 30, n)
    b = rng.uniform(-1, 1, n) * np.abs(a)
    Phi = np.tanh(np.outer(x, a) + b)
    M = Phi.T @ (w[:, None] * Phi)
    _, Q = scipy.linalg.eigh(M, subset_by_index=[n - kmax, n - 1])
    return np.ascontiguousarray(Q[:, ::-1])


def numpy_swaps(C, rest, sel, threshold, max_swaps):
    """The kernel's algorithm with NumPy array operations (reference)."""
    swaps = 0
    while swaps < max_swaps:
        flat = int(np.argmax(np.abs(C)))
        j, p = divmod(flat, C.shape[1])
        piv = C[j, p]
        if abs(piv) <= threshold:
            break
        u = C[j] / piv
        u[p] -= 1.0 / piv
        C -= np.outer(C[:, p], u)
        C[j] = -u
        C[j, p] += 1.0
        sel[p], rest[j] = rest[j], sel[p]
        swaps += 1
    return swaps


def table_speed(ks, n, reps, seed):
    print(f"\n1. srrqr (f = 1) vs scipy pivoted QR, n = {n}; times best of >= {reps} runs (more for fast calls)")
    hdr = (f"{'V':>10} {'k':>5} {'t_qrcp[s]':>10} {'t_srrqr[s]':>11} {'ratio':>6} "
           f"{'swaps':>6} {'t_lu[s]':>8} {'ratio':>6} {'swaps':>6} {'smin_qrcp':>10} "
           f"{'smin_srrqr':>11} {'smin_lu':>10} {'bound':>10} {'qrcp ok':>8} {'srrqr ok':>9}")
    print(hdr)
    print("-" * len(hdr))
    t = time.perf_counter()
    Qt = tanh_eigvecs(n, max(ks), seed)
    print(f"(tanh eigenvectors: eigh of a {n}x{n} Gram took {time.perf_counter() - t:.1f} s)")
    ratios, ratios_lu = [], []
    for family in ("haar", "tanh-eig"):
        for k in ks:
            V = haar(n, k, seed + k) if family == "haar" else np.ascontiguousarray(Qt[:, :k])
            tq, (_, piv) = best_of(lambda: scipy.linalg.qr(
                V.T, mode="r", pivoting=True, check_finite=False), reps)
            ts, res = best_of(lambda: select_rows(V, "srrqr", f=1.0), reps)
            tl, rl = best_of(lambda: select_rows(V, "srrqr", f=1.0, start="lu"), reps)
            sq = sigma_min(V, piv[:k])
            hp = hong_pan_bound(n, k)
            ratios.append(ts / tq)
            ratios_lu.append(tl / tq)
            ok = res.sigma_min >= res.bound and rl.sigma_min >= rl.bound
            print(f"{family:>10} {k:5d} {tq:10.3f} {ts:11.3f} {ts / tq:6.2f} "
                  f"{res.swaps:6d} {tl:8.3f} {tl / tq:6.2f} {rl.swaps:6d} {sq:10.3e} "
                  f"{res.sigma_min:11.3e} {rl.sigma_min:10.3e} {hp:10.3e} "
                  f"{str(sq >= hp):>8} {str(ok):>9}")
    print(f"max ratio t_srrqr / t_qrcp: start='qrcp' {max(ratios):.2f}, "
          f"start='lu' {max(ratios_lu):.2f} (goal <= 3)")


def table_kahan(cases, reps):
    print("\n2. Kahan-type orthonormal bases (rankcore.subset.kahan_basis): pivoted QR "
          "misses the Hong-Pan bound")
    hdr = (f"{'k':>4} {'c':>5} {'n':>6} {'HP bound':>10} {'smin_qrcp':>10} "
           f"{'qrcp/HP':>8} {'smin_srrqr':>11} {'srrqr/HP':>9} {'swaps':>6} "
           f"{'t_qrcp[s]':>10} {'t_srrqr[s]':>11}")
    print(hdr)
    print("-" * len(hdr))
    for k, c in cases:
        V = kahan_basis(k, c)
        n = V.shape[0]
        tq, q = best_of(lambda: select_rows(V, "qrcp"), reps)
        ts, s = best_of(lambda: select_rows(V, "srrqr"), reps)
        hp = hong_pan_bound(n, k)
        print(f"{k:4d} {c:5.2f} {n:6d} {hp:10.3e} {q.sigma_min:10.3e} "
              f"{q.sigma_min / hp:8.3f} {s.sigma_min:11.3e} {s.sigma_min / hp:9.2f} "
              f"{s.swaps:6d} {tq:10.4f} {ts:11.4f}")


def table_kernel(ks, n, seed):
    print(f"\n3. swap loop: Numba kernel vs NumPy rank-one updates, n = {n}, start = "
          f"first k rows")
    hdr = f"{'k':>5} {'swaps':>6} {'numba[s]':>9} {'numpy[s]':>9} {'speedup':>8} {'same rows':>10}"
    print(hdr)
    print("-" * len(hdr))
    thr = 1.0 + SWAP_SLACK
    for k in ks:
        V = haar(n, k, seed + 7 * k)
        sel0 = np.arange(k, dtype=np.int64)
        rest0, C0 = _interp(V, sel0)
        kern.maxvol_swaps(C0[:4, :2].copy(), rest0[:4].copy(), sel0[:2].copy(), thr, 1)
        C1, r1, s1 = C0.copy(), rest0.copy(), sel0.copy()
        t = time.perf_counter()
        n1, _ = kern.maxvol_swaps(C1, r1, s1, thr, 10 ** 6)
        t1 = time.perf_counter() - t
        C2, r2, s2 = C0.copy(), rest0.copy(), sel0.copy()
        t = time.perf_counter()
        n2 = numpy_swaps(C2, r2, s2, thr, 10 ** 6)
        t2 = time.perf_counter() - t
        same = np.array_equal(np.sort(s1), np.sort(s2))
        print(f"{k:5d} {n1:6d} {t1:9.3f} {t2:9.3f} {t2 / t1:8.1f} {str(same):>10}"
              + ("" if n1 == n2 else f"  (numpy swaps {n2})"))


def table_formation(ks, n, reps, seed):
    print(f"\n4. forming C = V[rest] inv(V[sel]) after pivoted QR, n = {n}: triangular "
          f"solve vs explicit inverse + GEMM (the code uses GEMM when n - k >= 4k)")
    hdr = f"{'k':>5} {'trsm[ms]':>9} {'inv+gemm[ms]':>13} {'speedup':>8} {'max diff':>9}"
    print(hdr)
    print("-" * len(hdr))
    for k in ks:
        V = haar(n, k, seed + 3 * k)
        R, _ = scipy.linalg.qr(V.T, mode="r", pivoting=True)
        t1, X1 = best_of(lambda: scipy.linalg.solve_triangular(
            R[:, :k], R[:, k:], check_finite=False).T, reps)
        t2, X2 = best_of(lambda: R[:, k:].T @ np.triu(
            scipy.linalg.lapack.dtrtri(R[:, :k], lower=0)[0]).T, reps)
        print(f"{k:5d} {t1 * 1e3:9.2f} {t2 * 1e3:13.2f} {t1 / t2:8.2f} "
              f"{np.max(np.abs(X1 - X2)):9.1e}")


def main(args):
    print(f"loadavg {os.getloadavg()}, cpus {os.cpu_count()}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}, BLAS threads {args.threads}")
    # Compile (or load from cache) the kernel outside the timed region.
    select_rows(haar(20, 3, 0))
    if args.quick:
        table_speed([50, 200], 1000, 2, args.seed)
        table_kahan([(20, 0.3)], 1)
        table_kernel([200], 1000, args.seed)
        table_formation([50, 200], 1000, 3, args.seed)
    else:
        table_speed([50, 200, 1000], 2000, 3, args.seed)
        table_kahan([(12, 0.4), (16, 0.3), (20, 0.3), (24, 0.3), (30, 0.25)], 3)
        table_kernel([200, 1000], 2000, args.seed)
        table_formation([50, 200, 400, 666, 1000], 2000, 3, args.seed)
    print(f"loadavg at end {os.getloadavg()}")


if __name__ == "__main__":
    main(ARGS)
