"""Training snapshots: the HDF5 file format, its writer and its reader.

One HDF5 file holds one training run: the quadrature rule, and for every
recorded step the step number, loss, wall time, user scalars and, per recorded
layer, the Gram matrix of the layer's features on the quadrature and its
spectrum (optionally the raw features).  The format is specified in
``docs/snapshot-format.md``; the constants below are its machine-readable part.

The writer (:class:`SnapshotWriter`) knows nothing about torch: it appends
NumPy arrays.  ``bridge.SnapshotRecorder`` computes the arrays from a torch
model and hands them to it.  The reader (:func:`open_run`) needs only NumPy and
h5py, so runs can be analysed on a machine without torch.

Crash safety comes from HDF5's single-writer/multiple-reader (SWMR) mode: the
file is created under a temporary name, every dataset is created, SWMR mode is
switched on and only then is the file renamed to its final name, so a file
under the final name is always one that a SWMR reader can open, even after
``kill -9`` of the writer.  Each snapshot is committed in two flushes: first
all its data, then the snapshot counter ``/count``.  A reader trusts ``count``
and nothing else, so it never sees a step whose spectra are missing.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import os
import time
import warnings

import numpy as np

from ._validate import as_array, as_int, describe

__all__ = [
    "open_run",
    "Run",
    "SnapshotWriter",
    "SnapshotFileError",
]

#: Value of the root attribute ``format``; identifies a rankcore snapshot file.
FORMAT_NAME = "rankcore-snapshots"
#: Integer root attribute ``format_version``; readers refuse larger versions.
FORMAT_VERSION = 1

# Target size of one chunk of the small per-step datasets.  Readers of a long
# run fetch whole spectra stacks, so chunks of many rows keep reads fast, while
# SWMR appends of partial chunks stay cheap.
_CHUNK_BYTES = 1 << 16


class SnapshotFileError(ValueError):
    """A file is not a readable rankcore snapshot file (the message says why)."""


def _check_name(name, what):
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {describe(name)}")
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{what} must be a non-empty name without '/', got {name!r}")
    return name


def _rows_per_chunk(row_bytes):
    return max(1, min(4096, _CHUNK_BYTES // max(1, row_bytes)))


def _as_real(x, name):
    """A finite-or-NaN Python float from a number or 0-d array (torch tensors too)."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {describe(x)}")
    if isinstance(x, numbers.Real):
        return float(x)
    try:
        v = float(x)  # 0-d arrays, one-element tensors
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {describe(x)}") from None
    return v


def _attr_value(v):
    """Metadata values allowed as HDF5 attributes: str, int, float, bool."""
    if isinstance(v, (bool, np.bool_)):
        return np.int8(bool(v))
    if isinstance(v, numbers.Integral):
        return np.int64(v)
    if isinstance(v, numbers.Real):
        return np.float64(v)
    if isinstance(v, str):
        return str(v)  # plain str: h5py cannot store str subclasses
    raise TypeError(
        f"metadata values must be str, int, float or bool (no pickled objects), "
        f"got {describe(v)}")


