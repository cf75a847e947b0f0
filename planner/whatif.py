"""What-if analysis: scenario overrides, side-by-side comparison and the budget frontier.

The Scenarios sheet (DESIGN §3) lists overrides ``scenario, target, operation, value``.
:func:`apply_scenario` applies one named scenario to a copy of the base scenario,
:func:`compare` optimises Base and every named scenario, and :func:`frontier` sweeps the
total budget.  Results are plain data (:class:`~planner.tables.SheetSpec`); nothing here
prints, writes files or imports Excel, solver or CLI code.

Override targets
----------------
``total_budget`` (any setting name), ``segment:<name>:<field>``, ``channel:<name>:<field>``,
``period:<name>:<field>``, ``curve:<segment>:<channel>:<program>:<field>`` and, as an
extension, ``constraint:<name>:<field>`` (Constraints sheet ``value`` or ``sense``).
``*`` in a name matches every name (``Paid*`` matches by prefix); names and fields are
case-insensitive.  ``set`` replaces the value, ``scale`` multiplies it, ``add`` adds to it.
Under a wildcard, ``scale`` and ``add`` leave blank cells blank (blank means "no limit" or
"default", which has no number to scale); a named blank is an error.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import inspect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from planner.errors import Issue, ScenarioError
from planner.plan import SUMMARY_KEYS, Plan
from planner.scenario import (
    PROGRAMS,
    Channel,
    ConstraintRow,
    Curve,
    Override,
    Period,
    Scenario,
    Segment,
    Settings,
    issues_from_validation,
)
from planner.tables import ChartSpec, SheetSpec, TableBlock

__all__ = [
    "BASE", "Comparison", "Frontier", "Progress", "apply_scenario", "check_scenarios",
    "compare", "frontier", "scenario_names", "with_budget",
]

BASE = "Base"
#: ``progress(done, total)``: called after each solve so a caller can draw a progress bar.
Progress = Callable[[int, int], None]

# target kind -> (Scenario attribute, key fields naming a row)
_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "segment": ("segments", ("segment",)),
    "channel": ("channels", ("channel",)),
    "period": ("periods", ("period",)),
    "curve": ("curves", ("segment", "channel", "program")),
    "constraint": ("constraints", ("name",)),
}
_MODELS: dict[str, type[BaseModel]] = {
    "segment": Segment, "channel": Channel, "period": Period, "curve": Curve,
    "constraint": ConstraintRow,
}
_CONSTRAINT_FIELDS = ("value", "sense")
_TARGET_HELP = (
    "expected a setting name such as total_budget, segment:<name>:<field>, "
    "channel:<name>:<field>, period:<name>:<field>, "
    "curve:<segment>:<channel>:<program>:<field> or constraint:<name>:<field>"
)


def scenario_names(scenario: Scenario) -> list[str]:
    """Names of the scenarios of a workbook, ``Base`` first, in order of first appearance.

    Parameters
    ----------
    scenario : Scenario
        The base scenario; its ``scenarios`` rows (the Scenarios sheet) name the others.

    Returns
    -------
    list of str
        ``["Base", ...]`` with each name once (case-insensitively, first spelling kept).

    Examples
    --------
    >>> from planner.scenario import Override
    >>> s = _example().model_copy(update={"scenarios": [
    ...     Override(scenario="High", target="total_budget", operation="scale", value=2),
    ...     Override(scenario="high", target="segment:*:margin_per_period", operation="add",
    ...              value=1)]})
    >>> scenario_names(s)
    ['Base', 'High']
    """
    names = [BASE]
    seen = {BASE.lower()}
    for ov in scenario.scenarios:
        if ov.scenario.strip().lower() not in seen:
            seen.add(ov.scenario.strip().lower())
            names.append(ov.scenario.strip())
    return names


def apply_scenario(scenario: Scenario, name: str) -> Scenario:
    """The scenario with the overrides of one named what-if scenario applied.

    Parameters
    ----------
    scenario : Scenario
        The base scenario (it is not modified).
    name : str
        A scenario name of the Scenarios sheet (case-insensitive); ``Base`` returns
        ``scenario`` itself.

    Returns
    -------
    Scenario
        A new, re-validated scenario (cross-checks run again).

    Raises
    ------
    ScenarioError
        Listing every problem: an unknown scenario name, target, field or row name,
        ``scale``/``add`` on a value that is not a number, or an override that leaves a
        value or the scenario invalid.  Issues point at the Scenarios sheet row.

    Examples
    --------
    >>> from planner.scenario import Override
    >>> s = _example().model_copy(update={"scenarios": [
    ...     Override(scenario="Double", target="total_budget", operation="scale", value=2),
    ...     Override(scenario="Double", target="segment:*:margin_per_period", operation="add",
    ...              value=5)]})
    >>> d = apply_scenario(s, "double")
    >>> d.settings.total_budget, d.segments[0].margin_per_period
    (2000.0, 15.0)
    >>> s.settings.total_budget
    1000.0
    """
    key = name.strip().lower()
    if key == BASE.lower():
        return scenario
    rows = [(i, ov) for i, ov in enumerate(scenario.scenarios) if ov.scenario.strip().lower() == key]
    if not rows:
        others = scenario_names(scenario)
        raise ScenarioError([Issue("Scenarios", None, "scenario", name,
                                   f"is not a scenario of the Scenarios sheet (expected one of {others})")])
    work = _Work(scenario)
    for index, ov in rows:
        work.apply(ov, _row_of(ov, index))
    if work.issues:
        raise ScenarioError(work.issues)
    try:
        return work.build()
    except ScenarioError as exc:
        raise ScenarioError([
            dataclasses.replace(i, expected=f"{i.expected} (after applying scenario '{name}')")
            for i in exc.issues
        ]) from None


def check_scenarios(scenario: Scenario) -> list[Issue]:
    """Every problem of the Scenarios sheet: each scenario is applied and checked.

    Parameters
    ----------
    scenario : Scenario
        The base scenario.

    Returns
    -------
    list of Issue
        Empty when every scenario applies cleanly.
    """
    issues: list[Issue] = []
    for i, ov in enumerate(scenario.scenarios):
        if ov.scenario.strip().lower() == BASE.lower():
            issues.append(Issue("Scenarios", _row_of(ov, i), "scenario", ov.scenario,
                                "is reserved for the workbook as it is: give this scenario another name"))
    for name in scenario_names(scenario)[1:]:
        try:
            apply_scenario(scenario, name)
        except ScenarioError as exc:
            issues.extend(exc.issues)
    return issues


def with_budget(scenario: Scenario, total_budget: float) -> Scenario:
    """A copy of ``scenario`` with another total budget (no other change)."""
    settings = scenario.settings.model_copy(update={"total_budget": float(total_budget)})
    return scenario.model_copy(update={"settings": settings})


# ---------------------------------------------------------------------------------------


def _row_of(item: Any, index: int) -> int:
    row = getattr(item, "_row", None)
    return row if row is not None else index + 2


def _match(pattern: str, name: str | None) -> bool:
    if name is None:
        return pattern == "*"
    if "*" in pattern:
        return fnmatch.fnmatchcase(name.lower(), pattern.lower())
    return name.strip().lower() == pattern.lower()


def _number(value: Any) -> float | None:
    """The override value as a number, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            if text.endswith("%"):
                return float(text[:-1]) / 100.0
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


