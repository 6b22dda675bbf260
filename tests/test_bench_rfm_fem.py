"""bench/rfm_fem.py stays correct: problem data, the FEM side, the RFM side, the table.

The FEM checks are sharp enough to catch a wrong assembly, a wrong boundary
treatment, a wrong cubic tetrahedron or a wrong error measure: P3 is exact to
rounding on cubic solutions, P2 converges at its h^3 rate in L2, and the
bench's own point location gives the values skfem's ``probes`` gives.  All at
tiny sizes (the whole file runs in a few seconds).  scikit-fem is imported
normally: it is in the ``test`` extra.
"""

import contextlib
import io

import numpy as np
import pytest

from _bench import load_bench
import skfem




@pytest.fixture(scope="module")
def bench():
    return load_bench("rfm_fem")


def _laplacian(u, X, h=1e-4):
    d = X.shape[1]
    out = np.zeros(len(X))
    for a in range(d):
        e = np.zeros(d)
        e[a] = h
        out += (u(X + e) - 2 * u(X) + u(X - e)) / h ** 2
    return out


@pytest.mark.parametrize("name", ["poisson2d", "poisson3d", "helmholtz2d"])
def test_right_hand_sides_match_the_exact_solutions(bench, name):
    prob = bench.PROBLEMS[name]
    X = np.random.default_rng(0).uniform(0.05, 0.95, (200, prob.d))
    lhs = -_laplacian(prob.u_pts, X) - prob.k2 * prob.u_pts(X)
    rhs = prob.f_pts(X)
    assert np.abs(lhs - rhs).max() < 1e-4 * max(1.0, np.abs(rhs).max())


def test_helmholtz_data_is_as_documented(bench):
    # k = 40, f != 0, and k^2 is not a Dirichlet eigenvalue pi^2 (m^2 + n^2) of the square
    assert bench.HELM_K == 40.0
    assert bench.HELM_K1 ** 2 + bench.HELM_K2 ** 2 != bench.HELM_K ** 2
    eig = np.pi ** 2 * np.add.outer(np.arange(1, 30) ** 2, np.arange(1, 30) ** 2)
    gap = np.abs(eig - bench.HELM_K ** 2).min()
    assert 1.0 < gap < 1.2                           # 162 pi^2 = 1598.88 (m = n = 9)


@pytest.mark.parametrize("d", [2, 3])
def test_p3_is_exact_on_cubic_solutions(bench, d):
    # P3 (skfem's triangle, the bench's own tetrahedron) reproduces a cubic exactly;
    # a wrong basis function, gradient or edge-DOF orientation breaks this
    if d == 2:
        u = lambda x, y: x ** 3 + x * y * y - 2 * y ** 3 + 1
        f = lambda x, y: -(6 * x + 2 * x - 12 * y)
    else:
        u = lambda x, y, z: x ** 3 + x * y * z + y ** 2 * z - 2 * z ** 3 + 1
        f = lambda x, y, z: -(6 * x + 2 * z - 12 * z)
    prob = bench.Problem("cubic", d, u, f, 0.0, "cubic")
    basis, sol = bench.fem_solve(prob, 3, bench.fem_mesh(d, 3))
    assert basis.N == bench.fem_ndofs(d, 3, 3)
    assert bench.fem_error(prob, basis, 3, sol) < 1e-12
    # P2 is not exact on it: the check above can fail
    basis, sol = bench.fem_solve(prob, 2, bench.fem_mesh(d, 3))
    assert bench.fem_error(prob, basis, 3, sol) > 1e-5


def test_fem_p2_converges_at_its_rate(bench):
    prob = bench.PROBLEMS["poisson2d"]
    errs = []
    for N in (8, 16):
        basis, sol = bench.fem_solve(prob, 2, bench.fem_mesh(2, N))
        errs.append(bench.fem_error(prob, basis, N, sol))
    assert 5e-3 < errs[0] < 1.5e-2                  # measured 8.6e-3
    assert 6.0 < errs[0] / errs[1] < 10.0           # L2 error ~ h^3


