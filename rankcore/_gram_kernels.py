"""Numba kernels of the Gram assembly (no validation here: wrappers validate)."""

import numpy as np
from .jit import njit


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
    temporaries).  ``c`` is Fortran-ordered (dsyrk's output), ``out``
    C-ordered; the loop runs over 64 x 64 tiles so that both the
    transposed and the straight write stay in cache (a plain double loop
    took 7 ms at n = 1024, as long as 10% of the dsyrk it follows).
    """
    n = c.shape[0]
    tile = 64
    for j0 in range(0, n, tile):
        j1 = min(j0 + tile, n)
        for i0 in range(0, j1, tile):
            for j in range(j0, j1):
                for i in range(i0, min(i0 + tile, j + 1)):
                    v = c[i, j]
                    out[i, j] = v
                    out[j, i] = v
