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

from defusedxml import ElementTree

from planner.errors import WorkbookError

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
        raise WorkbookError(f"{p}: no such file")
    if not p.is_file():
        raise WorkbookError(f"{p}: not a file")
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise WorkbookError(f"{p.name}: not an .xlsx workbook ({exc})") from None
    if len(infos) > MAX_PARTS:
        raise WorkbookError(f"{p.name}: refused, the archive holds {len(infos)} parts (limit {MAX_PARTS})")
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names and not any(n.endswith("workbook.xml") for n in names):
        raise WorkbookError(f"{p.name}: not an .xlsx workbook (no xl/workbook.xml part)")
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


def sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Map each worksheet's zip part (``xl/worksheets/sheet1.xml``) to its sheet name."""
    try:
        book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
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
    except (KeyError, ElementTree.ParseError):
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
_EXTLST = re.compile(rb"<(?:\w+:)?extLst\b.*?</(?:\w+:)?extLst>", re.S)
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
            data = zf.read(part)
            found = [label for ext in _EXTLST.findall(data) for key, label in _EXT_KINDS if key in ext]
            if _EXTLST.search(data) and not found:
                found = ["extension content (extLst)"]
            for label in dict.fromkeys(found):
                out.append(f"sheet '{sheet}': {label} will be lost in the copy")
            for rel in _related(zf, part):
                if "/drawings/" in rel and rel.endswith(".xml") and rel in names:
                    drawing = zf.read(rel)
                    if _SHAPE.search(drawing):
                        out.append(f"sheet '{sheet}': shapes and text boxes will be lost in the copy "
                                   "(and the charts drawn with them)")
                    if _PICTURE.search(drawing) and not _HAVE_PILLOW:
                        out.append(f"sheet '{sheet}': pictures will be lost in the copy "
                                   "(install Pillow to keep them)")
                    elif any(m.lower().endswith((".wmf", ".emf")) for m in _related(zf, rel)):
                        out.append(f"sheet '{sheet}': WMF/EMF pictures will be lost in the copy")
        book = zf.read("xl/workbook.xml") if "xl/workbook.xml" in names else b""
        if _EXTLST.search(book) and (b"slicer" in book or b"timeline" in book):
            out.append("workbook: slicer and timeline definitions will be lost in the copy")
        for prefix, label in _BOOK_PARTS:
            if any(n == prefix or n.startswith(prefix) for n in names):
                out.append(f"workbook: {label} will be lost or degraded in the copy")
        if not keep_macros and any(n.endswith("vbaProject.bin") for n in names):
            out.append("workbook: macros (VBA) are not kept in an .xlsx copy; write .xlsm to keep them")
    return out


def has_formulas(path: str | Path) -> bool:
    """True when any worksheet of ``path`` holds a formula (cheap byte scan)."""
    with zipfile.ZipFile(path) as zf:
        return any(
            _FORMULA.search(zf.read(n))
            for n in zf.namelist()
            if n.startswith("xl/worksheets/") and n.endswith(".xml")
        )
