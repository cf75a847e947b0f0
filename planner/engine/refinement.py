"""Refinement on chord bands: solve, densify the bands around the chosen spends, re-solve.

The plan of a scenario that cannot use chord windows (S-shaped cells, CBC, band order, or
windows that did not certify) comes from here: an LP (or MIP) on the chord bands at
``pwl_tolerance``, refined until no cell-period's spend moves more than ``REFINE_TOL`` of the
budget and the certified gap is within ``REFINE_GAP``; for S-shaped curves the chord
tolerance is then tightened until the MIP's certified gap is within ``MIP_GAP_TARGET``.
``GAP_TARGET`` is what a plan must be certified within to be called optimal.  Nothing here is kept between runs
except what it returns: the caller decides whether the refined bands become the workspace's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.core.chords import Bands, chord_bands, densify
from planner.core.linear_program import Model
from planner.engine.workspace import Workspace, mip_certificate, true_objective
from planner.solvers import Solution

#: refinement stops once no cell-period's spend moves more than this share of the budget
REFINE_TOL = 1e-3
MAX_REFINE_ROUNDS = 8
#: ... and, once spend has settled, while the certified gap exceeds this share of the objective
#: (far below GAP_TARGET: a plan re-solved with a limit moved by 0.2 % must show the limit's
#: worth, not where a solver stopped)
REFINE_GAP = 1e-6
#: a plan is ``optimal`` only when its certified gap is within this share of the objective
GAP_TARGET = 1e-4
#: a certified gap below this (objective units) is optimal whatever the objective's size
ABS_GAP = 1e-6
#: ... or below this share of the budget
ABS_GAP_BUDGET = 1e-9
#: relative certified gap the MIP path tightens its chord tolerance towards
MIP_GAP_TARGET = 1e-4
#: a certified gap below this (objective units) is optimal whatever the objective's size
ABS_GAP = 1e-6
#: ... or below this share of the budget
ABS_GAP_BUDGET = 1e-9


@dataclass
class Refined:
    """The outcome of a refined solve: the last model and solution, the bands it used."""

    model: Model
    sol: Solution
    bands: Bands
    rounds: int
    solve_s: float
    pwl_tolerance: float | None = None   # set when the MIP path tightened it


def solve_refined(ws: Workspace, bands: Bands, budget: float) -> Refined:
    """Solve on ``bands`` and refine (see :func:`refine`)."""
    model, sol = ws.solve_ordered(bands, budget)
    if sol.x is None:
        return Refined(model, sol, bands, 0, sol.seconds)
    return refine(ws, model, sol, budget)


def refine(ws: Workspace, model: Model, sol: Solution, budget: float,
           max_rounds: int = MAX_REFINE_ROUNDS) -> Refined:
    """Densify bands around the chosen spends and re-solve until spend settles."""
    assert sol.x is not None
    bands = model.bands
    solve_s, rounds = sol.seconds, 0
    spend = model.spend(sol.x)
    step = REFINE_TOL * max(min(budget, float(spend.sum())), 1e-9)
    moved = np.inf
    ix = ws.ix
    while rounds < max_rounds and not ws.out_of_time():
        kt = np.flatnonzero(spend > 0)
        finer = bands
        if moved > step and len(kt):
            # only bands wider than the step can hide a move larger than the step
            finer = densify(ix.curves, bands, ix.kt_cell[kt], spend[kt], min_width=step)
        if finer is bands and ws.gap_too_wide(model, sol, spend, REFINE_GAP):
            # also where the bound would spend and the plan does not: a first chord a little
            # flatter than the curve's first slope keeps the LP out of a cell for good
            arg = ws.bound_memo.arg if ws.bound_memo is not None else np.zeros_like(spend)
            idle = np.flatnonzero((spend <= 0) & (arg > 0))
            at = np.r_[kt, idle]
            finer = densify(ix.curves, bands, ix.kt_cell[at], np.r_[spend[kt], arg[idle]])
        if finer is bands:
            break
        rounds += 1
        bands = finer
        new_model, new_sol = ws.solve_ordered(bands, budget)
        solve_s += new_sol.seconds
        if new_sol.x is None:
            break
        new_spend = new_model.spend(new_sol.x)
        moved = np.abs(new_spend - spend).max(initial=0.0)
        model, sol, spend = new_model, new_sol, new_spend
    return Refined(model, sol, bands, rounds, solve_s)


def mip_gap(ws: Workspace, model: Model, sol: Solution) -> float:
    """Relative certified gap of a MIP solution (chord error plus the MIP's own gap)."""
    assert sol.x is not None
    obj = true_objective(model, model.spend(sol.x))
    return mip_certificate(ws, model, sol, obj) / max(abs(obj), 1e-12)


def tighten(ws: Workspace, first: Refined, budget: float) -> Refined:
    """S-shaped curves: the MIP's certified bound rests on the chord error of every cell,
    so tighten the chord tolerance until the gap is within ``MIP_GAP_TARGET``."""
    out, tol = first, ws.scenario.settings.pwl_tolerance
    while (out.model.lp.is_mip and mip_gap(ws, out.model, out.sol) > MIP_GAP_TARGET and tol > 1e-5
           and not ws.out_of_time()):
        tol /= 4
        nxt = solve_refined(ws, chord_bands(ws.ix.curves, ws.cap, tol), budget)
        if nxt.sol.x is None:
            break
        out = Refined(nxt.model, nxt.sol, nxt.bands, out.rounds + nxt.rounds, out.solve_s + nxt.solve_s, tol)
    return out
