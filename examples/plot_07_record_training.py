"""
Recording training: default initialisation versus SFLI
======================================================

Two copies of the same seeded 3 × 30 ``tanh`` MLP fit
``u(x) = sin(8x) + 0.5 sin(24x)`` on ``[-1, 1]`` with Adam; one of them gets
SFLI first (``bridge.sfli_(model, domain)``). A
:class:`bridge.SnapshotRecorder` writes the Gram spectrum of the last hidden
layer every 50 steps; afterwards the runs are read back with
:func:`rankcore.open_run` and their ε-rank and loss compared.

Timings and the exact iteration counts depend on the CPU, the BLAS and the
torch build (float32 reductions are not bitwise reproducible across
machines); the qualitative picture does not.
"""

import os
import tempfile

import numpy as np
import torch

import bridge
import rankcore
from rankcore.quadrature import gauss_legendre

torch.set_num_threads(1)
q = gauss_legendre([(-1.0, 1.0)], 256)
x = torch.tensor(q.points, dtype=torch.float32)
target = torch.sin(8 * x) + 0.5 * torch.sin(24 * x)
w = torch.tensor(q.weights, dtype=torch.float32)[:, None]
out = tempfile.mkdtemp()


def train(sfli, steps=1000):
    torch.manual_seed(0)
    model = bridge.MLP(1, 1, width=30, depth=3, activation="tanh")
    if sfli:
        bridge.sfli_(model, domain=(-1.0, 1.0))
    path = os.path.join(out, "sfli.h5" if sfli else "default.h5")
    rec = bridge.SnapshotRecorder(path, model, q, every=50, overwrite=True)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(steps + 1):
        loss = (w * (model(x) - target) ** 2).sum()  # quadrature L2 loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.record(step, loss=loss.item())
    rec.close()
    return path


runs = {"default": train(False), "SFLI": train(True)}

# %%
# Read both runs back (no torch needed for this part).
print("run       step   loss      eps-rank(1e-3)  eps-rank(1e-6)")
for name, path in runs.items():
    with rankcore.open_run(path) as run:
        ranks = rankcore.eps_rank(run.spectra(), [1e-3, 1e-6])
        for i in (0, len(run.steps) // 2, len(run.steps) - 1):
            print(f"{name:8s}  {run.steps[i]:4d}  {run.loss[i]:.2e}  "
                  f"{ranks[i, 0]:14d}  {ranks[i, 1]:14d}")
        hit = np.nonzero(run.loss < 1e-2)[0]
        first = run.steps[hit[0]] if hit.size else None
        print(f"{name:8s}  first recorded step with loss < 1e-2: {first}")
