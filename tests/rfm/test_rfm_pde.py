"""The general RFM solver: linear blocks, systems, space-time, slabs, nonlinear.

Manufactured solutions throughout.  Thresholds sit 10-100x above the errors
measured on this machine (in comments) and within the accuracy goals:
<= 1e-8 on smooth 2-D scalar problems, <= 1e-7 for systems and space-time.
"""

import math
import warnings

import numpy as np
import pytest

from rankcore import RFM
from rankcore.rfm import ConvergenceWarning

PI = math.pi
s, c = np.sin, np.cos
BOX2 = [(0.0, 1.0), (0.0, 1.0)]


def grid(box, n, interior=False):
    axes = [np.linspace(lo, hi, n + 2)[1:-1] if interior else np.linspace(lo, hi, n)
            for lo, hi in box]
    return np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)


def sides(n):
    """The four sides of the unit square, n points each (corners included)."""
    t, z, o = np.linspace(0, 1, n), np.zeros(n), np.ones(n)
    return dict(left=np.stack([z, t], 1), right=np.stack([o, t], 1),
                bottom=np.stack([t, z], 1), top=np.stack([t, o], 1))


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# ------------------------------------------------------- scalar, linear ---

def test_helmholtz_2d_dirichlet_and_neumann():
    k = 4.0
    u = lambda X: s(2 * PI * X[:, 0]) * c(1.5 * PI * X[:, 1]) + X[:, 0] * X[:, 1]  # noqa: E731
    ux = lambda X: 2 * PI * c(2 * PI * X[:, 0]) * c(1.5 * PI * X[:, 1]) + X[:, 1]  # noqa: E731
    f = lambda X: ((6.25 * PI ** 2 - k * k) * s(2 * PI * X[:, 0]) * c(1.5 * PI * X[:, 1])  # noqa: E731
                   - k * k * X[:, 0] * X[:, 1])
    S = sides(60)
    D = np.concatenate([S["left"], S["bottom"], S["top"]])
    m = RFM(BOX2, 2, 200, scale=0.5, random_state=0).fit_linear([
        (grid(BOX2, 60, True), {(2, 0): -1.0, (0, 2): -1.0, (0, 0): -k * k}, f),
        (D, {(0, 0): 1.0}, u),
        (S["right"], {(1, 0): 1.0}, ux)])
    X = grid(BOX2, 50)
    assert rel(m.predict(X), u(X)) < 1e-8  # measured 7.1e-11
    assert m.n_unknowns_ == 800 and m.solver_ == "banded"


def test_variable_coefficients_advection_diffusion_robin():
    """-div(a grad u) + b . grad u = f, a = 1 + x y / 2 (callable), b (arrays)."""
    u = lambda X: c(PI * X[:, 0]) * np.exp(X[:, 1])  # noqa: E731
    ux = lambda X: -PI * s(PI * X[:, 0]) * np.exp(X[:, 1])  # noqa: E731
    uy = u
    lap = lambda X: (1 - PI ** 2) * u(X)  # noqa: E731
    a = lambda X: 1 + X[:, 0] * X[:, 1] / 2  # noqa: E731
    Xi = grid(BOX2, 50, True)
    bx, by = 1.0 + Xi[:, 1], -0.5 * np.ones(len(Xi))
    # -a lap u - grad a . grad u + b . grad u
    f = -a(Xi) * lap(Xi) - (Xi[:, 1] / 2) * ux(Xi) - (Xi[:, 0] / 2) * uy(Xi) \
        + bx * ux(Xi) + by * uy(Xi)
    S = sides(50)
    beta = 2.0  # Robin on the top: u_y + beta u = g
    terms = {(2, 0): lambda X: -a(X), (0, 2): lambda X: -a(X),
             (1, 0): bx - Xi[:, 1] / 2, (0, 1): by - Xi[:, 0] / 2}
    D = np.concatenate([S["left"], S["right"], S["bottom"]])
    m = RFM(BOX2, 2, 200, scale=0.5, random_state=1).fit_linear([
        (Xi, terms, f),
        (D, {(0, 0): 1.0}, u, 10.0),
        (S["top"], {(0, 1): 1.0, (0, 0): beta}, lambda X: uy(X) + beta * u(X))])
    X = grid(BOX2, 50)
    assert rel(m.predict(X), u(X)) < 1e-8  # measured 2.1e-13


