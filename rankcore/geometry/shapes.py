"""Primitive geometries: box, ball, disk, polygon, half-space.

Each primitive has an exact signed distance, an exact measure (length, area
or volume) and an exact boundary measure, and draws boundary points
uniformly with their outward unit normals.  :class:`HalfSpace` is unbounded:
cut it with a bounded geometry (``&`` or ``-``) before sampling or measuring.
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import as_array, check_box, check_positive_scalar, describe
from .base import Geometry

__all__ = ["Box", "Ball", "Disk", "Polygon", "HalfSpace"]


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
