"""Re-solving at other budgets (the frontier's engine): chord windows per cell-period.

Every claim is checked against a closed form or an independent full optimisation, and
the certified gap is checked to be a true bound at the budget being solved.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import quarterly_scenario, saturation_scenario

from planner.engine import windows
from planner.engine.certificate import Responder
from planner.engine.optimizer import Optimizer, optimize
from planner.engine.sweep import spend_infeasible
from planner.engine.windows import budget_target, window_bands
from planner.scenario.models import (
    Channel,
    ConstraintRow,
    Curve,
    Period,
    Scenario,
    Segment,
    Settings,
)

A = np.array([1000, 800, 1500, 600, 1200.0])
B = np.array([20000, 15000, 40000, 8000, 30000.0])
V = 100.0


def closed_form(budget: float) -> tuple[np.ndarray, float, float]:
    """Spend, λ and optimal net value of Σ V a (1 − e^(−x/b)) − Σ x with Σ x = budget."""
    lam = np.exp((np.sum(B * np.log(V * A / B)) - budget) / B.sum())
    x = B * np.log(V * A / (B * lam))
    return x, lam, float(np.sum(V * A * (1 - np.exp(-x / B))) - budget)


def spend_by_channel(plan) -> np.ndarray:
    by = plan.allocation.groupby("channel")["spend"].sum()
    return by.reindex([f"C{i}" for i in range(len(A))], fill_value=0).to_numpy()


@pytest.mark.parametrize("solver", ["auto", "highs"])
def test_resolve_matches_the_closed_form_and_certifies_at_every_budget(solver):
    """Greedy (auto) and HiGHS windows: spend, marginal ROI and a certified gap that is a
    true bound at the budget being solved, not at the budget of the first run."""
    sc = saturation_scenario(list(A), list(B), value=V, budget=60_000)
    opt = Optimizer(sc, solver=solver, max_budget=150_000)
    opt.run()
    for budget in (20_000, 45_000, 90_000, 140_000, 60_000):
        solved = opt.resolve(budget)
        # chord windows (HiGHS), or the exact fill on the real curves where only the budget binds
        assert solved.model.per_period and (solved.info["refine_rounds"] >= 1 or solved.sol.solver == "exact fill")
        plan = opt.evaluate(solved)
        x, lam, best = closed_form(budget)
        assert plan.status == "optimal" and plan.summary["total_budget"] == budget
        assert np.abs(spend_by_channel(plan) - x).max() <= 0.005 * budget
        # a frontier point's duals are the master's at the sweep's gap (no polish round):
        # within issue 18's 0.02 of the true marginal ROI
        assert plan.summary["marginal_roi_of_budget"] == pytest.approx(lam, abs=0.02)
        np.testing.assert_allclose(plan.allocation["marginal_roi"], lam, atol=0.02)
        got, gap = plan.summary["net_value"], plan.summary["optimality_gap_bound"]
        assert got <= best + 1e-6 * best  # a plan cannot beat the optimum ...
        assert best <= got + gap + 1e-6 * best  # ... and the gap bounds the distance to it
        assert plan.summary["optimality_gap_relative"] <= 1e-3


def test_headline_is_the_plan_summary_without_the_tables():
    sc = quarterly_scenario()
    opt = Optimizer(sc, max_budget=400_000)
    opt.run()
    solved = opt.resolve(300_000)
    head = opt.headline(solved)
    plan = opt.evaluate(solved)
    assert head["status"] == plan.status == "optimal"
    for key, value in head.items():
        if key != "status":
            assert plan.summary[key] == pytest.approx(value, rel=1e-12), key


def test_resolve_on_a_constrained_scenario_agrees_with_a_fresh_optimisation():
    sc = quarterly_scenario(q1=60_000)
    sc = sc.model_copy(update={"constraints": [
        ConstraintRow(name="cac", metric="cac", sense="<=", value=400),
        ConstraintRow(name="search share", metric="share", sense="<=", value=0.4, channel="Search"),
    ]})
    opt = Optimizer(sc, max_budget=400_000)
    for budget in (120_000, 250_000, 380_000):
        plan = opt.evaluate(opt.resolve(budget))
        fresh = optimize(sc.model_copy(update={"settings": sc.settings.model_copy(
            update={"total_budget": budget})}))
        assert plan.status == fresh.status == "optimal"
        gaps = plan.summary["optimality_gap_bound"] + fresh.summary["optimality_gap_bound"]
        assert abs(plan.summary["net_value"] - fresh.summary["net_value"]) <= gaps + 1e-6
        assert plan.summary["optimality_gap_relative"] <= 1e-3
        assert plan.summary["total_spend"] <= budget * (1 + 1e-9)
        c = plan.constraints
        spend_rows = c["metric"].isin(["spend", "share"]) & c["slack"].notna()
        assert (c.loc[spend_rows, "slack"] >= -1e-6 * (1 + c.loc[spend_rows, "limit"].abs())).all()


def test_first_resolve_needs_no_run_and_infeasible_budgets_stay_lazy():
    sc = quarterly_scenario()  # TV has a minimum spend of 10 000
    opt = Optimizer(sc, max_budget=400_000)
    zero = opt.resolve(0.0)
    assert zero.sol.status == "infeasible" and opt.headline(zero) == {"status": "infeasible"}
    assert spend_infeasible(opt.ws, 0.0)  # known from the spend rows alone
    ok = opt.resolve(200_000)
    assert opt.headline(ok)["status"] == "optimal"
    plan = opt.evaluate(zero)  # the conflict analysis runs only when the plan is asked for
    assert plan.status == "infeasible" and plan.conflicts


def test_a_coarse_first_lp_cannot_declare_a_customer_target_infeasible(monkeypatch):
    """The first LP uses coarse chords; they undercount customers, so its 'infeasible' on a
    customer target is checked on the fine chords before it is believed."""
    sc = saturation_scenario(list(A), list(B), value=V, budget=60_000)
    reachable = optimize(sc).summary["new_customers"]
    sc = sc.model_copy(update={"constraints": [ConstraintRow(
        name="volume", metric="new_customers", sense=">=", value=0.999 * reachable)]})
    monkeypatch.setattr(windows, "ANCHOR_GRID", np.array([0.0, 1.0]))  # one chord per cell
    opt = Optimizer(sc, max_budget=60_000)
    assert not spend_infeasible(opt.ws, 60_000)
    solved = opt.resolve(60_000)
    assert opt.headline(solved)["status"] == "optimal"
    assert opt.headline(solved)["new_customers"] >= 0.999 * reachable * (1 - 1e-6)


def test_window_bands_keep_one_layout_and_are_concave():
    sc = quarterly_scenario()
    opt = Optimizer(sc)
    ix = opt.ix
    cap = opt.ws.cap[ix.kt_cell]
    rng = np.random.default_rng(0)
    layouts = []
    for _ in range(3):
        centre = cap * rng.uniform(0, 1.2, len(cap))
        target = cap * rng.uniform(0, 1.2, len(cap))
        bands = window_bands(ix, cap, centre, target, 0.05 * np.maximum(centre, 1.0))
        layouts.append(bands.cell.copy())
        width = np.bincount(bands.cell, weights=bands.width, minlength=len(cap))
        np.testing.assert_allclose(width, np.where(cap > 0, cap, 0.0), rtol=1e-12)
        assert (bands.width >= 0).all()
        live = bands.width > 0
        same = (bands.cell[1:] == bands.cell[:-1]) & live[1:] & live[:-1]
        assert (np.diff(bands.slope)[same] <= 1e-12 * np.abs(bands.slope[1:][same]) + 1e-15).all()
    assert all(np.array_equal(layouts[0], lay) for lay in layouts)  # a basis carries over


def test_budget_target_spends_the_budget_on_the_real_curves():
    """With only the budget priced, the refitted price is the closed form's λ."""
    sc = saturation_scenario(list(A), list(B), value=V, budget=60_000)
    opt = Optimizer(sc)
    ix = opt.ix
    cap = opt.ws.cap[ix.kt_cell]
    c1, c2 = np.full(len(cap), V), np.ones(len(cap))
    for budget in (20_000, 60_000, 120_000):  # every channel active (as the closed form assumes)
        x = budget_target(ix, c1, c2, np.ones(len(cap)), cap, budget, False, 1.0)
        ref, lam, _ = closed_form(budget)
        assert x.sum() == pytest.approx(budget, rel=1.1e-3)
        np.testing.assert_allclose(x, ref, atol=2e-3 * budget)
        # and the response at the closed form's price is the closed form
        np.testing.assert_allclose(Responder(ix, c1, cap)(c2 * lam), ref, rtol=1e-9)
    # a budget beyond what pays back: spend stops where marginal ROI is 1
    x = budget_target(ix, c1, c2, np.ones(len(cap)), cap, 10 * 60_000, False, 1.0)
    np.testing.assert_allclose(x, np.minimum(B * np.log(V * A / B), cap), rtol=1e-9)


