"""rankcore.runs_table and `rankcore table` over many run files, healthy and broken."""

import csv
import io
import math
import os
import pathlib
import sys

import numpy as np
import pandas as pd
import pytest

import rankcore
import rankcore.runs.table
from rankcore.cli import main
from rankcore.quadrature import gauss_legendre

EPS = [1e-3, 1e-6]
N_HEALTHY = 52


def _spectra(i, T):
    """Known descending spectra (T, 3) of run i: one eigenvalue rises over time."""
    t = np.arange(T)
    lam = np.stack([np.ones(T), 10.0 ** (-8.0 + 2 * t), np.full(T, 10.0 ** (-12 + i % 3))],
                   axis=1)
    return -np.sort(-lam, axis=1)


def _loss(i, T):
    return (i + 1) * 2.0 ** -np.arange(T)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """52 healthy runs and 8 broken or unusual files; paths as str and Path."""
    d = tmp_path_factory.mktemp("runs")
    q = gauss_legendre((0.0, 1.0), 6)
    healthy = []
    for i in range(N_HEALTHY):
        T = 3 + i % 5
        p = d / f"run{i:02d}.h5"
        lam = _spectra(i, T)
        with rankcore.SnapshotWriter(p, q, {"h": 3}, store_gram=False) as w:
            for t in range(T):
                w.append(100 * t + i, loss=_loss(i, T)[t], spectra={"h": lam[t]})
        healthy.append(str(p) if i % 2 else p)          # str and pathlib.Path
    broken = {}
    broken["garbage"] = d / "garbage.h5"
    broken["garbage"].write_bytes(b"this is not HDF5" * 10)
    broken["empty"] = d / "empty.h5"
    broken["empty"].write_bytes(b"")
    broken["truncated"] = d / "truncated.h5"
    data = pathlib.Path(healthy[0]).read_bytes()
    broken["truncated"].write_bytes(data[:len(data) // 2])
    broken["missing"] = str(d / "missing.h5")
    broken["directory"] = d / "adir.h5"
    broken["directory"].mkdir()
    import h5py
    broken["foreign"] = d / "foreign.h5"
    with h5py.File(broken["foreign"], "w") as f:
        f["x"] = np.arange(3)
    special = {}
    special["no_snapshots"] = d / "nosnap.h5"
    rankcore.SnapshotWriter(special["no_snapshots"], q, {"h": 3}).close()
    special["two_layers"] = d / "two.h5"
    with rankcore.SnapshotWriter(special["two_layers"], q, {"a": 2, "b": 3},
                                 store_gram=False) as w:
        for t in range(4):
            w.append(t, loss=1.0 / (t + 1),
                     spectra={"a": [1.0, 1e-9], "b": [1.0, 10.0 ** (-t), 1e-12]})
    return {"dir": d, "healthy": healthy, "broken": broken, "special": special}


@pytest.fixture
def sequential(monkeypatch):
    """No Dask client, even if the session's cluster is running."""
    monkeypatch.setattr(rankcore.runs.table, "active_client", lambda: None)


def _all_paths(runs):
    b = runs["broken"]
    paths = list(runs["healthy"])
    # broken files interleaved, one path repeated
    for k, name in enumerate(["garbage", "empty", "truncated", "missing", "directory",
                              "foreign"]):
        paths.insert(7 * k + 3, b[name])
    paths.append(runs["healthy"][5])
    return paths


def _check_healthy_row(row, i):
    T = 3 + i % 5
    lam = _spectra(i, T)
    assert row["snapshots"] == T
    assert row["first_step"] == i and row["last_step"] == 100 * (T - 1) + i
    assert row["final_loss"] == _loss(i, T)[-1] and row["min_loss"] == _loss(i, T)[-1]
    assert row["layer"] == "h" and row["n_features"] == 3 and row["finished"] is not False
    for e in EPS:
        assert row[f"rank_first@{e!r}"] == int(np.sum(lam[0] > e))
        assert row[f"rank_last@{e!r}"] == int(np.sum(lam[-1] > e))
    assert row["error"] == ""


def _records(df):
    return [{k: (None if v is pd.NA else v) for k, v in r.items()}
            for r in df.astype(object).to_dict("records")]


def test_table_sequential(runs, sequential):
    paths = _all_paths(runs)
    assert len(paths) >= 50 + 6
    df = rankcore.runs_table(paths, EPS)
    assert isinstance(df, pd.DataFrame) and len(df) == len(paths)
    assert list(df.columns[:3]) == ["path", "snapshots", "first_step"]
    assert df.columns[-1] == "error"
    assert str(df["snapshots"].dtype) == "Int64"
    # each path as given: the same objects, in order, duplicates kept
    assert all(a is b for a, b in zip(df["path"], paths))
    healthy_index = {id(p): i for i, p in enumerate(runs["healthy"])}
    broken = {id(p): k for k, p in runs["broken"].items()}
    for row, p in zip(_records(df), paths):
        if id(p) in broken:
            assert row["error"] and row["snapshots"] is None and row["rank_last@1e-06"] is None
        else:
            _check_healthy_row(row, healthy_index[id(p)])
    errors = dict(zip(map(id, paths), df["error"]))
    b = runs["broken"]
    assert errors[id(b["missing"])].startswith("FileNotFoundError: ")
    for k in ("garbage", "empty", "truncated", "directory", "foreign"):
        assert errors[id(b[k])].startswith("SnapshotFileError: "), (k, errors[id(b[k])])
    assert "truncated" in errors[id(b["truncated"])]


def test_table_on_cluster_equals_sequential(runs, dask_client, monkeypatch):
    from distributed import get_task_stream
    paths = _all_paths(runs)
    assert rankcore.runs.table.active_client() is dask_client
    with get_task_stream(dask_client) as ts:
        on_cluster = rankcore.runs_table(paths, EPS)
    assert any("_rows_for_paths" in str(t["key"]) for t in ts.data)  # ran on the workers
    monkeypatch.setattr(rankcore.runs.table, "active_client", lambda: None)
    here = rankcore.runs_table(paths, EPS)
    pd.testing.assert_frame_equal(on_cluster, here)
    assert all(a is b for a, b in zip(on_cluster["path"], paths))


def test_staircase_columns(runs, sequential):
    p = runs["healthy"][4]
    row = _records(rankcore.runs_table([p], EPS))[0]
    with rankcore.open_run(p) as run:
        for e in EPS:
            stats = rankcore.staircase(run, e).stats
            assert set(stats) and all(f"staircase_{k}@{e!r}" in row for k in stats)
            for k, v in stats.items():
                got = row[f"staircase_{k}@{e!r}"]
                assert got == v or (math.isnan(v) and math.isnan(got)), k


def test_special_runs(runs, sequential):
    s = runs["special"]
    rows = _records(rankcore.runs_table([s["no_snapshots"], s["two_layers"]], 1e-6,
                                        layer=None))
    assert rows[0]["snapshots"] == 0 and rows[0]["error"] == ""
    assert rows[0]["rank_last@1e-06"] is None and rows[0]["first_step"] is None
    b = _records(rankcore.runs_table([s["two_layers"]], [1e-6, 1e-2], layer="b"))[0]
    assert (b["layer"], b["n_features"], b["error"]) == ("b", 3, "")
    assert (b["rank_first@1e-06"], b["rank_last@1e-06"]) == (2, 2)
    assert (b["rank_first@0.01"], b["rank_last@0.01"]) == (2, 1)
    rel = _records(rankcore.runs_table([s["two_layers"]], 1e-2, layer="b", relative=True))[0]
    assert (rel["rank_first@0.01"], rel["rank_last@0.01"]) == (2, 1)
    bad = _records(rankcore.runs_table([s["two_layers"]], 1e-6, layer="zzz"))[0]
    assert "zzz" in bad["error"] and "'a'" in bad["error"] and bad["snapshots"] is None


def test_list_of_dicts_without_pandas(runs, sequential, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    paths = [runs["healthy"][1], runs["broken"]["garbage"], runs["healthy"][1]]
    rows = rankcore.runs_table(paths, 1e-3)
    assert isinstance(rows, list) and [type(r) for r in rows] == [dict] * 3
    assert [r["path"] for r in rows] == paths and rows[0]["path"] is paths[0]
    assert rows[0]["snapshots"] == 4 and rows[0]["error"] == "" and rows[0] == rows[2]
    assert rows[1]["snapshots"] is None and rows[1]["error"].startswith("SnapshotFileError")
    assert list(rows[1]) == list(rows[0])                # the same columns in every row


def test_empty_path_list(sequential):
    df = rankcore.runs_table([], 1e-3)
    assert len(df) == 0 and "error" in df.columns and "snapshots" in df.columns


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"paths": "run.h5"}, TypeError, "wrap a single path in a list"),
    ({"paths": pathlib.Path("run.h5")}, TypeError, "sequence of paths"),
    ({"paths": ["a.h5", 3]}, TypeError, r"paths\[1\] must be a str or os.PathLike"),
    ({"paths": 5}, TypeError, "paths must be a sequence"),
    ({"eps": -1.0}, ValueError, r"eps must be finite and > 0"),
    ({"eps": [1e-3, 0.0]}, ValueError, r"eps\[1\]"),
    ({"eps": [1e-3, 1e-3]}, ValueError, "must not repeat"),
    ({"eps": float("nan")}, ValueError, "finite"),
    ({"eps": "1e-3"}, TypeError, "eps"),
    ({"layer": 0}, TypeError, "layer must be a str"),
    ({"relative": "yes"}, TypeError, "relative must be True or False"),
])
def test_bad_input(kwargs, exc, match):
    args = {"paths": ["a.h5"], "eps": 1e-3}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        rankcore.runs_table(args.pop("paths"), args.pop("eps"), **args)


