"""Staircase analytics: steps of the loss and of the ε-rank over a run, and how they align.

The staircase phenomenon says that during training the loss falls in steps
while the ε-rank of a layer rises in steps, the two together.
:func:`staircase` measures this on a recorded run instead of asserting it:
it detects the steps of the (log-scale, running-minimum) loss and of the
(median-filtered) ε-rank, pairs each loss step with the nearest ε-rank rise
within a lag window, and summarises the alignment.  The method is described
in ``docs/theory.md`` (section "Measuring the staircase").  NumPy only.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..validation import as_array, check_bool, check_positive_int, check_positive_scalar, describe

__all__ = ["staircase", "Staircase", "Step", "StepPair"]


class Step(NamedTuple):
    """One detected step.

    The parameters are also the attributes of the same name.

    Parameters
    ----------
    start, end : int
        Training steps of the last sample before the change and of the
        sample where it is complete.
    before, after : float
        Value at ``start`` and at ``end`` (loss, or ε-rank).
    """

    start: int
    end: int
    before: float
    after: float


class StepPair(NamedTuple):
    """A loss step matched with an ε-rank rise.

    The parameters are also the attributes of the same name.

    Parameters
    ----------
    rank_step, loss_step : int
        Indices into ``Staircase.rank_steps`` and ``Staircase.loss_steps``.
    lag : int
        ``loss_step.start - rank_step.start`` in training steps (positive:
        the loss began to fall after the ε-rank began to rise).
    """

    rank_step: int
    loss_step: int
    lag: int


class Staircase:
    """Result of :func:`staircase` (read-only attributes).

    Parameters
    ----------
    **fields
        The attributes below, by name (:func:`staircase` passes them all).

    Attributes
    ----------
    eps : float
        Tolerance of the ε-rank.
    relative : bool
        Whether the ε-rank is relative to λ_max.
    layer : str or None
        The layer analysed (a label only for array input).
    steps : ndarray (T,) of int64
        Training steps of the samples used (samples without a finite,
        positive loss are dropped).
    loss : ndarray (T,)
        The loss at those steps.
    running_min : ndarray (T,)
        Running minimum of the loss (what loss steps are detected on).
    rank : ndarray (T,) of int64
        The ε-rank at those steps, median-filtered over ``smooth`` samples.
    loss_steps : tuple of Step
        Detected loss drops, in order (``before > after``).
    rank_steps : tuple of Step
        Detected ε-rank changes, in order; rises have ``after > before``.
    pairs : tuple of StepPair
        One-to-one matches of loss steps with ε-rank rises.
    stats : dict
        ``correlation``: Pearson correlation, over the sampling intervals,
        of the decrease of log10 of the running-minimum loss and the increase
        of the ε-rank (NaN when either series is constant);
        ``lagged_correlation``: the largest such correlation with the rank
        series shifted by up to ``max_lag`` training steps, and
        ``correlation_lag``: that shift (positive: the loss falls after the
        rank rises);
        ``loss_fraction_in_rises``: fraction of the total log10 decrease of
        the running minimum that happened inside ε-rank rises (widened by
        ``tolerance``); ``time_fraction_in_rises``: fraction of the run's
        training steps inside those windows (the value the previous fraction
        would have if decreases ignored the rises); ``loss_decades``: total
        log10 decrease; ``n_loss_steps``, ``n_rank_rises``, ``n_pairs``,
        ``matched_loss_fraction`` (share of the loss steps' log10 decrease
        in matched steps), ``median_lag`` (NaN without pairs) and
        ``n_dropped``: samples left out for a loss that is NaN, infinite or
        <= 0 (a diverged run, or the NaN loss of a final snapshot).
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __setattr__(self, name, value):
        raise AttributeError("Staircase results are read-only")

    @property
    def rank_rises(self):
        """The ε-rank steps that are rises."""
        return tuple(s for s in self.rank_steps if s.after > s.before)

    def table(self):
        """List all steps as rows ``(kind, start, end, before, after, lag)``.

        Returns
        -------
        list of tuple
            One row per step, ``kind`` ``"rank"`` or ``"loss"`` and ``lag``
            that of its matched pair (None when unmatched), sorted by
            ``start`` and then ``kind``.
        """
        lag_of_loss = {p.loss_step: p.lag for p in self.pairs}
        lag_of_rank = {p.rank_step: p.lag for p in self.pairs}
        rows = [("rank", s.start, s.end, s.before, s.after, lag_of_rank.get(i))
                for i, s in enumerate(self.rank_steps)]
        rows += [("loss", s.start, s.end, s.before, s.after, lag_of_loss.get(i))
                 for i, s in enumerate(self.loss_steps)]
        return sorted(rows, key=lambda r: (r[1], r[0]))

    def __repr__(self):
        st = self.stats
        return (f"<Staircase eps={self.eps:g} ({'relative' if self.relative else 'absolute'})"
                f"{'' if self.layer is None else f', layer={self.layer!r}'}: "
                f"{st['n_loss_steps']} loss steps, {st['n_rank_rises']} rank rises, "
                f"{st['n_pairs']} pairs; correlation {st['correlation']:.2f}, "
                f"{100 * st['loss_fraction_in_rises']:.0f}% of the loss decrease in rises "
                f"({100 * st['time_fraction_in_rises']:.0f}% of the time)>")


