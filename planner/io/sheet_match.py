"""Which sheet is which: missing sheets with a likely renamed one, and shadowing duplicates.

Sheet names are matched ignoring case, spaces and ``_`` (:func:`grids.normalize_sheet`),
so ``_Settings`` and ``Settings`` are the same sheet to planner.  Two such sheets in one
workbook are an error naming both (a very hidden ``_Settings`` must never silently
override the visible one); a missing sheet's message names the sheet a person most likely
meant (``Response Curves`` for ``Curves``).
"""

from __future__ import annotations

import difflib

from planner.errors import Issue
from planner.io import grids as xl

_STATES = {"hidden": "hidden", "veryHidden": "very hidden"}


def describe(title: str, state: str) -> str:
    """``'_Settings' (very hidden)`` or ``'Settings'``."""
    extra = _STATES.get(state)
    return f"'{title}'" + (f" ({extra})" if extra else "")


def shadow_issues(book: xl.Book) -> list[Issue]:
    """One issue per input sheet that more than one sheet of the workbook matches."""
    out = []
    for key, others in book.shadowed.items():
        grid = book.grids[key]
        names = [describe(grid.title, grid.state)] + [describe(t, s) for t, s in others]
        out.append(Issue(grid.title, None, None, None,
                         f"{len(names)} sheets are read as this sheet: {', '.join(names)} (names are matched "
                         "ignoring case, spaces and '_'); delete or rename all but one"))
    return out


def likely_sheet(name: str, book: xl.Book, taken: set[str]) -> str | None:
    """The title of the sheet that most likely is ``name`` renamed, if any."""
    key = xl.normalize_sheet(name)
    free = [(t, xl.normalize_sheet(t)) for t, _ in book.sheets if xl.normalize_sheet(t) not in taken]
    contains = [t for t, k in free if key in k or (len(k) >= 4 and k in key)]
    if contains:
        return min(contains, key=len)
    close = difflib.get_close_matches(key, [k for _, k in free], n=1, cutoff=0.75)
    return next((t for t, k in free if close and k == close[0]), None)


def missing_sheet(name: str, book: xl.Book, taken: set[str]) -> Issue:
    """The issue for a required sheet that is not there, naming the likely renamed one."""
    guess = likely_sheet(name, book, taken)
    hint = f"; is '{guess}' that sheet? rename it to {name}" if guess else ""
    return Issue(name, None, None, None, f"sheet is missing: add a sheet named {name}{hint}")
