"""Every constraint of a scenario as rows over cell-periods (docs/design.md §2 and §3).

Built-in rows (budgets, spend bounds, change limits, prospects and at-risk caps) and the
Constraints sheet metrics all end up in one :class:`~planner.core.rows.Rows`, so the LP, the
shadow prices, the report and the infeasibility analysis treat them alike.  Ratios are
linearised (``spend − v·customers ≤ 0``), never divided.
"""

from __future__ import annotations

import itertools

import numpy as np

from planner.core.rows import Float, Int, Rows
from planner.core.scenario_arrays import ACQ, RET, Index, _arr
from planner.scenario.models import ConstraintRow

#: auxiliary column ``t`` is total spend in period t (used by share constraints)
AUX_TOTAL_SPEND = "total_spend"


def limit_text(v: float) -> str:
    """A limit as a generated constraint name shows it (``1,500``, ``0.3``)."""
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
    count ``r^(t−t')``, retained ones ``r^(t−t'−1)`` (docs/design.md §2).
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
    """Rows of the Constraints sheet; returns True when total-spend aux columns are needed.

    Consecutive lines that differ only in their single members and limits (one line per
    segment and period, as a planner types them or as an ``each`` line is spelt out to
    move one member's limit) are built together, like the rows of one ``each`` line: a
    line per member built one by one cost 0.4 s for 800 lines on 32 000 cell-periods.
    """
    need_aux = False
    run: list[_Line] = []
    members: set[tuple[tuple[str, int], ...]] = set()  # of the lines in the run
    for k in constraints:
        line = _Line.of(ix, k)
        if run and not (run[0].joins(line) and line.key not in members):
            _run_rows(ix, rows, run)
            run, members = [], set()
        if line.each or k.metric == "share":
            need_aux |= _line_rows(ix, rows, line)
        else:
            run.append(line)
            members.add(line.key)
    if run:
        _run_rows(ix, rows, run)
    return need_aux


_PROGRAMS = ["acquisition", "retention"]


class _Line:
    """One Constraints-sheet line with its filters matched: ``fixed`` members by dimension,
    ``each`` the (dimension, names, owner per cell-period) of its 'each' filters."""

    def __init__(self, k: ConstraintRow, base: str, fixed: dict[str, int], kinds: tuple[str, ...],
                 each: list[tuple[str, list[str], Int]]):
        self.k, self.base, self.fixed, self.kinds, self.each = k, base, fixed, kinds, each

    @classmethod
    def of(cls, ix: Index, k: ConstraintRow) -> _Line:
        per_member = k.metric == "contacts_per_customer"  # always per (segment, period)
        dims = [("segment", k.segment, ix.segments, ix.kt_seg, per_member),
                ("channel", k.channel, ix.channels, ix.kt_ch, False),
                ("program", k.program, _PROGRAMS, ix.kt_prog, False),
                ("period", k.period, ix.periods, ix.kt_t, per_member)]
        fixed: dict[str, int] = {}
        kinds, each = [], []
        for dim, val, names, owner, force_each in dims:
            how, pos = _match(val, names)
            if how == "all" and force_each:
                how = "each"
            kinds.append(how)
            if how == "one":
                fixed[dim] = int(pos)  # type: ignore[arg-type]
            elif how == "each":
                each.append((dim, names, owner))
        return cls(k, k.name or f"{k.metric} {k.sense} {limit_text(k.value)}", fixed, tuple(kinds), each)

    @property
    def key(self) -> tuple[tuple[str, int], ...]:
        return tuple(self.fixed.items())

    def joins(self, other: _Line) -> bool:
        """True when ``other`` can be built with the run this line starts: the same metric,
        sense and filter kinds, single members only (its members must be new to the run)."""
        a, b = self.k, other.k
        return (not other.each and b.metric != "share" and a.metric == b.metric and a.sense == b.sense
                and self.kinds == other.kinds)


def _owners(ix: Index) -> dict[str, Int]:
    return {"segment": ix.kt_seg, "channel": ix.kt_ch, "program": ix.kt_prog, "period": ix.kt_t}


