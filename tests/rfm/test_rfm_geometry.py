"""RFM on a geometry (rankcore.rfm.domain) and the multifrontal solver.

Error thresholds are about 100x above what the configurations reach on this
machine (measured values in comments).
"""

import math

import numpy as np
import pytest

from rankcore import RFM
from rankcore.geometry import Box, Disk, HalfSpace, Polygon
from rankcore.rfm import lstsq as ls
from rankcore.rfm.multifrontal import dissection_tree, solve_multifrontal

PI = math.pi
HOLE_C, HOLE_R = np.array([0.5, 0.5]), 0.2


def u(X):
    return np.sin(PI * X[:, 0]) * np.cos(PI * X[:, 1])


def f(X):  # -Laplace u
    return 2 * PI ** 2 * u(X)


def grad_u(X):
    return np.stack([PI * np.cos(PI * X[:, 0]) * np.cos(PI * X[:, 1]),
                     -PI * np.sin(PI * X[:, 0]) * np.sin(PI * X[:, 1])], axis=1)


def rel(m, g, n=4000):
    X = g.sample_interior(n, seed=7)
    return np.linalg.norm(m.predict(X) - u(X)) / np.linalg.norm(u(X))


def square_minus_disk():
    return Box([(0, 1), (0, 1)]) - Disk(HOLE_C, HOLE_R)


@pytest.mark.parametrize("solver", ["banded", "multifrontal"])
def test_poisson_square_minus_disk_dirichlet_outside_neumann_on_hole(solver):
    g = square_minus_disk()
    m = RFM(g, subdomains=4, features=120, random_state=0, solver=solver)
    Xi, Xb = m.collocation_points()
    assert np.all(g.contains(Xi)) and np.all(np.abs(g.sdf(Xb)) < 1e-12)
    hole = np.abs(np.linalg.norm(Xb - HOLE_C, axis=1) - HOLE_R) < 1e-9
    Xo, Xh = Xb[~hole], Xb[hole]
    n = -(Xh - HOLE_C) / HOLE_R  # outward normal of the domain on the hole
    m.fit_linear([
        (Xi, {(2, 0): -1.0, (0, 2): -1.0}, f),
        (Xo, {(0, 0): 1.0}, u),
        (Xh, {(1, 0): n[:, 0], (0, 1): n[:, 1]}, np.sum(grad_u(Xh) * n, axis=1)),
    ])
    assert m.n_subdomains_ == 16 and m.solver_ == solver
    assert rel(m, g) < 1e-7  # measured 1.0e-9
    # the Neumann data is met on the hole
    Y, N = Disk(HOLE_C, HOLE_R).sample_boundary(200, seed=2)
    dn = -(m.predict(Y, derivative=(1, 0)) * N[:, 0] + m.predict(Y, derivative=(0, 1)) * N[:, 1])
    want = -np.sum(grad_u(Y) * N, axis=1)
    assert np.max(np.abs(dn - want)) < 1e-4


def test_poisson_on_l_shape_drops_the_missing_cells():
    L = Polygon([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])
    m = RFM(L, subdomains=4, features=100, random_state=0).fit_poisson(f, u)
    assert m.n_subdomains_ == 12 and m.n_unknowns_ == 1200
    np.testing.assert_array_equal(
        np.sort(m.basis_.full_index), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13])
    assert rel(m, L) < 3e-6  # measured 3.6e-8 (a box [0, 2]^2: 2.6e-8)
    # the same domain as a boolean difference gives the same cells
    L2 = Box([(0, 2), (0, 2)]) - Box([(1, 2), (1, 2)])
    m2 = RFM(L2, subdomains=4, features=100, random_state=0).fit_poisson(f, u)
    assert m2.n_subdomains_ == 12 and rel(m2, L2) < 3e-6


def test_normalised_partition_sums_to_one_and_derivatives_match_differences():
    L = Polygon([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])
    m = RFM(L, subdomains=4, features=5, random_state=1)
    m._setup()
    b = m.basis_
    # sum over cells of the normalised partition is 1 at every point
    X = L.sample_interior(500, seed=0)
    X = np.concatenate([X, np.array([[0.97, 0.97], [0.99, 1.3], [1.3, 0.99]])])
    sub, _ = b.touching(X)
    W1 = np.zeros((b.n_cells, 1, 2))
    B1 = np.full((b.n_cells, 1), PI / 2)
    saved = b.weights, b.biases, b.act_code
    b.weights, b.biases, b.act_code = W1, B1, 1  # features sin(pi/2) = 1
    one = b.evaluate(X, sub, [((0, 0), np.ones(len(X)))])[:, :, 0].sum(axis=1)
    lap = b.evaluate(X, sub, [((2, 0), np.ones(len(X))), ((0, 2), np.ones(len(X)))])
    b.weights, b.biases, b.act_code = saved
    np.testing.assert_allclose(one, 1.0, atol=1e-13)
    np.testing.assert_allclose(lap.sum(axis=(1, 2)), 0.0, atol=1e-8)
    # derivatives of the features against central differences near the corner
    Y = np.array([[0.96, 0.9], [0.9, 0.96], [0.97, 0.97], [0.7, 0.95]])
    sub, _ = b.touching(Y)
    h = 1e-5
    for alpha, fd in [((1, 0), lambda v, e: (v(Y + e[0]) - v(Y - e[0])) / (2 * h)),
                      ((0, 2), lambda v, e: (v(Y + e[1]) - 2 * v(Y) + v(Y - e[1])) / h ** 2),
                      ((1, 1), lambda v, e: (v(Y + e[0] + e[1]) - v(Y + e[0] - e[1])
                                             - v(Y - e[0] + e[1]) + v(Y - e[0] - e[1])) / (4 * h * h))]:
        def value(Z):
            return b.evaluate(Z, sub, [((0, 0), np.ones(len(Z)))])
        got = b.evaluate(Y, sub, [(alpha, np.ones(len(Y)))])
        e = np.eye(2) * h
        np.testing.assert_allclose(got, fd(value, e), atol=2e-4 * max(1, np.abs(got).max()))


