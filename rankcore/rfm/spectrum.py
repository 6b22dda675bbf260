"""The ε-rank of an RFM basis from its block-sparse Gram matrix.

A point touches at most ``2**d`` cells (one for psi_a), so the Gram matrix
``G = Phi^T diag(w) Phi`` of the basis on a quadrature is block sparse:
block ``(n, m)`` is non-zero only when cells ``n`` and ``m`` are neighbours
(block diagonal for psi_a).  The ε-rank is the number of eigenvalues of
``G`` above ε, which by Sylvester's law of inertia is the number of
positive pivots of a symmetric factorisation ``G - ε I = L D L^T``.  The
factorisation runs over the cells in nested-dissection order (the tree of
:func:`rankcore.rfm.multifrontal.dissection_tree`): each front's own cells
are factored by Bunch-Kaufman (``scipy.linalg.ldl``) and the front passes
its Schur complement (one triangular solve and two symmetric products) to
its parent, so the work is that of a sparse Cholesky factorisation instead
of a dense eigensolver.  The fronts' structure and their shift-free part
are built once for all thresholds.

Accuracy: like the dense route ``eps_rank(spectrum(gram(...)), eps)``, the
count is exact for thresholds that are not within rounding
(``~ n * 2**-52 * lambda_max``) of an eigenvalue; Bunch-Kaufman pivoting is
restricted to each front's own cells, and the tests compare both routes.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import ldl, solve_triangular

from .multifrontal import dissection_tree

__all__ = ["block_gram", "gram_inertia", "basis_eps_rank"]


def block_gram(rows, blocks, vals, weights):
    """Return the non-zero blocks of ``Phi^T diag(w) Phi`` from pair storage.

    Parameters
    ----------
    rows, blocks : ndarray of int64, shape (P,)
        Point and cell of each pair.
    vals : ndarray, shape (P, J)
        Values of the features of cell ``blocks[p]`` at point ``rows[p]``.
    weights : ndarray, shape (N,)
        Quadrature weights (positive).

    Returns
    -------
    dict
        ``{(n, m): (J, J) block}`` for ``n <= m``.

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.array([0, 1, 1]); blocks = np.array([0, 0, 1])
    >>> vals = np.array([[1.0], [2.0], [3.0]])
    >>> G = block_gram(rows, blocks, vals, np.array([1.0, 0.5]))
    >>> {k: v.round(12).tolist() for k, v in sorted(G.items())}
    {(0, 0): [[3.0]], (0, 1): [[3.0]], (1, 1): [[4.5]]}
    """
    V = vals * np.sqrt(weights[rows])[:, None]
    order = np.lexsort((blocks, rows))
    r, b, V = rows[order], blocks[order], V[order]
    start = np.searchsorted(r, r, side="left")  # first pair of each pair's row
    k = np.arange(r.size) - start                # slot of the pair in its row
    P, Q = [], []
    for s in range(int(k.max()) + 1 if k.size else 0):
        p = np.flatnonzero(k == s)
        for t in range(s, int(k.max()) + 1):
            q = p + (t - s)
            ok = q < r.size
            ok[ok] &= r[q[ok]] == r[p[ok]]
            P.append(p[ok])
            Q.append(q[ok])
    P = np.concatenate(P)
    Q = np.concatenate(Q)
    key = b[P] * (int(b.max()) + 1) + b[Q]
    kord = np.argsort(key, kind="stable")
    P, Q, key = P[kord], Q[kord], key[kord]
    cut = np.flatnonzero(np.diff(key)) + 1
    out = {}
    for i0, i1 in zip(np.concatenate([[0], cut]), np.concatenate([cut, [key.size]])):
        pi, qi = P[i0:i1], Q[i0:i1]
        n, m = int(b[pi[0]]), int(b[qi[0]])
        if n == m:  # pi == qi: one symmetric product (syrk), exactly symmetric
            A = V[pi]
            M = A.T @ A
            out[(n, m)] = 0.5 * (M + M.T)
        else:
            out[(n, m)] = V[pi].T @ V[qi]
    return out


def _positive_pivots(D):
    """Positive eigenvalues of the block-diagonal (1x1 and 2x2) matrix ``D``."""
    a = np.diagonal(D).copy()
    e = np.diagonal(D, -1)
    two = np.flatnonzero(e != 0)  # 2x2 blocks (i, i+1)
    single = np.ones(a.size, bool)
    single[two] = False
    single[two + 1] = False
    det = a[two] * a[two + 1] - e[two] ** 2
    tr = a[two] + a[two + 1]
    return int(np.sum(a[single] > 0) + np.sum(det < 0) + 2 * np.sum((det > 0) & (tr > 0)))


def gram_inertia(G, coords, shift, J, leaf_size=None):
    """Return the number of eigenvalues of the block-sparse ``G`` above ``shift``.

    Parameters
    ----------
    G : dict
        Blocks ``{(n, m): (J, J)}`` with ``n <= m`` (:func:`block_gram`).
    coords : ndarray of int, shape (n_blocks, d)
        Grid coordinates of the blocks; non-zero blocks couple neighbours
        only (coordinates differing by at most 1).
    shift : float or array_like of float
        One or several shifts; the fronts' structure and their shift-free
        part are assembled once for all of them.
    J : int
        Block size.
    leaf_size : int, optional
        Cells per leaf of the dissection (default ``2**d``).

    Returns
    -------
    int or ndarray of int
        The count, or one count per shift (the shape of ``shift``).

    Examples
    --------
    >>> import numpy as np
    >>> G = {(0, 0): np.diag([3.0, 1e-3]), (0, 1): np.zeros((2, 2)),
    ...      (1, 1): np.diag([2.0, 1e-6])}
    >>> gram_inertia(G, np.array([[0], [1]]), 1e-4, 2)
    3
    >>> gram_inertia(G, np.array([[0], [1]]), [1e-7, 2.5], 2).tolist()
    [4, 1]
    """
    coords = np.asarray(coords, np.int64)
    shifts = np.asarray(shift, dtype=np.float64)
    plan = _front_plan(G, coords, J, leaf_size or 2 ** coords.shape[1])
    out = np.array([_inertia(plan, float(t), J) for t in shifts.ravel()], np.int64)
    return int(out[0]) if shifts.ndim == 0 else out.reshape(shifts.shape)


def _front_plan(G, coords, J, leaf_size):
    """Fronts in elimination order: (pivot cells, all cells, shift-free front, parent).

    The front of a node holds its pivot cells, then the cells its own
    blocks and its children's updates reach, in elimination order; its
    shift-free part is the sum of the node's own blocks of ``G``.
    """
    nb = coords.shape[0]
    pivots, parent = dissection_tree(coords, leaf_size)
    node_of = np.empty(nb, np.int64)
    for v, piv in enumerate(pivots):
        node_of[piv] = v
    pos = np.empty(nb, np.int64)
    pos[np.concatenate(pivots)] = np.arange(nb)
    own = [[] for _ in pivots]  # original blocks assembled at each node
    for (n, m) in G:
        first = n if pos[n] <= pos[m] else m
        own[node_of[first]].append((n, m))
    reach = [set() for _ in pivots]  # cells of each node's update to its parent
    plan = []
    for v, piv in enumerate(pivots):
        others = set(reach[v])
        for n, m in own[v]:
            others.update((n, m))
        others.difference_update(piv.tolist())
        rest = np.array(sorted(others, key=lambda c: pos[c]), np.int64)
        cells = np.concatenate([piv, rest])
        at = {int(c): i * J for i, c in enumerate(cells)}
        F = np.zeros((cells.size * J, cells.size * J))
        for n, m in own[v]:
            a, b = at[n], at[m]
            F[a:a + J, b:b + J] += G[(n, m)]
            if n != m:
                F[b:b + J, a:a + J] += G[(n, m)].T
        if parent[v] >= 0 and (rest.size if piv.size else cells.size):
            reach[parent[v]].update(rest.tolist())
        plan.append((piv, cells, F, int(parent[v])))
    return plan


def _inertia(plan, shift, J):
    """Positive pivots of ``G - shift I`` by the fronts of :func:`_front_plan`."""
    updates = [[] for _ in plan]
    total = 0
    for v, (piv, cells, F0, parent) in enumerate(plan):
        F = F0.copy() if updates[v] else F0
        if updates[v]:
            at = np.full(int(cells.max()) + 1, -1, np.int64)
            at[cells] = np.arange(cells.size) * J
            for ucells, U in updates[v]:
                idx = (at[ucells][:, None] + np.arange(J)).ravel()
                F[np.ix_(idx, idx)] += U
        updates[v] = None
        kp = piv.size * J
        if kp == 0:
            if parent >= 0 and cells.size:
                updates[parent].append((cells, F))
            continue
        A11 = F[:kp, :kp] - shift * np.eye(kp)
        L, D, perm = ldl(A11, lower=True, hermitian=True, check_finite=False)
        total += _positive_pivots(D)
        if parent >= 0 and cells.size > piv.size:
            # Schur complement A22 - A21 A11^-1 A12 = A22 - Y^T D^-1 Y with
            # Y = L^-1 A12; D = Q diag(delta) Q^T (its 2x2 blocks rotated)
            # turns Y^T D^-1 Y into P^T P - N^T N: two symmetric products
            Y = solve_triangular(L[perm], F[:kp, kp:][perm], lower=True,
                                 unit_diagonal=True, check_finite=False)
            delta = _rotate_pivots(D, Y)
            s = np.sqrt(1.0 / np.abs(delta))[:, None]
            pos = delta > 0
            P = np.ascontiguousarray(Y[pos] * s[pos])
            N = np.ascontiguousarray(Y[~pos] * s[~pos])
            U = F[kp:, kp:] - P.T @ P
            if N.shape[0]:
                U += N.T @ N
            updates[parent].append((cells[piv.size:], 0.5 * (U + U.T)))
    return total


def _rotate_pivots(D, Y):
    """Eigenvalues of the block-diagonal ``D``; rotate the rows of ``Y`` in place.

    Each 2x2 block ``Q diag(l1, l2) Q^T`` of ``D`` replaces its two rows of
    ``Y`` by ``Q^T Y``, so that ``Y^T D^-1 Y = Y'^T diag(delta)^-1 Y'``.
    Exactly zero pivots get the smallest positive double (as a singular
    pivot of an exactly dependent column).
    """
    delta = np.diagonal(D).copy()
    two = np.flatnonzero(np.diagonal(D, -1) != 0)
    if two.size:
        B = np.empty((two.size, 2, 2))
        B[:, 0, 0] = delta[two]
        B[:, 1, 1] = delta[two + 1]
        B[:, 0, 1] = B[:, 1, 0] = np.diagonal(D, -1)[two]
        lam, Q = np.linalg.eigh(B)
        y0, y1 = Y[two].copy(), Y[two + 1].copy()
        Y[two] = Q[:, 0, 0, None] * y0 + Q[:, 1, 0, None] * y1
        Y[two + 1] = Q[:, 0, 1, None] * y0 + Q[:, 1, 1, None] * y1
        delta[two], delta[two + 1] = lam[:, 0], lam[:, 1]
    delta[delta == 0] = np.finfo(float).tiny
    return delta


def basis_eps_rank(basis, X, weights, eps, relative=False):
    """Return the ε-rank of a :class:`~rankcore.rfm.basis.Basis` on a quadrature.

    Parameters
    ----------
    basis : rankcore.rfm.basis.Basis
        The basis whose Gram matrix is counted.
    X : ndarray, shape (N, d)
        Quadrature points (checked by the caller).
    weights : ndarray, shape (N,)
        Quadrature weights (positive).
    eps : float or array_like
        Thresholds; the count of eigenvalues ``> eps`` (``> eps * lambda_max``
        with ``relative``).
    relative : bool
        Whether ``eps`` is relative to the largest eigenvalue.

    Returns
    -------
    int or ndarray of int
        One count per threshold, the shape of ``eps``.
    """
    d = basis.dim
    rows, blocks, vals = basis.pairs(np.ascontiguousarray(X),
                                     [((0,) * d, np.ones(X.shape[0]))])
    G = block_gram(rows, blocks, vals, weights)
    e = np.asarray(eps, dtype=np.float64)
    if relative:
        e = e * _lambda_max(G, basis.n_cells, basis.features)
    return gram_inertia(G, basis.cell_index, e, basis.features)


def _lambda_max(G, nb, J):
    from scipy.sparse import bmat
    from scipy.sparse.linalg import eigsh

    grid = np.empty((nb, nb), dtype=object)
    for (n, m), M in G.items():
        grid[n][m] = M
        if n != m:
            grid[m][n] = M.T
    for n in range(nb):
        if grid[n][n] is None:
            grid[n][n] = np.zeros((J, J))
    A = bmat(grid, format="csr")
    if A.shape[0] <= 2:
        return float(np.linalg.eigvalsh(A.toarray())[-1])
    return float(eigsh(A, k=1, which="LA", tol=1e-12, return_eigenvectors=False)[0])
