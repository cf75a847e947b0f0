"""The optimiser against closed forms, hand computations and independent references."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import quarterly_scenario, saturation_scenario, settings

from planner.core.chords import chord_bands
from planner.core.linear_program import build_model
from planner.core.value import discount_factors, lifetime_value, period_rate
from planner.engine import certificate as certify
from planner.engine.optimizer import Optimizer, optimize
from planner.scenario.models import Channel, ConstraintRow, Curve, Period, Scenario, Segment
from planner.solvers import solve
from planner.solvers.greedy import greedy_exact, solve_greedy

A = np.array([1000, 800, 1500, 600, 1200.0])
B = np.array([20000, 15000, 40000, 8000, 30000.0])
V = 100.0


def closed_form(budget: float) -> tuple[np.ndarray, float]:
    """Equal-marginal-ROI solution of Σ V a (1 − e^(−x/b)) with Σ x = budget (all active)."""
    lam = np.exp((np.sum(B * np.log(V * A / B)) - budget) / B.sum())
    return B * np.log(V * A / (B * lam)), lam


def spend_by_channel(plan, n=5):
    return plan.allocation.groupby("channel")["spend"].sum().reindex([f"C{i}" for i in range(n)], fill_value=0).to_numpy()


@pytest.mark.parametrize("solver", ["auto", "highs", "cbc"])
def test_equal_marginal_roi_matches_closed_form(solver):
    budget = 60_000
    x, lam = closed_form(budget)
    plan = optimize(saturation_scenario(list(A), list(B), value=V, budget=budget), solver=solver)
    assert plan.status == "optimal"
    spend = spend_by_channel(plan)
    assert np.abs(spend - x).max() <= 0.005 * budget
    true_value = float(np.sum(V * A * (1 - np.exp(-x / B))))
    assert plan.summary["total_value"] == pytest.approx(true_value, rel=1e-3)
    # KKT: the budget dual is λ − 1 under net_value, and every cell's marginal ROI is λ
    assert plan.summary["budget_shadow_price"] == pytest.approx(lam - 1, rel=2e-3)
    assert plan.summary["marginal_roi_of_budget"] == pytest.approx(lam, rel=2e-3)
    np.testing.assert_allclose(plan.allocation["marginal_roi"], lam, rtol=2e-3)


def test_loose_budget_stops_at_marginal_roi_one_and_reports_unspent():
    budget = 1_000_000
    plan = optimize(saturation_scenario(list(A), list(B), value=V, budget=budget))
    x = B * np.log(V * A / B)  # f'(x)·V = 1
    spend = spend_by_channel(plan)
    assert np.abs(spend - x).max() <= 0.001 * x.sum()
    np.testing.assert_allclose(plan.allocation["marginal_roi"], 1.0, rtol=2e-3)
    assert plan.summary["unspent_budget"] == pytest.approx(budget - x.sum(), rel=1e-3)
    assert plan.summary["budget_shadow_price"] == pytest.approx(0.0, abs=1e-9)
    assert any("unspent" in w for w in plan.warnings)


def _multi_period_budget_only() -> Scenario:
    return Scenario(
        settings=settings(total_budget=150_000, periods_per_year=4, annual_discount_rate=0.12),
        periods=[Period(period=f"Q{i}", seasonality=s) for i, s in enumerate([1.0, 0.8, 1.2, 1.1])],
        segments=[Segment(segment="S", margin_per_period=30, retention_rate=0.8),
                  Segment(segment="T", margin_per_period=12, retention_rate=0.6)],
        channels=[Channel(channel=c) for c in ("A", "B", "C")],
        curves=[Curve(segment="S", channel="A", program="acquisition", curve="saturation", a=900, b=30000),
                Curve(segment="S", channel="B", program="acquisition", curve="log", a=300, b=5000),
                Curve(segment="T", channel="C", program="acquisition", curve="hill", a=3000, b=50000, shape=0.7),
                Curve(segment="T", channel="A", program="acquisition", curve="power", a=400, b=20000, shape=0.5)],
    )


@pytest.mark.parametrize("objective", ["net_value", "value", "target_mroi"])
def test_lp_equals_greedy_when_only_budget_binds(objective):
    sc = _multi_period_budget_only()
    sc = sc.model_copy(update={"settings": sc.settings.model_copy(update={"objective": objective, "target_mroi": 1.3})})
    opt = Optimizer(sc)
    model = build_model(opt.ix, opt.ws.bands, opt.ws.rows, opt.ws.n_aux)
    assert greedy_exact(model)
    g = solve_greedy(model)
    lp = solve(model.lp, "highs")
    assert lp.status == "optimal"
    assert g.objective == pytest.approx(lp.objective, rel=1e-7, abs=1e-6)
    # the greedy's marginal slope is the LP's budget dual
    assert g.row_dual[0] == pytest.approx(lp.row_dual[0], rel=1e-5, abs=1e-9)


def test_linear_cpa_discounting_and_referral_by_hand():
    m, r, rho, i = 40.0, 0.75, 0.2, 0.10
    sc = Scenario(
        settings=settings(total_budget=30_000, periods_per_year=4, annual_discount_rate=i),
        periods=[Period(period=f"Q{t + 1}") for t in range(4)],
        segments=[Segment(segment="S", margin_per_period=m, retention_rate=r, referral_rate=rho)],
        channels=[Channel(channel="Cheap"), Channel(channel="Dear")],
        curves=[Curve(segment="S", channel="Cheap", program="acquisition", curve="linear", a=100, b=50),
                Curve(segment="S", channel="Dear", program="acquisition", curve="linear", a=200, b=80)],
    )
    plan = optimize(sc)
    delta = (1 + i) ** 0.25 - 1
    d = (1 + delta) ** -np.arange(4)
    L = m / (1 - r / (1 + delta))
    va = d * L / (1 - rho)
    # by hand: Cheap is filled every quarter (4 × 5 000), the rest (10 000) goes to Dear in Q1
    assert plan.summary["new_customers"] == pytest.approx(400 + 125, rel=1e-9)
    assert plan.summary["total_value"] == pytest.approx(100 * va.sum() + 125 * va[0], rel=1e-9)
    assert plan.summary["net_value"] == pytest.approx(100 * va.sum() + 125 * va[0] - 5000 * d.sum() - 10_000, rel=1e-9)
    assert plan.summary["blended_cac"] == pytest.approx(30_000 / 525, rel=1e-9)
    dear = plan.allocation[plan.allocation["channel"] == "Dear"]
    assert dear["period"].tolist() == ["Q1"] and dear["spend"].iloc[0] == pytest.approx(10_000)
    assert plan.summary["optimality_gap_bound"] == pytest.approx(0, abs=1e-6)  # linear curves are exact


def test_value_math_helpers_agree_with_plan():
    delta = period_rate(0.1, 4)
    assert lifetime_value(40, 0.75, delta).item() == pytest.approx(40 / (1 - 0.75 / (1 + delta)))
    assert discount_factors(1, delta)[1] == pytest.approx(1 / (1 + delta))


def test_retention_saves_at_most_customers_at_risk():
    sc = Scenario(
        settings=settings(total_budget=1_000_000, periods_per_year=4, annual_discount_rate=0.0),
        periods=[Period(period="Q1"), Period(period="Q2")],
        segments=[Segment(segment="S", customers=1000, margin_per_period=50, retention_rate=0.8)],
        channels=[Channel(channel="Email")],
        curves=[Curve(segment="S", channel="Email", program="retention", curve="linear", b=10)],
    )
    plan = optimize(sc)
    # 20 % of 1 000 are at risk each quarter; saving them keeps N at 1 000
    assert plan.summary["retained_customers"] == pytest.approx(400, rel=1e-6)
    assert plan.summary["total_spend"] == pytest.approx(4000, rel=1e-6)
    L = 50 / (1 - 0.8)
    assert plan.summary["total_value"] == pytest.approx(400 * L, rel=1e-6)
    act = plan.active_customers
    assert act["plan"].tolist() == pytest.approx([1000, 1000])
    assert act["baseline"].tolist() == pytest.approx([1000, 800])
    risk = plan.constraints[plan.constraints["kind"] == "at_risk"]
    assert risk["binding"].all()
    assert risk["actual"].tolist() == pytest.approx([200, 200])


def test_email_upgrade_example():
    sc = Scenario(
        settings=settings(total_budget=100_000, currency="ZAR"),
        segments=[Segment(segment="Customers", customers=5000, margin_per_period=10_000, retention_rate=0)],
        channels=[Channel(channel="Email")],
        curves=[Curve(segment="Customers", channel="Email", program="acquisition", curve="linear", a=500, b=200)],
    )
    plan = optimize(sc)
    s = plan.summary
    assert s["new_customers"] == pytest.approx(500)
    assert s["blended_cac"] == pytest.approx(200)
    assert s["roi"] == pytest.approx(50)
    assert s["total_value"] == pytest.approx(5_000_000)
    assert s["currency"] == "ZAR"


def test_gap_bound_really_bounds_the_true_optimum():
    """A coarse LP (5 % tolerance, no refinement) has a certified bound; the analytic
    optimum lies within it, and the default tolerance keeps it under 0.1 %."""
    budget = 60_000
    x, _ = closed_form(budget)
    true_opt = float(np.sum(V * A * (1 - np.exp(-x / B)))) - budget
    sc = saturation_scenario(list(A), list(B), value=V, budget=budget, pwl_tolerance=0.05)
    opt = Optimizer(sc)
    bands = chord_bands(opt.ix.curves, opt.ws.cap, 0.05)
    model = build_model(opt.ix, bands, opt.ws.rows, opt.ws.n_aux)
    sol = solve(model.lp, "highs")
    spend = model.spend(sol.x)
    plan_true = float(np.sum(V * A * (1 - np.exp(-spend / B)))) - spend.sum()
    upper = certify.lagrangian_bound(model, sol.row_dual)
    assert upper >= true_opt - 1e-6
    assert upper - plan_true >= true_opt - plan_true - 1e-6
    assert upper - plan_true <= certify.formula_bound(model) + 1e-6
    plan = optimize(saturation_scenario(list(A), list(B), value=V, budget=budget))
    assert plan.summary["optimality_gap_bound"] >= true_opt - plan.summary["net_value"] - 1e-6
    assert plan.summary["optimality_gap_relative"] <= 1e-3


CONSTRAINED = [
    ConstraintRow(name="Search share", metric="share", sense="<=", value=0.3, channel="Search"),
    ConstraintRow(name="CAC cap", metric="cac", sense="<=", value=60),
    ConstraintRow(name="contacts", metric="contacts_per_customer", sense="<=", value=4, channel="Email"),
    ConstraintRow(name="New floor", metric="new_customers", sense=">=", value=700, period="each"),
    ConstraintRow(name="ROI floor", metric="roi", sense=">=", value=1.5, channel="each"),
]


def test_cbc_and_highs_agree_on_objective_and_duals():
    sc = quarterly_scenario(constraints=CONSTRAINED, q4=60_000)
    h = optimize(sc, solver="highs")
    c = optimize(sc, solver="cbc")
    assert h.status == c.status == "optimal"
    assert c.summary["objective_value"] == pytest.approx(h.summary["objective_value"], rel=1e-6)
    hc, cc = h.constraints.set_index("name"), c.constraints.set_index("name")
    both = hc["binding"] & cc["binding"]
    assert both.sum() >= 3
    sp_h, sp_c = hc.loc[both, "shadow_price"], cc.loc[both, "shadow_price"]
    assert (np.sign(sp_h.round(6)) == np.sign(sp_c.round(6))).all()
    np.testing.assert_allclose(sp_h, sp_c, rtol=0.05)  # refined band sets differ slightly
    # on the very same LP the normalised duals agree closely
    opt = Optimizer(sc)
    model = build_model(opt.ix, opt.ws.bands, opt.ws.rows, opt.ws.n_aux)
    dh, dc = solve(model.lp, "highs"), solve(model.lp, "cbc")
    assert dc.objective == pytest.approx(dh.objective, rel=1e-6)
    big = np.abs(dh.row_dual) > 1e-6
    assert big.sum() >= 3
    np.testing.assert_allclose(dc.row_dual[big], dh.row_dual[big], rtol=1e-4)


def test_infeasible_is_a_status_with_conflicts():
    sc = Scenario(
        settings=settings(total_budget=100_000),
        segments=[Segment(segment="S", margin_per_period=100, retention_rate=0.5)],
        channels=[Channel(channel="TV", min_spend=150_000), Channel(channel="Radio", min_spend=80_000)],
        curves=[Curve(segment="S", channel="TV", program="acquisition", curve="saturation", a=1000, b=50_000),
                Curve(segment="S", channel="Radio", program="acquisition", curve="saturation", a=500, b=20_000)],
    )
    plan = optimize(sc)
    assert plan.status == "infeasible" and not plan.ok
    names = {c.name for c in plan.conflicts}
    assert {"Total budget", "Channel TV minimum spend", "Channel Radio minimum spend"} <= names
    budget = next(c for c in plan.conflicts if c.name == "Total budget")
    assert budget.change == pytest.approx(130_000, rel=1e-6)
    tv = next(c for c in plan.conflicts if c.name == "Channel TV minimum spend")
    assert tv.change == pytest.approx(-130_000, rel=1e-6)
    assert "130,000" in plan.message


def test_target_mroi_spends_while_the_next_unit_returns_at_least_m():
    m = 2.5
    plan = optimize(saturation_scenario(list(A), list(B), value=V, budget=1_000_000,
                                        objective="target_mroi", target_mroi=m))
    x = B * np.log(V * A / (B * m))
    assert np.abs(spend_by_channel(plan) - x).max() <= 0.001 * x.sum()
    np.testing.assert_allclose(plan.allocation["marginal_roi"], m, rtol=2e-3)


def test_spend_full_budget_spends_everything_even_below_roi_one():
    budget = 400_000  # more than the curves are worth at the margin
    x, lam = closed_form(budget)
    assert lam < 1
    plan = optimize(saturation_scenario(list(A), list(B), value=V, budget=budget, spend_full_budget=True))
    assert plan.summary["total_spend"] == pytest.approx(budget, rel=1e-9)
    assert np.abs(spend_by_channel(plan) - x).max() <= 0.005 * budget
    # the last unit of budget returns λ < 1: the budget's shadow price is negative
    assert plan.summary["budget_shadow_price"] == pytest.approx(lam - 1, rel=5e-3)
    assert plan.summary["unspent_budget"] == pytest.approx(0, abs=1e-6)


def test_seasonality_and_channel_override_scale_customers():
    from planner.scenario.models import SeasonalityRow

    sc = Scenario(
        settings=settings(total_budget=4000, periods_per_year=4, objective="value"),
        periods=[Period(period="Q1", budget=1000), Period(period="Q2", budget=1000, seasonality=2.0),
                 Period(period="Q3", budget=1000), Period(period="Q4", budget=1000)],
        segments=[Segment(segment="S", margin_per_period=10, retention_rate=0)],
        channels=[Channel(channel="TV")],
        curves=[Curve(segment="S", channel="TV", program="acquisition", curve="linear", b=10)],
        seasonality=[SeasonalityRow(channel="TV", period="Q4", multiplier=0.5)],
    )
    plan = optimize(sc)
    cust = plan.allocation.set_index("period")["customers"]
    assert cust.tolist() == pytest.approx([100, 200, 100, 50])


def test_finite_clv_horizon():
    # one customer, margin 10 per quarter, r = 0.5, horizon 1 year = 4 quarters, no discount
    sc = Scenario(
        settings=settings(total_budget=10, periods_per_year=4, clv_horizon_years=1),
        segments=[Segment(segment="S", margin_per_period=10, retention_rate=0.5)],
        channels=[Channel(channel="E")],
        curves=[Curve(segment="S", channel="E", program="acquisition", curve="linear", b=1, a=1)],
    )
    plan = optimize(sc)
    assert plan.summary["total_value"] == pytest.approx(10 * (1 + 0.5 + 0.25 + 0.125))


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_retention_on_a_segment_without_customers_saves_no_one(solver):
    """Nobody is at risk, so the at-risk row's bound is 0: HiGHS's tolerance on it must not
    be mistaken for a broken constraint."""
    sc = Scenario(
        settings=settings(total_budget=13_388, objective="value"),
        segments=[Segment(segment="S", customers=0, margin_per_period=2, retention_rate=0)],
        channels=[Channel(channel="C")],
        curves=[Curve(segment="S", channel="C", program="retention", curve="saturation", a=10, b=159)],
    )
    plan = optimize(sc, solver=solver)
    assert plan.status == "optimal"
    assert plan.summary["retained_customers"] == pytest.approx(0, abs=1e-5)
