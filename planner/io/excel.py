"""Writing Excel: :class:`~planner.core.sheet_spec.SheetSpec` descriptions to formatted sheets.

Renders sheet descriptions (and the template of :mod:`planner.io.template`) with openpyxl in
a fresh workbook; :mod:`planner.io.merge` copies them into the user's package and
:mod:`planner.io.atomic` replaces the target only once the file is complete.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import openpyxl.xml
import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, LineChart, Reference, ScatterChart, Series
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from planner.core.sheet_spec import ChartSpec, SheetSpec, TableBlock
from planner.errors import OutputError
from planner.io import atomic, merge
from planner.io import package as pk
from planner.io.grids import load_workbook, open_checked
from planner.io.sheet_xml import Deferred, column_width, fast_ok, plain

#: Column of a :class:`TableBlock` frame that, when present, gives the number format of
#: each *row* (used for key/value blocks such as headline figures); it is not written.
ROW_FORMAT = "_format"

_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=12)
_NOTE = Font(italic=True, color="595959")
_RULE = Border(bottom=Side(style="thin", color="808080"))


# --------------------------------------------------------------------------- writing


def number_format(kind: str | None, currency: str = "USD") -> str | None:
    """Excel number format for a :data:`planner.core.sheet_spec.Format` name (None: leave General)."""
    if kind == "currency":
        code = "".join(ch for ch in currency.strip() if ch not in '"\\;')[:12] or "USD"
        return f'#,##0.00" {code}";-#,##0.00" {code}"'
    return {
        "number": "#,##0.00",
        "integer": "#,##0",
        "percent": "0.0%",
        "ratio": "0.00",
        "text": "@",
        "datetime": "yyyy-mm-dd hh:mm:ss",
    }.get(kind or "")


#: A Python value Excel can hold: numpy scalars unwrapped, NaN/NaT/inf as blank.
to_cell_value = plain


def put(ws: Worksheet, row: int, col: int, value: Any) -> Any:
    """Write one value; text is always literal text, never a formula."""
    cell = ws.cell(row=row, column=col)
    v = to_cell_value(value)
    if isinstance(v, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", v)  # control characters cannot go in xlsx
        cell.data_type = "s"  # openpyxl would turn "=..." into a formula (or "#N/A" into an error)
    else:
        cell.value = v
    return cell


def _width(value: Any, fmt: str | None) -> int:
    if value is None:
        return 0
    if isinstance(value, float | int) and not isinstance(value, bool):
        extra = 5 if fmt and '"' in fmt else 0
        return len(f"{value:,.2f}") + extra
    return max((len(line) for line in str(value).splitlines()), default=0)


@dataclass
class _Placed:
    block: TableBlock
    header_row: int
    first_row: int
    last_row: int
    columns: list[str]


def render_sheet(ws: Worksheet, spec: SheetSpec) -> list[Deferred]:
    """Write one :class:`SheetSpec` into an empty worksheet.

    Returns the rows of long tables left to :func:`planner.io.sheet_xml.finish_sheet`
    (every cell is written when the worksheet is saved by openpyxl alone: see
    :func:`save`, which does not take them, so pass only sheets of :func:`render`).
    """
    widths: dict[int, int] = {}
    deferred: list[Deferred] = []
    row = 1
    for note in spec.notes:
        put(ws, row, 1, note).font = _NOTE
        row += 1
    if spec.notes:
        row += 1
    placed: list[_Placed] = []
    for block in spec.blocks:
        if block.title:
            put(ws, row, 1, block.title).font = _TITLE
            row += 1
        placed.append(_write_block(ws, block, row, spec.currency, widths, deferred))
        row = placed[-1].last_row + 2
    if placed:
        ws.freeze_panes = f"A{placed[0].header_row + 1}"
    for col, w in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = max(9, min(60, w + 2))
    _fit_to_width(ws)
    ncols = max((len(p.columns) for p in placed), default=1)
    for i, chart in enumerate(spec.charts):
        if 0 <= chart.block < len(placed):
            _add_chart(ws, chart, placed[chart.block], f"{get_column_letter(ncols + 2)}{1 + 20 * i}")
    return deferred


def _fit_to_width(ws: Worksheet) -> None:
    """Print landscape, one page wide, as many pages tall as needed."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _write_block(ws: Worksheet, block: TableBlock, top: int, currency: str, widths: dict[int, int],
                 deferred: list[Deferred]) -> _Placed:
    frame = block.frame
    columns = [str(c) for c in frame.columns if str(c) != ROW_FORMAT]
    for j, name in enumerate(columns, start=1):
        cell = put(ws, top, j, name)
        cell.font, cell.fill, cell.border = _BOLD, _HEADER_FILL, _RULE
        widths[j] = max(widths.get(j, 0), len(name))
    col_fmt = {c: number_format(block.formats.get(c), currency) for c in columns}
    for c in columns:
        if col_fmt[c] is None and c in frame and pd.api.types.is_float_dtype(frame[c]):
            col_fmt[c] = number_format("number")
    row_fmts = frame[ROW_FORMAT].tolist() if ROW_FORMAT in frame.columns else None
    values = frame[columns].to_numpy(dtype=object) if columns else np.empty((len(frame), 0), dtype=object)
    fast = row_fmts is None and bool(columns) and fast_ok(frame, columns)
    for i in range(1 if fast else len(frame)):
        r = top + 1 + i
        row_fmt = number_format(row_fmts[i], currency) if row_fmts is not None else None
        for j, c in enumerate(columns):
            cell = put(ws, r, j + 1, values[i, j])
            fmt = col_fmt[c] or (row_fmt if isinstance(cell.value, float | int) and not isinstance(cell.value, bool) else None)
            if fmt:
                cell.number_format = fmt
            widths[j + 1] = max(widths.get(j + 1, 0), _width(cell.value, fmt))
    if fast:  # the other rows are written as XML text by sheet_xml (same style per column)
        rest = [frame[c].to_numpy() for c in columns]
        deferred.append(Deferred(top + 1, rest))
        for j, c in enumerate(columns):
            quoted = bool(col_fmt[c] and '"' in str(col_fmt[c]))
            widths[j + 1] = max(widths.get(j + 1, 0), column_width(rest[j], quoted))
    return _Placed(block, top, top + 1, top + len(frame), columns)


