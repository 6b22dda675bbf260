"""
Reading a training run offline
==============================

``bridge.SnapshotRecorder`` writes one HDF5 file per training run: the
quadrature rule, and at every recorded step the loss and, per layer, the
Gram matrix of the layer's neurons and its spectrum. Reading it needs
neither torch nor a GPU: :func:`rankcore.open_run` gives the steps, the
losses and the spectra, and the ε-rank for any ε is computed afterwards.

To keep this example free of torch, the file is written with the torch-free
:class:`rankcore.runs.SnapshotWriter` from synthetic "training": 30
``tanh`` neurons whose transitions sharpen and spread over the domain as the
steps go by, while a made-up loss falls.
"""

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import rankcore
from rankcore.quadrature import gauss_legendre
from rankcore.runs import SnapshotWriter

q = gauss_legendre([(-1.0, 1.0)], 256)
x = q.points[:, 0]
rng = np.random.default_rng(0)
n = 30
c_final = np.linspace(-1.0, 1.0, n)
c_start = rng.normal(0.0, 0.05, n)
path = os.path.join(tempfile.mkdtemp(), "run.h5")

with SnapshotWriter(path, q, {"hidden": n}) as writer:
    for k, step in enumerate(range(0, 2001, 100)):
        t = k / 20
        centres = (1 - t) * c_start + t * c_final
        slope = 0.5 + 20 * t ** 2
        phi = np.tanh(slope * (x[:, None] - centres))
        writer.append(step, loss=float(np.exp(-6 * t)),
                      grams={"hidden": rankcore.gram(phi, q.weights)})

# %%
# Offline: open the file, print the ε-rank over time for two tolerances.
eps = [1e-3, 1e-6]
with rankcore.open_run(path) as run:
    steps, loss = run.steps, run.loss
    ranks = rankcore.eps_rank(run.spectra(), eps)  # (T, 2)
    print(f"{len(run.steps)} snapshots, layers {run.layers}, finished: {run.finished}")
print(" step      loss   rank(1e-3)  rank(1e-6)")
for s, l, r in zip(steps[::4], loss[::4], ranks[::4]):
    print(f"{s:5d}  {l:8.2e}  {r[0]:10d}  {r[1]:10d}")

# %%
# The staircase plot: loss and ε-rank against the step (the command-line
# equivalent is ``rankcore plot run.h5 --eps 1e-3 1e-6``).
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(steps, loss, "k-", label="loss")
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax2 = ax.twinx()
for j, e in enumerate(eps):
    ax2.step(steps, ranks[:, j], where="post", label=f"ε-rank, ε = {e:g}")
ax2.set_ylabel("ε-rank")
ax2.legend(loc="center right")
fig.tight_layout()
