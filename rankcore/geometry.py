"""Domains beyond the box: primitives, boolean combinations, samplers, quadrature.

A geometry is a closed set in ``R^d`` (d = 1, 2 or 3) described by a signed
distance function ``sdf(x)``: negative inside, zero on the boundary, positive
outside.  Primitives:

* :class:`Box` -- an axis-aligned box ``[(lo, hi), ...]`` (the library's box);
* :class:`Ball` -- a ball ``|x - c| <= r`` in any dimension, :class:`Disk` its
  2-D spelling;
* :class:`Polygon` -- any simple polygon in the plane, vertices in order;
* :class:`HalfSpace` -- ``{x : n . x <= offset}``, unbounded, to be cut with
  ``&`` or ``-``.

Boolean combinations: ``a | b`` (union), ``a & b`` (intersection), ``a - b``
(difference).  The sdf of a primitive is exact.  That of a combination is
``min(sa, sb)``, ``max(sa, sb)`` and ``max(sa, -sb)``: its sign is exact and
its magnitude is a lower bound of the distance to the boundary
(``|sdf(x)| <= dist(x, boundary)``), exact outside a union and inside an
intersection of disjoint pieces but smaller near concave corners.

Measures (length, area, volume) are exact for primitives.  For a
combination the measure is estimated by scrambled Sobol' points in the
bounding box, 8 independent scramblings of 2**14 points; ``measure_error``
is the standard error of their mean (typically 1e-4 of the box volume).

Samplers are deterministic for a given seed.  ``sample_interior`` draws
uniform points in the bounding box and keeps those inside.
``sample_boundary`` draws points uniformly (per unit length or area) on the
boundary of every primitive of the combination and keeps those on the
combined boundary: a candidate ``p`` with outward normal ``n`` of its
primitive (flipped when the primitive is subtracted) is kept when
``p + delta n`` is outside and ``p - delta n`` inside the combination
(``delta = 1e-7`` times the bounding-box diagonal), so that the kept points
are spread in proportion to boundary measure, with outward unit normals.
"""

from __future__ import annotations

import math

import numpy as np

from .validation import (as_array, check_box, check_int, check_positive_scalar,
                        check_random_state, describe)
from .quadrature import Quadrature

__all__ = ["Geometry", "Box", "Ball", "Disk", "Polygon", "HalfSpace",
           "MAX_SAMPLES"]

#: Largest number of points one sampler call returns.
MAX_SAMPLES = 10_000_000
#: Candidates a sampler may draw, as a multiple of the points asked for,
#: before it gives up on a domain (or boundary) too thin to place them.
_MAX_DRAW_FACTOR = 10_000
_PROBE_LOG2 = 14      # 2**14 probe points for emptiness checks and measures
_MEASURE_REPEATS = 8  # scramblings averaged by the measure estimate
_DELTA = 1e-7         # boundary-test offset, relative to the bbox diagonal


def _points(X, dim, name="X"):
    X = as_array(X, name, ndim=(1, 2))
    if X.ndim == 1:
        if dim != 1:
            raise ValueError(f"{name} must have shape (N, {dim}), got {describe(X)}")
        X = X[:, None]
    if X.shape[1] != dim:
        raise ValueError(f"{name} must have shape (N, {dim}), got {describe(X)}")
    return X


def _count(n, name="n"):
    n = check_int(n, name, minimum=1)
    if n > MAX_SAMPLES:
        raise ValueError(
            f"{name} must be at most {MAX_SAMPLES} points per call, got {n}; "
            "call the sampler several times with different seeds")
    return n


def _sobol_unit(d, m, seed):
    from scipy.stats import qmc
    return qmc.Sobol(d, scramble=True, rng=np.random.default_rng(seed)).random_base2(m)


