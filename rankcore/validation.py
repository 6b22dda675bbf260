"""Input validation shared by the public functions of rankcore.

Every public function validates once, at its boundary, with these helpers;
kernels and inner loops never validate.  Messages always name the argument,
the expected form and what was received, and for non-finite data the index of
the first bad entry, so that a user can find the problem in their own arrays.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

__all__ = [
    "as_array",
    "check_box",
    "check_int",
    "check_positive_int",
    "check_choice",
    "check_random_state",
    "check_scalar",
    "check_positive_scalar",
    "check_int_per_dim",
    "first_nonfinite",
    "describe",
    "check_bool",
    "as_int",
    "check_weights",
]


def describe(x) -> str:
    """Short description of a received value for error messages.

    Parameters
    ----------
    x : object
        The value to describe.

    Returns
    -------
    str
        ``"array of shape ... and dtype ..."`` for an ndarray, the type name
        and length for a list or tuple, else the ``repr`` (cut to 60
        characters) followed by the type name in parentheses.
    """
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    if isinstance(x, (list, tuple)):
        return f"{type(x).__name__} of length {len(x)}"
    r = repr(x)
    if len(r) > 60:
        r = r[:57] + "..."
    return f"{r} ({type(x).__name__})"


def first_nonfinite(a: np.ndarray):
    """Index tuple of the first non-finite entry of ``a`` (C order), or None.

    Scans in blocks so that a huge array never needs a full boolean mask.

    Parameters
    ----------
    a : ndarray
        The array to scan (any shape, floating or integer dtype).

    Returns
    -------
    tuple of int or None
        The index (as from ``numpy.unravel_index``) of the first NaN or
        infinite entry in C order, or None if every entry is finite.
    """
    flat = a.reshape(-1) if a.flags.c_contiguous else np.ravel(a)
    block = 1 << 20
    for start in range(0, flat.size, block):
        bad = ~np.isfinite(flat[start:start + block])
        if bad.any():
            return np.unravel_index(start + int(np.argmax(bad)), a.shape)
    return None


def as_array(x, name: str, *, ndim=None, dtype=np.float64, keep_float32=False,
             finite=True, allow_empty=False, copy=False) -> np.ndarray:
    """Convert ``x`` to a floating array and check it.

    Parameters
    ----------
    x : array_like
        The value received.
    name : str
        Argument name used in error messages.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    dtype : numpy dtype
        Target dtype (float64 by default).
    keep_float32 : bool
        If True a float32 input is returned as float32 (no copy); every other
        dtype is converted to ``dtype``.
    finite : bool
        Reject NaN and infinities, naming the first bad index.
    allow_empty : bool
        Accept arrays with zero elements.
    copy : bool
        If True, never return ``x`` itself: an ndarray input that needs no
        conversion is copied.

    Returns
    -------
    ndarray
        ``x`` as an array of dtype ``dtype`` (or float32, see
        ``keep_float32``); ``x`` itself when it already has that dtype and
        ``copy`` is False.

    Raises
    ------
    TypeError
        If ``x`` is not numeric.
    ValueError
        On a wrong number of dimensions, an empty array or non-finite entries.
    """
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged nested sequences, odd objects
            raise TypeError(f"{name} must be a numeric array, got {describe(x)}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must be a real numeric array, got {describe(arr)}")
    if keep_float32 and arr.dtype == np.float32:
        out = arr
    else:
        out = arr.astype(dtype, copy=False)
    if copy and out is x:
        out = out.copy()
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if out.ndim not in allowed:
            want = " or ".join(f"{k}-D" for k in allowed)
            raise ValueError(f"{name} must be {want}, got {describe(arr)}")
    if not allow_empty and out.size == 0:
        raise ValueError(f"{name} must not be empty, got {describe(arr)}")
    if finite:
        bad = first_nonfinite(out)
        if bad is not None:
            idx = tuple(int(i) for i in bad)
            if not idx:  # a 0-d array
                raise ValueError(f"{name} must be finite, got {out.item()!r}")
            raise ValueError(
                f"{name} must be finite, but entry {idx if len(idx) > 1 else idx[0]} "
                f"is {out[bad].item()!r} ({describe(arr)})")
    return out


def check_scalar(x, name: str, *, minimum=None, maximum=None,
                 include_minimum=True) -> float:
    """A finite real scalar within bounds, as a Python float.

    Parameters
    ----------
    x : object
        The value received; bools and non-real numbers are refused.
    name : str
        Argument name for messages.
    minimum, maximum : float, optional
        Bounds; ``minimum`` is inclusive unless ``include_minimum=False``,
        ``maximum`` is always inclusive.
    include_minimum : bool
        Whether ``x == minimum`` is accepted (default True).

    Returns
    -------
    float
        ``x`` as a Python float.

    Raises
    ------
    TypeError
        If ``x`` is not a real number, or is a bool.
    ValueError
        If ``x`` is not finite or lies outside the bounds.

    Examples
    --------
    >>> check_scalar(2, "f", minimum=1.0)
    2.0
    >>> check_scalar(0.0, "eps", minimum=0.0, include_minimum=False)
    Traceback (most recent call last):
    ...
    ValueError: eps must be a finite number > 0, got 0.0
    """
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(x)}")
    v = float(x)
    low_bad = minimum is not None and (v < minimum or (v == minimum and not include_minimum))
    high_bad = maximum is not None and v > maximum
    if not np.isfinite(v) or low_bad or high_bad:
        parts = []
        if minimum is not None:
            parts.append(f"{'>=' if include_minimum else '>'} {minimum:g}")
        if maximum is not None:
            parts.append(f"<= {maximum:g}")
        want = " and ".join(parts)
        raise ValueError(f"{name} must be a finite number{' ' + want if want else ''}, got {x!r}")
    return v


def check_positive_scalar(x, name: str, *, allow_zero=False) -> float:
    """``check_scalar`` with ``> 0`` (or ``>= 0`` with ``allow_zero``).

    Parameters
    ----------
    x : object
        The value received; bools and non-real numbers are refused.
    name : str
        Argument name used in error messages.
    allow_zero : bool
        Accept ``x == 0`` as well (default False: ``x`` must be > 0).

    Returns
    -------
    float
        ``x`` as a Python float.
    """
    return check_scalar(x, name, minimum=0.0, include_minimum=allow_zero)


def as_int(x, name: str, *, expected: str = "an int") -> int:
    """``x`` as a Python int: Python or NumPy integers only, bools refused.

    Parameters
    ----------
    x : object
        The value received; anything ``operator.index`` accepts except a bool.
    name : str
        Argument name used in error messages.
    expected : str
        What the message says ``x`` must be (default ``"an int"``).

    Returns
    -------
    int
        ``operator.index(x)``.

    Raises
    ------
    TypeError
        If ``x`` is a bool or not an integer.
    """
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be {expected}, got {describe(x)}")
    try:
        return operator.index(x)
    except TypeError:
        raise TypeError(f"{name} must be {expected}, got {describe(x)}") from None


def check_weights(weights, name: str, n: int, *, per: str = "point") -> np.ndarray:
    """Positive float64 weights, one per ``per`` (``n`` of them).

    Parameters
    ----------
    weights : array_like
        The weights received: 1-D, finite, every entry > 0.
    name : str
        Argument name used in error messages.
    n : int
        Required number of weights.
    per : str
        What each weight belongs to, for the error message (default
        ``"point"``).

    Returns
    -------
    ndarray of float64, shape (n,)
        The validated weights (see ``as_array``).

    Raises
    ------
    ValueError
        If ``weights`` is not 1-D with ``n`` finite entries, or an entry is
        <= 0.
    """
    w = as_array(weights, name, ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"{name} must have one entry per {per} ({n}), got {describe(w)}")
    if w.min() <= 0:  # min allocates nothing; the mask only on failure
        k = int(np.argmax(w <= 0))
        raise ValueError(f"{name} must be > 0, but {name}[{k}] = {w[k].item()!r}")
    return w


def check_int(x, name: str, *, minimum=None, maximum=None) -> int:
    """An integer within ``[minimum, maximum]`` (either bound optional).

    Python and NumPy integers are accepted; bools, floats (even integral
    ones such as ``3.0``) and strings are refused with a ``TypeError``.

    Parameters
    ----------
    x : object
        The value received.
    name : str
        Argument name used in error messages.
    minimum, maximum : int, optional
        Inclusive bounds; None (the default) for no bound.

    Returns
    -------
    int
        ``x`` as a Python int.

    Raises
    ------
    TypeError
        If ``x`` is not an integer (or is a bool).
    ValueError
        If ``x`` lies outside the bounds.

    Examples
    --------
    >>> check_int(3, "order", minimum=1)
    3
    >>> check_int(0, "order", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: order must be an integer >= 1, got 0
    """
    v = as_int(x, name, expected="an integer")
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        if minimum is not None and maximum is not None:
            want = f"in [{minimum}, {maximum}]"
        elif minimum is not None:
            want = f">= {minimum}"
        else:
            want = f"<= {maximum}"
        raise ValueError(f"{name} must be an integer {want}, got {v}")
    return v


def check_positive_int(x, name: str, *, minimum: int = 1) -> int:
    """``check_int(x, name, minimum=minimum)``: an integer >= 1 by default.

    Parameters
    ----------
    x : object
        The value received.
    name : str
        Argument name used in error messages.
    minimum : int
        Inclusive lower bound (default 1).

    Returns
    -------
    int
        ``x`` as a Python int.
    """
    return check_int(x, name, minimum=minimum)


def check_choice(value, name: str, choices) -> str:
    """``value`` if it is one of ``choices`` (compared with ``==``).

    Unhashable values and values of the wrong type are refused with the same
    message, which lists the choices.

    Parameters
    ----------
    value : object
        The value received; it must have exactly the type of the matching
        choice.
    name : str
        Argument name used in error messages.
    choices : iterable
        The accepted values.

    Returns
    -------
    object
        ``value`` itself (a str for the usual string choices).

    Raises
    ------
    ValueError
        If ``value`` is not one of ``choices``.

    Examples
    --------
    >>> check_choice("qr", "solver", ("qr", "lsmr"))
    'qr'
    >>> check_choice("svd", "solver", ("qr", "lsmr"))
    Traceback (most recent call last):
    ...
    ValueError: solver must be one of ['qr', 'lsmr'], got 'svd' (str)
    """
    choices = tuple(choices)
    for c in choices:
        if type(value) is type(c) and value == c:
            return value
    raise ValueError(f"{name} must be one of {list(choices)}, got {describe(value)}")


def check_random_state(random_state, name: str = "random_state") -> np.random.Generator:
    """A ``numpy.random.Generator`` from None, an int >= 0 or a Generator.

    None gives a fresh, OS-seeded generator; an int seeds
    ``numpy.random.default_rng`` (same int, same stream); a Generator is
    returned as it is (and is advanced by the caller's draws).  Bools,
    floats, negative ints and legacy ``RandomState`` objects are refused.

    Parameters
    ----------
    random_state : None, int or numpy.random.Generator
        The value received.
    name : str
        Argument name used in error messages (default ``"random_state"``).

    Returns
    -------
    numpy.random.Generator
        The generator to draw from.

    Raises
    ------
    TypeError
        If ``random_state`` is of none of the accepted types.
    ValueError
        If ``random_state`` is a negative int.

    Examples
    --------
    >>> g = check_random_state(0)
    >>> float(g.random()) == float(check_random_state(0).random())
    True
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, (int, np.integer)) and not isinstance(
            random_state, (bool, np.bool_)):
        if random_state < 0:
            raise ValueError(
                f"{name} must be None, an int >= 0 or a numpy.random.Generator, "
                f"got {random_state!r}")
        return np.random.default_rng(int(random_state))
    raise TypeError(
        f"{name} must be None, an int >= 0 or a numpy.random.Generator, "
        f"got {describe(random_state)}")


def check_int_per_dim(x, name: str, dim: int, *, minimum: int = 1) -> tuple:
    """An int, or a sequence of ``dim`` ints, each >= ``minimum``.

    Parameters
    ----------
    x : int or sequence of int
        The value received: one int for every dimension, or a list, tuple
        or array of ``dim`` ints.
    name : str
        Argument name used in error messages (entries are named
        ``name[i]``).
    dim : int
        Number of dimensions.
    minimum : int
        Inclusive lower bound for every entry (default 1).

    Returns
    -------
    tuple of int
        ``dim`` Python ints, ``x`` repeated ``dim`` times when it is one int.

    Raises
    ------
    ValueError
        If a sequence does not have ``dim`` entries, or an entry is below
        ``minimum``.
    """
    if isinstance(x, (list, tuple, np.ndarray)):
        seq = list(np.asarray(x).ravel()) if isinstance(x, np.ndarray) else list(x)
        if len(seq) != dim:
            raise ValueError(
                f"{name} must be an int or a sequence of {dim} ints (one per "
                f"dimension), got {describe(x)}")
        return tuple(check_positive_int(v, f"{name}[{i}]", minimum=minimum)
                     for i, v in enumerate(seq))
    v = check_positive_int(x, name, minimum=minimum)
    return (v,) * dim


def check_box(box, name: str = "box") -> np.ndarray:
    """A box as a (d, 2) float64 array of finite ``(lo, hi)`` pairs, lo < hi.

    Accepts a sequence of pairs, a (d, 2) array, or a single pair ``(lo, hi)``
    of numbers for a 1-D interval.

    Parameters
    ----------
    box : array_like
        The box received: ``(lo, hi)`` pairs, one per dimension.
    name : str
        Argument name used in error messages (default ``"box"``).

    Returns
    -------
    ndarray of float64, shape (d, 2)
        ``[lo, hi]`` per dimension (a single pair gives shape (1, 2)).

    Raises
    ------
    TypeError
        If ``box`` cannot be converted to a float array.
    ValueError
        If it is not a non-empty (d, 2) array of finite bounds with lo < hi.
    """
    try:
        arr = np.asarray(box, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a sequence of (lo, hi) pairs, got {describe(box)}") from exc
    if arr.ndim == 1 and arr.shape[0] == 2:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(
            f"{name} must be a sequence of (lo, hi) pairs, one per dimension, "
            f"got {describe(box)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must have finite bounds, got {arr.tolist()}")
    bad = np.nonzero(arr[:, 0] >= arr[:, 1])[0]
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name} needs lo < hi in every dimension, but dimension {i} is "
            f"({arr[i, 0]!r}, {arr[i, 1]!r})")
    return arr


def check_bool(value, name):
    """``value`` as a Python bool; ints, strings and arrays are refused.

    ``if relative:`` would silently read ``"no"`` or ``1.0`` as True.

    Parameters
    ----------
    value : object
        The value received: a Python or NumPy bool.
    name : str
        Argument name used in error messages.

    Returns
    -------
    bool
        ``value`` as a Python bool.

    Raises
    ------
    TypeError
        If ``value`` is not a bool.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)
