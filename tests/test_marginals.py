"""True marginal values (issue 18 item 4): shadow prices are what relaxing one limit alone
returns, checked against independent re-solves and closed forms, including the two
degenerate LPs where a dual alone misleads."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import quarterly_scenario, saturation_scenario

from planner.engine.marginals import mover, true_marginals
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


def _objective(sc: Scenario) -> float:
    plan = Optimizer(sc).run()  # plain re-solve: no marginal analysis of its own
    assert plan.ok
    return plan.summary["objective_value"]


def _with_budget(sc: Scenario, b: float) -> Scenario:
    return sc.model_copy(update={"settings": sc.settings.model_copy(update={"total_budget": b})})


def _two_quarters(total: float, q: float) -> Scenario:
    return Scenario(
        settings=Settings(total_budget=total, periods_per_year=4, annual_discount_rate=0.0),
        periods=[Period(period="Q1", budget=q), Period(period="Q2", budget=q)],
        segments=[Segment(segment="S", customers=0, margin_per_period=100, retention_rate=0)],
        channels=[Channel(channel="A"), Channel(channel="B")],
        curves=[Curve(segment="S", channel="A", program="acquisition", curve="saturation", a=2000, b=40000),
                Curve(segment="S", channel="B", program="acquisition", curve="saturation", a=1000, b=30000)])


def _row(plan, name):
    c = plan.constraints
    return c[c["name"] == name].iloc[0]


def test_period_budgets_that_add_up_to_the_total():
    """Raising the total alone returns nothing; lowering it costs what the period budgets'
    money earns; raising all three together returns that too."""
    sc = _two_quarters(100_000, 50_000)
    plan = optimize(sc)
    f0 = plan.summary["objective_value"]
    more = Optimizer(_with_budget(sc, 101_000)).run()
    up = (more.summary["objective_value"] - f0) / 1000
    # the closed form: nothing, up to what the two plans' certificates leave open
    certified = plan.summary["optimality_gap_bound"] + more.summary["optimality_gap_bound"]
    assert abs(up) <= certified / 1000 + 1e-9
    assert plan.summary["marginal_roi_of_budget"] == pytest.approx(1 + up, abs=0.02)
    assert plan.summary["budget_shadow_price"] == pytest.approx(0.0, abs=1e-9)
    down = (f0 - _objective(_with_budget(sc, 99_000))) / 1000
    assert plan.summary["budget_shadow_price_lower"] == pytest.approx(down, rel=0.05)
    assert down > 1.0
    total = _row(plan, "Total budget")
    assert total["binding"] and "binds jointly with Budget Q1, Budget Q2" in total["meaning"]
    assert "relaxing it alone returns nothing" in total["meaning"]
    both = _objective(_two_quarters(101_000, 50_500))        # everything raised together
    assert (both - f0) / 1000 == pytest.approx(total["tighten_cost"], rel=0.05)


@pytest.mark.parametrize("budget", [50_000, 100_000])
def test_spend_on_a_breakpoint_gets_the_curve_derivative(budget):
    """One saturation curve, objective value: the LP dual was 0 where the spend ends on the
    chord domain's edge; the true right-hand derivative is V·f'(B) in closed form."""
    sc = saturation_scenario([1000], [40_000], value=100, budget=budget, objective="value")
    plan = optimize(sc)
    exact = 100 * 1000 / 40_000 * math.exp(-budget / 40_000)
    assert plan.summary["budget_shadow_price"] == pytest.approx(exact, rel=0.01)
    assert plan.summary["marginal_roi_of_budget"] == pytest.approx(exact, rel=0.01)
    assert plan.allocation["marginal_roi"].iloc[0] == pytest.approx(exact, rel=1e-3)
    resolve = (_objective(_with_budget(sc, budget * 1.01)) - plan.summary["objective_value"]) / (0.01 * budget)
    assert plan.summary["marginal_roi_of_budget"] == pytest.approx(resolve, abs=0.02)


def test_non_degenerate_dual_agrees_with_the_resolve():
    """Only the total budget binds: KKT gives one marginal ROI; the LP dual is kept and a
    re-solve at budget + 1 % agrees within 0.02."""
    sc = saturation_scenario([500, 800, 300], [20_000, 50_000, 10_000], value=300, budget=60_000)
    plan = optimize(sc)
    row = _row(plan, "Total budget")
    assert row["source"].startswith("LP dual, checked")
    f0 = plan.summary["objective_value"]
    resolve = (_objective(_with_budget(sc, 60_600)) - f0) / 600
    assert plan.summary["marginal_roi_of_budget"] == pytest.approx(1 + resolve, abs=0.02)
    assert row["shadow_price"] == row["tighten_cost"]
    interior = plan.allocation["marginal_roi"]
    np.testing.assert_allclose(interior, plan.summary["marginal_roi_of_budget"], rtol=5e-3)


@pytest.mark.parametrize("which", ["Budget Q4", "CAC cap", "Channel Search maximum spend"])
def test_other_limits_match_their_resolves(which):
    cons = [ConstraintRow(name="CAC cap", metric="cac", sense="<=", value=38)]
    sc = quarterly_scenario(constraints=cons, q4=50_000)
    plan = optimize(sc)
    row = _row(plan, which)
    assert row["binding"] and row["source"] != "LP dual"
    move = mover(sc, row)
    assert move is not None
    h = 0.002 * row["limit"]
    fd = (_objective(move(row["limit"] + h)) - _objective(move(row["limit"] - h))) / (2 * h)
    assert row["shadow_price"] == pytest.approx(fd, rel=0.05)


def test_each_constraint_moves_one_member_alone():
    cons = [ConstraintRow(name="cap", metric="spend", sense="<=", value=30_000, channel="each")]
    sc = quarterly_scenario(constraints=cons)
    row = {"kind": "user", "name": "cap [Search]", "limit": 30_000.0}
    moved = mover(sc, row)(31_000)
    caps = {k.name: (k.channel, k.value) for k in moved.constraints}
    assert caps == {"cap [Email]": ("Email", 30_000), "cap [Search]": ("Search", 31_000), "cap [TV]": ("TV", 30_000)}


def test_resolves_are_bounded_and_said():
    cons = [ConstraintRow(name="cap", metric="spend", sense="<=", value=20_000, channel="each", period="each")]
    plan = optimize(quarterly_scenario(constraints=cons))
    assert plan.run_info["marginal_resolves"] <= 20
    opt = Optimizer(quarterly_scenario(constraints=cons))
    few = true_marginals(opt, opt.run(), max_resolves=2)
    assert few.run_info["marginal_resolves"] <= 2
    c = few.constraints
    unchecked = c["binding"] & (c["source"] == "LP dual") & (c["kind"] == "user")
    assert unchecked.any()
    (w,) = [w for w in few.warnings if "are the LP's duals, not checked by re-solves" in w]
    assert c.loc[unchecked, "name"].iloc[0] in w


def test_unchecked_plans_keep_duals():
    """The optimiser's own run (frontier points) keeps LP duals, with the same columns."""
    plan = Optimizer(_two_quarters(100_000, 50_000)).run()
    assert {"tighten_cost", "source", "meaning"} <= set(plan.constraints)
