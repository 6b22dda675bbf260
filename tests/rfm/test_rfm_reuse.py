"""Reusing a QR factorization: QRFactor, fit_linear(reuse=...), time slabs.

The reuse rule is exact by construction (the cached matrix *is* the new
fit's matrix, up to points moved by rounding), so the checks compare with a
fresh factorization of the same problem at the level of the solve's own
rounding, and check that any real change of the problem refuses the cache.
"""

import math

import numpy as np
import pytest

import rankcore.rfm.pdefits as rfm_pdefits
from rankcore import RFM
from rankcore.rfm import assembly, lstsq
from rankcore.rfm.basis import Basis
from rankcore.rfm.equations import LinearBlock

PI = math.pi
BOX2 = [(0.0, 1.0), (0.0, 1.0)]


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# ---------------------------------------------------------- QRFactor ---

def _chain_system(n_blocks=4, J=5, private=40, shared=8, seed=0):
    """Rows private to one block (enough to take the head reduction) and
    rows coupling neighbours, in pair storage; well conditioned."""
    rng = np.random.default_rng(seed)
    rows, blocks, vals = [], [], []
    r = 0
    for b in range(n_blocks):
        for _ in range(private):
            rows.append(r), blocks.append(b), vals.append(rng.standard_normal(J))
            r += 1
        if b + 1 < n_blocks:
            for _ in range(shared):
                for bb in (b, b + 1):
                    rows.append(r), blocks.append(bb), vals.append(rng.standard_normal(J))
                r += 1
    return (np.array(rows, np.int64), np.array(blocks, np.int64), np.array(vals), r,
            n_blocks, J)


def _dense(rows, blocks, vals, n_rows, n_blocks, J):
    A = np.zeros((n_rows, n_blocks * J))
    for p in range(rows.size):
        A[rows[p], blocks[p] * J:(blocks[p] + 1) * J] += vals[p]
    return A


