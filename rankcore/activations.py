"""The activation table of rankcore: one entry per supported activation.

Every part of the project that needs an activation by name takes it from
here: the SFLI generators (``rankcore.sfli``) read the *family* that decides
how first-layer neurons are placed, the random-feature solvers read the
function and its first two derivatives, and ``bridge.nets`` maps the same
canonical names to torch modules.

Each entry is an :class:`Activation` with

``name``
    canonical lower-case name (``"tanh"``, ``"sigmoid"``, ``"sin"``,
    ``"cos"``, ``"relu"``, ``"elu"``, ``"gelu"``, ``"silu"``);
``f``, ``df``, ``d2f``
    vectorised float64 NumPy functions: the activation and its first and
    second derivatives.  ReLU's ``df`` is the Heaviside step (0 at 0) and its
    ``d2f`` is 0; ELU's ``d2f`` jumps at 0 (it is taken from the left,
    ``exp(z)`` for ``z <= 0``).  GELU is the exact (erf) form, as
    ``torch.nn.GELU()``; ELU has ``alpha = 1``;
``family``
    ``"sigmoidal"`` (a smooth step: tanh, sigmoid), ``"ramp"`` (zero or
    saturating on one side, growing on the other: relu, elu, gelu, silu) or
    ``"periodic"`` (sin, cos);
``odd``
    whether ``f(-z) = -f(z)`` (tanh, sin);
``smooth``
    whether ``f`` has a continuous second derivative everywhere (all but relu
    and elu);
``aliases``
    other accepted names (``"swish"`` for silu, ``"logistic"`` for sigmoid,
    ``"sine"``, ``"cosine"``);
``code``
    a stable small integer (the position in :data:`ACTIVATIONS`) for Numba
    kernels that cannot take Python functions: tanh 0, sin 1, cos 2, then
    sigmoid 3, relu 4, elu 5, gelu 6, silu 7.  New activations are only ever
    appended.

Names are matched case-insensitively, aliases included: ``get("Swish")`` is
the silu entry.

Examples
--------
>>> import numpy as np
>>> from rankcore import activations
>>> act = activations.get("swish")
>>> act.name, act.family, act.code
('silu', 'ramp', 7)
>>> float(act.f(np.array(0.0))), float(act.df(np.array(0.0)))
(0.0, 0.5)
>>> activations.names()[:3]
('tanh', 'sin', 'cos')
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable

import numpy as np
from scipy import special

from .validation import describe

__all__ = ["Activation", "ACTIVATIONS", "ALIASES", "FAMILIES", "get",
           "canonical_name", "names"]

#: The placement families, in the order SFLI documents them.
FAMILIES = ("sigmoidal", "ramp", "periodic")


@dataclass(frozen=True)
class Activation:
    """One activation: name, NumPy function and derivatives, family.

    The parameters are also the attributes of the same name.

    Parameters
    ----------
    name : str
        Canonical name.
    f : callable
        Vectorised float64 function.
    df : callable
        Its first derivative.
    d2f : callable
        Its second derivative.
    family : {"sigmoidal", "ramp", "periodic"}
        Placement family used by SFLI.
    odd : bool
        ``f(-z) == -f(z)``.
    smooth : bool
        ``f`` is twice continuously differentiable.
    aliases : tuple of str, default ()
        Other accepted names.
    code : int, default -1
        Stable index for compiled kernels (set for the entries of
        :data:`ACTIVATIONS`).
    """

    name: str
    f: Callable
    df: Callable
    d2f: Callable
    family: str
    odd: bool
    smooth: bool
    aliases: tuple = ()
    code: int = -1

    def __call__(self, z):
        """``f(z)``."""
        return self.f(z)


def _f64(z):
    return np.asarray(z, dtype=np.float64)


# -- the functions (each takes array_like and returns float64) ---------------

def _tanh(z):
    return np.tanh(_f64(z))


def _tanh_d1(z):
    t = np.tanh(_f64(z))
    return 1.0 - t * t


def _tanh_d2(z):
    t = np.tanh(_f64(z))
    return -2.0 * t * (1.0 - t * t)


def _sin(z):
    return np.sin(_f64(z))


def _cos(z):
    return np.cos(_f64(z))


def _neg_sin(z):
    return -np.sin(_f64(z))


def _neg_cos(z):
    return -np.cos(_f64(z))


def _sigmoid(z):
    return special.expit(_f64(z))


def _sigmoid_d1(z):
    s = special.expit(_f64(z))
    return s * (1.0 - s)


def _sigmoid_d2(z):
    s = special.expit(_f64(z))
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _relu(z):
    return np.maximum(_f64(z), 0.0)


def _relu_d1(z):
    return (_f64(z) > 0.0).astype(np.float64)


def _relu_d2(z):
    return np.zeros_like(_f64(z))


def _elu(z):
    z = _f64(z)
    return np.where(z > 0.0, z, np.expm1(np.minimum(z, 0.0)))


def _elu_d1(z):
    z = _f64(z)
    return np.where(z > 0.0, 1.0, np.exp(np.minimum(z, 0.0)))


def _elu_d2(z):
    z = _f64(z)
    return np.where(z > 0.0, 0.0, np.exp(np.minimum(z, 0.0)))


_SQRT2 = np.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _normal_pdf(z):
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z)


def _gelu(z):
    z = _f64(z)
    return 0.5 * z * (1.0 + special.erf(z / _SQRT2))


def _gelu_d1(z):
    z = _f64(z)
    return 0.5 * (1.0 + special.erf(z / _SQRT2)) + z * _normal_pdf(z)


def _gelu_d2(z):
    z = _f64(z)
    return (2.0 - z * z) * _normal_pdf(z)


def _silu(z):
    z = _f64(z)
    return z * special.expit(z)


def _silu_d1(z):
    z = _f64(z)
    s = special.expit(z)
    return s * (1.0 + z * (1.0 - s))


def _silu_d2(z):
    z = _f64(z)
    s = special.expit(z)
    return s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s))


_ENTRIES = (
    Activation("tanh", _tanh, _tanh_d1, _tanh_d2, "sigmoidal", True, True),
    Activation("sin", _sin, _cos, _neg_sin, "periodic", True, True, ("sine",)),
    Activation("cos", _cos, _neg_sin, _neg_cos, "periodic", False, True, ("cosine",)),
    Activation("sigmoid", _sigmoid, _sigmoid_d1, _sigmoid_d2, "sigmoidal",
               False, True, ("logistic",)),
    Activation("relu", _relu, _relu_d1, _relu_d2, "ramp", False, False),
    Activation("elu", _elu, _elu_d1, _elu_d2, "ramp", False, False),
    Activation("gelu", _gelu, _gelu_d1, _gelu_d2, "ramp", False, True),
    Activation("silu", _silu, _silu_d1, _silu_d2, "ramp", False, True, ("swish",)),
)

#: Canonical name -> :class:`Activation`, in ``code`` order (read-only).
ACTIVATIONS = MappingProxyType({
    a.name: Activation(a.name, a.f, a.df, a.d2f, a.family, a.odd, a.smooth,
                       a.aliases, code)
    for code, a in enumerate(_ENTRIES)})

#: Alias -> canonical name (read-only).
ALIASES = MappingProxyType({al: a.name for a in _ENTRIES for al in a.aliases})


def names(family=None) -> tuple:
    """Canonical names in ``code`` order, optionally of one family.

    Parameters
    ----------
    family : {"sigmoidal", "ramp", "periodic"}, optional
        Only the names of this family; default all.

    Returns
    -------
    tuple of str
        The canonical names.

    Raises
    ------
    ValueError
        If ``family`` is not None or one of ``FAMILIES``.

    Examples
    --------
    >>> from rankcore.activations import names
    >>> names("periodic")
    ('sin', 'cos')
    """
    if family is None:
        return tuple(ACTIVATIONS)
    if family not in FAMILIES:
        raise ValueError(f"family must be None or one of {list(FAMILIES)}, got {family!r}")
    return tuple(k for k, a in ACTIVATIONS.items() if a.family == family)


def canonical_name(name, argname="activation") -> str:
    """The canonical name of an activation or alias (case-insensitive).

    Parameters
    ----------
    name : str
        A name or an alias, in any case.
    argname : str, default "activation"
        Argument name used in error messages.

    Returns
    -------
    str
        The canonical lower-case name.

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        If it names no activation of the table.

    Examples
    --------
    >>> from rankcore.activations import canonical_name
    >>> canonical_name("Logistic"), canonical_name("tanh")
    ('sigmoid', 'tanh')
    """
    if not isinstance(name, str):
        raise TypeError(
            f"{argname} must be a string naming one of {list(ACTIVATIONS)}, "
            f"got {describe(name)}")
    key = name.lower()
    key = ALIASES.get(key, key)
    if key not in ACTIVATIONS:
        raise ValueError(
            f"{argname} must be one of {list(ACTIVATIONS)} (aliases "
            f"{sorted(ALIASES)}), got {name!r}")
    return key


def get(name, argname="activation") -> Activation:
    """The table entry for an activation name or alias.

    Parameters
    ----------
    name : str or Activation
        A name, an alias (case-insensitive) or an entry, which is looked
        up by its ``name`` (the table's entry of that name is returned).
    argname : str, default "activation"
        Argument name used in error messages.

    Returns
    -------
    Activation
        The entry of :data:`ACTIVATIONS`.

    Examples
    --------
    >>> import numpy as np
    >>> from rankcore.activations import get
    >>> g = get("gelu")
    >>> [round(float(v), 6) for v in (g.f(1.0), g.df(1.0), g.d2f(1.0))]
    [0.841345, 1.083315, 0.241971]
    """
    if isinstance(name, Activation):
        return ACTIVATIONS[canonical_name(name.name, argname)]
    return ACTIVATIONS[canonical_name(name, argname)]
