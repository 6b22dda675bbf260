"""Training integration: Lightning callback, logger mirrors, eps_rank_report, capture."""

import csv
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import bridge
import rankcore
from bridge.recorder import metric_name

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # tests/
ROOT = os.path.dirname(HERE)


def _quad(n=64):
    return rankcore.quadrature.gauss_legendre((-1.0, 1.0), n)


def _ranks_of(path, eps=(1e-3, 1e-6)):
    with rankcore.open_run(path) as run:
        return run.steps.copy(), run.loss.copy(), run.eps_rank(list(eps)), run.layers


# -- capture: one path -------------------------------------------------------

def test_capture_matches_engine_gram_and_restores_state():
    torch.manual_seed(0)
    model = bridge.MLP(1, 1, width=12, depth=2, activation="tanh")
    drop = torch.nn.Dropout(0.5)
    model.hidden.append(drop)  # a stochastic module: eval() must switch it off
    model.train()
    q = _quad(40)
    rng_before = torch.get_rng_state()
    out = bridge.capture(model, q, ["features", "hidden.0"], features=True, batch_size=7)
    assert model.training and drop.training
    assert torch.equal(torch.get_rng_state(), rng_before)
    F = out.features["features"].astype(np.float64)
    ref = rankcore.gram(F, q.weights)
    np.testing.assert_allclose(out.grams["features"], ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(out.grams["features"], out.grams["features"].T)
    # points as an array and no weights: features only
    plain = bridge.capture(model, q.points, features=True)
    assert plain.grams is None
    np.testing.assert_array_equal(plain.features["features"], out.features["features"])
    with pytest.raises(ValueError, match=r"weights must have one entry per point \(40\)"):
        bridge.capture(model, q.points, weights=np.ones(3))
    with pytest.raises(ValueError, match="no module named 'nope'"):
        bridge.capture(model, q, "nope")


def test_default_layer_keeps_module_name(tmp_path):
    model = bridge.MLP(1, 1, width=8, depth=2)
    assert bridge.default_layer(model) == "features"
    with bridge.SnapshotRecorder(tmp_path / "r.h5", model, _quad()) as rec:
        rec.record(0, loss=1.0)
    with rankcore.open_run(tmp_path / "r.h5") as run:
        assert run.layers == ["features"]
        # the old name still addresses the same neurons
    out = bridge.capture(model, _quad(), ["features", "out:input"])
    np.testing.assert_array_equal(out.grams["features"], out.grams["out:input"])


# -- logger mirrors -----------------------------------------------------------

def _train_plain(rec, model, steps=21):
    x = torch.linspace(-1, 1, 100)[:, None]
    y = torch.sin(5 * x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        loss = ((model(x) - y) ** 2).mean()
        rec.record(step, loss=loss)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_callable_logger_mirrors_file(tmp_path):
    torch.manual_seed(1)
    model = bridge.MLP(1, 1, width=16, depth=2)
    seen = []
    path = tmp_path / "c.h5"
    with bridge.SnapshotRecorder(path, model, _quad(), every=5,
                                 loggers=[lambda n, v, s: seen.append((n, v, s))],
                                 eps=[1e-2, 1e-5]) as rec:
        _train_plain(rec, model)
    steps, _, ranks, _ = _ranks_of(path, (1e-2, 1e-5))
    assert [s for _, _, s in seen] == [int(s) for s in steps for _ in range(2)]
    assert [n for n, _, _ in seen[:2]] == ["eps_rank/features/0.01", "eps_rank/features/1e-05"]
    np.testing.assert_array_equal(np.array([v for _, v, _ in seen]).reshape(-1, 2), ranks)


def test_log_only_recorder_writes_no_file(tmp_path):
    model = bridge.MLP(1, 1, width=6, depth=1)
    seen = []
    rec = bridge.SnapshotRecorder(None, model, _quad(), every=2,
                                  loggers=[lambda *a: seen.append(a)])
    assert rec.record(0) and not rec.record(1) and rec.record(2)
    rec.close()
    assert rec.count == 2 and len(seen) == 4 and os.listdir(tmp_path) == []
    with torch.no_grad():
        model.hidden[0].weight.fill_(float("nan"))
    bad = bridge.SnapshotRecorder(None, model, _quad(), loggers=[lambda *a: seen.append(a)])
    with pytest.raises(ValueError, match=r"grams\['features'\] must be finite, but entry"):
        bad.record(0)
    assert len(seen) == 4  # nothing mirrored for the failed snapshot
    with pytest.raises(TypeError, match=r"loggers\[0\] must be a torch.utils.tensorboard"):
        bridge.SnapshotRecorder(None, model, _quad(), loggers=[42])
    with pytest.raises(ValueError, match="eps must be finite and > 0"):
        bridge.SnapshotRecorder(None, model, _quad(), eps=[1e-3, -1.0])
    with pytest.raises(TypeError, match="eps must be a positive number"):
        bridge.SnapshotRecorder(None, model, _quad(), eps="1e-3")
    with pytest.raises(ValueError, match=r"eps must not repeat a value.*\[0.001, 0.001\]"):
        bridge.SnapshotRecorder(None, model, _quad(), eps=[1e-3, 0.001])


def _event_scalars(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


def test_summary_writer_mirror(tmp_path):
    from torch.utils.tensorboard import SummaryWriter
    torch.manual_seed(2)
    model = bridge.MLP(1, 1, width=16, depth=2)
    logdir = tmp_path / "tb"
    writer = SummaryWriter(str(logdir))
    path = tmp_path / "s.h5"
    with bridge.SnapshotRecorder(path, model, _quad(), every=10, loggers=[writer]) as rec:
        _train_plain(rec, model)
    writer.close()
    steps, _, ranks, _ = _ranks_of(path)
    acc = _event_scalars(logdir)
    tags = acc.Tags()
    for j, e in enumerate((1e-3, 1e-6)):
        ev = acc.Scalars(metric_name("features", e))
        assert [x.step for x in ev] == steps.tolist()
        assert [x.value for x in ev] == ranks[:, j].tolist()
    assert "spectrum_log10/features" in tags["histograms"]
    hist = acc.Histograms("spectrum_log10/features")
    with rankcore.open_run(path) as run:
        lam = run.spectra()[0]
    assert len(hist) == len(steps)
    assert hist[0].histogram_value.num == np.count_nonzero(lam > 0)
    assert hist[0].histogram_value.max == pytest.approx(np.log10(lam[0]), rel=1e-6)


# -- Lightning ----------------------------------------------------------------

def _lightning_module():
    import lightning.pytorch as pl

    class Fit(pl.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.net = bridge.MLP(1, 1, width=16, depth=2)

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = ((self(x) - y) ** 2).mean()
            self.log("train_loss", loss, on_step=True, on_epoch=False)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-2)

    x = torch.linspace(-1, 1, 64)[:, None]
    data = torch.utils.data.TensorDataset(x, torch.sin(4 * x))
    loader = torch.utils.data.DataLoader(data, batch_size=64)
    return Fit(), loader


def test_lightning_trainer_csv_and_tensorboard(tmp_path):
    pytest.importorskip("lightning")
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    module, loader = _lightning_module()
    path = tmp_path / "cb.h5"
    cb = bridge.EpsRankCallback(_quad(), path=path, every=5, module="net")
    csv_logger = CSVLogger(str(tmp_path), name="csv")
    tb_logger = TensorBoardLogger(str(tmp_path), name="tb")
    trainer = pl.Trainer(max_steps=20, accelerator="cpu", devices=1,
                         logger=[csv_logger, tb_logger], callbacks=[cb],
                         enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, log_every_n_steps=1)
    trainer.fit(module, loader)
    steps, loss, ranks, layers = _ranks_of(path)
    assert layers == ["features"]
    assert steps.tolist() == [0, 5, 10, 15, 20]
    # loss of a snapshot is the training-step loss of the same parameters
    assert np.all(np.isfinite(loss[:-1])) and math.isnan(loss[-1])
    assert np.all(np.diff(loss[:-1]) < 0)

    # CSV: one row per logged step with the eps-rank columns
    with open(os.path.join(csv_logger.log_dir, "metrics.csv")) as fh:
        rows = list(csv.DictReader(fh))
    name3, name6 = metric_name("features", 1e-3), metric_name("features", 1e-6)
    logged = [(float(r[name3]), float(r[name6])) for r in rows if r.get(name3)]
    assert len(logged) == 4  # steps 0..15; the final state is only in the file
    np.testing.assert_array_equal(np.array(logged), ranks[:4])
    # TensorBoard event file, read back with tensorboard's own reader
    acc = _event_scalars(tb_logger.log_dir)
    assert [e.value for e in acc.Scalars(name6)] == ranks[:4, 1].tolist()
    assert [e.value for e in acc.Scalars(name3)] == ranks[:4, 0].tolist()
    # what was recorded equals a recomputation on the final model
    final = bridge.capture(module.net, _quad()).grams["features"]
    with rankcore.open_run(path) as run:
        np.testing.assert_allclose(run.grams(index=-1), final, rtol=1e-12, atol=1e-15)


def test_callback_other_rank_does_nothing(tmp_path, monkeypatch):
    pytest.importorskip("lightning")
    import lightning.pytorch as pl

    module, loader = _lightning_module()
    path = tmp_path / "r1.h5"
    cb = bridge.EpsRankCallback(_quad(), path=path, every=2, module="net")
    monkeypatch.setattr(pl.Trainer, "is_global_zero", property(lambda self: False))
    trainer = pl.Trainer(max_steps=4, accelerator="cpu", devices=1, logger=False,
                         callbacks=[cb], enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(module, loader)
    assert cb.recorder is None and not path.exists()


def test_callback_arguments_checked_early():
    q = _quad()
    with pytest.raises(TypeError, match="quadrature must be a rankcore.Quadrature"):
        bridge.EpsRankCallback((-1, 1))
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        bridge.EpsRankCallback(q, every=0)
    with pytest.raises(TypeError, match="relative must be a bool"):
        bridge.EpsRankCallback(q, relative="yes")
    # what can be checked without the model fails at construction, not in fit
    with pytest.raises(TypeError, match=r"loggers\[1\] must be a torch.utils.tensorboard"):
        bridge.EpsRankCallback(q, loggers=[print, 42])
    with pytest.raises(TypeError, match=r"path must be a file path.*got 3 \(int\)"):
        bridge.EpsRankCallback(q, path=3)
    with pytest.raises(TypeError, match=r"layers must be a module name.*got 3 \(int\)"):
        bridge.EpsRankCallback(q, layers=3)


def test_import_bridge_does_not_import_lightning():
    code = ("import sys, bridge; assert 'lightning' not in sys.modules and "
            "'pytorch_lightning' not in sys.modules; bridge.EpsRankCallback; "
            "assert 'lightning' in sys.modules or 'pytorch_lightning' in sys.modules; "
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_import_bridge_without_torch_names_the_extra(tmp_path):
    # a torch that cannot be imported, placed first on the path
    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('no torch here')\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    out = subprocess.run([sys.executable, "-c", "import bridge"], capture_output=True,
                         text=True, cwd=str(tmp_path), env=env, timeout=120)
    assert out.returncode != 0
    assert "pip install rankcore[bridge]" in out.stderr
    ok = subprocess.run([sys.executable, "-c", "import rankcore; print('engine ok')"],
                        capture_output=True, text=True, cwd=str(tmp_path), env=env,
                        timeout=120)
    assert ok.returncode == 0 and "engine ok" in ok.stdout, ok.stderr


# -- eps_rank_report ----------------------------------------------------------

def test_eps_rank_report_matches_recomputation():
    torch.manual_seed(3)
    model = bridge.MLP(1, 1, width=10, depth=3).double()
    q = _quad(128)
    t = bridge.eps_rank_report(model, q, eps=[1e-2, 1e-8], as_frame=False)
    assert t["layer"] == ["hidden.2:input", "hidden.4:input", "features"]
    x = torch.tensor(q.points)
    with torch.no_grad():
        h = model.hidden
        feats = [h[:2](x), h[:4](x), h(x)]
    for i, F in enumerate(feats):
        lam = rankcore.spectrum(rankcore.gram(F.numpy(), q.weights))
        assert t.rows[i][1] == 10
        assert t.rows[i][2:4] == tuple(int(v) for v in rankcore.eps_rank(lam, [1e-2, 1e-8]))
        assert t.rows[i][4] == pytest.approx(lam[0], rel=1e-10)
        assert t.rows[i][5] == pytest.approx(lam[-1], rel=1e-6, abs=1e-15)
    text = repr(t)
    assert text.splitlines()[0].split() == list(t.columns)
    assert len(text.splitlines()) == 4
    pd = pytest.importorskip("pandas")
    df = bridge.eps_rank_report(model, (-1.0, 1.0), eps=[1e-2, 1e-8], order=128)
    assert isinstance(df, pd.DataFrame) and list(df.index) == t["layer"]
    assert df["eps_rank@0.01"].tolist() == t["eps_rank@0.01"]


def test_eps_rank_report_plain_sequential_2d():
    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(),
                                torch.nn.Linear(8, 8), torch.nn.Tanh(),
                                torch.nn.Linear(8, 1))
    t = bridge.eps_rank_report(model, [(0, 1), (0, 1)], as_frame=False, order=12)
    assert t["layer"] == ["2:input", "4:input"]
    assert all(1 <= r <= 8 for r in t["eps_rank@0.001"])
    with pytest.raises(ValueError, match="domain_or_quadrature"):
        bridge.eps_rank_report(model, [(1, 0)])


# -- progress bars -------------------------------------------------------------

def test_record_checkpoints_progress_bar(tmp_path, capsys):
    model = bridge.MLP(1, 1, width=4, depth=1)
    paths = []
    for s in (0, 5, 10):
        paths.append(tmp_path / f"ck_{s}.pt")
        torch.save(model.state_dict(), paths[-1])
    q = _quad(16)
    bridge.record_checkpoints(model, paths, q, tmp_path / "a.h5", progress=True)
    err = capsys.readouterr().err
    assert "checkpoints" in err and "3/3" in err
    # default: shown only on a terminal; pytest's captured stderr is none
    bridge.record_checkpoints(model, paths, q, tmp_path / "b.h5")
    bridge.record_checkpoints(model, paths, q, tmp_path / "c.h5", progress=False)
    assert capsys.readouterr().err == ""
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        bridge.record_checkpoints(model, paths, q, tmp_path / "d.h5", progress="yes")
    assert not (tmp_path / "d.h5").exists()
    with rankcore.open_run(tmp_path / "b.h5") as run:
        assert run.steps.tolist() == [0, 5, 10] and run.layers == ["features"]


def test_callback_under_real_ddp_two_processes(tmp_path):
    """strategy='ddp' on CPU (gloo), 2 processes: rank 0 records, rank 1 neither
    records nor waits (training finishes on both with the same step count)."""
    pytest.importorskip("lightning")
    out = subprocess.run([sys.executable, os.path.join(HERE, "_ddp_fit.py"), str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=500,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "rank0.txt").read_text().strip() == "recorder=True steps=6"
    assert (tmp_path / "rank1.txt").read_text().strip() == "recorder=False steps=6"
    with rankcore.open_run(tmp_path / "run.h5") as run:
        assert run.steps.tolist() == [0, 2, 4, 6]
        assert np.all(np.isfinite(run.loss[:-1]))
    assert [p for p in os.listdir(tmp_path) if p.endswith(".h5")] == ["run.h5"]


def test_demo_figure_labels_targets_and_running_minimum(tmp_path):
    import matplotlib.pyplot as plt
    from bridge import demo

    q = rankcore.quadrature.gauss_legendre(demo.DOMAIN, 32)
    runs = {}
    for init in ("default", "sfli"):
        path = tmp_path / f"{init}.h5"
        runs[init] = (demo.train(init, 40, 10, path, width=8, depth=2, quadrature=q,
                                 progress=False), path)
    fig = demo.figure(runs)
    ax1, ax2 = fig.axes
    texts = [t.get_text() for t in ax1.texts]
    assert texts == [f"target {t:g}" for t in demo.TARGETS]
    labels = ax1.get_legend_handles_labels()[1]
    assert labels == ["default (Xavier) (running minimum; faint: raw)",
                      "SFLI (running minimum; faint: raw)"]
    raw, runmin = ax1.lines[0].get_ydata(), ax1.lines[1].get_ydata()
    np.testing.assert_array_equal(raw, runs["default"][0])
    np.testing.assert_array_equal(runmin, np.minimum.accumulate(raw))
    assert len(ax2.get_legend_handles_labels()[1]) == 2 * len(demo.EPS)
    plt.close(fig)
    demo.plot(runs, tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_callback_second_fit_gets_a_new_recorder(tmp_path):
    pytest.importorskip("lightning")
    import lightning.pytorch as pl

    module, loader = _lightning_module()
    seen = []
    cb = bridge.EpsRankCallback(_quad(), path=tmp_path / "f.h5", every=2, module="net",
                                loggers=[lambda n, v, s: seen.append(s)], eps=1e-3,
                                overwrite=True)
    for _ in range(2):
        pl.Trainer(max_steps=4, accelerator="cpu", devices=1, logger=False, callbacks=[cb],
                   enable_progress_bar=False, enable_model_summary=False,
                   enable_checkpointing=False).fit(module, loader)
    assert seen == [0, 2, 4, 0, 2, 4]
    with rankcore.open_run(tmp_path / "f.h5") as run:
        assert run.steps.tolist() == [0, 2, 4]  # the second fit replaced the file
    cb2 = bridge.EpsRankCallback(_quad(), path=tmp_path / "f.h5", module="net")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        pl.Trainer(max_steps=2, accelerator="cpu", devices=1, logger=False,
                   callbacks=[cb2], enable_progress_bar=False,
                   enable_model_summary=False).fit(module, loader)


def test_report_on_a_domain_of_the_wrong_dimension_names_the_points():
    model = bridge.MLP(2, 1, width=8, depth=2)
    with pytest.raises(ValueError, match=r"points must match the model's input.*\(N, d\)"):
        bridge.eps_rank_report(model, [(-1.0, 1.0)], eps=1e-3)
