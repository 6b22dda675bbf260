"""The RFM and ELM estimators: fit data, functions and linear or nonlinear PDEs.

``u(x) = sum_n psi_n(x) sum_j c_nj phi_nj(x)`` (see :mod:`rankcore.rfm.basis`);
with ``components=m`` every component has its own coefficients over the same
basis.  A fit builds the block-sparse least-squares system of its equation
blocks (:mod:`rankcore.rfm.assembly`) and solves it (:mod:`rankcore.rfm.lstsq`).
"""

from __future__ import annotations

import functools
import time

import numpy as np

from . import assembly as _as
from . import domain as _dom
from . import lstsq as _ls
from .basis import POUS, Basis, activation_code
from .equations import (LinearBlock, callable_values, normalize_blocks,
                        parse_key)
from .._warn import warn
from ..validation import (as_array, check_bool, check_box, check_choice,
                         check_int_per_dim, check_positive_int, check_positive_scalar,
                         check_random_state, check_weights, describe)

__all__ = ["RFM", "ELM", "IllConditionedWarning", "NotFittedError",
           "ConvergenceWarning", "DEFAULT_SCALE"]

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
# tests/test_rfm_pde.py, 256 points gave within 5% of the value on all 1002
# to 11281 points (tests/test_rfm.py checks a factor 2), at a quarter of
# the cost of 1024 (4-10 ms per fit on the small problems).  A strided
# subset did not: on the 3-D grid it gave 1.0e-7 against 2.3e-8.
FLOOR_POINTS = 256
#: ``fit_linear(..., reuse=cache)`` solves with the cached QR factorization,
#: without assembling, when the problem is the cached one moved: the same
#: features, every point within ``REUSE_RTOL`` times the largest box
#: coordinate of the cached point (relative to the box's low corner) and
#: every coefficient within ``REUSE_RTOL`` times the block's largest one.
REUSE_RTOL = 64 * np.finfo(np.float64).eps
_CHUNK = 8192
# Default scale R per dimension of the box, chosen by bench/rfm_defaults.py
# (the table is in docs/rfm.md).
DEFAULT_SCALE = {1: 2.0, 2: 0.5, 3: 0.3}


class IllConditionedWarning(RuntimeWarning):
    """The least-squares solve was numerically singular."""


class ConvergenceWarning(RuntimeWarning):
    """A nonlinear solve stopped before it converged; the model was left unchanged."""


class NotFittedError(ValueError, AttributeError):
    """An estimator method that needs a fitted model was called before fit."""


