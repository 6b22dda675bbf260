"""Gauss-Newton with a line search and Levenberg-Marquardt damping for RFM.

A nonlinear block ``residual(X, D) = 0`` depends on the coefficients ``c``
through the derivative values ``D[key] = Phi_key c``.  Its Jacobian is
``sum_key diag(dF/dD[key]) Phi_key``: a linear block whose coefficients are
the pointwise partials, so every Gauss-Newton step is one linear RFM solve
with the same block-sparse structure and row scaling as :meth:`fit_linear`.

Partials: complex step ``Im F(D + i h e_k) / h`` with ``h = 1e-30`` (exact to
rounding, needs a residual written with complex-safe operations), or central
differences with ``h_k = eps^(1/3) max(1, |D_k|)`` (relative accuracy about
``eps^(2/3)``, i.e. 1e-10, for smooth residuals).  ``"auto"`` uses the
complex step and checks it at every iteration against central differences;
after the first disagreement (a residual that is not complex-safe, such as
one using ``abs``) that block uses central differences from then on.

Step control: the full Gauss-Newton step is tried first and halved (up to 12
times) until the sum of squared scaled residuals does not grow; when no
step length helps, a damping ``lambda ||u_new - u||^2`` over the values at the
equation points (Levenberg-Marquardt in function space, rows of unit scale)
is added and raised tenfold per failure, and lowered again after successes.

Convergence: an accepted step changes the solution values at the equation
points by at most ``tol`` (relative 2-norm), or the iteration has stalled at
the rounding level: a step below 1e-8 that lowers the residual norm by less
than 1% or needed a shorter step length (or a full step below 1e-8 that does
not lower it at all); float64 cannot do better, whatever ``tol`` asks.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from . import assembly as _as
from . import lstsq as _ls
from .equations import LinearBlock, NonlinearBlock
from ..validation import describe

__all__ = ["gauss_newton", "NewtonResult", "residual_partials"]

_H_COMPLEX = 1e-30
_CHECK_RTOL = 1e-5
_STALL_STEP = 1e-8
_STALL_DECREASE = 1e-2


class NewtonResult(NamedTuple):
    """What :func:`gauss_newton` returns (coefficients, history, status).

    The parameters are also the attributes of the same name.

    Parameters
    ----------
    coef : ndarray, shape (n_subdomains, m * J)
        The final coefficients.
    cond : float
        Condition estimate of the last linear solve (inf before any).
    solver : str
        Solver used by the last linear solve.
    n_rows : int
        Rows of the last linearised system.
    residual : float
        Final norm of the scaled residuals relative to the initial one (the
        final norm itself when the initial one is zero).
    t_solve : float
        Seconds spent in the linear solves, in all.
    history : list of float
        Norm of the scaled residuals at the start of every iteration, then
        at the end.
    n_iter : int
        Number of iterations run.
    converged : bool
        Whether the step or stall criterion was met (see the module docstring).
    last_step : float
        Relative change of the solution values at the equation points in the
        last step (inf before any).
    jacobian : str
        How the partials of the last iteration were computed: ``"complex"``,
        ``"fd"`` or ``"mixed"`` (the requested mode when none were computed).
    timings : dict of str to float
        Seconds per phase of the linear solves, added up over the iterations
        (the ``timings`` of :func:`~rankcore.rfm.lstsq.solve_system`).
    """

    coef: np.ndarray
    cond: float
    solver: str
    n_rows: int
    residual: float
    t_solve: float
    history: list
    n_iter: int
    converged: bool
    last_step: float
    jacobian: str
    timings: dict


class _Derivatives(dict):
    """``D`` as the residual sees it: a key the block did not list is named in the error."""

    def __init__(self, values, block):
        super().__init__(values)
        self.block = block

    def __missing__(self, key):
        raise ValueError(
            f"equations[{self.block.index}] residual asked for D[{key!r}], which is "
            f"not among its keys {list(self.block.keys)!r}; list every derivative "
            "the residual uses in the block's keys")


def _residual(block, D):
    where = f"equations[{block.index}] residual"
    N = block.X.shape[0]
    out = block.residual(block.X, _Derivatives(D, block))
    F = np.asarray(out)
    if F.dtype.kind not in "biufc":
        raise TypeError(f"{where} must return an array of shape ({N},) of numbers, "
                        f"got {describe(out)}")
    if F.shape == (N, 1):
        F = F[:, 0]
    if F.shape != (N,):
        raise ValueError(f"{where} must return an array of shape ({N},) for {N} "
                         f"points, got shape {F.shape}")
    return F


def _relative_change(new, old):
    """``||new - old|| / max(||new||, ||old||)``, 0 when both are zero."""
    scale = max(np.linalg.norm(new), np.linalg.norm(old))
    return float(np.linalg.norm(new - old) / scale) if scale > 0 else 0.0


def _real_residual(block, D):
    F = _residual(block, D)
    if F.dtype.kind == "c":
        F = F.real
    F = F.astype(np.float64)
    bad = np.nonzero(~np.isfinite(F))[0]
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"equations[{block.index}] residual returned a non-finite value "
            f"{float(F[i])!r} at point {i} ({block.X[i].tolist()}) for the current "
            "solution")
    return F


def _partials_fd(block, D):
    out = np.empty((len(block.keys), block.X.shape[0]))
    eps3 = np.finfo(np.float64).eps ** (1.0 / 3.0)
    for k, key in enumerate(block.keys):
        h = eps3 * np.maximum(1.0, np.abs(D[key]))
        Dp = dict(D)
        Dm = dict(D)
        Dp[key] = D[key] + h
        Dm[key] = D[key] - h
        hh = Dp[key] - Dm[key]  # the step actually taken after rounding
        out[k] = (_real_residual(block, Dp) - _real_residual(block, Dm)) / hh
    return out


def _partials_complex(block, D):
    out = np.empty((len(block.keys), block.X.shape[0]))
    base = {key: D[key].astype(np.complex128) for key in block.keys}
    for k, key in enumerate(block.keys):
        Dc = dict(base)
        Dc[key] = base[key] + 1j * _H_COMPLEX
        F = _residual(block, Dc)
        if F.dtype.kind != "c":
            raise TypeError("the residual returned real values for complex input")
        out[k] = F.imag / _H_COMPLEX
    if not np.all(np.isfinite(out)):
        raise FloatingPointError("the complex step gave non-finite partials")
    return out


def residual_partials(block, D, mode):
    """Return the partials ``dF/dD[key]`` of one nonlinear block and the mode used.

    Parameters
    ----------
    block : rankcore.rfm.equations.NonlinearBlock
        The block whose residual is differentiated.
    D : dict
        The current derivative values, ``D[key]`` of shape (N,).
    mode : {"complex", "fd", "auto"}
        ``"auto"``: the complex step checked against central differences,
        which are used instead if they disagree by more than 1e-5 relative
        or the residual is not complex-safe.

    Returns
    -------
    P : ndarray, shape (K, N)
        One row per key of the block.
    used : {"complex", "fd"}
        The method that gave ``P``.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.rfm.equations import NonlinearBlock
    >>> b = NonlinearBlock(np.zeros((2, 1)), lambda X, D: D[(0,)] ** 3, [(0,)],
    ...                    [(0, (0,))], 1.0, 0)
    >>> P, used = residual_partials(b, {(0,): np.array([1.0, 2.0])}, "auto")
    >>> P.round(8).tolist(), used
    ([[3.0, 12.0]], 'complex')
    """
    if mode == "fd":
        return _partials_fd(block, D), "fd"
    try:
        P = _partials_complex(block, D)
    except Exception as exc:  # the user's residual refused complex input
        if mode == "complex":
            raise TypeError(
                f"equations[{block.index}] residual is not complex-safe ({exc}); "
                "use jacobian='fd' or 'auto'") from exc
        return _partials_fd(block, D), "fd"
    if mode == "auto":
        Pf = _partials_fd(block, D)
        scale = max(np.abs(Pf).max(), np.abs(P).max(), 1e-300)
        if np.abs(P - Pf).max() > _CHECK_RTOL * scale:
            return Pf, "fd"
    return P, "complex"


def gauss_newton(model, blocks, max_iter, tol, jacobian, means=None, coef0=None):
    """Run the Gauss-Newton iteration for a model whose basis is drawn.

    Parameters
    ----------
    model : rankcore.RFM
        After its basis was drawn (``basis_`` set).
    blocks : list of LinearBlock and NonlinearBlock
        Validated equation blocks.
    max_iter : int
        Most Gauss-Newton iterations.
    tol : float
        Converged when an accepted step changes the solution values at the
        equation points by at most ``tol`` (relative 2-norm).
    jacobian : {"auto", "complex", "fd"}
    means : dict, optional
        ``{component: value}`` mean conditions (linear rows).
    coef0 : ndarray, shape (n_subdomains, m * J), optional
        Starting coefficients (default zero).

    Returns
    -------
    NewtonResult
        The final coefficients, the residual history and the status.
    """
    basis = model.basis_
    m = model.n_components_
    nb = model.n_subdomains_
    J = basis.features
    d = basis.dim
    lin = [b for b in blocks if isinstance(b, LinearBlock)]
    nl = [b for b in blocks if isinstance(b, NonlinearBlock)]
    fixed = [part for b in lin for part in _as.linear_row_chunks(basis, b, m)]
    fixed += _as.continuity_rows(basis, _as.equation_orders(blocks, d, m), m,
                                 _as.default_points(J, d))
    if means:
        fixed += _as.mean_rows(basis, m, means)
    lin_sys = _as.stack(fixed) if fixed else None
    # the derivative features of every nonlinear block, once
    feats = []
    for b in nl:
        N = b.X.shape[0]
        sub, _ = basis.touching(b.X)
        feats.append([_as.block_pairs(basis, b.X, [(c, a, np.ones(N))], m, sub=sub)
                      for c, a in b.parsed])
    # when every derivative of a block has the same pairs (the usual case), a
    # Jacobian row is sum_k (dF/dD_k) D_k(features): combined from these
    # features instead of evaluated again, and consistent with how D is computed
    shared = [all(np.array_equal(r, f[0][0]) and np.array_equal(bl, f[0][1])
                  for r, bl, _ in f) for f in feats]
    allX = np.concatenate([b.X for b in blocks])
    value_feats = [_as.block_pairs(basis, allX, [(c, (0,) * d, np.ones(allX.shape[0]))], m)
                   for c in range(m)]

    def derivs(coef, bi):
        N = nl[bi].X.shape[0]
        return {key: _ls.matvec(r, bl, v, coef, N)
                for key, (r, bl, v) in zip(nl[bi].keys, feats[bi])}

    def values(coef):
        return np.concatenate([_ls.matvec(r, bl, v, coef, allX.shape[0])
                               for r, bl, v in value_feats])

    def merit(coef, scales):
        total = 0.0
        if lin_sys is not None:
            rows, bl, v, rhs, n = lin_sys
            total += float(np.sum((_ls.matvec(rows, bl, v, coef, n) - rhs) ** 2))
        for bi, b in enumerate(nl):
            F = _real_residual(b, derivs(coef, bi))
            total += float(np.sum((scales[bi] * F) ** 2))
        return total

    coef = np.zeros((nb, m * J)) if coef0 is None else np.array(coef0, dtype=np.float64)
    history = []
    lam = 0.0
    modes = [jacobian] * len(nl)
    used_jac = set()
    t_solve = 0.0
    timings = {}
    step = np.inf
    cond, used, n_rows = np.inf, model.solver, 0
    u_old = values(coef)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        systems = [] if lin_sys is None else [lin_sys[:4]]
        scales = []
        used_jac = set()
        for bi, b in enumerate(nl):
            D = derivs(coef, bi)
            F = _real_residual(b, D)
            P, how = residual_partials(b, D, modes[bi])
            if how == "fd":
                modes[bi] = "fd"  # once the complex step failed, stay with differences
            used_jac.add(how)
            N = b.X.shape[0]
            if shared[bi]:
                rows, bl = feats[bi][0][:2]
                v = P[0][rows][:, None] * feats[bi][0][2]
                for k in range(1, len(feats[bi])):
                    v += P[k][rows][:, None] * feats[bi][k][2]
            else:
                terms = [(c, a, P[k]) for k, (c, a) in enumerate(b.parsed)]
                rows, bl, v = _as.block_pairs(basis, b.X, terms, m)
            # the Jacobian rows J c_new = J c - F, scaled to unit row norm
            rhs = _ls.matvec(rows, bl, v, coef, N) - F
            norms = _ls.row_norms(rows, v, N)
            s = b.weight * np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 1.0)
            v *= s[rows][:, None]
            systems.append((rows, bl, v, rhs * s))
            scales.append(s)
        phi0 = merit(coef, scales)
        history.append(float(np.sqrt(phi0)))
        if lam > 0:
            # damping in function space: sqrt(lam) (u_new - u) = 0 at the
            # equation points, every row of unit scale like the others
            nX = allX.shape[0]
            for ci, (r, bl, v) in enumerate(value_feats):
                norms = _ls.row_norms(r, v, nX)
                sc = np.sqrt(lam) / np.where(norms > 0, norms, 1.0)
                systems.append((r, bl, v * sc[r][:, None],
                                sc * u_old[ci * nX:(ci + 1) * nX]))
        rows, bl, v, rhs, n_rows = _as.stack(systems)
        t1 = time.perf_counter()
        new, cond, used = _ls.solve_system(rows, bl, v, rhs, n_rows, nb, model.solver,
                                           coords=basis.cell_index, timings=timings,
                                           n_jobs=_ls.check_jobs(model.n_jobs))
        t_solve += time.perf_counter() - t1
        if not np.all(np.isfinite(new)):
            lam = max(10.0 * lam, 1e-6)
            continue
        delta = new - coef
        accepted = False
        alpha = 1.0
        for _ in range(12):
            trial = coef + alpha * delta
            try:
                phi = merit(trial, scales)
            except ValueError:  # non-finite residual on the way: shorter step
                phi = np.inf
            if phi <= phi0 * (1.0 + 1e-12):
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            step = _relative_change(values(new), u_old)  # the rejected full step
            if step <= _STALL_STEP:  # a rounding-level step that cannot help
                converged = True
                break
            lam = max(10.0 * lam, 1e-6)
            continue
        lam = lam / 10.0 if lam > 1e-9 else 0.0
        coef = trial
        u_new = values(coef)
        step = _relative_change(u_new, u_old)
        u_old = u_new
        # stalled at the rounding level: neither the residual nor the
        # solution moves any more, so a tol below what float64 resolves ends
        stalled = step <= _STALL_STEP and (
            alpha < 1.0 or np.sqrt(phi) >= (1.0 - _STALL_DECREASE) * np.sqrt(phi0))
        if step <= tol or stalled:
            converged = True
            break
    final = merit(coef, scales) if nl or lin_sys is not None else 0.0
    history.append(float(np.sqrt(final)))
    res = history[-1] / history[0] if history[0] > 0 else history[-1]
    how = "complex" if used_jac == {"complex"} else ("fd" if used_jac == {"fd"} else
                                                      "mixed" if used_jac else jacobian)
    return NewtonResult(coef, float(cond), used, int(n_rows), float(res), t_solve,
                        history, it, converged, step, how, timings)