def test_banded_factor_solves_other_right_hand_sides():
    rows, blocks, vals, n_rows, nb, J = _chain_system()
    rng = np.random.default_rng(1)
    b1, b2 = rng.standard_normal(n_rows), rng.standard_normal(n_rows)
    x1, cond, factor = lstsq.solve_banded(rows, blocks, vals, b1, n_rows, nb, keep=True)
    # the head reduction of the private rows and a front without a successor
    # both ran, so both replay paths are checked below
    assert any(step.heads for step in factor.steps)
    assert factor.steps[-1].to == -1
    x1_plain, cond_plain = lstsq.solve_banded(rows, blocks, vals, b1, n_rows, nb)
    np.testing.assert_array_equal(x1, x1_plain)
    assert cond == cond_plain
    A = _dense(rows, blocks, vals, n_rows, nb, J)
    ref, *_ = np.linalg.lstsq(A, b2, rcond=None)
    x2, res = factor.solve(b2)
    np.testing.assert_allclose(x2.ravel(), ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    assert res == pytest.approx(np.linalg.norm(A @ ref - b2), rel=1e-12)
    # the same right-hand side gives the factorization's own solution
    np.testing.assert_allclose(factor.solve(b1)[0], x1, rtol=0, atol=1e-12)


def _grid_system(xs, ys_, J=4, private=25, seed=0):
    """Cells at grid coordinates xs x ys_; private rows per cell and rows
    coupling each cell with its grid neighbours (distance 1)."""
    rng = np.random.default_rng(seed)
    coords = np.array([[i, j] for i in xs for j in ys_])
    index = {tuple(c): k for k, c in enumerate(coords.tolist())}
    rows, blocks, vals = [], [], []
    r = 0
    for b, (i, j) in enumerate(coords.tolist()):
        for _ in range(private):
            rows.append(r), blocks.append(b), vals.append(rng.standard_normal(J))
            r += 1
        for di, dj in ((1, 0), (0, 1), (1, 1)):
            nb = index.get((i + di, j + dj))
            if nb is None:
                continue
            for _ in range(3):
                for bb in (b, nb):
                    rows.append(r), blocks.append(bb), vals.append(rng.standard_normal(J))
                r += 1
    return (np.array(rows, np.int64), np.array(blocks, np.int64), np.array(vals), r,
            coords.shape[0], J, coords)


@pytest.mark.parametrize("xs", [range(6), (0, 1, 3, 4)])
def test_multifrontal_factor_solves_other_right_hand_sides(xs):
    """6 x 6 cells (private-row triangles, contribution blocks passed on in
    echelon form) and a grid with a missing column (an empty separator,
    whose front only reduces its children's rows and passes them on)."""
    from rankcore.rfm.multifrontal import solve_multifrontal
    rows, blocks, vals, n_rows, nb, J, coords = _grid_system(xs, range(6 if len(xs) == 6 else 4))
    rng = np.random.default_rng(1)
    b1, b2 = rng.standard_normal(n_rows), rng.standard_normal(n_rows)
    x1, cond, factor = solve_multifrontal(rows, blocks, vals, b1, n_rows, nb, coords, keep=True)
    assert any(st.heads for st in factor.steps)
    assert any(st.to >= 0 and st.r > st.kp for st in factor.steps)
    assert factor.steps[-1].to == -1
    if len(xs) != 6:
        assert any(st.kp == 0 for st in factor.steps)
    np.testing.assert_array_equal(
        x1, solve_multifrontal(rows, blocks, vals, b1, n_rows, nb, coords)[0])
    A = _dense(rows, blocks, vals, n_rows, nb, J)
    ref, *_ = np.linalg.lstsq(A, b2, rcond=None)
    x2, res = factor.solve(b2)
    np.testing.assert_allclose(x2.ravel(), ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    assert res == pytest.approx(np.linalg.norm(A @ ref - b2), rel=1e-12)


def test_solve_system_keeps_a_factor_for_the_qr_solvers_only():
    rows, blocks, vals, n_rows, nb, J = _chain_system()
    b = np.ones(n_rows)
    out = lstsq.solve_system(rows, blocks, vals, b, n_rows, nb, keep=True)
    assert len(out) == 4 and isinstance(out[3], lstsq.QRFactor) and out[2] == "banded"
    for solver in ("dense", "lsmr"):
        out = lstsq.solve_system(rows, blocks, vals, b, n_rows, nb, solver=solver, keep=True)
        assert len(out) == 4 and out[3] is None
    assert len(lstsq.solve_system(rows, blocks, vals, b, n_rows, nb)) == 3
    # "auto" takes the multifrontal QR from 36 cells on: it keeps its factor too
    rows, blocks, vals, n_rows, nb, J, coords = _grid_system(range(6), range(6))
    out = lstsq.solve_system(rows, blocks, vals, np.ones(n_rows), n_rows, nb, coords=coords,
                             keep=True)
    assert out[2] == "multifrontal" and isinstance(out[3], lstsq.QRFactor)


def test_row_scales_give_the_scaled_right_hand_side():
    basis = Basis(np.array(BOX2), (2, 2), 20, "b", "tanh", 1.0, np.random.default_rng(0))
    X = np.random.default_rng(1).uniform(0, 1, (50, 2))
    rhs = np.random.default_rng(2).standard_normal(50)
    block = LinearBlock(X, [(0, (2, 0), np.ones(50)), (0, (0, 0), 3.0 + X[:, 0])],
                        rhs, 2.5, 0)
    r, b, v, scaled = assembly.linear_rows(basis, block, 1)
    r2, b2, v2, scales = assembly.linear_rows(basis, block, 1, row_scales=True)
    np.testing.assert_array_equal(v, v2)
    np.testing.assert_allclose(scales * rhs, scaled, rtol=1e-15)


# --------------------------------------------------------- fit_linear ---

def _poisson_blocks(f, g, box=BOX2, n=36):
    (x0, x1), (y0, y1) = box
    xi = np.linspace(x0, x1, n + 2)[1:-1]
    yi = np.linspace(y0, y1, n + 2)[1:-1]
    Xi = np.stack(np.meshgrid(xi, yi, indexing="ij"), -1).reshape(-1, 2)
    t = np.linspace(0, 1, n)
    Xb = np.concatenate([np.stack([x0 + 0 * t, y0 + (y1 - y0) * t], 1),
                         np.stack([x1 + 0 * t, y0 + (y1 - y0) * t], 1),
                         np.stack([x0 + (x1 - x0) * t, y0 + 0 * t], 1),
                         np.stack([x0 + (x1 - x0) * t, y1 + 0 * t], 1)])
    return [(Xi, {(2, 0): -1.0, (0, 2): -1.0}, f(Xi)), (Xb, {(0, 0): 1.0}, g(Xb))]


def _u(k):
    return lambda X: np.sin(k * PI * X[:, 0]) * np.cos(PI * X[:, 1]) + X[:, 0] * X[:, 1]


def _f(k):
    return lambda X: (k ** 2 + 1) * PI ** 2 * np.sin(k * PI * X[:, 0]) * np.cos(PI * X[:, 1])


def test_fit_linear_reuses_the_factorization_for_other_right_hand_sides():
    cache = {}
    first = RFM(BOX2, 2, 150, random_state=0)
    first.fit_linear(_poisson_blocks(_f(1), _u(1)), reuse=cache)
    assert not first.factor_reused_ and isinstance(cache["factor"], lstsq.QRFactor)
    again = RFM(BOX2, 2, 150, random_state=0)
    again.fit_linear(_poisson_blocks(_f(2), _u(2)), reuse=cache)
    assert again.factor_reused_
    fresh = RFM(BOX2, 2, 150, random_state=0).fit_linear(_poisson_blocks(_f(2), _u(2)))
    assert not fresh.factor_reused_
    X = np.random.default_rng(3).uniform(0, 1, (500, 2))
    # the same QR applied to the same right-hand side, in another order:
    # rounding amplified by the condition number (1e11) only
    assert rel(again.predict(X), fresh.predict(X)) < 1e-9    # measured 1.2e-10
    assert rel(again.predict(X), _u(2)(X)) < 1e-7            # measured 4.6e-9
    assert again.n_equations_ == fresh.n_equations_ and again.cond_ == first.cond_
    # the residual comes from the rotated right-hand side, not a product
    # with the matrix (which adds rounding of sum |A_ij c_j|)
    assert again.residual_ == pytest.approx(fresh.residual_, rel=0.3)


def test_reuse_follows_the_box_when_it_moves():
    """The same problem on a box moved by (3, 0): same matrix, reused."""
    moved = [(3.0, 4.0), (0.0, 1.0)]
    shift = lambda h: (lambda X: h(X - np.array([3.0, 0.0])))  # noqa: E731
    cache = {}
    RFM(BOX2, 2, 150, random_state=0).fit_linear(
        _poisson_blocks(_f(1), _u(1)), reuse=cache)
    m = RFM(moved, 2, 150, random_state=0).fit_linear(
        _poisson_blocks(shift(_f(2)), shift(_u(2)), box=moved), reuse=cache)
    assert m.factor_reused_
    X = np.random.default_rng(4).uniform(0, 1, (400, 2)) + np.array([3.0, 0.0])
    assert rel(m.predict(X), shift(_u(2))(X)) < 1e-7       # measured 4.6e-9


@pytest.mark.parametrize("change", ["coefficient", "point", "weight", "features",
                                    "seed", "mean", "solver"])
def test_any_real_change_of_the_problem_refuses_the_cache(change):
    blocks = _poisson_blocks(_f(1), _u(1))
    cache = {}
    RFM(BOX2, 2, 150, random_state=0).fit_linear(blocks, reuse=cache)
    kw = dict(subdomains=2, features=150, random_state=0)
    fit_kw = {}
    (Xi, ti, fi), (Xb, tb, gb) = blocks
    if change == "coefficient":    # 1e-10 relative: far above rounding
        ti = {(2, 0): -1.0 - 1e-10, (0, 2): -1.0}
    elif change == "point":        # one point moved by 1e-9
        Xi = Xi.copy()
        Xi[7, 0] += 1e-9
    elif change == "features":
        kw["features"] = 149
    elif change == "seed":
        kw["random_state"] = 1
    elif change == "mean":
        fit_kw["mean"] = {0: 0.25}
    elif change == "solver":
        kw["solver"] = "dense"
    new = [(Xi, ti, fi), (Xb, tb, gb)]
    if change == "weight":
        new = [(Xi, ti, fi), (Xb, tb, gb, 2.0)]
    m = RFM(BOX2, **kw).fit_linear(new, reuse=cache, **fit_kw)
    assert not m.factor_reused_
    fresh = RFM(BOX2, **kw).fit_linear(new, **fit_kw)
    X = np.random.default_rng(5).uniform(0, 1, (300, 2))
    np.testing.assert_allclose(m.predict(X), fresh.predict(X), rtol=0, atol=1e-12)
    if change == "mean":      # not used with mean rows, and left as it was
        assert RFM(BOX2, **kw).fit_linear(blocks, reuse=cache).factor_reused_
    elif change == "solver":  # only the banded solver fills the cache
        assert cache == {}
    else:                     # the cache now holds the new problem
        again = RFM(BOX2, **kw).fit_linear(new, reuse=cache)
        assert again.factor_reused_


def test_reuse_must_be_a_dict():
    with pytest.raises(TypeError, match=r"reuse must be a dict .* got list"):
        RFM(BOX2, 2, 20, random_state=0).fit_linear(_poisson_blocks(_f(1), _u(1), n=8),
                                                    reuse=[])


# ------------------------------------------------------------ time slabs ---

NU = 0.1


def _heat_u(X):
    return np.exp(-X[:, 1] / 2) * np.sin(2 * PI * X[:, 0] + 0.2) * np.cos(PI * X[:, 1]) \
        + X[:, 0] * X[:, 1] / 4


def _heat_f(X):
    x, t = X[:, 0], X[:, 1]
    e, s_, c_ = np.exp(-t / 2), np.sin(2 * PI * x + 0.2), np.cos(PI * t)
    return e * s_ * (-0.5 * c_ - PI * np.sin(PI * t)) + x / 4 + NU * (2 * PI) ** 2 * e * s_ * c_


def _heat_blocks(t_levels):
    x = (np.arange(40) + 0.5) / 40
    X = np.stack(np.meshgrid(x, t_levels, indexing="ij"), -1).reshape(-1, 2)
    left = np.stack([np.zeros(t_levels.size), t_levels], 1)
    right = np.stack([np.ones(t_levels.size), t_levels], 1)
    X0 = np.stack([x, np.zeros(x.size)], 1)
    return [(X, {(0, 1): 1.0, (2, 0): -NU}, _heat_f(X)), (left, {(0, 0): 1.0}, _heat_u(left)),
            (right, {(0, 0): 1.0}, _heat_u(right)), (X0, {(0, 0): 1.0}, _heat_u(X0))]


def test_time_slabs_reuse_the_first_factorization_when_slabs_repeat(monkeypatch):
    """Midpoint time levels, 20 per slab: every slab's points are the first
    slab's moved, so slabs 1..3 reuse its QR factors."""
    box, K = [(0.0, 1.0), (0.0, 2.0)], 4
    t = (np.arange(20 * K) + 0.5) * (2.0 / (20 * K))
    eqs = _heat_blocks(t)
    m = RFM(box, (2, 1), 150, random_state=0).fit_time_slabs(eqs, K)
    assert m.slab_reused_.tolist() == [False, True, True, True] and m.factor_reused_
    # every slab draws the same features in its own coordinates
    for child in m.slab_models_[1:]:
        np.testing.assert_array_equal(child.weights_, m.slab_models_[0].weights_)
    monkeypatch.setattr(rfm_pdefits, "REUSE_RTOL", -1.0)   # no reuse: factor every slab
    fresh = RFM(box, (2, 1), 150, random_state=0).fit_time_slabs(eqs, K)
    assert not fresh.slab_reused_.any()
    X = np.stack(np.meshgrid(np.linspace(0, 1, 41), np.linspace(0, 2, 41),
                             indexing="ij"), -1).reshape(-1, 2)
    assert rel(m.predict(X), fresh.predict(X)) < 1e-9
    assert rel(m.predict(X), _heat_u(X)) < 1e-8           # measured 4.3e-10
    for a, b in zip(m.slab_models_, fresh.slab_models_):
        assert a.residual_ == pytest.approx(b.residual_, rel=0.3)  # measured 10%


def test_time_slabs_factor_again_when_the_points_do_not_repeat():
    """Levels of one grid over [0, 2] that the slab ends cut unevenly."""
    box = [(0.0, 1.0), (0.0, 2.0)]
    eqs = _heat_blocks(np.linspace(0, 2, 103)[1:-1])
    m = RFM(box, (2, 1), 150, random_state=0).fit_time_slabs(eqs, 4)
    assert not m.slab_reused_.any() and not m.factor_reused_
    X = np.stack(np.meshgrid(np.linspace(0, 1, 41), np.linspace(0, 2, 41),
                             indexing="ij"), -1).reshape(-1, 2)
    assert rel(m.predict(X), _heat_u(X)) < 1e-8           # measured 5.8e-10


def test_time_slabs_reuse_can_be_switched_off():
    box, K = [(0.0, 1.0), (0.0, 2.0)], 4
    eqs = _heat_blocks((np.arange(12 * K) + 0.5) * (2.0 / (12 * K)))
    m = RFM(box, (2, 1), 60, random_state=0).fit_time_slabs(eqs, K, reuse=False)
    assert m.slab_reused_.tolist() == [False] * K
    with pytest.raises(TypeError, match=r"reuse must be True or False, got 'yes' \(str\)"):
        RFM(box, (2, 1), 60, random_state=0).fit_time_slabs(eqs, K, reuse="yes")


def test_fit_linear_reuse_with_the_multifrontal_solver():
    kw = dict(subdomains=6, features=30, random_state=0)
    cache = {}
    RFM(BOX2, **kw).fit_linear(_poisson_blocks(_f(1), _u(1)), reuse=cache)
    again = RFM(BOX2, **kw).fit_linear(_poisson_blocks(_f(2), _u(2)), reuse=cache)
    fresh = RFM(BOX2, **kw).fit_linear(_poisson_blocks(_f(2), _u(2)))
    assert again.factor_reused_ and again.solver_ == fresh.solver_ == "multifrontal"
    X = np.random.default_rng(6).uniform(0, 1, (400, 2))
    assert rel(again.predict(X), fresh.predict(X)) < 1e-9


def test_reuse_on_a_geometry():
    """A disk: the kept cells and their clamped faces are part of the problem."""
    from rankcore.geometry import Disk
    disk = Disk((0.0, 0.0), 1.0)
    Xi = disk.sample_interior(1500, seed=0)
    Xb, _ = disk.sample_boundary(200, seed=1)
    u1 = lambda X: np.exp(X[:, 0]) * np.cos(X[:, 1])          # noqa: E731 (harmonic)
    u2 = lambda X: X[:, 0] ** 2 - X[:, 1] ** 2 + X[:, 0]        # noqa: E731 (harmonic)
    eqs = lambda u: [(Xi, {(2, 0): 1.0, (0, 2): 1.0}, 0.0), (Xb, {(0, 0): 1.0}, u)]  # noqa: E731
    cache = {}
    RFM(disk, 3, 60, random_state=0).fit_linear(eqs(u1), reuse=cache)
    again = RFM(disk, 3, 60, random_state=0).fit_linear(eqs(u2), reuse=cache)
    fresh = RFM(disk, 3, 60, random_state=0).fit_linear(eqs(u2))
    assert again.factor_reused_
    X = disk.sample_interior(300, seed=3)
    assert rel(again.predict(X), fresh.predict(X)) < 1e-9
    # another disk with the same cells count would still differ in its points
    other = RFM(Disk((0.0, 0.0), 0.9), 3, 60, random_state=0)
    assert not other.fit_linear([(0.9 * Xi, {(2, 0): 1.0, (0, 2): 1.0}, 0.0),
                                 (0.9 * Xb, {(0, 0): 1.0}, u2)], reuse=cache).factor_reused_


def test_bad_reuse_caches_and_right_hand_sides_are_refused():
    with pytest.raises(ValueError, match=r"reuse must be an empty dict or one filled by "
                                         r"fit_linear, got a dict with the keys \['a'\]"):
        RFM(BOX2, 2, 20, random_state=0).fit_linear(_poisson_blocks(_f(1), _u(1), n=8),
                                                    reuse={"a": 1})
    rows, blocks, vals, n_rows, nb, J = _chain_system()
    factor = lstsq.solve_banded(rows, blocks, vals, np.ones(n_rows), n_rows, nb, keep=True)[2]
    with pytest.raises(ValueError, match=rf"rhs must be a finite vector of {n_rows} values"
                                         rf".*got shape \(3,\)"):
        factor.solve(np.ones(3))
    bad = np.ones(n_rows)
    bad[5] = np.nan
    with pytest.raises(ValueError, match=r"got shape .* with non-finite values"):
        factor.solve(bad)
