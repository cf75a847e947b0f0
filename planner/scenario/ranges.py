"""The optional P10 / P90 columns of docs/design.md §7 and their checks.

A range says how sure an input is: ``*_low`` is its P10 and ``*_high`` its P90 (blank both
for a certain input).  :mod:`planner.analysis.risk` draws inputs from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from planner.errors import Issue
from planner.scenario.sheets import SHEETS, row_of

if TYPE_CHECKING:
    from planner.scenario.models import Scenario

#: the optional P10 / P90 columns of docs/design.md §7: (sheet field, input column, low, high)
RANGES: tuple[tuple[str, str, str, str], ...] = (
    ("curves", "a", "a_low", "a_high"), ("curves", "b", "b_low", "b_high"),
    ("segments", "margin_per_period", "margin_low", "margin_high"),
    ("segments", "retention_rate", "retention_low", "retention_high"),
)

#: input column → its (low, high) columns
RANGE_OF: dict[str, tuple[str, str]] = {col: (lo, hi) for _, col, lo, hi in RANGES}


def moved_range(item: object, field: str, current: float | None, new: object) -> dict[str, float]:
    """The P10 / P90 of ``field`` moved with its value (a what-if that scales ``b`` scales
    its range too): scaled by ``new / current``, shifted by ``new − current`` for a rate.
    Empty when the field has no range on this row."""
    cols = RANGE_OF.get(field)
    lo, hi = (None, None) if cols is None else (getattr(item, cols[0], None), getattr(item, cols[1], None))
    if cols is None or lo is None or hi is None or not isinstance(current, int | float) \
            or not isinstance(new, int | float) or isinstance(new, bool) or current <= 0:
        return {}
    if field == "retention_rate":
        return {cols[0]: lo + (new - current), cols[1]: hi + (new - current)}
    return {cols[0]: lo * new / current, cols[1]: hi * new / current}


def range_issues(s: Scenario) -> list[Issue]:
    """Problems of the P10 / P90 columns: given in pairs, on an input that is set, and
    ``low <= value <= high``."""
    issues: list[Issue] = []
    for field, col, lo_col, hi_col in RANGES:
        sheet = SHEETS[field]
        for i, it in enumerate(getattr(s, field)):
            lo, hi, v = (getattr(it, c, None) for c in (lo_col, hi_col, col))  # stubs lack fields
            if lo is None and hi is None:
                continue
            row = row_of(it, i)
            if lo is None or hi is None:
                have, miss = (lo_col, hi_col) if hi is None else (hi_col, lo_col)
                issues.append(Issue(sheet, row, miss, None, f"is required when {have} is given "
                                    f"(the P10 and P90 of {col} go together; blank both for a certain {col})"))
            elif v is None:
                issues.append(Issue(sheet, row, lo_col, lo, f"needs a value in column {col}: "
                                    f"the range {lo_col} .. {hi_col} describes how sure that value is"))
            elif not lo <= v <= hi:
                bad, expected = ((lo_col, f"is above {col} ({v:g}): expected {lo_col} <= {col} <= {hi_col}")
                                 if lo > v else (hi_col, f"is below {col} ({v:g}): expected {lo_col} <= {col} <= {hi_col}"))
                issues.append(Issue(sheet, row, bad, getattr(it, bad), expected))
    return issues
