"""bridge.nets: MLP, modified MLP, PirateNet."""

import numpy as np
import pytest
import torch
from torch import nn

import bridge
from bridge.nets import MLP, ModifiedMLP, PirateNet, make_activation, activation_name


@pytest.mark.parametrize("make,d,o", [
    (lambda: MLP(3, 2, 8, 3, "relu"), 3, 2),
    (lambda: ModifiedMLP(2, 4, 8, 3, "gelu"), 2, 4),
    (lambda: PirateNet(2, 1, 8, 2, "tanh"), 2, 1),
    (lambda: PirateNet(1, 3, 8, 1, "sin", embedding="fourier", fourier_scale=2.0), 1, 3),
    (lambda: ModifiedMLP(1, 1, 5, 1), 1, 1),
])
def test_forward_shapes_and_last_hidden(make, d, o):
    torch.manual_seed(0)
    net = make()
    x = torch.randn(7, d)
    assert net(x).shape == (7, o)
    mods = dict(net.named_modules())
    feats = {}
    mods[net.last_hidden].register_forward_hook(lambda m, a, out: feats.__setitem__("f", out))
    y = net(x)
    # the last hidden features are the input of the final nn.Linear
    torch.testing.assert_close(net.out(feats["f"]), y)
    assert bridge.default_layer(net) == net.last_hidden == "features"
    assert net.out.in_features == feats["f"].shape[1]


def test_mlp_structure_and_default_init():
    torch.manual_seed(0)
    net = MLP(1, 1, 64, 3, "tanh")
    lins = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(lins) == 4
    for m in lins:
        assert torch.all(m.bias == 0)
    std = net.hidden[2].weight.std().item()
    assert abs(std - np.sqrt(2 / 128)) < 0.02  # Xavier normal
    assert isinstance(net.hidden[1], nn.Tanh) and net.activation == "tanh"


def test_modified_mlp_matches_manual_formula():
    torch.manual_seed(1)
    net = ModifiedMLP(2, 1, 6, 3, "tanh").double()
    x = torch.randn(5, 2, dtype=torch.float64)
    s = torch.tanh
    U = s(x @ net.encoder_u.weight.T + net.encoder_u.bias)
    V = s(x @ net.encoder_v.weight.T + net.encoder_v.bias)
    H = s(x @ net.input_layer.weight.T + net.input_layer.bias)
    for g in net.gates:
        Z = s(H @ g.weight.T + g.bias)
        H = (1 - Z) * U + Z * V
    expected = H @ net.out.weight.T + net.out.bias
    torch.testing.assert_close(net(x), expected)
    assert len(net.gates) == 2


def test_pirate_alpha_zero_trainable_and_formula():
    torch.manual_seed(2)
    net = PirateNet(2, 1, 6, 2, "tanh").double()
    alphas = [b.alpha for b in net.blocks]
    names = {n for n, _ in net.named_parameters()}
    assert {"blocks.0.alpha", "blocks.1.alpha"} <= names
    for a in alphas:
        assert a.item() == 0.0 and a.requires_grad
    x = torch.randn(4, 2, dtype=torch.float64)
    # at alpha = 0 the blocks are the identity: out = W phi + b
    phi = torch.tanh(net.embedding[0](x))
    torch.testing.assert_close(net(x), net.out(phi))
    # with alpha != 0 the PirateNet block formula (Wang, Li, Chen and Perdikaris 2024)
    with torch.no_grad():
        for b in net.blocks:
            b.alpha.fill_(0.3)
    s = torch.tanh
    U = s(net.encoder_u(phi))
    V = s(net.encoder_v(phi))
    h = phi
    for b in net.blocks:
        f = s(b.dense1(h))
        z1 = f * U + (1 - f) * V
        g = s(b.dense2(z1))
        z2 = g * U + (1 - g) * V
        hh = s(b.dense3(z2))
        h = 0.3 * hh + 0.7 * h
    torch.testing.assert_close(net(x), net.out(h))
    # alpha receives a gradient
    net(x).sum().backward()
    assert all(b.alpha.grad is not None and b.alpha.grad.abs() > 0 for b in net.blocks)


def test_fourier_embedding_fixed():
    torch.manual_seed(0)
    net = PirateNet(1, 1, 8, 1, embedding="fourier", fourier_scale=3.0)
    assert "embedding.B" in dict(net.named_buffers())
    assert "embedding.B" not in dict(net.named_parameters())
    x = torch.randn(3, 1)
    z = x @ net.embedding.B.T
    torch.testing.assert_close(net.embedding(x), torch.cat([torch.cos(z), torch.sin(z)], -1))


@pytest.mark.parametrize("call,match", [
    (lambda: MLP(1, 1, 0, 2), "width"),
    (lambda: MLP(1, 1, 4, 2, "softplus"), "activation"),
    (lambda: ModifiedMLP(1, 1, 4, 0), "depth"),
    (lambda: PirateNet(1, 1, 4, 1, embedding="rff"), "embedding"),
    (lambda: PirateNet(1, 1, 5, 1, embedding="fourier"), "even"),
    (lambda: PirateNet(1, 1, 4, 1, embedding="fourier", fourier_scale=-1.0), "fourier_scale"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_activation_names_roundtrip():
    for name in ("tanh", "sigmoid", "relu", "elu", "gelu", "silu", "sin", "cos"):
        assert activation_name(make_activation(name)) == name
    assert activation_name(nn.Softplus()) is None
    assert activation_name(nn.GELU(approximate="tanh")) == "gelu"
