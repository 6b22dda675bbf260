"""Rank-revealing row selection for matrices with orthonormal columns.

For ``V`` of shape ``(n, k)`` with ``V.T @ V = I`` the lemma of Hong and Pan
(1992) says that some ``k`` rows ``I`` give a square block ``V[I]`` with
``sigma_min(V[I]) >= 1 / sqrt(k (n - k) + 1)``.  :func:`select_rows` finds
such rows:

* ``"srrqr"`` -- strong rank-revealing QR (Gu and Eisenstat, 1996) of
  ``V.T``, started from column-pivoted QR.  For a ``k x n`` matrix of rank
  ``k`` the trailing block ``R22`` is empty, so the strong-RRQR swap test
  reduces to ``|(R11^-1 R12)_{pj}| > f``, and ``R11^-1 R12`` is the
  transpose of the unselected rows of ``B = V @ inv(V[I])``.  The
  implementation keeps ``B`` and updates it by a rank-one correction per
  swap (each swap multiplies ``|det V[I]|`` by ``|B[j, p]| > f``).  At the
  end every ``|B[j, p]| <= f``, which gives
  ``sigma_min(V[I]) >= 1 / sqrt(1 + f**2 k (n - k))``; see ``docs/theory.md``.
* ``"qrcp"`` -- LAPACK column-pivoted QR of ``V.T`` (``?geqp3``) alone: fast,
  usually good, with no such guarantee.
* ``"brute"`` -- all ``C(n, k)`` subsets, the one of largest ``sigma_min``;
  for checking the lemma on small problems (``n <= 20``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from itertools import combinations

import numpy as np
import scipy.linalg

from .validation import (as_array, check_choice, check_positive_int, check_positive_scalar,
                        check_scalar, describe)

__all__ = ["hong_pan_bound", "select_rows", "SubsetSelection"]

#: Default tolerance on ``||V.T @ V - I||_F`` accepted by :func:`select_rows`.
ORTHO_TOL = 1e-8
#: Relative slack in the swap test: a swap is made only when
#: ``|B[j, p]| > f * (1 + SWAP_SLACK)``, so rounding in ``B`` cannot make the
#: loop cycle between equivalent selections when ``f = 1``.
SWAP_SLACK = 1e-10
#: Largest ``n`` accepted by ``method="brute"``.
BRUTE_MAX_N = 20

_METHODS = ("srrqr", "qrcp", "brute")


def hong_pan_bound(n, k):
    """Hong--Pan lower bound ``1 / sqrt(k (n - k) + 1)``.

    For every ``V`` of shape ``(n, k)`` with orthonormal columns some ``k``
    rows ``I`` satisfy ``sigma_min(V[I]) >= hong_pan_bound(n, k)``.

    Parameters
    ----------
    n : int
        Number of rows, ``n >= 1``.
    k : int
        Number of columns (and of selected rows), ``1 <= k <= n``.

    Returns
    -------
    float
        The bound, in ``(0, 1]``.

    Raises
    ------
    TypeError
        If ``n`` or ``k`` is not an integer.
    ValueError
        If ``n < 1``, ``k < 1`` or ``k > n``.

    See Also
    --------
    select_rows : Finds rows that meet the bound.

    References
    ----------
    .. [1] Y. P. Hong and C.-T. Pan, "Rank-revealing factorizations and the
       singular value decomposition", Mathematics of Computation 58(197),
       pp. 213-232, 1992.

    Examples
    --------
    >>> from rankcore import hong_pan_bound
    >>> round(hong_pan_bound(10, 3), 6)
    0.213201
    >>> hong_pan_bound(5, 5)
    1.0
    """
    n = check_positive_int(n, "n")
    k = check_positive_int(k, "k")
    if k > n:
        raise ValueError(f"k must be <= n, got k={k} and n={n}")
    return 1.0 / math.sqrt(k * (n - k) + 1.0)


def _srrqr_bound(n, k, f):
    return 1.0 / math.sqrt(1.0 + f * f * k * (n - k))


@dataclass(frozen=True, eq=False)
class SubsetSelection:
    """Rows selected by :func:`select_rows`.

    Made by :func:`select_rows`; the parameters other than ``_block`` are also
    the attributes of the same name.

    Parameters
    ----------
    indices : ndarray of int64, shape (k,)
        Selected rows of ``V``, in increasing order.
    bound : float
        The lower bound on ``sigma_min(V[indices])`` that the lemma states for
        this method: ``1 / sqrt(1 + f**2 k (n - k))`` for ``"srrqr"``, and the
        Hong--Pan bound ``1 / sqrt(k (n - k) + 1)`` for ``"brute"`` and
        ``"qrcp"`` (which does *not* guarantee it; see ``guaranteed``).
    guaranteed : bool
        Whether the method guarantees ``sigma_min >= bound`` (up to rounding,
        see ``docs/theory.md``): True for ``"srrqr"`` and ``"brute"``.
    method : str
        ``"srrqr"``, ``"qrcp"`` or ``"brute"``.
    f : float or None
        The strong-RRQR parameter (None for the other methods).
    swaps : int
        Row exchanges made after the starting factorisation (0 for the
        other methods).
    max_coefficient : float
        ``max |V[j] @ inv(V[indices])|`` over all rows ``j``: the largest
        entry of the interpolation matrix (at most ``f`` after ``"srrqr"``;
        an entry > 1 means a swap would increase ``|det V[indices]|``).
    converged : bool
        False only if ``"srrqr"`` stopped at its swap cap.
    n, k : int
        Shape of ``V``.
    _block : ndarray, shape (k, k)
        A copy of ``V[indices]`` (private; ``sigma_min`` is computed from it).

    Attributes
    ----------
    sigma_min : float
        ``sigma_min(V[indices])``, computed on first access (an SVD of the
        ``k x k`` block).
    meets_bound : bool
        ``sigma_min >= bound * (1 - 1e-8)``.
    """

    indices: np.ndarray
    bound: float
    guaranteed: bool
    method: str
    f: float | None
    swaps: int
    max_coefficient: float
    converged: bool
    n: int
    k: int
    _block: np.ndarray = field(repr=False)

    @cached_property
    def sigma_min(self) -> float:
        s = scipy.linalg.svdvals(self._block, check_finite=False)
        return float(s[-1])

    @property
    def meets_bound(self) -> bool:
        """Whether ``sigma_min >= bound`` (up to a relative 1e-8 for rounding)."""
        return bool(self.sigma_min >= self.bound * (1.0 - 1e-8))


def _check_V(V, ortho_tol):
    V = as_array(V, "V", ndim=2)
    n, k = V.shape
    if k > n:
        raise ValueError(
            f"V must have at least as many rows as columns (k <= n rows are "
            f"selected), got {describe(V)}")
    # A BLAS product is cheap next to the selection and catches the common
    # mistake of passing raw features or a non-orthonormalised basis.
    # syrk forms one triangle of V^T V at half the cost of a full product.
    G = scipy.linalg.blas.dsyrk(1.0, V.T, trans=0)
    G[np.diag_indices_from(G)] -= 1.0
    G = np.triu(G)
    dev = float(np.sqrt(2.0 * np.sum(G * G) - np.sum(np.diag(G) ** 2)))
    if not dev <= ortho_tol:
        raise ValueError(
            f"V must have orthonormal columns (||V.T @ V - I||_F <= "
            f"ortho_tol={ortho_tol:g}), got ||V.T @ V - I||_F = {dev:.3g} for "
            f"{describe(V)}; orthonormalise it first, e.g. with "
            f"scipy.linalg.qr(V, mode='economic')[0] or the eigenvectors of "
            f"a Gram matrix")
    return V


def _qrcp(V):
    """Pivoted QR of ``V.T``: selected rows ``sel``, the others ``rest`` and
    ``C = V[rest] @ inv(V[sel])``.

    ``C`` comes from the triangular factor, ``C = (R11^-1 R12)^T``: one
    triangular solve is several times cheaper than an LU-based solve, and
    LAPACK's column-major result is ``C`` in row-major order without a copy.
    """
    n, k = V.shape
    R, piv = scipy.linalg.qr(V.T, mode="r", pivoting=True, check_finite=False)
    sel = np.ascontiguousarray(piv[:k], dtype=np.int64)
    rest = np.ascontiguousarray(piv[k:], dtype=np.int64)
    with np.errstate(all="ignore"):
        if n - k >= 4 * k:
            # Tall case: an explicit k x k inverse and one GEMM beat a
            # triangular solve with n - k right-hand sides (bench/subset.py
            # table 4); the final C is recomputed and checked anyway.
            Ri, info = scipy.linalg.lapack.dtrtri(R[:, :k], lower=0)
            if info != 0:  # exactly singular: let the caller see non-finite C
                return sel, rest, np.full((n - k, k), np.inf)
            return sel, rest, R[:, k:n].T @ np.triu(Ri).T
        X = scipy.linalg.solve_triangular(R[:, :k], R[:, k:n], check_finite=False)
    return sel, rest, np.ascontiguousarray(X.T)


def _lu_start(V):
    """Rows chosen by LU with partial pivoting of ``V`` and their ``C``.

    With ``P V = L U`` (``L`` unit lower trapezoidal, split as ``L1`` over
    ``L2``), ``V[rest] @ inv(V[sel]) = L2 @ inv(L1)``: one triangular solve.
    """
    n, k = V.shape
    lu, ipiv = scipy.linalg.lu_factor(V, check_finite=False)
    perm = np.arange(n, dtype=np.int64)
    for i, p in enumerate(ipiv):
        perm[i], perm[p] = perm[p], perm[i]
    with np.errstate(all="ignore"):
        if n - k >= 4 * k:  # as in _qrcp
            # Unit diagonal: L1 is never singular, info is always 0.
            Li = np.tril(scipy.linalg.lapack.dtrtri(lu[:k], lower=1, unitdiag=1)[0], -1)
            Li[np.diag_indices(k)] = 1.0
            C = lu[k:] @ Li
        else:
            C = scipy.linalg.solve_triangular(lu[:k], lu[k:].T, trans="T", lower=True,
                                              unit_diagonal=True, check_finite=False).T
    return (np.ascontiguousarray(perm[:k]), np.ascontiguousarray(perm[k:]),
            np.ascontiguousarray(C))


def _interp(V, sel):
    """``rest`` (rows not in ``sel``, increasing) and ``C = V[rest] @ inv(V[sel])``."""
    n, k = V.shape
    mask = np.ones(n, dtype=bool)
    mask[sel] = False
    rest = np.nonzero(mask)[0].astype(np.int64)
    if k == n:
        return rest, np.zeros((0, k))
    with np.errstate(all="ignore"):
        if n - k >= 4 * k:  # as in _qrcp
            lu, piv, info = scipy.linalg.lapack.dgetrf(V[sel])
            if info == 0:
                inv = scipy.linalg.lapack.dgetri(lu, piv)[0]
            else:
                inv = np.full((k, k), np.inf)
            return rest, np.ascontiguousarray(V[rest] @ inv)
        lu = scipy.linalg.lu_factor(V[sel].T, check_finite=False)
        X = scipy.linalg.lu_solve(lu, V[rest].T, check_finite=False)
    return rest, np.ascontiguousarray(X.T)


def _max_coef(C):
    """``max |B|``; the selected rows of ``B`` (the identity) contribute 1."""
    if C.size == 0:
        return 1.0
    m = float(np.max(np.abs(C)))
    return max(m, 1.0) if np.isfinite(m) else float("inf")


def _srrqr(V, f, max_swaps, start):
    from . import _subset_kernels as kern

    sel, rest, C = _qrcp(V) if start == "qrcp" else _lu_start(V)
    threshold = f * (1.0 + SWAP_SLACK)
    total = 0
    # Rank-one updates accumulate rounding (and the pivoted-QR start may be
    # ill-conditioned), so the loop ends only when a freshly computed C
    # passes the test without a swap.  A second round is rare and short.
    while True:
        if not np.all(np.isfinite(C)):
            # Only an exactly singular V[sel] gets here, which orthonormal
            # columns rule out; report non-convergence rather than loop.
            return sel, total, float("inf"), False
        swaps, best = kern.maxvol_swaps(C, rest, sel, threshold, max_swaps - total)
        total += int(swaps)
        if swaps == 0:
            best = max(float(best), 1.0)
            return sel, total, best, bool(best <= threshold)
        rest, C = _interp(V, sel)
        if total >= max_swaps:
            best = _max_coef(C)
            return sel, total, best, best <= threshold


def _brute(V):
    n, k = V.shape
    best_s = -1.0
    best_sel = None
    chunk = max(1, 200_000 // (k * k))
    it = combinations(range(n), k)
    while True:
        rows = np.array([c for _, c in zip(range(chunk), it)], dtype=np.int64)
        if rows.size == 0:
            break
        s = np.linalg.svd(V[rows], compute_uv=False)[:, -1]
        i = int(np.argmax(s))
        if s[i] > best_s:
            best_s = float(s[i])
            best_sel = rows[i]
    return best_sel


def select_rows(V, method="srrqr", f=1.0, *, start="qrcp", ortho_tol=ORTHO_TOL,
                max_swaps=None):
    """Choose ``k`` well-conditioned rows of ``V`` (n, k) with orthonormal columns.

    Parameters
    ----------
    V : array_like, shape (n, k)
        Matrix with orthonormal columns, ``1 <= k <= n`` (e.g. the top ``k``
        eigenvectors of a Gram matrix).
    method : {"srrqr", "qrcp", "brute"}
        ``"srrqr"``: strong rank-revealing QR, guarantees
        ``sigma_min(V[I]) >= 1 / sqrt(1 + f**2 k (n - k))``.
        ``"qrcp"``: column-pivoted QR only (fast, no guarantee).
        ``"brute"``: exhaustive search for the largest ``sigma_min``
        (``n <= 20``).
    f : float
        Strong-RRQR parameter, ``f >= 1`` (used by ``"srrqr"`` only).
        ``f = 1`` gives the Hong--Pan bound itself; a larger ``f`` needs
        fewer swaps and gives the weaker bound above.
    start : {"qrcp", "lu"}
        Starting rows for ``"srrqr"``: column-pivoted QR of ``V.T`` (as in
        Gu and Eisenstat; fewer swaps) or LU with partial pivoting of ``V``
        (the usual maxvol start: a cheaper factorisation, more swaps).  The
        guarantee depends only on the final swap test, not on the start.
    ortho_tol : float
        Largest accepted ``||V.T @ V - I||_F`` (default ``1e-8``).
    max_swaps : int, optional
        Cap on the number of swaps of ``"srrqr"`` (default ``50 k + 1000``).
        Each swap multiplies ``|det V[I]|`` by more than ``f``, so the cap is
        a guard against pathological floating-point behaviour only.

    Returns
    -------
    SubsetSelection
        ``indices`` (sorted), ``sigma_min``, ``bound``, ``guaranteed``,
        ``swaps``, ``method``, ``f``, ``max_coefficient``, ``converged``.

    Raises
    ------
    TypeError
        If ``V`` is not a real numeric array.
    ValueError
        If ``V`` is not 2-D, empty, not finite, has more columns than rows or
        columns that are not orthonormal within ``ortho_tol``; if ``method``
        or ``start`` is unknown, ``f < 1``, or ``method="brute"`` with
        ``n > 20``.

    Warns
    -----
    RuntimeWarning
        If ``"srrqr"`` reaches ``max_swaps`` before the swap test passes (the
        guarantee then does not hold; ``converged`` is False).

    See Also
    --------
    hong_pan_bound : The bound met with ``f = 1``.
    rankcore.subset_approximation : Theorem 3.1, built on this selection.

    References
    ----------
    .. [1] M. Gu and S. C. Eisenstat, "Efficient algorithms for computing a
       strong rank-revealing QR factorization", SIAM Journal on Scientific
       Computing 17(4), pp. 848-869, 1996.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore import select_rows
    >>> V = np.linalg.qr(np.random.default_rng(0).standard_normal((50, 4)))[0]
    >>> sel = select_rows(V)
    >>> sel.indices.shape, sel.sigma_min >= sel.bound
    ((4,), True)
    >>> float(sel.max_coefficient) <= 1.0 + 1e-9
    True
    """
    method = check_choice(method, "method", _METHODS)
    f = check_scalar(f, "f", minimum=1.0)
    start = check_choice(start, "start", ("qrcp", "lu"))
    ortho_tol = check_positive_scalar(ortho_tol, "ortho_tol")
    V = _check_V(V, ortho_tol)
    n, k = V.shape
    if max_swaps is None:
        max_swaps = 50 * k + 1000
    else:
        max_swaps = check_positive_int(max_swaps, "max_swaps", minimum=0)

    swaps = 0
    converged = True
    if method == "brute":
        if n > BRUTE_MAX_N:
            raise ValueError(
                f"method='brute' enumerates all C(n, k) row subsets and accepts "
                f"n <= {BRUTE_MAX_N}, got V with n={n} rows; use method='srrqr'")
        sel = _brute(V)
        bound, guaranteed, f_out = hong_pan_bound(n, k), True, None
        best = _max_coef(_interp(V, sel)[1])
    elif method == "qrcp":
        sel, _, C = _qrcp(V)
        bound, guaranteed, f_out = hong_pan_bound(n, k), False, None
        best = _max_coef(C)
    else:
        if k == n:
            sel = np.arange(n)
            best = 1.0
        else:
            sel, swaps, best, converged = _srrqr(V, f, max_swaps, start)
        bound, guaranteed, f_out = _srrqr_bound(n, k, f), True, f
        if not converged:
            warnings.warn(
                f"select_rows(method='srrqr', f={f}) stopped after max_swaps="
                f"{max_swaps} swaps with max |B| = {best:.6g} > f; the bound "
                f"{bound:.3g} is not guaranteed", RuntimeWarning, stacklevel=2)
    indices = np.sort(np.asarray(sel, dtype=np.int64))
    return SubsetSelection(
        indices=indices, bound=float(bound), guaranteed=guaranteed,
        method=method, f=f_out, swaps=int(swaps), max_coefficient=float(best),
        converged=bool(converged), n=n, k=k, _block=V[indices].copy())


def kahan_basis(k, c=0.3, m=None):
    """An ``(k + m, k)`` orthonormal ``V`` on which pivoted QR picks bad rows.

    ``V.T = [alpha K, R12]`` where ``K`` is the ``k x k`` Kahan matrix
    (``diag(s**i)`` times a unit upper triangle with ``-c`` above the
    diagonal, ``s = sqrt(1 - c**2)``, columns scaled by ``(1 - 1e-7)**j`` to
    break ties), ``alpha = 0.99 / ||K||_2``, and ``R12 = (I - alpha**2 K
    K^T)**(1/2) H^T`` with ``H`` the first ``k`` columns of a normalised
    ``m x m`` Hadamard matrix, so that the rows of ``V.T`` are orthonormal.
    Every column of ``R12`` has norm at most ``sqrt(k / m)``; when that is
    below the Kahan residuals ``alpha s**(k-1)``, column-pivoted QR takes the
    Kahan columns ``0 .. k-1`` in order and ends with ``sigma_min =
    alpha sigma_min(K)``, which for ``c >= 0.3`` and ``k >= 16`` is far below
    the Hong--Pan bound, while other row sets are well conditioned.

    Parameters
    ----------
    k : int
        Columns of ``V`` (rows to select), ``k >= 1``.
    c : float
        Kahan parameter in ``(0, 1)``.
    m : int, optional
        Extra rows, a power of two ``>= k``; by default the smallest one with
        ``sqrt(k / m) <= alpha s**(k-1) / sqrt(1.5)``.

    Returns
    -------
    ndarray, shape (k + m, k)

    See Also
    --------
    select_rows : Strong RRQR meets the Hong--Pan bound on these matrices.

    Examples
    --------
    >>> from rankcore import select_rows, hong_pan_bound
    >>> from rankcore.subset import kahan_basis
    >>> V = kahan_basis(20, 0.3)
    >>> V.shape
    (2068, 20)
    >>> q, s = select_rows(V, "qrcp"), select_rows(V, "srrqr")
    >>> bool(q.sigma_min < hong_pan_bound(*V.shape) <= s.sigma_min)
    True
    """
    k = check_positive_int(k, "k")
    c = check_scalar(c, "c", minimum=0.0, maximum=1.0, include_minimum=False)
    if c == 1.0:
        raise ValueError(f"c must be a number in (0, 1), got {c!r}")
    s = math.sqrt(1.0 - c * c)
    K = np.triu(np.full((k, k), -c), 1) + np.eye(k)
    K = (s ** np.arange(k))[:, None] * K * (1.0 - 1e-7) ** np.arange(k)
    alpha = 0.99 / np.linalg.norm(K, 2)
    if m is None:
        need = 1.5 * k / (alpha ** 2 * s ** (2 * (k - 1)))
        m = 1 << max(0, math.ceil(math.log2(max(need, k))))
    m = check_positive_int(m, "m")
    if m < k or m & (m - 1):
        raise ValueError(f"m must be a power of two >= k={k}, got {m}")
    R11 = alpha * K
    w, U = np.linalg.eigh(np.eye(k) - R11 @ R11.T)
    S_half = (U * np.sqrt(np.clip(w, 0.0, None))) @ U.T
    H = scipy.linalg.hadamard(m)[:, :k] / math.sqrt(m)
    return np.ascontiguousarray(np.hstack([R11, S_half @ H.T]).T)
