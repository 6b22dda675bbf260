"""Dask back end: Gram matrices and spectra of point sets larger than one machine.

``rankcore.gram`` and ``rankcore.spectrum_from_features`` hand ``dask.array``
inputs to :func:`gram` and :func:`spectrum_from_features` here, through the
engine's backend registry (:mod:`rankcore.backends`): this module registers
itself when imported, and ``import rankcore`` imports it, so the engine never
imports this layer.  The features
must be chunked along the rows only (one chunk spans all n columns) and the
weights must have the same row chunks.  Every block is reduced on the worker
that holds it, by the same in-memory code, to an (n, n) float64 summary: its
partial Gram matrix, or the R factor of ``W^(1/2) Phi`` for the accurate path.
The summaries are combined in a tree (``split_every`` at a time): partial Gram
matrices are added, R factors are stacked and factored again (tall-skinny
QR).  Only (n, n) arrays travel; memory per worker is O(chunk * n + n**2)
whatever N is.

Points can be generated where they are used: :func:`monte_carlo` and
:func:`sobol` return lazy dask arrays whose blocks are drawn on the workers
from per-block seeds, and :func:`features_from_points` evaluates a feature
function block by block.  Nothing of size N is ever held in one place.

Dask is optional (``pip install rankcore[dask]``); ``import rankcore`` never
imports it.  Computations run on the active ``dask.distributed`` client when
there is one, on dask's local threaded scheduler otherwise.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from . import backends
from .gram import gram as gram_in_memory
from .rank import spectrum_from_r, weighted_r_factor
from .validation import as_array, check_box, check_positive_int, check_weights, describe

__all__ = [
    "is_dask_array",
    "require_dask",
    "gram",
    "spectrum_from_features",
    "monte_carlo",
    "sobol",
    "features_from_points",
    "BLOCK_POINTS",
    "DEFAULT_CHUNK_POINTS",
    "SPLIT_EVERY",
]

#: Points per generation block of :func:`monte_carlo`.  Block ``b`` holds
#: points ``[b * BLOCK_POINTS, (b + 1) * BLOCK_POINTS)`` and is drawn from the
#: seed sequence keyed by ``b``, so the points do not depend on the chunking.
BLOCK_POINTS = 1 << 16
#: Default rows per chunk of the generated point arrays (one generation
#: block): the features of a chunk then take 128 MiB for n = 256.
DEFAULT_CHUNK_POINTS = BLOCK_POINTS
#: Partial results combined per task of the reduction tree.
SPLIT_EVERY = 8

_INSTALL_HINT = "pip install rankcore[dask]"


def require_dask():
    """Import and return ``dask.array``, or raise an ImportError saying what to install.

    Returns
    -------
    module
        ``dask.array``.

    Raises
    ------
    ImportError
        When dask is not installed.

    Examples
    --------
    >>> from rankcore.distributed import require_dask
    >>> require_dask().__name__
    'dask.array'
    """
    try:
        import dask.array as da
    except ImportError as exc:
        raise ImportError(
            "the Dask helpers of rankcore need dask; install them with "
            f"`{_INSTALL_HINT}`") from exc
    return da


def is_dask_array(x) -> bool:
    """Tell whether ``x`` is a ``dask.array.Array`` (never imports dask).

    Parameters
    ----------
    x : object
        Any object.

    Returns
    -------
    bool
        True if dask.array is already imported and ``x`` is one of its arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.distributed import is_dask_array
    >>> is_dask_array(np.ones(3))
    False
    """
    mod = sys.modules.get("dask.array")
    return mod is not None and isinstance(x, mod.Array)


# ---------------------------------------------------------------------------
# Validation of dask inputs (structure only: nothing is computed)
# ---------------------------------------------------------------------------

def _describe_dask(x):
    return f"dask array of shape {x.shape}, dtype {x.dtype} and chunks {x.chunks}"


def _check_real_dtype(x, name):
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric dask array, got {_describe_dask(x)}")


def _check_known_chunks(x, name):
    if any(np.isnan(c) for axis in x.chunks for c in axis):
        raise ValueError(
            f"{name} must have known chunk sizes, got {_describe_dask(x)}; call "
            f"{name}.compute_chunk_sizes() (or build it with known sizes) first")


def _check_inputs(features, weights):
    """Validated ``(features, weights)`` dask arrays with matching row chunks."""
    da = require_dask()
    if not is_dask_array(features):
        raise TypeError(f"features must be a dask array here, got {describe(features)}")
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (N, n), got {_describe_dask(features)}")
    _check_real_dtype(features, "features")
    _check_known_chunks(features, "features")
    if features.shape[0] == 0 or features.shape[1] == 0:
        raise ValueError(f"features must not be empty, got {_describe_dask(features)}")
    if len(features.chunks[1]) != 1:
        raise ValueError(
            "features must be chunked along the rows only (one chunk spanning all "
            f"{features.shape[1]} columns), got column chunks {features.chunks[1]}; "
            f"use features.rechunk({{1: -1}})")
    if weights is None:
        raise TypeError("weights is required with dask features, got None")
    if not is_dask_array(weights):
        w = np.asarray(weights)
        if w.dtype.kind not in "biuf":
            raise TypeError(f"weights must be a real numeric array, got {describe(w)}")
        if w.ndim != 1 or w.shape[0] != features.shape[0]:
            raise ValueError(
                f"weights must be 1-D with one entry per row of the features "
                f"({features.shape[0]}), got {describe(w)}")
        weights = da.from_array(w, chunks=(features.chunks[0],))
    if weights.ndim != 1:
        raise ValueError(f"weights must be 1-D (N,), got {_describe_dask(weights)}")
    _check_real_dtype(weights, "weights")
    _check_known_chunks(weights, "weights")
    if weights.shape[0] != features.shape[0]:
        raise ValueError(
            f"weights must have one entry per row of the features "
            f"({features.shape[0]}), got {_describe_dask(weights)}")
    if weights.chunks[0] != features.chunks[0]:
        raise ValueError(
            f"weights must have the same row chunks as the features "
            f"{features.chunks[0]}, got {weights.chunks[0]}; use "
            f"weights.rechunk(features.chunks[0])")
    return features, weights


# ---------------------------------------------------------------------------
# Per-block work (runs on the workers)
# ---------------------------------------------------------------------------

def _rows(block_info):
    start, stop = block_info[0]["array-location"][0]
    return int(start), int(stop)


def _in_block(func, f, w, block_info):
    """``func(f, w)``; a ValueError names the block's rows in the whole array."""
    if f.shape[0] == 0:  # an empty chunk contributes nothing
        return np.zeros((f.shape[1], f.shape[1]))
    try:
        return func(f, w)
    except ValueError as exc:
        start, stop = _rows(block_info)
        raise ValueError(f"in the block of rows {start}:{stop} of the dask input (the "
                         f"indices that follow count from row {start}): {exc}") from None


