"""Equation blocks of the random feature method: validation and normal form.

A *linear block* is ``(X, terms, rhs)`` or ``(X, terms, rhs, weight)``:
the equations ``sum_key a_key(x) D^key u(x) = r(x)`` at the points ``X``.
A key is a derivative multi-index ``alpha`` (a tuple of ``d`` non-negative
ints of total order <= 2) for a scalar unknown, or ``(component, alpha)``
for a system.  A coefficient is a number, an (N,) array of values at X or a
callable ``X -> (N,)``; ``rhs`` is an (N,) array, a number or a callable.

A *nonlinear block* is ``(X, residual, keys)`` or ``(X, residual, keys,
weight)``: the equations ``residual(X, D) = 0`` with ``D[key]`` the (N,)
values of that derivative of the current solution at X.

:func:`normalize_blocks` turns user blocks into :class:`LinearBlock` /
:class:`NonlinearBlock` records with every key as ``(component, alpha)`` and
every coefficient as a float64 (N,) array, or raises an error naming the
block index, the key and what was received.
"""

from __future__ import annotations

import numbers
from typing import Callable, NamedTuple

import numpy as np

from ..validation import as_array, as_int, check_positive_scalar, describe

__all__ = ["LinearBlock", "NonlinearBlock", "normalize_blocks", "parse_key",
           "callable_values", "values_at", "MAX_ORDER"]

MAX_ORDER = 2


class LinearBlock(NamedTuple):
    """A validated linear block: ``sum_k coef_k D^(alpha_k) u_(c_k) = rhs`` at ``X``.

    The parameters are also the attributes of the same name.

    Parameters
    ----------
    X : ndarray, shape (N, d)
        Points of the equations.
    terms : list of (int, tuple, ndarray)
        ``(component, alpha, coef (N,))`` per term.
    rhs : ndarray, shape (N,)
        Right-hand side at ``X``.
    weight : float
        Factor on every row of the block after row scaling.
    index : int
        Position of the block in the user's list (for messages).
    """

    X: np.ndarray
    terms: list  # of (component, alpha, coef (N,))
    rhs: np.ndarray
    weight: float
    index: int


class NonlinearBlock(NamedTuple):
    """A validated nonlinear block: ``residual(X, D) = 0``.

    The parameters are also the attributes of the same name.

    Parameters
    ----------
    X : ndarray, shape (N, d)
        Points of the equations.
    residual : callable
        ``residual(X, D)`` with ``D[key]`` the (N,) derivative values.
    keys : list
        The keys in the user's spelling (the keys of ``D``).
    parsed : list of (int, tuple)
        ``(component, alpha)`` for each key.
    weight : float
        Factor on every row of the block after row scaling.
    index : int
        Position of the block in the user's list (for messages).
    """

    X: np.ndarray
    residual: Callable
    keys: list  # user keys, in the user's spelling
    parsed: list  # (component, alpha) for each key
    weight: float
    index: int


def callable_values(func, X, name):
    """Return ``func(X)`` as a finite float64 (N,) array, or raise a clear error.

    Parameters
    ----------
    func : callable
        ``func(X)`` returns one value per point, shape (N,) or (N, 1).
    X : ndarray, shape (N, d)
        Points.
    name : str
        Name used in messages.

    Returns
    -------
    ndarray, shape (N,)
        The values, contiguous float64.

    Examples
    --------
    >>> import numpy as np
    >>> callable_values(lambda x: x[:, :1] * 2, np.ones((3, 2)), "f").tolist()
    [2.0, 2.0, 2.0]
    """
    if not callable(func):
        raise TypeError(f"{name} must be a callable taking an (N, d) array, "
                        f"got {describe(func)}")
    out = func(X)
    try:
        arr = as_array(out, f"{name}(X)", finite=False, allow_empty=True)
    except TypeError as exc:
        raise TypeError(f"{name} must return a real (N,) array, got "
                        f"{describe(out)}") from exc
    N = X.shape[0]
    if arr.shape == (N, 1):
        arr = arr[:, 0]
    elif arr.shape == () and N == 1:
        arr = arr.reshape(1)
    if arr.shape != (N,):
        raise ValueError(
            f"{name} must return an array of shape ({N},) or ({N}, 1) for "
            f"{N} points, got shape {arr.shape}")
    bad = np.nonzero(~np.isfinite(arr))[0]
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name} returned a non-finite value {float(arr[i])!r} at point {i} "
            f"({X[i].tolist()}); {bad.size} of {N} values are non-finite")
    return np.ascontiguousarray(arr, dtype=np.float64)


