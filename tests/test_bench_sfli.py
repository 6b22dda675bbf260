"""The SFLI study and the UDI shape sweep run and print what they promise.

Tiny sizes (a few dozen iterations): these check the scripts' plumbing and
their tables, not the measurements (those are in bench/RESULTS.md).
"""

import os
import sys

import pytest

from _bench import load_bench

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
import sfli_study  # noqa: E402
import sfli_udi_shapes  # noqa: E402


def test_study_table_has_every_init_and_the_held_out_column(capsys):
    sfli_study.main(["--acts", "tanh", "relu", "--dims", "1", "2", "--targets", "1",
                     "--seeds", "1", "--steps", "30", "20", "20", "--procs", "1"])
    out = capsys.readouterr().out
    assert "held-out" in out
    rows = [line.split() for line in out.splitlines()
            if line.split()[:1] in (["tanh"], ["relu"])]
    assert {(r[0], r[1], r[2]) for r in rows} == {
        (a, d, i) for a in ("tanh", "relu") for d in ("1", "2") for i in ("xavier", "sfli")}


def test_held_out_grid_is_the_midpoints_with_the_training_scale():
    x, y = sfli_study.training_data(2, 0)
    xh, yh = sfli_study.training_data(2, 0, held_out=True)
    n = sfli_study.GRID[2]
    assert x.shape == (n * n, 2) and xh.shape == ((n - 1) ** 2, 2)
    assert float((y ** 2).mean()) == pytest.approx(0.5, rel=1e-5)
    # midpoints lie strictly between training points
    g = sorted(set(x[:, 0].tolist()))
    gh = sorted(set(xh[:, 0].tolist()))
    assert all(a < b < c for a, b, c in zip(g, gh, g[1:]))
    # same target, same factor: a training point's value is reproduced there
    f = sfli_study.target(2, 0)[0]
    c = float(y[0, 0]) / f(x[:1].double().numpy())[0]
    assert float(yh[0, 0]) == pytest.approx(c * f(xh[:1].double().numpy())[0], rel=1e-5)


def test_shape_sweep_chooses_among_the_tried_factors(capsys):
    choice = sfli_udi_shapes.main(["--dims", "2", "--acts", "tanh", "--mult", "1", "2",
                                   "--targets", "1", "--seeds", "1", "--steps", "20", "20", "20",
                                   "--procs", "1"])
    assert choice[("tanh", 2)] in (2.0, 4.0)
    assert "chosen s" in capsys.readouterr().out


def _load(name):
    return load_bench(name)


def test_shape_tables_bench_runs(capsys):
    """bench/sfli_shapes.py --quick (it once broke silently on an API change)."""
    _load("sfli_shapes").main(["--quick"])
    out = capsys.readouterr().out
    for act in ("tanh", "relu", "sin"):
        assert any(line.split()[:1] == [act] for line in out.splitlines())


def test_digits_reproduction_runs(tmp_path, capsys):
    """bench/repro_ex23_digits.py --quick trains both inits and reports ranks."""
    _load("repro_ex23_digits").main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "test acc" in out and (tmp_path / "repro_ex23_digits.png").exists()
