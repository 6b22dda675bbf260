"""Dask inputs of rankcore.gram / spectrum_from_features on a real LocalCluster.

The cluster (2 worker processes, one thread each, 400 MiB each) is the
session fixture ``dask_client`` of conftest.py.
"""

import os
import subprocess
import sys

import dask
import dask.array as da
import numpy as np
import pytest

import rankcore
from rankcore import distributed as rd
from rankcore.quadrature import gauss_legendre

from conftest import DASK_WORKER_MEMORY


def _rel_err(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _features(N, n, seed=0, dtype=np.float64):
    q = gauss_legendre([(-1.0, 1.0)], order=N)
    rng = np.random.default_rng(seed)
    x = q.points[:, :1]
    phi = np.tanh(x * rng.uniform(0.5, 6.0, n) + rng.uniform(-1, 1, n))
    return phi.astype(dtype), q.weights


def _boom(block):
    raise RuntimeError("a block was computed, but validation should have come first")


def _lazy_unrunnable(shape, chunks, dtype=np.float64):
    """A dask array whose blocks raise when computed."""
    return da.zeros(shape, chunks=chunks).map_blocks(_boom, dtype=dtype)


# -- optional dependency --------------------------------------------------------

def test_import_rankcore_does_not_import_dask():
    code = ("import sys, rankcore; "
            "print(sorted(m for m in ('dask', 'distributed', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip() == "[]"


def test_without_dask_helpers_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.array", None)  # import now fails
    for call in (rd.require_dask,
                 lambda: rd.monte_carlo([(0, 1)], 10, seed=0),
                 lambda: rd.sobol([(0, 1)], 16, seed=0)):
        with pytest.raises(ImportError, match=r"pip install rankcore\[dask\]"):
            call()
    # NumPy input never needs dask
    phi, w = _features(50, 3)
    assert rankcore.gram(phi, w).shape == (3, 3)


# -- equality with the in-memory results ----------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gram_equals_in_memory(dask_client, dtype):
    phi, w = _features(5000, 17, dtype=dtype)
    ref = rankcore.gram(phi, w)
    rows = (1000, 7, 0, 2993, 1000)                   # uneven, a tiny and an empty block
    M = rankcore.gram(da.from_array(phi, chunks=(rows, 17)), da.from_array(w, chunks=(rows,)))
    assert isinstance(M, np.ndarray) and M.dtype == np.float64 and M.shape == (17, 17)
    assert _rel_err(M, ref) <= 1e-12
    assert np.array_equal(M, M.T)


def test_gram_equal_weights_numpy_weights_and_split_every(dask_client):
    rng = np.random.default_rng(1)
    phi = rng.standard_normal((4096, 9))
    w = np.full(4096, 0.25)                           # the dsyrk fast path per block
    ref = rankcore.gram(phi, w)
    x = da.from_array(phi, chunks=(256, 9))           # 16 blocks, 2 tree levels
    for M in (rankcore.gram(x, w),                    # NumPy weights get x's chunks
              rd.gram(x, da.from_array(w, chunks=256), split_every=2, chunk_rows=100)):
        assert _rel_err(M, ref) <= 1e-12


def test_spectrum_from_features_equals_in_memory(dask_client):
    q = gauss_legendre([(0.0, 1.0)], order=3000)
    x = q.points[:, 0]
    # nearly dependent columns: eigenvalues far below 1e-16 * lambda_max
    phi = np.stack([x**k for k in range(6)] + [x + 1e-9 * x**2], axis=1)
    ref = rankcore.spectrum_from_features(phi, q.weights)
    rows = (3, 400, 0, 1597, 1000)                    # blocks with fewer rows than n
    lam = rankcore.spectrum_from_features(da.from_array(phi, chunks=(rows, 7)),
                                          da.from_array(q.weights, chunks=(rows,)))
    assert lam.shape == (7,) and np.all(np.diff(lam) <= 0)
    # the documented accuracy: sigma = sqrt(lambda) to a few 2**-52 * sigma_max
    assert np.max(np.abs(np.sqrt(lam) - np.sqrt(ref))) <= 16 * 2.0**-52 * np.sqrt(ref[0])
    assert lam[-1] < 1e-16 * lam[0] and lam[-1] > 0   # resolved, not rounded away
    # and the Gram path agrees where it can resolve
    big = ref > 1e-8 * ref[0]
    assert np.allclose(lam[big], rankcore.spectrum(rankcore.gram(phi, q.weights))[big],
                       rtol=1e-8)


def test_dask_without_cluster_uses_local_scheduler():
    phi, w = _features(600, 4)
    with dask.config.set(scheduler="sync"):
        M = rankcore.gram(da.from_array(phi, chunks=(100, 4)), da.from_array(w, chunks=100))
    assert _rel_err(M, rankcore.gram(phi, w)) <= 1e-12


# -- the per-worker memory bound --------------------------------------------------

def _tanh_layer(n, d, seed):
    rng = np.random.default_rng(seed)
    W, b = rng.standard_normal((d, n)), rng.standard_normal(n)

    def fn(x):
        out = x @ W
        out += b
        return np.tanh(out, out=out)
    return fn


def test_features_larger_than_worker_memory(dask_client):
    n, N = 128, 1_000_000
    p, w = rd.monte_carlo([(-1, 1), (-1, 1)], N, seed=3, chunks=1 << 14)
    phi = rd.features_from_points(p, _tanh_layer(n, 2, 0), n)
    assert phi.nbytes > 2 * DASK_WORKER_MEMORY        # more than both workers together
    pids = dask_client.run(os.getpid)
    M = rankcore.gram(phi, w)
    # no worker was killed and restarted for exceeding its memory limit
    assert dask_client.run(os.getpid) == pids
    # an independent reduction on the cluster: the diagonal, by dask itself
    diag = (phi * phi * w[:, None]).sum(axis=0).compute()
    assert np.allclose(np.diag(M), diag, rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(M) > -1e-12 * np.trace(M))


# -- block-generated quadrature ---------------------------------------------------

def test_monte_carlo_same_points_whatever_the_chunking(dask_client):
    box, n = [(0, 1), (-2, 2), (5, 6)], 150_000           # crosses 2 generation blocks
    a, wa = rd.monte_carlo(box, n, seed=11, chunks=rd.BLOCK_POINTS)
    b, wb = rd.monte_carlo(box, n, seed=11, chunks=(1, 70_000, 3, 79_996))
    pa, pb = dask.compute(a, b)                           # on the workers
    with dask.config.set(scheduler="sync"):              # and here, another chunking
        pc = rd.monte_carlo(box, n, seed=11, chunks=40_000)[0].compute()
    assert pa.shape == (n, 3)
    assert np.array_equal(pa, pb) and np.array_equal(pa, pc)
    assert np.array_equal(rd.monte_carlo(box, 1000, seed=11)[0].compute(), pa[:1000])
    assert not np.array_equal(rd.monte_carlo(box, n, seed=12)[0].compute(), pa)
    lo, hi = np.array(box).T
    assert np.all((pa >= lo) & (pa < hi))
    assert np.allclose(pa.mean(axis=0), (lo + hi) / 2, atol=0.02)
    assert float(wa.sum().compute()) == pytest.approx(4.0, rel=1e-12)
    assert wb.chunks == b.chunks[:1]
    # blocks are the children of SeedSequence(seed).spawn, in order
    child1 = np.random.SeedSequence(11).spawn(2)[1]
    first = np.random.default_rng(child1).random((rd.BLOCK_POINTS, 3))
    assert np.array_equal(pa[rd.BLOCK_POINTS:2 * rd.BLOCK_POINTS], lo + first * (hi - lo))


def test_sobol_matches_in_memory_rule_whatever_the_chunking(dask_client):
    box, n = [(0, 1), (0, 2)], 4096
    ref = rankcore.quadrature.sobol(box, n, seed=5)
    for chunks in (1024, (1, 1000, 3095), 4096):
        p, w = rd.sobol(box, n, seed=5, chunks=chunks)
        assert np.array_equal(p.compute(), ref.points)
        assert np.allclose(w.compute(), ref.weights, rtol=1e-15)
    with pytest.warns(UserWarning, match="power of 2"):
        rd.sobol(box, 1000, seed=5)



def test_sobol_blocks_skip_without_walking_the_sequence(monkeypatch):
    # a block far into the sequence is positioned directly (scipy's
    # fast_forward walks every skipped point: 0.5 s per block at 1e8)
    from scipy.stats import qmc
    refs = {(d, start): qmc.Sobol(d, scramble=True, rng=np.random.default_rng(9))
            .fast_forward(start).random(200)
            for d in (1, 3) for start in (1, 2, 3, 64, 4097, 1_000_003, (1 << 29) + 11)}

    def walk(self, n):
        raise AssertionError(f"fast_forward({n}) walked the sequence")
    monkeypatch.setattr(qmc.Sobol, "fast_forward", walk)
    for (d, start), ref in refs.items():
        assert np.array_equal(rd._sobol_unit_points(start, start + 200, d, 9), ref)
    p, _ = rd.sobol([(0, 1), (0, 2)], 4096, seed=5, chunks=(1000, 3096))
    with dask.config.set(scheduler="sync"):               # blocks run here, patched
        pts = p.compute()
    assert np.array_equal(pts, rankcore.quadrature.sobol([(0, 1), (0, 2)], 4096, seed=5).points)

def test_quadrature_generation_bad_input():
    with pytest.raises(TypeError, match="seed must be"):
        rd.monte_carlo([(0, 1)], 10, seed=np.random.default_rng(0))
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        rd.monte_carlo([(0, 1)], 10, seed=-1)
    with pytest.raises(ValueError, match="chunks must add up to n = 10"):
        rd.monte_carlo([(0, 1)], 10, seed=0, chunks=(3, 3))
    with pytest.raises(ValueError, match="chunks"):
        rd.sobol([(0, 1)], 16, seed=0, chunks=0)
    with pytest.raises(ValueError, match=r"n must be at most 1073741824 .*got 2147483648"):
        rd.sobol([(0, 1)], 2**31, seed=0)
    with pytest.raises(ValueError, match="box"):
        rd.monte_carlo([(1, 0)], 10, seed=0)
    a = rd.monte_carlo([(0, 1)], 10, seed=None)[0].compute()
    b = rd.monte_carlo([(0, 1)], 10, seed=None)[0].compute()
    assert not np.array_equal(a, b)


# -- lazy features ----------------------------------------------------------------

def test_features_from_points(dask_client):
    p, w = rd.monte_carlo([(-1, 1), (0, 1)], 5000, seed=1, chunks=1500)
    fn = _tanh_layer(6, 2, 1)
    phi = rd.features_from_points(p, fn, 6, dtype=np.float32)
    assert phi.chunks == (p.chunks[0], (6,)) and phi.dtype == np.float32
    pts = p.compute()
    assert np.array_equal(phi.compute(), fn(pts).astype(np.float32))
    M = rankcore.gram(phi, w)
    assert _rel_err(M, rankcore.gram(fn(pts).astype(np.float32), w.compute())) <= 1e-12


def test_features_from_points_rfm_basis(dask_client):
    m = rankcore.RFM([(0, 1)], subdomains=2, features=5, random_state=0)
    m.fit_function(lambda x: np.sin(3 * x[:, 0]))
    n = m.feature_matrix(np.array([[0.5]])).shape[1]
    p, w = rd.sobol([(0, 1)], 1024, seed=0, chunks=300)
    phi = rd.features_from_points(p, m.feature_matrix, n)
    ref = m.feature_matrix(p.compute())
    assert _rel_err(rankcore.gram(phi, w), rankcore.gram(ref, w.compute())) <= 1e-12


def test_features_from_points_bad_input(dask_client):
    p, _ = rd.monte_carlo([(0, 1)], 100, seed=0, chunks=50)
    with pytest.raises(TypeError, match="points must be a dask array"):
        rd.features_from_points(np.zeros((3, 1)), np.tanh, 1)
    with pytest.raises(TypeError, match="fn must be callable"):
        rd.features_from_points(p, "tanh", 1)
    with pytest.raises(ValueError, match="n_features"):
        rd.features_from_points(p, np.tanh, 0)
    with pytest.raises(ValueError, match="dtype"):
        rd.features_from_points(p, np.tanh, 1, dtype=np.int64)
    wrong = rd.features_from_points(p, lambda x: np.tanh(x), 3)   # returns 1 column
    msg = r"fn must return .* = \(50, 3\) for the block of rows (0:50|50:100), got .*\(50, 1\)"
    with pytest.raises(ValueError, match=msg):
        wrong.compute()


# -- bad input: refused before any work is scheduled ---------------------------

def test_bad_dask_input_refused_before_any_work(dask_client):
    f = _lazy_unrunnable((100, 4), (25, 4))
    w = _lazy_unrunnable((100,), 25)
    for func in (rankcore.gram, rankcore.spectrum_from_features):
        with pytest.raises(ValueError, match=r"same row chunks.*\(25, 25, 25, 25\).*got"):
            func(f, _lazy_unrunnable((100,), 50))
        with pytest.raises(ValueError, match=r"chunked along the rows only.*\(2, 2\)"):
            func(_lazy_unrunnable((100, 4), (25, 2)), w)
        with pytest.raises(TypeError, match="real numeric.*complex128"):
            func(_lazy_unrunnable((100, 4), (25, 4), dtype=np.complex128), w)
        with pytest.raises(TypeError, match="real numeric.*object"):
            func(_lazy_unrunnable((100, 4), (25, 4), dtype=object), w)
        with pytest.raises(TypeError, match="weights must be a real numeric.*object"):
            func(f, _lazy_unrunnable((100,), 25, dtype=object))
        unknown = f[f[:, 0] > 0]                      # boolean mask: NaN chunk sizes
        with pytest.raises(ValueError, match="known chunk sizes.*compute_chunk_sizes"):
            func(unknown, w)
        with pytest.raises(ValueError, match=r"one entry per row of the features \(100\)"):
            func(f, _lazy_unrunnable((99,), 25))
        with pytest.raises(ValueError, match=r"one entry per row of the features \(100\)"):
            func(f, np.ones(99))
        with pytest.raises(ValueError, match="weights must be 1-D"):
            func(f, _lazy_unrunnable((100, 1), 25))
        with pytest.raises(TypeError, match="weights is required"):
            func(f, None)
        with pytest.raises(ValueError, match="features must be 2-D"):
            func(_lazy_unrunnable((100,), 25), w)
        with pytest.raises(ValueError, match="must not be empty"):
            func(_lazy_unrunnable((0, 4), (25, 4)), _lazy_unrunnable((0,), 25))
    with pytest.raises(ValueError, match="split_every"):
        rd.gram(f, w, split_every=1)


def test_bad_values_found_on_workers_name_the_block(dask_client):
    phi, w = _features(400, 3)
    phi[250, 1] = np.nan
    x, wd = da.from_array(phi, chunks=(100, 3)), da.from_array(w, chunks=100)
    for func in (rankcore.gram, rankcore.spectrum_from_features):
        with pytest.raises(ValueError,
                           match=r"rows 200:300.*from row 200.*must be finite.*\(50, 1\)"):
            func(x, wd)
    w2 = w.copy()
    w2[10] = -1.0
    for func in (rankcore.gram, rankcore.spectrum_from_features):
        with pytest.raises(ValueError, match=r"rows 0:50.*from row 0.*weights must be > 0"):
            func(da.from_array(phi[:100], chunks=(50, 3)), da.from_array(w2[:100], chunks=50))
