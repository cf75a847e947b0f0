"""Compare Base and every scenario of the Scenarios sheet side by side.

:func:`compare` optimises Base and every named scenario (overrides applied by
:func:`planner.scenario.overrides.apply_scenario`) and returns a :class:`Comparison`: plain
data (:class:`~planner.core.sheet_spec.SheetSpec`); nothing here prints or imports Excel,
solver or CLI code.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from planner.core.figures import HEADLINE_KEYS, kind_of, label_of
from planner.core.plan import Plan
from planner.core.sheet_spec import ChartSpec, Format, SheetSpec, TableBlock
from planner.engine import optimizer as engine
from planner.errors import ScenarioError
from planner.scenario.models import Scenario
from planner.scenario.overrides import apply_scenario, check_scenarios, scenario_names

#: ``progress(done, total)``: called with 0 before the first solve and after each solve.
Progress = Callable[[int, int], None]

def summary_figure(summary: Mapping[str, Any], key: str, ok: bool = True) -> float:
    """A headline figure as a float (NaN where the run has no plan or no such number)."""
    value = summary.get(key) if ok else None
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


_DELTAS = ("total_spend", "total_value", "net_value", "roi", "new_customers", "retained_customers")
#: Columns of the Comparison sheet's table, in order (the Comparison object keeps every figure).
SHEET_COLUMNS = ["scenario", "status", "total_spend", "total_value", "net_value", "delta_net_value",
                 "net_value_change", "roi", "new_customers", "retained_customers", "marginal_roi_of_budget"]


def column_formats(columns: list[str]) -> dict[str, Format]:
    """Excel number format of each result column (comparison and frontier tables), from the
    catalogue of figures (:mod:`planner.core.figures`); a channel's spend is money."""
    return {c: "text" if c == "scenario" else k if (k := kind_of(c)) != "number" else "currency"
            for c in columns}


@dataclass
class Comparison:
    """Base and every what-if scenario, optimised and set side by side.

    ``plans`` maps each name (Base first) to its :class:`~planner.core.plan.Plan`;
    ``headline`` has one row per scenario (``scenario``, ``status``, the Summary figures);
    ``deltas`` the figures minus Base's (``delta_<figure>``) and ``net_value_change``
    (relative); ``spend_by_channel`` one column per channel.
    """

    plans: dict[str, Plan]
    headline: pd.DataFrame
    deltas: pd.DataFrame
    spend_by_channel: pd.DataFrame
    currency: str = "USD"
    seconds: float = 0.0

    @property
    def names(self) -> list[str]:
        return list(self.plans)

    def sheets(self) -> list[SheetSpec]:
        """The ``Comparison`` sheet (one row per scenario: Excel table ``Comparison``, header
        on row 1, notes to the right, a chart below) and the ``Comparison Spend`` sheet
        (spend by channel per scenario: table ``ComparisonSpend`` and a stacked chart)."""
        channels = [c for c in self.spend_by_channel.columns if c != "scenario"]
        failed = [f"Scenario '{n}' has no plan: {p.status}. {p.message}".strip()
                  for n, p in self.plans.items() if not p.ok]
        table = self.headline.join(self.deltas.drop(columns="scenario"))
        table = table[[c for c in SHEET_COLUMNS if c in table]]
        money = f"Money ({self.currency})"
        labels = {k: label_of(k) for k in ("total_value", "net_value")}
        notes = ["Base is the workbook as it is; every other scenario applies its rows of the "
                 "Scenarios sheet to Base.", "delta_net_value and net_value_change: net value minus "
                 f"Base's, and that change relative to Base's. Money in {self.currency}; spend by "
                 "channel is on the Comparison Spend sheet.", *failed]
        return [
            SheetSpec("Comparison", [TableBlock(table, None, column_formats(list(table)), "Comparison")],
                      [ChartSpec("bar", "Value and net value by scenario", 0, "scenario", ["total_value", "net_value"],
                                 "Scenario", money, labels, y_format="compact")],
                      notes, self.currency, layout="table"),
            SheetSpec("Comparison Spend", [TableBlock(self.spend_by_channel, None,
                                                      column_formats(list(self.spend_by_channel)), "ComparisonSpend")],
                      [ChartSpec("stacked_bar", "Spend by channel", 0, "scenario", channels, "Scenario",
                                 f"Spend ({self.currency})", y_format="compact")],
                      [f"Spend by channel over the plan, per scenario ({self.currency})."], self.currency,
                      layout="table"),
        ]


def compare(scenario: Scenario, progress: Progress | None = None) -> Comparison:
    """Optimise Base and every scenario of the Scenarios sheet.

    Parameters
    ----------
    scenario : Scenario
        The base scenario with its Scenarios sheet rows.
    progress : callable, optional
        ``progress(done, total)`` before the first and after each solve.

    Returns
    -------
    Comparison
        Plans of any status (a scenario without a plan is reported, not raised).

    Raises
    ------
    ScenarioError
        When any scenario cannot be applied: every problem of every scenario, before
        anything is solved.
    """
    started = time.perf_counter()
    issues = check_scenarios(scenario)
    if issues:
        raise ScenarioError(issues)
    variants = {name: apply_scenario(scenario, name) for name in scenario_names(scenario)}
    plans: dict[str, Plan] = {}
    if progress is not None:
        progress(0, len(variants))
    for i, (name, variant) in enumerate(variants.items()):
        plans[name] = engine.optimize(variant)
        if progress is not None:
            progress(i + 1, len(variants))
    keys = [k for k in HEADLINE_KEYS if k != "status"]
    headline = pd.DataFrame([{"scenario": n, "status": p.status, **{k: summary_figure(p.summary, k, p.ok) for k in keys}}
                             for n, p in plans.items()])
    base = headline.iloc[0]
    deltas = pd.DataFrame({"scenario": headline["scenario"]})
    for key in _DELTAS:
        deltas[f"delta_{key}"] = headline[key] - base[key]
    deltas["net_value_change"] = deltas["delta_net_value"] / abs(base["net_value"] or math.nan)
    spend = pd.DataFrame(0.0, index=list(plans), columns=[c.channel for c in scenario.channels])
    for name, plan in plans.items():
        by = plan.allocation.groupby("channel")["spend"].sum() if plan.ok else None
        if by is None:
            spend.loc[name] = math.nan
        elif len(by):
            spend.loc[name, by.index] = by.to_numpy(dtype=float)
    spend = spend.rename_axis("scenario").reset_index()
    return Comparison(plans, headline, deltas, spend, scenario.settings.currency,
                      time.perf_counter() - started)
