"""Householder QR pieces shared by the block least-squares solvers.

The banded (:func:`~rankcore.rfm.lstsq.solve_banded`) and multifrontal
(:func:`~rankcore.rfm.multifrontal.solve_multifrontal`) QR both factor a
sequence of *fronts* (dense blocks of rows) with compact-WY Householder
panels.  This module holds what they share: the panel block size, the guard
against exact zeros on the diagonal of R, the record of a factorization
(:class:`FrontStep`, :class:`QRFactor`) that solves other right-hand sides
without refactoring, and Hager's estimator of ``||R^{-1}||_1``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.linalg import lapack

__all__ = ["PANEL_BLOCK", "panel_block", "guard_diagonal", "FrontStep", "QRFactor",
           "collapse_rhs", "hager_inverse_norm"]


#: Largest column block of the compact-WY panel QR of the banded and
#: multifrontal solvers (see :func:`panel_block`).
PANEL_BLOCK = 128


def panel_block(n):
    """Column block size for the compact-WY QR of an ``n``-column panel.

    Parameters
    ----------
    n : int
        Columns of the panel (a block's unknowns, a separator's size).

    Returns
    -------
    int
        32 up to 128 columns, 64 up to 512, else ``PANEL_BLOCK`` (128); never
        more than ``n``.

    Notes
    -----
    Measured with OpenBLAS on one thread (the banded solves of
    bench/rfm_pde.py's systems): 125 columns (1-D Helmholtz) 8.5 ms with
    blocks of 32 against 9.6 ms with 128; 250 columns (heat, 8 cells) 416
    against 430 ms with 128 and 457 with 32; 400 columns 225 against 230 ms;
    600 and 900 columns (elasticity, Stokes) 657 and 2599 ms with 128
    against 677 and 2680 with 64.  Smaller blocks do fewer flops in the
    triangular factor T; larger ones use level-3 BLAS better.

    Examples
    --------
    >>> panel_block(125), panel_block(250), panel_block(900), panel_block(20)
    (32, 64, 128, 20)
    """
    nb = 32 if n <= 128 else 64 if n <= 512 else PANEL_BLOCK
    return max(1, min(n, nb))


def guard_diagonal(R):
    """Replace exact zeros on the diagonal of a triangular factor, in place.

    An exact zero only happens for exactly dependent columns (duplicated
    features); ``eps`` times the largest diagonal entry there gives the
    minimum-effect solution for that column instead of inf/NaN, and the
    condition estimate still reports the singularity.  Used by the dense,
    banded and multifrontal QR.

    Parameters
    ----------
    R : ndarray, shape (n, n)
        Upper triangular; modified in place.

    Returns
    -------
    ndarray
        ``R``.

    Examples
    --------
    >>> import numpy as np
    >>> R = guard_diagonal(np.array([[2.0, 1.0], [0.0, 0.0]]))
    >>> bool(R[1, 1] == 2.0 * np.finfo(float).eps)
    True
    """
    d = np.abs(np.diagonal(R))
    zero = d == 0
    if zero.any():
        scale = d.max() if d.max() > 0 else 1.0
        idx = np.flatnonzero(zero)
        R[idx, idx] = np.finfo(np.float64).eps * scale
    return R


class FrontStep(NamedTuple):
    """One front of a block Householder QR, as :class:`QRFactor` replays it.

    The front's rows are, in order: the triangles of its private-row
    reductions (``heads``), the system rows ``rows``, the rows passed on by
    earlier fronts to this one (in the order they were passed), then zero
    rows up to ``m``.

    Parameters
    ----------
    heads : list of (ndarray, ndarray, ndarray)
        Per reduction ``(rows, qr, tau)``: the system rows reduced and the
        ``dgeqrf`` factors of their block with the right-hand side as last
        column (the triangle keeps that many rows).
    rows : ndarray of int64
        The system rows of the front.
    m : int
        Rows of the front.
    qr, T : ndarray or None
        The compact-WY reflectors of the pivot columns (``dgeqrt``); None
        for a front without pivots (its rows pass on unchanged).
    collapse : (ndarray, ndarray) or None
        ``dgeqrf`` factors that reduced the rows passed on to a triangle
        (the right-hand side its last column), or None.
    to : int
        The front that receives the rows left after the pivots; -1: none
        (they are residual).
    """

    heads: list
    rows: np.ndarray
    m: int
    qr: object
    T: object
    collapse: object
    to: int


def collapse_rhs(c, qr, tau):
    """The right-hand side column of a reduction replayed on ``c``.

    ``qr, tau`` reduced a block whose last column was the right-hand side:
    its first ``w - 1`` reflectors act on ``c``, the last one only gathers
    the rest of ``c`` into one entry, whose sign is immaterial (its row is
    zero in every unknown column).

    Parameters
    ----------
    c : ndarray of float64, shape (m,)
        The new right-hand side entries of the block's rows; may be
        overwritten.
    qr : ndarray of float64, shape (m, w)
        The ``dgeqrf`` reflectors of the block (its last column was the
        right-hand side).
    tau : ndarray of float64
        The ``dgeqrf`` scalar factors of the reflectors (at least ``w - 1``).

    Returns
    -------
    ndarray of float64, shape (w,)
        The first ``w - 1`` entries of ``Q^T c``, then the norm of the rest.
    """
    w = qr.shape[1]
    out, _, info = lapack.dormqr("L", "T", qr[:, :w - 1], tau[:w - 1], c[:, None],
                                 max(1, 64), overwrite_c=1)
    if info != 0:  # pragma: no cover - LAPACK argument error
        raise RuntimeError(f"dormqr failed with info={info}")
    return np.append(out[:w - 1, 0], np.linalg.norm(out[w - 1:, 0]))


class QRFactor:
    """The QR factorization of a block solve, for other right-hand sides.

    Made by ``solve_banded(..., keep=True)`` and
    ``solve_multifrontal(..., keep=True)``.  :meth:`solve` pushes a new
    right-hand side through the same Householder reflections, front by
    front, and back-substitutes with the same block triangle: a few
    matrix-vector products per front instead of a factorization.

    Parameters
    ----------
    steps : list of FrontStep
        The fronts in elimination order.
    back : callable
        ``back(ys) -> x``: the back substitution with the fronts' rotated
        right-hand sides ``ys`` (one array per front).
    n_rows : int
        Rows of the factored system.

    Examples
    --------
    >>> import numpy as np
    >>> rows, blocks = np.array([0, 1, 2]), np.array([0, 0, 0])
    >>> vals = np.array([[1.0], [1.0], [1.0]])
    >>> from rankcore.rfm.lstsq import solve_banded
    >>> x, cond, f = solve_banded(rows, blocks, vals, np.array([1.0, 2.0, 3.0]), 3, 1,
    ...                           keep=True)
    >>> x2, res = f.solve(np.array([2.0, 4.0, 6.0]))
    >>> round(float(x2[0, 0]), 12), round(float(res), 12)
    (4.0, 2.828427124746)
    """

    def __init__(self, steps, back, n_rows):
        self.steps = steps
        self.back = back
        self.n_rows = n_rows

    def solve(self, rhs):
        """Return the least-squares solution for ``rhs`` and its residual norm.

        Parameters
        ----------
        rhs : ndarray, shape (n_rows,)
            Right-hand side, rows as in the factored system.

        Returns
        -------
        x : ndarray, shape (n_blocks, J)
            The solution, one row per block.
        residual : float
            The 2-norm of the least-squares residual, from the rotated
            right-hand side (no product with the matrix).

        Raises
        ------
        ValueError
            If ``rhs`` is not a finite vector of ``n_rows`` values.
        """
        rhs = np.asarray(rhs, np.float64)
        if rhs.shape != (self.n_rows,) or not np.all(np.isfinite(rhs)):
            raise ValueError(f"rhs must be a finite vector of {self.n_rows} values (one per "
                             f"row of the factored system), got shape {rhs.shape}"
                             + ("" if rhs.shape != (self.n_rows,) else " with non-finite values"))
        return self.replay(rhs)

    def replay(self, rhs):
        """:meth:`solve` without the checks of ``rhs`` (a finite float64 vector).

        Parameters
        ----------
        rhs : ndarray, shape (n_rows,)
            Right-hand side.

        Returns
        -------
        x : ndarray, shape (n_blocks, J)
            The solution.
        residual : float
            The residual norm.
        """
        passed = {}
        ys = []
        res2 = 0.0
        for n, st in enumerate(self.steps):
            parts = [collapse_rhs(rhs[pr], hqr, htau) for pr, hqr, htau in st.heads]
            parts.append(rhs[st.rows])
            parts.extend(passed.pop(n, []))
            f = np.concatenate(parts)
            if f.size < st.m:
                f = np.append(f, np.zeros(st.m - f.size))
            if st.qr is not None:
                f, info = lapack.dgemqrt(st.qr, st.T, f[:, None], side="L", trans="T",
                                         overwrite_c=1)
                if info != 0:  # pragma: no cover - LAPACK argument error
                    raise RuntimeError(f"dgemqrt failed with info={info}")
                f = f[:, 0]
                k = st.qr.shape[1]
            else:
                k = 0
            ys.append(f[:k].copy())
            tail = f[k:]
            if st.collapse is not None:
                tail = collapse_rhs(tail, *st.collapse)
            if st.to >= 0:
                passed.setdefault(st.to, []).append(tail.copy())
            else:
                res2 += float(tail @ tail)
        return self.back(ys), float(np.sqrt(res2))


def hager_inverse_norm(solve, solve_t, n, max_iter=5):
    """Estimate ``||A^{-1}||_1`` from solves with A and A^T (Hager/Higham).

    Parameters
    ----------
    solve, solve_t : callable
        ``v -> A^{-1} v`` and ``v -> A^{-T} v`` on (n,) vectors.
    n : int
        Order of A.
    max_iter : int
        Most iterations of Hager's method.

    Returns
    -------
    float
        A lower bound of ``||A^{-1}||_1``, usually within a factor 3.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[2.0, 0.0], [0.0, 0.5]])
    >>> float(hager_inverse_norm(lambda v: np.linalg.solve(A, v),
    ...                          lambda v: np.linalg.solve(A.T, v), 2))
    2.0
    """
    x = np.full(n, 1.0 / n)
    est = 0.0
    for it in range(max_iter):
        y = solve(x)
        if not np.all(np.isfinite(y)):
            return np.inf
        new = np.abs(y).sum()
        if it > 0 and new <= est:
            break
        est = new
        xi = np.where(y >= 0, 1.0, -1.0)
        z = solve_t(xi)
        if not np.all(np.isfinite(z)):
            return np.inf
        j = int(np.argmax(np.abs(z)))
        if it > 0 and np.abs(z[j]) <= z @ x:
            break
        x = np.zeros(n)
        x[j] = 1.0
    # Higham's alternating-sign vector guards against the rare bad cases
    alt = np.array([(-1.0) ** i * (1.0 + i / max(n - 1, 1)) for i in range(n)])
    y = solve(alt)
    if np.all(np.isfinite(y)):
        est = max(est, 2.0 * np.abs(y).sum() / (3.0 * n))
    return est
