"""Result sheets as plain data: what to write, not how.

Everything that ends up in a workbook (plan, summary, frontier, comparison, fitted
curves …) is first described as a :class:`SheetSpec`; only :mod:`planner.io.excel` turns
specs into openpyxl objects.  This keeps the optimiser and the analyses free of Excel code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

#: Number formats a column can ask for; the writer maps them to Excel formats
#: (``currency`` uses the scenario's currency code).
#: ``compact`` is for chart axes (1.2M, 350K); ``general`` leaves the number as typed
#: (0.001 stays 0.001); ``precise`` shows two to four decimals (shadow prices).
Format = Literal["currency", "number", "integer", "percent", "ratio", "text", "datetime", "compact", "general",
                 "precise"]
#: How a sheet's blocks are placed.  ``report``: notes on top, titled blocks one below the
#: other, charts to the right (the Summary).  ``table``: the first block's header on row 1
#: with no title (``pandas.read_excel(path, sheet_name=...)`` reads it), further blocks and
#: the notes to its right, charts below it.
Layout = Literal["report", "table"]
ChartKind = Literal["bar", "stacked_bar", "line", "scatter"]


@dataclass
class ChartSpec:
    """A chart drawn from one block of the sheet.

    ``x`` names the category (or x-value) column, ``ys`` the series columns.  ``labels``
    gives series and axis names for people (default: the column name); ``x_format`` and
    ``y_format`` are the axes' number formats (``compact``: 1.2M).
    """

    kind: ChartKind
    title: str
    block: int
    x: str
    ys: list[str]
    x_title: str = ""
    y_title: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    x_format: Format | None = None
    y_format: Format | None = None


@dataclass
class TableBlock:
    """A titled table, written as an Excel table (ListObject) named ``name`` when given
    (a stable name scripts can look up; made unique in the workbook if taken)."""

    frame: pd.DataFrame
    title: str | None = None
    formats: dict[str, Format] = field(default_factory=dict)
    name: str | None = None


@dataclass
class SheetSpec:
    """One result sheet: blocks of tables, optional notes, optional charts, placed as
    ``layout`` says; printed landscape, one page wide.

    ``breaks`` are block indices a printed page starts at (the Summary's brief is page 1).
    """

    name: str
    blocks: list[TableBlock]
    charts: list[ChartSpec] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    currency: str = "USD"
    layout: Layout = "report"
    breaks: list[int] = field(default_factory=list)


def excel_rows(frame: pd.DataFrame) -> np.ndarray:
    """Excel rows of ``frame``: the index itself when it holds Excel rows
    (:func:`planner.io.read_table` names it ``row``), else index + 2 (header on row 1)."""
    idx = frame.index
    if not pd.api.types.is_integer_dtype(idx):
        return np.arange(len(frame)) + 2
    return idx.to_numpy(dtype=np.int64) + (0 if idx.name == "row" else 2)
