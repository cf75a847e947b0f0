"""Every constraint of a scenario as rows over cell-periods (DESIGN §2 and §3).

Built-in rows (budgets, spend bounds, change limits, prospects and at-risk caps) and the
Constraints sheet metrics all end up in one :class:`~planner.rows.Rows`, so the LP, the
shadow prices, the report and the infeasibility analysis treat them alike.  Ratios are
linearised (``spend − v·customers ≤ 0``), never divided.
"""

from __future__ import annotations

import itertools

import numpy as np

from planner.index import ACQ, RET, Index, _arr
from planner.rows import Float, Int, Rows
from planner.scenario import ConstraintRow

#: auxiliary column ``t`` is total spend in period t (used by share constraints)
AUX_TOTAL_SPEND = "total_spend"


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}"


def base_rows(ix: Index, rows: Rows) -> None:
    """Budgets, spend bounds, channel change limits, prospects and at-risk caps."""
    sc, st = ix.scenario, ix.scenario.settings
    all_kt = np.arange(ix.K * ix.P)
    sense = "=" if st.spend_full_budget else "<="
    r = rows.new(["Total budget"], "spend", sense, st.total_budget, st.total_budget, "budget")
    rows.terms(r[0], all_kt, 1.0, 0.0)

    for t, p in enumerate(sc.periods):
        if p.budget is not None:
            r = rows.new([f"Budget {p.period}"], "spend", "<=", p.budget, p.budget, "period_budget")
            rows.terms(r[0], all_kt[ix.kt_t == t], 1.0, 0.0)

    for label, items, key, owner in (("Segment", sc.segments, "segment", ix.kt_seg),
                                     ("Channel", sc.channels, "channel", ix.kt_ch)):
        for i, it in enumerate(items):
            for bound, sense_ in (("min_spend", ">="), ("max_spend", "<=")):
                v = getattr(it, bound)
                if v is None or (bound == "min_spend" and v == 0):
                    continue
                word = "minimum" if sense_ == ">=" else "maximum"
                r = rows.new([f"{label} {getattr(it, key)} {word} spend"], "spend", sense_, v, v, f"{key}_bound")
                rows.terms(r[0], all_kt[owner == i], 1.0, 0.0)

    cur = _arr([c.current_spend for c in sc.channels])
    mc = _arr([c.max_change for c in sc.channels])
    for c in np.flatnonzero(~np.isnan(cur) & ~np.isnan(mc)):
        ch = ix.channels[c]
        lo, hi = cur[c] * max(0.0, 1 - mc[c]), cur[c] * (1 + mc[c])
        for t, per in enumerate(ix.periods):
            m = (ix.kt_ch == c) & (ix.kt_t == t)
            r = rows.new([f"Channel {ch} change {per} (max +{mc[c]:.0%})"], "spend", "<=", hi, hi, "change")
            rows.terms(r[0], all_kt[m], 1.0, 0.0)
            if lo > 0:
                r = rows.new([f"Channel {ch} change {per} (max -{min(mc[c], 1):.0%})"], "spend", ">=", lo, lo, "change")
                rows.terms(r[0], all_kt[m], 1.0, 0.0)

    acq = ix.kt_prog == ACQ
    for s in np.flatnonzero(np.isfinite(ix.prospects)):
        m = acq & (ix.kt_seg == s)
        if m.any():
            r = rows.new([f"Prospects {ix.segments[s]}"], "new_customers", "<=", ix.prospects[s], ix.prospects[s], "prospects")
            rows.terms(r[0], all_kt[m], 0.0, 1.0)
    _at_risk_rows(ix, rows)


