"""Gram assembly: rankcore.gram against numpy and the pure BLAS product.

For each N (quadrature points), n (functions) and input dtype it prints

* ``ours``   rankcore.gram(Phi, w)
* ``numpy``  (Phi * w[:, None]).T @ Phi, the expression users write
* ``eq-w``   rankcore.gram(Phi, w) with equal weights (float64 input only),
  which skips the scaling pass
* ``blas``   A.T @ A for an already weighted float64 A (numpy dispatches it to
  the symmetric rank-k BLAS update, so it is the floor for this computation);
  the time to build A is not counted

with best-of-r wall times, the ratios, and the peak extra memory of each
(tracemalloc, which sees numpy's allocations), all measured in the same run.
Cases whose numpy expression would not fit in ``--mem-budget-gb`` are skipped
and say so.  ``--chunks`` adds a sweep of the chunk size.

    python bench/gram.py            # full grid: N in 1e4..1e6, n in 64..1024
    python bench/gram.py --quick    # N <= 1e5, n <= 256
"""

from __future__ import annotations

import argparse
import gc
import os
import time
import tracemalloc

import numpy as np

import rankcore
from rankcore.gram import CHUNK_BYTES, MIN_CHUNK_ROWS, default_chunk_rows


def best_time(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        del out
    return best


def peak_extra(fn):
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    out = fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del out
    return peak


def fmt_bytes(b):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if b < 1024 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024


def run_case(N, n, dtype, budget, rng):
    phi = rng.standard_normal((N, n)).astype(dtype)
    w = rng.uniform(0.5, 1.5, N) / N
    # Millisecond cases need many repeats for a stable best-of.
    size = N * n
    reps = 30 if size <= 1e6 else 10 if size <= 1e7 else 3 if size <= 3e7 else 1
    ours = lambda: rankcore.gram(phi, w)
    numpy_expr = lambda: (phi * w[:, None]).T @ phi
    row = {"N": N, "n": n, "dtype": np.dtype(dtype).name}
    row["t_ours"] = best_time(ours, reps)
    row["m_ours"] = peak_extra(ours)
    # numpy's expression: a float64 weighted copy, plus a float64 copy of Phi
    # when Phi is float32 (mixed-dtype matmul casts).
    need = 8 * N * n * (2 if dtype == np.float32 else 1)
    if need <= budget:
        row["t_numpy"] = best_time(numpy_expr, reps)
        row["m_numpy"] = peak_extra(numpy_expr)
        ref = numpy_expr()
        row["err"] = float(np.abs(rankcore.gram(phi, w) - ref).max() / np.abs(ref).max())
        del ref
    else:
        row["t_numpy"] = row["m_numpy"] = row["err"] = None
    if dtype == np.float64:
        # Equal weights (Monte Carlo, Sobol) take the path without the
        # scaling pass.
        w_eq = np.full(N, 1.0 / N)
        row["t_eq"] = best_time(lambda: rankcore.gram(phi, w_eq), reps)
        np.multiply(phi, np.sqrt(w)[:, None], out=phi)  # reuse the memory
        a = phi
    else:
        a = phi * np.sqrt(w)[:, None]
        del phi
    row["t_blas"] = best_time(lambda: a.T @ a, reps)
    del a
    gc.collect()
    return row


def print_table(rows):
    head = (f"{'N':>8} {'n':>5} {'dtype':>7} | {'ours s':>8} {'numpy s':>8} {'blas s':>8} | "
            f"{'numpy/ours':>10} {'ours/blas':>9} | {'mem ours':>10} {'mem numpy':>10} | "
            f"{'rel.diff':>8} | {'eq-w s':>8} {'eq-w/blas':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        tn = f"{r['t_numpy']:8.4f}" if r["t_numpy"] is not None else f"{'skipped':>8}"
        sp = f"{r['t_numpy'] / r['t_ours']:9.2f}x" if r["t_numpy"] is not None else f"{'-':>10}"
        mn = fmt_bytes(r["m_numpy"]) if r["m_numpy"] is not None else "-"
        er = f"{r['err']:8.1e}" if r["err"] is not None else f"{'-':>8}"
        eq = (f"{r['t_eq']:8.4f} {r['t_eq'] / r['t_blas']:8.2f}x" if "t_eq" in r
              else f"{'-':>8} {'-':>9}")
        print(f"{r['N']:>8} {r['n']:>5} {r['dtype']:>7} | {r['t_ours']:8.4f} {tn} "
              f"{r['t_blas']:8.4f} | {sp} {r['t_ours'] / r['t_blas']:8.2f}x | "
              f"{fmt_bytes(r['m_ours']):>10} {mn:>10} | {er} | {eq}", flush=True)


def chunk_sweep(rng):
    print("\nChunk-size sweep (float32 input, time of rankcore.gram, best of 3):")
    print(f"{'N':>8} {'n':>5} | " + " ".join(f"{c:>8}" for c in (256, 1024, 4096, 16384, 65536))
          + " | default rows")
    for N, n in ((200_000, 64), (100_000, 256), (50_000, 1024)):
        phi = rng.standard_normal((N, n)).astype(np.float32)
        w = np.full(N, 1.0 / N)
        ts = [best_time(lambda: rankcore.gram(phi, w, chunk_rows=c), 3)
              for c in (256, 1024, 4096, 16384, 65536)]
        print(f"{N:>8} {n:>5} | " + " ".join(f"{t:8.4f}" for t in ts)
              + f" | {default_chunk_rows(n)}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N <= 1e5 and n <= 256 only")
    ap.add_argument("--chunks", action="store_true", help="add the chunk-size sweep")
    ap.add_argument("--mem-budget-gb", type=float, default=10.0,
                    help="skip numpy's expression where its temporaries exceed this")
    args = ap.parse_args(argv)
    print(f"rankcore {rankcore.__version__}, numpy {np.__version__}, "
          f"cores {os.cpu_count()}, load average at start {os.getloadavg()}")
    Ns = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
    ns = (64, 256) if args.quick else (64, 256, 1024)
    rng = np.random.default_rng(0)
    rows = []
    for N in Ns:
        for n in ns:
            for dtype in (np.float32, np.float64):
                rows.append(run_case(N, n, dtype, args.mem_budget_gb * 2**30, rng))
    print_table(rows)
    print(f"\nchunk rows used: {', '.join(f'n={n}: {default_chunk_rows(n)}' for n in ns)} "
          f"(up to 1024 rows, at most a {CHUNK_BYTES // 2**20} MiB float64 buffer, "
          f"at least {MIN_CHUNK_ROWS} rows)")
    print("mem = peak extra memory during the call (tracemalloc); rel.diff = max|ours-numpy|/max|numpy|")
    print(f"load average at end {os.getloadavg()}")
    if args.chunks:
        chunk_sweep(rng)


if __name__ == "__main__":
    main()
