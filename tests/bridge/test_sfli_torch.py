"""bridge.sfli_: in-place SFLI of torch models."""

import numpy as np
import pytest
import torch
from torch import nn

import rankcore
from bridge import sfli_
from bridge.nets import MLP, ModifiedMLP, PirateNet


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_sequential_in_place_and_formula():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 20), nn.Tanh(), nn.Linear(20, 1))
    w_obj = net[0].weight
    out = sfli_(net, domain=(-1.0, 2.0))
    assert out is net and net[0].weight is w_obj  # same Parameter, data replaced
    W, b = rankcore.sfli.grid_init(20, (-1.0, 2.0), "tanh")
    np.testing.assert_allclose(net[0].weight.detach().numpy(), W, rtol=1e-6)
    np.testing.assert_allclose(net[0].bias.detach().numpy(), b, rtol=1e-6, atol=1e-5)
    assert net[0].weight.requires_grad


def test_activation_inferred_from_sequential():
    net = nn.Sequential(nn.Linear(1, 12), nn.SiLU(), nn.Linear(12, 1))
    sfli_(net, (0.0, 1.0))
    W, _ = rankcore.sfli.grid_init(12, (0.0, 1.0), "silu")
    np.testing.assert_allclose(net[0].weight.detach().numpy(), W, rtol=1e-6)


def test_activation_inferred_from_net_attribute_and_dtype_kept():
    net = MLP(1, 1, 16, 2, activation="sin").double()
    sfli_(net, (0.0, 1.0))
    W, b = rankcore.sfli.grid_init(16, (0.0, 1.0), "sin")
    assert net.hidden[0].weight.dtype == torch.float64
    np.testing.assert_array_equal(net.hidden[0].weight.detach().numpy(), W)
    np.testing.assert_array_equal(net.hidden[0].bias.detach().numpy(), b)


def test_explicit_activation_and_shape_override():
    net = nn.Sequential(nn.Linear(1, 8), nn.Tanh())
    sfli_(net, (0.0, 1.0), activation="relu", shape=3.0)
    W, _ = rankcore.sfli.grid_init(8, (0.0, 1.0), "relu", shape=3.0)
    np.testing.assert_allclose(net[0].weight.detach().numpy(), W, rtol=1e-6)


def test_bare_linear_needs_activation():
    lin = nn.Linear(2, 10)
    with pytest.raises(ValueError, match="activation must be given"):
        sfli_(lin, [(0, 1), (0, 1)])
    assert sfli_(lin, [(0, 1), (0, 1)], activation="gelu", generator=torch.Generator().manual_seed(1)) is lin


def test_generator_controls_udi():
    box = [(-1.0, 1.0), (0.0, 1.0)]
    nets = [nn.Sequential(nn.Linear(2, 16), nn.Tanh()) for _ in range(3)]
    sfli_(nets[0], box, generator=torch.Generator().manual_seed(3))
    sfli_(nets[1], box, generator=torch.Generator().manual_seed(3))
    sfli_(nets[2], box, generator=torch.Generator().manual_seed(4))
    assert torch.equal(nets[0][0].weight, nets[1][0].weight)
    assert not torch.allclose(nets[0][0].weight, nets[2][0].weight)
    # without a generator the global RNG decides, so manual_seed reproduces
    torch.manual_seed(9)
    sfli_(nets[1], box)
    torch.manual_seed(9)
    sfli_(nets[2], box)
    assert torch.equal(nets[1][0].weight, nets[2][0].weight)
    # UDI rows have norm gamma
    g = rankcore.sfli.default_shape("tanh", "udi") * 4 / (2 * np.sqrt(1.25))
    np.testing.assert_allclose(nets[0][0].weight.detach().norm(dim=1).numpy(), g, rtol=1e-6)


@pytest.mark.parametrize("make,domain,match", [
    (lambda: nn.Sequential(nn.Tanh()), (0, 1), "no nn.Linear"),
    (lambda: nn.Sequential(nn.Linear(2, 4), nn.Tanh()), (0, 1), "dimension 1 but"),
    (lambda: nn.Sequential(nn.Linear(1, 4), nn.Softplus()), (0, 1), "Softplus"),
    (lambda: nn.Sequential(nn.Linear(1, 4, bias=False), nn.Tanh()), (0, 1), "bias"),
    (lambda: nn.Sequential(nn.Linear(1, 4), nn.ELU(alpha=0.5)), (0, 1), "ELU"),
    (lambda: PirateNet(1, 1, 8, 1, embedding="fourier"), (0, 1), "embedding='dense'"),
    (lambda: nn.Sequential(nn.Linear(1, 4)), (0, 1), "cannot infer"),
    (lambda: nn.Sequential(nn.Linear(1, 4), nn.Tanh()), (1, 0), "lo < hi"),
])
def test_refusals_leave_model_untouched(make, domain, match):
    torch.manual_seed(0)
    net = make()
    before = _params(net)
    with pytest.raises(ValueError, match=match):
        sfli_(net, domain)
    assert _same(before, _params(net))


