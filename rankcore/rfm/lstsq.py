"""Least-squares solvers for block-sparse random-feature systems.

A system is stored as *pairs*: entry ``p`` says that row ``rows[p]`` has the
``J`` values ``vals[p]`` in the columns of block ``blocks[p]`` (columns
``blocks[p]*J ... blocks[p]*J + J - 1``).  Every row of an RFM system touches
only the few subdomains whose partition function covers its point, so the
matrix is block sparse.

Three solvers, all in float64:

* ``"banded"`` -- block Householder QR.  Blocks are eliminated in increasing
  index; at step ``n`` only the rows that touch block ``n`` (its new rows and
  the rows left over from earlier steps that were coupled to it) take part:
  a compact-WY Householder QR of their ``J`` pivot columns (``dgeqrt``),
  applied to the rest of the front and to the right-hand side (``dgemqrt``).  Rows never touching block ``n`` are not
  mixed in, which is what keeps the fill bounded.  It is a reordering of dense
  Householder QR without pivoting, so it has the same backward stability, at
  a fraction of the flops and memory.
* ``"dense"`` -- Householder QR (LAPACK ``dgeqrf``/``dormqr``) of the whole
  matrix, as the published RFM code does; ``scipy.linalg.lstsq`` (``gelsd``)
  when there are fewer rows than unknowns.
* ``"lsmr"`` -- scipy's LSMR on the CSR matrix with unit column scaling.
  Cheap in memory, but on RFM systems (condition numbers of 1e12 and more) it
  stalls far above machine precision; kept for comparison and huge systems.

Each returns ``(x, cond)`` with ``x`` of shape ``(n_blocks, J)`` and ``cond``
an estimate of the 1-norm condition number of the (row-scaled) matrix: for
the QR solvers that of its triangular factor (``dtrcon`` for dense, Hager's
estimator on the block factor for banded), for LSMR the estimate LSMR returns.
"""

from __future__ import annotations

import os
import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg import lapack

from .._warn import warn
from ._kernels import scatter_dense
from .cluster import solve_dask
from .multifrontal import solve_multifrontal
from .qr import (PANEL_BLOCK, FrontStep, QRFactor, guard_diagonal, hager_inverse_norm,
                 panel_block)

__all__ = ["UnderdeterminedBlock", "SOLVERS", "PANEL_BLOCK", "panel_block", "check_jobs", "row_norms",
           "matvec", "to_csr", "to_dense", "solve_dense", "solve_banded", "solve_lsmr",
           "solve_system", "QRFactor", "FrontStep", "guard_diagonal",
           "hager_inverse_norm"]

SOLVERS = ("auto", "banded", "dense", "lsmr", "multifrontal", "dask")
# "auto" takes the multifrontal QR from this many cells on: bench/rfm_scale.py
# --section solvers measured it faster from 6x6 cells on (1.2 against 1.7 CPU s
# at 6x6 x 100 features, 15.5 against 60.0 at 14x14), with the same error.
AUTO_MULTIFRONTAL_CELLS = 36


def check_jobs(n_jobs):
    """Validate ``n_jobs``: None -> 1, -1 -> the number of cores, else an int >= 1.

    Parameters
    ----------
    n_jobs : int or None
        Processes asked for.

    Returns
    -------
    int
        Processes to use.

    Raises
    ------
    ValueError
        If ``n_jobs`` is not None, -1 or a positive int.

    Examples
    --------
    >>> check_jobs(None), check_jobs(2)
    (1, 2)
    """
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, (int, np.integer)) and not isinstance(n_jobs, bool):
        if n_jobs == -1:
            return max(1, os.cpu_count() or 1)
        if n_jobs >= 1:
            return int(n_jobs)
    raise ValueError(f"n_jobs must be None, -1 or a positive int, got {n_jobs!r}")


class UnderdeterminedBlock(Exception):
    """A block has fewer coupled rows than unknowns: banded QR cannot pivot."""