class Geometry:
    """Base class of all geometries (closed sets with a signed distance).

    Subclasses implement ``_sdf`` (no validation), ``_leaves`` and, for
    primitives, ``_boundary_candidates``.  Public methods validate.
    """

    dim: int

    # ------------------------------------------------------- operators ---
    def __or__(self, other):
        return _binary(Union, self, other)

    def __and__(self, other):
        return _binary(Intersection, self, other)

    def __sub__(self, other):
        return _binary(Difference, self, other)

    # ---------------------------------------------------------- queries ---
    @property
    def bbox(self) -> np.ndarray:
        """Bounding box, a (d, 2) array of ``(lo, hi)`` (``inf`` if unbounded)."""
        return self._bbox.copy()

    @property
    def bounded(self) -> bool:
        """Whether the bounding box is finite."""
        return bool(np.all(np.isfinite(self._bbox)))

    def sdf(self, X) -> np.ndarray:
        """Signed distance at points ``X`` (N, d): negative inside.

        Exact for primitives; for combinations the sign is exact and the
        magnitude a lower bound of the distance to the boundary.

        Parameters
        ----------
        X : array_like, shape (N, d)
            The points (shape (N,) is accepted in 1-D).

        Returns
        -------
        ndarray, shape (N,)
            Signed distance of each point: negative inside, positive outside.

        Examples
        --------
        >>> from rankcore.geometry import Disk
        >>> Disk((0, 0), 1.0).sdf([[0.0, 0.0], [2.0, 0.0]]).tolist()
        [-1.0, 1.0]
        """
        return self._sdf(_points(X, self.dim))

    def contains(self, X) -> np.ndarray:
        """``sdf(X) <= 0``: whether each point lies in the (closed) domain.

        Parameters
        ----------
        X : array_like, shape (N, d)
            The points (shape (N,) is accepted in 1-D).

        Returns
        -------
        ndarray of bool, shape (N,)
            True for the points in the domain, boundary included.

        Examples
        --------
        >>> from rankcore.geometry import Box
        >>> Box([(0, 1), (0, 1)]).contains([[0.5, 0.5], [1.0, 0.2], [1.5, 0]]).tolist()
        [True, True, False]
        """
        return self.sdf(X) <= 0.0

    @property
    def measure(self) -> float:
        """Length, area or volume: exact for primitives, estimated otherwise."""
        if not hasattr(self, "_measure_cache"):
            self._measure_cache = self._measure()
        return self._measure_cache[0]

    @property
    def measure_error(self) -> float:
        """Standard error of :attr:`measure` (0.0 where it is exact)."""
        self.measure  # noqa: B018 - fills the cache
        return self._measure_cache[1]

    def _measure(self):
        self._require_bounded("measure")
        lo, hi = self._bbox[:, 0], self._bbox[:, 1]
        vol = float(np.prod(hi - lo))
        fr = []
        for r in range(_MEASURE_REPEATS):
            U = lo + _sobol_unit(self.dim, _PROBE_LOG2, 1000 + r) * (hi - lo)
            fr.append(np.mean(self._sdf(U) <= 0.0))
        fr = np.array(fr)
        return (vol * float(fr.mean()),
                vol * float(fr.std(ddof=1)) / math.sqrt(len(fr)))

    def _require_bounded(self, what):
        if not self.bounded:
            raise ValueError(
                f"{what} needs a bounded geometry, but {self!r} has bounding box "
                f"{self._bbox.tolist()}; intersect it with a Box first")

    # ---------------------------------------------------------- samplers ---
    def sample_interior(self, n, seed=0) -> np.ndarray:
        """``n`` uniform random points of the domain, shape (n, d).

        Parameters
        ----------
        n : int
            Number of points, ``1 <= n <= MAX_SAMPLES``.
        seed : int or numpy.random.Generator
            The same seed gives the same points.

        Returns
        -------
        ndarray, shape (n, d)
            The points, uniform in the domain.

        Raises
        ------
        ValueError
            If the geometry is unbounded, ``n`` is out of range, or the domain
            fills so little of its bounding box that ``n`` points cannot be
            placed by ``10000 n`` draws.

        Examples
        --------
        >>> from rankcore.geometry import Box, Disk
        >>> g = Box([(0, 1), (0, 1)]) - Disk((0.5, 0.5), 0.25)
        >>> X = g.sample_interior(100, seed=1)
        >>> X.shape, bool(g.contains(X).all())
        ((100, 2), True)
        """
        n = _count(n)
        rng = check_random_state(seed, "seed")
        self._require_bounded("sample_interior")
        lo, hi = self._bbox[:, 0], self._bbox[:, 1]
        kept, total, drawn = [], 0, 0
        rate = 0.5
        while total < n:
            if drawn > _MAX_DRAW_FACTOR * n:
                raise ValueError(
                    f"sample_interior could place only {total} of n={n} points "
                    f"after {drawn} draws in the bounding box: the domain is "
                    "(nearly) empty")
            m = int(min(max(1.2 * (n - total) / rate + 64, 64), 4 * MAX_SAMPLES))
            U = lo + rng.random((m, self.dim)) * (hi - lo)
            inside = self._sdf(U) < 0.0
            kept.append(U[inside])
            total += int(inside.sum())
            drawn += m
            rate = max(total / drawn, 1e-4)
        return np.ascontiguousarray(np.concatenate(kept)[:n])

    def sample_boundary(self, n, seed=0):
        """``n`` points on the boundary with their outward unit normals.

        Points are spread uniformly in boundary measure (length in 2-D, area
        in 3-D).  For a combination only the parts of each primitive's
        boundary that lie on the combined boundary are sampled, and the
        normals of subtracted primitives are flipped so that they point out
        of the combined domain.

        Parameters
        ----------
        n : int
            Number of points.  In 1-D the boundary is a finite set of end
            points and ``n`` may not exceed their number.
        seed : int or numpy.random.Generator
            The same seed gives the same points.

        Returns
        -------
        points : ndarray, shape (n, d)
            Points on the boundary.
        normals : ndarray, shape (n, d)
            Unit outward normals at the points.

        Raises
        ------
        ValueError
            If the geometry is unbounded, ``n`` is out of range (in 1-D: more
            than the number of end points), or the combined boundary is too
            small a part of the primitives' boundaries to place ``n`` points.

        Examples
        --------
        >>> import numpy as np
        >>> from rankcore.geometry import Disk
        >>> P, N = Disk((0, 0), 2.0).sample_boundary(5, seed=0)
        >>> bool(np.allclose(np.linalg.norm(P, axis=1), 2.0)), bool(np.allclose(P / 2, N))
        (True, True)
        """
        n = _count(n)
        rng = check_random_state(seed, "seed")
        self._require_bounded("sample_boundary")
        if self.dim == 1:
            P, Nrm = self._boundary_1d()
            if n > P.shape[0]:
                raise ValueError(
                    f"n must be at most {P.shape[0]}: the boundary of the 1-D domain "
                    f"{self!r} has only {P.shape[0]} points, got n={n}")
            return P[:n].copy(), Nrm[:n].copy()
        leaves = self._leaves(1.0)
        region = self._bbox
        meas = np.array([leaf._candidate_measure(region) for leaf, _ in leaves])
        if not np.any(meas > 0):
            raise ValueError(f"{self!r} has no boundary inside its bounding box")
        prob = meas / meas.sum()
        delta = _DELTA * float(np.linalg.norm(region[:, 1] - region[:, 0]))
        P_out, N_out, total, drawn = [], [], 0, 0
        rate = 0.5
        while total < n:
            if drawn > _MAX_DRAW_FACTOR * n:
                raise ValueError(
                    f"sample_boundary could place only {total} of n={n} points "
                    f"after {drawn} candidates: the boundary of {self!r} is (almost) "
                    "nowhere on the boundaries of its parts")
            m = int(min(max(1.2 * (n - total) / rate + 64, 64), 4 * MAX_SAMPLES))
            counts = rng.multinomial(m, prob)
            for k, (leaf, sign) in enumerate(leaves):
                if counts[k] == 0:
                    continue
                P, Nrm = leaf._boundary_candidates(rng, int(counts[k]), region)
                Nrm = sign * Nrm
                keep = self._on_boundary(P, Nrm, delta)
                for j in range(k):  # a shared stretch belongs to the first part
                    keep &= np.abs(leaves[j][0]._sdf(P)) > delta
                P_out.append(P[keep])
                N_out.append(Nrm[keep])
                total += int(keep.sum())
            drawn += m
            rate = max(total / drawn, 1e-4)
        # candidates come leaf by leaf within a round; shuffle deterministically
        P = np.concatenate(P_out)
        Nrm = np.concatenate(N_out)
        order = rng.permutation(P.shape[0])[:n]
        return np.ascontiguousarray(P[order]), np.ascontiguousarray(Nrm[order])

    def _on_boundary(self, P, Nrm, delta):
        return (self._sdf(P + delta * Nrm) > 0.0) & (self._sdf(P - delta * Nrm) < 0.0)

    def _boundary_1d(self):
        """All end points of a 1-D domain, sorted, with their normals."""
        pts, nrm = [], []
        for leaf, sign in self._leaves(1.0):
            P, Nrm = leaf._boundary_candidates(None, 0, self._bbox)
            pts.append(P)
            nrm.append(sign * Nrm)
        P = np.concatenate(pts)
        Nrm = np.concatenate(nrm)
        delta = _DELTA * float(self._bbox[0, 1] - self._bbox[0, 0])
        keep = self._on_boundary(P, Nrm, delta)
        P, Nrm = P[keep], Nrm[keep]
        _, first = np.unique(np.round(P[:, 0] / delta), return_index=True)
        P, Nrm = P[first], Nrm[first]
        order = np.argsort(P[:, 0], kind="stable")
        return P[order], Nrm[order]

    @property
    def boundary_measure(self) -> float:
        """Length (2-D) or area (3-D) of the boundary; number of end points in 1-D.

        Exact for primitives; for combinations estimated from the fraction
        of 2**16 candidates per primitive that :meth:`sample_boundary` would
        keep (relative standard error about ``0.004 / sqrt(kept fraction)``).
        """
        self._require_bounded("boundary_measure")
        if self.dim == 1:
            return float(self._boundary_1d()[0].shape[0])
        leaves = self._leaves(1.0)
        region = self._bbox
        delta = _DELTA * float(np.linalg.norm(region[:, 1] - region[:, 0]))
        rng = np.random.default_rng(12345)
        est = 0.0
        for k, (leaf, sign) in enumerate(leaves):
            meas = leaf._candidate_measure(region)
            if meas == 0:
                continue
            P, Nrm = leaf._boundary_candidates(rng, 1 << 16, region)
            keep = self._on_boundary(P, sign * Nrm, delta)
            for j in range(k):
                keep &= np.abs(leaves[j][0]._sdf(P)) > delta
            est += meas * keep.mean()
        return float(est)

    # -------------------------------------------------------- quadrature ---
    def quadrature(self, n, seed=0, method="sobol") -> Quadrature:
        """Equal-weight quadrature of ``n`` points on the domain.

        The weights are all ``measure / n`` (exact measure for primitives,
        the estimate for combinations), so they sum to the measure and
        ``rankcore.gram(features(q.points), q.weights)`` approximates the
        Gram matrix on the domain.

        Parameters
        ----------
        n : int
            Number of points.
        seed : int
            Seed of the Sobol' scrambling or of the random points.
        method : {"sobol", "random"}
            ``"sobol"``: the first ``n`` points of a scrambled Sobol'
            sequence in the bounding box that fall inside the domain
            (quasi-Monte Carlo; error close to ``1/n`` for smooth integrands
            on smooth domains).  ``"random"``: :meth:`sample_interior`.

        Returns
        -------
        rankcore.Quadrature
            With ``box`` the bounding box.

        Examples
        --------
        >>> import numpy as np
        >>> from rankcore.geometry import Disk
        >>> q = Disk((0, 0), 1.0).quadrature(4096)
        >>> round(float(q.weights.sum()), 12) == round(np.pi, 12)
        True
        >>> abs(float(q.weights @ (q.points ** 2).sum(axis=1)) - np.pi / 2) < 1e-2
        True
        """
        n = _count(n)
        if not isinstance(method, str) or method not in ("sobol", "random"):
            raise ValueError(f"method must be 'sobol' or 'random', got {describe(method)}")
        self._require_bounded("quadrature")
        if method == "random":
            X = self.sample_interior(n, seed=seed)
        else:
            seed = check_int(seed, "seed", minimum=0)
            lo, hi = self._bbox[:, 0], self._bbox[:, 1]
            vol = float(np.prod(hi - lo))
            frac = max(self.measure / vol, 1e-4) if vol > 0 else 1.0
            m = max(6, math.ceil(math.log2(1.3 * n / frac + 64)))
            while True:
                if m > 40:
                    raise ValueError(f"quadrature could not place n={n} points in {self!r}")
                U = lo + _sobol_unit(self.dim, m, seed) * (hi - lo)
                X = U[self._sdf(U) < 0.0]
                if X.shape[0] >= n:
                    X = X[:n]
                    break
                m += 1
        return Quadrature(X, np.full(n, self.measure / n), self._bbox)

    # --------------------------------------------------------- internals ---
    def _leaves(self, sign):
        return [(self, sign)]


