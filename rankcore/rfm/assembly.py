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

__all__ = ["default_points", "mean_rows", "block_pairs", "scale_rows", "linear_rows", "continuity_rows",
           "stack", "equation_orders", "interior_grid_1d"]


def default_points(features, d):
    """Points per cell and dimension giving about twice as many rows as unknowns.

    ``max(4, ceil((2 * features) ** (1 / d)))``.

    Examples
    --------
    >>> default_points(300, 2), default_points(40, 1), default_points(10, 3)
    (25, 80, 4)
    """
    return max(4, math.ceil((2 * features) ** (1.0 / d) - 1e-9))


def interior_grid_1d(lo, hi, n):
    """n interior points of a uniform grid on [lo, hi] (the end points are not used).

    Examples
    --------
    >>> interior_grid_1d(0.0, 1.0, 3).tolist()
    [0.25, 0.5, 0.75]
    """
    return lo + (hi - lo) * (np.arange(1, n + 1) / (n + 1.0))


def block_pairs(basis, X, terms, m, sub=None):
    """Pairs of ``sum_k coef_k D^(alpha_k) u_(c_k)`` at X.

    ``terms`` is a list of ``(component, alpha, coef (N,))``.  Returns
    ``(rows, blocks, vals)`` with ``vals`` of width ``m * J``.
    """
    if sub is None:
        sub, _ = basis.touching(X)
    J = basis.features
    mask = sub >= 0
    rows = np.nonzero(mask)[0].astype(np.int64)
    blocks = sub[mask]
    if m == 1:
        vals = basis.evaluate(X, sub, [(a, c) for _, a, c in terms])[mask]
        return rows, blocks, vals
    vals = np.zeros((rows.size, m * J))
    for comp in range(m):
        mine = [(a, c) for cc, a, c in terms if cc == comp]
        if mine:
            vals[:, comp * J:(comp + 1) * J] = basis.evaluate(X, sub, mine)[mask]
    return rows, blocks, vals


def scale_rows(rows, vals, rhs, n_rows, mode, weight=1.0):
    """Scale the rows in place (see the module docstring); returns (vals, rhs)."""
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


def linear_rows(basis, block, m, mode="row", row_weight=None):
    """The scaled rows of one :class:`~rankcore.rfm.equations.LinearBlock`."""
    rows, blocks, vals = block_pairs(basis, block.X, block.terms, m)
    rhs = np.array(block.rhs, dtype=np.float64)
    if row_weight is not None:
        vals *= row_weight[rows][:, None]
        rhs *= row_weight
    vals, rhs = scale_rows(rows, vals, rhs, block.X.shape[0], mode, block.weight)
    return rows, blocks, vals, rhs


def equation_orders(blocks, d, m):
    """Highest derivative order per component and coordinate, shape (m, d)."""
    orders = np.zeros((m, d), np.int64)
    for b in blocks:
        keys = [(c, a) for c, a, _ in b.terms] if hasattr(b, "terms") else b.parsed
        for c, alpha in keys:
            orders[c] = np.maximum(orders[c], alpha)
    return orders


def continuity_rows(basis, orders, m, per):
    """psi_a: continuity rows on every interior face, unit-norm rows.

    ``orders[c, a]`` is the equations' order in coordinate ``a`` for
    component ``c``: the value is always matched across faces normal to
    ``a``, the normal derivative too when that order is 2.  ``per`` face
    points per cell and dimension.
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
    """One unit-norm row per ``{component: value}``: the mean over the box is ``value``.

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
    """Concatenate ``(rows, blocks, vals, rhs)`` systems; returns the same plus n_rows."""
    offset = 0
    R, B, V, b = [], [], [], []
    for rows, blocks, vals, rhs in systems:
        R.append(rows + offset)
        B.append(blocks)
        V.append(vals)
        b.append(rhs)
        offset += rhs.shape[0]
    return (np.concatenate(R), np.concatenate(B).astype(np.int64),
            np.concatenate(V), np.concatenate(b), offset)
