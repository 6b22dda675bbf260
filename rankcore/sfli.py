"""Structured first-layer initialisation (SFLI): NumPy parameter generators.

A first hidden layer ``h_j(x) = sigma(w_j . x + b_j)``, ``j = 1..n``, on a box
``Omega`` starts *epsilon-linearly independent* when the smallest eigenvalue of
the Gram matrix ``M_ij = int_Omega h_i h_j`` exceeds ``eps``.  Default
initialisations (Xavier) make almost every neuron nearly linear on ``Omega``,
so ``rank_eps(M)`` is about 2.  The generators here place the neurons instead:

``grid_init`` (1-D, deterministic; the paper's scheme)
    Sigmoidal and ramp activations: centres ``c_j`` uniform on ``[a, b]``
    (endpoints included), ``w_j = s (n-1)/(b-a)``, ``b_j = -w_j c_j``; every
    neuron turns over within about one grid spacing of its own centre.  Ramp
    activations (ReLU, ELU, GELU, SiLU) additionally *face the far end of the
    interval*: a neuron whose centre lies in the right half gets ``w_j < 0``.
    Otherwise ``relu(w (x - b))`` would vanish on ``[a, b]`` and the neurons
    near ``b`` would have tiny support and norm.
    Periodic activations (sin, cos): a grid of centres is useless
    (``sin(w (x - c_j))`` all lie in ``span{sin wx, cos wx}``, epsilon-rank
    2), so the neurons form a cosine ladder
    ``h_j(x) = cos(s pi j (x - a)/(b - a))``, ``j = 0..n-1``, i.e.
    ``w_j = s pi j/(b-a)`` and a phase that turns sin into cos; with ``s = 1``
    they are exactly orthogonal on ``[a, b]``.

``udi_init`` (any dimension, random; uniform density initialisation)
    Directions ``a_j`` uniform on the unit sphere (normalised Gaussians),
    offsets ``r_j`` uniform on ``(-R_j, R_j)`` and
    ``h_j(x) = sigma(gamma (a_j . (x - x_c) + r_j))``, i.e.
    ``w_j = gamma a_j``, ``b_j = gamma (r_j - a_j . x_c)``.  ``x_c`` is the
    box centre and ``R`` the radius of the ball about ``x_c`` that holds the
    box.  With ``offsets="ball"`` every ``R_j = R`` (the literal TransNet/paper
    rule); with ``offsets="box"`` (default) ``R_j = sum_i |a_ji| h_i`` (``h_i``
    the half-widths), the support function of the box in direction ``a_j``,
    which is ``<= R``: every hyperplane then cuts the box.  The "ball" rule
    leaves some hyperplanes outside the box in ``d >= 2``; those neurons are
    (nearly) constant or linear or, for ReLU, identically zero on the box,
    which costs epsilon-rank (measured: ``bench/sfli_shapes.py``).
    For ramp activations the sign of ``r_j`` is chosen so that the active
    side contains ``x_c`` (no neuron is zero on the box).
    Periodic activations draw a random frequency per neuron instead,
    ``w_j = k_j a_j`` with ``k_j`` uniform on ``(0, gamma)`` and a phase
    uniform on ``[0, 2 pi)``.

The default ``gamma`` is ``s * n**(1/d) / (2R)`` (sigmoidal and ramp) or
``s * pi * n**(1/d) / (2R)`` (periodic), so that in 1-D UDI and the grid share
the same scale and the default is invariant under a rescaling of the box.

Default shape factors ``s`` were chosen by measurement (full tables in
docs/sfli.md).

Grid (``DEFAULT_SHAPE["grid"]``; ``python bench/sfli_shapes.py``: n = 50
neurons, ``default_quadrature`` on ``[-1, 1]``, ``s`` in ``{1/4, ..., 16}``):
the smallest ``s`` whose first layer is eps-independent at eps = 1e-4
(``lambda_min > 1e-4``); sharper neurons saturate, and for tanh on the
headline problem the iterations to loss 1e-4 were 548 / 312 / 1041 / >3000
for s = 0.5 / 1 / 2 / 4 (``bench/repro_1_multifreq.py --shape-sweep``).

UDI (``UDI_SHAPE``, per dimension; ``python bench/sfli_udi_shapes.py``):
by training, not by rank.  3x50 ``nn.Sequential`` networks, Adam 1e-3, on
seeded multi-frequency targets (other seeds than the study of
``bench/sfli_study.py`` reports), ``s`` from 1/4 to 4 times a reference;
among the ``s`` whose median error on held-out points (the midpoints of the
training grid) is within 2x of the best, the one with the fewest median
iterations to loss 1e-3, else the lowest held-out error.  The held-out error
matters: sin features at s = 4 and 8 drove the training loss to 1e-11 while
the error between the training points was 1e-2 to 0.5.

==========  =====  ===========================  ===========  ===========
activation  grid   grid: lambda_min, rank,      UDI s, 2-D   UDI s, 3-D
            s      last (Xavier last)
==========  =====  ===========================  ===========  ===========
tanh        1      1.4e-04, 38, 26  (1)         2            2
sigmoid     4      4.7e-04, 49,  6  (1)         2            2
relu        0.5    2.1e-04, 29, 21  (2)         4            0.25
elu         2      8.7e-04, 48, 28  (2)         16           1
gelu        2      3.4e-03, 50, 33  (2)         2            2
silu        2      4.2e-04, 42, 31  (1)         4            1
sin         1      1.0e+00, 50, 50  (1)         1            0.5
cos         1      1.0e+00, 50, 48  (2)         1            0.5
==========  =====  ===========================  ===========  ===========

("rank" = ``rank_eps`` of the first layer at absolute eps = 1e-3; "last" =
last hidden layer of a 3x50 MLP whose deeper layers are Xavier; in brackets
the all-Xavier network.)  For the ramps (ReLU, ELU, SiLU) the held-out
errors of all ``s`` tried lay within a factor 1.9 of each other, so their
UDI choice matters little.

``lambda_min`` scales with the grid spacing, so with absolute eps the
guarantee depends on ``n`` and on ``|Omega|``: sigmoid's half amplitude gives
a quarter of tanh's eigenvalues and never clears 1e-3 at n = 50 on
``[-1, 1]`` (it clears 1e-4).  Sigmoid's last hidden layer stays low because
its positive outputs feed a common mode into every deeper Xavier layer.

The first layer is not the whole network: its features have another mean
and scale on the domain than Xavier's (a GELU grid neuron reaches about
``s (n-1)``), which pushes the deeper Xavier layers out of their working
range.  ``standardize_layer`` rewrites a later layer so that it sees its
inputs centred and of unit variance on the domain; ``bridge.sfli_`` applies
it to every later hidden layer of a plain MLP and starts the output layer at
zero (docs/sfli.md, "Later layers", has the measurements).

The activations (names, aliases, NumPy functions, families) come from
``rankcore.activations``.

All functions return float64 ``(W, b)`` with ``W`` of shape ``(n, d)`` and
``b`` of shape ``(n,)``, ready to be copied into a linear layer's
``weight`` and ``bias``.  Nothing here imports torch.
"""

