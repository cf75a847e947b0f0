"""The scenario: pydantic models of every input sheet of DESIGN §3, with cross-checks.

Field names equal the (lower-case) sheet headers, so a pydantic error ``loc`` such as
``('segments', 2, 'retention_rate')`` maps straight to a sheet, row and column.  Any
problem, whether a bad value or a broken reference, is raised as one
:class:`~planner.errors.ScenarioError` listing every issue.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from planner.errors import Issue, ScenarioError
from planner.scenario import checks
from planner.scenario.checks import canonical_names
from planner.scenario.ranges import range_issues
from planner.scenario.sheets import SHEETS, row_of

Program = Literal["acquisition", "retention"]
CurveKind = Literal["linear", "saturation", "hill", "log", "power", "points"]
Objective = Literal["net_value", "value", "target_mroi", "min_spend"]
Metric = Literal[
    "spend",
    "share",
    "new_customers",
    "retained_customers",
    "value",
    "cac",
    "cost_per_retained",
    "roi",
    "contacts_per_customer",
]
Sense = Literal["<=", ">=", "="]

PROGRAMS: tuple[str, ...] = ("acquisition", "retention")
CURVES: tuple[str, ...] = ("linear", "saturation", "hill", "log", "power", "points")
OBJECTIVES: tuple[str, ...] = ("net_value", "value", "target_mroi", "min_spend")
METRICS: tuple[str, ...] = Metric.__args__  # type: ignore[attr-defined]

NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Pos = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
OpenRate = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1)]


class Row(BaseModel):
    """A row of an input sheet; remembers the Excel row it came from (if any)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=False)
    _row: int | None = PrivateAttr(default=None)

    @property
    def source_row(self) -> int | None:
        return self._row

    def at_row(self, row: int | None) -> Row:
        self._row = row
        return self

    def __eq__(self, other: object) -> bool:
        # equal content is equal whatever Excel row it came from
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]


def _lower(v: Any) -> Any:
    return v.strip().lower() if isinstance(v, str) else v


