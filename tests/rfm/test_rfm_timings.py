"""RFM.timings_: a per-phase account of every fit."""

import time

import numpy as np
import pytest

from rankcore.rfm import RFM

MF_PHASES = {"row assembly", "front assembly", "private QR", "front QR",
             "back substitution", "condition estimate", "residual", "rounding floor"}


def _u(X):
    return np.sin(2 * np.pi * X[:, 0]) * np.sin(2 * np.pi * X[:, 1])


def _f(X):
    return 8 * np.pi ** 2 * _u(X)


def _check(m, wall, phases):
    t = m.timings_
    assert set(t) == phases
    assert all(isinstance(v, float) and v >= 0.0 for v in t.values())
    assert sum(t.values()) <= wall * 1.05 + 1e-3


def test_multifrontal_phases_add_up_to_at_most_the_fit():
    m = RFM([(0, 1), (0, 1)], subdomains=6, features=30, random_state=0,
            solver="multifrontal")
    t0 = time.perf_counter()
    m.fit_poisson(_f, _u)
    _check(m, time.perf_counter() - t0, MF_PHASES)
    assert m.timings_["front QR"] > 0 and m.timings_["row assembly"] > 0
    assert m.timings_["row assembly"] == pytest.approx(m.assembly_time_)


@pytest.mark.parametrize("solver,key", [("banded", "banded QR"), ("dense", "dense QR"),
                                        ("lsmr", "lsmr")])
def test_other_solvers_report_one_solver_phase(solver, key):
    m = RFM([(0, 1), (0, 1)], subdomains=2, features=20, random_state=0, solver=solver)
    t0 = time.perf_counter()
    m.fit_poisson(_f, _u)
    _check(m, time.perf_counter() - t0, {"row assembly", key, "residual", "rounding floor"})


def test_every_fit_sets_timings():
    box = [(0.0, 1.0)]
    m = RFM(box, subdomains=2, features=20, random_state=0)
    X = np.linspace(0, 1, 50)[:, None]
    m.fit(X, np.sin(X[:, 0]))
    assert "banded QR" in m.timings_
    m.fit_function(lambda x: np.sin(x[:, 0]))
    assert "rounding floor" in m.timings_
    Xi, Xb = m.collocation_points()
    eqs = [(Xi, {(2,): -1.0}, lambda x: np.sin(x[:, 0])), (Xb, {(0,): 1.0}, lambda x: np.sin(x[:, 0]))]
    cache = {}
    m.fit_linear(eqs, reuse=cache)
    assert not m.factor_reused_ and "banded QR" in m.timings_
    m.fit_linear(eqs, reuse=cache)
    assert m.factor_reused_ and set(m.timings_) == {"row assembly", "replay", "rounding floor"}
    # -u'' + u^3 = sin x + sin^3 x, u = sin x
    m.fit_nonlinear([(Xi, lambda x, D: -D[(2,)] + D[(0,)] ** 3 - np.sin(x[:, 0]) ** 3
                      - np.sin(x[:, 0]), [(0,), (2,)]),
                     (Xb, lambda x, D: D[(0,)] - np.sin(x[:, 0]), [(0,)])])
    assert m.n_iter_ >= 2
    assert m.timings_["banded QR"] > 0 and "row assembly" in m.timings_


def test_time_slabs_add_up_their_slabs():
    m = RFM([(0.0, 1.0), (0.0, 1.0)], subdomains=(2, 1), features=30, random_state=0)
    # u_t - u_xx = 0, u = exp(-pi^2 t) sin(pi x): sides, initial line, interior
    u = lambda X: np.exp(-np.pi ** 2 * X[:, 1]) * np.sin(np.pi * X[:, 0])  # noqa: E731
    g = np.linspace(0, 1, 20)
    T, Xx = np.meshgrid(g, g[1:-1])
    Xi = np.stack([Xx.ravel(), T.ravel()], 1)
    sides = np.concatenate([np.stack([np.zeros(20), g], 1), np.stack([np.ones(20), g], 1)])
    ic = np.stack([g, np.zeros(20)], 1)
    eqs = [(Xi, {(0, 1): 1.0, (2, 0): -1.0}, 0.0), (sides, {(0, 0): 1.0}, 0.0),
           (ic, {(0, 0): 1.0}, u)]
    m.fit_time_slabs(eqs, slabs=2)
    per = [c.timings_ for c in m.slab_models_]
    assert len(per) == 2
    for key, sec in m.timings_.items():
        assert sec == pytest.approx(sum(p.get(key, 0.0) for p in per))
    assert set().union(*per) == set(m.timings_)
