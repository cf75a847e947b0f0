"""Merge planner's sheets into a copy of the user's workbook, part by part.

Every part of the user's package is copied byte for byte except the bookkeeping that must
change: ``xl/workbook.xml`` (its ``<sheets>`` and ``<definedNames>`` only, edited as bytes),
the workbook's relationships, ``[Content_Types].xml`` and ``xl/styles.xml`` (styles appended,
see :mod:`planner.io.styles_merge`).  So the user's sheets keep everything: cached formula
values, shapes, sparklines, slicers, ``extLst`` content, data validations, pivot tables.

Planner's sheets are rendered into a fresh workbook by openpyxl, then copied in with their
tables, drawings and charts under fresh part names.  Each is marked by a hidden
sheet-scoped defined name (:data:`MARK`); a sheet without the mark was not written by
planner and is never replaced unless asked (``force``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from defusedxml import DefusedXmlException, ElementTree

from planner.errors import OutputError
from planner.io import package as pk
from planner.io.grids import normalize_sheet
from planner.io.sheet_xml import Deferred, finish_sheet
from planner.io.styles_merge import MAIN, merge_styles

#: Hidden defined name, scoped to each sheet planner wrote.
MARK = "_planner_result"
MARK_TEXT = '"written by planner"'
_M = "{" + MAIN + "}"


def sheet_key(name: str) -> str:
    """Sheet names clash when equal ignoring case, spaces and ``_`` (as the reader matches them)."""
    return normalize_sheet(name)


@dataclass
class Book:
    """The parsed ``workbook.xml`` of a package: sheets and defined names, with raw bytes."""

    part: str
    data: bytes
    prefix: bytes
    r_prefix: bytes | None
    sheets: list[dict[str, str]]
    raw_sheets: list[bytes]
    names: list[tuple[dict[str, str], bytes]]
    rels: list[pk.Rel]

    @classmethod
    def read(cls, pkg: pk.Package) -> Book:
        part = pkg.book()
        data = pkg.parts.get(part)
        head = re.match(rb"\s*(?:<\?xml[^>]*\?>\s*)?<(?:(\w+):)?workbook\b([^>]*)>", data or b"")
        if data is None or head is None:
            raise OutputError("the workbook part is missing or not a workbook")
        try:
            root = ElementTree.fromstring(data)
        except ElementTree.ParseError as exc:
            raise OutputError(f"the workbook part is unreadable ({exc})") from None
        if root.tag != _M + "workbook":
            raise OutputError("the workbook uses an unsupported namespace (strict Open XML?)")
        prefix = head.group(1) or b""
        r = re.search(rb'xmlns:(\w+)="' + re.escape(pk.DOC_REL.encode()) + b'"', head.group(2))
        sheets = [{"name": s.get("name", ""), "sheetId": s.get("sheetId", "0"),
                   "rid": s.get(f"{{{pk.DOC_REL}}}id", "")} for s in root.iter(_M + "sheet")]
        block = _block(data, prefix, b"sheets")
        pat = rb"<" + _p(prefix) + rb"sheet\b[^>]*?(?:/>|>\s*</" + _p(prefix) + rb"sheet>)"
        raw = re.findall(pat, data[block[0]:block[1]]) if block else []
        if len(raw) != len(sheets):
            raise OutputError("the workbook's sheet list cannot be edited safely")
        names = []
        nblock = _block(data, prefix, b"definedNames")
        if nblock:
            pat = rb"<" + _p(prefix) + rb"definedName\b[^>]*?(?:/>|>.*?</" + _p(prefix) + rb"definedName>)"
            raws = re.findall(pat, data[nblock[0]:nblock[1]], re.S)
            parsed = list(root.iter(_M + "definedName"))
            if len(raws) != len(parsed):
                raise OutputError("the workbook's defined names cannot be edited safely")
            names = [(dict(d.attrib) | {"_text": d.text or ""}, b) for d, b in zip(parsed, raws, strict=False)]
        return cls(part, data, prefix, r.group(1) if r else None, sheets, raw, names, pkg.rels(part))

    def sheet_part(self, index: int) -> str | None:
        rid = self.sheets[index]["rid"]
        return next((r.part(self.part) for r in self.rels if r.id == rid), None)

    def owned(self) -> set[int]:
        return {_local(a) for a, _ in self.names if a.get("name") == MARK}


def _spot(book: Book, title: str) -> int | None:
    """The sheet ``title`` replaces: the one Excel would call the same (case-insensitively),
    else the first that matches it ignoring spaces and ``_`` too."""
    names = [s["name"] for s in book.sheets]
    exact = [i for i, n in enumerate(names) if n.lower() == title.lower()]
    near = [i for i, n in enumerate(names) if sheet_key(n) == sheet_key(title)]
    return (exact or near or [None])[0]


def _local(attrs: dict[str, str]) -> int:
    """The sheet index a defined name is scoped to (-1: the workbook)."""
    text = attrs.get("localSheetId", "")
    return int(text) if text.strip().isdigit() else -1


def _p(prefix: bytes) -> bytes:
    return prefix + b":" if prefix else b""


def _block(data: bytes, prefix: bytes, tag: bytes) -> tuple[int, int] | None:
    """Span of element ``tag`` (open tag to close tag) in ``data``."""
    m = re.search(rb"<" + _p(prefix) + tag + rb"\b[^>]*?(/?)>", data)
    if m is None:
        return None
    if m.group(1):
        return m.start(), m.end()
    end = data.find(b"</" + _p(prefix) + tag + b">", m.end())
    return None if end < 0 else (m.start(), end + len(b"</" + _p(prefix) + tag + b">"))


@dataclass
class Merged:
    """Parts of the merged package in order, and what the merge has to say."""

    parts: list[tuple[str, bytes]]
    warnings: list[str] = field(default_factory=list)


def clashes(user: pk.Package, titles: Sequence[str]) -> list[str]:
    """Sheets of ``user`` that planner's ``titles`` would replace but planner did not write."""
    book = Book.read(user)
    owned = book.owned()
    keys = {sheet_key(t) for t in titles}
    return [s["name"] for i, s in enumerate(book.sheets) if sheet_key(s["name"]) in keys and i not in owned]


