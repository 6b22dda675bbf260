"""The numeric side of the multifrontal QR: fronts, their staircase QR, and solves.

A :class:`FrontGroup` holds a set of nodes of the nested-dissection tree
(all of them for the solve in one process, one subtree per Dask worker for
``solver="dask"``) with the rows and pairs they own, numbered locally so
that the group can be shipped to another process.  :meth:`FrontGroup.eliminate`
factors the group's fronts in post-order, given the contribution blocks that
arrive from children outside the group, and returns the blocks it passes to
parents outside it; the factors stay in the group.  The solves with the
block triangular factor (back substitution, ``R^{-1} b``, ``R^{-T} b``, the
replay of the Householder reflections on a new right-hand side) work group
by group in the same way, so the same code runs in one process and on a
cluster.

Each front is assembled with its rows sorted by leading column (the
children's contribution blocks are upper echelon) and factored by a
*staircase* Householder QR (:func:`staircase_qr`): a panel of columns only
touches the rows that reach it, so stacked triangles are not re-factored as
dense blocks.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

from ._kernels import scatter_dense
from .qr import QRFactor, collapse_rhs, guard_diagonal, panel_block

__all__ = ["FrontGroup", "MultifrontalStep", "StaircaseFactor", "merge_outgoing",
           "staircase_qr", "tick"]


def tick(timings, name, t0):
    """Add the seconds since ``t0`` to ``timings[name]`` (when a dict); return the time now.

    Parameters
    ----------
    timings : dict or None
        Seconds per phase.
    name : str
        The phase.
    t0 : float
        A ``time.perf_counter()`` reading.

    Returns
    -------
    float
        ``time.perf_counter()`` now.
    """
    t1 = time.perf_counter()
    if timings is not None:
        timings[name] = timings.get(name, 0.0) + (t1 - t0)
    return t1


def merge_outgoing(parts, into=None):
    """Merge the blocks several groups pass on, per receiving node, in the order given.

    Parameters
    ----------
    parts : iterable of dict of int to list
        What each group passes on (:meth:`FrontGroup.eliminate` or the
        ``out`` of :meth:`FrontGroup.replay`), groups in post-order.
    into : dict, optional
        A dict to extend (default: a new one).

    Returns
    -------
    dict of int to list
        The blocks per receiving node.

    Examples
    --------
    >>> merge_outgoing([{3: ["a"]}, {3: ["b"], 4: ["c"]}])
    {3: ['a', 'b'], 4: ['c']}
    """
    merged = {} if into is None else into
    for part in parts:
        for v, blocks in part.items():
            merged.setdefault(v, []).extend(blocks)
    return merged


class FrontGroup:
    """Nodes of the elimination tree with their rows, factored and solved together.

    Parameters
    ----------
    nodes : list of int
        The group's nodes in elimination (post) order.
    pivots, others : dict of int to ndarray
        Per node, the blocks it eliminates and the later blocks its front
        couples to (in elimination order).
    parent : dict of int to int
        Per node, its parent (-1 for the root).
    J : int
        Unknowns per block.
    n_blocks : int
        Blocks of the whole system.
    rows : ndarray of int64
        Local row (``0..n_local - 1``) of every pair of the group.
    blocks : ndarray of int64
        Block of every pair.
    vals : ndarray, shape (P, J)
        Values of every pair.
    rhs : ndarray, shape (n_local,)
        Right-hand side per local row.
    private : ndarray of bool, shape (n_local,)
        Rows that touch one block only.
    cell : ndarray of int64, shape (n_local,)
        The lowest block each row touches.
    own, pairs : dict of int to ndarray
        Per node, its local rows and the indices of its pairs.
    row_ids : ndarray of int64, shape (n_local,)
        Global row of every local row (for :meth:`replay`).
    """

    def __init__(self, nodes, pivots, others, parent, J, n_blocks, rows, blocks, vals, rhs,
                 private, cell, own, pairs, row_ids):
        self.nodes = list(nodes)
        self.pivots, self.others, self.parent = pivots, others, parent
        self.J, self.n_blocks = J, n_blocks
        self.rows, self.blocks, self.vals, self.rhs = rows, blocks, vals, rhs
        self.private, self.cell = private, cell
        self.own, self.pairs, self.row_ids = own, pairs, row_ids
        self.factors = {}
        self.steps = {}

    @property
    def pivot_blocks(self):
        """The blocks the group's nodes eliminate, in elimination order (ndarray of int)."""
        return np.concatenate([self.pivots[v] for v in self.nodes])

    # ------------------------------------------------------------ factor ---
    def eliminate(self, incoming=None, keep=False, timings=None):
        """Factor the group's fronts; return the blocks passed out of the group.

        Parameters
        ----------
        incoming : dict of int to list, optional
            Contribution blocks ``(blocks, rows, leads)`` from children
            outside the group, per receiving node, in elimination order.
        keep : bool
            Keep the Householder reflectors for :meth:`replay`.
        timings : dict, optional
            Seconds per phase are added to it.

        Returns
        -------
        dict of int to list
            Contribution blocks for parents outside the group.
        """
        t = time.perf_counter()
        J = self.J
        contrib = {v: list((incoming or {}).get(v, [])) for v in self.nodes}
        out = {}
        local = np.empty(self.rhs.size, np.int64)
        colpos = np.full(self.n_blocks, -1, np.int64)
        mine = set(self.nodes)
        rows, blocks, vals, rhs = self.rows, self.blocks, self.vals, self.rhs
        for v in self.nodes:
            piv, other = self.pivots[v], self.others[v]
            own, psel = self.own[v], self.pairs[v]
            own, psel, heads = _private_triangles(own, psel, rows, blocks, vals, rhs,
                                                  self.private, self.cell, local, J, keep)
            t = tick(timings, "private QR", t)
            cols = np.concatenate([piv, other])
            colpos[cols] = np.arange(cols.size)
            kp = piv.size * J
            width = cols.size * J
            F, dest, lead = _assemble(heads, own, psel, contrib.pop(v), rows, blocks, vals,
                                      rhs, colpos, local, J, width, kp)
            colpos[cols] = -1
            t = tick(timings, "front assembly", t)
            panels = [] if keep else None
            r = staircase_qr(F, lead, width, panels)
            R = guard_diagonal(np.triu(F[:kp, :kp]))
            self.factors[v] = (piv, other, R, np.array(F[:kp, kp:width]),
                               F[:kp, width].copy())
            to = int(self.parent[v])
            if to >= 0 and r > kp:
                # rows kp..r-1 are the contribution block, in echelon form:
                # row i starts at (front) column lead[i]; later rows are
                # residual only
                c = (other, np.array(F[kp:r, kp:]), lead[kp:r] - kp)
                (contrib[to] if to in mine else out.setdefault(to, [])).append(c)
            else:
                to = -1
            if keep:
                self.steps[v] = MultifrontalStep([h for _, _, h in heads], own, dest,
                                                 F.shape[0], panels, kp, r, to)
            del F
            t = tick(timings, "front QR", t)
        return out

    # ------------------------------------------------------------ solves ---
    def back(self, x, ys=None):
        """Back substitution over the group's nodes, in place in ``x``.

        Parameters
        ----------
        x : ndarray, shape (n_blocks, J)
            Holds the solution of every block eliminated after the group's
            (ancestors'); the group's pivots are written.
        ys : dict of int to ndarray, optional
            Right-hand side per node (default: the factored one).

        Returns
        -------
        ndarray
            ``x``.
        """
        for v in reversed(self.nodes):
            piv, other, R, S, y0 = self.factors[v]
            if piv.size == 0:
                continue
            y = y0 if ys is None else ys[v]
            if other.size:
                y = y - S @ x[other].ravel()
            x[piv] = sla.solve_triangular(R, y, check_finite=False).reshape(piv.size, self.J)
        return x

    def solve_r(self, b, x):
        """``x = R^{-1} b`` over the group's nodes (ancestors' part of ``x`` given).

        Parameters
        ----------
        b, x : ndarray, shape (n_blocks, J)
            Right-hand side and solution (written in place).

        Returns
        -------
        ndarray
            ``x``.
        """
        return self.back(x, {v: b[self.factors[v][0]].ravel() for v in self.nodes})

    def solve_rt(self, w, z):
        """``z = R^{-T} w`` over the group's nodes, updating ``w`` in place.

        Parameters
        ----------
        w : ndarray, shape (n_blocks, J)
            Right-hand side; the parts of later blocks are updated (the
            children outside the group must have updated it already).
        z : ndarray, shape (n_blocks, J)
            Solution, written for the group's pivots.

        Returns
        -------
        tuple of ndarray
            ``(w, z)``.
        """
        J = self.J
        for v in self.nodes:
            piv, other, R, S, _ = self.factors[v]
            if piv.size == 0:
                continue
            zp = sla.solve_triangular(R, w[piv].ravel(), trans="T", check_finite=False)
            z[piv] = zp.reshape(-1, J)
            if other.size:
                w[other] -= (S.T @ zp).reshape(-1, J)
        return w, z

    def column_sums(self):
        """Sum of ``|R|`` over the group's rows of the factor, per column.

        Returns
        -------
        ndarray, shape (n_blocks, J)
            Partial 1-norms of the factor's columns.
        """
        J = self.J
        colsum = np.zeros((self.n_blocks, J))
        for v in self.nodes:
            piv, other, R, S, _ = self.factors[v]
            if piv.size:
                colsum[piv] += np.abs(R).sum(axis=0).reshape(piv.size, J)
            if other.size and piv.size:
                colsum[other] += np.abs(S).sum(axis=0).reshape(other.size, J)
        return colsum

    def replay(self, rhs, incoming=None):
        """Push a new right-hand side through the kept reflectors (``keep=True``).

        Parameters
        ----------
        rhs : ndarray, shape (n_rows,)
            The whole system's right-hand side (global rows).
        incoming : dict of int to list, optional
            Rotated right-hand sides passed on by children outside the group.

        Returns
        -------
        ys : dict of int to ndarray
            The rotated right-hand side of every node's pivot rows.
        out : dict of int to list
            What is passed to parents outside the group.
        res2 : float
            Squared norm of the rows that carry only residual.
        """
        passed = {v: list((incoming or {}).get(v, [])) for v in self.nodes}
        out = {}
        ys = {}
        res2 = 0.0
        for v in self.nodes:
            st = self.steps[v]
            f = np.zeros(st.m)
            parts = [collapse_rhs(rhs[self.row_ids[pr]], hqr, htau)
                     for pr, hqr, htau in st.heads]
            parts.append(rhs[self.row_ids[st.rows]])
            parts.extend(passed.pop(v))
            for di, part in zip(st.dest, parts):
                f[di] = part
            for r0, r1, qr, T in st.panels:
                o, info = lapack.dgemqrt(qr, T, f[r0:r1, None], side="L", trans="T")
                if info != 0:  # pragma: no cover - LAPACK argument error
                    raise RuntimeError(f"dgemqrt failed with info={info}")
                f[r0:r1] = o[:, 0]
            ys[v] = f[:st.kp].copy()
            if st.to >= 0:
                (passed[st.to] if st.to in passed else out.setdefault(st.to, [])).append(
                    f[st.kp:st.r].copy())
                res2 += float(f[st.r:] @ f[st.r:])
            else:
                res2 += float(f[st.kp:] @ f[st.kp:])
        return ys, out, res2


