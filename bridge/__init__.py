"""bridge: the torch side of rankcore.

SFLI initialisers, architectures (MLP, modified MLP, PirateNet) and capture
of neuron features from torch models into HDF5 snapshots that
``rankcore.open_run`` reads without torch.
"""

__all__ = []

# Each module defines its own __all__ and is re-exported here, one pair of
# lines per module (keep them in this block).
# -- exports begin --
# -- exports end --
