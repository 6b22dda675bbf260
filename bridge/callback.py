"""PyTorch Lightning integration: record and log the ε-rank during ``Trainer.fit``.

This module imports Lightning (``lightning.pytorch``, or the older
``pytorch_lightning`` package); ``import bridge`` does not, and
``bridge.EpsRankCallback`` loads this module on first use.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

import rankcore
from rankcore.validation import check_positive_int, describe

from .recorder import DEFAULT_EPS, SnapshotRecorder, check_loggers, eps_tuple, metric_name

try:
    from lightning.pytorch import Callback
except ImportError:  # pragma: no cover - depends on the installed flavour
    try:
        from pytorch_lightning import Callback
    except ImportError:
        raise ImportError(
            "bridge.EpsRankCallback needs PyTorch Lightning: pip install "
            "rankcore[lightning]") from None

__all__ = ["EpsRankCallback"]


def _loss_of(outputs):
    """The loss in what ``training_step`` returned (tensor, dict or None)."""
    if isinstance(outputs, dict):
        outputs = outputs.get("loss")
    if isinstance(outputs, torch.Tensor) and outputs.numel() == 1:
        return float(outputs.detach())
    return math.nan


class EpsRankCallback(Callback):
    """Lightning callback: ε-rank snapshots of a model during training.

    Every ``every`` optimiser steps the callback evaluates the chosen layers
    on the quadrature (like :class:`bridge.SnapshotRecorder`, with which it
    shares all code), appends a snapshot to ``path`` when one is given, and
    logs ``eps_rank/<layer>/<eps>`` through ``pl_module.log``, so that every
    logger of the Trainer (TensorBoard, CSV, MLflow, W&B, ...) receives it.

    Parameters
    ----------
    quadrature : rankcore.Quadrature
        Points and weights on which the features are evaluated.
    path : str or os.PathLike, optional
        Snapshot file to write (read it with :func:`rankcore.open_run`);
        None records nothing to disk and only logs.
    layers : str or list of str, optional
        Module names of the evaluated module (see
        :class:`bridge.SnapshotRecorder`); default its last hidden layer.
    every : int
        Record when the number of optimiser steps done is a multiple of it.
    eps : float or sequence of float
        Tolerances of the logged ε-ranks.
    relative : bool
        Log ranks counting λ > ε·λ_max instead of λ > ε.
    loggers : sequence, optional
        Extra mirrors besides the Trainer's loggers (SummaryWriter or
        callable ``(name, value, step)``), as in the recorder.
    module : str, optional
        Name of the submodule of the LightningModule that maps points (B, d)
        to outputs (default: the LightningModule itself).
    batch_size : int, default 8192
        Quadrature points per forward pass; passed to
        :class:`bridge.SnapshotRecorder`.
    store_gram : bool, default True
        Store the Gram matrices; passed to :class:`bridge.SnapshotRecorder`.
    overwrite : bool, default False
        Replace an existing file at ``path``; passed to
        :class:`bridge.SnapshotRecorder`.
    metadata : dict, optional
        More root attributes of the file; passed to
        :class:`bridge.SnapshotRecorder`.

    Notes
    -----
    The features of step ``s`` are captured in ``on_train_batch_start``,
    before the optimiser step, and stored in ``on_train_batch_end`` with the
    loss that ``training_step`` returned for the same parameters, so loss
    and ε-rank in a snapshot belong together.  The model's state after the
    last step is recorded at the end of training (loss NaN) when its step is
    a multiple of ``every``.

    Under DDP only global rank 0 builds a recorder, evaluates and writes;
    other ranks return at once.  The callback performs no collective
    operation and logs with ``rank_zero_only=True``, so no rank waits for
    another.

    Examples
    --------
    >>> import rankcore, bridge
    >>> q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 64)
    >>> cb = bridge.EpsRankCallback(q, every=50)
    >>> cb.every, cb.eps
    (50, (0.001, 1e-06))
    """

    def __init__(self, quadrature, path=None, layers=None, every=100, eps=DEFAULT_EPS,
                 relative=False, *, loggers=None, module=None, batch_size=8192,
                 store_gram=True, overwrite=False, metadata=None):
        super().__init__()
        if not isinstance(quadrature, rankcore.Quadrature):
            raise TypeError(
                f"quadrature must be a rankcore.Quadrature, got {describe(quadrature)}")
        if not isinstance(relative, (bool, np.bool_)):
            raise TypeError(f"relative must be a bool, got {describe(relative)}")
        if module is not None and not isinstance(module, str):
            raise TypeError(f"module must be a submodule name (str), got {describe(module)}")
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path (str or os.PathLike) or None, got "
                            f"{describe(path)}")
        if layers is not None and not isinstance(layers, str) and not (
                isinstance(layers, (list, tuple)) and all(isinstance(x, str) for x in layers)):
            raise TypeError(f"layers must be a module name (str), a list of them or None, "
                            f"got {describe(layers)}")
        check_loggers(loggers)  # a bad logger fails here, not when fit starts
        self.quadrature = quadrature
        self.path = path
        self.layers = layers
        self.every = check_positive_int(every, "every")
        self.eps = eps_tuple(eps)
        self.relative = bool(relative)
        self.loggers = loggers
        self.module = module
        self.recorder_kwargs = dict(batch_size=batch_size, store_gram=store_gram,
                                    overwrite=overwrite, metadata=metadata)
        self.recorder = None
        self._pending = None
        self._last = None

    def _target(self, pl_module):
        if self.module is None:
            return pl_module
        mods = dict(pl_module.named_modules())
        if self.module not in mods:
            raise ValueError(
                f"module {self.module!r} is not a submodule of the LightningModule; "
                f"names are {[n for n in mods if n][:20]}")
        return mods[self.module]

    def setup(self, trainer, pl_module, stage):
        """Create the recorder when a fit starts (global rank 0 only).

        An open recorder from an earlier call is kept.

        Parameters
        ----------
        trainer : lightning.pytorch.Trainer
            The Trainer.
        pl_module : lightning.pytorch.LightningModule
            The module being trained.
        stage : str
            Lightning's stage; only ``"fit"`` creates a recorder.
        """
        if stage != "fit" or not trainer.is_global_zero:
            return
        if self.recorder is not None and not self.recorder.closed:
            return
        # a new fit (or the first): a new recorder; an existing file at
        # `path` is replaced only with overwrite=True
        self._pending, self._last = None, None
        self.recorder = SnapshotRecorder(
            self.path, self._target(pl_module), self.quadrature, layers=self.layers,
            every=self.every, loggers=self.loggers, eps=self.eps, relative=self.relative,
            **self.recorder_kwargs)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        """Capture the features before the optimiser step, at recorded steps.

        Parameters
        ----------
        trainer : lightning.pytorch.Trainer
            The Trainer.
        pl_module : lightning.pytorch.LightningModule
            The module being trained.
        batch : object
            The training batch (unused).
        batch_idx : int
            Index of the batch (unused).
        """
        step = trainer.global_step
        if self.recorder is None or step % self.every or step == self._last:
            return
        self._pending = (step, self.recorder.compute())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        """Store the captured snapshot with the step's loss and log its ε-ranks.

        Parameters
        ----------
        trainer : lightning.pytorch.Trainer
            The Trainer.
        pl_module : lightning.pytorch.LightningModule
            The module being trained.
        outputs : torch.Tensor, dict or None
            What ``training_step`` returned; its loss (the tensor, or the
            ``"loss"`` entry of a dict) is stored if it has one element,
            else NaN.
        batch : object
            The training batch (unused).
        batch_idx : int
            Index of the batch (unused).
        """
        if self._pending is None:
            return
        step, (grams, feats) = self._pending
        self._pending = None
        ranks = self.recorder.append(step, grams, feats, loss=_loss_of(outputs))
        self._last = step
        for layer, r in ranks.items():
            for e, v in zip(self.eps, r):
                pl_module.log(metric_name(layer, e), float(v), on_step=True,
                              on_epoch=False, rank_zero_only=True)

    def on_train_end(self, trainer, pl_module):
        """Record the final state if its step is due and not yet recorded, then close.

        Parameters
        ----------
        trainer : lightning.pytorch.Trainer
            The Trainer.
        pl_module : lightning.pytorch.LightningModule
            The module being trained.
        """
        rec = self.recorder
        if rec is None:
            return
        step = trainer.global_step
        if step % self.every == 0 and step != self._last:
            grams, feats = rec.compute()
            rec.append(step, grams, feats)
            self._last = step
        rec.close()

    def teardown(self, trainer, pl_module, stage):
        """Close the recorder, if any (its file gets the end-of-run marker).

        Parameters
        ----------
        trainer : lightning.pytorch.Trainer
            The Trainer.
        pl_module : lightning.pytorch.LightningModule
            The module being trained.
        stage : str
            Lightning's stage.
        """
        if self.recorder is not None:
            self.recorder.close()
