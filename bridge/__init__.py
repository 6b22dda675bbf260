"""bridge: the torch side of rankcore.

SFLI initialisers, architectures (MLP, modified MLP, PirateNet) and capture
of neuron features from torch models into HDF5 snapshots that
``rankcore.open_run`` reads without torch; a Lightning callback and logger
mirrors for the ε-rank during training; a per-layer report of a model now.

``bridge`` needs torch (``pip install rankcore[bridge]``);
``bridge.EpsRankCallback`` needs Lightning (``pip install rankcore[lightning]``)
and is imported only when first used.
"""

try:
    import torch as _torch  # noqa: F401
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "bridge (the torch side of rankcore) needs PyTorch, which is not "
        "installed: pip install rankcore[bridge] (or install your own torch "
        "build first). The engine, rankcore, works without it.") from _exc

from .capture import Captured, capture
from .init import sfli_
from .nets import (MLP, Cos, FourierEmbedding, ModifiedMLP, PirateNet, Sin,
                   activation_name, make_activation)
from .recorder import SnapshotRecorder, default_layer, record_checkpoints
from .summary import EpsRankTable, eps_rank_report

__all__ = [
    "sfli_",
    "MLP", "ModifiedMLP", "PirateNet", "FourierEmbedding", "Sin", "Cos",
    "make_activation", "activation_name",
    "SnapshotRecorder", "record_checkpoints", "default_layer",
    "capture", "Captured", "eps_rank_report", "EpsRankTable", "EpsRankCallback",
]


def __getattr__(name):
    # Lightning is optional and slow to import: load the callback on first use.
    if name == "EpsRankCallback":
        from .callback import EpsRankCallback
        return EpsRankCallback
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"EpsRankCallback"})
