import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.polynomial import polynomial as P

import rankcore
from rankcore.quadrature import (Quadrature, composite_gauss_legendre,
                                 gauss_legendre, monte_carlo, sobol, trapezoid)

boxes = st.integers(1, 3).flatmap(lambda d: st.lists(
    st.tuples(st.floats(-5, 5), st.floats(0.1, 4)).map(lambda t: (t[0], t[0] + t[1])),
    min_size=d, max_size=d))


@given(box=boxes, order=st.integers(1, 8), data=st.data())
def test_gauss_legendre_exact_for_polynomials(box, order, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    q = gauss_legendre(box, order)
    # A product of one random polynomial of degree <= 2*order-1 per coordinate.
    exact, values = 1.0, np.ones(q.n_points)
    for i, (lo, hi) in enumerate(box):
        deg = data.draw(st.integers(0, 2 * order - 1))
        c = rng.standard_normal(deg + 1)
        anti = P.polyint(c)
        exact *= P.polyval(hi, anti) - P.polyval(lo, anti)
        values = values * P.polyval(q.points[:, i], c)
    scale = max(1.0, float(np.sum(q.weights * np.abs(values))))
    assert abs(q.weights @ values - exact) <= 1e-11 * scale


def test_gauss_legendre_not_exact_one_degree_higher():
    q = gauss_legendre([(-1, 1)], 3)
    # degree 6 = 2*3: the rule must miss it, which shows the test above has teeth.
    assert abs(q.weights @ q.points[:, 0] ** 6 - 2 / 7) > 1e-3


@given(box=boxes, k=st.integers(1, 5), rule=st.sampled_from(
    ["gl", "cgl", "trap", "mc", "sobol"]))
def test_weights_sum_to_volume(box, k, rule):
    if rule == "gl":
        q = gauss_legendre(box, k)
    elif rule == "cgl":
        q = composite_gauss_legendre(box, k, 2)
    elif rule == "trap":
        q = trapezoid(box, k + 1)
    elif rule == "mc":
        q = monte_carlo(box, 10 * k, seed=k)
    else:
        q = sobol(box, 2 ** (k + 2), seed=k)
    vol = np.prod([hi - lo for lo, hi in box])
    assert q.weights.sum() == pytest.approx(vol, rel=1e-13)
    assert np.all(q.weights > 0)
    b = np.asarray(box)
    assert np.all(q.points >= b[:, 0] - 1e-12) and np.all(q.points <= b[:, 1] + 1e-12)


def test_per_dimension_orders_and_shapes():
    q = gauss_legendre([(0, 1), (0, 1), (-1, 2)], (2, 3, 4))
    assert q.points.shape == (24, 3) and q.dim == 3
    q = composite_gauss_legendre([(0, 1), (0, 2)], (3, 2), (2, 5))
    assert q.n_points == 6 * 10
    q = trapezoid([(0, 1), (0, 2)], (5, 3))
    assert q.n_points == 15


def test_composite_gauss_legendre_piecewise_exactness():
    # exact for a function that is a polynomial of degree <= 2m-1 on each cell
    q = composite_gauss_legendre([(0, 2)], cells=2, order=2)
    f = np.where(q.points[:, 0] < 1, q.points[:, 0] ** 3, 1 - q.points[:, 0])
    assert q.weights @ f == pytest.approx(0.25 - 0.5, abs=1e-14)


def test_trapezoid_second_order():
    errs = []
    for n in (11, 21, 41):
        q = trapezoid([(0, 1)], n)
        errs.append(abs(q.weights @ np.exp(q.points[:, 0]) - (np.e - 1)))
    rates = np.log2(np.array(errs[:-1]) / errs[1:])
    assert np.all(np.abs(rates - 2) < 0.1)


def _rms_errors(rule, ns, seeds):
    box = [(0, 1), (0, 1)]
    exact = (1 - np.cos(1)) * (np.e - 1)  # int sin(x) e^y
    out = []
    for n in ns:
        e = [rule(box, n, seed=s) for s in seeds]
        e = [q.weights @ (np.sin(q.points[:, 0]) * np.exp(q.points[:, 1])) - exact for q in e]
        out.append(np.sqrt(np.mean(np.square(e))))
    return np.array(out)


def test_monte_carlo_and_sobol_convergence_rates():
    ns = np.array([2**8, 2**10, 2**12, 2**14])
    seeds = range(40)
    mc = _rms_errors(monte_carlo, ns, seeds)
    qmc = _rms_errors(sobol, ns, seeds)
    slope_mc = np.polyfit(np.log(ns), np.log(mc), 1)[0]
    slope_qmc = np.polyfit(np.log(ns), np.log(qmc), 1)[0]
    assert -0.65 < slope_mc < -0.35          # n^-1/2
    assert slope_qmc < -0.9                   # n^-1 or better (scrambled: ~n^-1.5)
    assert qmc[-1] < mc[-1] / 10


def test_seeds_are_deterministic():
    a, b = monte_carlo([(0, 1)], 50, seed=3), monte_carlo([(0, 1)], 50, seed=3)
    assert np.array_equal(a.points, b.points)
    a, b = sobol([(0, 1)], 64, seed=3), sobol([(0, 1)], 64, seed=3)
    assert np.array_equal(a.points, b.points)
    assert not np.array_equal(a.points, sobol([(0, 1)], 64, seed=4).points)


def test_quadrature_is_read_only_and_exported():
    q = gauss_legendre([(0, 1)], 3)
    assert isinstance(q, rankcore.Quadrature)
    with pytest.raises(ValueError):
        q.points[0, 0] = 5.0
    assert q.integrate(np.ones(3)) == pytest.approx(1.0)


@pytest.mark.parametrize("call, match", [
    (lambda: gauss_legendre([(1, 0)], 3), r"box needs lo < hi.*dimension 0"),
    (lambda: gauss_legendre([(0, np.inf)], 3), "finite bounds"),
    (lambda: gauss_legendre([(0, 1, 2)], 3), r"\(lo, hi\) pairs"),
    (lambda: gauss_legendre([(0, 1)], 0), "order must be an integer >= 1, got 0"),
    (lambda: gauss_legendre([(0, 1)], 2.5), "order must be an integer"),
    (lambda: gauss_legendre([(0, 1), (0, 1)], (2, 3, 4)), "one per dimension"),
    (lambda: trapezoid([(0, 1)], 1), "n must be an integer >= 2"),
    (lambda: monte_carlo([(0, 1)], -4), "n must be an integer >= 1"),
    (lambda: Quadrature([[0.5]], [0.0], [(0, 1)]), r"weights must be > 0.*weights\[0\]"),
    (lambda: Quadrature([[1.5]], [1.0], [(0, 1)]), "points must lie in the box"),
    (lambda: Quadrature([[0.5], [0.2]], [1.0], [(0, 1)]), "one entry per point"),
    (lambda: Quadrature([[np.nan]], [1.0], [(0, 1)]), "points must be finite"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_bad_types():
    with pytest.raises(TypeError, match="order must be an integer"):
        gauss_legendre([(0, 1)], True)
    with pytest.raises(TypeError, match="box must be a sequence"):
        gauss_legendre("abc", 3)


@pytest.mark.parametrize("rule", [rankcore.quadrature.monte_carlo, rankcore.quadrature.sobol])
def test_seed_is_checked_like_every_random_state(rule):
    assert np.array_equal(rule([(0, 1)], 16, seed=3).points, rule([(0, 1)], 16, seed=3).points)
    for bad in (True, 1.5, "3"):
        with pytest.raises(TypeError, match="seed must be None, an int >= 0"):
            rule([(0, 1)], 16, seed=bad)
    with pytest.raises(ValueError, match="seed must be None, an int >= 0"):
        rule([(0, 1)], 16, seed=-2)
