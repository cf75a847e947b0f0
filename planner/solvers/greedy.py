"""The exact greedy fill: when only the total budget can bind, filling chord bands by value
per unit of money is a fractional knapsack, solved by one sort (no LP solver)."""

from __future__ import annotations

import time

import numpy as np

from planner.core.linear_program import Model
from planner.core.scenario_arrays import ACQ, RET
from planner.solvers.result import Solution, Status


def greedy_exact(model: Model) -> bool:
    """True when only the total budget can bind, so filling bands by slope is exact."""
    ix, rows = model.ix, model.rows
    if model.lp.is_mip or ix.scenario.settings.objective == "min_spend":
        return False
    if any(k not in ("budget", "prospects", "at_risk") for k in rows.kind):
        return False
    # caps must be provably slack: the most each could see is below the cap
    # no cell can spend more than the budget, whatever its chord domain
    most = ix.customers(np.minimum(model.cap_kt, model.lp.row_upper[0]))
    acq, ret = ix.kt_prog == ACQ, ix.kt_prog == RET
    won = np.bincount(ix.kt_seg[acq], weights=most[acq], minlength=ix.S)
    if (won > ix.prospects).any():
        return False
    m = ret
    saved = np.zeros((ix.S, ix.P))
    np.add.at(saved, (ix.kt_seg[m], ix.kt_t[m]), most[m])
    floor = (1 - ix.retention)[:, None] * ix.n0[:, None] * ix.retention[:, None] ** np.arange(ix.P)
    return bool((saved <= floor + 1e-12).all())


def solve_greedy(model: Model) -> Solution:
    """Fill band columns by objective per unit of money until the budget is used.

    A fractional knapsack: exact for concave curves with only the budget binding; the
    marginal band's score is the budget dual.
    """
    t0 = time.perf_counter()
    lp = model.lp
    n = model.n_band_vars
    score = -lp.c[:n]
    width = lp.col_upper[:n]
    budget = lp.row_upper[0]
    full = np.isfinite(lp.row_lower[0])
    order = np.argsort(-score, kind="stable")
    take_ok = np.ones(n, dtype=bool) if full else score[order] > 0
    w = np.where(take_ok, width[order], 0.0)
    cum = np.cumsum(w)
    before = cum - w
    fill = np.clip(budget - before, 0.0, w)
    x = np.zeros(lp.A.shape[1])
    x[order] = fill
    used = fill.sum()
    dual = np.zeros(lp.A.shape[0])
    if used < budget - 1e-9 * max(1.0, budget):
        if full:
            return Solution(Status.INFEASIBLE, "greedy", time.perf_counter() - t0,
                            message="the curves cannot absorb the whole budget")
    else:
        nxt = np.flatnonzero(fill < w - 1e-12)
        marginal = score[order][nxt[0]] if len(nxt) else 0.0
        dual[0] = -max(marginal, 0.0) if not full else -marginal
    sol = Solution(Status.OPTIMAL, "greedy", time.perf_counter() - t0, x=x, row_dual=dual,
                   objective=float(lp.c @ x), message="exact greedy fill (only the budget binds)")
    return sol
