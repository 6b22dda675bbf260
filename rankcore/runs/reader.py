"""The reader of snapshot files: :func:`open_run` and the :class:`Run` it returns.

The reader needs only NumPy and h5py, so runs can be analysed on a machine
without torch.  Files are untrusted input: the reader follows no link out of
the file, refuses external storage and virtual datasets, compares every size
the file declares with the file's real size before reading, validates what it
returns, and bounds HDF5's retries so that no file makes it hang (the checks
live in :mod:`rankcore.runs.hdf5`).  Files that a writer is still appending to
are read too (SWMR): :meth:`Run.refresh` picks up new snapshots.
"""

from __future__ import annotations

import errno
import os

import numpy as np

from ..validation import as_int, describe
from . import libhdf5
from .format import (FORMAT_NAME, FORMAT_VERSION, RESERVED_ATTRIBUTES, SnapshotFileError,
                     printable, spectrum_problem)
from .hdf5 import (UNSUPPORTED, Dataset, Patience, Tree, h5_errors, open_file, read_attr,
                   str_list, superblock)

__all__ = ["open_run", "Run"]


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
        self._tree = tree = Tree(fid, path)
        root = tree.groups[""]
        fmt = read_attr(root, "format", path, size)
        if fmt != FORMAT_NAME:
            raise SnapshotFileError(
                f"{path!r} is an HDF5 file but not a rankcore snapshot file "
                f"(root attribute 'format' is "
                f"{printable(repr(None if fmt is UNSUPPORTED else fmt))[:80]}, "
                f"expected {FORMAT_NAME!r})")
        ver = read_attr(root, "format_version", path, size)
        if not isinstance(ver, np.integer):
            raise SnapshotFileError(
                f"{path!r} is corrupted: 'format_version' must be an integer, got "
                f"{printable(describe(ver)) if ver is not UNSUPPORTED else 'an array'}")
        ver = int(ver)
        if ver > FORMAT_VERSION:
            raise SnapshotFileError(
                f"{path!r} was written by a newer rankcore (format {ver} > supported "
                f"{FORMAT_VERSION}); upgrade rankcore to read it")
        if ver < 1:
            raise SnapshotFileError(f"{path!r} has an invalid format version {ver}")
        self.format_version = ver
        self.layers = str_list(read_attr(root, "layers", path, size), "layers", path)
        if not self.layers:
            raise SnapshotFileError(f"{path!r} is corrupted: it names no layers")
        self._scalar_names = str_list(read_attr(root, "scalars", path, size), "scalars", path)
        from ..quadrature import Quadrature
        q = {}
        for key, nd in (("points", 2), ("weights", 1), ("box", 2)):
            d = Dataset(tree, f"quadrature/{key}", "f", nd)
            rows = d.rows(False)
            d.check(rows, path, size)
            q[key] = d.read(0, rows)
        try:
            self.quadrature = Quadrature(q["points"], q["weights"], q["box"])
        except (TypeError, ValueError) as exc:
            raise SnapshotFileError(
                f"{path!r} is corrupted: its quadrature is invalid: {exc}") from None
        self._count_ds = Dataset(tree, "count", "iu", 0)
        self._finished_ds = Dataset(tree, "finished", "iu", 0) if ver >= 2 else None
        # Per-step datasets; those of the layers and scalars are opened and
        # checked when first asked for.
        self._ds = {key: Dataset(tree, key, "iu" if key == "steps" else "f", 1)
                    for key in ("steps", "loss", "wall_time")}
        self._n = {}
        self.refresh()
        if sb.end > size:
            for name in self.layers:
                self._load_layer(name)
            for k in self._scalar_names:
                self._ds[f"scalars/{k}"] = Dataset(tree, f"scalars/{k}", "f", 1)
            for d in self._ds.values():
                d.check(self._count, path, os.path.getsize(path))

    def _load_layer(self, name):
        """Open and check the datasets of one layer (once)."""
        if name in self._n:
            return
        tree, path = self._tree, self.path
        tree.open(f"layers/{name}", group=True)
        spec = Dataset(tree, f"layers/{name}/spectrum", "f", 2)
        n = spec.row_shape[0]
        if n < 1:
            raise SnapshotFileError(
                f"{path!r} is corrupted: layer {name!r} has spectra of length 0")
        size = os.path.getsize(path)
        found = {f"layers/{name}/spectrum": spec}
        for what, shape in (("gram", (n, n)), ("features", (self.quadrature.n_points, n))):
            d = Dataset(tree, f"layers/{name}/{what}", "f", 3, shape, required=False)
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
            self._ds[key] = self._retry(lambda: Dataset(self._tree, key, "f", 1))
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
                    v = read_attr(root, k, self.path, size)
                    if isinstance(v, bytes):
                        v = v.decode("utf-8", "replace")
                    elif isinstance(v, np.generic) and v.dtype.kind in "iufb":
                        v = v.item()
                    if isinstance(v, (str, int, float)):
                        meta[k] = v
            except SnapshotFileError:
                raise
            except h5_errors() as exc:
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
        patience = Patience(self.path, self._live)
        while True:
            try:
                return fn()
            except SnapshotFileError:
                if not patience.again():
                    raise
            except h5_errors() as exc:
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
        out = self._validate(key, d, out, index)
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

    def _validate(self, key, d, out, index):
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
            why = spectrum_problem(out.reshape(-1, d.row_shape[0]))
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
        from ..rank import eps_rank
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
    >>> from rankcore.runs import SnapshotWriter
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
        sb = superblock(path, size)
        patience = patience or Patience(path, sb.live)
        try:
            return _open_once(path, sb, size)
        except SnapshotFileError:
            if not patience.again():
                raise


def _open_once(path, sb, size):
    short = sb.end > size
    if short and (sb.version < 3 or libhdf5.library() is None):
        raise SnapshotFileError(
            f"{path!r} is a truncated HDF5 file: {size} bytes, but its superblock "
            f"says {sb.end} (an incomplete copy?)")
    # A SWMR file may be shorter than its superblock says and still hold every
    # committed snapshot: a writer stopped by a full disk (or killed) may have
    # written the superblock but not the space it reserved.  Such a file is
    # read if everything the reader needs lies inside it.
    try:
        fid = open_file(path, sb)
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
    except h5_errors() as exc:
        fid.close()
        raise SnapshotFileError(
            f"{path!r} is a truncated or corrupted rankcore snapshot file: "
            f"{type(exc).__name__}: {printable(exc)}") from None
    except BaseException:
        fid.close()
        raise
