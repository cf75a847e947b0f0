"""True marginal values: what relaxing one limit alone returns (docs/design.md §2, shadow prices).

An LP dual is the derivative of the optimum in a limit only where the LP is not
degenerate.  Where it is (period budgets that add up to the total budget, a cell's spend
ending on a chord breakpoint or on its spend cap) the dual is one of many and may say
that raising the total budget returns 1.16 when it returns nothing.  So every binding
limit that can be moved alone in the scenario is moved a little either way and the
scenario re-optimised through the optimiser's public surface (``opt.nearby(scenario,
...).headline_run()``, warm from the plan's master where it can be): the two one-sided differences are the gain from relaxing the limit and the
loss from tightening it.  Where they agree (no kink) the LP dual is kept if it agrees too
(it is the exact derivative), otherwise their mean is reported; where they differ the
limit binds jointly with others and both sides are reported, in words in ``meaning``.

Re-solves are bounded (``MAX_RESOLVES``, and a time budget inside ``time_limit_s``); rows
beyond keep their LP duals and the plan's warnings say so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd

from planner.core.constraint_rows import limit_text
from planner.core.plan import Plan, usable
from planner.engine.plan_assembly import describe_constraints, unspent_warning
from planner.scenario.models import ConstraintRow, Scenario

__all__ = ["MAX_RESOLVES", "STEP", "STEP_OTHER", "mover", "true_marginals"]

#: re-solves per plan at most (two per limit: relaxed and tightened)
MAX_RESOLVES = 20
#: a limit is moved by this share of its value either way: limits on spend by STEP, the
#: others (customers, ratios, shares) by STEP_OTHER, where re-solve round-off weighs more
STEP, STEP_OTHER = 1e-3, 1e-2
#: two marginal values agree within this share of the larger (plus FLOOR for limits on
#: spend, whose marginal values are money per unit of money)
AGREE, FLOOR = 0.05, 0.005
#: re-solves may take at most this multiple of the plan's own build and solve time (and at
#: least MIN_SECONDS), and never run past ``time_limit_s``
TIME_RATIO, MIN_SECONDS = 0.75, 1.0
#: order in which binding limits are re-solved (the total budget first)
PRIORITY = ("budget", "user", "period_budget", "channel_bound", "segment_bound", "prospects")


class _Optimizer(Protocol):
    """The public surface of :class:`planner.engine.optimizer.Optimizer` used here."""

    scenario: Scenario
    solver: str
    time_limit: float

    def run(self) -> Plan: ...

    def nearby(self, scenario: Scenario, time_limit: float) -> _Optimizer: ...

    def headline_run(self) -> dict[str, Any]: ...


def true_marginals(opt: _Optimizer, plan: Plan, *, max_resolves: int = MAX_RESOLVES) -> Plan:
    """Replace the plan's shadow prices by what relaxing each binding limit alone returns.

    Parameters
    ----------
    opt : Optimizer
        The optimiser that produced ``plan``; re-solves use ``opt.nearby`` (warm where it can be).
    plan : Plan
        An evaluated plan; plans without a solution are returned unchanged.
    max_resolves : int, default MAX_RESOLVES
        Re-optimisations allowed; limits beyond keep their LP duals (said in a warning).

    Returns
    -------
    Plan
        The same plan with ``constraints`` columns ``shadow_price`` (gain from relaxing by
        one unit as typed, per percentage point for shares), ``tighten_cost`` (loss from
        tightening by one unit), ``source`` and ``meaning`` updated, ``binding`` true exactly
        where moving the limit changes the objective, and the summary's
        ``budget_shadow_price`` / ``marginal_roi_of_budget`` the right-hand values
        (``..._lower``: the loss from lowering the budget).
    """
    c = plan.constraints
    if not plan.ok or c.empty or "kind" not in c:
        return plan
    if plan.run_info.get("integer_variables", 0):
        # S-shaped curves: a re-solve is only within its MIP gap, far coarser than a
        # marginal value over a small step; the fixed-integer LP's duals stay (and say so)
        plan.run_info["marginal_resolves"] = 0
        return plan
    started = time.perf_counter()
    info = plan.run_info
    spent = float(info.get("solve_seconds", 0.0)) + float(info.get("build_seconds", 0.0))
    allowed = min(max(MIN_SECONDS, TIME_RATIO * spent), max(0.0, opt.time_limit - spent))
    f0 = _objective(plan.summary)
    c = c.copy()
    c["tighten_cost"] = c["shadow_price"].astype(float)
    c["source"] = np.where(c["binding"].astype(bool), "LP dual", "")
    old_warning = unspent_warning(plan)
    rank = {k: i for i, k in enumerate(PRIORITY)}
    todo = sorted((i for i in range(len(c)) if c.at[i, "binding"] and c.at[i, "kind"] in rank),
                  key=lambda i: (rank[c.at[i, "kind"]], i))
    left, used = [], 0
    for i in todo:
        move = mover(opt.scenario, c.loc[i])
        if move is None:
            continue
        if used + 2 > max_resolves or time.perf_counter() - started > allowed:
            left.append(str(c.at[i, "name"]))
            continue
        used += _resolve_row(opt, c, i, move, f0, started + allowed)
    describe = describe_constraints(c, plan.scenario.settings.objective)
    c["meaning"] = describe
    plan.constraints = c
    budget = c.index[c["kind"] == "budget"]
    if len(budget):
        _budget_summary(plan, c.loc[budget[0]])
    plan.run_info["marginal_resolves"] = used
    if left:
        plan.warnings.append(
            f"Shadow prices of {len(left)} binding limit(s) ({', '.join(left[:5])}{' …' if len(left) > 5 else ''}) "
            f"are the LP's duals, not checked by re-solves ({max_resolves} at most, within {TIME_RATIO:g}× the "
            "solve time): where limits bind together, relaxing one alone may return less.")
    new_warning = unspent_warning(plan)
    if old_warning is not None:
        plan.warnings = [new_warning if w == old_warning else w for w in plan.warnings if new_warning or w != old_warning]
    return plan


def _objective(summary: dict[str, Any]) -> float:
    """The maximised objective of a plan's summary (min_spend: spend saved is the gain)."""
    v = float(summary.get("objective_value", math.nan))
    return -v if summary.get("objective") == "min_spend" else v