def _block_gram(f, w, chunk_rows=None, block_info=None):
    def partial_gram(f, w):
        return gram_in_memory(f, w, chunk_rows=chunk_rows)
    return _in_block(partial_gram, f, w[:, 0], block_info)[None]


def _r_factor(f, w):
    """R of ``W^(1/2) f`` by the in-memory kernel, as (n, n) (zero rows when N < n)."""
    f = as_array(f, "features", ndim=2, keep_float32=True)
    w = check_weights(w, "weights", f.shape[0], per="row of the features")
    return _pad_r(weighted_r_factor(f, w), f.shape[1])


def _pad_r(r, n):
    out = np.zeros((n, n))
    k = min(r.shape[0], n)
    out[:k] = r[:k]
    return out


def _block_r(f, w, block_info=None):
    return _in_block(_r_factor, f, w[:, 0], block_info)[None]


def _stack_r(x, axis=0, keepdims=True, **kwargs):
    """R of the row-stacked R factors ``x`` (k, n, n) as (1, n, n)."""
    from scipy.linalg import qr
    n = x.shape[-1]
    if x.shape[0] == 1:
        return x
    r = qr(x.reshape(-1, n), mode="r", overwrite_a=False, check_finite=False)[0]
    return _pad_r(r, n)[None]


def _per_block(func, features, weights, **kwargs):
    da = require_dask()
    n = features.shape[1]
    nb = len(features.chunks[0])
    w2 = weights[:, None]
    return da.map_blocks(func, features, w2, chunks=((1,) * nb, (n,), (n,)),
                         new_axis=2, dtype=np.float64, meta=np.empty((0, 0, 0)), **kwargs)


