"""Append one workbook's cell styles to another's ``xl/styles.xml``, editing bytes, not trees.

The user's styles part is never re-serialised (that would rename namespace prefixes that
``mc:Ignorable`` names and make Excel call the file corrupt): new number formats, fonts,
fills, borders, cell formats and differential formats are inserted before the closing tag
of their collection and the ``count`` attributes updated.  Styles already there (same XML)
are reused, so writing the same result sheets again does not grow the part.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from defusedxml import ElementTree

from planner.errors import OutputError

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_M = "{" + MAIN + "}"
#: Collections in schema order (``numFmts`` first … ``dxfs`` last of those we touch).
_ORDER = ("numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs", "cellStyles", "dxfs")
_AFTER_DXFS = ("tableStyles", "colors", "extLst")


def serialize(el: Any, prefix: str = "") -> str:
    """An element as XML text with the main namespace written as ``prefix`` (no ``:``)."""
    tag = el.tag.split("}", 1)[-1] if el.tag.startswith(_M) else el.tag
    name = f"{prefix}:{tag}" if prefix and el.tag.startswith(_M) else tag
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in el.attrib.items())
    body = escape(el.text or "") + "".join(serialize(c, prefix) + escape(c.tail or "") for c in el)
    return f"<{name}{attrs}>{body}</{name}>" if body else f"<{name}{attrs}/>"


@dataclass
class StyleMap:
    """Index maps from the result workbook's styles to the merged styles part."""

    xf: dict[int, int] = field(default_factory=dict)
    dxf: dict[int, int] = field(default_factory=dict)


def _children(root: Any, name: str) -> list[Any]:
    box = root.find(_M + name)
    return [] if box is None else [c for c in box if isinstance(c.tag, str)]


class _Collection:
    def __init__(self, root: Any, name: str, prefix: str):
        self.name, self.prefix = name, prefix
        self.known = {serialize(c, prefix): i for i, c in enumerate(_children(root, name))}
        self.count = len(_children(root, name))
        self.added: list[str] = []

    def index(self, xml: str) -> int:
        if xml not in self.known:
            self.known[xml] = self.count + len(self.added)
            self.added.append(xml)
        return self.known[xml]


def merge_styles(user: bytes | None, result: bytes) -> tuple[bytes, StyleMap]:
    """The user's styles part with the result's styles appended, and the index maps.

    Parameters
    ----------
    user : bytes or None
        The user's ``xl/styles.xml`` (None: the workbook has none; the result's is used).
    result : bytes
        The ``xl/styles.xml`` of the workbook holding planner's sheets.
    """
    res = ElementTree.fromstring(result)
    if user is None:
        n = len(_children(res, "cellXfs"))
        m = len(_children(res, "dxfs"))
        return result, StyleMap({i: i for i in range(n)}, {i: i for i in range(m)})
    head = re.match(rb"\s*(?:<\?xml[^>]*\?>\s*)?<(?:(\w+):)?styleSheet\b", user)
    if head is None:
        raise OutputError("the workbook's styles part is not a spreadsheet style sheet")
    prefix = (head.group(1) or b"").decode()
    root = ElementTree.fromstring(user)
    if root.tag != _M + "styleSheet":
        raise OutputError("the workbook's styles part uses an unsupported namespace")
    cols = {name: _Collection(root, name, prefix) for name in _ORDER}
    fmt_ids = {c.get("formatCode"): int(c.get("numFmtId", "0")) for c in _children(root, "numFmts")}
    next_fmt = max([163, *fmt_ids.values()]) + 1
    fmt_map: dict[int, int] = {}
    for c in _children(res, "numFmts"):
        code, old = c.get("formatCode", ""), int(c.get("numFmtId", "0"))
        if code not in fmt_ids:
            fmt_ids[code] = next_fmt
            cols["numFmts"].added.append(
                f'<{_p(prefix)}numFmt numFmtId="{next_fmt}" formatCode={quoteattr(code)}/>')
            next_fmt += 1
        fmt_map[old] = fmt_ids[code]
    maps = {name: [cols[name].index(serialize(c, prefix)) for c in _children(res, name)]
            for name in ("fonts", "fills", "borders")}
    smap = StyleMap()
    for i, xf in enumerate(_children(res, "cellXfs")):
        xf = _copy(xf)
        num = int(xf.get("numFmtId", "0"))
        xf.set("numFmtId", str(fmt_map.get(num, num)))
        for attr, name in (("fontId", "fonts"), ("fillId", "fills"), ("borderId", "borders")):
            j = int(xf.get(attr, "0"))
            xf.set(attr, str(maps[name][j] if j < len(maps[name]) else 0))
        xf.set("xfId", "0")
        smap.xf[i] = cols["cellXfs"].index(serialize(xf, prefix))
    for i, dxf in enumerate(_children(res, "dxfs")):
        smap.dxf[i] = cols["dxfs"].index(serialize(dxf, prefix))
    out = user
    for name in _ORDER:
        if cols[name].added:
            out = _append(out, name, prefix, cols[name].added, cols[name].count)
    return out, smap


def _p(prefix: str) -> str:
    return f"{prefix}:" if prefix else ""


def _copy(el: Any) -> Any:
    return copy.deepcopy(el)


def _append(data: bytes, name: str, prefix: str, added: list[str], count: int) -> bytes:
    """Insert ``added`` at the end of collection ``name``, creating it when absent."""
    p = _p(prefix).encode()
    tag = p + name.encode()
    body = "".join(added).encode()
    total = str(count + len(added)).encode()
    full = re.search(rb"<" + tag + rb"\b([^>]*?)(/?)>", data)
    if full is not None:
        attrs = re.sub(rb'\scount="[^"]*"', b"", full.group(1))
        start = b"<" + tag + attrs + b' count="' + total + b'">'
        if full.group(2) == b"/":
            return data[:full.start()] + start + body + b"</" + tag + b">" + data[full.end():]
        close = data.find(b"</" + tag + b">", full.end())
        if close < 0:
            raise OutputError(f"the workbook's styles part has no end to its {name}")
        return data[:full.start()] + start + data[full.end():close] + body + data[close:]
    later = _ORDER[_ORDER.index(name) + 1:] + _AFTER_DXFS
    spots = [m.start() for n in later if (m := re.search(rb"<" + p + n.encode() + rb"\b", data))]
    end = data.rfind(b"</" + p + b"styleSheet>")
    at = min(spots) if spots else end
    if at < 0:
        raise OutputError("the workbook's styles part has no end")
    block = b"<" + tag + b' count="' + total + b'">' + body + b"</" + tag + b">"
    return data[:at] + block + data[at:]
