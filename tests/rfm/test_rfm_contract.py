"""RFM review checks: warnings point at the caller's line, nonlinear residual errors."""

import warnings

import numpy as np
import pytest

from rankcore import RFM
from rankcore.rfm import ConvergenceWarning


def _only(caught, category):
    """The caught warnings of ``category``; fails if any other warning came."""
    others = [w for w in caught if not issubclass(w.category, category)]
    assert not others, [f"{w.category.__name__} at {w.filename}:{w.lineno}: {w.message}"
                        for w in others]
    return [w for w in caught if issubclass(w.category, category)]


def test_solver_fallback_warning_points_at_the_callers_line():
    X = np.linspace(0, 1, 30)[:, None]
    m = RFM((0.0, 1.0), 4, 40, solver="banded", random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.fit(X, np.sin(X[:, 0]))
    fallback = [w for w in caught if "fewer equations than features" in str(w.message)]
    assert fallback and m.solver_ == "dense"
    assert all(w.filename == __file__ for w in fallback), [w.filename for w in fallback]


def test_diverging_nonlinear_solve_gives_only_the_convergence_warning():
    # u^2 + 1 = 0 has no real solution: starting from u = 0 nothing helps
    x = np.linspace(0, 1, 50)[:, None]
    m = RFM([(0.0, 1.0)], 2, 20, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = m.fit_nonlinear([(x, lambda X, D: D[(0,)] ** 2 + 1.0, [(0,)])], max_iter=3)
    conv = _only(caught, ConvergenceWarning)
    assert out is m and not hasattr(m, "coef_")
    assert len(conv) == 1 and conv[0].filename == __file__
    assert "inf" not in str(conv[0].message) and "nan" not in str(conv[0].message)


def test_residual_using_an_unlisted_key_is_named():
    x = np.linspace(0, 1, 20)[:, None]
    m = RFM([(0.0, 1.0)], 2, 20, random_state=0)
    res = lambda X, D: -D[(2,)] + D[(0,)] - 1.0  # noqa: E731  (2,) is not in keys
    with pytest.raises(ValueError, match=r"equations\[0\] residual.*D\[\(2,\)\].*"
                                         r"not among its keys \[\(0,\)\]"):
        m.fit_nonlinear([(x, res, [(0,)])])
    assert not hasattr(m, "coef_")


@pytest.mark.parametrize("returned, shown", [(None, "None"), ("x", "'x'")])
def test_residual_returning_a_non_array_says_what_it_returned(returned, shown):
    x = np.linspace(0, 1, 20)[:, None]
    m = RFM([(0.0, 1.0)], 2, 20, random_state=0)
    with pytest.raises((TypeError, ValueError), match=r"equations\[0\] residual must return "
                                                      r".*\(20,\).*got " + shown):
        m.fit_nonlinear([(x, lambda X, D: returned, [(0,)])])


def test_system_keys_spelled_with_lists_reach_the_residual_as_tuples():
    x = np.linspace(0, 1, 30)[:, None]
    m = RFM([(0.0, 1.0)], 2, 15, components=2, random_state=0)
    res = lambda X, D: D[(0, (0,))] - D[(1, (0,))] - 1.0  # noqa: E731
    m.fit_nonlinear([(x, res, [[0, [0]], (1, [0])]),
                     (x, {(1, (0,)): 1.0}, lambda X: X[:, 0])])
    np.testing.assert_allclose(m.predict(x, component=0), x[:, 0] + 1.0, atol=1e-8)
