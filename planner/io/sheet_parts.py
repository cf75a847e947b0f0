"""Parts of a rendered result sheet: number formats, Excel tables and charts.

:mod:`planner.io.excel` places blocks, notes and charts on a worksheet; this module makes
each part: the Excel number format of a :data:`~planner.core.sheet_spec.Format`, an Excel
table (ListObject) with a stable, workbook-unique name, and a chart from a
:class:`~planner.core.sheet_spec.ChartSpec`.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from openpyxl.chart import BarChart, LineChart, Reference, ScatterChart, Series
from openpyxl.chart.series import SeriesLabel
from openpyxl.chart.shapes import GraphicalProperties
from openpyxl.drawing.line import LineProperties
from openpyxl.drawing.spreadsheet_drawing import AnchorMarker, OneCellAnchor
from openpyxl.drawing.xdr import XDRPositiveSize2D
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import range_boundaries
from openpyxl.utils.units import cm_to_EMU
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.table import Table, TableColumn, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from planner.core.sheet_spec import ChartSpec

#: Axis labels such as 1.2M and 350K (values under 1 000 as they are).
COMPACT = '[>=1000000]#,##0.0,,"M";[>=1000]#,##0,"K";General'


def number_format(kind: str | None, currency: str = "USD", scale: float | None = None) -> str | None:
    """Excel number format of a format kind; None leaves the cell General.

    ``scale`` is the largest magnitude the format will show (a column's): money and plain
    numbers of 1 000 and more are shown whole, smaller ones with two decimals (a plain
    number below 1 with three).  Without ``scale`` money has two decimals.

    >>> number_format("currency", "EUR", 25_000.0)
    '#,##0" EUR";-#,##0" EUR";0" EUR"'
    >>> number_format("percent")
    '0.0%'
    """
    if kind == "currency":
        code = "".join(ch for ch in currency.strip() if ch not in '"\\;')[:12] or "USD"
        body = "#,##0" if scale is not None and (scale >= 1000 or scale == 0) else "#,##0.00"
        zero = "0" if body == "#,##0" else "0.00"
        return f'{body}" {code}";-{body}" {code}";{zero}" {code}"'
    if kind == "number":
        if scale is not None and (scale >= 1000 or scale < 1e-9):
            return "#,##0"
        return "#,##0.000" if scale is not None and 0 < scale < 1 else "#,##0.00"
    if kind == "percent" and scale is not None and 0 < scale < 0.01:
        return "0.00%"
    return {
        "integer": "#,##0",
        "percent": "0.0%",
        "ratio": "0.00",
        "precise": "#,##0.00##",
        "text": "@",
        "datetime": "yyyy-mm-dd hh:mm:ss",
        "compact": COMPACT,
    }.get(kind or "")


def shown_decimals(fmt: str | None) -> int | None:
    """Decimal places a number format shows (percent counts two more); None for General.

    >>> shown_decimals('#,##0.00" USD"'), shown_decimals("0.0%"), shown_decimals("#,##0")
    (2, 3, 0)
    """
    if not fmt or fmt in ("General", "@") or "y" in fmt:
        return None
    first = fmt.split(";")[0]
    if "[" in first:
        return None
    digits = re.search(r"\.([0#]+)", first)
    n = len(digits.group(1)) if digits else 0
    return n + (2 if "%" in first else 0)


def table_name(ws: Worksheet, wanted: str) -> str:
    """``wanted`` made a valid Excel table name, unique among the workbook's tables and
    defined names (``Plan``, else ``Plan_2`` …)."""
    base = re.sub(r"[^A-Za-z0-9_.]", "_", wanted) or "Table"
    if not re.match(r"[A-Za-z_]", base) or re.fullmatch(r"[A-Za-z]{1,3}\d+|[RrCc]", base):
        base = f"T_{base}"
    wb = ws.parent
    taken = {n.lower() for sheet in wb.worksheets for n in sheet.tables}
    taken |= {n.lower() for n in wb.defined_names}
    name, i = base, 2
    while name.lower() in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def add_table(ws: Worksheet, wanted: str, ref: str) -> str:
    """Mark ``ref`` (header row first) as an Excel table; returns the name it got.

    The table's columns are named from its header cells here: left to openpyxl, saving
    creates a cell object for every cell of the range to read the first row (1.9 s of the
    2.9 s it took to write a 32 000-row plan)."""
    name = table_name(ws, wanted)
    style = TableStyleInfo(name="TableStyleLight1", showRowStripes=True, showColumnStripes=False)
    table = Table(displayName=name, ref=ref, tableStyleInfo=style)
    c0, r0, c1, _ = range_boundaries(ref)
    table.tableColumns = [TableColumn(id=i + 1, name=str(ws.cell(row=r0, column=c).value))
                          for i, c in enumerate(range(c0, c1 + 1))]
    ws.add_table(table)
    return name


def add_chart(ws: Worksheet, spec: ChartSpec, columns: list[str], first_col: int, first_row: int,
              last_row: int, anchor: OneCellAnchor, currency: str) -> bool:
    """Draw ``spec`` at ``anchor`` from a block whose data is in rows ``first_row`` ..
    ``last_row``, its ``columns`` starting at column ``first_col``.

    Series are named by ``spec.labels`` (a literal name, not a header cell); a scatter chart
    has a numeric x axis.  Returns False (and draws nothing) when the block has no rows or
    lacks the columns.
    """
    if last_row < first_row or spec.x not in columns:
        return False
    ys = [y for y in spec.ys if y in columns]
    if not ys:
        return False

    def col_of(name: str) -> int:
        return first_col + columns.index(name)

    def title(y: str) -> SeriesLabel:
        return SeriesLabel(v=spec.labels.get(y, y))

    xref = Reference(ws, min_col=col_of(spec.x), min_row=first_row, max_row=last_row)
    chart: BarChart | LineChart | ScatterChart
    if spec.kind == "scatter":
        chart = ScatterChart()
        chart.scatterStyle = "lineMarker"
        for y in ys:
            series = Series(Reference(ws, min_col=col_of(y), min_row=first_row, max_row=last_row), xref)
            series.tx = title(y)
            series.marker.symbol = "circle"
            series.marker.size = 5
            series.smooth = False
            series.graphicalProperties = GraphicalProperties(ln=LineProperties(w=22000))
            chart.series.append(series)
    else:
        chart = LineChart() if spec.kind == "line" else BarChart()
        if isinstance(chart, BarChart):
            chart.type = "col"
            if spec.kind == "stacked_bar":
                chart.grouping = "stacked"
                chart.overlap = 100
        for y in ys:
            chart.add_data(Reference(ws, min_col=col_of(y), min_row=first_row, max_row=last_row))
            chart.series[-1].tx = title(y)
        chart.set_categories(xref)
    if len(ys) == 1:
        chart.legend = None
    else:
        chart.legend.position = "b"
    chart.title = spec.title
    chart.x_axis.title = spec.x_title or spec.labels.get(spec.x, spec.x)
    chart.y_axis.title = spec.y_title or None
    for axis, kind in ((chart.x_axis, spec.x_format), (chart.y_axis, spec.y_format)):
        fmt = number_format(kind, currency, 1e9) if kind else None
        if fmt and hasattr(axis, "number_format"):
            axis.number_format = fmt
            axis.numFmt.sourceLinked = False
        axis.delete = False
    chart.width, chart.height = anchor.ext.width / 360000, anchor.ext.height / 360000
    ws.add_chart(chart, anchor)
    return True


def page_break(ws: Worksheet, after_row: int) -> None:
    """Start a new printed page after ``after_row``."""
    ws.row_breaks.append(Break(id=after_row))


def shown_width(value: Any, fmt: str | None) -> int:
    """Characters ``value`` takes when shown with number format ``fmt``."""
    if value is None:
        return 0
    if isinstance(value, float | int) and not isinstance(value, bool):
        places = shown_decimals(fmt)
        suffix = fmt.split('"')[1] if fmt and fmt.count('"') >= 2 else ""
        return len(f"{value:,.{2 if places is None else places}f}") + len(suffix) + 1
    return max((len(line) for line in str(value).splitlines()), default=0)


def anchor_at(ws: Worksheet, row: int, x_cm: float, size: tuple[float, float]) -> OneCellAnchor:
    """A drawing's anchor ``x_cm`` from the sheet's left edge at the top of ``row``."""
    col, left = 1, 0.0
    while True:  # 96 dpi; a column of width w is about 7 w + 5 pixels
        width = (7 * (ws.column_dimensions[get_column_letter(col)].width or 8.43) + 5) / 37.8
        if left + width > x_cm:
            break
        left, col = left + width, col + 1
    start = AnchorMarker(col=col - 1, colOff=cm_to_EMU(x_cm - left), row=row - 1, rowOff=0)
    return OneCellAnchor(_from=start, ext=XDRPositiveSize2D(cm_to_EMU(size[0]), cm_to_EMU(size[1])))


def block_width_cm(ws: Worksheet, first_col: int, n: int) -> float:
    """Width (cm) of ``n`` columns from ``first_col``."""
    return sum((7 * (ws.column_dimensions[get_column_letter(c)].width or 8.43) + 5) / 37.8
               for c in range(first_col, first_col + n))


def wrap_beside(notes: list[str], width: int, rows: int) -> tuple[list[str], int]:
    """Notes wrapped into lines for a column beside a table of ``rows`` rows (header
    included), widened until they take no more rows than the table, so that
    ``pandas.read_excel`` sees no extra rows; returns the lines and the width used.

    >>> wrap_beside(["a b c d e f"], 3, 2)
    (['a b c d', 'e f'], 8)
    """
    while True:
        lines = [line for note in notes for line in textwrap.wrap(note, width)]
        if len(lines) <= max(rows, len(notes)) or width >= 400:
            return lines, width
        width += 5
