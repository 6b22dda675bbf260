"""Array backends: where the engine sends arrays that are not in memory.

The engine's :func:`~rankcore.gram` and :func:`~rankcore.spectrum_from_features`
work on NumPy arrays.  An array of another kind (a Dask array, chunked over a
cluster) is handed to the *backend* that registered for it, so the engine
never imports the layer that handles it: the layer registers itself when it is
imported (``rankcore.distributed`` registers the Dask backend, and ``import
rankcore`` imports it, so ``rankcore.gram(dask_array)`` works as it is).

A backend is a name, a predicate that recognises its arrays without importing
anything, and the operations it implements, each with the signature of the
engine function it replaces.

Examples
--------
>>> import numpy as np
>>> from rankcore.backends import find, register, unregister
>>> class Lazy:                      # an array kind of one's own
...     def __init__(self, a): self.a = a
>>> register("lazy", lambda x: isinstance(x, Lazy),
...          gram=lambda f, w=None, **kw: f.a.T @ f.a)
>>> find(Lazy(np.eye(2)), "gram")(Lazy(np.eye(2)))
array([[1., 0.],
       [0., 1.]])
>>> find(np.eye(2), "gram") is None          # NumPy arrays stay in the engine
True
>>> unregister("lazy")
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["OPERATIONS", "register", "unregister", "find", "registered"]

#: The engine functions a backend may take over.
OPERATIONS = ("gram", "spectrum_from_features")

_BACKENDS: dict[str, tuple[Callable[[object], bool], dict[str, Callable]]] = {}


def register(name: str, is_instance: Callable[[object], bool], **operations: Callable) -> None:
    """Register (or replace) the backend ``name`` for the arrays ``is_instance`` accepts.

    Parameters
    ----------
    name : str
        The backend's name (one entry per name: registering again replaces it).
    is_instance : callable
        ``is_instance(x) -> bool``; must not import anything heavy and must
        not raise.
    **operations : callable
        Implementations keyed by a name in :data:`OPERATIONS`.

    Raises
    ------
    TypeError
        If ``name`` is not a string or ``is_instance`` / an operation is not callable.
    ValueError
        If an operation is not one of :data:`OPERATIONS`.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    if not callable(is_instance):
        raise TypeError(f"is_instance must be callable, got {type(is_instance).__name__}")
    for op, fn in operations.items():
        if op not in OPERATIONS:
            raise ValueError(f"operation {op!r} is not one of {OPERATIONS}")
        if not callable(fn):
            raise TypeError(f"operation {op!r} must be callable, got {type(fn).__name__}")
    _BACKENDS[name] = (is_instance, dict(operations))


def unregister(name: str) -> None:
    """Remove the backend ``name`` (nothing happens if there is none).

    Parameters
    ----------
    name : str
        A name given to :func:`register`.
    """
    _BACKENDS.pop(name, None)


def registered() -> tuple[str, ...]:
    """Return the names of the registered backends, in registration order.

    Returns
    -------
    tuple of str
        The names.
    """
    return tuple(_BACKENDS)


def find(x: object, operation: str) -> Callable | None:
    """The implementation of ``operation`` for ``x``, or None when the engine computes it.

    Parameters
    ----------
    x : object
        The array given to the engine function.
    operation : str
        One of :data:`OPERATIONS`.

    Returns
    -------
    callable or None
        The registered backend's implementation, or None when no backend
        claims ``x`` (then the engine computes in memory).
    """
    for is_instance, ops in _BACKENDS.values():
        if operation in ops and is_instance(x):
            return ops[operation]
    return None
