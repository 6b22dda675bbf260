"""Warnings and errors raised by the RFM/ELM solvers.

They live in their own module so that every part of :mod:`rankcore.rfm`
(the model, time slabs, Gauss-Newton) can raise them without importing the
model.
"""

__all__ = ["IllConditionedWarning", "ConvergenceWarning", "NotFittedError"]


class IllConditionedWarning(RuntimeWarning):
    """The least-squares solve was numerically singular."""


class ConvergenceWarning(RuntimeWarning):
    """A nonlinear solve stopped before it converged; the model was left unchanged."""


class NotFittedError(ValueError, AttributeError):
    """An estimator method that needs a fitted model was called before fit."""
