"""The staircase theorems of the epsilon-rank paper as checkable functions.

* :func:`subset_approximation` -- Theorem 3.1: if ``r`` eigenvalues of the
  Gram matrix exceed ``eps``, then ``r`` of the ``n`` functions reproduce
  every other one to within ``sqrt(eps) * sqrt(1 + ||a_j||**2)``.
* :func:`loss_lower_bound` -- Theorem 3.2 for L2 fitting: every combination
  ``v = sum_j c_j phi_j`` has ``sqrt(L(v)) >= dist(u, span phi_I) -
  sqrt(eps) * sqrt(f**2 r (n - r) + 2) * sum_{j not in I} |c_j|``.
  :func:`loss_lower_bound_from_features` builds its inputs from sampled
  features, target and quadrature weights.
* :func:`residual_lower_bound` -- the same for a well-posed PDE: a stability
  estimate ``||w|| <= C R(w)`` turns the bound on ``||v - u||`` into a bound
  on the PDE residual ``R(v - u)``.

All inner products come from the Gram matrix ``M`` (and, for Theorem 3.2,
``b_j = <phi_j, u>`` and ``||u||**2``), so the results are exact statements
about the discrete inner product of the quadrature that produced them.  The
theorems are those of [1]_; the derivations are in ``docs/theory.md``.

References
----------
.. [1] J. Yang, Y. Zhao and Q. Zhu, "epsilon-rank and the staircase phenomenon:
   new insights into neural network training dynamics", arXiv:2412.05144,
   2024 (Theorems 3.1 and 3.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .validation import (as_array, check_bool, check_choice, check_positive_scalar,
                        check_scalar, check_weights, describe)
from ._warn import warn
from .rank import (ROUNDING_FACTOR, NegativeEigenvalueWarning, check_gram_stack,
                   eps_rank, spectrum_from_r, weighted_r_factor)
from .subset import SubsetSelection, select_rows

__all__ = [
    "SubsetApproximation",
    "LossLowerBound",
    "subset_approximation",
    "loss_lower_bound",
    "loss_lower_bound_from_features",
    "residual_lower_bound",
]

_U = 2.0 ** -52
#: The rounding allowance ``tau = TAU_FACTOR * n * 2**-52 * lambda_max`` is
#: added to ``eps`` in ``bounds_tol``: the computed eigenvectors are exact for
#: a matrix within about ``n * 2**-52 * lambda_max`` of ``M``, and evaluating
#: ``||phi_j - Phi_I a_j||**2`` from ``M`` cancels about as much.
TAU_FACTOR = 4.0


@dataclass(frozen=True, eq=False)
class SubsetApproximation:
    """Theorem 3.1 evaluated on one Gram matrix.

    Made by :func:`subset_approximation`; the parameters are also the
    attributes of the same name.

    Parameters
    ----------
    n : int
        Number of functions.
    rank : int
        The epsilon-rank ``r`` (eigenvalues ``> eps``).
    eps : float
        The absolute threshold used (``eps * lambda_max`` if ``relative``).
    relative : bool
        Whether ``eps`` was given relative to ``lambda_max``.
    f : float
        Strong-RRQR parameter of the selection (1 for ``"brute"``).
    method : str
        Row-selection method (see :func:`rankcore.select_rows`).
    indices : ndarray of int64, shape (r,)
        The selected functions ``I``, increasing.
    others : ndarray of int64, shape (n - r,)
        The remaining functions ``j``, increasing (the column order of
        ``coefficients``, ``errors`` and ``bounds``).
    coefficients : ndarray, shape (r, n - r)
        Column ``a_j`` gives ``phi_j ~ sum_i a_j[i] phi_{indices[i]}``.
    errors : ndarray, shape (n - r,)
        ``||phi_j - Phi_I a_j||`` computed from the Gram matrix:
        ``sqrt(M_jj - 2 a_j.M_Ij + a_j.M_II.a_j)`` (tiny negative values
        from cancellation are clipped to 0).
    bounds : ndarray, shape (n - r,)
        ``sqrt(eps) * sqrt(1 + ||a_j||**2)``.
    bounds_tol : ndarray, shape (n - r,)
        ``sqrt((eps + tau) * (1 + ||a_j||**2))``: the bound with the rounding
        allowance ``tau`` that floating-point errors can reach.
    worst_case_bound : float
        ``sqrt(eps) * sqrt(f**2 r (n - r) + 2)`` (the theorem's constant).
    tau : float
        Rounding allowance ``4 n 2**-52 lambda_max`` (absolute).
    eigenvalues : ndarray, shape (n,)
        Eigenvalues of ``M``, descending (not clipped).
    selection : SubsetSelection or None
        The row selection on the top-``r`` eigenvectors (None if ``r`` is 0
        or ``n``).
    guaranteed : bool
        Whether the selection method guarantees ``worst_case_bound``
        (False for ``"qrcp"``; the per-function ``bounds`` hold for every
        method).

    Attributes
    ----------
    holds : bool
        ``all(errors <= bounds_tol)``.
    """

    n: int
    rank: int
    eps: float
    relative: bool
    f: float
    method: str
    indices: np.ndarray
    others: np.ndarray
    coefficients: np.ndarray
    errors: np.ndarray
    bounds: np.ndarray
    bounds_tol: np.ndarray
    worst_case_bound: float
    tau: float
    eigenvalues: np.ndarray
    selection: SubsetSelection | None
    guaranteed: bool

    @property
    def holds(self) -> bool:
        """Whether every error is within its bound with the rounding allowance."""
        return bool(np.all(self.errors <= self.bounds_tol))


def _check_gram(gram):
    m = check_gram_stack(gram, "gram")
    if m.ndim != 2:
        raise ValueError(f"gram must be one (n, n) matrix, got {describe(m)}")
    # As rankcore.spectrum symmetrises, so that both see the same matrix.
    return 0.5 * m + 0.5 * m.T


def _check_method_f(method, f):
    check_choice(method, "method", ("srrqr", "qrcp", "brute"))
    return check_scalar(f, "f", minimum=1.0)


def _check_relative(relative):
    return check_bool(relative, "relative")


def _rank_of(lam_desc, eps, relative):
    """``(r, eps_abs)`` exactly as ``eps_rank(lam_desc, eps, relative)``."""
    lmax = max(float(lam_desc[0]), 0.0)
    eps_abs = eps * lmax if relative else eps
    return int(eps_rank(lam_desc, eps, relative=relative)), eps_abs


def _subset_approximation(M, eps, relative, f, method):
    n = M.shape[0]
    lam, Q = scipy.linalg.eigh(M, check_finite=False)
    lam, Q = lam[::-1].copy(), Q[:, ::-1]
    lmax = max(float(lam[0]), 0.0)
    tau = TAU_FACTOR * n * _U * lmax
    if lam[-1] < -ROUNDING_FACTOR * n * _U * lmax:
        warn(
            f"gram has eigenvalue {lam[-1]:.3g} < 0 beyond rounding "
            f"(lambda_max = {lmax:.3g}); it is not a Gram matrix and the "
            f"theorem's assumptions fail", NegativeEigenvalueWarning)
    # The rank is the one rankcore.eps_rank(rankcore.spectrum(M), eps) gives:
    # eigenvalues from another LAPACK driver differ in the last bits, and an
    # eps equal to a computed eigenvalue must not give two answers.
    r, eps_abs = _rank_of(np.maximum(np.linalg.eigvalsh(M)[::-1], 0.0), eps, relative)
    A, idx, others, selection = _select(Q, r, n, method, f)
    MII = M[np.ix_(idx, idx)]
    MIJ = M[np.ix_(idx, others)]
    err2 = (M[others, others] - 2.0 * np.einsum("ij,ij->j", A, MIJ)
            + np.einsum("ij,ij->j", A, MII @ A))
    errors = np.sqrt(np.clip(err2, 0.0, None))
    return _result(n, r, eps_abs, relative, f, method, idx, others, A, errors, tau,
                   lam, selection)


def _subset_from_r(R, eps, relative, f, method):
    """Theorem 3.1 from a factor with ``R^T R = M`` (features, no Gram matrix).

    Eigenvalues are ``sigma**2`` of ``R`` (as ``spectrum_from_features``),
    eigenvectors its right singular vectors, and each error is the norm
    ``||R (e_j - S_I a_j)||`` itself, free of the cancellation of
    ``M_jj - 2 a.M_Ij + a.M_II.a``.
    """
    n = R.shape[1]
    lam = spectrum_from_r(R)
    _, _, Vt = scipy.linalg.svd(R, full_matrices=True, check_finite=False)
    if Vt.shape[0] < n:  # fewer rows than functions: complete the basis
        Vt = scipy.linalg.qr(np.vstack([Vt, np.eye(n)]).T, mode="economic")[0][:, :n].T
    Q = Vt.T
    smax = float(np.sqrt(lam[0]))
    delta = TAU_FACTOR * n * _U * smax
    r, eps_abs = _rank_of(lam, eps, relative)
    # R is exact for a matrix within delta of it, so errors <= (sqrt(eps) +
    # delta) sqrt(1 + |a|^2) = sqrt((eps + tau) (1 + |a|^2)) with this tau.
    tau = 2.0 * delta * math.sqrt(eps_abs) + delta * delta
    A, idx, others, selection = _select(Q, r, n, method, f)
    errors = np.linalg.norm(R[:, others] - R[:, idx] @ A, axis=0) if others.size else np.zeros(0)
    return _result(n, r, eps_abs, relative, f, method, idx, others, A, errors, tau,
                   lam, selection)


def _select(Q, r, n, method, f):
    selection = None
    if r == 0:
        idx = np.empty(0, dtype=np.int64)
    elif r == n:
        idx = np.arange(n, dtype=np.int64)
    else:
        selection = select_rows(np.ascontiguousarray(Q[:, :r]), method=method, f=f)
        idx = selection.indices
    mask = np.ones(n, dtype=bool)
    mask[idx] = False
    others = np.nonzero(mask)[0].astype(np.int64)
    if 0 < r < n:
        V = Q[:, :r]
        # a_j solves V_I^T a_j = V_j^T; one LU factorisation for all j.
        A = scipy.linalg.solve(V[idx].T, V[others].T, check_finite=False)
    else:
        A = np.zeros((r, n - r))
    return A, idx, others, selection


def _result(n, r, eps_abs, relative, f, method, idx, others, A, errors, tau, lam,
            selection):
    growth = 1.0 + np.einsum("ij,ij->j", A, A)
    f_used = 1.0 if method == "brute" else f
    return SubsetApproximation(
        n=n, rank=r, eps=float(eps_abs), relative=bool(relative), f=f_used,
        method=method, indices=idx, others=others, coefficients=A,
        errors=errors, bounds=np.sqrt(eps_abs * growth),
        bounds_tol=np.sqrt((eps_abs + tau) * growth),
        worst_case_bound=math.sqrt(eps_abs) * math.sqrt(f_used ** 2 * r * (n - r) + 2.0),
        tau=tau, eigenvalues=lam, selection=selection,
        guaranteed=(selection is None or selection.guaranteed))


def subset_approximation(gram, eps, *, f=1.0, method="srrqr", relative=False):
    """Theorem 3.1: ``r = rank_eps`` functions that carry all the others.

    With ``M = Q diag(lambda) Q^T`` (eigenvalues descending), ``r`` the number
    of eigenvalues ``> eps`` and ``V = Q[:, :r]``, the rows ``I`` chosen by
    :func:`rankcore.select_rows` give, for every ``j`` not in ``I``,
    coefficients ``a_j = V_I^-T V_j^T`` with

        ``||phi_j - sum_i a_j[i] phi_I[i]|| <= sqrt(eps) sqrt(1 + ||a_j||**2)
        <= sqrt(eps) sqrt(f**2 r (n - r) + 2)``.

    Parameters
    ----------
    gram : array_like, shape (n, n)
        Symmetric positive semi-definite Gram matrix ``M_ij = <phi_i, phi_j>``.
    eps : float
        Threshold > 0 (absolute, as in the paper, unless ``relative``).
    f : float, default 1.0
        Strong-RRQR parameter (``>= 1``) for ``method="srrqr"``.
    method : {"srrqr", "qrcp", "brute"}
        Row selection (see :func:`rankcore.select_rows`).  With ``"qrcp"``
        the per-function bounds still hold; the worst case is not guaranteed.
    relative : bool, default False
        Use ``eps * lambda_max`` as the threshold.

    Returns
    -------
    SubsetApproximation
        ``rank``, ``indices``, ``others``, ``coefficients``, ``errors``,
        ``bounds``, ``bounds_tol``, ``worst_case_bound``, ``tau``, ...

    Raises
    ------
    ValueError
        If ``gram`` is not a finite square symmetric matrix (relative
        asymmetry above ``rankcore.rank.SYMMETRY_RTOL``), ``eps <= 0``,
        ``f < 1``, or the method is unknown (or ``"brute"`` with ``n > 20``).
    TypeError
        If ``eps`` or ``f`` is not a real number or ``relative`` not a bool.

    Warns
    -----
    rankcore.NegativeEigenvalueWarning
        If ``gram`` has a negative eigenvalue beyond rounding.

    See Also
    --------
    loss_lower_bound : Theorem 3.2, built on this approximation.
    rankcore.select_rows : The row selection behind ``indices``.

    Notes
    -----
    ``errors`` are evaluated from ``M`` itself, independently of the
    eigenvectors, so comparing them with ``bounds`` tests the theorem rather
    than restating its proof.  In floating point the inequality holds with
    ``eps`` replaced by ``eps + tau`` (``bounds_tol``); ``tau = 4 n 2**-52
    lambda_max`` is the size of the eigensolver's backward error.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore import subset_approximation
    >>> x = np.linspace(-1, 1, 200)
    >>> Phi = np.stack([x ** p for p in range(8)], axis=1)
    >>> M = Phi.T @ Phi / 100
    >>> res = subset_approximation(M, 1e-3)
    >>> res.rank, res.indices.tolist(), res.coefficients.shape
    (6, [0, 1, 2, 3, 6, 7], (6, 2))
    >>> bool(np.all(res.errors <= res.bounds))
    True
    """
    M = _check_gram(gram)
    eps = check_positive_scalar(eps, "eps")
    f = _check_method_f(method, f)
    return _subset_approximation(M, eps, _check_relative(relative), f, method)


@dataclass(frozen=True, eq=False)
class LossLowerBound:
    """Theorem 3.2 evaluated for one coefficient vector.

    Made by :func:`loss_lower_bound`; the parameters are also the attributes
    of the same name.

    Parameters
    ----------
    sqrt_loss : float
        The actual ``sqrt(L(c)) = ||sum_j c_j phi_j - u||`` from
        ``c.M.c - 2 c.b + ||u||**2`` (clipped at 0).
    distance : float
        ``dist(u, span{phi_i : i in I}) = sqrt(||u||**2 - b_I.M_II^-1.b_I)``.
    eps_term : float
        ``sqrt(eps) * sqrt(f**2 r (n - r) + 2) * sum_{j not in I} |c_j|``.
    bound : float
        ``distance - eps_term``: the theorem's lower bound on ``sqrt_loss``
        (may be negative, then it says nothing).
    eps_term_per_function, bound_per_function : float
        The same with ``sum_j |c_j| sqrt(eps) sqrt(1 + ||a_j||**2)``, which
        is never larger than ``eps_term`` when the selection is guaranteed,
        hence a tighter valid bound.
    eps_term_exact, bound_exact : float
        The same with ``sum_j |c_j| errors_j`` (the measured approximation
        errors): the tightest bound this argument gives.
    tolerance : float
        Rounding allowance for comparing a bound with ``sqrt_loss``: both
        are square roots of differences of terms of size about
        ``S = ||u||**2 + lambda_max ||c||_1**2``, so each may be off by about
        ``sqrt(4 n 2**-52 S)``; ``distance`` solves with ``M_II`` and may be
        off by ``delta / max(distance, sqrt(delta))`` with ``delta = 4 n
        2**-52 cond(M_II) b_I.M_II^-1.b_I`` (at most ``||u||``); and the tau
        part of the approximation errors adds ``sqrt(tau) * sum |c_j| *
        sqrt(1 + ||a_j||**2)``.
    approximation : SubsetApproximation
        The Theorem 3.1 result the bound was built on (``rank``, ``eps``,
        ``indices``, ...).
    """

    sqrt_loss: float
    distance: float
    eps_term: float
    bound: float
    eps_term_per_function: float
    bound_per_function: float
    eps_term_exact: float
    bound_exact: float
    tolerance: float
    approximation: SubsetApproximation

    @property
    def rank(self) -> int:
        """The epsilon-rank ``r`` of the underlying :class:`SubsetApproximation`."""
        return self.approximation.rank

    @property
    def eps(self) -> float:
        """The absolute threshold used (``eps * lambda_max`` if relative)."""
        return self.approximation.eps


def _distance2(M, b, u_norm2, idx):
    """``(||u||^2 - b_I.M_II^-1.b_I, its rounding allowance)``."""
    if idx.size == 0:
        return u_norm2, 0.0
    MII = M[np.ix_(idx, idx)]
    bI = b[idx]
    w, U = scipy.linalg.eigh(MII, check_finite=False)
    wmax = max(float(w[-1]), 0.0)
    try:
        cf = scipy.linalg.cho_factor(MII, check_finite=False)
        proj = float(bI @ scipy.linalg.cho_solve(cf, bI, check_finite=False))
        cond = wmax / float(w[0]) if w[0] > 0 else np.inf
    except np.linalg.LinAlgError:
        # M_II >= lambda_r sigma_min(V_I)**2 > 0 in exact arithmetic; only a
        # numerically singular block gets here: project on its range instead.
        keep = w > ROUNDING_FACTOR * MII.shape[0] * _U * wmax
        z = U[:, keep].T @ bI
        proj = float(np.sum(z * z / w[keep]))
        cond = wmax / float(w[keep][0]) if np.any(keep) else np.inf
    # A Cholesky solve with M_II is backward stable, so the projection term
    # is off by about cond(M_II) * 2**-52 relative to itself.
    return u_norm2 - proj, TAU_FACTOR * M.shape[0] * _U * cond * abs(proj)


def loss_lower_bound(gram, b, u_norm2, c, eps, *, f=1.0, method="srrqr",
                     relative=False, approximation=None):
    """Theorem 3.2: a lower bound on the L2 loss from the epsilon-rank.

    For ``v = sum_j c_j phi_j`` and target ``u``, with ``I`` the ``r``
    functions of :func:`subset_approximation`,

        ``sqrt(L) = ||v - u|| >= dist(u, span phi_I)
        - sqrt(eps) sqrt(f**2 r (n - r) + 2) sum_{j not in I} |c_j|``.

    Everything is computed from inner products, so quadrature data suffice
    (see :func:`loss_lower_bound_from_features`).

    Parameters
    ----------
    gram : array_like, shape (n, n)
        ``M_ij = <phi_i, phi_j>``.
    b : array_like, shape (n,)
        ``b_j = <phi_j, u>``.
    u_norm2 : float
        ``||u||**2 >= 0``.
    c : array_like, shape (n,)
        Coefficients of ``v``.
    eps : float
        Threshold > 0 (absolute unless ``relative``).
    f : float, default 1.0
        Strong-RRQR parameter, as for :func:`subset_approximation`.
    method : {"srrqr", "qrcp", "brute"}, default "srrqr"
        Row selection, as for :func:`subset_approximation`.
    relative : bool, default False
        Use ``eps * lambda_max`` as the threshold.
    approximation : SubsetApproximation, optional
        A result of ``subset_approximation(gram, eps, ...)`` to reuse (for
        many ``c`` with the same Gram matrix); it must have been computed
        from the same ``gram``.  Its ``eps``, ``f`` and selection are then
        used, and ``eps``, ``f``, ``method`` and ``relative`` given here are
        only validated.

    Returns
    -------
    LossLowerBound
        ``bound``, ``distance``, ``eps_term``, ``sqrt_loss``, the tighter
        ``bound_per_function`` and ``bound_exact``, ``tolerance`` and the
        underlying ``approximation``.

    Raises
    ------
    ValueError
        On a bad ``gram`` (as :func:`subset_approximation`), ``b`` or ``c``
        not finite of shape ``(n,)``, ``u_norm2`` negative or not finite,
        ``eps <= 0``, an ``approximation`` of another size or whose
        eigenvalues do not sum to ``trace(gram)``, or inputs so large that
        the loss or distance overflows float64.
    TypeError
        If ``relative`` is not a bool or ``approximation`` not a
        :class:`SubsetApproximation`.

    See Also
    --------
    loss_lower_bound_from_features : The same from sampled features.
    residual_lower_bound : The PDE form.
    subset_approximation : Theorem 3.1.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore import loss_lower_bound
    >>> x = np.linspace(0, 1, 400); w = np.full(400, 1 / 400)
    >>> Phi = np.stack([np.tanh(4 * (x - t)) for t in np.linspace(0, 1, 6)], 1)
    >>> u = np.sin(12 * x)
    >>> M, b, uu = Phi.T @ (w[:, None] * Phi), Phi.T @ (w * u), w @ u ** 2
    >>> c = np.linalg.lstsq(M, b, rcond=None)[0]
    >>> res = loss_lower_bound(M, b, uu, c, 1e-8)
    >>> bool(res.bound <= res.sqrt_loss + res.tolerance)
    True
    """
    M = _check_gram(gram)
    n = M.shape[0]
    b = as_array(b, "b", ndim=1)
    c = as_array(c, "c", ndim=1)
    for name, v in (("b", b), ("c", c)):
        if v.shape != (n,):
            raise ValueError(
                f"{name} must have shape ({n},) to match gram, got {describe(v)}")
    u_norm2 = check_positive_scalar(u_norm2, "u_norm2", allow_zero=True)
    eps = check_positive_scalar(eps, "eps")
    f = _check_method_f(method, f)
    relative = _check_relative(relative)
    if approximation is None:
        approximation = _subset_approximation(M, eps, relative, f, method)
    elif not isinstance(approximation, SubsetApproximation):
        raise TypeError(
            f"approximation must be a SubsetApproximation, got {describe(approximation)}")
    elif approximation.n != n:
        raise ValueError(
            f"approximation is for n={approximation.n} functions, gram has n={n}")
    else:
        # Cheap consistency check: the eigenvalues of the Gram matrix the
        # approximation came from must sum to trace(gram) up to rounding.
        lam = approximation.eigenvalues
        scale = float(np.max(np.abs(lam))) + float(np.max(np.abs(np.diag(M))))
        gap = abs(float(np.sum(lam)) - float(np.trace(M)))
        if not gap <= 16.0 * n * n * _U * scale:
            raise ValueError(
                f"approximation was not computed from this gram: its eigenvalues "
                f"sum to {float(np.sum(lam)):.6g} but trace(gram) = "
                f"{float(np.trace(M)):.6g}; call subset_approximation(gram, eps) "
                f"with the same gram")
    ap = approximation
    idx, others = ap.indices, ap.others
    r = ap.rank

    with np.errstate(over="ignore", invalid="ignore"):
        d2, d2_err = _distance2(M, b, u_norm2, idx)
        loss2 = float(c @ (M @ c) - 2.0 * (c @ b) + u_norm2)
        ac = np.abs(c[others])
        tail = float(np.sum(ac))
        eps_term = math.sqrt(ap.eps) * math.sqrt(ap.f ** 2 * r * (n - r) + 2.0) * tail
        eps_pf = float(ac @ ap.bounds)
        eps_ex = float(ac @ ap.errors)
        lmax = max(float(ap.eigenvalues[0]), 0.0)
        scale = float(u_norm2 + lmax * np.float64(np.sum(np.abs(c))) ** 2)
    # Huge b, c or u_norm2 overflow float64; clipping -inf or NaN to 0 below
    # would turn that into a silently wrong sqrt_loss or distance.
    for what, v in (("the loss c.M.c - 2 c.b + u_norm2", loss2),
                    ("the distance ||u||**2 - b_I.M_II^-1.b_I", d2),
                    ("the rounding allowance", d2_err), ("sum |c_j|", tail),
                    ("the eps terms", eps_term + eps_pf + eps_ex),
                    ("lambda_max ||c||_1**2 + u_norm2", scale)):
        if not math.isfinite(v):
            raise ValueError(
                f"loss_lower_bound overflows float64: {what} is {v!r} (max |b| = "
                f"{float(np.max(np.abs(b))):.3g}, max |c| = {float(np.max(np.abs(c))):.3g}, "
                f"u_norm2 = {u_norm2:.3g}, lambda_max = {lmax:.3g}); rescale the "
                f"functions, target or coefficients")
    dist = math.sqrt(max(d2, 0.0))
    sqrt_loss = math.sqrt(max(loss2, 0.0))
    growth = 1.0 + np.einsum("ij,ij->j", ap.coefficients, ap.coefficients)
    # |sqrt(a) - sqrt(a')| <= |a - a'| / max(sqrt(a), sqrt|a - a'|).
    dist_tol = d2_err / max(dist, math.sqrt(d2_err)) if d2_err > 0 else 0.0
    tol = (2.0 * math.sqrt(TAU_FACTOR * n * _U * scale) + min(dist_tol, math.sqrt(u_norm2))
           + math.sqrt(ap.tau) * float(ac @ np.sqrt(growth)))
    return LossLowerBound(
        sqrt_loss=sqrt_loss, distance=dist, eps_term=eps_term,
        bound=dist - eps_term, eps_term_per_function=eps_pf,
        bound_per_function=dist - eps_pf, eps_term_exact=eps_ex,
        bound_exact=dist - eps_ex, tolerance=tol, approximation=ap)


def loss_lower_bound_from_features(features, target, weights, c, eps, *, f=1.0,
                                   method="srrqr", relative=False):
    """:func:`loss_lower_bound` from sampled functions and quadrature weights.

    Everything is computed from the features themselves, never through
    ``M = Phi^T W Phi``: with ``W^(1/2) [Phi, u] = Q R`` (chunked
    Householder QR), the eigenvalues are ``sigma**2`` of ``R[:, :n]`` (as
    :func:`rankcore.spectrum_from_features`, hence the same epsilon-rank),
    every norm is ``||R x||`` (``sqrt_loss``, the approximation errors of
    Theorem 3.1) and the distance of ``u`` from ``span phi_I`` is the last
    diagonal entry of a QR of ``R[:, I + [u]]``.  Through ``M`` these
    quantities are differences of squares and lose half the digits: errors
    below ``sqrt(2**-52 * lambda_max)`` vanish and a "lower bound" can
    exceed the loss.

    Parameters
    ----------
    features : array_like, shape (N, n)
        ``Phi[k, j] = phi_j(x_k)`` at the quadrature points.
    target : array_like, shape (N,)
        ``u(x_k)``.
    weights : array_like, shape (N,)
        Quadrature weights, > 0.
    c : array_like, shape (n,)
        Coefficients of ``v = sum_j c_j phi_j``.
    eps : float
        Threshold > 0.
    f : float, default 1.0
        Strong-RRQR parameter, as for :func:`loss_lower_bound`.
    method : {"srrqr", "qrcp", "brute"}, default "srrqr"
        Row selection, as for :func:`loss_lower_bound`.
    relative : bool, default False
        Use ``eps * lambda_max`` as the threshold.

    Returns
    -------
    LossLowerBound
        As :func:`loss_lower_bound`; ``tolerance`` is the rounding allowance
        of norms computed from ``R``: ``4 (n + 1) 2**-52 (sqrt(lambda_max)
        ||c||_1 + ||u||)`` for ``sqrt_loss`` and ``distance`` each, plus
        ``delta sum_j |c_j| sqrt(1 + ||a_j||**2)`` with ``delta = 4 n
        2**-52 sqrt(lambda_max)`` for the approximation errors.

    Raises
    ------
    ValueError
        On shapes that do not match, non-finite values, weights <= 0, or a
        target so large that ``u^T W u`` overflows float64.

    See Also
    --------
    loss_lower_bound : The same from the Gram matrix and inner products.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore import loss_lower_bound_from_features, quadrature
    >>> q = quadrature.gauss_legendre((-1.0, 1.0), 64)
    >>> x = q.points[:, 0]
    >>> Phi = np.stack([np.tanh(3 * x + s) for s in np.linspace(-2, 2, 5)], 1)
    >>> res = loss_lower_bound_from_features(Phi, np.abs(x), q.weights,
    ...                                      np.ones(5), 1e-10)
    >>> bool(res.bound <= res.sqrt_loss + res.tolerance)
    True
    """
    Phi = as_array(features, "features", ndim=2, keep_float32=True)
    u = as_array(target, "target", ndim=1)
    N, n = Phi.shape
    if u.shape != (N,):
        raise ValueError(
            f"target must have shape ({N},) to match features, got {describe(u)}")
    w = check_weights(weights, "weights", N, per="row of the features")
    c = as_array(c, "c", ndim=1)
    if c.shape != (n,):
        raise ValueError(f"c must have shape ({n},) to match features, got {describe(c)}")
    eps = check_positive_scalar(eps, "eps")
    f = _check_method_f(method, f)
    relative = _check_relative(relative)
    with np.errstate(over="ignore", invalid="ignore"):
        u_norm2 = float(np.sum(w * u * u))
    if not math.isfinite(u_norm2):
        raise ValueError(
            f"target is too large for float64: u^T W u = {u_norm2!r} overflows "
            f"(max |target| = {float(np.max(np.abs(u))):.3g}, max |features| = "
            f"{float(np.max(np.abs(Phi))):.3g}); rescale the target or the features")
    R = weighted_r_factor(Phi, w)
    ap = _subset_from_r(R, eps, relative, f, method)
    aug = np.empty((N, n + 1))
    aug[:, :n] = Phi
    aug[:, n] = u
    Ra = weighted_r_factor(aug, w)
    idx, others = ap.indices, ap.others
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.append(c, -1.0)
        sqrt_loss = float(np.linalg.norm(Ra @ x))
        rr = scipy.linalg.qr(Ra[:, np.append(idx, n)], mode="r", check_finite=False)[0]
        k = idx.size
        dist = float(abs(rr[k, k])) if rr.shape[0] > k else 0.0
        ac = np.abs(c[others])
        tail = float(np.sum(ac))
        r, n_ = ap.rank, ap.n
        eps_term = math.sqrt(ap.eps) * math.sqrt(ap.f ** 2 * r * (n_ - r) + 2.0) * tail
        eps_pf = float(ac @ ap.bounds)
        eps_ex = float(ac @ ap.errors)
        smax = math.sqrt(float(ap.eigenvalues[0]))
        c1 = float(np.sum(np.abs(c)))
        growth = 1.0 + np.einsum("ij,ij->j", ap.coefficients, ap.coefficients)
        tol = (2.0 * TAU_FACTOR * (n + 1) * _U * (smax * c1 + math.sqrt(u_norm2))
               + TAU_FACTOR * n * _U * smax * float(ac @ np.sqrt(growth)))
    for what, v in (("the loss ||Phi c - u||", sqrt_loss), ("the distance", dist),
                    ("the eps terms", eps_term + eps_pf + eps_ex), ("the tolerance", tol)):
        if not math.isfinite(v):
            raise ValueError(
                f"loss_lower_bound_from_features overflows float64: {what} is {v!r} "
                f"(max |c| = {float(np.max(np.abs(c))):.3g}, lambda_max = "
                f"{smax * smax:.3g}); rescale the features, target or coefficients")
    return LossLowerBound(
        sqrt_loss=sqrt_loss, distance=dist, eps_term=eps_term,
        bound=dist - eps_term, eps_term_per_function=eps_pf,
        bound_per_function=dist - eps_pf, eps_term_exact=eps_ex,
        bound_exact=dist - eps_ex, tolerance=tol, approximation=ap)


def residual_lower_bound(loss_bound, stability, *, which="bound"):
    """Theorem 3.2 for a well-posed PDE: a lower bound on the residual.

    Let ``u`` solve ``L u = f`` in the domain with ``B u = g`` on its
    boundary, and let the problem be stable on the trial functions: every
    ``w`` in ``span{phi_j} + {u}`` satisfies ``||w|| <= C R(w)`` with
    ``R(w) = ||L w|| + ||B w||`` (any norms for which such ``C`` is known).
    Then every ``v = sum_j c_j phi_j`` has

        ``R(v - u) = ||L v - f|| + ||B v - g|| >= ||v - u|| / C
        >= (dist(u, span phi_I) - eps term) / C``,

    so the residual a PINN or a least-squares solver can reach is bounded
    below by a quantity that falls only as the epsilon-rank grows.

    Parameters
    ----------
    loss_bound : LossLowerBound
        The L2 bound for fitting the exact solution ``u`` with the same
        coefficients, from :func:`loss_lower_bound` or
        :func:`loss_lower_bound_from_features`.
    stability : float
        The stability constant ``C > 0``.  For example, for ``-u'' = f`` on
        ``(0, 1)`` with Dirichlet data, ``||w||_{L2} <= ||w''||_{L2} / pi**2 +
        |w(0)| + |w(1)|``, so ``C = 1`` with ``R(w) = ||w''|| + |w(0)| +
        |w(1)|``.
    which : {"bound", "bound_per_function", "bound_exact"}
        Which of the (increasingly tight) L2 bounds to divide by ``C``.

    Returns
    -------
    float
        ``loss_bound.<which> / stability``; a negative value says nothing.

    Raises
    ------
    TypeError
        If ``loss_bound`` is not a :class:`LossLowerBound`.
    ValueError
        If ``stability`` is not a finite number > 0 or ``which`` is unknown.

    See Also
    --------
    loss_lower_bound, loss_lower_bound_from_features : The bounds it divides.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore import loss_lower_bound_from_features, residual_lower_bound
    >>> from rankcore.quadrature import gauss_legendre
    >>> q = gauss_legendre((0.0, 1.0), 64); x = q.points[:, 0]
    >>> Phi = np.stack([np.tanh(2 * x + s) for s in (-1.0, 0.0, 1.0)], 1)
    >>> u = np.sin(4 * np.pi * x)
    >>> lb = loss_lower_bound_from_features(Phi, u, q.weights, np.ones(3), 1e-6)
    >>> rb = residual_lower_bound(lb, 1.0)  # -u'' = f, Dirichlet data, C = 1
    >>> bool(rb > 0.5)  # no combination of three slow tanh gets close
    True
    """
    if not isinstance(loss_bound, LossLowerBound):
        raise TypeError(
            f"loss_bound must be a LossLowerBound (from loss_lower_bound), "
            f"got {describe(loss_bound)}")
    c = check_positive_scalar(stability, "stability")
    check_choice(which, "which", ("bound", "bound_per_function", "bound_exact"))
    return float(getattr(loss_bound, which)) / c