def test_helmholtz_1d_locelm_case():
    """u'' - 10 u = f on [0, 8], 4 subdomains x 125 features: max error ~1e-10."""
    a, b = 3 * PI, 2 * PI

    def u(X):
        return s(a * X[:, 0] + 3 * PI / 20) * c(b * X[:, 0] + PI / 10) + 2

    def upp(X):
        x = X[:, 0]
        S, C = s(a * x + 3 * PI / 20), c(b * x + PI / 10)
        return (-(a * a + b * b) * S * C
                - 2 * a * b * c(a * x + 3 * PI / 20) * s(b * x + PI / 10))

    x = np.linspace(0, 8, 800)[:, None]
    m = RFM([(0.0, 8.0)], 4, 125, scale=4.0, random_state=0).fit_linear([
        (x, {(2,): 1.0, (0,): -10.0}, lambda X: upp(X) - 10 * u(X)),
        (np.array([[0.0], [8.0]]), {(0,): 1.0}, u)])
    xt = np.linspace(0, 8, 4001)[:, None]
    assert np.abs(m.predict(xt) - u(xt)).max() < 1e-9  # measured 1.1e-10


@pytest.mark.parametrize("pou", ["a", "b"])
def test_predict_derivatives_including_mixed(pou):
    u = lambda X: s(PI * X[:, 0]) * c(PI * X[:, 1]) + X[:, 0] ** 2 * X[:, 1]  # noqa: E731
    m = RFM(BOX2, 2, 150, pou=pou, scale=0.5, random_state=2).fit_function(u)
    X = grid(BOX2, 21)[::3]
    x, y = X[:, 0], X[:, 1]
    want = {(1, 0): PI * c(PI * x) * c(PI * y) + 2 * x * y,
            (0, 1): -PI * s(PI * x) * s(PI * y) + x ** 2,
            (1, 1): -PI ** 2 * c(PI * x) * s(PI * y) + 2 * x,
            (2, 0): -PI ** 2 * s(PI * x) * c(PI * y) + 2 * y,
            (0, 2): -PI ** 2 * s(PI * x) * c(PI * y)}
    for alpha, w in want.items():
        got = m.predict(X, derivative=alpha)
        assert np.abs(got - w).max() < 1e-4 * (1 + np.abs(w).max()), alpha  # measured <= 2.1e-7


# -------------------------------------------------------------- systems ---

def test_linear_elasticity_plane_strain_mixed_conditions():
    E, nu = 1.0, 0.3
    lam, mu = E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))
    U = [lambda X: s(PI * X[:, 0]) * c(PI * X[:, 1]),
         lambda X: c(PI * X[:, 0]) * s(PI * X[:, 1])]
    u1x = lambda X: PI * c(PI * X[:, 0]) * c(PI * X[:, 1])  # noqa: E731
    u1y = lambda X: -PI * s(PI * X[:, 0]) * s(PI * X[:, 1])  # noqa: E731
    u2x, u2y = u1y, u1x
    u1xy = lambda X: -PI ** 2 * c(PI * X[:, 0]) * s(PI * X[:, 1])  # noqa: E731
    u2xy = lambda X: -PI ** 2 * s(PI * X[:, 0]) * c(PI * X[:, 1])  # noqa: E731
    # Navier-Cauchy: -(mu lap u + (lam + mu) grad div u) = f
    f1 = lambda X: 2 * mu * PI ** 2 * U[0](X) - (lam + mu) * (-PI ** 2 * U[0](X) + u2xy(X))  # noqa: E731
    f2 = lambda X: 2 * mu * PI ** 2 * U[1](X) - (lam + mu) * (u1xy(X) - PI ** 2 * U[1](X))  # noqa: E731
    L1 = {(0, (2, 0)): -(lam + 2 * mu), (0, (0, 2)): -mu, (1, (1, 1)): -(lam + mu)}
    L2 = {(1, (2, 0)): -mu, (1, (0, 2)): -(lam + 2 * mu), (0, (1, 1)): -(lam + mu)}
    S = sides(48)
    D = np.concatenate([S["left"], S["bottom"], S["top"]])
    Xi = grid(BOX2, 44, True)
    R = S["right"]  # traction sigma n with n = (1, 0)
    m = RFM(BOX2, 2, 120, scale=0.5, components=2, random_state=0).fit_linear([
        (Xi, L1, f1), (Xi, L2, f2),
        (D, {(0, (0, 0)): 1.0}, U[0]), (D, {(1, (0, 0)): 1.0}, U[1]),
        (R, {(0, (1, 0)): lam + 2 * mu, (1, (0, 1)): lam},
         lambda X: (lam + 2 * mu) * u1x(X) + lam * u2y(X)),
        (R, {(0, (0, 1)): mu, (1, (1, 0)): mu}, lambda X: mu * (u1y(X) + u2x(X)))])
    X = grid(BOX2, 40)
    P = m.predict(X)
    assert P.shape == (len(X), 2) and m.coef_.shape == (4, 2, 120)
    assert rel(P[:, 0], U[0](X)) < 1e-7 and rel(P[:, 1], U[1](X)) < 1e-7  # measured 3.6e-9, 2.1e-9
    np.testing.assert_array_equal(m.predict(X, component=1), P[:, 1])


