"""Tests of rankcore.geometry: primitives, boolean combinations, samplers, quadrature.

Membership is checked against independent oracles (plain formulas, and
matplotlib's point-in-polygon test), distances against dense boundary
samples, sampling proportions against binomial tolerances of 5 standard
deviations.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from matplotlib.path import Path

import rankcore
from rankcore.geometry import MAX_SAMPLES, Ball, Box, Disk, HalfSpace, Polygon

SQ = [(0.0, 1.0), (0.0, 1.0)]


def square_minus_disk():
    return Box(SQ) - Disk((0.5, 0.5), 0.25)


def l_shape_union():
    return Box([(0.0, 2.0), (0.0, 1.0)]) | Box([(0.0, 1.0), (0.0, 2.0)])


def star_polygon(seed, k):
    """A random star-shaped simple polygon around the origin."""
    rng = np.random.default_rng(seed)
    # one vertex per angular sector: consecutive angles differ by less than pi
    ang = (np.arange(k) + rng.uniform(0.3, 0.7, k)) * (2 * np.pi / k)
    r = rng.uniform(0.3, 1.0, k)
    return np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)


# ------------------------------------------------------------ membership ---

def oracle(name, X):
    x, y = X[:, 0], X[:, 1]
    in_sq = (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1)
    if name == "square-disk":
        return in_sq & ((x - 0.5) ** 2 + (y - 0.5) ** 2 >= 0.25 ** 2)
    if name == "L":
        return ((x >= 0) & (x <= 2) & (y >= 0) & (y <= 1)) | \
               ((x >= 0) & (x <= 1) & (y >= 0) & (y <= 2))
    if name == "lens":
        return ((x - 0.4) ** 2 + y ** 2 <= 0.36) & ((x + 0.4) ** 2 + y ** 2 <= 0.36)
    if name == "wedge":
        return in_sq & (x + y <= 1.0)
    raise AssertionError(name)


GEOMS = {
    "square-disk": square_minus_disk,
    "L": l_shape_union,
    "lens": lambda: Disk((0.4, 0.0), 0.6) & Disk((-0.4, 0.0), 0.6),
    "wedge": lambda: Box(SQ) & HalfSpace((1.0, 1.0), 1.0),
}


@pytest.mark.parametrize("name", sorted(GEOMS))
def test_contains_matches_oracle_and_sdf_sign(name):
    g = GEOMS[name]()
    X = np.random.default_rng(0).uniform(-1.0, 2.5, (20000, 2))
    want = oracle(name, X)
    # points within 1e-9 of a boundary may go either way
    s = g.sdf(X)
    clear = np.abs(s) > 1e-9
    np.testing.assert_array_equal(g.contains(X)[clear], want[clear])
    np.testing.assert_array_equal((s < 0)[clear], want[clear])


@settings(max_examples=25)
@given(seed=st.integers(0, 10_000), k=st.integers(3, 12))
def test_polygon_contains_and_exact_sdf(seed, k):
    V = star_polygon(seed, k)
    P = Polygon(V)
    X = np.random.default_rng(seed + 1).uniform(-1.2, 1.2, (2000, 2))
    s = P.sdf(X)
    ref = Path(V).contains_points(X)
    clear = np.abs(s) > 1e-9
    np.testing.assert_array_equal((s < 0)[clear], ref[clear])
    # |sdf| is the distance to the boundary: compare with dense boundary samples
    B, _ = P.sample_boundary(10000, seed=seed)
    B = np.concatenate([B, V])
    dmin = np.min(np.linalg.norm(X[:100, None, :] - B[None, :, :], axis=2), axis=1)
    spacing = P.boundary_measure / 10000
    assert np.all(np.abs(s[:100]) <= dmin + 1e-12)
    assert np.all(dmin - np.abs(s[:100]) <= 10 * spacing)
    # area: fan triangulation from the origin (the polygon is star-shaped)
    W = np.roll(V, -1, axis=0)
    fan = 0.5 * np.sum(V[:, 0] * W[:, 1] - V[:, 1] * W[:, 0])
    assert math.isclose(P.measure, abs(fan), rel_tol=1e-12)
    assert math.isclose(P.boundary_measure, np.linalg.norm(W - V, axis=1).sum(), rel_tol=1e-12)


def test_primitive_sdf_exact_values():
    b = Box([(0, 2), (0, 1)])
    np.testing.assert_allclose(
        b.sdf([[1, 0.5], [3, 0.5], [3, 2], [0.2, 0.5], [1, -1]]),
        [-0.5, 1.0, math.sqrt(2), -0.2, 1.0])
    ball = Ball((1, 1, 1), 2.0)
    np.testing.assert_allclose(ball.sdf([[1, 1, 1], [1, 1, 4]]), [-2.0, 1.0])
    h = HalfSpace((0.0, 2.0), 1.0)  # y <= 0.5
    np.testing.assert_allclose(h.sdf([[7.0, 0.0], [-3.0, 1.5]]), [-0.5, 1.0])
    assert Box([(0, 1)]).sdf(np.array([0.5, 2.0])).tolist() == [-0.5, 1.0]


@settings(max_examples=10)
@given(seed=st.integers(0, 10_000))
def test_combination_sdf_is_a_distance_bound(seed):
    g = square_minus_disk()
    X = np.random.default_rng(seed).uniform(-0.5, 1.5, (100, 2))
    B, _ = g.sample_boundary(20000, seed=seed)
    dmin = np.min(np.linalg.norm(X[:, None, :] - B[None, :, :], axis=2), axis=1)
    assert np.all(np.abs(g.sdf(X)) <= dmin + 1e-12)


# -------------------------------------------------------------- measures ---

def test_primitive_measures_exact():
    assert Box([(0, 2), (1, 4), (0, 0.5)]).measure == 3.0
    assert Box([(0, 2), (1, 4), (0, 0.5)]).boundary_measure == 2 * (6 + 1 + 1.5)
    assert math.isclose(Disk((3, 4), 0.5).measure, math.pi / 4)
    assert math.isclose(Disk((3, 4), 0.5).boundary_measure, math.pi)
    assert math.isclose(Ball((0, 0, 0), 2.0).measure, 32 * math.pi / 3)
    assert math.isclose(Ball((0, 0, 0), 2.0).boundary_measure, 16 * math.pi)
    assert math.isclose(Ball((0.0,), 2.0).measure, 4.0)
    for g in (Box(SQ), Disk((0, 0), 1)):
        assert g.measure_error == 0.0


@pytest.mark.parametrize("g,area,perimeter", [
    (square_minus_disk(), 1 - math.pi / 16, 4 + math.pi / 2),
    (l_shape_union(), 3.0, 8.0),
    (Box(SQ) & HalfSpace((1.0, 1.0), 1.0), 0.5, 2 + math.sqrt(2)),
])
def test_combination_measure_estimates(g, area, perimeter):
    assert g.measure_error >= 0  # 0 for the L: Sobol' points are exact on dyadic boxes
    assert abs(g.measure - area) <= 5 * g.measure_error + 1e-4
    assert abs(g.boundary_measure - perimeter) <= 0.02 * perimeter


def test_unbounded_geometry_refuses_measure_and_sampling():
    h = HalfSpace((1.0, 0.0), 0.5)
    assert not h.bounded
    for call in (lambda: h.measure, lambda: h.sample_interior(3),
                 lambda: h.sample_boundary(3), lambda: h.quadrature(3)):
        with pytest.raises(ValueError, match="bounded"):
            call()


# -------------------------------------------------------------- samplers ---

ALL = dict(GEOMS, disk=lambda: Disk((0.2, -0.1), 0.7), ball=lambda: Ball((0, 0, 1), 0.5),
           box3=lambda: Box([(0, 1), (0, 2), (0, 0.5)]),
           shell=lambda: Ball((0, 0, 0), 1.0) - Ball((0.2, 0, 0), 0.4),
           poly=lambda: Polygon(star_polygon(3, 9)))


@pytest.mark.parametrize("name", sorted(ALL))
def test_samplers_inside_on_boundary_unit_outward_normals_deterministic(name):
    g = ALL[name]()
    X = g.sample_interior(3000, seed=4)
    assert X.shape == (3000, g.dim)
    assert np.all(g.contains(X))
    P, N = g.sample_boundary(3000, seed=5)
    assert P.shape == N.shape == (3000, g.dim)
    scale = float(np.linalg.norm(g.bbox[:, 1] - g.bbox[:, 0]))
    assert np.max(np.abs(g.sdf(P))) <= 1e-12 * scale
    np.testing.assert_allclose(np.linalg.norm(N, axis=1), 1.0, atol=1e-12)
    # outward: a small step along n leaves the domain, against n enters it
    # (except within that step of a corner)
    h = 1e-5 * scale
    out = g.sdf(P + h * N) > 0
    inn = g.sdf(P - h * N) < 0
    assert out.mean() > 0.995 and inn.mean() > 0.995
    # deterministic per seed, different across seeds
    np.testing.assert_array_equal(X, g.sample_interior(3000, seed=4))
    P2, N2 = g.sample_boundary(3000, seed=5)
    np.testing.assert_array_equal(P, P2)
    np.testing.assert_array_equal(N, N2)
    assert not np.array_equal(X, g.sample_interior(3000, seed=6))


def test_boundary_points_spread_in_proportion_to_length():
    g = square_minus_disk()
    n = 20000
    P, N = g.sample_boundary(n, seed=0)
    on_hole = np.abs(np.linalg.norm(P - 0.5, axis=1) - 0.25) < 1e-12
    p = (math.pi / 2) / (4 + math.pi / 2)
    assert abs(on_hole.mean() - p) < 5 * math.sqrt(p * (1 - p) / n)
    # the hole's normals point into the hole (out of the domain)
    np.testing.assert_allclose(N[on_hole], -(P[on_hole] - 0.5) / 0.25, atol=1e-12)
    # L-shape: each of its 6 edges gets its share of the length 8
    L = l_shape_union()
    P, N = L.sample_boundary(n, seed=1)
    for axis, value, length in [(1, 0.0, 2.0), (0, 0.0, 2.0), (0, 2.0, 1.0),
                                (1, 2.0, 1.0), (0, 1.0, 1.0), (1, 1.0, 1.0)]:
        frac = np.mean(P[:, axis] == value)
        p = length / 8.0
        assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / n), (axis, value, frac)
    # no point on the internal seams x=1, y<1 and y=1, x<1
    assert not np.any((P[:, 0] == 1.0) & (P[:, 1] < 1.0 - 1e-9))
    assert not np.any((P[:, 1] == 1.0) & (P[:, 0] < 1.0 - 1e-9))


def test_interior_points_uniform():
    g = l_shape_union()
    X = g.sample_interior(30000, seed=2)
    frac = np.mean((X[:, 0] < 1) & (X[:, 1] < 1))
    assert abs(frac - 1 / 3) < 5 * math.sqrt(2 / 9 / 30000)


def test_one_dimensional_boundaries():
    P, N = Box([(0.0, 1.0)]).sample_boundary(2)
    assert P[:, 0].tolist() == [0.0, 1.0] and N[:, 0].tolist() == [-1.0, 1.0]
    g = Box([(0.0, 1.0)]) - Box([(0.4, 0.6)])
    P, N = g.sample_boundary(4)
    assert P[:, 0].tolist() == [0.0, 0.4, 0.6, 1.0]
    assert N[:, 0].tolist() == [-1.0, 1.0, -1.0, 1.0]
    assert g.boundary_measure == 4.0
    with pytest.raises(ValueError, match="only 4 points"):
        g.sample_boundary(5)


# ------------------------------------------------------------ quadrature ---

def test_quadrature_on_geometry_feeds_gram_and_eps_rank():
    disk = Disk((0.0, 0.0), 1.0)
    q = disk.quadrature(1 << 14, seed=0)
    assert isinstance(q, rankcore.Quadrature)
    assert math.isclose(q.weights.sum(), math.pi, rel_tol=1e-12)
    x, y = q.points[:, 0], q.points[:, 1]
    F = np.stack([np.ones_like(x), x, y, x * x], axis=1)
    G = rankcore.gram(F, q.weights)
    exact = np.array([[math.pi, 0, 0, math.pi / 4], [0, math.pi / 4, 0, 0],
                      [0, 0, math.pi / 4, 0], [math.pi / 4, 0, 0, math.pi / 8]])
    np.testing.assert_allclose(G, exact, atol=2e-3)
    # x^2 and 1 - y^2 differ by x^2 + y^2 - 1, which is not zero on the disk
    F2 = np.stack([x * x, 1 - y * y, np.ones_like(x)], axis=1)
    lam = rankcore.spectrum(rankcore.gram(F2, q.weights))
    assert rankcore.eps_rank(lam, 1e-6) == 3
    # on the unit circle itself the same three functions are dependent
    ring = Disk((0, 0), 1.0) - Disk((0, 0), 0.999)
    qr = ring.quadrature(4096, seed=0)
    x, y = qr.points[:, 0], qr.points[:, 1]
    F3 = np.stack([x * x, 1 - y * y, np.ones_like(x)], axis=1)
    lam3 = rankcore.spectrum(rankcore.gram(F3, qr.weights))
    assert rankcore.eps_rank(lam3, 1e-9, relative=True) == 3
    assert rankcore.eps_rank(lam3, 1e-4, relative=True) == 2


def test_quadrature_random_method_and_estimated_weights():
    g = square_minus_disk()
    q = g.quadrature(5000, seed=3, method="random")
    assert np.all(g.contains(q.points))
    assert math.isclose(q.weights.sum(), g.measure, rel_tol=1e-12)
    q2 = g.quadrature(5000, seed=3)  # Sobol: integral of x over the domain
    assert abs(q2.weights @ q2.points[:, 0] - 0.5 * (1 - math.pi / 16)) < 2e-3


# ------------------------------------------------------------- bad input ---

@pytest.mark.parametrize("make,match", [
    (lambda: Disk((0, 0), 0.0), "radius"),
    (lambda: Disk((0, 0), -1.0), "radius"),
    (lambda: Disk((0, 0, 0), 1.0), "2 coordinates"),
    (lambda: Ball((0, np.nan), 1.0), "center must be finite"),
    (lambda: Box([(0, 1), (1, 1)]), "lo < hi"),
    (lambda: Box([(0, np.nan)]), "finite"),
    (lambda: Polygon([(0, 0), (1, 0)]), "at least 3"),
    (lambda: Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), "self-intersecting"),
    (lambda: Polygon([(0, 0), (2, 0), (2, 2), (1, -1), (0, 2)]), "self-intersecting"),
    (lambda: Polygon([(0, 0), (1, 0), (2, 0)]), "self-intersecting|zero area"),
    (lambda: Polygon([(0, 0), (1, 0), (1, 0), (0, 1)]), "zero-length"),
    (lambda: Polygon([(0, 0), (1, np.nan), (0, 1)]), "finite"),
    (lambda: Polygon(np.zeros((3, 3))), r"\(k, 2\)"),
    (lambda: HalfSpace((0, 0), 1.0), "zero vector"),
    (lambda: HalfSpace((1, 0), np.inf), "offset"),
    (lambda: Disk((0, 0), 1) & Disk((3, 0), 1), "empty"),
    (lambda: Disk((0, 0), 1) & Disk((1.9, 1.9), 1), "empty"),
    (lambda: Disk((0, 0), 1) - Box([(-2, 2), (-2, 2)]), "empty"),
    (lambda: Disk((0, 0), 1) | Ball((0, 0, 0), 1), "dimension"),
])
def test_degenerate_geometries_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_arguments_of_methods():
    g = square_minus_disk()
    with pytest.raises(TypeError):
        g | 3
    with pytest.raises(ValueError, match=r"X must have shape \(N, 2\)"):
        g.sdf(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="X must be finite"):
        g.contains([[0.1, np.nan]])
    with pytest.raises(ValueError, match="at most"):
        g.sample_boundary(MAX_SAMPLES + 1)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        g.sample_interior(0)
    with pytest.raises(TypeError, match="n must be an integer"):
        g.sample_interior(2.5)
    with pytest.raises(TypeError, match="seed"):
        g.sample_interior(3, seed="a")
    with pytest.raises(ValueError, match="method"):
        g.quadrature(10, method="gauss")
    # a domain filling 2e-8 of its bounding box
    corners = Box([(0, 1e-4), (0, 1e-4)]) | Box([(1 - 1e-4, 1), (1 - 1e-4, 1)])
    with pytest.raises(ValueError, match="could place only"):
        corners.sample_interior(10)