def gram(features, weights, *, chunk_rows=None, split_every=SPLIT_EVERY) -> np.ndarray:
    """Gram matrix ``Phi^T diag(w) Phi`` of dask arrays, reduced in a tree.

    Called by ``rankcore.gram`` for dask input; see there for the meaning.
    Each block's partial Gram matrix is computed by ``rankcore.gram`` on the
    worker; the partial sums are added ``split_every`` at a time.  The result
    agrees with the in-memory one to rounding (relative ``N * 2**-53`` of
    ``sqrt(M[i, i] * M[j, j])``, only the order of the additions differs).

    Parameters
    ----------
    features : dask.array.Array, shape (N, n)
        Chunked along the rows only; real dtype.
    weights : dask.array.Array or array_like, shape (N,)
        Positive weights with the same row chunks (a NumPy array is chunked
        like the features).
    chunk_rows : int, optional
        Rows per ``dsyrk`` call inside a block, as for ``rankcore.gram``.
    split_every : int, default 8
        Partial results combined per reduction task.

    Returns
    -------
    ndarray, shape (n, n)
        The Gram matrix as a float64 NumPy array.

    Raises
    ------
    ValueError
        Before any work: unknown (NaN) chunk sizes, column chunking, row
        chunks of the weights different from those of the features, wrong
        shapes.  During the computation: non-finite features or weights that
        are not positive, with the block's rows in the message.
    TypeError
        Complex, object or other non-real dtypes.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import rankcore
    >>> phi = np.arange(12.0).reshape(6, 2)
    >>> w = np.full(6, 0.5)
    >>> M = rankcore.gram(da.from_array(phi, chunks=(2, 2)), da.from_array(w, chunks=2))
    >>> bool(np.allclose(M, rankcore.gram(phi, w), rtol=1e-14))
    True
    """
    features, weights = _check_inputs(features, weights)
    split_every = check_positive_int(split_every, "split_every", minimum=2)
    if chunk_rows is not None:
        chunk_rows = check_positive_int(chunk_rows, "chunk_rows")
    parts = _per_block(_block_gram, features, weights, chunk_rows=chunk_rows)
    return np.asarray(parts.sum(axis=0, split_every=split_every).compute())


def spectrum_from_features(features, weights, *, split_every=SPLIT_EVERY) -> np.ndarray:
    """Compute the eigenvalues of ``Phi^T W Phi`` by tall-skinny QR of dask arrays.

    Called by ``rankcore.spectrum_from_features`` for dask input.  Each block
    gives the R factor of its rows of ``W^(1/2) Phi``; R factors are stacked
    ``split_every`` at a time and factored again up the tree; the singular
    values of the last R give ``lambda_i = sigma_i**2``.  The accuracy is that
    of the in-memory path: eigenvalues resolved to about
    ``1e-30 * lambda_max`` (absolute error of sigma about ``2**-52 *
    sigma_max``).

    Parameters
    ----------
    features : dask.array.Array, shape (N, n)
        As :func:`gram`.
    weights : dask.array.Array or array_like, shape (N,)
        As :func:`gram`.
    split_every : int, default 8
        R factors stacked per reduction task.

    Returns
    -------
    ndarray, shape (n,)
        Eigenvalues, descending.

    Raises
    ------
    ValueError, TypeError
        As :func:`gram`.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import rankcore
    >>> x = np.linspace(0, 1, 64)
    >>> phi = np.stack([x, x + 1e-9 * x**2], axis=1)   # nearly dependent
    >>> w = np.full(64, 1 / 64)
    >>> lam = rankcore.spectrum_from_features(da.from_array(phi, chunks=(16, 2)),
    ...                                       da.from_array(w, chunks=16))
    >>> ref = rankcore.spectrum_from_features(phi, w)
    >>> sigma_err = np.abs(np.sqrt(lam) - np.sqrt(ref))   # to 2**-52 * sigma_max
    >>> bool(np.all(sigma_err < 16 * 2.0**-52 * np.sqrt(ref[0]))), bool(lam[1] < 1e-20)
    (True, True)
    """
    da = require_dask()
    features, weights = _check_inputs(features, weights)
    split_every = check_positive_int(split_every, "split_every", minimum=2)
    parts = _per_block(_block_r, features, weights)
    r = da.reduction(parts, chunk=_identity, combine=_stack_r, aggregate=_stack_r,
                     axis=0, keepdims=True, split_every=split_every,
                     dtype=np.float64, concatenate=True,
                     meta=np.empty((0, 0, 0))).compute()
    return spectrum_from_r(np.asarray(r)[0])


