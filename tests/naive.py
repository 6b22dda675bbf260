"""Loop references for the Numba kernels: slow, plain, obviously right.

Each function here computes what one kernel computes, in the most direct way
(element loops, or recomputing from scratch where the kernel updates in
place), so that tests can compare the two on random inputs.
"""

import math

import numpy as np


# -- rankcore._gram_kernels ---------------------------------------------------

def scale_rows_sqrt(f, w):
    """``out[i, j] = f[i, j] * sqrt(w[i])`` in float64."""
    n_rows, n_cols = f.shape
    out = np.empty((n_rows, n_cols))
    for i in range(n_rows):
        s = math.sqrt(float(w[i]))
        for j in range(n_cols):
            out[i, j] = float(f[i, j]) * s
    return out


def symmetric_from_upper(c):
    """The symmetric matrix whose upper triangle (diagonal included) is c's."""
    n = c.shape[0]
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            out[i, j] = c[i, j] if i <= j else c[j, i]
    return out


# -- rankcore._subset_kernels -------------------------------------------------

def abs_argmax(C):
    """(row, column, |value|) of the first entry of largest magnitude, row-major."""
    best, bi, bp = -1.0, 0, 0
    for i in range(C.shape[0]):
        for q in range(C.shape[1]):
            if abs(C[i, q]) > best:
                best, bi, bp = abs(C[i, q]), i, q
    return bi, bp, best


def maxvol_swaps(V, sel, threshold, max_swaps):
    """Row exchanges of the maxvol / strong-RRQR loop, recomputed from scratch.

    ``V`` (n, k), ``sel`` the k selected rows (in slot order).  While the
    largest ``|B[i, p]|`` of ``B = V[rest] @ inv(V[sel])`` exceeds
    ``threshold``, row ``rest[i]`` takes slot ``p`` and the row it replaces
    takes slot ``i`` of ``rest``.  Returns ``(sel, rest, swaps, max|B|)``.
    """
    n, k = V.shape
    sel = list(sel)
    rest = [i for i in range(n) if i not in sel]
    swaps = 0
    while True:
        C = V[rest] @ np.linalg.inv(V[sel])
        i, p, best = abs_argmax(C) if C.size else (0, 0, 0.0)
        if best <= threshold or swaps >= max_swaps:
            return sel, rest, swaps, best
        sel[p], rest[i] = rest[i], sel[p]
        swaps += 1