class SnapshotWriter:
    """Append snapshots to a new rankcore snapshot file (crash-safe, SWMR).

    Nothing is written until the constructor has validated every argument;
    the file appears under ``path`` only once it is complete enough for a
    reader to open it.

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
        If ``path`` exists and ``overwrite`` is False.
    ValueError, TypeError
        On malformed arguments.

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
    ...     print(run.steps, run.eps_rank(1e-6))
    [0] [1]
    """

    def __init__(self, path, quadrature, layers, *, scalars=(), store_gram=True,
                 store_features=False, feature_dtype="float32", metadata=None,
                 overwrite=False, start_time=None):
        import h5py

        from .quadrature import Quadrature

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
            _check_name(name, "layer name")
            if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 1:
                raise ValueError(
                    f"layers[{name!r}] must be a positive int (number of features), "
                    f"got {n!r}")
            self._n[name] = int(n)
        if isinstance(scalars, str):
            scalars = (scalars,)
        self._scalars = []
        for s in scalars:
            _check_name(s, "scalar name")
            if s in self._scalars:
                raise ValueError(f"scalars contains {s!r} twice")
            self._scalars.append(s)
        if feature_dtype not in ("float32", "float64"):
            raise ValueError(
                f"feature_dtype must be 'float32' or 'float64', got {feature_dtype!r}")
        meta = {}
        for k, v in (metadata or {}).items():
            _check_name(k, "metadata key")
            if k in ("format", "format_version", "layers", "scalars"):
                raise ValueError(f"metadata key {k!r} is reserved by the file format")
            meta[k] = _attr_value(v)
        if start_time is not None:
            start_time = _as_real(start_time, "start_time")
            if not math.isfinite(start_time):
                raise ValueError(
                    f"start_time must be a finite Unix time, got {start_time!r}")
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(
                f"path {path!r} exists; pass overwrite=True to replace it")
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise FileNotFoundError(f"directory {parent!r} of path does not exist")

        self.path = path
        self.store_gram = bool(store_gram)
        self.store_features = bool(store_features)
        self._warned = set()
        self._count = 0
        self._start = time.time() if start_time is None else float(start_time)
        # Create under a temporary name: a killed non-SWMR HDF5 writer leaves a
        # file that no reader can open, so the final name must only ever refer
        # to a file already in SWMR mode.
        tmp = os.path.join(parent, f".{os.path.basename(path)}.{os.getpid()}.tmp")
        f = h5py.File(tmp, "w", libver="latest")
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
            os.replace(tmp, path)
        except BaseException:
            f.close()
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise
        self._f = f
        self.quadrature = quadrature

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
        return self._f is None

    # -- writing --------------------------------------------------------
    def append(self, step, *, loss=math.nan, grams=None, spectra=None, features=None,
               scalars=None, wall_time=None):
        """Append one snapshot and commit it (two flushes).

        Parameters
        ----------
        step : int
            Training step.
        loss : float, optional
            Loss at that step (NaN if not given or None).
        grams : dict of str to array (n, n), optional
            Gram matrix per layer; required for every layer if the writer
            stores Gram matrices, and used to compute missing spectra.
        spectra : dict of str to array (n,), optional
            Descending eigenvalues per layer; computed from ``grams`` with
            :func:`rankcore.spectrum` where not given.
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
        """
        if self._f is None:
            raise ValueError("the snapshot writer is closed")
        step = as_int(step, "step")
        loss = math.nan if loss is None else _as_real(loss, "loss")
        wt = time.time() - self._start if wall_time is None else _as_real(wall_time, "wall_time")
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
            svals[k] = _as_real(v, f"scalar {k!r}")

        t = self._count
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
        self._count = t + 1

    def close(self):
        """Flush and close the file (idempotent)."""
        if self._f is not None:
            try:
                self._f.close()
            finally:
                self._f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


# ----------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------

def _classify_open_error(path, exc):
    msg = str(exc)
    low = msg.lower()
    if "truncated" in low or "eof" in low:
        return SnapshotFileError(
            f"{path!r} is a truncated or corrupted HDF5 file (it ends before the "
            f"data it describes; was it copied while incomplete?): {msg}")
    return SnapshotFileError(f"{path!r} is a corrupted HDF5 file that cannot be opened: {msg}")


def _superblock(path):
    """(end-of-file address, status flags) from a version 2/3 superblock, or None.

    HDF5 skips its own truncation check for SWMR readers (a live writer may
    have allocated space it has not written yet), and reading a truncated
    SWMR-marked file made HDF5 retry metadata reads for over 20 s here, so
    :func:`open_run` compares this address with the file size itself.
    """
    with open(path, "rb") as fh:
        head = fh.read(64)
    if len(head) < 12 or head[:8] != b"\x89HDF\r\n\x1a\n" or head[8] not in (2, 3):
        return None
    size_o = head[9]
    if size_o not in (2, 4, 8) or len(head) < 12 + 4 * size_o:
        return None
    base = int.from_bytes(head[12:12 + size_o], "little")
    eof = int.from_bytes(head[12 + 2 * size_o:12 + 3 * size_o], "little")
    return base + eof, head[11]


def _check_extent(run, size):
    """Refuse a run whose committed rows point past the end of the file."""
    keys = ["steps", "loss", "wall_time"] + [f"layers/{k}/spectrum" for k in run.layers]
    f = run._f
    for key in keys:
        if key not in f or run._count == 0:
            continue
        ds = f[key]
        if ds.shape[0] < run._count:
            raise SnapshotFileError(
                f"{run.path!r} is truncated or corrupted: dataset {key!r} has "
                f"{ds.shape[0]} rows but {run._count} snapshots are committed")
        info = ds.id.get_chunk_info_by_coord((run._count - 1,) + (0,) * (ds.ndim - 1))
        if info.byte_offset is None or info.byte_offset + info.size > size:
            raise SnapshotFileError(
                f"{run.path!r} is truncated: the data of dataset {key!r} ends at byte "
                f"{(info.byte_offset or 0) + info.size} but the file has only {size} bytes")


def _str_list(a):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in np.atleast_1d(a)]


