"""Plan risk (DESIGN §7): draws, the fixed plan on draws, the robust plan, the CLI.

References are closed forms (a value linear in ``a``; the lognormal and logit-normal
quantiles), the engine's own real-curve evaluation (plan_assembly) and binomial Monte
Carlo errors computed from the number of draws used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

import planner
from planner.analysis.risk import plan_risk, summarize
from planner.analysis.risk_draws import BLOCK, Z90, draw_inputs, expit, logit
from planner.analysis.risk_eval import PlanOnDraws, family_customers, plan_spend
from planner.cli import main
from planner.core.curves import KINDS, CurveSet
from planner.core.curves import response as evaluate
from planner.core.scenario_arrays import Index
from planner.engine.plan_assembly import headline, true_customers
from planner.errors import ScenarioError
from planner.io import read_scenario, write_scenario
from planner.scenario.examples import retail_quarterly
from planner.scenario.models import Channel, Curve, Period, Scenario, Segment, Settings
from planner.scenario.overrides import apply_scenario

PHI_Z90 = float(np.exp(-Z90**2 / 2) / np.sqrt(2 * np.pi))  # standard normal density at P90


def one_cell(budget: float = 20_000, margin: float = 50.0, **curve: float | str | None) -> Scenario:
    """One segment, one channel, one period, no discounting, retention 0: a customer is
    worth its margin, so value = margin · a (1 − e^(−x/b))."""
    spec = {"curve": "saturation", "a": 1000.0, "b": 10_000.0, **curve}
    return Scenario(
        settings=Settings(total_budget=budget, periods_per_year=1, annual_discount_rate=0.0),
        segments=[Segment(segment="S", margin_per_period=margin, retention_rate=0.0)],
        channels=[Channel(channel="C")],
        curves=[Curve(segment="S", channel="C", program="acquisition", **spec)])


def strip_ranges(s: Scenario) -> Scenario:
    blank = dict.fromkeys(("a_low", "a_high", "b_low", "b_high"), None)
    seg_blank = dict.fromkeys(("margin_low", "margin_high", "retention_low", "retention_high"), None)
    return s.model_copy(update={"curves": [c.model_copy(update=blank) for c in s.curves],
                                "segments": [g.model_copy(update=seg_blank) for g in s.segments]})


# ---------------------------------------------------------------------------- draws


def test_lognormal_and_logit_normal_draws_reproduce_their_p10_p90() -> None:
    s = one_cell(a_low=600.0, a_high=1500.0, b_low=8000.0, b_high=12_500.0)
    s = s.model_copy(update={"segments": [s.segments[0].model_copy(update={
        "retention_rate": 0.7, "retention_low": 0.55, "retention_high": 0.85,
        "margin_low": 40.0, "margin_high": 60.0})]})
    n = 40_000
    d = draw_inputs(s, n, seed=3).all()
    tol = 4 * np.sqrt(0.09 / n)  # binomial error of a share of 10 % over n draws
    for x, lo, hi in ((d.a[:, 0], 600, 1500), (d.b[:, 0], 8000, 12_500),
                      (d.margin[:, 0], 40, 60), (d.retention[:, 0], 0.55, 0.85)):
        assert abs(np.mean(x < lo) - 0.1) < tol and abs(np.mean(x > hi) - 0.1) < tol
    # medians: the geometric mean (lognormal), expit of the mean logit (logit-normal)
    med = np.sqrt(600 * 1500)
    assert abs(np.mean(d.a[:, 0] < med) - 0.5) < 4 * np.sqrt(0.25 / n)
    med_r = expit((logit(0.55) + logit(0.85)) / 2)
    assert abs(np.mean(d.retention[:, 0] < med_r) - 0.5) < 4 * np.sqrt(0.25 / n)
    assert np.all((d.retention > 0) & (d.retention < 1))


def test_correlation_is_one_common_factor_optimistic_together() -> None:
    s = retail_quarterly().model_copy(update={"settings": retail_quarterly().settings.model_copy(
        update={"risk_correlation": 0.6})})
    n = 20_000
    d = draw_inputs(s, n, seed=1, correlation=0.6).all()
    la, lb = np.log(d.a), np.log(d.b)
    se = 4 * (1 - 0.6**2) / np.sqrt(n)
    assert abs(np.corrcoef(la[:, 0], la[:, 5])[0, 1] - 0.6) < se
    acq = [i for i, c in enumerate(s.curves) if c.b_low is not None]
    assert abs(np.corrcoef(la[:, acq[0]], lb[:, acq[1]])[0, 1] + 0.6) < se  # b moves against a
    indep = draw_inputs(s, n, seed=1, correlation=0.0).all()
    assert abs(np.corrcoef(np.log(indep.a[:, 0]), np.log(indep.a[:, 5]))[0, 1]) < 4 / np.sqrt(n)


def test_same_seed_same_draws_and_more_draws_keep_the_first() -> None:
    s = retail_quarterly()
    a = draw_inputs(s, 300, seed=5).all()
    b = draw_inputs(s, 300, seed=5).all()
    c = draw_inputs(s, 2 * BLOCK + 10, seed=5).all()
    assert np.array_equal(a.a, b.a) and np.array_equal(a.retention, b.retention)
    assert np.array_equal(c.a[:300], a.a)
    assert not np.array_equal(draw_inputs(s, 300, seed=6).all().a, a.a)


# ----------------------------------------------------------------- a plan on draws


def test_figures_do_not_depend_on_the_number_of_workers() -> None:
    s = retail_quarterly()
    plan = planner.optimize(s)
    ix = Index.build(s)
    d = draw_inputs(s, 3 * BLOCK + 7, seed=8, correlation=0.3)
    one = PlanOnDraws(ix, plan_spend(ix, plan), d, workers=1).outcomes()
    three = PlanOnDraws(ix, plan_spend(ix, plan), d, workers=3).outcomes()
    for key, values in one.figures().items():
        assert np.array_equal(values, three.figures()[key]), key


@pytest.mark.parametrize("name", ["retail_quarterly", "subscription_churn", "email_upgrade"])
def test_without_ranges_every_draw_is_the_plan(name: str) -> None:
    s = strip_ranges(planner.scenario.examples.EXAMPLES[name]())
    plan = planner.optimize(s)
    ix = Index.build(s)
    o = PlanOnDraws(ix, plan_spend(ix, plan), draw_inputs(s, 12)).outcomes()
    for key, values in o.figures().items():
        np.testing.assert_allclose(values, plan.summary[key], rtol=1e-9, err_msg=key)


def test_with_only_a_uncertain_value_quantiles_are_the_value_at_a_low_and_a_high() -> None:
    """value = margin · a · (1 − e^(−x/b)) is linear in a at the plan's fixed spend x, so its
    P10 / P90 are the value at a_low / a_high (within the quantile's Monte Carlo error)."""
    a_lo, a_hi, margin, b, n = 800.0, 1250.0, 50.0, 10_000.0, 4000
    s = one_cell(margin=margin, a_low=a_lo, a_high=a_hi)
    r = plan_risk(s, draws=n, seed=11)
    x = r.plan.summary["total_spend"]
    slope = margin * (1 - np.exp(-x / b))  # value per unit of a
    sigma = np.log(a_hi / a_lo) / (2 * Z90)
    f = r.figures()
    for q, a_q in (("p10", a_lo), ("p90", a_hi)):
        # error of an empirical 10 % / 90 % quantile: sqrt(p(1-p)/n) / density of a there
        se = slope * np.sqrt(0.09 / n) * a_q * sigma / PHI_Z90
        assert f["total_value"][q] == pytest.approx(slope * a_q, abs=4 * se)
        assert f["net_value"][q] == pytest.approx(slope * a_q - x, abs=4 * se)
    mean_a = np.sqrt(a_lo * a_hi) * np.exp(sigma**2 / 2)
    sd_a = mean_a * np.sqrt(np.expm1(sigma**2))
    assert f["total_value"]["mean"] == pytest.approx(slope * mean_a, abs=4 * slope * sd_a / np.sqrt(n))
    assert f["new_customers"]["p50"] == pytest.approx(slope / margin * np.sqrt(a_lo * a_hi), rel=0.02)


def test_fully_correlated_a_gives_value_at_a_low_as_p10_through_the_caps() -> None:
    """With ρ = 1 every a moves with one factor and value is monotone in it (prospects and
    at-risk caps included), so the value's P10 is the plan's value at every a_low: the
    share of draws below it is 10 % within its binomial error.  Reference: the engine's
    own real-curve evaluation of the same spend."""
    base = retail_quarterly()
    s = strip_ranges(base).model_copy(update={
        "curves": [c.model_copy(update={"a_low": o.a_low, "a_high": o.a_high})
                   for c, o in zip(strip_ranges(base).curves, base.curves, strict=True)],
        "settings": base.settings.model_copy(update={"risk_correlation": 1.0})})
    n = 4000
    r = plan_risk(s, draws=n, seed=2)
    spend = plan_spend(Index.build(s), r.plan)
    tol = 4 * np.sqrt(0.09 / n)
    for col, share in (("a_low", 0.1), ("a_high", 0.9)):
        at = strip_ranges(s).model_copy(update={"curves": [c.model_copy(update={"a": getattr(c, col)}) for c in s.curves]})
        ix = Index.build(at)
        cust, _ = planner.engine.plan_assembly.true_customers(ix, spend)
        ref = planner.engine.plan_assembly.headline(ix, spend, cust, 0.0)["net_value"]
        assert abs(np.mean(r.outcomes.net_value <= ref) - share) < tol


def test_prob_net_value_below_zero_and_roi_below_target() -> None:
    # a cell whose net value is negative when a is below 60 % of its point value
    s = one_cell(margin=50.0, a=1000.0, a_low=300.0, a_high=1500.0, budget=20_000)
    s = s.model_copy(update={"settings": s.settings.model_copy(update={"objective": "target_mroi",
                                                                        "target_mroi": 2.0})})
    r = plan_risk(s, draws=3000, seed=4)
    o = r.outcomes
    assert r.probabilities()["prob_net_value_below_0"] == pytest.approx(np.mean(o.net_value < 0))
    assert 0 < r.probabilities()["prob_net_value_below_0"] < 0.5
    assert r.probabilities()["prob_roi_below_target_mroi"] == pytest.approx(np.mean(o.roi < 2.0))
    assert "prob_roi_below_target_mroi" not in plan_risk(one_cell(), draws=20).probabilities()


# ---------------------------------------------------------------------- robust plan


def test_robust_plan_beats_the_base_plan_on_average_over_the_same_draws() -> None:
    """Channel B's a is skewed upwards (median 1 414, mean higher than its point value
    1 000): the plan that maximises expected net value moves money to B."""
    s = Scenario(
        settings=Settings(total_budget=30_000, periods_per_year=1, annual_discount_rate=0.0),
        segments=[Segment(segment="S", margin_per_period=50, retention_rate=0.0)],
        channels=[Channel(channel="A"), Channel(channel="B")],
        curves=[Curve(segment="S", channel="A", program="acquisition", curve="saturation", a=1000, b=10_000),
                Curve(segment="S", channel="B", program="acquisition", curve="saturation", a=1000, b=10_000,
                      a_low=800, a_high=2500)])
    r = plan_risk(s, draws=400, seed=0, robust=True)
    base, rob = r.outcomes.net_value, r.robust_outcomes.net_value
    assert rob.mean() > base.mean() + 3 * np.std(rob - base) / np.sqrt(len(base))
    spend = r.robust_plan.allocation.groupby("channel")["spend"].sum()
    assert spend["B"] > spend["A"]
    t = r.trade_off()
    assert t["mean_net_value_gained"] == pytest.approx(rob.mean() - base.mean())
    assert t["median_net_value_given_up"] == pytest.approx(np.median(base) - np.median(rob))


def test_robust_plan_on_retail_is_no_worse_on_average() -> None:
    r = plan_risk(retail_quarterly(), draws=300, seed=9, robust=True)
    assert r.robust_plan.ok
    base, rob = r.outcomes.net_value.mean(), r.robust_outcomes.net_value.mean()
    # sampled on chord breakpoints at pwl_tolerance: ≥ up to that tolerance of the value
    assert rob >= base - r.scenario.settings.pwl_tolerance * r.outcomes.total_value.mean()


# -------------------------------------------------------------- inputs and outputs


def test_ranges_are_checked_with_located_messages() -> None:
    with pytest.raises(ScenarioError) as e:
        one_cell(a_low=1100.0, a_high=1500.0)
    assert "a_low" in str(e.value) and "expected a_low <= a <= a_high" in str(e.value)
    with pytest.raises(ScenarioError) as e:
        one_cell(b_high=20_000.0)
    assert "b_low" in str(e.value) and "is required when b_high is given" in str(e.value)
    with pytest.raises(ScenarioError) as e:
        one_cell(curve="linear", a=None, a_low=10.0, a_high=20.0)
    assert "needs a value in column a" in str(e.value)
    data = one_cell().model_dump()
    data["segments"][0].update(retention_rate=0.5, retention_low=0.0, retention_high=0.6)
    with pytest.raises(ScenarioError) as e:  # logit-normal: a rate's P10 must be above 0
        Scenario(**data)
    assert "retention_low" in str(e.value) and "> 0" in str(e.value)


def test_ranges_round_trip_through_the_workbook_and_move_with_what_ifs(tmp_path: Path) -> None:
    s = retail_quarterly()
    write_scenario(s, tmp_path / "s.xlsx")
    back = read_scenario(tmp_path / "s.xlsx")
    assert [c.a_low for c in back.curves] == [c.a_low for c in s.curves]
    assert back.settings.risk_correlation == 0.3
    moved = apply_scenario(s, "Email costs up")
    for old, new in zip(s.curves, moved.curves, strict=True):
        if old.channel == "Email" and old.b_low is not None:
            assert new.b_low == pytest.approx(old.b_low * 1.3) and new.b_high == pytest.approx(old.b_high * 1.3)


def test_summarize_ignores_missing_draws() -> None:
    got = summarize(np.array([np.nan, 1.0, 2.0, 3.0, 4.0, 5.0]))
    assert got == {"mean": 3.0, "p10": pytest.approx(1.4), "p50": 3.0, "p90": pytest.approx(4.6)}


def test_cli_risk_json_and_risk_sheet(tmp_path: Path) -> None:
    out = tmp_path / "risk.xlsx"
    src = Path(__file__).resolve().parents[1] / "scenarios" / "retail_quarterly.xlsx"
    res = CliRunner().invoke(main, ["risk", str(src), "-o", str(out), "--draws", "200", "--seed", "3", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    for key in ("total_value", "net_value", "new_customers", "retained_customers", "roi", "blended_cac"):
        assert set(data[key]) == {"mean", "p10", "p50", "p90"}
        assert data[key]["p10"] <= data[key]["p50"] <= data[key]["p90"]
    direct = plan_risk(read_scenario(src), draws=200, seed=3).figures()
    assert data["net_value"] == pytest.approx(direct["net_value"])  # same seed, same figures
    ws = openpyxl.load_workbook(out)["Risk"]
    assert [c.value for c in ws[1]][:5] == ["figure", "mean", "p10", "p50", "p90"]
    assert ws["A8"].value == "prob_net_value_below_0"
    bad = CliRunner().invoke(main, ["risk", str(src), "-o", str(tmp_path / "x.xlsx"), "--draws", "5"])
    assert bad.exit_code == 2


def test_cli_risk_rejects_a_bad_range(tmp_path: Path) -> None:
    s = one_cell()
    s.curves[0].a_low, s.curves[0].a_high = 900.0, 950.0  # a = 1000 lies above its P90
    write_scenario(s, tmp_path / "in.xlsx")
    res = CliRunner().invoke(main, ["risk", str(tmp_path / "in.xlsx"), "-o", str(tmp_path / "o.xlsx")])
    assert res.exit_code == 1 and "a_high" in res.output and "Curves" in res.output
    assert not (tmp_path / "o.xlsx").exists()


# ------------------------------------------------------------------------ property


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["linear", "saturation", "hill", "log", "power"]),
       a=st.floats(1.0, 1e5), b=st.floats(1.0, 1e5), s=st.floats(0.1, 3.0),
       x=st.lists(st.floats(0.0, 1e6), min_size=1, max_size=5))
@example(kind="linear", a=1.0, b=1.0, s=1.0, x=[0.0, 1.0, 2.0])
def test_family_customers_equal_the_curve_module(kind: str, a: float, b: float, s: float, x: list[float]) -> None:
    cs = CurveSet.build([kind], [a], [b], [s])
    want = evaluate(cs, np.zeros(len(x), dtype=np.int64), np.array(x))
    got = family_customers(KINDS.index(kind), a, np.full(len(x), b), s, np.array(x))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * a)


