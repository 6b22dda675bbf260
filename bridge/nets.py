"""Architectures that SFLI plugs into: MLP, modified MLP and PirateNet.

Every network here

* initialises all linear layers Xavier-normal with zero biases (the paper's
  default initialisation; PirateNet's gates ``alpha`` start at 0);
* has a string attribute ``activation`` (used by ``bridge.sfli_``);
* passes its last hidden features through an ``nn.Identity`` called
  ``features`` and then into a final ``nn.Linear`` called ``out``, so the
  last hidden layer can be recorded either as the *output* of the module
  named by ``last_hidden`` (``"features"``) or as the *input* of the final
  ``nn.Linear`` (the snapshot recorder's default);
* names in ``sfli_layers`` the linear layers that ``bridge.sfli_``
  re-initialises.  Where SFLI acts was decided by the initial epsilon-rank of
  the last hidden layer (``bench/repro_8_architectures.py``, docs/sfli.md):
  MLP: the first layer; modified MLP: ``W_1`` *and* the encoders ``U``,
  ``V`` (``H_L = (1 - Z) U + Z V`` is dominated by ``U`` and ``V``: SFLI on
  ``W_1`` alone left the last hidden eps-rank at 2 (1-D) and 8 (2-D), on all
  three it gave 46-47 (1-D) and 50 (2-D) of 50); PirateNet: the dense
  embedding layer (at initialisation ``alpha = 0`` makes the last hidden
  layer equal to the embedding).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rankcore import activations as _act

__all__ = ["Sin", "Cos", "make_activation", "activation_name", "MLP",
           "ModifiedMLP", "PirateNet", "FourierEmbedding"]


class Sin(nn.Module):
    """Elementwise ``sin`` as a module.

    Parameters
    ----------
    *args, **kwargs
        Passed on to ``torch.nn.Module`` (which takes none).
    """

    def forward(self, x):
        """Apply ``sin`` elementwise.

        Parameters
        ----------
        x : torch.Tensor
            Input of any shape.

        Returns
        -------
        torch.Tensor
            ``torch.sin(x)``, same shape.
        """
        return torch.sin(x)


class Cos(nn.Module):
    """Elementwise ``cos`` as a module.

    Parameters
    ----------
    *args, **kwargs
        Passed on to ``torch.nn.Module`` (which takes none).
    """

    def forward(self, x):
        """Apply ``cos`` elementwise.

        Parameters
        ----------
        x : torch.Tensor
            Input of any shape.

        Returns
        -------
        torch.Tensor
            ``torch.cos(x)``, same shape.
        """
        return torch.cos(x)


# Torch module per canonical name of rankcore.activations (the one table);
# importing checks that the two agree, so a new activation there fails loudly
# here until it gets a module.
_MODULES = {
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sin": Sin,
    "cos": Cos,
}
if set(_MODULES) != set(_act.ACTIVATIONS):  # pragma: no cover - import-time check
    raise ImportError(
        f"bridge.nets has torch modules for {sorted(_MODULES)} but "
        f"rankcore.activations lists {sorted(_act.ACTIVATIONS)}")


def make_activation(name) -> nn.Module:
    """A fresh activation module for a name of ``rankcore.activations``.

    Aliases (swish, logistic, sine, cosine) and any letter case are accepted.

    Parameters
    ----------
    name : str
        An activation name or alias.

    Returns
    -------
    torch.nn.Module
        A new instance of the module class of that activation.

    Raises
    ------
    TypeError, ValueError
        For a non-string or unknown name.

    Examples
    --------
    >>> from bridge.nets import make_activation
    >>> make_activation("tanh"), make_activation("Swish")
    (Tanh(), SiLU())
    """
    return _MODULES[_act.canonical_name(name)]()


def activation_name(module):
    """The canonical name of an activation module, or None if it has none.

    ``nn.ELU`` counts only with ``alpha == 1`` (the measured scheme);
    both GELU forms count as "gelu".

    Parameters
    ----------
    module : torch.nn.Module
        Any module; only the exact activation classes of this module's table
        (not subclasses) are recognised.

    Returns
    -------
    str or None
        The canonical name from ``rankcore.activations``, or None.
    """
    if isinstance(module, nn.ELU):
        return "elu" if float(module.alpha) == 1.0 else None
    for name, cls in _MODULES.items():
        if type(module) is cls:
            return name
    return None


def _check_dims(**kw):
    for k, v in kw.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{k} must be an integer >= 1, got {v!r}")


def _xavier_(module):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class MLP(nn.Module):
    """Fully connected network ``x -> sigma(W_L ... sigma(W_1 x + b_1) ...) -> W x + b``.

    Parameters
    ----------
    in_features, out_features : int
        Input and output dimensions.
    width : int
        Neurons per hidden layer.
    depth : int
        Number of hidden layers (>= 1).
    activation : str, default "tanh"
        A name (or alias) from ``rankcore.activations``.

    Attributes
    ----------
    hidden : nn.Sequential
        ``Linear, act, Linear, act, ...`` (the first Linear is SFLI's).
    features : nn.Identity
        Output = last hidden features (``last_hidden == "features"``).
    out : nn.Linear

    See Also
    --------
    ModifiedMLP, PirateNet : The other architectures.
    bridge.sfli_ : Structured first-layer initialisation.

    Examples
    --------
    >>> import torch
    >>> from bridge.nets import MLP
    >>> net = MLP(1, 1, width=8, depth=2)
    >>> net(torch.zeros(5, 1)).shape
    torch.Size([5, 1])
    """

    last_hidden = "features"
    sfli_layers = ("hidden.0",)

    def __init__(self, in_features, out_features, width, depth, activation="tanh"):
        super().__init__()
        _check_dims(in_features=in_features, out_features=out_features,
                    width=width, depth=depth)
        self.activation = _act.canonical_name(activation)
        layers = []
        fan_in = in_features
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), make_activation(activation)]
            fan_in = width
        self.hidden = nn.Sequential(*layers)
        self.features = nn.Identity()
        self.out = nn.Linear(width, out_features)
        _xavier_(self)

    def forward(self, x):
        """Evaluate the network.

        Parameters
        ----------
        x : torch.Tensor, shape (..., in_features)
            Inputs.

        Returns
        -------
        torch.Tensor, shape (..., out_features)
            Outputs.
        """
        return self.out(self.features(self.hidden(x)))


class ModifiedMLP(nn.Module):
    """Modified MLP of Wang, Teng & Perdikaris (2021).

    ``U = s(W_u x + b_u)``, ``V = s(W_v x + b_v)``, ``H_1 = s(W_1 x + b_1)``,
    ``Z_k = s(W_k H_k + b_k)``, ``H_{k+1} = (1 - Z_k) * U + Z_k * V`` for
    ``k = 1 .. depth-1``, output ``W H_depth + b``.

    Parameters
    ----------
    in_features, out_features : int
        Input and output dimensions.
    width : int
        Neurons per hidden layer.
    depth : int
        Number of hidden layers ``H_1 .. H_depth`` (>= 1; depth 1 is an MLP
        with unused encoders).
    activation : str, default "tanh"
        A name (or alias) from ``rankcore.activations``.

    Attributes
    ----------
    input_layer : nn.Linear
        ``W_1``.
    encoder_u, encoder_v : nn.Linear
        ``W_u``, ``W_v``; SFLI acts on all three (measured, see module docs).
    gates : nn.ModuleList of nn.Linear
    features : nn.Identity
    out : nn.Linear

    References
    ----------
    .. [1] S. Wang, Y. Teng and P. Perdikaris, "Understanding and mitigating
       gradient flow pathologies in physics-informed neural networks", SIAM
       Journal on Scientific Computing 43(5), 2021; arXiv:2001.04536.

    Examples
    --------
    >>> import torch
    >>> from bridge.nets import ModifiedMLP
    >>> ModifiedMLP(2, 1, width=8, depth=3)(torch.zeros(4, 2)).shape
    torch.Size([4, 1])
    """

    last_hidden = "features"
    sfli_layers = ("input_layer", "encoder_u", "encoder_v")

    def __init__(self, in_features, out_features, width, depth, activation="tanh"):
        super().__init__()
        _check_dims(in_features=in_features, out_features=out_features,
                    width=width, depth=depth)
        self.activation = _act.canonical_name(activation)
        self.input_layer = nn.Linear(in_features, width)
        self.encoder_u = nn.Linear(in_features, width)
        self.encoder_v = nn.Linear(in_features, width)
        self.gates = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
        self.act = make_activation(activation)
        self.features = nn.Identity()
        self.out = nn.Linear(width, out_features)
        _xavier_(self)

    def hidden_features(self, x):
        """The last hidden layer's values (before ``features``) at inputs ``x``.

        Parameters
        ----------
        x : torch.Tensor, shape (..., in_features)
            Inputs.

        Returns
        -------
        torch.Tensor, shape (..., width)
            The last hidden features.
        """
        s = self.act
        u = s(self.encoder_u(x))
        v = s(self.encoder_v(x))
        h = s(self.input_layer(x))
        for gate in self.gates:
            z = s(gate(h))
            h = (1.0 - z) * u + z * v
        return h

    def forward(self, x):
        """Evaluate the network.

        Parameters
        ----------
        x : torch.Tensor, shape (..., in_features)
            Inputs.

        Returns
        -------
        torch.Tensor, shape (..., out_features)
            Outputs.
        """
        return self.out(self.features(self.hidden_features(x)))


class FourierEmbedding(nn.Module):
    """Random Fourier features ``[cos(x B^T), sin(x B^T)]``, ``B ~ N(0, scale^2)``.

    ``B`` (``width // 2`` rows) is a fixed buffer, as in the original
    PirateNet.  ``width`` must be even.

    Parameters
    ----------
    in_features : int
        Input dimension.
    width : int
        Number of output features, even.
    scale : float, default 1.0
        Standard deviation of the entries of ``B``.
    """

    def __init__(self, in_features, width, scale=1.0):
        super().__init__()
        if width % 2:
            raise ValueError(f"width must be even for a Fourier embedding, got {width}")
        self.register_buffer("B", torch.randn(width // 2, in_features) * scale)

    def forward(self, x):
        """Embed inputs.

        Parameters
        ----------
        x : torch.Tensor, shape (..., in_features)
            Inputs.

        Returns
        -------
        torch.Tensor, shape (..., width)
            ``cos(x B^T)`` then ``sin(x B^T)`` along the last axis.
        """
        z = x @ self.B.T
        return torch.cat([torch.cos(z), torch.sin(z)], dim=-1)


class PirateNet(nn.Module):
    """PirateNet of Wang, Li, Chen & Perdikaris (2024).

    The original's least-squares output initialisation is left out.
    ``phi = embedding(x)``; ``U = s(W_u phi + b_u)``, ``V = s(W_v phi + b_v)``;
    each block maps ``x`` to ``alpha h + (1 - alpha) x`` with
    ``f = s(W_1 x + b_1)``, ``z_1 = f U + (1 - f) V``, ``g = s(W_2 z_1 + b_2)``,
    ``z_2 = g U + (1 - g) V``, ``h = s(W_3 z_2 + b_3)`` and a trainable scalar
    ``alpha`` initialised to 0 (so at initialisation the network is the
    embedding followed by a linear layer).

    Parameters
    ----------
    in_features, out_features : int
        Input and output dimensions.
    width : int
        Neurons per hidden layer (even for ``embedding="fourier"``).
    n_blocks : int
        Number of residual blocks (>= 1).
    activation : str, default "tanh"
        A name (or alias) from ``rankcore.activations``.
    embedding : {"dense", "fourier"}, default "dense"
        "dense": ``phi = s(W_0 x + b_0)``, a trainable linear layer where SFLI
        acts; "fourier": the original fixed random Fourier features (SFLI then
        has no first linear layer to act on and ``bridge.sfli_`` refuses).
    fourier_scale : float, default 1.0
        Standard deviation of ``B`` for ``embedding="fourier"``.

    See Also
    --------
    FourierEmbedding : The random Fourier feature embedding.

    References
    ----------
    .. [1] S. Wang, B. Li, Y. Chen and P. Perdikaris, "PirateNets:
       physics-informed deep learning with residual adaptive networks",
       Journal of Machine Learning Research 25(402), 2024; arXiv:2402.00326.

    Examples
    --------
    >>> import torch
    >>> from bridge.nets import PirateNet
    >>> net = PirateNet(2, 1, width=8, n_blocks=2)
    >>> net(torch.zeros(3, 2)).shape, net.blocks[0].alpha.item()
    (torch.Size([3, 1]), 0.0)
    """

    last_hidden = "features"

    def __init__(self, in_features, out_features, width, n_blocks,
                 activation="tanh", embedding="dense", fourier_scale=1.0):
        super().__init__()
        _check_dims(in_features=in_features, out_features=out_features,
                    width=width, n_blocks=n_blocks)
        if embedding not in ("dense", "fourier"):
            raise ValueError(f"embedding must be 'dense' or 'fourier', got {embedding!r}")
        self.activation = _act.canonical_name(activation)
        self.embedding_kind = embedding
        if embedding == "dense":
            self.embedding = nn.Sequential(nn.Linear(in_features, width),
                                           make_activation(activation))
            self.sfli_layers = ("embedding.0",)
        else:
            if not (isinstance(fourier_scale, (int, float)) and math.isfinite(fourier_scale)
                    and fourier_scale > 0):
                raise ValueError(f"fourier_scale must be a finite number > 0, got {fourier_scale!r}")
            self.embedding = FourierEmbedding(in_features, width, fourier_scale)
            self.sfli_layers = ()
        self.encoder_u = nn.Linear(width, width)
        self.encoder_v = nn.Linear(width, width)
        self.blocks = nn.ModuleList(_PirateBlock(width) for _ in range(n_blocks))
        self.act = make_activation(activation)
        self.features = nn.Identity()
        self.out = nn.Linear(width, out_features)
        _xavier_(self)

    def hidden_features(self, x):
        """The last hidden layer's values (before ``features``) at inputs ``x``.

        Parameters
        ----------
        x : torch.Tensor, shape (..., in_features)
            Inputs.

        Returns
        -------
        torch.Tensor, shape (..., width)
            The last hidden features.
        """
        phi = self.embedding(x)
        u = self.act(self.encoder_u(phi))
        v = self.act(self.encoder_v(phi))
        h = phi
        for block in self.blocks:
            h = block(h, u, v, self.act)
        return h

    def forward(self, x):
        """Evaluate the network.

        Parameters
        ----------
        x : torch.Tensor, shape (..., in_features)
            Inputs.

        Returns
        -------
        torch.Tensor, shape (..., out_features)
            Outputs.
        """
        return self.out(self.features(self.hidden_features(x)))


class _PirateBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.dense1 = nn.Linear(width, width)
        self.dense2 = nn.Linear(width, width)
        self.dense3 = nn.Linear(width, width)
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, x, u, v, act):
        f = act(self.dense1(x))
        z1 = f * u + (1.0 - f) * v
        g = act(self.dense2(z1))
        z2 = g * u + (1.0 - g) * v
        h = act(self.dense3(z2))
        return self.alpha * h + (1.0 - self.alpha) * x
