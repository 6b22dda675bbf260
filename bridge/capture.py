"""Feature capture: evaluate chosen layers of a torch model at a set of points.

:func:`capture` is the one path by which the recorder, the Lightning callback,
:func:`bridge.eps_rank_report` and the benchmark scripts read neuron features
out of a model.  It runs the model under ``torch.no_grad()`` in ``eval()`` mode
on the model's own device, in batches, catches the requested modules' inputs
or outputs with forward hooks and, when weights are given, accumulates each
layer's Gram matrix ``M = Φᵀ diag(w) Φ`` in float64 and symmetrises it once.
Afterwards every module's ``training`` flag and the CPU/CUDA RNG states are
restored, so that a training loop around it is undisturbed.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

import rankcore
from rankcore.validation import as_array, check_positive_int, describe

__all__ = ["capture", "Captured", "default_layer", "resolve_layers", "unwrap_model",
           "is_rank_zero"]

INPUT_SUFFIX = ":input"


def unwrap_model(model):
    """The module inside ``DistributedDataParallel``/``DataParallel`` wrappers.

    Parameters
    ----------
    model : torch.nn.Module
        A model, wrapped or not.

    Returns
    -------
    torch.nn.Module
        The innermost ``.module`` of the wrappers, or ``model`` itself.

    Raises
    ------
    TypeError
        If ``model`` is not a ``torch.nn.Module``.

    Examples
    --------
    >>> import torch
    >>> from bridge.capture import unwrap_model
    >>> m = torch.nn.Linear(2, 2)
    >>> unwrap_model(torch.nn.DataParallel(m)) is m
    True
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {describe(model)}")
    while type(model).__name__ in ("DistributedDataParallel", "DataParallel"):
        model = model.module
    return model


