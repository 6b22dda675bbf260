"""The documentation's code runs, and the repository stands alone.

* Every fenced block in ``docs/**/*.md`` and ``README.md`` says what it is
  (```python, ```console, ```text, ...); an untagged fence is an error.
* The ```python blocks of each docs page run in order, as one script, in a
  scratch directory, with a timeout (``README.md`` has its own test in
  ``test_readme.py``).
* LICENSE, CITATION.cff and CHANGELOG.md agree with the package, and no
  tracked file points to files that the repository does not contain.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

import rankcore

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GENERATED = ("_build", "api", "auto_examples")
PYTHON_TAGS = {"python", "py", "python3"}
TIMEOUT_S = 600

_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)(.*)$")


def doc_pages():
    """Markdown sources of the site (generated folders excluded)."""
    pages = []
    for path in sorted(DOCS.rglob("*.md")):
        rel = path.relative_to(DOCS)
        if rel.parts[0] in GENERATED:
            continue
        pages.append(path)
    return pages


def fences(text):
    """``(line, tag, code)`` for every fenced block of a Markdown text.

    Handles backtick and tilde fences of any length; a fence closes at a
    line of the same character at least as long, with nothing after it.
    """
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, tag = len(m.group(1)), m.group(2), m.group(3)
        start = i
        body = []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            if (stripped.startswith(fence[0] * len(fence))
                    and set(stripped) == {fence[0]}):
                break
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        out.append((start + 1, tag, "\n".join(body) + "\n"))
        i += 1
    return out


def _id(path):
    return str(path.relative_to(ROOT))


PAGES = doc_pages()
PAGES_WITH_CODE = [p for p in PAGES
                   if any(tag in PYTHON_TAGS for _, tag, _ in fences(p.read_text("utf-8")))]


def test_fence_parser():
    text = ("a\n```python\nx = 1\n```\n\n````markdown\n```\ninner\n```\n````\n"
            "~~~text\nt\n~~~\n   ```bash\n   ls\n   ```\n```\nuntagged\n```\n")
    got = [(tag, code) for _, tag, code in fences(text)]
    assert got == [("python", "x = 1\n"), ("markdown", "```\ninner\n```\n"),
                   ("text", "t\n"), ("bash", "ls\n"), ("", "untagged\n")]


def test_the_site_has_pages_with_code():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES_WITH_CODE}
    assert {"guide/choosing-eps.md", "guide/offline-analysis.md",
            "snapshot-format.md"} <= names, names


@pytest.mark.parametrize("page", PAGES + [ROOT / "README.md"], ids=_id)
def test_every_fence_is_tagged(page):
    untagged = [line for line, tag, _ in fences(page.read_text("utf-8")) if not tag]
    assert not untagged, (
        f"{_id(page)}: fenced blocks without a language at lines {untagged}; "
        "tag them ```python (run by the tests) or ```text / ```console / ```bash")


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_id)
def test_python_blocks_run(page, tmp_path):
    blocks = [(line, code) for line, tag, code in fences(page.read_text("utf-8"))
              if tag in PYTHON_TAGS]
    script = []
    for line, code in blocks:
        script.append(f"# ---- {_id(page)}, block at line {line}\n{code}")
    path = tmp_path / "blocks.py"
    path.write_text("\n".join(script), encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, (
        f"the Python blocks of {_id(page)} failed:\n{proc.stderr[-4000:]}")


# -- licence, citation, changelog ---------------------------------------------

def _pyproject():
    import tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def test_license_is_the_declared_bsd_3_clause():
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert _pyproject()["project"]["license"]["text"] == "BSD-3-Clause"
    assert text.startswith("BSD 3-Clause License")
    assert "Copyright (c) 2026, rankcore developers" in text
    assert "Neither the name of the copyright holder" in text


def test_citation_file_matches_the_package():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text("utf-8"))
    assert cff["cff-version"] == "1.2.0"
    assert cff["type"] == "software"
    assert cff["version"] == rankcore.__version__ == _pyproject()["project"]["version"]
    assert cff["license"] == "BSD-3-Clause"
    assert cff["authors"] and cff["message"]
    refs = {r["title"]: r for r in cff["references"]}
    for r in refs.values():
        assert r["authors"] and r["year"] and r["type"]
    # The theorems' paper and the methods' papers are cited.
    assert any("Staircase Phenomenon" in t for t in refs)
    assert any("Structured First-Layer Initialization" in t for t in refs)
    assert any("Random Feature Method" in t for t in refs)
    assert any("strong rank-revealing QR" in t for t in refs)


def test_changelog_has_an_unreleased_section():
    text = (ROOT / "CHANGELOG.md").read_text("utf-8")
    assert text.startswith("# Changelog")
    assert "## [Unreleased]" in text
    assert f"## [{rankcore.__version__}]" in text


# -- the repository stands alone ------------------------------------------------

_OUTSIDE = [
    (re.compile(r"SPEC\.md|\bSPEC\b"), "the project's private specification"),
    (re.compile(r"shared/papers|\bpapers/", re.I), "a papers folder"),
    (re.compile(r"\bthe issue\b|\bissue note\b", re.I), "the issue tracker"),
]
_TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".cff", ".sh", ".cfg", ".rst", ".yml",
                  ".yaml", ".json", ""}


def _tracked_files():
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / f for f in out]


def test_no_references_to_files_outside_the_repository():
    this = pathlib.Path(__file__).resolve()
    hits = []
    for path in _tracked_files():
        if path.resolve() == this or path.suffix not in _TEXT_SUFFIXES or not path.is_file():
            continue
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for pattern, what in _OUTSIDE:
                if pattern.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{lineno}: {what}: {line.strip()}")
    assert not hits, "references to material the repository does not contain:\n" + "\n".join(hits)


def test_public_docstrings_have_no_numpydoc_findings():
    # docs/check_docstrings.py: numpydoc's validator over every documented
    # name of rankcore and bridge (its default ignores: See Also, extended
    # summaries, examples everywhere)
    out = subprocess.run([sys.executable, str(ROOT / "docs" / "check_docstrings.py")],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[0] == "0 docstring problems", out.stdout[:3000]
