"""The random feature method on a geometry (:mod:`rankcore.geometry`).

The grid of cells covers the geometry's bounding box; a cell is kept when
the domain has interior points in it, and the others are dropped (no
unknowns).  The test probes a grid of ``PROBES + 1`` points per axis on the
closed cell (its faces included) and keeps the cell when one of them has
``sdf < 0``: a cell that only touches the domain along a face or a corner,
or whose part of the domain is thinner than about ``h / PROBES``, is
dropped.  Points of the domain in a dropped cell near a kept one are still
covered by the kept cell's partition function (psi_b reaches ``h / 8`` into
its neighbours); a point that no kept cell covers is refused with an error
that says so.

Without the dropped cells the psi_b no longer add up to 1 near them (at a
re-entrant corner, for instance), and a local approximation ``u`` times a
partition that does not sum to 1 has kinks that smooth features cannot
follow.  So on a geometry the partition is normalised (Shepard):
``psi~_n = psi_n / sum_m psi_m`` over the kept cells, with its first and
second derivatives by the quotient rule; on a face whose neighbour was
dropped psi_b is also held at 1 (as on the faces of the box), which keeps
the sum close to 1.  Only ``pou="b"`` is supported on a geometry (the
continuity rows of psi_a live on the faces of a full grid).
"""

from __future__ import annotations

import numpy as np

from ..validation import check_box
from ..geometry import Geometry
from . import _kernels as _k
from .basis import Basis, alpha_axes

__all__ = ["PROBES", "DomainBasis", "box_of", "kept_cells", "restrict",
           "check_in_domain", "domain_collocation_points"]

#: Probe points per cell edge (minus one) of the kept-cell test.
PROBES = 8
#: Points with ``sdf <= BOUNDARY_TOL * diameter`` count as in the domain.
BOUNDARY_TOL = 1e-9


def box_of(domain):
    """Return ``(box, geometry)`` for the first parameter of an RFM.

    Parameters
    ----------
    domain : sequence of (lo, hi) pairs or rankcore.geometry.Geometry
        A box, one pair per dimension, or a bounded geometry.

    Returns
    -------
    box : ndarray, shape (d, 2)
        The box, or the geometry's bounding box.
    geometry : Geometry or None
        The geometry, or None for a box.

    Raises
    ------
    ValueError
        For a malformed box or an unbounded geometry.

    Examples
    --------
    >>> from rankcore.geometry import Disk
    >>> box, g = box_of(Disk((0, 0), 1.0))
    >>> box.tolist(), g
    ([[-1.0, 1.0], [-1.0, 1.0]], Disk([0.0, 0.0], 1.0))
    """
    if isinstance(domain, Geometry):
        if not domain.bounded:
            raise ValueError(
                f"box must be a box or a bounded geometry, got {domain!r} with "
                f"bounding box {domain.bbox.tolist()}")
        return domain.bbox, domain
    return check_box(domain, "box"), None