def _binary(cls, a, b):
    if not isinstance(b, Geometry):
        return NotImplemented
    if a.dim != b.dim:
        raise ValueError(
            f"cannot combine geometries of dimension {a.dim} and {b.dim}: "
            f"{a!r} and {b!r}")
    return cls(a, b)


class _Combination(Geometry):
    _symbol = "?"

    def __init__(self, a, b):
        self.a = a
        self.b = b
        self.dim = a.dim
        self._bbox = self._combined_bbox()
        self._check_nonempty()

    def __repr__(self):
        return f"({self.a!r} {self._symbol} {self.b!r})"

    def _check_nonempty(self):
        lo, hi = self._bbox[:, 0], self._bbox[:, 1]
        if np.any(lo > hi):
            raise ValueError(f"{self!r} is empty: the bounding boxes do not overlap")
        if not self.bounded or np.any(lo == hi):
            if np.any(lo == hi) or not self._probe_unbounded():
                raise ValueError(f"{self!r} is empty (no interior point found)")
            return
        U = lo + _sobol_unit(self.dim, _PROBE_LOG2, 0) * (hi - lo)
        U = np.concatenate([U, 0.5 * (lo + hi)[None, :]])
        if not np.any(self._sdf(U) < 0.0):
            raise ValueError(
                f"{self!r} is empty: none of {U.shape[0]} probe points of its "
                f"bounding box {self._bbox.tolist()} lies inside (an empty set, "
                "or a part thinner than about 1/128 of the box)")

    def _probe_unbounded(self):
        # finite window around the finite parts of the bbox
        lo = np.where(np.isfinite(self._bbox[:, 0]), self._bbox[:, 0],
                      np.where(np.isfinite(self._bbox[:, 1]), self._bbox[:, 1] - 1e3, -1e3))
        hi = np.where(np.isfinite(self._bbox[:, 1]), self._bbox[:, 1], lo + 2e3)
        U = lo + _sobol_unit(self.dim, _PROBE_LOG2, 0) * (hi - lo)
        return bool(np.any(self._sdf(U) < 0.0))

    def _leaves(self, sign):
        return self.a._leaves(sign) + self.b._leaves(sign)