class Run:
    """A recorded training run, read from a rankcore snapshot file.

    Create with :func:`open_run`.  All per-step arrays have length ``len(run)``,
    the number of committed snapshots; for a file that is still being written,
    :meth:`refresh` picks up new snapshots.

    Attributes
    ----------
    path : str
    layers : list of str
        Recorded layers in recording order; the first is the default layer.
    metadata : dict
        Root attributes other than the format markers.
    quadrature : rankcore.Quadrature
    format_version : int
    """

    def __init__(self, path, f):
        self.path = path
        self._f = f
        a = f.attrs
        self.format_version = int(a["format_version"])
        self.layers = _str_list(a["layers"])
        self._scalar_names = _str_list(a["scalars"])
        self.metadata = {}
        for k, v in a.items():
            if k in ("format", "format_version", "layers", "scalars"):
                continue
            if isinstance(v, bytes):
                v = v.decode()
            elif isinstance(v, np.generic):
                v = v.item()
            self.metadata[k] = v
        from .quadrature import Quadrature
        q = f["quadrature"]
        self.quadrature = Quadrature(q["points"][()], q["weights"][()], q["box"][()])
        self._cache = {}
        self._count = None
        self.refresh()

    # -- live files -----------------------------------------------------
    def refresh(self):
        """Pick up snapshots committed since the file was opened.

        Returns
        -------
        int
            Number of new snapshots.
        """
        f = self._check_open()
        ds = f["count"]
        if f.mode == "r" and getattr(f, "swmr_mode", False):
            ds.refresh()
        count = int(ds[()])
        new = count - (self._count or 0)
        if count != self._count:
            self._count = count
            self._cache.clear()
        return new

    def _check_open(self):
        if self._f is None:
            raise ValueError(f"the run {self.path!r} is closed")
        return self._f

    def _read(self, key):
        """Rows [0, count) of a per-step dataset (cached until refresh)."""
        if key in self._cache:
            return self._cache[key]
        f = self._check_open()
        ds = f[key]
        if f.swmr_mode:
            ds.refresh()
        if ds.shape[0] < self._count:
            raise SnapshotFileError(
                f"{self.path!r} is corrupted: dataset {key!r} has {ds.shape[0]} rows "
                f"but the file commits {self._count} snapshots")
        try:
            out = ds[:self._count]
        except OSError as exc:
            raise _classify_open_error(self.path, exc) from exc
        out.setflags(write=False)
        self._cache[key] = out
        return out

    def __len__(self):
        return self._count

    # -- per-step data --------------------------------------------------
    @property
    def steps(self):
        """Recorded steps, int64 array (T,)."""
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
        return {k: self._read(f"scalars/{k}") for k in self._scalar_names}

    def _layer(self, layer):
        if layer is None:
            if not self.layers:
                raise ValueError(f"the run {self.path!r} has no layers")
            return self.layers[0]
        if layer not in self.layers:
            raise ValueError(
                f"layer must be one of {self.layers}, got {layer!r}")
        return layer

    def n_features(self, layer=None):
        """Number of features n of a layer (default: the first layer)."""
        layer = self._layer(layer)
        return int(self._check_open()[f"layers/{layer}/spectrum"].shape[1])

    def spectra(self, layer=None):
        """Stored spectra of a layer, descending, float64 (T, n)."""
        return self._read(f"layers/{self._layer(layer)}/spectrum")

    def has_grams(self, layer=None):
        return f"layers/{self._layer(layer)}/gram" in self._check_open()

    def has_features(self, layer=None):
        return f"layers/{self._layer(layer)}/features" in self._check_open()

    def grams(self, layer=None, index=None):
        """Gram matrices of a layer, float64 (T, n, n), or one (n, n) by ``index``.

        Raises
        ------
        ValueError
            If the file was written without Gram matrices.
        """
        layer = self._layer(layer)
        if not self.has_grams(layer):
            raise ValueError(f"the run {self.path!r} stores no Gram matrices for {layer!r}")
        if index is None:
            return self._read(f"layers/{layer}/gram")
        return self._row(f"layers/{layer}/gram", index)

    def features(self, layer=None, index=None):
        """Raw features of a layer, (T, N, n), or one (N, n) by ``index``.

        Raises
        ------
        ValueError
            If the file was written without features.
        """
        layer = self._layer(layer)
        if not self.has_features(layer):
            raise ValueError(
                f"the run {self.path!r} stores no features for {layer!r} "
                f"(record with store_features=True)")
        if index is None:
            return self._read(f"layers/{layer}/features")
        return self._row(f"layers/{layer}/features", index)

    def _row(self, key, index):
        T = self._count
        i = as_int(index, "index")
        if not -T <= i < T:
            raise IndexError(f"index must be in [-{T}, {T}), got {index}")
        ds = self._check_open()[key]
        if self._f.swmr_mode:
            ds.refresh()
        return ds[i % T]

    def eps_rank(self, eps, layer=None, relative=False):
        """ε-rank of every snapshot from the stored spectra.

        Parameters
        ----------
        eps : float or 1-D array_like
            Tolerance(s).
        layer : str, optional
            Layer name; default the first recorded layer (``run.layers[0]``).
        relative : bool
            Count eigenvalues > eps * λ_max instead of > eps.

        Returns
        -------
        ndarray of int64, shape (T,) or (T, len(eps))
        """
        from .rank import eps_rank
        s = self.spectra(layer)
        if s.shape[0] == 0:
            # Validate eps as for a non-empty run, then answer with no rows.
            probe = eps_rank(np.zeros((1, s.shape[1])), eps, relative=relative,
                             kind="spectrum")
            return np.zeros((0,) + np.shape(probe)[1:], dtype=np.int64)
        return np.asarray(eps_rank(s, eps, relative=relative, kind="spectrum"))

    # -- lifetime -------------------------------------------------------
    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self._f is None else f"{self._count} snapshots"
        return f"<rankcore.Run {self.path!r}: {state}, layers={self.layers}>"


