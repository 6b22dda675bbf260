"""The snapshot file format: its constants, its error type and its validators.

One HDF5 file holds one training run: the quadrature rule, and for every
recorded step the step number, loss, wall time, user scalars and, per recorded
layer, the Gram matrix of the layer's features on the quadrature and its
spectrum (optionally the raw features).  The format is specified in
``docs/snapshot-format.md``; the constants below are its machine-readable part.

The validators :func:`check_name`, :func:`check_real` and
:func:`check_metadata` are shared by the writer
(:class:`rankcore.runs.writer.SnapshotWriter`), ``bridge.SnapshotRecorder``
and the reader; :func:`spectrum_problem` says why stored spectra are not
spectra of a Gram matrix, for the writer and the reader alike;
:func:`printable` escapes text that comes from a file before it is shown.
"""

from __future__ import annotations

import math
import numbers
import re

import numpy as np

from ..validation import describe

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "RESERVED_ATTRIBUTES",
    "MAX_COMPRESSION",
    "SnapshotFileError",
    "printable",
    "check_name",
    "check_real",
    "check_metadata",
    "spectrum_problem",
]

#: Value of the root attribute ``format``; identifies a rankcore snapshot file.
FORMAT_NAME = "rankcore-snapshots"
#: Integer root attribute ``format_version``; readers refuse larger versions.
#: Version 2 added the end-of-run marker ``/finished``.
FORMAT_VERSION = 2
#: Root attributes that belong to the format, not to the metadata.
RESERVED_ATTRIBUTES = ("format", "format_version", "layers", "scalars")

#: A compressed dataset may legitimately hold more bytes than the file
#: (deflate reaches about 1000:1 on constant data); a reader refuses a dataset
#: that declares more than this many times the file's size.
MAX_COMPRESSION = 1100

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")


class SnapshotFileError(ValueError):
    """A file is not a readable rankcore snapshot file (the message says why)."""


# ----------------------------------------------------------------------------
# The format's validators, shared by the writer, the recorder and the reader
# ----------------------------------------------------------------------------

def printable(text):
    """``text`` with control characters escaped, safe to print on a terminal.

    Names and metadata come from files that anyone may have written; an escape
    sequence printed raw can rewrite the terminal.  C0/C1 control characters
    (newlines included) and Unicode direction overrides are shown as
    ``\\xNN`` / ``\\uNNNN``.

    Parameters
    ----------
    text : object
        Text to show; other objects are converted with ``str``.

    Returns
    -------
    str
        ``str(text)`` with those characters escaped.

    Examples
    --------
    >>> from rankcore.runs.format import printable
    >>> print(printable("layer\\x1b[2J\\nnext"))
    layer\\x1b[2J\\x0anext
    """
    def esc(m):
        c = ord(m.group())
        return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
    return _CONTROL.sub(esc, str(text))


