"""Issue 18: exact allocations, certified status, scaled models and a time limit that holds.

Every expectation comes from a closed form or an independent solve, not from planner."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from planner.core.scenario_arrays import Index
from planner.engine.optimizer import optimize
from planner.errors import ScenarioError
from planner.scenario.models import (
    Channel,
    ConstraintRow,
    Curve,
    CurvePoint,
    Period,
    Scenario,
    Segment,
    Settings,
)

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
import synth


def case5() -> Scenario:
    """Issue 18, case 5: saving S1's one customer costs 3.5e-8, below the old round-off cut."""
    return Scenario(
        settings=Settings(total_budget=1000, periods_per_year=4, annual_discount_rate=0, objective="net_value"),
        periods=[Period(period="Q1")],
        segments=[Segment(segment="S0", customers=0, margin_per_period=11, retention_rate=0),
                  Segment(segment="S1", customers=1, margin_per_period=1, retention_rate=0)],
        channels=[Channel(channel="C")],
        curves=[Curve(segment="S0", channel="C", program="acquisition", curve="saturation", a=10, b=100),
                Curve(segment="S1", channel="C", program="retention", curve="hill", a=902, b=100, shape=0.3125)])


def test_case5_a_customer_saved_for_3e_8_counts_and_optimal_is_certified():
    sc = case5()
    ix = Index.build(sc)
    va, vr = float(ix.va[0, 0]), float(ix.vr[1, 0])
    # closed forms: S0 spends where va·(a/b)·e^(−x/b) = 1; S1 saves its one customer at risk
    # for the spend where 902·u/(1+u) = 1, u = (x/100)^0.3125
    x0 = 100 * np.log(va * 10 / 100)
    x1 = 100 * (1 / 901) ** (1 / 0.3125)
    best = va * 10 * (1 - np.exp(-x0 / 100)) - x0 + vr * 1.0 - x1
    plan = optimize(sc)
    assert plan.status == "optimal"
    assert plan.summary["optimality_gap_relative"] <= 1e-4
    assert plan.summary["objective_value"] == pytest.approx(best, rel=1e-6)
    assert plan.summary["retained_customers"] == pytest.approx(1.0, rel=1e-6)


def _tiny_hill(shape: float, **kw) -> Scenario:
    return Scenario(
        settings=Settings(total_budget=1000, periods_per_year=1, annual_discount_rate=0, **kw),
        segments=[Segment(segment="S", customers=100, margin_per_period=10, retention_rate=0.5)],
        channels=[Channel(channel="C")],
        curves=[Curve(segment="S", channel="C", program="acquisition", curve="hill", a=50, b=200, shape=shape),
                Curve(segment="S", channel="C", program="retention", curve="saturation", a=20, b=300)])


def test_case2_full_budget_with_no_prospects_and_a_steep_hill_is_no_solver_error():
    """spend_full_budget with prospects 0 and hill shape 0.05: HiGHS once saw a band slope past
    its infinity and the answer broke a constraint (exit 4)."""
    sc = _tiny_hill(0.05, spend_full_budget=True)
    sc = sc.model_copy(update={"segments": [sc.segments[0].model_copy(update={"prospects": 0.0})]})
    plan = optimize(sc)
    assert plan.status == "optimal", plan.message
    assert plan.summary["total_spend"] == pytest.approx(1000, rel=1e-9)
    assert plan.summary["new_customers"] == pytest.approx(0.0, abs=1e-9)  # no prospects to win


@pytest.mark.parametrize("shape", [0.02, 0.05, 0.1])
def test_case2_highs_solves_steep_hills_like_cbc(shape):
    plans = {s: optimize(_tiny_hill(shape, solver=s)) for s in ("highs", "cbc")}
    assert [p.status for p in plans.values()] == ["optimal", "optimal"], [p.message for p in plans.values()]
    h, c = (plans[s].summary["objective_value"] for s in ("highs", "cbc"))
    assert h == pytest.approx(c, rel=1e-4)


def test_case2_a_knot_at_the_smallest_float_is_refused_with_what_can_be_represented():
    """A points knot at spend 5e-324 once ran past its 1 s time limit; it is now refused
    when the scenario is built, with the smallest spend planner represents."""
    with pytest.raises(ScenarioError, match="1e-06"):
        Scenario(
            settings=Settings(total_budget=1000, periods_per_year=1, annual_discount_rate=0, time_limit_s=1),
            segments=[Segment(segment="S", customers=100, margin_per_period=10, retention_rate=0.5)],
            channels=[Channel(channel="C")],
            curves=[Curve(segment="S", channel="C", program="acquisition", curve="points")],
            curve_points=[CurvePoint(segment="S", channel="C", program="acquisition", spend=5e-324, customers=1),
                          CurvePoint(segment="S", channel="C", program="acquisition", spend=500, customers=40)])