def row_norms(rows, vals, n_rows):
    """Return the 2-norm of every row of a pair-stored matrix.

    Parameters
    ----------
    rows : ndarray of int64, shape (P,)
        Row of each pair.
    vals : ndarray, shape (P, J)
        The ``J`` values of each pair.
    n_rows : int
        Number of rows.

    Returns
    -------
    ndarray, shape (n_rows,)
        The 2-norm of each row (0 for a row without pairs).

    Examples
    --------
    >>> import numpy as np
    >>> row_norms(np.array([0, 0, 1]), np.array([[3.0], [4.0], [1.0]]), 2).tolist()
    [5.0, 1.0]
    """
    sq = np.einsum("pj,pj->p", vals, vals)
    return np.sqrt(np.bincount(rows, weights=sq, minlength=n_rows))


def matvec(rows, blocks, vals, x, n_rows):
    """Return ``A @ x`` for a pair-stored matrix.

    Parameters
    ----------
    rows, blocks : ndarray of int64, shape (P,)
        Row and block of each pair.
    vals : ndarray, shape (P, J)
        The ``J`` values of each pair.
    x : ndarray, shape (n_blocks, J)
        The vector, ``J`` values per block.
    n_rows : int
        Number of rows.

    Returns
    -------
    ndarray, shape (n_rows,)
        The product, one value per row.

    Examples
    --------
    >>> import numpy as np
    >>> matvec(np.array([0, 1]), np.array([0, 1]), np.ones((2, 2)),
    ...        np.array([[1.0, 2.0], [3.0, 4.0]]), 2).tolist()
    [3.0, 7.0]
    """
    contrib = np.einsum("pj,pj->p", vals, x[blocks])
    return np.bincount(rows, weights=contrib, minlength=n_rows)


def to_csr(rows, blocks, vals, n_rows, n_blocks):
    """Return the pair-stored matrix as a scipy CSR matrix.

    Parameters
    ----------
    rows, blocks : ndarray of int64, shape (P,)
        Row and block of each pair.
    vals : ndarray, shape (P, J)
        The ``J`` values of each pair.
    n_rows, n_blocks : int
        Number of rows and of blocks.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_rows, n_blocks * J)
        The matrix, duplicate entries summed.

    Examples
    --------
    >>> import numpy as np
    >>> to_csr(np.array([0]), np.array([1]), np.array([[1.0, 2.0]]), 1, 2).toarray().tolist()
    [[0.0, 0.0, 1.0, 2.0]]
    """
    P, J = vals.shape
    cols = (blocks[:, None] * J + np.arange(J)[None, :]).ravel()
    r = np.repeat(rows, J)
    A = sp.csr_matrix((vals.ravel(), (r, cols)), shape=(n_rows, n_blocks * J))
    A.sum_duplicates()
    return A


def to_dense(rows, blocks, vals, n_rows, n_blocks, extra_cols=0):
    """Return a dense Fortran-ordered copy of the pair-stored matrix.

    Parameters
    ----------
    rows, blocks : ndarray of int64, shape (P,)
        Row and block of each pair.
    vals : ndarray, shape (P, J)
        The ``J`` values of each pair.
    n_rows, n_blocks : int
        Number of rows and of blocks.
    extra_cols : int
        Zero columns appended on the right (room for right-hand sides).

    Returns
    -------
    ndarray, shape (n_rows, n_blocks * J + extra_cols)
        The matrix (pairs at the same place summed), zero elsewhere.

    Examples
    --------
    >>> import numpy as np
    >>> to_dense(np.array([0]), np.array([1]), np.array([[1.0, 2.0]]), 1, 2, 1).tolist()
    [[0.0, 0.0, 1.0, 2.0, 0.0]]
    """
    J = vals.shape[1]
    A = np.zeros((n_rows, n_blocks * J + extra_cols), order="F")
    scatter_dense(A, rows.astype(np.int64), (blocks * J).astype(np.int64), vals)
    return A