def values_at(value, X, name):
    """Return a number, an (N,) array or a callable as float64 values at ``X``.

    Parameters
    ----------
    value : float, array_like or callable
        A number (the same at every point), one value per point, or a
        callable ``X -> (N,)``.
    X : ndarray, shape (N, d)
        Points.
    name : str
        Name used in messages.

    Returns
    -------
    ndarray, shape (N,)
        The value at each point of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.zeros((2, 1))
    >>> values_at(3, X, "c").tolist(), values_at([1, 2], X, "c").tolist()
    ([3.0, 3.0], [1.0, 2.0])
    """
    N = X.shape[0]
    if callable(value):
        return callable_values(value, X, name)
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number, an ({N},) array or a "
                        f"callable, got {describe(value)}")
    if isinstance(value, numbers.Real):
        v = float(value)
        if not np.isfinite(v):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return np.full(N, v)
    try:
        arr = as_array(value, name, allow_empty=True)
    except TypeError:
        raise TypeError(f"{name} must be a number, an ({N},) array or a "
                        f"callable, got {describe(value)}") from None
    if arr.shape == (N, 1):
        arr = arr[:, 0]
    if arr.shape != (N,):
        raise ValueError(f"{name} must have one value per point ({N},), got "
                         f"{describe(arr)}")
    return np.ascontiguousarray(arr)


def _parse_alpha(alpha, d, where):
    if not isinstance(alpha, (tuple, list)):
        raise TypeError(f"{where}: a derivative must be a tuple of {d} "
                        f"non-negative ints, got {describe(alpha)}")
    if len(alpha) != d:
        raise ValueError(f"{where}: a derivative multi-index needs {d} entries "
                         f"(one per coordinate), got {tuple(alpha)!r}")
    out = []
    for a in alpha:
        k = as_int(a, where, expected="a tuple of non-negative ints")
        if k < 0:
            raise ValueError(f"{where}: derivative orders must be >= 0, got "
                             f"{tuple(alpha)!r}")
        out.append(k)
    if sum(out) > MAX_ORDER:
        raise ValueError(f"{where}: total derivative order must be <= {MAX_ORDER}, "
                         f"got {tuple(alpha)!r} (order {sum(out)})")
    return tuple(out)


def parse_key(key, d, m, where):
    """Return a term key as ``(component, alpha)``.

    Parameters
    ----------
    key : tuple
        With ``m == 1`` the key is ``alpha`` (``(0, alpha)`` is accepted
        too); with ``m > 1`` it must be ``(component, alpha)``.
    d : int
        Dimension of the box.
    m : int
        Number of components.
    where : str
        Prefix of error messages (block and key).

    Returns
    -------
    (int, tuple of int)
        The component and the validated multi-index ``alpha``.

    Examples
    --------
    >>> parse_key((2, 0), 2, 1, "k"), parse_key((1, (0, 1)), 2, 3, "k")
    ((0, (2, 0)), (1, (0, 1)))
    """
    nested = (isinstance(key, (tuple, list)) and len(key) == 2
              and isinstance(key[1], (tuple, list)))
    if nested:
        c = as_int(key[0], f"{where}: the component", expected="an int")
        if not 0 <= c < m:
            raise ValueError(f"{where}: component {c} is out of range: the model "
                             f"has components=0..{m - 1}")
        return c, _parse_alpha(key[1], d, where)
    if m > 1:
        raise ValueError(f"{where}: with components={m} a key must be "
                         f"(component, alpha), got {key!r}")
    return 0, _parse_alpha(key, d, where)


