"""Alias of :mod:`rankcore.rfm.lstsq`, the block-sparse least-squares solvers.

The solvers moved into the :mod:`rankcore.rfm` package; this module keeps
``rankcore.lstsq`` importable with the same names.
"""

from .rfm.lstsq import *  # noqa: F401,F403
from .rfm.lstsq import __all__  # noqa: F401
