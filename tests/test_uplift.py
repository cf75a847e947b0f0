"""CLV uplift with bootstrap intervals: coverage, zero vs non-zero effects, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.analysis.uplift import METRICS, measure_uplift
from planner.core.value import lifetime_value, period_rate
from planner.errors import ScenarioError


def simulate(n: int, r: float, seed: int, periods: int = 6, mean_amount: float = 50.0,
             segment: str | None = None) -> pd.DataFrame:
    """Quarterly geometric churn (stay with prob. r), one order per active quarter."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, periods, n)
    last = np.minimum(first + rng.geometric(1 - r, n) - 1, periods - 1)
    cnt = last - first + 1
    cust = np.repeat(np.arange(n), cnt)
    per = np.repeat(first, cnt) + np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    date = (np.datetime64("2023-01") + 3 * per).astype("datetime64[D]") + 4
    amount = rng.gamma(4.0, mean_amount / 4.0, len(per))
    tx = pd.DataFrame({"customer_id": cust, "date": date, "amount": amount, "margin": 0.4 * amount})
    if segment is not None:
        tx["segment"] = segment
    return tx


def row(rep, metric: str, segment: str = "All") -> pd.Series:
    t = rep.table
    return t[(t["metric"] == metric) & (t["segment"] == segment)].iloc[0]


def test_real_retention_effect_is_detected_and_covered() -> None:
    rep = measure_uplift(simulate(3000, 0.6, seed=1), simulate(3000, 0.75, seed=2), n_boot=300)
    r = row(rep, "retention_rate")
    assert r["ci_low"] > 0 and r["ci_low"] <= 0.15 <= r["ci_high"]
    assert r["verdict"].startswith("higher after")
    clv = row(rep, "clv")
    assert clv["ci_low"] > 0 and clv["verdict"].startswith("higher after")
    assert row(rep, "aov")["verdict"].startswith("not distinguishable from zero")


def test_no_effect_is_not_distinguishable_from_zero() -> None:
    rep = measure_uplift(simulate(3000, 0.7, seed=3), simulate(3000, 0.7, seed=4), n_boot=300)
    for metric in METRICS:
        r = row(rep, metric)
        assert r["ci_low"] <= 0 <= r["ci_high"], metric
        assert r["verdict"] == "not distinguishable from zero (95% interval contains 0)"


def test_interval_coverage_and_power_in_repeated_simulation() -> None:
    """15 studies with an effect and 15 without: the 90 % interval covers the true retention
    uplift in most of them and excludes zero only when there is an effect."""
    covered, excluded_null, excluded_effect = 0, 0, 0
    reps = 15
    for i in range(reps):
        eff = measure_uplift(simulate(600, 0.6, seed=100 + i), simulate(600, 0.75, seed=200 + i),
                             n_boot=150, seed=i, confidence=0.9)
        null = measure_uplift(simulate(600, 0.6, seed=300 + i), simulate(600, 0.6, seed=400 + i),
                              n_boot=150, seed=i, confidence=0.9)
        e, z = row(eff, "retention_rate"), row(null, "retention_rate")
        covered += int(e["ci_low"] <= 0.15 <= e["ci_high"]) + int(z["ci_low"] <= 0 <= z["ci_high"])
        excluded_effect += int(e["ci_low"] > 0)
        excluded_null += int(not z["ci_low"] <= 0 <= z["ci_high"])
    assert covered >= 0.8 * 2 * reps  # nominal 90 %
    assert excluded_effect >= 0.9 * reps
    assert excluded_null <= 0.2 * reps


def test_aov_uplift_and_clv_formula() -> None:
    before = simulate(2000, 0.7, seed=5)
    after = simulate(2000, 0.7, seed=6, mean_amount=60.0)
    rep = measure_uplift(before, after, n_boot=200)
    aov = row(rep, "aov")
    assert aov["ci_low"] > 0 and aov["ci_low"] <= 10.0 <= aov["ci_high"]
    assert aov["uplift_pct"] == pytest.approx(aov["uplift"] / aov["before"])
    delta = period_rate(0.10, 4)
    for side in ("before", "after"):
        expected = lifetime_value(row(rep, "margin_per_period")[side], row(rep, "retention_rate")[side], delta)
        assert row(rep, "clv")[side] == pytest.approx(float(expected))


