"""Properties that must hold for any scenario (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from planner.core.curves import response as evaluate
from planner.core.scenario_arrays import Index
from planner.engine.optimizer import Optimizer, optimize
from planner.scenario.models import (
    Channel,
    ConstraintRow,
    Curve,
    Period,
    Scenario,
    Segment,
    Settings,
)

KINDS = ["saturation", "hill", "log", "power", "linear"]


@st.composite
def scenarios(draw, with_constraints: bool = True):
    n_seg = draw(st.integers(1, 3))
    n_ch = draw(st.integers(1, 3))
    n_per = draw(st.integers(1, 3))
    budget = draw(st.floats(1_000, 500_000))
    segs = [Segment(segment=f"S{i}", customers=draw(st.floats(0, 50_000)),
                    prospects=draw(st.one_of(st.none(), st.floats(10, 5_000))),
                    margin_per_period=draw(st.floats(1, 200)), retention_rate=draw(st.floats(0, 0.95)),
                    referral_rate=draw(st.floats(0, 0.3)))
            for i in range(n_seg)]
    chans = [Channel(channel=f"C{j}", cost_per_contact=draw(st.floats(0.05, 5))) for j in range(n_ch)]
    curves = []
    for i in range(n_seg):
        for j in range(n_ch):
            for prog in ("acquisition", "retention"):
                if not draw(st.booleans()):
                    continue
                kind = draw(st.sampled_from(KINDS))
                curves.append(Curve(segment=f"S{i}", channel=f"C{j}", program=prog, curve=kind,
                                    a=draw(st.floats(10, 5_000)), b=draw(st.floats(100, 100_000)),
                                    shape=draw(st.floats(0.3, 1.0))))
    assume(curves)
    cons = []
    if with_constraints:
        for k in range(draw(st.integers(0, 4))):
            metric = draw(st.sampled_from(["spend", "share", "cac", "roi", "new_customers",
                                           "contacts_per_customer", "value"]))
            sense = "<=" if metric in ("spend", "share", "cac", "contacts_per_customer", "new_customers") else ">="
            value = {"spend": draw(st.floats(0, budget)), "share": draw(st.floats(0.05, 1)),
                     "cac": draw(st.floats(1, 1000)), "roi": draw(st.floats(0, 5)),
                     "new_customers": draw(st.floats(0, 5000)), "contacts_per_customer": draw(st.floats(0.1, 10)),
                     "value": draw(st.floats(0, 1e5))}[metric]
            channel = draw(st.sampled_from([None, "each"] + [f"C{j}" for j in range(n_ch)]))
            cons.append(ConstraintRow(name=f"k{k}", metric=metric, sense=sense, value=value, channel=channel))
    return Scenario(
        settings=Settings(total_budget=budget, periods_per_year=4, annual_discount_rate=draw(st.floats(0, 0.3)),
                          objective=draw(st.sampled_from(["net_value", "value"]))),
        periods=[Period(period=f"P{t}", seasonality=draw(st.floats(0.5, 1.5))) for t in range(n_per)],
        segments=segs, channels=chans, curves=curves, constraints=cons,
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(sc=scenarios(), mult=st.floats(1.1, 3.0))
@example(sc=Scenario(settings=Settings(scenario_name=None, currency='USD', periods_per_year=4, annual_discount_rate=0.0, clv_horizon_years=None, total_budget=1000.0, objective='net_value', target_mroi=1.0, spend_full_budget=False, pwl_tolerance=0.001, solver='auto', time_limit_s=60.0), periods=[Period(period='P0', budget=None, seasonality=1.0)], segments=[Segment(segment='S0', customers=0.015625, prospects=None, margin_per_period=21.0, retention_rate=0.0, referral_rate=0.0, min_spend=None, max_spend=None)], channels=[Channel(channel='C0', min_spend=None, max_spend=None, cost_per_contact=1.0, current_spend=None, max_change=None), Channel(channel='C1', min_spend=None, max_spend=None, cost_per_contact=1.0, current_spend=None, max_change=None), Channel(channel='C2', min_spend=None, max_spend=None, cost_per_contact=1.0, current_spend=None, max_change=None)], curves=[Curve(segment='S0', channel='C1', program='acquisition', curve='saturation', a=10.0, b=100.0, shape=1.0, max_spend=None), Curve(segment='S0', channel='C2', program='retention', curve='saturation', a=10.0, b=100.0, shape=1.0, max_spend=None)], curve_points=[], seasonality=[], constraints=[ConstraintRow(name='k0', metric='share', sense='<=', value=0.5, segment=None, channel='each', program=None, period=None)], scenarios=[]), mult=2.0).via('discovered failure')
def test_more_budget_never_lowers_value(sc, mult):
    opt = Optimizer(sc, max_budget=sc.settings.total_budget * mult)
    small = opt.run()
    # a plan that breaks a row on the real curves is no yardstick: an upper limit on
    # customers is not convex in spend, and the LP can meet it within its tolerance on a
    # nearly flat chord far out while the real curve counts more (the plan warns)
    assume(small.ok and not any("On the real curves" in w for w in small.warnings))
    big = opt.run(total_budget=sc.settings.total_budget * mult)
    assert big.ok
    key = "total_value" if sc.settings.objective == "value" else "net_value"
    # true optimum(big) >= true optimum(small) >= small plan, and the big plan is within its
    # certified gap of its optimum: so big >= small - gap(big)
    slack = big.summary["optimality_gap_bound"] + 1e-6 * (1 + abs(small.summary[key]))
    assert big.summary[key] >= small.summary[key] - slack


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(sc=scenarios())
def test_plan_never_breaks_a_constraint(sc):
    plan = optimize(sc)
    assume(plan.ok)
    check_constraints(sc, plan)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(sc=scenarios(), mult=st.floats(0.2, 2.5))
@example(
    sc=Scenario(settings=Settings(scenario_name=None, currency='USD', periods_per_year=4, annual_discount_rate=0.0, clv_horizon_years=None, total_budget=1000.0, objective='value', target_mroi=1.0, spend_full_budget=False, pwl_tolerance=0.001, solver='auto', time_limit_s=60.0), periods=[Period(period='P0', budget=None, seasonality=1.0988078064893347), Period(period='P1', budget=None, seasonality=1.305690085082224)], segments=[Segment(segment='S0', customers=0.0, prospects=10.0, margin_per_period=1.0, retention_rate=0.0, referral_rate=0.0, min_spend=None, max_spend=None)], channels=[Channel(channel='C0', min_spend=None, max_spend=None, cost_per_contact=2.719722053480403, current_spend=None, max_change=None), Channel(channel='C1', min_spend=None, max_spend=None, cost_per_contact=2.6960309144611148, current_spend=None, max_change=None), Channel(channel='C2', min_spend=None, max_spend=None, cost_per_contact=0.7, current_spend=None, max_change=None)], curves=[Curve(segment='S0', channel='C0', program='retention', curve='saturation', a=1757.19412122601, b=100.0, shape=1.0, max_spend=None), Curve(segment='S0', channel='C1', program='acquisition', curve='saturation', a=10.0, b=100.0, shape=0.8, max_spend=None)], curve_points=[], seasonality=[], constraints=[], scenarios=[]),
    mult=0.93,
).via('discovered failure')
@example(sc=Scenario(settings=Settings(scenario_name=None, currency='USD', periods_per_year=4, annual_discount_rate=0.0, clv_horizon_years=None, total_budget=18074.0, objective='net_value', target_mroi=1.0, spend_full_budget=False, pwl_tolerance=0.001, solver='auto', time_limit_s=60.0), periods=[Period(period='P0', budget=None, seasonality=1.0), Period(period='P1', budget=None, seasonality=1.0), Period(period='P2', budget=None, seasonality=0.75)], segments=[Segment(segment='S0', customers=1.0, prospects=None, margin_per_period=1.0, retention_rate=0.0, referral_rate=0.0, min_spend=None, max_spend=None)], channels=[Channel(channel='C0', min_spend=None, max_spend=None, cost_per_contact=1.0, current_spend=None, max_change=None), Channel(channel='C1', min_spend=None, max_spend=None, cost_per_contact=1.0, current_spend=None, max_change=None), Channel(channel='C2', min_spend=None, max_spend=None, cost_per_contact=1.0, current_spend=None, max_change=None)], curves=[Curve(segment='S0', channel='C0', program='retention', curve='hill', a=44.0, b=548.0, shape=0.96875, max_spend=None), Curve(segment='S0', channel='C1', program='retention', curve='hill', a=10.0, b=100.0, shape=0.5, max_spend=None), Curve(segment='S0', channel='C2', program='acquisition', curve='saturation', a=10.0, b=100.0, shape=1.0, max_spend=None)], curve_points=[], seasonality=[], constraints=[ConstraintRow(name='k0', metric='share', sense='<=', value=0.5, segment=None, channel='C1', program=None, period=None), ConstraintRow(name='k1', metric='spend', sense='<=', value=1.0, segment=None, channel=None, program=None, period=None), ConstraintRow(name='k2', metric='spend', sense='<=', value=1.0, segment=None, channel=None, program=None, period=None)], scenarios=[]), mult=1.0).via('discovered failure')
@example(sc=Scenario(settings=Settings(scenario_name=None, currency='USD', periods_per_year=4, annual_discount_rate=0.0, clv_horizon_years=None, total_budget=1000.0, objective='net_value', target_mroi=1.0, spend_full_budget=False, pwl_tolerance=0.001, solver='auto', time_limit_s=60.0), periods=[Period(period='P0', budget=None, seasonality=1.0)], segments=[Segment(segment='S0', customers=1.0, prospects=None, margin_per_period=1.0, retention_rate=0.0, referral_rate=0.0, min_spend=None, max_spend=None)], channels=[Channel(channel='C0', min_spend=None, max_spend=None, cost_per_contact=1.0, current_spend=None, max_change=None), Channel(channel='C1', min_spend=None, max_spend=None, cost_per_contact=1.0, current_spend=None, max_change=None), Channel(channel='C2', min_spend=None, max_spend=None, cost_per_contact=1.0, current_spend=None, max_change=None)], curves=[Curve(segment='S0', channel='C0', program='retention', curve='hill', a=10.0, b=100.0, shape=0.3125, max_spend=None), Curve(segment='S0', channel='C1', program='retention', curve='hill', a=10.0, b=100.0, shape=0.5, max_spend=None)], curve_points=[], seasonality=[], constraints=[ConstraintRow(name='k0', metric='spend', sense='<=', value=0.0, segment=None, channel='C0', program=None, period=None)], scenarios=[]), mult=1.0).via('discovered failure')
def test_a_resolved_plan_never_breaks_a_constraint(sc, mult):
    """Frontier points (chord windows per cell-period) hold the same guarantees."""
    budget = sc.settings.total_budget
    opt = Optimizer(sc, max_budget=budget * max(mult, 1.0))
    first = opt.run()
    assume(first.ok)
    plan = opt.evaluate(opt.resolve(budget * mult))
    assume(plan.ok)
    assert plan.summary["optimality_gap_relative"] <= 1e-3 or plan.summary["optimality_gap_bound"] <= 1e-6
    moved = sc.model_copy(update={"settings": sc.settings.model_copy(update={"total_budget": budget * mult})})
    check_constraints(moved, plan)


def check_constraints(sc, plan):
    c = plan.constraints
    tol = sc.settings.pwl_tolerance
    # spend-only rows hold exactly; rows on customers may see the chords' tolerance
    spend_rows = c["metric"].isin(["spend", "share"]) & (c["kind"] != "at_risk")
    scale = 1 + c["limit"].abs()
    known = c["slack"].notna()  # a share of zero spend is undefined
    hard = c[spend_rows & known]
    assert (hard["slack"] >= -1e-6 * scale[spend_rows & known]).all(), hard[hard["slack"] < 0]
    # rows on customers hold up to the chords' error, and any excess is reported
    soft = c[~spend_rows & c["slack"].notna()]
    over = soft[soft["slack"] < -1e-6 * (1 + soft["limit"].abs())]  # the warning threshold
    for name in over["name"]:
        assert any(f"'{name}'" in w for w in plan.warnings), (name, plan.warnings)
    counts = over[over["metric"].isin(["new_customers", "retained_customers"])]
    # the chords' error is at most tol·σ·f(X) per cell-period, X ≤ the budget (power and log curves
    # are unbounded, so f(X) can be far above their scale a)
    ix = Index.build(sc)
    scale = float(evaluate(ix.curves, np.arange(ix.K), ix.spend_cap()).sum()) * sum(p.seasonality for p in sc.periods)
    assert (-counts["slack"] <= tol * scale + 1e-9).all(), counts
    assert plan.summary["total_spend"] <= sc.settings.total_budget * (1 + 1e-9)
    alloc = plan.allocation
    assert (alloc["spend"] >= 0).all() and np.isfinite(alloc["value"]).all()