def test_stokes_velocity_pressure():
    """-lap u + grad p = f, div u = 0; the pressure fixed at one point."""
    us = lambda X: PI * s(PI * X[:, 0]) * c(PI * X[:, 1])  # noqa: E731
    vs = lambda X: -PI * c(PI * X[:, 0]) * s(PI * X[:, 1])  # noqa: E731
    ps = lambda X: c(PI * X[:, 0]) * c(PI * X[:, 1])  # noqa: E731
    g1 = lambda X: 2 * PI ** 2 * us(X) - PI * s(PI * X[:, 0]) * c(PI * X[:, 1])  # noqa: E731
    g2 = lambda X: 2 * PI ** 2 * vs(X) - PI * c(PI * X[:, 0]) * s(PI * X[:, 1])  # noqa: E731
    S = sides(60)
    B = np.concatenate(list(S.values()))
    Xi = grid(BOX2, 56, True)
    m = RFM(BOX2, 2, 150, scale=0.5, components=3, random_state=0).fit_linear([
        (Xi, {(0, (2, 0)): -1.0, (0, (0, 2)): -1.0, (2, (1, 0)): 1.0}, g1),
        (Xi, {(1, (2, 0)): -1.0, (1, (0, 2)): -1.0, (2, (0, 1)): 1.0}, g2),
        (Xi, {(0, (1, 0)): 1.0, (1, (0, 1)): 1.0}, 0.0),
        (B, {(0, (0, 0)): 1.0}, us), (B, {(1, (0, 0)): 1.0}, vs),
        (np.array([[0.3, 0.6]]), {(2, (0, 0)): 1.0}, ps)])
    X = grid(BOX2, 40)
    P = m.predict(X)
    assert rel(P[:, 0], us(X)) < 1e-8 and rel(P[:, 1], vs(X)) < 1e-8  # measured 1.5e-11, 1.9e-11
    assert rel(P[:, 2], ps(X)) < 1e-7  # measured 5.5e-9
    div = m.predict(X, (1, 0), component=0) + m.predict(X, (0, 1), component=1)
    assert np.abs(div).max() < 1e-6  # measured 3.0e-8


def test_pure_neumann_fixed_by_the_mean():
    """-u'' = f with u' given at both ends: u is fixed by its mean."""
    u = lambda X: c(2 * PI * X[:, 0]) + X[:, 0] ** 2  # noqa: E731
    x = np.linspace(0, 1, 200)[:, None]
    ends = np.array([[0.0], [1.0]])
    m = RFM([(0.0, 1.0)], 3, 60, random_state=0).fit_linear(
        [(x, {(2,): -1.0}, lambda X: 4 * PI ** 2 * c(2 * PI * X[:, 0]) - 2),
         (ends, {(1,): 1.0}, [0.0, 2.0])], mean={0: 1.0 / 3.0})
    assert np.abs(m.predict(x) - u(x)).max() < 1e-8  # measured 2.9e-13
    with pytest.raises(ValueError, match=r"mean\[1\].*component 1 is out of range"):
        m.fit_linear([(x, {(2,): -1.0}, 0.0)], mean={1: 0.0})


# ----------------------------------------------------------- space-time ---

def _space_time_blocks(box, n, interior_terms, rhs, u, initial):
    """Interior rows, u = u_exact at x = lo, hi for all t, and initial blocks."""
    (x0, x1), (t0, t1) = box
    Xi = grid(box, n, True)
    t = np.linspace(t0, t1, n)
    sidesx = np.concatenate([np.stack([np.full(n, x0), t], 1),
                             np.stack([np.full(n, x1), t], 1)])
    ic = np.stack([np.linspace(x0, x1, n), np.full(n, t0)], 1)
    return ([(Xi, interior_terms, rhs), (sidesx, {(0, 0): 1.0}, u)]
            + [(ic, terms, g) for terms, g in initial])


