"""Domain errors.

The library raises only these for problems a planner can fix; anything else is a bug and
keeps its traceback. Infeasible or time-limited solves are *not* errors: they come back as
a :class:`planner.core.plan.Plan` with a status.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


class PlannerError(Exception):
    """Base class of every error planner raises on purpose."""


@dataclass(frozen=True)
class Issue:
    """One located problem in a scenario.

    Parameters
    ----------
    sheet : str
        Sheet the problem is on (``Segments``, ``Settings`` ...).
    row : int or None
        Excel row number (header is row 1), or None for sheet-level problems.
    column : str or None
        Column (header) name.
    value : Any
        The offending value as found.
    expected : str
        What would have been accepted, phrased for a planner.
    cell : str or None
        Excel reference such as ``E3`` when known (set by the workbook reader).
    """

    sheet: str
    row: int | None
    column: str | None
    value: Any
    expected: str
    cell: str | None = None

    def location(self) -> str:
        if self.cell:
            return f"{self.sheet}!{self.cell}"
        if self.row is not None:
            return f"{self.sheet} row {self.row}"
        return self.sheet

    def __str__(self) -> str:
        where = self.location()
        what = f" {self.column}" if self.column else ""
        if self.value is None or self.value == "":
            return f"{where}{what}: {self.expected}"
        return f"{where}{what}: {shown(self.value)} {self.expected}"


def shown(value: Any) -> str:
    """A cell value as a planner would recognise it in a message (no Python type names)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        text = value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
        return f"the date {text}"
    if isinstance(value, dt.date | dt.time):
        return f"the {'date' if isinstance(value, dt.date) else 'time'} {value.isoformat()}"
    if isinstance(value, dt.timedelta):
        return f"the duration {value}"
    if isinstance(value, str | int | float):
        return repr(value)
    return repr(str(value))


class ScenarioError(PlannerError):
    """The scenario has one or more problems; ``issues`` lists every one of them."""

    def __init__(self, issues: list[Issue]):
        self.issues = list(issues)
        lines = "\n".join(f"  - {i}" for i in self.issues)
        n = len(self.issues)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in the scenario:\n{lines}")


class WorkbookError(PlannerError):
    """The file cannot be read as a workbook (missing, not xlsx, unsafe, too large)."""


class OutputError(PlannerError):
    """The result cannot be written where asked."""


class SolverError(PlannerError):
    """No solver could be run (not installed, crashed before answering)."""
