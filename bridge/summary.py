"""One call on a model now: the ε-rank and λ_min of every hidden layer."""

from __future__ import annotations

import numpy as np
import torch

import rankcore
from rankcore.validation import check_box, check_positive_int, describe

from .capture import capture, default_layer, resolve_layers, unwrap_model
from .recorder import DEFAULT_EPS, eps_tuple

__all__ = ["eps_rank_report", "EpsRankTable", "hidden_layers"]


class EpsRankTable:
    """Rows of per-layer ε-rank figures with a readable ``repr``.

    The parameters are also the attributes of the same name (stored as a
    tuple and a list of tuples).

    Parameters
    ----------
    columns : sequence of str
        Column names; :func:`eps_rank_report` uses ``("layer", "n",
        "eps_rank@<eps>", ..., "lambda_max", "lambda_min")``.
    rows : iterable of sequence
        One row per layer, in the order of ``columns``.

    Examples
    --------
    >>> t = EpsRankTable(("layer", "n"), [("features", 50)])
    >>> t["n"], len(t)
    ([50], 1)
    >>> print(t)
       layer   n
    features  50
    """

    def __init__(self, columns, rows):
        self.columns = tuple(columns)
        self.rows = [tuple(r) for r in rows]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, column):
        if column not in self.columns:
            raise KeyError(f"no column {column!r}; columns are {list(self.columns)}")
        j = self.columns.index(column)
        return [r[j] for r in self.rows]

    def to_pandas(self):
        """The table as a pandas DataFrame indexed by layer (needs pandas).

        Returns
        -------
        pandas.DataFrame
            One row per layer, indexed by the ``"layer"`` column.
        """
        import pandas as pd
        return pd.DataFrame(self.rows, columns=list(self.columns)).set_index("layer")

    def __repr__(self):
        def fmt(v):
            if isinstance(v, float):
                return f"{v:.3e}"
            return str(v)
        cells = [list(self.columns)] + [[fmt(v) for v in r] for r in self.rows]
        width = [max(len(c[j]) for c in cells) for j in range(len(self.columns))]
        return "\n".join("  ".join(c[j].rjust(width[j]) for j in range(len(c)))
                         for c in cells)


def hidden_layers(model):
    """List the names of the hidden layers of a model, in forward order.

    The inputs of every ``nn.Linear`` (``"<name>:input"``), except those that
    receive the model's input itself, and the model's default layer
    (``"features"`` for the bundled architectures, which then replaces the
    input of the output layer).  Which ``nn.Linear`` see the raw input is
    decided by a forward pass in :func:`eps_rank_report`; this function lists
    the candidates.

    Parameters
    ----------
    model : torch.nn.Module
        The model (wrappers are unwrapped).

    Returns
    -------
    list of str
        Layer names as :func:`bridge.capture.resolve_layers` takes them.

    Examples
    --------
    >>> import bridge
    >>> hidden_layers(bridge.MLP(1, 1, width=4, depth=2))
    ['hidden.0:input', 'hidden.2:input', 'features']
    """
    model = unwrap_model(model)
    linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    names = [f"{n or '<root>'}:input" for n in linear]
    default = default_layer(model)
    if not default.endswith(":input") and linear:
        names = names[:-1] + [default]
    return names


def _quadrature(domain, order):
    if isinstance(domain, rankcore.Quadrature):
        return domain
    box = check_box(domain, "domain_or_quadrature")
    d = box.shape[0]
    if order is None:
        order = 256 if d == 1 else max(4, int(round(4096 ** (1.0 / d))))
    else:
        order = check_positive_int(order, "order")
    return rankcore.quadrature.gauss_legendre([tuple(r) for r in box], order)


def eps_rank_report(model, domain_or_quadrature, eps=DEFAULT_EPS, *, layers=None,
                    relative=False, order=None, as_frame=None, batch_size=8192):
    """Compute the ε-rank and λ_min of every hidden layer of a model, now.

    Parameters
    ----------
    model : torch.nn.Module
        Maps points (B, d) to outputs.
    domain_or_quadrature : rankcore.Quadrature or box
        A quadrature, or a box (``(lo, hi)`` in 1-D, a sequence of pairs in
        d-D) on which a Gauss-Legendre rule of ``order`` points per
        coordinate is built.
    eps : float or sequence of float
        Tolerances (absolute unless ``relative``), default ``(1e-3, 1e-6)``.
    layers : list of str, optional
        Layers to report (module names as in :class:`bridge.SnapshotRecorder`);
        default: :func:`hidden_layers`, without the layers that receive the
        raw input.
    relative : bool
        Count λ > ε·λ_max instead of λ > ε.
    order : int, optional
        Points per coordinate of the rule built from a box (default 256 in
        1-D, about 4096 points in all otherwise).
    as_frame : bool, optional
        Return a pandas DataFrame (indexed by layer).  Default: when pandas
        is installed; otherwise an :class:`EpsRankTable`.
    batch_size : int
        Points per forward pass.

    Returns
    -------
    pandas.DataFrame or EpsRankTable
        Columns ``n`` (neurons), ``eps_rank@<eps>`` per tolerance,
        ``lambda_max`` and ``lambda_min`` of the Gram matrix.

    Examples
    --------
    >>> import torch, bridge
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = bridge.MLP(1, 1, width=20, depth=3).double()
    >>> t = bridge.eps_rank_report(model, (-1.0, 1.0), eps=[1e-3], as_frame=False)
    >>> t.columns
    ('layer', 'n', 'eps_rank@0.001', 'lambda_max', 'lambda_min')
    >>> t["layer"]
    ['hidden.2:input', 'hidden.4:input', 'features']
    >>> all(0 < r <= 20 for r in t["eps_rank@0.001"])
    True
    """
    model = unwrap_model(model)
    eps = eps_tuple(eps)
    if not isinstance(relative, (bool, np.bool_)):
        raise TypeError(f"relative must be a bool, got {describe(relative)}")
    if as_frame is not None and not isinstance(as_frame, (bool, np.bool_)):
        raise TypeError(f"as_frame must be True, False or None, got {describe(as_frame)}")
    q = _quadrature(domain_or_quadrature, order)
    auto = layers is None
    names = hidden_layers(model) if auto else [k for k, _, _ in resolve_layers(model, layers)]
    out = capture(model, q, names, features=auto, batch_size=batch_size)
    rows = []
    for name in names:
        if auto:
            F = out.features[name]
            if F.shape[1] == q.dim and np.array_equal(
                    F, q.points.astype(F.dtype, copy=False)):
                continue  # this layer sees the raw input, not neurons
        M = out.grams[name]
        lam = rankcore.spectrum(M)
        ranks = np.atleast_1d(rankcore.eps_rank(lam, list(eps), relative=bool(relative)))
        rows.append((name, int(M.shape[0]), *(int(r) for r in ranks),
                     float(lam[0]), float(lam[-1])))
    columns = ("layer", "n", *(f"eps_rank@{e:g}" for e in eps), "lambda_max",
               "lambda_min")
    table = EpsRankTable(columns, rows)
    if as_frame is None:
        try:
            import pandas  # noqa: F401
        except ImportError:
            return table
        as_frame = True
    return table.to_pandas() if as_frame else table
