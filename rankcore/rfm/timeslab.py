"""Time slabs: a space-time box solved slab by slab along its last coordinate.

The box is cut into equal slabs ``[t_k, t_{k+1}]``; each slab is an RFM of
its own (same parameters), fitted in turn.  The initial conditions of slab
``k > 0`` are the initial blocks of the problem moved to ``t = t_k``, with
the right-hand side ``sum_alpha a_alpha D^alpha u_{k-1}`` evaluated from the
previous slab's solution.  This is block time marching: every solve has the
size of one slab.

Every slab draws the same random features in its own coordinates (one seed
for all slabs).  When the operator does not depend on t and a slab's points
are the previous slab's moved by the slab length, its matrix is the previous
slab's up to rounding, and the solve reuses that QR factorization
(``fit_linear``'s ``reuse`` cache, which checks the matrices entry by
entry): the slab then costs its assembly and a few matrix-vector products
instead of a factorization.
"""

from __future__ import annotations

import copy

import numpy as np

from .assembly import default_points
from .exceptions import IllConditionedWarning

__all__ = ["march", "check_slab_points", "slab_index", "slab_predict", "slab_feature_matrix"]


def slab_index(edges, t):
    """Return the slab of each time: ``edges[k] <= t < edges[k+1]`` (last slab closed).

    Parameters
    ----------
    edges : ndarray, shape (slabs + 1,)
        Increasing slab boundaries.
    t : ndarray
        Times.

    Returns
    -------
    ndarray of int
        Slab of each time, the shape of ``t``; times outside ``edges`` go
        to the first or the last slab.

    Examples
    --------
    >>> import numpy as np
    >>> slab_index(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5, 0.7, 1.0])).tolist()
    [0, 1, 1, 1]
    """
    return np.clip(np.searchsorted(edges, t, side="right") - 1, 0, edges.size - 2)


def _user_block(X, terms, rhs, weight):
    return (X, {(c, a): coef for c, a, coef in terms}, rhs, weight)


