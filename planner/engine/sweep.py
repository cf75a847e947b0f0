"""The budget sweep: re-solve one scenario at many budgets (a frontier) quickly.

Where only the budget binds, every budget is the exact fill; other concave scenarios
re-solve the kept column-generation master (:mod:`.columns`), warm, at each budget.  What
follows is the path of the others (and of a master that found no plan at some budget).
The first budget is solved on a coarse anchor grid (:func:`anchor`) and kept; every later
budget of concave curves is solved on chord windows per cell-period (a sequential LP,
:func:`window_solve`) that narrow until the certified gap is within ``REFINE_GAP``,
starting from the last solution's prices and spend.  S-shaped curves and CBC re-solve the
kept model instead (:func:`rerun_kept`).  What carries from one budget to the next is the
explicit :class:`SweepState`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.core.chords import Bands
from planner.core.linear_program import Model, out_of_order
from planner.core.rows import Float
from planner.engine import certificate as certify
from planner.engine import columns, exact_fill, generation
from planner.engine.real_customers import true_customers
from planner.engine.refinement import (
    ABS_GAP,
    GAP_TARGET,
    MIP_GAP_TARGET,
    REFINE_GAP,
    Refined,
    mip_gap,
    refine,
    solve_refined,
    tighten,
)
from planner.engine.windows import anchor_bands, budget_target, window_bands
from planner.engine.workspace import Workspace
from planner.solvers import HighsSession, Solution, Status, solve
from planner.solvers.greedy import greedy_exact

#: refinement rounds for a re-run at another budget on the kept model (frontier points
#: that cannot use chord windows: S-shaped curves, CBC)
SWEEP_REFINE_ROUNDS = 1
#: chord windows of a frontier re-run: first half-width (share of the spend) and rounds
SWEEP_WINDOW = 0.05
#: certified gap of a frontier point solved by column generation (a tenth of ``optimal``'s
#: target; no dual polish: a point's plan is the table's row).  Looser gaps are cheaper
#: (medium 21-point frontiers, HiGHS solves / seconds: dynamics 50 / 2.07 at 1e-5,
#: 42 / 1.72 at 5e-5, 35 / 1.37 at 1e-4) but the allocation drifts where the optimum is
#: flat: at 5e-5 a channel of a frontier point was 0.6 % of the budget off the exact KKT spend
SWEEP_GAP = 1e-5
MAX_SWEEP_ROUNDS = 6


@dataclass
class SweepState:
    """What one budget's solve leaves for the next."""

    master: columns.Master | None = None      # the column-generation master (concave scenarios)
    model: Model | None = None                # the kept model (re-solved at other budgets)
    session: HighsSession | None = None       # its warm HiGHS session
    last: tuple[Model, Solution] | None = None  # the last LP solved with duals
    window_basis: tuple[tuple[int, int], Any] | None = None
    coarse: Bands | None = None               # the anchor grid's bands
    path: list[tuple[float, Float]] = field(default_factory=list)  # (budget, spend), last two
    duals: list[tuple[float, Float]] = field(default_factory=list)  # (budget, row duals), last two
    prices: exact_fill.Prices = field(default_factory=exact_fill.Prices)  # the exact fill's
    previous: tuple[float, Refined] | None = None  # the last budget and its answer

    def keep_model(self, ws: Workspace, model: Model) -> None:
        """Keep ``model`` (and the workspace's session, if it holds this model's LP)."""
        self.model = model
        s = ws.session
        self.session = s if s is not None and s.lp is model.lp else None

    def record(self, model: Model, sol: Solution) -> None:
        """Remember an LP solution with duals: the next budget starts from its prices."""
        if sol.x is not None and sol.row_dual is not None and not model.lp.is_mip:
            self.last = (model, sol)
            budget = float(model.lp.row_upper[0])
            self.path = [*self.path[-1:], (budget, model.spend(sol.x))]
            self.duals = [*self.duals[-1:], (budget, np.asarray(sol.row_dual, dtype=float).copy())]

    def extrapolate(self, budget: float, cap: Float) -> Float:
        """Spend per cell-period extrapolated along the last two solved budgets."""
        (b0, s0), (b1, s1) = self.path[0], self.path[-1]
        if b1 == b0:  # one solve so far, or the same budget twice
            return s1
        return np.clip(s1 + (s1 - s0) * (budget - b1) / (b1 - b0), 0.0, cap)

    def extrapolate_duals(self, budget: float) -> Float | None:
        """Row duals extrapolated along the last two solved budgets (None where there are
        not two budgets of the same rows)."""
        if len(self.duals) < 2:
            return None
        (b0, d0), (b1, d1) = self.duals
        if b1 == b0 or len(d0) != len(d1):
            return None
        return d1 + (d1 - d0) * (budget - b1) / (b1 - b0)


