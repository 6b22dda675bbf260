import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from numpy.polynomial import legendre as L

import rankcore
from rankcore import eps_rank, gram, spectrum, spectrum_from_features
from rankcore.gram import GramAccumulator, default_chunk_rows
from rankcore.quadrature import gauss_legendre

seeds = st.integers(0, 2**32 - 1)


def random_features(seed, N=None, n=None, kind="tanh"):
    """Function values of random tanh neurons on a Gauss-Legendre rule on [-1, 1]."""
    rng = np.random.default_rng(seed)
    N = N or int(rng.integers(20, 200))
    n = n or int(rng.integers(1, 30))
    q = gauss_legendre([(-1, 1)], N)
    x = q.points[:, 0]
    scale = 10.0 ** rng.uniform(-1, 1.5, n)
    phi = np.tanh(np.outer(x, scale * rng.standard_normal(n)) + rng.uniform(-1, 1, n))
    return phi, q.weights


def normalised_legendre(x, k):
    return np.stack([L.legval(x, np.eye(k)[j]) * np.sqrt((2 * j + 1) / 2)
                     for j in range(k)], axis=1)


@given(seed=seeds)
def test_gram_symmetric_psd(seed):
    phi, w = random_features(seed)
    m = gram(phi, w)
    assert m.dtype == np.float64
    assert np.array_equal(m, m.T)
    lam = np.linalg.eigvalsh(m)
    assert lam[0] >= -16 * m.shape[0] * 2**-52 * lam[-1]


@given(k=st.integers(1, 40), extra=st.integers(0, 20))
def test_gram_of_orthonormal_legendre_is_identity(k, extra):
    q = gauss_legendre([(-1, 1)], k + extra)  # exact for degree 2k-2 products
    m = gram(normalised_legendre(q.points[:, 0], k), q.weights)
    assert np.abs(m - np.eye(k)).max() <= 1e-12


