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

from planner.core.plan import SUMMARY_KEYS, Plan
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


_COUNTS = ("new_customers", "retained_customers")
_DELTAS = ("total_spend", "total_value", "net_value", "roi", *_COUNTS)


def column_formats(columns: list[str]) -> dict[str, Format]:
    """Excel number format of each result column (comparison and frontier tables)."""

    def kind(c: str) -> Format:
        c = c.removeprefix("delta_")
        if c in ("scenario", "status"):
            return "text"
        if c in _COUNTS:
            return "number"
        if c.endswith("_change"):
            return "percent"
        ratios = ("roi", "marginal_roi", "incremental_roi", "budget_shadow_price")
        return "ratio" if c in ratios else "currency"
    return {c: kind(c) for c in columns}


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
        """The ``Comparison`` result sheet: three tables, a bar and a stacked bar chart."""
        channels = [c for c in self.spend_by_channel.columns if c != "scenario"]
        failed = [f"Scenario '{n}' has no plan: {p.status}. {p.message}".strip()
                  for n, p in self.plans.items() if not p.ok]
        blocks = [TableBlock(self.headline, "Headline figures by scenario"),
                  TableBlock(self.deltas, "Change against Base"),
                  TableBlock(self.spend_by_channel, "Spend by channel")]
        for b in blocks:
            b.formats = column_formats(list(b.frame))
        return [SheetSpec("Comparison", blocks, [
            ChartSpec("bar", "Value and net value by scenario", 0, "scenario",
                      ["total_value", "net_value"], "Scenario", self.currency),
            ChartSpec("stacked_bar", "Spend by channel", 2, "scenario", channels, "Scenario",
                      self.currency),
        ], ["Base is the workbook as it is; every other scenario applies its rows of the "
            "Scenarios sheet to Base.", *failed], self.currency)]


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
    keys = [k for k in SUMMARY_KEYS if k != "status"]
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
