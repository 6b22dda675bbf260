"""Multifrontal Householder QR with nested dissection of the subdomain grid.

The RFM least-squares matrix couples a subdomain only to its grid
neighbours (a row touches the cells whose partition function covers its
point).  Eliminating the subdomains in *nested-dissection* order keeps the
factor small: the grid of cells is cut in two by one layer of cells (the
separator) along its longest axis, each half is cut again, and so on down
to leaves of a few cells.  Leaves are eliminated first, then separators,
the top separator last.  No row touches both halves of a cut, so the two
halves are independent until their separator.

Each node of that tree owns a *front*: the rows whose first eliminated
subdomain is one of the node's (its "pivot" subdomains), plus the
*contribution blocks* its children passed up.  A Householder QR of the
whole front (pivot columns first, then the columns of not yet eliminated
neighbours, then the right-hand side) leaves

* the pivot rows ``[R_piv  R_other | y]``, kept for the back substitution;
* at most ``n_other + 1`` further rows (upper trapezoidal), the contribution
  block handed to the parent.  Rows beyond that carry only the residual and
  are dropped, which bounds every front by its width.

Each front is factored by a *staircase* QR (:mod:`rankcore.rfm.fronts`):
its rows sorted by leading column, every panel of columns only touches
the rows that reach it, so the children's triangular contribution blocks are
not re-factored as dense blocks.  :class:`Plan` is the symbolic analysis
(tree, row ownership, front sizes; a front larger than the memory is
refused before any work), shared with the Dask solver
(:mod:`rankcore.rfm.cluster`), which factors subtrees on different workers.

This is Householder QR of a row- and column-permuted matrix: the same
backward stability as dense QR (no normal equations, no pivoting), with
work dominated by the top separator, ``O((n_sep J)^3)`` for ``n_sep``
separator cells of ``J`` features: ``O(N^1.5)`` in 2-D and ``O(N^2)`` in
3-D for ``N`` unknowns, against ``O(N^2)`` / ``O(N^2.33)`` for the banded
(one-sweep) order and ``O(N^3)`` for dense QR.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .fronts import FrontGroup, StaircaseFactor, merge_outgoing, tick
from .qr import hager_inverse_norm

__all__ = ["solve_multifrontal", "dissection_tree", "Plan", "FrontTooLarge",
           "condition_estimate", "physical_memory", "split_tree", "eliminate_in_processes"]


class FrontTooLarge(MemoryError):
    """The largest front of a multifrontal solve does not fit in the memory available."""


def physical_memory():
    """Return the bytes of physical memory of this machine (None where it cannot be read).

    Returns
    -------
    int or None
        ``SC_PHYS_PAGES * SC_PAGE_SIZE``.
    """
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def dissection_tree(coords, leaf_size):
    """Nested-dissection elimination tree of cells with integer grid coordinates.

    Parameters
    ----------
    coords : ndarray of int, shape (n_blocks, d)
        Grid index of every block (cell); rows may only couple blocks whose
        coordinates differ by at most 1 in every axis.
    leaf_size : int
        A set of at most this many cells (or one that is one cell thick) is
        a leaf.

    Returns
    -------
    pivots : list of ndarray
        Blocks eliminated at each node, nodes in elimination (post) order.
    parent : ndarray of int
        Parent node of each node (-1 for the root).

    Examples
    --------
    >>> import numpy as np
    >>> piv, parent = dissection_tree(np.arange(5)[:, None], 1)   # 5 cells in a row
    >>> [p.tolist() for p in piv], parent.tolist()
    ([[0, 1], [3, 4], [2]], [2, 2, -1])
    """
    coords = np.asarray(coords, np.int64)
    pivots, parent = [], []

    def build(idx):
        c = coords[idx]
        ext = c.max(axis=0) - c.min(axis=0)
        a = int(np.argmax(ext))
        if idx.size <= leaf_size or ext[a] < 2:
            pivots.append(np.sort(idx))
            parent.append(-1)
            return len(pivots) - 1
        mid = (c[:, a].min() + c[:, a].max()) // 2
        kids = [build(part) for part in (idx[c[:, a] < mid], idx[c[:, a] > mid])
                if part.size]
        sep = idx[c[:, a] == mid]
        if sep.size == 0:  # a hole in the grid: the halves are independent
            sep = np.empty(0, np.int64)
        pivots.append(np.sort(sep))
        parent.append(-1)
        me = len(pivots) - 1
        for k in kids:
            parent[k] = me
        return me

    build(np.arange(coords.shape[0]))
    return pivots, np.array(parent, np.int64)


class Plan:
    """Symbolic analysis of a multifrontal solve: the tree, who owns what, front sizes.

    Nothing numeric is computed: the tree of :func:`dissection_tree`, the
    node each row goes to (that of its first eliminated block), every node's
    later blocks (``others``) and an upper bound on every front's size, so
    that a solve too large for the memory is refused before it starts and
    the tree can be cut into groups for several processes.

    Parameters
    ----------
    rows, blocks : ndarray of int64, shape (P,)
        Row and block of each pair.
    n_rows, n_blocks : int
        Rows and blocks of the system.
    coords : ndarray of int, shape (n_blocks, d)
        Grid coordinates of the blocks.
    J : int
        Unknowns per block.
    leaf_size : int, optional
        Cells per leaf (default ``2**d``).

    Attributes
    ----------
    pivots : list of ndarray
        Blocks eliminated at each node, in post-order.
    parent : ndarray of int
        Parent of each node (-1: a root).
    others : list of ndarray
        Later blocks each node's front couples to, in elimination order.
    front_bytes : ndarray of float
        Upper bound on the bytes of every front (float64, right-hand side
        included).

    Raises
    ------
    ValueError
        If a row couples cells that are not grid neighbours.
    """

    def __init__(self, rows, blocks, n_rows, n_blocks, coords, J, leaf_size=None):
        coords = np.asarray(coords, np.int64)
        d = coords.shape[1]
        self.J, self.n_rows, self.n_blocks = J, n_rows, n_blocks
        self.pivots, self.parent = dissection_tree(coords, leaf_size or 2 ** d)
        n_nodes = len(self.pivots)
        pos = np.empty(n_blocks, np.int64)   # elimination position of every block
        node_of = np.empty(n_blocks, np.int64)
        k = 0
        for v, piv in enumerate(self.pivots):
            pos[piv] = np.arange(k, k + piv.size)
            node_of[piv] = v
            k += piv.size
        self.pos = pos
        # every row goes to the node of its first eliminated block
        first = np.full(n_rows, np.iinfo(np.int64).max, np.int64)
        np.minimum.at(first, rows, pos[blocks])
        empty = first == np.iinfo(np.int64).max
        first[empty] = 0  # all-zero rows: harmless anywhere
        row_node = node_of[np.argsort(pos)[first]]
        pair_node = row_node[rows]
        # a row may only reach the blocks of its node and of the node's
        # ancestors (the subtree of node v is the post-order range [lowest[v], v])
        lowest = np.arange(n_nodes)
        for v in range(n_nodes):
            if self.parent[v] >= 0:
                lowest[self.parent[v]] = min(lowest[self.parent[v]], lowest[v])
        self.lowest = lowest
        bn = node_of[blocks]
        bad = (lowest[bn] > pair_node) | (bn < pair_node)
        if bad.any():
            p = int(np.argmax(bad))
            raise ValueError(
                f"solver='multifrontal' needs rows that couple only neighbouring "
                f"cells (grid coordinates differing by at most 1), but row "
                f"{int(rows[p])} couples cells at {coords[blocks[rows == rows[p]]].tolist()}; "
                "use solver='banded'")
        rmax = np.full(n_rows, -1, np.int64)
        np.maximum.at(rmax, rows, blocks)
        rmin = np.full(n_rows, n_blocks, np.int64)
        np.minimum.at(rmin, rows, blocks)
        self.private = rmax == rmin
        self.cell = rmin
        self.porder = np.argsort(pair_node, kind="stable")
        self.pstart = np.searchsorted(pair_node[self.porder], np.arange(n_nodes + 1))
        self.rorder = np.argsort(row_node, kind="stable")
        self.rstart = np.searchsorted(row_node[self.rorder], np.arange(n_nodes + 1))
        # later blocks of every front and a bound on its rows: own rows (each
        # cell's private rows at most J + 1 after their reduction) plus the
        # children's contribution blocks (at most their width - pivots rows)
        self.others = []
        m_bound = np.zeros(n_nodes, np.int64)
        kids = [[] for _ in range(n_nodes)]
        for v in range(n_nodes):
            if self.parent[v] >= 0:
                kids[self.parent[v]].append(v)
        width = np.zeros(n_nodes, np.int64)
        for v in range(n_nodes):
            piv = self.pivots[v]
            psel = self.porder[self.pstart[v]:self.pstart[v + 1]]
            own = self.rorder[self.rstart[v]:self.rstart[v + 1]]
            pieces = [np.unique(blocks[psel])] + [self.others[c] for c in kids[v]]
            other = np.setdiff1d(np.concatenate(pieces), piv)
            other = other[np.argsort(pos[other])]
            self.others.append(other)
            width[v] = (piv.size + other.size) * J
            prv = self.private[own]
            per_cell = np.bincount(rmin[own[prv]], minlength=n_blocks)
            per_cell = per_cell[per_cell > 0]
            reduced = np.where(per_cell > 2 * (J + 1), J + 1, per_cell).sum()
            m_bound[v] = (own.size - prv.sum()) + reduced + sum(
                int(width[c] - self.pivots[c].size * J) for c in kids[v])
        self.width = width
        self.front_bytes = (np.maximum(m_bound, [p.size * J for p in self.pivots])
                            * (width + 1) * 8.0)

    @property
    def n_nodes(self):
        """Number of nodes of the tree."""
        return len(self.pivots)

    def check_memory(self, limit, where="this machine"):
        """Refuse a solve whose largest front needs more than ``limit`` bytes.

        Parameters
        ----------
        limit : int or None
            Bytes available (None: no check).
        where : str
            Named in the message.

        Raises
        ------
        FrontTooLarge
            With the bytes the largest front needs.
        """
        need = float(self.front_bytes.max()) if self.n_nodes else 0.0
        if limit is not None and need > limit:
            v = int(np.argmax(self.front_bytes))
            raise FrontTooLarge(
                f"the largest front of this multifrontal solve (node {v}: "
                f"{self.pivots[v].size} separator cells, {int(self.width[v])} columns) "
                f"needs up to {need / 2**30:.2f} GiB, more than the "
                f"{limit / 2**30:.2f} GiB of memory of {where}; use fewer features "
                "per cell, more cells, or solver='dask' on a cluster with larger workers")

    def group(self, nodes, rows, blocks, vals, rhs):
        """The :class:`~rankcore.rfm.fronts.FrontGroup` of ``nodes``, with its rows renumbered.

        Parameters
        ----------
        nodes : sequence of int
            Nodes in post-order.
        rows, blocks, vals, rhs : ndarray
            The system (pair storage).

        Returns
        -------
        FrontGroup
            Not yet factored.
        """
        nodes = [int(v) for v in nodes]
        own = [self.rorder[self.rstart[v]:self.rstart[v + 1]] for v in nodes]
        prs = [self.porder[self.pstart[v]:self.pstart[v + 1]] for v in nodes]
        row_ids = np.concatenate(own) if own else np.empty(0, np.int64)
        pair_ids = np.concatenate(prs) if prs else np.empty(0, np.int64)
        local = np.full(self.n_rows, -1, np.int64)
        local[row_ids] = np.arange(row_ids.size)
        g_own, g_pairs = {}, {}
        r0 = p0 = 0
        for v, o, p in zip(nodes, own, prs):
            g_own[v] = np.arange(r0, r0 + o.size)
            g_pairs[v] = np.arange(p0, p0 + p.size)
            r0 += o.size
            p0 += p.size
        return FrontGroup(
            nodes, {v: self.pivots[v] for v in nodes}, {v: self.others[v] for v in nodes},
            {v: int(self.parent[v]) for v in nodes}, self.J, self.n_blocks,
            local[rows[pair_ids]], blocks[pair_ids], np.ascontiguousarray(vals[pair_ids]),
            rhs[row_ids], self.private[row_ids], self.cell[row_ids], g_own, g_pairs, row_ids)


def solve_multifrontal(rows, blocks, vals, rhs, n_rows, n_blocks, coords, *,
                       leaf_size=None, keep=False, timings=None, n_jobs=1):
    """Least squares by multifrontal QR in nested-dissection order.

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
        coordinates differ by at most 1 per axis (any partition of unity on
        a grid of cells, including interface rows between neighbours).
    leaf_size : int, optional
        Cells per leaf (default ``2**d``).
    keep : bool
        Also return the factorization, a
        :class:`~rankcore.rfm.fronts.StaircaseFactor` for other right-hand
        sides (it keeps every front's Householder vectors).
    timings : dict, optional
        Seconds per phase are added to it: ``"front assembly"`` (the
        symbolic analysis, scattering rows and contribution blocks into
        fronts), ``"private QR"`` (the per-cell reduction of private rows),
        ``"front QR"``, ``"back substitution"`` and ``"condition estimate"``.
        With ``n_jobs > 1`` the subtrees' phases count as ``"front QR"``
        (wall time of the parallel part).
    n_jobs : int
        Processes of this machine that factor independent subtrees of the
        dissection tree at the same time (each with one BLAS thread; the
        separators above them are factored here). 1: all in this process.
        The arithmetic is the same, so the results are too (to rounding).

    Returns
    -------
    x : ndarray, shape (n_blocks, J)
        The least-squares solution, one row per block.
    cond : float
        Hager's 1-norm condition estimate of the triangular factor.
    factor : StaircaseFactor
        Only with ``keep=True``.

    Raises
    ------
    ValueError
        If a row couples cells that are not grid neighbours.
    FrontTooLarge
        Before any numeric work, if the largest front needs more memory
        than the machine has.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> coords = np.array([[i] for i in range(6)])        # 6 cells in a row
    >>> rows = np.repeat(np.arange(30), 2)                # each row: 2 cells
    >>> blocks = np.stack([np.minimum(np.arange(30) // 5, 4),
    ...                    np.minimum(np.arange(30) // 5, 4) + 1], 1).ravel()
    >>> vals = rng.standard_normal((60, 3))
    >>> x_true = rng.standard_normal((6, 3))
    >>> b = np.bincount(rows, np.einsum("pj,pj->p", vals, x_true[blocks]), 30)
    >>> x, cond = solve_multifrontal(rows, blocks, vals, b, 30, 6, coords)
    >>> bool(np.allclose(x, x_true))
    True
    """
    t = time.perf_counter()
    J = vals.shape[1]
    plan = Plan(rows, blocks, n_rows, n_blocks, coords, J, leaf_size)
    plan.check_memory(physical_memory())
    if n_jobs > 1 and plan.n_nodes > 1:
        subtrees, top = split_tree(plan.parent, plan.front_bytes * plan.width, n_jobs)
        groups = [plan.group(nodes, rows, blocks, vals, rhs) for nodes in subtrees]
        top_group = plan.group(top, rows, blocks, vals, rhs)
        t = tick(timings, "front assembly", t)
        groups, incoming = eliminate_in_processes(groups, n_jobs, keep)
        tick(timings, "front QR", t)
        top_group.eliminate(incoming, keep=keep, timings=timings)
        groups.append(top_group)
    else:
        groups = [plan.group(range(plan.n_nodes), rows, blocks, vals, rhs)]
        t = tick(timings, "front assembly", t)
        groups[0].eliminate(keep=keep, timings=timings)
    t = time.perf_counter()
    x = np.zeros((n_blocks, J))
    for g in reversed(groups):
        g.back(x)
    t = tick(timings, "back substitution", t)
    cond = condition_estimate(groups, n_blocks, J)
    tick(timings, "condition estimate", t)
    if keep:
        return x, cond, StaircaseFactor(groups, n_blocks, J, n_rows)
    return x, cond


def condition_estimate(groups, n_blocks, J, sums=None, solve=None, solve_t=None):
    """Estimate the 1-norm condition number of the block triangular factor of ``groups`` (Hager).

    Parameters
    ----------
    groups : list of FrontGroup
        Factored groups, children's groups first.
    n_blocks, J : int
        Blocks and unknowns per block.
    sums, solve, solve_t : optional
        The factor's column sums and ``R^{-1}`` / ``R^{-T}`` solves on
        ``(n_blocks, J)`` arrays, when the groups live elsewhere (the Dask
        solver); by default computed from ``groups``.

    Returns
    -------
    float
        ``||R||_1 * est(||R^{-1}||_1)``, inf when the estimate overflows.
    """
    if sums is None:
        sums = sum(g.column_sums() for g in groups)

    if solve is None:
        def solve(b):
            x = np.zeros((n_blocks, J))
            for g in reversed(groups):
                g.solve_r(b, x)
            return x

        def solve_t(w):
            w, z = w.copy(), np.zeros((n_blocks, J))
            for g in groups:
                g.solve_rt(w, z)
            return z

    def flat(f):
        return lambda v: f(v.reshape(n_blocks, J)).ravel()

    norm = float(np.max(sums)) if sums.size else 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        inv = hager_inverse_norm(flat(solve), flat(solve_t), n_blocks * J)
    return float(norm * inv) if np.isfinite(inv) else np.inf


def split_tree(parent, work, n_parts):
    """Cut a tree into independent subtrees and the nodes above them.

    Parameters
    ----------
    parent : ndarray of int
        Parent of each node (post-order; -1 for a root).
    work : ndarray of float
        Work of each node (any positive measure).
    n_parts : int
        Subtrees wanted (at least).

    Returns
    -------
    subtrees : list of list of int
        The nodes of each subtree in post-order; the subtrees in post-order
        of their roots (the order in which one process would finish them, so
        that a parent receives its children's blocks in the same order).
    top : list of int
        The other nodes, in post-order.

    Examples
    --------
    >>> import numpy as np
    >>> parent = np.array([2, 2, 6, 5, 5, 6, -1])   # two subtrees under node 6
    >>> split_tree(parent, np.ones(7), 2)
    ([[0, 1, 2], [3, 4, 5]], [6])
    """
    n = len(parent)
    kids = [[] for _ in range(n)]
    for v in range(n):
        if parent[v] >= 0:
            kids[parent[v]].append(v)
    total = np.array(work, float).copy()
    for v in range(n):   # post-order: children before parents
        if parent[v] >= 0:
            total[parent[v]] += total[v]
    roots = [v for v in range(n) if parent[v] < 0]
    cut, top = list(roots), []
    while len(cut) < n_parts:
        splittable = [v for v in cut if kids[v]]
        if not splittable:
            break
        v = max(splittable, key=lambda u: total[u])
        cut.remove(v)
        top.append(v)
        cut.extend(kids[v])

    def nodes_of(v):
        out, stack = [], [v]
        while stack:
            u = stack.pop()
            out.append(u)
            stack.extend(kids[u])
        return sorted(out)

    subtrees = sorted((nodes_of(v) for v in cut), key=lambda s: s[-1])
    return subtrees, sorted(top)


def _one_blas_thread():
    """Process-pool initializer: one BLAS thread per process (the processes share the cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl absent: BLAS as configured
        return
    threadpool_limits(1)


def _eliminate_group(group, keep):
    timings = {}
    out = group.eliminate(keep=keep, timings=timings)
    return group, out


def eliminate_in_processes(groups, n_jobs, keep=False):
    """Factor independent groups in ``n_jobs`` worker processes of this machine.

    Parameters
    ----------
    groups : list of FrontGroup
        Independent subtrees (no group is another's ancestor).
    n_jobs : int
        Processes (each with one BLAS thread).
    keep : bool
        Keep the reflectors (see :meth:`FrontGroup.eliminate`).

    Returns
    -------
    groups : list of FrontGroup
        The factored groups (sent back from the processes), in the given order.
    outgoing : dict of int to list
        Their contribution blocks for the nodes above them.
    """
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=min(n_jobs, len(groups)), mp_context=ctx,
                             initializer=_one_blas_thread) as pool:
        done = list(pool.map(_eliminate_group, groups, [keep] * len(groups)))
    return [g for g, _ in done], merge_outgoing(out for _, out in done)
