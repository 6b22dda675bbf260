"""Import a script of bench/ as a module, for the benches' smoke tests."""

import importlib.util
import pathlib

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"


def load_bench(name):
    """The module ``bench/<name>.py``, executed fresh (not added to sys.modules)."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
