"""The one call into libhdf5 that h5py does not wrap: HDF5's metadata read attempts.

A file opened for SWMR reading makes HDF5 repeat every metadata read whose
checksum fails, up to 100 times with doubling sleeps (hours in all), without
returning to Python: a damaged file would hang the reader, and Ctrl-C would
do nothing.  ``H5Pset_metadata_read_attempts`` bounds that, but h5py does not
wrap it, so it is called here through :mod:`ctypes`, in the very library that
h5py uses.  That library is found without ``/proc`` (no Linux-only path):

1. through h5py's own extension module, which the dynamic linker searches
   together with the libraries it was linked against (Linux, macOS, BSD);
2. among the libraries that h5py's wheel ships next to its package
   (``h5py.libs``, ``h5py/.dylibs``: Windows wheels);
3. by name (:func:`ctypes.util.find_library`), where a library that is not
   loaded yet can be refused (``RTLD_NOLOAD``).

A candidate is used only if it reports h5py's HDF5 version and knows h5py's
property lists (so it is the copy that h5py uses, never a second one).  Where
none qualifies, :func:`library` is None and the reader falls back: see
:func:`rankcore.runs.hdf5.open_file`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os

__all__ = ["library", "find_library", "set_metadata_read_attempts"]

_FOUND = []  # the search's result, once per process


def _candidates():
    """Paths to try, best first."""
    import h5py
    import h5py.h5p

    out = []
    noload = hasattr(os, "RTLD_NOLOAD")
    if noload:
        out.append(h5py.h5p.__file__)
    pkg = os.path.dirname(h5py.__file__)
    for folder in (pkg + ".libs", os.path.join(pkg, ".dylibs"), pkg):
        for pattern in ("libhdf5*", "hdf5*.dll"):
            out += sorted(p for p in glob.glob(os.path.join(folder, pattern))
                          if "_hl" not in os.path.basename(p))
    if noload:
        out += [name for name in map(ctypes.util.find_library, ("hdf5", "hdf5_serial"))
                if name]
    return out


def _verified(path):
    """``path`` as a ctypes library if it is h5py's libhdf5, else None."""
    import h5py
    import h5py.h5p

    try:
        if hasattr(os, "RTLD_NOLOAD"):  # an already loaded library, or nothing
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)
        else:
            lib = ctypes.CDLL(path)
        version, valid = lib.H5get_libversion, lib.H5Iis_valid
        setter = lib.H5Pset_metadata_read_attempts
        getter = lib.H5Pget_metadata_read_attempts
    except (OSError, AttributeError):
        return None
    uint_p = ctypes.POINTER(ctypes.c_uint)
    version.argtypes = [uint_p, uint_p, uint_p]
    valid.argtypes = [ctypes.c_int64]
    setter.argtypes = [ctypes.c_int64, ctypes.c_uint]
    getter.argtypes = [ctypes.c_int64, uint_p]
    v = [ctypes.c_uint() for _ in range(3)]
    if (version(*map(ctypes.byref, v)) < 0
            or tuple(x.value for x in v) != tuple(h5py.version.hdf5_version_tuple[:3])):
        return None
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    got = ctypes.c_uint()
    if (valid(fapl.id) <= 0 or setter(fapl.id, 7) < 0
            or getter(fapl.id, ctypes.byref(got)) < 0 or got.value != 7):
        return None
    return lib


def find_library():
    """Search for the libhdf5 that h5py uses (uncached; see :func:`library`).

    Returns
    -------
    ctypes.CDLL or None
        The library, or None where no candidate qualifies.
    """
    for path in _candidates():
        lib = _verified(path)
        if lib is not None:
            return lib
    return None


def library():
    """Return the libhdf5 that h5py uses, found once per process.

    Returns
    -------
    ctypes.CDLL or None
        The library, or None where it cannot be found.
    """
    if not _FOUND:
        _FOUND.append(find_library())
    return _FOUND[0]


def set_metadata_read_attempts(fapl, attempts):
    """Limit HDF5's metadata read attempts of files opened with ``fapl``.

    Parameters
    ----------
    fapl : h5py.h5p.PropFAID
        A file-access property list.
    attempts : int
        Attempts per metadata read, at least 1.

    Returns
    -------
    bool
        Whether the limit is set (False where :func:`library` is None).

    Examples
    --------
    >>> import h5py
    >>> from rankcore.runs import libhdf5
    >>> fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    >>> libhdf5.set_metadata_read_attempts(fapl, 4) == (libhdf5.library() is not None)
    True
    """
    lib = library()
    return lib is not None and lib.H5Pset_metadata_read_attempts(fapl.id, attempts) >= 0
