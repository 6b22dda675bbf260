"""Training snapshots: the HDF5 file format, its writer and its reader.

One HDF5 file holds one training run: the quadrature rule, and for every
recorded step the step number, loss, wall time, user scalars and, per recorded
layer, the Gram matrix of the layer's features on the quadrature and its
spectrum (optionally the raw features).  The format is specified in
``docs/snapshot-format.md``; the constants below are its machine-readable part.

The writer (:class:`SnapshotWriter`) knows nothing about torch: it appends
NumPy arrays.  ``bridge.SnapshotRecorder`` computes the arrays from a torch
model and hands them to it; both check their arguments with the format's
validators :func:`check_name`, :func:`check_real` and :func:`check_metadata`.
The reader (:func:`open_run`) needs only NumPy and h5py, so runs can be
analysed on a machine without torch.

Crash safety comes from HDF5's single-writer/multiple-reader (SWMR) mode: the
file is created under a temporary name, every dataset is created, SWMR mode is
switched on and only then does the file get its final name (a hard link, so
that creation is exclusive), so a file under the final name is always one that
a SWMR reader can open, even after ``kill -9`` of the writer.  Each snapshot
is committed in two flushes: first all its data, then the snapshot counter
``/count``.  A reader trusts ``count`` and nothing else, so it never sees a
step whose spectra are missing.  :meth:`SnapshotWriter.close` sets
``/finished``, the end-of-run marker.

Files are untrusted input: the reader follows no link out of the file, refuses
external storage and virtual datasets, compares every size the file declares
with the file's real size before reading, validates what it returns, and
bounds HDF5's retries so that no file makes it hang.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import errno
import math
import numbers
import os
import re
import secrets
import time
import warnings

import numpy as np

from .validation import as_array, as_int, describe

__all__ = [
    "open_run",
    "Run",
    "SnapshotWriter",
    "SnapshotFileError",
    "check_name",
    "check_real",
    "check_metadata",
    "printable",
]

#: Value of the root attribute ``format``; identifies a rankcore snapshot file.
FORMAT_NAME = "rankcore-snapshots"
#: Integer root attribute ``format_version``; readers refuse larger versions.
#: Version 2 added the end-of-run marker ``/finished``.
FORMAT_VERSION = 2
#: Root attributes that belong to the format, not to the metadata.
RESERVED_ATTRIBUTES = ("format", "format_version", "layers", "scalars")

# Target size of one chunk of the small per-step datasets.  Readers of a long
# run fetch whole spectra stacks, so chunks of many rows keep reads fast, while
# SWMR appends of partial chunks stay cheap.
_CHUNK_BYTES = 1 << 16

# A reader of a file that a live writer is changing may catch a metadata block
# in the middle of a write.  HDF5 would retry such a read up to 100 times with
# doubling sleeps, for minutes on a corrupted file, without ever returning to
# Python (so Ctrl-C did nothing); rankcore lets HDF5 try a few times and
# retries at the Python level instead, for at most this long in total, and
# only while the file carries a writer's "open for writing" mark.
_HDF5_READ_ATTEMPTS = 4
_LIVE_RETRY_BUDGET_S = 2.0
_LIVE_RETRY_SLEEP_S = 0.01
_LIVE_QUIET_S = 0.25

# A compressed dataset may legitimately hold more bytes than the file (deflate
# reaches about 1000:1 on constant data); more than this is refused.
_MAX_COMPRESSION = 1100

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
    >>> from rankcore.snapshots import printable
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
    >>> from rankcore.snapshots import check_name
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
    >>> from rankcore.snapshots import check_real
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
    >>> from rankcore.snapshots import check_metadata
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


def _spectrum_problem(s):
    """Why a stack of spectra (T, n) is not a stack of Gram spectra, or None.

    Entries must be finite, non-negative and in descending order, both up to
    the rounding that :func:`rankcore.spectrum` clips silently.
    """
    from .rank import ROUNDING_FACTOR
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


def _rows_per_chunk(row_bytes):
    return max(1, min(4096, _CHUNK_BYTES // max(1, row_bytes)))


def _os_error(exc, path, doing):
    """An OSError for ``path`` (not the temporary name) from an h5py failure."""
    code = getattr(exc, "errno", None)
    if not isinstance(code, int):
        m = re.search(r"errno = (\d+)", str(exc))
        code = int(m.group(1)) if m else errno.EIO
    reason = os.strerror(code)
    return OSError(code, f"{reason} ({doing} snapshot file)", path)


class SnapshotWriter:
    """Append snapshots to a new rankcore snapshot file (crash-safe, SWMR).

    Nothing is written until the constructor has validated every argument.
    The file is built under a temporary name in the same directory and gets
    its final name only once a reader can open it: at once if ``path`` does
    not exist (exclusively: of two writers racing for one path, exactly one
    wins and the other gets :class:`FileExistsError`), or, when it replaces
    an existing file (``overwrite=True``), only after the first snapshot is
    committed, so a failed start never destroys the old run.

    Parameters
    ----------
    path : str or os.PathLike
        File to create.
    quadrature : rankcore.Quadrature
        The rule on which the Gram matrices are computed (stored in the file).
    layers : dict of str to int
        Layer name -> number of features n.  Order is kept.
    scalars : sequence of str, optional
        Names of the user scalars stored with each snapshot.  HDF5 cannot
        create datasets once SWMR mode is on, so the set is fixed here.
    store_gram : bool
        Store the (n, n) Gram matrices (spectra are always stored).
    store_features : bool
        Store the raw (N, n) features of each layer.
    feature_dtype : {"float32", "float64"}
        dtype of the stored features.
    metadata : dict, optional
        Root attributes (str, int, float or bool values), e.g. model
        description, parameter count, library versions, seed.
    overwrite : bool
        Replace an existing file at ``path``; otherwise that is an error.
    start_time : float, optional
        Unix time that ``wall_time`` counts from (default: now).

    Raises
    ------
    FileExistsError
        If ``path`` exists (or appears meanwhile) and ``overwrite`` is False.
    OSError
        If the file cannot be written (permissions, full disk); the message
        and ``filename`` name ``path``, and no temporary file is left.
    ValueError, TypeError
        On malformed arguments.

    Notes
    -----
    :meth:`close` writes the end-of-run marker (``Run.finished``); leaving a
    ``with`` block by an exception closes the file without it, and before the
    first snapshot of a replacing writer keeps the old file untouched.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import rankcore
    >>> from rankcore.snapshots import SnapshotWriter
    >>> q = rankcore.quadrature.gauss_legendre((0.0, 1.0), 8)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.h5")
    >>> with SnapshotWriter(path, q, {"hidden": 2}) as w:
    ...     w.append(0, loss=1.0, grams={"hidden": np.diag([2.0, 1e-9])})
    >>> with rankcore.open_run(path) as run:
    ...     print(run.steps, run.eps_rank(1e-6), run.finished)
    [0] [1] True
    """

    def __init__(self, path, quadrature, layers, *, scalars=(), store_gram=True,
                 store_features=False, feature_dtype="float32", metadata=None,
                 overwrite=False, start_time=None):
        import h5py

        from .quadrature import Quadrature

        self._f = None
        self._tmp = None
        path = os.fspath(path)
        if not isinstance(quadrature, Quadrature):
            raise TypeError(
                f"quadrature must be a rankcore.Quadrature, got {describe(quadrature)}")
        if not isinstance(layers, dict) or not layers:
            raise ValueError(
                f"layers must be a non-empty dict of layer name -> number of "
                f"features, got {describe(layers)}")
        self._n = {}
        for name, n in layers.items():
            check_name(name, "layer name")
            if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 1:
                raise ValueError(
                    f"layers[{name!r}] must be a positive int (number of features), "
                    f"got {n!r}")
            self._n[name] = int(n)
        if isinstance(scalars, str):
            scalars = (scalars,)
        self._scalars = []
        for s in scalars:
            check_name(s, "scalar name")
            if s in self._scalars:
                raise ValueError(f"scalars contains {s!r} twice")
            self._scalars.append(s)
        if feature_dtype not in ("float32", "float64"):
            raise ValueError(
                f"feature_dtype must be 'float32' or 'float64', got {feature_dtype!r}")
        meta = check_metadata(metadata)
        if start_time is not None:
            start_time = check_real(start_time, "start_time")
            if not math.isfinite(start_time):
                raise ValueError(
                    f"start_time must be a finite Unix time, got {start_time!r}")
        if os.path.lexists(path) and not overwrite:
            raise FileExistsError(
                errno.EEXIST, "snapshot file exists; pass overwrite=True to replace it",
                path)
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise FileNotFoundError(
                errno.ENOENT, f"directory {parent!r} of the snapshot file does not exist",
                path)

        self.path = path
        self.store_gram = bool(store_gram)
        self.store_features = bool(store_features)
        self._warned = set()
        self._count = 0
        self._last_step = None
        self._start = time.time() if start_time is None else float(start_time)
        # Build under a unique temporary name: a killed non-SWMR HDF5 writer
        # leaves a file that no reader can open, so the final name must only
        # ever refer to a file already in SWMR mode.
        tmp = os.path.join(
            parent, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            f = h5py.File(tmp, "x", libver="latest")
        except OSError as exc:
            raise _os_error(exc, path, "creating") from None
        self._tmp = tmp
        self._f = f
        try:
            f.attrs["format"] = FORMAT_NAME
            f.attrs["format_version"] = np.int64(FORMAT_VERSION)
            f.attrs["layers"] = np.array(list(self._n), dtype=h5py.string_dtype())
            f.attrs["scalars"] = np.array(self._scalars, dtype=h5py.string_dtype())
            f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat()
            f.attrs["start_time_unix"] = np.float64(self._start)
            from . import __version__
            meta.setdefault("rankcore_version", __version__)
            for k, v in meta.items():
                f.attrs[k] = v
            g = f.create_group("quadrature")
            g.create_dataset("points", data=quadrature.points)
            g.create_dataset("weights", data=quadrature.weights)
            g.create_dataset("box", data=quadrature.box)

            def col(name, dtype, grp=f):
                c = _rows_per_chunk(8)
                return grp.create_dataset(name, shape=(0,), maxshape=(None,),
                                          chunks=(c,), dtype=dtype)

            self._count_ds = f.create_dataset("count", data=np.int64(0))
            self._finished_ds = f.create_dataset("finished", data=np.int8(0))
            self._steps = col("steps", "i8")
            self._loss = col("loss", "f8")
            self._wall = col("wall_time", "f8")
            sg = f.create_group("scalars")
            self._scal = {s: col(s, "f8", sg) for s in self._scalars}
            lg = f.create_group("layers")
            N = quadrature.n_points
            self._gram, self._spec, self._feat = {}, {}, {}
            for name, n in self._n.items():
                g = lg.create_group(name)
                g.attrs["n_features"] = np.int64(n)
                self._spec[name] = g.create_dataset(
                    "spectrum", shape=(0, n), maxshape=(None, n),
                    chunks=(_rows_per_chunk(8 * n), n), dtype="f8")
                if self.store_gram:
                    self._gram[name] = g.create_dataset(
                        "gram", shape=(0, n, n), maxshape=(None, n, n),
                        chunks=(1, n, n), dtype="f8")
                if self.store_features:
                    self._feat[name] = g.create_dataset(
                        "features", shape=(0, N, n), maxshape=(None, N, n),
                        chunks=(1, N, n), dtype=feature_dtype)
            f.swmr_mode = True
            f.flush()
            st = os.fstat(f.id.get_vfd_handle())
            self._inode = (st.st_dev, st.st_ino)
            if not overwrite or not os.path.lexists(path):
                try:
                    self._publish(exclusive=True)
                except FileExistsError:
                    if not overwrite:
                        raise
                    # Created meanwhile by someone else: replaced after our
                    # first snapshot, like any existing file.
        except BaseException as exc:
            self.discard()
            if isinstance(exc, (OSError, RuntimeError)) and not isinstance(
                    exc, FileExistsError) and getattr(exc, "filename", None) != path:
                raise _os_error(exc, path, "creating") from None
            raise
        self.quadrature = quadrature

    def _publish(self, exclusive):
        """Give the temporary file its final name (exclusively, or replacing)."""
        tmp, path = self._tmp, self.path
        if not exclusive:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise FileExistsError(
                    errno.EEXIST, "snapshot file was created by another writer at the "
                    "same time; pass overwrite=True to replace it", path) from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP,
                                     errno.EXDEV, errno.EMLINK, errno.ENOSYS):
                    raise
                # No hard links here: reserve the name exclusively, then move.
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
        self._tmp = None

    # -- properties -----------------------------------------------------
    @property
    def layers(self):
        """Layer names in order."""
        return list(self._n)

    @property
    def scalars(self):
        """Names of the stored scalars."""
        return list(self._scalars)

    @property
    def count(self):
        """Number of committed snapshots."""
        return self._count

    @property
    def closed(self):
        """Whether the file is closed (by ``close``, ``discard`` or a failed write)."""
        return self._f is None

    # -- writing --------------------------------------------------------
    def append(self, step, *, loss=math.nan, grams=None, spectra=None, features=None,
               scalars=None, wall_time=None):
        """Append one snapshot and commit it (two flushes).

        Parameters
        ----------
        step : int
            Training step, larger than the step of the previous snapshot.
        loss : float, optional
            Loss at that step: finite, or NaN (also for None or not given).
        grams : dict of str to array (n, n), optional
            Gram matrix per layer; required for every layer if the writer
            stores Gram matrices, and used to compute missing spectra.
        spectra : dict of str to array (n,), optional
            Eigenvalues per layer, descending and non-negative up to rounding;
            computed from ``grams`` with :func:`rankcore.spectrum` where not
            given.
        features : dict of str to array (N, n), optional
            Raw features per layer; required iff the writer stores features.
        scalars : dict of str to float, optional
            User scalars; names must be among the writer's ``scalars``
            (others are dropped with a warning, once per name); missing ones
            are stored as NaN.
        wall_time : float, optional
            Seconds since the writer was created; measured now if omitted.

        Raises
        ------
        ValueError, TypeError
            On malformed input; nothing is written then.
        OSError
            If writing fails (e.g. a full disk), naming ``path``.  A replacing
            writer whose first snapshot fails removes its temporary file and
            leaves the old file in place.
        """
        if self._f is None:
            raise ValueError("the snapshot writer is closed")
        step = as_int(step, "step")
        if self._last_step is not None and step <= self._last_step:
            raise ValueError(
                f"step must be larger than the previous step {self._last_step}, got {step}")
        loss = math.nan if loss is None else check_real(loss, "loss", allow_inf=False)
        wt = (time.time() - self._start if wall_time is None
              else check_real(wall_time, "wall_time", allow_inf=False))
        for arg, val in (("grams", grams), ("spectra", spectra),
                         ("features", features), ("scalars", scalars)):
            if val is not None and not isinstance(val, dict):
                raise TypeError(
                    f"{arg} must be a dict of layer/scalar name -> value, got {describe(val)}")
        grams = grams or {}
        spectra = spectra or {}
        features = features or {}
        # Validate and prepare everything before the first byte is written.
        rows = {}
        N = self.quadrature.n_points
        for name, n in self._n.items():
            g = grams.get(name)
            if g is not None:
                g = as_array(g, f"grams[{name!r}]", ndim=2)
                if g.shape != (n, n):
                    raise ValueError(
                        f"grams[{name!r}] must have shape ({n}, {n}), got {describe(g)}")
            elif self.store_gram:
                raise ValueError(f"grams[{name!r}] is required (the file stores Gram matrices)")
            s = spectra.get(name)
            if s is not None:
                s = as_array(s, f"spectra[{name!r}]", ndim=1)
                if s.shape != (n,):
                    raise ValueError(
                        f"spectra[{name!r}] must have shape ({n},), got {describe(s)}")
                why = _spectrum_problem(s[None, :])
                if why is not None:
                    raise ValueError(
                        f"spectra[{name!r}] must be eigenvalues of a Gram matrix in "
                        f"descending order, but {why.replace('spectrum 0 ', 'it ')}")
            elif g is not None:
                from .rank import spectrum
                s = spectrum(g)
            else:
                raise ValueError(f"grams[{name!r}] or spectra[{name!r}] is required")
            ft = None
            if self.store_features:
                ft = features.get(name)
                if ft is None:
                    raise ValueError(
                        f"features[{name!r}] is required (the file stores features)")
                ft = as_array(ft, f"features[{name!r}]", ndim=2, keep_float32=True)
                if ft.shape != (N, n):
                    raise ValueError(
                        f"features[{name!r}] must have shape ({N}, {n}), got {describe(ft)}")
            rows[name] = (g, s, ft)
        unknown = set(grams) | set(spectra) | set(features)
        unknown -= set(self._n)
        if unknown:
            raise ValueError(
                f"unknown layer name(s) {sorted(unknown)}; the file has layers {self.layers}")
        svals = {}
        for k, v in (scalars or {}).items():
            if k not in self._scal:
                if k not in self._warned:
                    self._warned.add(k)
                    warnings.warn(
                        f"scalar {k!r} was not declared when the snapshot file was "
                        f"created (declared: {self._scalars}); it is not stored",
                        RuntimeWarning, stacklevel=3)
                continue
            svals[k] = check_real(v, f"scalar {k!r}")

        t = self._count
        try:
            for name, (g, s, ft) in rows.items():
                self._spec[name].resize(t + 1, axis=0)
                self._spec[name][t] = s
                if self.store_gram:
                    self._gram[name].resize(t + 1, axis=0)
                    self._gram[name][t] = g
                if ft is not None:
                    self._feat[name].resize(t + 1, axis=0)
                    self._feat[name][t] = ft
            for k, ds in self._scal.items():
                ds.resize((t + 1,))
                ds[t] = svals.get(k, math.nan)
            for ds, v in ((self._loss, loss), (self._wall, wt), (self._steps, step)):
                ds.resize((t + 1,))
                ds[t] = v
            # Commit: the data must be on disk before the counter says it exists.
            self._f.flush()
            self._count_ds[()] = t + 1
            self._f.flush()
        except (OSError, RuntimeError) as exc:
            raise self._fail(exc, "writing") from None
        except BaseException:
            if self._tmp is not None:
                self.discard()
            raise
        self._count = t + 1
        self._last_step = step
        self._replace_old()

    def close(self):
        """Write the end-of-run marker, flush and close the file (idempotent).

        A replacing writer (``overwrite=True``) that has written no snapshot
        replaces the old file now with the empty run.
        """
        if self._f is None:
            return
        try:
            self._finished_ds[()] = 1
            self._f.flush()
        except (OSError, RuntimeError) as exc:
            raise self._fail(exc, "closing") from None
        self._close_file()
        self._replace_old()

    def _replace_old(self):
        """A replacing writer: swap the temporary file in (once)."""
        if self._tmp is not None:
            try:
                self._publish(exclusive=False)
            except OSError as exc:
                self.discard()
                raise _os_error(exc, self.path, "replacing") from None

    def _close_file(self):
        f, self._f = self._f, None
        if f is not None:
            try:
                f.close()
            except Exception:
                pass

    def _fail(self, exc, doing):
        """Give up the file after a failed write; returns the OSError to raise.

        HDF5 cannot close a file whose writes fail (a full disk): its close
        retries the flush, fails, leaves objects open, and crashed the Python
        process at exit in tests.  So HDF5's file descriptor is first pointed
        at an anonymous in-memory file, where the close can write what it
        wants; the file on disk keeps what the last successful flush wrote
        (every committed snapshot), as after a crash.  An unpublished
        temporary file is removed; the writer is closed.  A file-size limit
        (``ulimit -f``, errno EFBIG) would stop those writes too, so its soft
        value is lifted to the hard one for the close.
        """
        err = _os_error(exc, self.path, doing)
        lifted = None
        if err.errno == errno.EFBIG:
            try:
                import resource
                lifted = resource.getrlimit(resource.RLIMIT_FSIZE)
                resource.setrlimit(resource.RLIMIT_FSIZE, (lifted[1], lifted[1]))
            except (ImportError, OSError, ValueError):
                lifted = None
        try:
            self._detach()
        finally:
            if lifted is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, lifted)
        return err

    def _detach(self):
        f = self._f
        if f is not None:
            try:
                fd = f.id.get_vfd_handle()
                sink = (os.memfd_create("rankcore-discard") if hasattr(os, "memfd_create")
                        else os.open(os.devnull, os.O_RDWR))
                try:
                    os.dup2(sink, fd)
                finally:
                    os.close(sink)
            except (OSError, RuntimeError, ValueError):
                pass
        self._spec = self._gram = self._feat = self._scal = None
        self._count_ds = self._finished_ds = self._steps = self._loss = self._wall = None
        self._close_file()
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            try:
                os.remove(tmp)  # the old file at path stays as it was
            except OSError:
                pass

    def _abandon(self):
        """Close without the end-of-run marker; drop an unpublished temporary."""
        if self._tmp is not None:
            self.discard()
        else:
            self._close_file()

    def discard(self):
        """Close and delete what this writer created (idempotent).

        Removes the temporary file, or the file at ``path`` if it is still the
        one this writer created; never a file that it did not create.  Used
        for runs that must not be kept (e.g. a first snapshot that failed).
        """
        self._close_file()
        tmp, self._tmp = self._tmp, None
        target = tmp
        if tmp is None and getattr(self, "_inode", None) is not None:
            try:
                st = os.stat(self.path)
            except OSError:
                return
            if (st.st_dev, st.st_ino) != self._inode:
                return
            target = self.path
        if target is not None:
            try:
                os.remove(target)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self._abandon()

    def __del__(self):
        try:
            self._abandon()
        except Exception:
            pass


# ----------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------

_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class _Superblock:
    """What the first bytes of an HDF5 file say (read without HDF5)."""

    __slots__ = ("version", "end", "live")

    def __init__(self, version, end, live):
        self.version = version  # superblock version 0-3
        self.end = end          # byte where the file must end at least
        self.live = live        # marked open for writing (a live or killed writer)


def _superblock(path, size):
    """Parse the superblock of ``path`` (any userblock size), or explain why not.

    Returns a :class:`_Superblock`, or raises SnapshotFileError.  HDF5 looks
    for its signature at byte 0, 512, 1024, 2048, ...
    """
    where = 0
    with open(path, "rb") as fh:
        while where + len(_SIGNATURE) <= size:
            fh.seek(where)
            head = fh.read(96)
            if head[:8] == _SIGNATURE:
                break
            where = 512 if where == 0 else 2 * where
        else:
            raise SnapshotFileError(
                f"{path!r} is not an HDF5 file (no HDF5 signature), so not a rankcore "
                f"snapshot file")
    short = SnapshotFileError(
        f"{path!r} is a truncated HDF5 file: it ends inside its superblock "
        f"({size} bytes; an incomplete copy?)")
    if len(head) < 12:
        raise short
    version = head[8]
    if version in (0, 1):
        size_o, flags, start = head[13], int.from_bytes(head[20:24], "little"), (
            24 if version == 0 else 28)
    elif version in (2, 3):
        size_o, flags, start = head[9], head[11], 12
    else:
        raise SnapshotFileError(
            f"{path!r} is a corrupted HDF5 file: unknown superblock version {version}")
    if size_o not in (2, 4, 8):
        raise SnapshotFileError(
            f"{path!r} is a corrupted HDF5 file: invalid address size {size_o} in its "
            f"superblock")
    if len(head) < start + 3 * size_o:
        raise short
    # HDF5 stores the end-of-file address counting the user block too (the
    # file's full length), whatever the superblock's base address.
    eof = int.from_bytes(head[start + 2 * size_o:start + 3 * size_o], "little")
    return _Superblock(version, eof, version >= 2 and bool(flags & 0x5))


class _Patience:
    """Whether a failed read of a file that a writer may be changing is worth repeating.

    Only files with a writer's "open for writing" mark are retried, for at
    most ``_LIVE_RETRY_BUDGET_S`` in total, and only while the file keeps
    changing: a killed writer's truncated copy fails at once.
    """

    def __init__(self, path, live):
        self.path, self.live = path, live
        self.t0 = self.changed = time.monotonic()
        self.state = self._stat()

    def _stat(self):
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns

    def again(self):
        if not self.live:
            return False
        now = time.monotonic()
        state = self._stat()
        if state != self.state:
            self.state, self.changed = state, now
        if now - self.t0 > _LIVE_RETRY_BUDGET_S or now - self.changed > _LIVE_QUIET_S:
            return False
        time.sleep(_LIVE_RETRY_SLEEP_S)  # interruptible
        return True


_LIB = []


def _hdf5_library():
    """ctypes handle of the libhdf5 that h5py uses, or None where not found."""
    if not _LIB:
        lib = None
        try:
            with open("/proc/self/maps") as fh:
                paths = {ln.split()[-1] for ln in fh if "libhdf5" in ln and "_hl" not in ln}
            for p in sorted(paths):
                if os.path.isfile(p):
                    cand = ctypes.CDLL(p)
                    if hasattr(cand, "H5Pset_metadata_read_attempts"):
                        lib = cand
                        break
        except OSError:  # not Linux: HDF5's own retry count stays
            lib = None
        _LIB.append(lib)
    return _LIB[0]


def _open_hdf5(path, sb):
    """Low-level h5py FileID of ``path`` for reading: SWMR for version-3 superblocks."""
    import h5py

    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    flags = h5py.h5f.ACC_RDONLY
    if sb.version >= 3:
        # A SWMR file is opened for SWMR reading, which accepts the "open for
        # writing" mark of a live or killed writer (no h5clear needed).
        flags |= h5py.h5f.ACC_SWMR_READ
        lib = _hdf5_library()
        if lib is not None:
            fn = lib.H5Pset_metadata_read_attempts
            fn.argtypes = [ctypes.c_int64, ctypes.c_uint]
            fn(fapl.id, _HDF5_READ_ATTEMPTS)
    try:
        fid = h5py.h5f.open(os.fsencode(path), flags, fapl=fapl)
    except Exception as exc:
        low = str(exc).lower()
        if any(w in low for w in ("truncat", "eof", "end of file", "addr overflow")):
            raise SnapshotFileError(
                f"{path!r} is a truncated or corrupted HDF5 file (it ends before the "
                f"data it describes; was it copied while incomplete?): "
                f"{printable(exc)}") from None
        raise SnapshotFileError(
            f"{path!r} is a corrupted HDF5 file that cannot be opened: "
            f"{printable(exc)}") from None
    return fid


_UNSUPPORTED = object()


def _attr(oid, name, path, size):
    """An attribute of a group, its declared size checked first; None if absent.

    Returns ``_UNSUPPORTED`` for empty dataspaces and array-typed values.
    """
    import h5py

    key = name.encode()
    if not h5py.h5a.exists(oid, key):
        return None
    aid = h5py.h5a.open(oid, key)
    shape, dt = aid.shape, aid.dtype
    if shape is None or dt.subdtype is not None or dt.fields is not None:
        return _UNSUPPORTED
    n = int(np.prod(shape, dtype=np.float64))
    if n * max(1, dt.itemsize) > size:
        raise SnapshotFileError(
            f"{path!r} is corrupted: attribute {name!r} declares {n} values, more "
            f"than the file holds")
    arr = np.zeros(shape, dtype=dt)
    aid.read(arr, mtype=h5py.h5t.py_create(dt))
    if arr.dtype.kind == "O":  # variable-length strings come back as bytes
        arr = np.array([b.decode("utf-8", "replace") if isinstance(b, bytes) else b
                        for b in arr.flat], dtype=object).reshape(arr.shape)
    return arr[()] if arr.ndim == 0 else arr


def _str_list(value, what, path):
    """A 1-D array attribute of names -> list of str, each a valid name."""
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind not in "OSU":
        got = "nothing" if value is None else (
            "an unsupported type" if value is _UNSUPPORTED else describe(value))
        raise SnapshotFileError(
            f"{path!r} is corrupted: attribute {what!r} must be a 1-D array of names, "
            f"got {printable(got)}")
    out = []
    for x in value:
        if isinstance(x, bytes):
            x = x.decode("utf-8", "replace")
        try:
            check_name(x, f"a name in attribute {what!r}")
        except (TypeError, ValueError) as exc:
            raise SnapshotFileError(f"{path!r} is corrupted: {exc}") from None
        if x in out:
            raise SnapshotFileError(
                f"{path!r} is corrupted: attribute {what!r} names {x!r} twice")
        out.append(x)
    return out


class _Tree:
    """The objects of one file, reached through hard links only.

    An external link is refused by name (nothing outside the file is opened),
    and so is a soft link: the format's objects are stored under their names.
    """

    def __init__(self, fid, path):
        import h5py

        self.path = path
        self.groups = {"": h5py.h5o.open(fid, b"/")}

    def open(self, key, group=False, required=True):
        """GroupID or DatasetID at ``key`` ('a/b/c'), or None if absent and not required."""
        import h5py

        head, _, name = key.rpartition("/")
        parent = self.groups.get(head) if head in self.groups else self.open(head, True)
        where = "/" + key
        b = name.encode()
        if not parent.links.exists(b):
            if required:
                raise SnapshotFileError(
                    f"{self.path!r} is not a complete rankcore snapshot file: {where!r} "
                    f"is missing")
            return None
        kind = parent.links.get_info(b).type
        if kind == h5py.h5l.TYPE_EXTERNAL:
            target = parent.links.get_val(b)
            raise SnapshotFileError(
                f"{self.path!r} is refused: {where!r} is an external link (to "
                f"{os.fsdecode(target[1])!r} in {os.fsdecode(target[0])!r}); rankcore "
                f"reads nothing outside the file")
        if kind != h5py.h5l.TYPE_HARD:
            what = "soft link" if kind == h5py.h5l.TYPE_SOFT else "user-defined link"
            raise SnapshotFileError(
                f"{self.path!r} is refused: {where!r} is a {what}, not an object stored "
                f"under that name; rankcore follows no links")
        obj = h5py.h5o.open(parent, b)
        want = h5py.h5g.GroupID if group else h5py.h5d.DatasetID
        if not isinstance(obj, want):
            raise SnapshotFileError(
                f"{self.path!r} is corrupted: {where!r} must be a "
                f"{'group' if group else 'dataset'}")
        if group:
            self.groups[key] = obj
        return obj


class _Dataset:
    """One checked dataset: what bounds a read of it, and how to do the read."""

    __slots__ = ("id", "key", "row_shape", "itemsize", "filtered", "layout", "dtype")

    def __init__(self, tree, key, kinds, ndim, row_shape=None, required=True):
        import h5py

        path, where = tree.path, "/" + key
        dsid = tree.open(key, required=required)
        self.id = dsid
        if dsid is None:
            return
        dcpl = dsid.get_create_plist()
        self.layout = dcpl.get_layout()
        if self.layout == h5py.h5d.VIRTUAL:
            raise SnapshotFileError(
                f"{path!r} is refused: {where!r} is a virtual dataset (its data would "
                f"come from other files); rankcore reads nothing outside the file")
        if dcpl.get_external_count():
            name = dcpl.get_external(0)[0]
            raise SnapshotFileError(
                f"{path!r} is refused: {where!r} uses external storage (in "
                f"{os.fsdecode(name)!r}); rankcore reads nothing outside the file")
        dt = dsid.dtype
        if dt.kind not in kinds or dt.fields is not None or dt.subdtype is not None:
            want = "integer" if kinds == "iu" else "real floating-point"
            raise SnapshotFileError(
                f"{path!r} is corrupted: {where!r} must hold {want} numbers, got "
                f"dtype {dt}")
        shape = dsid.shape
        if shape is None or len(shape) != ndim:
            raise SnapshotFileError(
                f"{path!r} is corrupted: {where!r} must have {ndim} dimension(s), got "
                f"shape {shape}")
        if row_shape is not None and tuple(shape[1:]) != tuple(row_shape):
            raise SnapshotFileError(
                f"{path!r} is corrupted: rows of {where!r} must have shape "
                f"{tuple(row_shape)}, got {tuple(shape[1:])}")
        self.key, self.row_shape, self.itemsize = key, tuple(shape[1:]), dt.itemsize
        self.filtered = dcpl.get_nfilters() > 0
        # Read as int64 or float64 (float32 features stay float32); HDF5
        # converts from whatever the file holds.
        if kinds == "iu":
            self.dtype = np.dtype(np.int64)
        elif key.endswith("/features") and dt.itemsize <= 4:
            self.dtype = np.dtype(np.float32)
        else:
            self.dtype = np.dtype(np.float64)

    def rows(self, swmr):
        if swmr:
            self.id.refresh()
        return self.id.shape[0] if self.id.shape else 0

    def check(self, rows, path, size):
        """Refuse before reading: rows [0, rows) must lie inside ``size`` bytes."""
        import h5py

        if rows == 0:
            return
        row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.itemsize
        need = rows * row_bytes
        if need > size * (_MAX_COMPRESSION if self.filtered else 1):
            raise SnapshotFileError(
                f"{path!r} is corrupted or truncated: {'/' + self.key!r} would need "
                f"{rows} rows of {row_bytes} bytes ({need} bytes) but the file has "
                f"only {size} bytes")
        if self.layout == h5py.h5d.CONTIGUOUS:
            off = self.id.get_offset()
            if off is None or off + self.id.get_storage_size() > size:
                raise SnapshotFileError(
                    f"{path!r} is truncated: the data of {'/' + self.key!r} lies past "
                    f"the end of the file ({size} bytes)")
        elif self.layout == h5py.h5d.CHUNKED:
            coord = (rows - 1,) + (0,) * len(self.row_shape)
            info = self.id.get_chunk_info_by_coord(coord)
            if info.byte_offset is None or info.byte_offset + info.size > size:
                raise SnapshotFileError(
                    f"{path!r} is truncated: the data of {'/' + self.key!r} (row "
                    f"{rows - 1}) ends past the end of the file ({size} bytes)")

    def read(self, start, stop):
        """Rows [start, stop) as a new array (or the value of a scalar dataset)."""
        import h5py

        if not self.id.shape:
            out = np.empty((), dtype=self.dtype)
            self.id.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
            return out
        shape = (stop - start,) + self.row_shape
        out = np.empty(shape, dtype=self.dtype)
        if out.size:
            fspace = self.id.get_space()
            fspace.select_hyperslab((start,) + (0,) * len(self.row_shape), shape)
            self.id.read(h5py.h5s.create_simple(shape), fspace, out)
        return out


def _h5_errors():
    return (OSError, RuntimeError, KeyError, IndexError, TypeError, ValueError,
            AttributeError, OverflowError, UnicodeError, MemoryError)


class Run:
    """A recorded training run, read from a rankcore snapshot file.

    Create with :func:`open_run`.  All per-step arrays have length ``len(run)``,
    the number of committed snapshots; for a file that is still being written,
    :meth:`refresh` picks up new snapshots.  Arrays are read-only and checked
    when first read: a file whose data break the format raises
    :class:`SnapshotFileError` there.

    Parameters
    ----------
    path : str
        Path of the file.
    fid : h5py.h5f.FileID
        The file, opened for reading by :func:`open_run`.
    sb : object
        What :func:`open_run` read from the file's HDF5 superblock.
    size : int
        Size of the file in bytes when opened.

    Attributes
    ----------
    path : str
        Path of the file.
    layers : list of str
        Recorded layers in recording order.  The per-layer accessors take
        ``layer=``; it may be left out only for a run with one layer.
    metadata : dict
        Root attributes other than the format markers (str, int or float).
    quadrature : rankcore.Quadrature
    format_version : int
    """

    def __init__(self, path, fid, sb, size):
        # ``size`` smaller than the superblock's end: the data of every
        # committed snapshot is checked now, not when first read.
        self.path = path
        self._fid = fid
        # Datasets are refreshed from disk only where a writer may still be
        # appending: files with a writer's mark, opened for SWMR reading.
        self._swmr = sb.version >= 3 and sb.live
        self._live = sb.live
        self._sb_finished = not sb.live
        self._size = size
        self._cache = {}
        self._count = None
        self._finished = False
        self._metadata = None
        self._tree = tree = _Tree(fid, path)
        root = tree.groups[""]
        fmt = _attr(root, "format", path, size)
        if fmt != FORMAT_NAME:
            raise SnapshotFileError(
                f"{path!r} is an HDF5 file but not a rankcore snapshot file "
                f"(root attribute 'format' is "
                f"{printable(repr(None if fmt is _UNSUPPORTED else fmt))[:80]}, "
                f"expected {FORMAT_NAME!r})")
        ver = _attr(root, "format_version", path, size)
        if not isinstance(ver, np.integer):
            raise SnapshotFileError(
                f"{path!r} is corrupted: 'format_version' must be an integer, got "
                f"{printable(describe(ver)) if ver is not _UNSUPPORTED else 'an array'}")
        ver = int(ver)
        if ver > FORMAT_VERSION:
            raise SnapshotFileError(
                f"{path!r} was written by a newer rankcore (format {ver} > supported "
                f"{FORMAT_VERSION}); upgrade rankcore to read it")
        if ver < 1:
            raise SnapshotFileError(f"{path!r} has an invalid format version {ver}")
        self.format_version = ver
        self.layers = _str_list(_attr(root, "layers", path, size), "layers", path)
        if not self.layers:
            raise SnapshotFileError(f"{path!r} is corrupted: it names no layers")
        self._scalar_names = _str_list(_attr(root, "scalars", path, size), "scalars", path)
        from .quadrature import Quadrature
        q = {}
        for key, nd in (("points", 2), ("weights", 1), ("box", 2)):
            d = _Dataset(tree, f"quadrature/{key}", "f", nd)
            rows = d.rows(False)
            d.check(rows, path, size)
            q[key] = d.read(0, rows)
        try:
            self.quadrature = Quadrature(q["points"], q["weights"], q["box"])
        except (TypeError, ValueError) as exc:
            raise SnapshotFileError(
                f"{path!r} is corrupted: its quadrature is invalid: {exc}") from None
        self._count_ds = _Dataset(tree, "count", "iu", 0)
        self._finished_ds = _Dataset(tree, "finished", "iu", 0) if ver >= 2 else None
        # Per-step datasets; those of the layers and scalars are opened and
        # checked when first asked for.
        self._ds = {key: _Dataset(tree, key, "iu" if key == "steps" else "f", 1)
                    for key in ("steps", "loss", "wall_time")}
        self._n = {}
        self.refresh()
        if sb.end > size:
            for name in self.layers:
                self._load_layer(name)
            for k in self._scalar_names:
                self._ds[f"scalars/{k}"] = _Dataset(tree, f"scalars/{k}", "f", 1)
            for d in self._ds.values():
                d.check(self._count, path, os.path.getsize(path))

    def _load_layer(self, name):
        """Open and check the datasets of one layer (once)."""
        if name in self._n:
            return
        tree, path = self._tree, self.path
        tree.open(f"layers/{name}", group=True)
        spec = _Dataset(tree, f"layers/{name}/spectrum", "f", 2)
        n = spec.row_shape[0]
        if n < 1:
            raise SnapshotFileError(
                f"{path!r} is corrupted: layer {name!r} has spectra of length 0")
        size = os.path.getsize(path)
        found = {f"layers/{name}/spectrum": spec}
        for what, shape in (("gram", (n, n)), ("features", (self.quadrature.n_points, n))):
            d = _Dataset(tree, f"layers/{name}/{what}", "f", 3, shape, required=False)
            if d.id is not None:
                found[d.key] = d
        for key, d in found.items():
            rows = d.rows(self._swmr)
            if rows < self._count:
                raise SnapshotFileError(
                    f"{path!r} is truncated or corrupted: {'/' + key!r} has {rows} rows "
                    f"but /count commits {self._count} snapshots")
        spec.check(self._count, path, size)
        self._ds.update(found)
        self._n[name] = n

    def _scalar(self, name):
        key = f"scalars/{name}"
        if key not in self._ds:
            self._check_open()
            self._ds[key] = self._retry(lambda: _Dataset(self._tree, key, "f", 1))
        return self._read(key)

    @property
    def metadata(self):
        """Root attributes other than the format's own: str, int or float values.

        Attributes of other types (arrays, compound values) are left out.
        """
        if self._metadata is None:
            import h5py

            self._check_open()
            root = self._tree.groups[""]
            meta, size = {}, os.path.getsize(self.path)
            try:
                names = []
                h5py.h5a.iterate(root, lambda name: names.append(name))
                for b in names:
                    k = b.decode("utf-8", "replace") if isinstance(b, bytes) else b
                    if k in RESERVED_ATTRIBUTES:
                        continue
                    v = _attr(root, k, self.path, size)
                    if isinstance(v, bytes):
                        v = v.decode("utf-8", "replace")
                    elif isinstance(v, np.generic) and v.dtype.kind in "iufb":
                        v = v.item()
                    if isinstance(v, (str, int, float)):
                        meta[k] = v
            except SnapshotFileError:
                raise
            except _h5_errors() as exc:
                raise SnapshotFileError(
                    f"{self.path!r} is corrupted: its metadata cannot be read: "
                    f"{type(exc).__name__}: {printable(exc)}") from None
            self._metadata = meta
        return self._metadata

    # -- live files -----------------------------------------------------
    def _retry(self, fn):
        """fn(), repeated for a short while on a file that a writer may be changing.

        A SWMR reader can catch metadata in the middle of a write; such a read
        fails and succeeds when repeated.  Errors that persist (or any error on
        a file without a writer's mark) become SnapshotFileError.
        """
        patience = _Patience(self.path, self._live)
        while True:
            try:
                return fn()
            except SnapshotFileError:
                if not patience.again():
                    raise
            except _h5_errors() as exc:
                if not patience.again():
                    raise SnapshotFileError(
                        f"{self.path!r} is corrupted: reading it failed with "
                        f"{type(exc).__name__}: {printable(exc)}") from None

    def refresh(self):
        """Pick up snapshots committed since the file was opened.

        Returns
        -------
        int
            Number of new snapshots.
        """
        self._check_open()
        count, finished = self._retry(self._read_count)
        new = count - (self._count or 0)
        if count != self._count:
            self._count = count
            self._cache.clear()
        self._finished = finished
        return new

    def _read_count(self):
        self._check_open()
        if self._swmr:
            self._count_ds.id.refresh()
        count = int(self._count_ds.read(0, 0))
        if count < 0:
            raise SnapshotFileError(f"{self.path!r} is corrupted: /count is {count}")
        size = os.path.getsize(self.path)  # after /count: never older than it
        for key, d in self._ds.items():
            rows = d.rows(self._swmr)
            if rows < count:
                raise SnapshotFileError(
                    f"{self.path!r} is truncated or corrupted: {'/' + key!r} has "
                    f"{rows} rows but /count commits {count} snapshots")
            if key in ("steps", "loss", "wall_time") or key.endswith("/spectrum"):
                d.check(count, self.path, size)
        if self._finished_ds is not None:
            if self._swmr:
                self._finished_ds.id.refresh()
            finished = bool(self._finished_ds.read(0, 0))
        else:  # format 1: closed cleanly iff HDF5 cleared the writer's mark
            finished = self._sb_finished
        return count, finished

    @property
    def finished(self):
        """Whether the writer closed the file cleanly (the end-of-run marker).

        False while the run is being written and for a writer that was killed
        or left by an exception.  For format-1 files (which have no marker) it
        says whether HDF5 closed the file normally.
        """
        return self._finished

    def _check_open(self):
        if self._fid is None:
            raise ValueError(f"the run {self.path!r} is closed")
        return self._fid

    def _read(self, key, index=None):
        """Rows [0, count) (or row ``index``) of a per-step dataset, checked."""
        if index is None and key in self._cache:
            return self._cache[key]
        self._check_open()
        d = self._ds[key]
        out = self._retry(lambda: self._fetch(d, index))
        out = self.validation(key, d, out, index)
        out.setflags(write=False)
        if index is None:
            self._cache[key] = out
        return out

    def _fetch(self, d, index):
        T = self._count
        rows = d.rows(self._swmr)
        if rows < T:
            raise SnapshotFileError(
                f"{self.path!r} is corrupted: {'/' + d.key!r} has {rows} rows "
                f"but the file commits {T} snapshots")
        d.check(T if index is None else index + 1, self.path, os.path.getsize(self.path))
        return d.read(0, T) if index is None else d.read(index, index + 1)[0]

    def validation(self, key, d, out, index):
        where = f"{'/' + key!r}" + ("" if index is None else f" row {index}")
        if key == "steps":
            if out.size > 1 and not np.all(out[1:] > out[:-1]):
                i = int(np.argmax(out[1:] <= out[:-1]))
                raise SnapshotFileError(
                    f"{self.path!r} is corrupted: /steps must increase, but step "
                    f"{i + 1} is {out[i + 1]} after {out[i]}")
            return out
        if key in ("loss", "wall_time") and np.isinf(out).any():
            i = int(np.argmax(np.isinf(out)))
            raise SnapshotFileError(
                f"{self.path!r} is corrupted: {where} must be finite or NaN, but entry "
                f"{i} is {out[i].item()!r}")
        if key.endswith("/spectrum"):
            why = _spectrum_problem(out.reshape(-1, d.row_shape[0]))
            if why is not None:
                raise SnapshotFileError(f"{self.path!r} is corrupted: {where}: {why}")
        elif key.startswith("layers/") and not np.isfinite(out).all():
            raise SnapshotFileError(
                f"{self.path!r} is corrupted: {where} holds non-finite values")
        return out

    def __len__(self):
        return self._count

    # -- per-step data --------------------------------------------------
    @property
    def steps(self):
        """Recorded steps, int64 array (T,), strictly increasing."""
        return self._read("steps")

    @property
    def loss(self):
        """Loss per snapshot, float64 (T,), NaN where none was given."""
        return self._read("loss")

    @property
    def wall_time(self):
        """Seconds since the recorder started, float64 (T,)."""
        return self._read("wall_time")

    @property
    def scalars(self):
        """Dict scalar name -> float64 array (T,) (NaN where not given)."""
        return {k: self._scalar(k) for k in self._scalar_names}

    def _layer(self, layer):
        if layer is None:
            if len(self.layers) > 1:
                raise ValueError(
                    f"layer is required: the run {self.path!r} records "
                    f"{len(self.layers)} layers {self.layers}; pass layer=<name>")
            layer = self.layers[0]
        elif layer not in self.layers:
            raise ValueError(
                f"layer must be one of {self.layers}, got {layer!r}")
        self._check_open()
        if layer not in self._n:
            self._retry(lambda: self._load_layer(layer))
        return layer

    def n_features(self, layer=None):
        """Number of features n of a layer.

        Parameters
        ----------
        layer : str, optional
            Layer name; required when the run has several layers.

        Returns
        -------
        int
            The number of features n.
        """
        return self._n[self._layer(layer)]

    def spectra(self, layer=None):
        """Stored spectra of a layer, descending, float64 (T, n).

        Parameters
        ----------
        layer : str, optional
            Layer name; required when the run has several layers.

        Returns
        -------
        ndarray, shape (T, n)
            One spectrum per snapshot, read-only.

        Raises
        ------
        ValueError
            If ``layer`` is not given and the run has several layers.
        """
        return self._read(f"layers/{self._layer(layer)}/spectrum")

    def has_grams(self, layer=None):
        """Whether the file stores the Gram matrices of ``layer``.

        Parameters
        ----------
        layer : str, optional
            Layer name; required when the run has several layers.

        Returns
        -------
        bool
            True if :meth:`grams` can read them.
        """
        return f"layers/{self._layer(layer)}/gram" in self._ds

    def has_features(self, layer=None):
        """Whether the file stores the raw features of ``layer``.

        Parameters
        ----------
        layer : str, optional
            Layer name; required when the run has several layers.

        Returns
        -------
        bool
            True if :meth:`features` can read them.
        """
        return f"layers/{self._layer(layer)}/features" in self._ds

    def grams(self, layer=None, index=None):
        """Gram matrices of a layer, float64 (T, n, n), or one (n, n) by ``index``.

        Parameters
        ----------
        layer : str, optional
            Layer name; required when the run has several layers.
        index : int, optional
            Snapshot to read, in ``[-T, T)``; default all.

        Returns
        -------
        ndarray, shape (T, n, n) or (n, n)
            The Gram matrices, or the one of snapshot ``index``; read-only.

        Raises
        ------
        ValueError
            If the file was written without Gram matrices.
        IndexError
            If ``index`` is out of range.
        """
        layer = self._layer(layer)
        if not self.has_grams(layer):
            raise ValueError(f"the run {self.path!r} stores no Gram matrices for {layer!r}")
        return self._row(f"layers/{layer}/gram", index)

    def features(self, layer=None, index=None):
        """Raw features of a layer, (T, N, n), or one (N, n) by ``index``.

        Parameters
        ----------
        layer : str, optional
            Layer name; required when the run has several layers.
        index : int, optional
            Snapshot to read, in ``[-T, T)``; default all.

        Returns
        -------
        ndarray, shape (T, N, n) or (N, n)
            Features at the ``N`` quadrature points, in the stored dtype
            (float32 or float64); read-only.

        Raises
        ------
        ValueError
            If the file was written without features.
        IndexError
            If ``index`` is out of range.
        """
        layer = self._layer(layer)
        if not self.has_features(layer):
            raise ValueError(
                f"the run {self.path!r} stores no features for {layer!r} "
                f"(record with store_features=True)")
        return self._row(f"layers/{layer}/features", index)

    def _row(self, key, index):
        if index is None:
            return self._read(key)
        T = self._count
        i = as_int(index, "index")
        if not -T <= i < T:
            raise IndexError(f"index must be in [-{T}, {T}), got {index}")
        return self._read(key, i % T)

    def eps_rank(self, eps, layer=None, relative=False):
        """Compute the ε-rank of every snapshot from the stored spectra.

        Parameters
        ----------
        eps : float or 1-D array_like
            Tolerance(s).
        layer : str, optional
            Layer name; required when the run has several layers.
        relative : bool, default False
            Count eigenvalues > eps * λ_max instead of > eps.

        Returns
        -------
        ndarray of int64, shape (T,) or (T, len(eps))
            The ε-rank per snapshot (and per tolerance for an array ``eps``).
        """
        from .rank import eps_rank
        return np.asarray(eps_rank(self.spectra(layer), eps, relative=relative))

    # -- lifetime -------------------------------------------------------
    def close(self):
        """Close the file (idempotent)."""
        if self._fid is not None:
            fid, self._fid = self._fid, None
            self._tree = self._ds = self._count_ds = self._finished_ds = None
            fid.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self._fid is None else f"{self._count} snapshots"
        return f"<rankcore.Run {self.path!r}: {state}, layers={self.layers}>"


def open_run(path):
    """Open a rankcore snapshot file for reading (also while it is written).

    Works on files whose writer was killed (no ``h5clear`` needed) and needs
    neither torch nor write permission.  Any file, whatever its bytes, gives
    either a :class:`Run` or a :class:`SnapshotFileError`, within seconds.

    Parameters
    ----------
    path : str or os.PathLike
        The snapshot file.

    Returns
    -------
    Run
        The run; close it with :meth:`Run.close` or use it as a context manager.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    SnapshotFileError (a ValueError)
        If the file is not HDF5, is truncated or corrupted, is an HDF5 file
        that is not a rankcore snapshot file, breaks the format (wrong dtypes
        or shapes, a count the data do not hold, ...), holds external links,
        external storage or virtual datasets (refused: nothing outside the
        file is read), or was written by a newer rankcore (format version
        above :data:`FORMAT_VERSION`).

    Examples
    --------
    >>> import os, tempfile
    >>> import rankcore
    >>> from rankcore.snapshots import SnapshotWriter
    >>> q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 4)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.h5")
    >>> with SnapshotWriter(path, q, {"h": 2}, scalars=["lr"]) as w:
    ...     for t in range(3):
    ...         w.append(10 * t, loss=0.5 ** t, grams={"h": [[1.0, 0], [0, 10.0 ** -t]]},
    ...                  scalars={"lr": 1e-3})
    >>> run = rankcore.open_run(path)
    >>> run.steps.tolist(), run.eps_rank([0.5, 1e-3]).tolist(), run.finished
    ([0, 10, 20], [[2, 2], [1, 2], [1, 2]], True)
    >>> run.close()
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {describe(path)}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "no such snapshot file", path)
    if os.path.isdir(path):
        raise SnapshotFileError(f"{path!r} is a directory, not a rankcore snapshot file")
    # A live writer may be caught mid-write (its end-of-file mark ahead of the
    # bytes on disk, a metadata block half written): retry such a file for a
    # short while, and only such a file.
    patience = None
    while True:
        size = os.path.getsize(path)
        sb = _superblock(path, size)
        patience = patience or _Patience(path, sb.live)
        try:
            return _open_once(path, sb, size)
        except SnapshotFileError:
            if not patience.again():
                raise


