"""Stream the cells of one worksheet part straight from the zip, sparsely and safely.

openpyxl's readers build every row densely (a single cell in column XFD makes each row
16 384 cells wide) and parse the whole workbook; a planner's workbook may hold large sheets
of its own that the scenario never needs.  This module reads only the parts asked for,
keeps cells by position, and parses with expat directly:

* no DTD is accepted (Excel never writes one), so entity expansion and external entities
  are refused before any is declared;
* the part is fed to expat in chunks that grow geometrically, so one huge XML token (a
  comment of many MB) costs linear time (expat < 2.6 rescans a token on every feed);
* comments, processing instructions and unknown elements cost nothing (no handler).

Values come back as Python values (numbers, text, booleans, datetimes), Excel error values
as their text, shared strings as :class:`SharedString` indexes to resolve with
:func:`shared_strings`, formulas with no saved value as :class:`FormulaWithoutValue` and
values the file stores in a form Excel never writes as :class:`UnreadableValue`.
"""

from __future__ import annotations

import math
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any
from xml.parsers import expat

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.datetime import from_excel, from_ISO8601

from planner.errors import WorkbookError

#: First chunk fed to expat; each next chunk is twice as large, up to :data:`MAX_CHUNK`.
FIRST_CHUNK = 64 * 1024
MAX_CHUNK = 32 * 1024**2
#: Errors that reading a damaged zip member can raise.
ZIP_ERRORS: tuple[type[BaseException], ...] = (zipfile.BadZipFile, zlib.error, EOFError, OSError,
                                               NotImplementedError, RuntimeError, ValueError)

_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d{1,7})")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class FormulaWithoutValue:
    """A formula cell whose file holds no computed value (written by a script, never opened)."""

    formula: str

    def __str__(self) -> str:
        return self.formula


@dataclass(frozen=True)
class UnreadableValue:
    """A cell value stored in a form Excel never writes (``NaN`` or hex in a number cell)."""

    text: str
    kind: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class SharedString:
    """Index into the shared-strings part, resolved after the sheets are read."""

    index: int


class _Refused(Exception):
    """Raised inside an expat handler to stop parsing unsafe XML."""


def _forbid(*_: Any) -> None:
    raise _Refused("it declares a DTD or entities (Excel never writes these)")


_LOCAL: dict[str, str] = {}


def local(name: str) -> str:
    """Local part of an element name as expat reports it (``ns c`` or ``x:c`` → ``c``)."""
    got = _LOCAL.get(name)
    if got is None:
        got = _LOCAL[name] = name.rpartition(" ")[2].rpartition(":")[2]
    return got


def _parser(start: Callable[..., None], end: Callable[[str], None],
            text: Callable[[str], None] | None) -> expat.XMLParserType:
    p = expat.ParserCreate(namespace_separator=" ")
    p.buffer_text = True
    p.StartDoctypeDeclHandler = _forbid
    p.EntityDeclHandler = _forbid
    p.UnparsedEntityDeclHandler = _forbid
    p.ExternalEntityRefHandler = _forbid
    p.StartElementHandler = start
    p.EndElementHandler = end
    if text is not None:
        p.CharacterDataHandler = text
    return p


def parse_part(zf: zipfile.ZipFile, part: str, start: Callable[..., None], end: Callable[[str], None],
               text: Callable[[str], None] | None = None, label: str | None = None) -> None:
    """Run expat handlers over one zip member, turning every failure into a WorkbookError.

    Element names reach the handlers namespaced (``uri name``); :func:`local` drops the namespace.
    """
    where = label or part
    p = _parser(start, end, text)
    name = zf.filename or "workbook"
    try:
        with zf.open(part) as stream:
            _feed(p, stream)
    except KeyError:
        raise WorkbookError(f"{_base(name)}: {where} is missing from the file (part {part}); "
                            "the workbook is damaged: open and save it in Excel, or restore a copy") from None
    except _Refused as exc:
        raise WorkbookError(f"{_base(name)}: refused, {where} (part {part}) is unsafe: {exc}") from None
    except expat.ExpatError as exc:
        raise WorkbookError(f"{_base(name)}: {where} (part {part}) is not well-formed XML "
                            f"({expat.ErrorString(exc.code)}, line {exc.lineno}); the workbook is damaged: "
                            "open and save it in Excel, or restore a copy") from None
    except ZIP_ERRORS as exc:
        raise WorkbookError(f"{_base(name)}: {where} (part {part}) cannot be read from the archive "
                            f"({exc}); the file is damaged: restore a copy or save it again in Excel") from None


