"""Numba's ``njit`` with an on-disk cache that read-only installs can do without.

``numba.njit(cache=True)`` looks for a writable cache directory when a
function is *decorated*, i.e. when its module is imported, and raises
``RuntimeError: cannot cache function ...: no locator available`` where there
is none: next to the sources, under ``NUMBA_CACHE_DIR`` or in the user's cache
directory.  On a read-only install (a cluster module, a container image with a
read-only HOME) that made ``import rankcore`` fail.  :func:`njit` here keeps
the on-disk cache wherever one is writable and otherwise compiles in memory,
with one :class:`CacheUnavailableWarning` per process.

Nothing is compiled at decoration: kernels compile on their first call, as
with plain Numba.  Every kernel module of rankcore decorates with this
``njit`` (``from rankcore.jit import njit``).
"""

from __future__ import annotations

import warnings

__all__ = ["njit", "CacheUnavailableWarning"]


class CacheUnavailableWarning(RuntimeWarning):
    """No writable Numba cache directory: kernels are compiled in memory."""


_warned = []


def njit(*args, **options):
    """``numba.njit`` with ``cache=True`` that falls back to in-memory compilation.

    Used exactly like ``numba.njit``: bare (``@njit``) or with options
    (``@njit(cache=True, nogil=True)``).  ``cache`` defaults to True; where no
    cache location is writable the function is compiled without a cache and a
    single :class:`CacheUnavailableWarning` is issued for the whole process.

    Parameters
    ----------
    *args : callable
        The function to compile, for the bare form; nothing otherwise.
        Explicit signatures are refused (TypeError).
    **options
        Keyword options of ``numba.njit``.

    Returns
    -------
    numba dispatcher or callable
        The compiled-on-first-call function (bare form), or a decorator that
        makes one.

    Examples
    --------
    >>> from rankcore.jit import njit
    >>> @njit(cache=False)  # typed at a prompt: no source file to cache against
    ... def add(a, b):
    ...     return a + b
    >>> add(2, 3)
    5
    """
    options.setdefault("cache", True)
    if args and callable(args[0]) and len(args) == 1:
        return _decorate(args[0], options)
    if args:
        raise TypeError(
            "rankcore.jit.njit takes the function or keyword options only, got "
            f"positional {args!r} (explicit signatures compile at import; pass none)")
    return lambda fn: _decorate(fn, options)


def _decorate(fn, options):
    import numba

    if not options["cache"]:
        return numba.njit(**options)(fn)
    try:
        return numba.njit(**options)(fn)
    except RuntimeError as exc:
        if "no locator available" not in str(exc):
            raise
        if not _warned:
            _warned.append(True)
            warnings.warn(
                f"no writable Numba cache directory ({exc}); rankcore's kernels are "
                "compiled in memory on first use in each process.  Set NUMBA_CACHE_DIR "
                "to a writable directory to keep them between runs.",
                CacheUnavailableWarning, stacklevel=4)
        return numba.njit(**dict(options, cache=False))(fn)
