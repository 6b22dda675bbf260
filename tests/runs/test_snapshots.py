"""Snapshot file format: writer/reader round trip, crash safety, bad files.

These tests use only the torch-free side (rankcore.runs); the torch
recorder is tested in test_recorder.py.
"""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _examples import examples

import rankcore
from rankcore.runs import (FORMAT_NAME, FORMAT_VERSION, SnapshotFileError,
                           SnapshotWriter)

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)


def _quad():
    return rankcore.quadrature.gauss_legendre((-1.0, 2.0), 6)


def _random_psd(rng, n, rank=None):
    a = rng.standard_normal((n, rank or n))
    return a @ a.T


def _write_run(path, T=5, store_features=True, seed=0):
    """Write a run with every field and return what was written."""
    rng = np.random.default_rng(seed)
    q = _quad()
    layers = {"a": 3, "b.1:input": 4}
    data = {"steps": [], "loss": [], "wall": [], "lr": [], "acc": [],
            "grams": {k: [] for k in layers}, "feat": {k: [] for k in layers}}
    with SnapshotWriter(path, q, layers, scalars=["lr", "acc"],
                        store_features=store_features, feature_dtype="float64",
                        metadata={"seed": 7, "model": "MLP(3x50)", "flag": True,
                                  "lr0": 1e-3}) as w:
        for t in range(T):
            grams, feats = {}, {}
            for k, n in layers.items():
                F = rng.standard_normal((q.n_points, n))
                feats[k] = F
                grams[k] = rankcore.gram(F, q.weights)
                data["grams"][k].append(grams[k])
                data["feat"][k].append(F)
            sc = {"lr": 0.1 * t}
            if t != 2:
                sc["acc"] = 1.0 - 1.0 / (t + 1)
            w.append(10 * t + 3, loss=2.0 ** -t, grams=grams,
                     features=feats if store_features else None,
                     scalars=sc, wall_time=0.5 * t)
            data["steps"].append(10 * t + 3)
            data["loss"].append(2.0 ** -t)
            data["wall"].append(0.5 * t)
            data["lr"].append(0.1 * t)
            data["acc"].append(np.nan if t == 2 else 1.0 - 1.0 / (t + 1))
    return q, layers, data


def test_round_trip_every_field(tmp_path):
    path = tmp_path / "run.h5"
    q, layers, data = _write_run(path)
    with rankcore.open_run(path) as run:
        assert len(run) == 5
        assert run.layers == list(layers)
        assert run.format_version == FORMAT_VERSION
        np.testing.assert_array_equal(run.steps, data["steps"])
        assert run.steps.dtype == np.int64
        np.testing.assert_array_equal(run.loss, data["loss"])
        np.testing.assert_array_equal(run.wall_time, data["wall"])
        assert set(run.scalars) == {"lr", "acc"}
        np.testing.assert_array_equal(run.scalars["lr"], data["lr"])
        np.testing.assert_array_equal(run.scalars["acc"], data["acc"])  # NaN where absent
        np.testing.assert_array_equal(run.quadrature.points, q.points)
        np.testing.assert_array_equal(run.quadrature.weights, q.weights)
        np.testing.assert_array_equal(run.quadrature.box, q.box)
        for k, n in layers.items():
            assert run.n_features(k) == n
            G = np.array(data["grams"][k])
            np.testing.assert_array_equal(run.grams(k), G)
            np.testing.assert_array_equal(run.grams(k, index=-1), G[-1])
            np.testing.assert_array_equal(run.spectra(k), rankcore.spectrum(G))
            np.testing.assert_array_equal(run.features(k), np.array(data["feat"][k]))
            np.testing.assert_array_equal(run.features(k, index=1), data["feat"][k][1])
        m = run.metadata
        assert m["seed"] == 7 and m["model"] == "MLP(3x50)" and m["flag"] == 1
        assert m["lr0"] == 1e-3 and m["rankcore_version"] == rankcore.__version__
        assert "created" in m and "start_time_unix" in m
        assert run.finished
        # with several layers, every per-layer accessor needs layer=
        for call in (run.spectra, run.grams, run.features, run.n_features,
                     run.has_grams, lambda: run.eps_rank(1e-3)):
            with pytest.raises(ValueError, match=r"layer is required.*\['a', 'b.1:input'\]"):
                call()
    # the file is plain HDF5: readable with h5py alone
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == FORMAT_NAME
        assert int(f["count"][()]) == 5
        assert f["layers/b.1:input/spectrum"].shape == (5, 4)
        assert f["layers/a/gram"].dtype == np.float64