def _open_once(path, sb, size):
    short = sb.end > size
    if short and (sb.version < 3 or _hdf5_library() is None):
        raise SnapshotFileError(
            f"{path!r} is a truncated HDF5 file: {size} bytes, but its superblock "
            f"says {sb.end} (an incomplete copy?)")
    # A SWMR file may be shorter than its superblock says and still hold every
    # committed snapshot: a writer stopped by a full disk (or killed) may have
    # written the superblock but not the space it reserved.  Such a file is
    # read if everything the reader needs lies inside it.
    try:
        fid = _open_hdf5(path, sb)
    except SnapshotFileError as exc:
        if short:
            raise SnapshotFileError(
                f"{path!r} is a truncated HDF5 file: {size} bytes, but its superblock "
                f"says {sb.end} (an incomplete copy?)") from None
        raise exc from None
    try:
        return Run(path, fid, sb, size)
    except SnapshotFileError as exc:
        fid.close()
        if short and "truncated" not in str(exc):
            raise SnapshotFileError(
                f"{path!r} is a truncated HDF5 file: {size} bytes, but its superblock "
                f"says {sb.end} (an incomplete copy?); {exc}") from None
        raise
    except _h5_errors() as exc:
        fid.close()
        raise SnapshotFileError(
            f"{path!r} is a truncated or corrupted rankcore snapshot file: "
            f"{type(exc).__name__}: {printable(exc)}") from None
    except BaseException:
        fid.close()
        raise
