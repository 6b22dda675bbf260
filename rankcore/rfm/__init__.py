"""The random feature method (RFM) and extreme learning machines (ELM).

A least-squares solver for linear and nonlinear PDEs of order <= 2 on a box
(time as the last coordinate), with random features times a partition of
unity.  Modules: :mod:`~rankcore.rfm.basis` (features and partition of
unity), :mod:`~rankcore.rfm.equations` (equation blocks),
:mod:`~rankcore.rfm.assembly` (rows and row scaling),
:mod:`~rankcore.rfm.lstsq` (block-sparse least-squares solvers),
:mod:`~rankcore.rfm.model` (:class:`RFM`, :class:`ELM`),
:mod:`~rankcore.rfm.nonlinear` (Gauss-Newton) and
:mod:`~rankcore.rfm.timeslab` (slab-by-slab time marching).
"""

from .exceptions import ConvergenceWarning, IllConditionedWarning, NotFittedError
from .model import DEFAULT_SCALE, ELM, RFM

__all__ = ["RFM", "ELM", "IllConditionedWarning", "ConvergenceWarning",
           "NotFittedError", "DEFAULT_SCALE"]
