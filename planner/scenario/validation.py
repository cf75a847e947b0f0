"""Checks of a whole scenario: pydantic's errors as located issues, and the cross-sheet
checks (names that refer to other sheets, bounds that contradict, values planner cannot
represent) that run when a :class:`~planner.scenario.models.Scenario` is built."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from planner.errors import Issue
from planner.scenario import checks
from planner.scenario.ranges import range_issues
from planner.scenario.sheets import SHEETS, row_of
from planner.scenario.vocabulary import PROGRAMS

if TYPE_CHECKING:
    from planner.scenario.models import Scenario


def _sheet_row(data: Any, field: str, index: int) -> int:
    items = data.get(field) if isinstance(data, dict) else getattr(data, field, None)
    try:
        item = items[index]
    except (TypeError, IndexError, KeyError):
        return index + 2
    return row_of(item, index)


def issues_from_validation(exc: ValidationError, data: Any = None) -> list[Issue]:
    """Turn a pydantic ``ValidationError`` into located :class:`Issue` objects."""
    issues = []
    for err in exc.errors():
        loc = list(err["loc"])
        sheet_key = str(loc[0]) if loc else "settings"
        sheet = SHEETS.get(sheet_key, sheet_key)
        row: int | None = None
        column: str | None = None
        if sheet_key == "settings":
            column = str(loc[1]) if len(loc) > 1 else None
        elif len(loc) > 1 and isinstance(loc[1], int):
            row = _sheet_row(data, sheet_key, loc[1])
            column = str(loc[2]) if len(loc) > 2 else None
        value = err.get("input")
        if isinstance(value, dict | BaseModel):
            value = None
        issues.append(Issue(sheet, row, column, value, checks.expected(err)))
    return issues


def cross_check(s: Scenario) -> list[Issue]:
    """Every reference, uniqueness and consistency problem of a scenario."""
    issues: list[Issue] = []

    def unique(items: list[Any], key: str, sheet: str) -> set[str]:
        issues.extend(checks.name_issues(items, key, sheet))
        return {getattr(it, key) for it in items}

    periods = unique(s.periods, "period", "Periods")
    segments = unique(s.segments, "segment", "Segments")
    channels = unique(s.channels, "channel", "Channels")
    if not s.segments:
        issues.append(Issue("Segments", None, None, None, "needs at least one segment"))
    if not s.channels:
        issues.append(Issue("Channels", None, None, None, "needs at least one channel"))
    if not s.curves:
        issues.append(Issue("Curves", None, None, None, "needs at least one response curve"))

    for sheet, items in (("Segments", s.segments), ("Channels", s.channels)):
        for i, it in enumerate(items):
            if it.min_spend is not None and it.max_spend is not None and it.min_spend > it.max_spend:
                issues.append(Issue(sheet, row_of(it, i), "min_spend", it.min_spend,
                                    f"is above max_spend ({it.max_spend:g})"))

    cells: dict[tuple[str, str, str], int] = {}
    points_cells = set()
    for i, c in enumerate(s.curves):
        row = row_of(c, i)
        if c.segment not in segments:
            issues.append(Issue("Curves", row, "segment", c.segment,
                                checks.unknown(c.segment, segments, "segment", "Segments")))
        if c.channel not in channels:
            issues.append(Issue("Curves", row, "channel", c.channel,
                                checks.unknown(c.channel, channels, "channel", "Channels")))
        if c.cell in cells:
            issues.append(Issue("Curves", row, "segment", c.segment,
                                f"duplicates the {c.program} curve of {c.channel} on row {cells[c.cell]}"))
        cells[c.cell] = row
        need = {"linear": ("b",), "saturation": ("a", "b"), "hill": ("a", "b", "shape"),
                "log": ("a", "b"), "power": ("a", "b", "shape"), "points": ()}[c.curve]
        for field in need:
            if getattr(c, field) is None:
                issues.append(Issue("Curves", row, field, None,
                                    f"is required for a {c.curve} curve (a number > 0)"))
        if c.curve == "points":
            points_cells.add(c.cell)

    have_points: dict[tuple[str, str, str], int] = {}
    for i, p in enumerate(s.curve_points):
        key = (p.segment, p.channel, p.program)
        if key not in points_cells:
            issues.append(Issue("CurvePoints", row_of(p, i), "segment", p.segment,
                                f"has no 'points' curve for {p.channel} / {p.program} on the Curves sheet"))
        have_points[key] = have_points.get(key, 0) + 1
    for i, c in enumerate(s.curves):
        if c.curve == "points" and not have_points.get(c.cell):
            issues.append(Issue("Curves", row_of(c, i), "curve", "points",
                                "needs at least one row on the CurvePoints sheet"))

    for i, z in enumerate(s.seasonality):
        if z.channel not in channels:
            issues.append(Issue("Seasonality", row_of(z, i), "channel", z.channel,
                                checks.unknown(z.channel, channels, "channel", "Channels")))
        if z.period not in periods:
            issues.append(Issue("Seasonality", row_of(z, i), "period", z.period,
                                checks.unknown(z.period, periods, "period", "Periods")))

    known = {"segment": segments, "channel": channels, "program": set(PROGRAMS), "period": periods}
    for i, k in enumerate(s.constraints):
        for field, names in known.items():
            v = getattr(k, field)
            if v is None or v.strip() == "" or checks.name_key(v) == "each":
                continue
            if v not in names:
                sheet = {"segment": "Segments", "channel": "Channels", "period": "Periods",
                         "program": None}[field]
                issues.append(Issue("Constraints", row_of(k, i), field, v,
                                    checks.unknown(v, names, field, sheet, "blank, 'each' or ")))
        if k.metric in ("share", "cac", "cost_per_retained", "roi", "contacts_per_customer") and k.value < 0:
            issues.append(Issue("Constraints", row_of(k, i), "value", k.value, "must be >= 0 for a ratio metric"))
        if k.metric == "contacts_per_customer" and k.sense != "<=":
            issues.append(Issue("Constraints", row_of(k, i), "sense", k.sense, "must be '<=' for contacts_per_customer"))
    if any(k.metric == "contacts_per_customer" for k in s.constraints):
        for i, ch in enumerate(s.channels):
            if ch.cost_per_contact is None and any(c.channel == ch.channel and c.program == "retention" for c in s.curves):
                issues.append(Issue("Channels", row_of(ch, i), "cost_per_contact", None,
                                    "is required when a contacts_per_customer constraint applies (a number > 0)"))
    issues += range_issues(s)  # the P10 / P90 columns (docs/design.md §7)
    issues.extend(checks.value_issues(s))
    for name, v in (("total_budget", s.settings.total_budget),):
        if not math.isfinite(v):
            issues.append(Issue("Settings", None, name, v, "is not a finite number"))
    issues += _representable(s)  # issue 17: magnitudes the LP cannot hold
    return issues


#: largest margin per customer per period, and smallest positive spend of a curve knot,
#: that the LP represents (the solvers treat objective coefficients near 1e20 as infinite,
#: and above about 1e9 per customer their tolerances break spend limits measurably; their
#: feasibility tolerance is 1e-7 of a currency unit)
MAX_MARGIN, MIN_KNOT_SPEND = 1e9, 1e-6


def _representable(s: Scenario) -> list[Issue]:
    """Values planner cannot represent, with what can be (issue 17: 'silently wrong')."""
    out = []
    for i, seg in enumerate(s.segments):  # rows that failed to read are stubs without fields
        margin = getattr(seg, "margin_per_period", None)
        if isinstance(margin, float | int) and margin > MAX_MARGIN:
            out.append(Issue("Segments", row_of(seg, i), "margin_per_period", margin,
                             f"is larger than planner can represent (at most {MAX_MARGIN:.0e} per customer per "
                             "period); state money in thousands or millions (margins, budgets and curve spend alike)"))
    for i, p in enumerate(s.curve_points):
        spend = getattr(p, "spend", None)
        if isinstance(spend, float | int) and 0 < spend < MIN_KNOT_SPEND:
            out.append(Issue("CurvePoints", row_of(p, i), "spend", spend,
                             f"is a positive spend below {MIN_KNOT_SPEND:g}, too small for planner to represent "
                             f"(a customer for almost nothing); use 0 or at least {MIN_KNOT_SPEND:g}"))
    return out
