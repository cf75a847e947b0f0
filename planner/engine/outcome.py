"""From a solution to a :class:`Plan`: evaluate on the real curves, certify, describe the run.

The last step of apply → solve → invert: the chosen spend is evaluated on the real response
curves (:mod:`.plan_assembly`), its certified gap computed (:mod:`.certificate`), and a run
that found nothing becomes a plan that says why (with the conflicting constraints when the
scenario is infeasible).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import numpy as np

from planner._version import __version__
from planner.core.chords import chord_bands
from planner.core.linear_program import VALUE_TIE_BREAK, Model, build_model
from planner.core.plan import Plan
from planner.core.rows import FrozenRows
from planner.core.scenario_arrays import Index
from planner.core.types import Float
from planner.engine import certificate as certify
from planner.engine import dual_polish
from planner.engine.infeasibility import explain_infeasible
from planner.engine.plan_assembly import assemble
from planner.engine.refinement import ABS_GAP, ABS_GAP_BUDGET, GAP_TARGET
from planner.engine.round_off import clean_spend_customers
from planner.engine.workspace import Workspace, mip_certificate, objective
from planner.scenario.models import Scenario
from planner.solvers import Solution, Status

#: most seconds the certificate spends improving the duals of a plan not yet certified
POLISH_SECONDS = 2.0

MIP_WARNING = ("Shadow prices come from the LP with the band choices of the mixed-integer solution fixed "
               "(S-shaped curves, or cells whose customers an upper limit caps: their bands must fill in order).")


def plan_status(sol: Solution) -> str:
    """The plan's status word for a solver outcome (an unbounded LP is a planner error)."""
    return str(Status.ERROR if sol.status == Status.UNBOUNDED else sol.status)


def certified_gap(ws: Workspace, model: Model, sol: Solution, spend: Float) -> float:
    """How far the plan of ``sol`` may be from the true optimum (objective units: value
    alone under the ``value`` objective, see :func:`certificate.value_gap`)."""
    if model.lp.is_mip or sol.row_dual is None:
        real, cust = clean_spend_customers(spend, model.ix)
        true_obj = objective(model, real, cust)
        gap = mip_certificate(ws, model, sol, true_obj)
    else:
        if model.lp.row_upper[0] <= 0 and ws.budget_covers_all:
            return 0.0  # no budget: spending nothing is the only plan
        b = ws.certify(model, sol, spend)
        real, cust, true_obj = b.spend, b.cust, b.true_obj
        gap = min(max(0.0, b.upper - b.true_obj), certify.formula_bound(model) + _abs_tol(model))
    value = ws.scenario.settings.objective == "value"
    if value:  # the gap the planner reads is on value alone
        true_obj = float(model.w_cust @ cust)
        gap = certify.value_gap(model, sol.row_dual, real, cust, gap)
    budget = float(model.lp.row_upper[0])
    wide = gap > max(GAP_TARGET * abs(true_obj), ABS_GAP, ABS_GAP_BUDGET * abs(budget))
    if wide and ws.concave and sol.row_dual is not None and np.isfinite(sol.row_dual).all():
        # the chords' duals left the bound loose: walk them downhill on the real curves (in
        # value alone under ``value``: a customer at risk priced 1e-5 below its value by the
        # tie-break had left a plan that saves every one of them 0.16 % short)
        seconds = max(0.0, min(POLISH_SECONDS, ws.remaining()))
        upper = dual_polish.polish(model, sol.row_dual, seconds, np.zeros_like(model.w_spend) if value else None)
        gap = min(gap, max(0.0, upper - true_obj))
    return gap


def certified_status(sol: Solution, gap: float, objective: float, stopped: bool, budget: float) -> str:
    """The status of a plan with a solution: ``optimal`` only when the certified gap is
    within ``GAP_TARGET`` of the objective (or ``ABS_GAP``, or ``ABS_GAP_BUDGET`` of the
    budget: money no planner sees); otherwise ``time_limit`` where the time limit
    (``stopped``) ended the run, else ``feasible``."""
    status = plan_status(sol)
    if status not in (Status.OPTIMAL, Status.FEASIBLE):
        return status
    if status == Status.OPTIMAL and gap <= max(GAP_TARGET * abs(objective), ABS_GAP, ABS_GAP_BUDGET * abs(budget)):
        return status
    return str(Status.TIME_LIMIT if stopped or sol.status == Status.FEASIBLE else Status.FEASIBLE)


