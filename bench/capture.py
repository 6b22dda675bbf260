"""Cost of recording snapshots, and speed of offline analysis.

Part 1 - capture overhead.  The paper's 1-D example (3 hidden layers x 50 tanh,
Adam lr 1e-3, full batch on 1000 points of a multi-frequency target) is trained
for a fixed number of steps without recording and with
``bridge.SnapshotRecorder`` recording every 100, 10 and 1 steps on a
1000-point Gauss-Legendre rule (Gram of the last hidden layer, float64,
spectrum, HDF5 append with two flushes).  The configurations run interleaved,
``--repeats`` times each; the table shows the median wall time and the overhead
against the median of the no-recording runs measured in the same process.

Part 1b - Lightning.  The same model and problem trained by a
``lightning.pytorch.Trainer`` (CPU, full batch, no logger, no checkpointing)
without a callback and with ``bridge.EpsRankCallback`` every 100 steps (same
quadrature, snapshot file written, eps-ranks logged through ``pl_module.log``),
interleaved like Part 1; the in-run share is the time inside the callback's
hooks over the time outside them.

Part 2 - analysis speed.  A 1,000-snapshot run with n = 512 is synthesised
through ``rankcore.runs.SnapshotWriter`` (Gram matrices and spectra
stored), then ``rankcore rank RUN --eps <20 values>`` is timed in-process
(``rankcore.cli.main``) and as a subprocess (``python -m rankcore``, including
interpreter start-up and imports).  The reference is recomputing the ranks
from the stored Gram matrices with ``numpy.linalg.eigvalsh`` in the same run;
both must give identical ranks.

Usage: python bench/capture.py [--quick] [--steps N] [--repeats R] [--snapshots T]
"""

from __future__ import annotations

import os

# One BLAS thread: on the shared 2-core machine a multi-threaded OpenBLAS
# eigvalsh of a 512 x 512 matrix was measured at 3.6 s instead of 0.027 s
# (thread oversubscription at load average ~7); must be set before numpy loads.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import contextlib
import io
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import bridge  # noqa: E402
import rankcore  # noqa: E402
from rankcore.cli import main as cli_main  # noqa: E402
from rankcore.runs import SnapshotWriter  # noqa: E402


def make_problem(seed=0):
    torch.manual_seed(seed)
    x = torch.linspace(-1.0, 1.0, 1000)[:, None]
    y = torch.sin(2 * torch.pi * x) + 0.5 * torch.sin(8 * torch.pi * x) \
        + 0.25 * torch.sin(20 * torch.pi * x)
    return x, y


def make_model(seed=0):
    torch.manual_seed(seed)
    layers, d = [], 1
    for _ in range(3):
        layers += [torch.nn.Linear(d, 50), torch.nn.Tanh()]
        d = 50
    layers.append(torch.nn.Linear(d, 1))
    return torch.nn.Sequential(*layers)


def train(steps, every, q, path):
    x, y = make_problem()
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rec = (bridge.SnapshotRecorder(path, model, q, every=every, overwrite=True)
           if every else None)
    t_rec = 0.0
    t0 = time.perf_counter()
    for step in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        if rec is not None:
            t1 = time.perf_counter()
            rec.record(step, loss=loss)
            t_rec += time.perf_counter() - t1
        loss.backward()
        opt.step()
    if rec is not None:
        t1 = time.perf_counter()
        rec.close()
        t_rec += time.perf_counter() - t1
    t = time.perf_counter() - t0
    return t, t_rec, loss.item(), (rec.count if rec else 0)


def part1(args, tmp):
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 1000)
    configs = [None, 100, 10, 1]
    times = {c: [] for c in configs}
    shares = {c: [] for c in configs}
    info = {}
    # warm-up: allocator, and the one-time lazy imports (h5py) of recording
    train(50, None, q, None)
    train(20, 10, q, os.path.join(tmp, "warm.h5"))
    for r in range(args.repeats):
        for c in configs:
            path = os.path.join(tmp, f"cap_{c}.h5")
            t, t_rec, loss, count = train(args.steps, c, q, path)
            times[c].append(t)
            shares[c].append(t_rec / (t - t_rec) * 100)
            info[c] = (loss, count, os.path.getsize(path) if c else 0, t_rec / max(count, 1))
    base_med = statistics.median(times[None])
    base_min = min(times[None])
    print(f"\n## Part 1: capture overhead ({args.steps} Adam steps, 3x50 tanh MLP, "
          f"1000 training points, quadrature 1000-pt Gauss-Legendre, {args.repeats} "
          f"interleaved repeats)")
    print("# end-to-end: wall time vs the no-recording runs (median and min over repeats;"
          " noisy on a loaded machine)")
    print("# in-run: time inside record() / time outside it, same run (median over repeats)")
    print(f"{'recording':>16} {'snapshots':>9} {'median s':>9} {'min s':>7} "
          f"{'e2e(med)':>9} {'e2e(min)':>9} {'in-run':>8} {'ms/snapshot':>11} "
          f"{'file MB':>8} {'final loss':>10}")
    for c in configs:
        med, mn = statistics.median(times[c]), min(times[c])
        loss, count, size, per = info[c]
        name = "none (reference)" if c is None else f"every {c}"
        share = statistics.median(shares[c]) if c else 0.0
        print(f"{name:>16} {count:>9d} {med:>9.3f} {mn:>7.3f} "
              f"{(med - base_med) / base_med * 100:>8.1f}% "
              f"{(mn - base_min) / base_min * 100:>8.1f}% {share:>7.2f}% "
              f"{per * 1e3:>11.2f} {size / 1e6:>8.2f} {loss:>10.3e}")
    plain = (base_med, statistics.median(times[100]), statistics.median(shares[100]))
    return (statistics.median(shares[100]), (min(times[100]) - base_min) / base_min * 100,
            plain)


