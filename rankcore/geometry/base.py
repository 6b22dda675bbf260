"""The abstract :class:`Geometry`: queries, measures, samplers, quadrature.

Every geometry of :mod:`rankcore.geometry` derives from :class:`Geometry`,
which holds what does not depend on the shape: input checks, the signed
distance and membership queries, the measure (exact for primitives,
estimated by scrambled Sobol' points for combinations), the interior and
boundary samplers, and equal-weight quadrature.  A subclass supplies
``_sdf``, ``_leaves`` and, for a primitive, ``_boundary_candidates`` and
``_candidate_measure``.

The operators ``a | b``, ``a & b`` and ``a - b`` build the classes that
:mod:`rankcore.geometry.combine` registers with ``register_combination``
when it is imported (``import rankcore.geometry`` always imports it), so
that this module does not import the combinations.
"""

from __future__ import annotations

import math

import numpy as np

from ..quadrature import Quadrature
from ..validation import as_array, check_int, check_random_state, describe

__all__ = ["Geometry", "MAX_SAMPLES"]

#: Largest number of points one sampler call returns.
MAX_SAMPLES = 10_000_000
#: Candidates a sampler may draw, as a multiple of the points asked for,
#: before it gives up on a domain (or boundary) too thin to place them.
_MAX_DRAW_FACTOR = 10_000
PROBE_LOG2 = 14       # 2**14 probe points for emptiness checks and measures
_MEASURE_REPEATS = 8  # scramblings averaged by the measure estimate
_DELTA = 1e-7         # boundary-test offset, relative to the bbox diagonal

# Class built by each operator ("|", "&", "-"), filled by register_combination.
_COMBINATIONS = {}


def register_combination(symbol, cls):
    """Make the operator ``symbol`` of two geometries build ``cls(a, b)``.

    Called by :mod:`rankcore.geometry.combine` for ``"|"`` (union), ``"&"``
    (intersection) and ``"-"`` (difference).

    Parameters
    ----------
    symbol : {"|", "&", "-"}
        The operator.
    cls : type
        A :class:`Geometry` subclass whose constructor takes the two operands.
    """
    if symbol not in ("|", "&", "-"):
        raise ValueError(f"symbol must be '|', '&' or '-', got {describe(symbol)}")
    _COMBINATIONS[symbol] = cls


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


def sobol_unit(d, m, seed):
    """``2**m`` scrambled Sobol' points in the unit cube ``[0, 1)^d`` (seeded)."""
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
        return _binary("|", self, other)

    def __and__(self, other):
        return _binary("&", self, other)

    def __sub__(self, other):
        return _binary("-", self, other)

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
            U = lo + sobol_unit(self.dim, PROBE_LOG2, 1000 + r) * (hi - lo)
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
                U = lo + sobol_unit(self.dim, m, seed) * (hi - lo)
                X = U[self._sdf(U) < 0.0]
                if X.shape[0] >= n:
                    X = X[:n]
                    break
                m += 1
        return Quadrature(X, np.full(n, self.measure / n), self._bbox)

    # --------------------------------------------------------- internals ---
    def _leaves(self, sign):
        return [(self, sign)]


def _binary(symbol, a, b):
    if not isinstance(b, Geometry):
        return NotImplemented
    if a.dim != b.dim:
        raise ValueError(
            f"cannot combine geometries of dimension {a.dim} and {b.dim}: "
            f"{a!r} and {b!r}")
    return _COMBINATIONS[symbol](a, b)
