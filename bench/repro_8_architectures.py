"""Reproduction 8: modified MLP and PirateNet with and without SFLI.

Part P (placement): where SFLI should act in each architecture, decided by
the initial eps-rank of the last hidden layer (absolute eps 1e-3, width 50,
``rankcore.sfli.default_quadrature`` on [-1, 1] and [-1, 1]^2, 3 seeds):
modified MLP (depth 4) with SFLI on nothing / W_1 / U and V / all three;
PirateNet (2 blocks) with the dense embedding default or SFLI, and with the
original random Fourier embedding (scale 1 and 5).

Part T (training): the PINN Poisson problem of repro 3 (-Laplace u = f on
[-1, 1]^2, u = sin(2 pi x) sin(2 pi y)), tanh, width 50: modified MLP
depth 4 and PirateNet 2 blocks, default init vs ``bridge.sfli_`` (which acts
where Part P says), plus PirateNet with its original Fourier embedding.
Full-batch Adam lr 1e-3, float32.

Usage: python bench/repro_8_architectures.py [--quick | --full] [--seeds K] [--out DIR]
"""

import os

import numpy as np
import torch

import _sfli_common as C
import bridge
import rankcore
from bridge.nets import ModifiedMLP, PirateNet
from repro_3_pinn_poisson import BOX, exact, pinn_loss, problem


def placement_table():
    print("\nPart P: initial eps-rank (eps 1e-3) of the last hidden layer, width 50, 3 seeds")
    print(f"{'d':>2s} {'architecture':>24s} {'SFLI acts on':>22s} {'ranks':>14s}")
    for d in (1, 2):
        box = [(-1.0, 1.0)] * d
        q = rankcore.sfli.default_quadrature(box)
        xq = torch.tensor(q.points)
        options = [
            ("modified MLP depth 4", "-", None, []),
            ("modified MLP depth 4", "W_1", None, ["input_layer"]),
            ("modified MLP depth 4", "U, V", None, ["encoder_u", "encoder_v"]),
            ("modified MLP depth 4", "W_1, U, V (sfli_)", None, ["input_layer", "encoder_u", "encoder_v"]),
            ("PirateNet dense emb.", "-", "dense", []),
            ("PirateNet dense emb.", "embedding (sfli_)", "dense", ["embedding.0"]),
            ("PirateNet Fourier s=1", "-", ("fourier", 1.0), []),
            ("PirateNet Fourier s=5", "-", ("fourier", 5.0), []),
        ]
        for arch, label, emb, layers in options:
            ranks = []
            for seed in range(3):
                torch.manual_seed(seed)
                if emb is None:
                    net = ModifiedMLP(d, 1, 50, 4).double()
                elif emb == "dense":
                    net = PirateNet(d, 1, 50, 2).double()
                else:
                    net = PirateNet(d, 1, 50, 2, embedding="fourier", fourier_scale=emb[1]).double()
                gen = torch.Generator().manual_seed(seed)
                if not layers:
                    pass
                elif layers == list(getattr(net, "sfli_layers", ())):
                    bridge.sfli_(net, box, generator=gen)
                else:
                    mods = dict(net.named_modules())
                    for k, name in enumerate(layers):
                        bridge.sfli_(mods[name], box, activation="tanh",
                                     scheme="auto" if k == 0 and name == "input_layer" else "udi",
                                     generator=gen)
                F = C.last_hidden(net, xq)
                ranks.append(int(rankcore.eps_rank(rankcore.gram(F, q.weights), 1e-3,
                                                   kind="gram")))
            print(f"{d:2d} {arch:>24s} {label:>22s} {str(ranks):>14s}")


def main(argv=None):
    p = C.parser(__doc__)
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (overrides the setting)")
    a = p.parse_args(argv)
    C.set_threads()
    C.header("repro 8: modified MLP and PirateNet, default vs SFLI", argv)
    placement_table()
    steps = 200 if a.quick else (10000 if a.full else 1000)
    seeds = [0, 1, 2] if a.full else [0]
    if a.seeds is not None:
        seeds = list(range(max(1, a.seeds)))
    q = rankcore.sfli.default_quadrature(BOX)
    xq = torch.tensor(q.points, dtype=torch.float32)
    wq = torch.tensor(q.weights, dtype=torch.float32)
    uq = exact(xq)
    nu = torch.sqrt(torch.sum(wq[:, None] * uq ** 2))
    loss_fn = pinn_loss(*problem())

    def rel_err(m):
        with torch.no_grad():
            return float(torch.sqrt(torch.sum(wq[:, None] * (m(xq) - uq) ** 2)) / nu)

    configs = [
        ("ModifiedMLP 4x50", lambda: ModifiedMLP(2, 1, 50, 4), ("default", "sfli")),
        ("PirateNet dense 2 blocks", lambda: PirateNet(2, 1, 50, 2), ("default", "sfli")),
        ("PirateNet Fourier(1) 2 blocks", lambda: PirateNet(2, 1, 50, 2, embedding="fourier"),
         ("default",)),
    ]
    print(f"\nPart T: PINN Poisson, {steps} iterations, seeds {seeds} (medians); eps-rank eps 1e-3")
    print(f"{'architecture':>30s} {'init':>7s} {'r0':>4s} {'rEnd':>5s} {'it->1':>6s} {'it->0.1':>8s} "
          f"{'loss end':>9s} {'err@500':>8s} {'err end':>8s}")
    curves = []
    colours = iter(["tab:gray", "tab:red", "tab:blue", "tab:orange", "tab:green"])
    for name, make, inits in configs:
        for init in inits:
            runs = []
            for seed in seeds:
                torch.manual_seed(seed)
                net = make()
                if init == "sfli":
                    bridge.sfli_(net, BOX, generator=torch.Generator().manual_seed(seed))
                runs.append(C.train(net, loss_fn, steps, lr=1e-3, q=q, rank_every=50,
                                    extra=rel_err, extra_every=50))
            r0 = int(np.median([C.rank(r["spectra"][0], 1e-3) for r in runs]))
            r1 = int(np.median([C.rank(r["spectra"][-1], 1e-3) for r in runs]))
            h1 = C.median_hit([C.first_hit(r["loss"], 1.0) for r in runs], steps)
            h2 = C.median_hit([C.first_hit(r["loss"], 0.1) for r in runs], steps)
            i500 = min(10, len(runs[0]["extra"]) - 1)
            e500 = np.median([r["extra"][i500] for r in runs])
            print(f"{name:>30s} {init:>7s} {r0:4d} {r1:5d} {C.fmt_hit(h1, steps):>6s} "
                  f"{C.fmt_hit(h2, steps):>8s} {np.median([r['loss'][-1] for r in runs]):9.2e} "
                  f"{e500:8.2e} {np.median([r['extra'][-1] for r in runs]):8.2e}")
            curves.append((f"{name} {init}", next(colours), "-", runs[0]))
    C.save_plot(os.path.join(a.out, "repro_8_architectures.png"), curves,
                "PINN Poisson: modified MLP / PirateNet, default vs SFLI", ylabel="PINN loss")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
