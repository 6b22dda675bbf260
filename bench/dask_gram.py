"""Gram matrices of 1e6..1e8 Monte Carlo points on Dask, against in-memory rankcore.gram.

The features are n = 256 neurons of a fixed random tanh layer on a d = 6
dimensional box, evaluated at Monte Carlo points that each worker generates
for its own blocks (``rankcore.distributed.monte_carlo`` +
``features_from_points``), so nothing of size N exists outside one block.
For each N it prints

* ``in-memory``: points, features and ``rankcore.gram`` in one process
  (only where the (N, n) features fit under ``--mem-budget-gb``), in a
  child process so that its peak memory is its own;
* ``dask 1w`` / ``dask 2w``: a fresh ``LocalCluster`` of 1 or 2 single-threaded
  worker processes, the same points (same seed);

with the wall time, the speed-up of 2 workers over 1, the peak resident
memory of each worker process (``ru_maxrss``, which includes the ~150 MB of
Python, NumPy, SciPy, Numba and Dask every worker has), the time per block
(one block = ``--chunk`` points: generation, features and its partial Gram
matrix; from the 1-worker run), and the largest relative difference to the
reference (in-memory where it ran, else the 1-worker result).  The machine's
load average is printed next to every row: on a shared machine the wall
times say how much CPU the benchmark got, not only how fast the code is.

    python bench/dask_gram.py                      # N = 1e6, 1e7
    nice -n 5 python bench/dask_gram.py --sizes 1e8 --no-in-memory [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core per worker process
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

D, N_FEATURES, SEED = 6, 256, 2024
BOX = [(-1.0, 1.0)] * D


class TanhLayer:
    """phi(x) = tanh(x W + b) with fixed random W (d, n), b (n,)."""

    def __init__(self, d=D, n=N_FEATURES, seed=0):
        rng = np.random.default_rng(seed)
        self.W = rng.standard_normal((d, n)) * 2.0
        self.b = rng.uniform(-1.0, 1.0, n)

    def __call__(self, x):
        out = x @ self.W
        out += self.b
        return np.tanh(out, out=out)


def load():
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_memory(N, chunk, queue):
    import dask
    import rankcore
    from rankcore.distributed import monte_carlo
    t0 = time.perf_counter()
    with dask.config.set(scheduler="sync"):
        p, w = monte_carlo(BOX, N, seed=SEED, chunks=chunk)
        points, weights = p.compute(), w.compute()
    phi = TanhLayer()(points)
    M = rankcore.gram(phi, weights)
    queue.put((time.perf_counter() - t0, M, peak_rss_mb()))


def in_memory(N, chunk):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_in_memory, args=(N, chunk, q))
    proc.start()
    out = q.get()
    proc.join()
    return out


def _warm_up():
    import rankcore
    rankcore.gram(np.ones((4, 2)), np.full(4, 0.5))
    rankcore.gram(np.ones((4, 2)), np.arange(1.0, 5.0))


def on_dask(N, chunk, workers):
    from distributed import Client, LocalCluster

    import rankcore
    from rankcore.distributed import features_from_points, monte_carlo
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      memory_limit=0, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(_warm_up)  # imports and compiled kernels loaded, not timed
        t0 = time.perf_counter()
        p, w = monte_carlo(BOX, N, seed=SEED, chunks=chunk)
        M = rankcore.gram(features_from_points(p, TanhLayer(), N_FEATURES), w)
        t = time.perf_counter() - t0
        peaks = list(client.run(peak_rss_mb).values())
    return t, M, peaks


def cpu_per_block(chunk, repeats=3):
    """CPU seconds of one block (points, features, partial Gram) in this process.

    CPU time, unlike wall time, hardly depends on what else runs on the
    machine, so it is the basis of the cluster estimate in docs/cluster.md.
    """
    import rankcore
    from rankcore.distributed import monte_carlo
    layer = TanhLayer()
    best = np.inf
    for b in range(repeats):
        t0 = time.process_time()
        p, w = monte_carlo(BOX, chunk, seed=SEED + b, chunks=chunk)
        x, w = p.compute(scheduler="sync"), w.compute(scheduler="sync")
        rankcore.gram(layer(x), w)
        best = min(best, time.process_time() - t0)
    return best


def rel_diff(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7])
    ap.add_argument("--chunk", type=int, default=1 << 15,
                    help="points per block (default 32768: 64 MiB of features)")
    ap.add_argument("--mem-budget-gb", type=float, default=4.0,
                    help="largest (N, n) float64 feature array for the in-memory case")
    ap.add_argument("--no-in-memory", action="store_true")
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2],
                    help="worker counts to time (default 1 2; the first is the reference "
                         "of the speed-up and, without in-memory, of the agreement)")
    args = ap.parse_args(argv)

    print(f"# n = {N_FEATURES} tanh features on a {D}-D box, Monte Carlo points generated "
          f"per block of {args.chunk} on the workers; {os.cpu_count()} CPUs; "
          f"BLAS threads {os.environ['OPENBLAS_NUM_THREADS']} per process")
    print(f"# CPU time of one block in-process (best of 3): {cpu_per_block(args.chunk):.3f} s "
          f"(load {load()})")
    hdr = (f"{'N':>8} {'case':>10} {'time s':>9} {'speed-up':>8} {'peak MB/proc':>14} "
           f"{'s/block':>8} {'rel diff':>9}  load avg (1/5/15 min)")
    print(hdr)
    for Nf in args.sizes:
        N = int(Nf)
        nblocks = -(-N // args.chunk)
        ref = None
        if not args.no_in_memory and N * N_FEATURES * 8 <= args.mem_budget_gb * 2**30:
            t, ref, peak = in_memory(N, args.chunk)
            print(f"{N:>8.0e} {'in-memory':>10} {t:>9.2f} {'':>8} {peak:>14.0f} "
                  f"{'':>8} {'ref':>9}  {load()}", flush=True)
        elif not args.no_in_memory:
            print(f"{N:>8.0e} {'in-memory':>10} skipped: {N * N_FEATURES * 8 / 2**30:.1f} GiB "
                  f"of features > --mem-budget-gb {args.mem_budget_gb}", flush=True)
        t1 = None
        for workers in args.workers:
            t, M, peaks = on_dask(N, args.chunk, workers)
            if ref is None:
                ref, diff = M, "ref"
            else:
                diff = f"{rel_diff(M, ref):.1e}"
            speed = f"{t1 / t:.2f}x" if t1 is not None else ""
            per_block = f"{t / nblocks:.3f}" if workers == 1 else ""
            if t1 is None:
                t1 = t
            print(f"{N:>8.0e} {f'dask {workers}w':>10} {t:>9.2f} {speed:>8} "
                  f"{'/'.join(f'{p:.0f}' for p in peaks):>14} {per_block:>8} {diff:>9}  {load()}",
                  flush=True)


if __name__ == "__main__":
    main()
