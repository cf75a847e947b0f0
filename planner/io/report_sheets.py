"""A plan as result sheets (DESIGN §3): Plan, Summary, Constraints Report, Run Info.

Only data here (:class:`~planner.core.sheet_spec.SheetSpec`); :mod:`planner.io.excel` draws them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from planner.core.plan import CONSTRAINT_COLUMNS, PLAN_COLUMNS, SUMMARY_KEYS, Plan
from planner.core.sheet_spec import ChartSpec, Format, SheetSpec, TableBlock

#: What each headline figure means, and how it is formatted.
FIGURES: dict[str, tuple[str, Format]] = {
    "total_spend": ("money the plan spends", "currency"),
    "total_value": ("discounted value the plan buys (customers won and saved by the spend)", "currency"),
    "baseline_value": ("discounted value of today's customers with no spend", "currency"),
    "net_value": ("total_value minus discounted spend", "currency"),
    "roi": ("total_value ÷ total_spend", "ratio"),
    "new_customers": ("customers won over the plan", "integer"),
    "retained_customers": ("customers saved from churning over the plan", "integer"),
    "blended_cac": ("acquisition spend ÷ new customers", "currency"),
    "cost_per_retained": ("retention spend ÷ retained customers", "currency"),
    "unspent_budget": ("budget left unspent (its marginal return is below what it costs)", "currency"),
    "budget_shadow_price": ("value of one more unit of budget", "ratio"),
    "optimality_gap_bound": ("the best plan is worth at most this much more than this one", "currency"),
    "status": ("solver outcome", "text"),
}
_RESULT_SHEETS = ("Plan", "Summary", "Constraints Report", "Run Info")


def sha256(path: str | Path) -> str:
    """SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def guess_format(column: str) -> Format | None:
    """Number format for a result column, from its name (spend → currency, roi → ratio …)."""
    c = column.lower()
    if "roi" in c or c.endswith("multiplier") or c == "seasonality":
        return "ratio"
    if "share" in c or c.endswith("_rate") or c.endswith("_pct") or "relative" in c:
        return "percent"
    if "customers" in c or c in ("contacts", "count"):
        return "integer"
    if any(w in c for w in ("spend", "value", "budget", "cac", "cost", "margin", "profit", "npv")):
        return "currency"
    return None


def _formats(frame: pd.DataFrame, fixed: dict[str, Format] | None = None) -> dict[str, Format]:
    out: dict[str, Format] = {}
    for col in frame.columns:
        name = str(col)
        if fixed and name in fixed:
            out[name] = fixed[name]
        elif (fmt := guess_format(name)) is not None and pd.api.types.is_numeric_dtype(frame[col]):
            out[name] = fmt
    return out


def _block(frame: pd.DataFrame, title: str | None, fixed: dict[str, Format] | None = None) -> TableBlock:
    return TableBlock(frame.reset_index(drop=True), title, _formats(frame, fixed))


def _group(alloc: pd.DataFrame, by: str, order: list[str]) -> pd.DataFrame:
    if alloc.empty or by not in alloc:
        return pd.DataFrame({by: order, "spend": 0.0, "customers": 0.0, "value": 0.0})
    g = alloc.groupby(by, sort=False)[["spend", "customers", "value"]].sum()
    g = g.reindex([o for o in order if o in g.index] + [o for o in g.index if o not in order])
    g["roi"] = g["value"] / g["spend"].where(g["spend"] > 0)
    return g.reset_index()


def plan_sheet(plan: Plan) -> SheetSpec:
    """The ``Plan`` sheet: one row per (period, segment, channel, program) with spend."""
    alloc = plan.allocation.copy()
    cols = PLAN_COLUMNS + [c for c in alloc.columns if c not in PLAN_COLUMNS]
    alloc = alloc.reindex(columns=cols)
    fixed: dict[str, Format] = {"spend": "currency", "value": "currency", "customers": "number",
                                "roi": "ratio", "marginal_roi": "ratio"}
    # no notes: the header stays on row 1 so the sheet reads back as a table
    return SheetSpec("Plan", [_block(alloc, None, fixed)], currency=_currency(plan))


def _currency(plan: Plan) -> str:
    return plan.scenario.settings.currency