def _resolve_row(opt: _Optimizer, c: pd.DataFrame, i: int, move: Callable[[float], Scenario],
                 f0: float, deadline: float) -> int:
    """Re-solve with limit ``i`` relaxed (and tightened where that does not confirm the LP
    dual) and set its marginal values; returns the number of re-solves."""
    limit, sense = float(c.at[i, "limit"]), str(c.at[i, "sense"])
    h = (STEP if c.at[i, "metric"] == "spend" else STEP_OTHER) * abs(limit)
    if h <= 0 or not math.isfinite(h):
        return 0
    relax_dir = -1.0 if sense == ">=" else 1.0  # '=' rows: relaxing means raising
    per = 0.01 if c.at[i, "metric"] == "share" else 1.0  # shares: per percentage point
    dual = float(c.at[i, "shadow_price"])
    # money per unit of money below FLOOR is round-off of the re-solves
    floor = FLOOR if c.at[i, "metric"] == "spend" else 0.0
    relax = (_solve(opt, move(limit + relax_dir * h), deadline) - f0) / h * per  # gain from relaxing by 1
    if math.isnan(relax) or relax < -(AGREE * abs(dual) + floor):
        return 1  # the re-solve failed, or lost value by relaxing (its own round-off): the LP dual stays
    used = 1
    if dual != 0 and abs(relax - dual) <= AGREE * max(abs(relax), abs(dual)) + floor:
        relax = tighten = dual  # the re-solve confirms the dual (the exact derivative)
        source = "LP dual, checked by a re-solve"
    else:
        used = 2
        tighten = (f0 - _solve(opt, move(limit - relax_dir * h), deadline)) / h * per  # loss from tightening by 1
        if math.isnan(tighten) or tighten < -(AGREE * abs(dual) + floor):
            return used
        tol = AGREE * max(abs(relax), abs(tighten) if math.isfinite(tighten) else 0.0) + floor
        mid = 0.5 * (relax + tighten)  # the central difference: curvature cancels
        if math.isfinite(tighten) and abs(dual - mid) <= AGREE * abs(mid) + floor:
            relax = tighten = dual  # the sides differ by the curve's curvature only
            source = "LP dual, checked by re-solves"
        elif math.isfinite(tighten) and abs(relax - tighten) <= tol:
            relax = tighten = mid  # no kink, but the dual is off (e.g. spend on a breakpoint)
            source = "re-solves"
        else:
            source = "re-solves: the two sides differ (the limit binds jointly with others)"
    relax, tighten = (0.0 if abs(v) <= floor else v for v in (relax, tighten))
    if sense != "=":  # relaxing cannot lose, tightening cannot gain: the rest is round-off
        relax, tighten = max(relax, 0.0), max(tighten, 0.0)
    c.at[i, "shadow_price"], c.at[i, "tighten_cost"], c.at[i, "source"] = relax, tighten, source
    c.at[i, "binding"] = bool(relax != 0 or tighten != 0)
    return used


def _solve(opt: _Optimizer, scenario: Scenario, deadline: float) -> float:
    """The maximised objective of a re-optimised scenario; -inf when infeasible, NaN when
    the re-solve failed (its headline figures only: no plan tables are built)."""
    remaining = max(0.5, deadline - time.perf_counter())
    figures = opt.nearby(scenario, remaining).headline_run()
    if figures["status"] == "infeasible":
        return -math.inf
    if not usable(figures["status"], "objective_value" in figures):
        return math.nan
    return _objective({**figures, "objective": scenario.settings.objective})


