"""The RFM and ELM estimators: fit data, functions and linear or nonlinear PDEs.

``u(x) = sum_n psi_n(x) sum_j c_nj phi_nj(x)`` (see :mod:`rankcore.rfm.basis`);
with ``components=m`` every component has its own coefficients over the same
basis.  A fit builds the block-sparse least-squares system of its equation
blocks (:mod:`rankcore.rfm.assembly`) and solves it (:mod:`rankcore.rfm.lstsq`).
"""

from __future__ import annotations

import time

import numpy as np

from . import assembly as _as
from . import domain as _dom
from . import lstsq as _ls
from . import timeslab as _ts
from .basis import POUS, Basis, activation_code
from .equations import (LinearBlock, callable_values, parse_key)
from .exceptions import IllConditionedWarning, NotFittedError
from .pdefits import PDEFits, atomic, problem_key, stacked_rhs
from .._warn import warn
from ..validation import (as_array, check_bool, check_choice,
                         check_int_per_dim, check_positive_int, check_positive_scalar,
                         check_random_state, check_weights, describe)

__all__ = ["RFM", "ELM", "DEFAULT_SCALE"]

# A solve whose triangular factor has a 1-norm condition estimate above this
# warns.  Random-feature bases are *meant* to be nearly dependent, so
# estimates of 1e12..1e15 are the normal state of an accurate RFM solve
# (Householder QR still reaches ~1e-11 errors there); beyond ~1/eps the
# factor is numerically singular and the coefficients are no longer
# determined by the data.
COND_WARN = 1.0 / np.finfo(np.float64).eps
# ... and it warns only when that singularity reaches the answer: when the
# coefficients have grown so large that rounding in sum_j c_j phi_j exceeds
# this relative size (see RFM.rounding_floor_).  1e-7, not 1e-8: the 3-D
# default (one cell x 1000 features, R = 0.3) reaches 1.3e-8 with a floor of
# 1.9e-8 -- the best any scale gave there -- and should not be told to change.
FLOOR_WARN = 1e-7
# rounding_floor_ is estimated on a fixed pseudo-random subset of at most
# this many of the fit's points.  The floor is an order-of-magnitude
# quantity (it is compared with FLOOR_WARN): on the eight single-solve
# problems of bench/rfm_pde.py and on the 3-D default-scale ELM of
# tests/rfm/test_rfm_pde.py, 256 points gave within 5% of the value on all 1002
# to 11281 points (tests/rfm/test_rfm.py checks a factor 2), at a quarter of
# the cost of 1024 (4-10 ms per fit on the small problems).  A strided
# subset did not: on the 3-D grid it gave 1.0e-7 against 2.3e-8.
FLOOR_POINTS = 256
_CHUNK = 8192
# Default scale R per dimension of the box, chosen by bench/rfm_defaults.py
# (the table is in docs/rfm.md).
DEFAULT_SCALE = {1: 2.0, 2: 0.5, 3: 0.3}