def _geqrf(a):
    qr, tau, _, info = lapack.dgeqrf(a, lwork=max(1, 64 * a.shape[1]), overwrite_a=1)
    if info != 0:  # pragma: no cover - LAPACK argument error
        raise RuntimeError(f"dgeqrf failed with info={info}")
    return qr, tau


def _apply_qt(qr, tau, c):
    """Q^T c in place (c Fortran-ordered 2-D)."""
    lwork = max(1, 64 * c.shape[1])
    out, _, info = lapack.dormqr("L", "T", qr, tau, c, lwork, overwrite_c=1)
    if info != 0:  # pragma: no cover
        raise RuntimeError(f"dormqr failed with info={info}")
    return out


# ---------------------------------------------------------------- dense ---

def solve_dense(rows, blocks, vals, rhs, n_rows, n_blocks):
    """Solve by Householder QR of the whole matrix (``gelsd`` if underdetermined).

    Parameters
    ----------
    rows, blocks : ndarray of int64, shape (P,)
        Row and block of each pair.
    vals : ndarray, shape (P, J)
        The ``J`` values of each pair.
    rhs : ndarray, shape (n_rows,)
        Right-hand side.
    n_rows, n_blocks : int
        Number of rows and of blocks.

    Returns
    -------
    x : ndarray, shape (n_blocks, J)
        The least-squares solution, one row per block.
    cond : float
        1-norm condition estimate of the triangular factor (``dtrcon``);
        the ratio of the extreme singular values when underdetermined.

    Examples
    --------
    >>> import numpy as np
    >>> x, cond = solve_dense(np.array([0, 1]), np.array([0, 0]),
    ...                       np.array([[1.0], [1.0]]), np.array([1.0, 3.0]), 2, 1)
    >>> round(float(x[0, 0]), 12)
    2.0
    """
    J = vals.shape[1]
    n = n_blocks * J
    A = to_dense(rows, blocks, vals, n_rows, n_blocks, extra_cols=1)
    A[:, -1] = rhs
    if n_rows < n:
        b = A[:, -1].copy()
        Am = A[:, :-1]
        x, _, rank, sv = sla.lstsq(Am, b, lapack_driver="gelsd")
        cond = float(sv[0] / sv[-1]) if sv[-1] > 0 else np.inf
        return x.reshape(n_blocks, J), cond
    qr, tau = _geqrf(A[:, :n])
    c = _apply_qt(qr, tau, A[:, n:])
    R = guard_diagonal(np.triu(qr[:n, :n]))
    x = sla.solve_triangular(R, c[:n, 0], lower=False, check_finite=False)
    rcond, info = lapack.dtrcon(R, norm="1", uplo="U", diag="N")
    cond = 1.0 / rcond if rcond > 0 else np.inf
    return x.reshape(n_blocks, J), float(cond)


# ------------------------------------------------------------- dispatch ---