from __future__ import annotations

import numpy as np

from . import activations as _act
from . import quadrature as _quad
from .validation import (as_array, check_box, check_positive_int, check_positive_scalar,
                        check_random_state, check_weights, describe, first_nonfinite)

__all__ = [
    "SFLI_ACTIVATIONS",
    "DEFAULT_SHAPE",
    "UDI_SHAPE",
    "activation_function",
    "default_shape",
    "default_quadrature",
    "grid_init",
    "udi_init",
    "sfli_init",
    "first_layer_features",
    "standardize_layer",
]

#: Activations with an SFLI scheme: every entry of ``rankcore.activations``.
SFLI_ACTIVATIONS = _act.names()

#: UDI shape factor ``s`` per dimension and activation, chosen by training
#: (``bench/sfli_udi_shapes.py``; see module docs).  Dimensions above 3 use
#: the 3-D row, a 1-D UDI the 2-D row.
UDI_SHAPE = {
    2: {"tanh": 2.0, "sigmoid": 2.0, "relu": 4.0, "elu": 16.0,
        "gelu": 2.0, "silu": 4.0, "sin": 1.0, "cos": 1.0},
    3: {"tanh": 2.0, "sigmoid": 2.0, "relu": 0.25, "elu": 1.0,
        "gelu": 2.0, "silu": 1.0, "sin": 0.5, "cos": 0.5},
}

