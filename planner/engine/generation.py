"""Column generation's rounds on a :class:`~planner.engine.columns.Master`: price, add
breakpoints, re-solve warm, until the certified gap is met (docs/design.md §2.7).

The first master gets breakpoints at the budget-only answer (:func:`budget_only`) and
starts from its crash basis; each round adds the priced spends (partial pricing), the
master's own spends inside a chord and their midpoints; a stalled gap gets a halving trust
region; the last round (*polish*) puts breakpoints close either side of every spend so that
the duals are the curves' slopes.
"""

from __future__ import annotations

import time

import numpy as np

from planner.core.curves import response
from planner.core.linear_program import Model, objective_weights
from planner.core.types import Float, Int
from planner.engine.certificate import prices
from planner.engine.columns import Master
from planner.engine.refinement import Refined
from planner.engine.windows import budget_target
from planner.engine.workspace import Workspace
from planner.solvers import Solution

#: column generation stops once the certified gap is within this share of the objective
COLUMN_GAP = 1e-6
#: ... or after this many master solves
MAX_COLUMN_ROUNDS = 40
#: a cell-period's priced spend becomes a breakpoint where it gains at least this share of
#: the mean gain (partial pricing: fewer changed cells per round, fewer pivots; measured on
#: the large synthetic scenarios, 0.5 took 30 % less time than adding every gain)
PRICE_SHARE = 0.5
#: first step either side of the spends where the gap stops halving (share of the spend)
STALL_STEP = 0.5
#: the last round's breakpoints either side of each spend (share of the spend)
DUAL_STEP = 1e-4
#: the first master also gets the budget-only answer's spends, and that times and over this
FIRST_STEP = 1.5


def first_points(x0: Float) -> tuple[Int, Float]:
    """Breakpoints at the budget-only spends ``x0`` (:func:`budget_only`) and a step either
    side: the first master's prices start near the answer's."""
    kt = np.flatnonzero(x0 > 0)
    return np.r_[kt, kt, kt], np.r_[x0[kt], x0[kt] * FIRST_STEP, x0[kt] / FIRST_STEP]


def budget_only(ws: Workspace, budget: float) -> Float:
    """Spend per cell-period on the real curves if the budget were the only limit."""
    ix = ws.ix
    w_cust, w_spend, _ = objective_weights(ix)
    cap = ws.cap[ix.kt_cell]
    budget_row = ws.rows.e_row == 0
    a0 = np.bincount(ws.rows.e_kt[budget_row], weights=ws.rows.e_spend[budget_row], minlength=len(cap))
    return budget_target(ix, w_cust, w_spend, a0, cap, budget, ws.scenario.settings.spend_full_budget, 1.0)


def solve_columns(ws: Workspace, budget: float, gap: float = COLUMN_GAP,
                  seed: tuple[Int, Float] | None = None, polish: bool = True) -> tuple[Master, Refined]:
    """A new master for ``budget`` (on ``seed``'s breakpoints, e.g. those of a scenario
    with a limit moved a little, else at :func:`first_points`) and its column generation."""
    if seed is not None:
        master = Master.first(ws, seed)
    else:
        x0 = budget_only(ws, budget)
        master = Master.first(ws, first_points(x0))
        master.crash(x0, budget)
    return master, generate(ws, master, budget, gap, polish=polish)


