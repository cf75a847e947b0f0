"""The blank scenario template as a workbook: :mod:`planner.io.template`'s description
rendered with openpyxl (shaded input cells, dropdowns, the Instructions sheet), and read back
for comparison."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import openpyxl.xml
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from planner.io.excel import (
    BOLD,
    HEADER_FILL,
    INPUT_FILL,
    RULE,
    TITLE,
    check_target,
    fit_to_width,
    number_format,
    put,
    save,
)
from planner.io.grids import load_workbook, open_checked


def write_template(sheets: Sequence[Any], path: str | Path, names: dict[str, str] | None = None) -> None:
    """Render the template description of :mod:`planner.io.template` to ``path``.

    Each item has ``name``, ``columns`` (each with ``name``, ``help``, ``format``,
    ``width``), ``rows`` (pre-filled values), ``input_columns`` (shaded),
    ``input_rows`` (how many rows to shade), ``validations`` (each with ``range``,
    ``type``, ``formula1``, ``formula2``, ``operator``, ``prompt``), ``frozen`` and
    ``title_rows`` (bold rows, Instructions sheet only).  ``names`` are workbook-level
    defined names (name → reference) that list validations refer to.
    """
    out = check_target(path, None, False)
    wb = openpyxl.Workbook()
    assert wb.active is not None
    wb.remove(wb.active)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.name)
        _render_template_sheet(ws, sheet)
    for name, ref in (names or {}).items():
        wb.defined_names[name] = DefinedName(name, attr_text=ref)
    save(wb, out)


def _render_template_sheet(ws: Worksheet, sheet: Any) -> None:
    has_header = bool(sheet.columns)
    for j, col in enumerate(sheet.columns, start=1):
        cell = put(ws, 1, j, col.name)
        cell.font, cell.fill, cell.border = BOLD, HEADER_FILL, RULE
        ws.column_dimensions[get_column_letter(j)].width = col.width
    first = 2 if has_header else 1
    for i, values in enumerate(sheet.rows):
        for j, v in enumerate(values, start=1):
            cell = put(ws, first + i, j, v)
            if (first + i) in sheet.title_rows:
                cell.font = TITLE
            cell.alignment = Alignment(wrap_text=not has_header, vertical="top")
            if not has_header and isinstance(v, str) and len(v) > 95:
                ws.row_dimensions[first + i].height = 15 * math.ceil(len(v) / 95)
    if not has_header:
        ws.column_dimensions["A"].width = 28
        ws.column_dimensions["B"].width = 100
    for j, col in enumerate(sheet.columns, start=1):
        fmt = number_format(col.format, "USD") if col.format != "currency" else "#,##0.00"
        shade = col.name in sheet.input_columns
        for r in range(2, 2 + sheet.input_rows):
            cell = ws.cell(row=r, column=j)
            if shade:
                cell.fill = INPUT_FILL
            if fmt:
                cell.number_format = fmt
    for r, fmt in getattr(sheet, "row_formats", {}).items():
        fmt_text = number_format(fmt, "USD") if fmt != "currency" else "#,##0.00"
        if fmt_text:
            ws.cell(row=r, column=2).number_format = fmt_text
    for v in sheet.validations:
        dv = DataValidation(
            type=v.type, formula1=v.formula1, formula2=v.formula2, operator=v.operator,
            allow_blank=True, showErrorMessage=True, errorStyle=v.error_style,
            promptTitle=None, prompt=v.prompt or None, showInputMessage=bool(v.prompt),
            error=v.error or None,
        )
        dv.add(v.range)
        ws.add_data_validation(dv)
    if sheet.frozen and has_header:
        ws.freeze_panes = "A2"
    fit_to_width(ws)


def template_contents(path: str | Path) -> dict[str, Any]:
    """Cell values, data validations and fills of a workbook, for comparing templates."""
    p = open_checked(path)
    wb = load_workbook(p)
    out: dict[str, Any] = {}
    for ws in wb.worksheets:
        values = {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None}
        dvs = sorted(
            (str(dv.sqref), dv.type or "", dv.formula1 or "", dv.formula2 or "", dv.operator or "")
            for dv in ws.data_validations.dataValidation
        )
        fills = sorted(
            c.coordinate for row in ws.iter_rows() for c in row
            if c.fill.fill_type == "solid" and c.fill.fgColor.rgb == INPUT_FILL.fgColor.rgb
        )
        formats = {c.coordinate: c.number_format for row in ws.iter_rows() for c in row if c.number_format != "General"}
        out[ws.title] = {"values": values, "validations": dvs, "shaded": fills, "formats": formats,
                         "freeze": ws.freeze_panes}
    out["names"] = {n: d.attr_text for n, d in wb.defined_names.items()}
    return out