#: Default shape factor ``s`` per scheme and activation (see module docs);
#: ``"udi"`` is the 2-D row of ``UDI_SHAPE``.
DEFAULT_SHAPE = {
    "grid": {"tanh": 1.0, "sigmoid": 4.0, "relu": 0.5, "elu": 2.0,
             "gelu": 2.0, "silu": 2.0, "sin": 1.0, "cos": 1.0},
    "udi": UDI_SHAPE[2],
}


def _check_scheme(scheme) -> str:
    if scheme not in ("grid", "udi"):
        raise ValueError(f"scheme must be 'grid' or 'udi', got {scheme!r}")
    return scheme


def activation_function(activation):
    """NumPy version of a supported activation (``rankcore.activations``).

    Parameters
    ----------
    activation : str
        One of ``SFLI_ACTIVATIONS`` or an alias (swish, logistic, sine,
        cosine), case-insensitive.

    Returns
    -------
    callable
        Elementwise float64 function, ``rankcore.activations.get(activation).f``.
        GELU is the exact (erf) form, as in ``torch.nn.GELU()``.

    Raises
    ------
    ValueError, TypeError
        For an unsupported or non-string name.

    Examples
    --------
    >>> from rankcore.sfli import activation_function
    >>> float(activation_function("relu")(-2.0)), float(activation_function("relu")(3.0))
    (0.0, 3.0)
    """
    return _act.get(activation).f


def default_shape(activation, scheme="grid", dim=None) -> float:
    """The measured default shape factor ``s`` for an activation and scheme.

    Parameters
    ----------
    activation : str
        A supported activation or alias.
    scheme : {"grid", "udi"}
    dim : int, optional
        Dimension of the domain; UDI defaults were measured per dimension
        (``UDI_SHAPE``: 2 and 3, higher dimensions use 3).  Without it, or
        for the grid, ``DEFAULT_SHAPE[scheme]``.

    Returns
    -------
    float
        The shape factor ``s``.

    Examples
    --------
    >>> from rankcore.sfli import default_shape, UDI_SHAPE
    >>> default_shape("tanh")
    1.0
    >>> default_shape("tanh", "udi", dim=5) == UDI_SHAPE[3]["tanh"]
    True
    """
    act = _act.canonical_name(activation)
    scheme = _check_scheme(scheme)
    if scheme == "udi" and dim is not None:
        d = check_positive_int(dim, "dim")
        if d >= 2:
            return UDI_SHAPE[min(d, 3)][act]
    return DEFAULT_SHAPE[scheme][act]


def default_quadrature(box):
    """The rule on which SFLI defaults were measured and its guarantee holds.

    Tensor Gauss--Legendre with 256 nodes in 1-D, 64 per dimension in 2-D,
    16 per dimension in 3-D; scrambled Sobol' with 4096 points (seed 0) in
    ``d >= 4``.

    Parameters
    ----------
    box : sequence of (lo, hi) pairs, or one pair for 1-D
        The domain.

    Returns
    -------
    rankcore.Quadrature
        The rule on ``box``.

    Examples
    --------
    >>> from rankcore.sfli import default_quadrature
    >>> q = default_quadrature((-1.0, 1.0))
    >>> q.n_points, round(float(q.weights.sum()), 12)
    (256, 2.0)
    """
    b = check_box(box)
    d = b.shape[0]
    if d == 1:
        return _quad.gauss_legendre(b, 256)
    if d == 2:
        return _quad.gauss_legendre(b, 64)
    if d == 3:
        return _quad.gauss_legendre(b, 16)
    return _quad.sobol(b, 4096, seed=0)


