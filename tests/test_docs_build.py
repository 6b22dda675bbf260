"""The documentation site builds with warnings as errors and documents every public name.

One build, ``python -m sphinx -W --keep-going -j 1 -b html docs <tmp>`` (the
documented command), which also runs every script of the examples gallery.
"""

import importlib.util
import inspect
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, MPLBACKEND="Agg")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-j", "1", "-q",
         "-b", "html", "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"sphinx failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return out / "html"


def _conf():
    spec = importlib.util.spec_from_file_location("rankcore_docs_conf", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def test_site_has_the_pages(site):
    for page in ["index.html", "guide/install.html", "guide/choosing-eps.html",
                 "guide/offline-analysis.html", "guide/theorems.html", "guide/pde.html",
                 "guide/training.html",
                 "theory.html", "snapshot-format.html", "rfm.html", "sfli.html",
                 "api/index.html", "api/rankcore.html", "api/bridge.html",
                 "auto_examples/index.html", "about/changelog.html",
                 "about/citing.html", "about/license.html"]:
        assert (site / page).is_file(), page
    examples = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))
    assert len(examples) >= 5
    for name in examples:
        html = (site / "auto_examples" / f"{name}.html").read_text("utf-8")
        # sphinx-gallery ran the script and captured what it printed.
        assert "sphx-glr-script-out" in html, name


def test_every_public_name_is_documented(site):
    conf = _conf()
    modules, home, exports, mods = conf.api_layout()
    assert {"rankcore", "bridge", "rankcore.quadrature", "rankcore.theory"} <= set(modules)
    pages = {m: (site / "api" / f"{m}.html").read_text("utf-8") for m in modules}
    missing = []
    for m in modules:
        for name in exports[m]:
            obj = getattr(mods[m], name)
            if inspect.ismodule(obj):
                target, page = f"module-{obj.__name__}", obj.__name__
            elif (m, name) in home:
                where, qual = home[(m, name)]
                target, page = f"{where}.{qual}", where
            else:
                target, page = f"{m}.{name}", m
            if f'id="{target}"' not in pages.get(page, ""):
                missing.append(f"{m}.{name} (expected {target} on api/{page}.html)")
    assert not missing, "public names missing from the API reference:\n" + "\n".join(missing)
    # Both packages' top-level names, in particular, are reachable.
    import bridge
    import rankcore
    assert rankcore.__all__ and bridge.__all__


# Numbers that the guides and the README quote, and the example whose printed
# output they come from: if an example's output changes, the quoting page must
# be updated (the gallery pages show the output itself).
QUOTED = {
    "plot_02_choosing_quadrature": [
        "5.256e-05", "5.256e-04", "5.256e-03",           # lambda_min against L
        "2.5e-02", "3.9e-03",                            # doubling the order
        "2.619e+00", "2.187e-11", "3.430e-16", "1.276e-21",  # monomials
    ],
    "plot_03_sfli_first_layer": [
        "2.90e-04", "1.43e-04", "7.10e-05", "4.72e-05", "3.53e-05",  # 1-D widths
        "5.5e-05  7.6e-05  2.0e-05  1.5e-04  1.1e-05",   # 2-D, five seeds
    ],
}


@pytest.mark.parametrize("example", sorted(QUOTED))
def test_quoted_numbers_come_from_the_examples(site, example):
    html = (site / "auto_examples" / f"{example}.html").read_text("utf-8")
    missing = [v for v in QUOTED[example] if v not in html]
    assert not missing, f"{example} no longer prints {missing}"
    if example == "plot_03_sfli_first_layer":
        # 200 neurons on 256 nodes: lambda_min at the rounding level.
        m = re.search(r"\n\s*200\s+(\S+)\s+(\S+)", html)
        assert m and float(m.group(1)) < 1e-25 and float(m.group(2)) > 1e-5, m