def check_slab_points(Xs, box, ncell, unknowns, per, k):
    """Warn when a slab's cell has too few rows or time levels to fix its unknowns.

    Parameters
    ----------
    Xs : list of ndarray, shape (N_b, d)
        The points of each of the slab's blocks (the initial ones included).
    box : ndarray, shape (d, 2)
        The slab's box.
    ncell : tuple of int
        Cells per coordinate.
    unknowns : int
        Unknowns per cell (features times components).
    per : int
        The default points per cell and coordinate for these unknowns.
    k : int
        The slab's index (for the message).

    Returns
    -------
    bool
        True when it warned (:class:`~rankcore.rfm.IllConditionedWarning`):
        a cell has fewer rows than ``unknowns`` (all blocks together) or no
        block has ``per // 2`` distinct times among its points in that cell.  Between too few time levels the
        features are free, and the error is passed on, amplified, to the
        next slab (heat equation, 2x2 cells x 60 features, 5 slabs, 4 time
        levels per cell: max error 3e3; 10 levels: 3e-6).

    Examples
    --------
    >>> import numpy as np, warnings
    >>> X = np.stack(np.meshgrid(np.linspace(0, 1, 30), [0.0, 0.5, 1.0]), -1).reshape(-1, 2)
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     check_slab_points([X], np.array([[0.0, 1.0], [0.0, 1.0]]), (1, 1), 40, 9, 0)
    True
    """
    lo, h = box[:, 0], (box[:, 1] - box[:, 0]) / np.asarray(ncell)
    n_cells = int(np.prod(ncell))
    rows = np.zeros(n_cells, np.int64)
    levels = np.zeros(n_cells, np.int64)
    for X in Xs:
        cell = np.clip(np.floor((X - lo) / h).astype(np.int64), 0, np.asarray(ncell) - 1)
        flat = np.ravel_multi_index(tuple(cell.T), ncell)
        rows += np.bincount(flat, minlength=n_cells)
        # times of one block only: blocks on other grids (sides) add levels
        # that leave the interior equations just as free between theirs
        # (cell, time to 1e-9 cells) pairs as one int64 key: a 1-D unique
        # (t is inside the slab: the keys stay below n_cells * ncell_t * 1e9)
        q = np.rint((X[:, -1] - lo[-1]) / h[-1] * 1e9).astype(np.int64)
        span = int(q.max()) + 1 if q.size else 1
        cells = np.unique(flat * span + q) // span
        levels = np.maximum(levels, np.bincount(cells, minlength=n_cells))
    need = max(2, per // 2)
    if rows.min() >= unknowns and levels.min() >= need:
        return False
    import warnings
    warnings.warn(
        f"time slab {k} ({box[-1].tolist()}): a cell has {int(rows.min())} collocation rows "
        f"for {unknowns} unknowns and its points take {int(levels.min())} distinct times "
        f"(at least {unknowns} rows and {need} times per cell are needed, or the slab's "
        "solution is free between its time levels and the error grows slab by slab); "
        "use more time points, fewer slabs or fewer features", IllConditionedWarning,
        stacklevel=5)
    return True


def march(model, blocks, slabs, reuse=True):
    """Fit ``model`` slab by slab (see the module docstring).

    Parameters
    ----------
    model : rankcore.RFM
        With its parameters validated (``box_`` set).
    blocks : list of LinearBlock
        Validated blocks on the whole box.
    slabs : int
        Number of equal slabs along the last coordinate.
    reuse : bool
        Share a ``fit_linear`` reuse cache between the slabs.

    Returns
    -------
    model : rankcore.RFM
        With ``slab_models_``, ``slab_edges_``, ``slab_reused_`` and the
        summed or worst fitted attributes of the slabs.
    """
    box = model.box_
    t0, t1 = box[-1]
    tol = 1e-12 * (t1 - t0)
    edges = np.linspace(t0, t1, slabs + 1)
    initial = [b for b in blocks if np.all(np.abs(b.X[:, -1] - t0) <= tol)]
    if not initial:
        raise ValueError(
            "fit_time_slabs needs initial conditions: at least one block whose "
            f"points all lie on the initial face t = {float(t0)!r} (the low end of the "
            "last coordinate of the box)")
    others = [b for b in blocks if not any(b is i for i in initial)]
    parts = [slab_index(edges, b.X[:, -1]) for b in others]
    rng = np.random.default_rng(model.random_state)
    # one draw for every slab: the same features in slab coordinates
    seed = int(rng.integers(2 ** 63 - 1))
    cache = {} if reuse else None
    models = []
    warned = False  # once per fit: the first slab with too few points
    for k in range(slabs):
        eqs = []
        for b, part in zip(others, parts):
            sel = part == k
            if sel.any():
                eqs.append(_user_block(b.X[sel], [(c, a, coef[sel]) for c, a, coef in b.terms],
                                       b.rhs[sel], b.weight))
        for b in initial:
            X = b.X.copy()
            X[:, -1] = edges[k]
            if k == 0:
                rhs = b.rhs
            else:
                prev = models[-1]
                rhs = sum(coef * prev.predict(X, derivative=a, component=c)
                          for c, a, coef in b.terms)
            eqs.append(_user_block(X, b.terms, rhs, b.weight))
        child = copy.copy(model)
        sbox = box.copy()
        sbox[-1] = edges[k:k + 2]
        J = model.features
        warned = warned or check_slab_points([e[0] for e in eqs], sbox, model.subdomains_,
                          J * model.n_components_,
                          default_points(J * model.n_components_, box.shape[0]), k)
        child.box = sbox.tolist()
        child.random_state = seed
        child.fit_linear(eqs, reuse=cache)
        models.append(child)
    for name in ("basis_",):
        model.__dict__.pop(name, None)
    model.slab_models_ = models
    model.slab_edges_ = edges
    model.slab_reused_ = np.array([c.factor_reused_ for c in models])
    model.factor_reused_ = bool(model.slab_reused_.any())
    model.coef_ = np.concatenate([c.coef_ for c in models])
    for name in ("centers_", "radii_", "weights_", "biases_"):
        setattr(model, name, np.concatenate([getattr(c, name) for c in models]))
    model.n_subdomains_ = sum(c.n_subdomains_ for c in models)
    for name in ("n_unknowns_", "n_equations_", "assembly_time_", "solve_time_"):
        setattr(model, name, sum(getattr(c, name) for c in models))
    model.timings_ = {}
    for c in models:
        for key, sec in c.timings_.items():
            model.timings_[key] = model.timings_.get(key, 0.0) + sec
    for name in ("cond_", "residual_", "rounding_floor_"):
        setattr(model, name, max(getattr(c, name) for c in models))
    model.solver_ = models[-1].solver_
    return model


def slab_predict(model, X, alpha, component):
    """Evaluate a slab-fitted model: each point by the slab holding its t.

    Parameters
    ----------
    model : rankcore.RFM
        Fitted by :func:`march` (``slab_models_`` set).
    X : ndarray, shape (N, d)
        Points inside the box (validated).
    alpha : tuple of int
        Derivative multi-index (validated).
    component : int or None
        Which component; None gives all of them.

    Returns
    -------
    ndarray, shape (N,) or (N, components)
        The values, as :meth:`rankcore.RFM.predict` returns them.
    """
    part = slab_index(model.slab_edges_, X[:, -1])
    m = model.n_components_
    out = np.empty((X.shape[0],) if (component is not None or m == 1) else (X.shape[0], m))
    for k, child in enumerate(model.slab_models_):
        sel = part == k
        if sel.any():
            out[sel] = child.predict(X[sel], derivative=alpha, component=component)
    return out


def slab_feature_matrix(model, X):
    """Return the feature matrix of a slab-fitted model: the slabs' columns side by side.

    Parameters
    ----------
    model : rankcore.RFM
        Fitted by :func:`march` (``slab_models_`` set).
    X : ndarray, shape (N, d)
        Points inside the box (validated).

    Returns
    -------
    ndarray, shape (N, sum of the slabs' columns)
        Each slab's feature matrix in its own columns, at the points of
        that slab; zero elsewhere.
    """
    part = slab_index(model.slab_edges_, X[:, -1])
    widths = [c.n_subdomains_ * c.features for c in model.slab_models_]
    out = np.zeros((X.shape[0], sum(widths)))
    start = 0
    for k, child in enumerate(model.slab_models_):
        sel = part == k
        if sel.any():
            out[np.ix_(sel, np.arange(start, start + widths[k]))] = child.feature_matrix(X[sel])
        start += widths[k]
    return out