def _assemble(heads, own, psel, contribs, rows, blocks, vals, rhs, colpos, local, J,
              width, kp):
    """The front's rows sorted by leading column, and where each part went.

    Returns ``F`` (Fortran order, ``width + 1`` columns, the right-hand side
    last), ``dest`` (per part -- heads, own rows, children's blocks -- the
    rows of ``F`` it was written to) and ``lead``: a lower bound of the
    first nonzero column of every row of ``F``, non-decreasing, with
    ``lead[i] <= i`` for ``i < kp`` (so that the pivot columns are
    triangularised in place; a front with fewer rows than pivots gets zero
    rows).
    """
    leads = []
    for b, H, _ in heads:   # a triangle: row i starts at its column i
        lh = colpos[b] * J + np.arange(J + 1)
        lh[J] = width        # the last row holds the right-hand side only
        leads.append(lh)
    local[own] = np.arange(own.size)
    lo = np.full(own.size, width, np.int64)
    np.minimum.at(lo, local[rows[psel]], colpos[blocks[psel]] * J)
    leads.append(lo)
    for cb, C, cl in contribs:
        leads.append(colpos[cb[cl // J]] * J + cl % J)
    lead = np.concatenate(leads) if leads else np.empty(0, np.int64)
    m = lead.size
    order = np.argsort(lead, kind="stable")
    rank = np.empty(m, np.int64)
    rank[order] = np.arange(m)
    lead = lead[order]
    if m < kp:
        lead = np.concatenate([lead, np.arange(m, kp)])
    # a lower bound may always be lowered: this keeps every pivot column's
    # diagonal in place even where the rows are structurally too few
    nlow = min(kp, lead.size)
    lead[:nlow] = np.minimum(lead[:nlow], np.arange(nlow))
    F = np.zeros((max(m, kp), width + 1), order="F")
    dest = []
    r0 = 0
    for b, H, _ in heads:
        di = rank[r0:r0 + J + 1]
        F[di, colpos[b] * J:(colpos[b] + 1) * J] = H[:, :J]
        F[di, width] = H[:, J]
        dest.append(di)
        r0 += J + 1
    di = rank[r0:r0 + own.size]
    local[own] = di
    scatter_dense(F, local[rows[psel]], colpos[blocks[psel]] * J, vals[psel])
    F[di, width] = rhs[own]
    dest.append(di)
    r0 += own.size
    for cb, C, _ in contribs:
        di = rank[r0:r0 + C.shape[0]]
        for j, b in enumerate(cb.tolist()):
            c0 = colpos[b] * J
            F[di, c0:c0 + J] = C[:, j * J:(j + 1) * J]
        F[di, width] = C[:, -1]
        dest.append(di)
        r0 += C.shape[0]
    return F, dest, lead


def staircase_qr(F, lead, width, panels=None):
    """Householder QR of the first ``width`` columns of ``F``, skipping its zeros.

    The rows of ``F`` are sorted by ``lead`` (a lower bound of each row's
    first nonzero column), so the rows below the diagonal that a panel of
    columns ``c0:c1`` has to annihilate are those with ``lead < c1``: each
    panel is factored (``dgeqrt``) and applied to the columns on its right
    (``dgemqrt``, right-hand side included) on those rows only.  Stacked
    triangles, as the children's contribution blocks are, cost a fraction
    of a dense QR of the same front this way (two stacked ``n x n``
    triangles: ``2/3 n^3`` flops against ``10/3 n^3``).  A panel with fewer
    rows than columns leaves an echelon row (``lead`` is updated to the
    exact start of every row it produces).

    Parameters
    ----------
    F : ndarray of float64, shape (M, width + 1), Fortran order
        The front, right-hand side in its last column; overwritten with the
        factor ``R`` in its first rows (upper trapezoidal/echelon), the
        rotated right-hand side in its last column and, below the factor,
        rows that carry only right-hand side entries (the residual).
    lead : ndarray of int64, shape (M,)
        Non-decreasing lower bound of the first nonzero column of every row
        of ``F``; updated in place to the exact start of every row the
        panels produce.
    width : int
        Number of columns to factor (the unknown columns of ``F``).
    panels : list or None, optional
        When a list, receives ``(r0, r1, qr, T)`` for every panel: the rows
        ``r0:r1`` it reduced, its reflectors and its ``dgeqrt`` block
        factor (for :class:`StaircaseFactor`).  None (the default) keeps
        nothing.

    Returns
    -------
    int
        The number of rows in the factor (upper trapezoidal/echelon); the
        rows of ``F`` below it carry only right-hand side entries.
    """
    r = 0
    c0 = 0
    M = F.shape[0]
    while c0 < width and r < M:
        nb = panel_block(width - c0)
        c1 = min(c0 + nb, width)
        r1 = int(np.searchsorted(lead, c1, side="left"))
        if r1 <= r:   # no row reaches these columns: nothing to annihilate
            c0 = c1
            continue
        k = min(r1 - r, c1 - c0)
        qr, T, info = lapack.dgeqrt(max(1, min(nb, k)), F[r:r1, c0:c1], overwrite_a=1)
        if info != 0:  # pragma: no cover - LAPACK argument error
            raise RuntimeError(f"dgeqrt failed with info={info}")
        rest, info = lapack.dgemqrt(qr[:, :k], T, F[r:r1, c1:], side="L", trans="T",
                                    overwrite_c=1)
        if info != 0:  # pragma: no cover
            raise RuntimeError(f"dgemqrt failed with info={info}")
        F[r:r1, c1:] = rest
        if panels is not None:
            panels.append((r, r1, np.array(qr[:, :k], order="F"), T.copy()))
        # R only (qr may be F's own memory: the reflectors are used above)
        F[r:r1, c0:c1] = np.triu(qr)
        lead[r:r + k] = np.arange(c0, c0 + k)
        lead[r + k:r1] = c1   # annihilated in columns < c1: keeps lead sorted
        r += k
        c0 = c1
    return r


class MultifrontalStep(NamedTuple):
    """One front of :func:`solve_multifrontal`, as :class:`FrontGroup.replay` replays it.

    Parameters
    ----------
    heads : list of (ndarray, ndarray, ndarray)
        Per private-row reduction ``(rows, qr, tau)`` (see
        :class:`~rankcore.rfm.qr.FrontStep`).
    rows : ndarray of int64
        The system rows of the front (not reduced per cell).
    dest : list of ndarray
        Rows of the front that received each part: the heads' triangles,
        the system rows, then the blocks passed on by the children in the
        order they arrived.
    m : int
        Rows of the front.
    panels : list of (int, int, ndarray, ndarray)
        ``(r0, r1, qr, T)``: the compact-WY reflectors of every panel, acting
        on rows ``r0:r1``.
    kp : int
        Pivot unknowns (rows of the front's part of R).
    r : int
        Rows of the factor; rows ``kp:r`` pass on to the parent front.
    to : int
        The receiving front, -1 for none.
    """

    heads: list
    rows: np.ndarray
    dest: list
    m: int
    panels: list
    kp: int
    r: int
    to: int


class StaircaseFactor(QRFactor):
    """The factorization of :func:`~rankcore.rfm.multifrontal.solve_multifrontal`, kept.

    A :class:`~rankcore.rfm.qr.QRFactor` made of :class:`FrontGroup` objects
    that kept their reflectors: :meth:`solve` replays them on a new
    right-hand side group by group and back-substitutes.

    Parameters
    ----------
    groups : list of FrontGroup
        The groups in elimination order (children's groups before their
        parents'); one group for the solve in one process.
    n_blocks, J : int
        Blocks and unknowns per block.
    n_rows : int
        Rows of the factored system.
    """

    def __init__(self, groups, n_blocks, J, n_rows):
        self.groups = groups
        self.n_blocks, self.J = n_blocks, J
        super().__init__([g.steps[v] for g in groups for v in g.nodes], None, n_rows)

    def replay(self, rhs):
        """Solve for ``rhs`` with the kept reflectors (no checks; see :meth:`solve`).

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
        passed, ys, res2 = {}, {}, 0.0
        for g in self.groups:
            y, out, r2 = g.replay(rhs, {v: passed.pop(v) for v in g.nodes if v in passed})
            ys.update(y)
            merge_outgoing([out], into=passed)
            res2 += r2
        x = np.zeros((self.n_blocks, self.J))
        for g in reversed(self.groups):
            g.back(x, {v: ys[v] for v in g.nodes})
        return x, float(np.sqrt(res2))


def _private_triangles(own, psel, rows, blocks, vals, rhs, private, cell, local, J,
                       keep=False):
    """Householder-reduce each cell's private rows to a (J + 1)-row triangle.

    Returns the remaining rows and pairs and a list of ``(cell, triangle,
    kept)`` with the right-hand side in the triangle's last column; ``kept``
    is ``(rows, reflectors, tau)`` with ``keep`` (for
    :class:`~rankcore.rfm.lstsq.QRFactor`), else None.  Cells with at most
    ``2 (J + 1)`` private rows are left as they are.
    """
    po = own[private[own]]
    if po.size <= 2 * (J + 1):
        return own, psel, []
    heads = []
    done = []
    cells, counts = np.unique(cell[po], return_counts=True)
    pp = psel[private[rows[psel]]]
    for b in cells[counts > 2 * (J + 1)].tolist():
        pr = po[cell[po] == b]
        sel = pp[blocks[pp] == b]
        local[pr] = np.arange(pr.size)
        H = np.zeros((pr.size, J + 1), order="F")
        scatter_dense(H, local[rows[sel]], np.zeros(sel.size, np.int64), vals[sel])
        H[:, -1] = rhs[pr]
        H, htau, _, info = lapack.dgeqrf(H, overwrite_a=1, lwork=max(1, 64 * (J + 1)))
        heads.append((b, np.triu(H[:J + 1]), (pr, H, htau) if keep else None))
        done.append(pr)
    if not heads:
        return own, psel, []
    gone = np.zeros(local.size, bool)
    gone[np.concatenate(done)] = True
    return own[~gone[own]], psel[~gone[rows[psel]]], heads