def _feed(p: expat.XMLParserType, stream: IO[bytes]) -> None:
    size = FIRST_CHUNK
    while chunk := stream.read(size):
        p.Parse(chunk, False)
        size = min(size * 2, MAX_CHUNK)
    p.Parse(b"", True)


def _digits(text: str | None) -> bool:
    """True for a non-empty run of ASCII digits (``str.isdigit`` also accepts ``²``)."""
    return bool(text) and text.isascii() and text.isdigit()  # type: ignore[union-attr]


def _base(name: str) -> str:
    return str(name).replace("\\", "/").rsplit("/", 1)[-1]


_COLUMNS: dict[str, int] = {}


def column_index(letters: str) -> int:
    """0-based index of a column's letters (``A`` → 0, ``XFD`` → 16383)."""
    got = _COLUMNS.get(letters)
    if got is not None:
        return got
    if len(_COLUMNS) < 20_000:
        got = _COLUMNS[letters] = _column_index(letters)
        return got
    return _column_index(letters)


def _column_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


# --------------------------------------------------------------------------- cells


class _CellReader:
    """expat handlers that collect ``{excel row: {column: value}}`` for one sheet."""

    def __init__(self, dates: frozenset[int], timedeltas: frozenset[int], epoch: Any):
        self.rows: dict[int, dict[int, Any]] = {}
        self.dates, self.timedeltas, self.epoch = dates, timedeltas, epoch
        self.keep: set[int] | None = None  # columns with a header, once row 1 is read
        self.row = 0
        self.col = -1
        self.buf: list[str] | None = None
        self.cell: dict[str, Any] | None = None
        self.phonetic = 0
        self.skip = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        name = _LOCAL.get(name) or local(name)
        if self.skip:
            return
        if name == "c":
            ref = attrs.get("r")
            if ref and self.keep is not None:
                m = _REF.fullmatch(ref)
                if m and m[2] != "1" and column_index(m[1].upper()) not in self.keep:
                    self.skip = True  # a cell under no header: nothing can use it
                    return
            self.cell = {"r": ref, "t": attrs.get("t", "n"), "s": attrs.get("s"),
                         "v": None, "f": None, "is": None}
        elif self.cell is None:
            if name == "row":
                self._end_header()
                r = attrs.get("r")
                self.row = int(r) if _digits(r) else self.row + 1
                self.col = -1
        elif name in ("v", "f"):
            self.buf = []
        elif name == "rPh":
            self.phonetic += 1
        elif name == "t" and not self.phonetic:
            self.buf = []
        elif name == "is":
            self.cell["is"] = ""

    def text(self, data: str) -> None:
        if self.buf is not None:
            self.buf.append(data)

    def end(self, name: str) -> None:
        name = _LOCAL.get(name) or local(name)
        if self.skip:
            if name == "c":
                self.skip = False
            return
        cell = self.cell
        if cell is None:
            if name == "sheetData":
                self._end_header()
            return
        if name in ("v", "f") and self.buf is not None:
            cell[name] = "".join(self.buf)
            self.buf = None
        elif name == "t" and self.buf is not None:
            cell["is"] = (cell["is"] or "") + "".join(self.buf)
            self.buf = None
        elif name == "rPh":
            self.phonetic -= 1
        elif name == "c":
            self._store(cell)
            self.cell = None

    def _end_header(self) -> None:
        if self.keep is None and self.row >= 1:
            header = self.rows.get(1, {})
            self.keep = set(header) if self.row == 1 else None
            if self.row == 1 and not header:
                self.keep = set()

    def _store(self, cell: dict[str, Any]) -> None:
        m = _REF.fullmatch(cell["r"] or "")
        if m:
            col, row = column_index(m[1].upper()), int(m[2])
            if row != self.row and self.row >= 1 and row > 1:
                self.row = row
        else:
            col, row = self.col + 1, max(self.row, 1)
        self.col = col
        if row > 1 and self.keep is not None and col not in self.keep:
            return
        value = self._value(cell)
        if value is not None:
            self.rows.setdefault(row, {})[col] = value

    def _value(self, cell: dict[str, Any]) -> Any:
        t, v = cell["t"], cell["v"]
        if t == "inlineStr":
            v = cell["is"]
        if v is None or v == "":
            if cell["f"] is not None:
                return FormulaWithoutValue("=" + cell["f"] if cell["f"] else "(a formula)")
            return None
        if t == "s":
            return SharedString(int(v)) if _digits(v.strip()) else UnreadableValue(v, "a shared-text index")
        if t in ("inlineStr", "str", "e"):
            return v
        if t == "b":
            return {"0": False, "1": True}.get(v.strip(), UnreadableValue(v, "TRUE or FALSE"))
        if t == "d":
            try:
                return from_ISO8601(v.strip())
            except (ValueError, TypeError, OverflowError):
                return UnreadableValue(v, "a date")
        return self._number(v, cell["s"])

    def _number(self, v: str, style: str | None) -> Any:
        text = v.strip()
        if not _DECIMAL.fullmatch(text):
            return UnreadableValue(v, "a number")
        x = float(text)
        if not math.isfinite(x):
            return UnreadableValue(v, "a number")
        s = int(style) if _digits(style) else 0
        if s in self.dates:
            try:
                return from_excel(x, self.epoch, timedelta=s in self.timedeltas)
            except (OverflowError, ValueError, TypeError):
                return UnreadableValue(v, "a date")
        if x.is_integer() and not any(ch in text for ch in ".eE") and abs(x) < 2**53:
            return int(text)
        return x


