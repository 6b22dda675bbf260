"""Function sets and hypothesis strategies for property tests.

The library's own property tests check the theorems of :mod:`rankcore.theory`
on three kinds of function sets, sampled on a Gauss--Legendre rule on
``[-1, 1]^d``; this module makes them available to users who want to test
their own code (or the theorems) the same way:

* ``"random"``: ``tanh(w_j . x + b_j)`` with Gaussian directions, a common
  random scale in ``[0.5, 20]`` and uniform shifts;
* ``"duplicates"``: groups of near-copies of a few random neurons, with
  relative perturbations from ``1e-10`` to ``1e-2`` (nearly dependent sets,
  where the epsilon-rank is far below ``n``);
* ``"poly"``: the monomials ``1, x, ..., x^(n-1)`` on ``[-1, 1]`` (1-D only),
  whose Gram matrix is a Hilbert-like matrix with rapidly decaying spectrum.

:func:`function_set` builds one set deterministically from a seed (NumPy
only); :func:`function_sets` is a `hypothesis <https://hypothesis.works>`_
strategy that draws them.  hypothesis is needed only for the strategy
(``pip install "rankcore[test]"``); importing this module does not import it.

See Also
--------
rankcore.theory.subset_approximation : Theorem 3.1, checked on these sets.
rankcore.theory.loss_lower_bound : Theorem 3.2, checked on these sets.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .validation import check_choice, check_int
from .quadrature import Quadrature, gauss_legendre

__all__ = ["KINDS", "FunctionSet", "function_set", "function_sets"]

#: The kinds of function sets that :func:`function_set` builds.
KINDS = ("random", "duplicates", "poly")


class FunctionSet(NamedTuple):
    """A sampled function set drawn by :func:`function_sets`.

    The parameters are also the attributes of the same name.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    features : ndarray, shape (N, n)
        Column ``j`` holds function ``j`` at the quadrature points.
    quadrature : Quadrature
        The Gauss--Legendre rule the features are sampled on.
    seed : int
        The seed passed to :func:`function_set`.
    """

    kind: str
    features: np.ndarray
    quadrature: Quadrature
    seed: int


def function_set(kind, n, seed=0, dim=1):
    """Sample ``n`` functions of one kind on a Gauss--Legendre rule.

    Parameters
    ----------
    kind : {"random", "duplicates", "poly"}
        The kind of set (see the module description).
    n : int
        Number of functions, at least 1.
    seed : int, optional
        Seed of the NumPy generator (ignored for ``"poly"``).
    dim : {1, 2}, optional
        Dimension of the domain ``[-1, 1]^dim`` (``"poly"`` is 1-D only).

    Returns
    -------
    features : ndarray, shape (N, n)
        The functions at the quadrature points: 64 points for ``"poly"``,
        96 in 1-D and 24 x 24 in 2-D otherwise.
    quadrature : Quadrature
        The rule; ``quadrature.weights`` are the weights of the Gram matrix.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, ``n < 1``, ``dim`` is not 1 or 2, or
        ``kind="poly"`` is asked for with ``dim=2``.

    See Also
    --------
    function_sets : Hypothesis strategy drawing these sets.
    rankcore.gram : The Gram matrix of the features.

    Examples
    --------
    >>> import rankcore
    >>> from rankcore.testing import function_set
    >>> phi, q = function_set("poly", 6)
    >>> phi.shape
    (64, 6)
    >>> lam = rankcore.spectrum(rankcore.gram(phi, q.weights))
    >>> int(rankcore.eps_rank(lam, 1e-6))
    6
    >>> phi, q = function_set("duplicates", 30, seed=1)
    >>> int(rankcore.eps_rank(rankcore.spectrum_from_features(phi, q.weights),
    ...                       1e-6, relative=True)) < 30
    True
    """
    kind = check_choice(kind, "kind", KINDS)
    n = check_int(n, "n", minimum=1)
    dim = check_int(dim, "dim", minimum=1)
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 or 2, got {dim}")
    if kind == "poly":
        if dim != 1:
            raise ValueError(f'kind="poly" is defined for dim=1 only, got dim={dim}')
        q = gauss_legendre((-1.0, 1.0), 64)
        x = q.points[:, 0]
        return np.stack([x ** p for p in range(n)], axis=1), q
    rng = np.random.default_rng(seed)
    q = gauss_legendre([(-1.0, 1.0)] * dim, 96 if dim == 1 else 24)
    X = q.points
    scale = rng.uniform(0.5, 20.0)
    W = rng.standard_normal((dim, n)) * scale
    b = rng.uniform(-1, 1, n) * scale
    if kind == "random":
        return np.tanh(X @ W + b), q
    # Groups of near-copies of a few base neurons, at many noise levels.
    m = max(1, n // 3)
    base = rng.integers(0, m, size=n)
    base[:m] = np.arange(m)
    noise = 10.0 ** rng.uniform(-10, -2, size=n)
    W2 = W[:, base] * (1 + noise)
    b2 = b[base] + noise
    return np.tanh(X @ W2 + b2), q


def function_sets(kinds=KINDS, *, max_n=60, max_poly=16, dims=(1, 2)):
    """Build a Hypothesis strategy drawing :class:`FunctionSet` values.

    Parameters
    ----------
    kinds : sequence of str, optional
        Kinds to draw from (a subset of :data:`KINDS`).
    max_n : int, optional
        Largest number of functions for ``"random"`` and ``"duplicates"``.
    max_poly : int, optional
        Largest number of monomials (above about 25 their Gram matrix is
        singular in float64).
    dims : sequence of int, optional
        Domain dimensions to draw from for the non-polynomial kinds.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        Draws ``FunctionSet(kind, features, quadrature, seed)``.

    Raises
    ------
    ValueError
        If a kind or dimension is unknown or a size is below 1.
    ImportError
        If hypothesis is not installed.

    See Also
    --------
    function_set : The deterministic builder behind the strategy.

    Examples
    --------
    Every Gram matrix is positive semi-definite, whatever the set:

    >>> import numpy as np
    >>> import rankcore
    >>> from hypothesis import given, settings
    >>> from rankcore.testing import function_sets
    >>> @settings(max_examples=10, deadline=None)
    ... @given(function_sets(max_n=12))
    ... def test_gram_is_psd(fs):
    ...     M = rankcore.gram(fs.features, fs.quadrature.weights)
    ...     assert np.linalg.eigvalsh(M)[0] >= -1e-12 * max(1.0, np.trace(M))
    >>> test_gram_is_psd()
    """
    from hypothesis import strategies as st

    kinds = tuple(check_choice(k, "kinds", KINDS) for k in kinds)
    if not kinds:
        raise ValueError("kinds must name at least one kind, got an empty sequence")
    max_n = check_int(max_n, "max_n", minimum=1)
    max_poly = check_int(max_poly, "max_poly", minimum=1)
    dims = tuple(check_int(d, "dims", minimum=1) for d in dims)
    if not dims or any(d not in (1, 2) for d in dims):
        raise ValueError(f"dims must be a non-empty sequence of 1 and 2, got {dims!r}")

    @st.composite
    def draw_set(draw):
        kind = draw(st.sampled_from(kinds))
        n = draw(st.integers(1, max_poly if kind == "poly" else max_n))
        dim = 1 if kind == "poly" else draw(st.sampled_from(dims))
        seed = draw(st.integers(0, 2 ** 32 - 1))
        features, quadrature = function_set(kind, n, seed, dim)
        return FunctionSet(kind, features, quadrature, seed)

    return draw_set()
