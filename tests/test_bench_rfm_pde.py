"""bench/rfm_pde.py stays correct: exact problem data, and the rankcore side runs.

The benchmark's right-hand sides are derived with sympy; here they are checked
against finite differences of the exact solutions at every block's points, so a
wrong sign or a missing term in a problem definition fails.  The rankcore side
is run on the cheapest problems (quick sizes) through the public API, so a
change of that API that breaks the benchmark fails here too.
"""


import numpy as np
import pytest

from _bench import load_bench



@pytest.fixture(scope="module")
def bench():
    return load_bench("rfm_pde")


def _derivative(u, X, alpha, h):
    """Central differences of order <= 2 of a vectorised function."""
    axes = [i for i, k in enumerate(alpha) for _ in range(k)]
    if not axes:
        return u(X)
    e = [np.eye(X.shape[1])[i] * h for i in axes]
    if len(axes) == 1:
        return (u(X + e[0]) - u(X - e[0])) / (2 * h)
    return (u(X + e[0] + e[1]) - u(X + e[0] - e[1]) - u(X - e[0] + e[1])
            + u(X - e[0] - e[1])) / (4 * h * h)


@pytest.mark.parametrize("name", ["helm1d", "helm2d", "advdiff", "heat", "heat_march",
                                  "elasticity", "stokes", "nonlinear", "poisson3d"])
def test_right_hand_sides_match_the_exact_solution(bench, name):
    prob = bench.make_problem(name, quick=True)
    h = 1e-4 * max(hi - lo for lo, hi in prob.box)
    for i, block in enumerate(prob.block_fn(prob.box)):
        X = block["X"][::7]
        rhs = block["rhs"][::7]
        if "nonlinear" in block:      # -Lap u + u^3 = f
            u = prob.exact[0]
            lhs = sum(-_derivative(u, X, a, h) for a in [(2, 0), (0, 2)]) + u(X) ** 3
        else:
            lhs = 0.0
            for (c, alpha), coef in block["terms"].items():
                cf = coef[::7] if np.ndim(coef) else coef
                lhs = lhs + cf * _derivative(prob.exact[c], X, alpha, h)
        scale = max(1.0, float(np.abs(rhs).max()))
        assert np.abs(lhs - rhs).max() < 1e-4 * scale, (name, i)


def test_finite_difference_check_would_catch_a_wrong_term(bench):
    # the check above is sharp enough: dropping the -10 u term of helm1d fails it
    prob = bench.make_problem("helm1d", quick=True)
    block = prob.block_fn(prob.box)[0]
    X, u = block["X"], prob.exact[0]
    h = 8e-4
    only_second = _derivative(u, X, (2,), h)
    assert np.abs(only_second - block["rhs"]).max() > 1e-2 * np.abs(block["rhs"]).max()


@pytest.mark.parametrize("name, tol", [("helm1d", 1e-8), ("heat_slabs", 1e-5),
                                       ("nonlinear", 1e-6)])
def test_rankcore_side_solves_quick_problems(bench, name, tol):
    prob = bench.make_problem(name, quick=True, size={
        "helm1d": None, "heat_slabs": ((2, 1), 100, (16, 40)),
        "nonlinear": ((2, 2), 100, (14, 14))}[name])
    predict, seconds, info = bench.run_problem(bench.RankcoreSide(1), prob)
    Xt = bench.test_points(prob.box, 41)
    U = np.stack([u(Xt) for u in prob.exact], axis=1)
    err = np.linalg.norm(predict(Xt) - U) / np.linalg.norm(U)
    assert err < tol, (name, err)
    assert seconds > 0
    if name == "nonlinear":
        assert 1 <= info["iters"] <= 30


def test_worker_draws_several_seeds_and_times_short_problems_repeatedly(bench):
    # --seeds: one error per draw, the first the timed one, the draws differ;
    # a sub-second problem is timed more than repeats - 1 times
    r = bench.worker(dict(problem="helm1d", quick=True, repeats=2, seeds=3, lib="rankcore",
                          threads=1))
    assert len(r["l2_seeds"]) == 3 and r["l2_seeds"][0] == r["rel_l2"]
    assert len(set(r["l2_seeds"])) == 3 and max(r["l2_seeds"]) < 1e-6
    # the timing loop's rule (whatever the machine's speed): at least
    # repeats - 1 timed solves, then on until 1 s in all or 20 solves
    assert 1 <= r["n_timed"] <= 20
    assert r["n_timed"] == 20 or r["timed_total_s"] >= bench.MIN_TIMED_S
    # the ratio table's test: identical samples are not told apart, disjoint
    # ones of 5 are (exact two-sided p = 2/252)
    assert bench.mann_whitney_p([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) > 0.9
    assert bench.mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)


@pytest.mark.parametrize("flag", ["--seeds", "--repeats", "--threads", "--timeout"])
def test_bad_counts_are_refused_naming_the_flag(bench, flag, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["rfm_pde.py", flag, "0"])
    with pytest.raises(SystemExit):
        bench.main()
    assert f"{flag} must be a positive integer, got 0" in capsys.readouterr().err


def test_heat_march_repeats_its_points_in_every_slab_and_rankcore_reuses(bench):
    prob = bench.make_problem("heat_march", quick=True)
    K = prob.slabs
    edges = np.linspace(prob.box[-1][0], prob.box[-1][1], K + 1)
    blocks = prob.block_fn(prob.box)
    for b in blocks:
        X = b["X"]
        if np.all(X[:, -1] == edges[0]):   # the initial condition: slab 0 only
            continue
        part = bench.slab_index(edges, X[:, -1])
        first = X[part == 0]
        for k in range(1, K):
            Xk = X[part == k] - np.array([0.0, edges[k]])
            assert Xk.shape == first.shape
            assert np.abs(Xk - first).max() < 1e-14
    predict, seconds, info = bench.run_problem(bench.RankcoreSide(1), prob)
    assert info["reused"] == K - 1          # every slab after the first
    Xt = bench.test_points(prob.box, 41)
    err = np.linalg.norm(predict(Xt)[:, 0] - prob.exact[0](Xt)) / np.linalg.norm(prob.exact[0](Xt))
    assert err < 1e-6, err
    # heat_slabs cuts one grid unevenly: no slab can reuse
    info = bench.run_problem(bench.RankcoreSide(1), bench.make_problem(
        "heat_slabs", quick=True, size=((2, 1), 100, (16, 40))))[2]
    assert info["reused"] == 0


@pytest.mark.parametrize("name", ["helm1d", "heat_march", "stokes", "nonlinear"])
def test_memory_floor_runs_a_tiny_solve_of_every_kind(bench, name, monkeypatch):
    # the floor's tiny problem takes the same path as the real one (scalar,
    # slabs, a system with a one-point block, Gauss-Newton) on 40 points per
    # block, one cell and 4 features
    seen = []
    real = bench.run_problem

    def spy(side, prob):
        blocks = prob.block_fn(prob.box)
        seen.append((prob.features, prob.sub, prob.slabs, [b["X"].shape[0] for b in blocks]))
        return real(side, prob)
    monkeypatch.setattr(bench, "run_problem", spy)
    mb = bench.floor_mb(bench.RankcoreSide(1), bench.make_problem(name, quick=True))
    assert np.isfinite(mb) and mb > 0
    (features, sub, slabs, sizes), = seen
    assert features == 4 and set(sub) == {1} and slabs == 0 and max(sizes) <= 40
