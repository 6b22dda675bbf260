"""Benchmark: the RFM feature kernels, each next to the code it replaced.

Run ``python bench/rfm_kernels.py`` (a few seconds) or ``--quick``.  Two
tables, both measured in one process on the same data, Numba kernels
compiled before timing, best of ``--repeats`` runs:

1. The activation: rankcore's tanh from one ``exp(-2|z|)`` (value, first
   and second derivative, as ``rankcore.rfm._kernels._act``) against libm's
   ``math.tanh`` with ``1 - tanh^2`` (what the kernel used before), over
   ``z`` uniform in [-5, 5]; nanoseconds per evaluation, and the largest
   differences of the two in value and first derivative.
2. One cell's features at many points for d = 1, 2, 3 and 1 or 2
   components, with second-order terms (every coefficient of the first and
   second derivatives nonzero): the written-out d <= 3 kernel
   (``_features_upto3``, what ``evaluate_pairs`` runs for d <= 3) against
   the loops over coordinates (``_features``, what it ran before and still
   runs for larger bases); nanoseconds per point and feature, and the
   largest relative difference of their outputs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from numba import njit  # noqa: E402

from rankcore.rfm import _kernels as K  # noqa: E402


@njit(cache=True)
def _loop_exp_tanh(z, out):
    for i in range(z.shape[0]):
        s, d1, d2 = K._act(z[i], 0)
        out[i] = s + d1 + d2


@njit(cache=True)
def _loop_libm_tanh(z, out):
    for i in range(z.shape[0]):
        s = math.tanh(z[i])
        d1 = 1.0 - s * s
        out[i] = s + d1 - 2.0 * s * d1


@njit(cache=True)
def _values(z, out_s, out_d):
    for i in range(z.shape[0]):
        s, d1, _ = K._act(z[i], 0)
        out_s[i] = s
        out_d[i] = d1


@njit(cache=True)
def _drive(use3, Wn, W3n, Bn, T, act, c0, g, H, out, gq):
    # the per-pair part of evaluate_pairs is shared; only the feature loop differs
    for q in range(T.shape[0]):
        if use3:
            K._features_upto3(W3n, Bn, T[q], act, c0, g, H, out[q], gq)
        else:
            K._features(Wn, Bn, T[q], act, c0, g, H, out[q])


def best_time(fn, repeats):
    fn()
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def activation_table(n, repeats):
    rng = np.random.default_rng(0)
    z = rng.uniform(-5.0, 5.0, n)
    out = np.empty(n)
    t_new = best_time(lambda: _loop_exp_tanh(z, out), repeats)
    t_old = best_time(lambda: _loop_libm_tanh(z, out), repeats)
    s = np.empty(n)
    d = np.empty(n)
    _values(z, s, d)
    dv = np.abs(s - np.tanh(z)).max()
    dd = np.abs(d - (1.0 - np.tanh(z) ** 2)).max()
    print(f"## 1. tanh and its two derivatives, {n} evaluations, z ~ U(-5, 5)")
    print(f"{'kernel':<36} {'ns/eval':>8}")
    print(f"{'exp(-2|z|) (rankcore now)':<36} {t_new / n * 1e9:>8.1f}")
    print(f"{'math.tanh, 1 - tanh^2 (before)':<36} {t_old / n * 1e9:>8.1f}")
    print(f"speed-up {t_old / t_new:.2f}x; max |value - numpy.tanh| {dv:.1e}, "
          f"max |derivative - (1 - numpy.tanh^2)| {dd:.1e}")


def features_table(points, J, repeats):
    rng = np.random.default_rng(1)
    print(f"\n## 2. one cell's features with second-order terms, {points} points x {J} "
          "features")
    print(f"{'d':>2} {'comps':>5} {'written out ns':>15} {'loops ns':>9} {'speed-up':>9} "
          f"{'max rel diff':>13}")
    for d in (1, 2, 3):
        for ncomp in (1, 2):
            Wn = rng.uniform(-1, 1, (J, d))
            W3n = np.zeros((J, 3))
            W3n[:, :d] = Wn
            Bn = rng.uniform(-1, 1, J)
            T = rng.uniform(-1, 1, (points, d))
            c0 = rng.uniform(-1, 1, ncomp)
            g = rng.uniform(-1, 1, (ncomp, d))
            H = rng.uniform(-1, 1, (ncomp, d, d))
            gq = np.empty((ncomp, 10))
            a = np.empty((points, ncomp * J))
            b = np.empty((points, ncomp * J))
            t3 = best_time(lambda: _drive(True, Wn, W3n, Bn, T, 0, c0, g, H, a, gq), repeats)
            tl = best_time(lambda: _drive(False, Wn, W3n, Bn, T, 0, c0, g, H, b, gq), repeats)
            rel = np.abs(a - b).max() / np.abs(b).max()
            per = points * J
            print(f"{d:>2} {ncomp:>5} {t3 / per * 1e9:>15.1f} {tl / per * 1e9:>9.1f} "
                  f"{tl / t3:>8.2f}x {rel:>13.1e}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller arrays, fewer repeats")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs (best is kept)")
    args = ap.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 7)
    if repeats < 1:
        ap.error(f"--repeats must be a positive integer, got {repeats}")
    print(f"# bench/rfm_kernels.py  loadavg {tuple(round(v, 2) for v in os.getloadavg())}  "
          f"quick={args.quick}  repeats {repeats}")
    activation_table(200_000 if args.quick else 2_000_000, repeats)
    features_table(500 if args.quick else 4000, 250, repeats)


if __name__ == "__main__":
    main()