def _identity(x, axis=None, keepdims=True, **kwargs):
    return x


# ---------------------------------------------------------------------------
# Block-generated quadrature
# ---------------------------------------------------------------------------

def _row_chunks(n, chunks):
    """Row chunk sizes (tuple) for ``n`` points from an int or a tuple."""
    if isinstance(chunks, (tuple, list)):
        sizes = tuple(check_positive_int(c, f"chunks[{i}]") for i, c in enumerate(chunks))
        if sum(sizes) != n:
            raise ValueError(f"chunks must add up to n = {n}, got {len(sizes)} chunks "
                             f"summing to {sum(sizes)}")
        return sizes
    c = check_positive_int(chunks, "chunks")
    return (c,) * (n // c) + ((n % c,) if n % c else ())


def _entropy(seed):
    """An int entropy (picked now for None) that every block can rebuild."""
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, np.random.SeedSequence):
        if seed.spawn_key:
            raise ValueError("seed must be a SeedSequence without a spawn key (a root "
                             f"sequence), got spawn_key={seed.spawn_key}")
        return int(seed.entropy)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            "seed must be a non-negative int, a numpy.random.SeedSequence or None "
            f"(a Generator cannot be split reproducibly into blocks), got {describe(seed)}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return int(seed)


def _mc_unit_points(start, stop, d, entropy):
    """Points ``start:stop`` of the unit-cube Monte Carlo sequence, (stop-start, d)."""
    out = np.empty((stop - start, d))
    b0, b1 = start // BLOCK_POINTS, (stop - 1) // BLOCK_POINTS
    for b in range(b0, b1 + 1):
        rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(b,)))
        lo = b * BLOCK_POINTS
        block = rng.random((BLOCK_POINTS, d))
        s, e = max(start, lo), min(stop, lo + BLOCK_POINTS)
        out[s - start:e - start] = block[s - lo:e - lo]
    return out


def _sobol_skip(engine, start):
    """Position a fresh scrambled Sobol' ``engine`` at point ``start`` in O(d log start).

    scipy's ``fast_forward`` walks the ``start`` points one by one (0.5 s
    at 1e8 for every block, quadratic in N over all blocks).  In scipy's
    Gray-code order the state after point ``k`` is the scrambling shift
    XOR the direction numbers of the set bits of ``k ^ (k >> 1)``; that
    state (point ``start - 1``) is set directly.  An engine without these
    attributes (another scipy) is fast-forwarded instead.
    """
    sv, shift = getattr(engine, "_sv", None), getattr(engine, "_shift", None)
    if (sv is None or shift is None or getattr(engine, "_quasi", None) is None
            or engine.num_generated != 0):
        return engine.fast_forward(start)
    k = start - 1
    gray, state = k ^ (k >> 1), shift.copy()
    for j in range(gray.bit_length()):
        if gray >> j & 1:
            state ^= sv[:, j]
    engine._quasi = state
    engine.num_generated = start
    return engine


def _sobol_unit_points(start, stop, d, entropy):
    from scipy.stats import qmc
    engine = qmc.Sobol(d, scramble=True, rng=np.random.default_rng(entropy))
    if start:
        _sobol_skip(engine, start)
    with warnings.catch_warnings():
        # The balance warning concerns the whole rule (checked once, by sobol).
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(stop - start)