def _budget_summary(plan: Plan, row: pd.Series) -> None:
    """Summary figures of the total budget: right-hand shadow price and marginal ROI."""
    s, st = plan.summary, plan.scenario.settings
    offset = {"net_value": 1.0, "target_mroi": st.target_mroi, "value": 0.0}.get(st.objective)
    up, down = float(row["shadow_price"]), float(row["tighten_cost"])
    s["budget_shadow_price"] = up
    s["budget_shadow_price_lower"] = down
    s["marginal_roi_of_budget"] = math.nan if offset is None else offset + up
    s["marginal_roi_of_budget_lower"] = math.nan if offset is None else offset + down


# ---------------------------------------------------------------------------------------
# moving one limit in the scenario


def mover(scenario: Scenario, row: pd.Series) -> Callable[[float], Scenario] | None:
    """A function giving the scenario with the limit of one Constraints Report row moved to
    a new value (as typed), or None when that limit cannot be moved alone (change limits
    are one ``max_change`` for every period; customers at risk are not an input)."""
    kind, name = str(row["kind"]), str(row["name"])
    if kind == "budget":
        return lambda v: _settings(scenario, total_budget=v)
    if kind == "period_budget":
        return _item(scenario, "periods", "period", lambda p: f"Budget {p}" == name, "budget")
    if kind in ("channel_bound", "segment_bound"):
        label, key = ("Channel", "channel") if kind == "channel_bound" else ("Segment", "segment")
        for word, field in (("minimum", "min_spend"), ("maximum", "max_spend")):
            found = _item(scenario, key + "s", key, lambda x, w=word: f"{label} {x} {w} spend" == name, field)
            if found is not None:
                return found
        return None
    if kind == "prospects":
        return _item(scenario, "segments", "segment", lambda s: name in (f"Prospects {s}", f"Prospects: {s}"),
                     "prospects")
    if kind == "user":
        return _user(scenario, name)
    return None


def _settings(scenario: Scenario, **update: Any) -> Scenario:
    return scenario.model_copy(update={"settings": scenario.settings.model_copy(update=update)})


def _item(scenario: Scenario, table: str, key: str, match: Callable[[str], bool],
          field: str) -> Callable[[float], Scenario] | None:
    items = getattr(scenario, table)
    hits = [j for j, it in enumerate(items) if match(getattr(it, key))]
    if len(hits) != 1:
        return None
    j = hits[0]

    def move(v: float) -> Scenario:
        new = list(items)
        new[j] = items[j].model_copy(update={field: v})
        return scenario.model_copy(update={table: new})
    return move


_DIMS = ("segment", "channel", "program", "period")


def _user(scenario: Scenario, name: str) -> Callable[[float], Scenario] | None:
    """The Constraints-sheet line behind a report row.  A line with ``each`` filters is
    replaced by one line per member so that one member's limit can move alone."""
    lines = scenario.constraints
    hits = []
    for j, k in enumerate(lines):
        base = k.name or f"{k.metric} {k.sense} {limit_text(k.value)}"
        if name == base:
            hits.append((j, None))
        elif name.startswith(base + " [") and name.endswith("]"):
            hits.append((j, name[len(base) + 2:-1].split(", ")))
    if len(hits) != 1:
        return None
    j, members = hits[0]
    k = lines[j]
    if members is None:
        return lambda v: scenario.model_copy(update={"constraints": [
            *lines[:j], k.model_copy(update={"value": v}), *lines[j + 1:]]})
    names = {"segment": [s.segment for s in scenario.segments], "channel": [c.channel for c in scenario.channels],
             "program": ["acquisition", "retention"], "period": [p.period for p in scenario.periods]}
    forced = ("segment", "period") if k.metric == "contacts_per_customer" else ()
    each = [d for d in _DIMS if (getattr(k, d) or "").strip().lower() == "each"
            or (d in forced and not (getattr(k, d) or "").strip())]
    if len(each) != len(members) or any(m not in names[d] for d, m in zip(each, members, strict=True)):
        return None
    combos = np.array(np.meshgrid(*[np.arange(len(names[d])) for d in each], indexing="ij")).reshape(len(each), -1).T
    base = k.name or f"{k.metric} {k.sense} {limit_text(k.value)}"

    def expanded(v: float) -> Scenario:
        out: list[ConstraintRow] = []
        for combo in combos:
            fixed = {d: names[d][int(x)] for d, x in zip(each, combo, strict=True)}
            mine = [fixed[d] for d in each] == members
            out.append(k.model_copy(update={**fixed, "name": f"{base} [{', '.join(fixed[d] for d in each)}]",
                                            "value": v if mine else k.value}))
        return scenario.model_copy(update={"constraints": [*lines[:j], *out, *lines[j + 1:]]})
    return expanded
