"""The budget frontier: value, net value and marginal ROI across total budgets.

:func:`frontier` sweeps the total budget from 0, building the model once
(:class:`planner.engine.optimizer.Optimizer`) and evaluating each point's plan only when it is asked
for.  Results are plain data (:class:`~planner.core.sheet_spec.SheetSpec`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import pandas as pd

from planner.analysis.compare import Progress, column_formats, summary_figure
from planner.core.figures import label_of
from planner.core.plan import Plan, usable
from planner.core.sheet_spec import ChartSpec, SheetSpec, TableBlock
from planner.engine import optimizer as engine
from planner.errors import Issue, ScenarioError
from planner.scenario.models import Scenario
from planner.scenario.overrides import with_budget

__all__ = ["Frontier", "LazyPlans", "frontier"]


#: ``marginal_roi`` of the frontier from the budget dual λ (objective units per unit of
#: budget): the value the next unit of money returns, consistently across objectives.
_MARGINAL_NOTE = {
    "net_value": "marginal_roi = 1 + budget shadow price: the value the next unit of budget "
                 "returns. Where it is 1 the total budget no longer binds and the rest stays "
                 "unspent (its return is below 1, or other limits such as period budgets bind).",
    "target_mroi": "marginal_roi = target_mroi + budget shadow price: the value the next unit "
                   "of money spent returns; spending stops where it reaches target_mroi.",
    "value": "marginal_roi = budget shadow price: the value one more unit of budget buys.",
    "min_spend": "marginal_roi is blank: under min_spend the budget is only a cap; see "
                 "incremental_roi.",
}


_UNBOUNDED_NOTE = (" At budget 0 it is blank: a hill or power curve of shape below 1 returns without "
                   "limit on its first unit of money.")


class LazyPlans(Sequence[Plan]):
    """Plans of a sweep, each evaluated on first access (a frontier's table needs only the
    headline figures; building every plan's tables would cost more than the solves)."""

    def __init__(self, entries: list[Any], evaluate: Callable[[Any], Plan] | None):
        self._entries = entries
        self._evaluate = evaluate

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, i: int) -> Plan: ...
    @overload
    def __getitem__(self, i: slice) -> list[Plan]: ...
    def __getitem__(self, i: int | slice) -> Plan | list[Plan]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        entry = self._entries[i]
        if not isinstance(entry, Plan):
            assert self._evaluate is not None
            entry = self._entries[i] = self._evaluate(entry)
        return entry


@dataclass
class Frontier:
    """Value, net value, spend and marginal ROI across a sweep of total budgets.

    ``table`` has one row per budget: ``budget``, ``spend``, ``value``, ``net_value``,
    ``marginal_roi`` (from the budget dual, defined in ``note``), ``incremental_roi``
    (Δ value ÷ Δ budget from the previous point), ``new_customers``,
    ``retained_customers``, ``status``; ``plans`` the plan at each budget, each evaluated
    (tables, constraint report, certified gap) when first asked for.
    """

    table: pd.DataFrame
    plans: Sequence[Plan]
    note: str
    currency: str = "USD"
    seconds: float = 0.0
    reused_model: bool = False
    #: said once when some budgets have no plan: the smallest feasible budget and the
    #: limits that set it (empty when every budget has a plan)
    infeasible_note: str = ""

    def sheets(self) -> list[SheetSpec]:
        """The ``Frontier`` result sheet: the table and two line charts."""
        labels = {k: label_of(k) for k in ("budget", "value", "net_value", "spend", "marginal_roi")}
        return [SheetSpec("Frontier", [
            TableBlock(self.table, "Budget frontier", column_formats(list(self.table)), "Frontier")], [
            ChartSpec("scatter", "Value, net value and spend by total budget", 0, "budget",
                      ["value", "net_value", "spend"], f"Total budget ({self.currency})", self.currency,
                      labels, "compact", "compact"),
            ChartSpec("scatter", "Marginal ROI by total budget", 0, "budget", ["marginal_roi"],
                      f"Total budget ({self.currency})", "Marginal ROI", labels, "compact", "ratio"),
        ], [f"Total budget swept from 0 to {self.table['budget'].max():,.0f} {self.currency}; "
            "every other setting and constraint as in the scenario.", self.note,
            *([self.infeasible_note] if self.infeasible_note else [])], self.currency,
            layout="table")]


