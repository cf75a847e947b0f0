"""Explain an infeasible scenario: which constraints conflict, and by how much each must move.

An elastic copy of the LP gives every policy constraint (budgets, spend bounds, change
limits, Constraints-sheet rows) a violation column; minimising the weighted violation finds
the smallest fix, and the rows with a non-zero dual in it form the conflict.  Each member
of the conflict is then relaxed alone to say how far *it* would have to move.  Physical
caps (prospects, customers at risk) are never relaxed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from planner.core.linear_program import LinearProgram, Model
from planner.core.plan import Conflict
from planner.solvers import solve

RELAXABLE = {"budget", "period_budget", "segment_bound", "channel_bound", "change", "user"}
MAX_MEMBERS = 8


def _elastic(model: Model, relax: np.ndarray) -> tuple[LinearProgram, np.ndarray, np.ndarray]:
    """LP plus violation columns for rows in ``relax``; returns (lp, row of col, direction)."""
    lp, rows = model.lp, model.rows
    sense = rows.sense[relax]
    # '<=' rows get −e (may exceed), '>=' rows +e (may fall short), '=' rows both
    r_idx = np.concatenate([relax[sense != ">="], relax[sense != "<="]])
    direction = np.concatenate([-np.ones(int((sense != ">=").sum())), np.ones(int((sense != "<=").sum()))])
    n0 = lp.A.shape[1]
    m = len(r_idx)
    E = sp.csc_matrix((direction, (r_idx, np.arange(m))), shape=(lp.A.shape[0], m))
    big = max(1.0, model.ix.scenario.settings.total_budget)
    ratio = np.isin(np.array(rows.metric, dtype=object)[r_idx], ["share", "cac", "cost_per_retained", "roi", "contacts_per_customer"])
    weight = np.where(ratio, 1.0 / big, 1.0 / np.maximum(1.0, np.abs(rows.limit[r_idx])))
    c = np.concatenate([np.zeros(n0), weight])
    out = LinearProgram(
        c, np.concatenate([lp.col_lower, np.zeros(m)]), np.concatenate([lp.col_upper, np.full(m, np.inf)]),
        sp.hstack([lp.A, E]).tocsc(), lp.row_lower, lp.row_upper,
        np.zeros(n0 + m, dtype=bool), 1.0,
    )
    return out, r_idx, direction


def _den(model: Model, x: np.ndarray) -> np.ndarray:
    spend = model.spend(x)
    return model.rows.denominators(spend, model.chord_customers(x))


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.4g}"


def explain_infeasible(model: Model, time_limit: float = 60.0) -> list[Conflict]:
    """Conflicting constraints of an infeasible model, each with the move that fixes it."""
    rows = model.rows
    relax = np.flatnonzero(np.isin(np.array(rows.kind, dtype=object), list(RELAXABLE)))
    if not len(relax):
        return [Conflict("customer caps", "", "", 0.0, 0.0,
                         "The prospects and at-risk caps cannot be met together; check Segments.")]
    lp, r_idx, direction = _elastic(model, relax)
    sol = solve(lp, "highs", time_limit)
    if sol.x is None:
        return [Conflict("model", "", "", 0.0, 0.0,
                         "Even with every constraint relaxed no plan exists; check prospects and retention inputs.")]
    n0 = model.lp.A.shape[1]
    e = sol.x[n0:]
    den = _den(model, sol.x[:n0])
    violated = {}
    for j in np.flatnonzero(e > 1e-7 * (1 + np.abs(model.rows.rhs[r_idx]))):
        i = int(r_idx[j])
        violated[i] = violated.get(i, 0.0) + (-direction[j]) * e[j] / max(abs(den[i]), 1e-12)
    members = set(violated)
    if sol.row_dual is not None:
        dual = sol.row_dual[: len(rows)]
        members |= {int(i) for i in np.flatnonzero(np.abs(dual) > 1e-9) if rows.kind[i] in RELAXABLE}
    members_list = sorted(members, key=lambda i: (i not in violated, i))[:MAX_MEMBERS]
    out = []
    names = ", ".join(f"'{rows.name[i]}'" for i in members_list)
    for i in members_list:
        change = violated.get(i)
        if change is None:
            change = _alone(model, i, time_limit)
        limit = float(rows.limit[i])
        if change is None:
            msg = f"'{rows.name[i]}' ({rows.sense[i]} {_fmt(limit)}) is part of the conflict but moving it alone is not enough."
            change = float("nan")
        else:
            word = "raise" if change > 0 else "lower"
            msg = (f"'{rows.name[i]}' ({rows.sense[i]} {_fmt(limit)}): {word} it by {_fmt(abs(change))} "
                   f"to {_fmt(limit + change)}.")
        out.append(Conflict(rows.name[i], rows.metric[i], str(rows.sense[i]), limit, float(change), msg))
    if out and len(members_list) > 1:
        out[0].message = f"Conflict between {names}. " + out[0].message
    return out


def _alone(model: Model, i: int, time_limit: float) -> float | None:
    """How far row i alone must move for the model to become feasible (None: not enough)."""
    lp, r_idx, direction = _elastic(model, np.array([i]))
    sol = solve(lp, "highs", time_limit)
    if sol.x is None:
        return None
    n0 = model.lp.A.shape[1]
    e = sol.x[n0:]
    den = _den(model, sol.x[:n0])
    return float(np.sum(-direction * e) / max(abs(den[i]), 1e-12))