def windowable(ws: Workspace) -> bool:
    """Chord windows (a sequential LP) need concave curves and HiGHS or the greedy fill."""
    return ws.highs_ok and ws.concave and not ws.ordered.any()


def resolve(ws: Workspace, state: SweepState, budget: float) -> Refined:
    """One budget of a sweep (see the module doc)."""
    out = _slack_answer(ws, state, budget)
    if out is None:
        out = _resolve(ws, state, budget)
    state.previous = (budget, out)
    return out


def _slack_answer(ws: Workspace, state: SweepState, budget: float) -> Refined | None:
    """The last budget's answer where it is this budget's too: the budget row was slack
    (price 0, money left unspent) and ``budget`` still covers the spend, so the same plan
    meets every row and the same prices certify it (the budget has no price to move the
    bound).  A net-value frontier past the point where money stops paying costs nothing."""
    if state.previous is None or ws.scenario.settings.spend_full_budget:
        return None
    last, out = state.previous
    sol = out.sol
    if (sol.x is None or sol.row_dual is None or sol.status != Status.OPTIMAL or out.model.lp.is_mip
            or sol.row_dual[0] != 0 or sol.unbounded_budget_price):
        return None
    spent = float(out.model.spend(sol.x).sum())
    if not (spent < last * (1 - 1e-9) and budget >= spent * (1 + 1e-9) + 1e-9):
        return None
    model = out.model.with_own_row_bounds()  # the last budget's answer keeps its budget
    ws.set_budget(model, budget)
    return Refined(model, sol, out.bands, 0, 0.0)


def _resolve(ws: Workspace, state: SweepState, budget: float) -> Refined:
    probe = exact_fill.applies(ws, budget)
    if probe is not None:
        return exact_fill.fill(ws, probe, budget, state.prices)
    if columns.applies(ws):
        out = _on_master(ws, state, budget)
        if out.sol.x is not None or ws.out_of_time():
            return out
    if state.model is None:
        out = anchor(ws, state, budget)
    else:
        win = window_solve(ws, state, budget) if state.last is not None and windowable(ws) else None
        out = win if win is not None else rerun_kept(ws, state, budget)
    state.record(out.model, out.sol)
    return out


def _on_master(ws: Workspace, state: SweepState, budget: float) -> Refined:
    """Column generation at ``budget`` on the kept master (warm: its breakpoints and basis
    carry over from the last budget), or on a new one."""
    if state.master is None:
        state.master, out = generation.solve_columns(ws, budget, SWEEP_GAP, polish=False)
    else:
        master = state.master
        sol = master.sol
        slack = sol is not None and sol.row_dual is not None and sol.row_dual[0] == 0 and budget >= state.path[-1][0]
        if len(state.path) == 2 and sol is not None and sol.x is not None and not slack:
            # breakpoints where the spend is heading (extrapolated along the last two budgets)
            cap = ws.cap[ws.ix.kt_cell]
            guess = state.extrapolate(budget, cap)
            kt = np.flatnonzero((guess > 0) & (guess < cap))
            # and where each cell-period's real curve would go at the duals extrapolated the
            # same way: the two bracket the new spend more often than either alone (58
            # master solves instead of 69 on the medium dynamics frontier)
            priced = _priced_at(ws, master, state.extrapolate_duals(budget))
            more = np.flatnonzero((priced > 0) & (priced < cap))
            master.insert(np.r_[kt, more], np.r_[guess[kt], priced[more]], state.path[-1][1], guess)
        out = generation.generate(ws, master, budget, SWEEP_GAP, polish=False)
    state.record(out.model, out.sol)
    return out


def _priced_at(ws: Workspace, master: columns.Master, dual: Float | None) -> Float:
    """Each cell-period's best spend on its real curve at row duals ``dual`` (zeros where
    there are none, or where they leave an auxiliary column unbounded)."""
    model = master.model
    n = len(ws.ix.kt_cell)
    if dual is None or model is None or len(dual) != model.lp.A.shape[0]:
        return np.zeros(n)
    c1, c2, _, _ = certify.prices(model, dual)
    if not np.isfinite(c1).all():
        return np.zeros(n)
    return certify.best_response(ws.ix, c1, c2, certify.kept_caps(model))