def _shape_value(shape, activation, scheme):
    if shape is None:
        return default_shape(activation, scheme)
    return check_positive_scalar(shape, "shape")


def _grid_what(box, shape):
    return f"grid_init(interval={box[0].tolist()}, shape={shape!r})"


def grid_init(n, interval, activation="tanh", shape=None):
    """Deterministic 1-D SFLI: neurons placed on a uniform grid.

    Parameters
    ----------
    n : int
        Number of neurons (the layer width), ``n >= 1``.
    interval : (a, b) pair, or a (1, 2) box
        The 1-D domain.
    activation : str, default "tanh"
        One of ``SFLI_ACTIVATIONS``.
    shape : float, optional
        Shape factor ``s > 0``; default ``default_shape(activation, "grid")``.

    Returns
    -------
    W : ndarray, shape (n, 1), float64
        Input weights of the neurons.
    b : ndarray, shape (n,), float64
        Biases of the neurons.

    Raises
    ------
    ValueError
        If the interval is not 1-D or invalid, ``n < 1``, ``shape <= 0``,
        the activation is unsupported, or the parameters overflow float64
        (an interval of huge or subnormal length, a huge ``shape``).

    Notes
    -----
    Sigmoidal/ramp: ``c_j = a + j (b - a)/(n - 1)``, ``|w_j| = s (n-1)/(b-a)``,
    ``b_j = -w_j c_j``; ramp neurons with ``c_j`` right of the midpoint get
    ``w_j < 0``.  For ``n = 1`` the single centre is the midpoint and
    ``|w| = s/(b-a)``.  Periodic: ``w_j = s pi j/(b-a)``,
    ``b_j = -w_j a + phase`` (``pi/2`` for sin, 0 for cos), so that
    ``h_j = cos(w_j (x - a))``.

    Examples
    --------
    >>> from rankcore.sfli import grid_init
    >>> W, b = grid_init(5, (-1.0, 1.0), "tanh", shape=1.0)
    >>> W[:, 0].tolist(), (-b / W[:, 0]).tolist()
    ([2.0, 2.0, 2.0, 2.0, 2.0], [-1.0, -0.5, 0.0, 0.5, 1.0])
    """
    n = check_positive_int(n, "n")
    box = check_box(interval, "interval")
    if box.shape[0] != 1:
        raise ValueError(
            f"interval must be one (lo, hi) pair (grid_init is 1-D; use udi_init "
            f"for d >= 2), got a box of dimension {box.shape[0]}")
    act = _act.canonical_name(activation)
    s = _shape_value(shape, act, "grid")
    a, bb = float(box[0, 0]), float(box[0, 1])
    with np.errstate(over="ignore"):
        length = bb - a
    if not (np.isfinite(length) and length > 0):
        raise ValueError(
            f"interval must have a finite positive length in float64, got "
            f"{box[0].tolist()} (length {length!r})")
    family = _act.get(act).family
    if family == "periodic":
        with np.errstate(over="ignore", invalid="ignore"):
            w = s * np.pi * np.arange(n, dtype=np.float64) / length
            phase = np.pi / 2 if act == "sin" else 0.0
            bias = phase - w * a
        return _check_finite_params(w[:, None], bias, _grid_what(box, shape))
    if n == 1:
        c = np.array([0.5 * (a + bb)])
        w = np.array([s / length])
    else:
        c = np.linspace(a, bb, n)
        with np.errstate(over="ignore"):
            w = np.full(n, s * (n - 1) / length)
    if family == "ramp":
        # Face the far end: never a neuron that is zero (or nearly) on [a, b].
        w = np.where(c > 0.5 * (a + bb), -w, w)
    with np.errstate(invalid="ignore", over="ignore"):
        bias = -w * c
    return _check_finite_params(w[:, None], bias, _grid_what(box, shape))


