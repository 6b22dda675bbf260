"""Summaries of many snapshot files at once, in parallel on Dask when available.

A hyper-parameter sweep leaves hundreds or thousands of snapshot files.
:func:`runs_table` reads each of them (by path, in the task that summarises
it: open HDF5 files do not travel between processes) and returns one row per
file.  With an active ``dask.distributed`` client the files are read on its
workers; otherwise one after the other in this process.  A file that cannot be
read gives a row whose ``error`` column says why, never a failed table.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys

import numpy as np

from ..validation import as_array, check_bool, check_positive_int, describe

__all__ = ["runs_table", "row_for_run", "active_client", "dask_client", "format_table",
           "INT_COLUMNS"]

#: Columns of every table, in order (the per-eps and staircase columns follow,
#: ``error`` is last).
BASE_COLUMNS = ("path", "snapshots", "first_step", "last_step", "final_loss", "min_loss",
                "layer", "n_features", "finished")
#: Integer-valued columns (nullable ``Int64`` in a DataFrame); per-eps rank
#: columns are integers too.
INT_COLUMNS = ("snapshots", "first_step", "last_step", "n_features")
#: Paths summarised per task: enough work per task to hide Dask's per-task
#: overhead, enough tasks to keep every worker busy.
TASKS_PER_THREAD = 4


def _eps_values(eps):
    e = np.atleast_1d(as_array(eps, "eps", ndim=(0, 1), finite=False))
    bad = ~(np.isfinite(e) & (e > 0))
    if np.any(bad):
        k = int(np.argmax(bad))
        raise ValueError(f"eps must be finite and > 0, but eps[{k}] = {e[k].item()!r}")
    if np.unique(e).size != e.size:
        raise ValueError(f"eps must not repeat a value, got {e.tolist()}")
    return [float(v) for v in e]


def _rank_columns(eps):
    return [f"rank_{which}@{e!r}" for e in eps for which in ("first", "last")]


def _staircase_summary(run, eps, layer, relative):
    """``staircase(...).stats`` per eps as ``staircase_<stat>@<eps>`` columns.

    Empty when this rankcore has no staircase analysis; a run too short for
    it gets ``staircase_error@<eps>`` instead (the file itself is fine).
    """
    try:
        from .staircase import staircase
    except ImportError:
        return {}
    out = {}
    for e in eps:
        try:
            stats = staircase(run, e, layer, relative=relative).stats
        except ValueError as exc:
            out[f"staircase_error@{e!r}"] = str(exc)
            continue
        for k, v in stats.items():
            out[f"staircase_{k}@{e!r}"] = v.item() if isinstance(v, np.generic) else v
    return out


def row_for_run(path, eps, *, layer=None, relative=False):
    """One row of :func:`runs_table`: the summary of the run at ``path``.

    Never raises for a bad file: the row then holds only ``path`` and
    ``error``, the error's type and message (``runs_table`` fills the other
    columns with None).  ``eps`` must be a list of
    distinct positive floats (``runs_table`` checks it).

    Parameters
    ----------
    path : str or os.PathLike
        Snapshot file; kept in the row as given.
    eps : list of float
        Tolerances.
    layer : str, optional
        Layer to rank (default: the run's default layer).
    relative : bool
        Count eigenvalues > eps * lambda_max.

    Returns
    -------
    dict
        Column name -> value.

    Examples
    --------
    >>> from rankcore.runs.table import row_for_run
    >>> row = row_for_run("no-such-run.h5", [1e-6])
    >>> sorted(row), row["error"].split(":")[0]
    (['error', 'path'], 'FileNotFoundError')
    """
    from .reader import open_run
    row = {"path": path}
    try:
        with open_run(path) as run:
            T = len(run)
            values = {"snapshots": T, "finished": getattr(run, "finished", None)}
            spectra = run.spectra(layer)  # multi-layer runs need layer=
            values["layer"] = layer if layer is not None else run.layers[0]
            values["n_features"] = int(spectra.shape[1])
            if T:
                steps, loss = run.steps, run.loss
                fin = loss[np.isfinite(loss)]
                values.update(
                    first_step=int(steps[0]), last_step=int(steps[-1]),
                    final_loss=float(loss[-1]),
                    min_loss=float(fin.min()) if fin.size else math.nan)
                ranks = run.eps_rank(eps, layer=layer, relative=relative)  # (T, E)
                for j, e in enumerate(eps):
                    values[f"rank_first@{e!r}"] = int(ranks[0, j])
                    values[f"rank_last@{e!r}"] = int(ranks[-1, j])
                values.update(_staircase_summary(run, eps, layer, relative))
    except Exception as exc:  # noqa: BLE001 - a broken file is a row, not a failure
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    row.update(values)
    row["error"] = ""
    return row


def _rows_for_paths(paths, eps, layer, relative):
    return [row_for_run(p, eps, layer=layer, relative=relative) for p in paths]


def active_client():
    """The active ``dask.distributed`` client, or None (never imports dask).

    Returns
    -------
    distributed.Client or None
        ``distributed.default_client()`` when ``distributed`` is already
        imported and a client is running, else None.

    Examples
    --------
    >>> from rankcore.runs.table import active_client
    >>> client = active_client()   # None unless a distributed.Client was started
    >>> client is None or type(client).__name__ == "Client"
    True
    """
    if "distributed" not in sys.modules:
        return None  # a client exists only once distributed was imported
    try:
        from distributed import default_client
        return default_client()
    except (ImportError, ValueError):
        return None


def _check_paths(paths):
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(
            f"paths must be a sequence of paths (wrap a single path in a list), "
            f"got {describe(paths)}")
    try:
        items = list(paths)
    except TypeError:
        raise TypeError(f"paths must be a sequence of str or os.PathLike, "
                        f"got {describe(paths)}") from None
    for i, p in enumerate(items):
        if not isinstance(p, (str, bytes, os.PathLike)):
            raise TypeError(f"paths[{i}] must be a str or os.PathLike, got {describe(p)}")
    return items


def _compute_rows(items, eps, layer, relative, client):
    opened = [os.fspath(p) for p in items]  # str/bytes pickle everywhere
    if client is None or not opened:
        rows = _rows_for_paths(opened, eps, layer, relative)
    else:
        threads = max(1, sum(client.nthreads().values()))
        size = max(1, math.ceil(len(opened) / (TASKS_PER_THREAD * threads)))
        batches = [opened[i:i + size] for i in range(0, len(opened), size)]
        futures = client.map(_rows_for_paths, batches, eps=eps, layer=layer,
                             relative=relative, pure=False)
        rows = []
        for batch, fut in zip(batches, futures):
            try:
                rows.extend(fut.result())
            except Exception as exc:  # noqa: BLE001 - e.g. a worker lost on a bad file
                rows.extend({"path": p, "error": f"{type(exc).__name__}: {exc}"}
                            for p in batch)
    for row, p in zip(rows, items):
        row["path"] = p  # the object given
    return rows


def _columns(rows, eps):
    cols = list(BASE_COLUMNS) + _rank_columns(eps)
    seen = set(cols) | {"error"}
    for row in rows:
        for k in row:
            if k not in seen:
                seen.add(k)
                cols.append(k)
    return cols + ["error"]


def runs_table(paths, eps, *, layer=None, relative=False):
    """One summary row per snapshot file, read in parallel on Dask when possible.

    Each file is opened by path in the task that summarises it.  With an
    active ``dask.distributed`` client (``distributed.default_client()``) the
    files are read on its workers, several per task; otherwise sequentially
    here.  Workers open each path as given: on a cluster whose workers run
    in another directory or on other machines, pass absolute paths on a
    file system that they share.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Snapshot files; each row's ``path`` is the object given, in the order
        given (a repeated path gives repeated rows).
    eps : float or 1-D array_like
        Tolerances, distinct, each > 0.
    layer : str, optional
        Layer to rank; default the run's only layer (a file with several
        layers and no ``layer`` gives a row with an error naming them).
    relative : bool, default False
        Count eigenvalues > eps * lambda_max instead of > eps.

    Returns
    -------
    pandas.DataFrame or list of dict
        A DataFrame when pandas is installed, else a list of dicts.  Columns:
        ``path``, ``snapshots``, ``first_step``, ``last_step``,
        ``final_loss``, ``min_loss`` (over the finite losses), ``layer``,
        ``n_features``, ``finished`` (whether the writer closed the file,
        None for files that do not say), ``rank_first@<eps>`` and
        ``rank_last@<eps>`` for each eps (e.g. ``rank_last@1e-06``), the
        staircase summary per eps (``staircase_*@<eps>``) when
        ``rankcore.staircase`` exists, and last ``error``: "" for a healthy
        file, else ``"<ErrorType>: <message>"`` with the other values None.
        Integer columns of a DataFrame are nullable ``Int64``.

    Raises
    ------
    TypeError
        If ``paths`` is a single path or holds a non-path, or on a malformed
        ``layer``/``relative``.
    ValueError
        On eps <= 0, non-finite or repeated.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import rankcore
    >>> q = rankcore.quadrature.gauss_legendre((0.0, 1.0), 8)
    >>> d = tempfile.mkdtemp()
    >>> with rankcore.SnapshotWriter(os.path.join(d, "a.h5"), q, {"h": 2}) as w:
    ...     for t in range(3):
    ...         w.append(10 * t, loss=2.0 ** -t, grams={"h": np.diag([1.0, 10.0 ** -(4 - t)])})
    >>> with open(os.path.join(d, "b.h5"), "wb") as fh:
    ...     _ = fh.write(b"not a snapshot file")
    >>> rows = rankcore.runs_table([os.path.join(d, "a.h5"), os.path.join(d, "b.h5")], 1e-3)
    >>> int(rows.loc[0, "snapshots"]), int(rows.loc[0, "rank_last@0.001"])
    (3, 2)
    >>> rows.loc[0, "error"], rows.loc[1, "error"].split(":")[0]
    ('', 'SnapshotFileError')
    """
    items = _check_paths(paths)
    e = _eps_values(eps)
    if layer is not None and not isinstance(layer, str):
        raise TypeError(f"layer must be a str or None, got {describe(layer)}")
    relative = check_bool(relative, "relative")
    rows = _compute_rows(items, e, layer, relative, active_client())
    cols = _columns(rows, e)
    records = [{c: row.get(c) for c in cols} for row in rows]
    try:
        import pandas as pd
    except ImportError:
        return records
    df = pd.DataFrame.from_records(records, columns=cols)
    ints = [c for c in cols if c in INT_COLUMNS or c.startswith(("rank_first@", "rank_last@"))]
    for c in ints:
        df[c] = df[c].astype("Int64")
    df["path"] = pd.Series(items, dtype=object, index=df.index)
    return df


@contextlib.contextmanager
def dask_client(scheduler=None, workers=None):
    """Context with a ``dask.distributed`` client as the default, or none.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``, or a scheduler
        file path ending in ``.json``).
    workers : int, optional
        Start a local cluster of this many single-threaded worker processes
        instead (closed on exit).

    Yields
    ------
    distributed.Client or None
        None when neither is given (work then runs sequentially).

    Raises
    ------
    ValueError
        If both are given, or ``workers`` < 1.
    ImportError
        If either is given and distributed is not installed.

    Examples
    --------
    >>> from rankcore.runs.table import dask_client
    >>> with dask_client() as client:
    ...     print(client)
    None
    """
    if scheduler is not None and workers is not None:
        raise ValueError("give either scheduler (an address) or workers (a local "
                         f"cluster), not both; got scheduler={scheduler!r}, workers={workers!r}")
    if scheduler is None and workers is None:
        yield None
        return
    if workers is not None:
        workers = check_positive_int(workers, "workers")
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError("a Dask scheduler or local workers need dask.distributed; "
                          "install it with `pip install rankcore[dask]`") from exc
    if scheduler is not None:
        if not isinstance(scheduler, str):
            raise TypeError(f"scheduler must be an address (str), got {describe(scheduler)}")
        kw = ({"scheduler_file": scheduler} if scheduler.endswith(".json")
              else {"address": scheduler})
        with Client(**kw) as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def _cell(v, csv):
    if v is None or (not isinstance(v, str) and _is_missing(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    text = os.fspath(v) if isinstance(v, os.PathLike) else str(v)
    text = text.replace("\n", " ").replace("\r", " ")
    if csv and any(c in text for c in ',"'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def _is_missing(v):
    pd = sys.modules.get("pandas")
    if pd is not None and v is pd.NA:
        return True
    return isinstance(v, (float, np.floating)) and math.isnan(v)


#: Columns of the text form of :func:`format_table` besides ``path``, the
#: rank columns and ``error`` (CSV has every column).
TEXT_COLUMNS = ("snapshots", "first_step", "last_step", "final_loss", "min_loss")
#: Staircase statistics shown in the text form, per eps.
TEXT_STAIRCASE = ("correlation", "loss_fraction_in_rises")


def format_table(table, *, csv=False) -> str:
    """Text of a :func:`runs_table` result: aligned columns, or CSV with all columns.

    Parameters
    ----------
    table : pandas.DataFrame or list of dict
        What :func:`runs_table` returned.
    csv : bool
        Comma-separated, every column, a header line first.  Otherwise an
        aligned table of path, snapshots, steps, losses, eps-ranks, the main
        staircase statistics and the error.

    Returns
    -------
    str
        Ends with a newline.

    Examples
    --------
    >>> from rankcore.runs.table import format_table
    >>> rows = [{"path": "a.h5", "snapshots": 3, "rank_last@1e-06": 2, "error": ""}]
    >>> print(format_table(rows, csv=True), end="")
    path,snapshots,rank_last@1e-06,error
    a.h5,3,2,
    """
    csv = check_bool(csv, "csv")
    if isinstance(table, list):
        cols = list(table[0]) if table else ["path", "snapshots", "error"]
        rows = [[r.get(c) for c in cols] for r in table]
    else:
        cols = list(table.columns)
        rows = table.astype(object).values.tolist()
    keep = list(range(len(cols)))
    if not csv:
        keep = [i for i, c in enumerate(cols)
                if c in ("path", "error") or c in TEXT_COLUMNS
                or c.startswith(("rank_first@", "rank_last@"))
                or c.split("@")[0] in {f"staircase_{k}" for k in TEXT_STAIRCASE}]
    head = [cols[i] for i in keep]
    body = [[_cell(r[i], csv) for i in keep] for r in rows]
    if csv:
        return "\n".join(",".join(line) for line in [head] + body) + "\n"
    width = [max([len(h)] + [len(b[j]) for b in body]) for j, h in enumerate(head)]
    lines = ["  ".join(c.ljust(w) if j in (0, len(head) - 1) else c.rjust(w)
                       for j, (c, w) in enumerate(zip(line, width))).rstrip()
             for line in [head] + body]
    return "\n".join(lines) + "\n"
