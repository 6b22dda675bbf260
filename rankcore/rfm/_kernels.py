"""Numba kernels of the random feature method (RFM) and the ELM.

Kernels never validate and never raise: :mod:`rankcore.rfm.basis` and the
model check every input and dispatch here with contiguous float64/int64
arrays.

Notation.  Subdomain ``n`` has centre ``c_n`` and half-width ``r_n`` (per
coordinate); ``t = (x - c_n) / r_n`` maps it onto [-1, 1]^d.  A feature is
``phi_nj(x) = sigma(k_nj . t + b_nj)`` and the partition function is a
product of 1-D factors ``psi(t_i)``.  Codes:

* activation: the ``code`` of :mod:`rankcore.activations` (0 tanh, 1 sin,
  2 cos, 3 sigmoid, 6 gelu, 7 silu: the twice-differentiable ones);
* pou: 0 = psi_a (indicator of [-1, 1]), 1 = psi_b (smooth overlap of
  width r/4 on each side of the cell, see ``_psi_b``);
* a derivative of order <= 2 is a pair of axes ``(ax1, ax2)``, -1 for none
  (see ``evaluate_pairs``).

``clamp[n, i, 0]`` (``clamp[n, i, 1]``) marks that subdomain ``n`` touches
the low (high) face of the box in coordinate ``i``; psi_b is then held at 1
on that side, because there is no neighbour to share the overlap with.
With this rule the psi_b of an ``n_1 x ... x n_d`` grid of equal cells sum
to exactly 1 on the whole box.
"""

from __future__ import annotations

import math

import numpy as np
from ..jit import njit

TWO_PI = 2.0 * math.pi
INV_SQRT2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(cache=True)
def _psi_b(t, clamp_lo, clamp_hi):
    """1-D psi_b and its first two derivatives at ``t`` (in cell units)."""
    if t < -0.75:
        if clamp_lo:
            return 1.0, 0.0, 0.0
        if t <= -1.25:
            return 0.0, 0.0, 0.0
        s = math.sin(TWO_PI * t)
        c = math.cos(TWO_PI * t)
        return 0.5 * (1.0 + s), math.pi * c, -TWO_PI * math.pi * s
    if t > 0.75:
        if clamp_hi:
            return 1.0, 0.0, 0.0
        if t >= 1.25:
            return 0.0, 0.0, 0.0
        s = math.sin(TWO_PI * t)
        c = math.cos(TWO_PI * t)
        return 0.5 * (1.0 - s), -math.pi * c, TWO_PI * math.pi * s
    return 1.0, 0.0, 0.0


@njit(cache=True)
def psi_b_1d(t, clamp_lo, clamp_hi):
    """Vectorised psi_b over a 1-D array (used by tests and docs)."""
    out = np.empty((t.shape[0], 3))
    for i in range(t.shape[0]):
        v, d1, d2 = _psi_b(t[i], clamp_lo, clamp_hi)
        out[i, 0] = v
        out[i, 1] = d1
        out[i, 2] = d2
    return out


@njit(cache=True)
def touching(X, lo, h, ncell, strides, pou, max_sub):
    """Subdomains whose partition function is non-zero at each point.

    Returns ``idx`` (N, max_sub) int64, padded with -1, in increasing flat
    (C-order) index, and ``count`` (N,).  For psi_a each point gets exactly
    one cell (a point on an interior face goes to the cell above it, one on
    the box's high face to the last cell).
    """
    N, d = X.shape
    idx = np.full((N, max_sub), -1, np.int64)
    count = np.zeros(N, np.int64)
    cand = np.empty((d, 2), np.int64)
    ncand = np.empty(d, np.int64)
    for p in range(N):
        for i in range(d):
            s = (X[p, i] - lo[i]) / h[i]
            j = int(math.floor(s))
            if j < 0:
                j = 0
            if j > ncell[i] - 1:
                j = ncell[i] - 1
            if pou == 0:
                cand[i, 0] = j
                ncand[i] = 1
                continue
            # local coordinate in cell j: t = 2 (s - j) - 1 in [-1, 1]
            t = 2.0 * (s - j) - 1.0
            k = 0
            if t < -0.5 and j > 0:  # lower neighbour sees t' = t + 2 < 1.25
                if t + 2.0 < 1.25:
                    cand[i, k] = j - 1
                    k += 1
            cand[i, k] = j
            k += 1
            if t > 0.5 and j < ncell[i] - 1:
                if t - 2.0 > -1.25:
                    cand[i, k] = j + 1
                    k += 1
            ncand[i] = k
        # tensor product of the per-coordinate candidates; the last
        # coordinate runs fastest and candidates are sorted, so the flat
        # indices come out increasing (the banded solver relies on idx[:, 0]
        # being the smallest)
        total = 1
        for i in range(d):
            total *= ncand[i]
        for q in range(total):
            rem = q
            flat = 0
            for i in range(d - 1, -1, -1):
                a = rem % ncand[i]
                rem //= ncand[i]
                flat += cand[i, a] * strides[i]
            idx[p, q] = flat
        count[p] = total
    return idx, count


