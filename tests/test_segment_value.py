"""Segment values from transactions: retention from simulated geometric churn, rates, RFM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.analysis.segment_value import rfm_segments, segment_values
from planner.errors import ScenarioError
from planner.scenario.models import Segment


def simulate(n: int, r: float, periods: int = 8, ppy: int = 4, seed: int = 0, extra_orders: float = 0.0,
             p_buy: float = 1.0, segment: str | None = None, id0: int = 0) -> pd.DataFrame:
    """Geometric churn: customers join in a uniform period, stay each period with prob. ``r``,
    and place 1 + Poisson(extra_orders) orders in each active period (the first and last
    always; others with prob. ``p_buy``).  Amount ~ Gamma(mean 50), margin 30 %."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, periods, n)
    last = np.minimum(first + rng.geometric(1 - r, n) - 1, periods - 1)
    cnt = last - first + 1
    cust = np.repeat(np.arange(n), cnt)
    per = np.repeat(first, cnt) + np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    edge = (per == np.repeat(first, cnt)) | (per == np.repeat(last, cnt))
    buy = edge | (rng.random(len(per)) < p_buy)
    cust, per = cust[buy], per[buy]
    k = 1 + rng.poisson(extra_orders, len(per))
    cust, per = np.repeat(cust, k), np.repeat(per, k)
    start = (np.datetime64("2020-01") + (12 // ppy) * per).astype("datetime64[D]")
    date = start + rng.integers(0, 28, len(per))
    amount = rng.gamma(2.0, 25.0, len(per))
    tx = pd.DataFrame({"customer_id": cust + id0, "date": date, "amount": amount, "margin": 0.3 * amount})
    if segment is not None:
        tx["segment"] = segment
    tx.attrs["active_last"] = int((last == periods - 1).sum())
    return tx


@pytest.mark.parametrize("r", [0.5, 0.8])
def test_retention_recovers_geometric_churn(r: float) -> None:
    tx = simulate(6000, r, seed=int(r * 10))
    rep = segment_values(tx)
    row = rep.table.iloc[0]
    assert row["retention_rate"] == pytest.approx(r, abs=0.015)  # ~3.5 standard errors
    assert row["customers"] == tx.attrs["active_last"]
    assert rep.periods == [f"{y}Q{q}" for y in (2020, 2021) for q in range(1, 5)]


def test_two_given_segments_and_monthly_periods() -> None:
    tx = pd.concat([simulate(4000, 0.6, periods=18, ppy=12, seed=1, segment="Bronze"),
                    simulate(4000, 0.9, periods=18, ppy=12, seed=2, segment="Gold", id0=10_000)])
    t = segment_values(tx, periods_per_year=12).table.set_index("segment")
    assert t.loc["Bronze", "retention_rate"] == pytest.approx(0.6, abs=0.02)
    assert t.loc["Gold", "retention_rate"] == pytest.approx(0.9, abs=0.015)


def test_order_value_frequency_and_margin() -> None:
    tx = simulate(4000, 0.7, seed=3, extra_orders=0.5)
    t = segment_values(tx).table.iloc[0]
    assert t["orders_per_period"] == pytest.approx(1.5, abs=0.04)
    assert t["aov"] == pytest.approx(50.0, rel=0.03)
    assert t["margin_per_period"] == pytest.approx(0.3 * t["aov"] * t["orders_per_period"], rel=1e-9)
    assert t["referral_rate"] == 0.0


def test_exact_small_example() -> None:
    # customer 1 active Q1-Q3 (silent Q2), customer 2 Q2 only, customer 3 Q3 only
    tx = pd.DataFrame({"customer_id": ["1", "1", "2", "3"], "amount": [10.0, 20.0, 30.0, 40.0],
                       "date": ["2024-01-10", "2024-08-01", "2024-05-05", "2024-09-30"]})
    rep = segment_values(tx)
    t = rep.table.iloc[0]
    # at risk: c1 in Q1, Q2 (stayed both); c2 in Q2 (left) -> 2 / 3
    assert t["retention_rate"] == pytest.approx(2 / 3)
    assert t["customers"] == 2  # c1 and c3 are active in Q3
    assert t["aov"] == pytest.approx(25.0)
    assert t["orders_per_period"] == pytest.approx(4 / 5)  # 5 active customer-periods
    assert any("no margin column" in w for w in rep.warnings)


def test_as_of_cuts_a_partial_period() -> None:
    tx = simulate(2000, 0.7, seed=4)  # 2020Q1 .. 2021Q4
    rep = segment_values(tx, as_of="2021-11-15")
    assert rep.periods[-1] == "2021Q3"
    assert any("left out" in w for w in rep.warnings)
    assert any("after the last complete period are ignored" in w for w in rep.warnings)
    assert segment_values(tx, as_of="2021-12-31").periods[-1] == "2021Q4"


def test_silent_periods_warn() -> None:
    rep = segment_values(simulate(2000, 0.8, seed=5, p_buy=0.4))
    assert any("buy nothing in" in w and "fewer periods per year" in w for w in rep.warnings)


def test_rfm_rule_and_segments() -> None:
    c = pd.DataFrame({"customer_id": list("abcdef"), "recency_days": [2, 3, 300, 400, 1, 200],
                      "orders": [9, 10, 9, 1, 1, 2], "margin": [95.0, 80.0, 90.0, 5.0, 4.0, 20.0],
                      "first": [0, 0, 0, 1, 4, 2], "last": [4, 4, 1, 1, 4, 2]})
    got = rfm_segments(c).set_index("customer_id")
    # R: e,a=3 b,f=2 c,d=1; F: a,b,c=3 f=2 d,e=1; M: a,c=3 b,f=2 d,e=1
    assert got["r_score"].tolist() == [3, 2, 1, 1, 3, 2]
    assert got["segment"].to_dict() == {"a": "Champions", "b": "Loyal", "c": "At risk",
                                         "d": "Lapsed", "e": "New", "f": "Occasional"}
    assert got[["r_score", "f_score", "m_score"]].isin([1, 2, 3]).all().all()
    rep = segment_values(simulate(3000, 0.7, seed=6, extra_orders=1.0), segments="rfm")
    assert set(rep.table["segment"]) <= {"Champions", "New", "Loyal", "At risk", "Lapsed", "Occasional"}
    assert rep.table["customers_ever"].sum() == 3000
    t = rep.table.set_index("segment")
    assert t.loc["Champions", "retention_rate"] > 0.8  # long-lived customers by construction
    # New (first order in the last period) cannot show a transition: first-period retention
    assert t.loc["New", "retention_rate"] == pytest.approx(0.7, abs=0.04)
    assert len(rep.segments()) == len(t)
    assert any("RFM" in n for n in rep.sheets()[1].notes)


def test_segments_sheet_and_models() -> None:
    rep = segment_values(pd.concat([simulate(500, 0.6, seed=7, segment="A"),
                                    simulate(500, 0.7, seed=8, segment="B", id0=1000)]))
    sheet = rep.sheets()[0]
    assert sheet.name == "Segments" and not sheet.notes
    assert sheet.blocks[0].frame.columns[:8].tolist() == [
        "segment", "customers", "prospects", "margin_per_period", "retention_rate",
        "referral_rate", "min_spend", "max_spend"]
    segs = rep.segments()
    assert [s.segment for s in segs] == ["A", "B"] and all(isinstance(s, Segment) for s in segs)
    assert segs[0].retention_rate == pytest.approx(rep.table["retention_rate"].iloc[0])


def test_single_period_cannot_give_retention() -> None:
    tx = pd.DataFrame({"customer_id": [1, 2], "date": ["2024-01-02", "2024-02-03"], "amount": [5, 6]})
    rep = segment_values(tx)
    assert np.isnan(rep.table["retention_rate"].iloc[0])
    assert any("only one complete period" in w for w in rep.warnings)
    with pytest.raises(ScenarioError, match="retention_rate"):
        rep.segments()


def test_bad_rows_are_located() -> None:
    tx = pd.DataFrame({"Customer_ID": ["a", None, "c", "d"],
                       "Date": ["2024-01-01", "2024-01-02", "not a date", "2024-01-04"],
                       "Amount": [1.0, 2.0, 3.0, -4.0]})
    with pytest.raises(ScenarioError) as exc:
        segment_values(tx)
    got = {(i.sheet, i.row, i.column) for i in exc.value.issues}
    assert got == {("Transactions", 3, "customer_id"), ("Transactions", 4, "date"),
                   ("Transactions", 5, "amount")}


def test_bad_arguments_and_missing_columns() -> None:
    tx = simulate(50, 0.5)
    with pytest.raises(ScenarioError, match="periods_per_year"):
        segment_values(tx, periods_per_year=3)
    with pytest.raises(ScenarioError, match="segments"):
        segment_values(tx, segments="kmeans")
    with pytest.raises(ScenarioError) as exc:
        segment_values(tx.drop(columns=["amount", "date"]))
    assert {i.column for i in exc.value.issues} == {"amount", "date"}


def test_value_workbook_from_csv_and_xlsx(tmp_path) -> None:
    from planner.core.sheet_spec import SheetSpec, TableBlock
    from planner.io import read_table, write_sheets
    from planner.workflows import value_workbook

    tx = pd.concat([simulate(800, 0.6, seed=9, segment="A"), simulate(800, 0.8, seed=10, segment="B", id0=5000)])
    csv, out = tmp_path / "tx.csv", tmp_path / "segments.xlsx"
    tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")).to_csv(csv, index=False)
    rep = value_workbook(str(csv), str(out), periods_per_year=4, segments="given")
    back = read_table(out, "Segments")
    assert back["segment"].tolist() == ["A", "B"]
    assert back["retention_rate"].tolist() == pytest.approx(rep.table["retention_rate"].tolist())
    assert back["retention_rate"].tolist() == pytest.approx([0.6, 0.8], abs=0.05)

    xlsx = tmp_path / "tx.xlsx"
    bad = tx.reset_index(drop=True).head(20).astype({"amount": object})
    bad.loc[4, "amount"] = "n/a"  # Excel row 6
    write_sheets([SheetSpec("Transactions", [TableBlock(bad)])], xlsx)
    with pytest.raises(ScenarioError) as exc:
        value_workbook(str(xlsx), str(tmp_path / "never.xlsx"))
    assert [(i.sheet, i.row, i.column) for i in exc.value.issues] == [("Transactions", 6, "amount")]
