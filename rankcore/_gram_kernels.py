"""Numba kernels of the Gram assembly (no validation here: wrappers validate)."""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def scale_rows_sqrt(f, w, out):
    """out[i, j] = f[i, j] * sqrt(w[i]) in float64 (fused cast and scale).

    Serial on purpose: measured 2x faster than numpy's broadcast multiply for
    the chunk shapes used (numpy pays a per-row overhead for narrow rows).  A
    ``prange`` version made the whole Gram assembly 1.3-9x *slower* on two
    cores: its worker threads and the OpenBLAS threads of the dsyrk that
    follows spin-wait for each other.
    """
    for i in range(f.shape[0]):
        s = np.sqrt(w[i])
        for j in range(f.shape[1]):
            out[i, j] = f[i, j] * s


@njit(cache=True, nogil=True)
def symmetric_from_upper(c, out):
    """out = the symmetric matrix whose upper triangle is that of c.

    One pass instead of numpy's triu + transpose + add (three n-by-n
    temporaries); ``out`` may be C-ordered while ``c`` is Fortran-ordered.
    """
    n = c.shape[0]
    for i in range(n):
        for j in range(i, n):
            v = c[i, j]
            out[i, j] = v
            out[j, i] = v
