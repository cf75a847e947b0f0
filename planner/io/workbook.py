"""Scenario workbooks: read one into a :class:`~planner.scenario.models.Scenario`, write plans back.

Reading collects *every* problem of the workbook into one
:class:`~planner.errors.ScenarioError`, each located by sheet, Excel row, column name and
cell (``Segments!E3 retention_rate: 1.2 is not in [0, 1)``).  Writing never modifies the
input workbook unless asked to, and writes nothing when it fails.  Excel itself is handled
by :mod:`planner.io.excel`; this module knows the scenario's sheets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError

from planner.core.plan import Plan
from planner.core.sheet_spec import SheetSpec, TableBlock
from planner.errors import Issue, OutputError, ScenarioError
from planner.io import excel
from planner.io.cells import CellProblem, convert, describe_error, field_kind, is_blank
from planner.io.report_sheets import plan_sheets
from planner.io.template import NAMES, template_sheets
from planner.scenario.models import (
    SHEETS,
    Channel,
    ConstraintRow,
    Curve,
    CurvePoint,
    Override,
    Period,
    Row,
    Scenario,
    SeasonalityRow,
    Segment,
    Settings,
)
from planner.scenario.ranges import RANGES

RANGE_COLUMNS = frozenset(c for _, _, lo, hi in RANGES for c in (lo, hi))

#: Scenario field → row model of its sheet.
ROW_MODELS: dict[str, type[Row]] = {
    "periods": Period,
    "segments": Segment,
    "channels": Channel,
    "curves": Curve,
    "curve_points": CurvePoint,
    "seasonality": SeasonalityRow,
    "constraints": ConstraintRow,
    "scenarios": Override,
}
REQUIRED_SHEETS = ("settings", "segments", "channels", "curves")
_NAME_FIELD = {"periods": "period", "segments": "segment", "channels": "channel"}
_ORDER = list(SHEETS.values())


@dataclasses.dataclass
class _Sheet:
    """One input sheet as read: header positions and its non-blank rows."""

    title: str
    columns: dict[str, int]
    rows: list[tuple[int, dict[str, Any]]]  # (excel row, {column: raw value})

    def cell(self, column: str | None, row: int | None) -> str | None:
        if column is None or row is None or column not in self.columns:
            return None
        return f"{excel.column_letter(self.columns[column])}{row}"


def _header(grid: excel.Grid, issues: list[Issue]) -> dict[str, int]:
    columns: dict[str, int] = {}
    first = grid.rows[0] if grid.rows else []
    for j, raw in enumerate(first):
        name = excel.normalize_header(raw)
        if not name:
            continue
        if name in columns:
            issues.append(Issue(grid.title, 1, name, raw, f"appears twice as a column header "
                                f"(columns {excel.column_letter(columns[name])} and "
                                f"{excel.column_letter(j)})", f"{excel.column_letter(j)}1"))
            continue
        columns[name] = j
    return columns


def _sheet(grid: excel.Grid, wanted: Sequence[str], issues: list[Issue]) -> _Sheet:
    columns = _header(grid, issues)
    rows: list[tuple[int, dict[str, Any]]] = []
    for i, values in enumerate(grid.rows[1:], start=2):
        row = {c: values[j] for c, j in columns.items() if c in wanted and j < len(values)}
        if all(is_blank(v) for v in row.values()):
            continue
        rows.append((i, row))
    return _Sheet(grid.title, columns, rows)


def _validate(model: type[BaseModel], raw: dict[str, Any], sheet: _Sheet, row: int | None,
              issues: list[Issue], skip_missing: set[str], cells: dict[str, tuple[int | None, str | None]] | None = None) -> Any:
    """Validate one row (or the settings); append located issues; return the model or None."""
    data: dict[str, Any] = {}
    bad = False
    skip_missing = set(skip_missing)
    for name, value in raw.items():
        if is_blank(value):
            continue
        where_row, where_cell = cells[name] if cells is not None else (row, sheet.cell(name, row))
        try:
            data[name] = convert(value, field_kind(model, name))
        except CellProblem as exc:
            issues.append(Issue(sheet.title, where_row, name, _shown(value), str(exc), where_cell))
            skip_missing.add(name)
            bad = True
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        seen: set[str] = set()
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            if name in seen or (err["type"] == "missing" and name in skip_missing):
                continue
            seen.add(name)
            if cells is not None:
                where_row, where_cell = cells.get(name, (None, None))
            else:
                where_row, where_cell = row, sheet.cell(name, row)
            value = _shown(raw.get(name)) if err["type"] != "missing" else None
            expected = describe_error(err, model, name) if name in model.model_fields else str(err["msg"])
            if err["type"] == "missing" and cells is not None:
                expected = ("is required: type its value" if name in cells
                            else f"is required: add a row with setting {name} and its value")
            issues.append(Issue(sheet.title, where_row, name or None, value, expected, where_cell))
        return None
    return None if bad else obj


def _shown(value: Any) -> Any:
    return str(value) if isinstance(value, excel.FormulaWithoutValue) else value


def _read_settings(grid: excel.Grid, issues: list[Issue]) -> tuple[Settings | None, _Sheet, dict[str, tuple[int | None, str | None]]]:
    sheet = _sheet(grid, ("setting", "value"), issues)
    cells: dict[str, tuple[int | None, str | None]] = {}
    missing = [col for col in ("setting", "value") if col not in sheet.columns]
    for col in missing:
        issues.append(Issue(sheet.title, None, col, None, f"column is missing: put '{col}' in row 1"))
    if missing:
        return None, sheet, cells
    raw: dict[str, Any] = {}
    for r, row in sheet.rows:
        name = excel.normalize_header(row.get("setting"))
        where = sheet.cell("value", r)
        if not name:
            issues.append(Issue(sheet.title, r, "setting", None, "is blank but the row has a value",
                                sheet.cell("setting", r)))
            continue
        if name not in Settings.model_fields:
            issues.append(Issue(sheet.title, r, "setting", row.get("setting"),
                                f"is not a known setting (expected one of {', '.join(Settings.model_fields)})",
                                sheet.cell("setting", r)))
            continue
        if name in raw:
            issues.append(Issue(sheet.title, r, name, row.get("setting"),
                                f"is set twice (first on row {cells[name][0]})", sheet.cell("setting", r)))
            continue
        raw[name] = row.get("value")
        cells[name] = (r, where)
    settings = _validate(Settings, raw, sheet, None, issues, set(), cells=cells)
    return settings, sheet, cells


def _stub(field: str, raw: dict[str, Any]) -> Row | None:
    """A name-only stand-in for a row that failed, so cross-checks do not cascade."""
    key = _NAME_FIELD.get(field)
    name = raw.get(key) if key else None
    if key is None or is_blank(name):
        return None
    return ROW_MODELS[field].model_construct(**{key: str(convert(name, "text"))})


def read_scenario(path: str | Path) -> Scenario:
    """Read a scenario workbook.

    Parameters
    ----------
    path : str or Path
        The ``.xlsx`` scenario workbook (DESIGN §3).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Listing every problem of the workbook, each with sheet, row, column, cell, the
        value found and what is expected.
    WorkbookError
        The file is missing, not a workbook, or refused as unsafe.

    Examples
    --------
    >>> s = read_scenario("scenarios/email_upgrade.xlsx")
    >>> s.settings.total_budget, s.settings.currency
    (100000.0, 'ZAR')
    """
    p = Path(path)
    grids = excel.read_grids(p)
    issues: list[Issue] = []
    structural = False
    for key in REQUIRED_SHEETS:
        if excel.normalize_sheet(SHEETS[key]) not in grids:
            issues.append(Issue(SHEETS[key], None, None, None, f"sheet is missing: add a sheet named {SHEETS[key]}"))
            structural = True
    settings: Settings | None = None
    sheets: dict[str, _Sheet] = {}
    setting_cells: dict[str, tuple[int | None, str | None]] = {}
    if (g := grids.get("settings")) is not None:
        n_before = len(issues)
        settings, sheets["settings"], setting_cells = _read_settings(g, issues)
        structural |= any(i.row is None and i.column in ("setting", "value") for i in issues[n_before:])
    data: dict[str, Any] = {}
    failed: dict[str, list[dict[str, Any]]] = {}
    for field, model in ROW_MODELS.items():
        grid = grids.get(excel.normalize_sheet(SHEETS[field]))
        if grid is None:
            continue
        fields = list(model.model_fields)
        sheet = _sheet(grid, fields, issues)
        sheets[field] = sheet
        required = [f for f, info in model.model_fields.items() if info.is_required()]
        missing = {f for f in required if f not in sheet.columns}
        for col in sorted(missing, key=fields.index):
            issues.append(Issue(sheet.title, None, col, None, f"column is missing: put '{col}' in row 1"))
        structural |= bool(missing)
        items: list[Row] = []
        for r, raw in sheet.rows:
            obj = _validate(model, raw, sheet, r, issues, missing)
            if obj is not None:
                items.append(obj.at_row(r))
            else:
                failed.setdefault(field, []).append(raw)
                if (stub := _stub(field, raw)) is not None:
                    items.append(stub.at_row(r))
        if field == "periods" and not items:
            continue  # an empty Periods sheet means the default single period
        data[field] = items
    if structural:
        raise ScenarioError(_sorted(issues))
    if settings is not None and settings.scenario_name is None:
        settings = settings.model_copy(update={"scenario_name": p.stem})
    try:
        scenario = Scenario(settings=settings or Settings.model_construct(total_budget=0.0), **data)
    except ScenarioError as exc:
        issues.extend(_locate(i, sheets, setting_cells) for i in exc.issues if not _cascade(i, failed))
        raise ScenarioError(_sorted(issues)) from None
    if issues or settings is None:
        raise ScenarioError(_sorted(issues))
    return scenario


def _cascade(issue: Issue, failed: dict[str, list[dict[str, Any]]]) -> bool:
    """True for a cross-check issue caused only by a row that already failed."""
    field = next((f for f, t in SHEETS.items() if t == issue.sheet), None)
    if field in failed and issue.row is None and str(issue.expected).startswith("needs at least one"):
        return True
    if issue.sheet == SHEETS["curve_points"] and "curves" in failed and "has no 'points' curve" in issue.expected:
        return True
    return False


def _locate(issue: Issue, sheets: dict[str, _Sheet], setting_cells: dict[str, tuple[int | None, str | None]]) -> Issue:
    """Add the cell reference to a cross-check issue."""
    if issue.cell:
        return issue
    if issue.sheet == SHEETS["settings"] and issue.column in setting_cells:
        row, cell = setting_cells[issue.column]
        return dataclasses.replace(issue, row=row, cell=cell)
    field = next((f for f, t in SHEETS.items() if t == issue.sheet), None)
    sheet = sheets.get(field) if field else None
    if sheet is None:
        return issue
    return dataclasses.replace(issue, sheet=sheet.title, cell=sheet.cell(issue.column, issue.row))


def _sorted(issues: list[Issue]) -> list[Issue]:
    def key(i: Issue) -> tuple[int, int, str]:
        key_ = excel.normalize_sheet(i.sheet)
        order = next((k for k, t in enumerate(_ORDER) if excel.normalize_sheet(t) == key_), len(_ORDER))
        return (order, i.row or 0, i.cell or "")

    return sorted(issues, key=key)


def read_table(path: str | Path, sheet: str) -> pd.DataFrame:
    """Read a data sheet (e.g. ``History``) as a DataFrame.

    Row 1 is the header (lower-cased, trimmed, inner spaces as ``_``); blank rows are
    skipped; the index holds the Excel row numbers (named ``row``).  Values are as Excel
    holds them (numbers, text, dates, booleans; blanks as None).

    Raises
    ------
    ScenarioError
        The sheet is missing, a header appears twice, or a formula has no saved value.
    WorkbookError
        The file is missing, not a workbook, or refused as unsafe.
    """
    grids = excel.read_grids(path)
    grid = grids.get(excel.normalize_sheet(sheet))
    if grid is None:
        raise ScenarioError([Issue(sheet, None, None, None, f"sheet is missing: add a sheet named {sheet}")])
    issues: list[Issue] = []
    columns = _header(grid, issues)
    records, index = [], []
    for r, values in enumerate(grid.rows[1:], start=2):
        rec = {c: (values[j] if j < len(values) else None) for c, j in columns.items()}
        for c, v in rec.items():
            if isinstance(v, excel.FormulaWithoutValue):
                issues.append(Issue(grid.title, r, c, str(v), "is a formula with no saved result: open and "
                                    "save the workbook in Excel or LibreOffice, or type the value",
                                    f"{excel.column_letter(columns[c])}{r}"))
            elif isinstance(v, str) and not v.strip():
                rec[c] = None
        if all(v is None for v in rec.values()):
            continue
        records.append(rec)
        index.append(r)
    if issues:
        raise ScenarioError(issues)
    frame = pd.DataFrame.from_records(records, columns=list(columns), index=pd.Index(index, name="row"))
    return frame


# --------------------------------------------------------------------------- writing

_INPUT_FORMATS: dict[str, str] = {
    "budget": "currency", "min_spend": "currency", "max_spend": "currency",
    "current_spend": "currency", "cost_per_contact": "currency", "margin_per_period": "currency",
    "spend": "currency", "retention_rate": "percent", "referral_rate": "percent",
    "max_change": "percent", "margin_low": "currency", "margin_high": "currency",
    "retention_low": "percent", "retention_high": "percent",
}


def scenario_sheets(scenario: Scenario) -> list[SheetSpec]:
    """Every input sheet of ``scenario`` as :class:`SheetSpec` (header on row 1)."""
    cur = scenario.settings.currency
    row_formats = {"total_budget": "currency", "annual_discount_rate": "percent"}
    settings = [(k, v, row_formats.get(k, "")) for k, v in scenario.settings.model_dump().items() if v is not None]
    frame = pd.DataFrame(settings, columns=["setting", "value", excel.ROW_FORMAT]).astype(object)
    specs = [SheetSpec("Settings", [TableBlock(frame)], currency=cur)]
    for field, model in ROW_MODELS.items():
        items = getattr(scenario, field)
        # the optional P10 / P90 columns (DESIGN §7) are written only when some row has one
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
    excel.write_sheets(scenario_sheets(scenario), path, active="Settings")


def write_sheets(
    specs: Sequence[SheetSpec],
    path: str | Path | None,
    source: str | Path | None = None,
    *,
    results_only: bool = False,
    in_place: bool = False,
) -> list[str]:
    """Write result sheets into a copy of ``source`` (or a fresh workbook).

    Parameters
    ----------
    specs : list of SheetSpec
        Sheets to write; a sheet of ``source`` with the same name (case-insensitive) is
        replaced in its position, the others are added after the existing sheets.
    path : str or Path or None
        Output workbook; None with ``in_place`` means ``source`` itself.
    source : str or Path, optional
        Workbook to copy; every other sheet, formula, format, validation and defined name
        of it is kept.  None: a fresh workbook with only ``specs``.
    results_only : bool
        Ignore ``source`` and write a fresh workbook with only ``specs``.
    in_place : bool
        Allow ``path`` to be ``source`` (the input is otherwise never modified).

    Returns
    -------
    list of str
        Warnings naming what the copy of ``source`` loses (shapes, sparklines ...).

    Raises
    ------
    OutputError
        Output path unusable, or it is the input and ``in_place`` is not set.
    WorkbookError
        ``source`` is missing, not a workbook or refused as unsafe.
    """
    if path is None:
        if not (in_place and source is not None):
            raise OutputError("no output file given (pass a path, or in_place with a source)")
        path = source
    return excel.write_sheets(specs, path, source, results_only=results_only, in_place=in_place)


def write_plan(
    plan: Plan,
    path: str | Path | None,
    source: str | Path | None = None,
    *,
    results_only: bool = False,
    in_place: bool = False,
    extra: Sequence[SheetSpec] | None = None,
) -> list[str]:
    """Write a plan's result sheets (Plan, Summary, Constraints Report, Run Info).

    By default into a copy of ``source`` with its own sheets untouched; see
    :func:`write_sheets` for the parameters.  ``extra`` sheets (e.g. Frontier,
    Comparison) are written after the plan's.

    Returns
    -------
    list of str
        Warnings about content of ``source`` the copy loses.

    Examples
    --------
    >>> import planner, tempfile, pathlib
    >>> s = planner.read_scenario("scenarios/email_upgrade.xlsx")
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "plan.xlsx"
    >>> planner.write_plan(planner.optimize(s), out, source="scenarios/email_upgrade.xlsx")
    []
    """
    specs = plan_sheets(plan, source=source) + list(extra or [])
    return write_sheets(specs, path, source, results_only=results_only, in_place=in_place)


def write_template(path: str | Path) -> None:
    """Write the blank, documented scenario workbook (``planner template``).

    Raises
    ------
    OutputError
        The file cannot be written there.
    """
    excel.write_template(template_sheets(), path, NAMES)
