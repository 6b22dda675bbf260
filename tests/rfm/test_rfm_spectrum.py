"""RFM.eps_rank (rankcore.rfm.spectrum) against the dense Gram route."""

import numpy as np
import pytest

import rankcore
from rankcore import RFM
from rankcore.geometry import Polygon
from rankcore.quadrature import composite_gauss_legendre
from rankcore.rfm.spectrum import block_gram, gram_inertia

EPS = np.array([1e-1, 1e-3, 1e-5, 1e-7, 1e-9, 1e-11])


def dense_counts(m, q, eps, relative=False):
    lam = rankcore.spectrum(rankcore.gram(m.feature_matrix(q.points), q.weights))
    thr = eps * (lam[0] if relative else 1.0)
    # thresholds within rounding of an eigenvalue are not comparable
    clear = np.array([np.min(np.abs(lam - t)) > 1e-12 * lam[0] + 1e-6 * t for t in thr])
    return rankcore.eps_rank(lam, eps, relative=relative), clear


@pytest.mark.parametrize("box,sub,J,pou", [
    ([(0, 1), (0, 1)], (3, 2), 25, "b"),
    ([(0, 1), (0, 2)], 3, 20, "a"),
    ([(0, 1), (0, 1), (0, 1)], 2, 15, "b"),
    ([(0, 3)], 5, 12, "b"),
])
@pytest.mark.parametrize("relative", [False, True])
def test_structured_eps_rank_equals_dense(box, sub, J, pou, relative):
    m = RFM(box, subdomains=sub, features=J, pou=pou, random_state=2)
    m.fit_function(lambda X: np.cos(X.sum(axis=1)))
    d = len(box)
    q = composite_gauss_legendre(box, 4, max(3, int(round(60 ** (1 / d)))))
    got = m.eps_rank(EPS, q, relative=relative)
    want, clear = dense_counts(m, q, EPS, relative)
    assert clear.sum() >= 4
    np.testing.assert_array_equal(got[clear], want[clear])
    assert got.dtype.kind == "i" and got.shape == EPS.shape
    assert isinstance(m.eps_rank(1e-3, q), int)


def test_structured_eps_rank_on_a_geometry_and_default_quadrature():
    L = Polygon([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])
    m = RFM(L, subdomains=3, features=15, random_state=0)
    m.fit_poisson(lambda X: 0 * X[:, 0] + 1.0, lambda X: 0 * X[:, 0])
    q = L.quadrature(3000)
    got = m.eps_rank(EPS, q)
    want, clear = dense_counts(m, q, EPS)
    np.testing.assert_array_equal(got[clear], want[clear])
    full = m.eps_rank(1e-3)  # default: the geometry's own rule
    assert 0 < full <= m.n_unknowns_


def test_inertia_of_a_small_block_matrix():
    rng = np.random.default_rng(0)
    coords = np.array([[i, j] for i in range(3) for j in range(3)])
    J = 4
    blocks = {}
    for a in range(9):
        for b in range(a, 9):
            if np.all(np.abs(coords[a] - coords[b]) <= 1):
                blocks[(a, b)] = rng.standard_normal((J, J))
    A = np.zeros((9 * J, 9 * J))
    for (a, b), M in blocks.items():
        A[a * J:(a + 1) * J, b * J:(b + 1) * J] = M
    A = A + A.T - np.diag(np.diag(A))  # symmetric, indefinite
    G = {}
    for (a, b) in blocks:
        G[(a, b)] = A[a * J:(a + 1) * J, b * J:(b + 1) * J]
    lam = np.linalg.eigvalsh(A)
    for shift in (-2.0, 0.0, 0.7, 3.0):
        assert gram_inertia(G, coords, shift, J, leaf_size=2) == int(np.sum(lam > shift))
    # block_gram: the blocks of Phi^T W Phi
    rows = np.array([0, 0, 1, 2, 2])
    bl = np.array([0, 1, 1, 0, 1])
    vals = rng.standard_normal((5, 3))
    w = np.array([0.5, 1.0, 2.0])
    Phi = np.zeros((3, 6))
    for r, b, v in zip(rows, bl, vals):
        Phi[r, 3 * b:3 * b + 3] = v
    full = Phi.T @ (w[:, None] * Phi)
    got = block_gram(rows, bl, vals, w)
    np.testing.assert_allclose(got[(0, 1)], full[:3, 3:], atol=1e-14)
    np.testing.assert_allclose(got[(1, 1)], full[3:, 3:], atol=1e-14)


def test_eps_rank_bad_input():
    m = RFM([(0, 1)], subdomains=2, features=5, random_state=0)
    with pytest.raises(ValueError, match="not fitted"):
        m.eps_rank(1e-3)
    m.fit_function(np.sin)
    for bad in (0.0, -1.0, [1e-3, -1e-3]):
        with pytest.raises(ValueError, match="eps must be > 0"):
            m.eps_rank(bad)
    with pytest.raises(ValueError, match="eps must be finite"):
        m.eps_rank(np.nan)
    with pytest.raises(TypeError, match="quadrature"):
        m.eps_rank(1e-3, quadrature=[1, 2])
    with pytest.raises(TypeError, match="relative"):
        m.eps_rank(1e-3, relative=1)


# ------------------------------------------------------------- pruning ---

def test_pruned_basis_keeps_an_eps_independent_subset():
    u = lambda X: np.sin(2 * np.pi * X[:, 0]) * np.sin(2 * np.pi * X[:, 1])  # noqa: E731
    f = lambda X: 8 * np.pi ** 2 * u(X)  # noqa: E731
    full = RFM([(0, 1), (0, 1)], subdomains=3, features=120, random_state=0)
    full._setup()
    m = RFM([(0, 1), (0, 1)], subdomains=3, features=120, random_state=0,
            prune_eps=1e-27).fit_poisson(f, u)
    k = m.features_
    assert m.n_kept_.shape == (9,) and k == m.n_kept_.max() < 120
    assert m.n_unknowns_ == 9 * k and m.coef_.shape == (9, k)
    # the kept features are features of the unpruned basis (same draw)
    for n in range(9):
        W = full.weights_[n]
        for j in range(k):
            assert np.any(np.all(W == m.weights_[n, j], axis=1))
    X = np.random.default_rng(1).uniform(0, 1, (4000, 2))
    assert np.linalg.norm(m.predict(X) - u(X)) / np.linalg.norm(u(X)) < 1e-5  # ~1e-8
    # a smaller threshold keeps more; the ranks are those of each cell
    m2 = RFM([(0, 1), (0, 1)], subdomains=3, features=120, random_state=0, prune_eps=1e-20)
    m2._setup()
    assert np.all(m2.n_kept_ <= m.n_kept_)
    # prune_basis: distinct kept features, as many as the largest cell rank
    from rankcore.rfm.prune import prune_basis
    _, n_kept, kept = prune_basis(full.basis_, 1e-12)
    assert kept.shape == (9, n_kept.max()) and len(set(kept[0].tolist())) == kept.shape[1]


@pytest.mark.parametrize("bad", [0.0, 1.0, -1e-3, 2])
def test_prune_eps_refused(bad):
    with pytest.raises(ValueError, match="prune_eps"):
        RFM([(0, 1)], subdomains=2, features=10, prune_eps=bad).fit_function(np.sin)
    with pytest.raises(TypeError, match="prune_eps"):
        RFM([(0, 1)], subdomains=2, features=10, prune_eps="1e-8").fit_function(np.sin)
