"""Rows of the block-sparse RFM least-squares system.

Every equation block becomes pair-stored rows (see :mod:`rankcore.rfm.lstsq`):
row ``r`` has the values ``vals[p]`` in the unknowns of cell ``blocks[p]``.
With ``m`` components the unknowns of a cell are ``m * J`` wide, component
``c`` owning columns ``c*J ... c*J + J - 1``.  Rows are scaled here:

* ``"row"``: every row to unit 2-norm (PDE collocation, as in the RFM
  papers), then times the block's weight;
* ``"block"``: the whole block by its largest row norm (data and L2 fits:
  it keeps the least-squares objective).

For the indicator partition (``pou="a"``) the cells are coupled only through
continuity rows on interior faces: the value always, and the normal
derivative where the equations are of second order in that coordinate.
"""

from __future__ import annotations

import math

import numpy as np

from . import lstsq as _ls

__all__ = ["default_points", "mean_rows", "block_pairs", "off_kinks", "scale_rows", "linear_rows",
           "linear_row_chunks", "ROW_CHUNK", "continuity_rows",
           "stack", "equation_orders", "interior_grid_1d"]


#: Points per chunk when a linear block is assembled (:func:`linear_row_chunks`).
ROW_CHUNK = 1024


def default_points(features, d):
    """Return the points per cell and dimension for about twice as many rows as unknowns.

    Parameters
    ----------
    features : int
        Features per cell.
    d : int
        Dimension.

    Returns
    -------
    int
        ``max(p, ceil((2 * features) ** (1 / d)))`` with ``p = 4`` in 1-D and
        2-D and ``p = 6`` in 3-D: with 5 points per cell and dimension
        (``2 * features`` rows for 60 features) the psi_b overlaps of a 3-D
        grid are too thinly sampled (Poisson on 3x3x3 cells x 60 features:
        relative error 0.44 at 5 points, 4e-3 at 6).

    Examples
    --------
    >>> default_points(300, 2), default_points(40, 1), default_points(60, 3), default_points(1000, 3)
    (25, 80, 6, 13)
    """
    return max(6 if d == 3 else 4, math.ceil((2 * features) ** (1.0 / d) - 1e-9))


def interior_grid_1d(lo, hi, n):
    """Return n interior points of a uniform grid on [lo, hi] (without the end points).

    Parameters
    ----------
    lo, hi : float
        Ends of the interval.
    n : int
        Number of points.

    Returns
    -------
    ndarray, shape (n,)
        ``lo + (hi - lo) * k / (n + 1)`` for ``k = 1 ... n``.

    Examples
    --------
    >>> interior_grid_1d(0.0, 1.0, 3).tolist()
    [0.25, 0.5, 0.75]
    """
    return lo + (hi - lo) * (np.arange(1, n + 1) / (n + 1.0))


# psi_b is only C^1: its second derivative jumps where a cell's local
# coordinate is +-0.75 or +-1.25, i.e. at the fractions 1/8 and 7/8 of a cell.
# A point there is evaluated by each cell from its own rounded coordinate, so
# one cell may take the left limit and its neighbour the right one (or be left
# out), and the row then asks for a jump that no smooth solution has.  Such
# points are moved by _KINK_SHIFT cells (the rhs stays where it was).
_KINK_TOL = 1e-11
_KINK_SHIFT = 4e-11


def off_kinks(basis, X):
    """Return X with points on a psi_b kink moved off it, or X itself if none is.

    Parameters
    ----------
    basis : rankcore.rfm.basis.Basis
        The basis whose cells place the kinks.
    X : ndarray, shape (N, d)
        Points inside the box.

    Returns
    -------
    ndarray, shape (N, d)
        A copy where a coordinate within ``1e-11`` cells of a fraction 1/8
        or 7/8 of a cell (where psi_b's second derivative jumps) is moved
        ``4e-11`` cells up; ``X`` itself when no point is near one (or for
        ``pou="a"``).

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.rfm.basis import Basis
    >>> b = Basis(np.array([[0.0, 1.0]]), (2,), 3, "b", "tanh", 1.0,
    ...           np.random.default_rng(0))
    >>> X = np.array([[0.0625], [0.3]])
    >>> Y = off_kinks(b, X)
    >>> bool(0.0625 < Y[0, 0] < 0.0625 + 1e-10), float(Y[1, 0])
    (True, 0.3)
    >>> Z = X[1:]
    >>> off_kinks(b, Z) is Z
    True
    """
    if basis.pou_code != 1 or X.shape[0] == 0:
        return X
    s = (X - basis.lo) / basis.h
    frac = s - np.floor(s)
    near = (np.abs(frac - 0.125) < _KINK_TOL) | (np.abs(frac - 0.875) < _KINK_TOL)
    if not near.any():
        return X
    hi = basis.box[:, 1]
    Xn = np.where(near, np.minimum(X + _KINK_SHIFT * basis.h, hi), X)
    return np.ascontiguousarray(Xn)