def _atomic(method):
    """Run a fit method so that a failure leaves the estimator as it was.

    ``fit*`` draw a new basis before validating the callables and solving;
    without this, an error half-way would leave new ``weights_`` next to
    an old ``coef_``.
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


class RFM:
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
    solver : {"auto", "banded", "dense", "lsmr"}
        Least-squares solver (see :mod:`rankcore.rfm.lstsq`).  ``"auto"`` is
        the block Householder QR (``"banded"``), falling back to ``"dense"``
        when a subdomain has fewer equations than features.
    random_state : None, int or numpy.random.Generator
        Seed of the random features (``numpy.random.default_rng``).
    components : int
        Number of unknown functions (a system); each has its own
        coefficients over the same random features.
    prune_eps : float in (0, 1) or None
        Keep on every cell only features that are ε-linearly independent
        there (relative threshold on the cell's Gram eigenvalues, strong
        rank-revealing selection; :mod:`rankcore.rfm.prune`).  None keeps all.

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
                 random_state=None, components=1, prune_eps=None):
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
            from .timeslab import slab_feature_matrix
            return slab_feature_matrix(self, X)
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
            from .timeslab import slab_predict
            return slab_predict(self, X, alpha, component)
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

    @_atomic
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

    @_atomic
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
                                      self.solver, coords=self.basis_.cell_index)
        if not np.all(np.isfinite(coef)):
            raise FloatingPointError("fitting init to the basis produced non-finite "
                                     "coefficients; pass a smoother init or fewer features")
        return coef

    @_atomic
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
            if _same_problem(reuse, self.basis_, blocks, (self.n_components_, self.solver)):
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
        self._store(res.coef, res.cond, res.solver, res.n_rows, res.residual,
                    t0, res.t_solve, np.concatenate([b.X for b in blocks]))
        return self

    def _initial_coef(self, init, saved, blocks):
        """The starting coefficients of fit_nonlinear (None: zero)."""
        if init is None:
            return None
        shape = (self.n_subdomains_, self.n_components_ * self.basis_.features)
        if isinstance(init, RFM):
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

    @_atomic
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
        from .timeslab import march

        self._setup()
        if self.domain_ is not None:
            raise ValueError("fit_time_slabs needs a space-time box, got the geometry "
                             f"{self.domain_!r}; use fit_linear on the whole domain")
        slabs = check_positive_int(slabs, "slabs")
        reuse = check_bool(reuse, "reuse")
        blocks = normalize_blocks(equations, self.dim_, self.n_components_,
                                  self._check_points)
        return march(self, blocks, slabs, reuse)

    # --------------------------------------------------------- internals --
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
            rhs = scales * _stacked_rhs(fill[1], n_rows)
        t1 = time.perf_counter()
        coef, cond, used, *kept = _ls.solve_system(
            rows, blocks, vals, rhs, n_rows, self.n_subdomains_, self.solver,
            coords=self.basis_.cell_index, keep=fill is not None)
        t2 = time.perf_counter()
        if not np.all(np.isfinite(coef)):
            raise FloatingPointError(
                f"the least-squares solve produced non-finite coefficients "
                f"(condition estimate {cond:.3e}); reduce features or scale")
        r = _ls.matvec(rows, blocks, vals, coef, n_rows) - rhs
        nb = np.linalg.norm(rhs)
        res = float(np.linalg.norm(r) / nb) if nb > 0 else float(np.linalg.norm(r))
        if fill is not None and kept[0] is not None:
            fill[0].update(problem=_problem_key(self.basis_, fill[1],
                                                (self.n_components_, self.solver)),
                           scales=scales,
                           factor=kept[0], cond=cond, solver=used, n_rows=n_rows)
        return self._store(coef, cond, used, n_rows, res, t0, t2 - t1, value_points,
                           t_asm=t1 - t0)

    def _solve_again(self, cache, blocks, t0, value_points):
        """Solve with the cached factorization (``fit_linear``'s ``reuse``)."""
        rhs = cache["scales"] * _stacked_rhs(blocks, cache["n_rows"])
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
                           value_points, t_asm=t1 - t0, reused=True)

    def _store(self, coef, cond, used, n_rows, residual, t0, t_solve, value_points,
               t_asm=None, reused=False):
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
        floor = self._rounding_floor(np.ascontiguousarray(value_points))
        self.rounding_floor_ = floor
        if not cond < COND_WARN and not floor < FLOOR_WARN:
            warn(
                f"ill-conditioned least-squares solve: condition estimate "
                f"{cond:.3e} >= 1/eps and the coefficients (max |c| = "
                f"{np.max(np.abs(coef)):.3e}) cancel so much that rounding alone "
                f"perturbs predictions by ~{floor:.1e} relative (relative "
                f"residual {residual:.3e}); use fewer features, a larger "
                f"scale or more subdomains", IllConditionedWarning)
        return self


#: What ``fit_linear`` stores in a ``reuse`` cache.
_CACHE_KEYS = {"problem", "scales", "factor", "cond", "solver", "n_rows"}


def _stacked_rhs(blocks, n_rows):
    """The blocks' right-hand sides in the order of the stacked rows (zeros after)."""
    out = np.zeros(n_rows)
    sizes = [b.X.shape[0] for b in blocks]
    out[:sum(sizes)] = np.concatenate([b.rhs for b in blocks])
    return out


def _problem_key(basis, blocks, extra):
    """What makes a ``fit_linear`` matrix: copies, compared by :func:`_same_problem`."""
    return dict(
        shape=(basis.dim, basis.n_cells, basis.features, basis.pou_code, basis.act_code,
               extra),
        weights=basis.weights.copy(), biases=basis.biases.copy(), h=basis.h.copy(),
        clamp=basis.clamp.copy(),
        centers=basis.centers - basis.lo, span=float(np.abs(basis.box).max()),
        blocks=[(b.X - basis.lo, [(c, a, np.array(coef)) for c, a, coef in b.terms],
                 b.weight) for b in blocks])


def _same_problem(cache, basis, blocks, extra):
    """True when ``cache`` holds the factorization of this problem (see ``fit_linear``)."""
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
    solver : {"auto", "banded", "dense", "lsmr"}
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