def test_heat_equation_whole_box_and_time_slabs():
    nu, box = 0.1, [(0.0, 1.0), (0.0, 2.0)]
    u = lambda X: np.exp(-nu * PI ** 2 * X[:, 1]) * s(PI * X[:, 0]) + X[:, 0]  # noqa: E731
    eqs = _space_time_blocks(box, 60, {(0, 1): 1.0, (2, 0): -nu}, 0.0, u,
                             [({(0, 0): 1.0}, u)])
    X = grid(box, 41)
    whole = RFM(box, 2, 200, scale=0.5, random_state=0).fit_linear(eqs)
    assert rel(whole.predict(X), u(X)) < 1e-7  # measured 1.6e-13
    slab = RFM(box, (2, 1), 150, scale=0.5, random_state=0).fit_time_slabs(eqs, 2)
    assert len(slab.slab_models_) == 2 and slab.n_unknowns_ == 600
    np.testing.assert_allclose(slab.slab_edges_, [0.0, 1.0, 2.0])
    assert rel(slab.predict(X), u(X)) < 1e-7  # measured 4.7e-12
    # the second slab starts from the first one's final state
    Y = np.stack([np.linspace(0, 1, 9), np.ones(9)], 1)
    a, b = slab.slab_models_
    assert np.abs(a.predict(Y) - b.predict(Y)).max() < 1e-8
    F = slab.feature_matrix(X)
    np.testing.assert_allclose(F @ slab.coef_.ravel(), slab.predict(X), atol=1e-10)
    ut = slab.predict(X, derivative=(0, 1))
    assert np.abs(ut + nu * PI ** 2 * np.exp(-nu * PI ** 2 * X[:, 1]) * s(PI * X[:, 0])).max() < 1e-5


def test_psi_a_continuity_rows_follow_the_equation_order():
    """Heat with pou='a': C0 and C1 rows across x-faces, C0 only across t-faces."""
    nu, box = 0.1, [(0.0, 1.0), (0.0, 2.0)]
    u = lambda X: np.exp(-nu * PI ** 2 * X[:, 1]) * s(PI * X[:, 0]) + X[:, 0]  # noqa: E731
    eqs = _space_time_blocks(box, 60, {(0, 1): 1.0, (2, 0): -nu}, 0.0, u,
                             [({(0, 0): 1.0}, u)])
    m = RFM(box, 2, 200, pou="a", scale=0.5, random_state=0).fit_linear(eqs)
    # 60^2 interior + 2 x 60 sides + 60 initial rows; 20 face points per cell
    # and face: 2 x 40 rows on the x-face, 40 on the t-face
    assert m.n_equations_ == 60 ** 2 + 120 + 60 + 80 + 40
    assert rel(m.predict(grid(box, 41)), u(grid(box, 41))) < 1e-7  # measured 7.4e-13


def test_advection_space_time():
    box = [(0.0, 1.0), (0.0, 1.0)]
    u = lambda X: s(2 * PI * (X[:, 0] - 0.5 * X[:, 1])) + 0.5  # noqa: E731
    Xi = grid(box, 50, True)
    t = np.linspace(0, 1, 50)
    inflow = np.stack([np.zeros(50), t], 1)
    ic = np.stack([t, np.zeros(50)], 1)
    m = RFM(box, 2, 150, scale=0.5, random_state=0).fit_linear([
        (Xi, {(0, 1): 1.0, (1, 0): 0.5}, 0.0), (inflow, {(0, 0): 1.0}, u),
        (ic, {(0, 0): 1.0}, u)])
    X = grid(box, 41)
    assert rel(m.predict(X), u(X)) < 1e-7  # measured 4.8e-11