def _check_finite_params(W, bias, what):
    """Refuse parameters that overflowed float64 (huge domain or shape)."""
    for name, arr in (("W", W), ("b", bias)):
        bad = first_nonfinite(arr)
        if bad is not None:
            idx = tuple(int(i) for i in bad)
            raise ValueError(
                f"{what} overflows float64: {name}{list(idx)} is {float(arr[bad])!r}; "
                f"rescale the domain to moderate coordinates or use a smaller shape")
    return W, bias


def udi_init(n, box, activation="tanh", shape=None, random_state=None,
             offsets="box"):
    """Uniform density initialisation (UDI) of a first layer, any dimension.

    Parameters
    ----------
    n : int
        Number of neurons, ``n >= 1``.
    box : sequence of (lo, hi) pairs, or one pair for 1-D
        The domain.
    activation : str, default "tanh"
        One of ``SFLI_ACTIVATIONS``.
    shape : float, optional
        ``gamma > 0`` itself.  Default ``s * n**(1/d) / (2R)`` (times ``pi``
        for sin/cos) with ``s = default_shape(activation, "udi", d)``.
    random_state : None, int >= 0 or numpy.random.Generator
        Seed; the same seed gives the same parameters (bools are refused).
    offsets : {"box", "ball"}, default "box"
        Offset range per neuron: the box's support function in the neuron's
        direction ("box", every hyperplane cuts the box) or the ball radius
        ``R`` ("ball", the literal paper rule).  Both lie in ``(-R, R)``.

    Returns
    -------
    W : ndarray, shape (n, d), float64
        ``gamma * a_j`` (rows of norm ``gamma``; sin/cos: norm ``k_j``).
    b : ndarray, shape (n,), float64
        Biases of the neurons.

    Raises
    ------
    ValueError, TypeError
        On a bad ``n``, box, activation, shape, offsets or random_state.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.sfli import udi_init
    >>> W, b = udi_init(8, [(0, 1), (0, 2)], "tanh", shape=3.0, random_state=0)
    >>> W.shape, b.shape, bool(np.allclose(np.linalg.norm(W, axis=1), 3.0))
    ((8, 2), (8,), True)
    """
    n = check_positive_int(n, "n")
    b_ = check_box(box)
    act = _act.canonical_name(activation)
    if offsets not in ("box", "ball"):
        raise ValueError(f"offsets must be 'box' or 'ball', got {offsets!r}")
    rng = check_random_state(random_state)
    d = b_.shape[0]
    xc = 0.5 * b_[:, 0] + 0.5 * b_[:, 1]
    half = 0.5 * b_[:, 1] - 0.5 * b_[:, 0]
    with np.errstate(over="ignore"):
        R = float(np.sqrt(np.sum(half ** 2)))
    if not np.isfinite(R):
        raise ValueError(
            f"box is too large for float64 (its circumradius overflows), got "
            f"{b_.tolist()}; rescale the domain")
    family = _act.get(act).family
    if shape is None:
        s = default_shape(act, "udi", d)
        gamma = s * n ** (1.0 / d) / (2.0 * R)
        if family == "periodic":
            gamma *= np.pi
    else:
        gamma = check_positive_scalar(shape, "shape")
    a = rng.standard_normal((n, d))
    norms = np.linalg.norm(a, axis=1)
    # A zero Gaussian vector has probability 0; redraw rather than divide by 0.
    while np.any(norms == 0.0):
        bad = norms == 0.0
        a[bad] = rng.standard_normal((int(bad.sum()), d))
        norms = np.linalg.norm(a, axis=1)
    a /= norms[:, None]
    if family == "periodic":
        k = gamma * rng.uniform(0.0, 1.0, n)
        phase = rng.uniform(0.0, 2.0 * np.pi, n)
        W = k[:, None] * a
        with np.errstate(all="ignore"):
            bias = phase - W @ xc
        return _check_finite_params(W, bias, f"udi_init(box={b_.tolist()}, shape={shape!r})")
    Rj = np.abs(a) @ half if offsets == "box" else np.full(n, R)
    r = rng.uniform(-1.0, 1.0, n) * Rj
    if family == "ramp":
        # Active side a.(x - xc) > -r must contain the centre: r >= 0.
        r = np.abs(r)
    with np.errstate(all="ignore"):
        W = gamma * a
        bias = gamma * (r - a @ xc)
    return _check_finite_params(W, bias, f"udi_init(box={b_.tolist()}, shape={shape!r})")