def _as_tuple(key):
    """``key`` with every list in it turned into a tuple (the keys of ``D`` are hashed)."""
    if isinstance(key, (list, tuple)):
        return tuple(_as_tuple(k) for k in key)
    return key


def _weight(block, i):
    if len(block) == 4:
        return check_positive_scalar(block[3], f"equations[{i}] weight")
    return 1.0


def normalize_blocks(equations, d, m, check_points, *, nonlinear=False):
    """Validate ``equations`` and return a list of block records.

    Parameters
    ----------
    equations : list of tuple
        The user's blocks (see the module docstring).
    d, m : int
        Dimension and number of components.
    check_points : callable
        ``check_points(X, name)`` validates and returns (N, d) points inside
        the domain.
    nonlinear : bool
        Whether nonlinear blocks are allowed.

    Returns
    -------
    list of LinearBlock and NonlinearBlock
        One record per block, in the order of ``equations``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.zeros((2, 1))
    >>> b, = normalize_blocks([(X, {(1,): 2.0}, 1.0)], 1, 1, lambda X, name: X)
    >>> b.terms[0][:2], b.rhs.tolist(), b.weight
    ((0, (1,)), [1.0, 1.0], 1.0)
    """
    if isinstance(equations, tuple) and len(equations) in (3, 4) and not \
            isinstance(equations[0], (tuple, list)):
        raise TypeError("equations must be a list of blocks (X, terms, rhs[, "
                        "weight]); wrap a single block in a list")
    if not isinstance(equations, (list, tuple)) or len(equations) == 0:
        raise TypeError("equations must be a non-empty list of blocks "
                        f"(X, terms, rhs[, weight]), got {describe(equations)}")
    out = []
    for i, block in enumerate(equations):
        where = f"equations[{i}]"
        if not isinstance(block, (tuple, list)) or len(block) not in (3, 4):
            raise TypeError(f"{where} must be a tuple (X, terms, rhs[, weight]) "
                            f"or (X, residual, keys[, weight]), got {describe(block)}")
        X = check_points(block[0], f"{where} points X")
        second = block[1]
        if isinstance(second, dict):
            if not second:
                raise ValueError(f"{where}: terms is empty; give at least one "
                                 "derivative and its coefficient")
            terms = []
            for key, coef in second.items():
                kw = f"{where} term {key!r}"
                c, alpha = parse_key(key, d, m, kw)
                terms.append((c, alpha, values_at(coef, X, f"{kw} coefficient")))
            rhs = values_at(block[2], X, f"{where} rhs")
            out.append(LinearBlock(X, terms, rhs, _weight(block, i), i))
        elif callable(second):
            if not nonlinear:
                raise TypeError(f"{where} is a nonlinear block (X, residual, keys); "
                                "fit_linear takes linear blocks (X, terms, rhs) "
                                "only: use fit_nonlinear")
            keys = block[2]
            if not isinstance(keys, (list, tuple)) or len(keys) == 0 or \
                    (m == 1 and isinstance(keys[0], numbers.Integral)):
                raise TypeError(f"{where}: keys must be a non-empty list of "
                                f"derivative keys, got {describe(keys)}")
            parsed = [parse_key(k, d, m, f"{where} key {k!r}") for k in keys]
            keys = [_as_tuple(k) for k in keys]
            out.append(NonlinearBlock(X, second, list(keys), parsed,
                                      _weight(block, i), i))
        else:
            raise TypeError(f"{where}: the second entry must be a dict of terms "
                            "{alpha: coefficient} (linear block) or a callable "
                            f"residual(X, D) (nonlinear block), got {describe(second)}")
    return out
