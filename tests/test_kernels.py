"""Numba kernels against the loop references in tests/naive.py."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import naive
from rankcore import _gram_kernels, _subset_kernels

shapes = st.tuples(st.integers(1, 40), st.integers(1, 70))


@given(shape=shapes, seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_scale_rows_sqrt(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal(shape).astype(dtype)
    w = rng.random(shape[0]) + 1e-3
    out = np.empty(shape)
    _gram_kernels.scale_rows_sqrt(f, w, out)
    np.testing.assert_array_equal(out, naive.scale_rows_sqrt(f, w))


@given(n=st.integers(1, 150), seed=st.integers(0, 2**32 - 1))
def test_symmetric_from_upper(n, seed):
    # n up to 150 crosses the 64 x 64 tiles of the kernel.
    c = np.asfortranarray(np.random.default_rng(seed).standard_normal((n, n)))
    out = np.empty((n, n))
    _gram_kernels.symmetric_from_upper(c, out)
    np.testing.assert_array_equal(out, naive.symmetric_from_upper(c))


@given(shape=shapes, seed=st.integers(0, 2**32 - 1), ties=st.booleans())
def test_abs_argmax(shape, seed, ties):
    rng = np.random.default_rng(seed)
    C = rng.standard_normal(shape)
    if ties:  # several entries of the same magnitude: the first one wins
        C = np.round(C)
    assert _subset_kernels.abs_argmax(C) == naive.abs_argmax(C)


@given(n=st.integers(2, 30), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_maxvol_swaps(n, data, seed):
    k = data.draw(st.integers(1, n - 1))
    rng = np.random.default_rng(seed)
    V = np.linalg.qr(rng.standard_normal((n, k)))[0]
    # A well-conditioned start, so that the kernel's rank-one updates and
    # the reference's recomputation agree to rounding.
    sel0 = list(np.argsort(-np.abs(V).max(axis=1))[:k])
    if abs(np.linalg.det(V[sel0])) < 1e-3:
        return
    rest0 = [i for i in range(n) if i not in sel0]
    C = np.ascontiguousarray(V[rest0] @ np.linalg.inv(V[sel0]))
    sel, rest = np.array(sel0, np.int64), np.array(rest0, np.int64)
    threshold, max_swaps = 1.0 + 1e-9, 50
    swaps, best = _subset_kernels.maxvol_swaps(C, rest, sel, threshold, max_swaps)
    sel_n, rest_n, swaps_n, best_n = naive.maxvol_swaps(V, sel0, threshold, max_swaps)
    assert swaps == swaps_n
    assert sel.tolist() == sel_n and rest.tolist() == rest_n
    # The updated C is B for the final selection, as recomputed.
    np.testing.assert_allclose(C, V[rest_n] @ np.linalg.inv(V[sel_n]), atol=1e-8)
    assert abs(best - best_n) <= 1e-8
    if swaps < max_swaps:
        assert best <= threshold
