"""Segment value from transactions: size, margin, retention, order value and frequency.

Transactions (``customer_id``, ``date``, ``amount``, optional ``margin``, optional
``segment``) become one row per segment with the inputs of the Segments sheet (docs/design.md §3).

Definitions (the same ones :mod:`planner.analysis.uplift` uses):

* Periods are calendar periods (years, halves, quarters or months).  The data are taken to
  be complete up to ``as_of``; by default the end of the period of the last transaction.
  A period that ``as_of`` cuts short is left out (its churn would look too high).
* A customer is *active* in every period from the period of their first purchase to the
  period of their last purchase; silent periods in between count as active.
* ``retention_rate`` is cohort based: of the customers active in period t, the share still
  active in t + 1, pooled over every cohort (first-purchase period) and every pair of
  consecutive periods, weighted by the number of customers (Σ stayed / Σ at risk).  Under a
  geometric churn process this is the maximum-likelihood estimate of r.  Customers who buy
  less than once per period look churned when they skip the last periods: choose fewer
  periods per year for such segments (a warning says so).
* ``customers`` are the customers active in the last complete period; ``margin_per_period``
  and ``orders_per_period`` are per active customer-period; ``aov`` is amount per order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.core.sheet_spec import SheetSpec, TableBlock, excel_rows
from planner.errors import Issue, ScenarioError
from planner.scenario.models import Segment

PERIODS_PER_YEAR = (1, 2, 4, 12)
MAX_ISSUES = 200
SEGMENT_COLUMNS = ["segment", "customers", "prospects", "margin_per_period", "retention_rate",
                   "referral_rate", "min_spend", "max_spend"]
DEFINITIONS = (
    "Active: from the period of a customer's first purchase to the period of their last. "
    "retention_rate: share of active customers still active next period, pooled over cohorts "
    "and periods (sum stayed / sum at risk). customers: active in the last complete period. "
    "margin_per_period, orders_per_period: per active customer-period. aov: amount per order."
)
RFM_RULE = (
    "RFM segments: each customer gets recency, frequency and monetary scores 1-3 by tertile "
    "(3 = most recent, most orders, most margin). First matching rule wins: New = first "
    "purchase in the last complete period; Champions R+F+M >= 8; Loyal F+M >= 5 and R >= 2; "
    "At risk F+M >= 5 and R = 1; Lapsed R = 1; Occasional otherwise. New customers cannot show "
    "a transition yet: their retention is the share of all customers who stayed past their "
    "first period. The other segments describe each customer's state at as_of and their rates "
    "are measured over the same customers' history, so they are selected on the outcome "
    "(Champions look loyal partly because they stayed): use them to describe, and prefer "
    "behaviour-based given segments to plan."
)


@dataclass
class ValueReport:
    """Segment inputs estimated from transactions.

    ``table`` has one row per segment (columns ``segment, customers, margin_per_period,
    retention_rate, referral_rate, aov, orders_per_period`` and a few counts); ``customers``
    has one row per customer with their activity (and RFM scores when derived).
    """

    table: pd.DataFrame
    customers: pd.DataFrame
    periods: list[str]
    warnings: list[str] = field(default_factory=list)

    def segments(self) -> list[Segment]:
        """The table as :class:`planner.scenario.models.Segment` rows for a scenario.

        Raises :class:`ScenarioError` for a segment whose retention could not be estimated.
        """
        issues, out = [], []
        for i, row in enumerate(self.table.itertuples(index=False)):
            if not np.isfinite(row.retention_rate):
                issues.append(Issue("Segments", i + 2, "retention_rate", None,
                                    f"could not be estimated for segment {row.segment!r} "
                                    "(needs two complete periods of its customers)"))
                continue
            out.append(Segment(segment=str(row.segment), customers=float(row.customers),
                               margin_per_period=max(float(row.margin_per_period), 0.0),
                               retention_rate=float(row.retention_rate), referral_rate=0.0))
        if issues:
            raise ScenarioError(issues)
        return out

    def sheets(self) -> list[SheetSpec]:
        """A ``Segments`` sheet (input columns first, header on row 1) and ``Segment Details``."""
        seg = self.table.copy()
        for col in ("prospects", "min_spend", "max_spend"):
            seg[col] = np.nan
        extra = [c for c in seg.columns if c not in SEGMENT_COLUMNS]
        seg = seg[SEGMENT_COLUMNS + extra]
        fmt = {"customers": "integer", "margin_per_period": "currency", "retention_rate": "percent",
               "referral_rate": "percent", "aov": "currency", "orders_per_period": "number",
               "customers_ever": "integer", "active_periods": "integer",
               "silent_share": "percent"}
        notes = [DEFINITIONS,
                 f"Periods: {self.periods[0]} to {self.periods[-1]} ({len(self.periods)})."
                 if self.periods else "No complete period."]
        if "r_score" in self.customers:
            notes.append(RFM_RULE)
        notes += [f"Warning: {w}" for w in self.warnings]
        counts = self.customers.groupby("segment", sort=True).agg(
            customers_ever=("customer_id", "size"), first_seen=("first", "min")).reset_index()
        counts["first_seen"] = [self.periods[i] for i in counts["first_seen"]]  # one per segment
        detail = TableBlock(counts, "Customers per segment", {"customers_ever": "integer"}, "SegmentDetails")
        return [SheetSpec("Segments", [TableBlock(seg, None, fmt, "Segments")], layout="table"),
                SheetSpec("Segment Details", [detail], notes=notes, layout="table")]


def _period_index(dates: pd.Series, ppy: int) -> np.ndarray:
    months = dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[M]").astype(np.int64)  # since 1970-01
    return (1970 * ppy + months // (12 // ppy)).astype(np.int64)


def _period_end(pidx: int, ppy: int) -> pd.Timestamp:
    nxt = pidx + 1
    return pd.Timestamp(year=nxt // ppy, month=(nxt % ppy) * (12 // ppy) + 1, day=1) - pd.Timedelta(days=1)


def period_label(pidx: int, ppy: int) -> str:
    """``2024``, ``2024H1``, ``2024Q3`` or ``2024-07`` for a period index ``year·ppy + k``."""
    year, k = divmod(int(pidx), ppy)
    return {1: f"{year}", 2: f"{year}H{k + 1}", 4: f"{year}Q{k + 1}", 12: f"{year}-{k + 1:02d}"}[ppy]


def _issue_rows(issues: list[Issue], df: pd.DataFrame, bad: np.ndarray, sheet: str, column: str,
                values: pd.Series, expected: str) -> None:
    rows, xr = np.flatnonzero(bad), excel_rows(df)
    for r in rows[: max(0, MAX_ISSUES - len(issues))]:
        v = values.iloc[r]
        v = v.item() if isinstance(v, np.generic) else v
        issues.append(Issue(sheet, int(xr[r]), column, None if pd.isna(v) else v, expected))


def clean_transactions(tx: pd.DataFrame, sheet: str = "Transactions") -> pd.DataFrame:
    """Validated copy of a transactions table with typed columns.

    Headers are matched case-insensitively after trimming (inner spaces read as ``_``).
    Numeric dates are Excel serial numbers.  Every bad cell becomes a located
    :class:`Issue` (Excel row: see :func:`planner.core.sheet_spec.excel_rows`); all are raised together as one
    :class:`ScenarioError`.
    """
    if not isinstance(tx, pd.DataFrame):
        raise ScenarioError([Issue(sheet, None, None, None, "is not a table")])
    df = tx.rename(columns=lambda c: "_".join(str(c).strip().lower().split()))
    issues = [Issue(sheet, None, c, None, "column is missing (expected customer_id, date, amount)")
              for c in ("customer_id", "date", "amount") if c not in df.columns]
    if issues:
        raise ScenarioError(issues)
    if df.empty:
        raise ScenarioError([Issue(sheet, None, None, None, "has no transactions")])
    out = pd.DataFrame(index=df.index)
    cid = df["customer_id"]
    if pd.api.types.is_numeric_dtype(cid):
        blank = cid.isna().to_numpy()
    else:
        cid = cid.where(cid.isna(), cid.astype(str).str.strip())
        blank = cid.isna().to_numpy() | (cid == "").to_numpy()
    _issue_rows(issues, df, blank, sheet, "customer_id", df["customer_id"], "is required")
    out["customer_id"] = cid
    date = df["date"]
    if pd.api.types.is_numeric_dtype(date) and not pd.api.types.is_bool_dtype(date):
        date = pd.to_datetime(date, errors="coerce", unit="D", origin="1899-12-30")  # Excel serials
    elif not pd.api.types.is_datetime64_any_dtype(date):
        date = pd.to_datetime(date, errors="coerce", format="mixed")
    _issue_rows(issues, df, date.isna().to_numpy(), sheet, "date", df["date"], "is not a date")
    out["date"] = date
    for col, need_pos in (("amount", True), ("margin", False)):
        if col not in df.columns:
            continue
        num = pd.to_numeric(df[col], errors="coerce").astype(float)
        bad = ~np.isfinite(num.to_numpy())
        if need_pos:
            bad |= num.to_numpy() < 0
        _issue_rows(issues, df, bad, sheet, col, df[col],
                    "is not a number >= 0 (net refunds into their order)" if need_pos
                    else "is not a number")
        out[col] = num
    if "segment" in df.columns:
        seg = df["segment"]
        blank = seg.isna().to_numpy() | (seg.astype(str).str.strip() == "").to_numpy()
        _issue_rows(issues, df, blank, sheet, "segment", seg, "is required when the column is present")
        out["segment"] = seg.astype(str).str.strip()
    if issues:
        if len(issues) >= MAX_ISSUES:
            issues.append(Issue(sheet, None, None, None, f"has more problems (first {MAX_ISSUES} shown)"))
        raise ScenarioError(issues)
    return out


def customer_activity(
    tx: pd.DataFrame, periods_per_year: int = 4, as_of: object = None, sheet: str = "Transactions"
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Per-customer activity of clean transactions (see :func:`clean_transactions`).

    Returns ``(customers, period_labels, warnings)``; ``customers`` has columns
    ``customer_id, segment, first, last, orders, amount, margin, stayed, at_risk, active_periods,
    active_last, recency_days``: ``first``/``last`` are period numbers 0 … P−1, ``stayed`` and
    ``at_risk`` the customer's share of the retention counts (Σ stayed / Σ at_risk = r).
    """
    ppy = periods_per_year
    if ppy not in PERIODS_PER_YEAR:
        raise ScenarioError([Issue("Settings", None, "periods_per_year", ppy,
                                   "is not allowed: expected one of 1, 2, 4, 12")])
    warnings: list[str] = []
    last_date = tx["date"].max()
    if as_of is None:
        cutoff = _period_index(pd.Series([last_date]), ppy)[0]
        as_of_ts = _period_end(int(cutoff), ppy)
    else:
        as_of_ts = pd.Timestamp(as_of).normalize()
        cutoff = int(_period_index(pd.Series([as_of_ts]), ppy)[0])
        if as_of_ts < _period_end(cutoff, ppy):
            warnings.append(f"as_of {as_of_ts.date()} ends period {period_label(cutoff, ppy)} early: "
                            "that period is left out")
            cutoff -= 1
    pidx = _period_index(tx["date"], ppy)
    keep = pidx <= cutoff
    if not keep.all():
        warnings.append(f"{int((~keep).sum())} transactions after the last complete period are ignored")
    t = tx.loc[keep].assign(pidx=pidx[keep])
    if t.empty:
        raise ScenarioError([Issue(sheet, None, "date", None,
                                   f"has no transaction in a complete period up to {as_of_ts.date()}")])
    start = int(t["pidx"].min())
    n_periods = cutoff - start + 1
    labels = [period_label(p, ppy) for p in range(start, cutoff + 1)]
    if "margin" not in t:
        warnings.append("no margin column: margin_per_period is revenue; multiply by your margin rate")
        t = t.assign(margin=t["amount"])
    if "segment" not in t:
        t = t.assign(segment="All")
    c = _per_customer(t)
    moved = int(c.pop("moved").sum())
    if moved:
        warnings.append(f"{moved} customers appear in several segments: each counts in the segment "
                        "of their latest transaction")
    c["first"] -= start
    c["last"] -= start
    c["stayed"] = c["last"] - c["first"]
    c["at_risk"] = np.maximum(np.minimum(c["last"], n_periods - 2) - c["first"] + 1, 0)
    c["active_periods"] = c["last"] - c["first"] + 1
    c["active_last"] = (c["last"] == n_periods - 1).astype(int)
    c["recency_days"] = (as_of_ts - c.pop("last_date")).dt.days
    if n_periods < 2:
        warnings.append("only one complete period: retention cannot be estimated")
    return c, labels, warnings


