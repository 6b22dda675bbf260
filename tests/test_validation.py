"""The shared argument checkers of rankcore.validation."""

import numpy as np
import pytest

from rankcore.validation import (as_array, check_choice, check_int, check_random_state,
                                check_scalar)


def test_as_array_names_a_non_finite_scalar():
    with pytest.raises(ValueError, match="x must be finite, got nan"):
        as_array(np.float64("nan"), "x")
    with pytest.raises(ValueError, match=r"entry \(1, 0\) is inf"):
        as_array([[1.0, 2.0], [np.inf, 0.0]], "x")


@pytest.mark.parametrize("value, kwargs, exc, match", [
    (True, {}, TypeError, "an integer, got True"),
    (3.0, {}, TypeError, "an integer, got 3.0"),
    ("3", {}, TypeError, "an integer"),
    (0, {"minimum": 1}, ValueError, "integer >= 1, got 0"),
    (11, {"maximum": 10}, ValueError, "integer <= 10, got 11"),
    (5, {"minimum": 6, "maximum": 9}, ValueError, r"integer in \[6, 9\], got 5"),
])
def test_check_int_refuses(value, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        check_int(value, "k", **kwargs)


def test_check_int_accepts_numpy_integers_within_bounds():
    assert check_int(np.int32(7), "k", minimum=7, maximum=7) == 7
    assert type(check_int(np.int64(2), "k")) is int


@pytest.mark.parametrize("value, kwargs, exc, match", [
    (np.nan, {}, ValueError, "finite number, got nan"),
    (False, {}, TypeError, "real number, got False"),
    (0.5, {"minimum": 1.0}, ValueError, ">= 1, got 0.5"),
    (0.0, {"minimum": 0.0, "include_minimum": False}, ValueError, "> 0, got 0.0"),
    (2.0, {"maximum": 1.0}, ValueError, "<= 1, got 2.0"),
])
def test_check_scalar_refuses(value, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        check_scalar(value, "f", **kwargs)


def test_check_choice_compares_type_and_value():
    assert check_choice("qr", "solver", ("qr", "lsmr")) == "qr"
    with pytest.raises(ValueError, match=r"solver must be one of \['qr', 'lsmr'\], got 'QR'"):
        check_choice("QR", "solver", ("qr", "lsmr"))
    with pytest.raises(ValueError, match=r"flag must be one of \[0, 1\], got True"):
        check_choice(True, "flag", (0, 1))  # True == 1, but it is not a choice
    with pytest.raises(ValueError, match="got list of length 1"):
        check_choice([1], "flag", (0, 1))  # unhashable values are refused, not a crash


def test_check_random_state():
    a, b = check_random_state(5), check_random_state(np.int64(5))
    assert a.random() == b.random()
    g = np.random.default_rng(1)
    assert check_random_state(g) is g
    assert isinstance(check_random_state(None), np.random.Generator)
    with pytest.raises(ValueError, match="int >= 0"):
        check_random_state(-1)
    for bad in (True, 1.5, "0", np.random.RandomState(0)):
        with pytest.raises(TypeError, match="random_state must be None, an int >= 0"):
            check_random_state(bad)
