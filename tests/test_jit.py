"""Read-only installs: importing rankcore compiles nothing and writes no cache.

The package is copied to a temporary directory that is made read-only, HOME
points at a read-only directory and NUMBA_CACHE_DIR is unset, so Numba has no
writable cache location.  Root ignores file permissions; there the child
process makes Numba's own writability check honour the permission bits (the
only place Numba decides whether a cache directory is usable), so the test
fails on code that needs a writable cache, as a real read-only install does.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import rankcore
from rankcore.jit import CacheUnavailableWarning, njit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CHILD = textwrap.dedent("""
    import json, os, sys, warnings
    if os.geteuid() == 0:
        # Root may write anywhere: make Numba's writability probe obey the
        # permission bits of the nearest existing directory, as for a user.
        import numba.core.caching as caching
        probe = caching._CacheLocator.ensure_cache_path

        def ensure_cache_path(self):
            p = self.get_cache_path()
            while not os.path.isdir(p):
                p = os.path.dirname(p)
            if not os.stat(p).st_mode & 0o222:
                raise PermissionError(13, "Permission denied", p)
            return probe(self)

        caching._CacheLocator.ensure_cache_path = ensure_cache_path
    sys.path.insert(0, sys.argv[1])
    import importlib, pkgutil
    import numpy as np
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import rankcore
        from numba.core.registry import CPUDispatcher
        mods = [importlib.import_module(m.name)
                for m in pkgutil.walk_packages(rankcore.__path__, "rankcore.")
                if "kernels" in m.name.rsplit(".", 1)[-1]]
        kernels = [obj for mod in mods for obj in vars(mod).values()
                   if isinstance(obj, CPUDispatcher)]
        compiled_at_import = sum(len(k.signatures) for k in kernels)
        rng = np.random.default_rng(0)
        phi = rng.standard_normal((300, 6))
        w = rng.uniform(0.5, 1.0, 300)
        ok_gram = bool(np.allclose(rankcore.gram(phi, w), (phi * w[:, None]).T @ phi))
        V = np.linalg.qr(rng.standard_normal((12, 3)))[0]
        sel = rankcore.select_rows(V)
        compiled_after = sum(len(k.signatures) for k in kernels)
    print(json.dumps({
        "rankcore_file": rankcore.__file__,
        "kernel_modules": [m.__name__ for m in mods],
        "kernels": len(kernels),
        "compiled_at_import": compiled_at_import,
        "compiled_after": compiled_after,
        "ok_gram": ok_gram,
        "selected": len(sel.indices),
        "warnings": [w.category.__name__ for w in caught
                     if "cache" in str(w.message).lower()],
    }))
""")


def _tree(path):
    out = set()
    for d, dirs, files in os.walk(path):
        for name in dirs + files:
            out.add(os.path.relpath(os.path.join(d, name), path))
    return out


def _chmod_tree(path, writable):
    for d, dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(d, name)
            os.chmod(p, 0o644 if writable else 0o444)
        os.chmod(d, 0o755 if writable else 0o555)


def test_read_only_install_imports_and_runs(tmp_path):
    site = tmp_path / "site"
    home = tmp_path / "home"
    shutil.copytree(os.path.join(ROOT, "rankcore"), site / "rankcore",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    home.mkdir()
    before = _tree(site), _tree(home)
    _chmod_tree(site, writable=False)
    os.chmod(home, stat.S_IRUSR | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NUMBA_CACHE") and k not in ("XDG_CACHE_HOME",)}
    env.update(HOME=str(home), PYTHONDONTWRITEBYTECODE="1",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, str(site)], capture_output=True,
                             text=True, cwd=str(tmp_path), env=env, timeout=300)
    finally:
        _chmod_tree(site, writable=True)
        os.chmod(home, 0o755)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["rankcore_file"].startswith(str(site))
    assert res["kernels"] >= 5 and res["kernel_modules"]
    assert res["compiled_at_import"] == 0          # nothing compiled by the import
    assert res["compiled_after"] >= 2              # kernels ran, compiled in memory
    assert res["ok_gram"] and res["selected"] == 3
    assert res["warnings"] == ["CacheUnavailableWarning"]  # exactly one warning
    assert (_tree(site), _tree(home)) == before    # no cache file written anywhere


def test_every_kernel_module_uses_the_cache_safe_decorator():
    pkg = os.path.join(ROOT, "rankcore")
    seen = 0
    for d, _, files in os.walk(pkg):
        for name in files:
            if name.endswith(".py") and "kernels" in name:
                src = open(os.path.join(d, name), encoding="utf-8").read()
                seen += 1
                assert "from numba import njit" not in src, name
                assert "numba.njit" not in src and "@jit(" not in src, name
    assert seen >= 3


def test_njit_decorator_forms():
    @njit
    def f(x):
        return 2 * x

    @njit(nogil=True)
    def g(x):
        return x + 1

    @njit(cache=False)
    def h(x):
        return x - 1

    assert f(3) == 6 and g(np.int64(1)) == 2 and h(1) == 0
    with pytest.raises(TypeError, match="signatures compile at import"):
        njit("int64(int64)")


def test_no_locator_falls_back_with_one_warning(monkeypatch):
    import numba.core.caching as caching

    from rankcore import jit

    def no_locator(self, py_func):
        raise RuntimeError("cannot cache function 'x': no locator available for file 'y'")

    monkeypatch.setattr(caching.CacheImpl, "__init__", no_locator)
    monkeypatch.setattr(jit, "_warned", [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        @njit
        def a(x):
            return x * 3

        @njit(nogil=True)
        def b(x):
            return x * 4

    assert [w.category for w in caught] == [CacheUnavailableWarning]
    assert a(2) == 6 and b(2) == 8
    assert rankcore.__version__
