"""Worksheet XML that planner writes itself: long table rows, and fixes to openpyxl's output.

openpyxl builds one Python object per cell and serialises it element by element (about
40 µs a cell: 9-15 s for a 30 000-row Plan).  For a long table the renderer writes only the
header and the first data row with openpyxl (so every column gets its style) and leaves the
rest as a :class:`Deferred` block; :func:`finish_sheet` generates those rows as text, one
column at a time, with the style of the first row's cell in the same column, and splices
them in.  It also re-indexes style references (``s=``, ``style=``, ``dxfId=``) into the
merged workbook's styles.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.datetime import to_excel

#: A table block longer than this is written by :func:`rows_xml` instead of openpyxl.
FAST_ROWS = 50


@dataclass
class Deferred:
    """Rows of a table block left to :func:`finish_sheet`.

    ``sample_row`` is the Excel row openpyxl wrote (the block's first data row) to give
    each column its style; it is replaced by the rows generated from ``columns`` (every
    data row of the block, column ``j`` going to Excel column ``j + 1``), which write
    floats exactly (openpyxl writes 16 significant digits).
    """

    sample_row: int
    columns: list[np.ndarray]

    @property
    def last_row(self) -> int:
        return self.sample_row - 1 + (len(self.columns[0]) if self.columns else 0)


def plain(value: Any) -> Any:
    """A Python value Excel can hold: numpy scalars unwrapped, NaN/NaT/inf as blank."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.to_pydatetime().replace(tzinfo=None)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, bool | int | float | str | dt.date):
        return value
    return str(value)


def fast_ok(frame: pd.DataFrame, columns: Sequence[str]) -> bool:
    """True when a block can be deferred: long, and no column holds dates (styled by value)."""
    if len(frame) <= FAST_ROWS:
        return False
    for c in columns:
        col = frame[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            return False
        if col.dtype == object and any(isinstance(v, dt.date | pd.Timestamp) for v in col):
            return False
    return True


def column_width(values: np.ndarray, width_of: Callable[[Any], int]) -> int:
    """Widest cell of a column as ``width_of`` measures one written value (the renderer's
    rule), taken over the extremes of a numeric column and the distinct values of others."""
    arr = np.asarray(values)
    if arr.dtype.kind in "fiu":
        finite = arr[np.isfinite(arr.astype(float))]
        if not finite.size:
            return 0
        return max(width_of(x) for x in (finite.max().item(), finite.min().item()))
    if pd.api.types.infer_dtype(arr, skipna=True) in ("string", "empty"):
        arr = pd.unique(pd.Series(arr, dtype=object).dropna())
    widest = 0
    for v in arr.tolist():
        v = plain(v)
        if isinstance(v, str):  # measured as written: control characters become U+FFFD
            v = ILLEGAL_CHARACTERS_RE.sub("\ufffd", v)
        widest = max(widest, width_of(v))
    return widest


def _text(v: str) -> str:
    v = ILLEGAL_CHARACTERS_RE.sub("\ufffd", v)
    return f'<is><t xml:space="preserve">{escape(v)}</t></is>'


def _text_cell(v: str | None, style: str) -> str:
    return f"{style}/>" if v is None or v == "" else f'{style} t="inlineStr">{_text(v)}</c>'


def _cells(values: np.ndarray, letter: str, rows: range, style: str) -> list[str]:
    """One column's cells (``<c>`` elements), vectorised by dtype."""
    kind = values.dtype.kind
    if kind == "b":
        return [f'<c r="{letter}{r}"{style} t="b"><v>{int(v)}</v></c>' for r, v in zip(rows, values.tolist(), strict=False)]
    if kind in "iu":
        return [f'<c r="{letter}{r}"{style}><v>{v}</v></c>' for r, v in zip(rows, values.tolist(), strict=False)]
    if kind == "f":  # numpy's shortest round-trip repr, in C
        finite = np.isfinite(values)
        text = np.where(finite, values, 0.0).astype(np.float64).astype(str).tolist()
        return [f'<c r="{letter}{r}"{style}><v>{v}</v></c>' if k else f'<c r="{letter}{r}"{style}/>'
                for r, v, k in zip(rows, text, finite.tolist(), strict=True)]
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        codes, uniques = pd.factorize(pd.Series(values, dtype=object))
        tails = [_text_cell(plain(u), style) for u in uniques.tolist()] + [f"{style}/>"]
        return [f'<c r="{letter}{r}"{tails[k]}' for r, k in zip(rows, codes.tolist(), strict=True)]
    out = []
    for r, raw in zip(rows, values.tolist(), strict=False):
        v = plain(raw)
        if v is None or v == "":
            out.append(f'<c r="{letter}{r}"{style}/>')
        elif isinstance(v, bool):
            out.append(f'<c r="{letter}{r}"{style} t="b"><v>{int(v)}</v></c>')
        elif isinstance(v, int | float):
            out.append(f'<c r="{letter}{r}"{style}><v>{v!r}</v></c>')
        elif isinstance(v, dt.date):
            out.append(f'<c r="{letter}{r}"{style}><v>{to_excel(v)!r}</v></c>')
        else:
            out.append(f'<c r="{letter}{r}"{style} t="inlineStr">{_text(v)}</c>')
    return out


def rows_xml(block: Deferred, styles: dict[str, str], beside: dict[int, str] | None = None) -> str:
    """The ``<row>`` elements of a deferred block; ``styles`` maps column letter → ``s``;
    ``beside`` holds, by row, cells right of the block (notes beside a table)."""
    if not block.columns or not len(block.columns[0]):
        return ""
    rows = range(block.sample_row, block.last_row + 1)
    cols = []
    for j, values in enumerate(block.columns):
        letter = get_column_letter(j + 1)
        s = styles.get(letter)
        cells = _cells(values, letter, rows, f' s="{s}"' if s else "")
        cols.append(["" if c.endswith("/>") else c for c in cells])  # blanks are not written
    beside = beside or {}
    return "".join(f'<row r="{r}">' + "".join(cells) + beside.get(r, "") + "</row>"
                   for r, *cells in zip(rows, *cols, strict=False))


_ROW = r'<row r="{}"[^>]*?(?:/>|>.*?</row>)'
_ANY_ROW = re.compile(r'<row r="(\d+)"[^>]*?(?:/>|>(.*?)</row>)', re.S)
_CELL = re.compile(r'<c r="([A-Z]+)\d+"[^>]*?(?:/>|>.*?</c>)', re.S)
_CELL_STYLE = re.compile(r'<c r="([A-Z]+)\d+"([^>]*?)/?>')
_S = re.compile(r'\ss="(\d+)"')


def _splice(xml: str, block: Deferred) -> str:
    sample = re.search(_ROW.format(block.sample_row), xml, re.S)
    if sample is None:
        raise ValueError(f"row {block.sample_row} is missing from the rendered sheet")
    styles = {}
    for m in _CELL_STYLE.finditer(sample.group(0)):
        s = _S.search(m.group(2))
        if s:
            styles[m.group(1)] = s.group(1)
    # rows of the block that openpyxl wrote anyway (the sample, notes beside the table): their
    # cells right of the block are kept, in the generated row of the same number
    beside: dict[int, str] = {}
    end = sample.end()
    for m in _ANY_ROW.finditer(xml, sample.start()):
        r = int(m.group(1))
        if r > block.last_row:
            break
        end = m.end()
        kept = [c.group(0) for c in _CELL.finditer(m.group(2) or "")
                if column_index_from_string(c.group(1)) > len(block.columns)]
        if kept:
            beside[r] = "".join(kept)
    return xml[:sample.start()] + rows_xml(block, styles, beside) + xml[end:]


def _dimension(xml: str, last_row: int) -> str:
    m = re.search(r'<dimension ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"', xml)
    if m is None or not m.group(3):
        return xml
    row = max(int(m.group(4)), last_row)
    ref = f'<dimension ref="{m.group(1)}{m.group(2)}:{m.group(3)}{row}"'
    return xml[:m.start()] + ref + xml[m.end():]


def finish_sheet(data: bytes, deferred: Sequence[Deferred], xf: Callable[[int], int],
                 dxf: Callable[[int], int], keep_tab: bool = False) -> bytes:
    """openpyxl's sheet XML with deferred rows spliced in and style indexes mapped.

    ``xf`` maps a cell-format index of the rendered workbook to the merged one, ``dxf`` a
    differential-format index.  ``tabSelected`` is dropped (unless ``keep_tab``): the workbook
    keeps the tab its owner selected.
    """
    xml = data.decode("utf-8")
    xml = re.sub(r'(<(?:c|row)\b[^>]*?\ss=")(\d+)"', lambda m: f'{m.group(1)}{xf(int(m.group(2)))}"', xml)
    xml = re.sub(r'(<col\b[^>]*?\sstyle=")(\d+)"', lambda m: f'{m.group(1)}{xf(int(m.group(2)))}"', xml)
    xml = re.sub(r'(\sdxfId=")(\d+)"', lambda m: f'{m.group(1)}{dxf(int(m.group(2)))}"', xml)
    for block in sorted(deferred, key=lambda b: -b.sample_row):  # rows take the sample's (mapped) styles
        xml = _splice(xml, block)
    if deferred:
        xml = _dimension(xml, max(b.last_row for b in deferred))
    if not keep_tab:
        xml = xml.replace(' tabSelected="1"', "")
    return xml.encode("utf-8")