def _run_rows(ix: Index, rows: Rows, run: list[_Line]) -> None:
    """Rows of consecutive single-member lines (see :func:`user_rows`): row ``i`` is line
    ``i`` and covers the cell-periods of its members."""
    dims = list(run[0].fixed)
    sizes = {"segment": ix.S, "channel": len(ix.channels), "program": 2, "period": ix.P}
    owners = _owners(ix)
    code_kt = np.zeros(ix.K * ix.P, dtype=np.int64)
    code_line = np.zeros(len(run), dtype=np.int64)
    at = {d: np.array([line.fixed[d] for line in run], dtype=np.int64) for d in dims}
    for d in dims:
        code_kt = code_kt * sizes[d] + owners[d]
        code_line = code_line * sizes[d] + at[d]
    order = np.argsort(code_line)
    pos = np.searchsorted(code_line[order], code_kt)
    pos = np.minimum(pos, len(run) - 1)
    hit = code_line[order][pos] == code_kt
    group = np.where(hit, order[pos], 0)
    _metric_rows(ix, rows, run[0].k, [line.base for line in run], hit, group, at,
                 np.array([line.k.value for line in run], dtype=float))


def _line_rows(ix: Index, rows: Rows, line: _Line) -> bool:
    """Rows of one line with 'each' filters (or a share): returns True when it needs the
    total-spend aux columns."""
    k, each, base = line.k, line.each, line.base
    owners = _owners(ix)
    mask = np.ones(ix.K * ix.P, dtype=bool)
    for dim, pos in line.fixed.items():
        mask &= owners[dim] == pos
    combos = list(itertools.product(*[range(len(e[1])) for e in each]))
    labels = [f"{base} [{', '.join(e[1][j] for e, j in zip(each, combo, strict=True))}]" if each else base
              for combo in combos]
    if k.metric == "share":
        for combo, name in zip(combos, labels, strict=True):
            m = mask.copy()
            for (_, _, owner), j in zip(each, combo, strict=True):
                m &= owner == j
            _share_row(ix, rows, k, name, m)
        return True
    # one row per combination of the 'each' filters, all built at once: group id per
    # cell-period in the order of itertools.product (last filter fastest)
    sizes = [len(e[1]) for e in each]
    group = np.zeros(ix.K * ix.P, dtype=np.int64)
    for _, names, owner in each:
        group = group * len(names) + owner
    at = {dim: np.full(len(combos), pos, np.int64) for dim, pos in line.fixed.items()}
    idx = np.indices(sizes).reshape(len(sizes), -1)
    for i, (dim, _, _) in enumerate(each):
        at[dim] = idx[i]
    _metric_rows(ix, rows, k, labels, mask, group, at, np.full(len(combos), k.value))
    return False


def _share_row(ix: Index, rows: Rows, k: ConstraintRow, name: str, m: np.ndarray) -> None:
    """``filtered spend − v·total spend (same periods) (sense) 0`` with total-spend aux columns."""
    all_kt = np.arange(ix.K * ix.P)
    v = k.value
    r = rows.new([name], k.metric, k.sense, v, 0.0, "user")
    kt = all_kt[m]
    rows.terms(r, kt, 1.0, 0.0)
    periods = np.unique(ix.kt_t[m]) if m.any() else np.zeros(0, np.int64)
    rows.aux(np.full(len(periods), r[0]), periods, -v)
    in_t = np.isin(ix.kt_t, periods)
    rows.denominator(r, all_kt[in_t], 1.0, 0.0)


