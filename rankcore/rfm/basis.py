"""Random features times a partition of unity on a grid of equal cells.

``u(x) = sum_n psi_n(x) sum_j c_nj phi_nj(x)`` with
``phi_nj(x) = sigma(k_nj . l_n(x) + b_nj)`` and ``l_n(x) = (x - c_n) / r_n``
the map of cell ``n`` onto [-1, 1]^d; ``k_nj, b_nj ~ U(-R, R)``.  A
:class:`Basis` holds the drawn parameters and evaluates any linear
combination of derivatives of order <= 2 of its functions through the Numba
kernels of :mod:`rankcore.rfm._kernels`.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as _k

__all__ = ["Basis", "ACTIVATIONS", "POUS", "alpha_axes", "activation_code"]

# The activations of rankcore.activations that the kernels evaluate with
# their first two derivatives (the twice continuously differentiable ones;
# relu and elu are refused: second derivatives of the features are needed).
ACTIVATIONS = ("tanh", "sin", "cos", "sigmoid", "gelu", "silu")
POUS = {"a": 0, "b": 1}


def activation_code(name):
    """Return the kernel code of an activation name or alias.

    Parameters
    ----------
    name : str
        A name or alias of :mod:`rankcore.activations` that is in
        :data:`ACTIVATIONS`.

    Returns
    -------
    int
        The activation's ``code`` in the table.

    Raises
    ------
    TypeError, ValueError
        For a non-string, an unknown name or a non-smooth activation.

    Examples
    --------
    >>> activation_code("tanh"), activation_code("Swish")
    (0, 7)
    """
    from .. import activations

    act = activations.get(name, "activation")
    if act.name not in ACTIVATIONS:
        raise ValueError(
            f"activation must be twice continuously differentiable for the RFM "
            f"(one of {list(ACTIVATIONS)} or an alias), got {name!r}")
    return act.code


def alpha_axes(alpha):
    """Return the two kernel axes ``(ax1, ax2)`` of a multi-index of order <= 2.

    Parameters
    ----------
    alpha : tuple of int
        A derivative multi-index, validated.

    Returns
    -------
    (int, int)
        ``-1`` stands for "no derivative": the value is ``(-1, -1)``,
        ``d/dx_a`` is ``(a, -1)``, ``d^2/dx_a dx_b`` is ``(a, b)`` with
        ``a <= b``.

    Examples
    --------
    >>> alpha_axes((0, 0)), alpha_axes((1, 0)), alpha_axes((1, 1)), alpha_axes((0, 2))
    ((-1, -1), (0, -1), (0, 1), (1, 1))
    """
    axes = [a for a, k in enumerate(alpha) for _ in range(k)]
    axes += [-1] * (2 - len(axes))
    return axes[0], axes[1]


class Basis:
    """The random features of an RFM on a box split into equal cells.

    Parameters
    ----------
    box : ndarray, shape (d, 2)
        Validated ``(lo, hi)`` pairs.
    ncell : tuple of int
        Cells per dimension.
    features : int
        Features per cell.
    pou : {"a", "b"}
    activation : str
        A name of :data:`ACTIVATIONS` or an alias from :mod:`rankcore.activations`.
    scale : float
        Weights and biases are drawn from U(-scale, scale).
    rng : numpy.random.Generator
        Source of the weights and biases.

    Attributes
    ----------
    centers, radii : ndarray, shape (n_cells, d)
    weights : ndarray, shape (n_cells, features, d)
    biases : ndarray, shape (n_cells, features)
    clamp : ndarray of bool, shape (n_cells, d, 2)
        The cell touches the low (high) face of the box in that coordinate;
        psi_b is held at 1 on that side.

    Examples
    --------
    >>> import numpy as np
    >>> b = Basis(np.array([[0.0, 1.0]]), (2,), 3, "b", "tanh", 1.0,
    ...           np.random.default_rng(0))
    >>> X = np.array([[0.1], [0.5]])
    >>> rows, cells, vals = b.pairs(X, [((0,), np.ones(2))])
    >>> rows.tolist(), cells.tolist(), vals.shape
    ([0, 1, 1], [0, 0, 1], (3, 3))
    """

    def __init__(self, box, ncell, features, pou, activation, scale, rng):
        d = box.shape[0]
        ncell_a = np.array(ncell, np.int64)
        h = (box[:, 1] - box[:, 0]) / ncell_a
        grids = np.meshgrid(*[np.arange(c) for c in ncell], indexing="ij")
        cidx = np.stack([g.ravel() for g in grids], axis=1)  # C-order cells
        n = cidx.shape[0]
        self.box = box
        self.dim = d
        self.ncell = tuple(ncell)
        self.n_cells = n
        self.features = features
        self.h = h
        self.lo = np.ascontiguousarray(box[:, 0])
        self.ncell_arr = ncell_a
        self.strides = np.array([int(np.prod(ncell[i + 1:])) for i in range(d)], np.int64)
        self.cell_index = cidx
        self.centers = box[:, 0] + (cidx + 0.5) * h
        self.radii = np.broadcast_to(h / 2.0, (n, d)).copy()
        clamp = np.zeros((n, d, 2), np.bool_)
        clamp[:, :, 0] = cidx == 0
        clamp[:, :, 1] = cidx == ncell_a - 1
        self.clamp = clamp
        self.pou_code = POUS[pou]
        self.act_code = activation_code(activation)
        self.weights = rng.uniform(-scale, scale, size=(n, features, d))
        self.biases = rng.uniform(-scale, scale, size=(n, features))

    @property
    def max_touching(self):
        """Most cells whose partition function is non-zero at one point."""
        return 1 if self.pou_code == 0 else 2 ** self.dim

    def touching(self, X, pou=None):
        """Return the cells whose partition function is non-zero at each point.

        Parameters
        ----------
        X : ndarray, shape (N, d)
            Points inside the box (contiguous float64).
        pou : int, optional
            Partition code to use instead of the basis' own (0 for psi_a).

        Returns
        -------
        idx : ndarray of int64, shape (N, S)
            Cell indices in increasing order, padded with -1.
        count : ndarray of int64, shape (N,)
            Number of cells found for each point.
        """
        code = self.pou_code if pou is None else pou
        return _k.touching(X, self.lo, self.h, self.ncell_arr, self.strides,
                           code, self.max_touching if code else 1)

    def evaluate(self, X, sub, terms):
        """Evaluate ``sum_k coef_k D^(alpha_k)(psi_n phi_nj)`` at X for the cells ``sub``.

        Parameters
        ----------
        X : ndarray, shape (N, d)
            Points inside the box (contiguous float64).
        sub : ndarray of int64, shape (N, S)
            Cells per point, -1 padded (from :meth:`touching`).
        terms : list of (alpha, coef)
            Multi-indices of order <= 2 and their (N,) coefficients.

        Returns
        -------
        ndarray, shape (N, S, features)
            Zeros in padded slots.
        """
        ax1, ax2, coef = _term_arrays(terms, X.shape[0])
        return _k.evaluate_terms(X, sub, self.centers, self.radii, self.weights,
                                 self.biases, self.clamp, self.act_code,
                                 self.pou_code, ax1, ax2, coef)

    def pair_values(self, X, sub, terms, out=None, col=0, comps=None, ncomp=1):
        """:meth:`evaluate` at the occupied slots of ``sub``, in pair storage.

        Only the pairs are computed and stored (no (N, S, J) array).

        Parameters
        ----------
        X : ndarray, shape (N, d)
            As for :meth:`evaluate`.
        sub : ndarray of int64, shape (N, S)
            As for :meth:`evaluate`.
        terms : list of (alpha, coef)
            As for :meth:`evaluate`.
        out : ndarray, shape (P, W), optional
            Where to write the values (columns ``col .. col + ncomp *
            features - 1``; the others are left as they are); ``P`` is the
            number of occupied slots.  A new (P, ncomp * features) array by
            default.
        col : int
            First column written in ``out``.
        comps : sequence of int, optional
            Component of each term (default all 0); component ``c`` fills
            columns ``col + c * features ...`` (zeros if it has no term).
        ncomp : int
            Number of components written.

        Returns
        -------
        rows, cells : ndarray of int64, shape (P,)
            Point and cell of each pair, in the row-major order of ``sub``.
        values : ndarray
            ``out`` (or the new array).
        """
        mask = sub >= 0
        rows = np.nonzero(mask)[0].astype(np.int64)
        cells = np.ascontiguousarray(sub[mask], dtype=np.int64)
        if out is None:
            out, col = np.empty((rows.size, ncomp * self.features)), 0
        ax1, ax2, coef = _term_arrays(terms, X.shape[0])
        tcomp = (np.zeros(len(terms), np.int64) if comps is None
                 else np.asarray(comps, dtype=np.int64))
        _k.evaluate_pairs(X, rows, cells, self.centers, self.radii, self.weights,
                          self.biases, self.clamp, self.act_code, self.pou_code,
                          ax1, ax2, tcomp, coef, ncomp, out, col)
        return rows, cells, out

    def pairs(self, X, terms, sub=None):
        """Return :meth:`evaluate` in pair storage (see :mod:`rankcore.rfm.lstsq`).

        Parameters
        ----------
        X : ndarray, shape (N, d)
            Points inside the box (contiguous float64).
        terms : list of (alpha, coef)
            Multi-indices of order <= 2 and their (N,) coefficients.
        sub : ndarray, optional
            Cells per point; by default :meth:`touching`.

        Returns
        -------
        rows, cells : ndarray of int64, shape (P,)
            Point and cell of each pair, in the row-major order of ``sub``.
        values : ndarray, shape (P, features)
            The terms evaluated for cell ``cells[p]`` at point ``rows[p]``.
        """
        if sub is None:
            sub, _ = self.touching(X)
        return self.pair_values(X, sub, terms)


def _term_arrays(terms, n):
    """Axes and (K, n) coefficients of derivative terms, for the kernels."""
    K = len(terms)
    ax1 = np.empty(K, np.int64)
    ax2 = np.empty(K, np.int64)
    coef = np.empty((K, n))
    for k, (alpha, c) in enumerate(terms):
        ax1[k], ax2[k] = alpha_axes(alpha)
        coef[k] = c
    return ax1, ax2, coef
