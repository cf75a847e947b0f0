"""Write scenarios, plans and result sheets to workbooks.

Writing never modifies the input workbook unless asked to, and writes nothing when it fails.
Excel itself is handled by :mod:`planner.io.excel`; this module knows which sheets a plan or
a scenario becomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from planner.core.plan import Plan
from planner.core.sheet_spec import SheetSpec, TableBlock
from planner.errors import OutputError
from planner.io import excel, template_excel
from planner.io.report_sheets import plan_sheets
from planner.io.scenario_reader import ROW_MODELS
from planner.io.template import NAMES, template_sheets
from planner.scenario.models import (
    Scenario,
)
from planner.scenario.ranges import RANGES
from planner.scenario.sheets import SHEETS

# --------------------------------------------------------------------------- writing

_INPUT_FORMATS: dict[str, str] = {
    "budget": "currency", "min_spend": "currency", "max_spend": "currency",
    "current_spend": "currency", "cost_per_contact": "currency", "margin_per_period": "currency",
    "spend": "currency", "retention_rate": "percent", "referral_rate": "percent",
    "max_change": "percent", "margin_low": "currency", "margin_high": "currency",
    "retention_low": "percent", "retention_high": "percent",
}
#: the optional P10 / P90 columns (docs/design.md §7), written only when some row has one
RANGE_COLUMNS = frozenset(c for _, _, lo, hi in RANGES for c in (lo, hi))


def scenario_sheets(scenario: Scenario) -> list[SheetSpec]:
    """Every input sheet of ``scenario`` as :class:`SheetSpec` (header on row 1)."""
    cur = scenario.settings.currency
    row_formats = {"total_budget": "currency", "annual_discount_rate": "percent"}
    settings = [(k, v, row_formats.get(k, "")) for k, v in scenario.settings.model_dump().items() if v is not None]
    frame = pd.DataFrame(settings, columns=["setting", "value", excel.ROW_FORMAT]).astype(object)
    specs = [SheetSpec("Settings", [TableBlock(frame)], currency=cur)]
    for field, model in ROW_MODELS.items():
        items = getattr(scenario, field)
        cols = [c for c in model.model_fields
                if c not in RANGE_COLUMNS or any(getattr(it, c) is not None for it in items)]
        rows = [[getattr(item, c) for c in cols] for item in items]
        frame = pd.DataFrame(rows, columns=cols, dtype=object)
        formats = {c: f for c, f in _INPUT_FORMATS.items() if c in cols}
        specs.append(SheetSpec(SHEETS[field], [TableBlock(frame, formats=formats)], currency=cur))  # type: ignore[arg-type]
    return specs


def write_scenario(scenario: Scenario, path: str | Path) -> None:
    """Write every input sheet of ``scenario`` to a new workbook at ``path``.

    Reading the file back with :func:`read_scenario` gives an equal scenario.

    Raises
    ------
    OutputError
        The file cannot be written there.
    """
    excel.write_sheets(scenario_sheets(scenario), path, active="Settings", mark=False)


def write_sheets(
    specs: Sequence[SheetSpec],
    path: str | Path | None,
    source: str | Path | None = None,
    *,
    results_only: bool = False,
    in_place: bool = False,
    force: bool = False,
    update: bool = False,
) -> list[str]:
    """Write result sheets into a copy of ``source`` (or a fresh workbook).

    The copy keeps every part of ``source`` byte for byte (formulas with their saved
    values, shapes, sparklines, validations, defined names); only the result sheets are
    added or replaced, and the file is replaced atomically.  Result sheets are marked as
    planner's; a sheet planner did not write is never replaced unless ``force``.

    Parameters
    ----------
    specs : list of SheetSpec
        Sheets to write; a sheet of ``source`` planner wrote with the same name (ignoring
        case, spaces and ``_``) is replaced in its position, the others are added after the
        existing sheets.
    path : str or Path or None
        Output workbook; None with ``in_place`` means ``source`` itself.
    source : str or Path, optional
        Workbook to copy; every other sheet, formula, format, validation and defined name
        of it is kept.  None: a fresh workbook with only ``specs``.
    results_only : bool
        Ignore ``source`` and write a fresh workbook with only ``specs``.
    in_place : bool
        Allow ``path`` to be ``source`` (the input is otherwise never modified).
    force : bool
        Replace a sheet of the same name that planner did not write (and, with
        ``update``, a file at ``path`` that is not a workbook).
    update : bool
        Without ``source``: when ``path`` is an existing workbook, add or replace the
        sheets in it, keeping every other sheet (``fit``, ``value`` and ``uplift``).

    Returns
    -------
    list of str
        Warnings (macros not kept in an ``.xlsx`` copy, a table renamed).

    Raises
    ------
    OutputError
        Output path unusable (folder missing, read-only file, no space), it is the input
        and ``in_place`` is not set, or a sheet planner did not write would be replaced.
    WorkbookError
        ``source`` is missing, not a workbook or refused as unsafe.
    """
    if path is None:
        if not (in_place and source is not None):
            raise OutputError("no output file given (pass a path, or in_place with a source)")
        path = source
    return excel.write_sheets(specs, path, source, results_only=results_only, in_place=in_place,
                              force=force, update=update)


def write_plan(
    plan: Plan,
    path: str | Path | None,
    source: str | Path | None = None,
    *,
    results_only: bool = False,
    in_place: bool = False,
    extra: Sequence[SheetSpec] | None = None,
    force: bool = False,
) -> list[str]:
    """Write a plan's result sheets (Plan, Summary, Constraints Report, Run Info).

    By default into a copy of ``source`` with its own sheets untouched; see
    :func:`write_sheets` for the parameters.  ``extra`` sheets (e.g. Frontier,
    Comparison) are written after the plan's.

    Returns
    -------
    list of str
        Warnings (see :func:`write_sheets`).

    Examples
    --------
    >>> import planner, tempfile, pathlib
    >>> s = planner.read_scenario("scenarios/email_upgrade.xlsx")
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "plan.xlsx"
    >>> planner.write_plan(planner.optimize(s), out, source="scenarios/email_upgrade.xlsx")
    []
    """
    specs = plan_sheets(plan, source=source) + list(extra or [])
    return write_sheets(specs, path, source, results_only=results_only, in_place=in_place, force=force)


def write_template(path: str | Path) -> None:
    """Write the blank, documented scenario workbook (``planner template``).

    Raises
    ------
    OutputError
        The file cannot be written there.
    """
    template_excel.write_template(template_sheets(), path, NAMES)