class _Work:
    """Mutable working copy of a scenario while overrides are applied."""

    def __init__(self, scenario: Scenario):
        self.base = scenario
        self.settings = scenario.settings
        self.tables: dict[str, list[Any]] = {
            attr: list(getattr(scenario, attr)) for attr, _ in _TABLES.values()
        }
        self.issues: list[Issue] = []

    def build(self) -> Scenario:
        data = {f: getattr(self.base, f) for f in Scenario.model_fields}
        data.update(self.tables)
        data["settings"] = self.settings
        return Scenario(**data)

    def _issue(self, row: int, column: str, value: Any, expected: str) -> None:
        self.issues.append(Issue("Scenarios", row, column, value, expected))

    def apply(self, ov: Override, row: int) -> None:
        parts = [p.strip() for p in ov.target.split(":")]
        kind = parts[0].lower()
        if len(parts) == 1 or (kind in ("setting", "settings") and len(parts) == 2):
            self._apply_setting(ov, row, parts[-1].lower())
        elif kind in _TABLES:
            self._apply_table(ov, row, kind, parts[1:])
        else:
            self._issue(row, "target", ov.target, f"is not a known target ({_TARGET_HELP})")

    def _new_value(self, ov: Override, row: int, current: Any, what: str) -> tuple[bool, Any]:
        """(ok, new value) of one override on one current value."""
        if ov.operation == "set":
            return True, ov.value
        number = _number(ov.value)
        if number is None:
            self._issue(row, "value", ov.value, f"is not a number ({ov.operation} needs one)")
            return False, None
        if isinstance(current, bool) or not isinstance(current, int | float):
            shown = "blank" if current is None else repr(current)
            self._issue(row, "operation", ov.operation,
                        f"cannot be applied to {what}: its value ({shown}) is not a number")
            return False, None
        new = current * number if ov.operation == "scale" else current + number
        if isinstance(current, int) and float(new).is_integer():
            new = int(new)
        return True, new

    def _apply_setting(self, ov: Override, row: int, field: str) -> None:
        if field not in Settings.model_fields:
            self._issue(row, "target", ov.target,
                        f"is not a setting or a known target ({_TARGET_HELP})")
            return
        ok, new = self._new_value(ov, row, getattr(self.settings, field), f"setting {field}")
        if not ok:
            return
        try:
            self.settings = Settings.model_validate({**self.settings.model_dump(), field: new})
        except ValidationError as exc:
            self._invalid(exc, ov, row, f"setting {field}", new)

    def _invalid(self, exc: ValidationError, ov: Override, row: int, what: str, new: Any) -> None:
        for issue in issues_from_validation(exc):
            shown = "blank" if new is None else repr(new)
            self._issue(row, "value", ov.value, f"gives {what} {shown}, which {issue.expected}")

    def _apply_table(self, ov: Override, row: int, kind: str, parts: list[str]) -> None:
        attr, keys = _TABLES[kind]
        if len(parts) != len(keys) + 1 or not all(parts):
            self._issue(row, "target", ov.target,
                        f"is not a {kind} target (expected {kind}:{':'.join(f'<{k}>' for k in keys)}:<field>)")
            return
        patterns, field = parts[:-1], parts[-1].lower()
        items = self.tables[attr]
        model = _MODELS[kind]
        settable = _CONSTRAINT_FIELDS if kind == "constraint" else tuple(
            f for f in model.model_fields if f not in keys)
        ok = True
        if field in keys:
            self._issue(row, "target", ov.target,
                        f"cannot change '{field}': it names the {kind} (fields: {', '.join(settable)})")
            ok = False
        elif field not in settable:
            self._issue(row, "target", ov.target,
                        f"has no {kind} field '{field}' (expected one of: {', '.join(settable)})")
            ok = False
        for key, pattern in zip(keys, patterns, strict=True):
            if "*" in pattern:
                continue
            names = _names(self.base, key)
            if not any(_match(pattern, n) for n in names):
                self._issue(row, "target", ov.target,
                            f"names no {key} '{pattern}' (expected * or one of {names})")
                ok = False
        if not ok:
            return
        hits = [j for j, it in enumerate(items)
                if all(_match(p, getattr(it, k)) for k, p in zip(keys, patterns, strict=True))]
        if not hits:
            self._issue(row, "target", ov.target, f"matches no row of the {_sheet(attr)} sheet")
            return
        wildcard = any("*" in p for p in patterns)
        for j in hits:
            item = items[j]
            current = getattr(item, field)
            if wildcard and ov.operation != "set" and current is None:
                continue  # a blank limit stays "no limit"
            what = f"{kind} '{':'.join(str(getattr(item, k)) for k in keys)}' {field}"
            good, new = self._new_value(ov, row, current, what)
            if not good:
                return
            try:
                items[j] = _revalidate(item, field, new)
            except ValidationError as exc:
                self._invalid(exc, ov, row, what, new)
                return