class Settings(BaseModel):
    """Scenario settings (the ``Settings`` sheet)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    scenario_name: str | None = None
    currency: str = "USD"
    periods_per_year: Literal[1, 2, 4, 12] = 4
    annual_discount_rate: NonNeg = 0.10
    clv_horizon_years: Pos | None = None
    total_budget: NonNeg
    objective: Objective = "net_value"
    target_mroi: Pos = 1.0
    spend_full_budget: bool = False
    pwl_tolerance: Annotated[float, Field(gt=0, le=0.1)] = 0.001
    solver: Literal["auto", "highs", "cbc"] = "auto"
    time_limit_s: Pos = 60.0
    risk_draws: Annotated[int, Field(ge=10, le=1_000_000)] = 1000
    risk_seed: Annotated[int, Field(ge=0)] = 0
    risk_correlation: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.0

    _lower_words = field_validator("objective", "solver", mode="before")(_lower)


class Period(Row):
    period: Name
    budget: NonNeg | None = None
    seasonality: NonNeg = 1.0


class Segment(Row):
    segment: Name
    customers: NonNeg = 0.0
    prospects: NonNeg | None = None
    margin_per_period: NonNeg
    retention_rate: Rate
    referral_rate: Rate = 0.0
    min_spend: NonNeg | None = None
    max_spend: NonNeg | None = None
    margin_low: Pos | None = None
    margin_high: Pos | None = None
    retention_low: OpenRate | None = None
    retention_high: OpenRate | None = None


class Channel(Row):
    channel: Name
    min_spend: NonNeg | None = None
    max_spend: NonNeg | None = None
    cost_per_contact: Pos | None = None
    current_spend: NonNeg | None = None
    max_change: NonNeg | None = None


class Curve(Row):
    segment: Name
    channel: Name
    program: Program
    curve: CurveKind
    a: Pos | None = None
    b: Pos | None = None
    shape: Pos | None = None
    max_spend: NonNeg | None = None
    a_low: Pos | None = None
    a_high: Pos | None = None
    b_low: Pos | None = None
    b_high: Pos | None = None

    _lower_words = field_validator("program", "curve", mode="before")(_lower)

    @property
    def cell(self) -> tuple[str, str, str]:
        return (self.segment, self.channel, self.program)


class CurvePoint(Row):
    segment: Name
    channel: Name
    program: Program
    spend: NonNeg
    customers: NonNeg

    _lower_words = field_validator("program", mode="before")(_lower)


class SeasonalityRow(Row):
    channel: Name
    period: Name
    multiplier: NonNeg


class ConstraintRow(Row):
    name: str | None = None
    metric: Metric
    sense: Sense
    value: Annotated[float, Field(allow_inf_nan=False)]
    segment: str | None = None
    channel: str | None = None
    program: str | None = None
    period: str | None = None

    _lower_words = field_validator("metric", mode="before")(_lower)

    @field_validator("sense", mode="before")
    @classmethod
    def _sense(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip().replace("≤", "<=").replace("≥", ">=").replace("==", "=")
            v = {"<": "<=", ">": ">="}.get(v, v)
        return v


class Override(Row):
    scenario: Name
    target: Name
    operation: Literal["set", "scale", "add"]
    value: float | bool | str

    _lower_words = field_validator("operation", mode="before")(_lower)




class Scenario(BaseModel):
    """A complete planning scenario: settings plus every input table.

    Build it in code or read it with :func:`planner.read_scenario`; either way it is
    checked on construction and raises :class:`~planner.errors.ScenarioError` listing
    every problem.

    Examples
    --------
    >>> s = Scenario(
    ...     settings=Settings(total_budget=1000),
    ...     segments=[Segment(segment="All", margin_per_period=10, retention_rate=0.5)],
    ...     channels=[Channel(channel="Email")],
    ...     curves=[Curve(segment="All", channel="Email", program="acquisition",
    ...                   curve="linear", b=20)],
    ... )
    >>> [p.period for p in s.periods]
    ['Plan']
    """

    model_config = ConfigDict(extra="forbid")

    settings: Settings
    periods: list[Period] = Field(default_factory=lambda: [Period(period="Plan")])
    segments: list[Segment]
    channels: list[Channel]
    curves: list[Curve]
    curve_points: list[CurvePoint] = Field(default_factory=list)
    seasonality: list[SeasonalityRow] = Field(default_factory=list)
    constraints: list[ConstraintRow] = Field(default_factory=list)
    scenarios: list[Override] = Field(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _as_scenario_error(cls, data: Any, handler: Any) -> Scenario:
        try:
            scenario = handler(data)
        except ValidationError as exc:
            raise ScenarioError(issues_from_validation(exc, data)) from None
        canonical_names(scenario)
        problems = cross_check(scenario)
        if problems:
            raise ScenarioError(problems)
        return scenario

    @property
    def name(self) -> str:
        return self.settings.scenario_name or "Scenario"

    def periods_list(self) -> list[str]:
        return [p.period for p in self.periods]

    def with_settings(self, **changes: Any) -> Scenario:
        """A copy with some settings changed (checked like the Settings sheet).

        Examples
        --------
        >>> s = Scenario(settings=Settings(total_budget=1000), segments=[Segment(segment="All",
        ...     margin_per_period=10, retention_rate=0.5)],
        ...     channels=[Channel(channel="Email")], curves=[Curve(segment="All", channel="Email",
        ...     program="acquisition", curve="linear", b=20)])
        >>> s.with_settings(total_budget=2500).settings.total_budget
        2500.0
        """
        try:
            settings = Settings.model_validate({**self.settings.model_dump(), **changes})
        except ValidationError as exc:
            raise ScenarioError(issues_from_validation(exc)) from None
        return self.model_copy(update={"settings": settings})


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