def is_rank_zero():
    """True unless an initialised ``torch.distributed`` group says this is not rank 0.

    Returns
    -------
    bool
        False only in a non-zero rank of an initialised process group.

    Examples
    --------
    >>> from bridge.capture import is_rank_zero
    >>> is_rank_zero()
    True
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return True


def default_layer(model):
    """Name of the layer recorded by default.

    A model with a string attribute ``last_hidden`` naming one of its modules
    (the bundled ``bridge.MLP``, ``ModifiedMLP`` and ``PirateNet`` name it
    ``"features"``) is recorded at that module's output.  Otherwise the last
    ``nn.Linear`` in ``model.named_modules()`` order is taken as the output
    layer and its input, the last hidden layer, is recorded under the name
    ``"<module name>:input"``.

    Parameters
    ----------
    model : torch.nn.Module
        The model (wrappers are unwrapped).

    Returns
    -------
    str
        A layer name as :func:`resolve_layers` takes it.

    Raises
    ------
    ValueError
        If the model has neither ``last_hidden`` nor an ``nn.Linear`` module.

    Examples
    --------
    >>> import torch, bridge
    >>> from bridge import default_layer
    >>> default_layer(torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(),
    ...                                   torch.nn.Linear(4, 1)))
    '2:input'
    >>> default_layer(bridge.MLP(1, 1, width=8, depth=2))
    'features'
    """
    model = unwrap_model(model)
    modules = dict(model.named_modules())
    named = getattr(model, "last_hidden", None)
    if isinstance(named, str) and named and named in modules:
        return named
    last = None
    for name, mod in modules.items():
        if isinstance(mod, torch.nn.Linear):
            last = name
    if last is None:
        raise ValueError(
            "model has no nn.Linear module, so there is no default layer; pass "
            "layers=[...] with module names from model.named_modules()")
    return (last or "<root>") + INPUT_SUFFIX


def resolve_layers(model, layers=None):
    """``[(name, module, capture_input)]`` for layer names of ``model``.

    Parameters
    ----------
    model : torch.nn.Module
        The model (wrappers are unwrapped).
    layers : str or sequence of str, optional
        Names from ``model.named_modules()``; the module's output is taken,
        or its input with the suffix ``":input"`` (``"<root>"`` names the
        model itself).  Default: ``[default_layer(model)]``.

    Returns
    -------
    list of tuple
        ``(name, module, capture_input)`` per layer, in the order given:
        the name as given, the ``torch.nn.Module`` and whether its input
        (True) or its output (False) is captured.

    Raises
    ------
    TypeError, ValueError
        On a name that is not a str, names no module, or appears twice.

    Examples
    --------
    >>> import torch
    >>> from bridge.capture import resolve_layers
    >>> m = torch.nn.Sequential(torch.nn.Linear(1, 3), torch.nn.Tanh())
    >>> [(k, flag) for k, _, flag in resolve_layers(m, ["1", "0:input"])]
    [('1', False), ('0:input', True)]
    """
    model = unwrap_model(model)
    if layers is None:
        layers = [default_layer(model)]
    elif isinstance(layers, str):
        layers = [layers]
    modules = dict(model.named_modules())
    out, seen = [], set()
    for key in layers:
        if not isinstance(key, str):
            raise TypeError(f"layers must be module names (str), got {describe(key)}")
        name, is_input = key, False
        if key.endswith(INPUT_SUFFIX):
            name, is_input = key[:-len(INPUT_SUFFIX)], True
        mod_name = "" if name == "<root>" else name
        if mod_name not in modules:
            avail = [n for n in modules if n][:20]
            raise ValueError(
                f"layers: no module named {name!r} in the model; names are those of "
                f"model.named_modules(), e.g. {avail} (append ':input' to record "
                f"a module's input instead of its output)")
        if key in seen:
            raise ValueError(f"layers names {key!r} twice")
        seen.add(key)
        out.append((key, modules[mod_name], is_input))
    return out


class Captured(NamedTuple):
    """Result of :func:`capture`.

    The parameters are also the attributes of the same name.

    Parameters
    ----------
    grams : dict of str to ndarray (n, n) float64, or None
        Symmetric Gram matrix per layer (None when no weights were given).
    features : dict of str to ndarray (N, n), or None
        Features per layer in the model's dtype (None unless requested).
    """

    grams: dict | None
    features: dict | None


def _hook_store(values, key):
    def store(t):
        if isinstance(t, (tuple, list)):
            t = t[0] if len(t) else None
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"layer {key!r} produced {describe(t)}, not a tensor")
        values[key] = t
    return store


def _register(specs, values):
    handles = []
    for key, mod, is_input in specs:
        store = _hook_store(values, key)
        if is_input:
            handles.append(mod.register_forward_pre_hook(lambda m, a, s=store: s(a)))
        else:
            handles.append(mod.register_forward_hook(lambda m, a, o, s=store: s(o)))
    return handles


def _model_device_dtype(model):
    for p in model.parameters():
        return p.device, (p.dtype if p.is_floating_point() else torch.float32)
    for b in model.buffers():
        return b.device, torch.float32
    return torch.device("cpu"), torch.float32


def _points_tensor(points, device, dtype):
    if isinstance(points, rankcore.Quadrature):
        points = points.points
    if isinstance(points, torch.Tensor):
        if points.ndim != 2 or points.shape[0] == 0:
            raise ValueError(f"points must be a non-empty (N, d) tensor, got shape "
                             f"{tuple(points.shape)}")
        return points.to(device=device, dtype=dtype)
    arr = as_array(points, "points", ndim=2)
    return torch.tensor(arr, dtype=dtype, device=device)


def capture(model, points, layers=None, *, weights=None, features=False,
            batch_size=8192):
    """Evaluate layers of a model at points: float64 Gram matrices and/or features.

    Parameters
    ----------
    model : torch.nn.Module
        Called as ``model(x)`` on batches ``x`` of shape (B, d); wrappers
        (DDP, DataParallel) are unwrapped.
    points : rankcore.Quadrature, array_like (N, d) or torch.Tensor (N, d)
        Where to evaluate.  A quadrature also supplies ``weights``.
    layers : str or sequence of str, optional
        Module names (see :func:`resolve_layers`); default
        :func:`default_layer`.
    weights : array_like (N,) or torch.Tensor, optional
        Quadrature weights; with them (or a Quadrature) Gram matrices are
        accumulated.  Overrides the weights of a Quadrature.
    features : bool
        Also return the features themselves, as NumPy arrays (N, n).
    batch_size : int
        Points per forward pass.

    Returns
    -------
    Captured
        ``grams`` (dict of (n, n) float64 arrays, or None without weights)
        and ``features`` (dict of (N, n) arrays, or None).

    Notes
    -----
    Each batch of features is cast to float64 on the model's device before
    ``M += (F * w)ᵀ F``, so no float32 or TF32 product enters the matrix;
    only M (n × n) leaves the device.  M is symmetrised once,
    ``(M + Mᵀ)/2``, against summation-order round-off; it is not checked for
    finiteness here (the snapshot writer and :func:`rankcore.spectrum` do).

    Examples
    --------
    >>> import numpy as np, torch, rankcore, bridge
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = bridge.MLP(1, 1, width=6, depth=2)
    >>> q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 32)
    >>> out = bridge.capture(model, q, features=True)
    >>> out.grams["features"].shape, out.features["features"].shape
    ((6, 6), (32, 6))
    >>> ref = rankcore.gram(out.features["features"].astype(np.float64), q.weights)
    >>> bool(np.allclose(out.grams["features"], ref, rtol=1e-12, atol=1e-15))
    True
    """
    model = unwrap_model(model)
    specs = resolve_layers(model, layers)
    batch_size = check_positive_int(batch_size, "batch_size")
    device, dtype = _model_device_dtype(model)
    pts = _points_tensor(points, device, dtype)
    N = pts.shape[0]
    if weights is None and isinstance(points, rankcore.Quadrature):
        weights = points.weights
    w = None
    if weights is not None:
        if isinstance(weights, torch.Tensor):
            w = weights.to(device=device, dtype=torch.float64).reshape(-1)
        else:
            w = torch.tensor(as_array(weights, "weights", ndim=1), device=device)
        if w.shape[0] != N:
            raise ValueError(f"weights must have one entry per point ({N}), got "
                             f"{w.shape[0]}")
    keys = [k for k, _, _ in specs]
    acc = dict.fromkeys(keys)
    feats = {k: [] for k in keys} if features else None
    modes = [(m, m.training) for m in model.modules()]
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    values = {}
    handles = _register(specs, values)
    try:
        model.eval()
        with torch.no_grad():
            for s in range(0, N, batch_size):
                values.clear()
                try:
                    model(pts[s:s + batch_size])
                except RuntimeError as exc:
                    if s == 0 and "shape" in str(exc):
                        raise ValueError(
                            f"points must match the model's input: the forward pass on "
                            f"points of shape {tuple(pts.shape)} (N, d) failed with "
                            f"{exc}") from exc
                    raise
                for key in keys:
                    if key not in values:
                        raise RuntimeError(
                            f"layer {key!r} was not reached by the forward pass")
                    F = values[key]
                    F = F.reshape(F.shape[0], -1)
                    if feats is not None:
                        feats[key].append(F.detach().to("cpu"))
                    if w is not None:
                        F64 = F.to(torch.float64)
                        part = (F64 * w[s:s + F.shape[0], None]).T @ F64
                        acc[key] = part if acc[key] is None else acc[key] + part
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state(cuda_rng, device)
    grams = None
    if w is not None:
        grams = {k: (0.5 * (M + M.T)).cpu().numpy() for k, M in acc.items()}
    if feats is not None:
        feats = {k: torch.cat(v).numpy() for k, v in feats.items()}
    return Captured(grams, feats)
