"""Assembly of RFM systems in pair storage: pair kernel, chunks, stacking, memory.

The pair kernel (``_kernels.evaluate_pairs``) is checked against the loop
reference of ``tests/naive.py``; chunked assembly must give exactly the rows
of the one-piece assembly; ``stack`` must free its input as it goes, which
is what keeps the solve's peak memory near one copy of the system.
"""

import math
import tracemalloc

import numpy as np
import pytest

import naive
from rankcore import RFM, activations
from rankcore.rfm import assembly
from rankcore.rfm.basis import Basis
from rankcore.rfm.equations import LinearBlock


def _model(d=2, components=1, **kw):
    m = RFM([(0.0, 1.0)] * d, subdomains=2, features=6, random_state=3,
            components=components, **kw)
    m._setup()
    return m


def _basis(d):
    """The basis of a 2^d-cell model; for d = 4 (beyond RFM's boxes, still a
    valid Basis) built directly, to reach the kernel's general loops."""
    if d <= 3:
        return _model(d).basis_
    return Basis(np.array([[0.0, 1.0]] * d), (2,) * d, 6, "b", "tanh", 0.3,
                 np.random.default_rng(3))


def _unit(d, *axes):
    a = [0] * d
    for i in axes:
        a[i] += 1
    return tuple(a)


def _every_alpha(d):
    """The value, every first derivative, every pure and mixed second one."""
    return [(0,) * d] + [_unit(d, i) for i in range(d)] + \
        [_unit(d, i, k) for i in range(d) for k in range(i, d)]


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_pair_values_match_the_naive_reference_and_write_only_their_columns(d):
    # d <= 3 runs the written-out kernel (_features_upto3), d = 4 the loops;
    # every first derivative, every pure and mixed second derivative
    b = _basis(d)
    rng = np.random.default_rng(0)
    X = np.ascontiguousarray(rng.uniform(0, 1, (40, d)))
    sub, _ = b.touching(X)
    alphas = _every_alpha(d)
    coef = rng.uniform(-1, 1, (len(alphas), X.shape[0]))
    want = naive.rfm_evaluate_terms(X, sub, b.centers, b.radii, b.weights, b.biases,
                                    b.clamp, activations.get("tanh"), "b", alphas, coef)
    rows, cells, vals = b.pair_values(X, sub, list(zip(alphas, coef)))
    mask = sub >= 0
    np.testing.assert_array_equal(rows, np.nonzero(mask)[0])
    np.testing.assert_array_equal(cells, sub[mask])
    np.testing.assert_allclose(vals, want[mask], rtol=1e-12, atol=1e-12 * np.abs(want).max())
    # into columns 6..11 of a wider array: the other columns keep their values
    out = np.full((rows.size, 18), 7.0)
    _, _, same = b.pair_values(X, sub, list(zip(alphas, coef)), out=out, col=6)
    assert same is out
    np.testing.assert_array_equal(out[:, 6:12], vals)
    assert np.all(out[:, :6] == 7.0) and np.all(out[:, 12:] == 7.0)


@pytest.mark.parametrize("components", [1, 2])
def test_chunked_rows_are_the_rows_of_the_whole_block(components):
    m = _model(2, components)
    rng = np.random.default_rng(1)
    N = 53
    X = np.ascontiguousarray(rng.uniform(0, 1, (N, 2)))
    terms = [(0, (2, 0), rng.uniform(1, 2, N)), (components - 1, (0, 1), rng.uniform(-1, 1, N)),
             (0, (0, 0), np.full(N, 3.0))]
    block = LinearBlock(X, terms, rng.uniform(-1, 1, N), 2.5, 0)
    whole = assembly.stack([assembly.linear_rows(m.basis_, block, components)])
    parts = assembly.linear_row_chunks(m.basis_, block, components, chunk=10)
    assert len(parts) == 6
    chunked = assembly.stack(parts)
    assert parts == []  # consumed
    for a, b in zip(whole, chunked):
        np.testing.assert_array_equal(a, b)


def test_stack_of_nothing_and_of_differently_sized_systems():
    R, B, V, b, n = assembly.stack([])
    assert (R.shape, V.shape, b.shape, n) == ((0,), (0, 0), (0,), 0)
    s1 = (np.array([0, 0]), np.array([0, 1]), np.ones((2, 3)), np.array([1.0]))
    s2 = (np.array([1]), np.array([1]), np.full((1, 3), 2.0), np.array([4.0, 5.0]))
    R, B, V, b, n = assembly.stack([s1, s2])
    assert R.tolist() == [0, 0, 2] and B.tolist() == [0, 1, 1] and n == 3
    assert b.tolist() == [1.0, 4.0, 5.0] and V[2].tolist() == [2.0, 2.0, 2.0]


