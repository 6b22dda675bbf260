"""Helper for tests/bridge/test_recorder.py: record snapshots forever, report each.

Usage: python tests/_killed_writer.py PATH [--plain]

Prints ``flushed <count>`` after each committed snapshot; the test kills the
process with SIGKILL after a few and checks the file.  ``--plain`` uses the
torch-free SnapshotWriter instead of the torch recorder.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import rankcore  # noqa: E402


def main():
    path = sys.argv[1]
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 64)
    if "--plain" in sys.argv:
        from rankcore.runs import SnapshotWriter
        w = SnapshotWriter(path, q, {"h": 4}, scalars=["lr"])
        step = 0
        while True:
            g = np.diag([1.0, 0.1, 0.01, 10.0 ** -(step % 12)])
            w.append(step, loss=1.0 / (step + 1), grams={"h": g}, scalars={"lr": 0.5})
            print(f"flushed {w.count}", flush=True)
            step += 1
            time.sleep(0.005)
    import torch

    import bridge
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Tanh(),
                                torch.nn.Linear(16, 16), torch.nn.Tanh(),
                                torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.linspace(-1, 1, 128)[:, None]
    y = torch.sin(4 * x)
    rec = bridge.SnapshotRecorder(path, model, q, layers=["1", "4:input"])
    step = 0
    while True:
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        if rec.record(step, loss=loss, lr=1e-2):
            print(f"flushed {rec.count}", flush=True)
        step += 1


if __name__ == "__main__":
    main()
