"""The low-level HDF5 side of the reader: what a file says, checked before it is read.

Files are untrusted input.  This module reads the superblock without HDF5
(:func:`superblock`), opens a file with HDF5's retries bounded
(:func:`open_file`), reaches objects through hard links only (:class:`Tree`:
no external or soft link is followed), refuses external storage and virtual
datasets and compares every size the file declares with the file's real size
before reading (:class:`Dataset`, :func:`read_attr`).  :class:`Patience`
decides whether a failed read of a file that a live writer may be changing is
worth repeating.  :class:`rankcore.runs.reader.Run` is built on these.
"""

from __future__ import annotations

import os
import time

import numpy as np

from ..validation import describe
from . import libhdf5
from .format import MAX_COMPRESSION, SnapshotFileError, check_name, printable

__all__ = ["Superblock", "superblock", "Patience", "open_file", "read_attr", "str_list",
           "UNSUPPORTED", "Tree", "Dataset", "h5_errors"]

# A reader of a file that a live writer is changing may catch a metadata block
# in the middle of a write.  HDF5 would retry such a read up to 100 times with
# doubling sleeps (1 ns, 2 ns, 4 ns, ...: hours on a corrupted file) without
# ever returning to Python (so Ctrl-C did nothing); rankcore lets HDF5 try a
# few times (rankcore.runs.libhdf5) and retries at the Python level instead,
# for at most this long in total, and only while the file carries a writer's
# "open for writing" mark.
_HDF5_READ_ATTEMPTS = 4
_LIVE_RETRY_BUDGET_S = 2.0
_LIVE_RETRY_SLEEP_S = 0.01
_LIVE_QUIET_S = 0.25

_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class Superblock:
    """What the first bytes of an HDF5 file say (read without HDF5).

    Made by :func:`superblock`.  The parameters are also the attributes of
    the same name.

    Parameters
    ----------
    version : int
        Superblock version, 0 to 3 (3: a file that SWMR readers can follow).
    end : int
        The end-of-file address: the byte where the file must end at least.
    live : bool
        Whether the file is marked "open for writing" (a live or a killed
        writer).
    """

    __slots__ = ("version", "end", "live")

    def __init__(self, version, end, live):
        self.version = version  # superblock version 0-3
        self.end = end          # byte where the file must end at least
        self.live = live        # marked open for writing (a live or killed writer)


def superblock(path, size):
    """Parse the superblock of ``path`` (any userblock size), or explain why not.

    HDF5 looks for its signature at byte 0, 512, 1024, 2048, ...

    Parameters
    ----------
    path : str
        The file.
    size : int
        Its size in bytes.

    Returns
    -------
    Superblock
        Version, end-of-file address and writer's mark.

    Raises
    ------
    SnapshotFileError
        If the file is not HDF5, ends inside its superblock or the superblock
        is corrupted.
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
    return Superblock(version, eof, version >= 2 and bool(flags & 0x5))


class Patience:
    """Whether a failed read of a file that a writer may be changing is worth repeating.

    Only files with a writer's "open for writing" mark are retried, for at
    most 2 seconds in total, and only while the file keeps changing: a killed
    writer's truncated copy fails at once.

    Parameters
    ----------
    path : str
        The file.
    live : bool
        Whether it carries a writer's mark (:attr:`Superblock.live`).
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
        """Wait a little and say whether to repeat the failed read.

        Returns
        -------
        bool
            True (after a short, interruptible sleep) while the file is live,
            changed recently and the time budget lasts; False otherwise.
        """
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


def open_file(path, sb):
    """Open ``path`` for reading with h5py's low-level API, HDF5's retries bounded.

    A file with a version-3 superblock is opened for SWMR reading, which
    accepts the "open for writing" mark of a live or killed writer (no
    ``h5clear`` needed), with HDF5's metadata read attempts limited through
    :mod:`rankcore.runs.libhdf5`.  Where that library cannot be reached, such
    a file is opened without SWMR reading instead (HDF5 then reads each
    metadata block once), and one with a writer's mark is refused: HDF5 opens
    it only for SWMR reading, whose retries could not be bounded.

    Parameters
    ----------
    path : str
        The file.
    sb : Superblock
        What :func:`superblock` read from it.

    Returns
    -------
    h5py.h5f.FileID
        The open file.

    Raises
    ------
    SnapshotFileError
        If HDF5 cannot open the file (truncated or corrupted), or it is
        marked open for writing and the retries cannot be bounded.
    """
    import h5py

    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    flags = h5py.h5f.ACC_RDONLY
    if sb.version >= 3:
        if libhdf5.set_metadata_read_attempts(fapl, _HDF5_READ_ATTEMPTS):
            flags |= h5py.h5f.ACC_SWMR_READ
        elif sb.live:
            raise SnapshotFileError(
                f"{path!r} is marked open for writing (its writer is still running, or "
                f"was killed) and cannot be read safely here: rankcore did not find the "
                f"libhdf5 that h5py uses, so it cannot bound HDF5's retries of damaged "
                f"metadata; read it once the writer has finished, or clear a killed "
                f"writer's mark with `h5clear -s`")
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


#: What :func:`read_attr` returns for an attribute of a kind the format never
#: stores (an empty dataspace, an array or compound type).
UNSUPPORTED = object()


