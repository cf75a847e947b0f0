"""Reading Excel: plain grids of cell values (one of the two modules that import openpyxl).

Every file is checked by :func:`planner.io.zip_preflight.preflight` before openpyxl sees it,
and :func:`check_defusedxml` makes sure openpyxl parses XML through defusedxml.  Reading gives
:class:`Grid` objects (cell values by position); :mod:`planner.io.read_scenario` gives them
meaning.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import openpyxl.xml
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook

from planner.errors import WorkbookError
from planner.io import zip_preflight as xlsxzip

# --------------------------------------------------------------------------- safety


def check_defusedxml() -> None:
    """Make sure openpyxl parses XML through defusedxml.

    Raises
    ------
    WorkbookError
        defusedxml is not installed or openpyxl does not use it.
    """
    if not (getattr(openpyxl, "DEFUSEDXML", False) and getattr(openpyxl.xml, "DEFUSEDXML", False)):
        raise WorkbookError(
            "refusing to read workbooks: defusedxml is not active in openpyxl "
            "(install defusedxml so XML entity attacks are blocked)"
        )


def load_workbook(path: Path, **kwargs: Any) -> Workbook:
    """openpyxl's loader, quiet: what a copy loses is reported by :func:`xlsxzip.losses`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path, **kwargs)


def open_checked(path: str | Path) -> Path:
    check_defusedxml()
    p = Path(path)
    xlsxzip.preflight(p)
    return p


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class FormulaWithoutValue:
    """A formula cell whose file holds no computed value (written by a script, never opened)."""

    formula: str

    def __str__(self) -> str:
        return self.formula


@dataclass
class Grid:
    """The values of one sheet: ``rows[0]`` is Excel row 1; rows may be ragged."""

    title: str
    rows: list[list[Any]]


def normalize_sheet(name: str) -> str:
    """Key used to match sheet names: case, surrounding space, inner spaces and ``_`` ignored."""
    return "".join(ch for ch in str(name).strip().lower() if ch not in " _\t")


def normalize_header(name: Any) -> str:
    """Key used to match column headers: lower case, trimmed, inner spaces as ``_``."""
    if name is None:
        return ""
    return "_".join(str(name).strip().lower().split())


def column_letter(index: int) -> str:
    """Excel letter of a 0-based column index (0 → ``A``)."""
    return get_column_letter(index + 1)


def read_grids(path: str | Path, sheets: Iterable[str] | None = None) -> dict[str, Grid]:
    """Read sheet values, keyed by :func:`normalize_sheet` of their title.

    Formulas give the value Excel saved with them; a formula without one comes back as
    :class:`FormulaWithoutValue`.  Excel error values come back as their text (``#DIV/0!``).

    Parameters
    ----------
    path : str or Path
        An .xlsx / .xlsm workbook.
    sheets : iterable of str, optional
        Only these sheets (matched like :func:`normalize_sheet`); default all.

    Raises
    ------
    WorkbookError
        Missing, unsafe or unreadable file.
    """
    p = open_checked(path)
    wanted = None if sheets is None else {normalize_sheet(s) for s in sheets}
    grids = _load_values(p, wanted, data_only=True)
    if xlsxzip.has_formulas(p):
        formulas = _load_values(p, wanted, data_only=False, formulas_only=True)
        for key, grid in grids.items():
            for (r, c), text in _cells(formulas.get(key)):
                if r < len(grid.rows) and c < len(grid.rows[r]) and grid.rows[r][c] is None:
                    grid.rows[r][c] = FormulaWithoutValue(text)
    return grids


def _cells(grid: Grid | None) -> Iterable[tuple[tuple[int, int], Any]]:
    if grid is None:
        return
    for r, row in enumerate(grid.rows):
        for c, v in enumerate(row):
            if v is not None:
                yield (r, c), v


def _load_values(p: Path, wanted: set[str] | None, *, data_only: bool, formulas_only: bool = False) -> dict[str, Grid]:
    try:
        wb = load_workbook(p, read_only=True, data_only=data_only)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise WorkbookError(f"{p.name}: cannot be read as a workbook ({type(exc).__name__}: {exc})") from None
    try:
        out: dict[str, Grid] = {}
        for ws in wb.worksheets:
            key = normalize_sheet(ws.title)
            if (wanted is not None and key not in wanted) or key in out:
                continue
            ws.reset_dimensions()
            rows: list[list[Any]] = []
            for row in ws.iter_rows():
                if formulas_only:
                    rows.append([c.value if getattr(c, "data_type", None) == "f" else None for c in row])
                else:
                    rows.append([c.value for c in row])
            while rows and all(v is None for v in rows[-1]):
                rows.pop()
            out[key] = Grid(ws.title, rows)
        return out
    except WorkbookError:
        raise
    except Exception as exc:
        raise WorkbookError(f"{p.name}: cannot be read as a workbook ({type(exc).__name__}: {exc})") from None
    finally:
        wb.close()


