"""The plan: what the optimiser chose, evaluated on the real response curves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from planner.core.figures import HEADLINE_KEYS
from planner.scenario.models import Scenario

PLAN_COLUMNS = ["period", "segment", "channel", "program", "spend", "customers", "value", "roi", "marginal_roi"]
#: Keys every plan's summary has: the headline figures of the catalogue
#: (:mod:`planner.core.figures`, which names and formats them).
SUMMARY_KEYS = HEADLINE_KEYS
CONSTRAINT_COLUMNS = ["name", "metric", "sense", "limit", "actual", "slack", "binding", "shadow_price"]

#: Plan statuses. ``optimal``: the certified gap is within 0.01 % of the objective;
#: ``feasible``: a checked feasible plan whose gap the method could not certify that far;
#: ``time_limit``: the time limit stopped the run, with the best plan found (its certified
#: gap and a warning) or with none; ``infeasible``: no plan meets every constraint (see
#: ``conflicts``); ``error``: the solver failed.
STATUSES = ("optimal", "feasible", "infeasible", "time_limit", "error")


def usable(status: str, has_figures: bool) -> bool:
    """True for a plan that can be used: optimal, feasible, or stopped by the time limit
    with a plan (``has_figures``: the run found one)."""
    return status in ("optimal", "feasible") or (status == "time_limit" and has_figures)


@dataclass
class Conflict:
    """One constraint (group) that must move for an infeasible scenario to become feasible."""

    name: str
    metric: str
    sense: str
    limit: float
    change: float  # signed amount the limit must move by
    message: str


@dataclass
class Plan:
    """Result of :func:`planner.optimize`.

    Attributes
    ----------
    allocation : DataFrame
        One row per (period, segment, channel, program) with spend > 0; columns
        ``PLAN_COLUMNS``.  Customers and value come from the real curves.
    summary : dict
        Headline figures; keys include ``SUMMARY_KEYS``.
    constraints : DataFrame
        Every constraint with limit, actual (real curves), slack, binding, shadow price.
    status : str
        One of ``STATUSES``; infeasible and time-limited solves are a status, not an error.
    """

    scenario: Scenario
    status: str
    message: str = ""
    allocation: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PLAN_COLUMNS))
    summary: dict[str, Any] = field(default_factory=dict)
    by_channel: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_segment: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_period: pd.DataFrame = field(default_factory=pd.DataFrame)
    active_customers: pd.DataFrame = field(default_factory=pd.DataFrame)
    constraints: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CONSTRAINT_COLUMNS))
    conflicts: list[Conflict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    run_info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the plan can be used (optimal, feasible, or the best plan found
        within the time limit)."""
        return usable(self.status, "objective_value" in self.summary)
