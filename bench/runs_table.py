"""rankcore.runs_table over many small run files: sequential vs Dask workers.

Writes ``--runs`` snapshot files (``--snapshots`` snapshots of ``--features``
neurons each, spectra only, a loss that falls in steps as the epsilon-rank
rises) into a temporary directory, then times ``rankcore.runs_table`` on
all of them at two tolerances

* ``sequential``: no Dask client, one file after the other in this process;
* ``dask 1w`` / ``dask 2w``: a ``LocalCluster`` of 1 or 2 single-threaded
  worker processes (cluster start-up reported apart, not in the time);

and checks that every table equals the sequential one.  The load average is
printed with every row.

    python bench/runs_table.py                  # 1000 files
    python bench/runs_table.py --runs 200
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

EPS = [1e-3, 1e-6]


def load():
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def write_runs(d, count, T, n):
    import rankcore
    q = rankcore.quadrature.gauss_legendre((0.0, 1.0), 16)
    paths = []
    for i in range(count):
        rng = np.random.default_rng(i)
        path = os.path.join(d, f"run{i:04d}.h5")
        base = np.sort(10.0 ** rng.uniform(-14, 0, n))[::-1]
        with rankcore.SnapshotWriter(path, q, {"features": n}, store_gram=False) as w:
            for t in range(T):
                lam = np.sort(base * 10.0 ** (8 * t / T * (base < 1e-6)))[::-1]
                w.append(50 * t, loss=10.0 ** (-3 * t / T), spectra={"features": lam})
        paths.append(path)
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--snapshots", type=int, default=20)
    ap.add_argument("--features", type=int, default=32)
    args = ap.parse_args(argv)

    import pandas as pd
    from distributed import Client, LocalCluster

    import rankcore
    d = tempfile.mkdtemp(prefix="rankcore-runs-")
    try:
        t0 = time.perf_counter()
        paths = write_runs(d, args.runs, args.snapshots, args.features)
        print(f"# {args.runs} run files of {args.snapshots} snapshots x {args.features} "
              f"features written in {time.perf_counter() - t0:.1f} s; eps {EPS}; "
              f"{os.cpu_count()} CPUs")
        print(f"{'case':>11} {'time s':>8} {'files/s':>8} {'speed-up':>8} {'start s':>8} "
              f"{'same table':>10}  load avg (1/5/15 min)")
        t0 = time.perf_counter()
        ref = rankcore.runs_table(paths, EPS)
        t_seq = time.perf_counter() - t0
        assert (ref["error"] == "").all()
        print(f"{'sequential':>11} {t_seq:>8.2f} {args.runs / t_seq:>8.0f} {'1.00x':>8} "
              f"{'':>8} {'ref':>10}  {load()}", flush=True)
        for workers in (1, 2):
            t0 = time.perf_counter()
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                client.run(lambda: __import__("rankcore"))
                start = time.perf_counter() - t0
                t0 = time.perf_counter()
                table = rankcore.runs_table(paths, EPS)
                t = time.perf_counter() - t0
            try:
                pd.testing.assert_frame_equal(table, ref)
                same = "yes"
            except AssertionError:
                same = "NO"
            print(f"{f'dask {workers}w':>11} {t:>8.2f} {args.runs / t:>8.0f} "
                  f"{f'{t_seq / t:.2f}x':>8} {start:>8.1f} {same:>10}  {load()}", flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
