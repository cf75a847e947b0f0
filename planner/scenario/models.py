"""The scenario: pydantic models of every input sheet of docs/design.md §3, with cross-checks.

Field names equal the (lower-case) sheet headers, so a pydantic error ``loc`` such as
``('segments', 2, 'retention_rate')`` maps straight to a sheet, row and column.  Any
problem, whether a bad value or a broken reference, is raised as one
:class:`~planner.errors.ScenarioError` listing every issue.
"""

from __future__ import annotations

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

from planner.errors import ScenarioError
from planner.scenario.checks import canonical_names
from planner.scenario.validation import cross_check, issues_from_validation
from planner.scenario.vocabulary import (
    CurveKind,
    Metric,
    Name,
    NonNeg,
    Objective,
    OpenRate,
    Pos,
    Program,
    Rate,
    Sense,
)


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