def dropped_sheets(existing: str | Path, source: str | Path | None, titles: Sequence[str]) -> list[str]:
    """Sheets of the file at ``existing`` that replacing it with the new workbook would drop.

    The new workbook holds the sheets of ``source`` (None: none) and ``titles``.

    Raises
    ------
    OutputError
        ``existing`` is not a workbook (replacing it needs ``force``).
    """
    if not pk.is_workbook(existing):
        raise OutputError(f"{existing}: exists and is not a workbook; pass --force to replace it, "
                          "or write to another file")
    kept = {sheet_key(t) for t in titles}
    if source is not None:
        kept |= {sheet_key(s["name"]) for s in Book.read(pk.Package.read(source)).sheets}
    return [s["name"] for s in Book.read(pk.Package.read(existing)).sheets if sheet_key(s["name"]) not in kept]


def merge(user: pk.Package, result: pk.Package, deferred: dict[str, list[Deferred]], *,
          force: bool = False, macros: bool = False) -> Merged:
    """The merged package (see :func:`_merge`); a part it cannot parse is an :class:`OutputError`."""
    try:
        return _merge(user, result, deferred, force=force, macros=macros)
    except (ElementTree.ParseError, DefusedXmlException, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise OutputError(f"planner cannot copy this workbook safely ({type(exc).__name__}: {exc}); "
                          "write the results to a fresh workbook with --results-only") from None


def _merge(user: pk.Package, result: pk.Package, deferred: dict[str, list[Deferred]], *,
           force: bool = False, macros: bool = False) -> Merged:
    """The user's package with the result package's sheets added or replacing planner's own.

    Parameters
    ----------
    user, result : Package
        The workbook to copy, and the workbook openpyxl rendered planner's sheets into.
    deferred : dict
        Table rows left to :func:`planner.io.sheet_xml.finish_sheet`, by sheet title.
    force : bool
        Replace a clashing sheet even when planner did not write it.
    macros : bool
        The output is ``.xlsm``: keep the VBA project (else it is dropped, with a warning).

    Raises
    ------
    OutputError
        A sheet planner did not write would be replaced (and not ``force``), or the package
        cannot be edited safely.
    """
    book, res = Book.read(user), Book.read(result)
    titles = [s["name"] for s in res.sheets]
    bad = [] if force else clashes(user, titles)
    if bad:
        raise OutputError(
            f"the workbook has its own sheet{'s' if len(bad) > 1 else ''} "
            f"{', '.join(repr(b) for b in bad)}, which planner did not write; planner never replaces "
            "your sheets. Rename them, write to another file, or pass --force to replace them.")
    warnings: list[str] = []
    spot = {t: i for t in titles if (i := _spot(book, t)) is not None}
    replaced = {i: t for t, i in spot.items()}
    removed = {p for i in replaced if (p := book.sheet_part(i))}
    roots = [r.part("") for r in user.rels("") if r.part("")]
    keep = user.reach([r for r in roots if r], frozenset(removed))
    dropped = user.reach([r for r in roots if r]) - keep
    drop_rels = {r.id for r in book.rels if r.part(book.part) in removed}
    if removed:  # the calculation chain lists cells of the removed sheets: Excel rebuilds it
        for rel in book.rels:
            if rel.type == pk.R_CALC:
                dropped.add(rel.part(book.part) or "")
                drop_rels.add(rel.id)
    if not macros:
        for rel in book.rels:
            if rel.type == pk.R_VBA:
                dropped |= user.reach([rel.part(book.part) or ""])
                drop_rels.add(rel.id)
                warnings.append("workbook: macros (VBA) are not kept in an .xlsx copy; write .xlsm to keep them")
    dropped |= {pk.rels_name(p) for p in dropped}

    # planner's parts under fresh names
    res_parts = {i: res.sheet_part(i) or "" for i in range(len(titles))}
    imported = sorted(result.reach(res_parts.values()))
    taken = set(user.parts)
    rename = {p: _fresh(p, taken) for p in imported}
    styles_part = next((r.part(book.part) for r in book.rels if r.type == pk.R_STYLES), None)
    res_styles = next((r.part(res.part) for r in res.rels if r.type == pk.R_STYLES), None)
    styles, smap = merge_styles(user.parts.get(styles_part) if styles_part else None,
                                result.parts[res_styles or "xl/styles.xml"])
    new: dict[str, bytes] = {}
    tables = _TableNames(user, keep, book)
    for old in imported:
        data = result.parts[old]
        ctype = result.content_type(old) or ""
        if ctype.endswith("worksheet+xml"):
            title = titles[[i for i, p in res_parts.items() if p == old][0]]
            data = finish_sheet(data, deferred.get(title, []), lambda i: smap.xf.get(i, 0),
                                lambda i: smap.dxf.get(i, 0))
        elif ctype.endswith("table+xml"):
            data = tables.fix(data, lambda i: smap.dxf.get(i, 0), warnings)
        new[rename[old]] = data
        rels = result.rels(old)
        if rels:
            for rel in rels:
                target = rel.part(old)
                if target in rename:
                    rel.target = pk.relative(rename[old], rename[target])
            new[pk.rels_name(rename[old])] = pk.rels_xml(rels)

    # workbook relationships, sheets and names
    rels = [r for r in book.rels if r.id not in drop_rels]
    used = {r.id for r in rels}
    next_id = max([int(m.group(1)) for r in rels if (m := re.fullmatch(r"rId(\d+)", r.id))] + [0]) + 1
    next_sheet = max([int(s["sheetId"]) for s in book.sheets if s["sheetId"].isdigit()] + [0]) + 1
    entries: list[bytes] = list(book.raw_sheets)
    positions: dict[int, int] = {}
    for i, title in enumerate(titles):
        while f"rId{next_id}" in used:
            next_id += 1
        rid = f"rId{next_id}"
        used.add(rid)
        rels.append(pk.Rel(rid, pk.R_SHEET, pk.relative(book.part, rename[res_parts[i]])))
        elem = _sheet_elem(book, title, next_sheet, rid)
        next_sheet += 1
        at = spot.get(title)
        if at is None:
            at = len(entries)
            entries.append(elem)
        else:
            entries[at] = elem
        positions[i] = at
    if styles_part is None:
        styles_part = posixpath.join(posixpath.dirname(book.part), "styles.xml")
        while f"rId{next_id}" in used:
            next_id += 1
        rels.append(pk.Rel(f"rId{next_id}", pk.R_STYLES, pk.relative(book.part, styles_part)))
    names = [raw for attrs, raw in book.names if _local(attrs) not in replaced]
    for attrs, _ in res.names:
        local = _local(attrs)
        if local in positions:
            names.append(_name_elem(book.prefix, attrs | {"localSheetId": str(positions[local])}))
    data = _replace_block(book.data, book.prefix, b"sheets", b"".join(entries), None)
    data = _replace_block(data, book.prefix, b"definedNames", b"".join(names), b"sheets")

    defaults, overrides = user.content_types()
    overrides = {p: t for p, t in overrides.items() if p not in dropped}
    overrides[book.part] = pk.CT_BOOK_MACRO if macros else pk.CT_BOOK
    overrides[styles_part] = pk.CT_STYLES
    for old, name in rename.items():
        overrides[name] = result.content_type(old) or "application/xml"
    changed = {book.part: data, pk.rels_name(book.part): pk.rels_xml(rels), styles_part: styles,
               "[Content_Types].xml": pk.content_types_xml(defaults, overrides)}
    out = [(n, changed.pop(n, d)) for n, d in user.parts.items() if n not in dropped]
    out += list(changed.items()) + [(n, d) for n, d in new.items()]
    return Merged(out, warnings)


def fresh(result: pk.Package, deferred: dict[str, list[Deferred]]) -> list[tuple[str, bytes]]:
    """The parts of a fresh workbook of planner's sheets, with the deferred rows written."""
    book = Book.read(result)
    parts = dict(result.parts)
    for i, sheet in enumerate(book.sheets):
        part = book.sheet_part(i)
        if part in parts:
            parts[part] = finish_sheet(parts[part], deferred.get(sheet["name"], []), int, int, keep_tab=True)
    return list(parts.items())


def _fresh(part: str, taken: set[str]) -> str:
    """A part name like ``part`` that is not taken (``sheet7.xml`` → ``sheet12.xml``)."""
    folder, base = posixpath.split(part)
    m = re.fullmatch(r"(.*?)(\d*)(\.[^.]+)", base)
    stem, ext = (m.group(1), m.group(3)) if m else (base, "")
    n = 1
    while (name := posixpath.join(folder, f"{stem}{n}{ext}")) in taken:
        n += 1
    taken.add(name)
    return name


def _sheet_elem(book: Book, title: str, sheet_id: int, rid: str) -> bytes:
    p = _p(book.prefix).decode()
    if book.r_prefix is not None:
        rattr = f"{book.r_prefix.decode()}:id={quoteattr(rid)}"
    else:
        rattr = f'xmlns:pr="{pk.DOC_REL}" pr:id={quoteattr(rid)}'
    return f"<{p}sheet name={quoteattr(title)} sheetId=\"{sheet_id}\" {rattr}/>".encode()


def _name_elem(prefix: bytes, attrs: dict[str, str]) -> bytes:
    p = _p(prefix).decode()
    text = attrs.pop("_text", "")
    body = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items() if not k.startswith("{"))
    return f"<{p}definedName{body}>{escape(text)}</{p}definedName>".encode()