@pytest.mark.parametrize("route", ["exact fill", "windows"])
def test_hundreds_of_channels_get_the_exact_kkt_allocation(route):
    """One segment, 400 saturation channels, budget only: every channel's spend against the
    closed form x_i = b_i·ln(M·a_i / (λ·b_i)) (issue 18, case 3: 29 % were > 1 % off).
    ``windows`` adds a constraint that never binds, so the LP path has to get it right too."""
    sc, exact = synth.many_channels(400, seed=3)
    if route == "windows":
        sc = sc.model_copy(update={"constraints": [
            ConstraintRow(name="slack", metric="spend", sense="<=", value=1e12)]})
    plan = optimize(sc)
    assert plan.status == "optimal"
    assert (plan.run_info["solver"] == "exact fill") == (route == "exact fill")
    x = np.zeros(len(exact))
    x[plan.allocation["channel"].str[1:].astype(int).to_numpy()] = plan.allocation["spend"].to_numpy()
    budget = sc.settings.total_budget
    err = np.abs(x - exact)
    assert np.mean((err <= 0.01 * exact) | (err <= 1e-5 * budget)) >= 0.99
    assert err.sum() <= 0.002 * budget


def test_the_time_limit_holds_for_the_whole_run():
    """A scenario that takes several seconds stops at a 0.5 s limit with the best plan found
    (status ``time_limit``, its certified gap, a warning), or with none and a message
    naming time_limit_s."""
    sc = synth.dynamics("large")
    t0 = time.perf_counter()
    plan = optimize(sc, time_limit=0.5)
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.5 + 4.0, elapsed  # the build and the evaluation are not interruptible
    assert plan.status == "time_limit"
    if plan.ok:
        assert plan.summary["optimality_gap_bound"] > 0
        assert any("time limit (time_limit_s)" in w for w in plan.warnings)
    else:
        assert "time_limit_s" in plan.message


def test_a_cold_master_solved_by_interior_point_gives_the_same_plan(monkeypatch):
    """Large first masters go to HiGHS's interior point method and crossover; the rounds
    after start from its basis (read from HiGHS's basis object: its basic-variable query
    has no factorisation to read after crossover)."""
    from planner.engine import columns

    sc = synth.scenario("small", "constrained")
    plain = optimize(sc)
    monkeypatch.setattr(columns, "COLD_IPM", 0)
    ipm = optimize(sc)
    assert plain.status == ipm.status == "optimal"
    assert ipm.summary["objective_value"] == pytest.approx(plain.summary["objective_value"], rel=2e-6)


def test_band_order_under_a_customer_ceiling_is_certified_by_the_relaxations_duals():
    """Concave curves under an upper limit on new customers need band order (a MIP). Its
    plan here is the analytic optimum, the 0.5 customers split evenly over three quarters
    (x = 100·ln(60/59) each), and it must be certified as such. The chord-error bound of
    every band of every cell had left it ``feasible`` at 1.2 %."""
    sc = Scenario(
        settings=Settings(total_budget=1000, periods_per_year=4, annual_discount_rate=0),
        periods=[Period(period=f"P{t}") for t in range(3)],
        segments=[Segment(segment="S0", customers=0, margin_per_period=11, retention_rate=0)],
        channels=[Channel(channel="C0")],
        curves=[Curve(segment="S0", channel="C0", program="acquisition", curve="saturation", a=10, b=100),
                Curve(segment="S0", channel="C0", program="retention", curve="saturation", a=36, b=100)],
        constraints=[ConstraintRow(name="k0", metric="new_customers", sense="<=", value=0.5)])
    plan = optimize(sc)
    assert plan.status == "optimal"
    assert plan.summary["optimality_gap_relative"] <= 1e-4
    acq = plan.allocation[plan.allocation["program"] == "acquisition"]
    np.testing.assert_allclose(acq["spend"], 100 * np.log(60 / 59), rtol=1e-4)


