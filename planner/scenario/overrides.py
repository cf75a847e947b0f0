"""Overrides of the Scenarios sheet: turn Base into a named what-if scenario.

:func:`apply_scenario` applies one named scenario of the Scenarios sheet to a copy of the
base scenario (:mod:`planner.analysis.compare` runs them side by side).

Override targets: a setting name (``total_budget``), ``segment:<name>:<field>``,
``channel:<name>:<field>``, ``period:<name>:<field>``,
``curve:<segment>:<channel>:<program>:<field>`` and, as an extension,
``constraint:<name>:value|sense``.  ``*`` in a name matches every name (``Paid*`` by
prefix); names and fields are case-insensitive.  Under a wildcard, ``scale`` and ``add``
leave blank cells blank (blank means "no limit" or "default": no number to scale); a named
blank is an error.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
from typing import Any

from pydantic import BaseModel, ValidationError

from planner.errors import Issue, ScenarioError
from planner.scenario.checks import name_key
from planner.scenario.models import (
    Channel,
    ConstraintRow,
    Curve,
    Override,
    Period,
    Row,
    Scenario,
    Segment,
    Settings,
    issues_from_validation,
)
from planner.scenario.ranges import moved_range
from planner.scenario.sheets import SHEETS, row_of
from planner.scenario.vocabulary import PROGRAMS

__all__ = [
    "BASE", "apply_scenario", "check_scenarios",
    "scenario_names", "with_budget",
]

BASE = "Base"

# target kind -> (Scenario attribute, key fields naming a row, row model); settings are a
# one-row table without keys.
_TABLES: dict[str, tuple[str, tuple[str, ...], type[BaseModel]]] = {
    "setting": ("settings", (), Settings),
    "segment": ("segments", ("segment",), Segment),
    "channel": ("channels", ("channel",), Channel),
    "period": ("periods", ("period",), Period),
    "curve": ("curves", ("segment", "channel", "program"), Curve),
    "constraint": ("constraints", ("name",), ConstraintRow),
}
_TARGET_HELP = (
    "expected a setting name such as total_budget, segment:<name>:<field>, "
    "channel:<name>:<field>, period:<name>:<field>, "
    "curve:<segment>:<channel>:<program>:<field> or constraint:<name>:<field>"
)


def scenario_names(scenario: Scenario) -> list[str]:
    """Names of the scenarios of a workbook, ``Base`` first, in order of first appearance.

    Parameters
    ----------
    scenario : Scenario
        The base scenario; its ``scenarios`` rows (the Scenarios sheet) name the others.

    Returns
    -------
    list of str
        ``["Base", ...]`` with each name once (case-insensitively, first spelling kept).

    Examples
    --------
    >>> from planner.scenario.models import Override
    >>> s = _example().model_copy(update={"scenarios": [
    ...     Override(scenario="High", target="total_budget", operation="scale", value=2),
    ...     Override(scenario="high", target="segment:*:margin_per_period", operation="add",
    ...              value=1)]})
    >>> scenario_names(s)
    ['Base', 'High']
    """
    names = [BASE]
    seen = {BASE.lower()}
    for ov in scenario.scenarios:
        if ov.scenario.strip().lower() not in seen:
            seen.add(ov.scenario.strip().lower())
            names.append(ov.scenario.strip())
    return names


def apply_scenario(scenario: Scenario, name: str) -> Scenario:
    """The scenario with the overrides of one named what-if scenario applied.

    Parameters
    ----------
    scenario : Scenario
        The base scenario (it is not modified).
    name : str
        A scenario name of the Scenarios sheet (case-insensitive); ``Base`` returns
        ``scenario`` itself.

    Returns
    -------
    Scenario
        A new, re-validated scenario (cross-checks run again).

    Raises
    ------
    ScenarioError
        Listing every problem: an unknown scenario name, target, field or row name,
        ``scale``/``add`` on a value that is not a number, or an override that leaves a
        value or the scenario invalid.  Issues point at the Scenarios sheet row.

    Examples
    --------
    >>> from planner.scenario.models import Override
    >>> s = _example().model_copy(update={"scenarios": [
    ...     Override(scenario="Double", target="total_budget", operation="scale", value=2),
    ...     Override(scenario="Double", target="segment:*:margin_per_period", operation="add",
    ...              value=5)]})
    >>> d = apply_scenario(s, "double")
    >>> d.settings.total_budget, d.segments[0].margin_per_period
    (2000.0, 15.0)
    >>> s.settings.total_budget
    1000.0
    """
    key = name.strip().lower()
    if key == BASE.lower():
        return scenario
    rows = [(i, ov) for i, ov in enumerate(scenario.scenarios) if ov.scenario.strip().lower() == key]
    if not rows:
        others = scenario_names(scenario)
        raise ScenarioError([Issue("Scenarios", None, "scenario", name,
                                   f"is not a scenario of the Scenarios sheet (expected one of {others})")])
    work = _Work(scenario)
    for index, ov in rows:
        work.apply(ov, row_of(ov, index))
    if work.issues:
        raise ScenarioError(work.issues)
    try:
        return work.build()
    except ScenarioError as exc:
        raise ScenarioError([
            dataclasses.replace(i, expected=f"{i.expected} (after applying scenario '{name}')")
            for i in exc.issues
        ]) from None


def check_scenarios(scenario: Scenario) -> list[Issue]:
    """Every problem of the Scenarios sheet: each scenario is applied and checked.

    Parameters
    ----------
    scenario : Scenario
        The base scenario.

    Returns
    -------
    list of Issue
        Empty when every scenario applies cleanly.
    """
    issues: list[Issue] = []
    for i, ov in enumerate(scenario.scenarios):
        if ov.scenario.strip().lower() == BASE.lower():
            issues.append(Issue("Scenarios", row_of(ov, i), "scenario", ov.scenario,
                                "is reserved for the workbook as it is: give this scenario another name"))
    for name in scenario_names(scenario)[1:]:
        try:
            apply_scenario(scenario, name)
        except ScenarioError as exc:
            issues.extend(exc.issues)
    return issues


def with_budget(scenario: Scenario, total_budget: float) -> Scenario:
    """A copy of ``scenario`` with another total budget (no other change)."""
    return scenario.with_settings(total_budget=float(total_budget))


# ---------------------------------------------------------------------------------------


def _match(pattern: str, name: str | None) -> bool:
    if name is None:
        return pattern == "*"
    if "*" in pattern:  # ignoring case, spaces and ``_`` as everywhere else (checks.name_key)
        return fnmatch.fnmatchcase(name_key(name), name_key(pattern))
    return name_key(name) == name_key(pattern)


def _number(value: Any) -> float | None:
    """The override value as a number, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            if text.endswith("%"):
                return float(text[:-1]) / 100.0
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


