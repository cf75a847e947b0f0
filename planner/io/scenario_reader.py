"""Read a scenario workbook into a :class:`~planner.scenario.models.Scenario`.

Reading collects *every* problem of the workbook into one
:class:`~planner.errors.ScenarioError`, each located by sheet, Excel row, column name and
cell (``Segments!E3 retention_rate: 1.2 is not in [0, 1)``).  Cell values come from
:mod:`planner.io.grids`; this module knows the scenario's sheets.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError

from planner.errors import Issue, ScenarioError
from planner.io import grids as xl
from planner.io import sheet_match
from planner.io.cells import CellProblem, convert, describe_error, field_kind, is_blank
from planner.scenario.models import (
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
from planner.scenario.sheets import SHEETS

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
        return f"{xl.column_letter(self.columns[column])}{row}"


def _header(grid: xl.Grid, issues: list[Issue]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for j, raw in sorted(grid.row(1).items()):
        if isinstance(raw, xl.FormulaWithoutValue | xl.UnreadableValue):
            raw = str(raw)
        name = xl.normalize_header(raw)
        if not name:
            continue
        if name in columns:
            issues.append(Issue(grid.title, 1, name, raw, f"appears twice as a column header "
                                f"(columns {xl.column_letter(columns[name])} and "
                                f"{xl.column_letter(j)})", f"{xl.column_letter(j)}1"))
            continue
        columns[name] = j
    return columns


def _sheet(grid: xl.Grid, wanted: Sequence[str], issues: list[Issue]) -> _Sheet:
    columns = _header(grid, issues)
    rows: list[tuple[int, dict[str, Any]]] = []
    for i in grid.data_rows():
        values = grid.row(i)
        row = {c: values.get(j) for c, j in columns.items() if c in wanted}
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
    return str(value) if isinstance(value, xl.FormulaWithoutValue | xl.UnreadableValue) else value


def _read_settings(grid: xl.Grid, issues: list[Issue]) -> tuple[Settings | None, _Sheet, dict[str, tuple[int | None, str | None]]]:
    sheet = _sheet(grid, ("setting", "value"), issues)
    cells: dict[str, tuple[int | None, str | None]] = {}
    missing = [col for col in ("setting", "value") if col not in sheet.columns]
    for col in missing:
        issues.append(Issue(sheet.title, None, col, None, f"column is missing: put '{col}' in row 1"))
    if missing:
        return None, sheet, cells
    raw: dict[str, Any] = {}
    for r, row in sheet.rows:
        name = xl.normalize_header(row.get("setting"))
        where = sheet.cell("value", r)
        if not name:
            issues.append(Issue(sheet.title, r, "setting", None, "is blank but the row has a value",
                                sheet.cell("setting", r)))
            continue
        if name not in Settings.model_fields:
            close = difflib.get_close_matches(name, list(Settings.model_fields), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            issues.append(Issue(sheet.title, r, "setting", row.get("setting"),
                                f"is not a known setting{hint} (expected one of {', '.join(Settings.model_fields)})",
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


def _missing_column(col: str, sheet: _Sheet, fields: list[str]) -> str:
    """The message for a missing column, naming the unknown header most like it."""
    spare = [c for c in sheet.columns if c not in fields]
    close = difflib.get_close_matches(col, spare, n=1, cutoff=0.6)
    hint = ""
    if close:
        hint = f" (is column {xl.column_letter(sheet.columns[close[0]])} '{close[0]}' meant? rename its header)"
    return f"column is missing: put '{col}' in row 1{hint}"


def _stub(field: str, raw: dict[str, Any]) -> Row | None:
    """A name-only stand-in for a row that failed, so cross-checks do not cascade."""
    key = _NAME_FIELD.get(field)
    name = raw.get(key) if key else None
    if key is None or is_blank(name):
        return None
    try:
        text = convert(name, "text")
    except CellProblem:  # already reported on its cell
        return None
    return ROW_MODELS[field].model_construct(**{key: str(text).strip()})


def read_scenario(path: str | Path) -> Scenario:
    """Read a scenario workbook.

    Parameters
    ----------
    path : str or Path
        The ``.xlsx`` scenario workbook (docs/design.md §3).

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
    book = xl.read_book(p, SHEETS.values())
    grids = book.grids
    issues: list[Issue] = sheet_match.shadow_issues(book)
    structural = bool(issues)
    taken = {xl.normalize_sheet(t) for t in SHEETS.values()}
    for key in REQUIRED_SHEETS:
        if xl.normalize_sheet(SHEETS[key]) not in grids:
            issues.append(sheet_match.missing_sheet(SHEETS[key], book, taken))
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
        grid = grids.get(xl.normalize_sheet(SHEETS[field]))
        if grid is None:
            continue
        fields = list(model.model_fields)
        sheet = _sheet(grid, fields, issues)
        sheets[field] = sheet
        required = [f for f, info in model.model_fields.items() if info.is_required()]
        missing = {f for f in required if f not in sheet.columns}
        for col in sorted(missing, key=fields.index):
            issues.append(Issue(sheet.title, None, col, None, _missing_column(col, sheet, fields)))
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
    rank = {xl.normalize_sheet(t): k for k, t in enumerate(_ORDER)}

    def key(i: Issue) -> tuple[int, int, str]:
        return (rank.get(xl.normalize_sheet(i.sheet), len(_ORDER)), i.row or 0, i.cell or "")

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
    book = xl.read_book(path, [sheet])
    grid = book.grids.get(xl.normalize_sheet(sheet))
    if grid is None:
        raise ScenarioError([sheet_match.missing_sheet(sheet, book, set())])
    issues: list[Issue] = sheet_match.shadow_issues(book)
    columns = _header(grid, issues)
    records, index = [], []
    for r in grid.data_rows():
        values = grid.row(r)
        rec = {c: values.get(j) for c, j in columns.items()}
        for c, v in rec.items():
            if isinstance(v, xl.FormulaWithoutValue | xl.UnreadableValue):
                try:
                    convert(v, "any")
                except CellProblem as exc:
                    issues.append(Issue(grid.title, r, c, str(v), str(exc), f"{xl.column_letter(columns[c])}{r}"))
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


