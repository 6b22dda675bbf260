"""Two-process DDP fit on CPU (gloo) with EpsRankCallback; run as a script.

Usage: python tests/_ddp_fit.py OUT_DIR.  Each rank writes rank<k>.txt with
whether it held a recorder; rank 0 also writes the snapshot file run.h5.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bridge  # noqa: E402
import rankcore  # noqa: E402


def main(out):
    import lightning.pytorch as pl

    class Fit(pl.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.net = bridge.MLP(1, 1, width=8, depth=2)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return ((self.net(x) - y) ** 2).mean()

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-2)

    x = torch.linspace(-1, 1, 64)[:, None]
    data = torch.utils.data.TensorDataset(x, torch.sin(3 * x))
    loader = torch.utils.data.DataLoader(data, batch_size=16)
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 32)
    cb = bridge.EpsRankCallback(q, path=os.path.join(out, "run.h5"), every=2, module="net")
    trainer = pl.Trainer(max_steps=6, accelerator="cpu", devices=2, strategy="ddp",
                         logger=False, callbacks=[cb], enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(Fit(), loader)
    with open(os.path.join(out, f"rank{trainer.global_rank}.txt"), "w") as fh:
        fh.write(f"recorder={cb.recorder is not None} steps={trainer.global_step}\n")


if __name__ == "__main__":
    main(sys.argv[1])
