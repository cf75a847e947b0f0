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

#: Plan statuses. ``optimal``: solved (MIP within its gap); ``feasible``: a time limit
#: stopped the solver with a checked feasible plan; ``infeasible``: no plan meets every
#: constraint (see ``conflicts``); ``time_limit``: stopped with no feasible plan;
#: ``error``: the solver failed.
STATUSES = ("optimal", "feasible", "infeasible", "time_limit", "error")


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
        """True when the plan can be used (optimal, or feasible within a time limit)."""
        return self.status in ("optimal", "feasible")