@njit(cache=True)
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True)
def _act(z, act):
    """Activation and its first two derivatives; codes of rankcore.activations."""
    if act == 0:  # tanh
        # from e = exp(-2|z|): one exp instead of libm's tanh (2.3x faster
        # with the derivatives, bench/rfm_kernels.py), the derivative 4e/(1+e)^2 = 1 - tanh^2 without the
        # cancellation of the latter for large |z|; tanh itself is within
        # 2.3e-16 absolute of the exact value (max 2.2e-16 over 45000 points
        # against 40-digit mpmath; libm 1.8e-16), not relative: 1 - e
        # rounds for small |z|
        e = math.exp(-2.0 * abs(z))
        q = 1.0 / (1.0 + e)
        s = (1.0 - e) * q
        if z < 0.0:
            s = -s
        d1 = 4.0 * e * q * q
        return s, d1, -2.0 * s * d1
    if act == 1:  # sin
        s = math.sin(z)
        return s, math.cos(z), -s
    if act == 2:  # cos
        c = math.cos(z)
        return c, -math.sin(z), -c
    if act == 3:  # sigmoid
        s = _sigmoid(z)
        d1 = s * (1.0 - s)
        return s, d1, d1 * (1.0 - 2.0 * s)
    if act == 6:  # gelu (exact): z Phi(z)
        Phi = 0.5 * (1.0 + math.erf(z * INV_SQRT2))
        phi = math.exp(-0.5 * z * z) * INV_SQRT_2PI
        return z * Phi, Phi + z * phi, phi * (2.0 - z * z)
    # 7: silu, z sigmoid(z)
    s = _sigmoid(z)
    d = s * (1.0 - s)
    return z * s, s + z * d, 2.0 * d + z * d * (1.0 - 2.0 * s)