def _one_quarter(customers: float, curves: list[tuple[str, str, float]], constraints: list[ConstraintRow]):
    """One segment (margin 21, no retention), one period, saturation curves with b = 100:
    ``curves`` is ``(channel, program, a)``."""
    return Scenario(
        settings=Settings(periods_per_year=4, annual_discount_rate=0.0, total_budget=1000.0, objective="net_value"),
        periods=[Period(period="P0")],
        segments=[Segment(segment="S0", customers=customers, margin_per_period=21.0, retention_rate=0.0)],
        channels=[Channel(channel=ch) for ch, _, _ in curves],
        curves=[Curve(segment="S0", channel=ch, program=prog, curve="saturation", a=a, b=100.0)
                for ch, prog, a in curves],
        constraints=constraints,
    )


def _capped_scenario():
    """One strong and one weak channel, each limited to one new customer and half the spend.

    An upper limit on customers is not convex in spend: an LP can meet it by filling a
    curve's far, flat chords first (undercounting customers) and spend the money anyway.
    """
    return _one_quarter(0.0, [("C0", "acquisition", 254.0), ("C1", "acquisition", 10.0)],
                        [ConstraintRow(name="half", metric="share", sense="<=", value=0.5, channel="each"),
                         ConstraintRow(name="one", metric="new_customers", sense="<=", value=1.0, channel="each")])


