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
Format = Literal["currency", "number", "integer", "percent", "ratio", "text", "datetime"]
ChartKind = Literal["bar", "stacked_bar", "line", "scatter"]


@dataclass
class ChartSpec:
    """A chart drawn from one block of the sheet.

    ``x`` names the category (or x-value) column, ``ys`` the series columns.
    """

    kind: ChartKind
    title: str
    block: int
    x: str
    ys: list[str]
    x_title: str = ""
    y_title: str = ""


@dataclass
class TableBlock:
    """A titled table; blocks of one sheet are written one below the other."""

    frame: pd.DataFrame
    title: str | None = None
    formats: dict[str, Format] = field(default_factory=dict)


@dataclass
class SheetSpec:
    """One result sheet: blocks of tables, optional notes above them, optional charts."""

    name: str
    blocks: list[TableBlock]
    charts: list[ChartSpec] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    currency: str = "USD"


def excel_rows(frame: pd.DataFrame) -> np.ndarray:
    """Excel rows of ``frame``: the index itself when it holds Excel rows
    (:func:`planner.io.read_table` names it ``row``), else index + 2 (header on row 1)."""
    idx = frame.index
    if not pd.api.types.is_integer_dtype(idx):
        return np.arange(len(frame)) + 2
    return idx.to_numpy(dtype=np.int64) + (0 if idx.name == "row" else 2)
