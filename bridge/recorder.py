"""Record the ε-rank data of a torch model during training.

:class:`SnapshotRecorder` evaluates chosen layers of a model on the points of
a :class:`rankcore.Quadrature`, accumulates each layer's Gram matrix
``M = Φᵀ diag(w) Φ`` in float64 on the model's own device and appends it, with
its spectrum, to a crash-safe HDF5 snapshot file that
:func:`rankcore.open_run` reads without torch, and mirrors the ε-ranks to
loggers (a TensorBoard ``SummaryWriter`` or any ``(name, value, step)``
callable).  Features come from :func:`bridge.capture`, the one capture path.
:func:`record_checkpoints` builds the same file from saved state dicts.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import sys
import time

import numpy as np
import torch

import rankcore
from rankcore.validation import as_array, as_int, check_positive_int, describe
from rankcore.runs import SnapshotWriter, check_metadata, check_real

from .capture import capture, default_layer, is_rank_zero, resolve_layers, unwrap_model

__all__ = ["SnapshotRecorder", "record_checkpoints", "default_layer", "DEFAULT_EPS",
           "metric_name", "progress_bar", "eps_tuple", "check_loggers"]

#: Tolerances mirrored to loggers unless ``eps=`` is given (absolute by default).
DEFAULT_EPS = (1e-3, 1e-6)


def eps_tuple(eps):
    """``eps`` as a tuple of finite positive floats (one value or several).

    Parameters
    ----------
    eps : float or sequence of float
        One tolerance or several, each finite and > 0, none repeated.

    Returns
    -------
    tuple of float
        The tolerances, in the order given.

    Raises
    ------
    TypeError
        If ``eps`` is not a number or a sequence of numbers (bools refused).
    ValueError
        If it is empty, holds a value that is not finite and > 0, or repeats
        a value.

    Examples
    --------
    >>> from bridge.recorder import eps_tuple
    >>> eps_tuple(1e-3), eps_tuple([1e-2, 1e-4])
    ((0.001,), (0.01, 0.0001))
    """
    vals = [eps] if isinstance(eps, numbers.Real) else eps
    try:
        if isinstance(vals, (str, bytes)):
            raise TypeError
        vals = list(vals)
        if any(isinstance(e, (bool, np.bool_)) for e in vals):
            raise TypeError
        vals = [float(e) for e in vals]
    except (TypeError, ValueError):
        raise TypeError(f"eps must be a positive number or a sequence of them, got "
                        f"{describe(eps)}") from None
    if not vals or not all(math.isfinite(e) and e > 0 for e in vals):
        raise ValueError(f"eps must be finite and > 0 (one or several values), got "
                         f"{eps!r}")
    if len({metric_name("", e) for e in vals}) != len(vals):
        raise ValueError(f"eps must not repeat a value (each names a logged metric), "
                         f"got {vals}")
    return tuple(vals)


def progress_bar(iterable, progress=None, **kwargs):
    """``iterable`` wrapped in a tqdm bar on stderr, or unchanged.

    ``progress=None`` shows the bar only when stderr is a terminal, ``False``
    never (tqdm is then not needed), ``True`` always.

    Parameters
    ----------
    iterable : iterable
        What to iterate over.
    progress : bool or None, default None
        When to show the bar (see above).
    **kwargs
        Further keyword arguments of ``tqdm`` (e.g. ``desc``, ``unit``).

    Returns
    -------
    iterable
        A ``tqdm`` bar over ``iterable``, or ``iterable`` itself when
        ``progress`` is False, or None and tqdm is not installed.

    Raises
    ------
    TypeError
        If ``progress`` is not True, False or None.
    ImportError
        If ``progress`` is True and tqdm is not installed.

    Examples
    --------
    >>> from bridge.recorder import progress_bar
    >>> list(progress_bar(range(3), False))
    [0, 1, 2]
    """
    if progress is False:
        return iterable
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True, False or None, got {describe(progress)}")
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if progress:
            raise ImportError("progress bars need tqdm: pip install tqdm "
                              "(or pip install rankcore[plot])") from None
        return iterable
    return tqdm(iterable, disable=None if progress is None else not progress,
                file=sys.stderr, **kwargs)


def metric_name(layer, eps):
    """Logger name of the ε-rank of ``layer`` at ``eps``: ``eps_rank/<layer>/<eps:g>``.

    Parameters
    ----------
    layer : str
        Layer name.
    eps : float
        Tolerance.

    Returns
    -------
    str
        The metric name.

    Examples
    --------
    >>> from bridge.recorder import metric_name
    >>> metric_name("features", 1e-3), metric_name("features", 1e-6)
    ('eps_rank/features/0.001', 'eps_rank/features/1e-06')
    """
    return f"eps_rank/{layer}/{eps:g}"


class _Mirror:
    """Forward ε-ranks (and spectra) to SummaryWriters and ``(name, value, step)`` callables."""

    def __init__(self, loggers):
        if loggers is None:
            loggers = []
        elif callable(loggers) or hasattr(loggers, "add_scalar"):
            loggers = [loggers]
        self.loggers = list(loggers)
        for i, lg in enumerate(self.loggers):
            if not (hasattr(lg, "add_scalar") or callable(lg)):
                raise TypeError(
                    f"loggers[{i}] must be a torch.utils.tensorboard.SummaryWriter (an "
                    f"object with add_scalar) or a callable (name, value, step), got "
                    f"{describe(lg)}")

    def __call__(self, step, ranks, spectra, eps):
        for lg in self.loggers:
            for layer, r in ranks.items():
                for e, v in zip(eps, r):
                    if hasattr(lg, "add_scalar"):
                        lg.add_scalar(metric_name(layer, e), int(v), step)
                    else:
                        lg(metric_name(layer, e), int(v), step)
                lam = spectra[layer]
                if hasattr(lg, "add_histogram") and np.any(lam > 0):
                    lg.add_histogram(f"spectrum_log10/{layer}", np.log10(lam[lam > 0]),
                                     step)


def check_loggers(loggers):
    """``loggers`` as a list of SummaryWriters and ``(name, value, step)`` callables.

    One logger may be given bare; None gives an empty list.

    Parameters
    ----------
    loggers : object, sequence of objects or None
        SummaryWriters (objects with ``add_scalar``) and callables.

    Returns
    -------
    list
        The loggers.

    Raises
    ------
    TypeError
        Naming the first entry that is neither.

    Examples
    --------
    >>> from bridge.recorder import check_loggers
    >>> check_loggers(print), check_loggers(None)
    ([<built-in function print>], [])
    """
    return _Mirror(loggers).loggers


class SnapshotRecorder:
    """Record Gram matrices and spectra of a model's layers into a snapshot file.

    Use it as a context manager around the training loop and call
    :meth:`record` at every step (steps that are not a multiple of ``every``
    are skipped cheaply).

    Parameters
    ----------
    path : str or os.PathLike or None
        HDF5 file to create (see ``docs/snapshot-format.md``).  ``None``
        writes no file: the ε-ranks only go to ``loggers``.
    model : torch.nn.Module
        The model; a DistributedDataParallel wrapper is unwrapped.  It must
        accept a tensor of shape (B, d) of quadrature points.
    quadrature : rankcore.Quadrature
        Points and weights on which features are evaluated.
    layers : str or list of str, optional
        Module names from ``model.named_modules()``; the module's *output* is
        recorded, or its *input* with the suffix ``":input"``.  Default: the
        module named by the model's ``last_hidden`` attribute (``"features"``
        for ``bridge.MLP``, ``ModifiedMLP`` and ``PirateNet``), else the
        input of the last ``nn.Linear``, i.e. the last hidden layer (see
        :func:`default_layer`).
    every : int
        Record only steps that are multiples of ``every``.
    store_features : bool
        Also store the raw features (N, n) per snapshot (large).
    store_gram : bool
        Store the Gram matrices (spectra are always stored).
    scalars : sequence of str, optional
        Names of extra scalars passed to :meth:`record`; if omitted, the names
        given at the first recorded step are used (a later new name is dropped
        with a warning, because HDF5 cannot add datasets to a file in SWMR mode).
    batch_size : int
        Quadrature points per forward pass.
    seed : int, optional
        Stored in the metadata (the run's seed, for reference); must be an
        int (bools and floats are refused).
    metadata : dict, optional
        More root attributes (str, int, float, bool values).
    overwrite : bool
        Replace an existing file.
    loggers : sequence, optional
        Where to mirror each snapshot's ε-ranks: a
        ``torch.utils.tensorboard.SummaryWriter`` (scalars
        ``eps_rank/<layer>/<eps>`` and the histogram
        ``spectrum_log10/<layer>`` of log10 of the positive eigenvalues) or
        any callable ``(name, value, step)`` (MLflow, W&B, a list's append).
    eps : float or sequence of float
        Tolerances of the mirrored ε-ranks (default ``(1e-3, 1e-6)``).
    relative : bool
        Mirror ranks that count λ > ε·λ_max instead of λ > ε.

    Notes
    -----
    Features come from :func:`bridge.capture` (no gradients, ``eval()``
    mode, training flags and RNG states restored, float64 accumulation on
    the model's device; only M leaves the device).  The recorder checks each
    Gram matrix once for finiteness and computes its spectrum on the host
    with :func:`rankcore.spectrum`, so that stored spectra follow the
    library's one convention (descending, round-off negatives clipped) and
    equal what ``rankcore.spectrum(run.grams())`` gives offline.

    Under ``torch.distributed`` only rank 0 writes; on the other ranks
    :meth:`record` does nothing (no collective operations, so no hang).

    Examples
    --------
    >>> import os, tempfile, torch
    >>> import rankcore, bridge
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(),
    ...                             torch.nn.Linear(8, 1))
    >>> q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 32)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.h5")
    >>> seen = []
    >>> with bridge.SnapshotRecorder(path, model, q, every=5,
    ...                              loggers=[lambda *a: seen.append(a)]) as rec:
    ...     for step in range(11):
    ...         _ = rec.record(step, loss=1.0 / (step + 1))
    >>> with rankcore.open_run(path) as run:
    ...     print(run.layers, run.steps.tolist(), run.spectra().shape)
    ['2:input'] [0, 5, 10] (3, 8)
    >>> [(name, step) for name, _, step in seen[:2]]
    [('eps_rank/2:input/0.001', 0), ('eps_rank/2:input/1e-06', 0)]
    """

    def __init__(self, path, model, quadrature, layers=None, every=1, *,
                 store_features=False, store_gram=True, scalars=None,
                 batch_size=8192, seed=None, metadata=None, overwrite=False,
                 loggers=None, eps=DEFAULT_EPS, relative=False):
        if not isinstance(quadrature, rankcore.Quadrature):
            raise TypeError(
                f"quadrature must be a rankcore.Quadrature, got {describe(quadrature)}")
        self.path = None if path is None else os.fspath(path)
        self.model = unwrap_model(model)
        self.quadrature = quadrature
        self.every = check_positive_int(every, "every")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.store_features = bool(store_features)
        self.store_gram = bool(store_gram)
        self.layers = [k for k, _, _ in resolve_layers(self.model, layers)]
        self._scalars = None if scalars is None else [str(s) for s in scalars]
        self._overwrite = bool(overwrite)
        self.eps = eps_tuple(eps)
        if not isinstance(relative, (bool, np.bool_)):
            raise TypeError(f"relative must be a bool, got {describe(relative)}")
        self.relative = bool(relative)
        self._mirror = _Mirror(loggers)
        self.active = is_rank_zero()
        if (self.active and self.path is not None and os.path.exists(self.path)
                and not overwrite):
            raise FileExistsError(
                f"path {self.path!r} exists; pass overwrite=True to replace it")
        meta = {
            "model": repr(self.model)[:20000],
            "model_class": type(self.model).__name__,
            "n_parameters": int(sum(p.numel() for p in self.model.parameters())),
            "torch_version": torch.__version__,
            "rankcore_version": rankcore.__version__,
            "every": self.every,
        }
        if seed is not None:
            meta["seed"] = check_positive_int(seed, "seed", minimum=-2 ** 63)
        # Checked here, not at the first record(), so that a bad value fails
        # before training starts.
        check_metadata(metadata)
        meta.update(metadata or {})
        self._meta = meta
        self._writer = None
        self._closed = False
        self._created = False  # whether this recorder created self.path
        self._count = 0
        self._start = time.time()
        self._points = None  # quadrature points and weights on the device

    # ------------------------------------------------------------------
    def compute(self):
        """Evaluate the layers on the quadrature: Gram matrices (and features).

        Returns
        -------
        grams : dict of str to ndarray (n, n) float64
            Symmetric Gram matrix per layer.
        features : dict of str to ndarray (N, n) or None
            Features per layer in the model's dtype; None unless
            ``store_features`` is set.
        """
        p = next(iter(self.model.parameters()), None)
        key = (p.device, p.dtype) if p is not None else None
        if self._points is None or self._points[0] != key:
            dev = p.device if p is not None else "cpu"
            dt = p.dtype if p is not None and p.is_floating_point() else torch.float32
            self._points = (key,
                            torch.tensor(self.quadrature.points, dtype=dt, device=dev),
                            torch.tensor(self.quadrature.weights, dtype=torch.float64,
                                            device=dev))
        _, pts, w = self._points
        out = capture(self.model, pts, self.layers, weights=w,
                      features=self.store_features, batch_size=self.batch_size)
        return out.grams, out.features

    def _open(self, grams, feats, scalars):
        names = self._scalars if self._scalars is not None else list(scalars)
        fdtype = "float32"
        if feats:
            fdtype = "float64" if next(iter(feats.values())).dtype == np.float64 else "float32"
        self._writer = SnapshotWriter(
            self.path, self.quadrature, {k: g.shape[0] for k, g in grams.items()},
            scalars=names, store_gram=self.store_gram,
            store_features=self.store_features, feature_dtype=fdtype,
            metadata=self._meta, overwrite=self._overwrite, start_time=self._start)

    def record(self, step, loss=math.nan, **scalars):
        """Record a snapshot at ``step`` if ``step % every == 0``.

        Parameters
        ----------
        step : int
            Training step; stored steps must increase.
        loss : float or 0-d tensor, optional
            Loss at this step, finite or NaN (default NaN: not measured).
        **scalars : float or 0-d tensor
            Extra values stored per snapshot (e.g. ``lr=...``).

        Returns
        -------
        bool
            Whether a snapshot was written.
        """
        step = as_int(step, "step")
        if not self.active or step % self.every:
            return False
        if self._closed:
            raise ValueError("the recorder is closed")
        # Checked before the forward pass; one-element tensors are accepted.
        loss, scalars = self._values(loss, scalars)
        grams, feats = self.compute()
        self._store(step, grams, feats, loss, scalars, bool(self._mirror.loggers))
        return True

    @staticmethod
    def _values(loss, scalars):
        loss = math.nan if loss is None else check_real(
            loss.detach().cpu() if isinstance(loss, torch.Tensor) else loss, "loss",
            allow_inf=False)
        scalars = {k: check_real(v.detach().cpu() if isinstance(v, torch.Tensor) else v,
                                 f"scalar {k!r}")
                   for k, v in scalars.items()}
        return loss, scalars

    def append(self, step, grams, features=None, loss=math.nan, **scalars):
        """Store Gram matrices computed by :meth:`compute` as the snapshot of ``step``.

        Writes to the file (when the recorder has a path) and mirrors the
        ε-ranks to the loggers.  :meth:`record` is :meth:`compute` followed by
        this; the two halves let a caller (the Lightning callback) capture
        the features before an optimiser step and store them with the loss
        of that step once it is known.

        Parameters
        ----------
        step : int
            Training step; stored steps must increase.
        grams : dict of str to ndarray (n, n) float64
            Gram matrix per layer, as returned by :meth:`compute`.
        features : dict of str to ndarray (N, n), optional
            Features per layer, as returned by :meth:`compute`.
        loss : float or 0-d tensor, optional
            Loss at this step, finite or NaN (default NaN: not measured).
        **scalars : float or 0-d tensor
            Extra values stored with the snapshot (e.g. ``lr=...``).

        Returns
        -------
        dict of str to ndarray (len(eps),) of int
            The ε-rank of each layer at ``self.eps``.
        """
        step = as_int(step, "step")
        if self._closed:
            raise ValueError("the recorder is closed")
        loss, scalars = self._values(loss, scalars)
        return self._store(step, grams, features, loss, scalars, True)

    def _store(self, step, grams, features, loss, scalars, want_ranks):
        wall = time.time() - self._start
        spectra, ranks = {}, {}
        for key, M in grams.items():
            # M is symmetric by construction (bridge.capture); the writer's
            # validation is its one check.  A NaN or inf in M makes eigvalsh
            # fail or return non-finite values: only then is M checked here,
            # to say which entry is bad.
            try:
                lam = rankcore.spectrum(M, check_finite=False)
            except np.linalg.LinAlgError:
                lam = None
            if lam is None or not np.all(np.isfinite(lam)):
                as_array(M, f"grams[{key!r}]", ndim=2)  # raises, naming the entry
                raise ValueError(f"grams[{key!r}] has no finite spectrum")
            spectra[key] = lam
            if want_ranks:  # only for loggers and callers of append()
                ranks[key] = np.atleast_1d(rankcore.eps_rank(
                    spectra[key], list(self.eps), relative=self.relative))
        if self.path is not None:
            new = self._writer is None
            if new:
                self._open(grams, features, scalars)
                self._created = True
            try:
                self._writer.append(step, loss=loss, grams=grams, spectra=spectra,
                                    features=features, scalars=scalars, wall_time=wall)
            except BaseException:
                if new:
                    # Leave no empty file behind for a first snapshot that
                    # failed; a file this recorder was to replace stays.
                    self._discard()
                raise
        self._count += 1
        self._mirror(step, ranks, spectra, self.eps)
        return ranks

    @property
    def count(self):
        """Number of snapshots recorded so far (kept after :meth:`close`)."""
        return self._count

    @property
    def closed(self):
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self):
        """Close the file with its end-of-run marker (idempotent)."""
        if self._writer:
            self._writer.close()
        self._writer = None
        self._closed = True

    def _discard(self):
        """Delete the file this recorder created (never one it did not create)."""
        if self._writer:
            self._writer.discard()
        self._writer = None
        self._created = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # Left by an exception: the file keeps its snapshots but is not
        # marked finished.
        if exc_type is not None and self._writer:
            self._writer.__exit__(exc_type, exc, tb)
        self.close()


def record_checkpoints(model, checkpoint_paths, quadrature, path, steps=None, *,
                       losses=None, layers=None, map_location=None, progress=None,
                       **kwargs):
    """Build a snapshot file from state dicts saved during an earlier run.

    Parameters
    ----------
    model : torch.nn.Module
        A model of the architecture the checkpoints belong to; its parameters
        are overwritten by each checkpoint in turn.
    checkpoint_paths : sequence of path
        Files written by ``torch.save(model.state_dict(), p)``, loaded with
        ``torch.load(p, weights_only=True)`` (never unpickled).  A dict with a
        ``"model"`` or ``"state_dict"`` entry is accepted too.
    quadrature : rankcore.Quadrature
        Points and weights on which features are evaluated.
    path : str or os.PathLike
        Snapshot file to create.
    steps : sequence of int, optional
        Step of each checkpoint; default: the last integer in each file name,
        or 0, 1, 2, ... when a name has none.
    losses : sequence of float, optional
        Loss of each checkpoint (NaN if omitted).
    layers : str or list of str, optional
        Layers to record, as for :class:`SnapshotRecorder`.
    map_location : str, torch.device or callable, optional
        Passed to ``torch.load`` (default: the model's device).
    progress : bool or None
        Show a tqdm progress bar on stderr: ``None`` (default) shows it only
        when stderr is a terminal, ``False`` never, ``True`` always.  Needs
        tqdm (``pip install rankcore[plot]``) unless ``False``.
    **kwargs
        Further keyword arguments of :class:`SnapshotRecorder`.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    TypeError, ValueError
        On a malformed ``steps``, ``losses`` or ``checkpoint_paths``; these
        are checked before anything is written.  If a checkpoint fails to
        load or record, the partly written snapshot file is removed.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> import rankcore, bridge
    >>> d = tempfile.mkdtemp()
    >>> model = torch.nn.Sequential(torch.nn.Linear(1, 6), torch.nn.Tanh(),
    ...                             torch.nn.Linear(6, 1))
    >>> paths = []
    >>> for step in (0, 100):
    ...     paths.append(os.path.join(d, f"ckpt_{step}.pt"))
    ...     torch.save(model.state_dict(), paths[-1])
    >>> q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 16)
    >>> out = bridge.record_checkpoints(model, paths, q, os.path.join(d, "run.h5"))
    >>> with rankcore.open_run(out) as run:
    ...     print(run.steps.tolist(), run.grams().shape)
    [0, 100] (2, 6, 6)
    """
    if isinstance(checkpoint_paths, (str, bytes, os.PathLike)):
        raise TypeError(
            f"checkpoint_paths must be a sequence of paths, got one path "
            f"{describe(checkpoint_paths)}; wrap it in a list")
    paths = [os.fspath(p) for p in checkpoint_paths]
    if not paths:
        raise ValueError("checkpoint_paths must not be empty")
    if steps is None:
        nums = [re.findall(r"\d+", os.path.basename(p)) for p in paths]
        steps = [int(m[-1]) if m else None for m in nums]
        # file names without distinct numbers: fall back to the position
        if None in steps or len(set(steps)) != len(steps):
            steps = list(range(len(paths)))
    if isinstance(steps, (str, bytes)) or not hasattr(steps, "__iter__"):
        raise TypeError(f"steps must be a sequence of ints, got {describe(steps)}")
    steps = list(steps)
    if len(steps) != len(paths):
        raise ValueError(
            f"steps must have one entry per checkpoint ({len(paths)}), got {len(steps)}")
    # Everything is checked before the output file is created.
    steps = [check_positive_int(s, f"steps[{i}]", minimum=-2 ** 63)
             for i, s in enumerate(steps)]
    for i in range(1, len(steps)):
        if steps[i] <= steps[i - 1]:
            raise ValueError(
                f"steps must increase (pass checkpoint_paths in training order), but "
                f"steps[{i}] = {steps[i]} follows {steps[i - 1]}")
    if losses is not None:
        if isinstance(losses, (str, bytes)) or not hasattr(losses, "__iter__"):
            raise TypeError(f"losses must be a sequence of floats, got {describe(losses)}")
        losses = list(losses)
        if len(losses) != len(paths):
            raise ValueError(
                f"losses must have one entry per checkpoint ({len(paths)}), "
                f"got {len(losses)}")
        losses = [math.nan if v is None else check_real(v, f"losses[{i}]", allow_inf=False)
                  for i, v in enumerate(losses)]
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"checkpoint {p!r} does not exist")
    inner = unwrap_model(model)
    if map_location is None:
        map_location = next(iter(inner.parameters()), torch.empty(0)).device
    iterator = progress_bar(list(zip(paths, steps)), progress, desc="checkpoints",
                            unit="ckpt")
    # Replacing an existing file: build the new run beside it and swap it in
    # only when every checkpoint is recorded, so a failure keeps the old run.
    final = target = os.fspath(path)
    if kwargs.get("overwrite") and os.path.lexists(final):
        head, tail = os.path.split(os.path.abspath(final))
        target = os.path.join(head, f".{tail}.{os.getpid()}.{time.time_ns()}.rebuild")
        kwargs = dict(kwargs, overwrite=False)
    rec = SnapshotRecorder(target, inner, quadrature, layers=layers, every=1, **kwargs)
    try:
        for i, (p, step) in enumerate(iterator):
            state = torch.load(p, map_location=map_location, weights_only=True)
            if isinstance(state, dict) and "state_dict" in state and isinstance(
                    state["state_dict"], dict):
                state = state["state_dict"]
            elif isinstance(state, dict) and "model" in state and isinstance(
                    state["model"], dict):
                state = state["model"]
            inner.load_state_dict(state)
            rec.record(step, loss=math.nan if losses is None else losses[i])
        rec.close()
    except BaseException:
        # A checkpoint that fails to load (or to record) must not leave a
        # half-written snapshot file that looks like a complete run.
        rec._discard()
        raise
    if target != final:
        os.replace(target, final)
    return final
