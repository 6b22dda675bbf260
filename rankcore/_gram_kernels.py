"""Numba kernels of the Gram assembly (no validation here: wrappers validate)."""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def scale_rows_sqrt(f, w, out):
    """out[i, j] = f[i, j] * sqrt(w[i]) in float64 (fused cast and scale).

    Serial on purpose: measured 2x faster than numpy's broadcast multiply for
    the chunk shapes used (numpy pays a per-row overhead for narrow rows), and
    a parallel version only competed with the BLAS threads that follow.
    """
    for i in range(f.shape[0]):
        s = np.sqrt(w[i])
        for j in range(f.shape[1]):
            out[i, j] = f[i, j] * s