def _pearson(a, b):
    """Pearson correlation, NaN when either series is constant (or too short)."""
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _median_filter(x, k):
    if k <= 1 or x.size < 3:
        return x.copy()
    h = k // 2
    pad = np.concatenate([np.full(h, x[0]), x, np.full(h, x[-1])])
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * h + 1)
    return np.median(win, axis=1).astype(x.dtype)


def _runs(mask):
    """(first, last) index pairs of the maximal True runs of a boolean array."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))


def _loss_steps(steps, logm, rate_factor, smooth, min_drop):
    """Loss drops on the running minimum of log10 loss (intervals i -> i+1)."""
    dec = logm[:-1] - logm[1:]  # >= 0
    dt = np.diff(steps).astype(np.float64)
    rate = dec / dt
    total = logm[0] - logm[-1]
    if total <= 0:
        return [], dec
    mean_rate = total / float(steps[-1] - steps[0])
    if smooth > 1:
        kern = np.ones(smooth) / smooth
        rate_s = np.convolve(np.pad(rate, smooth // 2, mode="edge"), kern, mode="valid")
        rate_s = rate_s[:rate.size]
    else:
        rate_s = rate
    thr = rate_factor * mean_rate
    out = []
    for a, b in _runs(rate_s > thr):
        # the smoothed rate finds the region, the raw rate its edges
        nz = np.flatnonzero(rate[a:b + 1] > thr)
        if nz.size == 0:
            nz = np.flatnonzero(dec[a:b + 1] > 0)
            if nz.size == 0:
                continue
        a, b = a + nz[0], a + nz[-1]
        if logm[a] - logm[b + 1] >= min_drop:
            out.append((a, b + 1))
    return out, dec


def _rank_steps(rank):
    """Maximal runs of same-sign changes of the (filtered) rank."""
    d = np.diff(rank)
    out = []
    for sign in (1, -1):
        for a, b in _runs(np.sign(d) == sign):
            out.append((a, b + 1))
    return sorted(out)


def _inputs(run, eps, layer, relative):
    if hasattr(run, "eps_rank") and hasattr(run, "steps") and hasattr(run, "loss"):
        steps = np.asarray(run.steps)
        loss = np.asarray(run.loss, dtype=np.float64)
        rank = np.asarray(run.eps_rank(eps, layer=layer, relative=relative))
        return steps, loss, rank
    if not isinstance(run, (tuple, list)) or len(run) != 3:
        raise TypeError(
            "run must be a rankcore.Run or a tuple (steps (T,), loss (T,), spectra "
            f"(T, n) or ranks (T,)), got {describe(run)}")
    steps = np.asarray(run[0])
    if steps.dtype.kind not in "iu" or steps.ndim != 1:
        raise TypeError(f"run[0] (steps) must be a 1-D integer array, got {describe(steps)}")
    loss = as_array(run[1], "run[1] (loss)", ndim=1, finite=False)
    third = np.asarray(run[2])
    if third.ndim == 2:
        from ..rank import eps_rank
        spec = as_array(third, "run[2] (spectra)", ndim=2)
        rank = np.asarray(eps_rank(spec, eps, relative=relative, kind="spectrum"))
    elif third.ndim == 1 and third.dtype.kind in "iu":
        rank = third.astype(np.int64)
    else:
        raise TypeError("run[2] must be spectra (T, n) or integer ε-ranks (T,), got "
                        f"{describe(third)}")
    if not (steps.shape[0] == loss.shape[0] == rank.shape[0]):
        raise ValueError(
            f"run's arrays must have one entry per snapshot, got lengths "
            f"{steps.shape[0]}, {loss.shape[0]}, {rank.shape[0]}")
    return steps, loss, rank


def staircase(run, eps, layer=None, *, relative=False, min_drop=0.1, rate_factor=1.0,
              smooth=3, max_lag=None, tolerance=0):
    """Detect the steps of the loss and of the ε-rank over a run, and their alignment.

    Parameters
    ----------
    run : rankcore.Run or tuple
        A recorded run, or arrays ``(steps, loss, spectra)`` with steps (T,)
        increasing integers, loss (T,) and spectra (T, n) (descending
        eigenvalues), or ``(steps, loss, ranks)`` with the ε-rank (T,)
        already computed (``eps`` is then only a label).
    eps : float
        Tolerance of the ε-rank (absolute unless ``relative``).
    layer : str, optional
        Layer of a Run; may be omitted only when the run records one layer
        (a multi-layer run without it is a ValueError naming the layers).
        With arrays it is only a label.
    relative : bool
        Count λ > ε·λ_max instead of λ > ε.
    min_drop : float
        Smallest loss step kept, in decades of the loss (default 0.1).
    rate_factor : float
        A loss step is where the running minimum of log10(loss) falls faster
        than ``rate_factor`` times its average rate over the run.
    smooth : int
        Window, in samples, of the moving average of that rate and of the
        median filter applied to the ε-rank (1: none).  Odd.
    max_lag : int, optional
        Largest ``|lag|`` (training steps) of a matched pair; default a tenth
        of the run's span.
    tolerance : int
        Training steps by which ε-rank rises are widened on each side when
        measuring the share of the loss decrease that happened inside them.

    Returns
    -------
    Staircase
        ``loss_steps``, ``rank_steps`` (each a tuple of :class:`Step`),
        ``pairs`` (:class:`StepPair`) and ``stats``; see :class:`Staircase`.

    Raises
    ------
    ValueError
        If fewer than 3 samples have a finite positive loss, the steps are
        not strictly increasing, or a parameter is out of range.

    Notes
    -----
    Loss steps are found on the running minimum of ``log10(loss)``, which
    ignores upward spikes (Adam, large learning rates) and keeps every
    downward move.  Samples whose loss is not finite and positive are dropped
    first (a snapshot recorded without a loss, for example).

    Examples
    --------
    A synthetic run whose rank rises at steps 300 and 600 and whose loss falls
    there too:

    >>> import numpy as np
    >>> from rankcore import staircase
    >>> steps = np.arange(0, 1000, 10)
    >>> rank = 2 + (steps >= 300) + (steps >= 600)
    >>> loss = 10.0 ** -(rank - 2.0) * (1 - 1e-4 * steps)
    >>> s = staircase((steps, loss, rank), 1e-3)
    >>> [(r.start, r.end, r.before, r.after) for r in s.rank_steps]
    [(290, 300, 2.0, 3.0), (590, 600, 3.0, 4.0)]
    >>> [(p.lag) for p in s.pairs]
    [0, 0]
    >>> [(l.start, l.end) for l in s.loss_steps]
    [(290, 300), (590, 600)]
    >>> round(s.stats["loss_fraction_in_rises"], 2), round(s.stats["time_fraction_in_rises"], 2)
    (0.98, 0.02)
    """
    check_bool(relative, "relative")
    if isinstance(eps, (bool, np.bool_)) or not isinstance(
            eps, (int, float, np.integer, np.floating)):
        raise TypeError(f"eps must be one positive number, got {describe(eps)}")
    eps = check_positive_scalar(eps, "eps")
    min_drop = check_positive_scalar(min_drop, "min_drop", allow_zero=True)
    rate_factor = check_positive_scalar(rate_factor, "rate_factor")
    smooth = check_positive_int(smooth, "smooth")
    if smooth % 2 == 0:
        raise ValueError(f"smooth must be odd, got {smooth}")
    tolerance = check_positive_int(tolerance, "tolerance", minimum=0)
    steps, loss, rank = _inputs(run, eps, layer, relative)
    keep = np.isfinite(loss) & (loss > 0)
    n_dropped = int(keep.size - np.count_nonzero(keep))
    steps, loss, rank = steps[keep].astype(np.int64), loss[keep], rank[keep].astype(np.int64)
    if steps.size < 3:
        raise ValueError(f"staircase needs at least 3 snapshots with a finite positive "
                         f"loss, got {steps.size}")
    if np.any(np.diff(steps) <= 0):
        k = int(np.argmax(np.diff(steps) <= 0))
        raise ValueError(f"steps must be strictly increasing, but steps[{k + 1}] = "
                         f"{steps[k + 1]} follows {steps[k]}")
    span = int(steps[-1] - steps[0])
    if max_lag is None:
        max_lag = max(1, span // 10)
    max_lag = check_positive_int(max_lag, "max_lag", minimum=0)

    logm = np.minimum.accumulate(np.log10(loss))
    lsteps_idx, dec = _loss_steps(steps, logm, rate_factor, smooth, min_drop)
    rk = _median_filter(rank, smooth)
    rsteps_idx = _rank_steps(rk)

    loss_steps = tuple(Step(int(steps[a]), int(steps[b]), float(10 ** logm[a]),
                            float(10 ** logm[b])) for a, b in lsteps_idx)
    rank_steps = tuple(Step(int(steps[a]), int(steps[b]), float(rk[a]), float(rk[b]))
                       for a, b in rsteps_idx)
    rises = [i for i, s in enumerate(rank_steps) if s.after > s.before]

    # one-to-one matching, closest starts first
    cand = sorted((abs(loss_steps[j].start - rank_steps[i].start), i, j)
                  for i in rises for j in range(len(loss_steps))
                  if abs(loss_steps[j].start - rank_steps[i].start) <= max_lag
                  or (loss_steps[j].start <= rank_steps[i].end
                      and rank_steps[i].start <= loss_steps[j].end))
    used_r, used_l, pairs = set(), set(), []
    for _, i, j in cand:
        if i in used_r or j in used_l:
            continue
        used_r.add(i)
        used_l.add(j)
        pairs.append(StepPair(i, j, int(loss_steps[j].start - rank_steps[i].start)))
    pairs.sort(key=lambda p: p.loss_step)

    # share of the decrease (and of the time) inside the widened rises
    inside = np.zeros(dec.size, dtype=bool)
    for i in rises:
        s = rank_steps[i]
        inside |= (steps[:-1] >= s.start - tolerance) & (steps[1:] <= s.end + tolerance)
    total = float(dec.sum())
    dt = np.diff(steps).astype(np.float64)
    drops = [logm[a] - logm[b] for a, b in lsteps_idx]
    matched = sum(drops[p.loss_step] for p in pairs)
    dr = np.diff(rk).astype(np.float64)
    corr = _pearson(dec, dr)
    # the same correlation with the rank series shifted by up to max_lag
    k_max = int(max_lag // max(1, int(np.median(dt))))
    best, best_k = math.nan, 0
    for k in range(-min(k_max, dec.size - 2), min(k_max, dec.size - 2) + 1):
        c = _pearson(dec[k:], dr[:dr.size - k]) if k >= 0 else _pearson(dec[:k], dr[-k:])
        if not math.isnan(c) and (math.isnan(best) or c > best):
            best, best_k = c, k
    stats = {
        "correlation": corr,
        "lagged_correlation": best,
        "correlation_lag": int(best_k * np.median(dt)) if not math.isnan(best) else 0,
        "loss_fraction_in_rises": float(dec[inside].sum() / total) if total > 0 else math.nan,
        "time_fraction_in_rises": float(dt[inside].sum() / dt.sum()),
        "loss_decades": total,
        "n_loss_steps": len(loss_steps),
        "n_rank_rises": len(rises),
        "n_pairs": len(pairs),
        "matched_loss_fraction": float(matched / sum(drops)) if drops else math.nan,
        "median_lag": float(np.median([p.lag for p in pairs])) if pairs else math.nan,
        "n_dropped": n_dropped,
    }
    for a in (steps, loss, logm, rk):
        a.setflags(write=False)
    return Staircase(eps=eps, relative=bool(relative), layer=layer, steps=steps, loss=loss,
                     running_min=10 ** logm, rank=rk, loss_steps=loss_steps,
                     rank_steps=rank_steps, pairs=tuple(pairs), stats=stats)
