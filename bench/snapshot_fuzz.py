"""Snapshot files as untrusted input: hostile files, concurrency, open time.

Runs the same hostile files, concurrency scenarios and open-time measurement
against two rankcore source trees, the reference (by default the code before
the hardening, a git worktree of commit ef331b8) and this one:

    git worktree add /tmp/rankcore_before ef331b8
    nice -n 5 python bench/snapshot_fuzz.py [--before /tmp/rankcore_before]

Every file is opened in a worker process (tests/_hostile.py) that reads it
through the API and runs ``rankcore info``; a file that gets no answer within
``--timeout`` seconds is a *hang* (the worker is killed).  Outcomes: *data*,
*clear error* (``SnapshotFileError`` / ``FileNotFoundError``), *hang*,
*traceback* (any other exception, from the API or the command line).  The
*wrong* column counts files whose outcome breaks the contract although no
hang or traceback occurred: garbage accepted (data where an error is due),
a valid file refused, bytes read from outside the file, raw control
characters on the terminal.
"""

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import _hostile as H  # noqa: E402


_SMALL_RUN = textwrap.dedent("""
    import sys
    import numpy as np
    import rankcore
    from rankcore import SnapshotWriter
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 8)
    with SnapshotWriter(sys.argv[1], q, {"h": 3}, scalars=["lr"]) as w:
        for t in range(4):
            w.append(t, loss=1.0 / (t + 1), grams={"h": np.diag([1.0, 0.1, 10.0 ** -t])},
                     scalars={"lr": 0.1})
""")


def _families(d, quick, ref):
    """{family: [(path, expected or None)]}."""
    fam = collections.defaultdict(list)
    for family, _, path, expected in H.hostile_cases(d):
        fam[family].append((path, expected))
    rng = random.Random(0)
    # a run file written by the reference code's SnapshotWriter (readable by both)
    small = os.path.join(d, "writer-run.h5")
    _child(ref, _SMALL_RUN, small)
    size = os.path.getsize(small)
    offs = sorted({8, 16, 40, 47, 100, 1000} | {rng.randrange(48, size)
                                                for _ in range(8 if quick else 20)})
    fam["truncated (SnapshotWriter run file)"] = [
        (p, "error") for _, p in H.truncations(small, offs, d)]
    v3 = H.write_run(os.path.join(d, "base-v3.h5"))
    v0 = H.write_run(os.path.join(d, "base-v0.h5"), libver="earliest")
    ub = H.write_run(os.path.join(d, "base-ub.h5"), userblock=1024)
    size = os.path.getsize(v3)
    offs = sorted({0, 8, 16, 40, 47} | {rng.randrange(48, size) for _ in range(12 if quick else 40)})
    fam["truncated (h5py-written v3 run file)"] = [(p, "error") for _, p in H.truncations(v3, offs, d)]
    size = os.path.getsize(ub)
    offs = sorted({16, 40, 600, 1030} | {rng.randrange(1100, size) for _ in range(4 if quick else 12)})
    fam["truncated (with user block)"] = [(p, "error") for _, p in H.truncations(ub, offs, d)]
    size = os.path.getsize(v0)
    offs = sorted({rng.randrange(48, size) for _ in range(12 if quick else 40)})
    fam["truncated, EOF patched (v0)"] = [
        (p, None) for _, p in H.truncations_patched(v0, offs, d)]
    for kind in ("bit flip", "byte flip"):
        n = 30 if quick else 100
        for i in range(n):
            base = rng.choice([v3, v0])
            data = bytearray(open(base, "rb").read())
            pos = rng.randrange(len(data))
            if kind == "bit flip":
                data[pos] ^= 1 << rng.randrange(8)
            else:
                data[pos] = rng.randrange(256)
            p = os.path.join(d, f"{kind.replace(' ', '-')}-{i}.h5")
            with open(p, "wb") as fh:
                fh.write(data)
            fam[f"random {kind}s"].append((p, None))
    return fam


def _classify(r, expected):
    o = r["outcome"]
    if o in ("hang", "crash"):
        return o if o == "hang" else "traceback"
    if o.startswith("traceback") or r.get("cli_traceback"):
        return "traceback"
    return "data" if o == "data" else "clear error"


def _is_wrong(r, expected):
    if r["outcome"] not in ("data", "error") or r.get("cli_traceback"):
        return False
    if r.get("leak") or r.get("raw_control"):
        return True
    return expected is not None and r["outcome"] != expected


