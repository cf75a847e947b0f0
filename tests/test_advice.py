"""Advice that names the real cause (issue 14): the unspent-budget warning, infeasible
frontier budgets, and a Constraints Report whose words agree with its numbers."""

from __future__ import annotations

import pytest
from helpers import quarterly_scenario, saturation_scenario

from planner.analysis.frontier import frontier, smallest_feasible_budget
from planner.engine.optimizer import Optimizer, optimize
from planner.engine.plan_assembly import GROUP_ORDER
from planner.scenario.models import (
    Channel,
    ConstraintRow,
    Curve,
    Period,
    Scenario,
    Segment,
    Settings,
)


def _quarters(total: float, q: float | None) -> Scenario:
    return Scenario(
        settings=Settings(total_budget=total, periods_per_year=4, annual_discount_rate=0.0),
        periods=[Period(period="Q1", budget=q), Period(period="Q2", budget=q)],
        segments=[Segment(segment="S", customers=0, margin_per_period=100, retention_rate=0)],
        channels=[Channel(channel="A")],
        curves=[Curve(segment="S", channel="A", program="acquisition", curve="saturation", a=3000, b=40_000)])


def test_unspent_budget_names_the_period_budgets_and_their_worth():
    plan = optimize(_quarters(150_000, 50_000))
    assert plan.summary["unspent_budget"] == pytest.approx(50_000, rel=1e-6)
    (w,) = [w for w in plan.warnings if "left unspent" in w]
    assert "'Budget Q1'" in w and "'Budget Q2'" in w and "less than 1" not in w
    # closed form: each quarter's marginal value 100·a/b·exp(-x/b) at x = 50 000, less 1 of spend
    worth = 100 * 3000 / 40_000 * 2.718281828459045 ** (-50_000 / 40_000) - 1
    q1 = plan.constraints.set_index("name").loc["Budget Q1"]
    assert q1["shadow_price"] == pytest.approx(worth, rel=0.01)
    assert f"{q1['shadow_price']:,.4g}" in w
    total = plan.constraints.set_index("name").loc["Total budget"]
    assert not total["binding"] and total["meaning"].startswith("not binding")


def test_unspent_budget_with_no_other_limit_says_the_return_is_too_low():
    plan = optimize(_quarters(1_000_000, None))
    (w,) = [w for w in plan.warnings if "left unspent" in w]
    assert "no limit other than the money's return" in w


def _floors() -> Scenario:
    # Email must keep at least 50 % of its current 10 000 in each of 4 quarters: 20 000
    sc = quarterly_scenario()
    ch = [c.model_copy(update={"current_spend": 10_000, "max_change": 0.5}) if c.channel == "Email"
          else c.model_copy(update={"min_spend": None}) for c in sc.channels]
    return sc.model_copy(update={"channels": ch})


def test_smallest_feasible_budget_is_the_sum_of_the_change_floors():
    least, names = smallest_feasible_budget(_floors(), 100_000)
    assert least == pytest.approx(20_000, rel=1e-6)
    assert sorted(names) == [f"Channel Email change Q{t} (max -50%)" for t in range(1, 5)]


def test_frontier_says_once_why_small_budgets_have_no_plan():
    f = frontier(_floors(), points=5, max_budget=40_000)
    assert list(f.table["status"][:2]) == ["infeasible", "infeasible"]  # 0 and 10 000
    assert "the smallest feasible budget is 20,000" in f.infeasible_note
    assert "Channel Email change Q1 (max -50%)" in f.infeasible_note
    notes = f.sheets()[0].notes
    assert sum("smallest feasible budget" in n for n in notes) == 1
    assert frontier(_quarters(10_000, None), points=3).infeasible_note == ""


def test_constraints_report_groups_and_reads_well():
    sc = quarterly_scenario(constraints=[ConstraintRow(name="Search share", metric="share", sense="<=", value=0.3,
                                                       channel="Search")], q4=50_000)
    segs = [s.model_copy(update={"segment": "At Risk"}) if s.segment == "VIP" else s for s in sc.segments]
    curves = [c.model_copy(update={"segment": "At Risk"}) if c.segment == "VIP" else c for c in sc.curves]
    sc = Scenario.model_validate(sc.model_copy(update={"segments": segs, "curves": curves}).model_dump())
    plan = optimize(sc)
    c = plan.constraints
    assert c["name"].iloc[0] == "Search share"
    order = [GROUP_ORDER.index(k) for k in c["kind"]]
    assert order == sorted(order)
    assert "Customers at risk: At Risk, Q1" in set(c["name"]) and not c["name"].str.contains("At risk At Risk").any()
    assert "Prospects: At Risk" in set(c["name"])
    # binding and meaning never disagree
    for b, m in zip(c["binding"], c["meaning"], strict=True):
        assert b == (not m.startswith("not binding")), (b, m)
    share = c.set_index("name").loc["Search share"]
    if share["binding"]:
        assert "1 percentage point" in share["meaning"]


def test_share_shadow_price_is_per_percentage_point():
    """Relaxing the share ceiling by one percentage point is worth the shadow price."""
    def run(v: float):
        cons = [ConstraintRow(name="C0 share", metric="share", sense="<=", value=v, channel="C0")]
        return saturation_scenario([2000, 500], [20_000, 50_000], value=100, budget=60_000,
                                   constraints=cons, objective="value")
    plan = optimize(run(0.5))
    row = plan.constraints.set_index("name").loc["C0 share"]
    assert row["binding"] and "1 percentage point" in row["meaning"]
    up = Optimizer(run(0.51)).run().summary["objective_value"]
    down = Optimizer(run(0.49)).run().summary["objective_value"]
    assert row["shadow_price"] == pytest.approx((up - down) / 2, rel=0.02)