def _add_chart(ws: Worksheet, spec: ChartSpec, at: _Placed, anchor: str) -> None:
    if at.last_row < at.first_row or spec.x not in at.columns:
        return
    ys = [y for y in spec.ys if y in at.columns]
    if not ys:
        return
    xcol = at.columns.index(spec.x) + 1
    chart: BarChart | LineChart | ScatterChart
    if spec.kind == "scatter":
        chart = ScatterChart()
        chart.style = 13
        xref = Reference(ws, min_col=xcol, min_row=at.first_row, max_row=at.last_row)
        for y in ys:
            col = at.columns.index(y) + 1
            series = Series(Reference(ws, min_col=col, min_row=at.header_row, max_row=at.last_row), xref, title_from_data=True)
            series.marker.symbol = "circle"
            chart.series.append(series)
    else:
        chart = LineChart() if spec.kind == "line" else BarChart()
        if isinstance(chart, BarChart):
            chart.type = "col"
            if spec.kind == "stacked_bar":
                chart.grouping = "stacked"
                chart.overlap = 100
        for y in ys:
            col = at.columns.index(y) + 1
            chart.add_data(Reference(ws, min_col=col, min_row=at.header_row, max_row=at.last_row), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=xcol, min_row=at.first_row, max_row=at.last_row))
    if len(ys) == 1:
        chart.legend = None
    chart.title = spec.title
    chart.x_axis.title = spec.x_title or spec.x
    chart.y_axis.title = spec.y_title or None
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.width, chart.height = 18, 9
    ws.add_chart(chart, anchor)


def _check_target(path: str | Path, source: Path | None, in_place: bool) -> Path:
    out = Path(path)
    if out.suffix.lower() not in (".xlsx", ".xlsm"):
        raise OutputError(f"{out}: the output must be an .xlsx (or .xlsm) file")
    if source is not None and not in_place and out.exists() and out.resolve() == source.resolve():
        raise OutputError(f"{out}: refusing to overwrite the input workbook (ask for in-place to do so)")
    return atomic.resolve_target(out)


def _to_bytes(wb: Workbook) -> bytes:
    """The workbook saved in memory (a disk error can then only happen in :mod:`atomic`)."""
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def save(wb: Workbook, path: Path) -> None:
    """Save ``wb`` to a temporary file next to ``path``, then rename it over ``path``."""
    data = _to_bytes(wb)
    atomic.write_atomically(path, lambda fh: fh.write(data))