def test_fit_ranges_cover_the_true_parameters_about_80_percent_of_the_time() -> None:
    """``planner fit`` gives a and b a P10 / P90 from the fit's covariance: over simulated
    histories of a known curve the truth lies outside [P10, P90] about 20 % of the time
    (binomial error over the simulated histories; a covariance 3 times too small or too
    large would fall outside)."""
    from planner.analysis.fit import fit_history

    rng = np.random.default_rng(0)
    x = np.tile([1e3, 2e3, 3e3, 4e3, 6e3, 8e3, 10e3, 12e3, 16e3, 20e3], 2)
    reps = 80
    y = 100 * (1 - np.exp(-x / 5e3)) + rng.normal(0, 3, (reps, len(x)))
    h = pd.DataFrame({"segment": np.repeat([f"S{i:03d}" for i in range(reps)], len(x)), "channel": "Email",
                      "program": "acquisition", "period": np.tile(np.arange(len(x)), reps),
                      "spend": np.tile(x, reps), "customers": y.ravel()})
    c = fit_history(h).curves
    c = c[c["curve"] == "saturation"]
    assert len(c) > 0.9 * reps
    tol = 4 * np.sqrt(0.16 / len(c))
    for p, true in (("a", 100.0), ("b", 5000.0)):
        assert np.all((c[f"{p}_low"] <= c[p]) & (c[p] <= c[f"{p}_high"]))
        miss = np.mean((c[f"{p}_low"] > true) | (c[f"{p}_high"] < true))
        assert abs(miss - 0.2) < tol, (p, miss)