class Union(_Combination):
    """``a | b``: points in either geometry."""

    _symbol = "|"

    def _check_nonempty(self):
        pass  # a union of non-empty sets is not empty

    def _combined_bbox(self):
        A, B = self.a._bbox, self.b._bbox
        return np.stack([np.minimum(A[:, 0], B[:, 0]), np.maximum(A[:, 1], B[:, 1])], axis=1)

    def _sdf(self, X):
        return np.minimum(self.a._sdf(X), self.b._sdf(X))


class Intersection(_Combination):
    """``a & b``: points in both geometries."""

    _symbol = "&"

    def _combined_bbox(self):
        A, B = self.a._bbox, self.b._bbox
        return np.stack([np.maximum(A[:, 0], B[:, 0]), np.minimum(A[:, 1], B[:, 1])], axis=1)

    def _sdf(self, X):
        return np.maximum(self.a._sdf(X), self.b._sdf(X))


class Difference(_Combination):
    """``a - b``: points of ``a`` not in the interior of ``b``."""

    _symbol = "-"

    def _combined_bbox(self):
        return self.a._bbox.copy()

    def _sdf(self, X):
        return np.maximum(self.a._sdf(X), -self.b._sdf(X))

    def _leaves(self, sign):
        return self.a._leaves(sign) + self.b._leaves(-sign)