def _replace_block(data: bytes, prefix: bytes, tag: bytes, body: bytes, after: bytes | None) -> bytes:
    span = _block(data, prefix, tag)
    p = _p(prefix)
    block = (b"<" + p + tag + b">" + body + b"</" + p + tag + b">") if body else b""
    if span is not None:
        return data[:span[0]] + block + data[span[1]:]
    if not block or after is None:
        return data
    anchors = [s for t in (b"externalReferences", b"functionGroups", after) if (s := _block(data, prefix, t))]
    at = max(s[1] for s in anchors)
    return data[:at] + block + data[at:]


class _TableNames:
    """Table ids and names must be unique in a workbook: renumber and rename planner's."""

    def __init__(self, user: pk.Package, keep: set[str], book: Book):
        tables = [user.parts[p] for p in keep if (user.content_type(p) or "").endswith("table+xml")]
        self.ids = {int(m) for t in tables for m in re.findall(rb'<(?:\w+:)?table\b[^>]*?\sid="(\d+)"', t)}
        self.names = {m.decode().lower() for t in tables
                      for m in re.findall(rb'<(?:\w+:)?table\b[^>]*?\sdisplayName="([^"]*)"', t)}
        self.names |= {a.get("name", "").lower() for a, _ in book.names}

    def fix(self, data: bytes, dxf: Callable[[int], int], warnings: list[str]) -> bytes:
        new_id = max(self.ids | {0}) + 1
        self.ids.add(new_id)
        xml = re.sub(rb'(<table\b[^>]*?\sid=")\d+"', lambda m: m.group(1) + str(new_id).encode() + b'"', data, count=1)
        m = re.search(rb'<table\b[^>]*?\sdisplayName="([^"]*)"', xml)
        if m:
            name = m.group(1).decode()
            final, k = name, 2
            while final.lower() in self.names:
                final, k = f"{name}_{k}", k + 1
            self.names.add(final.lower())
            if final != name:
                warnings.append(f"table {name!r} is already used in the workbook; planner's is named {final!r}")
                xml = re.sub(rb'(\s(?:name|displayName)=")' + re.escape(m.group(1)) + rb'"',
                             lambda x: x.group(1) + final.encode() + b'"', xml, count=2)
        return re.sub(rb'(\s\w*DxfId=")(\d+)"',
                      lambda x: x.group(1) + str(dxf(int(x.group(2)))).encode() + b'"', xml)