def _history_terms(ix: Index, rows: Rows, row_of: Int, weight: Float, lagged_only: bool = True) -> None:
    """Add ``weight[s] · (N[s,t] − N0 r^t)`` terms: customers won/saved in earlier periods.

    ``row_of[s, t]`` is the row for (segment, period) or -1.  Acquired customers of t' < t
    count ``r^(t−t')``, retained ones ``r^(t−t'−1)`` (DESIGN §2).
    """
    all_kt = np.arange(ix.K * ix.P)
    r = ix.retention[ix.kt_seg]
    for lag in range(1, ix.P):
        t_row = ix.kt_t + lag
        ok = t_row < ix.P
        kt = all_kt[ok]
        rid = row_of[ix.kt_seg[ok], t_row[ok]]
        has = rid >= 0
        kt, rid = kt[has], rid[has]
        rr = r[kt]
        factor = np.where(ix.kt_prog[kt] == ACQ, rr**lag, rr ** (lag - 1))
        rows.terms(rid, kt, 0.0, -weight[ix.kt_seg[kt]] * factor)


def _at_risk_rows(ix: Index, rows: Rows) -> None:
    """Retention saves at most the customers at risk: ``R[s,t] ≤ (1 − r)·N[s,t]``."""
    ret = ix.kt_prog == RET
    segs = np.unique(ix.kt_seg[ret])
    if not len(segs):
        return
    row_of = np.full((ix.S, ix.P), -1, dtype=np.int64)
    r = ix.retention
    names, rhs = [], []
    for s in segs:
        for t in range(ix.P):
            names.append(f"At risk {ix.segments[s]} {ix.periods[t]}")
            rhs.append((1 - r[s]) * ix.n0[s] * r[s] ** t)
    ids = rows.new(names, "retained_customers", "<=", np.array(rhs), np.array(rhs), "at_risk")
    row_of[np.repeat(segs, ix.P), np.tile(np.arange(ix.P), len(segs))] = ids
    all_kt = np.arange(ix.K * ix.P)
    kt = all_kt[ret]
    rows.terms(row_of[ix.kt_seg[kt], ix.kt_t[kt]], kt, 0.0, 1.0)
    _history_terms(ix, rows, row_of, 1 - r)
    rows.denominator_const(ids, 1.0)


def _match(value: str | None, names: list[str]) -> tuple[str, int | None]:
    """('all'|'each'|'one', index) for a filter cell."""
    if value is None or str(value).strip() == "":
        return "all", None
    v = str(value).strip()
    if v.lower() == "each":
        return "each", None
    low = [n.lower() for n in names]
    return "one", low.index(v.lower())


def user_rows(ix: Index, rows: Rows, constraints: list[ConstraintRow]) -> bool:
    """Rows of the Constraints sheet; returns True when total-spend aux columns are needed."""
    need_aux = False
    programs = ["acquisition", "retention"]
    for k in constraints:
        base = k.name or f"{k.metric} {k.sense} {_fmt(k.value)}"
        per_member = k.metric == "contacts_per_customer"  # always per (segment, period)
        dims = [("segment", k.segment, ix.segments, ix.kt_seg, per_member),
                ("channel", k.channel, ix.channels, ix.kt_ch, False),
                ("program", k.program, programs, ix.kt_prog, False),
                ("period", k.period, ix.periods, ix.kt_t, per_member)]
        mask = np.ones(ix.K * ix.P, dtype=bool)
        fixed: dict[str, int] = {}
        each = []
        for dim, val, names, owner, force_each in dims:
            how, pos = _match(val, names)
            if how == "all" and force_each:
                how = "each"
            if how == "one":
                mask &= owner == pos
                fixed[dim] = int(pos)  # type: ignore[arg-type]
            elif how == "each":
                each.append((dim, names, owner))
        for combo in itertools.product(*[range(len(e[1])) for e in each]):
            m = mask.copy()
            label = []
            at = dict(fixed)
            for (dim, names, owner), j in zip(each, combo, strict=True):
                m &= owner == j
                label.append(names[j])
                at[dim] = j
            name = f"{base} [{', '.join(label)}]" if label else base
            need_aux |= _metric_row(ix, rows, k, name, m, at)
    return need_aux