def fuzz_table(trees, timeout, quick):
    d = tempfile.mkdtemp(prefix="rankcore-fuzz-")
    fam = _families(d, quick, next(iter(trees.values())))
    rows = collections.OrderedDict()
    files = {}
    for label, tree in trees.items():
        w = H.Worker(pythonpath=tree, timeout=timeout)
        w._start()
        files[label] = w.rankcore_file
        t0 = time.perf_counter()
        for family, cases in fam.items():
            c = collections.Counter()
            worst = 0.0
            for path, expected in cases:
                r = w.check(path)
                c[_classify(r, expected)] += 1
                c["wrong"] += _is_wrong(r, expected)
                if r["outcome"] != "hang":
                    worst = max(worst, r.get("seconds", 0.0))
            rows[(family, label)] = (len(cases), c, worst)
        w.close()
        print(f"# {label}: {files[label]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print()
    print(f"Hostile snapshot files (time limit {timeout:g} s per file; 'slowest' = "
          f"slowest answered file)")
    print()
    print("| family | code | cases | data | clear error | hang | traceback | wrong | slowest s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    tot = collections.defaultdict(collections.Counter)
    for family in fam:
        for label in trees:
            n, c, worst = rows[(family, label)]
            tot[label].update(c)
            tot[label]["cases"] += n
            print(f"| {family} | {label} | {n} | {c['data']} | {c['clear error']} | "
                  f"{c['hang']} | {c['traceback']} | {c['wrong']} | {worst:.2f} |")
    for label in trees:
        c = tot[label]
        print(f"| **all** | {label} | {c['cases']} | {c['data']} | {c['clear error']} | "
              f"{c['hang']} | {c['traceback']} | {c['wrong']} | |")
    print()


# --- concurrency ---------------------------------------------------------------

_LIVE = textwrap.dedent("""
    import json, os, subprocess, sys, time
    import numpy as np
    import rankcore
    tree, path, seconds, writer = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    w = subprocess.Popen([sys.executable, "-c", writer, path, tree], stdout=subprocess.PIPE,
                         text=True)
    w.stdout.readline()
    opens, errors, bad, kinds = 0, 0, 0, {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with rankcore.open_run(path) as run:
                T = len(run)
                if not (np.array_equal(run.steps, np.arange(T))
                        and run.spectra().shape == (T, 64)):
                    bad += 1
        except Exception as exc:
            errors += 1
            k = "truncated" if "truncated" in str(exc) else type(exc).__name__
            kinds[k] = kinds.get(k, 0) + 1
        opens += 1
    w.kill(); w.wait()
    print(json.dumps({"opens": opens, "errors": errors, "bad": bad, "kinds": kinds}))
""")

_RACE = textwrap.dedent("""
    import json, os, sys, tempfile, threading
    import numpy as np
    import rankcore
    from rankcore import SnapshotWriter
    rounds, racers = int(sys.argv[1]), int(sys.argv[2])
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 8)
    d = tempfile.mkdtemp()
    one_winner = lost_runs = other = 0
    for r in range(rounds):
        path = os.path.join(d, f"race{r}.h5")
        barrier = threading.Barrier(racers)
        res = []
        def go(i):
            barrier.wait()
            try:
                with SnapshotWriter(path, q, {"h": 2}, metadata={"writer": i}) as w:
                    w.append(0, loss=float(i), grams={"h": np.eye(2)})
                res.append("won")
            except FileExistsError:
                res.append("lost")
            except Exception:
                res.append("error")
        ts = [threading.Thread(target=go, args=(i,)) for i in range(racers)]
        [t.start() for t in ts]; [t.join() for t in ts]
        won = res.count("won")
        one_winner += won == 1 and res.count("lost") == racers - 1
        lost_runs += max(0, won - 1)
        other += res.count("error")
    leftovers = [f for f in os.listdir(d) if f.endswith(".tmp")]
    # overwrite=True, then an exception before the first snapshot
    old = os.path.join(d, "old.h5")
    with SnapshotWriter(old, q, {"h": 2}) as w:
        w.append(0, grams={"h": np.eye(2)})
    try:
        with SnapshotWriter(old, q, {"h": 3}, overwrite=True):
            raise RuntimeError("training failed to start")
    except RuntimeError:
        pass
    try:
        with rankcore.open_run(old) as run:
            kept = len(run) == 1 and run.n_features() == 2
    except Exception:
        kept = False
    print(json.dumps({"one_winner": one_winner, "lost_runs": lost_runs, "errors": other,
                      "tmp_left": len(leftovers), "old_kept": kept}))
""")

_OPEN = textwrap.dedent("""
    import json, sys, time
    import rankcore
    path, n = sys.argv[1], int(sys.argv[2])
    with rankcore.open_run(path) as run:
        pass
    out = {"open": [], "spectra": []}
    for rep in range(3):
        for what in out:
            t0 = time.perf_counter()
            for i in range(n):
                with rankcore.open_run(path) as run:
                    run.steps
                    if what == "spectra":
                        run.spectra(layer="a"), run.spectra(layer="b"), run.loss
            out[what].append((time.perf_counter() - t0) / n)
    print(json.dumps(out))
""")

_MAKE = textwrap.dedent("""
    import sys
    import numpy as np
    import rankcore
    from rankcore import SnapshotWriter
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 256)
    with SnapshotWriter(sys.argv[1], q, {"a": 50, "b": 50}, scalars=["lr"],
                        overwrite=True) as w:
        for t in range(1000):
            lam = np.linspace(1.0, 0.0, 50) ** (1 + t / 100)
            w.append(t, loss=1.0 / (t + 1), grams={"a": np.diag(lam), "b": np.eye(50)},
                     scalars={"lr": 0.1})
""")


def _child(tree, code, *args, timeout=600):
    env = dict(os.environ, PYTHONPATH=tree, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env,
                         capture_output=True, text=True, timeout=timeout, cwd=tree)
    if out.returncode:
        raise RuntimeError(f"child failed in {tree}: {out.stderr[-1500:]}")
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def concurrency_table(trees, seconds, rounds):
    print(f"Concurrency: opens (open_run, steps, spectra) of a file being written "
          f"({seconds:g} s of opens while a SnapshotWriter of the same code appends "
          f"64-feature snapshots as fast as it can), {rounds} rounds of 4 racing "
          f"SnapshotWriter(path) with overwrite=False, and a replacing writer that "
          f"fails before its first snapshot")
    print()
    print("| code | opens while writing | failed opens | of them 'truncated' | wrong data "
          "| rounds with exactly one winner | runs silently lost | other errors "
          "| temp files left | old file kept after failed replace |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, tree in trees.items():
        d = tempfile.mkdtemp(prefix="rankcore-live-")
        live = _child(tree, _LIVE, tree, os.path.join(d, "live.h5"), seconds, H.FAST_WRITER)
        race = _child(tree, _RACE, rounds, 4)
        print(f"| {label} | {live['opens']} | {live['errors']} | "
              f"{live['kinds'].get('truncated', 0)} | {live['bad']} | "
              f"{race['one_winner']}/{rounds} | {race['lost_runs']} | {race['errors']} | "
              f"{race['tmp_left']} | {'yes' if race['old_kept'] else 'no'} |", flush=True)
    print()


def open_time_table(trees, n, rounds=8):
    d = tempfile.mkdtemp(prefix="rankcore-open-")
    path = os.path.join(d, "run_v1.h5")
    ref = next(iter(trees.values()))
    _child(ref, _MAKE, path)  # format written by the reference tree, readable by both
    size = os.path.getsize(path) / 1e6
    res = collections.defaultdict(list)
    for rep in range(rounds):  # interleaved, to spread machine noise over both
        for label, tree in trees.items():
            for what, times in _child(tree, _OPEN, path, n).items():
                res[(what, label)].extend(times)
    print(f"Open time of a normal run file ({size:.1f} MB, 1000 snapshots, 2 layers of "
          f"50 features, written by the reference code): mean time of {n} opens, "
          f"{3 * rounds} such means per code, taken in {rounds} alternating rounds; the "
          f"minimum is the least disturbed by other load on the machine")
    print()
    print("| what | code | min ms | median ms | min / reference min | "
          "median / reference median |")
    print("|---|---|---:|---:|---:|---:|")
    names = {"open": "open_run + steps + close",
             "spectra": "... + both layers' spectra + loss (checked)"}
    for what in ("open", "spectra"):
        ref = None
        for label in trees:
            times = sorted(res[(what, label)])
            low, med = times[0], times[len(times) // 2]
            ref = ref or (low, med)
            print(f"| {names[what]} | {label} | {low * 1e3:.3f} | {med * 1e3:.3f} | "
                  f"{low / ref[0]:.3f} | {med / ref[1]:.3f} |")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="/tmp/rankcore_before",
                    help="source tree of the reference code (default /tmp/rankcore_before)")
    ap.add_argument("--timeout", type=float, default=5.0,
                    help="seconds before a file counts as a hang (default 5)")
    ap.add_argument("--quick", action="store_true", help="fewer random cases")
    ap.add_argument("--live-seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--opens", type=int, default=50)
    ap.add_argument("--only", choices=["fuzz", "concurrency", "open"], nargs="*")
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(args.before, "rankcore")):
        sys.exit(f"no rankcore tree at {args.before}; make one with\n"
                 f"  git worktree add {args.before} ef331b8")
    trees = {"before (ef331b8)": args.before, "after": ROOT}
    print(f"# load average at start: {os.getloadavg()}")
    only = args.only or ["fuzz", "concurrency", "open"]
    if "open" in only:
        open_time_table(trees, args.opens)
    if "concurrency" in only:
        concurrency_table(trees, args.live_seconds, args.rounds)
    if "fuzz" in only:
        fuzz_table(trees, args.timeout, args.quick)
    print(f"# load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
