"""rankcore: the epsilon-rank of neural-network features, measured exactly.

A standalone NumPy/Numba/SciPy engine (it never imports torch):
quadrature rules, float64 Gram assembly, spectra and epsilon-rank,
rank-revealing subset selection and the staircase theorems, SFLI parameter
generators, ELM/RFM least-squares solvers and the HDF5 snapshot reader.
"""

from .version import __version__

from . import activations, quadrature, sfli
from .gram import gram
from .sfli import first_layer_features, grid_init, sfli_init, udi_init
from .quadrature import Quadrature
from .rank import (NegativeEigenvalueWarning, eps_rank, is_eps_independent,
                   spectrum, spectrum_from_features)
from .rfm import ELM, RFM, IllConditionedWarning
from .runs import (Run, SnapshotFileError, SnapshotWriter, Staircase, open_run, runs_table,
                   staircase)
from .subset import SubsetSelection, hong_pan_bound, select_rows
from .theory import (LossLowerBound, SubsetApproximation, loss_lower_bound,
                     loss_lower_bound_from_features, residual_lower_bound,
                     subset_approximation)

# The Dask layer registers itself with the engine's backend registry
# (rankcore.backends) on import, so gram() and spectrum_from_features() take
# Dask arrays without the engine importing it; dask itself is imported only
# when a Dask array is used.
from . import distributed  # noqa: E402,F401  (registers the "dask" backend)

# Submodules not listed (rfm.lstsq, cli, the _kernels) are importable by name;
# rankcore.sfli keeps its helpers (default_shape, SFLI_ACTIVATIONS, ...) out
# of the top level; rankcore.activations is the activation table of the whole
# project.
__all__ = [
    "__version__",
    # quadrature, Gram, spectra and the epsilon-rank
    "Quadrature", "quadrature", "gram", "spectrum", "spectrum_from_features",
    "eps_rank", "is_eps_independent", "NegativeEigenvalueWarning",
    # subset selection and the staircase theorems
    "hong_pan_bound", "select_rows", "SubsetSelection",
    "subset_approximation", "SubsetApproximation",
    "loss_lower_bound", "loss_lower_bound_from_features", "LossLowerBound",
    "residual_lower_bound",
    # SFLI parameter generators
    "activations", "sfli", "sfli_init", "grid_init", "udi_init", "first_layer_features",
    # random-feature least squares
    "RFM", "ELM", "IllConditionedWarning",
    # HDF5 snapshots
    "open_run", "Run", "SnapshotWriter", "SnapshotFileError", "runs_table",
    # staircase analytics of recorded runs
    "staircase", "Staircase",
]