def solve_system(rows, blocks, vals, rhs, n_rows, n_blocks, solver="auto", coords=None,
                 keep=False, timings=None, n_jobs=1):
    """Solve the pair-stored least-squares system with the named solver.

    Parameters
    ----------
    rows, blocks : ndarray of int64, shape (P,)
        Row and block of each pair.
    vals : ndarray, shape (P, J)
        The ``J`` values of each pair.
    rhs : ndarray, shape (n_rows,)
        Right-hand side.
    n_rows, n_blocks : int
        Number of rows and of blocks.
    solver : {"auto", "banded", "dense", "lsmr", "multifrontal", "dask"}
        ``"dask"``: the multifrontal QR on the workers of the current
        ``dask.distributed`` client (:mod:`rankcore.rfm.cluster`).
    coords : ndarray of int, shape (n_blocks, d), optional
        Grid coordinates of the blocks; needed by ``"multifrontal"``
        (:mod:`rankcore.rfm.multifrontal`).
    keep : bool
        Also return the factorization for other right-hand sides.
    timings : dict, optional
        Seconds per phase are added to it: the multifrontal solver's phases
        (see :func:`~rankcore.rfm.multifrontal.solve_multifrontal`), or one
        entry named after the solver that ran (``"banded QR"``, ``"dense QR"``,
        ``"lsmr"``) for the others (factorization, back substitution and
        condition estimate together).
    n_jobs : int
        Processes for the multifrontal QR's independent subtrees (see
        :func:`~rankcore.rfm.multifrontal.solve_multifrontal`); other
        solvers ignore it.

    Returns
    -------
    x : ndarray, shape (n_blocks, J)
        The least-squares solution, one row per block.
    cond : float
        The used solver's condition estimate (see the module docstring).
    solver_used : str
        The solver that ran: ``"banded"``, ``"dense"``, ``"lsmr"`` or
        ``"multifrontal"``.
    factor : QRFactor or None
        Only with ``keep=True``: the :class:`QRFactor` of the banded or
        multifrontal solver; None when another solver ran.

    Notes
    -----
    ``"auto"`` is ``"multifrontal"`` when ``coords`` is given, there are
    at least ``AUTO_MULTIFRONTAL_CELLS`` (36) blocks, every block is coupled
    to at least ``J`` rows and the rows couple only neighbouring cells;
    otherwise
    ``"banded"``, falling back to ``"dense"`` when a block is coupled to
    fewer rows than it has unknowns (``"banded"`` given explicitly does
    the same with a ``RuntimeWarning``).  Returns ``(x, cond,
    solver_used)``.

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.array([0, 1, 2]); blocks = np.array([0, 0, 0])
    >>> vals = np.array([[1.0], [1.0], [1.0]])
    >>> x, cond, used = solve_system(rows, blocks, vals, np.array([1.0, 2.0, 3.0]), 3, 1)
    >>> float(x[0, 0]), used
    (2.0, 'banded')
    """
    used = "banded" if solver == "auto" else solver
    J = vals.shape[1]
    if (solver == "auto" and coords is not None and n_blocks >= AUTO_MULTIFRONTAL_CELLS
            and np.bincount(blocks, minlength=n_blocks).min() >= J):
        # (a block coupled to fewer rows than unknowns gives the multifrontal
        # QR no usable pivots: dense below, as for banded)
        try:
            out = solve_multifrontal(rows, blocks, vals, rhs, n_rows, n_blocks, coords,
                                     keep=keep, timings=timings, n_jobs=n_jobs)
            return (out[0], float(out[1]), "multifrontal") + tuple(out[2:])
        except ValueError:  # a row coupling distant cells (mean=): banded below
            pass
    if used == "multifrontal" and np.bincount(blocks, minlength=n_blocks).min() < J:
        # A cell with fewer rows than unknowns leaves the fronts without
        # pivots (garbage, not an error): as banded, fall back to dense.
        warn("a subdomain has fewer equations than features; the multifrontal QR "
             "needs more, using the dense solver", RuntimeWarning)
        used = "dense"
    factor = None
    t0 = time.perf_counter()
    if used == "dask":
        if coords is None:
            raise ValueError("solver='dask' needs the grid coordinates of the blocks (coords)")
        try:
            out = solve_dask(rows, blocks, vals, rhs, n_rows, n_blocks, coords, keep=keep,
                             timings=timings)
            return (out[0], float(out[1]), "dask") + tuple(out[2:])
        except ValueError as exc:  # rows coupling distant cells (mean=)
            warn(f"solver='dask' cannot split this system into subtrees ({exc}); "
                 "solving it in this process with the banded QR", RuntimeWarning)
            used = "banded"
    if used == "banded":
        try:
            out = solve_banded(rows, blocks, vals, rhs, n_rows, n_blocks, keep=keep)
            x, cond = out[:2]
            factor = out[2] if keep else None
        except UnderdeterminedBlock:
            if solver == "banded":
                warn("a subdomain has fewer equations than features; "
                     "banded QR needs more, using the dense solver", RuntimeWarning)
            used = "dense"
    if used == "dense":
        x, cond = solve_dense(rows, blocks, vals, rhs, n_rows, n_blocks)
    elif used == "lsmr":
        x, cond = solve_lsmr(rows, blocks, vals, rhs, n_rows, n_blocks)
    elif used == "multifrontal":
        if coords is None:
            raise ValueError("solver='multifrontal' needs the grid coordinates "
                             "of the blocks (coords)")
        out = solve_multifrontal(rows, blocks, vals, rhs, n_rows, n_blocks, coords,
                                 keep=keep, timings=timings, n_jobs=n_jobs)
        x, cond = out[:2]
        factor = out[2] if keep else None
    if timings is not None and used not in ("multifrontal", "dask"):
        key = {"lsmr": "lsmr"}.get(used, f"{used} QR")
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
    return (x, float(cond), used) + ((factor,) if keep else ())


