"""Snapshot files as untrusted input: every file gives data or a clear error, fast.

Every file here is opened in a worker process (tests/_hostile.py) that reads
it through the whole API and runs ``rankcore info`` on it; this test enforces
the time limit itself (a file that makes the reader hang kills the worker and
fails the case), and checks the outcome: data or ``SnapshotFileError``, never
another exception, one line on stderr and status 2 from the command line for
a bad file, no control character reaching the terminal, nothing read from
outside the file, bounded memory.

Counts are bounded in the default hypothesis profile; under
``RANKCORE_HYPOTHESIS_PROFILE=thorough`` the truncation sweep covers every
offset of the small run file.  Also here: concurrency (reads while a writer
runs, racing creators, a failed replacement), and Ctrl-C during a bad open.
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _examples import examples
import _hostile as H
from _signals import popen_interruptible

import rankcore
from rankcore.runs import SnapshotFileError, SnapshotWriter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LIMIT_S = 10.0  # per file, enforced by the worker's parent
THOROUGH = os.environ.get("RANKCORE_HYPOTHESIS_PROFILE") == "thorough"


@pytest.fixture(scope="module")
def worker():
    w = H.Worker(timeout=LIMIT_S)
    yield w
    w.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    return {"dir": str(d),
            "v3": H.write_run(os.path.join(d, "base-v3.h5")),
            "v0": H.write_run(os.path.join(d, "base-v0.h5"), libver="earliest"),
            "contiguous": H.write_run(os.path.join(d, "base-contig.h5"),
                                      layout="contiguous")}


def _problems(r, expected=None):
    """Why a worker result breaks the contract ('' if it does not)."""
    out = []
    if r["outcome"] not in ("data", "error"):
        out.append(f"outcome {r['outcome']}: {r['detail'][:200]}")
    elif expected is not None and r["outcome"] != expected:
        out.append(f"expected {expected}, got {r['outcome']}: {r['detail'][:200]}")
    if r["outcome"] == "data" and r.get("cli_rc") != 0:
        out.append(f"rankcore info exited {r.get('cli_rc')} on a readable file")
    # (info reads less than the API test: it may still succeed on a bad file)
    if r["outcome"] == "error" and not (r.get("cli_rc") == 0 or (
            r.get("cli_rc") == 2 and r.get("cli_err_lines") == 1)):
        out.append(f"rankcore info: status {r.get('cli_rc')}, {r.get('cli_err_lines')} "
                   f"stderr lines (want 0, or 2 and one line)")
    for flag in ("cli_traceback", "raw_control", "leak"):
        if r.get(flag):
            out.append(flag)
    if r.get("rss_mb", 0) > 2000:
        out.append(f"{r['rss_mb']:.0f} MB resident")
    return "; ".join(out)


def _check_all(worker, cases):
    bad = []
    for label, path, expected in cases:
        why = _problems(worker.check(path), expected)
        if why:
            bad.append(f"{label}: {why}")
    assert not bad, f"{len(bad)} of {len(cases)} files broke the contract:\n" + "\n".join(bad[:20])


# --- crafted hostile files ------------------------------------------------

def test_crafted_hostile_files(worker, files):
    cases = H.hostile_cases(files["dir"])
    families = {fam for fam, _, _, _ in cases}
    assert {"outside the file", "declared sizes", "wrong dtypes and shapes",
            "format version", "control characters", "valid layouts"} <= families
    _check_all(worker, [(f"{fam} / {name}", p, exp) for fam, name, p, exp in cases])


def test_refusals_name_the_construct(files):
    cases = {name: p for _, name, p, _ in H.hostile_cases(files["dir"])}
    for name, pattern in [("external storage", "uses external storage"),
                          ("external link", "is an external link"),
                          ("virtual dataset", "is a virtual dataset"),
                          ("soft link", "is a soft link"),
                          ("count 2**26, unallocated chunks", "the file has only"),
                          ("True", "'format_version' must be an integer"),
                          ("unsorted spectra", "not in descending order"),
                          ("negative spectra", "negative eigenvalue"),
                          ("gram shape disagrees", "rows of '/layers/h/gram' must have shape")]:
        with pytest.raises(SnapshotFileError, match=pattern):
            with rankcore.open_run(cases[name]) as run:
                run.steps, run.spectra(), run.grams()
    with rankcore.open_run(cases["in metadata"]) as run:  # data, escaped on output
        assert run.metadata["model"].startswith("MLP\x1b[31m")


# --- truncation ------------------------------------------------------------

def test_truncation_at_every_offset(worker, files):
    data_len = os.path.getsize(files["v3"])
    if THOROUGH:
        offsets = list(range(data_len))
    else:  # the superblock and the first metadata, then a spread, then random
        rng = random.Random(12)
        offsets = sorted(set(range(0, 64)) | set(range(64, data_len, 211))
                         | {rng.randrange(data_len) for _ in range(40)})
    cases = [(f"cut at {k}", p, "error")
             for k, p in H.truncations(files["v3"], offsets, files["dir"])]
    _check_all(worker, cases)


def test_truncation_that_hdf5_itself_meets(worker, files):
    # End-of-file address patched to the new length: no size check in front.
    size = os.path.getsize(files["v0"])
    rng = random.Random(5)
    offsets = sorted({rng.randrange(48, size) for _ in range(examples(60))})
    _check_all(worker, [(f"cut at {k} (eof patched)", p, None)
                        for k, p in H.truncations_patched(files["v0"], offsets,
                                                          files["dir"])])


def test_truncated_userblock_file(worker, files):
    p = H.write_run(os.path.join(files["dir"], "ub.h5"), userblock=1024)
    size = os.path.getsize(p)
    offsets = [16, 40, 512, 1023, 1024, 1030, 1100] + list(range(1200, size, 997))
    _check_all(worker, [(f"userblock file cut at {k}", q, "error")
                        for k, q in H.truncations(p, offsets, files["dir"])])


# --- random corruption (hypothesis) ---------------------------------------

def _mutated(files, base, edits, tag):
    data = bytearray(open(files[base], "rb").read())
    for where, value, bit in edits:
        i = where % len(data)
        if bit:
            data[i] ^= 1 << (value % 8)
        else:
            data[i] = value
    p = os.path.join(files["dir"], f"mut-{tag}.h5")
    with open(p, "wb") as fh:
        fh.write(data)
    return p


_edit = st.tuples(st.integers(0, 2 ** 31), st.integers(0, 255), st.booleans())


@settings(max_examples=examples(60))
@given(base=st.sampled_from(["v3", "v0", "contiguous"]),
       edits=st.lists(_edit, min_size=1, max_size=3))
def test_random_bit_and_byte_flips(worker, files, base, edits):
    p = _mutated(files, base, edits, "flip")
    why = _problems(worker.check(p))
    assert not why, f"{base} with edits {edits}: {why}"


@settings(max_examples=examples(25))
@given(base=st.sampled_from(["v3", "v0"]), start=st.integers(0, 2 ** 31),
       length=st.integers(1, 64), seed=st.integers(0, 2 ** 16))
def test_random_byte_runs(worker, files, base, start, length, seed):
    rng = random.Random(seed)
    edits = [(start + i, rng.randrange(256), False) for i in range(length)]
    p = _mutated(files, base, edits, "run")
    why = _problems(worker.check(p))
    assert not why, f"{base} overwritten at {start}+{length}: {why}"


# --- concurrency ------------------------------------------------------------

def _spawn_writer(path):
    return subprocess.Popen([sys.executable, "-c", H.FAST_WRITER, str(path), ROOT],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def test_reads_while_writing_never_false_truncation(tmp_path):
    path = tmp_path / "live.h5"
    proc = _spawn_writer(path)
    opens, errors, seen = 0, [], 0
    try:
        assert proc.stdout.readline().startswith("started")
        deadline = time.monotonic() + (20.0 if THOROUGH else 6.0)
        while time.monotonic() < deadline or opens < 100:
            try:
                with rankcore.open_run(path) as run:
                    T = len(run)
                    np.testing.assert_array_equal(run.steps, np.arange(T))
                    assert run.spectra().shape == (T, 64) and not run.finished
                    seen = max(seen, T)
            except SnapshotFileError as exc:
                errors.append(str(exc))
            opens += 1
    finally:
        proc.kill()
        proc.wait()
    assert not errors, f"{len(errors)} of {opens} opens of a healthy live file failed: {errors[:3]}"
    assert opens >= 100 and seen > 5
    # the killed writer's file: readable, not finished; a truncated copy of it
    # (still marked "open for writing") is refused within the retry budget
    with rankcore.open_run(path) as run:
        assert len(run) >= seen and not run.finished
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[:len(data) * 3 // 5])
    t0 = time.monotonic()
    with pytest.raises(SnapshotFileError, match="truncated"):
        rankcore.open_run(cut)
    assert time.monotonic() - t0 < LIMIT_S


# --- HDF5's retries bounded, with and without the libhdf5 that h5py uses ----

@pytest.fixture(scope="module")
def worker_without_libhdf5():
    w = H.Worker(timeout=LIMIT_S, libhdf5=False)
    yield w
    w.close()


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A run whose writer was killed (the file keeps the writer's mark), damaged copies."""
    d = tmp_path_factory.mktemp("killed")
    path = d / "killed.h5"
    proc = _spawn_writer(path)
    try:
        assert proc.stdout.readline().startswith("started")
        time.sleep(0.3)
    finally:
        proc.kill()
        proc.wait()
    damaged = H.metadata_corruptions(str(path), str(d))
    damaged = random.Random(3).sample(damaged, min(12, len(damaged)))
    size = os.path.getsize(path)
    cut = H.truncations(str(path), [size // 3, size * 3 // 5, size - 100], str(d))
    # a flipped byte in a checksummed block must be an error; a cut may fall
    # in space the killed writer had not yet used, so a cut file may read
    return str(path), [(p, "error") for _, p in damaged] + [(p, None) for _, p in cut]


@pytest.mark.parametrize("found", [True, False], ids=["libhdf5-found", "libhdf5-missing"])
def test_damaged_metadata_fails_fast_on_both_paths(request, files, killed, found):
    w = request.getfixturevalue("worker" if found else "worker_without_libhdf5")
    # checksummed metadata blocks with a flipped byte: without a bound on HDF5's
    # retries a SWMR reader sleeps inside HDF5 for hours on each of them
    damaged = H.metadata_corruptions(files["v3"], files["dir"])
    assert len(damaged) > 10
    cases = [(f"metadata at {k} damaged", p, "error") for k, p in damaged]
    cases += [(f"{fam} / {name}", p, exp)
              for fam, name, p, exp in H.hostile_cases(files["dir"])]
    live, live_damaged = killed
    cases += [("killed writer's file, damaged " + os.path.basename(p), p, exp)
              for p, exp in live_damaged]
    _check_all(w, cases)
    assert w.found_libhdf5 is found
    # a killed writer's (healthy) file: read where the retries are bounded,
    # refused at once where they cannot be
    r = w.check(live)
    assert not _problems(r, "data" if found else "error"), r
    if not found:
        assert "marked open for writing" in r["detail"] and r["seconds"] < LIMIT_S / 2


def test_racing_exclusive_creations(tmp_path):
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 8)
    rounds, racers = examples(8), 4
    for r in range(rounds):
        path = tmp_path / f"race{r}.h5"
        barrier = threading.Barrier(racers)
        results = []

        def go(i):
            barrier.wait()
            try:
                with SnapshotWriter(path, q, {"h": 2}, metadata={"writer": i}) as w:
                    w.append(0, loss=float(i), grams={"h": np.eye(2)})
                results.append(("won", i))
            except FileExistsError as exc:
                results.append(("lost", str(exc)))

        threads = [threading.Thread(target=go, args=(i,)) for i in range(racers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        won = [i for kind, i in results if kind == "won"]
        lost = [msg for kind, msg in results if kind == "lost"]
        assert len(won) == 1 and len(lost) == racers - 1, results
        assert all(str(path) in msg and "overwrite=True" in msg for msg in lost)
        with rankcore.open_run(path) as run:
            assert run.metadata["writer"] == won[0] and run.loss.tolist() == [won[0]]
            assert run.finished
    assert sorted(os.listdir(tmp_path)) == sorted(f"race{r}.h5" for r in range(rounds))


def test_overwrite_then_fail_keeps_the_old_file(tmp_path):
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 8)
    path = tmp_path / "run.h5"
    with SnapshotWriter(path, q, {"h": 2}) as w:
        for t in range(3):
            w.append(t, loss=1.0, grams={"h": np.eye(2)})
    old = path.read_bytes()
    # 1. an exception before the first snapshot
    with pytest.raises(KeyboardInterrupt):
        with SnapshotWriter(path, q, {"h": 5}, overwrite=True):
            raise KeyboardInterrupt
    # 2. a first snapshot that is refused
    with pytest.raises(ValueError, match="finite"):
        with SnapshotWriter(path, q, {"h": 2}, overwrite=True) as w:
            w.append(0, grams={"h": np.full((2, 2), np.nan)})
    # 3. a writer that is garbage-collected without close
    SnapshotWriter(path, q, {"h": 2}, overwrite=True)
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["run.h5"]
    with rankcore.open_run(path) as run:
        assert len(run) == 3 and run.n_features() == 2 and run.finished
    # the first committed snapshot replaces it
    with SnapshotWriter(path, q, {"h": 3}, overwrite=True) as w:
        w.append(7, grams={"h": np.eye(3)})
        with rankcore.open_run(path) as run:
            assert run.steps.tolist() == [7] and not run.finished
    with rankcore.open_run(path) as run:
        assert run.finished and os.listdir(tmp_path) == ["run.h5"]


def test_ctrl_c_during_a_bad_open(tmp_path):
    p = H.write_run(str(tmp_path / "r.h5"))
    data = open(p, "rb").read()
    bad = tmp_path / "bad.h5"
    bad.write_bytes(data[:40])
    code = (f"import sys; sys.path.insert(0, {ROOT!r}); import rankcore\n"
            f"print('ready', flush=True)\n"
            f"while True:\n"
            f"    try:\n"
            f"        rankcore.open_run({str(bad)!r})\n"
            f"    except rankcore.SnapshotFileError:\n"
            f"        pass\n")
    # SIGINT at its default in the child, also when pytest runs as a background job
    proc = popen_interruptible([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=LIMIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "KeyboardInterrupt" in err


def test_failed_record_checkpoints_keeps_the_old_file(tmp_path):
    torch = pytest.importorskip("torch")
    import bridge

    model = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 16)
    good = tmp_path / "ckpt_0.pt"
    torch.save(model.state_dict(), good)
    bad = tmp_path / "ckpt_1.pt"
    bad.write_bytes(b"not a checkpoint")
    out = tmp_path / "run.h5"
    bridge.record_checkpoints(model, [good], q, out)
    old = out.read_bytes()
    with pytest.raises(Exception):
        bridge.record_checkpoints(model, [good, bad], q, out, overwrite=True)
    assert out.read_bytes() == old  # the failed rebuild did not destroy the old run
    with pytest.raises(Exception):
        bridge.record_checkpoints(model, [good, bad], q, tmp_path / "new.h5")
    assert sorted(os.listdir(tmp_path)) == ["ckpt_0.pt", "ckpt_1.pt", "run.h5"]
