"""Extreme learning machines and the random feature method with a partition of unity.

``u(x) = sum_n psi_n(x) sum_j u_nj phi_nj(x)`` with random features
``phi_nj(x) = sigma(k_nj . l_n(x) + b_nj)``, ``l_n(x) = (x - c_n) / r_n`` the map
of subdomain ``n`` onto [-1, 1]^d and ``k_nj, b_nj ~ U(-R, R)`` (SPEC section 6).
The box is split into an ``n_1 x ... x n_d`` grid of equal cells; ``c_n`` is
the centre of a cell and ``r_n`` its half-width.  ``subdomains=1`` is the
extreme learning machine (ELM).

The coefficients ``u_nj`` solve a linear least-squares problem (values at
data or quadrature points, or PDE residuals plus boundary values at
collocation points, plus continuity rows for psi_a).  Every row touches only
the subdomains covering its point, and the default solver exploits that
block sparsity (see :mod:`rankcore.lstsq`).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from . import _rfm_kernels as _k
from . import lstsq as _ls
from ._validate import (as_array, check_box, check_int_per_dim,
                        check_positive_int, check_positive_scalar, check_weights,
                        describe)

__all__ = ["RFM", "ELM", "IllConditionedWarning"]

_ACTIVATIONS = {"tanh": 0, "sin": 1, "cos": 2}
_POUS = {"a": 0, "b": 1}
_SOLVERS = ("auto", "banded", "dense", "lsmr")
# A solve whose triangular factor has a 1-norm condition estimate above this
# warns.  Random-feature bases are *meant* to be nearly dependent, so
# estimates of 1e12..1e15 are the normal state of an accurate RFM solve
# (Householder QR still reaches ~1e-11 errors there); beyond ~1/eps the
# factor is numerically singular and the coefficients are no longer
# determined by the data.
COND_WARN = 1.0 / np.finfo(np.float64).eps
# ... and it warns only when that singularity reaches the answer: when the
# coefficients have grown so large that rounding in sum_j c_j phi_j exceeds
# this relative size (see RFM.rounding_floor_).
FLOOR_WARN = 1e-8
_CHUNK = 8192


class IllConditionedWarning(RuntimeWarning):
    """The least-squares solve was numerically singular."""


class NotFittedError(ValueError, AttributeError):
    """An estimator method that needs a fitted model was called before fit."""


def _callable_values(func, X, name):
    if not callable(func):
        raise TypeError(f"{name} must be a callable taking an (N, d) array, "
                        f"got {describe(func)}")
    out = func(X)
    arr = as_array(out, f"{name}(X)", finite=False)
    N = X.shape[0]
    if arr.shape == (N, 1):
        arr = arr[:, 0]
    elif arr.shape == () and N == 1:
        arr = arr.reshape(1)
    if arr.shape != (N,):
        raise ValueError(
            f"{name} must return an array of shape ({N},) or ({N}, 1) for "
            f"{N} points, got shape {arr.shape}")
    bad = np.nonzero(~np.isfinite(arr))[0]
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name} returned a non-finite value {arr[i]!r} at point {i} "
            f"({X[i].tolist()}); {bad.size} of {N} values are non-finite")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _grid_1d(lo, hi, n):
    """n interior points of a uniform grid (the end points are not used)."""
    return lo + (hi - lo) * (np.arange(1, n + 1) / (n + 1.0))


class _Count(int):
    """The ``features`` parameter, also callable as the ``features(X)`` method."""

    def __new__(cls, value, method):
        obj = int.__new__(cls, value)
        obj._method = method
        return obj

    def __call__(self, X):
        return self._method(X)

    def __repr__(self):
        return int.__repr__(self)

    def __reduce__(self):
        return (int, (int(self),))


class _FeaturesParam:
    """``features`` is both a constructor parameter and a method.

    The issue asks for ``RFM(..., features=300)`` (scikit-learn keeps it as
    ``model.features``) *and* for ``model.features(X)``, the feature matrix.
    Reading the attribute gives back exactly the value passed; when that is
    an integer it comes as an ``int`` subclass that can also be called, so
    both spellings work.  :meth:`RFM.feature_matrix` is the plain method.
    """

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        raw = obj.__dict__["_features_param"]
        if isinstance(raw, (int, np.integer)) and not isinstance(raw, (bool, np.bool_)):
            return _Count(int(raw), obj.feature_matrix)
        return raw

    def __set__(self, obj, value):
        obj.__dict__["_features_param"] = value


def _atomic(method):
    """Run a fit method so that a failure leaves the estimator as it was.

    ``fit*`` draw a new basis before validating the callables and solving;
    without this, an error half-way would leave new ``weights_`` next to
    an old ``coef_``.
    """
    import functools

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
        The domain, a box in 1, 2 or 3 dimensions.
    subdomains : int or sequence of int
        Number of cells per dimension (one int for all).  1 gives the ELM.
    features : int
        Random features *per subdomain* (4 x 4 subdomains with
        ``features=300`` give 4800 unknowns).  ``model.features`` returns
        this value; it is also callable: ``model.features(X)`` is
        :meth:`feature_matrix`.
    pou : {"b", "a"}
        Partition of unity.  ``"b"``: the smooth psi_b of SPEC section 6,
        overlapping a quarter of the half-width into each neighbour; on the
        faces of the box it is held at 1, so that the psi_b sum to exactly 1
        on the whole box.  ``"a"``: the indicator of each cell, every point
        belonging to exactly one cell; continuity of the value and of the
        normal derivative across interior faces is then imposed by extra
        least-squares rows.
    activation : {"tanh", "sin", "cos"}
    scale : float
        R: weights and biases are drawn from U(-R, R) and act on the local
        coordinate in [-1, 1]^d.
    solver : {"auto", "banded", "dense", "lsmr"}
        Least-squares solver (see :mod:`rankcore.lstsq`).  ``"auto"`` is the
        block Householder QR (``"banded"``), falling back to ``"dense"`` when
        a subdomain has fewer equations than features.
    random_state : None, int or numpy.random.Generator
        Seed of the random features (``numpy.random.default_rng``).

    Attributes
    ----------
    coef_ : ndarray, shape (n_subdomains, features)
    cond_ : float
        1-norm condition estimate of the row-scaled system's triangular
        factor (LSMR: its own estimate).
    residual_ : float
        Relative residual ``||A c - b|| / ||b||`` of the row-scaled system.
    rounding_floor_ : float
        ``eps * max_x sum_j |c_j psi phi_j(x)| / max_x |u(x)|`` over the fit's
        points: the relative rounding error that cancellation among the
        coefficients puts into ``predict``.  A solve warns
        (:class:`IllConditionedWarning`) when ``cond_ >= 1/eps`` *and*
        ``rounding_floor_ >= 1e-8``; a condition estimate above 1/eps alone
        is the normal state of an accurate RFM solve.
    n_unknowns_, n_equations_ : int
    solver_ : str
        The solver actually used.
    assembly_time_, solve_time_ : float
        Seconds spent assembling and solving the system.
    centers_, radii_ : ndarray, shape (n_subdomains, d)
    weights_ : ndarray, shape (n_subdomains, features, d)
    biases_ : ndarray, shape (n_subdomains, features)

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

    features = _FeaturesParam()

    def __init__(self, box, subdomains=1, features=100, pou="b",
                 activation="tanh", scale=1.0, solver="auto",
                 random_state=None):
        self.box = box
        self.subdomains = subdomains
        self.features = features
        self.pou = pou
        self.activation = activation
        self.scale = scale
        self.solver = solver
        self.random_state = random_state

    # ------------------------------------------------------------ setup ---
    def _setup(self):
        box = check_box(self.box, "box")
        d = box.shape[0]
        if d > 3:
            raise ValueError(f"box must have 1, 2 or 3 dimensions, got {d}")
        ncell = check_int_per_dim(self.subdomains, "subdomains", d)
        J = check_positive_int(self.__dict__["_features_param"], "features")
        if not isinstance(self.pou, str) or self.pou not in _POUS:
            raise ValueError(f"pou must be 'a' or 'b', got {self.pou!r}")
        if not isinstance(self.activation, str) or self.activation not in _ACTIVATIONS:
            raise ValueError("activation must be one of 'tanh', 'sin', 'cos', "
                             f"got {self.activation!r}")
        R = check_positive_scalar(self.scale, "scale")
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}, got {self.solver!r}")
        if isinstance(self.random_state, (bool, np.bool_)):
            raise TypeError("random_state must be None, an int or a numpy "
                            f"Generator, got {describe(self.random_state)}")
        try:
            rng = np.random.default_rng(self.random_state)
        except (TypeError, ValueError) as exc:
            raise TypeError("random_state must be None, an int >= 0 or a "
                            f"numpy Generator, got {describe(self.random_state)}") from exc
        ncell_a = np.array(ncell, np.int64)
        h = (box[:, 1] - box[:, 0]) / ncell_a
        grids = np.meshgrid(*[np.arange(c) for c in ncell], indexing="ij")
        cidx = np.stack([g.ravel() for g in grids], axis=1)  # C-order cells
        n_sub = cidx.shape[0]
        self.box_ = box
        self.dim_ = d
        self.subdomains_ = tuple(ncell)
        self.n_subdomains_ = n_sub
        self._J = J
        self._h = h
        self._ncell = ncell_a
        self._strides = np.array(
            [int(np.prod(ncell[i + 1:])) for i in range(d)], np.int64)
        self.centers_ = box[:, 0] + (cidx + 0.5) * h
        self.radii_ = np.broadcast_to(h / 2.0, (n_sub, d)).copy()
        clamp = np.zeros((n_sub, d, 2), np.bool_)
        clamp[:, :, 0] = cidx == 0
        clamp[:, :, 1] = cidx == ncell_a - 1
        self._clamp = clamp
        self._cidx = cidx
        self._pou = _POUS[self.pou]
        self._act = _ACTIVATIONS[self.activation]
        self.weights_ = rng.uniform(-R, R, size=(n_sub, J, d))
        self.biases_ = rng.uniform(-R, R, size=(n_sub, J))
        self.n_unknowns_ = n_sub * J

    def _check_fitted(self, method):
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit, "
                f"fit_function or fit_poisson before {method}")

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
        return np.ascontiguousarray(np.clip(X, lo, hi))

    # ----------------------------------------------------------- kernels --
    def _touching(self, X):
        max_sub = 1 if self._pou == 0 else 2 ** self.dim_
        sub, count = _k.touching(X, self.box_[:, 0].copy(), self._h,
                                 self._ncell, self._strides, self._pou, max_sub)
        return sub, count

    def _eval(self, X, sub, op):
        return _k.evaluate(X, sub, self.centers_, self.radii_, self.weights_,
                           self.biases_, self._clamp, self._act, self._pou, op)

    def _pairs(self, X, op, sub=None, sign=None):
        """Pairs (row, block, values) of one equation block, rows local."""
        if sub is None:
            sub, _ = self._touching(X)
        vals = self._eval(X, sub, op)
        if sign is not None:
            vals *= sign[None, :, None]
        mask = sub >= 0
        rows = np.nonzero(mask)[0].astype(np.int64)
        return rows, sub[mask], vals[mask]

    # -------------------------------------------------------- public api --
    def feature_matrix(self, X):
        """The (N, M) feature matrix ``psi_n(x) phi_nj(x)``, M = n_subdomains * features.

        Also reachable as ``model.features(X)`` (see :class:`RFM`).

        Columns are ordered subdomain by subdomain (C order over the grid
        of cells), so ``rankcore.gram(model.features(q.points), q.weights)``
        is the Gram matrix of the basis on a quadrature ``q``.

        Raises
        ------
        NotFittedError
            Before fitting (the random features are drawn by ``fit*``).
        ValueError
            If a point lies outside the box.
        """
        self._check_fitted("features(X)")
        X = self._check_points(X)
        J = self._J
        out = np.zeros((X.shape[0], self.n_unknowns_))
        for s in range(0, X.shape[0], _CHUNK):
            Xc = X[s:s + _CHUNK]
            rows, blocks, vals = self._pairs(Xc, 0)
            cols = blocks[:, None] * J + np.arange(J)[None, :]
            out[s + rows[:, None], cols] = vals
        return out

    def predict(self, X):
        """The fitted function at points ``X`` (N, d) inside the box.

        Raises
        ------
        NotFittedError
            If called before fitting.
        ValueError
            If a point lies outside the box or ``X`` has the wrong shape.
        """
        self._check_fitted("predict")
        X = self._check_points(X)
        out = np.empty(X.shape[0])
        for s in range(0, X.shape[0], _CHUNK):
            Xc = X[s:s + _CHUNK]
            rows, blocks, vals = self._pairs(Xc, 0)
            out[s:s + Xc.shape[0]] = _ls.matvec(rows, blocks, vals, self.coef_,
                                                Xc.shape[0])
        return out

    @_atomic
    def fit(self, X, y):
        """Least-squares fit of data: minimise sum_k (u(x_k) - y_k)^2.

        Parameters
        ----------
        X : array_like, shape (N, d)
            Points inside the box.
        y : array_like, shape (N,) or (N, 1)

        Returns
        -------
        self
        """
        self._setup()
        X = self._check_points(X)
        y = as_array(y, "y", ndim=(1, 2))
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},) to match X, "
                             f"got {describe(y)}")
        t0 = time.perf_counter()
        eqs = [self._block(X, 0, y, scaling="block")]
        eqs += self._continuity_blocks()
        return self._solve(eqs, t0, X)

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
            ``ceil((2 * features) ** (1/d))`` (at least 4) nodes per cell per
            dimension, i.e. about twice as many points as unknowns per cell.

        Returns
        -------
        self
        """
        self._setup()
        if quadrature is None:
            from .quadrature import composite_gauss_legendre
            order = max(4, math.ceil((2 * self._J) ** (1.0 / self.dim_) - 1e-9))
            quadrature = composite_gauss_legendre(self.box_, self.subdomains_, order)
        pts = getattr(quadrature, "points", None)
        w = getattr(quadrature, "weights", None)
        if pts is None or w is None:
            raise TypeError("quadrature must be a rankcore.Quadrature (points, "
                            f"weights), got {describe(quadrature)}")
        X = self._check_points(pts, "quadrature.points")
        w = check_weights(w, "quadrature.weights", X.shape[0])
        y = _callable_values(f, X, "f")
        t0 = time.perf_counter()
        eqs = [self._block(X, 0, y, scaling="block", row_weight=np.sqrt(w))]
        eqs += self._continuity_blocks()
        return self._solve(eqs, t0, X)

    @_atomic
    def fit_poisson(self, f, g, points=None):
        """Solve -Laplace(u) = f in the box, u = g on its boundary.

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
            (1/d))`` (at least 4), about twice as many equations as unknowns
            per cell.  A pair of arrays gives the points explicitly.

        Returns
        -------
        self
        """
        self._setup()
        Xi, Xb = self._poisson_points(points)
        fi = _callable_values(f, Xi, "f")
        gb = _callable_values(g, Xb, "g")
        t0 = time.perf_counter()
        eqs = [self._block(Xi, 1, fi, scaling="row", sign=-1.0),
               self._block(Xb, 0, gb, scaling="row")]
        eqs += self._continuity_blocks()
        return self._solve(eqs, t0, np.concatenate([Xi, Xb]))

    # --------------------------------------------------------- internals --
    def _default_points(self):
        return max(4, math.ceil((2 * self._J) ** (1.0 / self.dim_) - 1e-9))

    def _poisson_points(self, points):
        d = self.dim_
        lo, hi = self.box_[:, 0], self.box_[:, 1]
        if isinstance(points, tuple) and len(points) == 2 and not all(
                isinstance(p, (int, np.integer)) for p in points):
            Xi = self._check_points(points[0], "points[0] (interior)")
            Xb = self._check_points(points[1], "points[1] (boundary)")
            return Xi, Xb
        per = check_int_per_dim(self._default_points() if points is None else points,
                                "points", d)
        n = [per[i] * self.subdomains_[i] for i in range(d)]
        axes = [_grid_1d(lo[i], hi[i], n[i]) for i in range(d)]
        Xi = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
        faces = []
        for a in range(d):
            other = [np.linspace(lo[i], hi[i], n[i]) for i in range(d) if i != a]
            for side in (lo[a], hi[a]):
                if other:
                    G = np.meshgrid(*other, indexing="ij")
                    cols = [g.ravel() for g in G]
                else:
                    cols = []
                m = cols[0].size if cols else 1
                cols.insert(a, np.full(m, side))
                faces.append(np.stack(cols, axis=1))
        Xb = np.concatenate(faces)
        return np.ascontiguousarray(Xi), np.ascontiguousarray(Xb)

    def _block(self, X, op, rhs, *, scaling, sign=None, row_weight=None):
        rows, blocks, vals = self._pairs(X, op)
        if sign is not None:
            vals *= sign
        rhs = rhs.copy()
        if row_weight is not None:
            vals *= row_weight[rows][:, None]
            rhs *= row_weight
        norms = _ls.row_norms(rows, vals, X.shape[0])
        if scaling == "row":
            s = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 1.0)
        else:
            mx = norms.max()
            s = np.full(X.shape[0], 1.0 / mx if mx > 0 else 1.0)
        vals *= s[rows][:, None]
        rhs *= s
        return rows, blocks, vals, rhs

    def _continuity_blocks(self):
        """psi_a only: value and normal-derivative jumps across interior faces."""
        if self._pou != 0:
            return []
        d = self.dim_
        per = self._default_points()
        lo, hi = self.box_[:, 0], self.box_[:, 1]
        out = []
        for a in range(d):
            if self.subdomains_[a] < 2:
                continue
            other = [i for i in range(d) if i != a]
            axes = [_grid_1d(lo[i], hi[i], per * self.subdomains_[i]) for i in other]
            if axes:
                G = np.meshgrid(*axes, indexing="ij")
                base = np.stack([g.ravel() for g in G], axis=1)
            else:
                base = np.zeros((1, 0))
            for k in range(1, self.subdomains_[a]):
                xa = lo[a] + k * self._h[a]
                Y = np.insert(base, a, xa, axis=1)
                Y = np.ascontiguousarray(Y)
                # the cell below the face (in coordinate a) and the one above
                below = Y.copy()
                below[:, a] = xa - 0.5 * self._h[a]
                cb, _ = _k.touching(below, lo.copy(), self._h, self._ncell,
                                    self._strides, 0, 1)
                sub = np.stack([cb[:, 0], cb[:, 0] + self._strides[a]], axis=1)
                sign = np.array([1.0, -1.0])
                for op in (0, 2 + a):
                    rows, blocks, vals = self._pairs(Y, op, sub=sub, sign=sign)
                    rhs = np.zeros(Y.shape[0])
                    norms = _ls.row_norms(rows, vals, Y.shape[0])
                    s = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 1.0)
                    vals *= s[rows][:, None]
                    out.append((rows, blocks, vals, rhs))
        return out

    def _rounding_floor(self, X):
        """eps * max sum_j |c_j psi phi_j(x)| / max |u(x)| over points X.

        The size of the rounding error of ``predict`` relative to the fitted
        function: it is what decides whether a numerically singular solve
        still gives a usable answer.
        """
        rows, blocks, vals = self._pairs(X, 0)
        terms = vals * self.coef_[blocks]
        u = np.bincount(rows, weights=terms.sum(axis=1), minlength=X.shape[0])
        a = np.bincount(rows, weights=np.abs(terms).sum(axis=1), minlength=X.shape[0])
        umax = np.max(np.abs(u))
        return float(np.finfo(np.float64).eps * a.max() / umax) if umax > 0 else 0.0

    def _solve(self, eqs, t0, value_points):
        offset = 0
        R, B, V, b = [], [], [], []
        for rows, blocks, vals, rhs in eqs:
            R.append(rows + offset)
            B.append(blocks)
            V.append(vals)
            b.append(rhs)
            offset += rhs.shape[0]
        rows = np.concatenate(R)
        blocks = np.concatenate(B).astype(np.int64)
        vals = np.concatenate(V)
        rhs = np.concatenate(b)
        n_rows = offset
        nb = self.n_subdomains_
        t1 = time.perf_counter()
        solver = "banded" if self.solver == "auto" else self.solver
        if solver == "banded":
            try:
                coef, cond = _ls.solve_banded(rows, blocks, vals, rhs, n_rows, nb)
            except _ls.UnderdeterminedBlock:
                if self.solver == "banded":
                    warnings.warn("a subdomain has fewer equations than features; "
                                  "banded QR needs more, using the dense solver",
                                  RuntimeWarning, stacklevel=3)
                solver = "dense"
        if solver == "dense":
            coef, cond = _ls.solve_dense(rows, blocks, vals, rhs, n_rows, nb)
        elif solver == "lsmr":
            coef, cond = _ls.solve_lsmr(rows, blocks, vals, rhs, n_rows, nb)
        t2 = time.perf_counter()
        if not np.all(np.isfinite(coef)):
            raise FloatingPointError(
                f"the least-squares solve produced non-finite coefficients "
                f"(condition estimate {cond:.3e}); reduce features or scale")
        r = _ls.matvec(rows, blocks, vals, coef, n_rows) - rhs
        nb_ = np.linalg.norm(rhs)
        self.coef_ = coef
        self.cond_ = float(cond)
        self.residual_ = float(np.linalg.norm(r) / nb_) if nb_ > 0 else float(np.linalg.norm(r))
        self.n_equations_ = int(n_rows)
        self.solver_ = solver
        self.assembly_time_ = t1 - t0
        self.solve_time_ = t2 - t1
        floor = self._rounding_floor(value_points)
        self.rounding_floor_ = floor
        if not cond < COND_WARN and not floor < FLOOR_WARN:
            warnings.warn(
                f"ill-conditioned least-squares solve: condition estimate "
                f"{cond:.3e} >= 1/eps and the coefficients (max |c| = "
                f"{np.max(np.abs(coef)):.3e}) cancel so much that rounding alone "
                f"perturbs predictions by ~{floor:.1e} relative (relative "
                f"residual {self.residual_:.3e}); use fewer features, a larger "
                f"scale or more subdomains", IllConditionedWarning, stacklevel=3)
        return self


class ELM(RFM):
    """Extreme learning machine: an :class:`RFM` with one subdomain.

    Parameters
    ----------
    box, features, activation, scale, solver, random_state
        As for :class:`RFM` (``features`` is the total number of neurons).

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore import ELM
    >>> m = ELM([(0.0, 1.0)], features=30, random_state=0)
    >>> m = m.fit_function(lambda x: np.exp(x[:, 0]))
    >>> bool(abs(m.predict(np.array([[0.5]]))[0] - np.exp(0.5)) < 1e-8)
    True
    """

    def __init__(self, box, features=100, activation="tanh", scale=1.0,
                 solver="auto", random_state=None):
        super().__init__(box, subdomains=1, features=features, pou="b",
                         activation=activation, scale=scale, solver=solver,
                         random_state=random_state)