def _metric_row(ix: Index, rows: Rows, k: ConstraintRow, name: str, m: np.ndarray,
                at: dict[str, int]) -> bool:
    all_kt = np.arange(ix.K * ix.P)
    v = k.value
    acq, ret = ix.kt_prog == ACQ, ix.kt_prog == RET
    metric = k.metric
    if metric in ("spend", "new_customers", "retained_customers", "value"):
        sel = m & (acq if metric == "new_customers" else ret if metric == "retained_customers" else True)
        r = rows.new([name], metric, k.sense, v, v, "user")
        kt = all_kt[sel]
        if metric == "spend":
            rows.terms(r, kt, 1.0, 0.0)
        elif metric == "value":
            rows.terms(r, kt, 0.0, ix.kt_value[kt])
        else:
            rows.terms(r, kt, 0.0, 1.0)
        return False
    if metric == "share":
        r = rows.new([name], metric, k.sense, v, 0.0, "user")
        kt = all_kt[m]
        rows.terms(r, kt, 1.0, 0.0)
        periods = np.unique(ix.kt_t[m]) if m.any() else np.zeros(0, np.int64)
        rows.aux(np.full(len(periods), r[0]), periods, -v)
        in_t = np.isin(ix.kt_t, periods)
        rows.denominator(r, all_kt[in_t], 1.0, 0.0)
        return True
    if metric in ("cac", "cost_per_retained"):
        sel = m & (acq if metric == "cac" else ret)
        r = rows.new([name], metric, k.sense, v, 0.0, "user")
        kt = all_kt[sel]
        rows.terms(r, kt, 1.0, -v)
        rows.denominator(r, kt, 0.0, 1.0)
        return False
    if metric == "roi":
        # value − v·spend (sense) 0, so 'roi >= 2' reads value − 2·spend >= 0
        r = rows.new([name], metric, k.sense, v, 0.0, "user")
        kt = all_kt[m]
        rows.terms(r, kt, -v, ix.kt_value[kt])
        rows.denominator(r, kt, 1.0, 0.0)
        return False
    if metric == "contacts_per_customer":
        cpc = _arr([c.cost_per_contact for c in ix.scenario.channels], np.inf)
        s, t = at["segment"], at["period"]
        base_n = ix.n0[s] * ix.retention[s] ** t
        r = rows.new([name], metric, "<=", v, v * base_n, "user")
        kt = all_kt[m & ret]
        rows.terms(r, kt, 1.0 / cpc[ix.kt_ch[kt]], 0.0)
        row_of = np.full((ix.S, ix.P), -1, dtype=np.int64)
        row_of[s, t] = r[0]
        weight = np.zeros(ix.S)
        weight[s] = v
        _history_terms(ix, rows, row_of, weight)
        # denominator: active customers N[s,t] = N0 r^t + earlier wins/saves
        rows.denominator_const(r, base_n)
        before = all_kt[(ix.kt_seg == s) & (ix.kt_t < t)]
        rr = ix.retention[s]
        lag = t - ix.kt_t[before]
        rows.denominator(r, before, 0.0, np.where(ix.kt_prog[before] == ACQ, rr**lag, rr ** (lag - 1)))
        return False
    raise AssertionError(metric)  # pragma: no cover - metrics are validated on input


def total_spend_aux(ix: Index, rows: Rows, first_aux: int = 0) -> Float:
    """Definition rows ``S_t − Σ_t x = 0`` for the total-spend aux columns."""
    ids = rows.new([f"Total spend {p}" for p in ix.periods], "spend", "=", 0.0, 0.0, "definition", reported=False)
    all_kt = np.arange(ix.K * ix.P)
    rows.terms(ids[ix.kt_t], all_kt, -1.0, 0.0)
    rows.aux(ids, np.arange(ix.P) + first_aux, 1.0)
    return ids
