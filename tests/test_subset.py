"""Row selection and the Hong--Pan lemma (rankcore.subset)."""

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _examples import examples

from rankcore import hong_pan_bound, select_rows
from rankcore.subset import SWAP_SLACK, kahan_basis

REL = 1e-8  # relative slack for comparing computed sigma_min with a bound


def _orth(A):
    return np.linalg.qr(A)[0]


def make_V(kind, n, k, seed):
    """Orthonormal (n, k) test matrices, random and adversarial."""
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return _orth(rng.standard_normal((n, k)))
    if kind == "clustered":
        # Rows come in a few tight clusters: most k-subsets are near singular.
        n_clusters = max(k, 2)
        centers = rng.standard_normal((n_clusters, k))
        labels = rng.integers(0, n_clusters, size=n)
        labels[:n_clusters] = np.arange(n_clusters)
        return _orth(centers[labels] + 1e-6 * rng.standard_normal((n, k)))
    if kind == "graded":
        # Leverage concentrated on a few rows, the rest tiny (nearly rank
        # deficient blocks everywhere else).
        d = np.logspace(0, -12, n)
        rng.shuffle(d)
        return _orth(d[:, None] * rng.standard_normal((n, k)))
    if kind == "coherent":
        # Close to a permuted identity block: a handful of rows carry V.
        E = np.zeros((n, k))
        E[rng.permutation(n)[:k], np.arange(k)] = 1.0
        return _orth(E + 1e-3 * rng.standard_normal((n, k)))
    if kind == "kahan":
        # Kahan block plus a flat Hadamard part (n = k + m <= 200); rotated
        # columns and shuffled rows do not change which rows pivoted QR takes.
        kk = int(rng.integers(2, 13))
        m = int(rng.choice([64, 128]))
        V = kahan_basis(kk, float(rng.uniform(0.1, 0.6)), m=m)
        Q = _orth(rng.standard_normal((kk, kk)))
        return (V @ Q)[rng.permutation(V.shape[0])]
    if kind == "eigvec":
        x = np.linspace(-1, 1, 3 * n)
        w = rng.uniform(0.5, 8, n)
        b = rng.uniform(-1, 1, n) * w
        Phi = np.tanh(np.outer(x, w) + b)
        lam, Q = np.linalg.eigh(Phi.T @ Phi)
        return np.ascontiguousarray(Q[:, ::-1][:, :k])
    raise AssertionError(kind)


KINDS = ["gaussian", "clustered", "graded", "coherent", "kahan", "eigvec"]


@st.composite
def problems(draw, max_n=200):
    kind = draw(st.sampled_from(KINDS))
    if kind == "kahan":
        n, k = 0, 0  # chosen by make_V from the seed
    else:
        n = draw(st.integers(2, max_n))
        k = draw(st.integers(1, n))
    return kind, n, k, draw(st.integers(0, 2 ** 32 - 1))


@settings(max_examples=examples(100))
@given(problems(), st.sampled_from([1.0, 1.0, 1.5, 2.0, 10.0]), st.sampled_from(["qrcp", "lu"]))
def test_srrqr_meets_bound(prob, f, start):
    kind, n, k, seed = prob
    V = make_V(kind, n, k, seed)
    n, k = V.shape
    res = select_rows(V, "srrqr", f=f, start=start)
    assert res.converged and res.guaranteed
    assert res.indices.shape == (k,)
    assert np.all(np.diff(res.indices) > 0) and 0 <= res.indices[0] and res.indices[-1] < n
    assert res.bound == pytest.approx(1 / math.sqrt(1 + f * f * k * (n - k)))
    s = np.linalg.svd(V[res.indices], compute_uv=False)[-1]
    assert res.sigma_min == pytest.approx(s, rel=1e-12)
    assert s >= res.bound * (1 - REL)
    assert res.meets_bound
    # The stopping test itself, recomputed independently of the kernel.
    B = np.linalg.solve(V[res.indices].T, V.T).T
    assert np.max(np.abs(B)) <= f * (1 + SWAP_SLACK) + 1e-9
    assert res.max_coefficient == pytest.approx(np.max(np.abs(B)), rel=1e-6)


@given(problems())
def test_qrcp_runs_and_reports(prob):
    kind, n, k, seed = prob
    V = make_V(kind, n, k, seed)
    res = select_rows(V, "qrcp")
    assert not res.guaranteed and res.f is None and res.swaps == 0
    assert len(set(res.indices.tolist())) == V.shape[1]
    assert res.bound == pytest.approx(hong_pan_bound(*V.shape))
    assert res.meets_bound == (res.sigma_min >= res.bound * (1 - REL))
    B = np.linalg.solve(V[res.indices].T, V.T).T
    assert res.max_coefficient == pytest.approx(np.max(np.abs(B)), rel=1e-6)


@settings(max_examples=examples(40))
@given(st.integers(2, 12).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(1, n), st.sampled_from(KINDS[:4] + ["eigvec"]),
    st.integers(0, 2 ** 32 - 1))))
