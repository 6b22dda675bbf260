"""The writer of snapshot files: :class:`SnapshotWriter` (NumPy only, no torch).

The writer knows nothing about torch: it appends NumPy arrays.
``bridge.SnapshotRecorder`` computes the arrays from a torch model and hands
them to it; both check their arguments with the format's validators
(:mod:`rankcore.runs.format`).

Crash safety comes from HDF5's single-writer/multiple-reader (SWMR) mode: the
file is created under a temporary name, every dataset is created, SWMR mode is
switched on and only then does the file get its final name (a hard link, so
that creation is exclusive), so a file under the final name is always one that
a SWMR reader can open, even after ``kill -9`` of the writer.  Each snapshot
is committed in two flushes: first all its data, then the snapshot counter
``/count``.  A reader trusts ``count`` and nothing else, so it never sees a
step whose spectra are missing.  :meth:`SnapshotWriter.close` sets
``/finished``, the end-of-run marker.
"""

from __future__ import annotations

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

from ..validation import as_array, as_int, describe
from .format import (FORMAT_NAME, FORMAT_VERSION, check_metadata, check_name, check_real,
                     spectrum_problem)

__all__ = ["SnapshotWriter"]

# Target size of one chunk of the small per-step datasets.  Readers of a long
# run fetch whole spectra stacks, so chunks of many rows keep reads fast, while
# SWMR appends of partial chunks stay cheap.
_CHUNK_BYTES = 1 << 16


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
    >>> from rankcore.runs import SnapshotWriter
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

        from ..quadrature import Quadrature

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
            from ..version import __version__
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
                why = spectrum_problem(s[None, :])
                if why is not None:
                    raise ValueError(
                        f"spectra[{name!r}] must be eigenvalues of a Gram matrix in "
                        f"descending order, but {why.replace('spectrum 0 ', 'it ')}")
            elif g is not None:
                from ..rank import spectrum
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