def block_pairs(basis, X, terms, m, sub=None):
    """Return the pairs of ``sum_k coef_k D^(alpha_k) u_(c_k)`` at X.

    Parameters
    ----------
    basis : rankcore.rfm.basis.Basis
        The basis to evaluate.
    X : ndarray, shape (N, d)
        Points inside the box.
    terms : list of (component, alpha, coef)
        ``coef`` an (N,) array.
    m : int
        Number of components.
    sub : ndarray, optional
        Cells per point; by default those covering it.

    Returns
    -------
    rows, blocks : ndarray of int64, shape (P,)
        Point (row) and cell of each pair.
    vals : ndarray, shape (P, m * J)
        Component ``c`` in columns ``c*J ... c*J + J - 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.rfm.basis import Basis
    >>> b = Basis(np.array([[0.0, 1.0]]), (1,), 3, "b", "tanh", 1.0,
    ...           np.random.default_rng(0))
    >>> rows, blocks, vals = block_pairs(b, np.array([[0.5]]), [(1, (0,), np.ones(1))], 2)
    >>> vals.shape, bool(np.all(vals[:, :3] == 0))
    ((1, 6), True)
    """
    if any(sum(a) == 2 for _, a, _ in terms):
        Xk = off_kinks(basis, X)
        if Xk is not X:
            X, sub = Xk, None
    if sub is None:
        sub, _ = basis.touching(X)
    # every component in one pass: the features are evaluated once per pair
    return basis.pair_values(X, sub, [(a, c) for _, a, c in terms],
                             comps=[cc for cc, _, _ in terms], ncomp=m)


def scale_rows(rows, vals, rhs, n_rows, mode, weight=1.0):
    """Scale the rows (see the module docstring).

    Parameters
    ----------
    rows : ndarray of int64, shape (P,)
        Row of each pair.
    vals : ndarray, shape (P, W)
        Scaled in place.
    rhs : ndarray, shape (n_rows,)
        Right-hand side, one value per row.
    n_rows : int
        Number of rows.
    mode : {"row", "block"}
    weight : float
        Extra factor on every row.

    Returns
    -------
    vals, rhs : ndarray
        The scaled values (the same array) and a scaled copy of ``rhs``.

    Examples
    --------
    >>> import numpy as np
    >>> v, r = scale_rows(np.array([0, 1]), np.array([[3.0, 4.0], [0.0, 2.0]]),
    ...                   np.array([5.0, 2.0]), 2, "row")
    >>> v.round(12).tolist(), r.round(12).tolist()
    ([[0.6, 0.8], [0.0, 1.0]], [1.0, 1.0])
    """
    norms = _ls.row_norms(rows, vals, n_rows)
    if mode == "row":
        s = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 1.0)
    else:
        mx = norms.max() if norms.size else 0.0
        s = np.full(n_rows, 1.0 / mx if mx > 0 else 1.0)
    s *= weight
    vals *= s[rows][:, None]
    rhs = rhs * s
    return vals, rhs