def _per_customer(t: pd.DataFrame) -> pd.DataFrame:
    """Per-customer aggregates of transactions with a ``pidx`` column (sorted numpy reductions;
    much cheaper than a many-function groupby)."""
    ids, uniq = pd.factorize(t["customer_id"], sort=True)
    date = t["date"].to_numpy(dtype="datetime64[ns]")
    order = np.lexsort((date, ids))
    ids, date = ids[order], date[order]
    pidx = t["pidx"].to_numpy()[order]
    seg = t["segment"].to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)] - 1
    new_period = np.r_[True, (pidx[1:] != pidx[:-1]) | (ids[1:] != ids[:-1])]
    last_seg = seg[ends]
    return pd.DataFrame({
        "customer_id": np.asarray(uniq), "segment": last_seg,
        "first": pidx[starts], "last": pidx[ends], "orders": np.diff(np.r_[starts, len(ids)]),
        "amount": np.add.reduceat(t["amount"].to_numpy(dtype=float)[order], starts),
        "margin": np.add.reduceat(t["margin"].to_numpy(dtype=float)[order], starts),
        "last_date": date[ends],
        "moved": np.maximum.reduceat((seg != np.repeat(last_seg, np.diff(np.r_[starts, len(ids)]))).astype(int), starts) > 0,
        "buying_periods": np.add.reduceat(new_period.astype(int), starts),
    })


