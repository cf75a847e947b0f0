"""The scenario workbook's sheets by field, and where a row of one came from."""

from __future__ import annotations

from typing import Any

#: Scenario field → the sheet that holds it.
SHEETS: dict[str, str] = {
    "settings": "Settings",
    "periods": "Periods",
    "segments": "Segments",
    "channels": "Channels",
    "curves": "Curves",
    "curve_points": "CurvePoints",
    "seasonality": "Seasonality",
    "constraints": "Constraints",
    "scenarios": "Scenarios",
}


def row_of(item: Any, index: int) -> int:
    """The Excel row a sheet row was read from (header on row 1), else ``index + 2``."""
    row = getattr(item, "_row", None)
    return row if row is not None else index + 2