def evaluate(ws: Workspace, model: Model, sol: Solution, info: dict, scenario: Scenario | None = None) -> Plan:
    """The plan of a solution with spend, on the real curves, with its certified gap."""
    ix = ws.ix if scenario is None else Index.build(scenario)
    assert sol.x is not None
    spend = model.spend(sol.x)
    gap = certified_gap(ws, model, sol, spend)
    activity = model.lp.A @ sol.x
    rows = model.rows if scenario is None else _rows_for(model.rows, scenario)
    plan = assemble(ix, rows, spend, str(sol.status), row_dual=sol.row_dual, row_activity=activity,
                    gap_bound=gap, info=info)
    if model.lp.is_mip:
        plan.summary["mip_gap"] = sol.mip_gap
        plan.warnings.append(MIP_WARNING)
    objective = abs(float(plan.summary.get("objective_value") or 0.0))
    status = certified_status(sol, gap, objective, ws.out_of_time(), float(model.lp.row_upper[0]))
    if status != Status.OPTIMAL:  # "optimal" is a promise the certificate must keep
        plan.status = plan.summary["status"] = status
        why = ("the time limit (time_limit_s) was reached: raise it in Settings for a better plan"
               if status == Status.TIME_LIMIT else _why_stopped(ws, plan))
        plan.warnings.append(
            f"The plan is within {gap:,.6g} of the best possible objective (certified gap "
            f"{gap / max(objective, 1e-300):.4%}); 'optimal' requires {GAP_TARGET:.2%}: {why}.")
    return plan


def _why_stopped(ws: Workspace, plan: Plan) -> str:
    if ws.scenario.settings.objective == "value" and plan.summary.get("unspent_budget", 0.0) > 0:
        return (f"under the value objective money that returns less than {VALUE_TIE_BREAK:g} of value per "
                "unit stays unspent, and the unspent budget could still buy up to this much value")
    return "the method stopped"


def failed(ws: Workspace, model: Model, sol: Solution, info: dict, scenario: Scenario | None = None) -> Plan:
    """The plan of a run that found nothing: its status, message and (infeasible) conflicts."""
    scen = scenario or ws.scenario
    plan = Plan(scenario=scen, status=plan_status(sol), message=sol.message, run_info=info)
    plan.summary = {"status": plan.status}
    if sol.status == Status.TIME_LIMIT:
        plan.message = (f"No feasible plan was found within time_limit_s = {ws.time_limit:g} s "
                        f"({sol.message}); raise time_limit_s in Settings.")
    if sol.status == Status.INFEASIBLE:
        wide = chord_bands(ws.ix.curves, ws.ix.spend_cap(relaxed=True), scen.settings.pwl_tolerance)
        wide_model = build_model(ws.ix, wide, ws.rows, ws.n_aux)
        ws.set_budget(wide_model, model.lp.row_upper[0])
        plan.conflicts = explain_infeasible(wide_model, ws.time_limit)
        plan.message = "No plan meets every constraint. " + " ".join(c.message for c in plan.conflicts)
    return plan


def run_info(ws: Workspace, sol: Solution, started: datetime, solve_s: float, rounds: int, model: Model) -> dict[str, Any]:
    """The Run info sheet's record of one run."""
    n_row, n_col = model.lp.shape
    return {
        "tool": "planner", "version": __version__, "started": started.isoformat(timespec="seconds"),
        "scenario": ws.scenario.name, "solver": sol.solver, "status": str(sol.status),
        "solver_message": sol.message, "solve_seconds": round(solve_s, 4),
        "build_seconds": round(ws.build_seconds, 4), "refine_rounds": rounds,
        "variables": n_col, "rows": n_row, "nonzeros": int(model.lp.A.nnz),
        "integer_variables": int(model.lp.integrality.sum()),
        "bands": len(model.bands), "pwl_tolerance": ws.scenario.settings.pwl_tolerance,
    }


def _rows_for(rows: FrozenRows, scenario: Scenario) -> FrozenRows:
    """Rows with the scenario's budget as the total budget limit (frontier re-runs)."""
    limit = rows.limit.copy()
    rhs = rows.rhs.copy()
    limit[0] = rhs[0] = scenario.settings.total_budget
    return dataclasses.replace(rows, limit=limit, rhs=rhs)


def _abs_tol(model: Model) -> float:
    return 1e-9 * (1.0 + float(np.abs(model.lp.c).sum()))
