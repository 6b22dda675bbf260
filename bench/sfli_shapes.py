"""Measure the initial epsilon-rank that SFLI gives, per activation and shape.

For every supported activation and a range of shape factors ``s``:

* first layer: lambda_min and eps-rank of its Gram matrix on
  ``rankcore.sfli.default_quadrature`` (1-D grid on [-1, 1]; 2-D UDI on
  [-1, 1]^2 with both offset rules);
* last hidden layer of a 3x50 MLP (first layer SFLI, deeper layers Xavier
  normal with zero bias, the paper's default): eps-rank, median over seeds;
* the same for an all-Xavier network (the default-initialisation reference).

Default rule: grid: smallest s with first-layer lambda_min > 1e-4 (sharper
neurons saturate and, measured in bench/repro_1_multifreq.py --shape-sweep, train
slower).  UDI (random, lambda_min set by near-duplicate neurons): the
column "udi" is the rank rule (smallest s whose median first-layer eps-rank
at eps = 1e-4 reaches 0.95 n), kept for reference; the UDI defaults are now
chosen by training, per dimension (bench/sfli_udi_shapes.py).

eps = 1e-3, absolute (the paper's convention).  NumPy only, runs in seconds.

Usage: python bench/sfli_shapes.py [--quick]
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import rankcore  # noqa: E402
from rankcore import sfli  # noqa: E402

EPS = 1e-3
# The grid is deterministic and can be exactly independent: its default is the
# smallest s with lambda_min > EPS_GRID (the smoothest independent neurons).
EPS_GRID = 1e-4
WIDTH = 50
DEPTH = 3


def xavier(rng, fan_out, fan_in):
    return rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / (fan_in + fan_out))


def deep_features(W1, b1, act, x, rng, depth=DEPTH):
    f = sfli.activation_function(act)
    h = sfli.first_layer_features(W1, b1, act, x)
    for _ in range(depth - 1):
        W = xavier(rng, WIDTH, WIDTH)
        h = f(h @ W.T)
    return h


def lam_rank(F, q):
    lam = rankcore.spectrum(rankcore.gram(F, q.weights))
    return lam[-1], rankcore.eps_rank(lam, EPS)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer shapes and seeds")
    args = p.parse_args(argv)
    print(f"loadavg {os.getloadavg()}  eps={EPS} (absolute)  width={WIDTH} depth={DEPTH}")
    seeds = range(3) if args.quick else range(5)
    shapes = [0.5, 1.0, 2.0, 4.0, 8.0] if args.quick else [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    chosen = {"grid": {}, "udi": {}}
    target = 0.95 * WIDTH
    q1 = sfli.default_quadrature((-1.0, 1.0))
    q2 = sfli.default_quadrature([(-1.0, 1.0), (-1.0, 1.0)])
    box2 = [(-1.0, 1.0), (-1.0, 1.0)]
    R2 = np.sqrt(2.0)

    print("\nXavier (default) reference: first-layer and last-hidden eps-rank, median over seeds")
    print(f"{'act':8s} {'1D first':>9s} {'1D last':>8s} {'2D first':>9s} {'2D last':>8s}")
    for act in sfli.SFLI_ACTIVATIONS:
        r = {k: [] for k in ("1f", "1l", "2f", "2l")}
        for seed in seeds:
            for d, q, key in ((1, q1, "1"), (2, q2, "2")):
                rng = np.random.default_rng(seed)
                W1 = xavier(rng, WIDTH, d)
                b1 = np.zeros(WIDTH)
                r[key + "f"].append(lam_rank(sfli.first_layer_features(W1, b1, act, q.points), q)[1])
                r[key + "l"].append(lam_rank(deep_features(W1, b1, act, q.points, rng), q)[1])
        med = {k: int(np.median(v)) for k, v in r.items()}
        print(f"{act:8s} {med['1f']:9d} {med['1l']:8d} {med['2f']:9d} {med['2l']:8d}")

    print("\n1-D grid on [-1,1]: s, first-layer lambda_min, first eps-rank, last-hidden eps-rank (median)")
    print(f"{'act':8s} {'s':>5s} {'lam_min':>10s} {'first':>6s} {'last':>5s}")
    for act in sfli.SFLI_ACTIVATIONS:
        for s in shapes:
            W1, b1 = sfli.grid_init(WIDTH, (-1.0, 1.0), act, shape=s)
            lmin, r1 = lam_rank(sfli.first_layer_features(W1, b1, act, q1.points), q1)
            last = [lam_rank(deep_features(W1, b1, act, q1.points, np.random.default_rng(sd)), q1)[1]
                    for sd in seeds]
            print(f"{act:8s} {s:5.2f} {lmin:10.2e} {r1:6d} {int(np.median(last)):5d}")
            if lmin > EPS_GRID and act not in chosen["grid"]:
                chosen["grid"][act] = s

    print("\n2-D UDI on [-1,1]^2: gamma = s*sqrt(n)/(2R) (x pi for sin/cos); first-layer eps-rank and"
          "\nlambda_min (median over seeds) for offsets 'box' and 'ball', last-hidden eps-rank ('box')")
    print(f"{'act':8s} {'s':>5s} {'box lam':>10s} {'box r1':>6s} {'ball lam':>10s} {'ball r1':>7s} {'last':>5s} "
          f"{'box r1(1e-4)':>12s}")
    for act in sfli.SFLI_ACTIVATIONS:
        for s in shapes:
            gamma = s * np.sqrt(WIDTH) / (2 * R2)
            if act in ("sin", "cos"):
                gamma *= np.pi
            out = {"box": ([], []), "ball": ([], [])}
            r4 = []
            last = []
            for sd in seeds:
                for off in ("box", "ball"):
                    W1, b1 = sfli.udi_init(WIDTH, box2, act, shape=gamma, random_state=sd, offsets=off)
                    lmin, r1 = lam_rank(sfli.first_layer_features(W1, b1, act, q2.points), q2)
                    out[off][0].append(lmin)
                    out[off][1].append(r1)
                    if off == "box":
                        M = rankcore.gram(sfli.first_layer_features(W1, b1, act, q2.points), q2.weights)
                        r4.append(int(rankcore.eps_rank(M, EPS_GRID, kind="gram")))
                    if off == "box":
                        last.append(lam_rank(deep_features(W1, b1, act, q2.points,
                                                           np.random.default_rng(100 + sd)), q2)[1])
            print(f"{act:8s} {s:5.2f} {np.median(out['box'][0]):10.2e} {int(np.median(out['box'][1])):6d} "
                  f"{np.median(out['ball'][0]):10.2e} {int(np.median(out['ball'][1])):7d} "
                  f"{int(np.median(last)):5d} {int(np.median(r4)):12d}")
            if np.median(r4) >= target and act not in chosen["udi"]:
                chosen["udi"][act] = s

    print(f"\nRule: grid: smallest measured s with first-layer lambda_min > {EPS_GRID:g};"
          f" UDI: smallest s with median first-layer eps-rank at eps={EPS_GRID:g} >= 0.95 n = {target:g}")
    print(f"{'act':8s} {'grid':>6s} {'udi':>6s}   DEFAULT_SHAPE grid/udi")
    for act in sfli.SFLI_ACTIVATIONS:
        g = chosen["grid"].get(act, float("nan"))
        u = chosen["udi"].get(act, float("nan"))
        print(f"{act:8s} {g:6.2f} {u:6.2f}   {sfli.DEFAULT_SHAPE['grid'][act]:.2f}/{sfli.DEFAULT_SHAPE['udi'][act]:.2f}")


if __name__ == "__main__":
    main()
