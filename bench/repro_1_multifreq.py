"""Reproduction 1 (paper Ex. 2.1 / 4.1): 1-D multi-frequency fit, default vs SFLI.

Target (stand-in for the paper's eq. (5), whose formula was lost in the text
conversion): u(x) = (sin pi x + sin 2 pi x + sin 4 pi x + sin 8 pi x)/2 on
[-1, 1]; 250 uniform training points, MSE, full-batch Adam lr 1e-3, float32;
eps-rank of the last hidden layer on 129 Gauss-Legendre points (absolute
eps).  Default init = Xavier normal weights, zero biases (the paper's
"random initialization"); SFLI = ``bridge.sfli_(model, (-1, 1))``.

Parts
  A  Ex. 4.1: shallow (depth 2, width 30) and deep (depth 4, width 50) tanh
     networks, several seeds: iterations to 1e-3 / 1e-4, initial eps-rank.
  B  Ex. 2.1(ii): depth 3, width 50 with ReLU, ELU, cos, tanh.
  --shape-sweep: tanh deep network, SFLI shape s in {0.5, 1, 2, 4}.

Default run ~3 min on 2 idle cores; ``--full`` is the paper-sized setting
(20000 iterations, 3 seeds everywhere, also the Ex. 2.1(i) width/depth grid).

Usage: python bench/repro_1_multifreq.py [--quick | --full] [--shape-sweep]
       [--part A|B|all] [--seeds K] [--out DIR]
"""

import os

import numpy as np
import torch

import _sfli_common as C
import bridge
from bridge.nets import MLP

DOMAIN = (-1.0, 1.0)


def target(x):
    return sum(torch.sin(k * np.pi * x) for k in (1, 2, 4, 8)) / 2.0


def run_one(depth, width, act, init, seed, steps, q, shape=None, rank_every=100):
    torch.manual_seed(seed)
    net = MLP(1, 1, width, depth, act)
    if init == "sfli":
        bridge.sfli_(net, DOMAIN, shape=shape)
    x = torch.linspace(*DOMAIN, 250)[:, None]
    y = target(x)
    return C.train(net, lambda m: torch.mean((m(x) - y) ** 2), steps, lr=1e-3, q=q,
                   rank_every=rank_every)


def table(configs, seeds, steps, q, out, tag):
    print(f"\n{'net':>10s} {'act':>5s} {'init':>7s} {'seeds':>5s} {'it->1e-3':>9s} {'it->1e-4':>9s} "
          f"{'speedup 1e-3':>12s} {'speedup 1e-4':>12s} {'r0(1e-3)':>8s} {'r0(1e-6)':>8s} "
          f"{'rEnd(1e-3)':>10s} {'min loss':>9s}")
    curves = []
    for depth, width, act in configs:
        res = {}
        for init in ("default", "sfli"):
            runs = [run_one(depth, width, act, init, s, steps, q) for s in seeds]
            res[init] = runs
        med = {}
        for init, runs in res.items():
            h3 = C.median_hit([C.first_hit(r["loss"], 1e-3) for r in runs], steps)
            h4 = C.median_hit([C.first_hit(r["loss"], 1e-4) for r in runs], steps)
            med[init] = (h3, h4)
        for init, runs in res.items():
            h3, h4 = med[init]
            r0a = int(np.median([C.rank(r["spectra"][0], 1e-3) for r in runs]))
            r0b = int(np.median([C.rank(r["spectra"][0], 1e-6) for r in runs]))
            r1 = int(np.median([C.rank(r["spectra"][-1], 1e-3) for r in runs]))
            mn = np.median([r["loss"].min() for r in runs])
            sp3 = C.ratio(med["default"][0], h3, steps) if init == "sfli" else ""
            sp4 = C.ratio(med["default"][1], h4, steps) if init == "sfli" else ""
            print(f"{f'{depth}x{width}':>10s} {act:>5s} {init:>7s} {len(runs):5d} "
                  f"{C.fmt_hit(h3, steps):>9s} {C.fmt_hit(h4, steps):>9s} {sp3:>12s} {sp4:>12s} "
                  f"{r0a:8d} {r0b:8d} {r1:10d} {mn:9.2e}")
            colour = {"default": "tab:gray", "sfli": "tab:red"}[init]
            ls = {2: ":", 3: "-.", 4: "-"}.get(depth, "--")
            curves.append((f"{depth}x{width} {act} {init} (seed {seeds[0]})", colour, ls, runs[0]))
    C.save_plot(os.path.join(out, f"repro_1_{tag}.png"), curves,
                f"Ex 2.1/4.1 multi-frequency fit ({tag}); medians over seeds in the table")


def main(argv=None):
    p = C.parser(__doc__)
    p.add_argument("--shape-sweep", action="store_true")
    p.add_argument("--part", choices=["A", "B", "all"], default="all", help="run only part A or B")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (overrides the setting)")
    a = p.parse_args(argv)
    C.set_threads()
    C.header("repro 1: Ex 2.1/4.1 multi-frequency fit, default (Xavier) vs SFLI", argv)
    q = __import__("rankcore").quadrature.gauss_legendre(DOMAIN, 129)
    if a.quick:
        steps, seeds_a, seeds_b = 1500, [0], [0]
    elif a.full:
        steps, seeds_a, seeds_b = 20000, [0, 1, 2], [0, 1, 2]
    else:
        steps, seeds_a, seeds_b = 5000, [0, 1, 2], [0]
    if a.seeds is not None:
        seeds_a = seeds_b = list(range(max(1, a.seeds)))
    print(f"iterations {steps}; 'it->t' = median over seeds of the first iteration with loss < t "
          f"(>{steps}: not reached); r0/rEnd = eps-rank of the last hidden layer at step 0 / end")
    if a.shape_sweep:
        print("\nPart S: SFLI shape sweep, tanh 4x50, seed 0")
        print(f"{'s':>5s} {'it->1e-3':>9s} {'it->1e-4':>9s} {'r0(1e-3)':>8s} {'min loss':>9s}")
        for s in (0.5, 1.0, 2.0, 4.0):
            r = run_one(4, 50, "tanh", "sfli", 0, min(steps, 3000), q, shape=s)
            print(f"{s:5.2f} {C.fmt_hit(C.first_hit(r['loss'], 1e-3), min(steps, 3000)):>9s} "
                  f"{C.fmt_hit(C.first_hit(r['loss'], 1e-4), min(steps, 3000)):>9s} "
                  f"{C.rank(r['spectra'][0], 1e-3):8d} {r['loss'].min():9.2e}")
        return 0
    if a.part in ("A", "all"):
        print("\nPart A (Ex 4.1): tanh, shallow 2x30 and deep 4x50")
        table([(2, 30, "tanh"), (4, 50, "tanh")], seeds_a, steps, q, a.out, "A_ex41")
    if a.part in ("B", "all"):
        print("\nPart B (Ex 2.1(ii)): depth 3, width 50, four activations")
        table([(3, 50, act) for act in ("relu", "elu", "cos", "tanh")], seeds_b, steps, q, a.out,
              "B_activations")
    if a.full and a.part == "all":
        print("\nPart C (Ex 2.1(i)): widths/depths, tanh")
        table([(2, 25, "tanh"), (2, 50, "tanh"), (4, 25, "tanh"), (4, 50, "tanh")], seeds_a,
              steps, q, a.out, "C_sizes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
