"""Multifrontal Householder QR with nested dissection of the subdomain grid.

The RFM least-squares matrix couples a subdomain only to its grid
neighbours (a row touches the cells whose partition function covers its
point).  Eliminating the subdomains in *nested-dissection* order keeps the
factor small: the grid of cells is cut in two by one layer of cells (the
separator) along its longest axis, each half is cut again, and so on down
to leaves of a few cells.  Leaves are eliminated first, then separators,
the top separator last.  No row touches both halves of a cut, so the two
halves are independent until their separator.

Each node of that tree owns a *front*: the rows whose first eliminated
subdomain is one of the node's (its "pivot" subdomains), plus the
*contribution blocks* its children passed up.  A Householder QR of the
whole front (pivot columns first, then the columns of not yet eliminated
neighbours, then the right-hand side) leaves

* the pivot rows ``[R_piv  R_other | y]``, kept for the back substitution;
* at most ``n_other + 1`` further rows (upper trapezoidal), the contribution
  block handed to the parent.  Rows beyond that carry only the residual and
  are dropped, which bounds every front by its width.

This is Householder QR of a row- and column-permuted matrix: the same
backward stability as dense QR (no normal equations, no pivoting), with
work dominated by the top separator, ``O((n_sep J)^3)`` for ``n_sep``
separator cells of ``J`` features: ``O(N^1.5)`` in 2-D and ``O(N^2)`` in
3-D for ``N`` unknowns, against ``O(N^2)`` / ``O(N^2.33)`` for the banded
(one-sweep) order and ``O(N^3)`` for dense QR.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

from ._kernels import scatter_dense
from .qr import FrontStep, QRFactor, guard_diagonal, hager_inverse_norm, panel_block

__all__ = ["solve_multifrontal", "dissection_tree"]


def dissection_tree(coords, leaf_size):
    """Nested-dissection elimination tree of cells with integer grid coordinates.

    Parameters
    ----------
    coords : ndarray of int, shape (n_blocks, d)
        Grid index of every block (cell); rows may only couple blocks whose
        coordinates differ by at most 1 in every axis.
    leaf_size : int
        A set of at most this many cells (or one that is one cell thick) is
        a leaf.

    Returns
    -------
    pivots : list of ndarray
        Blocks eliminated at each node, nodes in elimination (post) order.
    parent : ndarray of int
        Parent node of each node (-1 for the root).

    Examples
    --------
    >>> import numpy as np
    >>> piv, parent = dissection_tree(np.arange(5)[:, None], 1)   # 5 cells in a row
    >>> [p.tolist() for p in piv], parent.tolist()
    ([[0, 1], [3, 4], [2]], [2, 2, -1])
    """
    coords = np.asarray(coords, np.int64)
    pivots, parent = [], []

    def build(idx):
        c = coords[idx]
        ext = c.max(axis=0) - c.min(axis=0)
        a = int(np.argmax(ext))
        if idx.size <= leaf_size or ext[a] < 2:
            pivots.append(np.sort(idx))
            parent.append(-1)
            return len(pivots) - 1
        mid = (c[:, a].min() + c[:, a].max()) // 2
        kids = [build(part) for part in (idx[c[:, a] < mid], idx[c[:, a] > mid])
                if part.size]
        sep = idx[c[:, a] == mid]
        if sep.size == 0:  # a hole in the grid: the halves are independent
            sep = np.empty(0, np.int64)
        pivots.append(np.sort(sep))
        parent.append(-1)
        me = len(pivots) - 1
        for k in kids:
            parent[k] = me
        return me

    build(np.arange(coords.shape[0]))
    return pivots, np.array(parent, np.int64)


def solve_multifrontal(rows, blocks, vals, rhs, n_rows, n_blocks, coords, *,
                       leaf_size=None, keep=False):
    """Least squares by multifrontal QR in nested-dissection order.

    Parameters
    ----------
    rows, blocks : ndarray of int64, shape (P,)
        Row and block of each pair (pair storage, see :mod:`rankcore.rfm.lstsq`).
    vals : ndarray, shape (P, J)
        The ``J`` values of each pair.
    rhs : ndarray, shape (n_rows,)
        Right-hand side.
    n_rows, n_blocks : int
        Number of rows and of blocks.
    coords : ndarray of int, shape (n_blocks, d)
        Grid coordinates of the blocks; a row may only touch blocks whose
        coordinates differ by at most 1 per axis (any partition of unity on
        a grid of cells, including interface rows between neighbours).
    leaf_size : int, optional
        Cells per leaf (default ``2**d``).
    keep : bool
        Also return the factorization, a :class:`~rankcore.rfm.lstsq.QRFactor`
        for other right-hand sides (it keeps every front's Householder
        vectors).

    Returns
    -------
    x : ndarray, shape (n_blocks, J)
        The least-squares solution, one row per block.
    cond : float
        Hager's 1-norm condition estimate of the triangular factor.
    factor : QRFactor
        Only with ``keep=True``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> coords = np.array([[i] for i in range(6)])        # 6 cells in a row
    >>> rows = np.repeat(np.arange(30), 2)                # each row: 2 cells
    >>> blocks = np.stack([np.minimum(np.arange(30) // 5, 4),
    ...                    np.minimum(np.arange(30) // 5, 4) + 1], 1).ravel()
    >>> vals = rng.standard_normal((60, 3))
    >>> x_true = rng.standard_normal((6, 3))
    >>> b = np.bincount(rows, np.einsum("pj,pj->p", vals, x_true[blocks]), 30)
    >>> x, cond = solve_multifrontal(rows, blocks, vals, b, 30, 6, coords)
    >>> bool(np.allclose(x, x_true))
    True
    """
    J = vals.shape[1]
    coords = np.asarray(coords, np.int64)
    d = coords.shape[1]
    pivots, parent = dissection_tree(coords, leaf_size or 2 ** d)
    n_nodes = len(pivots)
    pos = np.empty(n_blocks, np.int64)   # elimination position of every block
    node_of = np.empty(n_blocks, np.int64)
    k = 0
    for v, piv in enumerate(pivots):
        pos[piv] = np.arange(k, k + piv.size)
        node_of[piv] = v
        k += piv.size
    # every row goes to the node of its first eliminated block
    first = np.full(n_rows, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, rows, pos[blocks])
    empty = first == np.iinfo(np.int64).max
    first[empty] = 0  # all-zero rows: harmless anywhere
    order_of_pos = np.argsort(pos)
    row_node = node_of[order_of_pos[first]]
    pair_node = row_node[rows]
    # a row may only reach the blocks of its node and of the node's ancestors
    # (the subtree of node v is the post-order range [lowest[v], v])
    lowest = np.arange(n_nodes)
    for v in range(n_nodes):
        if parent[v] >= 0:
            lowest[parent[v]] = min(lowest[parent[v]], lowest[v])
    bn = node_of[blocks]
    bad = (lowest[bn] > pair_node) | (bn < pair_node)
    if bad.any():
        p = int(np.argmax(bad))
        raise ValueError(
            f"solver='multifrontal' needs rows that couple only neighbouring "
            f"cells (grid coordinates differing by at most 1), but row "
            f"{int(rows[p])} couples cells at {coords[blocks[rows == rows[p]]].tolist()}; "
            "use solver='banded'")
    # rows touching one cell only (inside it, away from the overlaps) are
    # reduced per cell to their (J + 1)-row triangle before the front's QR
    rmax = np.full(n_rows, -1, np.int64)
    np.maximum.at(rmax, rows, blocks)
    rmin = np.full(n_rows, n_blocks, np.int64)
    np.minimum.at(rmin, rows, blocks)
    private = rmax == rmin
    porder = np.argsort(pair_node, kind="stable")
    pstart = np.searchsorted(pair_node[porder], np.arange(n_nodes + 1))
    rorder = np.argsort(row_node, kind="stable")
    rstart = np.searchsorted(row_node[rorder], np.arange(n_nodes + 1))

    contrib = [[] for _ in range(n_nodes)]  # (blocks, upper-trapezoidal rows)
    factors = [None] * n_nodes
    steps = [] if keep else None  # what QRFactor.solve replays
    local = np.empty(n_rows, np.int64)
    for v in range(n_nodes):
        piv = pivots[v]
        own = rorder[rstart[v]:rstart[v + 1]]
        psel = porder[pstart[v]:pstart[v + 1]]
        others = set(blocks[psel].tolist())
        for cb, _ in contrib[v]:
            others.update(cb.tolist())
        others.difference_update(piv.tolist())
        other = np.array(sorted(others, key=lambda b: pos[b]), np.int64)
        cols = np.concatenate([piv, other])
        colpos = np.full(n_blocks, -1, np.int64)
        colpos[cols] = np.arange(cols.size)
        kp = piv.size * J
        width = cols.size * J
        own, psel, heads = _private_triangles(own, psel, rows, blocks, vals, rhs,
                                              private, rmin, local, J, keep)
        top = sum(H.shape[0] for _, H, _ in heads)
        m = top + own.size + sum(C.shape[0] for _, C in contrib[v])
        F = np.zeros((max(m, kp), width + 1), order="F")
        r0 = 0
        for b, H, _ in heads:
            F[r0:r0 + H.shape[0], colpos[b] * J:(colpos[b] + 1) * J] = H[:, :J]
            F[r0:r0 + H.shape[0], -1] = H[:, -1]
            r0 += H.shape[0]
        local[own] = top + np.arange(own.size)
        scatter_dense(F, local[rows[psel]], colpos[blocks[psel]] * J, vals[psel])
        F[top:top + own.size, -1] = rhs[own]
        r0 = top + own.size
        for cb, C in contrib[v]:
            r1 = r0 + C.shape[0]
            for j, b in enumerate(cb.tolist()):
                c0 = colpos[b] * J
                F[r0:r1, c0:c0 + J] = C[:, j * J:(j + 1) * J]
            F[r0:r1, -1] = C[:, -1]
            r0 = r1
        contrib[v] = None
        kept_heads = [h for _, _, h in heads]
        if kp == 0:  # an empty separator: pass everything up
            up = parent[v] >= 0 and m
            if up:
                contrib[parent[v]].append((other, F[:m]))
            factors[v] = None
            if keep:
                steps.append(FrontStep(kept_heads, own, m, None, None, None,
                                       int(parent[v]) if up else -1))
            continue
        M = F.shape[0]
        nb = panel_block(kp)
        qr, T, info = lapack.dgeqrt(nb, F[:, :kp], overwrite_a=1)
        if info != 0:  # pragma: no cover - LAPACK argument error
            raise RuntimeError(f"dgeqrt failed with info={info}")
        rest, info = lapack.dgemqrt(qr, T, F[:, kp:], side="L", trans="T",
                                    overwrite_c=1)
        if info != 0:  # pragma: no cover
            raise RuntimeError(f"dgemqrt failed with info={info}")
        R = guard_diagonal(np.triu(qr[:kp, :kp]))
        factors[v] = (piv, other, R, np.array(rest[:kp, :-1]), rest[:kp, -1].copy())
        up = parent[v] >= 0 and M > kp and other.size
        collapse = None
        if up:
            C = rest[kp:]
            if C.shape[0] > C.shape[1]:  # taller than wide: keep its R only
                C, ctau, _, info = lapack.dgeqrf(np.asfortranarray(C), overwrite_a=1,
                                                 lwork=max(1, 64 * C.shape[1]))
                if keep:
                    collapse = (C, ctau)
                C = np.triu(C[:C.shape[1]])
            else:
                C = np.array(C)
            contrib[parent[v]].append((other, C))
        if keep:
            steps.append(FrontStep(kept_heads, own, M, np.array(qr, order="F"), T.copy(),
                                   collapse, int(parent[v]) if up else -1))
        del F, rest, qr, T
    x = _back_substitute(factors, [f[4] if f is not None else None for f in factors],
                         n_blocks, J)
    cond = _cond(factors, n_blocks, J)
    if keep:
        return x, cond, QRFactor(steps, lambda ys: _back_substitute(factors, ys, n_blocks, J),
                                 n_rows)
    return x, cond


def _back_substitute(factors, ys, n_blocks, J):
    """Solve the block triangular system of the fronts with right-hand sides ``ys``."""
    x = np.zeros((n_blocks, J))
    for v in range(len(factors) - 1, -1, -1):
        if factors[v] is None:
            continue
        piv, other, R, S, _ = factors[v]
        y = ys[v]
        if other.size:
            y = y - S @ x[other].ravel()
        x[piv] = sla.solve_triangular(R, y, check_finite=False).reshape(piv.size, J)
    return x


def _private_triangles(own, psel, rows, blocks, vals, rhs, private, cell, local, J,
                       keep=False):
    """Householder-reduce each cell's private rows to a (J + 1)-row triangle.

    Returns the remaining rows and pairs and a list of ``(cell, triangle,
    kept)`` with the right-hand side in the triangle's last column; ``kept``
    is ``(rows, reflectors, tau)`` with ``keep`` (for
    :class:`~rankcore.rfm.lstsq.QRFactor`), else None.  Cells with at most
    ``2 (J + 1)`` private rows are left as they are.
    """
    po = own[private[own]]
    if po.size <= 2 * (J + 1):
        return own, psel, []
    heads = []
    done = []
    cells, counts = np.unique(cell[po], return_counts=True)
    pp = psel[private[rows[psel]]]
    for b in cells[counts > 2 * (J + 1)].tolist():
        pr = po[cell[po] == b]
        sel = pp[blocks[pp] == b]
        local[pr] = np.arange(pr.size)
        H = np.zeros((pr.size, J + 1), order="F")
        scatter_dense(H, local[rows[sel]], np.zeros(sel.size, np.int64), vals[sel])
        H[:, -1] = rhs[pr]
        H, htau, _, info = lapack.dgeqrf(H, overwrite_a=1, lwork=max(1, 64 * (J + 1)))
        heads.append((b, np.triu(H[:J + 1]), (pr, H, htau) if keep else None))
        done.append(pr)
    if not heads:
        return own, psel, []
    gone = np.zeros(local.size, bool)
    gone[np.concatenate(done)] = True
    return own[~gone[own]], psel[~gone[rows[psel]]], heads


def _cond(factors, n_blocks, J):
    """Hager's 1-norm condition estimate of the block triangular factor."""
    facs = [f for f in factors if f is not None]
    colsum = np.zeros((n_blocks, J))
    for piv, other, R, S, _ in facs:
        colsum[piv] += np.abs(R).sum(axis=0).reshape(piv.size, J)
        if other.size:
            colsum[other] += np.abs(S).sum(axis=0).reshape(other.size, J)
    norm = colsum.max()

    def solve(b):  # R^{-1} b
        b = b.reshape(n_blocks, J)
        return _back_substitute(factors, [None if f is None else b[f[0]].ravel()
                                          for f in factors], n_blocks, J).ravel()

    def solve_t(b):
        w = b.reshape(n_blocks, J).copy()
        z = np.zeros((n_blocks, J))
        for piv, other, R, S, _ in facs:
            zp = sla.solve_triangular(R, w[piv].ravel(), trans="T", check_finite=False)
            z[piv] = zp.reshape(-1, J)
            if other.size:
                w[other] -= (S.T @ zp).reshape(-1, J)
        return z.ravel()

    with np.errstate(over="ignore", invalid="ignore"):
        inv = hager_inverse_norm(solve, solve_t, n_blocks * J)
    return float(norm * inv) if np.isfinite(inv) else np.inf
