"""Curve fitting from spend history: parameter recovery, selection, flags, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.analysis.fit import CURVE_COLUMNS, aicc, fit_history
from planner.errors import ScenarioError
from planner.scenario.models import Curve
from planner.workflows import fit_workbook

TRUTH = {
    # family: (a, b, shape, f, spends)
    "saturation": (500.0, 20_000.0, None, lambda x: 500 * -np.expm1(-x / 20_000),
                   np.geomspace(2_000, 60_000, 15)),
    "hill": (800.0, 30_000.0, 0.6, lambda x: 800 * x**0.6 / (x**0.6 + 30_000**0.6),
             np.geomspace(1_500, 600_000, 15)),
    "log": (120.0, 5_000.0, None, lambda x: 120 * np.log1p(x / 5_000),
            np.geomspace(1_000, 100_000, 15)),
    "power": (300.0, 50_000.0, 0.5, lambda x: 300 * (x / 50_000) ** 0.5,
              np.geomspace(5_000, 100_000, 15)),
}
# relative tolerance on a and b, absolute on shape, with 1 % multiplicative noise
TOL = {"saturation": (0.05, 0.08, None), "hill": (0.08, 0.25, 0.05),
       "log": (0.06, 0.12, None), "power": (0.03, 0.0, 0.03)}


def history(family: str, seed: int, noise: float = 0.01, channel: str = "Email") -> pd.DataFrame:
    _, _, _, f, x = TRUTH[family]
    rng = np.random.default_rng(seed)
    y = f(x) * (1 + noise * rng.standard_normal(len(x)))
    return pd.DataFrame({"segment": "Core", "channel": channel, "program": "acquisition",
                         "period": [f"P{i}" for i in range(len(x))], "spend": x, "customers": y})


@pytest.mark.parametrize("family", list(TRUTH))
@pytest.mark.parametrize("seed", range(3))
def test_recovers_known_parameters_from_noisy_data(family: str, seed: int) -> None:
    a0, b0, s0, f, x = TRUTH[family]
    rep = fit_history(history(family, seed))
    fam = rep.families.set_index("curve").loc[family]
    a, b, s = fam["a"], fam["b"], fam["shape"]
    if family == "power":  # b is pinned to the largest spend; compare at the true b
        assert b == pytest.approx(x.max())
        a, b = a * (b0 / b) ** s, b0
    ta, tb, ts = TOL[family]
    assert a == pytest.approx(a0, rel=ta)
    assert b == pytest.approx(b0, rel=max(tb, 1e-9))
    if ts is not None:
        assert s == pytest.approx(s0, abs=ts)
    # whatever family wins, the chosen curve reproduces the truth on the observed range
    c = rep.curves.iloc[0]
    assert c["flag"] == "ok"
    assert c["r2"] > 0.99 and c["mape"] < 0.03
    pts = rep.points
    assert np.max(np.abs(pts["fitted"] / f(pts["spend"]) - 1)) < 0.03


@pytest.mark.parametrize("family", ["saturation", "hill"])
def test_aicc_picks_the_generating_family(family: str) -> None:
    rep = fit_history(pd.concat([history(family, s, channel=f"C{s}") for s in range(4)]))
    assert rep.curves["curve"].tolist() == [family] * 4


@pytest.mark.parametrize("seed", [1, 3])
def test_aicc_prefers_fewer_parameters_over_a_slightly_smaller_rss(seed: int) -> None:
    rep = fit_history(history("power", seed))
    fam = rep.families.set_index("curve")
    assert fam.loc["hill", "rss"] < fam.loc["power", "rss"]  # hill nests power (b -> inf)
    assert rep.curves.iloc[0]["curve"] == "power"
    assert fam.loc["power", "delta"] == 0 and fam.loc["hill", "delta"] > 0


def test_columns_and_one_row_per_cell_in_sorted_order() -> None:
    h = pd.concat([history("log", 0, channel="Search"), history("saturation", 1, channel="Email")])
    h.loc[h["channel"] == "Email", "program"] = "Retention"  # case-insensitive
    rep = fit_history(h)
    assert rep.curves.columns.tolist() == CURVE_COLUMNS
    assert rep.curves[["channel", "program"]].values.tolist() == [
        ["Email", "retention"], ["Search", "acquisition"]]
    assert (rep.curves["n_points"] == 15).all()
    assert rep.curves["max_spend"].tolist() == [60_000.0, 100_000.0]
    assert len(rep.points) == 30 and len(rep.families) == 8
    # the chosen rows are valid Curves-sheet rows for a scenario
    for row in rep.curves.to_dict("records"):
        Curve(**{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()})


def test_too_few_points_is_flagged_not_hidden() -> None:
    h = history("saturation", 0).iloc[[2, 2, 8, 8, 13]]  # 3 distinct spends, 5 rows
    rep = fit_history(h)
    assert len(rep.curves) == 1
    c = rep.curves.iloc[0]
    assert c["curve"] in {"saturation", "hill", "log", "power"}
    assert c["n_points"] == 5
    assert "too few points: 3 distinct spends" in c["flag"]
    assert any("too few points" in w and "Core / Email / acquisition" in w for w in rep.warnings)


def test_four_distinct_spends_are_enough() -> None:
    rep = fit_history(history("saturation", 0).iloc[[1, 5, 9, 14]])
    assert "too few points" not in rep.curves.iloc[0]["flag"]


def test_bad_fit_is_flagged() -> None:
    rng = np.random.default_rng(7)
    h = history("saturation", 0)
    h["customers"] = rng.uniform(50, 100, len(h))
    rep = fit_history(h)
    c = rep.curves.iloc[0]
    assert c["r2"] < 0.5
    assert "bad fit: R²" in c["flag"]
    assert rep.warnings and "bad fit" in rep.warnings[0]


def test_linear_data_is_flagged_as_no_saturation() -> None:
    x = np.geomspace(1_000, 50_000, 10)
    h = pd.DataFrame({"segment": "S", "channel": "TV", "program": "acquisition",
                      "spend": x, "customers": x / 100})
    c = fit_history(h).curves.iloc[0]
    assert "no saturation seen" in c["flag"]
    assert c["r2"] > 0.999


def test_one_spend_level_and_no_customers() -> None:
    h = pd.DataFrame({"segment": "S", "channel": ["A", "A", "B", "B"], "program": "retention",
                      "period": [1, 2, 1, 2], "spend": [1000.0, 1000.0, 500.0, 700.0],
                      "customers": [9.0, 11.0, 0.0, 0.0]})
    rep = fit_history(h)
    a, b = rep.curves.iloc[0], rep.curves.iloc[1]
    assert a["curve"] == "linear" and a["b"] == pytest.approx(100.0) and "one spend level" in a["flag"]
    assert pd.isna(b["curve"]) and b["flag"] == "no customers at any positive spend: no curve can be fitted"
    assert len(rep.warnings) == 2


def test_customers_at_zero_spend_are_flagged() -> None:
    h = history("saturation", 0)
    h = pd.concat([h, h.iloc[[0]].assign(spend=0.0, customers=5.0)])
    assert "zero spend" in fit_history(h).curves.iloc[0]["flag"]


def test_aicc_formula() -> None:
    n, k, rss = 10, 2, 4.0  # k + 1 = 3 parameters with the variance
    assert aicc(rss, n, k) == pytest.approx(n * np.log(rss / n) + 6 + 2 * 3 * 4 / 6)
    assert aicc(rss, 4, 2) == np.inf


def test_bad_input_names_rows_and_columns() -> None:
    h = history("saturation", 0).reset_index(drop=True)
    h["spend"] = h["spend"].astype(object)
    h.loc[2, "spend"] = "lots"
    h.loc[4, "customers"] = -3.0
    h.loc[5, "program"] = "brand"
    h.loc[6, "segment"] = None
    with pytest.raises(ScenarioError) as exc:
        fit_history(h)
    got = {(i.sheet, i.row, i.column) for i in exc.value.issues}
    assert got == {("History", 4, "spend"), ("History", 6, "customers"),
                   ("History", 7, "program"), ("History", 8, "segment")}
    assert "History row 4 spend: 'lots' is not a number >= 0" in str(exc.value)


def test_missing_columns_are_all_reported() -> None:
    with pytest.raises(ScenarioError) as exc:
        fit_history(pd.DataFrame({"Segment ": ["S"], "spend": [1.0]}))
    assert {i.column for i in exc.value.issues} == {"channel", "program", "customers"}


def test_sheets_describe_curves_and_charts() -> None:
    h = pd.concat([history("log", 0, channel="Search"), history("saturation", 1)])
    rep = fit_history(h)
    curves, charts, fams = rep.sheets()
    assert curves.name == "Curves" and not curves.notes
    assert curves.blocks[0].frame.columns[:8].tolist() == [
        "segment", "channel", "program", "curve", "a", "b", "shape", "max_spend"]
    assert charts.name == "Fit Charts" and len(charts.blocks) == len(charts.charts) == 2
    for i, (block, chart) in enumerate(zip(charts.blocks, charts.charts, strict=True)):
        assert chart.kind == "scatter" and chart.block == i
        assert {chart.x, *chart.ys} <= set(block.frame.columns)
        assert block.frame["customers"].notna().sum() == 15
        assert block.frame["spend"].is_monotonic_increasing
    assert fams.blocks[0].frame["chosen"].sum() == 2


def test_fit_workbook_round_trip(tmp_path) -> None:
    from planner.core.sheet_spec import SheetSpec, TableBlock
    from planner.io import read_table, write_sheets

    h = pd.concat([history("saturation", 0), history("log", 1, channel="Search")])
    h.columns = [c.title() for c in h.columns]  # headers are case-insensitive
    src, out = tmp_path / "history.xlsx", tmp_path / "fitted.xlsx"
    write_sheets([SheetSpec("History", [TableBlock(h.reset_index(drop=True))])], src)
    rep = fit_workbook(str(src), str(out))
    curves = read_table(out, "Curves")
    assert curves["curve"].tolist() == rep.curves["curve"].tolist()
    assert curves["b"].tolist() == pytest.approx(rep.curves["b"].tolist())
    assert read_table(out, "Fit Families")["chosen"].sum() == 2

    bad = h.reset_index(drop=True)
    bad.loc[3, "Spend"] = -1.0  # Excel row 5
    write_sheets([SheetSpec("History", [TableBlock(bad)])], src)
    with pytest.raises(ScenarioError) as exc:
        fit_workbook(str(src), str(tmp_path / "never.xlsx"))
    assert [(i.sheet, i.row, i.column, i.value) for i in exc.value.issues] == [("History", 5, "spend", -1.0)]
    assert not (tmp_path / "never.xlsx").exists()