def _lightning_parts():
    import lightning.pytorch as pl

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = make_model()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return ((self.net(x) - y) ** 2).mean()

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    class FullBatch(torch.utils.data.IterableDataset):
        def __iter__(self):
            x, y = make_problem()
            while True:
                yield x, y

    class Timed(bridge.EpsRankCallback):
        """The callback, with the time spent in its hooks measured."""
        seconds = 0.0

        def on_train_batch_start(self, *a):
            t = time.perf_counter()
            super().on_train_batch_start(*a)
            Timed.seconds += time.perf_counter() - t

        def on_train_batch_end(self, *a):
            t = time.perf_counter()
            super().on_train_batch_end(*a)
            Timed.seconds += time.perf_counter() - t

        def on_train_end(self, *a):
            t = time.perf_counter()
            super().on_train_end(*a)
            Timed.seconds += time.perf_counter() - t

    return pl, Module, FullBatch, Timed


def train_lightning(steps, every, q, path, parts):
    pl, Module, FullBatch, Timed = parts
    Timed.seconds = 0.0
    cbs = [Timed(q, path=path, every=every, module="net", overwrite=True)] if every else []
    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False,
                         callbacks=cbs, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    loader = torch.utils.data.DataLoader(FullBatch(), batch_size=None)
    t0 = time.perf_counter()
    trainer.fit(Module(), loader)
    t = time.perf_counter() - t0
    count = 0
    if every:
        with rankcore.open_run(path) as run:
            count = len(run)
    return t, Timed.seconds, count


def part1b(args, tmp, plain):
    try:
        parts = _lightning_parts()
    except ImportError as exc:
        print(f"\n## Part 1b: skipped (Lightning not installed: {exc})")
        return None
    import logging
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 1000)
    train_lightning(50, None, q, None, parts)  # warm-up
    train_lightning(20, 10, q, os.path.join(tmp, "warm_l.h5"), parts)
    times = {None: [], 100: []}
    inrun, counts = [], 0
    for r in range(args.repeats):
        for c in (None, 100):
            t, t_cb, counts_c = train_lightning(args.steps, c, q,
                                                os.path.join(tmp, f"light_{c}.h5"), parts)
            times[c].append(t)
            if c:
                inrun.append(t_cb / (t - t_cb) * 100)
                counts = counts_c
    base = statistics.median(times[None])
    med = statistics.median(times[100])
    print(f"\n## Part 1b: one table, same process - plain loop vs Lightning Trainer "
          f"({args.steps} steps, every 100, {args.repeats} interleaved repeats)")
    print(f"{'configuration':>38} {'snapshots':>9} {'median s':>9} {'e2e(med)':>9} "
          f"{'in-run':>8}")
    p_none, p_rec, p_share = plain
    print(f"{'plain loop, no recording':>38} {0:>9d} {p_none:>9.3f} {'ref':>9} {'':>8}")
    print(f"{'plain loop, SnapshotRecorder':>38} {args.steps // 100:>9d} {p_rec:>9.3f} "
          f"{(p_rec - p_none) / p_none * 100:>8.1f}% {p_share:>7.2f}%")
    print(f"{'Lightning, no callback':>38} {0:>9d} {base:>9.3f} {'ref':>9} {'':>8}")
    print(f"{'Lightning, EpsRankCallback':>38} {counts:>9d} {med:>9.3f} "
          f"{(med - base) / base * 100:>8.1f}% {statistics.median(inrun):>7.2f}%")
    return statistics.median(inrun)