def summary_sheet(plan: Plan) -> SheetSpec:
    """The ``Summary`` sheet: headline figures, then spend and value by channel, segment,
    period, spend by channel per period, and baseline vs plan active customers."""
    s = plan.scenario
    summary = dict(plan.summary)
    summary.setdefault("status", plan.status)
    keys = list(SUMMARY_KEYS) + [k for k in summary if k not in SUMMARY_KEYS]
    head = pd.DataFrame({
        "figure": keys,
        "value": pd.Series([summary.get(k) for k in keys], dtype=object),
        "meaning": [FIGURES.get(k, ("", None))[0] for k in keys],
        "_format": [FIGURES.get(k, ("", guess_format(k) or "number"))[1] for k in keys],
    })
    alloc = plan.allocation
    periods, segments = s.periods_list(), [x.segment for x in s.segments]
    channels = [c.channel for c in s.channels]
    by_channel = plan.by_channel if not plan.by_channel.empty else _group(alloc, "channel", channels)
    by_segment = plan.by_segment if not plan.by_segment.empty else _group(alloc, "segment", segments)
    by_period = plan.by_period if not plan.by_period.empty else _group(alloc, "period", periods)
    blocks = [TableBlock(head, "Headline figures")]
    charts: list[ChartSpec] = []
    blocks.append(_block(by_channel, "By channel"))
    blocks.append(_block(by_segment, "By segment"))
    if "segment" in by_segment and "value" in by_segment:
        charts.append(ChartSpec("bar", "Value by segment", len(blocks) - 1, "segment", ["value"],
                                y_title=f"value ({_currency(plan)})"))
    blocks.append(_block(by_period, "By period"))
    pivot = _spend_pivot(alloc, periods, channels)
    blocks.append(TableBlock(pivot, "Spend by channel per period", {c: "currency" for c in pivot.columns[1:]}))
    if len(pivot.columns) > 1:
        charts.insert(0, ChartSpec("stacked_bar", "Spend by channel per period", len(blocks) - 1, "period",
                                   [str(c) for c in pivot.columns[1:]], y_title=f"spend ({_currency(plan)})"))
    if not plan.active_customers.empty:
        blocks.append(_block(plan.active_customers, "Active customers: baseline vs plan"))
    notes = [f"{s.name}: {plan.status}" + (f" ({plan.message})" if plan.message else "")]
    notes += [f"Warning: {w}" for w in plan.warnings]
    return SheetSpec("Summary", blocks, charts, notes, currency=_currency(plan))


def _spend_pivot(alloc: pd.DataFrame, periods: list[str], channels: list[str]) -> pd.DataFrame:
    if alloc.empty:
        return pd.DataFrame({"period": periods})
    pv = alloc.pivot_table(index="period", columns="channel", values="spend", aggfunc="sum", fill_value=0.0)
    pv = pv.reindex(index=periods, columns=[c for c in channels if c in pv.columns], fill_value=0.0)
    pv.columns = [str(c) for c in pv.columns]
    return pv.rename_axis("period").reset_index()


def constraints_sheet(plan: Plan) -> SheetSpec:
    """The ``Constraints Report`` sheet: every constraint, and what conflicts if infeasible."""
    frame = plan.constraints.reindex(
        columns=CONSTRAINT_COLUMNS + [c for c in plan.constraints.columns if c not in CONSTRAINT_COLUMNS]
    )
    fixed: dict[str, Format] = {"limit": "number", "actual": "number", "slack": "number", "shadow_price": "number"}
    blocks = [_block(frame, None, fixed)]
    if plan.conflicts:
        rows = [{"name": c.name, "metric": c.metric, "sense": c.sense, "limit": c.limit,
                 "change": c.change, "message": c.message} for c in plan.conflicts]
        blocks.append(_block(pd.DataFrame(rows), "Conflicts: no plan meets every constraint; "
                             "each row says how far its limit must move", {"limit": "number", "change": "number"}))
    return SheetSpec("Constraints Report", blocks, currency=_currency(plan))


def run_info_sheet(plan: Plan, source: str | Path | None = None) -> SheetSpec:
    """The ``Run Info`` sheet: tool version, time, input file and its SHA-256, solver, status."""
    from planner._version import __version__

    info: dict[str, Any] = {
        "tool": "planner",
        "version": __version__,
        "run_time": dt.datetime.now().replace(microsecond=0),
        "input_file": str(source) if source is not None else plan.run_info.get("input_file", ""),
        "input_sha256": sha256(source) if source is not None and Path(source).is_file()
        else plan.run_info.get("input_sha256", ""),
        "scenario": plan.scenario.name,
        "status": plan.status,
    }
    for k, v in plan.run_info.items():
        if k not in info or info[k] in ("", None):
            info[k] = v if isinstance(v, int | float | str | bool | dt.datetime) or v is None else str(v)
    frame = pd.DataFrame({"item": list(info), "value": pd.Series(list(info.values()), dtype=object)})
    frame["_format"] = ["datetime" if isinstance(v, dt.datetime) else "number" for v in info.values()]
    return SheetSpec("Run Info", [TableBlock(frame)], currency=_currency(plan))


def plan_sheets(plan: Plan, source: str | Path | None = None) -> list[SheetSpec]:
    """Every result sheet of a plan, in the order they are written.

    Parameters
    ----------
    plan : Plan
        The optimiser's result (any status).
    source : str or Path, optional
        The input workbook; its path and SHA-256 go on the Run Info sheet.
    """
    return [plan_sheet(plan), summary_sheet(plan), constraints_sheet(plan), run_info_sheet(plan, source)]