def test_same_seed_same_intervals() -> None:
    b, a = simulate(500, 0.6, seed=7), simulate(500, 0.7, seed=8)
    one = measure_uplift(b, a, n_boot=100, seed=11).table
    two = measure_uplift(b, a, n_boot=100, seed=11).table
    three = measure_uplift(b, a, n_boot=100, seed=12).table
    pd.testing.assert_frame_equal(one, two)
    assert not np.allclose(one["ci_low"], three["ci_low"])


def test_segments_all_row_and_missing_segment() -> None:
    before = pd.concat([simulate(400, 0.6, seed=9, segment="A"), simulate(400, 0.8, seed=10, segment="B")
                        .assign(customer_id=lambda d: d["customer_id"] + 10_000)])
    after = simulate(400, 0.6, seed=11, segment="A")
    rep = measure_uplift(before, after, n_boot=50)
    assert rep.table["segment"].unique().tolist() == ["A", "B", "All"]
    b = row(rep, "retention_rate", "B")
    assert b["n_after"] == 0 and b["verdict"].startswith("cannot be measured")
    assert any("'B' has no customers after" in w for w in rep.warnings)
    assert row(rep, "retention_rate", "All")["n_before"] == 800


def test_sheet_has_table_and_chart() -> None:
    rep = measure_uplift(simulate(300, 0.6, seed=12), simulate(300, 0.7, seed=13), n_boot=50)
    (sheet,) = rep.sheets()
    assert sheet.name == "Uplift" and len(sheet.blocks) == 2
    (chart,) = sheet.charts
    frame = sheet.blocks[chart.block].frame
    assert {chart.x, *chart.ys} <= set(frame.columns)
    assert frame["clv_after"].iloc[0] == pytest.approx(row(rep, "clv")["after"])
    assert any("50 resamples" in n for n in sheet.notes)


def test_bad_input_is_located_in_both_samples() -> None:
    before = simulate(50, 0.6, seed=14).reset_index(drop=True)
    after = simulate(50, 0.6, seed=15).reset_index(drop=True)
    before["amount"] = before["amount"].astype(object)
    before.loc[0, "amount"] = "ten"
    after.loc[3, "date"] = pd.NaT
    with pytest.raises(ScenarioError) as exc:
        measure_uplift(before, after, n_boot=20)
    got = {(i.sheet, i.row, i.column) for i in exc.value.issues}
    assert got == {("Before", 2, "amount"), ("After", 5, "date")}
    with pytest.raises(ScenarioError, match="confidence"):
        measure_uplift(simulate(50, 0.6, seed=1), simulate(50, 0.6, seed=2), confidence=95)


def test_uplift_workbook(tmp_path) -> None:
    import openpyxl

    from planner.workflows import uplift_workbook

    b, a = tmp_path / "before.csv", tmp_path / "after.csv"
    simulate(400, 0.6, seed=16).to_csv(b, index=False)
    simulate(400, 0.8, seed=17).to_csv(a, index=False)
    rep = uplift_workbook(str(b), str(a), str(tmp_path / "uplift.xlsx"), n_boot=50, seed=3)
    assert rep.settings["seed"] == 3
    ws = openpyxl.load_workbook(tmp_path / "uplift.xlsx")["Uplift"]
    cells = [v for r in ws.iter_rows(values_only=True) for v in r if isinstance(v, str)]
    assert cells.count("higher after: 95% interval excludes zero") >= 2  # retention and CLV
    assert "not distinguishable from zero (95% interval contains 0)" in cells
    assert len(ws._charts) == 1