def synthesize(path, T, n, seed=0):
    """A staircase-like run: eigenvalues log-spread, more of them rise over time."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 16)
    base = np.sort(10.0 ** rng.uniform(-15, 0, size=n))[::-1]
    lams = []
    with SnapshotWriter(path, q, {"hidden": n}, overwrite=True,
                        metadata={"note": "synthetic bench run"}) as w:
        for t in range(T):
            lift = 10.0 ** (6.0 * t / max(1, T - 1))  # eigenvalues grow over training
            lam = np.sort(np.minimum(base * lift, 1.0))[::-1]
            G = (Q * lam) @ Q.T
            G = 0.5 * (G + G.T)
            w.append(t * 10, loss=float(1.0 / lift), grams={"hidden": G},
                     spectra={"hidden": lam})
            lams.append(lam)
    return np.array(lams)


def part2(args, tmp):
    T, n = args.snapshots, 512
    path = os.path.join(tmp, "synthetic.h5")
    t0 = time.perf_counter()
    synthesize(path, T, n)
    t_write = time.perf_counter() - t0
    eps = np.logspace(-12, -1, 20)
    eps_txt = [f"{e:.6g}" for e in eps]
    argv = ["rank", path, "--eps", *eps_txt]

    def inproc():
        buf = io.StringIO()
        t = time.perf_counter()
        with contextlib.redirect_stdout(buf):
            code = cli_main(argv)
        dt = time.perf_counter() - t
        assert code == 0
        return dt, buf.getvalue()

    inproc()  # warm page cache for a fair comparison of computations
    t_in = [inproc()[0] for _ in range(3)]
    _, text = inproc()
    t_sub = []
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "rankcore", *argv], cwd=ROOT,
                             capture_output=True, text=True)
        t_sub.append(time.perf_counter() - t)
        assert out.returncode == 0, out.stderr
    t_imp = []
    for _ in range(3):  # the start-up part of the subprocess figure
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import rankcore, h5py"], cwd=ROOT,
                       check=True, capture_output=True)
        t_imp.append(time.perf_counter() - t)
    # reference: ranks recomputed from the stored Gram matrices
    t = time.perf_counter()
    with rankcore.open_run(path) as run:
        ref = np.empty((T, eps.size), dtype=np.int64)
        for i in range(T):
            lam = np.linalg.eigvalsh(run.grams(index=i))
            ref[i] = np.count_nonzero(lam[:, None] > eps[None, :], axis=0)
    t_ref = time.perf_counter() - t
    cli_ranks = np.array([[int(v) for v in line.split()[2:]]
                          for line in text.splitlines()[2:]])
    agree = np.mean(cli_ranks == ref) * 100
    size = os.path.getsize(path) / 1e6
    print(f"\n## Part 2: analysis of a {T}-snapshot run, n = {n}, 20 eps values "
          f"(file {size:.0f} MB, written in {t_write:.1f} s)")
    print(f"{'method':<56} {'seconds':>9} {'speed-up':>9}")
    rows = [("rankcore rank (in-process cli.main, median of 3)", statistics.median(t_in)),
            ("rankcore rank (subprocess python -m, median of 3)", statistics.median(t_sub)),
            ("  of which start-up: python -c 'import rankcore, h5py'",
             statistics.median(t_imp)),
            ("reference: eigvalsh of every stored Gram", t_ref)]
    for name, v in rows:
        sp = "" if "start-up" in name else f"{t_ref / v:>8.1f}x"
        print(f"{name:<56} {v:>9.3f} {sp:>9}")
    print(f"ranks identical to the eigvalsh reference: {agree:.2f}% of "
          f"{cli_ranks.size} (snapshot, eps) pairs")
    return statistics.median(t_in), statistics.median(t_sub)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short run (smoke test)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--snapshots", type=int, default=None)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: steadiest on the shared machine)")
    args = p.parse_args(argv)
    args.steps = args.steps or (300 if args.quick else 3000)
    args.repeats = args.repeats or (1 if args.quick else 5)
    args.snapshots = args.snapshots or (100 if args.quick else 1000)
    torch.set_num_threads(args.threads)
    print("# bench/capture.py: snapshot capture overhead and offline analysis speed")
    print(f"# loadavg {tuple(round(v, 2) for v in os.getloadavg())}  "
          f"{platform.machine()} {os.cpu_count()} cpus  python {platform.python_version()}  "
          f"torch {torch.__version__} threads {torch.get_num_threads()}  "
          f"args {' '.join(sys.argv[1:] if argv is None else argv) or '(default)'}")
    tmp = tempfile.mkdtemp(prefix="rankcore_capture_")
    try:
        over, over_e2e, plain = part1(args, tmp)
        over_cb = part1b(args, tmp, plain)
        t_in, t_sub = part2(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ngoals: overhead at every 100 steps {over:.2f}% in-run, {over_e2e:.1f}% "
          f"end-to-end (min) (goal <= 5%): {'met' if over <= 5 else 'NOT met'}; rank for 20 eps {t_in:.3f} s in-process, "
          f"{t_sub:.3f} s as a subprocess (goal < 1 s): "
          f"{'met' if max(t_in, t_sub) < 1 else 'NOT met'}")
    print(f"# loadavg at the end {tuple(round(v, 2) for v in os.getloadavg())}")
    if over_cb is not None:
        print(f"Lightning callback every 100 steps: {over_cb:.2f}% in-run (goal <= 2%): "
              f"{'met' if over_cb <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