# --------------------------------------------------------------- banded ---

def solve_banded(rows, blocks, vals, rhs, n_rows, n_blocks, keep=False):
    """Solve by block Householder QR exploiting the block sparsity (see module doc).

    Parameters
    ----------
    rows, blocks : ndarray of int64, shape (P,)
        Row and block of each pair.
    vals : ndarray, shape (P, J)
        The ``J`` values of each pair.
    rhs : ndarray, shape (n_rows,)
        Right-hand side.
    n_rows, n_blocks : int
        Number of rows and of blocks.
    keep : bool
        Also return the factorization, as a :class:`QRFactor` that
        solves with other right-hand sides (it keeps every front's
        Householder vectors: about the memory of the system itself).

    Returns
    -------
    x : ndarray, shape (n_blocks, J)
        The least-squares solution, one row per block.
    cond : float
        Hager's 1-norm condition estimate of the block triangular factor.
    factor : QRFactor
        Only with ``keep=True``.

    Raises
    ------
    UnderdeterminedBlock
        If a block is coupled to fewer rows than it has unknowns.

    Examples
    --------
    >>> import numpy as np
    >>> x, cond = solve_banded(np.array([0, 1]), np.array([0, 0]),
    ...                        np.array([[1.0], [1.0]]), np.array([1.0, 3.0]), 2, 1)
    >>> round(float(x[0, 0]), 12)
    2.0
    """
    J = vals.shape[1]
    big = np.iinfo(np.int64).max
    rmin = np.full(n_rows, big, np.int64)
    np.minimum.at(rmin, rows, blocks)
    if np.any(rmin == big):
        # an all-zero row carries no information; give it a harmless home
        rmin[rmin == big] = 0
    # pairs and rows grouped by the first block their row touches
    pair_key = rmin[rows]
    porder = np.argsort(pair_key, kind="stable")
    pstart = np.searchsorted(pair_key[porder], np.arange(n_blocks + 1))
    rorder = np.argsort(rmin, kind="stable")
    rstart = np.searchsorted(rmin[rorder], np.arange(n_blocks + 1))
    # rows that touch one block only ("private" rows, inside a cell away from
    # its overlaps) are reduced to their (J + 1)-row triangle first: their
    # Householder updates then never run over the other blocks' columns
    rmax = np.full(n_rows, -1, np.int64)
    np.maximum.at(rmax, rows, blocks)
    private = rmax <= rmin

    pieces = [[] for _ in range(n_blocks)]  # by smallest block: (cols, F)
    factors = []
    steps = [] if keep else None  # what QRFactor.solve replays
    for n in range(n_blocks):
        new_rows = rorder[rstart[n]:rstart[n + 1]]
        psel = porder[pstart[n]:pstart[n + 1]]
        cols = set(blocks[psel].tolist())
        cols.add(n)
        for pc, _ in pieces[n]:
            cols.update(pc)
        U = sorted(cols)
        pos = {b: i for i, b in enumerate(U)}
        m = new_rows.size + sum(F.shape[0] for _, F in pieces[n])
        if m < J:
            raise UnderdeterminedBlock(
                f"block {n} is coupled to {m} rows but has {J} unknowns")
        width = len(U) * J
        own = private[new_rows]
        head = None
        p_own = int(np.count_nonzero(own))
        # reducing the p private rows to a (J + 1)-row triangle costs about
        # p (J + 1)^2 flops and saves 2 (p - J - 1) J (width - J) in the
        # front's update: worth it when the second is the larger
        if len(U) > 1 and p_own > J + 1 and \
                2 * (p_own - J - 1) * (width - J) > p_own * (J + 1):
            # block n is U[0]: its private rows only fill columns 0..J-1
            pr = new_rows[own]
            pin = private[rows[psel]]
            local = np.empty(n_rows, np.int64)
            local[pr] = np.arange(pr.size)
            head = np.zeros((pr.size, J + 1), order="F")
            scatter_dense(head, local[rows[psel[pin]]], np.zeros(int(pin.sum()), np.int64),
                          vals[psel[pin]])
            head[:, -1] = rhs[pr]
            head, htau, _, info = lapack.dgeqrf(head, overwrite_a=1,
                                                lwork=max(1, 64 * (J + 1)))
            if keep:
                kept_head = (pr, np.array(head, order="F"), htau.copy())
            head = np.triu(head[:J + 1])
            new_rows, psel = new_rows[~own], psel[~pin]
            m = head.shape[0] + new_rows.size + sum(P.shape[0] for _, P in pieces[n])
        F = np.zeros((m, width + 1), order="F")
        top = 0  # rows above the new ones: the private rows' triangle
        if head is not None:
            top = head.shape[0]
            F[:top, :J] = head[:, :J]
            F[:top, -1] = head[:, -1]
        # new rows
        local = np.empty(n_rows, np.int64)
        local[new_rows] = top + np.arange(new_rows.size)
        posarr = np.array([pos.get(b, 0) for b in range(n_blocks)], np.int64) \
            if n_blocks <= 4096 else None
        pb = blocks[psel]
        cpos = (posarr[pb] if posarr is not None
                else np.array([pos[b] for b in pb.tolist()], np.int64)) * J
        scatter_dense(F, local[rows[psel]], cpos, vals[psel])
        F[top:top + new_rows.size, -1] = rhs[new_rows]
        r0 = top + new_rows.size
        for pc, P in pieces[n]:
            r1 = r0 + P.shape[0]
            for k, b in enumerate(pc):
                F[r0:r1, pos[b] * J:(pos[b] + 1) * J] = P[:, k * J:(k + 1) * J]
            F[r0:r1, -1] = P[:, -1]
            r0 = r1
        pieces[n] = None  # free
        # compact-WY QR of the whole panel in column blocks (panel_block):
        # a few large level-3 calls instead of dgeqrf's column-by-column
        # level-2 updates.  One block of all J columns (as before) does
        # extra flops in T for wide panels: with blocks of 128 the
        # elasticity (J = 600) and Stokes (J = 900) solves of
        # bench/rfm_pde.py took 0.74 / 2.78 s against 0.83 / 3.17 s, 2-D
        # Helmholtz (J = 400) 0.30 against 0.34 s (256 was the same as 128).
        qr, T, info = lapack.dgeqrt(panel_block(J), F[:, :J], overwrite_a=1)
        if info != 0:  # pragma: no cover - LAPACK argument error
            raise RuntimeError(f"dgeqrt failed with info={info}")
        rest, info = lapack.dgemqrt(qr, T, F[:, J:], side="L", trans="T",
                                    overwrite_c=1)
        if info != 0:  # pragma: no cover
            raise RuntimeError(f"dgemqrt failed with info={info}")
        R = guard_diagonal(np.triu(qr[:J, :J]))
        factors.append((R, U[1:], np.ascontiguousarray(rest[:J, :-1]),
                        rest[:J, -1].copy()))
        passed = len(U) > 1 and m > J
        if passed:
            # a compact copy, so that this front's panel is freed now
            pieces[U[1]].append((U[1:], np.array(rest[J:, :], order="F")))
        if keep:
            steps.append(FrontStep([kept_head] if head is not None else [], new_rows, m,
                                   np.array(qr, order="F"), T.copy(), None,
                                   U[1] if passed else -1))
        del F, qr, rest, T
    x = _back_substitute(factors, [f[3] for f in factors], J)
    cond = _banded_cond(factors, n_blocks, J)
    if keep:
        return x, cond, QRFactor(steps, lambda ys: _back_substitute(factors, ys, J), n_rows)
    return x, cond


