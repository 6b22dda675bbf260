"""Recorded training runs: the snapshot file format, its writer and reader, and their analysis.

One HDF5 file holds one training run (``docs/snapshot-format.md``).  The
modules, one job each:

- :mod:`~rankcore.runs.format`: the format's constants, :class:`SnapshotFileError`
  and the validators that the writer, ``bridge.SnapshotRecorder`` and the
  reader share;
- :mod:`~rankcore.runs.writer`: :class:`SnapshotWriter` (crash-safe, SWMR);
- :mod:`~rankcore.runs.reader`: :func:`open_run` and :class:`Run`, built on
  :mod:`~rankcore.runs.hdf5` (files as untrusted input) and
  :mod:`~rankcore.runs.libhdf5` (the bound on HDF5's retries);
- :mod:`~rankcore.runs.table`: :func:`runs_table`, one summary row per file
  of a sweep, on Dask when a client is active;
- :mod:`~rankcore.runs.staircase`: :func:`staircase`, the steps of the loss
  and of the ε-rank and how they align;
- :mod:`~rankcore.runs.report`: :func:`write_report`, an HTML report of runs.

The run side needs NumPy and h5py (matplotlib for reports), never torch.
"""

from .format import (FORMAT_NAME, FORMAT_VERSION, SnapshotFileError, check_metadata,
                     check_name, check_real, printable)
from .reader import Run, open_run
from .report import html_report, write_report
from .staircase import Staircase, staircase
from .table import runs_table
from .writer import SnapshotWriter

__all__ = [
    "open_run", "Run", "SnapshotWriter", "SnapshotFileError", "FORMAT_NAME",
    "FORMAT_VERSION", "check_name", "check_real", "check_metadata", "printable",
    "runs_table", "staircase", "Staircase", "write_report", "html_report",
]
