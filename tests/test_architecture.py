"""The layout rules of docs/architecture.md, checked on the code itself.

``lint-imports`` checks the import-linter contracts of pyproject.toml (layers,
rankcore never imports torch, bridge uses no private module of rankcore, the
run side and the PDE side independent); the tests below add what those
contracts do not say: no import cycle at all (a cycle through a package's
``__init__`` included), no module longer than the limit, no alias modules.
"""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import rankcore

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 750  # "no module longer than about 700 lines" (theory.py: 749)


def _graph():
    return grimp.build_graph("rankcore", "bridge")


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.find_modules_directly_imported_by(w)))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports")
    if exe is None:  # the test extra installs import-linter; this is an error, not a skip
        pytest.fail("lint-imports not found: install the test extra (pip install -e '.[test]')")
    res = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout or "broken" not in res.stdout.split("Contracts:")[-1]


def test_cycle_finder_finds_a_cycle():
    class Fake:
        modules = {"a", "b", "c", "d"}
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

        def find_modules_directly_imported_by(self, m):
            return self.edges.get(m, set())
    assert _cycles(Fake()) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_no_module_longer_than_the_limit():
    long = {str(p.relative_to(ROOT)): n for p in list((ROOT / "rankcore").rglob("*.py"))
            + list((ROOT / "bridge").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.parametrize("name", ["rankcore.init", "rankcore.lstsq", "rankcore.snapshots"])
def test_alias_modules_are_gone(name):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(name)


def test_engine_imports_no_higher_layer():
    # importing an engine module alone loads neither the run side nor the PDE side
    code = ("import sys, rankcore.gram, rankcore.rank; "
            "import rankcore.quadrature")
    res = subprocess.run([sys.executable, "-c", code + "; print(sorted(m for m in sys.modules "
                          "if m.startswith('torch')))"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_public_names_stay_importable():
    for name in rankcore.__all__:
        assert hasattr(rankcore, name), name
    from rankcore.geometry import Ball, Box, Disk, HalfSpace, Polygon  # noqa: F401
    import rankcore.rfm as rfm
    for name in rfm.__all__:
        assert hasattr(rfm, name), name
