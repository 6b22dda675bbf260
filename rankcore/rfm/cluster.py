"""The multifrontal QR on a Dask cluster (``RFM(..., solver="dask")``).

The nested-dissection tree of :class:`~rankcore.rfm.multifrontal.Plan` is
cut into independent subtrees, as many as there are workers of the current
``dask.distributed`` client (more when the tree is unbalanced), and the
nodes above the cut (the top separators).  Every subtree is shipped, with
its own rows, to one worker as a :class:`~rankcore.rfm.fronts.FrontGroup`
and factored there; the contribution blocks of its root are the task's
result, passed to the worker that factors the top separators (the one
holding the largest subtree).  The factors stay on the workers: back
substitution, the condition estimate and, for ``fit_linear(...,
reuse=...)``, the replay of the reflectors on a new right-hand side run as
tasks where the factors are, and only vectors of the unknowns' size travel.

The arithmetic is that of the solve in one process (the same fronts in the
same order), so the solutions agree to rounding.  A worker that disappears
mid-solve, a client whose workers cannot import rankcore, or no client at
all give a clear error instead of a hang; a front larger than a worker's
memory limit is refused before any work is sent.
"""

from __future__ import annotations

import importlib
import time

import numpy as np

from .fronts import merge_outgoing, tick
from .multifrontal import Plan, condition_estimate, split_tree
from .qr import QRFactor

__all__ = ["solve_dask", "get_client", "DaskFactor", "WORKER_MODULES"]

#: Modules every worker must import before a solve is sent (checked first).
WORKER_MODULES = ("rankcore.rfm.fronts",)


def get_client():
    """The current ``dask.distributed`` client, or a clear error.

    Returns
    -------
    distributed.Client
        ``distributed.get_client()``.

    Raises
    ------
    ImportError
        If ``distributed`` is not installed.
    RuntimeError
        If no client is running in this process.
    """
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("solver='dask' needs dask.distributed; install it with "
                          "`pip install rankcore[dask]`") from exc
    try:
        return distributed.get_client()
    except ValueError:
        raise RuntimeError(
            "solver='dask' runs on the workers of the current dask.distributed client, "
            "but none is running: start one first, e.g. `from distributed import Client; "
            "client = Client(LocalCluster(n_workers=2))` or `Client('scheduler-address')`"
        ) from None


def _eliminate(group, incoming, keep):
    timings = {}
    out = group.eliminate(incoming, keep=keep, timings=timings)
    return group, out, timings


def _outgoing(result):
    return result[1]


def _back(result, x, ys=None):
    group = result[0]
    x = group.back(np.array(x), ys)
    piv = group.pivot_blocks
    return piv, x[piv]


def _solve_r(result, b, x):
    group = result[0]
    x = group.solve_r(b, np.array(x))
    piv = group.pivot_blocks
    return piv, x[piv]


def _solve_rt(result, w):
    group = result[0]
    w0 = np.asarray(w)
    w, z = group.solve_rt(w0.copy(), np.zeros_like(w0))
    piv = group.pivot_blocks
    return w - w0, piv, z[piv]


def _column_sums(result):
    return result[0].column_sums()


def _replay(result, rhs, incoming):
    return result[0].replay(rhs, incoming)


def _replay_out(rep):
    return rep[1]


def _replay_back(result, rep, x):
    return _back(result, x, rep[0])


def _res2(rep):
    return rep[2]


