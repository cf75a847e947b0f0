"""Checks of what a person types that the field types alone cannot express.

* Names (segments, channels, periods) are matched ignoring case, spaces and ``_``
  everywhere: :func:`canonical_names` rewrites every reference to the name as defined on
  its own sheet, so ``email`` on the Curves sheet is ``Email``.  Two names that match
  this way are duplicates; ``each`` is reserved (the Constraints filters use it).
* An unknown name lists the valid ones and the closest match (``Paid Serach``).
* Fractions typed as percentages (a share of 30, a discount rate of 8) suggest 0.30.
* Curve parameters are bounded to what the curves can be computed with (see
  :data:`PARAM_LIMITS`); a ``points`` curve needs a point above zero.

Used by :class:`planner.scenario.models.Scenario` on construction; pure functions of the
validated rows, returning :class:`~planner.errors.Issue` lists.
"""

from __future__ import annotations

import difflib
import math
from typing import TYPE_CHECKING, Any

from planner.errors import Issue

if TYPE_CHECKING:
    from planner.scenario.models import Scenario

#: Words a name may not be, because the Constraints filters give them a meaning.
RESERVED = ("each",)
#: Allowed range of curve parameters (inclusive), and why.
PARAM_LIMITS: dict[str, tuple[float, float, str]] = {
    "a": (1e-9, 1e15, "customers per period at saturation"),
    "b": (1e-9, 1e15, "the spend scale (cost per customer for a linear curve)"),
    "shape": (1e-3, 50.0, "the shape"),
}
_SHAPE_WHY = ("a shape above 50 is a step (the curve jumps from 0 to a at spend b) that no solver "
              "can place reliably; use a linear curve with a cap, or a smaller shape")
_MAX_LISTED = 12


def name_key(name: Any) -> str:
    """Key names are matched by: case, spaces and ``_`` ignored."""
    return "".join(ch for ch in str(name).casefold() if not ch.isspace() and ch != "_")


def as_typed(x: float) -> float | int:
    """30.0 as the 30 a person typed (for messages)."""
    return int(x) if math.isfinite(x) and x.is_integer() and abs(x) < 1e15 else x


def _row(item: Any, index: int) -> int:
    row = getattr(item, "_row", None)
    return row if row is not None else index + 2


