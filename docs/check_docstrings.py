"""Report numpydoc style problems in the public docstrings of rankcore and bridge.

Usage (from the repository root)::

    python docs/check_docstrings.py            # summary per check, then details
    python docs/check_docstrings.py --codes PR01 PR02 RT01

The documentation build fails only on missing docstrings; this script lists
what numpydoc's validator says about the rest (the same names the API
reference documents: every function and class exported by a public module,
and the public methods of those classes).  Exit status 0 always: it is a
report; the gate is tests/test_docs.py, which requires it to report no
problem.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import inspect
import pathlib
import sys

from numpydoc.validate import validate

DOCS = pathlib.Path(__file__).resolve().parent

# Checks that are style only for this project (e.g. "See Also" everywhere,
# extended summaries for one-line helpers).
DEFAULT_IGNORE = {"SA01", "ES01", "EX01", "GL01", "GL02", "RT02", "YD01"}


def _load_conf():
    spec = importlib.util.spec_from_file_location("rankcore_docs_conf", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def documented_names():
    """Import paths of everything the API reference documents."""
    conf = _load_conf()
    modules, home, exports, mods = conf.api_layout()
    names = set()
    for (module, name), (where, qual) in home.items():
        if (module, name) != (where, qual) and (where, qual) in home:
            continue
        path = f"{where}.{qual}"
        names.add(path)
        obj = getattr(mods[where], qual.split(".")[0])
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if inspect.isfunction(member) or isinstance(member, property):
                    names.add(f"{path}.{attr}")
    return sorted(names)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codes", nargs="*", help="only these check codes")
    parser.add_argument("--all", action="store_true",
                        help=f"include the checks ignored by default: {sorted(DEFAULT_IGNORE)}")
    args = parser.parse_args(argv)
    problems = collections.defaultdict(list)
    for name in documented_names():
        try:
            result = validate(name)
        except Exception as exc:  # an object numpydoc cannot inspect
            problems["IMPORT"].append((name, repr(exc)))
            continue
        for code, message in result["errors"]:
            if args.codes and code not in args.codes:
                continue
            if not args.all and not args.codes and code in DEFAULT_IGNORE:
                continue
            problems[code].append((name, message))
    total = sum(len(v) for v in problems.values())
    print(f"{total} docstring problems")
    for code in sorted(problems, key=lambda c: -len(problems[c])):
        print(f"  {code}: {len(problems[code])}")
    for code in sorted(problems):
        print(f"\n[{code}]")
        for name, message in problems[code]:
            print(f"  {name}: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