# ------------------------------------------------------------ primitives ---

class _Primitive(Geometry):
    def _measure(self):
        return self._exact_measure(), 0.0

    @property
    def boundary_measure(self) -> float:  # noqa: D102 - documented on Geometry
        self._require_bounded("boundary_measure")
        return self._candidate_measure(self._bbox)


class Box(_Primitive):
    """Axis-aligned box.

    Parameters
    ----------
    box : sequence of (lo, hi) pairs
        One pair per dimension (1, 2 or 3), ``lo < hi``.

    Examples
    --------
    >>> from rankcore.geometry import Box
    >>> g = Box([(0, 2), (0, 1)])
    >>> g.measure, g.boundary_measure
    (2.0, 6.0)
    """

    def __init__(self, box):
        b = check_box(box, "box")
        if b.shape[0] > 3:
            raise ValueError(f"box must have 1, 2 or 3 dimensions, got {b.shape[0]}")
        self.box = b
        self.dim = b.shape[0]
        self._bbox = b.copy()
        self._c = 0.5 * (b[:, 0] + b[:, 1])
        self._h = 0.5 * (b[:, 1] - b[:, 0])

    def __repr__(self):
        return f"Box({self.box.tolist()})"

    def _sdf(self, X):
        q = np.abs(X - self._c) - self._h
        out = np.sqrt(np.sum(np.maximum(q, 0.0) ** 2, axis=1))
        return out + np.minimum(q.max(axis=1), 0.0)

    def _exact_measure(self):
        return float(np.prod(2.0 * self._h))

    def _face_areas(self):
        w = 2.0 * self._h
        return np.array([np.prod(np.delete(w, a)) for a in range(self.dim)
                         for _ in (0, 1)])

    def _candidate_measure(self, region):
        return float(self._face_areas().sum())

    def _boundary_candidates(self, rng, m, region):
        d = self.dim
        lo, hi = self.box[:, 0], self.box[:, 1]
        if rng is None:  # 1-D: the two end points
            return (np.array([[lo[0]], [hi[0]]]), np.array([[-1.0], [1.0]]))
        areas = self._face_areas()
        face = rng.choice(2 * d, size=m, p=areas / areas.sum())
        P = lo + rng.random((m, d)) * (hi - lo)
        axis, side = face // 2, face % 2
        rows = np.arange(m)
        P[rows, axis] = np.where(side == 1, hi[axis], lo[axis])
        N = np.zeros((m, d))
        N[rows, axis] = np.where(side == 1, 1.0, -1.0)
        return P, N


