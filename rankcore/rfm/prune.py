"""ε-rank-pruned random-feature bases (``RFM(..., prune_eps=eps)``).

Random features on one cell are far from independent: of 300 tanh features
on a cell, typically fewer than half have Gram eigenvalues above 1e-10.
Before the solve, each cell's features are reduced to an ε-linearly
independent subset:

1. on the cell, a Gauss-Legendre rule with ``default_points`` nodes per
   dimension (about twice as many nodes as features) gives the weighted
   feature matrix ``B_n = W^(1/2) Phi_n`` (the features alone, without the
   partition of unity), scaled so that its largest singular value is 1;
2. its ε-rank ``k_n`` is the number of singular values ``sigma`` with
   ``sigma**2 > eps`` (a *relative* threshold: eigenvalues of the cell's
   Gram matrix above ``eps * lambda_max``);
3. the features to keep are chosen by strong rank-revealing selection
   (:func:`rankcore.select_rows`, Gu-Eisenstat with ``f = 1``) on the top
   ``k`` right singular vectors: the kept features span those directions with
   ``sigma_min(V[kept]) >= 1/sqrt(1 + k (J - k))`` (the Hong-Pan bound).

Every cell keeps the same number ``k = max_n k_n`` of features (the solvers
store cells as equal blocks); ``n_kept_`` reports each cell's own ``k_n``
and ``features_`` the ``k`` used.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from ..subset import select_rows

__all__ = ["prune_basis"]


def _cell_rule(d, order):
    from scipy.special import roots_legendre

    x, w = roots_legendre(order)
    grids = np.meshgrid(*([x] * d), indexing="ij")
    T = np.stack([g.ravel() for g in grids], axis=1)
    W = w
    for _ in range(d - 1):
        W = np.multiply.outer(W, w)
    return T, np.ravel(W)


def prune_basis(basis, eps):
    """Return a copy of ``basis`` keeping an ε-independent subset of features per cell.

    Parameters
    ----------
    basis : rankcore.rfm.basis.Basis
        The basis to prune (left unchanged).
    eps : float
        Relative threshold on the cell Gram eigenvalues, in (0, 1).

    Returns
    -------
    pruned : Basis
        Same cells, ``features = k`` (the largest per-cell ε-rank).
    n_kept : ndarray of int64, shape (n_cells,)
        Each cell's own ε-rank.
    kept : ndarray of int64, shape (n_cells, k)
        Indices of the kept features in the original basis.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.rfm.basis import Basis
    >>> b = Basis(np.array([[0.0, 1.0], [0.0, 1.0]]), (2, 2), 60, "b", "tanh", 0.5,
    ...           np.random.default_rng(0))
    >>> p, n_kept, kept = prune_basis(b, 1e-10)
    >>> p.features < 60, bool(p.features == n_kept.max()), kept.shape == (4, p.features)
    (True, True, True)
    """
    d = basis.dim
    J = basis.features
    order = max(4, math.ceil((2 * J) ** (1.0 / d) - 1e-9))
    T, w = _cell_rule(d, order)
    sw = np.sqrt(w)[:, None]
    from .. import activations

    act = next(a for a in map(activations.get, activations.names())
               if a.code == basis.act_code)
    ranks, Vs = [], []
    for n in range(basis.n_cells):
        Z = T @ basis.weights[n].T + basis.biases[n]  # local coordinates t in [-1, 1]^d
        B = sw * act.f(Z)
        _, s, Vt = np.linalg.svd(B, full_matrices=False)
        s = s / s[0]
        ranks.append(int(np.sum(s * s > eps)))
        Vs.append(Vt)
    n_kept = np.array(ranks, np.int64)
    k = int(n_kept.max())
    kept = np.empty((basis.n_cells, k), np.int64)
    for n, Vt in enumerate(Vs):
        kept[n] = select_rows(np.ascontiguousarray(Vt[:k].T)).indices
    out = copy.copy(basis)
    out.features = k
    rows = np.arange(basis.n_cells)[:, None]
    out.weights = np.ascontiguousarray(basis.weights[rows, kept])
    out.biases = np.ascontiguousarray(basis.biases[rows, kept])
    return out, n_kept, kept