def test_fit_linear_peak_memory_stays_near_one_copy_of_the_system():
    """The allocations of one solve stay below 5 copies of the pair-stored system.

    Measured 3.8 copies (2026-11-27; the fronts of the banded QR are most of
    it).  Before the pair kernel, chunked assembly, the consuming stack and
    compact front pieces it was 9.0: an (N, 4, J) array per block, the
    system held twice and every front's panel kept alive by a view.
    """
    m = RFM([(0.0, 1.0)] * 2, subdomains=2, features=150, scale=1.0, random_state=0)
    n = 40
    g = (np.arange(n) + 0.5) / n
    X = np.stack([a.ravel() for a in np.meshgrid(g, g, indexing="ij")], axis=1)
    t = np.linspace(0, 1, 4 * n)
    B = np.concatenate([np.c_[t, 0 * t], np.c_[t, 0 * t + 1], np.c_[0 * t, t], np.c_[0 * t + 1, t]])
    eqs = [(X, {(2, 0): -1.0, (0, 2): -1.0}, np.ones(len(X))), (B, {(0, 0): 1.0}, np.zeros(len(B)))]
    m.fit_linear(eqs)  # compile and warm up
    sub, _ = m.basis_.touching(np.ascontiguousarray(X))
    system_bytes = int(np.count_nonzero(sub >= 0)) * 150 * 8
    tracemalloc.start()
    try:
        m.fit_linear(eqs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5.0 * system_bytes, (peak / system_bytes, peak, system_bytes)


def test_banded_private_row_triangles_give_the_dense_solution(monkeypatch):
    """Fronts whose private rows are between J + 1 and 2 (J + 1) are reduced too.

    The reduction (``dgeqrf`` of the private rows before the front) is a
    reordering of Householder QR: the banded solution must match the dense one.
    """
    from rankcore.rfm import lstsq

    calls = []

    class Spy:
        def __getattr__(self, name):
            f = getattr(lstsq.__dict__["_lapack_real"], name)
            if name == "dgeqrf":
                def wrapped(a, *args, **kw):
                    calls.append(a.shape)
                    return f(a, *args, **kw)
                return wrapped
            return f

    monkeypatch.setitem(lstsq.__dict__, "_lapack_real", lstsq.lapack)
    monkeypatch.setattr(lstsq, "lapack", Spy())
    u = lambda x: np.sin(np.pi * x[:, 0]) * np.cos(x[:, 1])  # noqa: E731
    f = lambda x: (np.pi ** 2 + 1) * u(x)  # noqa: E731
    coefs = {}
    for solver in ("banded", "dense"):
        m = RFM([(0.0, 1.0)] * 2, subdomains=2, features=30, scale=1.0, solver=solver,
                random_state=0).fit_poisson(f, u, points=7)
        coefs[solver] = m.coef_
    heads = [s for s in calls if s[1] == 31]  # (private rows, J + 1) panels
    assert heads and all(31 < s[0] <= 62 for s in heads), calls
    np.testing.assert_allclose(coefs["banded"], coefs["dense"], rtol=1e-6,
                               atol=1e-8 * np.abs(coefs["dense"]).max())


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_components_in_one_pass_equal_one_component_at_a_time(d):
    b = _basis(d)
    rng = np.random.default_rng(4)
    X = np.ascontiguousarray(rng.uniform(0, 1, (30, d)))
    sub, _ = b.touching(X)
    alphas = _every_alpha(d)
    terms = [(a, rng.uniform(-1, 1, 30)) for a in alphas]
    # every kind of term in both components 0 and 2; component 1 has none
    comps = [2 * (k % 2) for k in range(len(terms))]
    comps = comps + [2 - c for c in comps]
    terms = terms + [(a, rng.uniform(-1, 1, 30)) for a in alphas]
    _, _, vals = b.pair_values(X, sub, terms, comps=comps, ncomp=3)
    J = b.features
    for c in range(3):
        mine = [t for t, cc in zip(terms, comps) if cc == c]
        want = b.pair_values(X, sub, mine)[2] if mine else 0.0
        np.testing.assert_allclose(vals[:, c * J:(c + 1) * J], want, rtol=1e-13, atol=1e-13)


def test_tanh_kernel_values_and_derivatives_to_full_accuracy():
    # the kernel's tanh comes from exp(-2|z|): the value within a few
    # ulps absolute, the derivatives 1 - tanh^2 = 4e/(1+e)^2 and
    # -2 tanh (1 - tanh^2) to relative accuracy even where 1 - tanh^2
    # would cancel to zero (|z| > 19)
    from rankcore.rfm._kernels import _act
    z = np.concatenate([np.linspace(-30, 30, 601), [0.0, 1e-300, -1e-12, 1e-8]])
    for zi in z:
        s, d1, d2 = _act(float(zi), 0)
        assert abs(s - math.tanh(zi)) <= 4.5e-16
        sech2 = 1.0 / math.cosh(zi) ** 2
        assert abs(d1 - sech2) <= 4e-15 * sech2
        assert abs(d2 + 2 * math.tanh(zi) * sech2) <= 1e-14 * sech2 + 1e-300