def test_points_outside_the_domain_are_refused():
    g = square_minus_disk()
    m = RFM(g, subdomains=2, features=40, random_state=0)
    with pytest.raises(ValueError, match="outside the domain"):
        m.fit_linear([(np.array([[0.5, 0.5], [0.1, 0.1]]), {(0, 0): 1.0}, [0.0, 0.0])])
    assert not hasattr(m, "coef_")
    Xi, Xb = m.collocation_points()
    m.fit_poisson(f, u)
    with pytest.raises(ValueError, match=r"outside the domain .* point 1"):
        m.predict(np.array([[0.05, 0.05], [0.5, 0.55]]))
    with pytest.raises(ValueError, match="outside the box"):
        m.predict(np.array([[1.5, 0.5]]))


def test_bad_domains_are_refused():
    with pytest.raises(ValueError, match="bounded geometry"):
        RFM(HalfSpace((1.0, 0.0), 0.5), subdomains=2).fit_poisson(f, u)
    with pytest.raises(ValueError, match="pou='a'"):
        RFM(square_minus_disk(), subdomains=2, pou="a").fit_poisson(f, u)
    tri = Box([(0, 1), (0, 1)]) & HalfSpace((1.0, 1.0), 1.0)  # x + y <= 1
    m = RFM(tri, subdomains=4, features=10, random_state=0)
    m._setup()
    i, j = m.basis_.cell_index.T
    assert m.n_subdomains_ == 10 and np.all(i + j <= 3)
    # a domain with no cell left: two tiny squares near the corners of the
    # bounding box, between the probe points of the 2 x 2 grid
    corners = Box([(0.01, 0.011), (0.01, 0.011)]) | Box([(0.98, 0.981), (0.98, 0.981)])
    with pytest.raises(ValueError, match="no cell"):
        RFM(corners, subdomains=2, features=5).fit_linear(
            [(np.array([[0.0105, 0.0105]]), {(0, 0): 1.0}, [0.0])])


@pytest.mark.parametrize("n", [4, 8, 9])
def test_kept_cells_of_a_disk(n):
    disk = Disk((0.0, 0.0), 1.0)
    m = RFM(disk, subdomains=n, features=3, random_state=0)
    m._setup()
    # oracle: a cell meets the open unit disk when its point nearest to the
    # origin is inside
    e = np.linspace(-1, 1, n + 1)
    lo = np.stack(np.meshgrid(e[:-1], e[:-1], indexing="ij"), -1).reshape(-1, 2)
    hi = lo + 2.0 / n
    near = np.clip(0.0, lo, hi)
    want = np.linalg.norm(near, axis=1) < 1 - 1e-12
    np.testing.assert_array_equal(np.isin(np.arange(n * n), m.basis_.full_index), want)
    assert m.n_unknowns_ == 3 * int(want.sum())


# ------------------------------------------------------- multifrontal ---

def test_dissection_tree_eliminates_every_block_once():
    c = np.array([(i, j) for i in range(7) for j in range(5)])
    piv, parent = dissection_tree(c, 4)
    allp = np.sort(np.concatenate(piv))
    np.testing.assert_array_equal(allp, np.arange(35))
    assert parent[-1] == -1 and np.all(parent[:-1] > np.arange(len(piv) - 1))


@pytest.mark.parametrize("box,sub,J", [([(0, 1), (0, 1)], (5, 3), 30),
                                       ([(0, 1), (0, 1), (0, 1)], 3, 20),
                                       ([(0, 2)], 6, 15)])
def test_multifrontal_matches_banded_qr(box, sub, J):
    d = len(box)
    uu = lambda X: np.prod(np.sin(X), axis=1)  # noqa: E731
    ff = lambda X: d * uu(X)  # noqa: E731
    mb = RFM(box, subdomains=sub, features=J, random_state=3, solver="banded").fit_poisson(ff, uu)
    mm = RFM(box, subdomains=sub, features=J, random_state=3,
             solver="multifrontal").fit_poisson(ff, uu)
    X = np.random.default_rng(0).uniform(0, 1, (500, d))
    np.testing.assert_allclose(mm.predict(X), mb.predict(X), atol=1e-7)
    assert abs(mm.residual_ - mb.residual_) <= 1e-3 * mb.residual_ + 1e-13
    assert mm.solver_ == "multifrontal"


def test_multifrontal_refuses_far_couplings_and_needs_coords():
    rows = np.array([0, 0, 1, 2, 3])
    blocks = np.array([0, 4, 1, 2, 3])
    vals = np.ones((5, 1))
    with pytest.raises(ValueError, match="neighbouring"):
        solve_multifrontal(rows, blocks, vals, np.ones(4), 4, 5, np.arange(5)[:, None],
                           leaf_size=1)
    with pytest.raises(ValueError, match="coords"):
        ls.solve_system(rows, blocks, vals, np.ones(4), 4, 5, "multifrontal")


def test_time_slabs_refuse_a_geometry():
    g = square_minus_disk()
    m = RFM(g, subdomains=2, features=10, random_state=0)
    X = g.sample_interior(50, seed=0)
    with pytest.raises(ValueError, match="space-time box"):
        m.fit_time_slabs([(X, {(0, 0): 1.0}, np.zeros(50))], 2)
    assert not hasattr(m, "coef_")
