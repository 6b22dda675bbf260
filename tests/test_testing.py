"""rankcore.testing: the function sets and strategies offered to users."""

import numpy as np
import pytest
from hypothesis import given, settings

import rankcore
from rankcore.testing import KINDS, FunctionSet, function_set, function_sets


@pytest.mark.parametrize("kind", KINDS)
def test_function_set_is_deterministic_and_shaped(kind):
    a, qa = function_set(kind, 9, seed=3)
    b, qb = function_set(kind, 9, seed=3)
    assert a.shape == (qa.n_points, 9)
    assert np.array_equal(a, b) and np.array_equal(qa.points, qb.points)
    assert np.all(np.isfinite(a))


def test_duplicates_are_nearly_dependent_and_random_sets_are_not():
    # Near-copies: about n/3 distinct neurons, so the relative eps-rank at
    # 1e-1 cannot exceed the number of groups by much.
    phi, q = function_set("duplicates", 30, seed=0)
    lam = rankcore.spectrum_from_features(phi, q.weights)
    assert rankcore.eps_rank(lam, 1e-12, relative=True) < 30
    phi, q = function_set("poly", 8)
    lam = rankcore.spectrum_from_features(phi, q.weights)
    assert rankcore.eps_rank(lam, 1e-12, relative=True) == 8


def test_two_dimensional_sets():
    phi, q = function_set("random", 5, seed=1, dim=2)
    assert q.dim == 2 and phi.shape == (24 * 24, 5)


@settings(max_examples=15, deadline=None)
@given(function_sets(max_n=10, max_poly=6))
def test_strategy_draws_valid_sets(fs):
    assert isinstance(fs, FunctionSet) and fs.kind in KINDS
    assert fs.features.shape[0] == fs.quadrature.n_points
    assert 1 <= fs.features.shape[1] <= 10
    if fs.kind == "poly":
        assert fs.quadrature.dim == 1


@pytest.mark.parametrize("call, exc, match", [
    (lambda: function_set("gauss", 3), ValueError, "kind"),
    (lambda: function_set("random", 0), ValueError, "n"),
    (lambda: function_set("random", 2.5), TypeError, "n"),
    (lambda: function_set("random", 3, dim=3), ValueError, "dim"),
    (lambda: function_set("poly", 3, dim=2), ValueError, "poly"),
    (lambda: function_sets(kinds=()), ValueError, "kinds"),
    (lambda: function_sets(kinds=("nope",)), ValueError, "kinds"),
    (lambda: function_sets(dims=(3,)), ValueError, "dims"),
    (lambda: function_sets(max_n=0), ValueError, "max_n"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