def _canon(items: list[Any], key: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for it in items:
        out.setdefault(name_key(getattr(it, key)), getattr(it, key))
    return out


def canonical_names(s: Scenario) -> None:
    """Rewrite every name reference of ``s`` to the name as its own sheet defines it (in place).

    Rows are replaced by copies (the caller's row objects are not changed).
    """
    names = {"segment": _canon(s.segments, "segment"), "channel": _canon(s.channels, "channel"),
             "period": _canon(s.periods, "period"),
             "program": {"acquisition": "acquisition", "retention": "retention", "each": "each"}}
    for field in ("curves", "curve_points", "seasonality", "constraints"):
        items = getattr(s, field)
        fresh = []
        for it in items:
            update = {}
            for dim, known in names.items():
                v = getattr(it, dim, None)
                if not isinstance(v, str):
                    continue
                key = name_key(v)
                target = known.get(key) or ("each" if key == "each" and field == "constraints" else None)
                if target is not None and target != v:
                    update[dim] = target
            fresh.append(it.model_copy(update=update) if update else it)
        setattr(s, field, fresh)


def name_issues(items: list[Any], key: str, sheet: str) -> list[Issue]:
    """Duplicates (ignoring case, spaces, ``_``) and reserved words among defined names."""
    issues = []
    seen: dict[str, tuple[int, str]] = {}
    for i, it in enumerate(items):
        name, row = getattr(it, key), _row(it, i)
        k = name_key(name)
        if k in RESERVED:
            issues.append(Issue(sheet, row, key, name, f"is a reserved word: on the Constraints sheet '{k}' "
                                f"means one constraint per {key}; rename this {key}"))
        if k in seen:
            first_row, first = seen[k]
            same = "" if first == name else (f": '{first}' and '{name}' are one name to planner, which "
                                             "ignores case, spaces and '_' in names; rename one")
            issues.append(Issue(sheet, row, key, name, f"is a duplicate (first on row {first_row}){same}"))
        else:
            seen[k] = (row, name)
    return issues


def unknown(value: str, names: list[str] | set[str], what: str, sheet: str | None, extra: str = "") -> str:
    """Message for a name that is not defined: the closest match and the valid names."""
    valid = sorted(names, key=str.casefold)
    keys = {name_key(n): n for n in valid}
    close = difflib.get_close_matches(name_key(value), list(keys), n=1, cutoff=0.6)
    hint = f"; did you mean '{keys[close[0]]}'?" if close else ""
    listed = ", ".join(valid[:_MAX_LISTED]) + (f" and {len(valid) - _MAX_LISTED} more" if len(valid) > _MAX_LISTED else "")
    where = f" of the {sheet} sheet" if sheet else ""
    return f"is not a {what}{where}{hint} (expected {extra}one of: {listed or 'none defined'})"


def value_issues(s: Scenario) -> list[Issue]:
    """Curve parameters out of range, empty ``points`` curves, fractions typed as percentages."""
    issues: list[Issue] = []
    for i, c in enumerate(s.curves):
        row = _row(c, i)
        for field, (lo, hi, what) in PARAM_LIMITS.items():
            v = getattr(c, field, None)
            if v is None or c.curve == "points" or (field == "shape" and c.curve not in ("hill", "power")):
                continue
            if not (math.isfinite(v) and lo <= v <= hi):
                why = _SHAPE_WHY if field == "shape" and math.isfinite(v) and v > hi else (
                    f"{what} must be between {lo:g} and {hi:g} (outside that range the curve cannot be "
                    "computed accurately); check the units")
                issues.append(Issue("Curves", row, field, v, f"is out of range: {why}"))
    pts: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for p in s.curve_points:
        pts.setdefault((p.segment, p.channel, p.program), []).append((p.spend, p.customers))
    for i, c in enumerate(s.curves):
        got = pts.get(c.cell)
        if c.curve == "points" and got and not any(x > 0 and y > 0 for x, y in got):
            issues.append(Issue("Curves", _row(c, i), "curve", "points",
                                "has no point with spend > 0 and customers > 0 on the CurvePoints sheet: "
                                "add the points of the curve (a curve through (0, 0) only wins no one)"))
    for i, k in enumerate(s.constraints):
        if k.metric == "share" and k.value > 1:
            hint = f"did you mean {k.value / 100:.4g}?" if 2 <= k.value <= 100 else "type it as a fraction"
            issues.append(Issue("Constraints", _row(k, i), "value", as_typed(k.value),
                                f"is a share above 1 (100 %): shares are fractions between 0 and 1; {hint}"))
    rate = s.settings.annual_discount_rate
    if rate > 1:
        hint = f"did you mean {rate / 100:.4g}?" if 2 <= rate <= 100 else "type it as a fraction"
        issues.append(Issue("Settings", None, "annual_discount_rate", as_typed(rate),
                            f"is above 1 (100 % a year): rates are fractions; {hint}"))
    return issues


# --------------------------------------------------------------------------- messages


def percent_hint(value: Any, upper: float = 1.0) -> str:
    """``; did you mean 0.85?`` for a fraction typed as a percentage (85), else ``""``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return ""
    if value == upper == 1.0:
        return " (1 is 100 %; rates are fractions below 1)"
    if 2 <= value <= 100 and value > upper:
        return f": it looks like a percentage; did you mean {value / 100:.4g}?"
    return ""


def expected(err: dict[str, Any]) -> str:
    """A pydantic error on a scenario field in a planner's words."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind in ("greater_than_equal", "greater_than", "less_than", "less_than_equal"):
        word = {"greater_than_equal": ">=", "greater_than": ">",
                "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()), "")
        hint = percent_hint(err.get("input")) if kind.startswith("less") and bound == 1 else ""
        bound = f"{bound:g}" if isinstance(bound, int | float) else bound
        return f"is not allowed: expected a number {word} {bound}{hint}"
    if kind == "literal_error":
        return f"is not allowed: expected one of {ctx.get('expected', '')}"
    if kind == "finite_number":
        return "is not a finite number"
    if kind in ("float_parsing", "float_type", "int_parsing"):
        return "is not a number"
    if kind in ("bool_parsing", "bool_type"):
        return "is not TRUE/FALSE"
    if kind == "extra_forbidden":
        return "is not a known setting"
    return plain_message(err)


def plain_message(err: dict[str, Any]) -> str:
    """A pydantic error in a planner's words (no type names, no library phrasing)."""
    kind = err["type"]
    value = err.get("input")
    if kind in ("float_type", "float_parsing", "int_type", "int_parsing") and hasattr(value, "year"):
        return "is a date, not a number: format the cell as a number and type the value"
    words = {
        "string_type": "is not text: type a name",
        "string_too_short": "is blank: type a name",
        "too_short": "is blank: type a name",
        "int_from_float": "is not a whole number",
        "bool_parsing": "is not TRUE or FALSE",
        "bool_type": "is not TRUE or FALSE",
        "float_parsing": "is not a number",
        "float_type": "is not a number",
        "int_parsing": "is not a whole number",
        "int_type": "is not a whole number",
        "finite_number": "is not a finite number (NaN and infinity are not allowed)",
    }
    if kind in words:
        return words[kind]
    if kind == "value_error":
        return str(err.get("msg", "")).removeprefix("Value error, ") or "is not valid"
    return "is not a valid value here: see the Instructions sheet for what this column takes"