def test_eps_rank_from_stored_spectra(tmp_path):
    path = tmp_path / "r.h5"
    q = _quad()
    lam = np.array([[1.0, 1e-3, 1e-8, 0.0], [4.0, 1e-1, 1e-5, 1e-9]])
    with SnapshotWriter(path, q, {"h": 4}, store_gram=False) as w:
        for t, s in enumerate(lam):
            w.append(t, spectra={"h": s})
    with rankcore.open_run(path) as run:
        assert not run.has_grams()
        np.testing.assert_array_equal(run.eps_rank(1e-6), [2, 3])
        np.testing.assert_array_equal(run.eps_rank([1e-2, 1e-6], relative=True),
                                      [[1, 2], [2, 3]])
        assert run.eps_rank(1e-6, layer="h").dtype.kind == "i"
        with pytest.raises(ValueError, match="stores no Gram"):
            run.grams()
        with pytest.raises(ValueError, match="stores no features"):
            run.features()
        with pytest.raises(ValueError, match="layer must be one of"):
            run.spectra("nope")


@settings(max_examples=examples(15))
@given(T=st.integers(0, 6), n=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_round_trip_property(tmp_path_factory, T, n, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path_factory.mktemp("p") / "run.h5"
    grams = [_random_psd(rng, n, rank=rng.integers(1, n + 1)) for _ in range(T)]
    steps = np.cumsum(rng.integers(1, 100, size=T))
    with SnapshotWriter(path, _quad(), {"x": n}) as w:
        for s, g in zip(steps, grams):
            w.append(int(s), loss=float(rng.random()), grams={"x": g})
    with rankcore.open_run(path) as run:
        assert len(run) == T
        np.testing.assert_array_equal(run.steps, steps)
        assert run.spectra().shape == (T, n)
        if T:
            np.testing.assert_array_equal(run.grams(), np.array(grams))
            eps = [1e-8, 1e-2, 1.0]
            np.testing.assert_array_equal(
                run.eps_rank(eps), rankcore.eps_rank(np.array(grams), eps, kind="gram"))
        else:
            assert run.eps_rank(1e-3).shape == (0,)


def test_writer_validates_before_writing(tmp_path):
    path = tmp_path / "v.h5"
    with SnapshotWriter(path, _quad(), {"h": 2}) as w:
        with pytest.raises(ValueError, match=r"grams\['h'\] must have shape \(2, 2\)"):
            w.append(0, grams={"h": np.eye(3)})
        with pytest.raises(ValueError, match="unknown layer"):
            w.append(0, grams={"h": np.eye(2), "zz": np.eye(2)})
        with pytest.raises(TypeError, match="step must be an int"):
            w.append(1.5, grams={"h": np.eye(2)})
        with pytest.raises(ValueError, match="finite"):
            w.append(0, grams={"h": np.array([[np.nan, 0], [0, 1]])})
        with pytest.warns(RuntimeWarning, match="not declared"):
            w.append(0, grams={"h": np.eye(2)}, scalars={"new": 1.0})
        assert w.count == 1
    with rankcore.open_run(path) as run:
        assert len(run) == 1 and run.scalars == {}
    with pytest.raises(FileExistsError, match="overwrite=True"):
        SnapshotWriter(path, _quad(), {"h": 2})
    with pytest.raises(ValueError, match="layers must be a non-empty dict"):
        SnapshotWriter(tmp_path / "x.h5", _quad(), {})
    with pytest.raises(TypeError, match="no pickled objects"):
        SnapshotWriter(tmp_path / "x.h5", _quad(), {"h": 2}, metadata={"m": [1, 2]})
    assert not (tmp_path / "x.h5").exists()
    assert sorted(os.listdir(tmp_path)) == ["v.h5"]  # no temporary left behind


# --- live files and crashes -------------------------------------------------

def _spawn_writer(path, mode="--plain"):
    return subprocess.Popen(
        [sys.executable, os.path.join(TESTS, "_killed_writer.py"), str(path), mode],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _wait_flushes(proc, k, timeout=60):
    t0 = time.time()
    last = 0
    for line in proc.stdout:
        if line.startswith("flushed"):
            last = int(line.split()[1])
            if last >= k:
                return last
        if time.time() - t0 > timeout:
            break
    proc.kill()
    raise AssertionError(f"writer reported only {last} flushes; stderr: {proc.stderr.read()}")


def test_sigkill_plain_writer_leaves_readable_file(tmp_path):
    path = tmp_path / "killed.h5"
    proc = _spawn_writer(path)
    try:
        reported = _wait_flushes(proc, 8)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # The superblock still says "open for writing": a plain open refuses ...
    with pytest.raises(OSError):
        h5py.File(path, "r", locking=False)
    # ... but open_run needs no h5clear.
    with rankcore.open_run(path) as run:
        T = len(run)
        assert T >= reported and not run.finished
        np.testing.assert_array_equal(run.steps, np.arange(T))
        np.testing.assert_array_equal(run.loss, 1.0 / (np.arange(T) + 1))
        assert np.all(run.scalars["lr"] == 0.5)
        assert run.spectra().shape == (T, 4) and np.all(np.isfinite(run.spectra()))
        exp = rankcore.eps_rank(np.array([[1.0, 0.1, 0.01, 10.0 ** -(t % 12)]
                                          for t in range(T)]), 1e-6, kind="spectrum")
        np.testing.assert_array_equal(run.eps_rank(1e-6), exp)


def test_reader_follows_live_file(tmp_path):
    path = tmp_path / "live.h5"
    proc = _spawn_writer(path)
    try:
        _wait_flushes(proc, 3)
        run = rankcore.open_run(path)
        first = len(run)
        assert first >= 3
        seen_more = False
        deadline = time.time() + 30
        while time.time() < deadline:
            _wait_flushes(proc, first + 5)
            before = len(run)
            new = run.refresh()
            assert len(run) == before + new  # refresh reports what it added
            if len(run) > first:
                seen_more = True
                break
        assert seen_more
        # everything a live reader sees is complete
        T = len(run)
        np.testing.assert_array_equal(run.steps, np.arange(T))
        assert np.all(np.isfinite(run.spectra())) and run.spectra().shape == (T, 4)
        assert np.all(run.loss > 0)
        run.close()
    finally:
        proc.kill()
        proc.wait()


def test_open_run_without_torch(tmp_path):
    path = tmp_path / "nt.h5"
    _write_run(path, T=3, store_features=False)
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {ROOT!r})
        import rankcore
        run = rankcore.open_run({str(path)!r})
        print(len(run), run.eps_rank(1e-6, layer="a").tolist(), run.layers)
        from rankcore.cli import main
        assert main(["info", {str(path)!r}]) == 0
        assert "torch" not in sys.modules
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("3 ")


# --- malformed files --------------------------------------------------------

def test_random_bytes(tmp_path):
    p = tmp_path / "rand.h5"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(SnapshotFileError, match="not an HDF5 file"):
        rankcore.open_run(p)


def test_truncated_copy(tmp_path):
    p = tmp_path / "full.h5"
    _write_run(p, T=4)
    data = p.read_bytes()
    for frac in (0.5, 0.9):
        t = tmp_path / f"trunc{frac}.h5"
        t.write_bytes(data[:int(len(data) * frac)])
        with pytest.raises(SnapshotFileError, match="truncated"):
            rankcore.open_run(t)


def test_foreign_hdf5(tmp_path):
    p = tmp_path / "foreign.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(SnapshotFileError, match="not a rankcore snapshot file"):
        rankcore.open_run(p)
    assert issubclass(SnapshotFileError, ValueError)


def test_newer_format_version(tmp_path):
    p = tmp_path / "new.h5"
    _write_run(p, T=2, store_features=False)
    with h5py.File(p, "r+") as f:
        f.attrs["format_version"] = np.int64(FORMAT_VERSION + 1)
    with pytest.raises(SnapshotFileError,
                       match=rf"newer rankcore \(format {FORMAT_VERSION + 1} > supported "
                             rf"{FORMAT_VERSION}\)"):
        rankcore.open_run(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        rankcore.open_run(tmp_path / "none.h5")
    with pytest.raises(SnapshotFileError, match="directory"):
        rankcore.open_run(tmp_path)


def test_closed_run(tmp_path):
    p = tmp_path / "c.h5"
    _write_run(p, T=1, store_features=False)
    run = rankcore.open_run(p)
    copy = tmp_path / "copy.h5"
    shutil.copy(p, copy)
    run.close()
    run.close()
    with pytest.raises(ValueError, match="closed"):
        run.refresh()
    with rankcore.open_run(copy) as r2:
        assert len(r2) == 1


# -- hardening: reader and writer arguments ---------------------------------

def test_row_index_must_be_an_int(tmp_path):
    p = tmp_path / "r.h5"
    _write_run(p, T=3)
    with rankcore.open_run(p) as run:
        assert np.array_equal(run.grams("a", index=np.int64(1)), run.grams("a")[1])
        for bad in (1.5, True, "1"):
            with pytest.raises(TypeError, match=r"index must be an int, got"):
                run.grams("a", index=bad)
            with pytest.raises(TypeError, match=r"index must be an int, got"):
                run.features("a", index=bad)


def test_eps_rank_of_empty_run_validates_eps(tmp_path):
    p = tmp_path / "e.h5"
    SnapshotWriter(p, _quad(), {"h": 2}).close()
    with rankcore.open_run(p) as run:
        assert run.eps_rank(1e-3).shape == (0,)
        assert run.eps_rank([1e-3, 1e-6]).shape == (0, 2)
        with pytest.raises(ValueError, match=r"eps must be a finite number > 0, got -1"):
            run.eps_rank(-1)
        with pytest.raises(ValueError, match=r"eps must be a finite number > 0, got nan"):
            run.eps_rank(float("nan"))
        with pytest.raises(TypeError, match=r"eps must be a real number, got 'abc'"):
            run.eps_rank("abc")


def test_append_refuses_non_dict_mappings(tmp_path):
    p = tmp_path / "d.h5"
    with SnapshotWriter(p, _quad(), {"h": 2}) as w:
        G = np.eye(2)
        for kw in ({"grams": [G]}, {"spectra": [np.ones(2)]}, {"scalars": [1.0]}):
            (name, _), = kw.items()
            args = {"grams": {"h": G}, **kw}
            with pytest.raises(TypeError, match=rf"{name} must be a dict .*got list of length 1"):
                w.append(0, **args)
        assert w.count == 0


@pytest.mark.parametrize("bad", [3, None, 1.5])
def test_open_run_path_type(bad):
    with pytest.raises(TypeError, match=r"path must be a str or os.PathLike, got"):
        rankcore.open_run(bad)


def test_writer_start_time_checked_before_writing(tmp_path):
    p = tmp_path / "s.h5"
    with pytest.raises(TypeError, match=r"start_time must be a real number, got 'abc'"):
        SnapshotWriter(p, _quad(), {"h": 2}, start_time="abc")
    with pytest.raises(ValueError, match=r"start_time must be a finite Unix time, got nan"):
        SnapshotWriter(p, _quad(), {"h": 2}, start_time=float("nan"))
    assert not p.exists() and os.listdir(tmp_path) == []


# -- format 2: end-of-run marker; what the writer refuses --------------------

def test_finished_marker(tmp_path):
    p = tmp_path / "f.h5"
    w = SnapshotWriter(p, _quad(), {"h": 2})
    w.append(0, grams={"h": np.eye(2)})
    with rankcore.open_run(p) as run:
        assert not run.finished and run.format_version == FORMAT_VERSION == 2
        w.close()
        run.refresh()
        assert run.finished  # a live reader sees the marker arrive
    with pytest.raises(RuntimeError, match="boom"):
        with SnapshotWriter(tmp_path / "g.h5", _quad(), {"h": 2}) as w:
            w.append(0, grams={"h": np.eye(2)})
            raise RuntimeError("boom")
    with rankcore.open_run(tmp_path / "g.h5") as run:
        assert len(run) == 1 and not run.finished  # kept, but not marked finished


def test_format_1_files_still_read(tmp_path):
    p = tmp_path / "v1.h5"
    with h5py.File(p, "w", libver="latest") as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = np.int64(1)
        f.attrs["layers"] = np.array(["h"], dtype=h5py.string_dtype())
        f.attrs["scalars"] = np.array([], dtype=h5py.string_dtype())
        q = _quad()
        f["quadrature/points"], f["quadrature/weights"] = q.points, q.weights
        f["quadrature/box"] = q.box
        f["count"] = np.int64(2)
        f["steps"], f["loss"] = np.array([0, 5]), np.array([1.0, np.nan])
        f["wall_time"] = np.array([0.0, 1.0])
        f["layers/h/spectrum"] = np.array([[2.0, 1.0], [3.0, 0.0]])
    with rankcore.open_run(p) as run:
        assert run.format_version == 1 and run.finished  # closed normally by HDF5
        assert run.steps.tolist() == [0, 5] and run.eps_rank(0.5).tolist() == [2, 1]


def test_writer_refuses_what_the_reader_refuses(tmp_path):
    p = tmp_path / "w.h5"
    with SnapshotWriter(p, _quad(), {"h": 3}) as w:
        w.append(5, spectra={"h": [3.0, 1.0, 0.0]}, grams={"h": np.eye(3)})
        for kw, msg in [
                ({"step": 5}, r"step must be larger than the previous step 5, got 5"),
                ({"step": 4}, r"larger than the previous step"),
                ({"loss": np.inf}, r"loss must be finite or NaN"),
                ({"wall_time": -np.inf}, r"wall_time must be finite or NaN"),
                ({"spectra": {"h": [1.0, 3.0, 0.0]}}, r"descending order, but it is not"),
                ({"spectra": {"h": [3.0, 1.0, -0.1]}}, r"it has the negative eigenvalue -0.1"),
                ({"spectra": {"h": [3.0, np.nan, 0.0]}}, r"must be finite")]:
            args = {"step": 6, "grams": {"h": np.eye(3)}, **kw}
            with pytest.raises(ValueError, match=msg):
                w.append(args.pop("step"), **args)
        w.append(6, loss=np.nan, spectra={"h": [3.0, 1.0, -1e-17]}, grams={"h": np.eye(3)})
        assert w.count == 2
    for bad in ("a\x1b[2J", "x\ny", "a/b", ""):
        with pytest.raises(ValueError, match="control characters"):
            SnapshotWriter(tmp_path / "n.h5", _quad(), {bad: 2})
        with pytest.raises(ValueError, match="control characters"):
            SnapshotWriter(tmp_path / "n.h5", _quad(), {"h": 2}, scalars=[bad])
    with pytest.raises(ValueError, match="NUL"):
        SnapshotWriter(tmp_path / "n.h5", _quad(), {"h": 2}, metadata={"m": "a\x00b"})
    assert sorted(os.listdir(tmp_path)) == ["w.h5"]


# -- no lost runs: disk full, permissions -----------------------------------

_DISK_FULL = textwrap.dedent("""
    import os, resource, signal, sys
    sys.path.insert(0, sys.argv[2])
    import numpy as np
    import rankcore
    from rankcore.runs import SnapshotWriter
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    d = sys.argv[1]
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 64)
    old = os.path.join(d, "old.h5")
    with SnapshotWriter(old, q, {"h": 4}) as w:
        w.append(0, grams={"h": np.eye(4)})
    before = open(old, "rb").read()
    # a file-size limit: writes past it fail with EFBIG, like a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, resource.RLIM_INFINITY))
    # (n = 300: the first snapshot is too big; n = 100: a few fit)
    for target, overwrite, n in ((old, True, 300), (os.path.join(d, "new.h5"), False, 100)):
        try:
            with SnapshotWriter(target, q, {"h": n}, overwrite=overwrite,
                                store_features=True, feature_dtype="float64") as w:
                for t in range(100):
                    w.append(t, grams={"h": np.eye(n)}, features={"h": np.ones((64, n))})
            print("no error")
        except OSError as exc:
            print("OSError", exc.errno, exc.filename == target, target in str(exc),
                  ".tmp" in str(exc), w.count)
    print("old kept", open(old, "rb").read() == before)
    with rankcore.open_run(os.path.join(d, "new.h5")) as run:
        print("new", len(run), run.finished, run.steps.tolist())
    print("files", sorted(os.listdir(d)))
""")


def test_disk_full_is_an_oserror_naming_the_path(tmp_path):
    out = subprocess.run([sys.executable, "-c", _DISK_FULL, str(tmp_path), ROOT],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]  # no crash at exit either
    lines = out.stdout.splitlines()
    # replacing writer: its first snapshot fails, the old file stays
    assert lines[0] == "OSError 27 True True False 0", out.stdout
    # new file: the snapshots committed before the failure stay readable
    code, efbig, named, in_msg, tmp, count = lines[1].split()
    assert (code, efbig, named, in_msg, tmp) == ("OSError", "27", "True", "True", "False")
    assert int(count) >= 2
    assert lines[2] == "old kept True"
    assert lines[3] == f"new {count} False {list(range(int(count)))}"
    assert lines[4] == "files ['new.h5', 'old.h5']"  # no temporary file left


def test_permission_error_names_the_path(tmp_path):
    if os.geteuid() == 0:  # root may write anywhere but /sys
        path = "/sys/rankcore-permission-test.h5"
        if not os.path.isdir("/sys"):
            pytest.skip("no /sys to be refused by as root")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        os.chmod(ro, 0o555)
        path = str(ro / "run.h5")
    with pytest.raises(PermissionError) as info:
        SnapshotWriter(path, _quad(), {"h": 2})
    assert info.value.filename == path and path in str(info.value)
    assert ".tmp" not in str(info.value)