def check_name(name, what):
    """A layer, scalar or metadata name: a non-empty str without ``/`` or controls.

    Also refuses ``"."`` and ``".."``.

    Parameters
    ----------
    name : object
        The name to check.
    what : str
        What the name is, for error messages (e.g. ``"layer name"``).

    Returns
    -------
    str
        ``name`` itself.

    Raises
    ------
    TypeError, ValueError
        Naming ``what`` and what was received.

    Examples
    --------
    >>> from rankcore.runs.format import check_name
    >>> check_name("4:input", "layer name")
    '4:input'
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {describe(name)}")
    if not name or "/" in name or name in (".", "..") or _CONTROL.search(name):
        raise ValueError(
            f"{what} must be a non-empty name without '/' or control characters, "
            f"got {name!r}")
    return name


def check_real(x, name, *, allow_inf=True):
    """A Python float from a real number or a one-element array or tensor.

    NaN is accepted (a value that was not measured); infinities only with
    ``allow_inf``.

    Parameters
    ----------
    x : object
        A real number (not a bool), or anything ``float`` accepts, such as a
        0-d array or a one-element tensor.
    name : str
        Name of the value in error messages.
    allow_inf : bool, default True
        Accept infinities.

    Returns
    -------
    float
        ``float(x)``.

    Raises
    ------
    TypeError
        If ``x`` is a bool or not convertible to a float.
    ValueError
        If ``x`` is infinite and ``allow_inf`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.runs.format import check_real
    >>> check_real(np.float32(0.5), "loss")
    0.5
    """
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {describe(x)}")
    if isinstance(x, numbers.Real):
        v = float(x)
    else:
        try:
            v = float(x)  # 0-d arrays, one-element tensors
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a real number, got {describe(x)}") from None
    if not allow_inf and math.isinf(v):
        raise ValueError(f"{name} must be finite or NaN (not measured), got {v!r}")
    return v


def _attr_value(v):
    """A metadata value as stored: str, int64, float64 (bool as int8)."""
    if isinstance(v, (bool, np.bool_)):
        return np.int8(bool(v))
    if isinstance(v, numbers.Integral):
        if not -2 ** 63 <= int(v) < 2 ** 63:
            raise ValueError(f"metadata integers must fit in int64, got {v!r}")
        return np.int64(v)
    if isinstance(v, numbers.Real):
        return np.float64(v)
    if isinstance(v, str):
        if "\x00" in v:
            raise ValueError(f"metadata strings cannot hold NUL characters, got {v!r}")
        return str(v)  # plain str: h5py cannot store str subclasses
    raise TypeError(
        f"metadata values must be str, int, float or bool (no pickled objects), "
        f"got {describe(v)}")


def check_metadata(metadata):
    """Metadata as stored in the file: a dict of name -> str, int64, float64 or int8.

    Keys follow :func:`check_name` and may not be one of the format's own
    root attributes (:data:`RESERVED_ATTRIBUTES`).

    Parameters
    ----------
    metadata : dict or None
        Names mapped to str, int, float or bool values.

    Returns
    -------
    dict
        A new dict with the values as stored: str, ``numpy.int64``,
        ``numpy.float64``, or ``numpy.int8`` for bools (empty for None).

    Raises
    ------
    TypeError, ValueError
        On a non-dict, a bad key or a value of another type.

    Examples
    --------
    >>> from rankcore.runs.format import check_metadata
    >>> check_metadata({"seed": 3, "model": "MLP"})
    {'seed': np.int64(3), 'model': 'MLP'}
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {describe(metadata)}")
    out = {}
    for k, v in metadata.items():
        check_name(k, "metadata key")
        if k in RESERVED_ATTRIBUTES:
            raise ValueError(f"metadata key {k!r} is reserved by the file format")
        out[k] = _attr_value(v)
    return out


def spectrum_problem(s):
    """Why a stack of spectra is not a stack of Gram spectra, or None.

    Entries must be finite, non-negative and in descending order, both up to
    the rounding that :func:`rankcore.spectrum` clips silently.  The writer
    refuses such spectra, the reader refuses files that hold them.

    Parameters
    ----------
    s : ndarray, shape (T, n)
        One spectrum per row, float64.

    Returns
    -------
    str or None
        What is wrong with the first offending spectrum (e.g. ``"spectrum 2
        has the negative eigenvalue -0.5"``), or None if nothing is.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.runs.format import spectrum_problem
    >>> spectrum_problem(np.array([[1.0, 0.5], [0.1, 1.0]]))
    'spectrum 1 is not in descending order (0.1 before 1.0)'
    >>> spectrum_problem(np.array([[1.0, 0.0]])) is None
    True
    """
    from ..rank import ROUNDING_FACTOR
    if s.size == 0:
        return None
    # Fast path: exactly sorted, last >= 0 and first finite (hence all finite).
    if ((s[:, -1] >= 0).all() and np.isfinite(s[:, 0]).all()
            and (s.shape[1] == 1 or (s[:, 1:] <= s[:, :-1]).all())):
        return None
    bad = ~np.isfinite(s)
    if bad.any():
        t, i = np.unravel_index(int(np.argmax(bad)), s.shape)
        return f"spectrum {t} has the non-finite entry {s[t, i].item()!r} at position {i}"
    lmax = np.maximum(np.max(np.abs(s), axis=1), 0.0)
    tol = ROUNDING_FACTOR * s.shape[1] * np.finfo(np.float64).eps * lmax
    neg = s.min(axis=1) < -tol
    if neg.any():
        t = int(np.argmax(neg))
        return f"spectrum {t} has the negative eigenvalue {s[t].min().item()!r}"
    if s.shape[1] > 1:
        rise = (s[:, 1:] - s[:, :-1]) > tol[:, None]
        if rise.any():
            t, i = np.unravel_index(int(np.argmax(rise)), rise.shape)
            return (f"spectrum {t} is not in descending order "
                    f"({s[t, i].item()!r} before {s[t, i + 1].item()!r})")
    return None

