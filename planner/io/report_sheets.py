"""A plan as result sheets (docs/design.md §3): Plan, Summary, Constraints Report, Run Info.

Only data here (:class:`~planner.core.sheet_spec.SheetSpec`); :mod:`planner.io.excel` draws them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from planner._version import __version__
from planner.core.figures import FIGURES, HEADLINE_KEYS, figure, format_figure
from planner.core.plan import CONSTRAINT_COLUMNS, PLAN_COLUMNS, Plan
from planner.core.sheet_spec import ChartSpec, Format, SheetSpec, TableBlock

#: Column of a block's frame giving each row's number format (see :mod:`planner.io.excel`).
ROW_FORMAT = "_format"

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
    if "customers" in c or c in ("contacts", "count", "baseline", "plan", "change"):
        return "integer"
    if any(w in c for w in ("spend", "value", "budget", "cac", "cost", "margin", "profit", "npv")):
        return "currency"
    return None


def _formats(frame: pd.DataFrame, fixed: dict[str, Format] | None = None) -> dict[str, Format]:
    out: dict[str, Format] = {}
    for col in frame.columns:
        name = str(col)
        if name == ROW_FORMAT:
            continue
        if fixed and name in fixed:
            out[name] = fixed[name]
        elif name in FIGURES and pd.api.types.is_numeric_dtype(frame[col]):
            out[name] = FIGURES[name].kind
        elif (fmt := guess_format(name)) is not None and pd.api.types.is_numeric_dtype(frame[col]):
            out[name] = fmt
    return out


def _block(frame: pd.DataFrame, title: str | None, fixed: dict[str, Format] | None = None,
           name: str | None = None) -> TableBlock:
    return TableBlock(frame.reset_index(drop=True), title, _formats(frame, fixed), name)


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
    fixed: dict[str, Format] = {"spend": "currency", "value": "currency", "customers": "integer",
                                "roi": "ratio", "marginal_roi": "ratio"}
    # no notes: the header stays on row 1 so the sheet reads back as a table
    return SheetSpec("Plan", [_block(alloc, None, fixed, "Plan")], currency=_currency(plan), layout="table")


def _currency(plan: Plan) -> str:
    return plan.scenario.settings.currency


def _headline_table(keys: list[str], summary: dict[str, Any]) -> pd.DataFrame:
    figures = [figure(k) for k in keys]
    return pd.DataFrame({
        "Figure": [f.label for f in figures],
        "Value": pd.Series([summary.get(k) for k in keys], dtype=object),
        "Meaning": [f.meaning for f in figures],
        "Key": keys,
        "_format": [f.kind if f.kind != "number" else "general" for f in figures],
    })


def brief(plan: Plan) -> str:
    """The plan in two sentences a finance reader understands (the Summary's first lines)."""
    s, cur = plan.summary, _currency(plan)
    if not plan.ok or not s:
        return f"No plan: {plan.status}. {plan.message}".strip()

    def f(key: str) -> str:
        return format_figure(s.get(key), figure(key).kind, cur)

    text = (f"The plan spends {f('total_spend')} of a {f('total_budget')} budget. It wins "
            f"{f('new_customers')} new customers and keeps {f('retained_customers')} from churning, "
            f"worth {f('total_value')} in discounted lifetime value: {f('net_value')} more than it costs "
            f"(ROI {f('roi')}).")
    if s.get("marginal_roi_of_budget") is not None:
        text += f" The next unit of budget would return {f('marginal_roi_of_budget')}."
    return text


def summary_sheet(plan: Plan) -> SheetSpec:
    """The ``Summary`` sheet: a one-page brief (title, two sentences, the headline figures
    as an Excel table ``Headlines``, two charts), then spend and value by channel, segment
    and period, spend by channel per period, active customers and the remaining figures."""
    s = plan.scenario
    cur = _currency(plan)
    what_if = plan.run_info.get("what_if")
    # as in --json: the what-if applied, and the workbook's own name
    summary = dict(plan.summary) | {"scenario": what_if or "Base", "workbook_scenario": s.name}
    summary.setdefault("status", plan.status)
    blocks = [TableBlock(_headline_table(HEADLINE_KEYS, summary), "Headline figures", name="Headlines")]
    alloc = plan.allocation
    periods, segments = s.periods_list(), [x.segment for x in s.segments]
    channels = [c.channel for c in s.channels]
    by_channel = plan.by_channel if not plan.by_channel.empty else _group(alloc, "channel", channels)
    by_segment = plan.by_segment if not plan.by_segment.empty else _group(alloc, "segment", segments)
    by_period = plan.by_period if not plan.by_period.empty else _group(alloc, "period", periods)
    charts: list[ChartSpec] = []
    blocks.append(_block(by_channel, "By channel", name="ByChannel"))
    blocks.append(_block(by_segment, "By segment", name="BySegment"))
    if "segment" in by_segment and "value" in by_segment:
        charts.append(ChartSpec("bar", "Value by segment", len(blocks) - 1, "segment", ["value"],
                                "Segment", f"Value ({cur})", labels={"value": "Value"}, y_format="compact"))
    blocks.append(_block(by_period, "By period", name="ByPeriod"))
    pivot = _spend_pivot(alloc, periods, channels)
    blocks.append(TableBlock(pivot, "Spend by channel per period", {c: "currency" for c in pivot.columns[1:]},
                             "SpendByChannelPeriod"))
    if len(pivot.columns) > 1:
        charts.insert(0, ChartSpec("stacked_bar", "Spend by channel and period", len(blocks) - 1, "channel",
                                   [str(c) for c in pivot.columns[1:]], "Channel", f"Spend ({cur})",
                                   y_format="compact"))
    if not plan.active_customers.empty:
        blocks.append(_block(plan.active_customers, "Active customers: baseline vs plan", name="ActiveCustomers"))
    more = [k for k in summary if k not in HEADLINE_KEYS]
    if more:
        blocks.append(TableBlock(_headline_table(more, summary), "More figures", name="MoreFigures"))
    title = f"{s.name}" + (f", scenario {what_if}" if what_if else "") + f": {plan.status}"
    notes = [title + (f" ({plan.message})" if plan.message and not plan.ok else ""), brief(plan)]
    notes += [f"Warning: {w}" for w in plan.warnings]
    return SheetSpec("Summary", blocks, charts, notes, currency=cur, breaks=[1])


def _spend_pivot(alloc: pd.DataFrame, periods: list[str], channels: list[str]) -> pd.DataFrame:
    """Spend with one row per channel and one column per period (periods are few, channels
    may be many: the table stays as narrow as the others)."""
    if alloc.empty:
        return pd.DataFrame({"channel": channels})
    pv = alloc.pivot_table(index="channel", columns="period", values="spend", aggfunc="sum", fill_value=0.0)
    pv = pv.reindex(index=[c for c in channels if c in pv.index], columns=periods, fill_value=0.0)
    pv.columns = [str(c) for c in pv.columns]
    return pv.rename_axis("channel").reset_index()


def constraints_sheet(plan: Plan) -> SheetSpec:
    """The ``Constraints Report`` sheet: every constraint, and what conflicts if infeasible."""
    frame = plan.constraints.reindex(
        columns=CONSTRAINT_COLUMNS + [c for c in plan.constraints.columns if c not in CONSTRAINT_COLUMNS]
    )
    # limits of one column are in many units (money, customers, shares): each cell is
    # formatted by its own size (the row format), the shadow prices with up to 4 decimals
    frame = frame.assign(**{ROW_FORMAT: "number"})
    fixed: dict[str, Format] = {"shadow_price": "precise"}
    blocks = [_block(frame, None, fixed, "Constraints")]
    notes: list[str] = []
    if plan.conflicts:
        rows = [{"conflict": c.name, "metric": c.metric, "sense": c.sense, "limit": c.limit,
                 "change": c.change, "message": c.message} for c in plan.conflicts]
        blocks.append(_block(pd.DataFrame(rows), None, {"limit": "number", "change": "number"}, "Conflicts"))
        notes.append("Conflicts: no plan meets every constraint; each row of the Conflicts table "
                     "says how far its limit must move on its own.")
    return SheetSpec("Constraints Report", blocks, notes=notes, currency=_currency(plan), layout="table")


def run_info_sheet(plan: Plan, source: str | Path | None = None) -> SheetSpec:
    """The ``Run Info`` sheet: tool version, time, input file and its SHA-256, solver, status."""
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
    frame["_format"] = ["datetime" if isinstance(v, dt.datetime) else "integer" if isinstance(v, int)
                        else "general" for v in info.values()]
    return SheetSpec("Run Info", [TableBlock(frame, name="RunInfo")], currency=_currency(plan), layout="table")


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