def linear_rows(basis, block, m, mode="row", row_weight=None, row_scales=False):
    """Return the scaled rows of one :class:`~rankcore.rfm.equations.LinearBlock`.

    Parameters
    ----------
    basis : rankcore.rfm.basis.Basis
        The basis the rows are evaluated on.
    block : rankcore.rfm.equations.LinearBlock
        The validated block whose equations give the rows.
    m : int
        Number of components.
    mode : {"row", "block"}
        Row scaling (see :func:`scale_rows`); times the block's weight.
    row_weight : ndarray, optional
        Per-row factors applied before the scaling (quadrature weights).
    row_scales : bool
        Return each row's factor (scaling, weights) in place of the scaled
        right-hand side: the scaled right-hand side of any ``rhs`` is then
        that vector times ``rhs``.

    Returns
    -------
    rows, blocks, vals, rhs : ndarray
        One system in pair storage.
    """
    rows, blocks, vals = block_pairs(basis, block.X, block.terms, m)
    rhs = np.ones(block.X.shape[0]) if row_scales else np.array(block.rhs, dtype=np.float64)
    if row_weight is not None:
        vals *= row_weight[rows][:, None]
        rhs *= row_weight
    vals, rhs = scale_rows(rows, vals, rhs, block.X.shape[0], mode, block.weight)
    return rows, blocks, vals, rhs


def linear_row_chunks(basis, block, m, chunk=None, row_scales=False):
    """:func:`linear_rows` of a block, in systems of at most ``chunk`` points.

    With row scaling every row is scaled on its own, so the chunks are
    exactly the rows of the whole block; :func:`stack` then never holds a
    large block twice.

    Parameters
    ----------
    basis : rankcore.rfm.basis.Basis
        The basis the rows are evaluated on.
    block : rankcore.rfm.equations.LinearBlock
        The validated block whose equations give the rows.
    m : int
        Number of components.
    chunk : int, optional
        Points per chunk (default ``ROW_CHUNK``).
    row_scales : bool
        As for :func:`linear_rows`.

    Returns
    -------
    list of (rows, blocks, vals, rhs)
        Rows numbered within each chunk.
    """
    chunk = ROW_CHUNK if chunk is None else chunk
    N = block.X.shape[0]
    if N <= chunk:
        return [linear_rows(basis, block, m, row_scales=row_scales)]
    out = []
    for s in range(0, N, chunk):
        e = min(N, s + chunk)
        part = block._replace(X=block.X[s:e], rhs=block.rhs[s:e],
                              terms=[(c, a, coef[s:e]) for c, a, coef in block.terms])
        out.append(linear_rows(basis, part, m, row_scales=row_scales))
    return out


def equation_orders(blocks, d, m):
    """Return the highest derivative order per component and coordinate.

    Parameters
    ----------
    blocks : list of LinearBlock or NonlinearBlock
        Validated equation blocks.
    d, m : int
        Dimension and number of components.

    Returns
    -------
    ndarray of int64, shape (m, d)
        ``orders[c, a]``: the highest order in coordinate ``a`` of a
        derivative of component ``c`` in any block (0 if none).
    """
    orders = np.zeros((m, d), np.int64)
    for b in blocks:
        keys = [(c, a) for c, a, _ in b.terms] if hasattr(b, "terms") else b.parsed
        for c, alpha in keys:
            orders[c] = np.maximum(orders[c], alpha)
    return orders


def continuity_rows(basis, orders, m, per):
    """Return the continuity rows of psi_a on every interior face (unit norm).

    Parameters
    ----------
    basis : rankcore.rfm.basis.Basis
        The basis the rows are evaluated on.
    orders : ndarray, shape (m, d)
        ``orders[c, a]`` is the equations' order in coordinate ``a`` for
        component ``c``: the value is always matched across faces normal to
        ``a``, the normal derivative too when that order is 2.
    m : int
        Number of components.
    per : int
        Face points per cell and dimension.

    Returns
    -------
    list of (rows, blocks, vals, rhs)
        Empty for psi_b.
    """
    if basis.pou_code != 0:
        return []
    d = basis.dim
    lo, hi = basis.box[:, 0], basis.box[:, 1]
    out = []
    for a in range(d):
        if basis.ncell[a] < 2:
            continue
        other = [i for i in range(d) if i != a]
        axes = [interior_grid_1d(lo[i], hi[i], per * basis.ncell[i]) for i in other]
        if axes:
            G = np.meshgrid(*axes, indexing="ij")
            base = np.stack([g.ravel() for g in G], axis=1)
        else:
            base = np.zeros((1, 0))
        for k in range(1, basis.ncell[a]):
            xa = lo[a] + k * basis.h[a]
            Y = np.ascontiguousarray(np.insert(base, a, xa, axis=1))
            below = Y.copy()
            below[:, a] = xa - 0.5 * basis.h[a]
            cb, _ = basis.touching(below, pou=0)
            # the cell below the face (in coordinate a) and the one above
            sub = np.stack([cb[:, 0], cb[:, 0] + basis.strides[a]], axis=1)
            n = Y.shape[0]
            for comp in range(m):
                ops = [tuple(0 for _ in range(d))]
                if orders[comp, a] >= 2:
                    ops.append(tuple(int(i == a) for i in range(d)))
                for alpha in ops:
                    rows, blocks, vals = block_pairs(
                        basis, Y, [(comp, alpha, np.ones(n))], m, sub=sub)
                    # value below minus value above
                    vals[blocks != sub[rows, 0]] *= -1.0
                    vals, rhs = scale_rows(rows, vals, np.zeros(n), n, "row")
                    out.append((rows, blocks, vals, rhs))
    return out