class RFM(PDEFits):
    """Random feature method with a partition of unity (scikit-learn style).

    Parameters
    ----------
    box : sequence of (lo, hi) pairs, or one pair for 1-D
        The domain, a box in 1, 2 or 3 dimensions.  For a time-dependent
        problem time is the last coordinate.
    subdomains : int or sequence of int
        Number of cells per dimension (one int for all).  1 gives the ELM.
    features : int
        Random features *per subdomain* (4 x 4 subdomains with
        ``features=300`` give 4800 unknowns per component).
    pou : {"b", "a"}
        Partition of unity.  ``"b"``: the smooth psi_b, overlapping a
        quarter of the half-width into each neighbour and held at 1 on the
        faces of the box, so that the psi_b sum to exactly 1 on the box.
        ``"a"``: the indicator of each cell; continuity across interior faces
        is imposed by extra least-squares rows (the value, and the normal
        derivative where the equations are of second order in that
        coordinate).
    activation : str
        "tanh" (default), "sin", "cos", "sigmoid", "gelu" or "silu" (names
        and aliases of :mod:`rankcore.activations`; the features need two
        continuous derivatives, so relu and elu are refused).
    scale : float or None
        R: weights and biases are drawn from U(-R, R) and act on the local
        coordinate in [-1, 1]^d.  None takes ``DEFAULT_SCALE[d]``, chosen per
        dimension by measurement (``scale_`` is the value used).
    solver : {"auto", "banded", "multifrontal", "dask", "dense", "lsmr"}
        Least-squares solver (see :mod:`rankcore.rfm.lstsq`).  ``"auto"`` is
        the multifrontal QR in nested-dissection order from 36 cells on
        (:mod:`rankcore.rfm.multifrontal`), the block Householder QR
        (``"banded"``) below, falling back to ``"dense"`` when a subdomain has
        fewer equations than features.  ``"dask"`` runs the multifrontal QR
        on the workers of the current ``dask.distributed`` client
        (:mod:`rankcore.rfm.cluster`; docs/cluster.md), the factors staying
        there for ``fit_linear(..., reuse=...)``.
    random_state : None, int or numpy.random.Generator
        Seed of the random features (``numpy.random.default_rng``).
    components : int
        Number of unknown functions (a system); each has its own
        coefficients over the same random features.
    prune_eps : float in (0, 1) or None
        Keep on every cell only features that are ε-linearly independent
        there (relative threshold on the cell's Gram eigenvalues, strong
        rank-revealing selection; :mod:`rankcore.rfm.prune`).  None keeps all.
    n_jobs : int or None
        Processes that factor independent subtrees of the multifrontal QR at
        the same time (``solver="multifrontal"``, or ``"auto"`` when it picks
        it), each with one BLAS thread: 2 uses both cores of a 2-core
        machine better than two BLAS threads (``bench/rfm_scale.py``).
        None or 1: one process; -1: one per core.  Same results to rounding.

    Attributes
    ----------
    coef_ : ndarray, shape (n_subdomains, features) or (n_subdomains, components, features)
    cond_ : float
        1-norm condition estimate of the row-scaled system's triangular
        factor (LSMR: its own estimate).
    residual_ : float
        Relative residual ``||A c - b|| / ||b||`` of the row-scaled system
        (after a reused factorization, ``factor_reused_``, the norm of the
        rotated right-hand side's part outside the triangle: the same
        quantity without the rounding of the product ``A c``).
    rounding_floor_ : float
        ``eps * max_x sum_j |c_j psi phi_j(x)| / max_x |u(x)|`` over the fit's
        points (a fixed pseudo-random ``FLOOR_POINTS`` = 256 of them when
        there are more): the relative rounding error that cancellation among the
        coefficients puts into ``predict``.  A solve warns
        (:class:`IllConditionedWarning`) when ``cond_ >= 1/eps`` *and*
        ``rounding_floor_ >= 1e-7``.
    n_unknowns_, n_equations_ : int
    n_kept_ : ndarray of int, shape (n_subdomains,)
        Only with ``prune_eps``: each cell's ε-rank; every cell keeps
        ``features_ = n_kept_.max()`` features.
    solver_ : str
        The solver actually used.
    scale_ : float
        The scale R used.
    assembly_time_, solve_time_ : float
        Seconds spent assembling and solving the system.
    timings_ : dict of str to float
        Seconds per phase of the last fit: ``"row assembly"`` (evaluating
        the features and stacking the rows), the solver's phases -- for the
        multifrontal QR ``"front assembly"`` (ordering, scattering rows and
        contribution blocks into fronts), ``"private QR"`` (per-cell
        reduction of rows that touch one cell), ``"front QR"`` (the
        Householder QR of the fronts), ``"back substitution"`` and
        ``"condition estimate"``; for the other solvers one entry (``"banded
        QR"``, ``"dense QR"``, ``"lsmr"``) --, ``"residual"`` (the product
        ``A c`` behind ``residual_``) and ``"rounding floor"``.  A fit that
        reused a factorization has ``"replay"`` instead of the solver's
        phases; a nonlinear fit adds up its iterations; a time-slab fit its
        slabs.
    centers_, radii_ : ndarray, shape (n_subdomains, d)
    weights_ : ndarray, shape (n_subdomains, features, d)
    biases_ : ndarray, shape (n_subdomains, features)
    n_iter_, residual_history_ : int, list of float
        Only after :meth:`fit_nonlinear`.
    factor_reused_ : bool
        The solve took the QR factorization from ``fit_linear``'s ``reuse``
        cache instead of factoring.
    slab_models_, slab_edges_ : list of RFM, ndarray
        Only after :meth:`fit_time_slabs`.
    slab_reused_ : ndarray of bool, shape (slabs,)
        Only after :meth:`fit_time_slabs`: which slabs reused an earlier
        slab's factorization.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore import RFM
    >>> m = RFM([(0.0, 1.0)], subdomains=4, features=40, random_state=0)
    >>> m = m.fit_function(lambda x: np.sin(3 * x[:, 0]))
    >>> x = np.linspace(0, 1, 101)[:, None]
    >>> bool(np.max(np.abs(m.predict(x) - np.sin(3 * x[:, 0]))) < 1e-8)
    True
    """

    def __init__(self, box, subdomains=1, features=100, pou="b",
                 activation="tanh", scale=None, solver="auto",
                 random_state=None, components=1, prune_eps=None, n_jobs=None):
        self.box = box
        self.subdomains = subdomains
        self.features = features
        self.pou = pou
        self.activation = activation
        self.scale = scale
        self.solver = solver
        self.random_state = random_state
        self.components = components
        self.prune_eps = prune_eps
        self.n_jobs = n_jobs

    # ------------------------------------------------------------ setup ---
    def _setup(self):
        box, geometry = _dom.box_of(self.box)
        d = box.shape[0]
        if d > 3:
            raise ValueError(f"box must have 1, 2 or 3 dimensions, got {d}")
        ncell = check_int_per_dim(self.subdomains, "subdomains", d)
        J = check_positive_int(self.features, "features")
        m = check_positive_int(self.components, "components")
        if not isinstance(self.pou, str) or self.pou not in POUS:
            raise ValueError(f"pou must be 'a' or 'b', got {self.pou!r}")
        activation_code(self.activation)
        self._jobs = _ls.check_jobs(self.n_jobs)
        R = DEFAULT_SCALE[d] if self.scale is None else \
            check_positive_scalar(self.scale, "scale")
        check_choice(self.solver, "solver", _ls.SOLVERS)
        rng = check_random_state(self.random_state)
        for name in ("slab_models_", "slab_edges_", "slab_reused_", "n_iter_",
                     "residual_history_"):
            self.__dict__.pop(name, None)
        basis = Basis(box, ncell, J, self.pou, self.activation, R, rng)
        if geometry is not None:
            basis = _dom.restrict(geometry, basis)
        self.domain_ = geometry
        for name in ("n_kept_", "features_"):
            self.__dict__.pop(name, None)
        if self.prune_eps is not None:
            from .prune import prune_basis
            eps = check_positive_scalar(self.prune_eps, "prune_eps")
            if eps >= 1:
                raise ValueError(f"prune_eps must be in (0, 1), got {self.prune_eps!r}")
            basis, self.n_kept_, _ = prune_basis(basis, eps)
            self.features_ = basis.features
        self.basis_ = basis
        self.box_ = box
        self.dim_ = d
        self.subdomains_ = tuple(ncell)
        self.n_subdomains_ = basis.n_cells
        self.n_components_ = m
        self.scale_ = R
        self.centers_ = basis.centers
        self.radii_ = basis.radii
        self.weights_ = basis.weights
        self.biases_ = basis.biases
        self.n_unknowns_ = basis.n_cells * basis.features * m

    def _check_fitted(self, method):
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call a fit "
                f"method (fit, fit_function, fit_poisson, fit_linear, ...) "
                f"before {method}")

    def _quadrature_nodes(self, quadrature):
        """Validated ``(points, weights)`` of a quadrature rule on the domain."""
        pts = getattr(quadrature, "points", None)
        w = getattr(quadrature, "weights", None)
        if pts is None or w is None:
            raise TypeError("quadrature must be a rankcore.Quadrature (points, "
                            f"weights), got {describe(quadrature)}")
        X = self._check_points(pts, "quadrature.points")
        return X, check_weights(w, "quadrature.weights", X.shape[0])

    def _check_points(self, X, name="X"):
        X = as_array(X, name, ndim=(1, 2))
        d = self.dim_
        if X.ndim == 1:
            if d != 1:
                raise ValueError(f"{name} must have shape (N, {d}), got {describe(X)}")
            X = X[:, None]
        if X.shape[1] != d:
            raise ValueError(f"{name} must have shape (N, {d}), got {describe(X)}")
        lo, hi = self.box_[:, 0], self.box_[:, 1]
        tol = 1e-12 * (hi - lo)
        out = np.any((X < lo - tol) | (X > hi + tol), axis=1)
        if out.any():
            i = int(np.argmax(out))
            raise ValueError(
                f"{name} has {int(out.sum())} points outside the box "
                f"{self.box_.tolist()}; the first is point {i}: {X[i].tolist()}")
        X = np.ascontiguousarray(np.clip(X, lo, hi))
        if getattr(self, "domain_", None) is not None:
            _dom.check_in_domain(self.domain_, self.basis_, X, name)
        return X

    def _default_points(self):
        return _as.default_points(self.basis_.features, self.dim_)

    def _key(self, derivative, component):
        d, m = self.dim_, self.n_components_
        alpha = (0,) * d if derivative is None else derivative
        if component is not None:
            parse_key((component, alpha), d, m, "component/derivative")
        return parse_key(alpha, d, 1, "derivative")[1]

    # -------------------------------------------------------- public api --
    def feature_matrix(self, X):
        """Return the (N, M) feature matrix ``psi_n(x) phi_nj(x)``, M = n_subdomains * features.

        Parameters
        ----------
        X : array_like, shape (N, d)
            Points inside the box.

        Returns
        -------
        ndarray, shape (N, M)
            Columns are ordered subdomain by subdomain (C order over the
            grid of cells), so ``rankcore.gram(model.feature_matrix(X),
            w)`` is the Gram matrix of the basis on a quadrature ``(X,
            w)``.  After :meth:`fit_time_slabs` the columns of the slabs
            follow each other.  Every component uses this same basis.

        Raises
        ------
        NotFittedError
            Before fitting (the random features are drawn by ``fit*``).
        ValueError
            If a point lies outside the box.
        """
        self._check_fitted("feature_matrix(X)")
        X = self._check_points(X)
        if hasattr(self, "slab_models_"):
            return _ts.slab_feature_matrix(self, X)
        basis = self.basis_
        J = basis.features
        out = np.zeros((X.shape[0], basis.n_cells * J))
        for s in range(0, X.shape[0], _CHUNK):
            Xc = X[s:s + _CHUNK]
            one = [((0,) * self.dim_, np.ones(Xc.shape[0]))]
            rows, blocks, vals = basis.pairs(Xc, one)
            cols = blocks[:, None] * J + np.arange(J)[None, :]
            out[s + rows[:, None], cols] = vals
        return out

    def eps_rank(self, eps, quadrature=None, relative=False):
        """Return the ε-rank of the basis: eigenvalues of its Gram matrix above ε.

        The same count as ``rankcore.eps_rank(rankcore.spectrum(rankcore.gram(
        self.feature_matrix(q.points), q.weights)), eps)``, computed from the
        block-sparse Gram matrix by a sparse symmetric factorisation of
        ``G - eps I`` (Sylvester's law of inertia) instead of a dense
        eigensolver (:mod:`rankcore.rfm.spectrum`).

        Parameters
        ----------
        eps : float or array_like of float
            Thresholds, > 0.
        quadrature : rankcore.Quadrature, optional
            Default: composite Gauss-Legendre on the cells with the default
            points per cell (on a geometry: ``geometry.quadrature(n)`` with
            ``n = max(4096, 2 * n_unknowns)``).
        relative : bool
            Count eigenvalues ``> eps * lambda_max`` instead.

        Returns
        -------
        int or ndarray of int
            One count per threshold.

        Examples
        --------
        >>> import numpy as np
        >>> from rankcore import RFM
        >>> m = RFM([(0.0, 1.0), (0.0, 1.0)], subdomains=2, features=20, random_state=0)
        >>> m = m.fit_function(lambda X: np.sin(X[:, 0]))
        >>> m.eps_rank([1e-2, 1e-6]).tolist()
        [12, 36]
        >>> from rankcore import eps_rank, gram, spectrum
        >>> from rankcore.quadrature import composite_gauss_legendre
        >>> q = composite_gauss_legendre([(0, 1), (0, 1)], 2, 8)
        >>> dense = eps_rank(spectrum(gram(m.feature_matrix(q.points), q.weights)), [1e-2, 1e-6])
        >>> m.eps_rank([1e-2, 1e-6], q).tolist() == dense.tolist()
        True
        """
        from .spectrum import basis_eps_rank

        self._check_fitted("eps_rank")
        if hasattr(self, "slab_models_"):
            raise ValueError("eps_rank is not available after fit_time_slabs; "
                             "call it on the models in slab_models_")
        e = as_array(np.reshape(eps, -1), "eps", ndim=1).reshape(np.shape(eps))
        if np.any(e <= 0):
            raise ValueError(f"eps must be > 0, got {e.tolist()}")
        relative = check_bool(relative, "relative")
        if quadrature is None:
            if self.domain_ is not None:
                quadrature = self.domain_.quadrature(max(4096, 2 * self.n_unknowns_))
            else:
                from ..quadrature import composite_gauss_legendre
                quadrature = composite_gauss_legendre(self.box_, self.subdomains_,
                                                      self._default_points())
        X, w = self._quadrature_nodes(quadrature)
        return basis_eps_rank(self.basis_, X, w, e, relative=relative)

    def predict(self, X, derivative=None, component=None):
        """The fitted function, or one of its derivatives, at points ``X``.

        Parameters
        ----------
        X : array_like, shape (N, d)
            Points inside the box.
        derivative : tuple of d ints, optional
            A multi-index of total order <= 2: ``(1, 0)`` is d/dx, ``(1, 1)``
            d^2/dxdy, ``(0, 2)`` d^2/dy^2.  Default: the values.
        component : int, optional
            For ``components > 1``: which component; None gives all of them.

        Returns
        -------
        ndarray, shape (N,) or (N, components)
            The values; ``(N, components)`` for a system with ``component=None``.

        Raises
        ------
        NotFittedError
            If called before fitting.
        ValueError
            If a point lies outside the box, ``X`` has the wrong shape, or the
            derivative or component is malformed.
        """
        self._check_fitted("predict")
        X = self._check_points(X)
        alpha = self._key(derivative, component)
        m = self.n_components_
        if hasattr(self, "slab_models_"):
            return _ts.slab_predict(self, X, alpha, component)
        comps = range(m) if component is None else [component]
        out = np.empty((X.shape[0], len(comps)))
        coef = self.coef_.reshape(self.n_subdomains_, -1)
        for s in range(0, X.shape[0], _CHUNK):
            Xc = X[s:s + _CHUNK]
            sub, _ = self.basis_.touching(Xc)
            for k, c in enumerate(comps):
                rows, blocks, vals = _as.block_pairs(
                    self.basis_, Xc, [(c, alpha, np.ones(Xc.shape[0]))], m, sub=sub)
                out[s:s + Xc.shape[0], k] = _ls.matvec(rows, blocks, vals, coef,
                                                       Xc.shape[0])
        return out[:, 0] if (component is not None or m == 1) else out

    @atomic
    def fit(self, X, y):
        """Fit data by least squares: minimise sum_k (u(x_k) - y_k)^2.

        Parameters
        ----------
        X : array_like, shape (N, d)
            Points inside the box.
        y : array_like, shape (N,) or (N, 1)
            The data; (N, components) for a system.

        Returns
        -------
        self : RFM
            The fitted model.
        """
        self._setup()
        X = self._check_points(X)
        y = as_array(y, "y", ndim=(1, 2))
        m = self.n_components_
        if y.ndim == 1:
            y = y[:, None]
        if y.shape != (X.shape[0], m):
            want = f"({X.shape[0]},)" if m == 1 else f"({X.shape[0]}, {m})"
            raise ValueError(f"y must have shape {want} to match X, got {describe(y)}")
        return self._fit_values(X, [y[:, c] for c in range(m)], None)

    @atomic
    def fit_function(self, f, quadrature=None):
        """Discrete L2 projection of ``f`` onto the basis.

        Minimises ``sum_k w_k (u(x_k) - f(x_k))^2`` over a quadrature rule.

        Parameters
        ----------
        f : callable
            Vectorised: ``f(X)`` with X (N, d) returns (N,) or (N, 1).
        quadrature : rankcore.Quadrature, optional
            Default: composite Gauss-Legendre with the subdomain cells and
            ``ceil((2 * features) ** (1/d))`` (at least 4; 6 in 3-D) nodes per
            cell per dimension, i.e. about twice as many points as unknowns per cell.

        Returns
        -------
        self : RFM
            The fitted model.
        """
        self._setup()
        if self.n_components_ != 1:
            raise ValueError("fit_function fits one function: it needs "
                             f"components=1, got components={self.components}")
        if quadrature is None:
            from ..quadrature import composite_gauss_legendre
            quadrature = composite_gauss_legendre(self.box_, self.subdomains_,
                                                  self._default_points())
        X, w = self._quadrature_nodes(quadrature)
        y = callable_values(f, X, "f")
        return self._fit_values(X, [y], np.sqrt(w))

    def _value_systems(self, X, ys, row_weight):
        zero = (0,) * self.dim_
        one = np.ones(X.shape[0])
        systems = [_as.linear_rows(self.basis_, LinearBlock(X, [(c, zero, one)], y, 1.0, c),
                                   self.n_components_, "block", row_weight)
                   for c, y in enumerate(ys)]
        orders = np.full((self.n_components_, self.dim_), 2)
        systems += _as.continuity_rows(self.basis_, orders, self.n_components_,
                                       self._default_points())
        return systems

    def _fit_values(self, X, ys, row_weight):
        t0 = time.perf_counter()
        return self._solve(self._value_systems(X, ys, row_weight), t0, X)

    def _project_values(self, X, ys):
        """Least-squares coefficients of the values ys (columns: components) at X."""
        rows, blocks, vals, rhs, n_rows = _as.stack(self._value_systems(X, ys.T, None))
        coef, _, _ = _ls.solve_system(rows, blocks, vals, rhs, n_rows, self.n_subdomains_,
                                      self.solver, coords=self.basis_.cell_index,
                                      n_jobs=self._jobs)
        if not np.all(np.isfinite(coef)):
            raise FloatingPointError("fitting init to the basis produced non-finite "
                                     "coefficients; pass a smoother init or fewer features")
        return coef

    def _rounding_floor(self, X):
        """eps * max sum_j |c_j psi phi_j(x)| / max |u(x)| over points X (worst component)."""
        m = self.n_components_
        coef = self.coef_.reshape(self.n_subdomains_, -1)
        zero = (0,) * self.dim_
        J = self.basis_.features
        # the components share the features: evaluate them once
        rows, blocks, vals = self.basis_.pairs(X, [(zero, np.ones(X.shape[0]))])
        worst = 0.0
        for c in range(m):
            terms = vals * coef[blocks, c * J:(c + 1) * J]
            u = np.bincount(rows, weights=terms.sum(axis=1), minlength=X.shape[0])
            a = np.bincount(rows, weights=np.abs(terms).sum(axis=1), minlength=X.shape[0])
            umax = np.max(np.abs(u))
            if umax > 0:
                worst = max(worst, float(np.finfo(np.float64).eps * a.max() / umax))
        return worst

    def _solve(self, systems, t0, value_points, fill=None):
        rows, blocks, vals, rhs, n_rows = _as.stack(systems)
        if fill is not None:  # rhs holds the row scales (see fit_linear)
            scales = rhs
            rhs = scales * stacked_rhs(fill[1], n_rows)
        t1 = time.perf_counter()
        timings = {"row assembly": t1 - t0}
        coef, cond, used, *kept = _ls.solve_system(
            rows, blocks, vals, rhs, n_rows, self.n_subdomains_, self.solver,
            coords=self.basis_.cell_index, keep=fill is not None, timings=timings,
            n_jobs=self._jobs)
        t2 = time.perf_counter()
        if not np.all(np.isfinite(coef)):
            raise FloatingPointError(
                f"the least-squares solve produced non-finite coefficients "
                f"(condition estimate {cond:.3e}); reduce features or scale")
        r = _ls.matvec(rows, blocks, vals, coef, n_rows) - rhs
        nb = np.linalg.norm(rhs)
        res = float(np.linalg.norm(r) / nb) if nb > 0 else float(np.linalg.norm(r))
        timings["residual"] = time.perf_counter() - t2
        if fill is not None and kept[0] is not None:
            fill[0].update(problem=problem_key(self.basis_, fill[1],
                                                (self.n_components_, self.solver)),
                           scales=scales,
                           factor=kept[0], cond=cond, solver=used, n_rows=n_rows)
        return self._store(coef, cond, used, n_rows, res, t0, t2 - t1, value_points,
                           t_asm=t1 - t0, timings=timings)

    def _store(self, coef, cond, used, n_rows, residual, t0, t_solve, value_points,
               t_asm=None, reused=False, timings=None):
        m = self.n_components_
        J = self.basis_.features
        self.coef_ = coef if m == 1 else coef.reshape(self.n_subdomains_, m, J)
        self.cond_ = float(cond)
        self.residual_ = residual
        self.n_equations_ = int(n_rows)
        self.solver_ = used
        self.factor_reused_ = reused
        self.assembly_time_ = (time.perf_counter() - t0 - t_solve) if t_asm is None else t_asm
        self.solve_time_ = t_solve
        # the floor is a maximum over points: a subset of at most
        # FLOOR_POINTS of them estimates it at a fraction of the cost
        n = value_points.shape[0]
        if n > FLOOR_POINTS:
            # fixed and pseudo-random: a strided subset aliases with grids
            # (in 3-D it kept points near faces, where |u| is small)
            pick = np.sort(np.random.default_rng(0).choice(n, FLOOR_POINTS, replace=False))
            value_points = value_points[pick]
        t_floor = time.perf_counter()
        floor = self._rounding_floor(np.ascontiguousarray(value_points))
        self.rounding_floor_ = floor
        timings = dict(timings or {})
        timings["rounding floor"] = time.perf_counter() - t_floor
        self.timings_ = timings
        if not cond < COND_WARN and not floor < FLOOR_WARN:
            warn(
                f"ill-conditioned least-squares solve: condition estimate "
                f"{cond:.3e} >= 1/eps and the coefficients (max |c| = "
                f"{np.max(np.abs(coef)):.3e}) cancel so much that rounding alone "
                f"perturbs predictions by ~{floor:.1e} relative (relative "
                f"residual {residual:.3e}); use fewer features, a larger "
                f"scale or more subdomains", IllConditionedWarning)
        return self


class ELM(RFM):
    """Extreme learning machine: an :class:`RFM` with one subdomain.

    Parameters
    ----------
    box : sequence of (lo, hi) pairs
        As for :class:`RFM`.
    features : int
        The total number of neurons.
    activation : str
        As for :class:`RFM`.
    scale : float or None
        As for :class:`RFM`.
    solver : {"auto", "banded", "multifrontal", "dask", "dense", "lsmr"}
        As for :class:`RFM`.
    random_state : None, int or numpy.random.Generator
        As for :class:`RFM`.
    components : int
        As for :class:`RFM`.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore import ELM
    >>> m = ELM([(0.0, 1.0)], features=30, random_state=0)
    >>> m = m.fit_function(lambda x: np.exp(x[:, 0]))
    >>> bool(abs(m.predict(np.array([[0.5]]))[0] - np.exp(0.5)) < 1e-8)
    True
    """

    def __init__(self, box, features=100, activation="tanh", scale=None,
                 solver="auto", random_state=None, components=1):
        super().__init__(box, subdomains=1, features=features, pou="b",
                         activation=activation, scale=scale, solver=solver,
                         random_state=random_state, components=components)
