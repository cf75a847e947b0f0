"""The blank, documented scenario workbook (``planner template``), described as data.

:func:`template_sheets` lists what goes in the workbook: an ``Instructions`` sheet, then one
sheet per input table of docs/design.md §3 with its headers (the scenario models' field names, in
order), shaded input cells, number formats and dropdowns.  :mod:`planner.io.excel` renders it;
``templates/scenario_template.xlsx`` is that rendering and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.scenario.models import (
    Channel,
    ConstraintRow,
    Curve,
    CurvePoint,
    Override,
    Period,
    Row,
    SeasonalityRow,
    Segment,
    Settings,
)
from planner.scenario.vocabulary import CURVES, METRICS, OBJECTIVES, PROGRAMS

#: Rows of each input sheet that are shaded and carry validations.
INPUT_ROWS = 200


@dataclass(frozen=True)
class Column:
    """A column of a template sheet."""

    name: str
    help: str
    format: str | None = None
    width: int = 16


@dataclass(frozen=True)
class Validation:
    """An Excel data validation (dropdown or number check) on a range."""

    range: str
    type: str
    formula1: str
    formula2: str | None = None
    operator: str | None = None
    prompt: str = ""
    error: str = ""
    error_style: str = "stop"


@dataclass(frozen=True)
class TemplateSheet:
    """One sheet of the template."""

    name: str
    columns: tuple[Column, ...] = ()
    rows: tuple[tuple[object, ...], ...] = ()
    input_columns: tuple[str, ...] = ()
    input_rows: int = 0
    validations: tuple[Validation, ...] = ()
    frozen: bool = True
    title_rows: frozenset[int] = frozenset()
    row_formats: dict[int, str] = field(default_factory=dict)


#: Workbook-level names the dropdowns use (lists on other sheets).
NAMES: dict[str, str] = {
    "segment_names": f"Segments!$A$2:$A${INPUT_ROWS + 1}",
    "channel_names": f"Channels!$A$2:$A${INPUT_ROWS + 1}",
    "period_names": f"Periods!$A$2:$A${INPUT_ROWS + 1}",
}

SETTINGS_HELP: dict[str, tuple[str, str | None, str | None]] = {
    # setting: (help, format, list of choices or decimal check)
    "scenario_name": ("Name shown in reports (default: the file name).", None, None),
    "currency": ("Currency code of every amount, e.g. USD, EUR, ZAR (default USD).", None, None),
    "periods_per_year": ("1, 2, 4 (quarters, default) or 12 (months).", "integer", '"1,2,4,12"'),
    "annual_discount_rate": ("Yearly discount rate for customer value, e.g. 10% (default 10%).", "percent", ">=0"),
    "clv_horizon_years": ("Years of customer value counted (blank: unlimited).", "number", ">0"),
    "total_budget": ("REQUIRED. Money available over all periods.", "currency", ">=0"),
    "objective": ("net_value (default), value, target_mroi or min_spend.", None, '"' + ",".join(OBJECTIVES) + '"'),
    "target_mroi": ("For objective target_mroi: spend while the next unit returns at least this (default 1).", "ratio", ">0"),
    "spend_full_budget": ("TRUE to spend the whole budget even where it returns less than it costs (default FALSE).", None, '"TRUE,FALSE"'),
    "pwl_tolerance": ("Curve approximation tolerance, (0, 0.1] (default 0.001).", None, "(0,0.1]"),
    "solver": ("auto (default), highs or cbc.", None, '"auto,highs,cbc"'),
    "time_limit_s": ("Seconds the solver may take (default 60).", "integer", ">0"),
    "risk_draws": ("planner risk: Monte Carlo draws of the uncertain inputs, at least 10 (default 1000).", "integer", ">0"),
    "risk_seed": ("planner risk: random seed; the same seed gives the same figures (default 0).", "integer", None),
    "risk_correlation": ("planner risk: 0 (default) draws every range independently; up to 1 moves them "
                         "together (one common factor: higher a, margin and retention with lower b).", None, "[0,1]"),
}

COLUMN_HELP: dict[str, str] = {
    "period": "Unique period label, in time order (e.g. Q1).",
    "budget": "Most that may be spent in this period (blank: no cap).",
    "seasonality": "Response multiplier of every channel in this period (default 1).",
    "segment": "Segment name (must exist on the Segments sheet).",
    "customers": "Active customers today.",
    "prospects": "Most customers that can be acquired over the plan (blank: no cap).",
    "margin_per_period": "Margin one active customer brings per period.",
    "retention_rate": "Share of active customers still active next period, in [0, 1).",
    "referral_rate": "Customers each new customer brings by referral, in [0, 1) (default 0).",
    "min_spend": "Least that must be spent over the plan (blank: none).",
    "max_spend": "Most that may be spent over the plan (blank: no cap).",
    "channel": "Channel name (must exist on the Channels sheet).",
    "cost_per_contact": "Cost of one contact; needed for contacts_per_customer constraints.",
    "current_spend": "What the channel gets today, per period.",
    "max_change": "Largest change from current_spend in any period, as a fraction (e.g. 30%).",
    "program": "acquisition or retention.",
    "curve": "linear, saturation, hill, log, power or points.",
    "a": "Scale: customers per period at saturation (linear: the cap).",
    "b": "Spend scale (linear: cost per customer).",
    "shape": "Shape s of hill and power curves.",
    "a_low": "Optional P10 of a (planner risk); with a_high. Blank: a is certain.",
    "a_high": "Optional P90 of a (planner risk); a_low <= a <= a_high.",
    "b_low": "Optional P10 of b (planner risk); with b_high. Blank: b is certain.",
    "b_high": "Optional P90 of b (planner risk); b_low <= b <= b_high.",
    "margin_low": "Optional P10 of margin_per_period (planner risk); with margin_high.",
    "margin_high": "Optional P90 of margin_per_period (planner risk).",
    "retention_low": "Optional P10 of retention_rate (planner risk), in (0, 1); with retention_high.",
    "retention_high": "Optional P90 of retention_rate (planner risk), in (0, 1).",
    "spend": "Spend in one period (a point of the curve).",
    "multiplier": "Response multiplier of this channel in this period.",
    "name": "Your name for the constraint (shown in reports).",
    "metric": "spend, share, new_customers, retained_customers, value, cac, cost_per_retained, roi or contacts_per_customer.",
    "sense": "<=, >= or =.",
    "value": "The limit.",
    "scenario": "Name of the what-if scenario.",
    "target": "total_budget, segment:<name>:<field>, channel:<name>:<field>, curve:<seg>:<ch>:<program>:<field>, period:<name>:<field>; * matches all.",
    "operation": "set, scale or add.",
}

_FORMATS: dict[str, str] = {
    "budget": "currency", "min_spend": "currency", "max_spend": "currency",
    "current_spend": "currency", "cost_per_contact": "currency", "margin_per_period": "currency",
    "spend": "currency", "customers": "integer", "prospects": "integer",
    "retention_rate": "percent", "referral_rate": "percent", "max_change": "percent",
    "seasonality": "ratio", "multiplier": "ratio", "margin_low": "currency", "margin_high": "currency",
    "retention_low": "percent", "retention_high": "percent",
}

_SHEETS: tuple[tuple[str, type[Row]], ...] = (
    ("Periods", Period), ("Segments", Segment), ("Channels", Channel), ("Curves", Curve),
    ("CurvePoints", CurvePoint), ("Seasonality", SeasonalityRow), ("Constraints", ConstraintRow),
    ("Scenarios", Override),
)

INTRO: tuple[str, ...] = (
    "Fill the shaded cells of each sheet, then run `planner validate` and `planner optimize`.",
    "Sheet and column names are case-insensitive; extra sheets and columns are kept and ignored.",
    "A blank cell means the default (or no limit). Amounts are in the Settings currency; "
    "rates are fractions (10% or 0.1).",
    "Required: Settings (total_budget), Segments, Channels, Curves. Optional: Periods "
    "(default one period), CurvePoints, Seasonality, Constraints, Scenarios.",
    "Response curves give customers won (acquisition) or saved (retention) per period from "
    "spend x: linear min(a, x/b); saturation a(1-exp(-x/b)); hill a x^s/(x^s+b^s); "
    "log a ln(1+x/b); power a (x/b)^s; points: straight lines through CurvePoints.",
    "Constraint filters segment/channel/program/period: blank = all, a name = that one, "
    "'each' = one constraint per member.",
)


def _rng(sheet_cols: list[str], name: str) -> str:
    letter = chr(ord("A") + sheet_cols.index(name))  # input sheets have < 26 columns
    return f"{letter}2:{letter}{INPUT_ROWS + 1}"


def _list(rng: str, choices: str, prompt: str, style: str = "stop") -> Validation:
    return Validation(rng, "list", choices, prompt=prompt, error=f"Pick one of: {choices.strip(chr(34))}", error_style=style)


def _checks(cols: list[str]) -> list[Validation]:
    out: list[Validation] = []
    names = {"segment": "segment_names", "channel": "channel_names", "period": "period_names"}
    for c in cols:
        if c in names:
            out.append(Validation(_rng(cols, c), "list", names[c], prompt=COLUMN_HELP[c],
                                  error="Use a name from the sheet it refers to ('each' or blank allowed in Constraints).",
                                  error_style="warning"))
        elif c == "program":
            out.append(_list(_rng(cols, c), '"' + ",".join(PROGRAMS) + '"', COLUMN_HELP[c]))
        elif c == "curve":
            out.append(_list(_rng(cols, c), '"' + ",".join(CURVES) + '"', COLUMN_HELP[c]))
        elif c == "metric":
            out.append(_list(_rng(cols, c), '"' + ",".join(METRICS) + '"', "Pick a metric."))
        elif c == "sense":
            out.append(_list(_rng(cols, c), '"<=,>=,="', COLUMN_HELP[c]))
        elif c == "operation":
            out.append(_list(_rng(cols, c), '"set,scale,add"', COLUMN_HELP[c]))
        elif c in ("retention_rate", "referral_rate", "retention_low", "retention_high"):
            out.append(Validation(_rng(cols, c), "decimal", "0", "0.999999", "between",
                                  error="A rate in [0, 1): 0.8 or 80%."))
        elif _FORMATS.get(c) in ("currency", "integer") or c in ("seasonality", "multiplier", "max_change"):
            out.append(Validation(_rng(cols, c), "decimal", "0", operator="greaterThanOrEqual",
                                  error="A number >= 0."))
    return out


def _settings_sheet() -> TemplateSheet:
    rows: list[tuple[object, ...]] = []
    checks: list[Validation] = []
    formats: dict[int, str] = {}
    for i, name in enumerate(Settings.model_fields):
        help_text, fmt, check = SETTINGS_HELP[name]
        r = i + 2
        rows.append((name, None, help_text))
        if fmt:
            formats[r] = fmt
        if check and check.startswith('"'):
            checks.append(_list(f"B{r}", check, help_text))
        elif check == "[0,1]":
            checks.append(Validation(f"B{r}", "decimal", "0", "1", "between", error="A number in [0, 1]."))
        elif check == "(0,0.1]":
            checks.append(Validation(f"B{r}", "decimal", "0.000001", "0.1", "between", error="A number in (0, 0.1]."))
        elif check:
            op = {">=0": "greaterThanOrEqual", ">0": "greaterThan"}[check]
            checks.append(Validation(f"B{r}", "decimal", "0", operator=op, error=f"A number {check[:-1]} 0."))
    cols = (Column("setting", "Setting name (do not change).", width=24),
            Column("value", "Your value (blank: default).", width=18),
            Column("description", "What the setting means.", width=90))
    return TemplateSheet("Settings", cols, tuple(rows), ("value",), len(rows), tuple(checks), row_formats=formats)


def template_sheets() -> list[TemplateSheet]:
    """Every sheet of the blank template, Instructions first."""
    sheets = [_settings_sheet()]
    for name, model in _SHEETS:
        cols = list(model.model_fields)
        columns = tuple(Column(c, COLUMN_HELP[c], _FORMATS.get(c), max(14, len(c) + 4)) for c in cols)
        sheets.append(TemplateSheet(name, columns, (), tuple(cols), INPUT_ROWS, tuple(_checks(cols))))
    lines: list[tuple[object, ...]] = [("planner scenario workbook", None), *((None, t) for t in INTRO), (None, None)]
    titles = {1}
    for sheet in sheets:
        titles.add(len(lines) + 1)
        lines.append((sheet.name, None))
        for col in sheet.columns:
            if sheet.name == "Settings":
                continue
            lines.append((col.name, col.help))
        if sheet.name == "Settings":
            lines.extend((str(r[0]), str(r[2])) for r in sheet.rows)
        lines.append((None, None))
    instructions = TemplateSheet("Instructions", rows=tuple(lines[:-1]), frozen=False, title_rows=frozenset(titles))
    return [instructions, *sheets]