# -- the command line -------------------------------------------------------------

def test_cli_table_text_and_csv(runs, sequential, capsys):
    healthy = [os.fspath(p) for p in runs["healthy"][:6]]
    assert main(["table", *healthy, "--eps", "1e-3", "1e-6"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split()[:3] == ["path", "snapshots", "first_step"]
    assert len(text) == 1 + 6 and text[1].split()[0] == healthy[0]
    bad = os.fspath(runs["broken"]["garbage"])
    assert main(["table", healthy[0], bad, "--eps", "1e-3", "--csv"]) == 1
    out, err = capsys.readouterr()
    assert "1 of 2 files could not be read" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["path"] for r in rows] == [healthy[0], bad]
    assert rows[0]["rank_last@0.001"] == str(int(np.sum(_spectra(0, 3)[-1] > 1e-3)))
    assert rows[0]["error"] == "" and rows[0]["snapshots"] == "3"
    assert rows[1]["snapshots"] == "" and rows[1]["error"].startswith("SnapshotFileError")
    two = os.fspath(runs["special"]["two_layers"])
    assert main(["table", two, "--eps", "1e-2", "--layer", "b", "--relative", "--csv"]) == 0
    assert list(csv.DictReader(io.StringIO(capsys.readouterr().out)))[0]["layer"] == "b"


def test_cli_table_scheduler_and_workers(runs, dask_client, capsys, tmp_path, monkeypatch):
    # relative paths: --scheduler sends absolute ones to the workers
    monkeypatch.chdir(runs["dir"])
    names = [pathlib.Path(p).name for p in runs["healthy"][:4]]
    addr = dask_client.scheduler.address
    assert main(["table", *names, "--eps", "1e-3", "--csv", "--scheduler", addr]) == 0
    on_cluster = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["path"] for r in on_cluster] == [os.path.abspath(n) for n in names]
    assert main(["table", *names, "--eps", "1e-3", "--csv", "--workers", "1"]) == 0
    local = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["path"] for r in local] == names
    assert [r["rank_last@0.001"] for r in local] == [r["rank_last@0.001"] for r in on_cluster]


@pytest.mark.parametrize("argv, match", [
    (["--workers", "0"], "workers must be an integer >= 1"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "either scheduler"),
    (["--layer", "a", "--layer", "b"], "one layer"),
    (["--eps", "-1"], "--eps"),
])
def test_cli_table_bad_options(argv, match, capsys, tmp_path):
    assert main(["table", str(tmp_path / "x.h5"), *argv]) == 2
    assert match in capsys.readouterr().err


def test_cli_table_without_distributed(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    assert main(["table", str(tmp_path / "x.h5"), "--workers", "2"]) == 2
    assert "pip install rankcore[dask]" in capsys.readouterr().err