class Ball(_Primitive):
    """Ball ``|x - center| <= radius`` in 1, 2 or 3 dimensions.

    Parameters
    ----------
    center : array_like, shape (d,)
        Centre of the ball, ``d`` = 1, 2 or 3.
    radius : float
        ``> 0``.

    Examples
    --------
    >>> import math
    >>> from rankcore.geometry import Ball
    >>> g = Ball((0, 0, 0), 1.0)
    >>> math.isclose(g.measure, 4 * math.pi / 3), math.isclose(g.boundary_measure, 4 * math.pi)
    (True, True)
    """

    def __init__(self, center, radius):
        c = as_array(center, "center", ndim=1)
        if not 1 <= c.shape[0] <= 3:
            raise ValueError(f"center must have 1, 2 or 3 coordinates, got {describe(c)}")
        self.center = c.copy()
        self.radius = check_positive_scalar(radius, "radius")
        self.dim = c.shape[0]
        self._bbox = np.stack([c - self.radius, c + self.radius], axis=1)

    def __repr__(self):
        return f"{type(self).__name__}({self.center.tolist()}, {self.radius!r})"

    def _sdf(self, X):
        return np.linalg.norm(X - self.center, axis=1) - self.radius

    def _exact_measure(self):
        d = self.dim
        return float(math.pi ** (d / 2) / math.gamma(d / 2 + 1) * self.radius ** d)

    def _candidate_measure(self, region):
        return float(self.dim / self.radius * self._exact_measure())

    def _boundary_candidates(self, rng, m, region):
        if rng is None:
            N = np.array([[-1.0], [1.0]])
        elif self.dim == 2:
            t = rng.random(m) * (2.0 * math.pi)
            N = np.stack([np.cos(t), np.sin(t)], axis=1)
        else:
            N = rng.standard_normal((m, self.dim))
            N /= np.linalg.norm(N, axis=1)[:, None]
        return self.center + self.radius * N, N


class Disk(Ball):
    """Disk ``|x - center| <= radius`` in the plane (a 2-D :class:`Ball`).

    Parameters
    ----------
    center : array_like, shape (2,)
        Centre of the disk.
    radius : float
        ``> 0``.

    Examples
    --------
    >>> import math
    >>> from rankcore.geometry import Disk
    >>> math.isclose(Disk((0.5, 0.5), 0.2).measure, math.pi * 0.04)
    True
    """

    def __init__(self, center, radius):
        c = as_array(center, "center", ndim=1)
        if c.shape[0] != 2:
            raise ValueError(f"center of a Disk must have 2 coordinates, got {describe(c)}")
        super().__init__(c, radius)


def _segments_cross(P0, P1, Q0, Q1, tol):
    """Whether closed segments P0P1 and Q0Q1 (arrays of pairs) meet."""
    def orient(a, b, c):
        return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - \
               (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])

    def on_seg(a, b, c):  # c on segment ab, given collinear
        return ((np.minimum(a[..., 0], b[..., 0]) - tol <= c[..., 0]) &
                (c[..., 0] <= np.maximum(a[..., 0], b[..., 0]) + tol) &
                (np.minimum(a[..., 1], b[..., 1]) - tol <= c[..., 1]) &
                (c[..., 1] <= np.maximum(a[..., 1], b[..., 1]) + tol))

    d1 = orient(Q0, Q1, P0)
    d2 = orient(Q0, Q1, P1)
    d3 = orient(P0, P1, Q0)
    d4 = orient(P0, P1, Q1)
    t2 = tol * tol
    proper = (((d1 > t2) & (d2 < -t2)) | ((d1 < -t2) & (d2 > t2))) & \
             (((d3 > t2) & (d4 < -t2)) | ((d3 < -t2) & (d4 > t2)))
    touch = ((np.abs(d1) <= t2) & on_seg(Q0, Q1, P0)) | \
            ((np.abs(d2) <= t2) & on_seg(Q0, Q1, P1)) | \
            ((np.abs(d3) <= t2) & on_seg(P0, P1, Q0)) | \
            ((np.abs(d4) <= t2) & on_seg(P0, P1, Q1))
    return proper | touch


