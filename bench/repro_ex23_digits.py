"""Paper Ex. 2.3: the staircase in handwriting recognition under cross-entropy.

The paper uses MNIST (28 x 28) and a sigmoid network; this bench uses the 8 x 8
handwritten digits that scikit-learn ships inside its package
(``sklearn.datasets.load_digits``: 1797 images, 10 classes, no download at run
time).  scikit-learn is an optional, bench-only dependency: without it the
script says so and exits with status 0.

Setup (the paper's table lost most numbers; choices are documented here):
pixels scaled to [0, 1] (input box [0, 1]^64); a fixed seeded 75/25
train/test split; a sigmoid MLP 64 -> 100 -> 70 -> 40 -> 10 (widths vary per
layer, as the paper says for this example); Xavier-normal weights and zero
biases ("default", the paper's baseline); cross-entropy; plain mini-batch SGD
(batch 40, learning rate 0.5, no momentum).

The "quadrature" for the eps-rank is the empirical measure of the training
images: points = the images, weights 1/N.  The eps-rank (absolute eps,
default 1e-3) of the last hidden layer's 40 features is computed with
``rankcore.gram`` / ``rankcore.spectrum`` once per epoch.

"SFLI" = ``bridge.sfli_(model, domain=[(0, 1)] * 64)`` (UDI for sigmoid,
default shape) on the same seeded network: cheap, so it is included, but UDI
places hyperplanes uniformly in the box while the images fill only a thin
part of it; the table shows what that gives.

Run ``python bench/repro_ex23_digits.py`` (about a minute), ``--quick``,
``--full`` (more epochs and seeds).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import rankcore  # noqa: E402

import bridge  # noqa: E402

import _sfli_common as C  # noqa: E402

WIDTHS = (100, 70, 40)


def make_model(seed):
    torch.manual_seed(seed)
    layers, fan_in = [], 64
    for w in WIDTHS:
        layers += [nn.Linear(fan_in, w), nn.Sigmoid()]
        fan_in = w
    layers.append(nn.Linear(fan_in, 10))
    model = nn.Sequential(*layers)
    for m in model:
        if isinstance(m, nn.Linear):
            nn.init.xavier_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def features(model, X):
    with torch.no_grad():
        return model[:-1](X).double().numpy()


def accuracy(model, X, y):
    with torch.no_grad():
        return float((model(X).argmax(1) == y).double().mean())


def train(init, seed, args, Xtr, ytr, Xte, yte):
    model = make_model(seed)
    if init == "sfli":
        bridge.sfli_(model, domain=[(0.0, 1.0)] * 64, shape=args.shape,
                     generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    lossf = nn.CrossEntropyLoss()
    w = np.full(len(Xtr), 1.0 / len(Xtr))
    g = torch.Generator().manual_seed(10_000 + seed)
    h = {"ep": [], "it": [], "loss": [], "acc": [], "tacc": [], "spec": []}

    def record(ep, it):
        with torch.no_grad():
            loss = float(lossf(model(Xtr), ytr))
        if not np.isfinite(loss):
            raise FloatingPointError(f"{init} seed {seed}: loss {loss} at epoch {ep}")
        h["ep"].append(ep)
        h["it"].append(it)
        h["loss"].append(loss)
        h["acc"].append(accuracy(model, Xtr, ytr))
        h["tacc"].append(accuracy(model, Xte, yte))
        h["spec"].append(rankcore.spectrum(rankcore.gram(features(model, Xtr), w)))

    with torch.no_grad():
        F1 = model[:2](Xtr).double().numpy()
    h["rank1_0"] = int(rankcore.eps_rank(rankcore.gram(F1, w), args.eps, kind="gram"))
    t0 = time.perf_counter()
    it = 0
    record(0, 0)
    for ep in range(1, args.epochs + 1):
        perm = torch.randperm(len(Xtr), generator=g)
        for s in range(0, len(Xtr), args.batch):
            idx = perm[s:s + args.batch]
            loss = lossf(model(Xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            it += 1
        record(ep, it)
    h["wall"] = time.perf_counter() - t0
    h["spec"] = np.array(h["spec"])
    return h


def first_reach(h, key, target, below=True):
    for ep, v in zip(h["ep"], h[key]):
        if (v <= target) if below else (v >= target):
            return ep
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join("bench", "out"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--full", action="store_true", help="300 epochs, 5 seeds")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--batch", type=int, default=40)
    p.add_argument("--eps", type=float, default=1e-3)
    p.add_argument("--shape", type=float, default=None,
                   help="SFLI (UDI) shape factor; default rankcore.sfli.DEFAULT_SHAPE")
    args = p.parse_args(argv)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("scikit-learn is not installed: this optional bench needs its bundled digits "
              "data set (pip install scikit-learn). Nothing was run.")
        return 0
    if args.quick:
        epochs, seeds = 10, [0]
    elif args.full:
        epochs, seeds = 300, [0, 1, 2, 3, 4]
    else:
        epochs, seeds = 100, [0, 1, 2]
    args.epochs = args.epochs if args.epochs is not None else epochs
    args.seeds = args.seeds if args.seeds is not None else seeds

    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    digits = load_digits()
    X = digits.data / 16.0
    y = digits.target
    perm = np.random.default_rng(0).permutation(len(X))
    n_tr = int(0.75 * len(X))
    tr, te = perm[:n_tr], perm[n_tr:]
    Xtr = torch.tensor(X[tr], dtype=torch.float32)
    ytr = torch.tensor(y[tr])
    Xte = torch.tensor(X[te], dtype=torch.float32)
    yte = torch.tensor(y[te])
    print(f"sklearn digits: {len(tr)} train / {len(te)} test images, 64 inputs in [0, 1]; "
          f"sigmoid MLP 64-{'-'.join(map(str, WIDTHS))}-10, SGD lr {args.lr}, batch "
          f"{args.batch}, {args.epochs} epochs, seeds {args.seeds}")
    shape = (args.shape if args.shape is not None
             else rankcore.sfli.default_shape("sigmoid", "udi", 64))
    print(f"SFLI: bridge.sfli_(model, domain=[(0, 1)] * 64) -> UDI, sigmoid, shape s = "
          f"{shape:g} ({'--shape' if args.shape is not None else 'rankcore.sfli.DEFAULT_SHAPE'})")
    print(f"eps-rank: last hidden layer ({WIDTHS[-1]} features), absolute eps = {args.eps:g}, "
          f"empirical measure of the training images (weights 1/{len(tr)})")

    runs = {}
    for seed in args.seeds:
        for init in ("default", "sfli"):
            runs[(init, seed)] = h = train(init, seed, args, Xtr, ytr, Xte, yte)
            print(f"  trained {init:7s} seed {seed}: {h['wall']:.1f} s; eps-rank at step 0: "
                  f"first hidden layer {h['rank1_0']} of {WIDTHS[0]}, last hidden layer "
                  f"{rankcore.eps_rank(h['spec'][0], args.eps, kind='spectrum')} of {WIDTHS[-1]}")

    eps = args.eps
    eps_list = h["ep"]
    cps = sorted({eps_list[int(round(i * (len(eps_list) - 1) / 5))] for i in range(6)})
    print()
    print(f"Train loss / test accuracy / eps-rank (eps = {eps:g}) at epochs; D = default, S = SFLI")
    print("seed  init " + "".join(f"{'ep ' + str(c):>22s}" for c in cps))
    for seed in args.seeds:
        for init, tag in (("default", "D"), ("sfli", "S")):
            h = runs[(init, seed)]
            cells = []
            for c in cps:
                i = h["ep"].index(c)
                r = rankcore.eps_rank(h["spec"][i], eps, kind="spectrum")
                cells.append(f"{h['loss'][i]:7.3f}/{h['tacc'][i]:6.3f}/{r:3d}")
            print(f"{seed:4d}  {tag:4s} " + "".join(f"{c:>22s}" for c in cells))

    targets = [2.0, 1.0, 0.5, 0.2, 0.1]
    print()
    print("Epochs to reach train-loss targets and 90% test accuracy ('-' = not reached); "
          f"1 epoch = {h['it'][1]} SGD steps")
    print("seed  init " + "".join(f"{t:>7.1f}" for t in targets)
          + "  acc>=0.9  final loss  train acc  test acc  final rank  wall s")
    for seed in args.seeds:
        for init, tag in (("default", "D"), ("sfli", "S")):
            h = runs[(init, seed)]
            reach = [first_reach(h, "loss", t) for t in targets]
            a90 = first_reach(h, "tacc", 0.9, below=False)
            r = rankcore.eps_rank(h["spec"][-1], eps, kind="spectrum")
            print(f"{seed:4d}  {tag:4s} " + "".join(f"{('-' if v is None else str(v)):>7s}"
                                                    for v in reach)
                  + f"  {('-' if a90 is None else str(a90)):>8s}  {h['loss'][-1]:10.4f}"
                  f"  {h['acc'][-1]:9.3f}  {h['tacc'][-1]:8.3f}  {r:10d}  {h['wall']:6.1f}")

    fig, ax = C.figure(1, 3, figsize=(15, 4.2))
    colors = {"default": "tab:blue", "sfli": "tab:red"}
    for (init, seed), h in runs.items():
        ls = "-" if seed == args.seeds[0] else "--"
        lab = f"{init} s{seed}"
        ax[0].semilogy(h["ep"], h["loss"], ls, color=colors[init], label=lab)
        ax[1].plot(h["ep"], rankcore.eps_rank(h["spec"], eps, kind="spectrum"), ls,
                   color=colors[init], label=lab)
        ax[2].plot(h["ep"], h["tacc"], ls, color=colors[init], label=lab)
    ax[0].set(xlabel="epoch", ylabel="cross-entropy (train)", title="digits: loss")
    ax[1].set(xlabel="epoch", ylabel=f"eps-rank (eps={eps:g})", title="last hidden layer")
    ax[2].set(xlabel="epoch", ylabel="test accuracy", title="digits: test accuracy")
    path = C.save_figure(fig, os.path.join(args.out, "repro_ex23_digits.png"), legends=ax)
    print(f"plot written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
