"""rankcore.runs.libhdf5: the libhdf5 that h5py uses, found without /proc, or None.

The damaged-file behaviour of both paths (library found, library not found)
is tested on hostile files in test_fuzz_snapshots.py; here, the finder and
the fallback's decisions on healthy files, in this process.
"""

import builtins
import ctypes
import os

import h5py
import numpy as np
import pytest

import rankcore
from rankcore.runs import SnapshotFileError, SnapshotWriter, libhdf5


@pytest.fixture
def not_found(monkeypatch):
    """This process's rankcore does not find libhdf5, as where it cannot be found."""
    monkeypatch.setattr(libhdf5, "_candidates", lambda: [])
    monkeypatch.setattr(libhdf5, "_FOUND", [])
    assert libhdf5.library() is None


def _read_attempts(lib, fapl):
    got = ctypes.c_uint()
    assert lib.H5Pget_metadata_read_attempts(fapl.id, ctypes.byref(got)) >= 0
    return got.value


def test_found_and_it_is_the_library_of_h5py():
    lib = libhdf5.library()
    assert lib is not None, "the libhdf5 that h5py uses was not found"
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    assert libhdf5.set_metadata_read_attempts(fapl, 3) is True
    assert _read_attempts(lib, fapl) == 3  # set on h5py's own property list


def test_found_without_reading_proc(monkeypatch):
    real_open = builtins.open

    def no_proc(file, *args, **kwargs):
        if str(file).startswith("/proc"):
            raise OSError(2, "no /proc on this system", file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_proc)
    assert libhdf5.find_library() is not None


def test_other_candidates_are_refused(tmp_path, monkeypatch):
    text = tmp_path / "libhdf5.so"
    text.write_text("not a library")
    for bad in (str(text), str(tmp_path / "missing.so"), "libc.so.6"):
        assert libhdf5._verified(bad) is None, bad
    monkeypatch.setattr(libhdf5, "_candidates", lambda: [str(text), "libc.so.6"])
    assert libhdf5.find_library() is None


def _run(path, T=3):
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 8)
    w = SnapshotWriter(path, q, {"h": 2})
    for t in range(T):
        w.append(t, loss=1.0 / (t + 1), grams={"h": np.diag([1.0, 10.0 ** -t])})
    return w


def test_without_the_library_finished_runs_read_the_same(tmp_path, not_found):
    path = tmp_path / "run.h5"
    _run(path).close()
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    assert libhdf5.set_metadata_read_attempts(fapl, 4) is False
    with rankcore.open_run(path) as run:  # opened without SWMR reading
        assert run.steps.tolist() == [0, 1, 2] and run.finished
        assert run.eps_rank(0.05).tolist() == [2, 2, 1]


def test_without_the_library_a_live_file_is_refused_at_once(tmp_path, monkeypatch):
    path = tmp_path / "live.h5"
    w = _run(path)  # open: the file carries the writer's mark
    try:
        with rankcore.open_run(path) as run:  # found: read while it is written
            assert len(run) == 3 and not run.finished
        monkeypatch.setattr(libhdf5, "_candidates", lambda: [])
        monkeypatch.setattr(libhdf5, "_FOUND", [])
        with pytest.raises(SnapshotFileError,
                           match="marked open for writing .* cannot bound HDF5's retries"):
            rankcore.open_run(path)
    finally:
        w.close()
    with rankcore.open_run(path) as run:  # closed: read without SWMR reading
        assert len(run) == 3 and run.finished
    assert os.listdir(tmp_path) == ["live.h5"]
