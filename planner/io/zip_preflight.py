"""Look inside an xlsx file as the zip archive it is, before and instead of parsing it.

Two jobs, neither needs openpyxl:

* :func:`preflight` refuses a file whose parts would expand past a sane size or
  compression ratio (a "zip bomb") *before* any XML is parsed.  Python's ``zipfile`` never
  inflates a member past its declared size, so checking the declared sizes is enough.
* :func:`losses` names the content an openpyxl load + save would silently drop (shapes,
  worksheet ``extLst`` content, dynamic-array metadata, pivot caches …) so the writer can
  warn about it by sheet name.

The few XML parts read here are parsed with ``defusedxml``.
"""

from __future__ import annotations

import importlib.util
import posixpath
import re
import zipfile
from pathlib import Path

from defusedxml import DefusedXmlException, ElementTree

from planner.errors import WorkbookError
from planner.io.sheet_stream import ZIP_ERRORS

#: Largest inflated size of one part (bytes).
MAX_PART_BYTES = 256 * 1024**2
#: Largest inflated size of all parts together (bytes).
MAX_TOTAL_BYTES = 512 * 1024**2
#: Largest compression ratio accepted for a part bigger than :data:`RATIO_FLOOR_BYTES`.
MAX_RATIO = 200.0
RATIO_FLOOR_BYTES = 4 * 1024**2
#: Most parts an xlsx may hold.
MAX_PARTS = 10_000

_HAVE_PILLOW = importlib.util.find_spec("PIL") is not None
_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def preflight(path: str | Path) -> None:
    """Refuse a file that is not a sane xlsx archive, before anything parses it.

    Parameters
    ----------
    path : str or Path
        The workbook.

    Raises
    ------
    WorkbookError
        The file is missing, not a zip archive, not a workbook, or a part expands past
        :data:`MAX_PART_BYTES` / :data:`MAX_TOTAL_BYTES` or by more than :data:`MAX_RATIO`.
    """
    p = Path(path)
    if not p.exists():
        raise WorkbookError(f"{p}: no such file: check the name and folder")
    if p.is_dir():
        raise WorkbookError(f"{p}: is a folder, not a workbook: give the path of an .xlsx file")
    if not p.is_file():
        raise WorkbookError(f"{p}: is not a regular file: give the path of an .xlsx file")
    try:
        with p.open("rb") as f:
            head = f.read(8192)
    except OSError as exc:
        raise WorkbookError(f"{p}: cannot be read ({exc.strerror or exc}): check its permissions, "
                            "or close it in the program that locks it") from None
    if not head.startswith(b"PK"):
        raise WorkbookError(f"{p.name}: {what_file(head, p)}")
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise WorkbookError(f"{p.name}: is damaged: it starts like an .xlsx (zip) file but its contents "
                            f"cannot be listed ({exc}); restore a copy or save it again in Excel") from None
    if len(infos) > MAX_PARTS:
        raise WorkbookError(f"{p.name}: refused, the archive holds {len(infos)} parts (limit {MAX_PARTS})")
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names and not any(n.endswith("workbook.xml") for n in names):
        raise WorkbookError(f"{p.name}: {what_zip(names)}")
    total = 0
    for info in infos:
        size = info.file_size
        total += size
        if size > MAX_PART_BYTES:
            raise WorkbookError(
                f"{p.name}: refused, part {info.filename} expands to {size / 1024**2:,.0f} MB "
                f"(limit {MAX_PART_BYTES / 1024**2:,.0f} MB)"
            )
        ratio = size / max(info.compress_size, 1)
        if size > RATIO_FLOOR_BYTES and ratio > MAX_RATIO:
            raise WorkbookError(
                f"{p.name}: refused, part {info.filename} expands {ratio:,.0f}x "
                f"(limit {MAX_RATIO:,.0f}x): this looks like a zip bomb"
            )
    if total > MAX_TOTAL_BYTES:
        raise WorkbookError(
            f"{p.name}: refused, the workbook expands to {total / 1024**2:,.0f} MB "
            f"(limit {MAX_TOTAL_BYTES / 1024**2:,.0f} MB)"
        )
    with zipfile.ZipFile(p) as zf:
        for info in infos:
            if info.filename.lower().endswith((".xml", ".rels", ".vml")) and _declares_dtd(zf, info):
                raise WorkbookError(
                    f"{p.name}: refused, part {info.filename} declares a DTD (XML entities), which Excel "
                    "never writes and which can be used to attack the reader: save the workbook again "
                    "in Excel, or rebuild it from the template"
                )