@st.composite
def ranged_scenarios(draw):
    """Small scenarios with a range on every input (some degenerate: low = high), prospects
    caps and retention programs, and a random spend per cell-period (any fixed plan)."""
    n_seg, n_ch, n_per = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 3))

    def rng_of(v: float, rate: bool = False) -> tuple[float, float]:
        w = draw(st.sampled_from([0.0, 0.05, 0.3]))
        if rate:
            return max(1e-3, v - w / 3), min(0.999, v + w / 3)
        return v / (1 + w), v * (1 + w)

    segs = []
    for i in range(n_seg):
        m, r = draw(st.floats(1, 200)), draw(st.floats(0.01, 0.95))
        (ml, mh), (rl, rh) = rng_of(m), rng_of(r, True)
        segs.append(Segment(segment=f"S{i}", customers=draw(st.floats(0, 50_000)),
                            prospects=draw(st.one_of(st.none(), st.floats(10, 5_000))),
                            margin_per_period=m, retention_rate=r, referral_rate=draw(st.floats(0, 0.3)),
                            margin_low=ml, margin_high=mh, retention_low=rl, retention_high=rh))
    curves = []
    for i in range(n_seg):
        for j in range(n_ch):
            for prog in ("acquisition", "retention"):
                kind = draw(st.sampled_from(["linear", "saturation", "hill", "log", "power"]))
                a, b = draw(st.floats(10, 5_000)), draw(st.floats(100, 100_000))
                (al, ah), (bl, bh) = rng_of(a), rng_of(b)
                curves.append(Curve(segment=f"S{i}", channel=f"C{j}", program=prog, curve=kind, a=a, b=b,
                                    shape=draw(st.floats(0.3, 1.5)), a_low=al, a_high=ah, b_low=bl, b_high=bh))
    sc = Scenario(settings=Settings(total_budget=1e6, periods_per_year=4, annual_discount_rate=draw(st.floats(0, 0.3)),
                                    risk_correlation=draw(st.sampled_from([0.0, 0.5, 1.0]))),
                  periods=[Period(period=f"P{t}", seasonality=draw(st.floats(0.5, 1.5))) for t in range(n_per)],
                  segments=segs, channels=[Channel(channel=f"C{j}") for j in range(n_ch)], curves=curves)
    spend = np.array(draw(st.lists(st.floats(0, 50_000), min_size=len(curves) * n_per, max_size=len(curves) * n_per)))
    return sc, spend


