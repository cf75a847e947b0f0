"""What every solve of one scenario shares: the arrays, the rows, the clock, the solver.

A :class:`Workspace` is built once per :class:`~planner.engine.optimizer.Optimizer`.  It
holds the scenario as arrays, the constraint rows, the chord domain of every cell, the chord
bands at ``pwl_tolerance`` (built when first needed), the cells that need band order, the
deadline of the current run, and the certificate of the last solution (computed once).
Refinement (:mod:`.refinement`) and the budget sweep (:mod:`.sweep`) work on it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from planner.core.chords import Bands, chord_bands
from planner.core.linear_program import (
    LinearProgram,
    Model,
    build_model,
    build_rows,
    out_of_order,
    undercut_cells,
)
from planner.core.rows import Float, FrozenRows
from planner.core.scenario_arrays import Index
from planner.engine import certificate as certify
from planner.engine.round_off import clean_spend_customers
from planner.scenario.models import Scenario
from planner.solvers import HighsSession, Solution, Status, solve
from planner.solvers.greedy import greedy_exact


@dataclass
class Bound:
    """A solution's certificate on the real curves, computed once per solution."""

    sol: Solution
    upper: float      # Lagrangian upper bound on the true optimum
    true_obj: float   # the plan's own objective on the real curves
    arg: Float        # where each cell-period's 1-D maximum is (the next window's target)
    spend: Float      # spend per cell-period, round-off removed
    cust: Float       # real-curve customers per cell-period