def rfm_segments(customers: pd.DataFrame, last_period: int | None = None) -> pd.DataFrame:
    """Add ``r_score``, ``f_score``, ``m_score`` (1-3 by tertile) and an RFM ``segment``.

    The rule is :data:`RFM_RULE`; ties share a score.  ``last_period`` is the number of
    the last complete period (default: the latest ``last`` of any customer).
    """
    def score(v: pd.Series) -> np.ndarray:
        pct = v.rank(pct=True, method="average").to_numpy()
        return 1 + (pct > 1 / 3 + 1e-9).astype(int) + (pct > 2 / 3 + 1e-9).astype(int)

    c = customers.copy()
    end = int(c["last"].max()) if last_period is None else last_period
    r, f, m = score(-c["recency_days"]), score(c["orders"]), score(c["margin"])
    c["r_score"], c["f_score"], c["m_score"] = r, f, m
    new = (c["first"] == end).to_numpy()
    c["segment"] = np.select(
        [new, r + f + m >= 8, (f + m >= 5) & (r >= 2), (f + m >= 5) & (r == 1), r == 1],
        ["New", "Champions", "Loyal", "At risk", "Lapsed"], default="Occasional")
    return c


def summarise(customers: pd.DataFrame) -> pd.DataFrame:
    """Segment table from per-customer activity (ratios of sums, see the module docstring)."""
    s = customers.groupby("segment", sort=True)[
        ["active_last", "margin", "amount", "orders", "stayed", "at_risk", "active_periods",
         "buying_periods"]].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame({
            "segment": s.index.astype(str),
            "customers": s["active_last"].to_numpy(dtype=float),
            "margin_per_period": (s["margin"] / s["active_periods"]).to_numpy(dtype=float),
            "retention_rate": (s["stayed"] / s["at_risk"].where(s["at_risk"] > 0)).to_numpy(dtype=float),
            "referral_rate": 0.0,
            "aov": (s["amount"] / s["orders"]).to_numpy(dtype=float),
            "orders_per_period": (s["orders"] / s["active_periods"]).to_numpy(dtype=float),
            "customers_ever": customers.groupby("segment", sort=True).size().to_numpy(),
            "active_periods": s["active_periods"].to_numpy(),
            "silent_share": (1 - s["buying_periods"] / s["active_periods"]).to_numpy(dtype=float),
        })
    return out.reset_index(drop=True)


