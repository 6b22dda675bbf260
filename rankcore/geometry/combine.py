"""Boolean combinations of geometries: union, intersection, difference.

``a | b`` is a :class:`Union`, ``a & b`` an :class:`Intersection` and
``a - b`` a :class:`Difference` (the operators of
:class:`~rankcore.geometry.base.Geometry`; this module registers the three
classes for them).  The sdf of a combination is ``min(sa, sb)``,
``max(sa, sb)`` and ``max(sa, -sb)``: its sign is exact and its magnitude a
lower bound of the distance to the boundary.  A combination checks at
construction that it is not empty; its measure is estimated.
"""

from __future__ import annotations

import numpy as np

from .base import PROBE_LOG2, Geometry, register_combination, sobol_unit

__all__ = ["Union", "Intersection", "Difference"]


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
        U = lo + sobol_unit(self.dim, PROBE_LOG2, 0) * (hi - lo)
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
        U = lo + sobol_unit(self.dim, PROBE_LOG2, 0) * (hi - lo)
        return bool(np.any(self._sdf(U) < 0.0))

    def _leaves(self, sign):
        return self.a._leaves(sign) + self.b._leaves(sign)


class Union(_Combination):
    """``a | b``: points in either geometry.

    Usually built with the operator, ``a | b``.

    Parameters
    ----------
    a, b : rankcore.geometry.Geometry
        The two geometries, of the same dimension.
    """

    _symbol = "|"

    def _check_nonempty(self):
        pass  # a union of non-empty sets is not empty

    def _combined_bbox(self):
        A, B = self.a._bbox, self.b._bbox
        return np.stack([np.minimum(A[:, 0], B[:, 0]), np.maximum(A[:, 1], B[:, 1])], axis=1)

    def _sdf(self, X):
        return np.minimum(self.a._sdf(X), self.b._sdf(X))


class Intersection(_Combination):
    """``a & b``: points in both geometries.

    Usually built with the operator, ``a & b``.

    Parameters
    ----------
    a, b : rankcore.geometry.Geometry
        The two geometries, of the same dimension.
    """

    _symbol = "&"

    def _combined_bbox(self):
        A, B = self.a._bbox, self.b._bbox
        return np.stack([np.maximum(A[:, 0], B[:, 0]), np.minimum(A[:, 1], B[:, 1])], axis=1)

    def _sdf(self, X):
        return np.maximum(self.a._sdf(X), self.b._sdf(X))


class Difference(_Combination):
    """``a - b``: points of ``a`` not in the interior of ``b``.

    Usually built with the operator, ``a - b``.

    Parameters
    ----------
    a, b : rankcore.geometry.Geometry
        The two geometries, of the same dimension.
    """

    _symbol = "-"

    def _combined_bbox(self):
        return self.a._bbox.copy()

    def _sdf(self, X):
        return np.maximum(self.a._sdf(X), -self.b._sdf(X))

    def _leaves(self, sign):
        return self.a._leaves(sign) + self.b._leaves(-sign)


register_combination("|", Union)
register_combination("&", Intersection)
register_combination("-", Difference)
