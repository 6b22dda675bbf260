"""``sfli_``: structured first-layer initialisation of a torch model, in place.

One line before training::

    bridge.sfli_(model, domain=[(-1, 1)])

re-initialises the first linear layer so that its neurons are
epsilon-linearly independent on the domain from step 0 (parameters from
``rankcore.sfli``; see docs/sfli.md for the schemes and measured defaults).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rankcore import activations as _act
from rankcore import sfli as _rinit
from rankcore.validation import check_box, describe

from .nets import MLP, activation_name

__all__ = ["sfli_"]


def _first_linear(model):
    """(name, layer, parent Sequential or None, index in it) of the first Linear."""
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Sequential):
            children = list(mod.children())
            for i, child in enumerate(children):
                if isinstance(child, nn.Linear):
                    return (f"{name}.{i}" if name else str(i)), child, mod, i
                if any(isinstance(m, nn.Linear) for m in child.modules()):
                    break  # the first Linear sits deeper: keep walking
        elif isinstance(mod, nn.Linear):
            return name, mod, None, None
    return None


def _infer_activation(model, parent, index, layer_name):
    act = getattr(model, "activation", None)
    if isinstance(act, str):
        return act
    if isinstance(act, nn.Module):
        name = activation_name(act)
        if name is not None:
            return name
    if parent is not None:
        children = list(parent.children())
        if index + 1 < len(children):
            name = activation_name(children[index + 1])
            if name is not None:
                return name
            raise ValueError(
                f"the module after the first nn.Linear ({layer_name!r}) is "
                f"{type(children[index + 1]).__name__}, which has no SFLI scheme; "
                f"supported: {list(_rinit.SFLI_ACTIVATIONS)} (pass activation= to "
                f"override)")
    raise ValueError(
        f"cannot infer the activation that follows the first nn.Linear "
        f"({layer_name!r}): pass activation= (one of {list(_rinit.SFLI_ACTIVATIONS)})")


def _seed_from(generator):
    # Draw the NumPy seed from torch's RNG so that torch.manual_seed and
    # torch.Generator control SFLI exactly as they control torch.nn.init.
    return int(torch.randint(0, 2 ** 62, (1,), generator=generator).item())


def _later_chain(model, parent, index):
    """Hidden ``nn.Linear`` layers after the SFLI layer, and the output layer.

    Returns ``(chain, out)``: ``chain`` lists ``(position, layer)`` of the
    hidden Linear layers after the SFLI layer in its ``nn.Sequential``,
    ``out`` is the output ``nn.Linear`` or None.  Only a plain chain
    qualifies: the SFLI layer opens an ``nn.Sequential`` (so its prefixes map
    domain points to each layer's input), and the walk stops at the first
    module that is neither ``nn.Linear`` nor a recognised activation
    (normalisation, dropout, ... would change what a layer sees).  A Linear
    counts as hidden when an activation follows it; the output layer is the
    Linear that ends the ``nn.Sequential``, or ``model.out`` of a
    ``bridge.MLP`` (whose ``hidden`` holds the chain).
    """
    if parent is None or index != 0:
        return [], None
    children = list(parent.children())
    chain, out = [], None
    for i in range(1, len(children)):
        child = children[i]
        if isinstance(child, nn.Linear):
            if i + 1 < len(children) and activation_name(children[i + 1]) is not None:
                chain.append((i, child))
            elif i + 1 == len(children):
                out = child
        elif activation_name(child) is None:
            break
    else:
        if isinstance(model, MLP) and parent is model.hidden:
            out = model.out
    return chain, out


def _standardize_chain(parent, chain, box):
    """Apply ``rankcore.sfli.standardize_layer`` to each layer of the chain, in order."""
    q = _rinit.default_quadrature(box)
    first = next(parent.parameters())
    x = torch.tensor(np.array(q.points), dtype=first.dtype, device=first.device)
    for i, layer in chain:
        with torch.no_grad():
            h = parent[:i](x).detach().to("cpu", torch.float64).numpy()
        W, b = _rinit.standardize_layer(layer.weight.detach().to("cpu", torch.float64).numpy(),
                                        layer.bias.detach().to("cpu", torch.float64).numpy(),
                                        h, q.weights)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))


def sfli_(model_or_layer, domain, activation=None, scheme="auto", shape=None,
          generator=None, later="standardize"):
    """Structured first-layer initialisation, in place (like ``torch.nn.init``).

    Parameters
    ----------
    model_or_layer : nn.Module
        A model (its first ``nn.Linear`` is re-initialised; ``bridge.nets``
        models re-initialise the layers named in their ``sfli_layers``) or an
        ``nn.Linear`` itself.
    domain : sequence of (lo, hi) pairs, or one pair for 1-D
        The box on which the network is used; its dimension must equal the
        layer's ``in_features``.
    activation : str, optional
        The activation after the layer.  Inferred when omitted: the
        ``activation`` attribute of the model (``bridge.nets``), else the
        module right after the first ``nn.Linear`` in an ``nn.Sequential``.
        A bare ``nn.Linear`` needs it.
    scheme : {"auto", "grid", "udi"}
        "auto": the deterministic grid in 1-D, UDI otherwise; for a model with
        several SFLI layers (``ModifiedMLP``: ``W_1``, ``U``, ``V``) only the
        first follows this rule and the others get independent UDI draws.
    shape : float, optional
        Shape factor (grid ``s``; UDI ``gamma``); default measured per
        activation (``rankcore.sfli.DEFAULT_SHAPE``).  Under
        ``scheme="auto"`` it applies to the first SFLI layer only; the
        modified MLP's U and V then keep the default UDI ``gamma``.
    generator : torch.Generator, optional
        Source of randomness for UDI (torch's global RNG when omitted).
    later : {"standardize", None}, default "standardize"
        What happens to the hidden layers after the SFLI layer.
        "standardize": when the SFLI layer opens an ``nn.Sequential`` of
        Linear and activation modules (``nn.Sequential`` MLPs,
        ``bridge.MLP``), each later hidden ``nn.Linear`` (one followed by an
        activation; the output layer is left alone) is rewritten, in order,
        so that its inputs are centred and of unit variance on the domain
        (``rankcore.sfli.standardize_layer`` on the default quadrature), and
        the output layer (the ``nn.Linear`` that ends the chain, or
        ``bridge.MLP.out``) starts at zero.  SFLI's first-layer features have
        another mean and scale than Xavier's (GELU's reach ~100 on [-1, 1]):
        without the first step the later layers saturate or blow the output
        up; and since the last hidden layer is then rich, random output
        weights would start from a rough random function that training must
        first undo (docs/sfli.md has the measurements).  Other architectures
        (modified MLP, PirateNet, a bare ``nn.Linear``) are unaffected.
        None: only the SFLI layer changes.

    Returns
    -------
    nn.Module
        ``model_or_layer`` itself, modified in place.

    Raises
    ------
    TypeError
        If ``model_or_layer`` is not an ``nn.Module`` or ``generator`` not a
        ``torch.Generator``.
    ValueError
        If the model has no ``nn.Linear``, the layer has no bias, its input
        width differs from the domain dimension, the activation cannot be
        inferred or has no SFLI scheme, or another argument is invalid.  The
        model is left untouched in every case.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from bridge import sfli_
    >>> net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    >>> _ = sfli_(net, domain=(-1.0, 1.0))
    >>> round(net[0].weight[0, 0].item(), 6)  # s (n - 1)/(b - a) with s = 1
    7.5
    """
    if not isinstance(model_or_layer, nn.Module):
        raise TypeError(
            f"model_or_layer must be a torch.nn.Module, got {describe(model_or_layer)}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {describe(generator)}")
    box = check_box(domain, "domain")
    model = model_or_layer

    if isinstance(model, nn.Linear):
        if activation is None:
            raise ValueError(
                "activation must be given when sfli_ receives a bare nn.Linear "
                f"(one of {list(_rinit.SFLI_ACTIVATIONS)})")
        targets = [("layer", model)]
    else:
        names = getattr(model, "sfli_layers", None)
        if names is not None and len(names) == 0:
            raise ValueError(
                f"{type(model).__name__} has no first linear layer for SFLI "
                f"(e.g. PirateNet with embedding='fourier'); use embedding='dense'")
        found = _first_linear(model)
        if found is None:
            raise ValueError(
                f"model_or_layer has no nn.Linear layer to initialise "
                f"({type(model).__name__})")
        first_name, first, parent, index = found
        if names is not None:
            mods = dict(model.named_modules())
            targets = [(n, mods[n]) for n in names]
        else:
            targets = [(first_name, first)]
        if activation is None:
            activation = _infer_activation(model, parent, index, first_name)

    # Validate everything before touching any parameter.
    act = _act.canonical_name(activation)
    for name, layer in targets:
        if not isinstance(layer, nn.Linear):
            raise ValueError(f"SFLI target {name!r} is {type(layer).__name__}, not nn.Linear")
        if layer.in_features != box.shape[0]:
            raise ValueError(
                f"domain has dimension {box.shape[0]} but the first linear layer "
                f"{name!r} takes {layer.in_features} inputs; pass one (lo, hi) "
                f"pair per input")
        if layer.bias is None:
            raise ValueError(f"SFLI needs a bias, but layer {name!r} has bias=False")
    if scheme not in ("auto", "grid", "udi"):
        raise ValueError(f"scheme must be 'auto', 'grid' or 'udi', got {scheme!r}")
    if later not in ("standardize", None):
        raise ValueError(f"later must be 'standardize' or None, got {later!r}")
    chain, out = [], None
    if later == "standardize" and not isinstance(model, nn.Linear) and len(targets) == 1:
        chain, out = _later_chain(model, parent, index)

    params = []
    for i, (name, layer) in enumerate(targets):
        # Later targets (the modified MLP's encoders U and V) get distinct
        # random UDI placements under "auto": one shared deterministic grid
        # would make U == V, and then the gates receive no gradient at all.
        extra = i > 0 and scheme == "auto"
        W, b = _rinit.sfli_init(layer.out_features, box, act,
                                scheme="udi" if extra else scheme,
                                shape=None if extra else shape,
                                random_state=_seed_from(generator))
        Wt = torch.from_numpy(np.ascontiguousarray(W)).to(layer.weight)
        bt = torch.from_numpy(np.ascontiguousarray(b)).to(layer.bias)
        # float64 parameters that fit may still overflow the layer's dtype.
        for pname, t, a in (("weight", Wt, W), ("bias", bt, b)):
            if not bool(torch.isfinite(t).all()):
                raise ValueError(
                    f"SFLI parameters for layer {name!r} overflow its dtype "
                    f"{t.dtype} ({pname} max |value| = {float(np.max(np.abs(a))):.3g}); "
                    f"use a smaller shape (got {shape!r}) or rescale the domain")
        params.append((layer, Wt, bt))
    touched = ([layer for layer, _, _ in params] + [layer for _, layer in chain]
               + ([out] if out is not None else []))
    saved = [(layer.weight.detach().clone(), layer.bias.detach().clone()) for layer in touched]
    try:
        with torch.no_grad():
            for layer, W, b in params:
                layer.weight.copy_(W)
                layer.bias.copy_(b)
        if chain:
            _standardize_chain(parent, chain, box)
        if out is not None:
            with torch.no_grad():
                out.weight.zero_()
                if out.bias is not None:
                    out.bias.zero_()
    except Exception:
        with torch.no_grad():  # leave nothing half-written
            for layer, (W, b) in zip(touched, saved):
                layer.weight.copy_(W)
                layer.bias.copy_(b)
        raise
    return model
