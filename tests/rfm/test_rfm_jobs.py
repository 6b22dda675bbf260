"""RFM(n_jobs=...): the multifrontal QR's subtrees factored in parallel processes."""

import numpy as np
import pytest

from rankcore.rfm import RFM
from rankcore.rfm.lstsq import check_jobs

BOX = [(0.0, 1.0), (0.0, 1.0)]
X = np.random.default_rng(5).uniform(0, 1, (1500, 2))


def _u(X):
    return np.sin(2 * np.pi * X[:, 0]) * np.sin(2 * np.pi * X[:, 1])


def _f(X):
    return 8 * np.pi ** 2 * _u(X)


def test_two_processes_give_the_single_process_solve():
    one = RFM(BOX, subdomains=8, features=30, random_state=0,
              solver="multifrontal").fit_poisson(_f, _u)
    two = RFM(BOX, subdomains=8, features=30, random_state=0, solver="multifrontal",
              n_jobs=2).fit_poisson(_f, _u)
    p1, p2 = one.predict(X), two.predict(X)
    assert np.max(np.abs(p1 - p2)) <= 1e-10 * np.max(np.abs(p1))
    assert two.cond_ == pytest.approx(one.cond_, rel=1e-6)
    assert two.residual_ == pytest.approx(one.residual_, rel=1e-6)
    assert "front QR" in two.timings_ and two.n_jobs == 2


def test_parallel_factor_is_reused_for_new_right_hand_sides():
    m = RFM(BOX, subdomains=6, features=30, random_state=0, solver="multifrontal", n_jobs=2)
    Xi, Xb = m.collocation_points()
    lap = {(2, 0): -1.0, (0, 2): -1.0}
    cache = {}
    m.fit_linear([(Xi, lap, _f), (Xb, {(0, 0): 1.0}, _u)], reuse=cache)
    first = m.predict(X)
    m.fit_linear([(Xi, lap, lambda X: 2 * _f(X)), (Xb, {(0, 0): 1.0}, lambda X: 2 * _u(X))],
                 reuse=cache)
    assert m.factor_reused_
    assert np.max(np.abs(m.predict(X) - 2 * first)) <= 1e-10 * np.max(np.abs(first))


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_bad_n_jobs_is_refused(bad):
    with pytest.raises(ValueError, match=r"n_jobs must be None, -1 or a positive int, got"):
        RFM(BOX, subdomains=2, features=10, n_jobs=bad).fit_function(lambda X: X[:, 0])
    assert check_jobs(-1) >= 1 and check_jobs(None) == 1