def test_a_customer_upper_limit_holds_on_the_real_curves_at_every_budget():
    """Real customers per channel stay within the limit (up to the chords' tolerance), and
    the spend that buys them is what the curve needs: x = b·y/(a − y) for saturation."""
    sc = _capped_scenario()
    tol = sc.settings.pwl_tolerance
    opt = Optimizer(sc, max_budget=2000.0)
    assert opt.ws.undercut.all()  # both cells appear in a row that fewer customers loosen
    for budget in (1000.0, 600.0, 2000.0):
        plan = opt.evaluate(opt.resolve(budget))
        by = plan.allocation.set_index("channel")
        assert (by["customers"] <= 1.0 * (1 + 2 * tol) + 1e-9).all(), by
        # the strong channel buys exactly its one customer; the spend follows the curve
        assert by.loc["C0", "customers"] == pytest.approx(1.0, rel=2 * tol)
        assert by.loc["C0", "spend"] == pytest.approx(100.0 * 1.0 / (254.0 - 1.0), rel=5 * tol)


def test_prospect_caps_do_not_ask_for_band_order():
    """The report scales customers down where prospects bind, so an out-of-order fill
    there cannot break anything: no integers for it."""
    sc = quarterly_scenario()
    opt = Optimizer(sc)
    assert not opt.ws.undercut.any()
    sc2 = sc.model_copy(update={"constraints": [ConstraintRow(name="cap", metric="new_customers", sense="<=", value=10.0)]})
    assert Optimizer(sc2).ws.undercut.any()


def _parking_scenario():
    """Acquisition and retention in one segment with 1/64 customer at risk, and no channel
    above half the spend: the retention channel must spend past its cap (the report scales
    the excess away) so that acquisition may spend too."""
    return _one_quarter(0.015625, [("C1", "acquisition", 10.0), ("C2", "retention", 10.0)],
                        [ConstraintRow(name="half", metric="share", sense="<=", value=0.5, channel="each")])


