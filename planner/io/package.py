"""An xlsx file as the zip package it is: parts, relationships and content types.

:class:`Package` reads parts as bytes and answers the questions the merge in
:mod:`planner.io.merge` asks (which part a relationship points at, which parts a part
reaches, the content type of a part).  Only the small bookkeeping parts (relationships,
content types) are ever re-serialised; they hold nothing but what is parsed here.
"""

from __future__ import annotations

import posixpath
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import quoteattr

from defusedxml import ElementTree

from planner.errors import OutputError

PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
R_OFFICE = DOC_REL + "/officeDocument"
R_SHEET = DOC_REL + "/worksheet"
R_STYLES = DOC_REL + "/styles"
R_CALC = DOC_REL + "/calcChain"
R_VBA = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
CT_BOOK = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
CT_BOOK_MACRO = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
CT_STYLES = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"


@dataclass
class Rel:
    """One relationship: ``Id``, ``Type``, ``Target`` and ``TargetMode``."""

    id: str
    type: str
    target: str
    mode: str | None = None

    def part(self, source: str) -> str | None:
        """The part this relationship points at (None when external)."""
        if self.mode == "External":
            return None
        return resolve(source, self.target)


def resolve(source: str, target: str) -> str:
    """Part name of ``target`` relative to part ``source`` (``""`` is the package root)."""
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


def rels_name(part: str) -> str:
    """Name of the relationships part of ``part`` (``""``: the package's ``_rels/.rels``)."""
    return posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")


def relative(source: str, part: str) -> str:
    """A relationship target from ``source`` to ``part``."""
    return posixpath.relpath(part, posixpath.dirname(source) or ".")


def rels_xml(rels: Iterable[Rel]) -> bytes:
    body = "".join(
        f"<Relationship Id={quoteattr(r.id)} Type={quoteattr(r.type)} Target={quoteattr(r.target)}"
        + (f" TargetMode={quoteattr(r.mode)}" if r.mode else "") + "/>"
        for r in rels)
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<Relationships xmlns="{PKG_REL}">{body}</Relationships>').encode()


class Package:
    """The parts of an xlsx file, in their order, as bytes."""

    def __init__(self, parts: dict[str, bytes], infos: dict[str, zipfile.ZipInfo] | None = None,
                 damaged: dict[str, str] | None = None):
        self.parts = parts
        self.infos = infos or {}
        #: parts that could not be read (bad CRC, corrupt data): name → why
        self.damaged = damaged or {}

    @classmethod
    def read(cls, source: str | Path | BinaryIO) -> Package:
        """Every part of the package; a damaged part is recorded in ``damaged``, not read."""
        parts: dict[str, bytes] = {}
        damaged: dict[str, str] = {}
        try:
            with zipfile.ZipFile(source) as zf:
                infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}
                for name in infos:
                    try:
                        parts[name] = zf.read(name)
                    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                        damaged[name] = str(exc)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise OutputError(f"cannot read the workbook to copy ({exc})") from None
        return cls(parts, {n: i for n, i in infos.items() if n in parts}, damaged)

    def check_damaged(self) -> list[str]:
        """Warnings for damaged parts nothing refers to (left out of a copy); an error for one
        the workbook uses."""
        used = {rel.part(p) for p in self.reach([""]) for rel in self.rels(p)}
        for name, why in self.damaged.items():
            if name in used or name == "_rels/.rels" or rels_name(name) in self.parts:
                raise OutputError(f"cannot copy the workbook: its part {name} is damaged ({why}); "
                                  "open and save it in Excel or LibreOffice, or write with --results-only")
        return [f"{name} is damaged and no sheet uses it: it is left out of the copy"
                for name in sorted(self.damaged)]

    def rels(self, part: str) -> list[Rel]:
        data = self.parts.get(rels_name(part))
        if data is None:
            return []
        try:
            root = ElementTree.fromstring(data)
        except ElementTree.ParseError as exc:
            raise OutputError(f"{rels_name(part)}: unreadable relationships ({exc})") from None
        return [Rel(r.get("Id", ""), r.get("Type", ""), r.get("Target", ""), r.get("TargetMode"))
                for r in root.iter(f"{{{PKG_REL}}}Relationship")]

    def reach(self, starts: Iterable[str], blocked: frozenset[str] = frozenset()) -> set[str]:
        """Every part reachable through relationships from ``starts`` (not through ``blocked``)."""
        seen: set[str] = set()
        todo = [s for s in starts if s not in blocked]
        while todo:
            part = todo.pop()
            if part in seen:
                continue
            seen.add(part)
            for rel in self.rels(part):
                target = rel.part(part)
                if target is not None and target not in seen and target not in blocked and target in self.parts:
                    todo.append(target)
        return seen

    def book(self) -> str:
        for rel in self.rels(""):
            if rel.type == R_OFFICE:
                return rel.part("") or "xl/workbook.xml"
        return "xl/workbook.xml"

    def content_types(self) -> tuple[dict[str, str], dict[str, str]]:
        """Defaults (extension → type) and overrides (part name → type)."""
        try:
            root = ElementTree.fromstring(self.parts["[Content_Types].xml"])
        except (KeyError, ElementTree.ParseError) as exc:
            raise OutputError(f"the workbook has no readable content types ({exc})") from None
        defaults = {d.get("Extension", "").lower(): d.get("ContentType", "")
                    for d in root.iter(f"{{{CT_NS}}}Default")}
        overrides = {o.get("PartName", "").lstrip("/"): o.get("ContentType", "")
                     for o in root.iter(f"{{{CT_NS}}}Override")}
        return defaults, overrides

    def content_type(self, part: str) -> str | None:
        defaults, overrides = self.content_types()
        return overrides.get(part) or defaults.get(posixpath.splitext(part)[1].lstrip(".").lower())


def content_types_xml(defaults: dict[str, str], overrides: dict[str, str]) -> bytes:
    body = "".join(f"<Default Extension={quoteattr(e)} ContentType={quoteattr(t)}/>" for e, t in defaults.items())
    body += "".join(f"<Override PartName={quoteattr('/' + p)} ContentType={quoteattr(t)}/>"
                    for p, t in overrides.items())
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<Types xmlns="{CT_NS}">{body}</Types>').encode()


def is_workbook(path: str | Path) -> bool:
    """True when ``path`` is a zip archive with a workbook part (a file planner can update)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("workbook.xml") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def write_zip(fh: BinaryIO, parts: Iterable[tuple[str, bytes]], infos: dict[str, zipfile.ZipInfo]) -> None:
    """Write ``parts`` as a zip to ``fh``; on any failure the archive is closed quietly.

    A part copied from the user's package keeps its compression and timestamp.
    """
    zf = zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, compresslevel=1)  # fast; files ~15% larger
    try:
        for name, data in parts:
            old = infos.get(name)
            info = zipfile.ZipInfo(name, date_time=old.date_time if old else (1980, 1, 1, 0, 0, 0))
            info.compress_type = old.compress_type if old else zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            zf.writestr(info, data)
    except BaseException:
        try:
            zf.close()
        except Exception:
            pass
        raise
    zf.close()