def _back_substitute(factors, ys, J):
    """Solve the block upper-triangular system (R, C) of :func:`solve_banded`."""
    x = np.zeros((len(factors), J))
    for n in range(len(factors) - 1, -1, -1):
        R, U1, C, _ = factors[n]
        y = ys[n]
        if U1:
            y = y - C @ x[U1].ravel()
        x[n] = sla.solve_triangular(R, y, lower=False, check_finite=False)
    return x


def _banded_cond(factors, n_blocks, J):
    """Hager's 1-norm condition estimate of the block upper-triangular R."""
    colsum = np.zeros((n_blocks, J))
    for n, (R, U1, C, _) in enumerate(factors):
        colsum[n] += np.abs(R).sum(axis=0)
        for k, b in enumerate(U1):
            colsum[b] += np.abs(C[:, k * J:(k + 1) * J]).sum(axis=0)
    normR = colsum.max()

    def solve(v):  # R^{-1} v
        return _back_substitute(factors, v.reshape(n_blocks, J), J).ravel()

    def solve_t(w):  # R^{-T} w
        w = w.reshape(n_blocks, J).copy()
        z = np.zeros((n_blocks, J))
        for n in range(n_blocks):
            R, U1, C, _ = factors[n]
            z[n] = sla.solve_triangular(R, w[n], trans="T", lower=False,
                                        check_finite=False)
            if U1:
                upd = C.T @ z[n]
                for k, b in enumerate(U1):
                    w[b] -= upd[k * J:(k + 1) * J]
        return z.ravel()

    with np.errstate(over="ignore", invalid="ignore"):
        inv_norm = hager_inverse_norm(solve, solve_t, n_blocks * J)
    return float(normR * inv_norm) if np.isfinite(inv_norm) else np.inf


