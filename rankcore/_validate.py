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
    "check_positive_int",
    "check_positive_scalar",
    "check_int_per_dim",
    "first_nonfinite",
    "describe",
    "check_bool",
    "as_int",
    "check_weights",
]


def describe(x) -> str:
    """Short description of a received value for error messages."""
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
            raise ValueError(
                f"{name} must be finite, but entry {idx if len(idx) > 1 else idx[0]} "
                f"is {out[bad].item()!r} ({describe(arr)})")
    return out


def check_positive_scalar(x, name: str, *, allow_zero=False) -> float:
    """A finite real scalar > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(x)}")
    v = float(x)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        want = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {want}, got {x!r}")
    return v


def as_int(x, name: str, *, expected: str = "an int") -> int:
    """``x`` as a Python int: Python or NumPy integers only, bools refused."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be {expected}, got {describe(x)}")
    try:
        return operator.index(x)
    except TypeError:
        raise TypeError(f"{name} must be {expected}, got {describe(x)}") from None


def check_weights(weights, name: str, n: int, *, per: str = "point") -> np.ndarray:
    """Positive float64 weights, one per ``per`` (``n`` of them)."""
    w = as_array(weights, name, ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"{name} must have one entry per {per} ({n}), got {describe(w)}")
    if w.min() <= 0:  # min allocates nothing; the mask only on failure
        k = int(np.argmax(w <= 0))
        raise ValueError(f"{name} must be > 0, but {name}[{k}] = {w[k].item()!r}")
    return w


def check_positive_int(x, name: str, *, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (bools are refused)."""
    v = as_int(x, name, expected="an integer")
    if v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v}")
    return v


def check_int_per_dim(x, name: str, dim: int, *, minimum: int = 1) -> tuple:
    """An int, or a sequence of ``dim`` ints, each >= ``minimum``."""
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
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)
