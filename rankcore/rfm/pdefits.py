"""Fitting PDEs with the RFM: linear, nonlinear and time-slab fits, and factor reuse.

The methods of :class:`PDEFits` are those of :class:`~rankcore.rfm.RFM` that
fit equations (``fit_linear``, ``fit_poisson``, ``collocation_points``,
``fit_nonlinear``, ``fit_time_slabs``); :class:`~rankcore.rfm.RFM` inherits
them, so this module holds the equation side of the estimator and
:mod:`rankcore.rfm.model` the rest (set-up, prediction, data fits, the
solve and what it stores).  Also here: :func:`atomic` (a failed fit leaves
the estimator as it was) and the ``reuse`` cache of ``fit_linear``
(:func:`problem_key`, :func:`same_problem`).
"""

from __future__ import annotations

import functools
import time

import numpy as np

from . import assembly as _as
from . import domain as _dom
from . import timeslab as _ts
from .equations import (LinearBlock, callable_values, normalize_blocks,
                        parse_key)
from .exceptions import ConvergenceWarning
from .._warn import warn
from ..validation import (as_array, check_bool, check_int_per_dim, check_positive_int, check_positive_scalar,
                         describe)

__all__ = ["PDEFits", "atomic", "problem_key", "same_problem", "stacked_rhs",
           "REUSE_RTOL"]

#: ``fit_linear(..., reuse=cache)`` solves with the cached QR factorization,
#: without assembling, when the problem is the cached one moved: the same
#: features, every point within ``REUSE_RTOL`` times the largest box
#: coordinate of the cached point (relative to the box's low corner) and
#: every coefficient within ``REUSE_RTOL`` times the block's largest one.
REUSE_RTOL = 64 * np.finfo(np.float64).eps