@njit(cache=True)
def evaluate_pairs(X, prow, pcell, centers, radii, W, B, clamp, act, pou, ax1, ax2, tcomp,
                   coef, ncomp, out, col0):
    """``sum_k coef[k, p] * D^(alpha_k) (psi_n phi_nj)(x_p)`` for every pair and component.

    Pair ``q`` is point ``prow[q]`` and cell ``pcell[q]``; the values of
    component ``c`` (the sum over the terms ``k`` with ``tcomp[k] == c``) go
    to ``out[q, col0 + c J : col0 + (c + 1) J]`` for ``c < ncomp``
    (overwritten, zeros for a component without terms).  The activation and
    its derivatives are evaluated once per pair and feature, whatever
    ``ncomp``.  Term ``k`` is a
    derivative of total order <= 2 given by two axes: ``ax1[k] = ax2[k] =
    -1`` is the value, ``ax1[k] = a, ax2[k] = -1`` is d/dx_a, and ``ax1[k] =
    a, ax2[k] = b`` is d^2/(dx_a dx_b) (``a == b`` for a pure second
    derivative).  ``coef`` is (K, N), indexed by point.  The product rule
    ``D_ab(psi phi) = psi_ab phi + psi_a phi_b + psi_b phi_a + psi phi_ab``
    is used with the chain-rule factor ``1/r_n`` per derivative.
    """
    P = prow.shape[0]
    d = X.shape[1]
    J = W.shape[1]
    K = ax1.shape[0]
    t = np.empty(d)
    pv = np.empty(d)
    pd1 = np.empty(d)
    pd2 = np.empty(d)
    inv_r = np.empty(d)
    c0 = np.empty(ncomp)
    g = np.empty((ncomp, d))       # coefficient of sigma' per weight component
    H = np.empty((ncomp, d, d))    # coefficient of sigma'' per pair of components
    # zero-padded weights and a coefficient scratch for _features_upto3
    W3 = np.zeros((W.shape[0] if d <= 3 else 0, J, 3))
    gq = np.empty((ncomp, 10))
    if d <= 3:
        W3[:, :, :d] = W
    for q in range(P):
        p = prow[q]
        n = pcell[q]
        for i in range(d):
            inv_r[i] = 1.0 / radii[n, i]
            t[i] = (X[p, i] - centers[n, i]) * inv_r[i]
            if pou == 1:
                v, a1, a2 = _psi_b(t[i], clamp[n, i, 0], clamp[n, i, 1])
            else:
                v, a1, a2 = 1.0, 0.0, 0.0
            pv[i] = v
            pd1[i] = a1 * inv_r[i]
            pd2[i] = a2 * inv_r[i] * inv_r[i]
        # collect the terms into c0 sigma + (g . w) sigma' + (w^T H w) sigma''
        # per component (w = k_nj, so that the loop over features has no branches)
        for c in range(ncomp):
            c0[c] = 0.0
            for i in range(d):
                g[c, i] = 0.0
                for i2 in range(d):
                    H[c, i, i2] = 0.0
        for k in range(K):
            a = ax1[k]
            b = ax2[k]
            cc = tcomp[k]
            c = coef[k, p]
            p0 = 1.0
            pa = 1.0
            pb = 1.0
            pab = 1.0
            for i in range(d):
                p0 *= pv[i]
                pa *= pd1[i] if i == a else pv[i]
                pb *= pd1[i] if i == b else pv[i]
                if i == a and i == b:
                    pab *= pd2[i]
                elif i == a or i == b:
                    pab *= pd1[i]
                else:
                    pab *= pv[i]
            if a < 0:
                c0[cc] += c * p0
            elif b < 0:
                c0[cc] += c * pa
                g[cc, a] += c * p0 * inv_r[a]
            else:
                c0[cc] += c * pab
                g[cc, b] += c * pa * inv_r[b]
                g[cc, a] += c * pb * inv_r[a]
                H[cc, a, b] += c * p0 * inv_r[a] * inv_r[b]
        row = out[q, col0:col0 + ncomp * J]
        if d <= 3:
            _features_upto3(W3[n], B[n], t, act, c0, g, H, row, gq)
        else:
            _features(W[n], B[n], t, act, c0, g, H, row)


@njit(cache=True)
def _features(Wn, Bn, t, act, c0, g, H, row):
    """``row[c J + j] = c0[c] s + (g[c] . w) s' + (w^T H[c] w) s''`` at
    ``z = Bn[j] + Wn[j] . t``, any dimension."""
    J = Bn.shape[0]
    d = t.shape[0]
    ncomp = c0.shape[0]
    for j in range(J):
        z = Bn[j]
        for i in range(d):
            z += Wn[j, i] * t[i]
        f0, f1, f2 = _act(z, act)
        for c in range(ncomp):
            c1 = 0.0
            c2 = 0.0
            for i in range(d):
                w = Wn[j, i]
                c1 += g[c, i] * w
                for i2 in range(d):
                    c2 += H[c, i, i2] * w * Wn[j, i2]
            row[c * J + j] = c0[c] * f0 + c1 * f1 + c2 * f2