def _metric_rows(ix: Index, rows: Rows, k: ConstraintRow, names: list[str], m: np.ndarray,
                 group: np.ndarray, at: dict[str, np.ndarray], v: Float) -> None:
    """Rows of one (non-share) metric: row ``i`` covers cell-periods ``m`` with
    ``group == i``, has the limit ``v[i]``, and ``at[dim][i]`` is the member of each fixed
    or 'each' filter of row i."""
    all_kt = np.arange(ix.K * ix.P)
    acq, ret = ix.kt_prog == ACQ, ix.kt_prog == RET
    metric = k.metric
    if metric in ("spend", "new_customers", "retained_customers", "value"):
        ids = rows.new(names, metric, k.sense, v, v, "user")
        sel = m & (acq if metric == "new_customers" else ret if metric == "retained_customers" else True)
        kt = all_kt[sel]
        r = ids[group[kt]]
        if metric == "spend":
            rows.terms(r, kt, 1.0, 0.0)
        elif metric == "value":
            rows.terms(r, kt, 0.0, ix.kt_value[kt])
        else:
            rows.terms(r, kt, 0.0, 1.0)
        return
    if metric in ("cac", "cost_per_retained"):
        ids = rows.new(names, metric, k.sense, v, 0.0, "user")
        kt = all_kt[m & (acq if metric == "cac" else ret)]
        r = ids[group[kt]]
        rows.terms(r, kt, 1.0, -v[group[kt]])
        rows.denominator(r, kt, 0.0, 1.0)
        return
    if metric == "roi":
        # value − v·spend (sense) 0, so 'roi >= 2' reads value − 2·spend >= 0
        ids = rows.new(names, metric, k.sense, v, 0.0, "user")
        kt = all_kt[m]
        r = ids[group[kt]]
        rows.terms(r, kt, -v[group[kt]], ix.kt_value[kt])
        rows.denominator(r, kt, 1.0, 0.0)
        return
    if metric == "contacts_per_customer":
        cpc = _arr([c.cost_per_contact for c in ix.scenario.channels], np.inf)
        s, t = at["segment"], at["period"]
        base_n = ix.n0[s] * ix.retention[s] ** t
        ids = rows.new(names, metric, "<=", v, v * base_n, "user")
        kt = all_kt[m & ret]
        r = ids[group[kt]]
        rows.terms(r, kt, 1.0 / cpc[ix.kt_ch[kt]], 0.0)
        # v · (customers won or saved earlier that are still active), and the denominator:
        # active customers N[s,t] = N0 r^t + those same earlier wins and saves
        hr, hkt, hfac = _earlier(ix, ids, s, t)
        rows.terms(hr, hkt, 0.0, -v[hr - ids[0]] * hfac)
        rows.denominator_const(ids, base_n)
        rows.denominator(hr, hkt, 0.0, hfac)
        return
    raise AssertionError(metric)  # pragma: no cover - metrics are validated on input


def _earlier(ix: Index, row: Int, seg: Int, t: Int) -> tuple[Int, Int, Float]:
    """(row, kt, factor) for every cell-period of segment ``seg[i]`` before period ``t[i]``:
    a customer won there is still active at t with probability ``r^(t−t')``, one saved
    there ``r^(t−t'−1)`` (docs/design.md §2)."""
    order = np.argsort(ix.cell_seg, kind="stable")
    n_of = np.bincount(ix.cell_seg, minlength=ix.S)
    first = np.cumsum(n_of) - n_of
    out_r, out_kt, out_f = [], [], []
    for lag in range(1, ix.P):
        ok = t >= lag
        r_ok, s_ok, tp = row[ok], seg[ok], t[ok] - lag
        cnt = n_of[s_ok]
        owner = np.repeat(np.arange(len(r_ok)), cnt)
        within = np.arange(len(owner)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        cell = order[first[s_ok][owner] + within]
        kt = tp[owner] * ix.K + cell
        rr = ix.retention[s_ok][owner]
        out_r.append(r_ok[owner])
        out_kt.append(kt)
        out_f.append(np.where(ix.cell_prog[cell] == ACQ, rr**lag, rr ** (lag - 1)))
    if not out_r:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_r), np.concatenate(out_kt), np.concatenate(out_f)


def total_spend_aux(ix: Index, rows: Rows, first_aux: int = 0) -> Float:
    """Definition rows ``S_t − Σ_t x = 0`` for the total-spend aux columns."""
    ids = rows.new([f"Total spend {p}" for p in ix.periods], "spend", "=", 0.0, 0.0, "definition", reported=False)
    all_kt = np.arange(ix.K * ix.P)
    rows.terms(ids[ix.kt_t], all_kt, -1.0, 0.0)
    rows.aux(ids, np.arange(ix.P) + first_aux, 1.0)
    return ids