def _revalidate(item: BaseModel, field: str, new: Any) -> BaseModel:
    fresh = type(item).model_validate({**item.model_dump(), field: new})
    fresh._row = getattr(item, "_row", None)
    return fresh


def _names(scenario: Scenario, key: str) -> list[str]:
    """Names a target may use for ``key``: from the sheet that defines them."""
    if key == "program":
        return list(PROGRAMS)
    items = getattr(scenario, {"name": "constraints"}.get(key, key + "s"))
    return sorted({str(getattr(it, key)) for it in items if getattr(it, key) is not None})


def _sheet(attr: str) -> str:
    return {"segments": "Segments", "channels": "Channels", "periods": "Periods",
            "curves": "Curves", "constraints": "Constraints"}[attr]


def _example() -> Scenario:
    """A one-segment, one-channel scenario for doctests."""
    return Scenario(
        settings=Settings(total_budget=1000),
        segments=[Segment(segment="All", margin_per_period=10, retention_rate=0.5)],
        channels=[Channel(channel="Email")],
        curves=[Curve(segment="All", channel="Email", program="acquisition",
                      curve="saturation", a=100, b=500)],
    )



# --------------------------------------------------------------------------- runs


def _optimize_module() -> Any:
    # ``planner.optimize`` is also the name of the function re-exported by the package,
    # so ``import planner.optimize as m`` would give the function: go through importlib.
    return importlib.import_module("planner.optimize")


