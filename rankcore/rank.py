"""Spectra of Gram matrices and the epsilon-rank.

The epsilon-rank of functions phi_1..phi_n is the number of eigenvalues of
their Gram matrix above eps.  The whole spectrum determines it for every eps
at once, which is why snapshots store spectra, not ranks.

Accuracy.  Eigenvalues of a float64 Gram matrix carry an absolute error of
about ``n * 2**-52 * lambda_max``, so thresholds down to ~1e-12 * lambda_max
are meaningful through ``spectrum``.  Below that use
``spectrum_from_features``, which takes singular values of ``W^(1/2) Phi``
(``sigma_i**2 = lambda_i``) and resolves eigenvalues far smaller.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import qr, svdvals

from .validation import (as_array, check_bool, check_choice, check_positive_scalar,
                        check_weights, describe)
from . import backends
from ._warn import warn
from .gram import default_chunk_rows

__all__ = [
    "NegativeEigenvalueWarning",
    "spectrum",
    "spectrum_from_features",
    "eps_rank",
    "is_eps_independent",
    "check_gram_stack",
    "weighted_r_factor",
    "spectrum_from_r",
    "ROUNDING_FACTOR",
    "SYMMETRY_RTOL",
]

#: A negative eigenvalue of magnitude up to ``ROUNDING_FACTOR * n * 2**-52 *
#: lambda_max`` is rounding of the eigensolver or of the assembly and is
#: clipped silently; a larger one means the matrix is not a Gram matrix (or
#: was accumulated in low precision) and is reported.
ROUNDING_FACTOR = 16.0

#: ``spectrum`` refuses matrices with ``max|M - M^T| > SYMMETRY_RTOL *
#: max|M|``; smaller asymmetry (float32 round-off) is averaged away.
SYMMETRY_RTOL = 1e-6


class NegativeEigenvalueWarning(RuntimeWarning):
    """A Gram matrix had negative eigenvalues larger than rounding explains."""


def check_gram_stack(gram, name="gram"):
    """A finite symmetric (n, n) matrix or (T, n, n) stack, as float64.

    The validation ``spectrum`` and the theorems share: asymmetry up to
    ``SYMMETRY_RTOL * max|M|`` (float32 round-off) is accepted, larger is
    refused.

    Parameters
    ----------
    gram : array_like
        The matrix or stack received.
    name : str, default "gram"
        Argument name for error messages.

    Returns
    -------
    ndarray
        ``gram`` as float64 (not symmetrised).

    Raises
    ------
    ValueError
        Not 2-D or 3-D, not square, not finite, or not symmetric.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.rank import check_gram_stack
    >>> check_gram_stack(np.eye(2)).shape
    (2, 2)
    """
    m = as_array(gram, name, ndim=(2, 3))
    if m.shape[-1] != m.shape[-2]:
        raise ValueError(f"{name} must be square (n, n) or a stack (T, n, n), got {describe(m)}")
    scale = np.max(np.abs(m), axis=(-2, -1), keepdims=True)
    # Halves first: m - m.T overflows for entries near the float64 limit.
    half = 0.5 * m
    asym = 2.0 * np.max(np.abs(half - np.swapaxes(half, -1, -2)), axis=(-2, -1),
                        keepdims=True)
    bad = asym > SYMMETRY_RTOL * scale
    if np.any(bad):
        where = "" if m.ndim == 2 else f" (matrix {int(np.argmax(bad.ravel()))} of the stack)"
        raise ValueError(
            f"{name} must be symmetric, but max|M - M^T| = {float(np.max(asym)):.3g} "
            f"exceeds {SYMMETRY_RTOL:g} * max|M|{where}")
    return m


def spectrum(gram, *, check_finite=True) -> np.ndarray:
    """Compute the eigenvalues of a Gram matrix (or a stack of them), descending.

    Parameters
    ----------
    gram : array_like, shape (n, n) or (T, n, n)
        Symmetric positive semi-definite matrix or stack of matrices.
    check_finite : bool, default True
        Check for NaN/inf and symmetry.  Turn off only for matrices made by
        ``rankcore.gram``.

    Returns
    -------
    ndarray, shape (n,) or (T, n)
        Eigenvalues in float64, descending.  Negative eigenvalues caused by
        rounding are clipped to 0.

    Raises
    ------
    ValueError
        If the input is not square, not symmetric (to ``SYMMETRY_RTOL``) or
        not finite.

    Warns
    -----
    NegativeEigenvalueWarning
        When an eigenvalue is below ``-ROUNDING_FACTOR * n * 2**-52 *
        lambda_max``, which rounding cannot explain.

    Examples
    --------
    >>> import numpy as np
    >>> import rankcore
    >>> rankcore.spectrum(np.diag([1.0, 3.0, 2.0])).tolist()
    [3.0, 2.0, 1.0]
    """
    if check_finite:
        m = check_gram_stack(gram)
        m = 0.5 * m + 0.5 * np.swapaxes(m, -1, -2)  # no overflow near 1e308
    else:
        m = np.asarray(gram, dtype=np.float64)
    lam = np.linalg.eigvalsh(m)[..., ::-1]
    n = m.shape[-1]
    lmax = np.maximum(lam[..., :1], 0.0)
    tol = ROUNDING_FACTOR * n * np.finfo(np.float64).eps * lmax
    neg = lam[..., -1:] < -tol
    if np.any(neg):
        k = int(np.argmax(neg.ravel()))
        worst = float(lam.reshape(-1, n)[k, -1])
        where = "" if lam.ndim == 1 else f" in matrix {k} of the stack"
        warn(
            f"Gram matrix has eigenvalue {worst:.3g}{where}, below the rounding "
            f"level -{float(tol.ravel()[k]):.3g}; it is not positive semi-definite "
            "(low-precision accumulation?). Negative eigenvalues were clipped to 0.",
            NegativeEigenvalueWarning)
    return np.ascontiguousarray(np.maximum(lam, 0.0))


def spectrum_from_features(features, weights) -> np.ndarray:
    """Compute the eigenvalues of ``Phi^T W Phi`` from singular values of ``W^(1/2) Phi``.

    The accurate path for thresholds below ~1e-12 * lambda_max: the absolute
    error of ``sigma_i`` is about ``2**-52 * sigma_max``, so ``lambda_i =
    sigma_i**2`` is resolved down to roughly ``1e-30 * lambda_max`` instead of
    ``1e-16 * lambda_max`` through the Gram matrix.  Rows are reduced chunk by
    chunk with Householder QR (memory O(chunk * n + n**2)) before one small SVD.

    Parameters
    ----------
    features : array_like, shape (N, n)
        Function values at the quadrature points.  A ``dask.array`` chunked
        along the rows is reduced on the Dask workers by tall-skinny QR
        (``rankcore.distributed.spectrum_from_features``).
    weights : array_like, shape (N,)
        Positive quadrature weights (for dask features: the same row chunks).

    Returns
    -------
    ndarray, shape (n,)
        Eigenvalues, descending (zeros appended when N < n).

    Raises
    ------
    ValueError
        As ``rankcore.gram``.

    Examples
    --------
    >>> import numpy as np
    >>> import rankcore
    >>> q = rankcore.quadrature.gauss_legendre([(0, 1)], order=20)
    >>> x = q.points[:, 0]
    >>> phi = np.stack([x, x + 1e-9 * x**2], axis=1)   # nearly dependent
    >>> lam = rankcore.spectrum_from_features(phi, q.weights)
    >>> bool(1e-21 < lam[1] < 1e-19)   # far below what eigh of M resolves
    True
    """
    other = backends.find(features, "spectrum_from_features")
    if other is not None:  # e.g. a Dask array: tall-skinny QR on the workers
        return other(features, weights)
    f = as_array(features, "features", ndim=2, keep_float32=True)
    w = check_weights(weights, "weights", f.shape[0], per="row of the features")
    return spectrum_from_r(weighted_r_factor(f, w))


def weighted_r_factor(features, weights) -> np.ndarray:
    """The triangular factor ``R`` of ``W^(1/2) Phi = Q R``, chunk by chunk.

    ``R^T R = Phi^T W Phi`` (the Gram matrix), and for every vector ``c``,
    ``||R c|| = ||sum_j c_j phi_j||`` in the quadrature norm, computed
    without the cancellation that evaluating ``c.M.c`` suffers.  Rows are
    reduced ``default_chunk_rows(n)`` at a time with Householder QR, so the
    extra memory is O(chunk * n + n**2).  No validation: pass a finite 2-D
    float array and positive weights of matching length (as
    ``spectrum_from_features`` does after checking them).

    Parameters
    ----------
    features : ndarray, shape (N, n)
        Function values at the quadrature points, float32 or float64.
    weights : ndarray, shape (N,)
        Positive quadrature weights (float64).

    Returns
    -------
    ndarray, shape (min(N, n), n)
        The factor ``R`` in float64, upper triangular (up to the signs of its rows).

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.rank import weighted_r_factor
    >>> phi = np.random.default_rng(0).standard_normal((500, 3))
    >>> w = np.full(500, 0.01)
    >>> R = weighted_r_factor(phi, w)
    >>> bool(np.allclose(R.T @ R, phi.T @ (w[:, None] * phi)))
    True
    """
    sw = np.sqrt(weights)
    n = features.shape[1]
    step = default_chunk_rows(n)
    r = np.zeros((0, n))
    for start in range(0, features.shape[0], step):
        stop = min(start + step, features.shape[0])
        block = np.empty((r.shape[0] + stop - start, n))
        block[:r.shape[0]] = r
        np.multiply(features[start:stop], sw[start:stop, None], out=block[r.shape[0]:])
        r = qr(block, mode="r", overwrite_a=True, check_finite=False)[0][:n]
    return r


def spectrum_from_r(r) -> np.ndarray:
    """Compute the eigenvalues of ``R^T R`` as squared singular values of R.

    The last step of ``spectrum_from_features``; ``R`` has ``n`` columns and
    any number of rows (zeros are appended when it has fewer than ``n``).

    Parameters
    ----------
    r : array_like, shape (m, n)
        The factor ``R`` (any number ``m`` of rows), converted to float64.

    Returns
    -------
    ndarray, shape (n,)
        Eigenvalues ``sigma**2``, descending.

    Raises
    ------
    ValueError
        When an eigenvalue ``sigma**2`` exceeds the float64 range (features
        above about 1e154 in the quadrature norm): rescale the features.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.rank import spectrum_from_r
    >>> spectrum_from_r(np.array([[2.0, 0.0], [0.0, 3.0]])).round(12).tolist()
    [9.0, 4.0]
    """
    r = np.asarray(r, dtype=np.float64)
    n = r.shape[1]
    sigma = svdvals(r, check_finite=False) if r.size else np.zeros(0)
    with np.errstate(over="ignore"):
        sq = sigma**2
    if not np.all(np.isfinite(sq)):
        raise ValueError(
            f"features too large: the largest eigenvalue sigma**2 with sigma = "
            f"{float(sigma[0]):.3g} overflows float64; rescale the features (the "
            "epsilon-rank relative to lambda_max does not change)")
    lam = np.zeros(n)
    lam[:sigma.size] = sq
    return lam


def _check_eps(eps):
    if np.ndim(eps) == 0:
        return check_positive_scalar(eps, "eps"), True
    e = as_array(eps, "eps", ndim=1)
    if np.any(e <= 0):
        k = int(np.argmax(e <= 0))
        raise ValueError(f"eps must be > 0, but eps[{k}] = {e[k].item()!r}")
    return e, False


def eps_rank(x, eps, relative=False, kind="spectrum"):
    """Number of eigenvalues above ``eps`` (the epsilon-rank).

    Parameters
    ----------
    x : array_like
        With ``kind="spectrum"`` (the default): eigenvalues, a spectrum (n,)
        or a stack of spectra (T, n), in any order (as returned by
        ``spectrum``, ``spectrum_from_features`` or ``Run.spectra``).  An
        empty stack (0, n) gives an empty result.  With ``kind="gram"``: a
        Gram matrix (n, n) or a stack of them (T, n, n), whose spectra are
        computed with ``spectrum`` first.
    eps : float or 1-D array_like
        Threshold(s), each finite and > 0.  An array adds a trailing axis.
    relative : bool, default False
        Count ``lambda > eps * lambda_max`` instead of the absolute
        ``lambda > eps``.
    kind : {"spectrum", "gram"}, default "spectrum"
        What ``x`` holds.  The shape never decides it: a square stack of
        spectra (T == n) and a Gram matrix look alike, so a Gram matrix must
        be named as such.

    Returns
    -------
    int or ndarray of int64
        Shape ``x``'s stack shape (if any) followed by ``eps``'s shape.

    Raises
    ------
    ValueError
        On eps <= 0 or non-finite, non-finite x, a shape that does not fit
        ``kind``, or, for ``kind="spectrum"``, eigenvalues below
        ``-ROUNDING_FACTOR * n * 2**-52 * lambda_max`` (no spectrum of a Gram
        matrix has those: a Gram matrix passed without ``kind="gram"`` is
        the usual cause).

    See Also
    --------
    spectrum : Eigenvalues of a Gram matrix.
    spectrum_from_features : Eigenvalues accurate far below 1e-12 * lambda_max.

    Examples
    --------
    >>> import numpy as np
    >>> import rankcore
    >>> lam = np.array([1.0, 1e-3, 1e-7, 0.0])
    >>> rankcore.eps_rank(lam, 1e-6)
    2
    >>> rankcore.eps_rank(lam, [1e-1, 1e-4, 1e-8]).tolist()
    [1, 2, 3]
    >>> rankcore.eps_rank(np.diag(lam), 1e-6, kind="gram")  # a Gram matrix
    2
    >>> rankcore.eps_rank(np.tile(lam, (4, 1)), 1e-6).tolist()  # 4 spectra
    [2, 2, 2, 2]
    """
    e, scalar = _check_eps(eps)
    if kind == "auto":
        raise ValueError("kind must be 'spectrum' or 'gram', got 'auto': the shape of x "
                         "no longer decides; pass kind='gram' for Gram matrices")
    check_choice(kind, "kind", ("spectrum", "gram"))
    if kind == "gram":
        arr = as_array(x, "x", ndim=(2, 3))
        lam = spectrum(arr)
    else:
        arr = as_array(x, "x", ndim=(1, 2), allow_empty=True)
        if arr.shape[-1] == 0:
            raise ValueError(f"x must hold at least one eigenvalue per spectrum, got {describe(arr)}")
        lam = arr
        if lam.size:
            lmax = np.maximum(np.max(lam, axis=-1), 0.0)
            floor = -ROUNDING_FACTOR * lam.shape[-1] * np.finfo(np.float64).eps * lmax
            bad = np.min(lam, axis=-1) < floor
            if np.any(bad):
                k = int(np.argmax(np.ravel(bad)))
                where = "" if lam.ndim == 1 else f" (spectrum {k} of the stack)"
                raise ValueError(
                    f"x must hold eigenvalues of a Gram matrix (>= 0 up to rounding), but "
                    f"it has {float(np.min(lam.reshape(-1, lam.shape[-1])[k])):.3g}{where}; "
                    "for a Gram matrix pass kind='gram' or use spectrum(M) first")
    check_bool(relative, "relative")
    if lam.size == 0:
        shape = lam.shape[:-1] + (() if scalar else (e.size,))
        return np.zeros(shape, dtype=np.int64)
    thr = np.atleast_1d(e).astype(np.float64)
    if relative:
        lmax = np.maximum(np.max(lam, axis=-1, keepdims=True), 0.0)
        thr_b = lmax[..., None] * thr  # (..., 1, E)
    else:
        thr_b = thr
    counts = _count_above(lam, thr_b)
    if scalar:
        counts = counts[..., 0]
        return int(counts) if counts.ndim == 0 else counts
    return counts


def _count_above(lam, thr):
    # Blocks of rows keep the boolean temporary small for long runs.
    lam2 = lam.reshape(-1, lam.shape[-1])
    thr2 = np.broadcast_to(thr, lam.shape[:-1] + (1, np.shape(thr)[-1])).reshape(
        lam2.shape[0], 1, -1)
    out = np.empty((lam2.shape[0], thr2.shape[-1]), dtype=np.int64)
    block = max(1, (1 << 24) // max(1, lam2.shape[1] * thr2.shape[-1]))
    for s in range(0, lam2.shape[0], block):
        out[s:s + block] = np.count_nonzero(
            lam2[s:s + block, :, None] > thr2[s:s + block], axis=1)
    return out.reshape(lam.shape[:-1] + (thr2.shape[-1],))


def is_eps_independent(gram, eps) -> bool:
    """Whether the functions behind ``gram`` are epsilon-linearly independent.

    True iff ``lambda_min(gram) > eps``, i.e. ``c^T M c > eps`` for every
    unit vector ``c``: every combination of the functions with unit
    coefficients has squared norm above ``eps``.

    Parameters
    ----------
    gram : array_like, shape (n, n)
        Gram matrix.
    eps : float
        Threshold > 0.

    Returns
    -------
    bool
        ``True`` when the smallest eigenvalue exceeds ``eps``, i.e. when the
        epsilon-rank equals ``n``.

    Raises
    ------
    ValueError
        ``gram`` not a finite symmetric square matrix, or ``eps`` not a
        finite positive number.

    Examples
    --------
    >>> import numpy as np
    >>> import rankcore
    >>> rankcore.is_eps_independent(np.diag([1.0, 1e-3]), 1e-4)
    True
    """
    e = check_positive_scalar(eps, "eps")
    m = as_array(gram, "gram", ndim=2)
    return bool(spectrum(m)[-1] > e)
