"""Evaluate a chosen spend on the real response curves and assemble the :class:`Plan`.

Nothing reported comes from the LP's chords: customers are ``σ·f(x)`` on the true curve,
scaled down where a prospects or at-risk cap binds (:mod:`.real_customers`); value, ROI, marginal ROI,
constraint actuals and KPIs all follow from those.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from planner.core.curves import LINEAR, POINTS, derivative
from planner.core.plan import CONSTRAINT_COLUMNS, PLAN_COLUMNS, Plan
from planner.core.rows import Float, FrozenRows
from planner.core.scenario_arrays import ACQ, RET, Index
from planner.core.value import active_customers
from planner.engine.real_customers import by_segment_period, marginal_value, true_customers
from planner.engine.round_off import clean_spend, snap_to_rows


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 1e-12 else float("nan")


def assemble(
    ix: Index,
    rows: FrozenRows,
    spend: Float,
    status: str,
    *,
    row_dual: Float | None,
    row_activity: Float | None,
    gap_bound: float,
    info: dict[str, Any],
) -> Plan:
    """Build the Plan for spend per cell-period ``spend`` (real-curve evaluation)."""
    sc, st = ix.scenario, ix.scenario.settings
    spend = snap_to_rows(ix, rows, clean_spend(spend, ix))
    cust, scale = true_customers(ix, spend)
    value = ix.kt_value * cust
    d = ix.kt_discount
    acq, ret = ix.kt_prog == ACQ, ix.kt_prog == RET
    B = st.total_budget
    live = spend > 0  # every amount clean_spend keeps: the Plan adds up to the Summary
    with np.errstate(divide="ignore", invalid="ignore"):
        worth = marginal_value(ix, scale)
        mroi = np.where(worth == 0, 0.0, worth * ix.kt_sigma * derivative(ix.curves, ix.kt_cell, spend) / d)
        roi = np.where(spend > 0, value / spend, np.nan)
    alloc = pd.DataFrame({
        "period": np.array(ix.periods, dtype=object)[ix.kt_t],
        "segment": np.array(ix.segments, dtype=object)[ix.kt_seg],
        "channel": np.array(ix.channels, dtype=object)[ix.kt_ch],
        "program": np.where(acq, "acquisition", "retention").astype(object),
        "spend": spend, "customers": cust, "value": value, "roi": roi, "marginal_roi": mroi,
    })[live].reset_index(drop=True)[PLAN_COLUMNS]

    dual = np.zeros(len(rows)) if row_dual is None else -np.asarray(row_dual[: len(rows)])
    head = headline(ix, spend, cust, float(dual[0]))
    total_spend, total_value, objective = head["total_spend"], head["total_value"], head["objective_value"]
    new_c, ret_c = head["new_customers"], head["retained_customers"]
    acq_s, ret_s = float(spend[acq].sum()), float(spend[ret].sum())
    summary: dict[str, Any] = {
        "total_spend": total_spend,
        "total_value": total_value,
        "baseline_value": float(ix.n0 @ ix.lifetime),
        "net_value": head["net_value"],
        "roi": _ratio(total_value, total_spend),
        "new_customers": new_c,
        "retained_customers": ret_c,
        "blended_cac": _ratio(acq_s, new_c),
        "cost_per_retained": _ratio(ret_s, ret_c),
        "unspent_budget": max(0.0, B - total_spend),
        "budget_shadow_price": head["budget_shadow_price"],
        "optimality_gap_bound": gap_bound,
        "optimality_gap_relative": _ratio(gap_bound, abs(objective)) if objective else 0.0,
        "status": status,
        "objective": st.objective,
        "objective_value": objective,
        "marginal_roi_of_budget": head["marginal_roi_of_budget"],
        "discounted_spend": head["discounted_spend"],
        "total_budget": B,
        "currency": st.currency,
        "scenario": sc.name,
    }
    flat = np.maximum(0.0, spend - _flat_start(ix)[ix.kt_cell])
    summary["flat_spend"] = float(flat.sum())
    if flat.any():
        i = int(np.argmax(flat))
        summary["flat_spend_example"] = f"{ix.channels[ix.kt_ch[i]]} / {ix.segments[ix.kt_seg[i]]} in {ix.periods[ix.kt_t[i]]}"
    plan = Plan(scenario=sc, status=status, allocation=alloc, summary=summary, run_info=dict(info))
    plan.by_channel = _group(alloc, "channel", ix.channels, total_spend)
    plan.by_segment = _segment_table(alloc, ix.segments)
    plan.by_period = _period_table(alloc, ix)
    plan.active_customers = _active_table(ix, cust, acq, ret)
    plan.constraints = constraint_table(ix, rows, spend, cust, dual, row_activity)
    plan.warnings = _warnings(plan, ix)
    return plan


def headline(ix: Index, spend: Float, cust: Float, budget_dual: float) -> dict[str, float]:
    """The plan's headline figures from spend and real-curve customers per cell-period
    (a frontier point's row, and the core of a plan's summary)."""
    st = ix.scenario.settings
    value = ix.kt_value * cust
    total_spend, total_value = float(spend.sum()), float(value.sum())
    disc_spend = float((ix.kt_discount * spend).sum())
    objective = {"net_value": total_value - disc_spend, "value": total_value,
                 "target_mroi": total_value - st.target_mroi * disc_spend,
                 "min_spend": total_spend}[st.objective]
    return {
        "total_spend": total_spend, "total_value": total_value, "net_value": total_value - disc_spend,
        "new_customers": float(cust[ix.kt_prog == ACQ].sum()),
        "retained_customers": float(cust[ix.kt_prog == RET].sum()),
        "budget_shadow_price": budget_dual,
        "marginal_roi_of_budget": {"net_value": 1.0 + budget_dual, "target_mroi": st.target_mroi + budget_dual,
                                   "value": budget_dual}.get(st.objective, float("nan")),
        "discounted_spend": disc_spend, "objective_value": objective,
    }


def _flat_start(ix: Index) -> Float:
    """Spend after which a curve is flat: a linear curve's cap, a points curve's last knot."""
    cs = ix.curves
    out = np.where(cs.kind == LINEAR, cs.a * cs.b, np.inf)
    last = cs.pts_start[1:] - 1
    has = (cs.kind == POINTS) & (cs.pts_start[1:] > cs.pts_start[:-1])
    out[has] = cs.pts_x[last[has]]
    return out


def _group(alloc: pd.DataFrame, key: str, order: list[str], total: float) -> pd.DataFrame:
    g = alloc.groupby(key, sort=False)[["spend", "customers", "value"]].sum()
    g = g.reindex(order, fill_value=0.0).reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        g["roi"] = np.where(g["spend"] > 0, g["value"] / g["spend"], np.nan)
        g["share"] = g["spend"] / total if total > 0 else 0.0
    return g


def _segment_table(alloc: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    a = alloc.assign(new_customers=np.where(alloc["program"] == "acquisition", alloc["customers"], 0.0),
                     retained_customers=np.where(alloc["program"] == "retention", alloc["customers"], 0.0))
    g = a.groupby("segment", sort=False)[["spend", "new_customers", "retained_customers", "value"]].sum()
    g = g.reindex(order, fill_value=0.0).reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        g["roi"] = np.where(g["spend"] > 0, g["value"] / g["spend"], np.nan)
    return g


def _period_table(alloc: pd.DataFrame, ix: Index) -> pd.DataFrame:
    g = alloc.groupby("period", sort=False)[["spend", "value"]].sum().reindex(ix.periods, fill_value=0.0)
    budgets = [np.nan if p.budget is None else p.budget for p in ix.scenario.periods]
    return pd.DataFrame({"period": ix.periods, "budget": budgets, "spend": g["spend"].to_numpy(),
                         "value": g["value"].to_numpy(), "discount_factor": ix.discount[:-1]})


def _active_table(ix: Index, cust: Float, acq: np.ndarray, ret: np.ndarray) -> pd.DataFrame:
    zero = np.zeros((ix.S, ix.P))
    base = active_customers(ix.n0, ix.retention, zero, zero)
    plan = active_customers(ix.n0, ix.retention, by_segment_period(ix, cust, acq), by_segment_period(ix, cust, ret))
    return pd.DataFrame({
        "segment": np.repeat(ix.segments, ix.P), "period": np.tile(ix.periods, ix.S),
        "baseline": base.ravel(), "plan": plan.ravel(), "change": (plan - base).ravel(),
    })


def constraint_table(ix: Index, rows: FrozenRows, spend: Float, cust: Float, dual: Float,
                     lp_activity: Float | None) -> pd.DataFrame:
    """Limit, real-curve actual, slack, binding flag and shadow price of every constraint."""
    aux = np.bincount(ix.kt_t, weights=spend, minlength=ix.P)
    act = rows.activity(spend, cust, aux)
    den = rows.denominators(spend, cust)
    with np.errstate(divide="ignore", invalid="ignore"):
        actual = np.where(np.abs(den) > 1e-12, (act - rows.rhs + rows.limit * den) / den, np.nan)
    limit = rows.limit.copy()
    risk = np.array(rows.kind, dtype=object) == "at_risk"
    if risk.any():  # report saved customers against the customers at risk under this plan
        sel = risk[rows.e_row] & (rows.e_cust > 0)
        saved = np.bincount(rows.e_row[sel], weights=rows.e_cust[sel] * cust[rows.e_kt[sel]], minlength=len(rows))
        limit = np.where(risk, rows.rhs + (saved - act), limit)
        actual = np.where(risk, saved, actual)
    sense = rows.sense
    slack = np.where(sense == "<=", limit - actual, np.where(sense == ">=", actual - limit,
                                                             -np.abs(actual - limit)))
    per_limit = dual * den
    shadow = np.where(sense == ">=", -per_limit, per_limit)
    lp_act = act if lp_activity is None else lp_activity[: len(rows)]
    tight = np.abs(lp_act - rows.rhs) <= 1e-6 * (1.0 + np.abs(rows.rhs)) + 1e-6 * np.abs(den * rows.limit)
    has_terms = np.bincount(rows.e_row, minlength=len(rows)) + np.bincount(rows.aux_row, minlength=len(rows)) > 0
    binding = (tight & has_terms) | (np.abs(dual) > 1e-9)
    keep = rows.reported
    kind = np.array(rows.kind, dtype=object)
    shadow = np.where(binding, shadow, 0.0) * np.where(np.array(rows.metric, dtype=object) == "share", 0.01, 1.0)
    frame = pd.DataFrame({
        "name": _readable_names(ix, rows), "metric": np.array(rows.metric, dtype=object),
        "sense": sense, "limit": limit, "actual": actual, "slack": slack,
        "binding": binding, "shadow_price": shadow, "kind": kind,
        "tighten_cost": shadow, "source": np.where(binding, "LP dual", ""),
        "order": [GROUP_ORDER.index(k) if k in GROUP_ORDER else len(GROUP_ORDER) for k in kind],
    })[keep]
    # the user's own constraints first, then the generated ones grouped (stable within a group)
    frame = frame.sort_values("order", kind="stable").drop(columns="order").reset_index(drop=True)
    frame["meaning"] = describe_constraints(frame, ix.scenario.settings.objective)
    return frame[[*CONSTRAINT_COLUMNS, "tighten_cost", "kind", "source", "meaning"]]


#: Constraints Report order: the user's rows, then budgets, period budgets, change limits,
#: spend bounds and the customer caps
GROUP_ORDER = ("user", "budget", "period_budget", "change", "segment_bound", "channel_bound", "prospects",
               "at_risk")


def _readable_names(ix: Index, rows: FrozenRows) -> np.ndarray:
    """Row names for the report: the customer caps say what they cap ("At risk At Risk Q1"
    read badly when a segment is named "At Risk")."""
    names = np.array(rows.name, dtype=object)
    for i, k in enumerate(rows.kind):
        if k == "prospects":
            names[i] = "Prospects: " + names[i][len("Prospects "):]
        elif k == "at_risk":
            rest = names[i][len("At risk "):]
            for p in ix.periods:  # the segment may contain spaces; the period ends the name
                if rest.endswith(" " + p):
                    rest = f"{rest[: -len(p) - 1]}, {p}"
                    break
            names[i] = f"Customers at risk: {rest}"
    return names


def _num(v: float) -> str:
    return "∞" if math.isinf(v) else f"{v:,.4g}"


def describe_constraints(c: pd.DataFrame, objective: str) -> list[str]:
    """Plain words for every Constraints Report row, agreeing with ``binding``: what
    relaxing the limit by one unit (a percentage point for shares) returns and, where the
    two sides differ (limits binding jointly), what tightening it costs."""
    unit = "spend saved" if objective == "min_spend" else objective.replace("_", " ")
    kinked = [str(n) for n, s, t, b in zip(c["name"], c["shadow_price"], c["tighten_cost"], c["binding"], strict=True)
              if b and not _same(s, t)]
    out = []
    sources = c["source"] if "source" in c else [""] * len(c)
    for name, metric, b, s, t, src in zip(c["name"], c["metric"], c["binding"], c["shadow_price"],
                                          c["tighten_cost"], sources, strict=True):
        one = "1 percentage point" if metric == "share" else "1"
        if not b:
            out.append("not binding: moving it a little changes nothing")
        elif _same(s, t) and s == 0:
            out.append("at its limit, but the LP gives it no value: another limit binds with it")
        elif _same(s, t) and src == "LP dual":  # not checked by a re-solve
            out.append(f"binding: relaxing it by {one} is worth about {_num(s)} of {unit} (LP dual; where "
                       "limits bind together, relaxing this one alone may return less)")
        elif _same(s, t):
            out.append(f"binding: relaxing it by {one} is worth {_num(s)} of {unit}, tightening it costs as much")
        else:
            others = [n for n in kinked if n != name][:3]
            joint = f" It binds jointly with {', '.join(others)}." if others else ""
            gain = ("relaxing it alone returns nothing" if s == 0
                    else f"relaxing it by {one} alone is worth {_num(s)} of {unit}")
            loss = ("tightening it makes the plan infeasible" if math.isinf(t)
                    else f"tightening it by {one} costs {_num(t)} of {unit}")
            out.append(f"binding: {gain}; {loss}.{joint}")
    return out


def _same(a: float, b: float) -> bool:
    return bool(a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b)))


def unspent_warning(plan: Plan) -> str | None:
    """The unspent-budget warning, naming the limits that leave money unspent (binding
    limits other than the total budget whose relaxing is worth something), or saying that
    the next unit of money would return too little."""
    s, st = plan.summary, plan.scenario.settings
    if not (s.get("unspent_budget", 0.0) > 1e-6 * max(1.0, st.total_budget)
            and st.objective in ("net_value", "target_mroi")):
        return None
    head = f"{s['unspent_budget']:,.0f} {st.currency} of the budget is left unspent"
    c = plan.constraints
    unit = st.objective.replace("_", " ")
    if not c.empty and "kind" in c:
        cap = c[c["binding"].astype(bool) & (c["kind"] != "budget") & (c["shadow_price"] > 0)]
        cap = cap.sort_values("shadow_price", ascending=False)
        if len(cap):
            named = "; ".join(f"'{r['name']}' (relaxing it by 1{' percentage point' if r['metric'] == 'share' else ''} "
                              f"is worth {_num(r['shadow_price'])} of {unit})" for _, r in cap.head(4).iterrows())
            more = f" and {len(cap) - 4} more" if len(cap) > 4 else ""
            return f"{head} because other limits bind before the total budget: {named}{more}."
    return (f"{head}: no limit other than the money's return stops it; the next unit of money would return "
            f"less than {1 if st.objective == 'net_value' else st.target_mroi:g} in value.")


def _warnings(plan: Plan, ix: Index) -> list[str]:
    s, st = plan.summary, ix.scenario.settings
    out = []
    cur = st.currency
    unspent = unspent_warning(plan)
    if unspent is not None:
        out.append(unspent)
    if s["flat_spend"] > 1e-6 * max(1.0, st.total_budget):
        where = s["flat_spend_example"]
        out.append(f"{s['flat_spend']:,.0f} {cur} is spent where the curves are flat (no more customers "
                   f"come from it), e.g. {where}: forced by a minimum, "
                   "spend_full_budget or the value objective.")
    c = plan.constraints
    bad = c[(c["slack"] < -1e-6 * (1 + c["limit"].abs())) & c["slack"].notna()]
    for _, r in bad.iterrows():
        out.append(f"On the real curves '{r['name']}' is {r['actual']:,.4g} against a limit of {r['limit']:,.4g} "
                   "(the chord approximation's tolerance).")
    return out