# ----------------------------------------------------------------- lsmr ---

def solve_lsmr(rows, blocks, vals, rhs, n_rows, n_blocks, *, tol=1e-15,
               maxiter=None):
    """Solve by scipy's LSMR on the CSR matrix with unit column scaling.

    Parameters
    ----------
    rows, blocks : ndarray of int64, shape (P,)
        Row and block of each pair.
    vals : ndarray, shape (P, J)
        The ``J`` values of each pair.
    rhs : ndarray, shape (n_rows,)
        Right-hand side.
    n_rows, n_blocks : int
        Number of rows and of blocks.
    tol : float
        ``atol`` and ``btol`` of LSMR.
    maxiter : int, optional
        Default four times the number of unknowns.

    Returns
    -------
    x : ndarray, shape (n_blocks, J)
        The least-squares solution, one row per block.
    cond : float
        LSMR's condition estimate.

    Examples
    --------
    >>> import numpy as np
    >>> x, cond = solve_lsmr(np.array([0, 1]), np.array([0, 0]),
    ...                      np.array([[1.0], [1.0]]), np.array([1.0, 3.0]), 2, 1)
    >>> round(float(x[0, 0]), 12)
    2.0
    """
    from scipy.sparse.linalg import lsmr  # only this path needs it

    J = vals.shape[1]
    A = to_csr(rows, blocks, vals, n_rows, n_blocks)
    cn = np.sqrt(np.asarray(A.multiply(A).sum(axis=0)).ravel())
    cn[cn == 0] = 1.0
    A = A @ sp.diags(1.0 / cn)
    out = lsmr(A, rhs, atol=tol, btol=tol, conlim=1e20,
               maxiter=maxiter or 4 * A.shape[1])
    x = out[0] / cn
    return x.reshape(n_blocks, J), float(out[6])
