"""What a planner means by a cell: numbers typed as text, booleans, blanks, Excel errors.

Pure functions used by :mod:`planner.io.workbook` to turn raw cell values into what the
scenario models expect, and to phrase validation errors for a person.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import math
import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel

from planner.io.sheet_stream import FormulaWithoutValue, UnreadableValue
from planner.scenario.checks import percent_hint, plain_message

#: Excel's error values as openpyxl returns them.
EXCEL_ERRORS = frozenset(
    {"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#SPILL!", "#CALC!",
     "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#UNKNOWN!", "#CONNECT!", "#BUSY!"}
)

_SEPARATORS = ("\u00a0", "\u202f", "\u2009", " ", "'")
_NUMBER = re.compile(
    r"(?P<open>\()?(?P<sign>[+-])?(?:[$€£¥₹]|R|[A-Z]{3})?(?P<sign2>[+-])?"
    r"(?P<num>[\d.,]+)(?:[A-Z]{3})?(?P<pct>%)?(?P<close>\))?"
)
_DIGITS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+")


class CellProblem(ValueError):
    """A cell whose content cannot be used at all (Excel error, formula without value)."""


def parse_number(text: str) -> float | None:
    """Read a number typed as text the way a planner means it; None when it is not one.

    Thousands separators (``,``, spaces, ``'``), a currency symbol or code, a trailing
    ``%`` and accounting parentheses are understood.  A lone comma (``1,5``) is
    ambiguous and refused.

    >>> [parse_number(t) for t in ["1,000", "10%", "$5,000", "R 100 000", "(200)", "1,5"]]
    [1000.0, 0.1, 5000.0, 100000.0, -200.0, None]
    """
    t = text.strip()
    for sep in _SEPARATORS:
        t = t.replace(sep, "")
    try:
        return float(t)
    except ValueError:
        pass
    m = _NUMBER.fullmatch(t)
    if not m or bool(m["open"]) != bool(m["close"]) or not _DIGITS.fullmatch(m["num"]):
        return None
    x = float(m["num"].replace(",", ""))
    if m["pct"]:
        x /= 100.0
    negative = (m["sign"] == "-") ^ (m["sign2"] == "-") ^ bool(m["open"])
    return -x if negative else x


def is_blank(value: Any) -> bool:
    """True for an empty cell or one holding only spaces."""
    return value is None or (isinstance(value, str) and not value.strip())


@functools.lru_cache(maxsize=512)
def field_kind(model: type[BaseModel], name: str) -> str:
    """``number``, ``text``, ``bool``, ``int_word`` (Literal of ints), ``word`` or ``any``."""
    ann = model.model_fields[name].annotation
    parts: list[Any] = []

    def walk(a: Any) -> None:
        origin = get_origin(a)
        if origin is Annotated:
            walk(get_args(a)[0])
        elif origin in (Union, types.UnionType):
            for arg in get_args(a):
                walk(arg)
        elif a is not type(None):
            parts.append(a)

    walk(ann)
    if len(parts) > 1:
        return "any"
    (a,) = parts
    if get_origin(a) is Literal:
        return "int_word" if all(isinstance(v, int) for v in get_args(a)) else "word"
    return {float: "number", int: "number", str: "text", bool: "bool"}.get(a, "any")


def convert(value: Any, kind: str) -> Any:
    """Turn a raw cell value into what a field of ``kind`` expects.

    Values that cannot be converted are returned unchanged for pydantic to refuse with
    its usual message.

    Raises
    ------
    CellProblem
        For Excel error values and formulas without a saved value.
    """
    if isinstance(value, str) and value.strip().upper() in EXCEL_ERRORS:
        raise CellProblem(f"is an Excel error value: expected {_what(kind)}; fix the formula or "
                          "the cell it refers to, or type the value")
    if isinstance(value, FormulaWithoutValue):
        raise CellProblem(
            "is a formula with no saved result: open and save the workbook in Excel or "
            "LibreOffice, or type the value"
        )
    if isinstance(value, UnreadableValue):
        raise CellProblem(
            f"is stored in the file as {value.kind} but is not one Excel can write (NaN, "
            "infinity or hex are not numbers): the file was made by another program; retype the value"
        )
    if isinstance(value, str):
        value = value.strip()
    if kind == "number":
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, str):
            x = parse_number(value)
            return value if x is None else x
        return value
    if kind == "int_word":
        x = parse_number(value) if isinstance(value, str) else value
        if isinstance(x, float) and x.is_integer():
            return int(x)
        return value
    if kind == "bool":
        if isinstance(value, float | int) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)
        return value
    if kind in ("text", "word"):
        return as_text(value)
    if kind == "any" and isinstance(value, str):
        x = parse_number(value)
        return value if x is None else x
    return value


def as_text(value: Any) -> Any:
    """A name typed as a number or date becomes the text a planner sees in the cell."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _what(kind: str) -> str:
    return {"number": "a number", "bool": "TRUE or FALSE", "int_word": "a number"}.get(kind, "a value")


def _bounds(model: type[BaseModel], name: str) -> dict[str, float]:
    found: dict[str, float] = {}

    def collect(items: list[Any]) -> None:
        for m in items:
            for key in ("ge", "gt", "le", "lt"):
                v = getattr(m, key, None)
                if isinstance(m, annotated_types.BaseMetadata) and v is not None:
                    found[key] = float(v)
            collect(list(getattr(m, "metadata", []) or []))

    def walk(a: Any) -> None:
        if get_origin(a) is Annotated:
            collect(list(get_args(a)[1:]))
            walk(get_args(a)[0])
        for arg in get_args(a) if get_origin(a) in (Union, types.UnionType) else ():
            walk(arg)

    info = model.model_fields[name]
    collect(list(info.metadata))
    walk(info.annotation)
    return found


def _closest(value: Any, expected: str) -> str:
    """``; did you mean 'saturation'?`` for a near-miss of one of the allowed words."""
    if not isinstance(value, str) or not value.strip():
        return ""
    words = re.findall(r"'([^']*)'", expected)
    key = "_".join(value.strip().lower().split())
    close = difflib.get_close_matches(key, words, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def describe_error(err: dict[str, Any], model: type[BaseModel], name: str) -> str:
    """A planner's reading of one pydantic error on field ``name`` of ``model``."""
    kind = err["type"]
    if kind in ("greater_than_equal", "greater_than", "less_than", "less_than_equal"):
        b = _bounds(model, name)
        lo_key = "ge" if "ge" in b else "gt" if "gt" in b else None
        hi_key = "le" if "le" in b else "lt" if "lt" in b else None
        if lo_key and hi_key:
            hint = percent_hint(err.get("input"), b[hi_key]) if b[hi_key] == 1 else ""
            return (f"is not in {'[' if lo_key == 'ge' else '('}{b[lo_key]:g}, "
                    f"{b[hi_key]:g}{']' if hi_key == 'le' else ')'}{hint}")
        if lo_key == "ge" and b["ge"] == 0:
            return "is negative: expected a number >= 0"
        if lo_key == "gt" and b["gt"] == 0:
            return "is not above 0: expected a number > 0 (leave the cell blank if it does not apply)"
        if lo_key:
            return f"is too small: expected a number {'>=' if lo_key == 'ge' else '>'} {b[lo_key]:g}"
        if hi_key:
            return f"is too large: expected a number {'<=' if hi_key == 'le' else '<'} {b[hi_key]:g}"
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        return f"is not allowed: expected one of {expected}{_closest(err.get('input'), expected)}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known setting"
    return plain_message(err)
