"""Writing Excel: :class:`~planner.core.sheet_spec.SheetSpec` descriptions to formatted sheets.

Renders sheet descriptions (and the template of :mod:`planner.io.template`) with openpyxl in
a fresh workbook; :mod:`planner.io.merge` copies them into the user's package and
:mod:`planner.io.atomic` replaces the target only once the file is complete.
"""

from __future__ import annotations

import io
import textwrap
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import openpyxl.xml
import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from planner.core.sheet_spec import SheetSpec, TableBlock
from planner.errors import OutputError
from planner.io import atomic, merge, sheet_parts
from planner.io import package as pk
from planner.io.grids import open_checked
from planner.io.sheet_xml import Deferred, column_width, fast_ok, plain

#: Column of a :class:`TableBlock` frame that, when present, gives the number format of
#: each *row* (used for key/value blocks such as headline figures); it is not written.
ROW_FORMAT = "_format"

HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=12)
_NOTE = Font(italic=True, color="595959")
RULE = Border(bottom=Side(style="thin", color="808080"))
_INDENT, _RIGHT = Alignment(horizontal="left", indent=1), Alignment(horizontal="right")


# --------------------------------------------------------------------------- writing


def number_format(kind: str | None, currency: str = "USD", scale: float | None = None) -> str | None:
    """Excel number format for a :data:`planner.core.sheet_spec.Format` name (None: leave
    General); ``scale``, the largest magnitude shown, picks whole money from 1 000 up."""
    return sheet_parts.number_format(kind, currency, scale)


#: A Python value Excel can hold: numpy scalars unwrapped, NaN/NaT/inf as blank.
to_cell_value = plain


