"""Reading Excel: plain grids of cell values, read straight from the xlsx package.

Every file is checked by :func:`planner.io.zip_preflight.preflight` before any XML is
parsed.  Only the sheets asked for are parsed (a workbook's own large sheets cost nothing),
cells are kept by position (a stray cell in column XFD costs one entry, not a 16 384-wide
row), and XML is parsed by :mod:`planner.io.sheet_stream` with DTDs refused.  Reading gives
:class:`Grid` objects; :mod:`planner.io.scenario_reader` gives them meaning.

openpyxl is still what writes workbooks (:mod:`planner.io.excel`); :func:`load_workbook`
and :func:`check_defusedxml` serve that side.
"""

from __future__ import annotations

import posixpath
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import openpyxl.xml
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900
from openpyxl.workbook.workbook import Workbook

from planner.errors import WorkbookError
from planner.io import sheet_stream
from planner.io import zip_preflight as xlsxzip
from planner.io.sheet_stream import FormulaWithoutValue, SharedString, UnreadableValue

__all__ = ["FormulaWithoutValue", "UnreadableValue", "Grid", "Book", "read_book",
           "normalize_sheet", "normalize_header", "column_letter", "load_workbook", "open_checked",
           "check_defusedxml"]

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
    """The path, once :func:`zip_preflight.preflight` accepts it and defusedxml is active."""
    check_defusedxml()
    p = Path(path)
    xlsxzip.preflight(p)
    return p


# --------------------------------------------------------------------------- reading


@dataclass
class Grid:
    """The values of one sheet, sparse: ``cells[excel_row][column]`` (column 0 is ``A``).

    ``state`` is ``visible``, ``hidden`` or ``veryHidden`` as Excel records it.
    """

    title: str
    cells: dict[int, dict[int, Any]]
    state: str = "visible"

    def row(self, r: int) -> dict[int, Any]:
        """Cells of Excel row ``r`` (empty when the row is blank)."""
        return self.cells.get(r, {})

    def data_rows(self) -> list[int]:
        """Excel row numbers below the header that hold any cell, in order."""
        return sorted(r for r in self.cells if r > 1)


@dataclass
class Book:
    """The sheets read from a workbook, plus every sheet's title and state."""

    grids: dict[str, Grid]
    #: Every sheet of the workbook in order: (title, state).
    sheets: list[tuple[str, str]]
    #: Sheets whose title matches a wanted key that another sheet already took.
    shadowed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


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


def read_book(path: str | Path, sheets: Iterable[str] | None = None) -> Book:
    """Read the values of some sheets, keyed by :func:`normalize_sheet` of their title.

    Formulas give the value Excel saved with them; a formula without one comes back as
    :class:`FormulaWithoutValue`; a value stored in a form Excel never writes (``NaN`` in
    a number cell) as :class:`UnreadableValue`.  Excel error values come back as their
    text (``#DIV/0!``).  When two sheets share a key, the first visible one is read and the
    others are listed in :attr:`Book.shadowed`.

    Parameters
    ----------
    path : str or Path
        An .xlsx / .xlsm workbook.
    sheets : iterable of str, optional
        Only these sheets (matched like :func:`normalize_sheet`); default all.

    Raises
    ------
    WorkbookError
        Missing, unsafe, damaged or unreadable file.
    """
    p = open_checked(path)
    sheets = None if sheets is None else list(sheets)
    wanted = None if sheets is None else {normalize_sheet(s) for s in sheets}
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise WorkbookError(f"{p.name}: cannot be opened ({exc})") from None
    with zf:
        info = _workbook(zf)
        chosen: dict[str, tuple[str, str, str]] = {}
        shadowed: dict[str, list[tuple[str, str]]] = {}
        exact = {s.strip().lower() for s in sheets} if sheets is not None else set()
        # a visible sheet wins over a hidden one, then the name as spelled in the contract
        order = sorted(info["sheets"], key=lambda s: (s[2] != "visible", s[0].strip().lower() not in exact))
        for title, part, state in order:
            key = normalize_sheet(title)
            if wanted is not None and key not in wanted:
                continue
            if key in chosen:
                shadowed.setdefault(key, []).append((title, state))
            else:
                chosen[key] = (title, part, state)
        dates, spans = sheet_stream.date_styles(zf, info["styles"])
        grids: dict[str, Grid] = {}
        strings: set[int] = set()
        for key, (title, part, state) in chosen.items():
            cells = sheet_stream.read_cells(zf, part, label=f"sheet '{title}'", dates=dates, timedeltas=spans,
                                         epoch=info["epoch"])
            for row in cells.values():
                strings.update(v.index for v in row.values() if isinstance(v, SharedString))
            grids[key] = Grid(title, cells, state)
        if strings:
            text = sheet_stream.shared_strings(zf, info["strings"], strings) if info["strings"] else {}
            for grid in grids.values():
                for row in grid.cells.values():
                    for c, v in row.items():
                        if isinstance(v, SharedString):
                            row[c] = text.get(v.index, UnreadableValue(str(v.index), "a shared-text index"))
    titles = [(t, s) for t, _, s in info["sheets"]]
    return Book(grids, titles, shadowed)


_OFFICE_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"


def _workbook(zf: zipfile.ZipFile) -> dict[str, Any]:
    """Sheets (title, part, state) in workbook order, the styles and shared-strings parts, the epoch."""
    book_part = _main_part(zf)
    sheets: list[tuple[str, str, str]] = []
    epoch = [CALENDAR_WINDOWS_1900]

    def start(name: str, attrs: dict[str, str]) -> None:
        name = sheet_stream.local(name)
        if name == "sheet":
            rid = next((v for k, v in attrs.items() if k.rpartition(" ")[2] == "id"), "")
            sheets.append((attrs.get("name", "?"), rid, attrs.get("state", "visible")))
        elif name == "workbookPr" and attrs.get("date1904", "").lower() in ("1", "true"):
            epoch[0] = CALENDAR_MAC_1904

    sheet_stream.parse_part(zf, book_part, start, lambda name: None, label="the workbook part")
    rels = _rels(zf, book_part)
    out = []
    for title, rid, state in sheets:
        target, kind = rels.get(rid, ("", ""))
        if target and kind.endswith("/worksheet"):
            out.append((title, target, state))
    by_kind = {kind.rpartition("/")[2]: target for target, kind in rels.values()}
    return {"sheets": out, "styles": by_kind.get("styles"), "strings": by_kind.get("sharedStrings"),
            "epoch": epoch[0]}


def _main_part(zf: zipfile.ZipFile) -> str:
    rels = _rels(zf, "")
    for target, kind in rels.values():
        if kind == _OFFICE_DOC or kind.endswith("/officeDocument"):
            return target
    return "xl/workbook.xml"


def _rels(zf: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """``{rId: (resolved target part, relationship type)}`` of a part (internal targets only)."""
    folder, base = posixpath.split(part)
    rels_part = posixpath.join(folder, "_rels", base + ".rels")
    if rels_part not in zf.namelist():
        return {}
    out: dict[str, tuple[str, str]] = {}

    def start(name: str, attrs: dict[str, str]) -> None:
        name = sheet_stream.local(name)
        if name == "Relationship" and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            if target.startswith("/"):
                resolved = target.lstrip("/")
            else:
                resolved = posixpath.normpath(posixpath.join(folder, target))
            out[attrs.get("Id", "")] = (resolved, attrs.get("Type", ""))

    sheet_stream.parse_part(zf, rels_part, start, lambda name: None, label="a relationships part")
    return out