def test_refusals_other():
    net = nn.Sequential(nn.Linear(1, 4), nn.Tanh())
    before = _params(net)
    with pytest.raises(ValueError, match="activation must be one of"):
        sfli_(net, (0, 1), activation="softsign")
    with pytest.raises(ValueError, match="scheme"):
        sfli_(net, (0, 1), scheme="random")
    with pytest.raises(ValueError, match="shape"):
        sfli_(net, (0, 1), shape=0.0)
    with pytest.raises(TypeError, match="generator"):
        sfli_(net, (0, 1), generator=3)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        sfli_(np.zeros(3), (0, 1))
    assert _same(before, _params(net))


def test_modified_mlp_all_three_layers_distinct():
    torch.manual_seed(0)
    net = ModifiedMLP(1, 1, 20, 3)
    gates_before = _params(net.gates)
    sfli_(net, (-1.0, 1.0))
    W, _ = rankcore.sfli.grid_init(20, (-1.0, 1.0), "tanh")
    np.testing.assert_allclose(net.input_layer.weight.detach().numpy(), W, rtol=1e-6)
    # U and V: UDI, different draws (a shared grid would make U == V)
    assert not torch.allclose(net.encoder_u.bias, net.encoder_v.bias)
    assert _same(gates_before, _params(net.gates))


def test_pirate_dense_embedding_initialised():
    torch.manual_seed(0)
    net = PirateNet(2, 1, 16, 2)
    enc = _params(net.encoder_u)
    sfli_(net, [(-1, 1), (-1, 1)], generator=torch.Generator().manual_seed(0))
    g = rankcore.sfli.default_shape("tanh", "udi") * 4 / (2 * np.sqrt(2))
    np.testing.assert_allclose(net.embedding[0].weight.norm(dim=1).detach().numpy(), g, rtol=1e-6)
    assert _same(enc, _params(net.encoder_u))


def test_initial_eps_rank_last_hidden_sfli_vs_default():
    q = rankcore.quadrature.gauss_legendre((-1, 1), 129)
    x = torch.tensor(q.points)
    ranks = {}
    for init in ("default", "sfli"):
        torch.manual_seed(0)
        net = MLP(1, 1, 30, 3).double()
        if init == "sfli":
            sfli_(net, (-1, 1))
        with torch.no_grad():
            F = net.hidden(x).numpy()
        ranks[init] = rankcore.eps_rank(rankcore.gram(F, q.weights), 1e-4, kind="gram")
    assert ranks["default"] <= 3 and ranks["sfli"] >= 20


def test_training_smoke_sfli_faster():
    """300 full-batch Adam steps on a two-frequency 1-D fit, 3 seeds."""
    # One thread: tiny matrices, and two threads on a shared 2-core machine
    # were measured up to 6x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        final = _smoke_runs()
    finally:
        torch.set_num_threads(threads)
    # robust margin: every SFLI run at least 10x below every default run
    assert max(final["sfli"]) * 10 < min(final["default"]), final


def _smoke_runs():
    x = torch.linspace(-1, 1, 128)[:, None]
    y = torch.sin(np.pi * x) + torch.sin(4 * np.pi * x)
    final = {"default": [], "sfli": []}
    for seed in range(3):
        for init in final:
            torch.manual_seed(seed)
            net = MLP(1, 1, 20, 2)
            if init == "sfli":
                sfli_(net, (-1.0, 1.0))
            opt = torch.optim.Adam(net.parameters(), lr=3e-3)
            for _ in range(300):
                loss = ((net(x) - y) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            final[init].append(loss.item())
    return final


def test_modified_mlp_shape_applies_to_first_layer_only():
    torch.manual_seed(0)
    net = ModifiedMLP(1, 1, 20, 2)
    sfli_(net, (-1.0, 1.0), shape=3.0, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(net.input_layer.weight.detach().numpy(), 3.0 * 19 / 2, rtol=1e-6)
    gamma = rankcore.sfli.default_shape("tanh", "udi") * 20 / 2
    np.testing.assert_allclose(net.encoder_u.weight.detach().abs().numpy(), gamma, rtol=1e-6)


# -- hardening: overflowing parameters never reach the model ----------------

@pytest.mark.parametrize("domain, shape", [
    ([(-1e308, 1e308), (0.0, 1.0)], None),   # UDI radius overflows
    ([(0.0, 1.0), (0.0, 1.0)], 1e300),       # gamma * offset overflows
    ((-1e308, 1e308), None),                 # 1-D grid: b - a overflows
])
def test_overflow_is_an_error_and_model_untouched(domain, shape):
    d = 1 if isinstance(domain[0], float) else len(domain)
    net = nn.Sequential(nn.Linear(d, 8), nn.Tanh(), nn.Linear(8, 1))
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=r"overflow|finite positive length"):
        sfli_(net, domain=domain, shape=shape, generator=torch.Generator().manual_seed(0))
    for p, q in zip(net.parameters(), before):
        assert torch.equal(p, q)
        assert torch.isfinite(p).all()


def test_same_generator_seed_bit_identical():
    def draw(seed):
        net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
        sfli_(net, domain=[(0, 1), (-1, 2)], generator=torch.Generator().manual_seed(seed))
        return [p.detach().clone() for p in net[0].parameters()]
    for a, b in zip(draw(5), draw(5)):
        assert torch.equal(a, b)
    assert not torch.equal(draw(5)[0], draw(6)[0])


def _gelu_chain(seed=0, d=1):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 50), nn.GELU(), nn.Linear(50, 40), nn.GELU(),
                         nn.Linear(40, 30), nn.GELU(), nn.Linear(30, 1))


