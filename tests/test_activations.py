"""rankcore.activations: the one activation table of the project."""

import numpy as np
import pytest

import rankcore
from rankcore import activations as A

# Points away from the kinks of relu/elu (at 0), where finite differences of
# a non-smooth function are meaningless.
Z = np.concatenate([np.linspace(-4.0, -0.05, 40), np.linspace(0.05, 4.0, 40)])


def test_table_contents():
    assert A.names() == ("tanh", "sin", "cos", "sigmoid", "relu", "elu", "gelu", "silu")
    assert [a.code for a in A.ACTIVATIONS.values()] == list(range(8))
    # the codes RFM's kernels already use
    assert (A.get("tanh").code, A.get("sin").code, A.get("cos").code) == (0, 1, 2)
    fam = {k: a.family for k, a in A.ACTIVATIONS.items()}
    assert fam == {"tanh": "sigmoidal", "sigmoid": "sigmoidal", "relu": "ramp",
                   "elu": "ramp", "gelu": "ramp", "silu": "ramp",
                   "sin": "periodic", "cos": "periodic"}
    assert A.names("periodic") == ("sin", "cos")
    assert rankcore.activations is A


@pytest.mark.parametrize("name", A.names())
def test_derivatives_match_finite_differences(name):
    act = A.get(name)
    h = 1e-5
    fd1 = (act.f(Z + h) - act.f(Z - h)) / (2 * h)
    np.testing.assert_allclose(act.df(Z), fd1, rtol=1e-7, atol=1e-8)
    fd2 = (act.df(Z + h) - act.df(Z - h)) / (2 * h)
    np.testing.assert_allclose(act.d2f(Z), fd2, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", A.names())
def test_values_dtype_and_symmetry(name):
    act = A.get(name)
    for fn in (act.f, act.df, act.d2f):
        out = fn(np.float32(0.5) * np.ones(3, np.float32))
        assert out.dtype == np.float64 and out.shape == (3,)
        assert np.ndim(fn(0.25)) == 0
    if act.odd:
        np.testing.assert_allclose(act.f(-Z), -act.f(Z), atol=1e-15)
    else:
        assert not np.allclose(act.f(-Z), -act.f(Z))
    assert act(0.3) == act.f(0.3)


def test_reference_values():
    z = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(A.get("sigmoid").f(z), 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(A.get("silu").f(z), z / (1 + np.exp(-z)))
    np.testing.assert_allclose(A.get("elu").f(z), np.where(z > 0, z, np.exp(z) - 1))
    np.testing.assert_allclose(A.get("gelu").f([0.0, 1.0]), [0.0, 0.8413447460685429])
    assert A.get("relu").df(0.0) == 0.0 and A.get("relu").d2f(2.0) == 0.0
    # ELU (alpha = 1) has a continuous first derivative at 0
    assert A.get("elu").df(-1e-12) == pytest.approx(A.get("elu").df(1e-12))
    # no overflow for large |z|
    for act in A.ACTIVATIONS.values():
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            vals = [fn(np.array([-800.0, 800.0])) for fn in (act.f, act.df, act.d2f)]
        assert all(np.all(np.isfinite(v)) for v in vals)


@pytest.mark.parametrize("alias,name", [("swish", "silu"), ("Logistic", "sigmoid"),
                                        ("SINE", "sin"), ("cosine", "cos"), ("TanH", "tanh")])
def test_aliases(alias, name):
    assert A.canonical_name(alias) == name
    assert A.get(alias) is A.ACTIVATIONS[name]
    assert A.get(A.get(alias)) is A.ACTIVATIONS[name]


@pytest.mark.parametrize("bad,exc,match", [
    ("softplus", ValueError, "activation must be one of"),
    (3, TypeError, "activation must be a string"),
    (None, TypeError, "got None"),
])
def test_bad_names(bad, exc, match):
    with pytest.raises(exc, match=match):
        A.get(bad)
    with pytest.raises(exc, match="act must"):
        A.canonical_name(bad, "act")


def test_read_only():
    with pytest.raises(TypeError):
        A.ACTIVATIONS["x"] = A.get("tanh")
    with pytest.raises(Exception):
        A.get("tanh").name = "x"
    with pytest.raises(ValueError, match="family"):
        A.names("smooth")


def test_bridge_uses_the_table():
    torch = pytest.importorskip("torch")
    from bridge.nets import activation_name, make_activation
    z = torch.linspace(-3, 3, 31, dtype=torch.float64)
    for name, act in A.ACTIVATIONS.items():
        mod = make_activation(name)
        assert activation_name(mod) == name
        np.testing.assert_allclose(mod(z).numpy(), act.f(z.numpy()), rtol=1e-12, atol=1e-14)
    assert activation_name(make_activation("swish")) == "silu"