def segment_values(
    transactions: pd.DataFrame,
    periods_per_year: int = 4,
    segments: str = "given",
    as_of: object = None,
) -> ValueReport:
    """Segment inputs (size, margin, retention, AOV, frequency) from transactions.

    Parameters
    ----------
    transactions : DataFrame
        Columns ``customer_id``, ``date``, ``amount`` and optionally ``margin`` (else the
        amount is used, with a warning) and ``segment``.
    periods_per_year : {1, 2, 4, 12}
        Length of a period; the rates are per period.
    segments : {"given", "rfm"}
        ``given`` uses the ``segment`` column (one segment ``All`` without it); ``rfm``
        derives segments from recency, frequency and monetary scores (:data:`RFM_RULE`).
    as_of : date-like, optional
        Date the data are complete to; default the end of the last transaction's period.

    Returns
    -------
    ValueReport

    Examples
    --------
    >>> tx = pd.DataFrame({"customer_id": [1, 1, 2], "amount": [10.0, 30.0, 20.0],
    ...                    "date": ["2024-01-05", "2024-04-02", "2024-02-01"]})
    >>> rep = segment_values(tx)
    >>> rep.table[["segment", "customers", "retention_rate", "aov"]].to_dict("records")
    [{'segment': 'All', 'customers': 1.0, 'retention_rate': 0.5, 'aov': 20.0}]
    """
    if segments not in ("given", "rfm"):
        raise ScenarioError([Issue("Settings", None, "segments", segments,
                                   "is not allowed: expected 'given' or 'rfm'")])
    clean = clean_transactions(transactions)
    cust, labels, warnings = customer_activity(clean, periods_per_year, as_of)
    if segments == "rfm":
        if "segment" in clean:
            warnings.append("the segment column is ignored: segments are derived from RFM scores")
        cust = rfm_segments(cust, len(labels) - 1)
    elif "segment" not in clean:
        warnings.append("no segment column: every customer is in segment 'All'")
    table = summarise(cust)
    if segments == "rfm":
        # single-order recent customers have no observed transition: use the share of all
        # customers who stayed past their first period
        first = cust[cust["at_risk"] > 0]
        r_first = float((first["stayed"] > 0).mean()) if len(first) else np.nan
        gap = (table["segment"] == "New") & table["retention_rate"].isna()
        if gap.any() and np.isfinite(r_first):
            table.loc[gap, "retention_rate"] = r_first
            warnings.append(f"segment 'New': retention not observable in-sample; using the share of "
                            f"all customers who stayed past their first period ({r_first:.3f})")
    for row in table.itertuples(index=False):
        if not np.isfinite(row.retention_rate):
            warnings.append(f"segment {row.segment!r}: retention could not be estimated")
        elif row.retention_rate >= 1.0:
            warnings.append(f"segment {row.segment!r}: no churn observed; retention capped at 0.999")
        if row.silent_share > 0.2:
            warnings.append(f"segment {row.segment!r}: customers buy nothing in {row.silent_share:.0%} "
                            "of their active periods, so retention is understated near the end of "
                            "the data; consider fewer periods per year")
    table["retention_rate"] = table["retention_rate"].clip(upper=0.999)
    return ValueReport(table, cust, labels, warnings)
