"""bridge.SnapshotRecorder / record_checkpoints: capture from torch models."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import bridge
import rankcore
from bridge.recorder import default_layer

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # tests/
ROOT = os.path.dirname(HERE)


def _mlp(width=20, depth=3, dtype=torch.float32, seed=0, dropout=0.0):
    g = torch.Generator().manual_seed(seed)
    layers, d_in = [], 1
    for _ in range(depth):
        lin = torch.nn.Linear(d_in, width, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g, dtype=dtype) * 2)
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=g, dtype=dtype))
        layers += [lin, torch.nn.Tanh()]
        if dropout:
            layers.append(torch.nn.Dropout(dropout))
        d_in = width
    layers.append(torch.nn.Linear(d_in, 1, dtype=dtype))
    return torch.nn.Sequential(*layers)


def _quad(n=200):
    return rankcore.quadrature.gauss_legendre((-1.0, 1.0), n)


def _hidden(model, q, upto):
    x = torch.tensor(q.points, dtype=next(model.parameters()).dtype)
    with torch.no_grad():
        return model[:upto](x).double().numpy()


def test_default_layer_is_input_of_last_linear(tmp_path):
    model = _mlp()
    q = _quad()
    assert default_layer(model) == "6:input"
    path = tmp_path / "r.h5"
    with bridge.SnapshotRecorder(path, model, q) as rec:
        assert rec.record(0, loss=0.5)
    F = _hidden(model, q, 6)
    with rankcore.open_run(path) as run:
        assert run.layers == ["6:input"]
        M = run.grams(index=0)
        ref = rankcore.gram(F, q.weights)
        np.testing.assert_allclose(M, ref, rtol=1e-12, atol=1e-14 * np.abs(ref).max())
        np.testing.assert_array_equal(run.spectra()[0], rankcore.spectrum(M))
        np.testing.assert_array_equal(M, M.T)


def test_float32_gram_matches_float64(tmp_path):
    """Documented tolerance: float32 features give a Gram matrix within 1e-6 of
    max|M| of the float64 one (observed 1.4e-7: the float32 forward pass has
    relative errors of order 1e-7 per feature; the Gram is accumulated in
    float64, so the sum adds nothing beyond that)."""
    q = _quad(1000)
    m32 = _mlp(width=50, dtype=torch.float32)
    m64 = _mlp(width=50, dtype=torch.float64)
    m64.load_state_dict({k: v.double() for k, v in m32.state_dict().items()})
    with bridge.SnapshotRecorder(tmp_path / "a.h5", m32, q, layers=["5", "6:input"],
                                 batch_size=128) as rec:
        rec.record(0)
    with bridge.SnapshotRecorder(tmp_path / "b.h5", m64, q, layers=["5", "6:input"]) as rec:
        rec.record(0)
    with rankcore.open_run(tmp_path / "a.h5") as a, rankcore.open_run(tmp_path / "b.h5") as b:
        for layer in a.layers:
            M32, M64 = a.grams(layer, 0), b.grams(layer, 0)
            scale = np.abs(M64).max()
            err = np.abs(M32 - M64).max() / scale
            assert err < 1e-6, err
            # the float32 run is accumulated in float64: it equals a float64 Gram
            # of the same float32 features to rounding of the float64 sum
            F32 = _hidden(m32, q, 6)
            ref = rankcore.gram(F32, q.weights)
            np.testing.assert_allclose(M32, ref, rtol=0, atol=1e-12 * scale)
            # and so do the spectra, relative to lambda_max
            s32, s64 = a.spectra(layer)[0], b.spectra(layer)[0]
            assert np.abs(s32 - s64).max() < 1e-6 * s64[0]


def test_layer_output_and_several_layers(tmp_path):
    model = _mlp(width=12)
    q = _quad()
    path = tmp_path / "r.h5"
    with bridge.SnapshotRecorder(path, model, q, layers=["1", "3", "5", "6:input"],
                                 store_features=True) as rec:
        rec.record(0)
    with rankcore.open_run(path) as run:
        assert run.layers == ["1", "3", "5", "6:input"]
        np.testing.assert_array_equal(run.grams("5"), run.grams("6:input"))
        for i, layer in zip((2, 4, 6), ("1", "3", "5")):
            F = run.features(layer, 0)
            assert F.dtype == np.float32 and F.shape == (q.n_points, 12)
            np.testing.assert_array_equal(F, _hidden(model, q, i).astype(np.float32))


def test_training_is_not_disturbed(tmp_path):
    """Same seed, same losses and parameters with and without recording,
    including dropout (RNG + train mode) and a record between forward and
    backward (autograd graph untouched)."""
    q = _quad(100)
    x = torch.linspace(-1, 1, 64)[:, None]
    y = torch.sin(3 * x)

    def train(record_path):
        torch.manual_seed(1)
        model = _mlp(width=16, dropout=0.1)
        model[1].train(False)  # a mixed train/eval state must be restored as is
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        rec = (bridge.SnapshotRecorder(record_path, model, q, every=2)
               if record_path else None)
        losses = []
        for step in range(6):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            if rec:
                rec.record(step, loss=loss, lr=1e-2)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        if rec:
            rec.close()
        assert model.training and not model[1].training and model[2].training
        return losses, [p.detach().clone() for p in model.parameters()], torch.rand(3)

    l0, p0, r0 = train(None)
    l1, p1, r1 = train(tmp_path / "t.h5")
    assert l0 == l1
    for a, b in zip(p0, p1):
        assert torch.equal(a, b)
    assert torch.equal(r0, r1)
    with rankcore.open_run(tmp_path / "t.h5") as run:
        np.testing.assert_array_equal(run.steps, [0, 2, 4])
        np.testing.assert_allclose(run.loss, [l1[0], l1[2], l1[4]], rtol=1e-7)
        np.testing.assert_array_equal(run.scalars["lr"], [1e-2] * 3)
        assert np.all(np.diff(run.wall_time) >= 0)
        m = run.metadata
        assert m["torch_version"] == str(torch.__version__)
        assert m["n_parameters"] == sum(p.numel() for p in p1)
        assert "Linear" in m["model"] and m["every"] == 2


def test_metadata_seed_and_errors(tmp_path):
    model = _mlp()
    q = _quad(16)
    with pytest.raises(ValueError, match="no module named 'nope'"):
        bridge.SnapshotRecorder(tmp_path / "x.h5", model, q, layers=["nope"])
    with pytest.raises(TypeError, match="rankcore.Quadrature"):
        bridge.SnapshotRecorder(tmp_path / "x.h5", model, q.points)
    with pytest.raises(ValueError, match="no nn.Linear"):
        bridge.SnapshotRecorder(tmp_path / "x.h5", torch.nn.Tanh(), q)
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        bridge.SnapshotRecorder(tmp_path / "x.h5", model, q, every=0)
    assert not (tmp_path / "x.h5").exists()
    with bridge.SnapshotRecorder(tmp_path / "s.h5", model, q, seed=123,
                                 metadata={"note": "hi"}) as rec:
        rec.record(0)
    with pytest.raises(FileExistsError):
        bridge.SnapshotRecorder(tmp_path / "s.h5", model, q)
    with rankcore.open_run(tmp_path / "s.h5") as run:
        assert run.metadata["seed"] == 123 and run.metadata["note"] == "hi"
        assert run.scalars == {} and np.isnan(run.loss[0])


def test_record_checkpoints_matches_live(tmp_path):
    q = _quad(64)
    torch.manual_seed(0)
    model = _mlp(width=10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.linspace(-1, 1, 32)[:, None]
    ckpts = []
    with bridge.SnapshotRecorder(tmp_path / "live.h5", model, q) as rec:
        for step in range(3):
            p = tmp_path / f"ckpt_{step * 50}.pt"
            torch.save(model.state_dict(), p)
            ckpts.append(p)
            rec.record(step * 50)
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()
    fresh = _mlp(width=10, seed=99)
    out = bridge.record_checkpoints(fresh, ckpts, q, tmp_path / "ck.h5",
                                    losses=[3.0, 2.0, 1.0])
    assert out == str(tmp_path / "ck.h5")
    with rankcore.open_run(tmp_path / "live.h5") as a, rankcore.open_run(out) as b:
        np.testing.assert_array_equal(b.steps, [0, 50, 100])  # from the file names
        np.testing.assert_array_equal(b.loss, [3.0, 2.0, 1.0])
        np.testing.assert_array_equal(a.grams(), b.grams())
    with pytest.raises(ValueError, match="one entry per checkpoint"):
        bridge.record_checkpoints(fresh, ckpts, q, tmp_path / "z.h5", steps=[1])


def test_ddp_rank_logic(tmp_path, monkeypatch):
    model = _mlp(width=8)
    q = _quad(16)
    # a non-zero rank never writes and never touches the file system
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda group=None: 1)
    rec = bridge.SnapshotRecorder(tmp_path / "r1.h5", model, q)
    assert not rec.active and rec.record(0) is False
    rec.close()
    assert not (tmp_path / "r1.h5").exists()


def test_ddp_real_gloo_group_of_one(tmp_path):
    import torch.distributed as dist
    if not dist.is_available():
        pytest.skip("torch.distributed not available")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}",
                            rank=0, world_size=1)
    try:
        model = _mlp(width=8)
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        q = _quad(16)
        with bridge.SnapshotRecorder(tmp_path / "d.h5", ddp, q) as rec:
            assert rec.active and rec.model is model
            assert rec.layers == ["6:input"]
            assert rec.record(0)
        with rankcore.open_run(tmp_path / "d.h5") as run:
            assert len(run) == 1 and "DistributedDataParallel" not in run.metadata["model"]
    finally:
        dist.destroy_process_group()


def test_sigkill_recorder_subprocess(tmp_path):
    path = tmp_path / "k.h5"
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "_killed_writer.py"),
                             str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    reported = 0
    try:
        t0 = time.time()
        for line in proc.stdout:
            reported = int(line.split()[1])
            if reported >= 10 or time.time() - t0 > 90:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert reported >= 10, proc.stderr.read()
    with rankcore.open_run(path) as run:
        T = len(run)
        assert T >= reported
        np.testing.assert_array_equal(run.steps, np.arange(T))
        assert run.layers == ["1", "4:input"]
        assert np.all(np.isfinite(run.loss)) and np.all(run.loss > 0)
        G = run.grams("1")
        assert G.shape == (T, 16, 16) and np.all(np.isfinite(G))
        np.testing.assert_array_equal(run.spectra("1"), rankcore.spectrum(G))
    # a truncated copy of the killed file is refused, not read as zeros
    data = path.read_bytes()
    bad = tmp_path / "k_trunc.h5"
    bad.write_bytes(data[:int(0.6 * len(data))])
    with pytest.raises(rankcore.SnapshotFileError, match="truncated|corrupted"):
        with rankcore.open_run(bad) as r:
            r.grams("1")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (optional check)")
def test_cuda_matches_cpu(tmp_path):  # pragma: no cover - only where a GPU is lent
    q = _quad(500)
    model = _mlp(width=30)
    with bridge.SnapshotRecorder(tmp_path / "c.h5", model, q) as rec:
        rec.record(0)
    torch.backends.cuda.matmul.allow_tf32 = True  # must not matter: float64 Gram
    with bridge.SnapshotRecorder(tmp_path / "g.h5", model.cuda(), q) as rec:
        rec.record(0)
    with rankcore.open_run(tmp_path / "c.h5") as a, rankcore.open_run(tmp_path / "g.h5") as b:
        scale = np.abs(a.grams(index=0)).max()
        assert np.abs(a.grams(index=0) - b.grams(index=0)).max() < 1e-5 * scale


# -- hardening: arguments checked early, nothing half-written left behind ----

@pytest.mark.parametrize("seed", ["a", 1.7, True])
def test_seed_must_be_an_int(tmp_path, seed):
    with pytest.raises(TypeError, match=r"seed must be an integer, got"):
        bridge.SnapshotRecorder(tmp_path / "s.h5", _mlp(), _quad(16), seed=seed)


def test_bad_metadata_fails_at_construction(tmp_path):
    with pytest.raises(TypeError, match=r"metadata values must be .*got list of length 1"):
        bridge.SnapshotRecorder(tmp_path / "m.h5", _mlp(), _quad(16), metadata={"x": [1]})
    with pytest.raises(ValueError, match=r"metadata key 'format' is reserved"):
        bridge.SnapshotRecorder(tmp_path / "m.h5", _mlp(), _quad(16), metadata={"format": 1})
    assert not (tmp_path / "m.h5").exists()


def test_failed_first_record_leaves_no_file(tmp_path):
    q = _quad(16)
    rec = bridge.SnapshotRecorder(tmp_path / "a.h5", _mlp(), q)
    with pytest.raises(TypeError, match=r"loss must be a real number, got tensor"):
        rec.record(0, loss=torch.ones(3))
    assert not (tmp_path / "a.h5").exists()
    model = _mlp()
    with torch.no_grad():
        model[0].weight.fill_(float("nan"))
    rec = bridge.SnapshotRecorder(tmp_path / "n.h5", model, q)
    with pytest.raises(ValueError, match=r"grams\['.*'\] must be finite"):
        rec.record(0)
    assert not (tmp_path / "n.h5").exists()
    # the recorder is still usable once the model is fixed
    with torch.no_grad():
        model[0].weight.fill_(0.5)
    assert rec.record(0, loss=torch.tensor(2.0))
    rec.close()
    with rankcore.open_run(tmp_path / "n.h5") as run:
        assert run.loss.tolist() == [2.0]


def test_record_checkpoints_validates_and_cleans_up(tmp_path):
    q = _quad(16)
    model = _mlp(width=6)
    ckpts = []
    for s in (0, 10):
        ckpts.append(tmp_path / f"ck_{s}.pt")
        torch.save(model.state_dict(), ckpts[-1])
    out = tmp_path / "o.h5"
    with pytest.raises(TypeError, match=r"steps\[0\] must be an integer, got 0.5"):
        bridge.record_checkpoints(model, ckpts, q, out, steps=[0.5, 1.7])
    with pytest.raises(TypeError, match=r"steps\[1\] must be an integer, got False"):
        bridge.record_checkpoints(model, ckpts, q, out, steps=[1, False])
    with pytest.raises(TypeError, match=r"losses\[1\] must be a real number, got 'x'"):
        bridge.record_checkpoints(model, ckpts, q, out, losses=[1.0, "x"])
    with pytest.raises(TypeError, match=r"checkpoint_paths must be a sequence of paths"):
        bridge.record_checkpoints(model, str(ckpts[0]), q, out)
    assert not out.exists()
    # a checkpoint of another architecture half-way: no partial file remains
    torch.save(torch.nn.Linear(3, 3).state_dict(), tmp_path / "bad.pt")
    with pytest.raises(RuntimeError, match="state_dict"):
        bridge.record_checkpoints(model, [ckpts[0], tmp_path / "bad.pt"], q, out)
    assert not out.exists()