def frontier(scenario: Scenario, points: int = 21, max_budget: float | None = None,
             progress: Progress | None = None, reuse: bool = True) -> Frontier:
    """Optimise the scenario at evenly spaced total budgets from 0 to ``max_budget``.

    Parameters
    ----------
    scenario : Scenario
        The scenario to sweep (apply a what-if scenario first if wanted).
    points : int, default 21
        Number of budgets, at least 2.
    max_budget : float, optional
        Largest budget; default twice the scenario's ``total_budget``.
    progress : callable, optional
        ``progress(done, total)`` before the first and after each solve.
    reuse : bool, default True
        Build the model once (``planner.engine.optimizer.Optimizer``) and change only the budget
        bound between points; False re-optimises from scratch at every point.

    Returns
    -------
    Frontier
        For concave curves ``value`` is non-decreasing and concave in the budget.

    Raises
    ------
    ScenarioError
        When the sweep would be empty (no budget and no ``max_budget``).
    """
    if points < 2:
        raise ValueError("a frontier needs at least 2 points")
    st = scenario.settings
    top = 2.0 * st.total_budget if max_budget is None else float(max_budget)
    if not (top > 0 and math.isfinite(top)):
        raise ScenarioError([Issue("Settings", None, "total_budget", st.total_budget,
                                   "must be > 0 to sweep a frontier (or give a maximum budget > 0)")])
    started = time.perf_counter()
    module = engine  # looked up at call time, so tests can stand in for the engine
    reused = reuse and hasattr(module, "Optimizer")
    # chords must cover what the largest budget can spend in a cell
    opt = module.Optimizer(scenario, max_budget=top) if reused else None
    offset = {"net_value": 1.0, "target_mroi": st.target_mroi, "value": 0.0}.get(st.objective)
    unbounded_at_zero = False
    rows: list[dict[str, Any]] = []
    entries: list[Any] = []
    if progress is not None:
        progress(0, points)
    for i, budget in enumerate(np.linspace(0.0, top, points)):
        if opt is None:
            plan = module.optimize(with_budget(scenario, budget))
            entries.append(plan)
            figures = {**plan.summary, "status": plan.status}
        else:  # the plan itself is evaluated only when asked for (Frontier.plans)
            solved = opt.resolve(float(budget))
            entries.append(solved)
            figures = opt.headline(solved)
        ok = usable(figures["status"], "objective_value" in figures)
        fig = {k: summary_figure(figures, k, ok) for k in (
            "marginal_roi_of_budget", "budget_shadow_price", "total_spend", "total_value",
            "net_value", "new_customers", "retained_customers")}
        mroi = fig["marginal_roi_of_budget"]
        if math.isnan(mroi) and offset is not None:
            mroi = offset + fig["budget_shadow_price"]
        if math.isinf(mroi):  # budget 0 with a curve whose first unit returns without limit
            mroi, unbounded_at_zero = math.nan, True
        rows.append({"budget": float(budget), "spend": fig["total_spend"], "value": fig["total_value"],
                     "net_value": fig["net_value"], "marginal_roi": math.nan if offset is None else mroi,
                     "new_customers": fig["new_customers"], "retained_customers": fig["retained_customers"],
                     "status": figures["status"]})
        if progress is not None:
            progress(i + 1, points)
    table = pd.DataFrame(rows)
    table.insert(5, "incremental_roi", table["value"].diff() / table["budget"].diff())
    plans = LazyPlans(entries, None if opt is None else opt.evaluate)
    note = infeasible_note(scenario, top, module) if (table["status"] == "infeasible").any() else ""
    marginal_note = _MARGINAL_NOTE[st.objective] + (_UNBOUNDED_NOTE if unbounded_at_zero else "")
    return Frontier(table, plans, marginal_note, st.currency,
                    time.perf_counter() - started, reused, note)


def smallest_feasible_budget(scenario: Scenario, top: float, module: Any = None) -> tuple[float | None, list[str]]:
    """The least total spend any plan meeting every other constraint needs (a ``min_spend``
    solve with the total budget at ``top``), and the limits that set it (binding, with a
    positive shadow price); ``(None, [])`` when no budget up to ``top`` has a plan."""
    module = module or engine
    probe = scenario.with_settings(objective="min_spend", total_budget=float(top), spend_full_budget=False)
    plan = module.Optimizer(probe).run()
    if not plan.ok:
        return None, []
    c = plan.constraints
    setters = c[c["binding"].astype(bool) & (c["kind"] != "budget") & (c["shadow_price"].abs() > 1e-9)]
    setters = setters.sort_values("shadow_price", ascending=False, kind="stable")
    return float(plan.summary["total_spend"]), [str(n) for n in setters["name"]]


def infeasible_note(scenario: Scenario, top: float, module: Any = None) -> str:
    """One sentence for a frontier with infeasible budgets: below which budget, and why."""
    least, names = smallest_feasible_budget(scenario, top, module)
    cur = scenario.settings.currency
    if least is None:
        return (f"No budget up to {top:,.0f} {cur} has a plan: run 'optimize' at that budget to see "
                "which constraints conflict.")
    why = (f", set by {', '.join(repr(n) for n in names[:4])}{' and others' if len(names) > 4 else ''}"
           if names else "")
    return f"Budgets below {least:,.0f} {cur} have no plan: the smallest feasible budget is {least:,.0f} {cur}{why}."