@njit(cache=True)
def _features_upto3(W3n, Bn, t, act, c0, g, H, row, gq):
    """:func:`_features` for d <= 3 with the loops over coordinates written
    out: ``W3n`` is (J, 3), zero-padded beyond d, and ``gq`` an (ncomp, 10)
    scratch array for the padded coefficients.  Against the loops of
    :func:`_features`: 1.2x faster in 2-D, 1.4x in 3-D, the same in 1-D
    (bench/rfm_kernels.py)."""
    J = Bn.shape[0]
    d = t.shape[0]
    ncomp = c0.shape[0]
    t0 = t[0]
    t1 = t[1] if d > 1 else 0.0
    t2 = t[2] if d > 2 else 0.0
    # gq[c] = (c0, g0, g1, g2, h00, h11, h22, h01 + h10, h02 + h20, h12 + h21)
    gq[:, :] = 0.0
    for c in range(ncomp):
        gq[c, 0] = c0[c]
        for i in range(d):
            gq[c, 1 + i] = g[c, i]
            gq[c, 4 + i] = H[c, i, i]
        if d > 1:
            gq[c, 7] = H[c, 0, 1] + H[c, 1, 0]
        if d > 2:
            gq[c, 8] = H[c, 0, 2] + H[c, 2, 0]
            gq[c, 9] = H[c, 1, 2] + H[c, 2, 1]
    if ncomp == 1:
        a0, g0, g1, g2 = gq[0, 0], gq[0, 1], gq[0, 2], gq[0, 3]
        h00, h11, h22, h01, h02, h12 = gq[0, 4], gq[0, 5], gq[0, 6], gq[0, 7], gq[0, 8], gq[0, 9]
        for j in range(J):
            w0 = W3n[j, 0]
            w1 = W3n[j, 1]
            w2 = W3n[j, 2]
            f0, f1, f2 = _act(Bn[j] + w0 * t0 + w1 * t1 + w2 * t2, act)
            row[j] = (a0 * f0 + (g0 * w0 + g1 * w1 + g2 * w2) * f1
                      + (h00 * w0 * w0 + h11 * w1 * w1 + h22 * w2 * w2
                         + h01 * w0 * w1 + h02 * w0 * w2 + h12 * w1 * w2) * f2)
        return
    for j in range(J):
        w0 = W3n[j, 0]
        w1 = W3n[j, 1]
        w2 = W3n[j, 2]
        f0, f1, f2 = _act(Bn[j] + w0 * t0 + w1 * t1 + w2 * t2, act)
        q00 = w0 * w0
        q11 = w1 * w1
        q22 = w2 * w2
        q01 = w0 * w1
        q02 = w0 * w2
        q12 = w1 * w2
        for c in range(ncomp):
            row[c * J + j] = (gq[c, 0] * f0
                              + (gq[c, 1] * w0 + gq[c, 2] * w1 + gq[c, 3] * w2) * f1
                              + (gq[c, 4] * q00 + gq[c, 5] * q11 + gq[c, 6] * q22
                                 + gq[c, 7] * q01 + gq[c, 8] * q02 + gq[c, 9] * q12) * f2)


@njit(cache=True)
def evaluate_terms(X, sub, centers, radii, W, B, clamp, act, pou, ax1, ax2, coef):
    """:func:`evaluate_pairs` for every slot of ``sub`` (N, S), -1 padded.

    Returns (N, S, J) float64 with zeros in padded slots.
    """
    N = X.shape[0]
    S = sub.shape[1]
    J = W.shape[1]
    P = 0
    for p in range(N):
        for s_ in range(S):
            if sub[p, s_] >= 0:
                P += 1
    prow = np.empty(P, np.int64)
    pcell = np.empty(P, np.int64)
    slot = np.empty(P, np.int64)
    q = 0
    for p in range(N):
        for s_ in range(S):
            if sub[p, s_] >= 0:
                prow[q] = p
                pcell[q] = sub[p, s_]
                slot[q] = s_
                q += 1
    vals = np.empty((P, J))
    evaluate_pairs(X, prow, pcell, centers, radii, W, B, clamp, act, pou, ax1, ax2,
                   np.zeros(ax1.shape[0], np.int64), coef, 1, vals, 0)
    out = np.zeros((N, S, J))
    for q in range(P):
        for j in range(J):
            out[prow[q], slot[q], j] = vals[q, j]
    return out


@njit(cache=True)
def scatter_dense(out, rows, cols, vals):
    """out[rows[p], cols[p]:cols[p]+J] += vals[p] (dense front assembly)."""
    J = vals.shape[1]
    for p in range(rows.shape[0]):
        r = rows[p]
        c = cols[p]
        for j in range(J):
            out[r, c + j] += vals[p, j]
