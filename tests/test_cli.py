"""The ``rankcore`` command line on a real small recorded run."""

import csv
import io
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from _signals import popen_interruptible

import bridge
import rankcore
from rankcore.cli import main

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _train(path, seed, steps=60, every=5):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(1, 24), torch.nn.Tanh(),
                                torch.nn.Linear(24, 24), torch.nn.Tanh(),
                                torch.nn.Linear(24, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.linspace(-1, 1, 200)[:, None]
    y = torch.sin(6 * x) + 0.5 * torch.sin(15 * x)
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 128)
    with bridge.SnapshotRecorder(path, model, q, layers=["1", "4:input"], every=every,
                                 seed=seed) as rec:
        for step in range(steps + 1):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            rec.record(step, loss=loss, lr=1e-2)
            loss.backward()
            opt.step()
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    return _train(d / "run_a.h5", 0), _train(d / "run_b.h5", 1)


def _call(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_info(runs, capsys):
    code, out, err = _call(capsys, "info", runs[0])
    assert code == 0, err
    assert "snapshots:      13" in out
    assert "steps:          0 .. 60" in out
    assert "1: n=24" in out and "4:input: n=24" in out
    assert "scalars:        lr" in out and "seed: 0" in out


def test_rank_text_and_csv(runs, capsys):
    eps = [1e-6, 1e-3, 1e-1]
    code, out, err = _call(capsys, "rank", runs[0], "--eps", *eps, "--csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["step", "loss"] + [f"{layer}@abs_eps={e:g}"
                                          for layer in ("1", "4:input") for e in eps]
    body = np.array(rows[1:], dtype=float)
    with rankcore.open_run(runs[0]) as run:
        np.testing.assert_array_equal(body[:, 0], run.steps)
        np.testing.assert_allclose(body[:, 1], run.loss, rtol=1e-5)
        np.testing.assert_array_equal(body[:, 2:5], run.eps_rank(eps, layer="1"))
        np.testing.assert_array_equal(body[:, 5:8], run.eps_rank(eps, layer="4:input"))
        rel = run.eps_rank(1e-4, layer="4:input", relative=True)
    code, out, err = _call(capsys, "rank", runs[0], "--eps", "1e-4", "--relative",
                           "--layer", "4:input")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert "relative" in lines[0] and "lambda_max" in lines[0]
    assert lines[1].split() == ["step", "loss", "4:input@rel_eps=0.0001"]
    np.testing.assert_array_equal([int(ln.split()[-1]) for ln in lines[2:]], rel)
    code, out, _ = _call(capsys, "rank", runs[0])
    assert code == 0 and "absolute" in out.splitlines()[0]


def test_plot_png(runs, tmp_path, capsys):
    import matplotlib.image as mpimg

    png = tmp_path / "stair.png"
    code, out, err = _call(capsys, "plot", *runs, "-o", png, "--eps", "1e-6", "1e-3")
    assert code == 0, err
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert 10_000 < len(data) < 5_000_000
    img = mpimg.imread(png)
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 300
    assert img[..., :3].std() > 0.05  # not a blank canvas
    assert "2 panel(s), 2 run(s)" in out and "absolute" in out


def test_watch_finished_run(runs, capsys):
    code, out, err = _call(capsys, "watch", runs[0], "--max-updates", "1",
                           "--eps", "1e-6", "1e-2")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert "absolute" in lines[0]
    with rankcore.open_run(runs[0]) as run:
        r1 = run.eps_rank([1e-6, 1e-2], layer="1")
        # header, column names, one line per snapshot, then the end-of-run line
        assert len(lines) == 3 + len(run)
        assert lines[-1] == f"# run finished: {len(run)} snapshots"
        first = lines[2].split()
        assert first[0] == "0" and first[2] == f"{r1[0, 0]}/{r1[0, 1]}"


def test_watch_follows_live_file(tmp_path):
    path = tmp_path / "live.h5"
    writer = subprocess.Popen([sys.executable, os.path.join(HERE, "_killed_writer.py"),
                               str(path), "--plain"], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT)
    watch = None
    try:
        for line in writer.stdout:
            if int(line.split()[1]) >= 2:
                break
        # freeze the writer so we know what exists when watch starts
        writer.send_signal(signal.SIGSTOP)
        with rankcore.open_run(path) as run:
            at_start = len(run)
        watch = subprocess.Popen([sys.executable, "-m", "rankcore", "watch", str(path),
                                  "--interval", "0.2", "--max-updates", "15"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, cwd=ROOT)
        lines = [watch.stdout.readline() for _ in range(2 + at_start)]
        assert lines[-1].split()[0] == str(at_start - 1)
        writer.send_signal(signal.SIGCONT)
        rest, err = watch.communicate(timeout=120)
    finally:
        writer.send_signal(signal.SIGCONT)
        writer.kill()
        writer.wait()
        if watch is not None and watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, err
    steps = [int(ln.split()[0]) for ln in (lines[2:] + rest.splitlines())]
    assert steps == list(range(len(steps)))
    assert len(steps) > at_start  # snapshots written after watch started were shown


def test_watch_waits_for_file_and_stops_on_ctrl_c(tmp_path):
    path = tmp_path / "later.h5"
    # SIGINT at its default in watch, also when pytest runs as a background job
    watch = popen_interruptible([sys.executable, "-m", "rankcore", "watch", str(path),
                                 "--interval", "0.1", "--max-updates", "600"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=ROOT)
    writer = None
    try:
        assert watch.stdout.readline().startswith("# waiting for")
        writer = subprocess.Popen([sys.executable, os.path.join(HERE, "_killed_writer.py"),
                                   str(path), "--plain"], stdout=subprocess.PIPE,
                                  text=True, cwd=ROOT)
        lines = []
        while not lines or lines[-1].startswith(("#", "step")):
            lines.append(watch.stdout.readline())
            assert lines[-1], "watch ended before showing a snapshot"
        watch.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop, status 0
        rest, err = watch.communicate(timeout=60)
    finally:
        if writer is not None:
            writer.kill()
            writer.wait()
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, err
    assert "Traceback" not in err
    assert lines[-1].split()[0] == "0"


@pytest.mark.parametrize("argv, msg", [
    (["info", "{missing}"], "no such snapshot file"),
    (["rank", "{rand}"], "not an HDF5 file"),
    (["rank", "{run}", "--eps", "-1"], "--eps values must be finite and > 0"),
    (["rank", "{run}", "--layer", "zz"], "--layer 'zz' is not in"),
    (["plot", "{run}", "-o", "{tmp}/x.png", "--layer", "zz"], "--layer 'zz'"),
    (["watch", "{run}", "--interval", "0"], "--interval must be > 0"),
])
def test_errors_one_line_exit_2(runs, tmp_path, capsys, argv, msg):
    rand = tmp_path / "rand.h5"
    rand.write_bytes(np.random.default_rng(1).bytes(2048))
    fmt = dict(missing=tmp_path / "none.h5", rand=rand, run=runs[0], tmp=tmp_path)
    code, out, err = _call(capsys, *[a.format(**fmt) for a in argv])
    assert code == 2
    assert err.count("\n") == 1 and msg in err and "Traceback" not in err


def test_help_everywhere(capsys):
    for argv in ([], ["info"], ["rank"], ["plot"], ["watch"]):
        code, out, err = _call(capsys, *argv, "--help")
        assert code == 0 and "usage: rankcore" in out
    code, out, err = _call(capsys, "bogus")
    assert code == 2 and "invalid choice" in err


def test_python_m_rankcore_subprocess(runs):
    out = subprocess.run([sys.executable, "-m", "rankcore", "rank", str(runs[1]),
                          "--eps", "1e-6", "--csv"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("step,loss,1@abs_eps=1e-06")
    bad = subprocess.run([sys.executable, "-m", "rankcore", "info", "/nonexistent.h5"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