@dataclass
class Workspace:
    """Shared state of every solve of one scenario (see the module doc)."""

    scenario: Scenario
    solver: str                     # auto | highs | cbc
    time_limit: float
    ix: Index
    cap: Float                      # chord domain per cell
    rows: FrozenRows
    n_aux: int
    build_seconds: float
    concave: bool
    undercut: NDArray[np.bool_]     # cells where an out-of-order fill could pay
    ordered: NDArray[np.bool_]      # concave cells that need band order (grows)
    deadline: float = 0.0
    bands_memo: Bands | None = None
    bound_memo: Bound | None = None
    session: HighsSession | None = field(default=None, repr=False)  # of the last HiGHS solve
    relaxed_memo: tuple[Model, float | None] | None = field(default=None, repr=False)
    highs_failed: bool = False      # HiGHS gave a wrong answer that CBC did not: CBC solves on

    @classmethod
    def build(cls, scenario: Scenario, solver: str | None, time_limit: float | None,
              max_budget: float | None) -> Workspace:
        st = scenario.settings
        t0 = time.perf_counter()
        if max_budget is not None and max_budget > st.total_budget:
            cap = Index.build(scenario.model_copy(update={"settings": st.model_copy(
                update={"total_budget": max_budget})})).spend_cap()
        else:
            cap = None
        ix = Index.build(scenario)
        rows, n_aux = build_rows(ix)
        ws = cls(scenario, (solver or st.solver).lower(), float(time_limit or st.time_limit_s), ix,
                 ix.spend_cap() if cap is None else cap, rows, n_aux, 0.0,
                 bool(ix.curves.concave().all()), undercut_cells(ix, rows), np.zeros(ix.K, dtype=bool))
        ws.build_seconds = time.perf_counter() - t0
        ws.start_clock()
        return ws

    @property
    def budget_covers_all(self) -> bool:
        """True when every cell-period's spend counts against the total budget (row 0)."""
        rows = self.rows
        on = np.zeros(self.ix.K * self.ix.P, dtype=bool)
        on[rows.e_kt[(rows.e_row == 0) & (rows.e_spend > 0)]] = True
        return bool(on.all())

    # the clock -------------------------------------------------------------------------
    def start_clock(self) -> None:
        """The time limit covers one whole run (every solve of it) from now."""
        self.deadline = time.perf_counter() + self.time_limit

    def remaining(self) -> float:
        """Seconds left of the time limit."""
        return max(0.05, self.deadline - time.perf_counter())

    def out_of_time(self) -> bool:
        return time.perf_counter() >= self.deadline

    # bands and models ------------------------------------------------------------------
    @property
    def bands(self) -> Bands:
        """Chord bands of every cell at ``pwl_tolerance`` (a sweep may never need them)."""
        if self.bands_memo is None:
            t0 = time.perf_counter()
            self.bands_memo = chord_bands(self.ix.curves, self.cap, self.scenario.settings.pwl_tolerance)
            self.build_seconds += time.perf_counter() - t0
        return self.bands_memo

    def model_on(self, bands: Bands, *, per_period: bool = False) -> Model:
        """The LP on ``bands`` (timed into ``build_seconds``)."""
        t0 = time.perf_counter()
        model = build_model(self.ix, bands, self.rows, self.n_aux, per_period=per_period,
                            ordered=None if per_period else self.ordered)
        self.build_seconds += time.perf_counter() - t0
        return model

    def whole_domain_model(self, budget: float) -> Model:
        """One band per cell-period over its whole spend domain, at ``budget``: the model
        the exact fill and the spend-only feasibility check start from."""
        ix = self.ix
        cap = self.cap[ix.kt_cell]
        kt = np.flatnonzero(cap > 0)
        zero = np.zeros(len(kt))
        model = self.model_on(Bands(kt, zero, cap[kt], zero, zero), per_period=True)
        self.set_budget(model, budget)
        return model

    def set_budget(self, model: Model, budget: float) -> None:
        lp = model.lp
        lp.row_upper[0] = budget
        if self.scenario.settings.spend_full_budget:
            lp.row_lower[0] = budget

    # solving ---------------------------------------------------------------------------
    def solve_model(self, model: Model, *, session: HighsSession | None = None) -> Solution:
        """One solve of ``model`` by the chosen solver: the greedy fill where it is exact
        (``auto``), HiGHS, or CBC; CBC answers when HiGHS fails."""
        if self.solver == "auto" and greedy_exact(model):
            return solve(model, "greedy")
        if not self.highs_ok:
            return solve(model.lp, "cbc", self.remaining())
        self.session = session if session is not None else HighsSession(model.lp)
        return self.solve_highs(model.lp, self.session)

    @property
    def highs_ok(self) -> bool:
        """HiGHS is the solver asked for (``auto`` or ``highs``) and has not failed here."""
        return self.solver in ("auto", "highs") and not self.highs_failed

    def solve_highs(self, lp: LinearProgram, session: HighsSession,
                    doubt: tuple[Status, ...] = (Status.ERROR,)) -> Solution:
        """HiGHS on ``lp`` in ``session``; an outcome in ``doubt`` gets CBC's second opinion
        (run_info names the solver).  Where CBC answers otherwise, it answers the rest of
        this scenario's solves too: HiGHS, wrong on every round of a refinement of a badly
        scaled scenario (margins of 3.5e6, a budget of 6.6e9 to spend in full), then spent
        27 s of a 30 s limit on a 16-row LP."""
        sol = solve(lp, "highs", self.remaining(), session=session)
        if sol.status not in doubt:
            return sol
        other = solve(lp, "cbc", self.remaining())
        if other.status not in (Status.ERROR, sol.status):
            self.highs_failed = True
            return other
        return other if sol.status == Status.ERROR else sol  # an error either way: CBC's

    def solve_ordered(self, bands: Bands, budget: float) -> tuple[Model, Solution]:
        """Build and solve on ``bands``; cells an upper customer limit fills out of order
        get band-order binaries and the model is solved again.

        An upper limit on customers is not convex in spend: the LP may meet it by filling a
        cell's bands out of order (undercounting its customers).  Such cells get the
        band-order binaries of S-shaped curves.
        """
        model, sol = self._solve_on(bands, budget)
        for _ in range(3):
            flagged = out_of_order(model, sol.x) & self.undercut
            if not flagged.any():
                break
            self.ordered |= flagged
            model, sol = self._solve_on(bands, budget)
        return model, sol

    def _solve_on(self, bands: Bands, budget: float) -> tuple[Model, Solution]:
        model = self.model_on(bands)
        self.set_budget(model, budget)
        return model, self.solve_model(model)

    # the certificate -------------------------------------------------------------------
    def certify(self, model: Model, sol: Solution, spend: Float) -> Bound:
        """The solution's Lagrangian bound and real-curve objective, computed once: the
        refinement's last gap check and the evaluation ask about the same solution."""
        if self.bound_memo is None or self.bound_memo.sol is not sol:
            assert sol.row_dual is not None
            upper, arg = certify.lagrangian(model, sol.row_dual)
            real, cust = clean_spend_customers(spend, model.ix)
            self.bound_memo = Bound(sol, upper, objective(model, real, cust), arg, real, cust)
        return self.bound_memo

    def relaxed_bound(self, model: Model) -> float | None:
        """The Lagrangian bound (module ``certificate``) at the duals of a MIP's LP relaxation.

        Any duals give a bound on the true problem (customers may be anything up to the
        curve), so a MIP that exists only for band order (concave curves under an upper
        limit on customers) is certified as tightly as an LP, not by the chord error of every
        band of every cell (a plan at the analytic optimum was left ``feasible`` at 1.2 %).
        None for S-shaped curves or where the relaxation has no duals; computed once per model.
        """
        if self.relaxed_memo is not None and self.relaxed_memo[0] is model:
            return self.relaxed_memo[1]
        value = None
        if self.concave and model.lp.is_mip and self.solver != "cbc":
            lp = dataclasses.replace(model.lp, integrality=np.zeros_like(model.lp.integrality),
                                     row_lower=model.lp.row_lower.copy(), row_upper=model.lp.row_upper.copy())
            sol = HighsSession(lp).solve(self.remaining())
            if sol.row_dual is not None and sol.status == Status.OPTIMAL:
                value = certify.lagrangian_bound(model, sol.row_dual)
        self.relaxed_memo = (model, value)
        return value

    def gap_too_wide(self, model: Model, sol: Solution, spend: Float, target: float) -> bool:
        """True when the certified gap of this solution exceeds ``target`` (relative)."""
        if model.lp.is_mip or sol.row_dual is None:
            return False
        b = self.certify(model, sol, spend)
        return bool(b.upper - b.true_obj > target * max(abs(b.true_obj), 1e-9))


