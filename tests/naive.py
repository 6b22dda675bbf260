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


# -- rankcore.rfm._kernels ----------------------------------------------------

def psi_b(t, k, clamp_lo, clamp_hi):
    """k-th derivative (k <= 2) of the 1-D partition function psi_b at t."""
    if (t < -0.75 and clamp_lo) or (t > 0.75 and clamp_hi) or abs(t) <= 0.75:
        return 1.0 if k == 0 else 0.0
    if abs(t) >= 1.25:
        return 0.0
    sgn = 1.0 if t < 0 else -1.0  # (1 + sgn sin 2 pi t) / 2
    w = 2.0 * math.pi
    return [0.5 * (1.0 + sgn * math.sin(w * t)), 0.5 * sgn * w * math.cos(w * t),
            -0.5 * sgn * w * w * math.sin(w * t)][k]


def rfm_evaluate_terms(X, sub, centers, radii, W, B, clamp, act, pou, alphas, coef):
    """sum_k coef[k, p] D^(alpha_k) (psi_n phi_nj)(x_p) by the Leibniz rule.

    ``act`` is an entry of ``rankcore.activations``; ``alphas`` a list of
    multi-indices.  Every derivative axis goes either to psi or to phi; all
    2^|alpha| assignments are summed.
    """
    import itertools
    N, d = X.shape
    S, J = sub.shape[1], W.shape[1]
    out = np.zeros((N, S, J))
    derivs = [act.f, act.df, act.d2f]
    for p in range(N):
        for s in range(S):
            n = sub[p, s]
            if n < 0:
                continue
            t = [(X[p, i] - centers[n, i]) / radii[n, i] for i in range(d)]
            for j in range(J):
                z = B[n, j] + sum(W[n, j, i] * t[i] for i in range(d))
                total = 0.0
                for k, alpha in enumerate(alphas):
                    axes = [i for i in range(d) for _ in range(alpha[i])]
                    for to_psi in itertools.product([0, 1], repeat=len(axes)):
                        on_psi = [a for a, f in zip(axes, to_psi) if f]
                        on_phi = [a for a, f in zip(axes, to_psi) if not f]
                        val = float(derivs[len(on_phi)](z))
                        for a in on_phi:
                            val *= W[n, j, a] / radii[n, a]
                        for i in range(d):
                            m = on_psi.count(i)
                            if pou == "b":
                                val *= psi_b(t[i], m, clamp[n, i, 0], clamp[n, i, 1])
                            elif m:
                                val = 0.0
                            val /= radii[n, i] ** m
                        total += coef[k, p] * val
                out[p, s, j] = total
    return out