def anchor(ws: Workspace, state: SweepState, budget: float) -> Refined:
    """First solve of a sweep: one LP on the anchor grid (kept for later budgets), then
    chord windows from its prices; the full refinement where windows do not apply."""
    if not windowable(ws):
        return _refined_and_kept(ws, state, budget)
    if state.coarse is None:
        state.coarse = anchor_bands(ws.ix.curves, ws.cap)
    model, sol = ws.solve_ordered(state.coarse, budget)
    if ws.ordered.any():  # band order needs integers: no windows for this scenario
        return _refined_and_kept(ws, state, budget)
    if sol.status == Status.INFEASIBLE and not spend_infeasible(ws, budget):
        model, sol = ws.solve_ordered(ws.bands, budget)  # coarser chords buy fewer customers
    first = Refined(model, sol, model.bands, 0, sol.seconds)
    if sol.x is None or sol.row_dual is None:
        return first
    state.keep_model(ws, model)
    state.record(model, sol)
    out = window_solve(ws, state, budget)
    if out is None:
        return first
    out.solve_s += sol.seconds
    return out


def _refined_and_kept(ws: Workspace, state: SweepState, budget: float) -> Refined:
    out = solve_refined(ws, ws.bands, budget)
    ws.bands_memo = out.bands
    if out.sol.x is not None:
        state.keep_model(ws, out.model)
    return out


def rerun_kept(ws: Workspace, state: SweepState, budget: float) -> Refined:
    """Warm-started solve of the kept model at another budget, then one refinement round
    (the kept model, its bands and session stay as they are for the next budget: bands
    refined for every budget would pile up and slow every later solve)."""
    model = state.model
    assert model is not None
    ws.set_budget(model, budget)
    if ws.solver == "auto" and greedy_exact(model):
        sol = solve(model, "greedy")
    elif ws.highs_ok:
        if state.session is None or state.session.lp is not model.lp:
            state.session = HighsSession(model.lp)
        state.session.set_row_bounds(0, model.lp.row_lower[0], budget)
        # "infeasible" is doubted too: HiGHS called a badly scaled kept model infeasible at
        # a larger budget than a feasible one
        sol = ws.solve_highs(model.lp, state.session, doubt=(Status.ERROR, Status.INFEASIBLE))
    else:
        sol = solve(model.lp, "cbc", ws.remaining())
    if sol.x is None:
        return Refined(model, sol, model.bands, 0, sol.seconds)
    # a round costs a build (and a cold solve for an LP) and grows the model, so a sweep
    # point gets one: 8× finer bands where its spend moved to; the whole refinement only
    # where that leaves the point short of an optimal plan's certificate
    out = refine(ws, model, sol, budget, max_rounds=SWEEP_REFINE_ROUNDS)
    if out.sol.x is not None and not out.model.lp.is_mip and out.sol.row_dual is not None:
        b = ws.certify(out.model, out.sol, out.model.spend(out.sol.x))
        if b.upper - b.true_obj > max(GAP_TARGET * abs(b.true_obj), ABS_GAP):
            more = refine(ws, out.model, out.sol, budget)
            out = Refined(more.model, more.sol, more.bands, out.rounds + more.rounds, out.solve_s + more.solve_s)
    elif out.sol.x is not None and out.model.lp.is_mip and mip_gap(ws, out.model, out.sol) > MIP_GAP_TARGET:
        # band order (e.g. an upper limit on customers now binding) made this budget a MIP:
        # its certificate rests on the chord error, so the chords are tightened as for a
        # first plan (one round had left a point at 0.8 % with status feasible)
        out = tighten(ws, out, budget)
    return out