def test_helmholtz_fem_assembles_the_mass_term(bench):
    # P3 on 48^2 cells: measured 5.8e-3 (without the -k^2 u v term: 0.93)
    prob = bench.PROBLEMS["helmholtz2d"]
    basis, sol = bench.fem_solve(prob, 3, bench.fem_mesh(2, 48))
    assert bench.fem_error(prob, basis, 48, sol) < 2e-2


@pytest.mark.parametrize("d,p", [(2, 3), (3, 2), (3, 3)])
def test_probe_matrix_matches_skfem_probes(bench, d, p):
    N = 3
    basis = skfem.Basis(bench.fem_mesh(d, N), bench.fem_element(d, p))
    v = np.random.default_rng(1).standard_normal(basis.N)
    X = np.random.default_rng(2).uniform(0, 1, (50, d))
    X[0] = 0.0
    X[1] = 1.0                                      # corners: the clip in _cell_ids
    ours = bench.probe_matrix(basis, N, X) @ v
    theirs = basis.probes(X.T) @ v
    assert np.allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:ill-conditioned least-squares")
def test_rfm_configuration_reaches_small_errors(bench):
    prob = bench.PROBLEMS["poisson2d"]
    X = bench.error_points(2)
    m = bench.rfm_fit(prob, 1, 200)
    assert bench.rel_l2(m.predict(X), prob.u_pts(X)) < 1e-6      # measured 1e-7
    prob = bench.PROBLEMS["helmholtz2d"]
    m = bench.rfm_fit(prob, 2, 400, 1.0)
    assert bench.rel_l2(m.predict(X), prob.u_pts(X)) < 1e-3      # measured 1e-4


def test_fastest_reaching_picks_the_fastest_run_at_or_below_the_level(bench):
    runs = [dict(time=0.5, error=3e-5, config="a"), dict(time=0.1, error=2e-3, config="b"),
            dict(time=0.3, error=1e-4, config="c"), dict(time=2.0, error=1e-9, config="d"),
            dict(time=1.0, error=5e-7, config="e")]
    assert bench.fastest_reaching(runs, 1e-4)["config"] == "c"     # error == level counts
    assert bench.fastest_reaching(runs, 1e-6)["config"] == "e"
    assert bench.fastest_reaching(runs, 1e-8)["config"] == "d"
    assert bench.fastest_reaching(runs, 1e-10) is None
    assert bench.fastest_reaching([], 1e-4) is None
    assert bench.best_error(runs) == 1e-9


def test_table_rows_and_ratio(bench):
    rfm = [dict(time=0.01, error=1e-7, config="n=1 J=200"),
           dict(time=0.05, error=1e-9, config="n=2 J=200")]
    results = {"RFM": rfm,
               "FEM P1": [dict(time=0.2, error=1e-3, config="N=8")],
               "FEM P2": [dict(time=0.5, error=5e-5, config="N=16")],
               "FEM P3": [dict(time=0.3, error=2e-5, config="N=8"),
                          dict(time=4.0, error=5e-7, config="N=32")]}
    lines = bench.table(bench.PROBLEMS["poisson2d"], results)
    assert len(lines) == 2 + 4 + 1
    assert "not reached (best e=1.0e-03)" in lines[3]
    ratio = [c.strip() for c in lines[-1].split("|")[1:]]
    assert ratio == ["30.0x", "400.0x", "no FEM order reached"]
    results["RFM"] = [dict(time=0.01, error=1e-2, config="n=1 J=50")]
    ratio = [c.strip() for c in bench.table(None, results)[-1].split("|")[1:]]
    assert ratio == ["RFM not reached", "RFM not reached", "neither reached"]


def test_quick_run_prints_the_table(bench):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        bench.main(["--quick", "--only", "poisson2d", "--repeats", "1"])
    text = out.getvalue()
    assert "loadavg" in text and "threads 2" in text
    assert "FEM/RFM" in text
    row = next(line for line in text.splitlines() if line.startswith("FEM/RFM"))
    first = row.split("|")[1].strip()
    assert first.endswith("x")                      # quick P3 reaches 1e-4 on 16^2 cells