@pytest.mark.parametrize("route", ["exact fill", "column generation"])
def test_the_value_objectives_certificate_bounds_value_not_the_lps_tie_break(route):
    """Under ``value`` the LP prices money at 1e-6 per unit (a tie-break), so a plan where
    value per unit of money is itself that small leaves budget unspent.  The certificate
    must bound the value the planner reads: the true optimum spends the whole budget and is
    known in closed form, and the plan is within its certified gap of it (before, the gap
    bounded the tie-broken objective and said ``optimal`` 1.3e-3 short of it)."""
    budget, a, b = 20_440.0, 10.0, 1129.0
    sc = Scenario(
        settings=Settings(total_budget=budget, periods_per_year=4, annual_discount_rate=0, objective="value"),
        periods=[Period(period="P0")],
        segments=[Segment(segment="S0", customers=0, margin_per_period=1, retention_rate=0)],
        channels=[Channel(channel="C0")],
        curves=[Curve(segment="S0", channel="C0", program="acquisition", curve="saturation", a=a, b=b)],
        # a limit that never binds sends the scenario to the LP (column generation)
        constraints=[] if route == "exact fill" else [ConstraintRow(name="k", metric="share", sense="<=", value=1.0)])
    plan = optimize(sc)
    best = float(Index.build(sc).va[0, 0]) * a * (1 - np.exp(-budget / b))
    if route == "exact fill":  # no chords to guard: money has no price of its own, the whole budget goes
        assert plan.run_info["solver"] == "exact fill" and plan.status == "optimal"
        assert plan.summary["total_spend"] == pytest.approx(budget, rel=1e-9)
    value, gap = plan.summary["total_value"], plan.summary["optimality_gap_bound"]
    assert value <= best * (1 + 1e-12)
    assert best - value <= gap * (1 + 1e-9) + 1e-12
    if plan.status == "optimal":
        assert best - value <= 1e-4 * best
    else:
        assert plan.status == "feasible" and "value objective" in plan.warnings[-1]


def two_half_shares() -> Scenario:
    """Two 50 % share ceilings (the channels spend alike) and 0.0625 new customers at most."""
    return Scenario(
        settings=Settings(total_budget=1000, periods_per_year=4, annual_discount_rate=0),
        periods=[Period(period="P0")],
        segments=[Segment(segment="S0", customers=1, margin_per_period=21, retention_rate=0)],
        channels=[Channel(channel="C0"), Channel(channel="C1")],
        curves=[Curve(segment="S0", channel="C0", program="retention", curve="saturation", a=10, b=100),
                Curve(segment="S0", channel="C1", program="acquisition", curve="saturation", a=10, b=100)],
        constraints=[ConstraintRow(name="k0", metric="share", sense="<=", value=0.5, channel="each"),
                     ConstraintRow(name="k1", metric="new_customers", sense="<=", value=0.0625)])


def test_two_half_shares_under_a_customer_ceiling_are_certified_at_the_analytic_optimum():
    """Two 50 % share ceilings tie the channels' spend; 0.0625 new customers cap the
    acquisition channel, so both spend x = −100·ln(1 − 0.0625/10).  The ceiling on one
    cell's customers is a ceiling on its spend inside the certificate, and the duals are
    walked downhill on the real curves: ``optimal`` (it was ``feasible`` at 0.11 %)."""
    sc = two_half_shares()
    plan = optimize(sc)
    x = -100 * np.log(1 - 0.0625 / 10)
    assert plan.status == "optimal"
    assert plan.summary["optimality_gap_relative"] <= 1e-4
    np.testing.assert_allclose(plan.allocation["spend"], x, rtol=1e-5)


def _prospects_pool(**kw) -> Scenario:
    return Scenario(
        settings=Settings(total_budget=1000, periods_per_year=4, annual_discount_rate=0.25, **kw),
        periods=[Period(period=f"P{t}") for t in range(3)],
        segments=[Segment(segment="S0", customers=0, prospects=10, margin_per_period=1, retention_rate=0.5)],
        channels=[Channel(channel="C0"), Channel(channel="C1"), Channel(channel="C2")],
        curves=[Curve(segment="S0", channel="C1", program="acquisition", curve="saturation", a=956, b=100),
                Curve(segment="S0", channel="C2", program="acquisition", curve="saturation", a=10, b=100)],
        constraints=[ConstraintRow(name="k0", metric="share", sense="<=", value=0.5, channel="each")])