class _Run:
    """The futures of one solve: where each group lives, and the tasks on them."""

    def __init__(self, client, subtrees, top, n_blocks, J):
        self.client = client
        self.subtrees, self.top = subtrees, top   # lists of (worker, result future)
        self.n_blocks, self.J = n_blocks, J

    def submit(self, fn, worker, *args):
        return self.client.submit(fn, *args, workers=[worker], allow_other_workers=False,
                                  pure=False)

    def gather(self, futures):
        try:
            return self.client.gather(futures)
        except Exception as exc:  # a lost worker, a cancelled future, a closed comm
            raise _lost(exc) from exc

    def back_solve(self, top_fn, part_fn, top_args, part_args):
        """Run ``top_fn`` on the top group, then ``part_fn`` on every subtree.

        ``top_args(x)`` and ``part_args(i, x)`` give the extra arguments (``x``
        holds the top group's solution when the subtrees run).
        """
        x = np.zeros((self.n_blocks, self.J))
        if self.top is not None:
            w, fut = self.top
            piv, xp = self.gather(self.submit(top_fn, w, fut, *top_args(x)))
            x[piv] = xp
        futs = [self.submit(part_fn, w, fut, *part_args(i, x))
                for i, (w, fut) in enumerate(self.subtrees)]
        for piv, xp in self.gather(futs):
            x[piv] = xp
        return x

    def solve(self, b):
        return self.back_solve(_solve_r, _solve_r, lambda x: (b, x), lambda i, x: (b, x))

    def solve_t(self, w):
        w = np.array(w)
        z = np.zeros_like(w)
        futs = [self.submit(_solve_rt, wk, fut, w) for wk, fut in self.subtrees]
        dws = []
        for dw, piv, zp in self.gather(futs):
            z[piv] = zp
            dws.append(dw)
        if self.top is not None:
            wk, fut = self.top
            dw, piv, zp = self.gather(self.submit(_solve_rt, wk, fut, w + sum(dws)))
            z[piv] = zp
        return z

    def column_sums(self):
        groups = self.subtrees + ([self.top] if self.top is not None else [])
        return sum(self.gather([self.submit(_column_sums, w, f) for w, f in groups]))


def _lost(exc):
    return RuntimeError(
        f"the Dask solve failed on the cluster ({type(exc).__name__}: {exc}); a worker "
        "was probably lost mid-solve (killed, out of memory or disconnected). The model "
        "was left as it was; retry on a cluster whose workers have enough memory "
        "(see docs/cluster.md)")


class DaskFactor(QRFactor):
    """A factorization that stays on the Dask workers (``solver="dask"``, ``keep=True``).

    :meth:`solve` replays the reflectors of every group on its worker and
    back-substitutes there; only vectors of the unknowns' size and the
    passed-on parts of the right-hand side travel.

    Parameters
    ----------
    run : _Run
        The futures of the factored groups.
    n_rows : int
        Rows of the factored system.
    """

    def __init__(self, run, n_rows):
        super().__init__([], None, n_rows)
        self.run = run

    def replay(self, rhs):
        """Solve for ``rhs`` on the workers (no checks; see :meth:`solve`).

        Parameters
        ----------
        rhs : ndarray, shape (n_rows,)
            Right-hand side.

        Returns
        -------
        x : ndarray, shape (n_blocks, J)
            The solution.
        residual : float
            The residual norm.
        """
        run = self.run
        rhs_f = run.client.scatter(rhs, broadcast=True, direct=True)
        reps = [run.submit(_replay, w, fut, rhs_f, None) for w, fut in run.subtrees]
        top_rep = None
        if run.top is not None:
            w, fut = run.top
            outs = [run.submit(_replay_out, wk, rp) for (wk, _), rp in zip(run.subtrees, reps)]
            incoming = run.submit(merge_outgoing, w, outs)
            top_rep = run.submit(_replay, w, fut, rhs_f, incoming)
        res2 = sum(run.gather([run.submit(_res2, wk, rp) for (wk, _), rp in
                               zip(run.subtrees, reps)]))
        if top_rep is not None:
            res2 += run.gather(run.submit(_res2, run.top[0], top_rep))
        x = run.back_solve(_replay_back, _replay_back,
                           lambda x: (top_rep, x), lambda i, x: (reps[i], x))
        return x, float(np.sqrt(res2))