def _solver(scenario: Scenario, reuse: bool, top: float) -> Callable[[float | None], Plan]:
    """``run(total_budget)``: the built model re-used when the optimiser offers it."""
    module = _optimize_module()
    optimizer = getattr(module, "Optimizer", None)
    if reuse and optimizer is not None:
        if "max_budget" in inspect.signature(optimizer).parameters:
            # chords must cover what the largest budget can spend in a cell
            return optimizer(scenario, max_budget=top).run
        return optimizer(scenario).run

    def run(total_budget: float | None = None) -> Plan:
        s = scenario if total_budget is None else with_budget(scenario, total_budget)
        return module.optimize(s)

    return run


def _figure(plan: Plan, key: str) -> float:
    value = plan.summary.get(key) if plan.ok else None
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


_MONEY = ("total_spend", "total_value", "baseline_value", "net_value", "blended_cac",
          "cost_per_retained", "unspent_budget", "optimality_gap_bound")
_COUNTS = ("new_customers", "retained_customers")
_HEADLINE = [k for k in SUMMARY_KEYS if k != "status"]
_DELTAS = ("total_spend", "total_value", "net_value", "roi", "new_customers",
           "retained_customers")


def _formats(columns: list[str]) -> dict[str, str]:
    fmt: dict[str, str] = {}
    for c in columns:
        base = c.removeprefix("delta_")
        if c in ("scenario", "status"):
            fmt[c] = "text"
        elif base in _MONEY or c in ("budget", "spend", "value", "net_value") or c.startswith("spend_"):
            fmt[c] = "currency"
        elif base in _COUNTS:
            fmt[c] = "number"
        elif c.endswith("_change"):
            fmt[c] = "percent"
        else:
            fmt[c] = "ratio"
    return fmt  # type: ignore[return-value]