def test_later_layers_standardized_and_output_zeroed():
    import copy
    net = _gelu_chain()
    ref = copy.deepcopy(net)
    box = (-1.0, 2.0)
    sfli_(net, box)
    q = rankcore.sfli.default_quadrature(box)
    w = torch.tensor(q.weights / q.weights.sum())
    x = torch.tensor(q.points, dtype=torch.float32)
    with torch.no_grad():
        for i in (2, 4):
            H = net[:i](x).double()
            mu = w @ H
            sig = torch.sqrt(w @ (H - mu) ** 2)
            # each later hidden layer = its Xavier weights acting on standardized inputs
            torch.testing.assert_close(net[i].weight.double() * sig, ref[i].weight.double(),
                                       rtol=1e-4, atol=1e-6)
            # so its mean pre-activation over the domain is its old bias
            z = net[i](H.float()).double()
            torch.testing.assert_close(w @ z, ref[i].bias.double(), rtol=0, atol=1e-4)
        assert float(net[6].weight.abs().max()) == 0.0 and float(net[6].bias.abs().max()) == 0.0
    # without the rewrite the GELU ramps (heights ~ s (n-1)) blow the output up
    plain = _gelu_chain()
    sfli_(plain, box, later=None)
    for i in (2, 4, 6):
        assert torch.equal(plain[i].weight, ref[i].weight)
    with torch.no_grad():
        assert float(plain(x).abs().max()) > 5 * float(ref(x).abs().max())


def test_later_standardize_keeps_last_hidden_rank_tanh_2d():
    box = [(-1.0, 1.0), (-1.0, 1.0)]
    q = rankcore.sfli.default_quadrature(box)
    x = torch.tensor(q.points, dtype=torch.float32)
    ranks = {}
    for later in ("standardize", None, "xavier"):
        torch.manual_seed(0)
        net = MLP(2, 1, 50, 3, "tanh")
        if later != "xavier":
            sfli_(net, box, later=later, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            F = net.hidden(x).numpy()
        ranks[later] = int(rankcore.eps_rank(rankcore.gram(F, q.weights), 1e-3, kind="gram"))
    # measured at seed 0: 50 (standardize) vs 35 (first layer only) vs 2 (Xavier)
    assert ranks["standardize"] >= 48 and ranks["standardize"] > ranks[None] > ranks["xavier"]


def test_later_leaves_other_architectures_alone():
    torch.manual_seed(0)
    for net, untouched in ((ModifiedMLP(2, 1, 16, 3), ("gates", "out")),
                           (PirateNet(2, 1, 16, 1), ("encoder_u", "blocks", "out")),
                           (nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.LayerNorm(8),
                                          nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1)), ("3", "5"))):
        before = {k: v.clone() for k, v in net.state_dict().items()}
        sfli_(net, [(0, 1), (0, 1)])
        for k, v in net.state_dict().items():
            if k.split(".")[0] in untouched:
                assert torch.equal(v, before[k]), k
    with pytest.raises(ValueError, match="later must be 'standardize' or None"):
        sfli_(_gelu_chain(), (0, 1), later="yes")


def test_mlp_later_chain_float64():
    torch.manual_seed(1)
    net = MLP(1, 1, 20, 3, "sigmoid").double()
    w_before = net.hidden[4].weight.clone()
    sfli_(net, (0.0, 1.0))
    assert net.hidden[4].weight.dtype == torch.float64
    assert not torch.equal(net.hidden[4].weight, w_before)
    assert not net.out.weight.detach().any()
    ratio = net.hidden[4].weight / w_before     # one factor per input column
    torch.testing.assert_close(ratio, ratio[:1].expand_as(ratio))
