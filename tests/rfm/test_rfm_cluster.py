"""RFM(..., solver="dask"): the multifrontal QR on a real dask.distributed cluster."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from rankcore.rfm import RFM
from rankcore.rfm import cluster, multifrontal
from rankcore.rfm.cluster import split_tree
from rankcore.rfm.multifrontal import FrontTooLarge, Plan

BOX = [(0.0, 1.0), (0.0, 1.0)]


def _u(X):
    return np.sin(2 * np.pi * X[:, 0]) * np.sin(2 * np.pi * X[:, 1])


def _f(X):
    return 8 * np.pi ** 2 * _u(X)


X_TEST = np.random.default_rng(7).uniform(0, 1, (2000, 2))


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_split_tree_cuts_the_heaviest_subtrees():
    #        8
    #     /     \
    #    2       7
    #   / \    /   \
    #  0   1  5     6      (5 has children 3, 4)
    parent = np.array([2, 2, 8, 5, 5, 7, 7, 8, -1])
    work = np.array([1, 1, 1, 5, 5, 1, 1, 1, 1.0])
    sub, top = split_tree(parent, work, 2)
    assert sub == [[0, 1, 2], [3, 4, 5, 6, 7]] and top == [8]
    sub, top = split_tree(parent, work, 3)
    assert top == [7, 8] and sub == [[0, 1, 2], [3, 4, 5], [6]]
    assert split_tree(np.array([-1]), np.ones(1), 4) == ([[0]], [])


def test_dask_solve_equals_the_single_process_solve(dask_client):
    ref = RFM(BOX, subdomains=8, features=40, random_state=0,
              solver="multifrontal").fit_poisson(_f, _u)
    m = RFM(BOX, subdomains=8, features=40, random_state=0, solver="dask").fit_poisson(_f, _u)
    assert m.solver_ == "dask"
    assert _rel(m.predict(X_TEST), ref.predict(X_TEST)) <= 1e-10
    assert _rel(m.predict(X_TEST), _u(X_TEST)) < 1e-3   # measured 1.4e-4 (max norm)
    assert m.cond_ == pytest.approx(ref.cond_, rel=1e-6)
    assert m.residual_ == pytest.approx(ref.residual_, rel=1e-6)
    assert {"front assembly", "front QR", "back substitution",
            "condition estimate"} <= set(m.timings_)


def test_dask_factor_stays_on_the_workers_for_reuse(dask_client):
    m = RFM(BOX, subdomains=6, features=30, random_state=0, solver="dask")
    Xi, Xb = m.collocation_points()
    lap = {(2, 0): -1.0, (0, 2): -1.0}
    cache = {}
    m.fit_linear([(Xi, lap, _f), (Xb, {(0, 0): 1.0}, _u)], reuse=cache)
    first = m.predict(X_TEST)
    assert not m.factor_reused_ and isinstance(cache["factor"], cluster.DaskFactor)
    m.fit_linear([(Xi, lap, lambda X: 3 * _f(X)), (Xb, {(0, 0): 1.0}, lambda X: 3 * _u(X))],
                 reuse=cache)
    assert m.factor_reused_ and set(m.timings_) == {"row assembly", "replay", "rounding floor"}
    assert _rel(m.predict(X_TEST), 3 * first) <= 1e-10


def test_every_fit_works_with_dask(dask_client):
    x = np.linspace(0, 1, 80)[:, None]
    for fit in ("fit", "fit_function"):
        a = RFM([(0.0, 1.0)], subdomains=3, features=20, random_state=0, solver="dask")
        b = RFM([(0.0, 1.0)], subdomains=3, features=20, random_state=0,
                solver="multifrontal")
        args = (x, np.sin(3 * x[:, 0])) if fit == "fit" else (lambda X: np.sin(3 * X[:, 0]),)
        getattr(a, fit)(*args)
        getattr(b, fit)(*args)
        assert a.solver_ == "dask" and _rel(a.predict(x), b.predict(x)) <= 1e-10
    nl = RFM([(0.0, 1.0)], subdomains=2, features=20, random_state=0, solver="dask")
    nl.fit_nonlinear([(x, lambda X, D: -D[(2,)] + D[(0,)] ** 3 - np.sin(X[:, 0]) ** 3
                       - np.sin(X[:, 0]), [(0,), (2,)]),
                      (np.array([[0.0], [1.0]]), lambda X, D: D[(0,)] - np.sin(X[:, 0]),
                       [(0,)])])
    assert nl.solver_ == "dask" and _rel(nl.predict(x), np.sin(x[:, 0])) < 1e-6
    # a mean constraint couples every cell: solved in this process, with a warning
    mn = RFM([(0.0, 1.0)], subdomains=3, features=20, random_state=0, solver="dask")
    with pytest.warns(RuntimeWarning, match="solver='dask' cannot split"):
        mn.fit_linear([(x, {(2,): -1.0}, lambda X: np.pi ** 2 * np.cos(np.pi * X[:, 0])),
                       (np.array([[0.0], [1.0]]), {(1,): 1.0}, 0.0)], mean={0: 0.0})
    assert mn.solver_ == "banded"
    assert _rel(mn.predict(x), np.cos(np.pi * x[:, 0])) < 1e-6


def test_workers_that_cannot_import_rankcore(dask_client, monkeypatch):
    monkeypatch.setattr(cluster, "WORKER_MODULES", ("rankcore_no_such_module",))
    m = RFM(BOX, subdomains=2, features=10, random_state=0, solver="dask")
    with pytest.raises(ImportError, match="Dask workers cannot import rankcore"):
        m.fit_poisson(_f, _u)
    assert not hasattr(m, "coef_")


def test_a_front_larger_than_a_worker_is_refused_before_the_work(dask_client, monkeypatch):
    info = dask_client.scheduler_info()
    small = {**info, "workers": {a: {**w, "memory_limit": 2**20}
                                 for a, w in info["workers"].items()}}
    monkeypatch.setattr(dask_client, "scheduler_info", lambda *a, **k: small)
    m = RFM(BOX, subdomains=4, features=40, random_state=0, solver="dask")
    with pytest.raises(FrontTooLarge, match=r"needs up to .* GiB.*Dask worker"):
        m.fit_poisson(_f, _u)
    assert not hasattr(m, "coef_")


def test_a_front_larger_than_the_machine_is_refused(monkeypatch):
    monkeypatch.setattr(multifrontal, "physical_memory", lambda: 2**20)
    m = RFM(BOX, subdomains=6, features=40, random_state=0, solver="multifrontal")
    with pytest.raises(FrontTooLarge, match=r"largest front .* needs up to 0\.\d+ GiB"):
        m.fit_poisson(_f, _u)
    assert not hasattr(m, "coef_")


def test_plan_bounds_every_front():
    m = RFM(BOX, subdomains=6, features=20, random_state=0).fit_poisson(_f, _u)
    from rankcore.rfm import assembly as asm
    from rankcore.rfm.equations import normalize_blocks
    Xi, Xb = m.collocation_points()
    blocks = normalize_blocks([(Xi, {(2, 0): -1.0, (0, 2): -1.0}, _f),
                               (Xb, {(0, 0): 1.0}, _u)], 2, 1, m._check_points)
    rows, bl, vals, rhs, n_rows = asm.stack([asm.linear_rows(m.basis_, b, 1) for b in blocks])
    plan = Plan(rows, bl, n_rows, 36, m.basis_.cell_index, 20)
    seen = []
    orig = multifrontal.FrontGroup.eliminate

    from rankcore.rfm import fronts
    real = fronts.staircase_qr

    def spy(F, lead, width, panels=None):
        seen.append(F.nbytes)
        return real(F, lead, width, panels)
    fronts.staircase_qr = spy
    try:
        plan.group(range(plan.n_nodes), rows, bl, vals, rhs).eliminate()
    finally:
        fronts.staircase_qr = real
    assert orig is multifrontal.FrontGroup.eliminate
    assert len(seen) == plan.n_nodes
    assert all(b <= bound for b, bound in zip(seen, plan.front_bytes))
    assert max(seen) >= 0.3 * plan.front_bytes.max()   # a bound, not a wild guess


def test_no_client_is_a_clear_error():
    code = ("import numpy as np\n"
            "from rankcore.rfm import RFM\n"
            "m = RFM([(0, 1)], subdomains=2, features=10, random_state=0, solver='dask')\n"
            "try:\n"
            "    m.fit_function(lambda X: np.sin(X[:, 0]))\n"
            "except RuntimeError as e:\n"
            "    print('ERR', e)\n"
            "print('coef' in vars(m) or hasattr(m, 'coef_'))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert "ERR solver='dask' runs on the workers of the current dask.distributed " \
           "client, but none is running" in res.stdout, res.stdout + res.stderr
    assert res.stdout.strip().endswith("False")


def test_a_worker_lost_mid_solve_is_an_error_not_a_hang():
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=":0") as lc, Client(lc, set_as_default=False) as c:
        pids = c.run(os.getpid)
        m = RFM(BOX, subdomains=10, features=90, random_state=0, solver="dask")
        box = {}

        def fit():
            try:
                with c.as_current():
                    m.fit_poisson(_f, _u)
            except BaseException as exc:  # noqa: BLE001 - reported below
                box["error"] = exc
        th = threading.Thread(target=fit)
        th.start()
        deadline = time.monotonic() + 60
        victim = None
        while time.monotonic() < deadline and victim is None:
            busy = {w: t for w, t in c.processing().items() if any("_eliminate" in k for k in t)}
            victim = next(iter(busy), None)
            time.sleep(0.01)
        assert victim is not None, "the elimination never started"
        os.kill(pids[victim], signal.SIGKILL)
        th.join(120)
        assert not th.is_alive(), "the solve hung after a worker was lost"
    assert isinstance(box.get("error"), RuntimeError), box
    assert "worker was probably lost" in str(box["error"])
    assert not hasattr(m, "coef_")


def test_time_slabs_with_dask_through_the_top_level_name(dask_client):
    import rankcore
    g = np.linspace(0, 1, 20)
    T, Xx = np.meshgrid(g, g[1:-1])
    Xi = np.stack([Xx.ravel(), T.ravel()], 1)
    sides = np.concatenate([np.stack([np.zeros(20), g], 1), np.stack([np.ones(20), g], 1)])
    ic = np.stack([g, np.zeros(20)], 1)
    u = lambda X: np.exp(-np.pi ** 2 * X[:, 1]) * np.sin(np.pi * X[:, 0])  # noqa: E731
    eqs = [(Xi, {(0, 1): 1.0, (2, 0): -1.0}, 0.0), (sides, {(0, 0): 1.0}, 0.0),
           (ic, {(0, 0): 1.0}, u)]
    kw = dict(box=BOX, subdomains=(2, 1), features=30, random_state=0)
    dk = rankcore.RFM(solver="dask", **kw).fit_time_slabs(eqs, 2)
    mf = rankcore.RFM(solver="multifrontal", **kw).fit_time_slabs(eqs, 2)
    assert [c.solver_ for c in dk.slab_models_] == ["dask", "dask"]
    Xt = np.random.default_rng(2).uniform(0, 1, (500, 2))
    assert _rel(dk.predict(Xt), mf.predict(Xt)) <= 1e-10
    assert "front QR" in dk.timings_