def objective(model: Model, spend: Float, cust: Float) -> float:
    """The maximised objective of spend and customers per cell-period."""
    return float(model.w_cust @ cust - model.w_spend @ spend)


def true_objective(model: Model, spend: Float) -> float:
    """The maximised objective of the plan the report will show (round-off spend is none)."""
    return objective(model, *clean_spend_customers(spend, model.ix))


def mip_certificate(ws: Workspace, model: Model, sol: Solution, true_obj: float) -> float:
    """A MIP plan's certified gap: the chord-error bound plus the MIP's own gap, or, for
    concave curves, the Lagrangian bound at the duals of the LP with the band choices fixed or
    of the LP relaxation, whichever is tightest."""
    gap = certify.mip_gap_bound(model, sol, true_obj)
    if not (ws.concave and model.lp.is_mip):
        return gap
    # any duals bound the true problem: those of the LP with the MIP's band choices fixed
    # (the solution's own) and those of the LP relaxation
    bounds = [ws.relaxed_bound(model)]
    if sol.row_dual is not None and np.isfinite(sol.row_dual).all():
        bounds.append(certify.lagrangian_bound(model, sol.row_dual))
    for upper in bounds:
        if upper is not None and np.isfinite(upper):
            gap = min(gap, max(0.0, upper - true_obj))
    return gap