class _Work:
    """Mutable working copy of a scenario while overrides are applied."""

    def __init__(self, scenario: Scenario):
        self.base = scenario
        self.tables: dict[str, list[Any]] = {
            attr: [scenario.settings] if attr == "settings" else list(getattr(scenario, attr))
            for attr, _, _ in _TABLES.values()}
        self.issues: list[Issue] = []

    def build(self) -> Scenario:
        data = {f: getattr(self.base, f) for f in Scenario.model_fields}
        data.update(self.tables, settings=self.tables["settings"][0])
        return Scenario(**data)

    def _issue(self, row: int, column: str, value: Any, expected: str) -> None:
        self.issues.append(Issue("Scenarios", row, column, value, expected))

    def apply(self, ov: Override, row: int) -> None:
        parts = [p.strip() for p in ov.target.split(":")]
        kind = parts[0].lower().removesuffix("s")
        if len(parts) == 1:
            kind, parts = "setting", ["setting", *parts]
        if kind not in _TABLES:
            self._issue(row, "target", ov.target, f"is not a known target ({_TARGET_HELP})")
            return
        attr, keys, model = _TABLES[kind]
        if len(parts) != len(keys) + 2 or not all(parts):
            self._issue(row, "target", ov.target, f"is not a {kind} target (expected "
                        f"{':'.join([kind, *(f'<{k}>' for k in keys), '<field>'])})")
            return
        patterns, field = parts[1:-1], parts[-1].lower()
        settable = ("value", "sense") if kind == "constraint" else tuple(
            f for f in model.model_fields if f not in keys)
        ok = field in settable
        if field in keys:
            self._issue(row, "target", ov.target,
                        f"cannot change '{field}': it names the {kind} (fields: {', '.join(settable)})")
        elif not ok:
            self._issue(row, "target", ov.target, f"is not a setting or a known target ({_TARGET_HELP})"
                        if kind == "setting" and len(parts) == 2 and ":" not in ov.target else
                        f"has no {kind} field '{field}' (expected one of: {', '.join(settable)})")
        for key, pattern in zip(keys, patterns, strict=True):
            names = _names(self.base, key)
            if "*" not in pattern and not any(_match(pattern, n) for n in names):
                self._issue(row, "target", ov.target,
                            f"names no {key} '{pattern}' (expected * or one of {names})")
                ok = False
        if ok:
            self._set(ov, row, kind, patterns, field)

    def _set(self, ov: Override, row: int, kind: str, patterns: list[str], field: str) -> None:
        attr, keys, _ = _TABLES[kind]
        items = self.tables[attr]
        hits = [j for j, it in enumerate(items)
                if all(_match(p, getattr(it, k)) for k, p in zip(keys, patterns, strict=True))]
        if not hits:
            self._issue(row, "target", ov.target, f"matches no row of the {SHEETS[attr]} sheet")
        wildcard = any("*" in p for p in patterns)
        for j in hits:
            current = getattr(items[j], field)
            if wildcard and ov.operation != "set" and current is None:
                continue  # a blank limit stays "no limit"
            name = ":".join(str(getattr(items[j], k)) for k in keys)
            what = f"{kind} '{name}' {field}" if keys else f"setting {field}"
            good, new = self._new_value(ov, row, current, what)
            if not good:
                return
            try:
                fresh = type(items[j]).model_validate({**items[j].model_dump(), field: new,
                                                       **moved_range(items[j], field, current, new)})
            except ValidationError as exc:
                shown = "blank" if new is None else repr(new)
                for issue in issues_from_validation(exc):
                    self._issue(row, "value", ov.value, f"gives {what} {shown}, which {issue.expected}")
                return
            if isinstance(fresh, Row):
                fresh.at_row(items[j].source_row)
            items[j] = fresh

    def _new_value(self, ov: Override, row: int, current: Any, what: str) -> tuple[bool, Any]:
        """(ok, new value) of one override on one current value."""
        if ov.operation == "set":
            return True, ov.value
        number = _number(ov.value)
        if number is None:
            self._issue(row, "value", ov.value, f"is not a number ({ov.operation} needs one)")
            return False, None
        if isinstance(current, bool) or not isinstance(current, int | float):
            shown = "blank" if current is None else repr(current)
            self._issue(row, "operation", ov.operation,
                        f"cannot be applied to {what}: its value ({shown}) is not a number")
            return False, None
        new = current * number if ov.operation == "scale" else current + number
        if isinstance(current, int) and float(new).is_integer():
            new = int(new)
        return True, new


def _names(scenario: Scenario, key: str) -> list[str]:
    """Names a target may use for ``key``: from the sheet that defines them."""
    if key == "program":
        return list(PROGRAMS)
    items = getattr(scenario, {"name": "constraints"}.get(key, key + "s"))
    return sorted({str(getattr(it, key)) for it in items if getattr(it, key) is not None})


def _example() -> Scenario:
    """A one-segment, one-channel scenario for doctests."""
    return Scenario(
        settings=Settings(total_budget=1000),
        segments=[Segment(segment="All", margin_per_period=10, retention_rate=0.5)],
        channels=[Channel(channel="Email")],
        curves=[Curve(segment="All", channel="Email", program="acquisition",
                      curve="saturation", a=100, b=500)],
    )