@settings(max_examples=40, deadline=None)
@given(case=ranged_scenarios(), seed=st.integers(0, 2**32 - 1))
def test_every_draw_equals_the_engine_evaluating_that_draw(case: tuple[Scenario, np.ndarray], seed: int) -> None:
    """Draw by draw, the vectorised evaluation (caps and CLV included) equals the engine's
    own real-curve evaluation of a scenario holding that draw's inputs."""
    sc, spend = case
    d = draw_inputs(sc, 3, seed=seed, correlation=sc.settings.risk_correlation)
    out = PlanOnDraws(Index.build(sc), spend, d).outcomes()
    blk = d.all()
    for i in range(d.n):
        at = strip_ranges(sc).model_copy(update={
            "curves": [c.model_copy(update={"a": float(blk.a[i, k]), "b": float(blk.b[i, k])})
                       for k, c in enumerate(strip_ranges(sc).curves)],
            "segments": [g.model_copy(update={"margin_per_period": float(blk.margin[i, s]),
                                              "retention_rate": float(blk.retention[i, s])})
                         for s, g in enumerate(strip_ranges(sc).segments)]})
        ix = Index.build(at)
        cust, _ = true_customers(ix, spend)
        ref = headline(ix, spend, cust, 0.0)
        for key in ("total_value", "net_value", "new_customers", "retained_customers"):
            np.testing.assert_allclose(getattr(out, key)[i], ref[key], rtol=1e-9, atol=1e-9, err_msg=key)


def test_draw_scenarios_hold_one_draw_each_and_are_certain() -> None:
    """The sweep re-optimises these: each copy carries exactly one draw of draw_inputs."""
    from planner.analysis.risk_draws import draw_inputs, draw_scenarios
    from planner.scenario.examples import retail_quarterly

    s = retail_quarterly()
    block = draw_inputs(s, 5, 3, s.settings.risk_correlation).all()
    copies = draw_scenarios(s, 5, 3)
    for i, c in enumerate(copies):
        np.testing.assert_array_equal([cv.a for cv in c.curves], block.a[i])
        np.testing.assert_array_equal([sg.retention_rate for sg in c.segments], block.retention[i])
        assert all(cv.a_low is None and cv.b_high is None for cv in c.curves)
        assert all(sg.margin_low is None for sg in c.segments)
    assert copies[0].curves[0].a != copies[1].curves[0].a
