"""bridge: the torch side of rankcore.

SFLI initialisers, architectures (MLP, modified MLP, PirateNet) and capture
of neuron features from torch models into HDF5 snapshots that
``rankcore.open_run`` reads without torch.
"""

from .init import sfli_
from .nets import (MLP, Cos, FourierEmbedding, ModifiedMLP, PirateNet, Sin,
                   activation_name, make_activation)
from .recorder import SnapshotRecorder, default_layer, record_checkpoints

__all__ = [
    "sfli_",
    "MLP", "ModifiedMLP", "PirateNet", "FourierEmbedding", "Sin", "Cos",
    "make_activation", "activation_name",
    "SnapshotRecorder", "record_checkpoints", "default_layer",
]
