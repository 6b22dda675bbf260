"""Float64 assembly of quadrature Gram matrices ``M = Phi^T diag(w) Phi``.

The hot path of the library.  The rows of ``Phi`` are processed in chunks: each
chunk is scaled by ``sqrt(w)`` into a reused float64 buffer by a Numba kernel
(this is also the cast of float32 input, so no float64 copy of the whole array
is made) and
added into ``M`` with the BLAS symmetric rank-k update ``dsyrk``, which does
half the flops of a general product and accumulates in place.  Peak extra
memory is one chunk buffer plus ``M``: O(chunk * n + n**2), independent of N.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.linalg.blas import dsyrk

from ._gram_kernels import scale_rows_sqrt, symmetric_from_upper
from .validation import (as_array, check_positive_int, check_weights, describe,
                        first_nonfinite)
from . import backends

__all__ = ["gram", "default_chunk_rows", "GramAccumulator"]

#: Largest float64 chunk buffer in bytes: 4 MiB, the L2 cache of the
#: development machine, so that dsyrk reads the freshly scaled chunk from
#: cache.  Together with the row counts below this is what
#: ``bench/gram.py --chunks`` measured best: about 1024 rows for n <= 512
#: (fewer rows pay per-call overhead, more fall out of cache), 4 MiB worth
#: of rows beyond.
CHUNK_BYTES = 4 * 2**20
#: Rows per chunk when the buffer limit allows it.
TARGET_CHUNK_ROWS = 1024
#: dsyrk with fewer rows than this per call is dominated by reading and
#: writing M (n**2) instead of the rank-k update itself.
MIN_CHUNK_ROWS = 256


def default_chunk_rows(n: int) -> int:
    """Return the rows per chunk used for ``n`` functions (see ``CHUNK_BYTES``).

    Parameters
    ----------
    n : int
        Number of functions (columns of the features).

    Returns
    -------
    int
        ``TARGET_CHUNK_ROWS`` rows, fewer when a float64 chunk of ``n``
        columns would exceed ``CHUNK_BYTES``, but at least ``MIN_CHUNK_ROWS``.
    """
    return max(MIN_CHUNK_ROWS, min(TARGET_CHUNK_ROWS, CHUNK_BYTES // (8 * max(int(n), 1))))


class GramAccumulator:
    """Accumulates ``M = sum_k w_k phi(x_k) phi(x_k)^T`` chunk by chunk in float64.

    Useful when features arrive in pieces (a data loader, a model evaluated in
    batches).  ``rankcore.gram`` is built on it.

    Parameters
    ----------
    n : int
        Number of functions (columns of every chunk).
    chunk_rows : int, optional
        Rows per internal dsyrk chunk; default ``default_chunk_rows(n)``.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.gram import GramAccumulator
    >>> acc = GramAccumulator(2)
    >>> acc.add(np.array([[1.0, 0.0]]), np.array([4.0]))
    >>> acc.add(np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([1.0, 1.0]))
    >>> acc.result().tolist()
    [[5.0, 1.0], [1.0, 2.0]]
    """

    def __init__(self, n: int, chunk_rows=None):
        self.n = int(n)
        self.chunk_rows = (default_chunk_rows(self.n) if chunk_rows is None
                           else check_positive_int(chunk_rows, "chunk_rows"))
        # Fortran order so that dsyrk can update it in place (overwrite_c).
        self._c = np.zeros((self.n, self.n), dtype=np.float64, order="F")
        self._buf = None
        self.n_rows = 0
        self.n_chunks = 0
        self._failed = False

    def _buffer(self, rows: int) -> np.ndarray:
        if self._buf is None or self._buf.shape[0] < rows:
            self._buf = np.empty((rows, self.n), dtype=np.float64)
        return self._buf[:rows]

    def add(self, features, weights, *, name="features", wname="weights"):
        """Add the contribution of one chunk (validated here).

        Parameters
        ----------
        features : array_like, shape (N, n)
            The chunk's features, real; float32 is cast row block by row block.
        weights : array_like, shape (N,)
            Positive quadrature weights of the chunk's rows.
        name : str, default "features"
            Name of ``features`` in error messages.
        wname : str, default "weights"
            Name of ``weights`` in error messages.
        """
        f = _check_features(features, name)
        if f.shape[1] != self.n:
            raise ValueError(
                f"{name} must have {self.n} columns like the earlier chunks, got {describe(f)}")
        w = _check_weights(weights, wname, f.shape[0])
        self._add_unchecked(f, w, name)

    def _add_unchecked(self, f, w, name):
        step = self.chunk_rows
        for start in range(0, f.shape[0], step):
            stop = min(start + step, f.shape[0])
            buf = self._buffer(stop - start)
            scale_rows_sqrt(f[start:stop], w[start:stop], buf)
            dsyrk(1.0, buf.T, beta=1.0, c=self._c, trans=0, lower=0, overwrite_c=1)
            # O(n) check per chunk: a NaN/inf in the chunk always reaches the
            # diagonal because every weight is positive.
            if not np.all(np.isfinite(np.diagonal(self._c))):
                self._failed = True
                _raise_nonfinite(f[start:stop], name, start)
        self.n_rows += f.shape[0]
        self.n_chunks += 1

    def _add_equal_weights(self, f, w0):
        """Add ``w0 * f^T f`` for C-ordered float64 ``f``; False if non-finite.

        On False the accumulator holds garbage and must be discarded.
        """
        # One call: f.T is Fortran-ordered, so dsyrk reads the caller's array
        # in place and there is no buffer to keep small (chunks of it were
        # measured up to 1.2x slower at n = 1024).
        dsyrk(w0, f.T, beta=1.0, c=self._c, trans=0, lower=0, overwrite_c=1)
        if not np.all(np.isfinite(np.diagonal(self._c))):
            return False
        self.n_rows += f.shape[0]
        self.n_chunks += 1
        return True

    def result(self) -> np.ndarray:
        """Return the symmetric Gram matrix accumulated so far.

        Returns
        -------
        ndarray, shape (n, n)
            A new float64 array (zeros before any chunk).

        Raises
        ------
        RuntimeError
            If a chunk with non-finite features was added.
        """
        if self._failed:
            raise RuntimeError(
                "this GramAccumulator received non-finite features and holds no valid "
                "result; start a new one")
        out = np.empty((self.n, self.n), dtype=np.float64)
        symmetric_from_upper(self._c, out)
        return out


def _check_features(features, name):
    # float32 stays float32 (cast chunk by chunk); ints etc. become float64.
    return as_array(features, name, ndim=2, keep_float32=True, finite=False)


def _check_weights(weights, name, n_rows):
    return check_weights(weights, name, n_rows, per="row of the features")


def _raise_nonfinite(chunk, name, row_offset):
    bad = first_nonfinite(chunk)
    if bad is not None:
        i, j = int(bad[0]), int(bad[1])
        raise ValueError(
            f"{name} must be finite, but entry ({row_offset + i}, {j}) is "
            f"{chunk[i, j].item()!r}")
    raise ValueError(
        f"{name} overflow float64 in the Gram matrix: entries near row {row_offset} "
        f"have magnitude up to {float(np.max(np.abs(chunk))):.3g}; rescale the features")


def gram(features, weights=None, *, chunk_rows=None) -> np.ndarray:
    """Quadrature Gram matrix ``M = Phi^T diag(w) Phi`` accumulated in float64.

    ``M[i, j]`` approximates the L2 inner product of functions i and j on the
    quadrature's domain.

    Parameters
    ----------
    features : array_like, shape (N, n), or iterable of (features, weights)
        ``features[k, j] = phi_j(x_k)``, float32 or float64 (other real types
        are converted).  float32 input is cast chunk by chunk, never copied
        whole.  With ``weights`` omitted, an iterable of
        ``(features_chunk, weights_chunk)`` pairs, so that N never has to fit
        in memory.  A ``dask.array`` chunked along the rows (with
        weights of the same row chunks) is reduced block by block on the
        Dask workers (``rankcore.distributed.gram``).
    weights : array_like, shape (N,), optional
        Positive quadrature weights.
    chunk_rows : int, optional
        Rows per internal chunk (memory ``8 * chunk_rows * n`` bytes).  The
        default, ``default_chunk_rows(n)``, is 1024 rows, fewer (down to
        256) where that would exceed a 4 MiB buffer; ``bench/gram.py
        --chunks`` measures the choice.

    Returns
    -------
    ndarray, shape (n, n)
        Symmetric positive semi-definite float64 matrix.  Relative rounding
        error of each entry is about ``N * 2**-53`` of
        ``sqrt(M[i, i] * M[j, j])`` (float64 BLAS summation).

    Raises
    ------
    ValueError
        On empty input, a wrong number of dimensions, mismatched lengths,
        weights that are not positive, or non-finite data (the message gives
        the index of the first bad entry).
    TypeError
        On non-numeric input, or an array without weights.

    See Also
    --------
    rankcore.spectrum : Eigenvalues of the result, descending.
    rankcore.spectrum_from_features : The eigenvalues straight from the
        features, resolving much smaller ones.
    rankcore.eps_rank : The epsilon-rank of a spectrum.

    Examples
    --------
    >>> import numpy as np
    >>> import rankcore
    >>> q = rankcore.quadrature.gauss_legendre([(-1, 1)], order=8)
    >>> x = q.points[:, 0]
    >>> phi = np.stack([np.ones_like(x), x, x**2], axis=1)
    >>> np.round(rankcore.gram(phi, q.weights), 12).tolist()
    [[2.0, 0.0, 0.666666666667], [0.0, 0.666666666667, 0.0], [0.666666666667, 0.0, 0.4]]
    """
    other = backends.find(features, "gram")
    if other is not None:  # e.g. a Dask array: chunked by rows, reduced on the workers
        return other(features, weights, chunk_rows=chunk_rows)
    if weights is not None:
        f = _check_features(features, "features")
        w = _check_weights(weights, "weights", f.shape[0])
        acc = GramAccumulator(f.shape[1], chunk_rows)
        if f.dtype == np.float64 and f.flags.c_contiguous and w.min() == w.max():
            # Equal weights (Monte Carlo, Sobol): M = w0 * Phi^T Phi straight
            # from the caller's array, without the scaling pass.  Any
            # non-finite result (NaN input, or Phi^T Phi overflowing where
            # sqrt(w) Phi would not) falls back to the general path, which
            # then either succeeds or names the bad entry.
            if acc._add_equal_weights(f, float(w[0])):
                return acc.result()
            acc = GramAccumulator(f.shape[1], chunk_rows)
        acc._add_unchecked(f, w, "features")
        return acc.result()

    if isinstance(features, np.ndarray) or not isinstance(features, Iterable):
        raise TypeError(
            "weights is required when features is an array; to pass chunks give an "
            f"iterable of (features, weights) pairs; got features={describe(features)}")
    acc = None
    for i, item in enumerate(features):
        try:
            fc, wc = item
        except (TypeError, ValueError):
            raise TypeError(
                f"chunks must be (features, weights) pairs, but chunk {i} is "
                f"{describe(item)}") from None
        fc = _check_features(fc, f"features (chunk {i})")
        if acc is None:
            acc = GramAccumulator(fc.shape[1], chunk_rows)
        elif fc.shape[1] != acc.n:
            raise ValueError(
                f"features (chunk {i}) must have {acc.n} columns like chunk 0, "
                f"got {describe(fc)}")
        wc = _check_weights(wc, f"weights (chunk {i})", fc.shape[0])
        acc._add_unchecked(fc, wc, f"features (chunk {i})")
    if acc is None:
        raise ValueError("chunks must contain at least one (features, weights) pair, got none")
    return acc.result()