def mean_rows(basis, m, means):
    """Return one unit-norm row per entry: the mean of a component over the box.

    Parameters
    ----------
    basis : rankcore.rfm.basis.Basis
        The basis the rows are evaluated on.
    m : int
        Number of components.
    means : dict
        ``{component: value}``.

    Returns
    -------
    list of (rows, blocks, vals, rhs)
        One system per entry of ``means``, each a single row (row 0).

    Notes
    -----
    The integral is a composite Gauss-Legendre rule on the cells with
    ``default_points`` nodes per cell and dimension; the row couples every
    cell (a point condition keeps the system sparser).
    """
    from ..quadrature import composite_gauss_legendre

    q = composite_gauss_legendre(basis.box, basis.ncell,
                                 default_points(basis.features, basis.dim))
    vol = float(np.prod(basis.box[:, 1] - basis.box[:, 0]))
    out = []
    for comp, value in means.items():
        rows, blocks, vals = block_pairs(basis, q.points, [(comp, (0,) * basis.dim,
                                                            q.weights / vol)], m)
        total = np.zeros((basis.n_cells, vals.shape[1]))
        np.add.at(total, blocks, vals)
        cells = np.arange(basis.n_cells, dtype=np.int64)
        v, rhs = scale_rows(np.zeros(basis.n_cells, np.int64), total,
                            np.array([float(value)]), 1, "row")
        out.append((np.zeros(basis.n_cells, np.int64), cells, v, rhs))
    return out


def stack(systems):
    """Concatenate ``(rows, blocks, vals, rhs)`` systems, renumbering the rows.

    The list is emptied as its systems are copied, so that each one can be
    freed as soon as it is in place: the peak is the result plus the largest
    system, not twice the result (linear blocks come in chunks of
    ``ROW_CHUNK`` points, see :func:`linear_row_chunks`).

    Parameters
    ----------
    systems : list of (rows, blocks, vals, rhs)
        Emptied on return.

    Returns
    -------
    rows, blocks, vals, rhs : ndarray
        The concatenated system, rows numbered in the order of ``systems``.
    n_rows : int
        Total number of rows.

    Examples
    --------
    >>> import numpy as np
    >>> one = (np.array([0]), np.array([0]), np.ones((1, 2)), np.array([1.0]))
    >>> two = (np.array([0, 1]), np.array([1, 0]), np.zeros((2, 2)), np.array([2.0, 3.0]))
    >>> systems = [one, two]
    >>> rows, blocks, vals, rhs, n = stack(systems)
    >>> rows.tolist(), blocks.tolist(), rhs.tolist(), n, systems
    ([0, 1, 2], [0, 1, 0], [1.0, 2.0, 3.0], 3, [])
    """
    P = sum(r.shape[0] for r, _, _, _ in systems)
    n_rows = sum(b.shape[0] for _, _, _, b in systems)
    W = systems[0][2].shape[1] if systems else 0
    R = np.empty(P, np.int64)
    B = np.empty(P, np.int64)
    V = np.empty((P, W))
    b = np.empty(n_rows)
    p = offset = 0
    systems.reverse()
    while systems:
        rows, blocks, vals, rhs = systems.pop()
        q = p + rows.shape[0]
        R[p:q] = rows + offset
        B[p:q] = blocks
        V[p:q] = vals
        b[offset:offset + rhs.shape[0]] = rhs
        p, offset = q, offset + rhs.shape[0]
        del rows, blocks, vals, rhs
    return R, B, V, b, n_rows