def test_money_parked_past_a_cap_is_found_and_the_gap_stays_a_bound():
    """Closed form: both channels spend x with 21·f'(x) = 2 for f = 10(1 − e^(−x/100)),
    i.e. x = 100·ln(1.05) (the retention spend buys nothing past its cap but lets
    acquisition spend as much).  A re-solve at a larger budget finds it, and its certified
    gap bounds the distance to it."""
    sc = _parking_scenario()
    x = 100.0 * np.log(1.05)
    best = 21.0 * (10 * (1 - np.exp(-x / 100)) + 0.015625) - 2 * x
    opt = Optimizer(sc, max_budget=2000.0)
    opt.run()
    for budget in (2000.0, 1500.0):
        plan = opt.evaluate(opt.resolve(budget))
        s = plan.summary
        assert s["net_value"] + s["optimality_gap_bound"] >= best - 1e-9
        assert s["net_value"] == pytest.approx(best, rel=1e-3)
        by = plan.allocation.set_index("channel")["spend"]
        assert by["C1"] == pytest.approx(x, rel=2e-2) and by["C2"] == pytest.approx(by["C1"], rel=1e-6)


def test_the_bound_counts_no_customers_where_they_are_worth_nothing():
    """Where customers carry no value at the prices (c1 ≤ 0) a negative spend price still
    pays for spend: the relaxation spends the cap there (fewer customers than the curve
    is allowed), else nothing."""
    from planner.core.scenario_arrays import Index
    from planner.engine.certificate import respond

    ix = Index.build(_parking_scenario())
    n = ix.K * ix.P
    cap = np.full(n, 50.0)
    best, arg = respond(ix, np.full(n, -3.0), np.full(n, -0.5), cap)
    assert np.allclose(arg, 50.0) and np.allclose(best, 25.0)
    best, arg = respond(ix, np.full(n, -3.0), np.full(n, 0.5), cap)
    assert np.allclose(arg, 0.0) and np.allclose(best, 0.0)


def test_budget_zero_spends_nothing_and_its_marginal_roi_is_the_best_first_unit():
    """At budget 0 the plan is empty without a price search, and the budget's marginal ROI
    is what the first unit of money returns in the best channel: max V·a/b."""
    sc = saturation_scenario(list(A), list(B), value=V, budget=60_000)
    opt = Optimizer(sc, max_budget=150_000)
    opt.run()
    plan = opt.evaluate(opt.resolve(0.0))
    assert plan.status == "optimal"
    assert plan.allocation["spend"].sum() == 0.0
    assert plan.summary["marginal_roi_of_budget"] == pytest.approx(float(np.max(V * A / B)), rel=1e-12)


def test_a_budget_inside_a_linear_curves_jump_gets_its_price_in_few_steps(monkeypatch):
    """A linear channel worth 2.5 per unit of money up to 20 000: every budget from 64 326 to
    84 326 has price 2.5 exactly, the saturation channels where their slope is 2.5 and the
    linear channel the rest.  The price search lands on the jump (it used to stall there,
    56 evaluations for one budget) and the spends are the KKT spends."""
    from planner.engine import certificate

    lin_b, lin_a = V / 2.5, 500.0
    sc = saturation_scenario(list(A), list(B), value=V, budget=60_000)
    sc = sc.model_copy(update={
        "channels": [*sc.channels, Channel(channel="L")],
        "curves": [*sc.curves, Curve(segment="S", channel="L", program="acquisition", curve="linear",
                                     a=lin_a, b=lin_b)]})
    calls = []
    real_call = certificate.Responder.__call__
    monkeypatch.setattr(certificate.Responder, "__call__", lambda self, c2, steps=48: calls.append(1)
                        or real_call(self, c2, steps))
    opt = Optimizer(sc, max_budget=150_000)
    opt.run()
    saturation_at_jump = B * np.log(V * A / (B * 2.5))
    for budget in (20_000, 66_000, 70_000, 80_000, 84_000, 100_000, 140_000):
        calls.clear()
        solved = opt.resolve(budget)
        assert solved.sol.solver == "exact fill"
        assert len(calls) <= 25, (budget, len(calls))
        plan = opt.evaluate(solved)
        by = plan.allocation.groupby("channel")["spend"].sum()
        sat = by.reindex([f"C{i}" for i in range(len(A))], fill_value=0).to_numpy()
        lin = float(by.get("L", 0.0))
        if budget < saturation_at_jump.sum():
            x, lam, _ = closed_form(budget)
            want_lin = 0.0
        elif budget > saturation_at_jump.sum() + lin_a * lin_b:
            x, lam, _ = closed_form(budget - lin_a * lin_b)
            want_lin = lin_a * lin_b
        else:
            x, lam, want_lin = saturation_at_jump, 2.5, budget - saturation_at_jump.sum()
        assert plan.status == "optimal"
        np.testing.assert_allclose(sat, x, rtol=1e-6, atol=1e-6 * budget)
        assert lin == pytest.approx(want_lin, rel=1e-6, abs=1e-6 * budget)
        assert plan.summary["marginal_roi_of_budget"] == pytest.approx(lam, rel=1e-4)


