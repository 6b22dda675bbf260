"""Record the ε-rank data of a torch model during training.

:class:`SnapshotRecorder` evaluates chosen layers of a model on the points of
a :class:`rankcore.Quadrature`, accumulates each layer's Gram matrix
``M = Φᵀ diag(w) Φ`` in float64 on the model's own device and appends it, with
its spectrum, to a crash-safe HDF5 snapshot file that
:func:`rankcore.open_run` reads without torch.
:func:`record_checkpoints` builds the same file from saved state dicts.
"""

from __future__ import annotations

import math
import os
import re
import time

import numpy as np
import torch

import rankcore
from rankcore._validate import as_int, check_positive_int, describe
from rankcore.snapshots import SnapshotWriter, _as_real, _attr_value, _check_name

__all__ = ["SnapshotRecorder", "record_checkpoints", "default_layer"]

_INPUT_SUFFIX = ":input"


def _unwrap(model):
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {describe(model)}")
    ddp = torch.nn.parallel.DistributedDataParallel
    while isinstance(model, ddp) or type(model).__name__ in (
            "DistributedDataParallel", "DataParallel"):
        model = model.module
    return model


def _is_writer_rank():
    """True unless a torch.distributed process group says we are not rank 0."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return True


def default_layer(model):
    """Name of the layer recorded by default: the input of the last ``nn.Linear``.

    The last ``nn.Linear`` in ``model.named_modules()`` order is taken as the
    output layer; its input are the neurons of the last hidden layer.  The name
    returned is ``"<module name>:input"``.

    Raises
    ------
    ValueError
        If the model has no ``nn.Linear`` module.

    Examples
    --------
    >>> import torch
    >>> from bridge import default_layer
    >>> default_layer(torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(),
    ...                                   torch.nn.Linear(4, 1)))
    '2:input'
    """
    model = _unwrap(model)
    last = None
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            last = name
    if last is None:
        raise ValueError(
            "model has no nn.Linear module, so there is no default layer; pass "
            "layers=[...] with module names from model.named_modules()")
    return (last or "<root>") + _INPUT_SUFFIX


def _resolve_layers(model, layers):
    """[(layer key, module, capture input?)] for the requested layer names."""
    if layers is None:
        layers = [default_layer(model)]
    elif isinstance(layers, str):
        layers = [layers]
    modules = dict(model.named_modules())
    out, seen = [], set()
    for key in layers:
        if not isinstance(key, str):
            raise TypeError(f"layers must be module names (str), got {describe(key)}")
        name, is_input = key, False
        if key.endswith(_INPUT_SUFFIX):
            name, is_input = key[:-len(_INPUT_SUFFIX)], True
        mod_name = "" if name == "<root>" else name
        if mod_name not in modules:
            avail = [n for n in modules if n][:20]
            raise ValueError(
                f"layers: no module named {name!r} in the model; names are those of "
                f"model.named_modules(), e.g. {avail} (append ':input' to record "
                f"a module's input instead of its output)")
        if key in seen:
            raise ValueError(f"layers names {key!r} twice")
        seen.add(key)
        out.append((key, modules[mod_name], is_input))
    return out


class _Capture:
    """Forward hooks that keep the latest input/output of the chosen modules."""

    def __init__(self, specs):
        self.specs = specs
        self.values = {}
        self.handles = []

    def __enter__(self):
        for key, mod, is_input in self.specs:
            if is_input:
                h = mod.register_forward_pre_hook(self._pre(key))
            else:
                h = mod.register_forward_hook(self._post(key))
            self.handles.append(h)
        return self

    def _store(self, key, t):
        if isinstance(t, (tuple, list)):
            t = t[0] if len(t) else None
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"layer {key!r} produced {describe(t)}, not a tensor")
        self.values[key] = t

    def _pre(self, key):
        def hook(module, args):
            self._store(key, args)
        return hook

    def _post(self, key):
        def hook(module, args, output):
            self._store(key, output)
        return hook

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles.clear()


class SnapshotRecorder:
    """Record Gram matrices and spectra of a model's layers into a snapshot file.

    Use it as a context manager around the training loop and call
    :meth:`record` at every step (steps that are not a multiple of ``every``
    are skipped cheaply).

    Parameters
    ----------
    path : str or os.PathLike
        HDF5 file to create (see ``docs/snapshot-format.md``).
    model : torch.nn.Module
        The model; a DistributedDataParallel wrapper is unwrapped.  It must
        accept a tensor of shape (B, d) of quadrature points.
    quadrature : rankcore.Quadrature
        Points and weights on which features are evaluated.
    layers : str or list of str, optional
        Module names from ``model.named_modules()``; the module's *output* is
        recorded, or its *input* with the suffix ``":input"``.  Default: the
        input of the last ``nn.Linear``, i.e. the last hidden layer
        (see :func:`default_layer`).
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

    Notes
    -----
    Features are computed under ``torch.no_grad()`` in ``eval()`` mode, after
    which every module's ``training`` flag and the CPU and CUDA RNG states are
    restored, so training is undisturbed.  Each batch of features is cast to
    float64 before ``M += (F * w)ᵀ F``, so no float32/TF32 product is ever
    used; only M (n × n) leaves the device.  The spectrum is then computed on
    the host with :func:`rankcore.spectrum`, so that stored spectra follow the
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
    >>> with bridge.SnapshotRecorder(path, model, q, every=5) as rec:
    ...     for step in range(11):
    ...         _ = rec.record(step, loss=1.0 / (step + 1))
    >>> with rankcore.open_run(path) as run:
    ...     print(run.layers, run.steps.tolist(), run.spectra().shape)
    ['2:input'] [0, 5, 10] (3, 8)
    """

    def __init__(self, path, model, quadrature, layers=None, every=1, *,
                 store_features=False, store_gram=True, scalars=None,
                 batch_size=8192, seed=None, metadata=None, overwrite=False):
        if not isinstance(quadrature, rankcore.Quadrature):
            raise TypeError(
                f"quadrature must be a rankcore.Quadrature, got {describe(quadrature)}")
        self.path = os.fspath(path)
        self.model = _unwrap(model)
        self.quadrature = quadrature
        self.every = check_positive_int(every, "every")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.store_features = bool(store_features)
        self.store_gram = bool(store_gram)
        self._specs = _resolve_layers(self.model, layers)
        self.layers = [k for k, _, _ in self._specs]
        self._scalars = None if scalars is None else [str(s) for s in scalars]
        self._overwrite = bool(overwrite)
        self.active = _is_writer_rank()
        if self.active and os.path.exists(self.path) and not overwrite:
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
        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict, got {describe(metadata)}")
        for k, v in (metadata or {}).items():
            # Checked here, not at the first record(), so that a bad value
            # fails before training starts.
            _check_name(k, "metadata key")
            if k in ("format", "format_version", "layers", "scalars"):
                raise ValueError(f"metadata key {k!r} is reserved by the file format")
            _attr_value(v)
        meta.update(metadata or {})
        self._meta = meta
        self._writer = None
        self._created = False  # whether this recorder created self.path
        self._final_count = 0
        self._start = time.time()
        self._points = None  # quadrature points on the device, built lazily

    # ------------------------------------------------------------------
    def _device_and_dtype(self):
        for p in self.model.parameters():
            return p.device, (p.dtype if p.is_floating_point() else torch.float32)
        for b in self.model.buffers():
            return b.device, torch.float32
        return torch.device("cpu"), torch.float32

    def compute(self):
        """Evaluate the layers on the quadrature: Gram matrices (and features).

        Returns
        -------
        grams : dict of str to ndarray (n, n) float64
        features : dict of str to ndarray (N, n) or None
            Only when ``store_features`` is set.
        """
        model = self.model
        device, dtype = self._device_and_dtype()
        if self._points is None or self._points[0] != (device, dtype):
            pts = torch.tensor(self.quadrature.points, dtype=dtype, device=device)
            w = torch.tensor(self.quadrature.weights, dtype=torch.float64, device=device)
            self._points = ((device, dtype), pts, w)
        _, pts, w = self._points
        modes = [(m, m.training) for m in model.modules()]
        cpu_rng = torch.get_rng_state()
        cuda_rng = (torch.cuda.get_rng_state(device)
                    if device.type == "cuda" else None)
        acc = {k: None for k in self.layers}
        feats = {k: [] for k in self.layers} if self.store_features else None
        try:
            model.eval()
            with torch.no_grad(), _Capture(self._specs) as cap:
                N = pts.shape[0]
                for s in range(0, N, self.batch_size):
                    cap.values.clear()
                    model(pts[s:s + self.batch_size])
                    for key in self.layers:
                        if key not in cap.values:
                            raise RuntimeError(
                                f"layer {key!r} was not reached by the forward pass")
                        F = cap.values[key]
                        F = F.reshape(F.shape[0], -1)
                        if feats is not None:
                            feats[key].append(F.detach().to("cpu"))
                        F64 = F.to(torch.float64)
                        part = (F64 * w[s:s + F.shape[0], None]).T @ F64
                        acc[key] = part if acc[key] is None else acc[key] + part
        finally:
            for m, mode in modes:
                m.training = mode
            torch.set_rng_state(cpu_rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state(cuda_rng, device)
        grams = {}
        for key, M in acc.items():
            M = 0.5 * (M + M.T)  # exact symmetry against summation-order round-off
            grams[key] = M.cpu().numpy()
        if feats is not None:
            feats = {k: torch.cat(v).numpy() for k, v in feats.items()}
        return grams, feats

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
        loss : float or 0-d tensor, optional
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
        if self._writer is False:
            raise ValueError("the recorder is closed")
        wall = time.time() - self._start
        # Checked before the forward pass; one-element tensors are accepted.
        loss = math.nan if loss is None else _as_real(
            loss.detach().cpu() if isinstance(loss, torch.Tensor) else loss, "loss")
        scalars = {k: _as_real(v.detach().cpu() if isinstance(v, torch.Tensor) else v,
                               f"scalar {k!r}")
                   for k, v in scalars.items()}
        grams, feats = self.compute()
        new = self._writer is None
        if new:
            self._open(grams, feats, scalars)
            self._created = True
        try:
            self._writer.append(step, loss=loss, grams=grams, features=feats,
                                scalars=scalars, wall_time=wall)
        except BaseException:
            if new:
                # Leave no empty file behind for a first snapshot that failed
                # (e.g. a model whose features are NaN).
                self._writer.close()
                self._writer = None
                self._created = False
                try:
                    os.remove(self.path)
                except OSError:
                    pass
            raise
        return True

    @property
    def count(self):
        """Number of snapshots written so far (kept after :meth:`close`)."""
        return self._writer.count if self._writer else self._final_count

    def close(self):
        """Close the file (idempotent)."""
        if self._writer:
            self._final_count = self._writer.count
            self._writer.close()
        self._writer = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def record_checkpoints(model, checkpoint_paths, quadrature, path, steps=None, *,
                       losses=None, layers=None, map_location=None, progress=False,
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
    path : str or os.PathLike
        Snapshot file to create.
    steps : sequence of int, optional
        Step of each checkpoint; default: the last integer in each file name,
        or 0, 1, 2, ... when a name has none.
    losses : sequence of float, optional
        Loss of each checkpoint (NaN if omitted).
    layers, map_location, **kwargs
        ``layers`` and further keyword arguments go to
        :class:`SnapshotRecorder`; ``map_location`` to ``torch.load``
        (default: the model's device).
    progress : bool
        Show a tqdm progress bar.

    Raises
    ------
    TypeError, ValueError
        On a malformed ``steps``, ``losses`` or ``checkpoint_paths``; these
        are checked before anything is written.  If a checkpoint fails to
        load or record, the partly written snapshot file is removed.

    Returns
    -------
    str
        ``path``.

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
    if losses is not None:
        if isinstance(losses, (str, bytes)) or not hasattr(losses, "__iter__"):
            raise TypeError(f"losses must be a sequence of floats, got {describe(losses)}")
        losses = list(losses)
        if len(losses) != len(paths):
            raise ValueError(
                f"losses must have one entry per checkpoint ({len(paths)}), "
                f"got {len(losses)}")
        losses = [math.nan if v is None else _as_real(v, f"losses[{i}]")
                  for i, v in enumerate(losses)]
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"checkpoint {p!r} does not exist")
    inner = _unwrap(model)
    if map_location is None:
        map_location = next(iter(inner.parameters()), torch.empty(0)).device
    iterator = zip(paths, steps)
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(list(iterator), desc="checkpoints", unit="ckpt")
    rec = SnapshotRecorder(path, inner, quadrature, layers=layers, every=1, **kwargs)
    try:
        with rec:
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
    except BaseException:
        # A checkpoint that fails to load (or to record) must not leave a
        # half-written snapshot file that looks like a complete run.
        if rec._created:
            try:
                os.remove(rec.path)
            except OSError:
                pass
        raise
    return os.fspath(path)