def read_cells(zf: zipfile.ZipFile, part: str, *, label: str, dates: frozenset[int] = frozenset(),
               timedeltas: frozenset[int] = frozenset(), epoch: Any = None) -> dict[int, dict[int, Any]]:
    """Cells of one worksheet part: ``{excel row: {0-based column: value}}``.

    Row 1 is kept whole; below it only cells under a non-blank row-1 cell are kept (the
    columns a table can use), so stray cells far to the right cost nothing.
    """
    reader = _CellReader(dates, timedeltas, epoch)
    parse_part(zf, part, reader.start, reader.end, reader.text, label=label)
    return reader.rows


# --------------------------------------------------------------------------- shared parts


def shared_strings(zf: zipfile.ZipFile, part: str, wanted: set[int]) -> dict[int, str]:
    """The shared strings whose index is in ``wanted`` (the others are skipped, not kept)."""
    out: dict[int, str] = {}
    state = {"i": -1, "buf": None, "phonetic": 0}
    pieces: list[str] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        name = local(name)
        if name == "si":
            state["i"] += 1
            pieces.clear()
        elif name == "rPh":
            state["phonetic"] += 1
        elif name == "t" and not state["phonetic"] and state["i"] in wanted:
            state["buf"] = []

    def text(data: str) -> None:
        if state["buf"] is not None:
            state["buf"].append(data)

    def end(name: str) -> None:
        name = local(name)
        if name == "t" and state["buf"] is not None:
            pieces.append("".join(state["buf"]))
            state["buf"] = None
        elif name == "rPh":
            state["phonetic"] -= 1
        elif name == "si" and state["i"] in wanted:
            out[state["i"]] = "".join(pieces)

    if wanted:
        parse_part(zf, part, start, end, text, label="the shared text part")
    return out


def date_styles(zf: zipfile.ZipFile, part: str | None) -> tuple[frozenset[int], frozenset[int]]:
    """Indexes of the cell styles that show dates, and of those that show durations."""
    if part is None or part not in zf.namelist():
        return frozenset(), frozenset()
    custom: dict[int, str] = {}
    dates: set[int] = set()
    spans: set[int] = set()
    state = {"xfs": False, "i": -1}

    def start(name: str, attrs: dict[str, str]) -> None:
        name = local(name)
        if name == "numFmt":
            fid = attrs.get("numFmtId", "")
            if _digits(fid):
                custom[int(fid)] = attrs.get("formatCode", "")
        elif name == "cellXfs":
            state["xfs"] = True
        elif name == "xf" and state["xfs"]:
            state["i"] += 1
            fid = attrs.get("numFmtId", "0")
            code = custom.get(int(fid)) if _digits(fid) else None
            if code is None and _digits(fid):
                code = BUILTIN_FORMATS.get(int(fid))
            if code and is_date_format(code):
                dates.add(state["i"])
                if is_timedelta_format(code):
                    spans.add(state["i"])

    def end(name: str) -> None:
        name = local(name)
        if name == "cellXfs":
            state["xfs"] = False

    parse_part(zf, part, start, end, None, label="the styles part")
    return frozenset(dates), frozenset(spans)
