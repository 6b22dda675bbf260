"""Theorems 3.1 and 3.2 checked on measured function sets (rankcore.theory)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _examples import examples

import rankcore
from rankcore import (NegativeEigenvalueWarning, loss_lower_bound,
                      loss_lower_bound_from_features, subset_approximation)
from rankcore.quadrature import gauss_legendre
from rankcore.subset import SWAP_SLACK
from rankcore.testing import function_set


@st.composite
def setups(draw):
    kind = draw(st.sampled_from(["random", "random", "duplicates", "poly"]))
    n = draw(st.integers(1, 16 if kind == "poly" else 60))
    dim = draw(st.sampled_from([1, 1, 2])) if kind != "poly" else 1
    seed = draw(st.integers(0, 2 ** 32 - 1))
    log_eps = draw(st.floats(-14.0, 0.0))  # relative to lambda_max, 14 decades
    f = draw(st.sampled_from([1.0, 1.0, 2.0]))
    return kind, n, dim, seed, log_eps, f


def _gram(Phi, q):
    return rankcore.gram(Phi, q.weights)


@settings(max_examples=examples(120))
@given(setups(), st.sampled_from(["srrqr", "srrqr", "qrcp"]))
def test_theorem_3_1_errors_within_bounds(setup, method):
    kind, n, dim, seed, log_eps, f = setup
    Phi, q = function_set(kind, n, seed, dim)
    M = _gram(Phi, q)
    lmax = float(np.linalg.eigvalsh(M)[-1])
    eps = 10.0 ** log_eps * lmax
    res = subset_approximation(M, eps, f=f, method=method)
    r = res.rank
    assert res.indices.shape == (r,) and res.others.shape == (n - r,)
    assert np.array_equal(np.sort(np.concatenate([res.indices, res.others])), np.arange(n))
    assert res.coefficients.shape == (r, n - r)
    lam = res.eigenvalues
    if not np.any(np.abs(lam - eps) <= 1e-9 * lmax):
        assert r == rankcore.eps_rank(M, eps, kind="gram")
    # The theorem (with the documented rounding allowance tau).
    assert np.all(res.errors <= res.bounds_tol), (res.errors - res.bounds_tol).max()
    assert res.holds
    assert res.guaranteed == (method == "srrqr" or r in (0, n))
    if method == "qrcp":
        return  # the per-function bound is all that pivoted QR guarantees
    assert np.all(res.bounds <= res.worst_case_bound * (1 + 1e-12))
    # After srrqr every |a_j[i]| <= f, so ||a_j||^2 <= f^2 r (docs/theory.md).
    growth = res.bounds ** 2 / eps
    assert np.all(growth <= 1 + f * f * r * (1 + SWAP_SLACK) ** 2 * (1 + 1e-9) + 1e-9)
    assert res.worst_case_bound == pytest.approx(
        math.sqrt(eps) * math.sqrt(f * f * r * (n - r) + 2))


@settings(max_examples=examples(100))
@given(setups(), st.sampled_from(["lstsq", "random", "sparse_tail"]),
       st.sampled_from(["sin", "abs", "feature"]))
def test_theorem_3_2_bound_below_true_loss(setup, ckind, ukind):
    kind, n, dim, seed, log_eps, f = setup
    Phi, q = function_set(kind, n, seed, dim)
    rng = np.random.default_rng(seed + 1)
    X = q.points
    if ukind == "sin":
        u = np.sin(7 * X.sum(axis=1) + 0.3)
    elif ukind == "abs":
        u = np.abs(X).sum(axis=1)
    else:  # the target lies in the span: the loss can vanish
        u = Phi @ rng.standard_normal(n)
    w = q.weights
    M = _gram(Phi, q)
    b = Phi.T @ (w * u)
    uu = float(w @ u ** 2)
    if ckind == "lstsq":
        c = np.linalg.lstsq(np.sqrt(w)[:, None] * Phi, np.sqrt(w) * u, rcond=None)[0]
    elif ckind == "random":
        c = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3)
    else:
        c = rng.standard_normal(n) * 10.0 ** rng.uniform(-12, -3, n)
    lmax = float(np.linalg.eigvalsh(M)[-1])
    eps = 10.0 ** log_eps * lmax
    res = loss_lower_bound(M, b, uu, c, eps, f=f)
    tol = res.tolerance
    # The three bounds are nested and all lie below the true sqrt(L).
    assert res.bound <= res.bound_per_function + 1e-12 * (1 + abs(res.bound))
    assert res.bound_per_function <= res.bound_exact + tol
    assert res.bound_exact <= res.sqrt_loss + tol, (res.bound_exact, res.sqrt_loss, tol)
    assert res.bound <= res.sqrt_loss + tol
    assert res.distance <= math.sqrt(uu) * (1 + 1e-12) + tol
    assert res.bound == pytest.approx(res.distance - res.eps_term)
    direct = math.sqrt(float(w @ (Phi @ c - u) ** 2))
    assert abs(res.sqrt_loss - direct) <= tol + 1e-9 * direct
    # dist(u, span phi_I) is the least-squares residual on the selected set.
    idx = res.approximation.indices
    if idx.size:
        sw = np.sqrt(w)
        cI = np.linalg.lstsq(sw[:, None] * Phi[:, idx], sw * u, rcond=None)[0]
        resid = math.sqrt(float(w @ (Phi[:, idx] @ cI - u) ** 2))
        assert res.distance >= resid - tol - 1e-9 * math.sqrt(uu)


def test_errors_match_feature_residuals():
    Phi, q = function_set("random", 30, 5)
    w = q.weights
    M = _gram(Phi, q)
    res = subset_approximation(M, 1e-6)
    assert 0 < res.rank < 30
    R = Phi[:, res.others] - Phi[:, res.indices] @ res.coefficients
    direct = np.sqrt(w @ R ** 2)
    np.testing.assert_allclose(res.errors, direct, rtol=1e-5, atol=1e-7)
    assert np.all(res.errors <= res.bounds)


def test_polynomials_known_rank_and_exact_reconstruction():
    # 6 monomials on [-1, 1] plus two exact linear combinations of them.
    q = gauss_legendre((-1.0, 1.0), 32)
    x = q.points[:, 0]
    P = np.stack([x ** p for p in range(6)], axis=1)
    Phi = np.column_stack([P, P @ np.arange(6.0), P[:, 1] - 2 * P[:, 3]])
    M = _gram(Phi, q)
    res = subset_approximation(M, 1e-9)
    assert res.rank == 6
    assert np.all(res.errors <= 1e-6)
    # The dependent pair cannot both be selected with all of its parts.
    Rc = Phi[:, res.others] - Phi[:, res.indices] @ res.coefficients
    assert np.max(np.abs(Rc)) < 1e-5


def test_rank_zero_and_full_rank():
    q = gauss_legendre((0.0, 1.0), 16)
    x = q.points[:, 0]
    Phi = 1e-4 * np.stack([np.ones_like(x), x], axis=1)
    M = _gram(Phi, q)
    res = subset_approximation(M, 1e-3)
    assert res.rank == 0 and res.indices.size == 0 and res.selection is None
    assert res.coefficients.shape == (0, 2)
    np.testing.assert_allclose(res.errors, np.sqrt(np.diag(M)))
    assert np.all(res.errors <= res.bounds)
    full = subset_approximation(M, 1e-14)
    assert full.rank == 2 and full.others.size == 0 and full.errors.shape == (0,)
    assert full.worst_case_bound == pytest.approx(math.sqrt(2e-14))
    lb = loss_lower_bound(M, M[:, 0], M[0, 0], np.array([1.0, 0.0]), 1e-14)
    assert lb.eps_term == 0.0 and lb.sqrt_loss == pytest.approx(0.0, abs=1e-9)
    lb0 = loss_lower_bound(M, np.zeros(2), 2.0, np.zeros(2), 1e-3)
    assert lb0.distance == pytest.approx(math.sqrt(2.0))
    assert lb0.bound == pytest.approx(math.sqrt(2.0)) and lb0.rank == 0


def test_relative_eps_and_methods():
    Phi, q = function_set("random", 25, 11)
    M = _gram(Phi, q)
    lmax = np.linalg.eigvalsh(M)[-1]
    a = subset_approximation(M, 1e-8, relative=True)
    b = subset_approximation(M, 1e-8 * lmax)
    assert a.relative and not b.relative
    assert a.eps == pytest.approx(b.eps) and a.rank == b.rank
    assert np.array_equal(a.indices, b.indices)
    qr = subset_approximation(M, 1e-8 * lmax, method="qrcp")
    assert qr.rank == b.rank and np.all(qr.errors <= qr.bounds_tol)
    small = _gram(*function_set("random", 9, 2))
    br = subset_approximation(small, 1e-6, method="brute")
    assert br.f == 1.0 and br.guaranteed and br.holds


def test_reuse_approximation_and_from_features():
    Phi, q = function_set("random", 20, 3)
    w = q.weights
    u = np.cos(3 * q.points[:, 0])
    M = _gram(Phi, q)
    c = np.linspace(-1, 1, 20)
    ap = subset_approximation(M, 1e-7)
    r1 = loss_lower_bound(M, Phi.T @ (w * u), float(w @ u ** 2), c, 1e-7)
    r2 = loss_lower_bound(M, Phi.T @ (w * u), float(w @ u ** 2), c, 1e-7, approximation=ap)
    r3 = loss_lower_bound_from_features(Phi, u, w, c, 1e-7)
    assert r2.bound == pytest.approx(r1.bound, rel=1e-9, abs=1e-12)
    assert r2.sqrt_loss == pytest.approx(r1.sqrt_loss, rel=1e-9)
    # The features path computes from R, the Gram path through M: they agree
    # within the Gram path's rounding allowance.
    assert abs(r3.bound - r1.bound) <= r1.tolerance + r3.tolerance
    assert abs(r3.sqrt_loss - r1.sqrt_loss) <= r1.tolerance + r3.tolerance
    assert r3.rank == ap.rank and r3.eps == 1e-7
    Phi32 = Phi.astype(np.float32)
    r4 = loss_lower_bound_from_features(Phi32, u, w, c, 1e-7)
    assert r4.approximation.rank == rankcore.eps_rank(rankcore.gram(Phi32, w), 1e-7, kind="gram")


def test_bad_input():
    Phi, q = function_set("random", 5, 0)
    M = _gram(Phi, q)
    b = np.ones(5)
    c = np.ones(5)
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        subset_approximation(M, 0.0)
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        subset_approximation(M, -1e-3)
    with pytest.raises(ValueError, match="symmetric"):
        A = M.copy()
        A[0, 1] += 1.0
        subset_approximation(A, 1e-3)
    with pytest.raises(ValueError, match=r"gram must be finite.*\(2, 3\)"):
        A = M.copy()
        A[2, 3] = np.inf
        subset_approximation(A, 1e-3)
    with pytest.raises(ValueError, match="square"):
        subset_approximation(np.ones((3, 4)), 1e-3)
    with pytest.raises(ValueError, match="one"):
        subset_approximation(np.stack([M, M]), 1e-3)
    with pytest.raises(ValueError, match="f must be a finite number >= 1"):
        subset_approximation(M, 1e-3, f=0.9)
    with pytest.raises(ValueError, match="method must be"):
        subset_approximation(M, 1e-3, method="lu")
    with pytest.raises(ValueError, match=r"b must have shape \(5,\)"):
        loss_lower_bound(M, np.ones(4), 1.0, c, 1e-3)
    with pytest.raises(ValueError, match=r"c must be 1-D"):
        loss_lower_bound(M, b, 1.0, np.ones((5, 1)), 1e-3)
    with pytest.raises(ValueError, match="c must be finite"):
        loss_lower_bound(M, b, 1.0, np.full(5, np.nan), 1e-3)
    with pytest.raises(ValueError, match="u_norm2 must be a finite number >= 0"):
        loss_lower_bound(M, b, -1.0, c, 1e-3)
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        loss_lower_bound(M, b, 1.0, c, 0.0)
    ap = subset_approximation(M[:4, :4], 1e-3)
    with pytest.raises(ValueError, match="approximation is for n=4"):
        loss_lower_bound(M, b, 1.0, c, 1e-3, approximation=ap)
    with pytest.raises(TypeError, match="approximation must be a SubsetApproximation"):
        loss_lower_bound(M, b, 1.0, c, 1e-3, approximation="x")
    with pytest.raises(ValueError, match=r"target must have shape"):
        loss_lower_bound_from_features(Phi, np.ones(3), q.weights, c, 1e-3)
    with pytest.raises(ValueError, match="weights"):
        loss_lower_bound_from_features(Phi, np.ones(len(q.weights)), -q.weights, c, 1e-3)
    with pytest.warns(NegativeEigenvalueWarning):
        subset_approximation(-M, 1e-3)


# -- hardening: float64 overflow is an error, never a silent 0 or NaN --------

@pytest.mark.parametrize("scale_b, scale_c, u2, what", [
    (1.0, 1e200, 1.0, "the loss"),        # c.M.c = inf: sqrt_loss was inf/NaN
    (1e300, 1.0, 1.0, "the distance"),    # -inf clipped to 0: sqrt_loss was 0.0
])
def test_loss_lower_bound_overflow_is_an_error(scale_b, scale_c, u2, what):
    M = np.diag([1.0, 0.5, 1e-6, 1e-9])
    with pytest.raises(ValueError, match=rf"overflows float64: {what} .*rescale"):
        loss_lower_bound(M, scale_b * np.ones(4), u2, scale_c * np.ones(4), 1e-3)


def test_loss_lower_bound_from_features_overflow_names_target():
    x = np.linspace(0.0, 1.0, 50)
    Phi = np.stack([x ** p for p in range(4)], 1)
    w = np.full(50, 1 / 50)
    with pytest.raises(ValueError, match=r"target is too large for float64.*1e\+200"):
        loss_lower_bound_from_features(Phi, x * 1e200, w, np.ones(4), 1e-6)


def test_loss_lower_bound_refuses_approximation_of_another_gram():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 6))
    M = A.T @ A / 40
    b, c = rng.standard_normal(6), rng.standard_normal(6)
    ap = subset_approximation(M, 1e-3)
    same = loss_lower_bound(M, b, 10.0, c, 1e-3, approximation=ap)
    assert same.bound == loss_lower_bound(M, b, 10.0, c, 1e-3).bound
    with pytest.raises(ValueError, match=r"approximation was not computed from this gram"):
        loss_lower_bound(M, b, 10.0, c, 1e-3, approximation=subset_approximation(2 * M, 1e-3))


@pytest.mark.parametrize("bad", ["no", 1, np.array([True, False])])
def test_relative_must_be_a_bool(bad):
    M = np.diag([1.0, 0.5, 1e-6])
    with pytest.raises(TypeError, match=r"relative must be True or False, got"):
        subset_approximation(M, 1e-3, relative=bad)
    with pytest.raises(TypeError, match=r"relative must be True or False, got"):
        loss_lower_bound(M, np.ones(3), 1.0, np.ones(3), 1e-3, relative=bad)
    assert subset_approximation(M, 1e-3, relative=np.bool_(True)).relative is True


# -- Theorem 3.2 for a PDE: -u'' = f on (0, 1), u(0) = u(1) = 0 -------------
# Stability: w = w0 + l with l the linear interpolant of w(0), w(1) and
# w0 in H^1_0, so ||w|| <= ||w''|| / pi**2 + max(|w(0)|, |w(1)|) <= R(w) with
# R(w) = ||w''|| + |w(0)| + |w(1)|: C = 1.

def _poisson_case(k, s, m, a, c_kind):
    q = gauss_legendre((0.0, 1.0), 96)
    x = q.points[:, 0]
    z = np.outer(x, k) + s
    phi, phi_xx = np.tanh(z), -2.0 * k ** 2 * np.tanh(z) / np.cosh(z) ** 2
    u = np.sin(np.pi * x) + a * np.sin(m * np.pi * x)
    f = np.pi ** 2 * np.sin(np.pi * x) + a * (m * np.pi) ** 2 * np.sin(m * np.pi * x)
    ends = np.tanh(np.stack([s, k + s]))  # phi_j(0), phi_j(1)
    sw = np.sqrt(q.weights)[:, None]
    if c_kind == "l2":  # best L2 fit of the solution
        c = np.linalg.lstsq(sw * phi, sw[:, 0] * u, rcond=None)[0]
    else:  # least-squares PDE solve: what a collocation solver returns
        A = np.vstack([sw * -phi_xx, ends])
        c = np.linalg.lstsq(A, np.concatenate([sw[:, 0] * f, [0.0, 0.0]]), rcond=None)[0]
    res = -phi_xx @ c - f
    R = math.sqrt(q.weights @ res ** 2) + abs(ends[0] @ c) + abs(ends[1] @ c)
    return q, phi, u, c, R


@settings(max_examples=examples(60))
@given(n=st.integers(3, 12), m=st.integers(2, 8), a=st.floats(0.2, 1.0),
       log_eps=st.floats(-12.0, -2.0), seed=st.integers(0, 2 ** 31 - 1),
       c_kind=st.sampled_from(["l2", "pde"]))
def test_theorem_3_2_pde_residual_bound(n, m, a, log_eps, seed, c_kind):
    rng = np.random.default_rng(seed)
    k, s = rng.uniform(0.5, 6.0, n), rng.uniform(-3.0, 3.0, n)
    q, phi, u, c, R = _poisson_case(k, s, m, a, c_kind)
    lb = rankcore.loss_lower_bound_from_features(phi, u, q.weights, c, 10.0 ** log_eps)
    for which in ("bound", "bound_per_function", "bound_exact"):
        rb = rankcore.residual_lower_bound(lb, 1.0, which=which)
        assert rb <= R + lb.tolerance + 1e-10 * (1.0 + R), (which, rb, R)


def test_pde_residual_bound_is_informative_and_falls_with_rank():
    # Four slow tanh (eps-rank 3) cannot solve a problem with sin(6 pi x) in
    # it: the residual bound is positive.  With more and steeper features the
    # eps-rank rises and the distance term, the part that only a higher
    # eps-rank can lower, falls.
    rng = np.random.default_rng(0)
    ranks, dists = [], []
    for n, kmax in ((4, 1.0), (8, 4.0), (24, 30.0)):
        k, s = rng.uniform(0.5, kmax, n), rng.uniform(-kmax, kmax, n)
        q, phi, u, c, R = _poisson_case(k, s, 6, 1.0, "pde")
        lb = rankcore.loss_lower_bound_from_features(phi, u, q.weights, c, 1e-10)
        rb = rankcore.residual_lower_bound(lb, 1.0, which="bound_exact")
        assert rb <= R
        if n == 4:
            assert rb > 0.3
        ranks.append(lb.rank)
        dists.append(lb.distance)
    assert ranks[0] < ranks[1] < ranks[2]
    assert dists[0] > dists[1] > dists[2]


def test_residual_lower_bound_bad_input():
    q = gauss_legendre((0.0, 1.0), 16)
    x = q.points[:, 0]
    lb = rankcore.loss_lower_bound_from_features(
        np.stack([x, x ** 2], 1), np.sin(x), q.weights, np.ones(2), 1e-8)
    with pytest.raises(TypeError, match="loss_bound must be a LossLowerBound"):
        rankcore.residual_lower_bound(0.3, 1.0)
    with pytest.raises(ValueError, match="stability must be a finite number > 0"):
        rankcore.residual_lower_bound(lb, 0.0)
    with pytest.raises(ValueError, match="which must be one of"):
        rankcore.residual_lower_bound(lb, 1.0, which="tightest")


# -- defects found by independent checks ------------------------------------

def _legendre_rank12_set(seed=0, noise=3e-10):
    """20 combinations of the first 12 Legendre polynomials plus tiny noise."""
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 200)
    x = q.points[:, 0]
    P = np.polynomial.legendre.legvander(x, 11) * np.sqrt(np.arange(12) + 0.5)
    rng = np.random.default_rng(seed)
    Phi = P @ rng.standard_normal((12, 20)) + noise * rng.standard_normal((x.size, 20))
    return Phi, q


def test_from_features_is_computed_from_the_features_not_the_gram_matrix():
    # Through M = Phi^T W Phi the errors of Theorem 3.1 (about 1e-9 here)
    # cancel to 0, sqrt_loss cancels to 0 and the "lower bound" exceeded the
    # loss.  From R they are resolved.
    Phi, q = _legendre_rank12_set()
    w, x = q.weights, q.points[:, 0]
    u = np.sin(14 * x) + np.abs(x)
    sw = np.sqrt(w)
    c = np.linalg.lstsq(sw[:, None] * Phi, sw * u, rcond=None)[0]
    res = loss_lower_bound_from_features(Phi, u, w, c, 1e-12)
    direct_loss = float(np.linalg.norm(sw * (Phi @ c - u)))
    assert direct_loss > 1e-3
    assert res.sqrt_loss == pytest.approx(direct_loss, rel=1e-6)
    ap = res.approximation
    assert ap.rank == rankcore.eps_rank(rankcore.spectrum_from_features(Phi, w), 1e-12)
    assert ap.rank >= 12
    resid = Phi[:, ap.others] - Phi[:, ap.indices] @ ap.coefficients
    direct_err = np.linalg.norm(sw[:, None] * resid, axis=0)
    assert np.all(direct_err > 1e-11)  # the noise is there, errors are not 0
    np.testing.assert_allclose(ap.errors, direct_err, rtol=1e-6)
    assert res.tolerance < 1e-3 * direct_loss  # |c| is about 1e8 here
    for bound in (res.bound, res.bound_per_function, res.bound_exact):
        assert bound <= direct_loss + res.tolerance


@pytest.mark.parametrize("relative", [False, True])
def test_subset_approximation_rank_equals_eps_rank_at_an_eigenvalue(relative):
    # eps set exactly to a computed eigenvalue: one (M, eps), one rank.
    Phi, q = function_set("random", 12, 4)
    M = _gram(Phi, q)
    lam = rankcore.spectrum(M)
    for k in range(1, 11):
        eps = lam[k] / lam[0] if relative else lam[k]
        expect = rankcore.eps_rank(lam, eps, relative=relative)
        assert subset_approximation(M, eps, relative=relative).rank == expect


def test_theory_warnings_point_at_the_callers_line():
    M = np.diag([1.0, 0.5, -0.1])
    with pytest.warns(rankcore.NegativeEigenvalueWarning) as rec:
        subset_approximation(M, 1e-3)
    assert rec[0].filename == __file__