_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def what_file(head: bytes, path: Path) -> str:
    """Say what a file that is not a zip archive is, and what to do (``head``: its first bytes)."""
    if not head:
        return "is empty (0 bytes): it is not a workbook; save the workbook again or restore a copy"
    if head.startswith(_OLE):
        if "EncryptedPackage".encode("utf-16-le") in _read_all_head(path):
            return ("is password-protected (encrypted): planner cannot read encrypted workbooks; open it "
                    "in Excel, remove the password (File > Info > Protect Workbook > Encrypt with "
                    "Password, clear it) and save, then try again")
        return ("is an old Excel 97-2003 workbook (.xls) or another Office binary file, not an .xlsx: "
                "open it in Excel or LibreOffice and save it as Excel Workbook (.xlsx)")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" not in head[:4096]:
        text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
        if text.startswith((b"<html", b"<!doctype html", b"<table")):
            return ("is a web page (HTML), not an .xlsx workbook: open it in Excel and save it as "
                    "Excel Workbook (.xlsx)")
        if text.startswith(b"<?xml"):
            return ("is an XML file (perhaps Excel 2003 XML), not an .xlsx workbook: open it in Excel "
                    "and save it as Excel Workbook (.xlsx)")
        if text.startswith(b"%pdf"):
            return "is a PDF document, not a workbook"
        return ("is a text file (CSV or similar), not an .xlsx workbook, although its name says so: "
                "open it in Excel and save it as Excel Workbook (.xlsx), or pass it where a CSV file "
                "is expected")
    return "is not an .xlsx workbook (it is not a zip archive): save the workbook as Excel Workbook (.xlsx)"


def _read_all_head(path: Path, limit: int = 1 << 20) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(limit)
    except OSError:
        return b""


def what_zip(names: set[str]) -> str:
    """Say what a zip archive without a workbook part is, and what to do."""
    if "mimetype" in names and any(n == "content.xml" for n in names):
        return ("is an OpenDocument spreadsheet (.ods), not an .xlsx: open it in LibreOffice or Excel "
                "and save it as Excel Workbook (.xlsx)")
    if any(n.endswith("workbook.bin") for n in names):
        return ("is an Excel binary workbook (.xlsb), not an .xlsx: open it in Excel and save it as "
                "Excel Workbook (.xlsx)")
    if any(n.startswith("word/") for n in names) or any(n.startswith("ppt/") for n in names):
        return "is a Word or PowerPoint document, not an Excel workbook"
    return ("is a zip archive but not an .xlsx workbook (no xl/workbook.xml part): give the workbook "
            "itself, not an archive holding it")


def _declares_dtd(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """True when an XML part's prolog holds ``<!DOCTYPE`` (streamed; linear in the prolog)."""
    buf = b""
    in_comment = False
    try:
        with zf.open(info) as stream:
            while True:
                chunk = stream.read(64 * 1024)
                buf += chunk
                while True:
                    if in_comment:
                        j = buf.find(b"-->")
                        if j < 0:
                            buf = buf[-2:]
                            break
                        buf, in_comment = buf[j + 3:], False
                        continue
                    buf = buf.lstrip(b" \t\r\n")
                    if buf.startswith(b"\xef\xbb\xbf"):
                        buf = buf[3:]
                        continue
                    if buf.startswith(b"<?"):
                        j = buf.find(b"?>")
                        if j < 0:
                            if len(buf) > 1 << 20:
                                return False
                            break
                        buf = buf[j + 2:]
                        continue
                    if buf.startswith(b"<!--"):
                        buf, in_comment = buf[4:], True
                        continue
                    if len(buf) < 9 and chunk:
                        break
                    return buf[:9].upper() == b"<!DOCTYPE"
                if not chunk:
                    return False
    except ZIP_ERRORS:
        return False  # damage is reported when, and if, the part is needed


def sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Map each worksheet's zip part (``xl/worksheets/sheet1.xml``) to its sheet name."""
    try:
        book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError, DefusedXmlException, *ZIP_ERRORS):
        return {}
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{_NS_PKG}Relationship")}
    out: dict[str, str] = {}
    for sheet in book.iter(f"{_NS_MAIN}sheet"):
        target = targets.get(sheet.get(f"{_NS_REL}id"), "")
        if target:
            out[_resolve("xl/workbook.xml", target)] = sheet.get("name", "?")
    return out


