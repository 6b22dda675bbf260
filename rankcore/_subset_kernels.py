"""Numba kernels for rank-revealing row selection (see ``rankcore.subset``).

Kernels never validate or raise; ``rankcore.subset.select_rows`` validates the
input and checks the result.
"""

from __future__ import annotations

import numpy as np
from .jit import njit

__all__ = ["abs_argmax", "maxvol_swaps"]


@njit(cache=True)
def abs_argmax(C):
    """Row, column and value of the entry of largest magnitude of a 2-D array."""
    m, k = C.shape
    best = -1.0
    bi = 0
    bp = 0
    for i in range(m):
        for q in range(k):
            v = abs(C[i, q])
            if v > best:
                best = v
                bi = i
                bp = q
    return bi, bp, best


@njit(cache=True)
def _row_argmax(C, i):
    k = C.shape[1]
    bq = 0
    bv = -1.0
    for q in range(k):
        v = abs(C[i, q])
        if v > bv:
            bv = v
            bq = q
    return bq, bv


# Plain IEEE arithmetic: a fastmath build measured no faster (the pass over C
# is memory-bound) and would weaken the reasoning about rounding.
@njit(cache=True)
def maxvol_swaps(C, rest, sel, threshold, max_swaps):
    """Exchange rows while some ``|C[i, p]| > threshold``.

    ``C`` (n - k, k) holds the unselected rows of ``B = V @ inv(V[sel])``
    (row ``i`` of ``C`` belongs to row ``rest[i]`` of ``V``; the selected
    rows of ``B`` are the identity and are not stored).  Exchanging
    ``rest[i]`` with ``sel[p]`` multiplies ``|det V[sel]|`` by ``|C[i, p]|``
    and changes ``C`` by a rank-one correction; the row that leaves the
    selection takes over slot ``i``.  ``C``, ``rest`` and ``sel`` are updated
    in place.  The correction and the search for the next pivot share one
    pass over ``C``, so every swap reads the matrix once.

    Returns the number of swaps and the largest ``|C|`` at the end (at most
    ``threshold`` unless ``max_swaps`` was reached).
    """
    m, k = C.shape
    if m == 0 or k == 0:
        return 0, 0.0
    u = np.empty(k)
    col = np.empty(m)
    jr, p, best = abs_argmax(C)
    swaps = 0
    while best > threshold and swaps < max_swaps:
        piv = C[jr, p]
        for q in range(k):
            u[q] = C[jr, q] / piv
        u[p] -= 1.0 / piv
        for i in range(m):
            col[i] = C[i, p]
        old = sel[p]
        sel[p] = rest[jr]
        rest[jr] = old
        # The row leaving the selection was e_p: it becomes e_p - u.
        for q in range(k):
            C[jr, q] = -u[q]
        C[jr, p] += 1.0
        nj, nq, best = jr, 0, -1.0
        best2 = -1.0
        for i in range(m):
            if i != jr:
                ci = col[i]
                r = 0.0
                for q in range(k):
                    x = C[i, q] - ci * u[q]
                    C[i, q] = x
                    r = max(r, x * x)
            else:
                r = 0.0
                for q in range(k):
                    r = max(r, C[i, q] * C[i, q])
            if r > best2:
                best2 = r
                nj = i
        nq, best = _row_argmax(C, nj)
        jr = nj
        p = nq
        swaps += 1
    return swaps, best
