"""The column-generation master: chords between priced breakpoints of each cell-period.

The *master* is the chord LP of every cell-period on its own breakpoints (per-period bands,
:func:`planner.core.linear_program.build_model`).  *Pricing* at the master's duals is each
cell-period's best spend on its real curve (:func:`planner.engine.certificate.lagrangian`:
the Lagrangian bound that certifies the gap); where that beats every breakpoint the
cell-period has, the priced spend becomes a breakpoint, and so does the spend the master
chose where it lies inside a chord (its real value is above the chord).  This is
generalised-LP column generation (Dantzig–Wolfe on the separable concave objective) kept in
band form, the form the dual simplex solves fastest: a band is at one of its bounds except
at most one per binding row, so the basis is as small as the scenario's rows.  The next
master starts from the last basis mapped onto the split bands (a split band's pieces below
the spend are full, above it empty), so each round costs a few pivots.  The gap closes to
the KKT allocation of the real curves, cell-period by cell-period, not only in the
objective.

Breakpoints far from both the spend and the priced spend are merged away (``KEEP``) so the
master stays small over many rounds and budgets; a :class:`Master` is kept between budgets
(a frontier re-solves it warm).  The rounds themselves (pricing, when to stop) are
:mod:`.generation`'s.  Not for S-shaped curves (band-order binaries), CBC, or
cells whose customers a row limits from above (a chord undercounts them): those keep the
chord-band refinement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.core.chords import Bands
from planner.core.curves import response
from planner.core.linear_program import Model
from planner.core.types import Float, Int
from planner.engine.workspace import Workspace
from planner.solvers import HighsSession, Solution, solve

#: a first master with more columns than this is solved by HiGHS's interior point method
#: and crossover: on the xl dynamics master (1.9 M columns) a cold dual simplex took 449 s,
#: from the crash basis over 4 minutes, interior point 49 s; on the large constrained one
#: (0.2 M) interior point took 29 s, the dual simplex 0.4 s cold and from the crash basis
COLD_IPM = 1_000_000
#: breakpoints kept around the band holding the spend and the one holding the priced
#: spend (bands before, bands after); farther ones are merged away
KEEP_SPEND, KEEP_ARG = (1, 1), (0, 1)
#: first breakpoints of every cell-period, as shares of its spend cap (the first master also
#: gets the budget-only answer and a step either side: ``generation.first_points``).
#: Measured: with 0, 1 %, 10 %, 30 % and the cap as well, the xl dynamics first master had
#: 1.87 M columns and took 49 s (interior point); with 0 and the cap it has 0.91 M and takes
#: 5 s (dual simplex from the crash basis), and large dynamics went from 5.5–6.9 s to 4.6–4.9
#: s end to end, with the same rounds
FIRST_POINTS = np.array([0.0, 1.0])
#: a new breakpoint closer than this share of its spend to an existing one is not added
SAME_POINT = 1e-10
LOWER, BASIC, UPPER = 0, 1, 2


def applies(ws: Workspace) -> bool:
    """Column generation needs concave curves, HiGHS, and no row that fewer customers loosen."""
    return ws.highs_ok and ws.concave and not ws.undercut.any() and not ws.ordered.any()


@dataclass
class Master:
    """The chord LP on each cell-period's breakpoints, its last solution and basis."""

    ws: Workspace
    kt: Int          # owner of each band (sorted by kt, then lo)
    lo: Float
    hi: Float
    f_lo: Float      # the curve at lo and hi (customers before seasonality)
    f_hi: Float
    model: Model | None = None
    session: HighsSession | None = None
    sol: Solution | None = None
    start: Any = None      # basis for the next solve (mapped onto the present bands)
    cold: bool = True      # no LP of this master solved yet

    @classmethod
    def first(cls, ws: Workspace, points: tuple[Int, Float] | None = None) -> Master:
        """A master with ``FIRST_POINTS`` of every cell-period's cap (and ``points``)."""
        ix = ws.ix
        cap = ws.cap[ix.kt_cell]
        kt = np.flatnonzero(cap > 0)
        z = (cap[kt][:, None] * FIRST_POINTS[None, :]).ravel()
        k = np.repeat(kt, len(FIRST_POINTS))
        if points is not None:
            k, z = np.r_[k, points[0]], np.r_[z, np.clip(points[1], 0.0, cap[points[0]])]
        order = np.lexsort((z, k))
        k, z = k[order], z[order]
        fresh = np.r_[True, (k[1:] != k[:-1]) | (z[1:] - z[:-1] > _near(z[1:], cap[k[1:]]))][: len(k)]
        k, z = k[fresh], z[fresh]
        f = response(ix.curves, ix.kt_cell[k], z)
        band = np.r_[k[1:] == k[:-1], False][: len(k)]  # a breakpoint followed by another of its kt
        nxt = np.flatnonzero(band) + 1
        return cls(ws, k[band], z[band], z[nxt], f[band], f[nxt])

    def crash(self, x0: Float, budget: float) -> None:
        """Start the first master from the basis of the budget-only answer ``x0`` (a
        breakpoint of every cell-period): bands below it full, above it empty, the budget
        row binding with one band at ``x0`` basic, every other row's slack basic (the
        auxiliary totals basic, their definition rows not).  That basis is dual feasible
        where only the budget binds (the large constrained first master: 772 pivots from it)."""
        ws, rows = self.ws, self.ws.rows
        x = x0[self.kt]
        col = np.where(self.hi <= x * (1 + 1e-12), UPPER, LOWER)
        row = np.full(len(rows), BASIC)
        definition = np.asarray(rows.kind, dtype=object) == "definition"
        row[definition] = LOWER
        cap = ws.cap[ws.ix.kt_cell]
        inner = np.flatnonzero((self.lo > 0) & np.isclose(self.lo, x) & (x < cap[self.kt]))
        if float(x0.sum()) >= budget * (1 - 1e-9) and len(inner):
            row[0] = UPPER
            col[inner[0]] = BASIC
        if int((row == BASIC).sum()) + int((col == BASIC).sum()) + ws.n_aux != len(rows):
            return  # not a square basis (e.g. definition rows without their totals): start cold
        self.start = HighsSession.make_basis(np.r_[col, np.full(ws.n_aux, BASIC)], row)

    def moved(self, ws: Workspace) -> Master | None:
        """This master's breakpoints and last basis for ``ws``: the same scenario with a
        limit moved a little (the marginal re-solves), so the new master starts warm.
        None where the rows differ in number or sense or a breakpoint would fall past a
        new spend cap."""
        old, new = self.ws.rows, ws.rows
        # the same rows and columns (a share or CAC limit moved changes its row's
        # coefficients, not the LP's shape): the last basis is a start, and HiGHS repairs it
        # where the new coefficients make it singular
        same = len(old) == len(new) and ws.n_aux == self.ws.n_aux and np.array_equal(old.sense, new.sense)
        status, rows, _ = self._last_basis()
        if not same or status is None:
            return None
        cap = ws.cap[ws.ix.kt_cell]
        last = np.r_[self.kt[1:] != self.kt[:-1], True]
        if (cap[self.kt] <= self.lo * (1 + 1e-12)).any() or ((cap > 0) != (np.bincount(
                self.kt, minlength=len(cap)) > 0)).any():
            return None
        hi = np.where(last, cap[self.kt], self.hi)
        f_hi = self.f_hi.copy()
        f_hi[last] = response(ws.ix.curves, ws.ix.kt_cell[self.kt[last]], hi[last])
        return Master(ws, self.kt, self.lo, hi, self.f_lo, f_hi, start=HighsSession.make_basis(status, rows),
                      cold=False)

    # the LP ----------------------------------------------------------------------------
    def build(self, budget: float) -> Model:
        """The master's LP on the present bands (timed into the workspace's build)."""
        width = self.hi - self.lo
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(width > 0, (self.f_hi - self.f_lo) / width, 0.0)
        bands = Bands(self.kt, self.lo, width, slope, np.full(len(self.kt), np.inf))
        self.model = self.ws.model_on(bands, per_period=True)
        self.ws.set_budget(self.model, budget)
        self.session = HighsSession(self.model.lp)
        if self.start is not None and not (self.cold and len(self.kt) > COLD_IPM):
            self.session.start_from(self.start)
        elif len(self.kt) > COLD_IPM:
            self.session.set_option("solver", "ipm")
        self.cold = False
        return self.model

    def solve(self, budget: float) -> Solution:
        if self.model is None or self.session is None:
            self.build(budget)
        else:
            full = self.ws.scenario.settings.spend_full_budget
            self.session.set_row_bounds(0, budget if full else -np.inf, budget)
        assert self.session is not None
        self.sol = solve(self.session.lp, "highs", self.ws.remaining(), session=self.session)
        return self.sol

    # new breakpoints -------------------------------------------------------------------
    def insert(self, kt: Int, z: Float, spend: Float | None = None, arg: Float | None = None) -> int:
        """Split bands at new breakpoints ``(kt, z)`` (after merging away the breakpoints
        far from ``spend`` and ``arg``: :meth:`_merge_far`); the next LP starts from the last
        basis mapped onto the new bands.  Returns the number of breakpoints added."""
        status, rows, fill = self._last_basis()
        if spend is not None and arg is not None:
            status, fill = self._merge_far(spend, arg, status, fill)
        cap = self.ws.cap[self.ws.ix.kt_cell]
        n = len(self.kt)
        # the band each new point falls in (bands of a kt are contiguous and sorted)
        key_old = self.kt.astype(float) * 4.0 + self.lo / np.maximum(cap[self.kt], 1e-300)
        key_new = kt.astype(float) * 4.0 + z / np.maximum(cap[kt], 1e-300)
        parent = np.searchsorted(key_old, key_new, side="right") - 1
        at = np.maximum(parent, 0)
        margin = _near(z, cap[kt])
        ok = (parent >= 0) & (self.kt[at] == kt) & (z > self.lo[at] + margin) & (z < self.hi[at] - margin)
        parent, z, margin = parent[ok], z[ok], margin[ok]
        order = np.lexsort((z, parent))
        parent, z, margin = parent[order], z[order], margin[order]
        fresh = np.concatenate(([True], (parent[1:] != parent[:-1]) | (np.diff(z) > margin[1:])))[: len(z)]
        parent, z = parent[fresh], z[fresh]
        # pieces: each old band keeps its start and gains the new points inside it
        counts = np.bincount(parent, minlength=n)
        pieces = counts + 1
        first = np.cumsum(pieces) - pieces
        owner = np.repeat(np.arange(n), pieces)
        lo = np.empty(len(owner))
        lo[first] = self.lo
        rank = np.arange(len(parent)) - (np.cumsum(counts) - counts)[parent]
        lo[first[parent] + 1 + rank] = z
        hi = np.append(lo[1:], 0.0)
        last = first + pieces - 1
        hi[last] = self.hi
        ix = self.ws.ix
        f = np.empty(len(owner))
        f[first] = self.f_lo
        f[first[parent] + 1 + rank] = response(ix.curves, ix.kt_cell[self.kt[parent]], z)
        f_hi = np.append(f[1:], 0.0)
        f_hi[last] = self.f_hi
        if status is not None:
            self.start = self._split_basis(status, rows, fill, owner, lo - self.lo[owner], hi - lo)
        self.kt, self.lo, self.hi, self.f_lo, self.f_hi = self.kt[owner], lo, hi, f, f_hi
        self.model = self.session = None
        return len(z)

    def _last_basis(self) -> tuple[Int | None, Int | None, Float | None]:
        """The last solve's basis status of each column (bands, then auxiliaries) and row,
        and each band's fill (``None`` where there is no solve to start from)."""
        if self.session is None or self.sol is None or self.sol.x is None or not len(self.sol.x):
            return None, None, None  # an empty model is not solved by HiGHS
        status, rows = self.session.basis_arrays(self.sol.x)
        if status is None:
            return None, None, None
        return status, rows, self.sol.x[: len(self.kt)].copy()

    def _merge_far(self, spend: Float, arg: Float, status: Int | None, fill: Float | None
                   ) -> tuple[Int | None, Float | None]:
        """Merge neighbouring bands whose shared breakpoint is far (in breakpoints) from both
        the spend and the priced spend of its cell-period, where both bands sit at the same
        bound (a merged band keeps the status)."""
        n = len(self.kt)
        idx = np.arange(n)
        head = np.concatenate(([True], self.kt[1:] != self.kt[:-1]))
        first_of = np.maximum.accumulate(np.where(head, idx, 0))  # first band of each band's kt
        pos = idx - first_of
        j_s = _band_of(self.kt, self.lo, spend) - first_of
        j_a = _band_of(self.kt, self.lo, arg) - first_of
        near = ((pos >= j_s - KEEP_SPEND[0]) & (pos <= j_s + KEEP_SPEND[1])) | (
            (pos >= j_a - KEEP_ARG[0]) & (pos <= j_a + KEEP_ARG[1]))
        drop = ~head & ~near  # the breakpoint at this band's start goes
        if status is not None:
            s = status[:n]
            drop &= np.concatenate(([False], (s[1:] == s[:-1]) & (s[1:] != BASIC)))
        if not drop.any():
            return status, fill
        group = np.cumsum(~drop) - 1
        keep = ~drop
        last = np.append(np.flatnonzero(keep)[1:] - 1, n - 1)
        self.kt, self.lo, self.f_lo = self.kt[keep], self.lo[keep], self.f_lo[keep]
        self.hi, self.f_hi = self.hi[last], self.f_hi[last]
        if status is None or fill is None:
            return status, fill
        return np.concatenate((status[:n][keep], status[n:])), np.bincount(group, weights=fill)

    def _split_basis(self, status: Int, rows: Int, fill: Float, owner: Int, offset: Float, width: Float) -> Any:
        """The last basis on the split bands: pieces below the old band's fill are full,
        above it empty, and a basic band's basic status goes to the piece holding its fill."""
        n = len(self.kt)
        s_old, v = status[:n][owner], fill[owner]
        tol = 1e-9 * (1.0 + self.hi[owner] - self.lo[owner])
        new = np.where(s_old == BASIC, np.where(offset + width <= v + tol, UPPER,
                                                np.where(offset >= v - tol, LOWER, BASIC)), s_old)
        # a basic band whose fill ended on a new breakpoint: its last full piece (or its
        # first piece, if it held nothing) stays basic, at a bound
        basic_old = np.flatnonzero(status[:n] == BASIC)
        has = np.zeros(n, dtype=bool)
        has[owner[new == BASIC]] = True
        lost = basic_old[~has[basic_old]]
        if len(lost):
            idx = np.arange(len(owner))
            last_full = np.full(n, -1)
            np.maximum.at(last_full, owner, np.where((s_old == BASIC) & (new == UPPER), idx, -1))
            first_piece = np.full(n, len(owner))
            np.minimum.at(first_piece, owner, idx)
            new[np.where(last_full[lost] >= 0, last_full[lost], first_piece[lost])] = BASIC
        return HighsSession.make_basis(np.concatenate((new, status[n:])), rows)


def _near(z: Float, cap: Float) -> Float:
    """How close two breakpoints may be: ``SAME_POINT`` of the spend (a hill curve of shape
    0.3 still bends at 1e-6 money), but no closer than 1e-15 of the cap."""
    return SAME_POINT * np.maximum(np.abs(z), 1e-5 * cap)


def _band_of(kt: Int, lo: Float, x: Float) -> Int:
    """Index of the band of each band's cell-period that holds spend ``x[kt]``."""
    n_kt = len(x)
    first = np.searchsorted(kt, np.arange(n_kt), side="left")
    # bands of a kt are sorted: the band of x is the last one starting at or below it
    cnt = np.bincount(kt, weights=(lo <= x[kt]).astype(float), minlength=n_kt).astype(np.int64)
    return (first + np.maximum(cnt, 1) - 1)[kt]