def generate(ws: Workspace, master: Master, budget: float, gap: float = COLUMN_GAP,
             max_rounds: int = MAX_COLUMN_ROUNDS, polish: bool = True) -> Refined:
    """Solve the master and add priced breakpoints until the certified gap is within
    ``gap``; then (``polish``) once more with breakpoints ``DUAL_STEP`` either side of every
    spend, so that the duals (shadow prices, the budget's marginal ROI) are the curves'
    slopes there, not the slope of a wider chord.

    Where the gap stops halving (degenerate prices: pricing finds nothing new although the
    bound stays loose, e.g. money parked past a binding cap to make room under a share
    ceiling) the spends also get breakpoints a step either side, the step halving each
    time (a trust region); the run ends when that step is spent and the plan no longer
    improves."""
    solve_s, rounds, polished = 0.0, 0, not polish
    step, last_gap, last_obj = STALL_STEP, np.inf, -np.inf
    best: Refined | None = None  # the last round with a plan (kept if a later one fails)
    while True:
        sol = master.solve(budget)
        solve_s += sol.seconds
        rounds += 1
        model = master.model
        assert model is not None
        if sol.x is None or sol.row_dual is None:
            if best is not None:  # e.g. the time limit stopped this round's solve
                best.solve_s, best.rounds = solve_s, rounds
                return best
            return _done(model, sol, rounds, solve_s)
        best = _done(model, sol, rounds, solve_s)
        spend = model.spend(sol.x)
        close = not ws.gap_too_wide(model, sol, spend, gap)
        bound = ws.bound_memo
        assert bound is not None
        now = bound.upper - bound.true_obj
        stalled = now > 0.5 * last_gap
        settled = bound.true_obj <= last_obj + 1e-9 * max(abs(bound.true_obj), 1e-9)
        if (close and polished) or rounds >= max_rounds or ws.out_of_time() or (
                stalled and settled and step < DUAL_STEP):
            return best
        last_gap, last_obj = now, max(last_obj, bound.true_obj)
        t0 = time.perf_counter()
        cap = ws.cap[ws.ix.kt_cell]
        active = np.flatnonzero((spend > 0) & (spend < cap))
        if close:
            polished = True
            kt, z = np.tile(active, 2), np.concatenate((spend[active] * (1 - DUAL_STEP), spend[active] * (1 + DUAL_STEP)))
        else:
            kt, z = new_points(master, model, sol, spend, bound.arg)
            if stalled:
                kt = np.concatenate((kt, active, active))
                z = np.concatenate((z, spend[active] * (1 - step), spend[active] * (1 + step)))
                step /= 2
        added = master.insert(kt, z, spend, bound.arg)
        ws.build_seconds += time.perf_counter() - t0
        if not added and step < DUAL_STEP:
            return best


def _done(model: Model, sol: Solution, rounds: int, solve_s: float) -> Refined:
    """The outcome at this budget, on a copy of the model's row bounds: the master's LP
    is re-solved at other budgets, and a frontier evaluates this plan later."""
    model = model.with_own_row_bounds()
    return Refined(model, sol, model.bands, rounds, solve_s)


def new_points(master: Master, model: Model, sol: Solution, spend: Float, arg: Float) -> tuple[Int, Float]:
    """Breakpoints to add: the priced spend where it beats every breakpoint of its
    cell-period at the master's prices, and the master's spend where it lies inside a chord."""
    assert sol.row_dual is not None and sol.x is not None
    ix = master.ws.ix
    c1, c2, _, _ = prices(model, sol.row_dual)
    w = np.maximum(c1 * ix.kt_sigma, 0.0)
    n_kt = len(spend)
    best_here = np.full(n_kt, 0.0)  # spend 0 is always a breakpoint
    phi_hi = w[master.kt] * master.f_hi - c2[master.kt] * master.hi
    np.maximum.at(best_here, master.kt, phi_hi)
    phi_arg = w * response(ix.curves, ix.kt_cell, arg) - c2 * arg
    scale = 1e-12 * (1.0 + float(np.abs(phi_arg).sum()))
    gain = np.where(arg > 0, phi_arg - best_here, 0.0)
    cut = PRICE_SHARE * gain[gain > scale].mean() if (gain > scale).any() else 0.0
    priced = np.flatnonzero((arg > 0) & (gain > scale) & (gain >= cut))
    fill = sol.x[: len(master.kt)]
    inside = (fill > 1e-9 * (master.hi - master.lo)) & (fill < (1 - 1e-9) * (master.hi - master.lo))
    mixed = np.unique(master.kt[inside])
    mixed = mixed[spend[mixed] > 0]
    # the midpoint between the spend and the priced spend: measured on the synthetic
    # constrained scenarios, it saves a third of the rounds to a 1e-6 gap
    d = arg[priced] - spend[priced]
    cap = master.ws.cap[ix.kt_cell]
    # money parked where customers are worth nothing at the prices (past a binding cap, to
    # make room under a share ceiling) wants the flattest chord: one ending at the cap
    park = np.flatnonzero((w <= 0) & (spend > 0) & (spend < 0.5 * cap))
    k = np.concatenate((priced, mixed, priced, park))
    z = np.concatenate((arg[priced], spend[mixed], spend[priced] + 0.5 * d, cap[park] - 2 * spend[park]))
    return k, np.clip(z, 0, cap[k])
