"""bench/rfm_kernels.py runs, and the kernels it compares agree.

The written-out d <= 3 feature kernel and the generic loops must give the
same features to rounding, and the exp-based tanh the same values and
derivatives as numpy's; the benchmark prints both differences, checked here
on its quick sizes (timings are printed, never asserted).
"""

import re

import pytest

from _bench import load_bench



def _load():
    return load_bench("rfm_kernels")


def test_quick_run_prints_both_tables_and_the_kernels_agree(capsys):
    _load().main(["--quick", "--repeats", "1"])
    out = capsys.readouterr().out
    m = re.search(r"max \|value - numpy.tanh\| (\S+), max \|derivative - \(1 - numpy.tanh\^2\)\| (\S+)",
                  out)
    assert m and float(m.group(1)) < 1e-15 and float(m.group(2)) < 1e-15, out
    rows = re.findall(r"^ ([123]) +([12]) +\S+ +\S+ +\S+x +(\S+)$", out, re.M)
    assert len(rows) == 6, out   # d = 1, 2, 3 x 1 or 2 components
    assert all(float(r[2]) < 1e-13 for r in rows), out


def test_bad_repeats_is_refused_naming_the_flag(capsys):
    with pytest.raises(SystemExit):
        _load().main(["--repeats", "0"])
    assert "--repeats must be a positive integer, got 0" in capsys.readouterr().err