def kept_cells(geometry, basis):
    """Return a boolean mask of the cells of ``basis`` that meet the domain's interior.

    Parameters
    ----------
    geometry : rankcore.geometry.Geometry
        The domain.
    basis : rankcore.rfm.basis.Basis
        On the geometry's bounding box.

    Returns
    -------
    ndarray of bool, shape (n_cells,)
        True for a cell where one of the probe points has ``sdf < 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.geometry import Polygon
    >>> from rankcore.rfm.basis import Basis
    >>> L = Polygon([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])
    >>> b = Basis(L.bbox, (2, 2), 3, "b", "tanh", 1.0, np.random.default_rng(0))
    >>> kept_cells(L, b).tolist()
    [True, True, True, False]
    """
    d = basis.dim
    t = np.linspace(-1.0, 1.0, PROBES + 1)
    offs = np.stack([g.ravel() for g in np.meshgrid(*([t] * d), indexing="ij")], axis=1)
    half = basis.radii[0]
    # |sdf| <= distance: a cell whose centre is farther than its half-diagonal
    # cannot meet the domain
    near = geometry.sdf(basis.centers) <= float(np.linalg.norm(half)) * (1 + 1e-12)
    keep = np.zeros(basis.n_cells, bool)
    idx = np.flatnonzero(near)
    chunk = max(1, 200_000 // offs.shape[0])
    for s in range(0, idx.size, chunk):
        c = idx[s:s + chunk]
        P = (basis.centers[c][:, None, :] + offs[None, :, :] * half).reshape(-1, d)
        inside = (geometry.sdf(P) < 0.0).reshape(c.size, -1)
        keep[c] = inside.any(axis=1)
    return keep


class DomainBasis(Basis):
    """A :class:`~rankcore.rfm.basis.Basis` restricted to the kept cells.

    Cell numbers are compact (0 ... n_kept - 1, in the C order of the full
    grid); ``cell_index`` holds their grid coordinates and ``full_index``
    their number in the full grid.  :meth:`touching` maps the full grid's
    cells to the kept ones and drops the others.

    Parameters
    ----------
    full : rankcore.rfm.basis.Basis
        The basis on the whole bounding-box grid (its random parameters are
        kept for the kept cells, so the features of a cell do not depend on
        which other cells were dropped).
    keep : ndarray of bool, shape (full.n_cells,)
        The cells of ``full`` to keep (:func:`kept_cells`).
    """

    def __init__(self, full, keep):  # noqa: D107 - documented on the class
        self.__dict__.update(full.__dict__)
        keep = np.asarray(keep, bool)
        self.full_index = np.flatnonzero(keep)
        self.compact = np.full(full.n_cells, -1, np.int64)
        self.compact[self.full_index] = np.arange(self.full_index.size)
        self.n_cells = int(self.full_index.size)
        self.cell_index = full.cell_index[keep]
        self.centers = full.centers[keep]
        self.radii = full.radii[keep]
        self.weights = full.weights[keep]
        self.biases = full.biases[keep]
        # hold psi_b at 1 on faces whose neighbour was dropped
        clamp = full.clamp[keep].copy()
        ncell = full.ncell_arr
        for a in range(self.dim):
            for side, step in ((0, -1), (1, 1)):
                nb = self.cell_index.copy()
                nb[:, a] += step
                inside = (nb[:, a] >= 0) & (nb[:, a] < ncell[a])
                flat = np.where(inside, (np.clip(nb, 0, ncell - 1) * full.strides).sum(axis=1), 0)
                dropped = inside & ~keep[flat]
                clamp[dropped, a, side] = True
        self.clamp = clamp

    def touching(self, X, pou=None):
        """Return the kept cells covering each point (see :meth:`Basis.touching`).

        Parameters
        ----------
        X : ndarray, shape (N, d)
            Points inside the box (contiguous float64).
        pou : int, optional
            Partition code to use instead of the basis' own (0 for psi_a).

        Returns
        -------
        idx : ndarray of int64, shape (N, S)
            Compact cell numbers, increasing, padded with -1.
        count : ndarray of int64, shape (N,)
            Number of kept cells found for each point.
        """
        idx, _ = super().touching(X, pou)
        mapped = np.where(idx >= 0, self.compact[np.maximum(idx, 0)], -1)
        order = np.argsort(mapped < 0, axis=1, kind="stable")
        mapped = np.take_along_axis(mapped, order, axis=1)
        return np.ascontiguousarray(mapped), (mapped >= 0).sum(axis=1)

    def _kernel(self, X, sub, alpha, W, B, act, pou):
        a1, a2 = alpha_axes(alpha)
        return _k.evaluate_terms(X, sub, self.centers, self.radii, W, B, self.clamp,
                                 act, pou, np.array([a1], np.int64),
                                 np.array([a2], np.int64), np.ones((1, X.shape[0])))

    def evaluate(self, X, sub, terms):
        """Evaluate ``sum_k coef_k D^(alpha_k)(psi~_n phi_nj)`` with the normalised partition.

        Parameters
        ----------
        X : ndarray, shape (N, d)
            Points inside the box (contiguous float64).
        sub : ndarray of int64, shape (N, S)
            Compact cells per point, -1 padded (from :meth:`touching`).
        terms : list of (alpha, coef)
            Multi-indices of order <= 2 and their (N,) coefficients.

        Returns
        -------
        ndarray, shape (N, S, features)
            Zeros in padded slots.
        """
        # where every cell of the full grid covering a point is kept, the
        # partition already sums to 1 around it: the plain kernel is exact
        full, _ = Basis.touching(self, X)
        plain = np.all((full < 0) | (self.compact[np.maximum(full, 0)] >= 0), axis=1)
        if plain.all():
            return Basis.evaluate(self, X, sub, terms)
        if plain.any():
            out = np.empty((X.shape[0], sub.shape[1], self.features))
            out[plain] = Basis.evaluate(self, np.ascontiguousarray(X[plain]),
                                        np.ascontiguousarray(sub[plain]),
                                        [(a, np.broadcast_to(c, plain.shape)[plain])
                                         for a, c in terms])
            rest = ~plain
            out[rest] = self._normalised(np.ascontiguousarray(X[rest]),
                                         np.ascontiguousarray(sub[rest]),
                                         [(a, np.broadcast_to(c, rest.shape)[rest])
                                          for a, c in terms])
            return out
        return self._normalised(X, sub, terms)

    def pair_values(self, X, sub, terms, out=None, col=0, comps=None, ncomp=1):
        """:meth:`evaluate` in pair storage (see :meth:`Basis.pair_values`).

        Parameters
        ----------
        X : ndarray, shape (N, d)
            As for :meth:`evaluate`.
        sub : ndarray of int64, shape (N, S)
            As for :meth:`evaluate`.
        terms : list of (alpha, coef)
            As for :meth:`evaluate`.
        out : ndarray, shape (P, W), optional
            As for :meth:`Basis.pair_values`.
        col : int
            As for :meth:`Basis.pair_values`.
        comps : sequence of int, optional
            As for :meth:`Basis.pair_values`.
        ncomp : int
            As for :meth:`Basis.pair_values`.

        Returns
        -------
        rows, cells : ndarray of int64, shape (P,)
            Point and compact cell of each pair, in the row-major order of ``sub``.
        values : ndarray
            ``out`` (or the new array).
        """
        mask = sub >= 0
        rows = np.nonzero(mask)[0].astype(np.int64)
        J = self.features
        if out is None:
            out, col = np.empty((rows.size, ncomp * J)), 0
        comps = [0] * len(terms) if comps is None else list(comps)
        for c in range(ncomp):
            mine = [t for t, cc in zip(terms, comps) if cc == c]
            block = out[:, col + c * J:col + (c + 1) * J]
            if mine:
                block[...] = self.evaluate(X, sub, mine)[mask]
            else:
                block[...] = 0.0
        return rows, sub[mask], out

    def _normalised(self, X, sub, terms):
        d = self.dim
        order = max([sum(a) for a, _ in terms] + [0])
        axes = [()] + [(a,) for a in range(d)] * (order >= 1) + \
            [(a, b) for a in range(d) for b in range(a, d)] * (order >= 2)

        def key(ax):
            return tuple(ax.count(i) for i in range(d))

        # derivatives of psi_n alone: features phi = sin(0 . t + pi/2) = 1
        W1 = np.zeros((self.n_cells, 1, d))
        B1 = np.full((self.n_cells, 1), np.pi / 2)
        sin = 1
        P = {ax: self._kernel(X, sub, key(ax), W1, B1, sin, self.pou_code)[:, :, 0]
             for ax in axes}
        S = {ax: P[ax].sum(axis=1)[:, None] for ax in axes}
        s0 = S[()]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(s0 > 0, 1.0 / s0, 0.0)
        Q = {(): P[()] * inv}  # derivatives of the normalised partition
        for ax in axes[1:]:
            if len(ax) == 1:
                Q[ax] = (P[ax] - Q[()] * S[ax]) * inv
            else:
                a, b = ax
                Q[ax] = (P[ax] - Q[(a,)] * S[(b,)] - Q[(b,)] * S[(a,)]
                         - Q[()] * S[ax]) * inv
        # derivatives of the features alone (psi_a's indicator is 1)
        F = {ax: self._kernel(X, sub, key(ax), self.weights, self.biases,
                              self.act_code, 0) for ax in axes}
        out = np.zeros((X.shape[0], sub.shape[1], self.features))
        for alpha, c in terms:
            ax = tuple(i for i in range(d) for _ in range(alpha[i]))
            if len(ax) == 0:
                v = Q[()][:, :, None] * F[()]
            elif len(ax) == 1:
                v = Q[ax][:, :, None] * F[()] + Q[()][:, :, None] * F[ax]
            else:
                a, b = ax
                v = (Q[ax][:, :, None] * F[()] + Q[(a,)][:, :, None] * F[(b,)]
                     + Q[(b,)][:, :, None] * F[(a,)] + Q[()][:, :, None] * F[ax])
            out += np.broadcast_to(c, (X.shape[0],))[:, None, None] * v
        return out


def restrict(geometry, basis):
    """Return the :class:`DomainBasis` of ``basis`` on ``geometry``.

    Parameters
    ----------
    geometry : rankcore.geometry.Geometry
        The domain.
    basis : rankcore.rfm.basis.Basis
        The basis on the geometry's bounding box, with ``pou="b"``.

    Returns
    -------
    DomainBasis
        ``basis`` restricted to the cells that :func:`kept_cells` keeps.

    Raises
    ------
    ValueError
        If no cell meets the domain, or the basis uses psi_a.
    """
    if basis.pou_code == 0:
        raise ValueError("pou='a' is not available on a geometry (its continuity "
                         "rows need the full grid of cells); use pou='b'")
    keep = kept_cells(geometry, basis)
    if not keep.any():
        raise ValueError(
            f"no cell of the {basis.ncell} grid on the bounding box of {geometry!r} "
            "has an interior point of the domain among its probe points; the "
            "domain is too thin for this grid: use more subdomains")
    return DomainBasis(basis, keep)


def check_in_domain(geometry, basis, X, name):
    """Refuse points outside the domain, or covered by no kept cell.

    Parameters
    ----------
    geometry : rankcore.geometry.Geometry
        The domain.
    basis : DomainBasis
        The basis restricted to the domain.
    X : ndarray, shape (N, d)
        Points already checked against the bounding box.
    name : str
        Argument name for the message.

    Raises
    ------
    ValueError
        Naming how many points are outside and the first of them.
    """
    box = basis.box
    tol = BOUNDARY_TOL * float(np.linalg.norm(box[:, 1] - box[:, 0]))
    s = geometry.sdf(X)
    out = s > tol
    if out.any():
        i = int(np.argmax(out))
        raise ValueError(
            f"{name} has {int(out.sum())} points outside the domain {geometry!r}; "
            f"the first is point {i}: {X[i].tolist()} (signed distance {s[i]:.3e})")
    _, count = basis.touching(X)
    bare = count == 0
    if bare.any():
        i = int(np.argmax(bare))
        raise ValueError(
            f"{name} has {int(bare.sum())} points of the domain that no kept cell "
            f"covers (a part of the domain too thin for the {basis.ncell} grid); "
            f"the first is point {i}: {X[i].tolist()}; use another subdomains grid")


def domain_collocation_points(geometry, box, ncell, per):
    """Return default collocation points on a geometry.

    Interior: the uniform grid that the bounding box would get (``per``
    points per cell and dimension, without the box's end points), kept where
    ``sdf < 0``.  Boundary: :meth:`~rankcore.geometry.Geometry.sample_boundary`
    (seed 0) with as many points as the boundary length (area) holds at the
    grid's spacing.

    Parameters
    ----------
    geometry : rankcore.geometry.Geometry
        The domain.
    box : ndarray, shape (d, 2)
        Its bounding box.
    ncell, per : tuple of int
        Cells and points per cell, per dimension.

    Returns
    -------
    X_interior, X_boundary : ndarray
        Interior points, shape (N_i, d), and boundary points, shape
        (N_b, d), clipped to ``box``.

    Examples
    --------
    >>> from rankcore.geometry import Box, Disk
    >>> g = Box([(0, 1), (0, 1)]) - Disk((0.5, 0.5), 0.25)
    >>> Xi, Xb = domain_collocation_points(g, g.bbox, (2, 2), (5, 5))
    >>> bool(g.contains(Xi).all()), Xb.shape[0] >= 56
    (True, True)
    """
    from .assembly import interior_grid_1d

    d = box.shape[0]
    n = [per[i] * ncell[i] for i in range(d)]
    axes = [interior_grid_1d(box[i, 0], box[i, 1], n[i]) for i in range(d)]
    Xi = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    Xi = Xi[geometry.sdf(Xi) < 0.0]
    spacing = float(np.mean((box[:, 1] - box[:, 0]) / np.array(n)))
    nb = max(8, int(np.ceil(geometry.boundary_measure / spacing ** (d - 1))))
    Xb, _ = geometry.sample_boundary(nb, seed=0)
    return np.ascontiguousarray(Xi), np.clip(Xb, box[:, 0], box[:, 1])