@dataclass
class Comparison:
    """Base and every what-if scenario, optimised and set side by side.

    Attributes
    ----------
    plans : dict
        Scenario name → :class:`~planner.plan.Plan`, Base first.
    headline : DataFrame
        One row per scenario: ``scenario``, ``status`` and the Summary figures.
    deltas : DataFrame
        One row per scenario: ``delta_<figure>`` = figure − Base's figure, and
        ``net_value_change`` (relative change of net value).
    spend_by_channel : DataFrame
        One row per scenario, one column per channel (nominal spend).
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
        """The ``Comparison`` result sheet: three tables and two charts."""
        channels = [c for c in self.spend_by_channel.columns if c != "scenario"]
        failed = [f"Scenario '{n}' has no plan: {p.status}. {p.message}".strip()
                  for n, p in self.plans.items() if not p.ok]
        return [SheetSpec(
            name="Comparison",
            blocks=[
                TableBlock(self.headline, "Headline figures by scenario", _formats(list(self.headline))),
                TableBlock(self.deltas, "Change against Base", _formats(list(self.deltas))),
                TableBlock(self.spend_by_channel, "Spend by channel",
                           {c: "text" if c == "scenario" else "currency" for c in self.spend_by_channel}),
            ],
            charts=[
                ChartSpec("bar", "Value and net value by scenario", 0, "scenario",
                          ["total_value", "net_value"], "Scenario", self.currency),
                ChartSpec("stacked_bar", "Spend by channel", 2, "scenario", channels,
                          "Scenario", self.currency),
            ],
            notes=["Base is the workbook as it is; every other scenario applies its rows of the "
                   "Scenarios sheet to Base.", *failed],
            currency=self.currency,
        )]


def compare(scenario: Scenario, progress: Progress | None = None) -> Comparison:
    """Optimise Base and every scenario of the Scenarios sheet.

    Parameters
    ----------
    scenario : Scenario
        The base scenario with its Scenarios sheet rows.
    progress : callable, optional
        ``progress(done, total)`` after each solve.

    Returns
    -------
    Comparison
        Plans (any status: an infeasible scenario is reported, not raised) and the
        side-by-side tables.

    Raises
    ------
    ScenarioError
        When any scenario cannot be applied; every problem of every scenario is listed
        and nothing is solved.
    """
    started = time.perf_counter()
    names = scenario_names(scenario)
    variants: dict[str, Scenario] = {}
    issues = check_scenarios(scenario)
    if issues:
        raise ScenarioError(issues)
    for name in names:
        variants[name] = apply_scenario(scenario, name)
    module = _optimize_module()
    plans: dict[str, Plan] = {}
    for i, (name, variant) in enumerate(variants.items()):
        plans[name] = module.optimize(variant)
        if progress is not None:
            progress(i + 1, len(variants))
    headline = pd.DataFrame([
        {"scenario": n, "status": p.status, **{k: _figure(p, k) for k in _HEADLINE}}
        for n, p in plans.items()])
    base = headline.iloc[0]
    deltas = pd.DataFrame({"scenario": headline["scenario"]})
    for key in _DELTAS:
        deltas[f"delta_{key}"] = headline[key] - base[key]
    base_net = base["net_value"]
    deltas["net_value_change"] = (
        (headline["net_value"] - base_net) / abs(base_net) if base_net else math.nan)
    channels = [c.channel for c in scenario.channels]
    spend = pd.DataFrame(0.0, index=list(plans), columns=channels)
    for name, plan in plans.items():
        if not plan.ok:
            spend.loc[name] = math.nan
        elif len(plan.allocation):
            by = plan.allocation.groupby("channel")["spend"].sum()
            spend.loc[name, by.index] = by.to_numpy(dtype=float)
    spend = spend.rename_axis("scenario").reset_index()
    return Comparison(plans, headline, deltas, spend, scenario.settings.currency,
                      time.perf_counter() - started)


#: How ``marginal_roi`` is derived from the budget dual λ (the value of one more unit of
#: budget in objective units): net_value 1 + λ, target_mroi m + λ, value λ.
_MARGINAL_NOTE = {
    "net_value": "marginal_roi = 1 + budget shadow price: the value the next unit of money "
                 "spent returns. Where it is 1 the budget no longer binds and the rest stays unspent.",
    "target_mroi": "marginal_roi = target_mroi + budget shadow price: the value the next unit "
                   "of money spent returns; spending stops where it reaches target_mroi.",
    "value": "marginal_roi = budget shadow price: the value one more unit of budget buys.",
    "min_spend": "marginal_roi is blank: under min_spend the budget is only a cap; see "
                 "incremental_roi.",
}


@dataclass
class Frontier:
    """Value, net value, spend and marginal ROI across a sweep of total budgets.

    Attributes
    ----------
    table : DataFrame
        One row per budget: ``budget``, ``spend``, ``value``, ``net_value``,
        ``marginal_roi`` (from the budget dual, see ``note``), ``incremental_roi``
        (Δ value ÷ Δ budget from the previous point), ``new_customers``,
        ``retained_customers``, ``status``.
    plans : list of Plan
        The plan at each budget.
    note : str
        How ``marginal_roi`` is defined for the scenario's objective.
    """

    table: pd.DataFrame
    plans: list[Plan]
    note: str
    currency: str = "USD"
    seconds: float = 0.0
    reused_model: bool = False
    scenario_name: str = ""

    def sheets(self) -> list[SheetSpec]:
        """The ``Frontier`` result sheet: the table and two line charts."""
        return [SheetSpec(
            name="Frontier",
            blocks=[TableBlock(self.table, "Budget frontier", _formats(list(self.table)))],
            charts=[
                ChartSpec("line", "Value, net value and spend by total budget", 0, "budget",
                          ["value", "net_value", "spend"], "Total budget", self.currency),
                ChartSpec("line", "Marginal ROI by total budget", 0, "budget",
                          ["marginal_roi"], "Total budget", "Marginal ROI"),
            ],
            notes=[f"Total budget swept from 0 to {self.table['budget'].max():,.0f} "
                   f"{self.currency}; every other setting and constraint as in the scenario.",
                   self.note],
            currency=self.currency,
        )]


def frontier(
    scenario: Scenario,
    points: int = 21,
    max_budget: float | None = None,
    progress: Progress | None = None,
    reuse: bool = True,
) -> Frontier:
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
        ``progress(done, total)`` after each solve.
    reuse : bool, default True
        Build the model once and change only the budget bound between points (when the
        optimiser supports it); False re-optimises from scratch at every point.

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
    top = 2.0 * scenario.settings.total_budget if max_budget is None else float(max_budget)
    if not top > 0 or not math.isfinite(top):
        raise ScenarioError([Issue("Settings", None, "total_budget", scenario.settings.total_budget,
                                   "must be > 0 to sweep a frontier (or give a maximum budget > 0)")])
    started = time.perf_counter()
    module = _optimize_module()
    reused = reuse and getattr(module, "Optimizer", None) is not None
    run = _solver(scenario, reuse, top)
    objective = scenario.settings.objective
    offset = {"net_value": 1.0, "target_mroi": scenario.settings.target_mroi, "value": 0.0}
    rows, plans = [], []
    budgets = np.linspace(0.0, top, points)
    for i, budget in enumerate(budgets):
        plan = run(float(budget))
        plans.append(plan)
        mroi = _figure(plan, "marginal_roi_of_budget")
        if math.isnan(mroi) and objective in offset:
            mroi = offset[objective] + _figure(plan, "budget_shadow_price")
        rows.append({
            "budget": float(budget),
            "spend": _figure(plan, "total_spend"),
            "value": _figure(plan, "total_value"),
            "net_value": _figure(plan, "net_value"),
            "marginal_roi": mroi if objective in offset else math.nan,
            "new_customers": _figure(plan, "new_customers"),
            "retained_customers": _figure(plan, "retained_customers"),
            "status": plan.status,
        })
        if progress is not None:
            progress(i + 1, points)
    table = pd.DataFrame(rows)
    table.insert(5, "incremental_roi", table["value"].diff() / table["budget"].diff())
    return Frontier(table, plans, _MARGINAL_NOTE[objective], scenario.settings.currency,
                    time.perf_counter() - started, reused, scenario.name)