def test_a_frontier_from_budget_zero_with_an_infinite_first_slope_leaves_its_marginal_roi_blank():
    """A hill curve of shape 0.5 returns without limit on its first unit of money: at budget
    0 the frontier's marginal ROI is blank (said in the note), not a number like 1e150 that
    would flatten the chart; later budgets keep theirs."""
    from planner.analysis.frontier import frontier

    sc = Scenario(settings=Settings(total_budget=10_000),
                  segments=[Segment(segment="S", customers=0, margin_per_period=50, retention_rate=0)],
                  channels=[Channel(channel="C0"), Channel(channel="C1")],
                  curves=[Curve(segment="S", channel="C0", program="acquisition", curve="hill", a=800, b=5000,
                                shape=0.5),
                          Curve(segment="S", channel="C1", program="acquisition", curve="saturation", a=500,
                                b=8000)])
    fr = frontier(sc, points=5)
    assert fr.table["status"].eq("optimal").all()
    assert np.isnan(fr.table["marginal_roi"].iloc[0])
    assert np.isfinite(fr.table["marginal_roi"].iloc[1:]).all()
    assert "returns without limit" in fr.note
    # a curve with a finite first slope keeps its marginal ROI at budget 0 (max V·a/b)
    sat = saturation_scenario(list(A), list(B), value=V, budget=60_000)
    fr = frontier(sat, points=3)
    assert fr.table["marginal_roi"].iloc[0] == pytest.approx(float(np.max(V * A / B)), rel=1e-9)


def test_a_budget_past_where_money_stops_paying_keeps_the_last_answer():
    """Net value, a share limit (so column generation runs): once the budget is slack
    (money returns less than it costs), a larger budget has the same optimum.  The sweep
    hands the last answer on without a solve; it must equal a fresh optimisation there."""
    sc = quarterly_scenario(constraints=[ConstraintRow(name="k", metric="share", sense="<=", value=0.9,
                                                       channel="each")])
    sc = sc.model_copy(update={"settings": sc.settings.model_copy(update={"total_budget": 5e6})})
    opt = Optimizer(sc, max_budget=2e7)
    first = opt.resolve(1e7)
    plan_first = opt.evaluate(first)
    assert plan_first.summary["unspent_budget"] > 0 and plan_first.status == "optimal"
    again = opt.resolve(2e7)
    assert again.sol is first.sol and again.info["solve_seconds"] == 0
    plan = opt.evaluate(again)
    assert float(first.model.lp.row_upper[0]) == 1e7  # the earlier answer keeps its budget
    fresh = optimize(sc.model_copy(update={"settings": sc.settings.model_copy(update={"total_budget": 2e7})}))
    assert plan.status == "optimal" and plan.summary["total_budget"] == 2e7
    tol = plan.summary["optimality_gap_bound"] + fresh.summary["optimality_gap_bound"] + 1e-9 * abs(fresh.summary["objective_value"])
    assert abs(plan.summary["objective_value"] - fresh.summary["objective_value"]) <= tol