def sfli_init(n, box, activation="tanh", scheme="auto", shape=None,
              random_state=None):
    """SFLI first-layer parameters: the grid in 1-D, UDI otherwise.

    Parameters
    ----------
    n : int
        Layer width.
    box : sequence of (lo, hi) pairs, or one pair for 1-D
        The domain.
    activation : str, default "tanh"
        One of ``SFLI_ACTIVATIONS``.
    scheme : {"auto", "grid", "udi"}
        "auto" picks "grid" for ``d == 1`` and "udi" for ``d >= 2``.
    shape : float, optional
        ``s`` for the grid, ``gamma`` for UDI (see ``grid_init``/``udi_init``).
    random_state : None, int or numpy.random.Generator
        Used by UDI only.

    Returns
    -------
    W : ndarray, shape (n, d), float64
        Input weights of the neurons.
    b : ndarray, shape (n,), float64
        Biases of the neurons.

    Raises
    ------
    ValueError
        On ``scheme="grid"`` with ``d >= 2`` or any invalid argument.

    Examples
    --------
    >>> from rankcore.sfli import sfli_init
    >>> W, b = sfli_init(4, [(-1, 1), (-1, 1)], "relu", random_state=1)
    >>> W.shape
    (4, 2)
    """
    b_ = check_box(box)
    if scheme not in ("auto", "grid", "udi"):
        raise ValueError(f"scheme must be 'auto', 'grid' or 'udi', got {scheme!r}")
    if scheme == "auto":
        scheme = "grid" if b_.shape[0] == 1 else "udi"
    if scheme == "grid":
        return grid_init(n, b_, activation, shape)
    return udi_init(n, b_, activation, shape, random_state)


def _check_layer(W, b, x, x_name, why):
    """Validate a layer ``(W, b)`` and its (N, W.shape[1]) inputs ``x``."""
    W = as_array(W, "W", ndim=2)
    b = as_array(b, "b", ndim=1)
    x = as_array(x, x_name, ndim=2)
    if b.shape[0] != W.shape[0]:
        raise ValueError(f"b must have shape ({W.shape[0]},) to match W, got {describe(b)}")
    if x.shape[1] != W.shape[1]:
        raise ValueError(
            f"{x_name} must have {W.shape[1]} columns {why}, got {describe(x)}")
    return W, b, x