def _points_block(gen, box, d, entropy, block_info=None):
    start, stop = block_info[None]["array-location"][0]
    u = gen(int(start), int(stop), d, entropy)
    lo, hi = box[:, 0], box[:, 1]
    return lo + u * (hi - lo)


def _generated_rule(gen, box, n, chunks, entropy):
    da = require_dask()
    b = check_box(box)
    n = check_positive_int(n, "n")
    rows = _row_chunks(n, DEFAULT_CHUNK_POINTS if chunks is None else chunks)
    d = b.shape[0]
    points = da.map_blocks(_points_block, gen, b, d, entropy, chunks=(rows, (d,)),
                           dtype=np.float64, meta=np.empty((0, 0)))
    vol = float(np.prod(b[:, 1] - b[:, 0]))
    weights = da.full((n,), vol / n, chunks=(rows,), dtype=np.float64)
    return points, weights


def monte_carlo(box, n, seed=None, *, chunks=None):
    """Monte Carlo rule as lazy dask arrays, drawn block by block on the workers.

    Points are uniform in ``box``, weights ``|box| / n``.  Point ``k`` belongs
    to generation block ``b = k // BLOCK_POINTS``, drawn from
    ``numpy.random.SeedSequence(seed, spawn_key=(b,))`` (the ``b``-th child
    that ``SeedSequence(seed).spawn`` would give), so the same seed gives the
    same points whatever the chunking.  The points differ from those of
    ``rankcore.quadrature.monte_carlo`` with the same seed (that one draws all
    points from one stream).

    Parameters
    ----------
    box : sequence of (lo, hi)
        The box.
    n : int
        Number of points.
    seed : int >= 0, numpy.random.SeedSequence or None
        Root seed; None draws fresh entropy once, here.
    chunks : int or tuple of int, optional
        Rows per chunk (default ``DEFAULT_CHUNK_POINTS``), or all row chunk
        sizes.  Multiples of ``BLOCK_POINTS`` generate nothing twice.

    Returns
    -------
    points : dask.array.Array, shape (n, d)
        The points, float64.
    weights : dask.array.Array, shape (n,)
        The weights, float64; same row chunks as the points.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.distributed import monte_carlo
    >>> p1, w1 = monte_carlo([(0, 1), (-1, 1)], 10_000, seed=7, chunks=3000)
    >>> p2, _ = monte_carlo([(0, 1), (-1, 1)], 10_000, seed=7, chunks=(1, 9999))
    >>> bool(np.array_equal(p1.compute(), p2.compute())), round(float(w1.sum().compute()), 12)
    (True, 2.0)
    """
    return _generated_rule(_mc_unit_points, box, n, chunks, _entropy(seed))


def sobol(box, n, seed=None, *, chunks=None):
    """Scrambled Sobol' rule as lazy dask arrays, generated block by block.

    Every block builds the same scrambled engine from ``seed`` and sets it
    to its first point directly (O(d log n) per block, not the O(n) walk of
    scipy's ``fast_forward``), so the points are exactly those of
    ``rankcore.quadrature.sobol(box, n, seed)`` for an int seed, whatever the
    chunking.  Weights are ``|box| / n``.  The balance properties hold for
    ``n`` a power of two (a UserWarning says so otherwise); scipy's Sobol'
    engine gives at most ``2**30`` points (a larger ``n`` is refused here,
    before any work).

    Parameters
    ----------
    box : sequence of (lo, hi)
        The box.
    n : int
        Number of points.
    seed : int >= 0, numpy.random.SeedSequence or None
        Seed of the scrambling; None draws fresh entropy once, here.
    chunks : int or tuple of int, optional
        As :func:`monte_carlo`.

    Returns
    -------
    points : dask.array.Array, shape (n, d)
        The points, float64.
    weights : dask.array.Array, shape (n,)
        The weights, float64; same row chunks as the points.

    Examples
    --------
    >>> import numpy as np
    >>> import rankcore
    >>> from rankcore.distributed import sobol
    >>> p, w = sobol([(0, 1), (0, 2)], 1024, seed=3, chunks=100)
    >>> ref = rankcore.quadrature.sobol([(0, 1), (0, 2)], 1024, seed=3)
    >>> bool(np.array_equal(p.compute(), ref.points))
    True
    """
    from scipy.stats import qmc
    n = check_positive_int(n, "n")
    maxn = qmc.Sobol(1, scramble=False).maxn
    if n > maxn:
        raise ValueError(f"n must be at most {maxn} (2**{maxn.bit_length() - 1}, the "
                         f"length of scipy's Sobol' sequence), got {n}; use monte_carlo "
                         f"for more points")
    if n & (n - 1):
        warnings.warn(f"the balance properties of Sobol' points require n to be a "
                      f"power of 2, got n = {n}", UserWarning, stacklevel=2)
    return _generated_rule(_sobol_unit_points, box, n, chunks, _entropy(seed))