def test_prospects_are_drawn_down_in_time_order():
    """A pool of 10 prospects: the first quarter's 10 wins exhaust it and a later quarter
    wins none (pro rata over the plan had counted 0.10 in the last, less valuable quarter)."""
    from planner.engine.real_customers import true_customers

    sc = _prospects_pool()
    ix = Index.build(sc)
    spend = np.zeros(ix.K * ix.P)
    first = (ix.kt_t == 0) & (ix.kt_ch == 1)
    last = (ix.kt_t == 2) & (ix.kt_ch == 2)
    spend[first] = -100 * np.log(1 - 11 / 956)  # buys 11 > 10 prospects
    spend[last] = 5.0
    cust, scale = true_customers(ix, spend)
    assert cust[first].sum() == pytest.approx(10.0, rel=1e-12)
    assert cust[last].sum() == 0.0 and scale[last].max() == 0.0


def test_a_prospects_pool_and_two_shares_are_certified_at_the_analytic_optimum():
    """The acquisition channel wins all 10 prospects in the first quarter for
    x = −100·ln(1 − 10/956); the 50 % shares make the other channel spend as much, where
    money is cheapest (the last quarter).  Certified ``optimal`` (it was 0.12 %)."""
    sc = _prospects_pool()
    ix = Index.build(sc)
    x = -100 * np.log(1 - 10 / 956)
    va0 = float(ix.kt_value[(ix.kt_t == 0) & (ix.kt_ch == 1)][0])
    d = ix.kt_discount
    best = va0 * 10 - x * (1 + float(d.min()))
    plan = optimize(sc)
    assert plan.status == "optimal"
    assert plan.summary["objective_value"] == pytest.approx(best, rel=1e-6)
    assert plan.summary["new_customers"] == pytest.approx(10.0, rel=1e-9)


def test_polished_duals_stay_a_bound_and_tighten_it():
    """Any row prices bound the true optimum: the polish starts from the chord LP's duals
    (LP relaxation of the band-order MIP above), must end no lower than the analytic
    optimum, and must end lower than where it started."""
    import dataclasses

    from planner.engine import certificate as certify
    from planner.engine.dual_polish import polish
    from planner.engine.workspace import Workspace
    from planner.solvers import HighsSession

    sc = two_half_shares()
    ws = Workspace.build(sc, None, None, None)
    model = ws.model_on(ws.bands)
    ws.set_budget(model, 1000.0)
    lp = dataclasses.replace(model.lp, integrality=np.zeros_like(model.lp.integrality))
    sol = HighsSession(lp).solve()
    start = certify.lagrangian_bound(model, sol.row_dual)
    x = -100 * np.log(1 - 0.0625 / 10)
    va, vr = float(ws.ix.kt_value[1]), float(ws.ix.kt_value[0])
    best = (va + vr) * 0.0625 - 2 * x
    polished = polish(model, sol.row_dual, seconds=5.0)
    assert best - 1e-9 <= polished < start
    assert polished - best <= 1e-4 * best


def _parked_money() -> Scenario:
    """50 % share ceilings on two channels: every unit the strong acquisition channel spends
    needs one on a retention channel whose segment has 0.01 customers at risk (money parked
    past a binding at-risk cap).  Optimum: x = 100·ln 5 per quarter on each channel."""
    return Scenario(
        settings=Settings(total_budget=480_720, periods_per_year=4, annual_discount_rate=0),
        periods=[Period(period="P0"), Period(period="P1")],
        segments=[Segment(segment="S0", customers=0, margin_per_period=100, retention_rate=0),
                  Segment(segment="S1", customers=0.01, margin_per_period=1, retention_rate=0)],
        channels=[Channel(channel="C0"), Channel(channel="C1")],
        curves=[Curve(segment="S0", channel="C0", program="acquisition", curve="saturation", a=10, b=100),
                Curve(segment="S1", channel="C1", program="retention", curve="saturation", a=2177.36, b=86859)],
        constraints=[ConstraintRow(name="k0", metric="share", sense="<=", value=0.5, channel="each")])


def _parked_optimum() -> float:
    x = 100 * np.log(5)
    return 2 * (100 * 10 * (1 - np.exp(-x / 100)) - 2 * x)  # + at most 0.02 of retained value


def test_money_parked_past_an_at_risk_cap_is_owned_up_to_by_the_certificate():
    """Deep run: the plan is 9 % short of the optimum (below).  The certificate must say so:
    the status is not ``optimal`` and the optimum lies within the certified gap."""
    plan = optimize(_parked_money())
    best = _parked_optimum()
    value, gap = plan.summary["objective_value"], plan.summary["optimality_gap_bound"]
    assert value <= best + 0.02 + 1e-6
    assert best - value <= gap + 1e-6
    assert plan.status == "optimal" or best - value > 1e-4 * best