def first_layer_features(W, b, activation, points):
    """Evaluate the features ``sigma(x_k . w_j + b_j)`` of a first layer at points.

    Parameters
    ----------
    W : array_like, shape (n, d)
        Input weights, one row per neuron.
    b : array_like, shape (n,)
        Biases.
    activation : str
        A supported activation or alias (:func:`activation_function`).
    points : array_like, shape (N, d)
        The points ``x_k``.

    Returns
    -------
    ndarray, shape (N, n), float64
        Value of neuron ``j`` at point ``k`` in column ``j``, row ``k``.

    Raises
    ------
    ValueError
        On mismatched shapes or non-finite values, in the inputs or in the
        result (``x . w_j + b_j`` overflowing float64).

    Examples
    --------
    >>> import numpy as np, rankcore
    >>> from rankcore.sfli import grid_init, first_layer_features, default_quadrature
    >>> q = default_quadrature((-1, 1))
    >>> W, b = grid_init(20, (-1, 1), "tanh")
    >>> M = rankcore.gram(first_layer_features(W, b, "tanh", q.points), q.weights)
    >>> rankcore.eps_rank(M, 1e-4, kind="gram")
    20
    """
    W, b, x = _check_layer(W, b, points, "points", "to match W")
    act = activation_function(activation)
    with np.errstate(all="ignore"):
        out = act(x @ W.T + b)
    bad = first_nonfinite(out)
    if bad is not None:
        k, j = int(bad[0]), int(bad[1])
        raise ValueError(
            f"first_layer_features overflows float64: feature {j} at point {k} "
            f"({x[k].tolist()}) is {float(out[k, j])!r}; W, b or points are too large")
    return out


def standardize_layer(W, b, inputs, weights, floor=1e-2):
    """Rescale a later layer so that its inputs are centred and of unit variance.

    SFLI sets the first layer only.  Its features have a mean and a scale on
    the domain that differ from Xavier's (ramp neurons reach values of order
    ``s n``; sigmoid's are all positive), so the next layer's pre-activations
    would be far from the range its Xavier weights were drawn for.  This
    returns the parameters of a linear layer ``z = W h + b`` rewritten so that
    it acts on the standardized inputs ``(h_j - mu_j)/sigma_j``, where
    ``mu_j`` and ``sigma_j`` are the mean and standard deviation of input
    ``j`` over the domain (quadrature ``weights``): ``W' = W / sigma`` (per
    column), ``b' = b - W' mu``.  ``bridge.sfli_`` applies it to each hidden
    layer after the first, in order.

    Parameters
    ----------
    W : array_like, shape (m, n)
        Weight of the layer (``m`` outputs, ``n`` inputs).
    b : array_like, shape (m,)
        Bias of the layer.
    inputs : array_like, shape (N, n)
        The layer's inputs at the ``N`` quadrature nodes.
    weights : array_like, shape (N,)
        Positive quadrature weights.
    floor : float, default 1e-2
        ``sigma_j`` is raised to at least ``floor`` times the root mean square
        of all ``sigma``: a (nearly) constant input is centred but not blown
        up.  If every input is constant only the centring is applied.

    Returns
    -------
    W : ndarray, shape (m, n), float64
        The rescaled weight ``W'``.
    b : ndarray, shape (m,), float64
        The shifted bias ``b'``.  On the nodes, ``inputs @ W'.T + b'`` has
        mean ``b`` and, for unit-norm rows of ``W`` and uncorrelated inputs,
        variance about 1.

    Raises
    ------
    ValueError
        On mismatched shapes, non-finite values or non-positive weights.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.sfli import standardize_layer
    >>> x = np.linspace(0, 1, 5)
    >>> H = np.stack([10 + 4 * x, 3 * x ** 2], axis=1)   # inputs at 5 nodes
    >>> W2, b2 = standardize_layer(np.eye(2), np.zeros(2), H, np.full(5, 0.2))
    >>> Z = H @ W2.T + b2
    >>> bool(np.allclose(Z.mean(axis=0), 0)), np.round(Z.std(axis=0), 12).tolist()
    (True, [1.0, 1.0])
    """
    W, b, H = _check_layer(W, b, inputs, "inputs", "(the layer's input width)")
    w = check_weights(weights, "weights", H.shape[0])
    floor = check_positive_scalar(floor, "floor", allow_zero=True)
    w = w / w.sum()
    mu = w @ H
    sigma = np.sqrt(w @ (H - mu) ** 2)
    rms = float(np.sqrt(np.mean(sigma ** 2)))
    if rms > 0.0:
        W = W / np.maximum(sigma, floor * rms)[None, :]
    return _check_finite_params(W, b - W @ mu, "standardize_layer")