def solve_dask(rows, blocks, vals, rhs, n_rows, n_blocks, coords, *, keep=False,
               timings=None, leaf_size=None, client=None):
    """The multifrontal QR of :func:`~rankcore.rfm.multifrontal.solve_multifrontal` on Dask workers.

    Parameters
    ----------
    rows, blocks : ndarray of int64, shape (P,)
        Row and block of each pair (pair storage, see :mod:`rankcore.rfm.lstsq`).
    vals : ndarray, shape (P, J)
        The ``J`` values of each pair.
    rhs : ndarray, shape (n_rows,)
        Right-hand side.
    n_rows, n_blocks : int
        Number of rows and of blocks.
    coords : ndarray of int, shape (n_blocks, d)
        Grid coordinates of the blocks; a row may only touch blocks whose
        coordinates differ by at most 1 per axis, as for
        :func:`~rankcore.rfm.multifrontal.solve_multifrontal`.
    keep : bool
        Also return a :class:`DaskFactor` (the factors stay on the workers).
    timings : dict, optional
        Seconds per phase are added to it: ``"front assembly"`` (symbolic
        analysis, cutting the tree, shipping the rows), ``"front QR"`` (the
        elimination on the workers, wall time), ``"back substitution"`` and
        ``"condition estimate"``.
    leaf_size : int, optional
        Cells per leaf of the dissection tree.
    client : distributed.Client, optional
        Default: the current client (``distributed.get_client()``).

    Returns
    -------
    x : ndarray, shape (n_blocks, J)
        The least-squares solution.
    cond : float
        Hager's condition estimate of the triangular factor.
    factor : DaskFactor
        Only with ``keep=True``.

    Raises
    ------
    RuntimeError
        No client, or the solve failed on the cluster (a worker lost).
    ImportError
        The workers cannot import rankcore.
    FrontTooLarge
        The largest front needs more than a worker's memory limit (before
        any work is sent).
    """
    t = time.perf_counter()
    client = client if client is not None else get_client()
    info = client.scheduler_info()
    workers = sorted(info.get("workers", {}))
    if not workers:
        raise RuntimeError("solver='dask': the client has no workers; wait for them "
                           "(client.wait_for_workers) or start some")
    try:
        client.run(_import_all, importlib.import_module, list(WORKER_MODULES),
                   workers=workers)
    except Exception as exc:
        raise ImportError(
            f"the Dask workers cannot import rankcore ({type(exc).__name__}: {exc}); "
            "install rankcore in the workers' environment (the same version as here)"
        ) from exc
    J = vals.shape[1]
    plan = Plan(rows, blocks, n_rows, n_blocks, coords, J, leaf_size)
    limits = [w.get("memory_limit") or 0 for w in info["workers"].values()]
    limit = min(limits) if limits and min(limits) > 0 else None
    plan.check_memory(limit, where="one Dask worker (its memory_limit)")
    work = plan.front_bytes * plan.width   # ~ flops of a front's QR
    subtrees, top = split_tree(plan.parent, work, len(workers))
    # heaviest subtrees first, each to the least loaded worker; kept in
    # post-order, so that the top fronts receive their blocks in the order of
    # the solve in one process
    load = {w: 0.0 for w in workers}
    where = {}
    for i in sorted(range(len(subtrees)), key=lambda i: -float(work[subtrees[i]].sum())):
        w = min(workers, key=lambda u: load[u])
        load[w] += float(work[subtrees[i]].sum())
        where[i] = w
    # direct=True: the rows go to the worker, not through the scheduler
    placed = [(where[i], client.scatter(plan.group(nodes, rows, blocks, vals, rhs),
                                        workers=[where[i]], direct=True))
              for i, nodes in enumerate(subtrees)]
    heaviest = max(range(len(subtrees)), key=lambda i: float(work[subtrees[i]].sum()),
                   default=None)
    top_worker = where[heaviest] if heaviest is not None else workers[0]
    top_group = (client.scatter(plan.group(top, rows, blocks, vals, rhs), workers=[top_worker],
                                direct=True)
                 if top else None)
    t = tick(timings, "front assembly", t)
    run = _Run(client, [], None, n_blocks, J)
    subs = [(w, run.submit(_eliminate, w, g, None, keep)) for w, g in placed]
    run.subtrees = subs
    if top_group is not None:
        outs = [run.submit(_outgoing, w, f) for w, f in subs]
        incoming = run.submit(merge_outgoing, top_worker, outs)
        run.top = (top_worker, run.submit(_eliminate, top_worker, top_group, incoming, keep))
    # wait for the elimination (errors surface here)
    run.gather([f for _, f in subs] + ([run.top[1]] if run.top else []))
    t = tick(timings, "front QR", t)
    x = run.back_solve(_back, _back, lambda x: (x,), lambda i, x: (x,))
    t = tick(timings, "back substitution", t)
    cond = condition_estimate([], n_blocks, J, sums=run.column_sums(), solve=run.solve,
                              solve_t=run.solve_t)
    tick(timings, "condition estimate", t)
    if keep:
        return x, cond, DaskFactor(run, n_rows)
    return x, cond


def _import_all(importer, modules):  # pragma: no cover - runs on the workers
    """Import ``modules`` with ``importer`` (the workers' check that rankcore imports)."""
    for m in modules:
        importer(m)
    return True