def atomic(method):
    """Run a fit method so that a failure leaves the estimator as it was.

    ``fit*`` draw a new basis before validating the callables and solving;
    without this, an error half-way would leave new ``weights_`` next to
    an old ``coef_``.

    Parameters
    ----------
    method : callable
        A method ``method(self, *args, **kwargs)`` of the estimator.

    Returns
    -------
    callable
        The wrapped method: it saves a shallow copy of ``self.__dict__``
        before calling ``method`` and restores it if ``method`` raises (any
        ``BaseException``, re-raised); otherwise it returns what ``method``
        returns.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        saved = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
    return wrapper




class PDEFits:
    """The equation fits of :class:`~rankcore.rfm.RFM` (inherited by it; see the module docstring)."""

    @atomic
    def fit_linear(self, equations, mean=None, reuse=None):
        """Solve linear equations given as blocks, in the least-squares sense.

        Parameters
        ----------
        equations : list of blocks ``(X, terms, rhs)`` or ``(X, terms, rhs, weight)``
            ``X`` (N, d) points inside the box; ``terms`` a dict mapping a
            derivative multi-index ``alpha`` (d non-negative ints, total order
            <= 2; ``(0,)*d`` is the value) to its coefficient, or, for
            ``components > 1``, ``(component, alpha)`` to it; a coefficient
            is a number, an (N,) array of values at X or a callable
            ``X -> (N,)``.  ``rhs`` is an (N,) array, a number or a callable.
            The block's equations are ``sum_alpha a_alpha(x) D^alpha u(x) =
            rhs(x)`` at its points.  Every row is scaled to unit 2-norm, then
            multiplied by the block's ``weight`` (default 1).  Interior
            equations, Dirichlet, Neumann (``{(1, 0): n_x, (0, 1): n_y}``
            with the normal per point), Robin, initial and interface
            conditions are all such blocks.
        mean : dict, optional
            ``{component: value}``: one extra equation per entry, "the mean
            of that component over the box is value" (e.g. to fix the
            pressure of a Stokes problem).  The row couples every cell, so a
            point condition is cheaper when there are many cells.
        reuse : dict, optional
            A cache for solving the same equations with other right-hand
            sides (pass an empty dict, then the same dict to the later
            fits).  When this fit's problem is the cached one, possibly moved
            with the box -- the same random features (``weights_``,
            ``biases_``), cells of the same size, the same blocks and terms
            in the same order, every point relative to the box's low corner
            within ``REUSE_RTOL`` (64 eps) times the largest box coordinate
            of the cached one, every coefficient within 64 eps times the
            block's largest -- the matrix is the cached one (that of points
            moved by at most this rounding) and the fit applies the cached
            QR factors to its own right-hand sides: no assembly and no
            factorization, O(rows J) work for J unknowns per cell instead of
            O(rows J^2).  Any other fit assembles and factors as usual and
            replaces the cache's content.  The cache keeps the Householder
            vectors (about the system's memory) and a copy of the points and
            coefficients; it is filled by the banded and multifrontal
            solvers (not by ``"dense"`` or ``"lsmr"``) and not used with
            ``mean``.  :meth:`fit_time_slabs` uses one for its
            slabs.

        Returns
        -------
        self : RFM
            The fitted model.

        Raises
        ------
        ValueError, TypeError
            For a malformed block; the message names the block index, the
            key and what was received.  Nothing fitted is changed.

        Examples
        --------
        -u'' = pi^2 sin(pi x) on [0, 1], u(0) = 0, u'(1) = -pi:

        >>> import numpy as np
        >>> from rankcore import RFM
        >>> x = np.linspace(0, 1, 200)[:, None]
        >>> m = RFM([(0.0, 1.0)], subdomains=2, features=60, random_state=0)
        >>> m = m.fit_linear([
        ...     (x, {(2,): -1.0}, lambda X: np.pi ** 2 * np.sin(np.pi * X[:, 0])),
        ...     (np.array([[0.0]]), {(0,): 1.0}, [0.0]),
        ...     (np.array([[1.0]]), {(1,): 1.0}, [-np.pi])])
        >>> bool(np.abs(m.predict(x) - np.sin(np.pi * x[:, 0])).max() < 1e-9)
        True
        """
        if reuse is not None and not isinstance(reuse, dict):
            raise TypeError(f"reuse must be a dict (a cache, empty at first) or None, "
                            f"got {describe(reuse)}")
        if reuse and set(reuse) != _CACHE_KEYS:
            raise ValueError(f"reuse must be an empty dict or one filled by fit_linear, got "
                             f"a dict with the keys {sorted(map(str, reuse))}")
        self._setup()
        blocks = normalize_blocks(equations, self.dim_, self.n_components_,
                                  self._check_points)
        means = self._check_mean(mean)
        t0 = time.perf_counter()
        points = np.concatenate([b.X for b in blocks])
        if reuse is not None and not means:
            if same_problem(reuse, self.basis_, blocks, (self.n_components_, self.solver)):
                return self._solve_again(reuse, blocks, t0, points)
            reuse.clear()
            # the rows' scale factors in place of the scaled right-hand
            # side: the cache applies them to later right-hand sides
            systems = self._linear_systems(blocks, row_scales=True)
            return self._solve(systems, t0, points, fill=(reuse, blocks))
        systems = self._linear_systems(blocks)
        if means:
            systems += _as.mean_rows(self.basis_, self.n_components_, means)
        return self._solve(systems, t0, points)

    def _check_mean(self, mean):
        if mean is None:
            return {}
        if not isinstance(mean, dict):
            raise TypeError("mean must be a dict {component: value}, got "
                            f"{describe(mean)}")
        out = {}
        for comp, value in mean.items():
            k = parse_key((comp, (0,) * self.dim_), self.dim_, self.n_components_,
                          f"mean[{comp!r}]")[0]
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
                    or not np.isfinite(value):
                raise ValueError(f"mean[{comp!r}] must be a finite number, got {describe(value)}")
            out[k] = float(value)
        return out

    def _linear_systems(self, blocks, row_scales=False):
        m = self.n_components_
        systems = [part for b in blocks if isinstance(b, LinearBlock)
                   for part in _as.linear_row_chunks(self.basis_, b, m,
                                                     row_scales=row_scales)]
        orders = _as.equation_orders(blocks, self.dim_, m)
        systems += _as.continuity_rows(self.basis_, orders, m, self._default_points())
        return systems

    def fit_poisson(self, f, g, points=None):
        """Solve -Laplace(u) = f in the box, u = g on its boundary.

        A thin layer over :meth:`fit_linear`.

        Parameters
        ----------
        f, g : callable
            Vectorised: take (N, d) arrays, return (N,) or (N, 1).
        points : int, sequence of int, or (X_interior, X_boundary), optional
            Collocation points.  An int (or one int per dimension) is the
            number of points per subdomain per dimension: a uniform grid of
            ``points * subdomains`` interior points per dimension (end points
            excluded), and on each face of the box a grid with the same
            counts including its edges.  Default ``ceil((2 * features) **
            (1/d))`` (at least 4; at least 6 in 3-D), about twice as many
            equations as unknowns per cell.  A pair of arrays gives the points explicitly.

        Returns
        -------
        self : RFM
            The fitted model.
        """
        box, _ = _dom.box_of(self.box)
        d = box.shape[0]
        if self.components != 1:
            raise ValueError("fit_poisson solves a scalar equation: it needs "
                             f"components=1, got components={self.components!r}")
        Xi, Xb = self.collocation_points(points)
        fi = callable_values(f, Xi, "f")
        gb = callable_values(g, Xb, "g")
        lap = {tuple(2 * int(i == a) for i in range(d)): -1.0 for a in range(d)}
        return self.fit_linear([(Xi, lap, fi), (Xb, {(0,) * d: 1.0}, gb)])

    def collocation_points(self, points=None):
        """Return interior and boundary collocation points of the box.

        Parameters
        ----------
        points : int, sequence of int, (X_interior, X_boundary) or None
            As for :meth:`fit_poisson`: points per subdomain per dimension
            (int or one per dimension), a pair of arrays (returned as
            arrays), or None for the default ``max(4, ceil((2 * features)
            ** (1/d)))`` (at least 6 in 3-D).

        Returns
        -------
        X_interior, X_boundary : ndarray
            A uniform grid of ``points * subdomains`` points per dimension
            without the end points, and on each face of the box a grid with
            the same counts including its edges.

        Examples
        --------
        >>> from rankcore import RFM
        >>> Xi, Xb = RFM([(0, 1), (0, 2)], subdomains=2).collocation_points(3)
        >>> Xi.shape, Xb.shape
        ((36, 2), (24, 2))
        """
        box, geometry = _dom.box_of(self.box)
        d = box.shape[0]
        lo, hi = box[:, 0], box[:, 1]
        if isinstance(points, tuple) and len(points) == 2 and not all(
                isinstance(p, (int, np.integer)) for p in points):
            return (as_array(points[0], "points[0] (interior)", ndim=2),
                    as_array(points[1], "points[1] (boundary)", ndim=2))
        J = check_positive_int(self.features, "features")
        ncell = check_int_per_dim(self.subdomains, "subdomains", d)
        per = check_int_per_dim(_as.default_points(J, d) if points is None else points,
                                "points", d)
        if geometry is not None:
            return _dom.domain_collocation_points(geometry, box, ncell, per)
        n = [per[i] * ncell[i] for i in range(d)]
        axes = [_as.interior_grid_1d(lo[i], hi[i], n[i]) for i in range(d)]
        Xi = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
        faces = []
        for a in range(d):
            other = [np.linspace(lo[i], hi[i], n[i]) for i in range(d) if i != a]
            for side in (lo[a], hi[a]):
                cols = [g.ravel() for g in np.meshgrid(*other, indexing="ij")] if other else []
                cols.insert(a, np.full(cols[0].size if cols else 1, side))
                faces.append(np.stack(cols, axis=1))
        return np.ascontiguousarray(Xi), np.ascontiguousarray(np.concatenate(faces))

    def fit_nonlinear(self, equations, max_iter=30, tol=1e-8, jacobian="auto",
                      mean=None, init=None):
        """Solve nonlinear equations by Gauss-Newton with line search and LM damping.

        Parameters
        ----------
        equations : list of blocks
            Linear blocks as in :meth:`fit_linear`, and nonlinear blocks
            ``(X, residual, keys)`` or ``(X, residual, keys, weight)``: the
            equations ``residual(X, D) = 0`` at the points X, where ``D[key]``
            is the (N,) array of that derivative of the current solution at
            X for every ``key`` listed in ``keys`` (keys spelled as in
            :meth:`fit_linear` terms).  ``residual`` returns an (N,) array.
        max_iter : int
            Gauss-Newton iterations at most.
        tol : float
            Convergence when an accepted step changes the solution values
            at the equation points by at most ``tol`` relative (2-norm), or
            when the iteration stalls at the rounding level (a step below
            1e-8 that lowers the residual norm by less than 1% or needed a
            shorter step length),
            so that a ``tol`` below float64 resolution still ends.
        jacobian : {"auto", "complex", "fd"}
            How the partial derivatives dF/dD[key] are formed: ``"complex"``
            calls ``residual`` with complex D (complex step, exact to
            rounding); ``"fd"`` uses central differences (relative accuracy
            about 1e-10 for smooth residuals); ``"auto"`` uses the complex
            step and checks it at every iteration against central
            differences; a block whose residual is not complex-safe (e.g.
            uses ``abs``) switches to the differences for good.  Only the
            residual is needed: no user derivative.
        mean : dict, optional
            ``{component: value}`` mean conditions, as for :meth:`fit_linear`.
        init : RFM or callable, optional
            The starting guess (default: the zero function).  A fitted
            :class:`RFM` with the same basis (same box, subdomains,
            features, pou, activation, scale and random_state: its
            coefficients are the start), or a callable ``u0(X)`` returning
            (N,) values (N, m) for ``components=m``, fitted to the basis by
            least squares at the equation points first.  Needed where the
            Jacobian is singular at zero (e.g. ``u^2 = 1``).

        Returns
        -------
        self : RFM
            With ``n_iter_`` and ``residual_history_`` (the 2-norm of the
            row-scaled residual before each iteration and at the end) and
            ``jacobian_`` (``"complex"``, ``"fd"`` or ``"mixed"``: what the
            last iteration used).  ``residual_`` is the last entry of the
            history over the first.
            When the iteration does not converge a :class:`ConvergenceWarning`
            is issued and the model is left as it was before the call.

        Examples
        --------
        -u'' + u^3 = f on [0, 1] with u = sin(pi x) + 1/2:

        >>> import numpy as np
        >>> from rankcore import RFM
        >>> u = lambda X: np.sin(np.pi * X[:, 0]) + 0.5
        >>> f = lambda X: np.pi ** 2 * np.sin(np.pi * X[:, 0]) + u(X) ** 3
        >>> x = np.linspace(0, 1, 200)[:, None]
        >>> res = lambda X, D: -D[(2,)] + D[(0,)] ** 3 - f(X)
        >>> m = RFM([(0.0, 1.0)], subdomains=2, features=60, random_state=0)
        >>> m = m.fit_nonlinear([(x, res, [(0,), (2,)]),
        ...                      (np.array([[0.0], [1.0]]), {(0,): 1.0}, [0.5, 0.5])])
        >>> bool(np.abs(m.predict(x) - u(x)).max() < 1e-8), m.n_iter_ < 10
        (True, True)
        """
        from .nonlinear import gauss_newton

        saved = dict(self.__dict__)
        try:
            self._setup()
            max_iter = check_positive_int(max_iter, "max_iter")
            tol = check_positive_scalar(tol, "tol")
            if jacobian not in ("auto", "complex", "fd"):
                raise ValueError("jacobian must be 'auto', 'complex' or 'fd', "
                                 f"got {jacobian!r}")
            blocks = normalize_blocks(equations, self.dim_, self.n_components_,
                                      self._check_points, nonlinear=True)
            means = self._check_mean(mean)
            t0 = time.perf_counter()
            coef0 = self._initial_coef(init, saved, blocks)
            res = gauss_newton(self, blocks, max_iter, tol, jacobian, means, coef0=coef0)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        if not res.converged:
            self.__dict__.clear()
            self.__dict__.update(saved)
            hist = ", ".join(f"{h:.2e}" for h in res.history[-6:])
            warn(
                f"fit_nonlinear did not converge in {res.n_iter} iterations "
                f"(tol={tol:g}; last residual norms {hist}; last relative step "
                f"{res.last_step:.2e}); the model was left as it was before the "
                "call. Try more iterations, a better-posed problem or a larger tol",
                ConvergenceWarning)
            return self
        self.n_iter_ = res.n_iter
        self.residual_history_ = list(res.history)
        self.jacobian_ = res.jacobian
        timings = dict(res.timings)
        timings["row assembly"] = time.perf_counter() - t0 - res.t_solve
        self._store(res.coef, res.cond, res.solver, res.n_rows, res.residual,
                    t0, res.t_solve, np.concatenate([b.X for b in blocks]), timings=timings)
        return self

    def _initial_coef(self, init, saved, blocks):
        """The starting coefficients of fit_nonlinear (None: zero)."""
        if init is None:
            return None
        shape = (self.n_subdomains_, self.n_components_ * self.basis_.features)
        if isinstance(init, PDEFits):  # an RFM (every RFM is a PDEFits)
            # self's attributes before this call if init is self
            attrs = saved if init is self else init.__dict__
            if "coef_" not in attrs or "slab_models_" in attrs:
                raise ValueError("init must be a fitted RFM (not slab-fitted) or a callable "
                                 f"u0(X), got an unfitted or slab-fitted {type(init).__name__}")
            same = (np.shape(attrs["coef_"]) == shape
                    and np.array_equal(attrs["weights_"], self.weights_)
                    and np.array_equal(attrs["biases_"], self.biases_)
                    and attrs["basis_"].pou_code == self.basis_.pou_code
                    and attrs["basis_"].act_code == self.basis_.act_code)
            if not same:
                raise ValueError(
                    "init must be an RFM with the same basis as this model (same box, "
                    "subdomains, features, pou, activation, scale and random_state); got "
                    f"coefficients of shape {np.shape(attrs['coef_'])} for {shape} or "
                    "different random features")
            return np.array(attrs["coef_"], dtype=np.float64).reshape(shape)
        if not callable(init):
            raise TypeError(f"init must be None, a fitted RFM or a callable u0(X), got "
                            f"{describe(init)}")
        X = np.concatenate([b.X for b in blocks])
        m = self.n_components_
        vals = init(X)
        arr = as_array(vals, "init(X)", ndim=(1, 2))
        if m == 1 and arr.shape == (X.shape[0], 1):
            arr = arr[:, 0]
        want = (X.shape[0],) if m == 1 else (X.shape[0], m)
        if arr.shape != want:
            raise ValueError(f"init(X) must return shape {want} at the {X.shape[0]} "
                             f"equation points, got {describe(arr)}")
        ys = arr.reshape(X.shape[0], -1)
        return self._project_values(X, ys).reshape(shape)

    @atomic
    def fit_time_slabs(self, equations, slabs, reuse=True):
        """Solve a space-time problem slab by slab along the last coordinate.

        The box is cut into ``slabs`` equal slabs along t (the last
        coordinate); each slab gets its own RFM with the full
        ``subdomains`` grid and ``features`` (so the unknowns are ``slabs``
        times those of one model), solved in turn.  All slabs draw the same
        random features in slab coordinates, so that a slab whose matrix is
        the previous slab's up to rounding (an operator that does not depend
        on t, the same points in slab coordinates) reuses its QR
        factorization (see ``reuse`` in :meth:`fit_linear`;
        ``slab_reused_`` says which slabs did).  Blocks whose points all
        lie on the initial face ``t = t0`` are the initial conditions: slab
        ``k > 0`` gets the same blocks at ``t = t_k`` with the right-hand
        side taken from slab ``k - 1``'s solution (so an initial block on
        ``u_t`` carries the time derivative, as the wave equation needs).
        Every other block is split by its points' t (a point on an interface
        goes to the later slab).

        Parameters
        ----------
        equations : list of blocks
            Linear blocks on the whole space-time box, as for
            :meth:`fit_linear`.
        slabs : int
            Number of slabs (1 is the same as :meth:`fit_linear`).
        reuse : bool
            Let a slab whose problem is the previous factored slab's, moved
            along t, solve with that slab's QR factors (the ``reuse`` cache
            of :meth:`fit_linear`).  False factors every slab (and keeps no
            factors).

        Returns
        -------
        self : RFM
            With ``slab_models_`` (the fitted RFM of each slab),
            ``slab_edges_`` and ``slab_reused_``; ``predict`` and
            ``feature_matrix`` work across the slabs.
        """
        self._setup()
        if self.domain_ is not None:
            raise ValueError("fit_time_slabs needs a space-time box, got the geometry "
                             f"{self.domain_!r}; use fit_linear on the whole domain")
        slabs = check_positive_int(slabs, "slabs")
        reuse = check_bool(reuse, "reuse")
        blocks = normalize_blocks(equations, self.dim_, self.n_components_,
                                  self._check_points)
        return _ts.march(self, blocks, slabs, reuse)

    # --------------------------------------------------------- internals --

    def _solve_again(self, cache, blocks, t0, value_points):
        """Solve with the cached factorization (``fit_linear``'s ``reuse``)."""
        rhs = cache["scales"] * stacked_rhs(blocks, cache["n_rows"])
        t1 = time.perf_counter()
        coef, res = cache["factor"].solve(rhs)
        t2 = time.perf_counter()
        if not np.all(np.isfinite(coef)):
            raise FloatingPointError(
                "the least-squares solve with the cached factorization produced "
                "non-finite coefficients; check the right-hand sides")
        nb = np.linalg.norm(rhs)
        return self._store(coef, cache["cond"], cache["solver"], cache["n_rows"],
                           float(res / nb) if nb > 0 else float(res), t0, t2 - t1,
                           value_points, t_asm=t1 - t0, reused=True,
                           timings={"row assembly": t1 - t0, "replay": t2 - t1})


#: What ``fit_linear`` stores in a ``reuse`` cache.
_CACHE_KEYS = {"problem", "scales", "factor", "cond", "solver", "n_rows"}


def stacked_rhs(blocks, n_rows):
    """The blocks' right-hand sides in the order of the stacked rows (zeros after).

    Parameters
    ----------
    blocks : list of LinearBlock
        The validated blocks, in the order their rows are stacked.
    n_rows : int
        Rows of the stacked system (at least the blocks' total number of
        points; extra rows, e.g. mean conditions, get zeros).

    Returns
    -------
    ndarray of float64, shape (n_rows,)
        The blocks' ``rhs`` concatenated, then zeros.
    """
    out = np.zeros(n_rows)
    sizes = [b.X.shape[0] for b in blocks]
    out[:sum(sizes)] = np.concatenate([b.rhs for b in blocks])
    return out


def problem_key(basis, blocks, extra):
    """What makes a ``fit_linear`` matrix: copies, compared by :func:`same_problem`.

    Parameters
    ----------
    basis : Basis
        The estimator's basis (``basis_``): its random features, cells and
        box.
    blocks : list of LinearBlock
        The validated blocks of the fit.
    extra : tuple
        Anything else the matrix depends on, compared with ``==``
        (``fit_linear`` passes ``(n_components_, solver)``).

    Returns
    -------
    dict
        The key stored as ``cache["problem"]``: the basis's shape and
        ``extra`` (key ``"shape"``), copies of its weights, biases, cell
        sizes and clamp, its centers relative to the box's low corner, the
        box's largest coordinate (``"span"``) and, per block, its points
        relative to the low corner, its terms and its weight.
    """
    return dict(
        shape=(basis.dim, basis.n_cells, basis.features, basis.pou_code, basis.act_code,
               extra),
        weights=basis.weights.copy(), biases=basis.biases.copy(), h=basis.h.copy(),
        clamp=basis.clamp.copy(),
        centers=basis.centers - basis.lo, span=float(np.abs(basis.box).max()),
        blocks=[(b.X - basis.lo, [(c, a, np.array(coef)) for c, a, coef in b.terms],
                 b.weight) for b in blocks])


def same_problem(cache, basis, blocks, extra):
    """True when ``cache`` holds the factorization of this problem (see ``fit_linear``).

    Parameters
    ----------
    cache : dict
        A ``reuse`` cache of ``fit_linear``: empty, or filled with the key
        ``"problem"`` made by :func:`problem_key`.
    basis : Basis
        The estimator's basis for this fit.
    blocks : list of LinearBlock
        The validated blocks of this fit.
    extra : tuple
        As for :func:`problem_key`.

    Returns
    -------
    bool
        False for an empty cache; True when the basis's shape, ``extra``,
        weights, biases and clamp are the cached ones, and the cell sizes,
        centers, points (relative to the box's low corner) and coefficients
        agree within ``REUSE_RTOL`` (see ``fit_linear``'s ``reuse``).
    """
    if not cache:
        return False
    key = cache["problem"]
    if key["shape"] != (basis.dim, basis.n_cells, basis.features, basis.pou_code,
                        basis.act_code, extra) \
            or not np.array_equal(key["weights"], basis.weights) \
            or not np.array_equal(key["biases"], basis.biases) \
            or not np.array_equal(key["clamp"], basis.clamp) \
            or len(key["blocks"]) != len(blocks):
        return False
    tol = REUSE_RTOL * max(key["span"], float(np.abs(basis.box).max()))
    if np.max(np.abs(key["h"] - basis.h)) > tol \
            or np.max(np.abs(key["centers"] - (basis.centers - basis.lo))) > tol:
        return False
    for (X0, terms0, w0), b in zip(key["blocks"], blocks):
        if X0.shape != b.X.shape or w0 != b.weight or len(terms0) != len(b.terms) \
                or np.max(np.abs(X0 - (b.X - basis.lo)), initial=0.0) > tol:
            return False
        for (c0, a0, coef0), (c, a, coef) in zip(terms0, b.terms):
            if c0 != c or a0 != a or np.max(np.abs(coef0 - coef), initial=0.0) > \
                    REUSE_RTOL * np.max(np.abs(coef0), initial=0.0):
                return False
    return True