def put(ws: Worksheet, row: int, col: int, value: Any) -> Any:
    """Write one value; text is always literal text, never a formula."""
    cell = ws.cell(row=row, column=col)
    v = to_cell_value(value)
    if v == "":
        v = None  # an empty text is a blank (as sheet_xml writes long tables)
    if isinstance(v, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", v)  # control characters cannot go in xlsx
        cell.data_type = "s"  # openpyxl would turn "=..." into a formula (or "#N/A" into an error)
    else:
        cell.value = v
    return cell


@dataclass
class _Placed:
    block: TableBlock
    header_row: int
    first_row: int
    last_row: int
    columns: list[str]
    first_col: int = 1


#: A chart's size (cm) and the rows it covers; notes are wrapped to this many characters.
_CHART_CM, _CHART_ROWS, _NOTE_CHARS = (14.0, 7.5), 16, 45


def render_sheet(ws: Worksheet, spec: SheetSpec) -> list[Deferred]:
    """Write one :class:`SheetSpec` into an empty worksheet, placed as ``spec.layout`` says.

    ``table``: the first block's header on row 1 (``pandas.read_excel`` reads it), further
    blocks and the notes to its right, charts below.  ``report``: the first note as a title,
    the other notes under it, the first block, the charts, then the other blocks one below
    the other.  Blocks with a ``name`` become Excel tables; the sheet prints landscape, one
    page wide.  Returns the rows of long tables left to
    :func:`planner.io.sheet_xml.finish_sheet` (pass only sheets of :func:`render` to it).
    """
    deferred: list[Deferred] = []
    widths: dict[int, int] = {}
    placed: list[_Placed] = []
    if spec.layout == "table":
        col = 1
        for block in spec.blocks:
            placed.append(_write_block(ws, block, 1, spec.currency, widths, deferred, first_col=col))
            col += len(placed[-1].columns) + 1
        lines, width = sheet_parts.wrap_beside(spec.notes, _NOTE_CHARS, max(p.last_row for p in placed))
        for i, line in enumerate(lines):
            put(ws, 1 + i, col, line).font = _NOTE
        ws.freeze_panes = "A2"
        ws.print_title_rows = "1:1"
        chart_row = max([p.last_row for p in placed[:1]] + [len(lines)]) + 3
    else:
        row = 1
        for i, note in enumerate(spec.notes):
            for line in [note] if i == 0 else textwrap.wrap(note, 2 * _NOTE_CHARS):
                put(ws, row, 1, line).font = TITLE if i == 0 else _NOTE
                row += 1
        row += 1 if spec.notes else 0
        chart_row = 0
        for i, block in enumerate(spec.blocks):
            if i in spec.breaks and i > 0:
                sheet_parts.page_break(ws, row - 1)
            if block.title:
                put(ws, row, 1, block.title).font = TITLE
                row += 1
            placed.append(_write_block(ws, block, row, spec.currency, widths, deferred))
            row = placed[-1].last_row + 2
            if i == 0 and spec.charts:
                chart_row, row = row, row + _CHART_ROWS
        if placed and spec.blocks[0].title is None:
            ws.freeze_panes = f"A{placed[0].header_row + 1}"
    for c, w in widths.items():
        ws.column_dimensions[get_column_letter(c)].width = max(9, min(60, w + 2))
    if spec.layout == "table" and spec.notes:
        ws.column_dimensions[get_column_letter(col)].width = width
    fit_to_width(ws)
    shown = [c for c in spec.charts if 0 <= c.block < len(placed)]
    under = placed[:1] if spec.layout == "table" else placed  # charts as wide as the tables above them
    span = max((sheet_parts.block_width_cm(ws, p.first_col, len(p.columns)) for p in under), default=0.0)
    width = max(9.0, min(_CHART_CM[0], span / max(1, len(shown)) - 0.4))
    for i, chart in enumerate(shown):
        anchor = sheet_parts.anchor_at(ws, chart_row, i * (width + 0.4), (width, _CHART_CM[1]))
        sheet_parts.add_chart(ws, chart, (at := placed[chart.block]).columns, at.first_col, at.first_row,
                              at.last_row, anchor, spec.currency)
    return deferred


def fit_to_width(ws: Worksheet) -> None:
    """Print landscape, one page wide, as many pages tall as needed, the sheet's name and
    the page number in the footer."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.oddFooter.center.text = "&A, page &P of &N"


def _write_block(ws: Worksheet, block: TableBlock, top: int, currency: str, widths: dict[int, int],
                 deferred: list[Deferred], first_col: int = 1) -> _Placed:
    frame = block.frame
    columns = [str(c) for c in frame.columns if str(c) != ROW_FORMAT]
    for j, name in enumerate(columns, start=first_col):
        cell = put(ws, top, j, name)
        cell.font, cell.fill, cell.border, cell.alignment = BOLD, HEADER_FILL, RULE, _INDENT
        widths[j] = max(widths.get(j, 0), len(name) + 2)  # room for the filter button
    values = frame[columns].to_numpy(dtype=object) if columns else np.empty((len(frame), 0), dtype=object)
    magnitude = np.abs(pd.DataFrame(values, columns=columns).apply(pd.to_numeric, errors="coerce"))
    col_fmt: dict[str, str | None] = {}
    row_kinds = frame[ROW_FORMAT].tolist() if ROW_FORMAT in frame.columns else None
    for c in columns:
        kind = block.formats.get(c)
        if kind is None and row_kinds is None and pd.api.types.is_float_dtype(frame[c]):
            kind = "number"
        col_fmt[c] = number_format(kind, currency, float(magnitude[c].max()) if magnitude[c].notna().any() else None)
        if col_fmt[c] not in (None, "@"):
            ws.cell(row=top, column=first_col + columns.index(c)).alignment = _RIGHT
    # a long table's rows after the first are written as XML text by sheet_xml (each column
    # in the style of its first cell); cells styled row by row or by value are written here
    fast = first_col == 1 and row_kinds is None and bool(columns) and fast_ok(frame, columns)
    for i in range(1 if fast else len(frame)):
        r = top + 1 + i
        for j, c in enumerate(columns):
            v = to_cell_value(values[i, j])
            number = isinstance(v, float | int) and not isinstance(v, bool)
            fmt = col_fmt[c]
            if fmt is None and number and row_kinds is not None:
                fmt = number_format(row_kinds[i] or None, currency, abs(v))
            places = sheet_parts.shown_decimals(fmt) if number else None
            if number and (v == 0 or (places is not None and v < 0 and round(v, places) == 0)):
                v = 0.0  # never show "-0.00"
            cell = put(ws, r, first_col + j, v)
            if isinstance(cell.value, str):
                cell.alignment = _INDENT
            if fmt and (v is not None or fast):  # a blank stays unwritten, except in the row
                cell.number_format = fmt           # whose styles sheet_xml gives its column
            widths[first_col + j] = max(widths.get(first_col + j, 0), sheet_parts.shown_width(cell.value, fmt))
    if fast:
        rest = [_no_negative_zero(frame[c].to_numpy(), col_fmt[c]) for c in columns]
        deferred.append(Deferred(top + 1, rest))
        for j, c in enumerate(columns):
            width = column_width(rest[j], lambda v, f=col_fmt[c]: sheet_parts.shown_width(v, f))
            widths[j + 1] = max(widths.get(j + 1, 0), width)
    last = top + len(frame)
    unique = len({c.lower() for c in columns}) == len(columns) and all(c.strip() for c in columns)
    if block.name and columns and unique:
        ref = f"{get_column_letter(first_col)}{top}:{get_column_letter(first_col + len(columns) - 1)}{max(last, top + 1)}"
        sheet_parts.add_table(ws, block.name, ref)
    return _Placed(block, top, top + 1, last, columns, first_col)


def _no_negative_zero(values: np.ndarray, fmt: str | None) -> np.ndarray:
    """Numbers the format would show as ``-0.00``, and zeros, written as 0.0 (as the cell
    loop writes them)."""
    places = sheet_parts.shown_decimals(fmt)
    if values.dtype.kind == "f":
        zero = values == 0
        if places is not None:
            zero |= (values < 0) & (np.round(values, places) == 0)
        return np.where(zero, 0.0, values)
    if values.dtype.kind != "O":
        return values

    def one(v: Any) -> Any:
        number = isinstance(v, float | int | np.number) and not isinstance(v, bool | np.bool_)
        if number and (v == 0 or (places is not None and v < 0 and round(float(v), places) == 0)):
            return 0.0
        return v

    return np.array([one(v) for v in values.tolist()], dtype=object)


def check_target(path: str | Path, source: Path | None, in_place: bool) -> Path:
    out = Path(path)
    if out.suffix.lower() not in (".xlsx", ".xlsm"):
        raise OutputError(f"{out}: the output must be an .xlsx (or .xlsm) file")
    if source is not None and not in_place and out.exists() and out.resolve() == source.resolve():
        raise OutputError(f"{out}: refusing to overwrite the input workbook (ask for in-place to do so)")
    return atomic.resolve_target(out)


def _to_bytes(wb: Workbook, compress: bool = True) -> bytes:
    """The workbook saved in memory (a disk error can then only happen in :mod:`atomic`);
    stored without compression where it is only read back and re-packed (deflating it took
    0.5 s of a large plan's write)."""
    buf = io.BytesIO()
    if compress:
        wb.save(buf)
    else:
        wb.properties.modified = datetime.now(tz=UTC).replace(tzinfo=None)  # as Workbook.save
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            ExcelWriter(wb, archive).save()
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
    return pk.Package.read(io.BytesIO(_to_bytes(wb, compress=False))), deferred


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
    out = check_target(path, Path(source) if source is not None else None, in_place or update)
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
        lost = user.check_damaged()
        merged = merge.merge(user, result, deferred, force=force, macros=out.suffix.lower() == ".xlsm")
        parts, infos, warnings = merged.parts, user.infos, lost + merged.warnings
    atomic.write_atomically(out, lambda fh: pk.write_zip(fh, parts, infos))
    return warnings
