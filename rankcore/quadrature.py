"""Quadrature rules on boxes.

A rule is a set of points ``x_k`` in a box and positive weights ``w_k`` with
``integral f ~= sum_k w_k f(x_k)``.  The weights of every rule here sum to the
volume of the box up to rounding.  A space-time domain is just a box whose
last (or first) coordinate is time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .validation import (as_array, check_box, check_int_per_dim, check_positive_int,
                        check_random_state, check_weights, describe)

__all__ = [
    "Quadrature",
    "gauss_legendre",
    "composite_gauss_legendre",
    "trapezoid",
    "monte_carlo",
    "sobol",
]


@dataclass(frozen=True, eq=False)
class Quadrature:
    """A quadrature rule on a box.

    Parameters
    ----------
    points : array_like, shape (N, d)
        Nodes, inside the box.
    weights : array_like, shape (N,)
        Positive weights.
    box : array_like, shape (d, 2)
        ``(lo, hi)`` per dimension.

    Raises
    ------
    ValueError
        If shapes disagree, a weight is not positive, a value is not finite
        or a point lies outside the box.

    See Also
    --------
    gauss_legendre, composite_gauss_legendre, monte_carlo, sobol : Rules on a box.
    rankcore.geometry : Rules on disks, polygons and their combinations.
    rankcore.gram : The Gram matrix of features sampled at ``points``.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore import Quadrature
    >>> q = Quadrature([[0.25], [0.75]], [0.5, 0.5], [(0.0, 1.0)])
    >>> float(q.weights @ q.points[:, 0] ** 2)
    0.3125
    """

    points: np.ndarray
    weights: np.ndarray
    box: np.ndarray = field(repr=False)

    def __post_init__(self):
        box = check_box(self.box)
        pts = as_array(self.points, "points", ndim=(1, 2))
        if pts.ndim == 1:
            pts = pts[:, None]
        if pts.shape[1] != box.shape[0]:
            raise ValueError(
                f"points must have one column per box dimension ({box.shape[0]}), "
                f"got {describe(pts)}")
        w = check_weights(self.weights, "weights", pts.shape[0])
        # Rounding in the affine maps may push a node a few ulps outside.
        tol = 1e-12 * (box[:, 1] - box[:, 0])
        outside = np.any((pts < box[:, 0] - tol) | (pts > box[:, 1] + tol), axis=1)
        if outside.any():
            k = int(np.argmax(outside))
            raise ValueError(
                f"points must lie in the box {box.tolist()}, but points[{k}] = "
                f"{pts[k].tolist()}")
        pts = np.ascontiguousarray(pts)
        w = np.ascontiguousarray(w)
        for a in (pts, w, box):
            a.setflags(write=False)
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "box", box)

    @property
    def n_points(self) -> int:
        """Number of nodes N."""
        return self.points.shape[0]

    @property
    def dim(self) -> int:
        """Dimension d of the box."""
        return self.points.shape[1]

    @property
    def volume(self) -> float:
        """Volume of the box (the weights sum to it)."""
        return float(np.prod(self.box[:, 1] - self.box[:, 0]))

    def integrate(self, values) -> np.ndarray:
        """``sum_k w_k values[k]`` along the first axis, in float64.

        Parameters
        ----------
        values : array_like, shape (N,), (N, m) or (N, m, p)
            Values at the nodes, one row per point.

        Returns
        -------
        ndarray, shape () or values.shape[1:]
            The weighted sums (a 0-d array for 1-D ``values``).
        """
        v = as_array(values, "values", ndim=(1, 2, 3))
        if v.shape[0] != self.n_points:
            raise ValueError(
                f"values must have {self.n_points} rows (one per point), got {describe(v)}")
        return np.tensordot(self.weights, v, axes=(0, 0))

    def __repr__(self):
        return (f"Quadrature(n_points={self.n_points}, dim={self.dim}, "
                f"box={self.box.tolist()})")


@lru_cache(maxsize=64)
def _legendre_nodes(order: int):
    from scipy.special import roots_legendre
    x, w = roots_legendre(order)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def _tensor(nodes_1d, weights_1d, box):
    grids = np.meshgrid(*nodes_1d, indexing="ij")
    points = np.stack([g.ravel() for g in grids], axis=1)
    w = weights_1d[0]
    for wi in weights_1d[1:]:
        w = np.multiply.outer(w, wi)
    return Quadrature(points, np.ravel(w), box)


def gauss_legendre(box, order) -> Quadrature:
    """Tensor-product Gauss–Legendre rule.

    Exact for polynomials of degree ``<= 2*order - 1`` in each coordinate.

    Parameters
    ----------
    box : sequence of (lo, hi)
        The box, one pair per dimension (a single pair for an interval).
    order : int or sequence of int
        Nodes per dimension.

    Returns
    -------
    Quadrature
        ``prod(order)`` nodes.

    Raises
    ------
    ValueError
        On a malformed box or a non-positive order.

    See Also
    --------
    composite_gauss_legendre : The same rule on each cell of a grid.
    sobol, monte_carlo : Rules whose size does not grow exponentially with ``d``.

    Examples
    --------
    >>> from rankcore.quadrature import gauss_legendre
    >>> q = gauss_legendre([(0, 1), (0, 2)], order=3)
    >>> q.n_points, round(q.volume, 12)
    (9, 2.0)
    >>> round(float(q.weights @ (q.points[:, 0] ** 5)), 12)  # int_0^1 x^5 * 2
    0.333333333333
    """
    b = check_box(box)
    orders = check_int_per_dim(order, "order", b.shape[0])
    nodes, weights = [], []
    for (lo, hi), m in zip(b, orders):
        x, w = _legendre_nodes(m)
        half = 0.5 * (hi - lo)
        nodes.append(lo + half * (x + 1.0))
        weights.append(half * w)
    return _tensor(nodes, weights, b)


def composite_gauss_legendre(box, cells, order) -> Quadrature:
    """Gauss–Legendre rule of ``order`` nodes on each cell of a uniform grid.

    Parameters
    ----------
    box : sequence of (lo, hi)
        The box.
    cells : int or sequence of int
        Number of equal cells per dimension.
    order : int or sequence of int
        Gauss nodes per cell and dimension.

    Returns
    -------
    Quadrature
        ``prod(cells * order)`` nodes.

    See Also
    --------
    gauss_legendre : One Gauss--Legendre rule on the whole box.

    Examples
    --------
    >>> from rankcore.quadrature import composite_gauss_legendre
    >>> q = composite_gauss_legendre([(-1, 1)], cells=4, order=2)
    >>> q.n_points, round(float(q.weights.sum()), 12)
    (8, 2.0)
    """
    b = check_box(box)
    d = b.shape[0]
    ncell = check_int_per_dim(cells, "cells", d)
    orders = check_int_per_dim(order, "order", d)
    nodes, weights = [], []
    for (lo, hi), c, m in zip(b, ncell, orders):
        x, w = _legendre_nodes(m)
        edges = np.linspace(lo, hi, c + 1)
        half = 0.5 * np.diff(edges)
        nodes.append((edges[:-1, None] + half[:, None] * (x[None, :] + 1.0)).ravel())
        weights.append((half[:, None] * w[None, :]).ravel())
    return _tensor(nodes, weights, b)


def trapezoid(box, n) -> Quadrature:
    """Tensor trapezoid rule on a uniform grid that includes the endpoints.

    Parameters
    ----------
    box : sequence of (lo, hi)
        The box.
    n : int or sequence of int
        Grid points per dimension, at least 2.

    Returns
    -------
    Quadrature
        ``prod(n)`` nodes.

    See Also
    --------
    gauss_legendre : Far more accurate for smooth integrands.

    Examples
    --------
    >>> from rankcore.quadrature import trapezoid
    >>> q = trapezoid([(0, 1)], n=3)
    >>> q.points[:, 0].tolist(), q.weights.tolist()
    ([0.0, 0.5, 1.0], [0.25, 0.5, 0.25])
    """
    b = check_box(box)
    ns = check_int_per_dim(n, "n", b.shape[0], minimum=2)
    nodes, weights = [], []
    for (lo, hi), m in zip(b, ns):
        x = np.linspace(lo, hi, m)
        h = (hi - lo) / (m - 1)
        w = np.full(m, h)
        w[0] = w[-1] = 0.5 * h
        nodes.append(x)
        weights.append(w)
    return _tensor(nodes, weights, b)


def _uniform_rule(b, unit_points):
    lo, hi = b[:, 0], b[:, 1]
    pts = lo + unit_points * (hi - lo)
    vol = float(np.prod(hi - lo))
    return Quadrature(pts, np.full(pts.shape[0], vol / pts.shape[0]), b)


def monte_carlo(box, n, seed=None) -> Quadrature:
    """Monte Carlo rule: ``n`` uniform random points, weights ``|box| / n``.

    The integration error falls like ``n**-0.5``.

    Parameters
    ----------
    box : sequence of (lo, hi)
        The box.
    n : int
        Total number of points.
    seed : int >= 0, numpy.random.Generator or None
        Seed for ``numpy.random.default_rng``; the same seed gives the same rule.
        Bools, floats and negative ints are refused.

    Returns
    -------
    Quadrature
        ``n`` nodes.

    See Also
    --------
    sobol : Quasi-random points, usually a smaller error for the same ``n``.

    Examples
    --------
    >>> from rankcore.quadrature import monte_carlo
    >>> q = monte_carlo([(0, 2)], 1000, seed=0)
    >>> round(float(q.weights.sum()), 12)
    2.0
    """
    b = check_box(box)
    n = check_positive_int(n, "n")
    rng = check_random_state(seed, "seed")
    return _uniform_rule(b, rng.random((n, b.shape[0])))


def sobol(box, n, seed=None) -> Quadrature:
    """Scrambled Sobol' rule (randomised quasi-Monte Carlo), weights ``|box| / n``.

    For smooth integrands the error falls close to ``n**-1``.  The balance
    properties of Sobol' points hold for ``n`` a power of two; other ``n`` work
    but scipy warns.

    Parameters
    ----------
    box : sequence of (lo, hi)
        The box.
    n : int
        Total number of points.
    seed : int, numpy.random.Generator or None
        Seed of the scrambling.

    Returns
    -------
    Quadrature
        ``n`` nodes.

    See Also
    --------
    monte_carlo : Independent uniform points.

    Examples
    --------
    >>> from rankcore.quadrature import sobol
    >>> q = sobol([(0, 1), (0, 1)], 256, seed=1)
    >>> q.n_points
    256
    """
    from scipy.stats import qmc
    b = check_box(box)
    n = check_positive_int(n, "n")
    engine = qmc.Sobol(b.shape[0], scramble=True, rng=check_random_state(seed, "seed"))
    return _uniform_rule(b, engine.random(n))