def test_brute_force_lemma_and_srrqr(args):
    n, k, kind, seed = args
    V = make_V(kind, n, k, seed)
    hp = hong_pan_bound(n, k)
    # Exhaustive enumeration, written independently of method="brute".
    best = max(np.linalg.svd(V[list(c)], compute_uv=False)[-1]
               for c in itertools.combinations(range(n), k))
    assert best >= hp * (1 - REL)  # the lemma itself
    brute = select_rows(V, "brute")
    assert brute.sigma_min == pytest.approx(best, rel=1e-12, abs=1e-15)
    assert brute.meets_bound and brute.guaranteed
    sr = select_rows(V, "srrqr", f=1.0)
    assert sr.sigma_min >= hp * (1 - REL)
    assert select_rows(V, "srrqr", start="lu").sigma_min >= hp * (1 - REL)
    assert sr.sigma_min <= best * (1 + 1e-12)
    # f = 1 ends at a local maximum of |det V_I| over single swaps.
    det = abs(np.linalg.det(V[sr.indices]))
    rest = np.setdiff1d(np.arange(n), sr.indices)
    for p in range(k):
        for j in rest:
            sel = sr.indices.copy()
            sel[p] = j
            assert abs(np.linalg.det(V[sel])) <= det * (1 + 1e-8) + 1e-300


def test_hong_pan_bound_values_and_errors():
    assert hong_pan_bound(10, 3) == pytest.approx(1 / math.sqrt(22))
    assert hong_pan_bound(7, 7) == 1.0
    assert hong_pan_bound(1, 1) == 1.0
    with pytest.raises(ValueError, match="k must be <= n"):
        hong_pan_bound(3, 4)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        hong_pan_bound(3, 0)
    with pytest.raises(TypeError, match="n must be an integer"):
        hong_pan_bound(3.5, 1)


def test_qrcp_misses_hong_pan_on_kahan_basis_srrqr_meets_it():
    V = kahan_basis(20, 0.3)
    n, k = V.shape
    hp = hong_pan_bound(n, k)
    q = select_rows(V, "qrcp")
    s = select_rows(V, "srrqr")
    assert np.array_equal(q.indices, np.arange(k))  # pivoted QR took Kahan's columns
    assert q.sigma_min < 0.5 * hp and not q.meets_bound
    assert s.sigma_min > 5 * hp and s.meets_bound and s.swaps >= 1


def test_kahan_basis_is_orthonormal_and_validates():
    V = kahan_basis(8, 0.4, m=64)
    assert V.shape == (72, 8)
    assert np.linalg.norm(V.T @ V - np.eye(8)) < 1e-12
    with pytest.raises(ValueError, match="power of two"):
        kahan_basis(8, 0.4, m=48)
    with pytest.raises(ValueError, match=r"c must be a number in \(0, 1\)"):
        kahan_basis(8, 1.0)


def test_square_and_single_column():
    V = _orth(np.random.default_rng(3).standard_normal((6, 6)))
    for method in ("srrqr", "qrcp", "brute"):
        res = select_rows(V, method)
        assert res.indices.tolist() == list(range(6))
        assert res.sigma_min == pytest.approx(1.0)
    v = np.zeros((5, 1))
    v[3, 0] = -1.0
    assert select_rows(v).indices.tolist() == [3]


def test_deterministic():
    V = make_V("gaussian", 150, 40, 7)
    a, b = select_rows(V), select_rows(V.copy())
    assert np.array_equal(a.indices, b.indices) and a.swaps == b.swaps


def test_swap_cap_warns():
    V = kahan_basis(16, 0.3)
    with pytest.warns(RuntimeWarning, match="max_swaps=0"):
        res = select_rows(V, max_swaps=0)
    assert not res.converged and not res.meets_bound


def test_input_does_not_change():
    V = make_V("gaussian", 50, 10, 1)
    V0 = V.copy()
    select_rows(V)
    assert np.array_equal(V, V0)


def test_bad_input():
    rng = np.random.default_rng(0)
    V = _orth(rng.standard_normal((10, 3)))
    with pytest.raises(ValueError, match="orthonormal columns"):
        select_rows(2 * V)
    with pytest.raises(ValueError, match="orthonormal columns"):
        select_rows(rng.standard_normal((10, 3)), "qrcp")
    with pytest.raises(ValueError, match="at least as many rows as columns"):
        select_rows(rng.standard_normal((3, 10)))
    bad = V.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"V must be finite.*\(4, 1\)"):
        select_rows(bad)
    with pytest.raises(ValueError, match="V must be 2-D"):
        select_rows(V[:, 0])
    with pytest.raises(TypeError, match="V must be a real numeric array"):
        select_rows(np.array([["a"]]))
    with pytest.raises(ValueError, match="method must be one of"):
        select_rows(V, "svd")
    with pytest.raises(ValueError, match="f must be a finite number >= 1"):
        select_rows(V, f=0.5)
    with pytest.raises(TypeError, match="f must be a real number"):
        select_rows(V, f="2")
    with pytest.raises(ValueError, match=r"start must be one of \['qrcp', 'lu'\]"):
        select_rows(V, start="random")
    with pytest.raises(ValueError, match="ortho_tol"):
        select_rows(V, ortho_tol=-1.0)
    with pytest.raises(ValueError, match="n <= 20"):
        select_rows(_orth(rng.standard_normal((21, 2))), "brute")
    with pytest.raises(ValueError, match="V must not be empty"):
        select_rows(np.zeros((4, 0)))
    # A looser tolerance accepts slightly non-orthonormal input.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        select_rows(V * (1 + 1e-7), ortho_tol=1e-5)