def _resolve(source_part: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def _related(zf: zipfile.ZipFile, part: str) -> list[str]:
    rels = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
    try:
        root = ElementTree.fromstring(zf.read(rels))
    except (KeyError, ElementTree.ParseError, DefusedXmlException, *ZIP_ERRORS):
        return []
    return [
        _resolve(part, r.get("Target", ""))
        for r in root.iter(f"{_NS_PKG}Relationship")
        if r.get("TargetMode") != "External"
    ]


_EXT_KINDS = (
    (rb"sparklineGroup", "sparklines"),
    (rb"dataValidations", "extended data validations (lists on other sheets, x14)"),
    (rb"conditionalFormatting", "extended conditional formats (data bars, icon sets)"),
    (rb"slicerList", "slicers"),
    (rb"timelineRef", "timelines"),
)
_EXTLST_TAG = re.compile(rb"<(/?)(?:\w{1,64}:)?extLst\b")
_SHAPE = re.compile(rb"<(?:\w+:)?(?:sp|grpSp|cxnSp)\b")
_PICTURE = re.compile(rb"<(?:\w+:)?pic\b")
_FORMULA = re.compile(rb"<(?:\w+:)?f[ >/]")

_BOOK_PARTS = (
    ("xl/metadata.xml", "dynamic-array formulas and in-cell data types (xl/metadata.xml)"),
    ("xl/richData/", "pictures in cells (xl/richData)"),
    ("xl/pivotCache/", "pivot caches (pivot tables may need a Refresh)"),
    ("xl/slicerCaches/", "slicers"),
    ("xl/timelineCaches/", "timelines"),
    ("xl/threadedComments/", "threaded comments (kept only as plain notes)"),
    ("xl/model/", "the Power Pivot data model"),
    ("xl/connections.xml", "data connections / Power Query"),
    ("xl/queryTables/", "query tables"),
    ("xl/ctrlProps/", "form controls"),
    ("xl/activeX/", "ActiveX controls"),
    ("xl/embeddings/", "embedded objects (OLE)"),
    ("customXml/", "custom XML parts"),
)


def losses(path: str | Path, keep_macros: bool = False) -> list[str]:
    """Name everything in ``path`` that an openpyxl load + save would lose.

    Parameters
    ----------
    path : str or Path
        An xlsx workbook (already through :func:`preflight`).
    keep_macros : bool
        True when the copy keeps the VBA project (an ``.xlsm`` output).

    Returns
    -------
    list of str
        One warning per kind of loss, naming the sheet where that is known.
    """
    out: list[str] = []
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        sheets = sheet_parts(zf)
        for part, sheet in sheets.items():
            if part not in names:
                continue
            data = _read(zf, part)
            blocks = ext_blocks(data)
            found = [label for ext in blocks for key, label in _EXT_KINDS if key in ext]
            if blocks and not found:
                found = ["extension content (extLst)"]
            for label in dict.fromkeys(found):
                out.append(f"sheet '{sheet}': {label} will be lost in the copy")
            for rel in _related(zf, part):
                if "/drawings/" in rel and rel.endswith(".xml") and rel in names:
                    drawing = _read(zf, rel)
                    if _SHAPE.search(drawing):
                        out.append(f"sheet '{sheet}': shapes and text boxes will be lost in the copy "
                                   "(and the charts drawn with them)")
                    if _PICTURE.search(drawing) and not _HAVE_PILLOW:
                        out.append(f"sheet '{sheet}': pictures will be lost in the copy "
                                   "(install Pillow to keep them)")
                    elif any(m.lower().endswith((".wmf", ".emf")) for m in _related(zf, rel)):
                        out.append(f"sheet '{sheet}': WMF/EMF pictures will be lost in the copy")
        book = _read(zf, "xl/workbook.xml") if "xl/workbook.xml" in names else b""
        if ext_blocks(book) and (b"slicer" in book or b"timeline" in book):
            out.append("workbook: slicer and timeline definitions will be lost in the copy")
        for prefix, label in _BOOK_PARTS:
            if any(n == prefix or n.startswith(prefix) for n in names):
                out.append(f"workbook: {label} will be lost or degraded in the copy")
        if not keep_macros and any(n.endswith("vbaProject.bin") for n in names):
            out.append("workbook: macros (VBA) are not kept in an .xlsx copy; write .xlsm to keep them")
    return out


def has_formulas(path: str | Path) -> bool:
    """True when any worksheet a sheet refers to holds a formula (cheap byte scan)."""
    with zipfile.ZipFile(path) as zf:
        return any(_FORMULA.search(_read(zf, n)) for n in sheet_parts(zf))


def ext_blocks(data: bytes) -> list[bytes]:
    """The ``<extLst>…</extLst>`` blocks of an XML part, outermost, in one linear pass.

    An opening with no closing is ignored (a regular expression with ``.*?`` would rescan
    to the end of the part for each such opening: quadratic).
    """
    out: list[bytes] = []
    depth, start = 0, 0
    for m in _EXTLST_TAG.finditer(data):
        closing = bool(m[1])
        if not closing:
            if depth == 0:
                start = m.start()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                end = data.find(b">", m.end(), m.end() + 64)
                out.append(data[start:end + 1 if end >= 0 else m.end()])
    return out


def _read(zf: zipfile.ZipFile, part: str) -> bytes:
    """A part's bytes; empty when it is missing or damaged (losses are best effort)."""
    try:
        return zf.read(part)
    except (KeyError, *ZIP_ERRORS):
        return b""