def render(specs: Sequence[SheetSpec], active: str | None = None,
           mark: bool = True) -> tuple[pk.Package, dict[str, list[Deferred]]]:
    """Planner's sheets in a fresh workbook, marked as planner's (:data:`merge.MARK`) unless not ``mark``."""
    wb = openpyxl.Workbook()
    assert wb.active is not None
    wb.remove(wb.active)
    deferred: dict[str, list[Deferred]] = {}
    for spec in specs:
        ws = wb.create_sheet(spec.name[:31])
        deferred[ws.title] = render_sheet(ws, spec)
        if mark:
            ws.defined_names[merge.MARK] = DefinedName(merge.MARK, attr_text=merge.MARK_TEXT, hidden=True)
    if not wb.worksheets:
        raise OutputError("nothing to write")
    target = (active or specs[0].name)[:31]
    if target in wb.sheetnames:
        for ws in wb.worksheets:
            ws.sheet_view.tabSelected = False
        wb.active = wb.sheetnames.index(target)
    return pk.Package.read(io.BytesIO(_to_bytes(wb))), deferred


def write_sheets(
    specs: Sequence[SheetSpec],
    path: str | Path,
    source: str | Path | None = None,
    *,
    results_only: bool = False,
    in_place: bool = False,
    active: str | None = None,
    force: bool = False,
    update: bool = False,
    mark: bool = True,
) -> list[str]:
    """Write sheets into a copy of ``source`` (or a fresh workbook) at ``path``.

    The copy is made at the package level (:mod:`planner.io.merge`): every part of
    ``source`` is kept byte for byte, planner's sheets are added at the end or replace
    planner's own sheets of the same name in place.  A sheet of the same name (ignoring
    case, spaces and ``_``) that planner did not write is replaced only with ``force``.
    ``update``: when there is no ``source`` and ``path`` is an existing workbook, it is the
    source (the sheets are updated in it).  Without ``force`` an existing file at ``path``
    is replaced only when it is a workbook whose every sheet the new one keeps.  ``mark=False``: sheets the user edits (a scenario), not planner's.

    Returns
    -------
    list of str
        Warnings (macros dropped from an ``.xlsx`` copy, a table renamed).
    """
    src = Path(source) if source is not None and not results_only else None
    out = _check_target(path, Path(source) if source is not None else None, in_place or update)
    if src is None and update and out.exists() and pk.is_workbook(out):
        src = out
    if src is not None:
        open_checked(src)
    if out.exists() and not force and (src is None or out.resolve() != src.resolve()):
        lost = merge.dropped_sheets(out, src, [s.name[:31] for s in specs])
        if lost:  # replacing a file never drops a sheet silently
            raise OutputError(f"{out}: exists and has sheets the new workbook would not keep "
                              f"({', '.join(repr(n) for n in lost)}); write to another file, or "
                              "pass --force to replace it")
    result, deferred = render(specs, active, mark)
    if src is None:
        parts, infos, warnings = merge.fresh(result, deferred), {}, []
    else:
        user = pk.Package.read(src)
        merged = merge.merge(user, result, deferred, force=force, macros=out.suffix.lower() == ".xlsm")
        parts, infos, warnings = merged.parts, user.infos, merged.warnings
    atomic.write_atomically(out, lambda fh: pk.write_zip(fh, parts, infos))
    return warnings


# --------------------------------------------------------------------------- template


def write_template(sheets: Sequence[Any], path: str | Path, names: dict[str, str] | None = None) -> None:
    """Render the template description of :mod:`planner.io.template` to ``path``.

    Each item has ``name``, ``columns`` (each with ``name``, ``help``, ``format``,
    ``width``), ``rows`` (pre-filled values), ``input_columns`` (shaded),
    ``input_rows`` (how many rows to shade), ``validations`` (each with ``range``,
    ``type``, ``formula1``, ``formula2``, ``operator``, ``prompt``), ``frozen`` and
    ``title_rows`` (bold rows, Instructions sheet only).  ``names`` are workbook-level
    defined names (name → reference) that list validations refer to.
    """
    out = _check_target(path, None, False)
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
        cell.font, cell.fill, cell.border = _BOLD, _HEADER_FILL, _RULE
        ws.column_dimensions[get_column_letter(j)].width = col.width
    first = 2 if has_header else 1
    for i, values in enumerate(sheet.rows):
        for j, v in enumerate(values, start=1):
            cell = put(ws, first + i, j, v)
            if (first + i) in sheet.title_rows:
                cell.font = _TITLE
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
    _fit_to_width(ws)


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