def window_solve(ws: Workspace, state: SweepState, budget: float) -> Refined | None:
    """Solve at ``budget`` on per cell-period chord windows, narrowing them until the
    certified gap is within ``REFINE_GAP`` (None: fall back to the kept model, also when
    the rounds run out first, e.g. where money parked past a binding cap makes room
    under a share ceiling: seven chords per cell-period cannot park it for free)."""
    assert state.last is not None
    ix, (last, last_sol) = ws.ix, state.last
    assert last_sol.row_dual is not None and last_sol.x is not None
    c1, c2, mu, _ = certify.prices(last, last_sol.row_dual)
    if not np.isfinite(c1).all():
        return None
    cap = ws.cap[ix.kt_cell]
    budget_row = ws.rows.e_row == 0
    a0 = np.bincount(ws.rows.e_kt[budget_row], weights=ws.rows.e_spend[budget_row], minlength=len(cap))
    target = budget_target(ix, c1, c2 - mu[0] * a0, a0, cap, budget,
                           ws.scenario.settings.spend_full_budget, float(mu[0]))
    coarse = state.coarse if state.coarse is not None else ws.bands
    n_bands = np.bincount(coarse.cell, minlength=ix.K)
    floor = (ws.cap / np.maximum(n_bands, 1))[ix.kt_cell]
    centre, other, solve_s = state.extrapolate(budget, cap), target, 0.0
    delta = np.full(len(cap), SWEEP_WINDOW)
    rounds = 0
    while rounds < MAX_SWEEP_ROUNDS:
        rounds += 1
        width = delta * np.maximum(centre, floor)
        model = ws.model_on(window_bands(ix, cap, centre, other, width), per_period=True)
        ws.set_budget(model, budget)
        greedy = ws.solver == "auto" and greedy_exact(model)  # every row but the budget slack
        if greedy:
            sol = solve(model, "greedy")
        else:
            session = HighsSession(model.lp)
            # measured on the medium synthetic sweep: without scaling a warm-started window
            # LP takes half the iterations (and the front end still checks the answer)
            session.set_option("simplex_scale_strategy", 0)
            if state.window_basis is not None and state.window_basis[0] == model.lp.shape:
                session.start_from(state.window_basis[1])
            sol = solve(model.lp, "highs", ws.remaining(), session=session)
            if sol.x is not None:
                state.window_basis = (model.lp.shape, session.basis())
        solve_s += sol.seconds
        if sol.x is None or sol.row_dual is None:
            return None
        flagged = out_of_order(model, sol.x) & ws.undercut
        if flagged.any():  # see Workspace.solve_ordered: these cells need band order
            ws.ordered |= flagged
            return None
        spend = model.spend(sol.x)
        close = not ws.gap_too_wide(model, sol, spend, REFINE_GAP)
        if (close and (greedy or not breaks_rows(ws, model, spend))) or ws.out_of_time():
            break
        if budget <= 0:  # nothing to spend: no chords can change the plan (the bound
            break        # stays loose where a curve's first unit is infinitely steep)
        # a trust region per cell-period: widen the window where the spend ran to its
        # edge, keep it while the spend still moves, narrow it where the spend settled
        step = np.abs(spend - centre)
        delta = np.where(step >= 0.9 * width, np.minimum(2 * delta, 1.0),
                         np.where(step >= 0.2 * width, delta, delta / 4))
        assert ws.bound_memo is not None
        centre, other = spend, ws.bound_memo.arg
    else:  # the windows never certified the gap: the kept model's bands decide instead
        return None
    return Refined(model, sol, model.bands, rounds, solve_s)


def breaks_rows(ws: Workspace, model: Model, spend: Float) -> bool:
    """True when a row is broken on the real curves by more than the chord tolerance
    allows on the full chord bands (``pwl_tolerance·σ·f(X)`` per cell-period of a
    customer term): a customer row met only on a wide chord of the window.  Another,
    re-centred round puts a breakpoint at the spend."""
    ix, rows, n = ws.ix, ws.rows, len(ws.rows)
    act = rows.activity(spend, true_customers(ix, spend)[0], model.aux_values(spend))
    lower, upper = model.lp.row_lower[:n], model.lp.row_upper[:n]
    scale = 1.0 + np.abs(np.where(np.isfinite(upper), upper, np.where(np.isfinite(lower), lower, 0.0)))
    reach = ix.customers(model.cap_kt)[rows.e_kt] * np.abs(rows.e_cust)
    allowed = ws.scenario.settings.pwl_tolerance * np.bincount(rows.e_row, weights=reach, minlength=n)
    return bool((np.maximum(act - upper, lower - act) > allowed + 1e-6 * scale).any())


def spend_infeasible(ws: Workspace, budget: float) -> bool:
    """True when the spend-side rows alone cannot be met (every row that counts customers
    dropped): then no chords can make the scenario feasible at this budget."""
    model = ws.whole_domain_model(budget)
    counts = np.unique(ws.rows.e_row[ws.rows.e_cust != 0])
    model.lp.row_lower[counts], model.lp.row_upper[counts] = -np.inf, np.inf
    return solve(model.lp, "highs", ws.remaining()).status == Status.INFEASIBLE