class Polygon(_Primitive):
    """Simple polygon in the plane.

    Parameters
    ----------
    vertices : array_like, shape (k, 2)
        ``k >= 3`` vertices in order (either orientation), the first not
        repeated at the end (a repeated first vertex is dropped).  Edges may
        not cross or touch except consecutive edges at their shared vertex,
        and the area must be positive.

    Raises
    ------
    ValueError
        Fewer than 3 vertices, non-finite coordinates, a zero-length edge,
        crossing or touching edges (the message names the first pair), or a
        zero area.

    Examples
    --------
    >>> from rankcore.geometry import Polygon
    >>> L = Polygon([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])
    >>> L.measure, L.boundary_measure
    (3.0, 8.0)
    >>> L.contains([[0.5, 1.5], [1.5, 1.5]]).tolist()
    [True, False]
    """

    def __init__(self, vertices):
        V = as_array(vertices, "vertices", ndim=2)
        if V.shape[1] != 2:
            raise ValueError(f"vertices must have shape (k, 2), got {describe(V)}")
        if V.shape[0] >= 2 and np.array_equal(V[0], V[-1]):
            V = V[:-1]
        k = V.shape[0]
        if k < 3:
            raise ValueError(f"vertices must hold at least 3 distinct points, got {k}")
        E = np.roll(V, -1, axis=0) - V
        L = np.linalg.norm(E, axis=1)
        scale = float(np.max(np.abs(V - V.mean(axis=0)))) or 1.0
        tol = 1e-12 * scale
        if np.any(L <= tol):
            i = int(np.argmax(L <= tol))
            raise ValueError(
                f"vertices[{i}] and vertices[{(i + 1) % k}] coincide "
                f"({V[i].tolist()}): zero-length edge")
        self._check_simple(V, E, tol)
        area2 = float(np.sum(V[:, 0] * np.roll(V[:, 1], -1) - np.roll(V[:, 0], -1) * V[:, 1]))
        if abs(area2) <= 1e-12 * scale * scale:
            raise ValueError(f"the polygon has zero area (vertices {V.tolist()})")
        if area2 < 0:
            V = V[::-1].copy()
        self.vertices = np.ascontiguousarray(V)
        self.dim = 2
        self._area = 0.5 * abs(area2)
        self._bbox = np.stack([V.min(axis=0), V.max(axis=0)], axis=1)
        self._E = np.roll(self.vertices, -1, axis=0) - self.vertices
        self._L = np.linalg.norm(self._E, axis=1)
        self._Nrm = np.stack([self._E[:, 1], -self._E[:, 0]], axis=1) / self._L[:, None]

    @staticmethod
    def _check_simple(V, E, tol):
        k = V.shape[0]
        i, j = np.triu_indices(k, 1)
        adjacent = (j == i + 1) | ((i == 0) & (j == k - 1))
        # consecutive edges must not fold back onto each other
        c = E[:, 0] * np.roll(E, -1, axis=0)[:, 1] - E[:, 1] * np.roll(E, -1, axis=0)[:, 0]
        dot = np.sum(E * np.roll(E, -1, axis=0), axis=1)
        fold = (np.abs(c) <= tol * np.linalg.norm(E, axis=1)) & (dot < 0)
        if fold.any():
            a = int(np.argmax(fold))
            raise ValueError(
                f"the polygon is self-intersecting: edge {a} and edge {(a + 1) % k} "
                f"fold back onto each other at vertex {(a + 1) % k}")
        i, j = i[~adjacent], j[~adjacent]
        if i.size == 0:
            return
        hit = _segments_cross(V[i], V[i] + E[i], V[j], V[j] + E[j], tol)
        if hit.any():
            p = int(np.argmax(hit))
            raise ValueError(
                f"the polygon is self-intersecting: edge {int(i[p])} "
                f"({V[i[p]].tolist()} -> {(V[i[p]] + E[i[p]]).tolist()}) meets edge "
                f"{int(j[p])} ({V[j[p]].tolist()} -> {(V[j[p]] + E[j[p]]).tolist()})")

    def __repr__(self):
        return f"Polygon({self.vertices.tolist()})"

    def _sdf(self, X):
        V, E = self.vertices, self._E
        L2 = self._L ** 2
        dist2 = np.full(X.shape[0], np.inf)
        inside = np.zeros(X.shape[0], bool)
        x, y = X[:, 0], X[:, 1]
        for e in range(V.shape[0]):
            px, py = x - V[e, 0], y - V[e, 1]
            t = np.clip((px * E[e, 0] + py * E[e, 1]) / L2[e], 0.0, 1.0)
            dx, dy = px - t * E[e, 0], py - t * E[e, 1]
            np.minimum(dist2, dx * dx + dy * dy, out=dist2)
            y0, y1 = V[e, 1], V[e, 1] + E[e, 1]
            crosses = (y0 > y) != (y1 > y)
            with np.errstate(divide="ignore", invalid="ignore"):
                xc = V[e, 0] + (y - y0) * E[e, 0] / E[e, 1]
            inside ^= crosses & (x < xc)
        d = np.sqrt(dist2)
        return np.where(inside, -d, d)

    def _exact_measure(self):
        return float(self._area)

    def _candidate_measure(self, region):
        return float(self._L.sum())

    def _boundary_candidates(self, rng, m, region):
        e = rng.choice(self._L.shape[0], size=m, p=self._L / self._L.sum())
        t = rng.random(m)
        return self.vertices[e] + t[:, None] * self._E[e], self._Nrm[e].copy()