# ---------------------------------------------------------------------------
# Lazy features
# ---------------------------------------------------------------------------

def _features_block(x, fn, n_features, dtype, block_info=None):
    out = np.asarray(fn(x))
    if out.shape != (x.shape[0], n_features):
        start, stop = block_info[0]["array-location"][0]
        raise ValueError(
            f"fn must return an array of shape (rows, n_features) = ({x.shape[0]}, "
            f"{n_features}) for the block of rows {start}:{stop}, got {describe(out)}")
    return out.astype(dtype, copy=False)


def features_from_points(points, fn, n_features, *, dtype=np.float64):
    """Lazy feature matrix ``fn(points)`` evaluated block by block on the workers.

    Parameters
    ----------
    points : dask.array.Array, shape (N, d)
        Points chunked along the rows (e.g. from :func:`monte_carlo`).
    fn : callable
        Maps a NumPy block of points (rows, d) to its features (rows,
        n_features): a NumPy function, a fitted ``RFM``'s
        ``feature_matrix``, or a wrapper around a torch model (see
        ``docs/cluster.md``).  It is pickled to the workers.
    n_features : int
        Number of columns fn returns.
    dtype : {float64, float32}
        dtype of the feature blocks (``rankcore.gram`` accumulates float32
        in float64).

    Returns
    -------
    dask.array.Array, shape (N, n_features)
        Same row chunks as ``points``, one column chunk.

    Raises
    ------
    TypeError, ValueError
        Before any work: ``points`` not a 2-D real dask array with known row
        chunks, ``fn`` not callable.  During the computation: a block of the
        wrong shape from ``fn``.

    Examples
    --------
    >>> import numpy as np
    >>> import rankcore
    >>> from rankcore.distributed import monte_carlo, features_from_points
    >>> p, w = monte_carlo([(-1, 1)], 20_000, seed=0, chunks=5000)
    >>> phi = features_from_points(p, lambda x: np.tanh(x * [1.0, 2.0, 3.0]), 3)
    >>> M = rankcore.gram(phi, w)
    >>> M.shape, bool(abs(M[0, 0] - 2 * (1 - np.tanh(1) / 1)) < 0.05)
    ((3, 3), True)
    """
    da = require_dask()
    if not is_dask_array(points):
        raise TypeError(f"points must be a dask array, got {describe(points)}")
    if points.ndim != 2:
        raise ValueError(f"points must be 2-D (N, d), got {_describe_dask(points)}")
    _check_real_dtype(points, "points")
    _check_known_chunks(points, "points")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {describe(fn)}")
    n_features = check_positive_int(n_features, "n_features")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if len(points.chunks[1]) != 1:
        points = points.rechunk({1: -1})
    return da.map_blocks(_features_block, points, fn, n_features, dtype,
                         chunks=(points.chunks[0], (n_features,)), dtype=dtype,
                         meta=np.empty((0, 0), dtype=dtype))


# The engine hands Dask arrays to this module through its backend registry
# (rankcore.backends), so it never imports this layer; ``import rankcore``
# imports this module, which registers itself here.
backends.register("dask", is_dask_array, gram=gram,
                  spectrum_from_features=spectrum_from_features)
