"""rankcore: the epsilon-rank of neural-network features, measured exactly.

A standalone NumPy/Numba/SciPy engine (it never imports torch):
quadrature rules, float64 Gram assembly, spectra and epsilon-rank,
rank-revealing subset selection and the staircase theorems, SFLI parameter
generators, ELM/RFM least-squares solvers and the HDF5 snapshot reader.
"""

__version__ = "0.1.0"

from . import quadrature
from .quadrature import Quadrature
from .gram import gram
from .rank import (NegativeEigenvalueWarning, eps_rank, is_eps_independent,
                   spectrum, spectrum_from_features)

__all__ = [
    "__version__",
    "Quadrature",
    "quadrature",
    "gram",
    "spectrum",
    "spectrum_from_features",
    "eps_rank",
    "is_eps_independent",
    "NegativeEigenvalueWarning",
]

# Each further module defines its own __all__ and is re-exported here, one
# pair of lines per module (keep them in this block).
# -- exports begin --
# -- exports end --
