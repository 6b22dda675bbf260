"""Sphinx configuration of the rankcore documentation.

Build (from the repository root)::

    python -m sphinx -W -j 1 -b html docs docs/_build/html

The API reference is generated at build time from the packages themselves
(``docs/api/`` is rewritten on every build and is not tracked): every public
module of ``rankcore`` and ``bridge`` (no path component starting with ``_``)
gets a page, and every name in a module's ``__all__`` is documented once, in
the module that defines it (or, for names defined in private modules, in the
public module that exports it).  New modules and names therefore appear
without editing this file.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pathlib
import pkgutil
import sys
import warnings

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import rankcore  # noqa: E402

project = "rankcore"
author = "rankcore developers"
copyright = "2026, rankcore developers"
release = version = rankcore.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip"]
templates_path = []
html_theme = "alabaster"
html_static_path = []
html_title = f"rankcore {release}"
html_theme_options = {"description": "the ε-rank of neural-network features",
                      "fixed_sidebar": True}

# -- MyST (the pages are Markdown, readable on a repository browser too) ----
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
# Pages link to files of the repository outside docs/ (bench/, README.md):
# such links are written as ordinary URLs relative to the page and are not
# Sphinx cross-references.
myst_url_schemes = ["http", "https", "mailto"]

# -- autodoc / numpydoc -------------------------------------------------------
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Validation: a public object without a docstring (its own or, for a method
# overriding a documented one, the inherited one) fails the build; see
# ``_require_docstring`` below.  numpydoc's style checks (summary punctuation,
# section order, ...) are not part of the build: ``python
# docs/check_docstrings.py`` reports them.
numpydoc_validation_checks = set()

# -- sphinx-gallery -----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "write_computation_times": False,
    "show_memory": False,
    "abort_on_example_error": True,
    # Run every example at every build, even if its file did not change: the
    # library under it may have.
    "run_stale_examples": True,
    "only_warn_on_example_error": False,
    "reset_modules": ("matplotlib",),
    "image_scrapers": ("matplotlib",),
    "within_subsection_order": "FileNameSortKey",
}

# One thread for BLAS while examples run: the numbers do not depend on it and
# small shared machines are not oversubscribed.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

warnings.filterwarnings("ignore", category=DeprecationWarning,
                        module=r"(torch|lightning|tensorboard|dask).*")


# -- API reference generation -------------------------------------------------
PACKAGES = ("rankcore", "bridge")


def public_modules(packages=PACKAGES):
    """Names of the public modules of ``packages``, packages first.

    A module is public when no component of its dotted name starts with an
    underscore (this excludes ``__main__`` and the ``_*_kernels`` modules).
    """
    names = []
    for pkg_name in packages:
        pkg = importlib.import_module(pkg_name)
        names.append(pkg_name)
        for info in pkgutil.walk_packages(pkg.__path__, pkg_name + "."):
            if any(part.startswith("_") for part in info.name.split(".")):
                continue
            names.append(info.name)
    return names


def _exported(module):
    """The public names a module exports: ``__all__``, else its own names."""
    if hasattr(module, "__all__"):
        return [n for n in module.__all__ if not n.startswith("_")]
    out = []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        if inspect.ismodule(obj):
            continue
        if getattr(obj, "__module__", None) == module.__name__:
            out.append(name)
    return out


def api_layout(packages=PACKAGES):
    """Where every exported name is documented.

    Returns ``(modules, home, exports)``: the public module names; a dict
    ``home[(module, name)] -> (canonical module, qualified name)`` for every
    exported function or class; and ``exports[module]`` the exported names
    in order.  A function or class is documented in the module that defines
    it when that module is public, otherwise in the most specific public
    module that exports it.
    """
    modules = public_modules(packages)
    mods = {m: importlib.import_module(m) for m in modules}
    exports = {m: _exported(mods[m]) for m in modules}
    owners = {}
    for m in modules:
        for name in exports[m]:
            obj = getattr(mods[m], name, None)
            if not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue
            defined = getattr(obj, "__module__", None)
            if defined in mods and name in exports[defined]:
                owners[id(obj)] = (defined, obj.__qualname__)
            elif id(obj) not in owners or len(m) > len(owners[id(obj)][0]):
                owners[id(obj)] = (m, name)
    home = {}
    for m in modules:
        for name in exports[m]:
            obj = getattr(mods[m], name, None)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                home[(m, name)] = owners[id(obj)]
    return modules, home, exports, mods


def _directive(obj):
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return "autoexception"
        return "autoclass"
    if inspect.isroutine(obj):
        return "autofunction"
    return "autodata"


def _summary(obj):
    doc = inspect.getdoc(obj) or ""
    line = doc.strip().split("\n\n")[0].replace("\n", " ").strip()
    return line.replace("|", "\\|")


def write_api(app=None):
    """Write ``docs/api/*.rst`` from the packages (called at build start)."""
    out = DOCS / "api"
    out.mkdir(exist_ok=True)
    pages = {}
    modules, home, exports, mods = api_layout()
    written = []
    for m in modules:
        mod = mods[m]
        lines = [m, "=" * len(m), "", f".. automodule:: {m}", "   :no-members:", ""]
        own, elsewhere, submods, data = [], [], [], []
        for name in exports[m]:
            obj = getattr(mod, name, None)
            if inspect.ismodule(obj):
                submods.append(obj.__name__)
            elif (m, name) in home:
                where = home[(m, name)]
                (own if where == (m, name) else elsewhere).append((name, obj, where))
            else:
                data.append((name, obj))
        if elsewhere or submods:
            lines += ["Exported here, documented with their module:", "",
                      ".. list-table::", "   :widths: 30 70", ""]
            for name in submods:
                lines += [f"   * - :py:mod:`{name}`",
                          f"     - {_summary(mods.get(name, importlib.import_module(name)))}"]
            for name, obj, (where_mod, qual) in elsewhere:
                role = "py:class" if inspect.isclass(obj) else "py:func"
                lines += [f"   * - :{role}:`{m}.{name} <{where_mod}.{qual}>`",
                          f"     - {_summary(obj)}"]
            lines.append("")
        for name, obj, _ in own:
            directive = _directive(obj)
            lines.append(f".. {directive}:: {m}.{name}")
            if directive in ("autoclass", "autoexception"):
                lines.append("   :members:")
                if directive == "autoclass" and any(
                        base.__module__.split(".")[0] in PACKAGES for base in obj.__mro__[1:]):
                    # e.g. RFM's equation fits live in rankcore.rfm.pdefits.PDEFits
                    lines.append("   :inherited-members:")
            lines.append("")
        for name, obj in data:
            lines.append(f".. autodata:: {m}.{name}")
            if not isinstance(obj, (bool, int, float, str)):
                lines.append("   :no-value:")
            lines.append("")
        pages[f"{m}.rst"] = "\n".join(lines)
        written.append(m)
    index = ["API reference", "=============", "",
             "Generated from the docstrings of every public module of "
             "``rankcore`` (NumPy/SciPy/Numba only) and ``bridge`` (torch). "
             "Each function or class is documented once, in its module; "
             "package pages list what they re-export.", ""]
    for pkg in PACKAGES:
        index += [f".. toctree::", f"   :caption: {pkg}", "   :maxdepth: 1", ""]
        index += [f"   {m}" for m in written if m == pkg or m.startswith(pkg + ".")]
        index.append("")
    pages["index.rst"] = "\n".join(index)
    # Rewrite only what changed (Sphinx then rereads only those pages) and
    # remove the pages of modules that no longer exist.
    for old in out.glob("*.rst"):
        if old.name not in pages:
            old.unlink()
    for name, text in pages.items():
        path = out / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


def _require_docstring(app, what, name, obj, options, lines):
    """Warn (an error under ``-W``) about a documented object without a docstring."""
    if what not in ("module", "class", "exception", "function", "method", "property"):
        return
    if name.rsplit(".", 1)[-1].startswith("_"):
        return
    if not (inspect.getdoc(obj) or "").strip():
        from sphinx.util import logging
        logging.getLogger("rankcore.docs").warning(
            "%s %s has no docstring", what, name, type="rankcore", subtype="docstring")


def setup(app):
    app.connect("builder-inited", write_api)
    app.connect("autodoc-process-docstring", _require_docstring)
