"""Warnings that point at the user's line, not at a line inside rankcore.

``warnings.warn(..., stacklevel=k)`` needs the right ``k`` at every call
site, and a fixed ``k`` goes wrong as soon as a public function is reached
through another one (``loss_lower_bound`` through
``loss_lower_bound_from_features``, ``fit_poisson`` through ``fit_linear``).
:func:`warn` counts the frames that belong to rankcore itself instead.
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["warn", "caller_stacklevel"]

_PACKAGE = __name__.rpartition(".")[0]  # "rankcore"


def caller_stacklevel(extra: int = 0) -> int:
    """``stacklevel`` that makes a warning point at the first frame outside rankcore.

    Counted from the function that calls ``warnings.warn`` (level 1); pass
    ``extra`` for frames between this call and that one.
    """
    frame = sys._getframe(2 + extra)
    level = 1
    while frame is not None and _in_package(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
        level += 1
    return level


def _in_package(module: str) -> bool:
    return module == _PACKAGE or module.startswith(_PACKAGE + ".")


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn(message, category)`` attributed to the caller's line.

    Examples
    --------
    >>> import warnings
    >>> from rankcore._warn import warn
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn("look here", UserWarning)
    >>> caught[0].filename.endswith("_warn.py")
    False
    """
    warnings.warn(message, category, stacklevel=caller_stacklevel(extra=0) + 1)