def open_run(path):
    """Open a rankcore snapshot file for reading (also while it is written).

    Works on files whose writer was killed (no ``h5clear`` needed) and needs
    neither torch nor write permission.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Run

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    SnapshotFileError (a ValueError)
        If the file is not HDF5, is truncated or corrupted, is an HDF5 file
        that is not a rankcore snapshot file, or was written by a newer
        rankcore (format version above :data:`FORMAT_VERSION`).

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
    >>> run.steps.tolist(), run.eps_rank([0.5, 1e-3]).tolist()
    ([0, 10, 20], [[2, 2], [1, 2], [1, 2]])
    >>> run.close()
    """
    import h5py

    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {describe(path)}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such snapshot file: {path!r}")
    if os.path.isdir(path):
        raise SnapshotFileError(f"{path!r} is a directory, not a rankcore snapshot file")
    if not h5py.is_hdf5(path):
        raise SnapshotFileError(
            f"{path!r} is not an HDF5 file (no HDF5 signature), so not a rankcore "
            f"snapshot file")
    size = os.path.getsize(path)
    sb = _superblock(path)
    # A SWMR writer that is alive may briefly have its end-of-file mark ahead
    # of the bytes on disk; give it a moment before calling the file truncated.
    # (Reading a truncated SWMR-marked file would make HDF5 retry metadata
    # reads for a very long time, so this check must come first.)
    for _ in range(20 if sb is not None and sb[1] & 0x4 else 0):
        if sb is None or sb[0] <= size:
            break
        time.sleep(0.05)
        size = os.path.getsize(path)
        sb = _superblock(path)
    if sb is not None and sb[0] > size:
        raise SnapshotFileError(
            f"{path!r} is a truncated HDF5 file: {size} bytes, but its superblock "
            f"says {sb[0]} (an incomplete copy?)")
    # swmr=True accepts the 'open for writing' mark of a live or killed SWMR
    # writer; files closed normally open this way too.  Files never put in
    # SWMR mode (foreign files) may need the plain open.
    try:
        f = h5py.File(path, "r", libver="latest", swmr=True)
    except OSError as exc1:
        try:
            f = h5py.File(path, "r")
        except OSError as exc2:
            msg = str(exc1) + str(exc2)
            if "truncated" in msg.lower() or "eof" in msg.lower():
                raise _classify_open_error(path, exc1 if "trunc" in str(exc1).lower()
                                           else exc2) from exc2
            raise _classify_open_error(path, exc2) from exc2
    try:
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != FORMAT_NAME:
            raise SnapshotFileError(
                f"{path!r} is an HDF5 file but not a rankcore snapshot file "
                f"(root attribute 'format' is {fmt!r}, expected {FORMAT_NAME!r})")
        try:
            ver = int(f.attrs["format_version"])
        except (KeyError, TypeError, ValueError):
            raise SnapshotFileError(
                f"{path!r} is a corrupted rankcore snapshot file: missing or invalid "
                f"'format_version' attribute") from None
        if ver > FORMAT_VERSION:
            raise SnapshotFileError(
                f"{path!r} was written by a newer rankcore (format {ver} > supported "
                f"{FORMAT_VERSION}); upgrade rankcore to read it")
        if ver < 1:
            raise SnapshotFileError(
                f"{path!r} has an invalid format version {ver}")
        try:
            run = Run(path, f)
            _check_extent(run, size)
            return run
        except SnapshotFileError:
            raise
        except (KeyError, OSError) as exc:
            raise SnapshotFileError(
                f"{path!r} is a truncated or corrupted rankcore snapshot file: {exc}") from exc
    except BaseException:
        f.close()
        raise
