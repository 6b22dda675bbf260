"""Domains beyond the box: primitives, boolean combinations, samplers, quadrature.

A geometry is a closed set in ``R^d`` (d = 1, 2 or 3) described by a signed
distance function ``sdf(x)``: negative inside, zero on the boundary, positive
outside.  Primitives (in :mod:`rankcore.geometry.shapes`):

* :class:`~rankcore.geometry.shapes.Box` -- an axis-aligned box
  ``[(lo, hi), ...]`` (the library's box);
* :class:`~rankcore.geometry.shapes.Ball` -- a ball ``|x - c| <= r`` in any
  dimension, :class:`~rankcore.geometry.shapes.Disk` its 2-D spelling;
* :class:`~rankcore.geometry.shapes.Polygon` -- any simple polygon in the
  plane, vertices in order;
* :class:`~rankcore.geometry.shapes.HalfSpace` -- ``{x : n . x <= offset}``,
  unbounded, to be cut with ``&`` or ``-``.

Boolean combinations: ``a | b`` (union), ``a & b`` (intersection), ``a - b``
(difference).  The sdf of a primitive is exact.  That of a combination is
``min(sa, sb)``, ``max(sa, sb)`` and ``max(sa, -sb)``: its sign is exact and
its magnitude is a lower bound of the distance to the boundary
(``|sdf(x)| <= dist(x, boundary)``), exact outside a union and inside an
intersection of disjoint pieces but smaller near concave corners.

Measures (length, area, volume) are exact for primitives.  For a
combination the measure is estimated by scrambled Sobol' points in the
bounding box, 8 independent scramblings of 2**14 points; ``measure_error``
is the standard error of their mean (typically 1e-4 of the box volume).

Samplers are deterministic for a given seed.  ``sample_interior`` draws
uniform points in the bounding box and keeps those inside.
``sample_boundary`` draws points uniformly (per unit length or area) on the
boundary of every primitive of the combination and keeps those on the
combined boundary: a candidate ``p`` with outward normal ``n`` of its
primitive (flipped when the primitive is subtracted) is kept when
``p + delta n`` is outside and ``p - delta n`` inside the combination
(``delta = 1e-7`` times the bounding-box diagonal), so that the kept points
are spread in proportion to boundary measure, with outward unit normals.

The package is split by part: :mod:`rankcore.geometry.base` (the abstract
:class:`~rankcore.geometry.base.Geometry`: queries, measures, samplers,
quadrature), :mod:`rankcore.geometry.combine` (the combinations
:class:`~rankcore.geometry.combine.Union`,
:class:`~rankcore.geometry.combine.Intersection` and
:class:`~rankcore.geometry.combine.Difference`) and
:mod:`rankcore.geometry.shapes` (the primitives).
Import everything from ``rankcore.geometry``.
"""

from . import base
from .base import Geometry
from .combine import Difference, Intersection, Union  # noqa: F401 - public, not in __all__
from .shapes import Ball, Box, Disk, HalfSpace, Polygon

__all__ = ["Geometry", "Box", "Ball", "Disk", "Polygon", "HalfSpace",
           "MAX_SAMPLES"]

#: Largest number of points one sampler call returns.
MAX_SAMPLES = base.MAX_SAMPLES