def read_attr(oid, name, path, size):
    """Read an attribute of a group, its declared size checked first.

    Parameters
    ----------
    oid : h5py.h5g.GroupID
        The group (or the file's root group).
    name : str
        Attribute name.
    path : str
        The file's path, for error messages.
    size : int
        The file's size in bytes: an attribute that declares more values than
        fit in it is refused before it is read.

    Returns
    -------
    object
        None if absent; :data:`UNSUPPORTED` for empty dataspaces and
        array-typed values; else the value (a NumPy scalar, or an array with
        variable-length strings decoded to str).

    Raises
    ------
    SnapshotFileError
        If the attribute declares more values than the file holds.
    """
    import h5py

    key = name.encode()
    if not h5py.h5a.exists(oid, key):
        return None
    aid = h5py.h5a.open(oid, key)
    shape, dt = aid.shape, aid.dtype
    if shape is None or dt.subdtype is not None or dt.fields is not None:
        return UNSUPPORTED
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


def str_list(value, what, path):
    """Check a 1-D array attribute of names and return them as a list of str.

    Parameters
    ----------
    value : object
        What :func:`read_attr` returned.
    what : str
        The attribute's name, for error messages.
    path : str
        The file's path, for error messages.

    Returns
    -------
    list of str
        The names, each valid for :func:`rankcore.runs.format.check_name`.

    Raises
    ------
    SnapshotFileError
        If ``value`` is not a 1-D array of names, or names one twice.
    """
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind not in "OSU":
        got = "nothing" if value is None else (
            "an unsupported type" if value is UNSUPPORTED else describe(value))
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


class Tree:
    """The objects of one file, reached through hard links only.

    An external link is refused by name (nothing outside the file is opened),
    and so is a soft link: the format's objects are stored under their names.

    Parameters
    ----------
    fid : h5py.h5f.FileID
        The open file.
    path : str
        Its path, for error messages.
    """

    def __init__(self, fid, path):
        import h5py

        self.path = path
        self.groups = {"": h5py.h5o.open(fid, b"/")}

    def open(self, key, group=False, required=True):
        """Open the group or dataset at ``key`` (``'a/b/c'``) through hard links.

        Parameters
        ----------
        key : str
            Path of the object below the root, without a leading ``/``.
        group : bool
            Expect a group (else a dataset).
        required : bool
            Raise if the object is absent (else return None).

        Returns
        -------
        h5py.h5g.GroupID or h5py.h5d.DatasetID or None
            The object; None if absent and not required.

        Raises
        ------
        SnapshotFileError
            If it is missing and required, is reached through an external,
            soft or user-defined link, or is not of the expected kind.
        """
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


class Dataset:
    """One checked dataset: what bounds a read of it, and how to do the read.

    Opening refuses virtual datasets, external storage, other dtypes than
    ``kinds`` and other shapes than ``ndim`` / ``row_shape``.  Rows are read
    as int64 (integer datasets) or float64 (float32 features stay float32).

    Parameters
    ----------
    tree : Tree
        The file's objects.
    key : str
        Path of the dataset below the root.
    kinds : {"f", "iu"}
        NumPy dtype kinds accepted: real floating point or integer.
    ndim : int
        Number of dimensions required.
    row_shape : tuple of int, optional
        Shape required of each row (the dimensions after the first).
    required : bool
        Raise if the dataset is absent; otherwise ``id`` is None then.

    Raises
    ------
    SnapshotFileError
        If the dataset is missing (and required) or breaks those rules.
    """

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
        """Return the number of rows, refreshed from disk first when ``swmr``.

        Parameters
        ----------
        swmr : bool
            Refresh the dataset (a file that a live writer may be growing).

        Returns
        -------
        int
            The length of the first dimension (0 for a scalar dataset).
        """
        if swmr:
            self.id.refresh()
        return self.id.shape[0] if self.id.shape else 0

    def check(self, rows, path, size):
        """Refuse before reading: rows [0, rows) must lie inside ``size`` bytes.

        Parameters
        ----------
        rows : int
            Number of rows about to be read.
        path : str
            The file's path, for error messages.
        size : int
            The file's size in bytes.

        Raises
        ------
        SnapshotFileError
            If the rows would need more bytes than the file has (allowing
            :data:`rankcore.runs.format.MAX_COMPRESSION` for compressed
            data), or their data lies past the end of the file.
        """
        import h5py

        if rows == 0:
            return
        row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.itemsize
        need = rows * row_bytes
        if need > size * (MAX_COMPRESSION if self.filtered else 1):
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
        """Read rows [start, stop) into a new array (or the value of a scalar dataset).

        Parameters
        ----------
        start, stop : int
            The rows to read (ignored for a scalar dataset).

        Returns
        -------
        ndarray
            Shape ``(stop - start,) + row_shape``, in the dataset's read dtype.
        """
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


def h5_errors():
    """Return the exception types that h5py raises on a damaged file.

    Returns
    -------
    tuple of type
        Caught around every read and turned into :class:`SnapshotFileError`.
    """
    return (OSError, RuntimeError, KeyError, IndexError, TypeError, ValueError,
            AttributeError, OverflowError, UnicodeError, MemoryError)