@pytest.mark.xfail(strict=True, reason="open (issue 18): chords count customers in the at-risk row, so the master "
                   "LP cannot park money past a binding cap for free; the plan stops 9 % short")
def test_money_parked_past_an_at_risk_cap_reaches_the_optimum():
    plan = optimize(_parked_money())
    assert plan.summary["objective_value"] >= _parked_optimum() * (1 - 1e-4)


def test_a_win_before_the_prospects_run_dry_is_worth_what_it_displaces():
    """Prospects go in time order: with the pool exhausted in the second quarter, one more
    customer won in the first displaces one of the second.  The plan's marginal ROI there is
    the difference in their values times the curve's slope, not the whole value; cells of
    the quarter that exhausts the pool, and later, are worth nothing more."""
    from planner.core.curves import derivative
    from planner.core.rows import Rows
    from planner.engine.plan_assembly import assemble

    sc = _prospects_pool()
    ix = Index.build(sc)
    spend = np.zeros(ix.K * ix.P)
    p0 = (ix.kt_t == 0) & (ix.kt_ch == 1)
    p1 = (ix.kt_t == 1) & (ix.kt_ch == 1)
    spend[p0] = -100 * np.log(1 - 5 / 956)   # 5 of the 10 prospects
    spend[p1] = -100 * np.log(1 - 11 / 956)  # wants 11, gets the other 5
    rows = Rows()
    rows.new(["Total budget"], "spend", "<=", 1000.0, 1000.0, "budget")
    rows.terms(np.zeros(ix.K * ix.P, dtype=np.int64), np.arange(ix.K * ix.P), 1.0, 0.0)
    plan = assemble(ix, rows.freeze(), spend, "optimal", row_dual=None, row_activity=None, gap_bound=0.0, info={})
    by = plan.allocation.set_index("period")["marginal_roi"]
    va0, va1 = float(ix.va[0, 0]), float(ix.va[0, 1])
    slope = float(derivative(ix.curves, ix.kt_cell[p0], spend[p0])[0])
    assert by["P0"] == pytest.approx((va0 - va1) * slope / float(ix.kt_discount[p0][0]), rel=1e-9)
    assert by["P1"] == 0.0
    assert plan.allocation["customers"].sum() == pytest.approx(10.0, rel=1e-12)


def test_a_share_of_a_tiny_plan_broken_within_the_solvers_scaled_tolerance_is_mended():
    """Deep run 7: a plan of 0.003 of money came back from HiGHS with a 50 % share ceiling
    broken by 2e-7 of money (6.6e-5 of the share), above HiGHS's nominal 1e-7 but within its
    tolerance on the internally scaled LP.  The report mends it pro rata: shares hold.
    (The same plan's ceiling of 1 new customer on a hill curve of shape 0.3 is broken by
    0.15 on the real curve, warned; that is open in issue 18.)"""
    sc = Scenario(
        settings=Settings(total_budget=1000.0, periods_per_year=4, annual_discount_rate=0.0),
        periods=[Period(period="P0")],
        segments=[Segment(segment="S0", customers=0.0, margin_per_period=1.0, retention_rate=0.0),
                  Segment(segment="S1", customers=0.0, margin_per_period=188.1659698344169, retention_rate=0.0)],
        channels=[Channel(channel="C0", cost_per_contact=2.0720917558463667), Channel(channel="C1", cost_per_contact=0.05)],
        curves=[Curve(segment="S1", channel="C0", program="acquisition", curve="saturation", a=10.0, b=100.0),
                Curve(segment="S1", channel="C1", program="acquisition", curve="hill", a=100.0, b=4412.686972764184,
                      shape=0.3)],
        constraints=[ConstraintRow(name="k0", metric="share", sense="<=", value=0.5, channel="each"),
                     ConstraintRow(name="k1", metric="new_customers", sense="<=", value=1.0, channel="each"),
                     ConstraintRow(name="k2", metric="share", sense="<=", value=1.0)])
    plan = optimize(sc)
    c = plan.constraints
    shares = c[c["metric"] == "share"]
    assert (shares["slack"] >= -1e-9).all(), shares[["name", "actual", "slack"]]
    assert plan.summary["total_spend"] > 0