def test_time_slabs_with_too_few_time_levels_warn():
    """4 time levels per cell (40 over 5 slabs of 2 cells): max error 3e3, now a warning."""
    from rankcore.rfm import IllConditionedWarning
    nu, box = 0.1, [(0.0, 1.0), (0.0, 2.0)]
    u = lambda X: np.exp(-nu * PI ** 2 * X[:, 1]) * s(PI * X[:, 0]) + X[:, 0]  # noqa: E731
    heat = {(0, 1): 1.0, (2, 0): -nu}
    eqs = _space_time_blocks(box, 40, heat, 0.0, u, [({(0, 0): 1.0}, u)])
    with pytest.warns(IllConditionedWarning, match=r"time slab 0 .*4 distinct times"):
        RFM(box, 2, 60, random_state=0).fit_time_slabs(eqs, 5)
    eqs = _space_time_blocks(box, 100, heat, 0.0, u, [({(0, 0): 1.0}, u)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedWarning)
        m = RFM(box, 2, 60, random_state=0).fit_time_slabs(eqs, 5)
    X = grid(box, 41)
    assert np.abs(m.predict(X) - u(X)).max() < 1e-4  # measured 3.3e-6


def test_wave_equation_whole_box_and_slabs():
    """u_tt = 4 u_xx with u and u_t given at t = 0; the slabs carry both."""
    box = [(0.0, 1.0), (0.0, 1.0)]
    u = lambda X: s(PI * X[:, 0]) * (c(2 * PI * X[:, 1]) + 0.5 * s(2 * PI * X[:, 1]))  # noqa: E731
    eqs = _space_time_blocks(box, 60, {(0, 2): 1.0, (2, 0): -4.0}, 0.0, u,
                             [({(0, 0): 1.0}, u),
                              ({(0, 1): 1.0}, lambda X: PI * s(PI * X[:, 0]))])
    X = grid(box, 41)
    whole = RFM(box, 2, 200, scale=0.5, random_state=0).fit_linear(eqs)
    assert rel(whole.predict(X), u(X)) < 1e-7  # measured 3.9e-11
    slab = RFM(box, (2, 1), 200, scale=0.5, random_state=0).fit_time_slabs(eqs, 2)
    assert rel(slab.predict(X), u(X)) < 1e-7  # measured 3.5e-11


# ------------------------------------------------------------ nonlinear ---

def _nonlinear_poisson_blocks(n=40):
    """-lap u + u^3 = f on the unit square, u = g on the boundary."""
    u = lambda X: s(PI * X[:, 0]) * s(PI * X[:, 1]) + 0.5 * X[:, 0]  # noqa: E731
    f = lambda X: 2 * PI ** 2 * s(PI * X[:, 0]) * s(PI * X[:, 1]) + u(X) ** 3  # noqa: E731
    Xi = grid(BOX2, n, True)
    B = np.concatenate(list(sides(n).values()))
    res = lambda X, D: -D[(2, 0)] - D[(0, 2)] + D[(0, 0)] ** 3 - f(X)  # noqa: E731
    return u, [(Xi, res, [(0, 0), (2, 0), (0, 2)]), (B, {(0, 0): 1.0}, u)]


@pytest.mark.parametrize("jacobian", ["auto", "complex", "fd"])
def test_nonlinear_poisson_gauss_newton(jacobian):
    u, eqs = _nonlinear_poisson_blocks()
    m = RFM(BOX2, 2, 150, scale=0.5, random_state=0)
    m.fit_nonlinear(eqs, jacobian=jacobian)
    X = grid(BOX2, 41)
    assert rel(m.predict(X), u(X)) < 1e-8  # measured 3.3e-11
    assert 2 <= m.n_iter_ <= 10
    h = m.residual_history_
    assert len(h) == m.n_iter_ + 1 and h[-1] < 1e-6 * h[0]
    assert m.jacobian_ == ("fd" if jacobian == "fd" else "complex")


@pytest.mark.parametrize("lam,iters", [(1.0, 8), (3.5, 12)])
def test_bratu_1d_matches_the_exact_solution(lam, iters):
    """-u'' = lam exp(u), u(0) = u(1) = 0 (lower branch; the fold is at lam = 3.51)."""
    theta = 1.0
    for _ in range(2000):  # theta = sqrt(2 lam) cosh(theta / 4)
        theta = math.sqrt(2 * lam) * math.cosh(theta / 4)
    u = lambda X: -2 * np.log(np.cosh((X[:, 0] - 0.5) * theta / 2) / math.cosh(theta / 4))  # noqa: E731
    x = np.linspace(0, 1, 200)[:, None]
    # tol far below float64 resolution: the iteration ends once it stalls
    m = RFM([(0.0, 1.0)], 2, 80, random_state=0).fit_nonlinear(
        [(x, lambda X, D: -D[(2,)] - lam * np.exp(D[(0,)]), [(0,), (2,)]),
         (np.array([[0.0], [1.0]]), {(0,): 1.0}, 0.0)], tol=1e-15)
    assert np.abs(m.predict(x) - u(x)).max() < 1e-9  # measured 4e-14, 1.6e-12
    assert m.n_iter_ <= iters  # measured 4, 8


def test_non_complex_safe_residual_falls_back_to_differences():
    """abs() is not complex-safe: 'auto' notices and uses central differences."""
    u = lambda X: 1.0 + 0.5 * s(PI * X[:, 0])  # noqa: E731 (positive)
    f = lambda X: 0.5 * PI ** 2 * s(PI * X[:, 0]) + u(X) ** 2  # noqa: E731
    x = np.linspace(0, 1, 150)[:, None]
    eqs = [(x, lambda X, D: -D[(2,)] + np.abs(D[(0,)]) * D[(0,)] - f(X), [(0,), (2,)]),
           (np.array([[0.0], [1.0]]), {(0,): 1.0}, 1.0)]
    m = RFM([(0.0, 1.0)], 2, 60, random_state=0).fit_nonlinear(eqs)
    assert m.jacobian_ == "fd"
    assert np.abs(m.predict(x) - u(x)).max() < 1e-8  # measured 6.7e-11


def test_nonconvergence_warns_and_leaves_the_model_unchanged():
    u, eqs = _nonlinear_poisson_blocks(20)
    m = RFM(BOX2, 2, 60, scale=0.5, random_state=0).fit_function(lambda X: X[:, 0])
    coef, w = m.coef_.copy(), m.weights_.copy()
    m.random_state = 5
    with pytest.warns(ConvergenceWarning, match=r"did not converge in 1 iterations.*left as it was"):
        out = m.fit_nonlinear(eqs, max_iter=1)
    assert out is m
    np.testing.assert_array_equal(m.coef_, coef)
    np.testing.assert_array_equal(m.weights_, w)
    assert not hasattr(m, "n_iter_")


def test_linear_problem_through_fit_nonlinear_is_one_step():
    u = lambda X: s(PI * X[:, 0])  # noqa: E731
    x = np.linspace(0, 1, 100)[:, None]
    lin = RFM([(0.0, 1.0)], 2, 40, random_state=0).fit_linear(
        [(x, {(2,): -1.0}, lambda X: PI ** 2 * u(X)), (np.array([[0.0], [1.0]]), {(0,): 1.0}, 0.0)])
    nl = RFM([(0.0, 1.0)], 2, 40, random_state=0).fit_nonlinear(
        [(x, lambda X, D: -D[(2,)] - PI ** 2 * u(X), [(2,)]),
         (np.array([[0.0], [1.0]]), {(0,): 1.0}, 0.0)])
    assert nl.n_iter_ <= 2
    np.testing.assert_allclose(nl.predict(x), lin.predict(x), atol=1e-10)


# ------------------------------------------------------------ bad input ---

_X = grid(BOX2, 5)
_B = np.array([[0.0, 0.5], [1.0, 0.5]])


@pytest.mark.parametrize("equations,components,exc,match", [
    ([(_X, {(2,): 1.0}, 0.0)], 1, ValueError, r"equations\[0\] term \(2,\).*needs 2 entries"),
    ([(_X, {(2, 1): 1.0}, 0.0)], 1, ValueError, r"equations\[0\] term \(2, 1\).*order must be <= 2.*order 3"),
    ([(_X, {(0, -1): 1.0}, 0.0)], 1, ValueError, r"orders must be >= 0"),
    ([(_X, {(0, (0, 0)): 1.0}, 0.0), (_X, {(2, (0, 0)): 1.0}, 0.0)], 2, ValueError,
     r"equations\[1\] term \(2, \(0, 0\)\): component 2 is out of range"),
    ([(_X, {(0, 0): 1.0}, 0.0)], 2, ValueError, r"equations\[0\] term \(0, 0\).*\(component, alpha\)"),
    ([(_X, {(0, 0): np.ones(3)}, 0.0)], 1, ValueError,
     r"equations\[0\] term \(0, 0\) coefficient must have one value per point \(25,\).*\(3,\)"),
    ([(_X, {(0, 0): lambda X: np.where(X[:, 0] > 0.5, np.inf, 1.0)}, 0.0)], 1, ValueError,
     r"equations\[0\] term \(0, 0\) coefficient returned a non-finite value"),
    ([(_X, {(0, 0): 1.0}, lambda X: np.full(len(X), np.nan))], 1, ValueError,
     r"equations\[0\] rhs returned a non-finite value nan at point 0"),
    ([(_X, {(0, 0): 1.0}, 0.0), (_B + 0.5, {(0, 0): 1.0}, 0.0)], 1, ValueError,
     r"equations\[1\] points X has 1 points outside the box.*point 1: \[1.5, 1.0\]"),
    ([(_X, {(0, 0): 1.0}, 0.0, -1.0)], 1, ValueError, r"equations\[0\] weight must be a finite number > 0"),
    ([(_X, {}, 0.0)], 1, ValueError, r"equations\[0\]: terms is empty"),
    ([(_X, {(0, 0): "a"}, 0.0)], 1, TypeError, r"equations\[0\] term \(0, 0\) coefficient must be"),
    ([(_X, {(0, 0): 1.0})], 1, TypeError, r"equations\[0\] must be a tuple \(X, terms, rhs"),
    ([(_X, lambda X, D: D[(0, 0)], [(0, 0)])], 1, TypeError, r"equations\[0\] is a nonlinear block.*fit_nonlinear"),
    ((_X, {(0, 0): 1.0}, 0.0), 1, TypeError, r"list of blocks.*wrap a single block"),
    ([], 1, TypeError, r"non-empty list of blocks"),
    ([(_X, 3.0, 0.0)], 1, TypeError, r"equations\[0\]: the second entry must be a dict"),
])
def test_fit_linear_bad_blocks(equations, components, exc, match):
    m = RFM(BOX2, 2, 10, components=components, random_state=0)
    with pytest.raises(exc, match=match):
        m.fit_linear(equations)
    assert not hasattr(m, "coef_")


def test_fit_nonlinear_bad_residuals_and_arguments():
    m = RFM(BOX2, 2, 10, random_state=0).fit_function(lambda X: X[:, 0])
    coef = m.coef_.copy()
    lin = (_B, {(0, 0): 1.0}, 0.0)
    with pytest.raises(ValueError, match=r"equations\[0\] residual must return an array of shape \(25,\).*\(3,\)"):
        m.fit_nonlinear([(_X, lambda X, D: np.ones(3), [(0, 0)]), lin])
    with pytest.raises(ValueError, match=r"equations\[0\] residual returned a non-finite value"):
        m.fit_nonlinear([(_X, lambda X, D: D[(0, 0)] + np.nan, [(0, 0)]), lin])
    with pytest.raises(ValueError, match=r"equations\[0\] key \(3, 0\).*order must be <= 2"):
        m.fit_nonlinear([(_X, lambda X, D: D[(3, 0)], [(3, 0)]), lin])
    with pytest.raises(TypeError, match=r"equations\[0\]: keys must be a non-empty list"):
        m.fit_nonlinear([(_X, lambda X, D: D[(0, 0)], (0, 0)), lin])
    with pytest.raises(ValueError, match="jacobian must be"):
        m.fit_nonlinear([lin], jacobian="exact")
    with pytest.raises(ValueError, match="tol must be"):
        m.fit_nonlinear([lin], tol=-1.0)
    with pytest.raises(TypeError, match=r"not complex-safe"):
        m.fit_nonlinear([(_X, lambda X, D: np.abs(D[(0, 0)]).astype(float) - 1, [(0, 0)]), lin],
                        jacobian="complex")
    np.testing.assert_array_equal(m.coef_, coef)


def test_predict_and_slab_errors():
    m = RFM(BOX2, 2, 10, components=2, random_state=0)
    m.fit_linear([(_X, {(0, (0, 0)): 1.0}, 1.0), (_X, {(1, (0, 0)): 1.0}, 2.0)])
    assert m.predict(_X).shape == (25, 2)
    with pytest.raises(ValueError, match=r"order must be <= 2"):
        m.predict(_X, derivative=(3, 0))
    with pytest.raises(ValueError, match=r"needs 2 entries"):
        m.predict(_X, derivative=(1,))
    with pytest.raises(ValueError, match=r"component 2 is out of range"):
        m.predict(_X, component=2)
    s1 = RFM(BOX2, 2, 10, random_state=0)
    with pytest.raises(ValueError, match=r"initial conditions.*t = 0.0"):
        s1.fit_time_slabs([(_X, {(0, 0): 1.0}, 0.0)], 2)
    with pytest.raises(ValueError, match=r"slabs must be an integer >= 1"):
        s1.fit_time_slabs([(_X, {(0, 0): 1.0}, 0.0)], 0)
    assert not hasattr(s1, "coef_")


# ------------------------------------------------------------------ 3-D ---

def test_poisson_3d_default_scale_reaches_1e_6():
    """Smooth 3-D Poisson with 1000 unknowns at the default scale (R = 0.3 in 3-D)."""
    u = lambda X: s(PI * X[:, 0]) * s(PI * X[:, 1]) * s(PI * X[:, 2])  # noqa: E731
    box = [(0.0, 1.0)] * 3
    from rankcore.rfm import IllConditionedWarning
    with warnings.catch_warnings():
        # rounding floor 1.9e-8: below the warning threshold (it warned at 1e-8)
        warnings.simplefilter("error", IllConditionedWarning)
        m = RFM(box, 1, 1000, random_state=0).fit_poisson(lambda X: 3 * PI ** 2 * u(X), u,
                                                           points=13)
    assert m.scale_ == 0.3 and m.n_unknowns_ == 1000
    X = grid(box, 21)
    assert rel(m.predict(X), u(X)) < 1e-6  # measured 1.3e-8 (5.2e-8 at R = 0.5)


def test_fit_nonlinear_init_callable_or_model():
    """u^2 = 1: the Jacobian 2u is singular at the zero start, so only init converges."""
    x = np.linspace(0, 1, 50)[:, None]
    eq = [(x, lambda X, D: D[(0,)] ** 2 - 1.0, [(0,)])]
    zero = RFM([(0.0, 1.0)], 2, 20, random_state=0)
    with pytest.warns(ConvergenceWarning):
        zero.fit_nonlinear(eq)
    assert not hasattr(zero, "coef_")
    up = RFM([(0.0, 1.0)], 2, 20, random_state=0).fit_nonlinear(eq, init=lambda X: 0.5 + 0 * X[:, 0])
    assert np.abs(up.predict(x) - 1).max() < 1e-10 and up.n_iter_ <= 10  # measured 5e-13, 6
    down = RFM([(0.0, 1.0)], 2, 20, random_state=0).fit_nonlinear(
        eq, init=lambda X: (-2 + 0.1 * X[:, 0])[:, None])
    assert np.abs(down.predict(x) + 1).max() < 1e-10
    # a fitted model of the same basis starts where it ended: one step
    again = RFM([(0.0, 1.0)], 2, 20, random_state=0).fit_nonlinear(eq, init=up)
    assert again.n_iter_ == 1 and np.abs(again.predict(x) - 1).max() < 1e-10
    assert up.fit_nonlinear(eq, init=up).n_iter_ == 1
    other = RFM([(0.0, 1.0)], 2, 20, random_state=1).fit(x, x[:, 0])
    for bad, exc, match in [(other, ValueError, "same basis"),
                            (RFM([(0.0, 1.0)], 2, 20), ValueError, "fitted RFM"),
                            (3.0, TypeError, "init must be None"),
                            (lambda X: np.ones(3), ValueError, r"init\(X\) must return shape \(50,\)")]:
        m = RFM([(0.0, 1.0)], 2, 20, random_state=0)
        with pytest.raises(exc, match=match):
            m.fit_nonlinear(eq, init=bad)
        assert not hasattr(m, "coef_")


def test_fit_nonlinear_takes_mean_conditions():
    """A pure Neumann problem through fit_nonlinear: the mean fixes the constant."""
    u = lambda X: c(2 * PI * X[:, 0]) + X[:, 0] ** 2  # noqa: E731 (mean 1/3)
    f = lambda X: 4 * PI ** 2 * c(2 * PI * X[:, 0]) - 2  # noqa: E731
    x = np.linspace(0, 1, 200)[:, None]
    ends = (np.array([[0.0], [1.0]]), {(1,): 1.0}, [0.0, 2.0])
    m = RFM([(0.0, 1.0)], 3, 60, random_state=0).fit_nonlinear(
        [(x, lambda X, D: -D[(2,)] - f(X), [(2,)]), ends], mean={0: 1.0 / 3.0})
    assert m.n_iter_ <= 2
    assert np.abs(m.predict(x) - u(x)).max() < 1e-8
