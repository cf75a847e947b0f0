"""What every solver back end returns: a :class:`Solution` with a :class:`Status`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from planner.core.types import Float


class Status(StrEnum):
    """Outcome of a solve.  A ``StrEnum``: its value is the word a plan reports."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"        # stopped by the time limit with a checked feasible answer
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "time_limit"    # stopped by the time limit with nothing usable
    ERROR = "error"

    @property
    def has_plan(self) -> bool:
        """True for the outcomes that come with a usable answer."""
        return self in (Status.OPTIMAL, Status.FEASIBLE)


@dataclass
class Solution:
    """What a solver returned; ``x`` and ``row_dual`` are None when it found nothing.

    ``row_dual[i]`` is the change of the minimised objective per unit increase of row i's
    bound, for every back end.
    """

    status: Status
    solver: str
    seconds: float
    x: Float | None = None
    row_dual: Float | None = None
    objective: float | None = None   # min-form c·x
    mip_gap: float | None = None     # relative, for MIPs
    mip_bound: float | None = None   # min-form dual bound, for MIPs
    message: str = ""
    #: the budget's price is unbounded (budget 0 where a curve's first slope is infinite):
    #: ``row_dual[0]`` holds a finite stand-in for the certificate, not a figure to report
    unbounded_budget_price: bool = False