class HalfSpace(_Primitive):
    """Half-space ``{x : normal . x <= offset}`` (``normal`` points outward).

    Unbounded: combine it with a bounded geometry (``Box(...) & HalfSpace(...)``)
    before sampling or measuring.

    Parameters
    ----------
    normal : array_like, shape (d,)
        Outward normal, not zero (normalised internally; ``offset`` is read
        in the units of the given normal).
    offset : float, default 0.0
        Right-hand side of ``normal . x <= offset``; finite.

    Examples
    --------
    >>> from rankcore.geometry import Box, HalfSpace
    >>> tri = Box([(0, 1), (0, 1)]) & HalfSpace((1, 1), 1.0)   # x + y <= 1
    >>> abs(tri.measure - 0.5) < 4 * tri.measure_error + 1e-3
    True
    """

    def __init__(self, normal, offset=0.0):
        n = as_array(normal, "normal", ndim=1)
        if not 1 <= n.shape[0] <= 3:
            raise ValueError(f"normal must have 1, 2 or 3 coordinates, got {describe(n)}")
        norm = float(np.linalg.norm(n))
        if norm == 0.0:
            raise ValueError("normal must not be the zero vector")
        if isinstance(offset, (bool, np.bool_)) or not isinstance(
                offset, (int, float, np.integer, np.floating)) or not np.isfinite(offset):
            raise ValueError(f"offset must be a finite real number, got {describe(offset)}")
        self.normal = n.copy()
        self.offset = float(offset)
        self.dim = n.shape[0]
        self._n = n / norm
        self._c = self.offset / norm
        lo = np.full(self.dim, -np.inf)
        hi = np.full(self.dim, np.inf)
        for a in range(self.dim):  # axis-aligned half-spaces bound one side
            if np.count_nonzero(self._n) == 1 and self._n[a] != 0:
                if self._n[a] > 0:
                    hi[a] = self._c / self._n[a]
                else:
                    lo[a] = self._c / self._n[a]
        self._bbox = np.stack([lo, hi], axis=1)

    def __repr__(self):
        return f"HalfSpace({self.normal.tolist()}, {self.offset!r})"

    def _sdf(self, X):
        return X @ self._n - self._c

    def _exact_measure(self):
        self._require_bounded("measure")

    def _frame(self, region):
        d = self.dim
        if d == 1:
            return np.zeros((1, 0)), np.zeros(0), np.zeros(0)
        Q, _ = np.linalg.qr(np.concatenate([self._n[:, None], np.eye(d)], axis=1))
        T = Q[:, 1:d]
        p0 = self._c * self._n
        corners = np.array(np.meshgrid(*region, indexing="ij")).reshape(d, -1).T
        u = (corners - p0) @ T
        return T, u.min(axis=0), u.max(axis=0)

    def _candidate_measure(self, region):
        if not np.all(np.isfinite(region)):
            return math.inf
        if self.dim == 1:
            return 1.0
        _, ulo, uhi = self._frame(region)
        return float(np.prod(uhi - ulo))

    def _boundary_candidates(self, rng, m, region):
        p0 = self._c * self._n
        if rng is None:
            return p0[None, :], self._n[None, :].copy()
        T, ulo, uhi = self._frame(region)
        u = ulo + rng.random((m, self.dim - 1)) * (uhi - ulo)
        return p0 + u @ T.T, np.broadcast_to(self._n, (m, self.dim)).copy()