@given(seed=seeds, data=st.data())
def test_chunked_equals_one_shot(seed, data):
    phi, w = random_features(seed)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(w) - 1), max_size=6))))
    bounds = [0, *cuts, len(w)]
    chunks = [(phi[a:b], w[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    m1, m2 = gram(phi, w), gram(iter(chunks))
    scale = np.sqrt(np.outer(np.diag(m1), np.diag(m1)))
    assert np.all(np.abs(m1 - m2) <= 1e-13 * scale + 1e-300)


def test_many_internal_chunks_match_numpy():
    rng = np.random.default_rng(0)
    n = 8
    N = 3 * default_chunk_rows(n) + 17  # several internal dsyrk chunks plus a ragged one
    phi = rng.standard_normal((N, n))
    w = rng.uniform(0.5, 2, N)
    ref = (phi * w[:, None]).T @ phi
    assert np.allclose(gram(phi, w), ref, rtol=1e-12, atol=1e-9)


def test_float32_input_float64_accumulation():
    rng = np.random.default_rng(1)
    N, n = 200_000, 4
    phi32 = (1 + 1e-3 * rng.standard_normal((N, n))).astype(np.float32)
    w = np.full(N, 1.0 / N)
    exact = (phi32.astype(np.float64) * w[:, None]).T @ phi32.astype(np.float64)
    m = gram(phi32, w)
    # float64 accumulation of the float32 values: rounding of the sum only
    assert np.abs(m - exact).max() < 1e-12
    # float32 accumulation would be off by ~N * 2^-24 relative; make sure the
    # test could tell the difference
    m32 = (phi32 * w[:, None].astype(np.float32)).T @ phi32
    assert np.abs(m32 - exact).max() > 1e-9


@given(seed=seeds)
def test_spectrum_and_svd_paths_agree(seed):
    phi, w = random_features(seed)
    lam_eig = spectrum(gram(phi, w))
    lam_svd = spectrum_from_features(phi, w)
    n = phi.shape[1]
    assert np.all(np.diff(lam_eig) <= 0) and np.all(np.diff(lam_svd) <= 0)
    assert np.abs(lam_eig - lam_svd).max() <= 32 * n * 2**-52 * lam_eig[0]


def test_svd_path_resolves_tiny_eigenvalues():
    q = gauss_legendre([(0, 1)], 40)
    x = q.points[:, 0]
    delta = 1e-10
    phi = np.stack([np.exp(x), np.exp(x) + delta * x**3], axis=1)
    # smallest eigenvalue ~ delta^2 * ||x^3 - proj||^2 / 2: analytic via the
    # Gram of (e^x, x^3) evaluated accurately
    lam = spectrum_from_features(phi, q.weights)
    e, c = np.exp(x), x**3
    ge, gc, gec = q.weights @ (e * e), q.weights @ (c * c), q.weights @ (e * c)
    resid = gc - gec**2 / ge  # ||c - proj_e c||^2
    # det(M) = delta^2 ge resid, trace(M) ~ 2 ge, so lambda_min ~ delta^2 resid / 2
    expected = delta**2 * resid / 2
    assert lam[1] == pytest.approx(expected, rel=1e-3)
    # the eigen path cannot resolve it: its error level is ~n * 2^-52 * lambda_max
    assert abs(spectrum(gram(phi, q.weights))[1] - expected) >= 0.5 * expected


def _eps_between(lam, rng):
    """An eps safely between two eigenvalues (or above/below all)."""
    lam = np.sort(lam)[::-1]
    tol = 1e-9 * lam[0] + 1e-300
    gaps = [(a, b) for a, b in zip(lam[:-1], lam[1:]) if a - b > 100 * tol and a > 100 * tol]
    assume(gaps)
    a, b = gaps[int(rng.integers(len(gaps)))]
    return float(np.sqrt(a * max(b, a * 1e-30)))


@given(seed=seeds)
def test_eps_rank_non_increasing_in_eps(seed):
    phi, w = random_features(seed)
    lam = spectrum(gram(phi, w))
    eps = np.logspace(-16, 2, 60)
    r = eps_rank(lam, eps)
    assert r.shape == (60,)
    assert np.all(np.diff(r) <= 0)
    rr = eps_rank(lam, eps, relative=True)
    assert np.all(np.diff(rr) <= 0)


@given(seed=seeds)
def test_eps_rank_invariant_under_permutation_and_orthogonal_mixing(seed):
    rng = np.random.default_rng(seed)
    phi, w = random_features(seed)
    n = phi.shape[1]
    m = gram(phi, w)
    eps = _eps_between(spectrum(m), rng)
    r = eps_rank(m, eps, kind="gram")
    perm = rng.permutation(n)
    assert eps_rank(gram(phi[:, perm], w), eps, kind="gram") == r
    qmat, _ = np.linalg.qr(rng.standard_normal((n, n)))
    assert eps_rank(gram(phi @ qmat, w), eps, kind="gram") == r


@given(seed=seeds, data=st.data())
def test_duplicating_a_function_raises_eps_rank_by_at_most_one(seed, data):
    # Interlacing: M is a principal submatrix of M' (so rank_eps cannot fall),
    # and M' = E^T M E with E E^T = I + e_j e_j^T <= 2 I (so its eigenvalues
    # are at most doubled).  Hence rank(M) <= rank(M') <= min(rank(M)+1,
    # rank_{eps/2}(M)).
    rng = np.random.default_rng(seed)
    phi, w = random_features(seed)
    j = data.draw(st.integers(0, phi.shape[1] - 1))
    m, m2 = gram(phi, w), gram(np.column_stack([phi, phi[:, j]]), w)
    lam = spectrum(m)
    eps = _eps_between(np.concatenate([lam, lam / 2]), rng)
    r, r2 = eps_rank(m, eps, kind="gram"), eps_rank(m2, eps, kind="gram")
    assert r <= r2 <= min(r + 1, eps_rank(lam, eps / 2))


def test_duplicating_can_raise_eps_rank_counterexample():
    # The claim "duplicating a function never raises the eps-rank" is false:
    # ||phi||^2 = 0.6 eps gives rank 0, the pair (phi, phi) has eigenvalue 1.2 eps.
    eps = 1.0
    assert eps_rank(np.array([[0.6]]), eps, kind="gram") == 0
    assert eps_rank(np.full((2, 2), 0.6), eps, kind="gram") == 1
    # but the exact rank (eps below every nonzero eigenvalue) is unchanged
    assert (eps_rank(np.full((2, 2), 0.6), 1e-9, kind="gram")
            == eps_rank(np.array([[0.6]]), 1e-9, kind="gram") == 1)


def test_eps_rank_shapes_and_kinds():
    lam = np.array([[3.0, 1.0, 1e-5], [2.0, 1e-3, 0.0]])
    assert eps_rank(lam, 1e-4).tolist() == [2, 2]
    assert eps_rank(lam, [1e-4, 1.5]).tolist() == [[2, 1], [2, 1]]
    assert eps_rank(lam, 1e-2, relative=True).tolist() == [2, 1]
    sq = np.array([[1.0, 1e-5], [1.0, 1.0]])  # square stack of spectra
    assert eps_rank(sq, 1e-4).tolist() == [1, 2]
    grams = np.stack([np.diag([1.0, 1e-5]), np.eye(2)])
    assert eps_rank(grams, 1e-4, kind="gram").tolist() == [1, 2]
    assert eps_rank(np.zeros((0, 3)), 1e-3).shape == (0,)
    assert eps_rank(np.zeros((0, 3)), [1e-3, 1e-6]).shape == (0, 2)
    assert eps_rank(np.zeros(3), 1e-3, relative=True) == 0
    assert isinstance(eps_rank(np.array([1.0]), 0.5), int)
    assert rankcore.is_eps_independent(np.eye(3), 0.5)
    assert not rankcore.is_eps_independent(np.diag([1.0, 1e-3]), 1e-2)


def test_spectrum_stack_clips_and_warns():
    m = np.array([[1.0, 0.0], [0.0, -1e-3]])
    with pytest.warns(rankcore.NegativeEigenvalueWarning, match="below the rounding level"):
        lam = spectrum(m)
    assert lam.tolist() == [1.0, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lam = spectrum(np.stack([np.eye(3), np.diag([1.0, 1.0, -1e-17])]))
    assert lam.shape == (2, 3) and lam.tolist() == [[1.0] * 3, [1.0, 1.0, 0.0]]  # -1e-17 clipped


@pytest.mark.parametrize("call, exc, match", [
    (lambda: gram(np.ones((3, 2)), np.ones(4)), ValueError, r"one entry per row of the features \(3\)"),
    (lambda: gram(np.ones(3), np.ones(3)), ValueError, "features must be 2-D"),
    (lambda: gram(np.ones((0, 2)), np.ones(0)), ValueError, "must not be empty"),
    (lambda: gram(np.ones((3, 2)), [1, 0, 1]), ValueError, r"weights must be > 0, but weights\[1\] = 0.0"),
    (lambda: gram(np.ones((3, 2)), [1, np.inf, 1]), ValueError, r"weights must be finite, but entry 1"),
    (lambda: gram(np.array([[1, 2], [3, np.nan]]), [1, 1]), ValueError, r"entry \(1, 1\) is nan"),
    (lambda: gram(np.array([[1e200, 2]]), [1.0]), ValueError, "overflow"),
    (lambda: gram(np.ones((3, 2))), TypeError, "weights is required"),
    (lambda: gram([(np.ones((2, 2)), [1, 1]), (np.ones((2, 3)), [1, 1])]), ValueError,
     r"chunk 1\) must have 2 columns"),
    (lambda: gram([]), ValueError, "at least one"),
    (lambda: gram([np.ones(3)]), TypeError, "pairs"),
    (lambda: gram(np.array([["a"]]), [1.0]), TypeError, "real numeric"),
    (lambda: eps_rank(np.eye(2), 0.0), ValueError, "eps must be a finite number > 0, got 0.0"),
    (lambda: eps_rank(np.eye(2), np.nan), ValueError, "eps must be a finite number > 0"),
    (lambda: eps_rank(np.eye(2), [1e-3, -1]), ValueError, r"eps\[1\] = -1.0"),
    (lambda: eps_rank(np.eye(2), "x"), TypeError, "eps must be"),
    (lambda: eps_rank(np.ones((2, 2, 2)), 1e-3), ValueError, "x must be 1-D or 2-D"),
    (lambda: eps_rank(np.ones((2, 2, 2, 2)), 1e-3, kind="gram"), ValueError, "x must be 2-D or 3-D"),
    (lambda: eps_rank(np.array([[1.0, -0.5], [-0.5, 1.0]]), 1e-3), ValueError, "pass kind='gram'"),
    (lambda: eps_rank(np.eye(2), 1e-3, kind="auto"), ValueError, "no longer decides"),
    (lambda: eps_rank(np.zeros((3, 0)), 1e-3), ValueError, "at least one eigenvalue"),
    (lambda: eps_rank(np.ones((2, 3)), 1e-3, kind="gram"), ValueError, "square"),
    (lambda: eps_rank(np.ones(3), 1e-3, kind="bogus"), ValueError, "kind must be"),
    (lambda: eps_rank(np.ones(3), 1e-3, relative="no"), TypeError,
     "relative must be True or False, got 'no' \\(str\\)"),
    (lambda: spectrum(np.array([[1.0, 2.0], [0.0, 1.0]])), ValueError, "must be symmetric"),
    (lambda: spectrum(np.array([[1.0, np.nan], [np.nan, 1.0]])), ValueError, "finite"),
    (lambda: spectrum_from_features(np.ones((3, 2)), np.ones(2)), ValueError, "one entry per row"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_accumulator_refuses_result_after_bad_chunk():
    acc = GramAccumulator(2)
    acc.add(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="finite"):
        acc.add(np.array([[np.nan, 1.0]]), np.ones(1))
    with pytest.raises(RuntimeError, match="start a new one"):
        acc.result()


def test_rankcore_never_imports_torch():
    code = (
        "import sys, importlib, pkgutil\n"
        "sys.modules['torch'] = None  # any 'import torch' now raises ImportError\n"
        "import rankcore\n"
        "for m in pkgutil.walk_packages(rankcore.__path__, 'rankcore.'):\n"
        "    if not m.name.endswith('__main__'):  # running it would run the CLI\n"
        "        importlib.import_module(m.name)\n"
        "print('ok', len(rankcore.__all__))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_peak_memory_independent_of_N_and_no_float64_copy():
    # tracemalloc counts numpy's allocations: deterministic, not a timing.
    import tracemalloc
    n = 32
    chunk = 4096
    peaks = []
    for N in (50_000, 400_000):
        phi = np.ones((N, n), dtype=np.float32)
        w = np.full(N, 1.0 / N)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        m = gram(phi, w, chunk_rows=chunk)
        peaks.append(tracemalloc.get_traced_memory()[1] - base)
        tracemalloc.stop()
        assert np.allclose(m, 1.0)
    buffer_bytes = 8 * chunk * n
    assert peaks[0] < buffer_bytes + 64 * n * n + 2**20
    # growing N eightfold adds no memory beyond the validation scan's fixed block
    assert abs(peaks[1] - peaks[0]) < 2**20
    assert peaks[1] < 8 * 400_000 * n / 10  # far below a float64 copy of Phi


def test_equal_weights_path_matches_general_path():
    # Equal float64 weights go straight to dsyrk on the caller's array; the
    # result must agree with the scaled path (one weight nudged off equal)
    # to rounding, for C-ordered, Fortran-ordered and strided input.
    rng = np.random.default_rng(3)
    phi = rng.standard_normal((3000, 17))
    w = np.full(3000, 0.25)
    w_general = w.copy()
    w_general[-1] = np.nextafter(0.25, 1.0)
    ref = gram(phi, w_general, chunk_rows=700)
    for f in (phi, np.asfortranarray(phi), phi[::1, :]):
        m = gram(f, w, chunk_rows=700)
        np.testing.assert_allclose(m, ref, rtol=1e-13, atol=1e-13 * np.abs(ref).max())
        assert np.array_equal(m, m.T)
    half = gram(phi[::2], w[::2])  # a strided view is not C-contiguous
    np.testing.assert_allclose(half, 0.25 * phi[::2].T @ phi[::2], rtol=1e-12)


def test_equal_weights_overflow_falls_back_to_scaled_path():
    # phi^T phi overflows but w * phi^T phi does not: the fast path must not
    # turn a representable Gram matrix into an error.
    phi = np.array([[1e200, 2.0], [1.0, 1.0]])
    m = gram(phi, [1e-300, 1e-300])
    assert np.isfinite(m).all()
    np.testing.assert_allclose(m[0, 0], 1e100, rtol=1e-14)
    with pytest.raises(ValueError, match=r"entry \(1, 0\) is nan"):
        gram(np.array([[1.0, 1.0], [np.nan, 1.0]]), [0.5, 0.5])


@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 130, 200])
def test_symmetric_from_upper_kernel_uses_upper_triangle_only(n):
    from rankcore._gram_kernels import symmetric_from_upper
    a = np.random.default_rng(n).standard_normal((n, n))
    c = np.asfortranarray(np.triu(a) + np.tril(np.full((n, n), np.nan), -1))
    out = np.empty((n, n))
    symmetric_from_upper(c, out)
    assert np.array_equal(out, np.triu(a) + np.triu(a, 1).T)


def test_square_stack_of_spectra_is_never_read_as_a_gram_matrix():
    # A run with as many snapshots as features gives a square (T, n) stack;
    # this used to be taken for a Gram matrix ("gram must be symmetric").
    rng = np.random.default_rng(3)
    spectra = -np.sort(-rng.random((5, 5)), axis=1)
    spectra[:, -2:] = 1e-9
    r = eps_rank(spectra, 1e-6)
    assert r.tolist() == [3] * 5
    np.testing.assert_array_equal(eps_rank(spectra, [1e-6, 2.0]), np.stack([r, [0] * 5], 1))


@pytest.mark.parametrize("call", [
    lambda m: spectrum(m),
    lambda m: eps_rank(m, 1e-3, kind="gram"),
    lambda m: rankcore.is_eps_independent(m, 1e-3),
])
def test_negative_eigenvalue_warning_points_at_the_callers_line(call):
    m = np.diag([1.0, 0.5, -0.1])
    with pytest.warns(rankcore.NegativeEigenvalueWarning) as rec:
        call(m)
    assert rec[0].filename == __file__


def test_huge_entries_give_the_right_spectrum_or_a_clear_error():
    lam = spectrum(np.diag([1e308, 1e308]))
    assert lam.tolist() == [1e308, 1e308]
    assert eps_rank(lam, 1.0) == 2
    assert eps_rank(np.diag([1e308, 1e308]), 1.0, kind="gram") == 2
    phi = np.random.default_rng(0).standard_normal((50, 3))
    big = spectrum_from_features(phi * 1e150, np.ones(50))
    np.testing.assert_allclose(big, spectrum_from_features(phi, np.ones(50)) * 1e300, rtol=1e-12)
    with pytest.raises(ValueError, match="overflows float64; rescale the features"):
        spectrum_from_features(phi * 1e200, np.ones(50))
