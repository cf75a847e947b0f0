"""Constraints sheet metrics, shadow prices and infeasibility reports."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import quarterly_scenario, settings
from scipy.optimize import linprog

from planner.engine.optimizer import optimize
from planner.scenario.models import Channel, ConstraintRow, Curve, Scenario, Segment


def _linear(constraints, *, objective="value", budget=20_000, program="acquisition", customers=0.0,
            retention=0.0, cpc=None, value=100.0):
    """Channel A: 40 per customer up to 100 customers; channel B: 100 per customer, no cap."""
    return Scenario(
        settings=settings(total_budget=budget, objective=objective),
        segments=[Segment(segment="S", customers=customers, margin_per_period=value, retention_rate=retention)],
        channels=[Channel(channel="A", cost_per_contact=cpc), Channel(channel="B", cost_per_contact=cpc)],
        curves=[Curve(segment="S", channel="A", program=program, curve="linear", a=100, b=40),
                Curve(segment="S", channel="B", program=program, curve="linear", b=100)],
        constraints=constraints,
    )


def _row(plan, name):
    return plan.constraints.set_index("name").loc[name]


def test_cac_ceiling_by_hand():
    # (4000 + y) / (100 + y/100) <= 60  →  y = 5000
    plan = optimize(_linear([ConstraintRow(name="CAC", metric="cac", sense="<=", value=60)]))
    assert plan.summary["total_spend"] == pytest.approx(9000, rel=1e-6)
    assert plan.summary["new_customers"] == pytest.approx(150, rel=1e-6)
    assert plan.summary["blended_cac"] == pytest.approx(60, rel=1e-6)
    r = _row(plan, "CAC")
    assert r["binding"] and r["actual"] == pytest.approx(60, rel=1e-6)


def test_cost_per_retained_ceiling_by_hand():
    sc = _linear([ConstraintRow(name="CPR", metric="cost_per_retained", sense="<=", value=60)],
                 program="retention", customers=100_000, retention=0.5)
    plan = optimize(sc)
    assert plan.summary["total_spend"] == pytest.approx(9000, rel=1e-6)
    assert plan.summary["retained_customers"] == pytest.approx(150, rel=1e-6)


def test_roi_floor_by_hand():
    # value 100 per customer: ROI = 100·(100 + y/100) / (4000 + y) >= 2  →  y = 2000 (value objective)
    plan = optimize(_linear([ConstraintRow(name="ROI", metric="roi", sense=">=", value=2)]))
    assert plan.summary["total_spend"] == pytest.approx(6000, rel=1e-6)
    assert plan.summary["roi"] == pytest.approx(2, rel=1e-6)


def test_spend_and_share_limits_by_hand():
    plan = optimize(_linear([ConstraintRow(name="B max", metric="spend", sense="<=", value=3000, channel="B")]))
    assert plan.by_channel.set_index("channel").loc["B", "spend"] == pytest.approx(3000, rel=1e-6)
    # share: B ≤ 50 % of spend.  Under the value objective the best plan parks 6 000 in A's
    # flat part (no customers) to unlock 10 000 in B: 200 customers beat 140 (A 4 000, B 4 000)
    plan = optimize(_linear([ConstraintRow(name="B share", metric="share", sense="<=", value=0.5, channel="B")]))
    ch = plan.by_channel.set_index("channel")["spend"]
    assert ch["B"] == pytest.approx(10_000, rel=1e-6) and ch["A"] == pytest.approx(10_000, rel=1e-6)
    assert plan.summary["new_customers"] == pytest.approx(200, rel=1e-6)
    assert _row(plan, "B share")["actual"] == pytest.approx(0.5, rel=1e-6)
    assert any("flat" in w for w in plan.warnings)  # the forced waste is reported


@pytest.mark.parametrize("metric,target,spend", [
    ("new_customers", 150, 4000 + 50 * 100),
    ("value", 15_000, 4000 + 50 * 100),  # 150 customers × 100
])
def test_min_spend_reaches_targets_cheapest_first(metric, target, spend):
    sc = _linear([ConstraintRow(name="target", metric=metric, sense=">=", value=target)], objective="min_spend")
    plan = optimize(sc)
    assert plan.summary["total_spend"] == pytest.approx(spend, rel=1e-6)
    r = _row(plan, "target")
    assert r["binding"]
    # relaxing the target by one customer saves the marginal cost (B: 100 per customer)
    per_unit = 100 if metric == "new_customers" else 1.0
    assert r["shadow_price"] == pytest.approx(per_unit, rel=1e-6)


def test_retained_customers_target():
    sc = _linear([ConstraintRow(name="keep", metric="retained_customers", sense=">=", value=120)],
                 objective="min_spend", program="retention", customers=10_000, retention=0.5)
    assert optimize(sc).summary["total_spend"] == pytest.approx(4000 + 20 * 100, rel=1e-6)


def test_contacts_per_customer_protects_customers():
    # 1 000 active customers, 2 contacts each at 0.5 per contact → at most 1 000 of retention spend
    sc = _linear([ConstraintRow(name="contacts", metric="contacts_per_customer", sense="<=", value=2)],
                 program="retention", customers=1000, retention=0.5, cpc=0.5, value=1000)
    plan = optimize(sc)
    assert plan.summary["total_spend"] == pytest.approx(1000, rel=1e-6)
    r = _row(plan, "contacts [S, Plan]")
    assert r["actual"] == pytest.approx(2, rel=1e-6) and r["binding"]


def test_each_expands_one_row_per_member():
    sc = quarterly_scenario(constraints=[
        ConstraintRow(name="cap", metric="spend", sense="<=", value=50_000, channel="each"),
        ConstraintRow(name="grid", metric="spend", sense="<=", value=1e9, segment="each", period="each"),
    ])
    plan = optimize(sc)
    names = plan.constraints["name"].tolist()
    assert [n for n in names if n.startswith("cap [")] == ["cap [Email]", "cap [Search]", "cap [TV]"]
    assert sum(n.startswith("grid [") for n in names) == 2 * 4
    assert "grid [VIP, Q3]" in names
    by_ch = plan.by_channel.set_index("channel")["spend"]
    assert (by_ch <= 50_000 * (1 + 1e-7)).all()


def _objective(sc):
    plan = optimize(sc)
    assert plan.ok
    return plan.summary["objective_value"], plan


def _move(base, which, limit, cons):
    if which == "Total budget":
        return base.model_copy(update={"settings": base.settings.model_copy(update={"total_budget": limit})})
    if which == "Budget Q4":
        periods = [p.model_copy(update={"budget": limit}) if p.budget else p for p in base.periods]
        return base.model_copy(update={"periods": periods})
    if which == "CAC cap":
        return base.model_copy(update={"constraints": [cons[0].model_copy(update={"value": limit})]})
    chans = [c.model_copy(update={"max_spend": limit}) if c.channel == "Search" else c for c in base.channels]
    return base.model_copy(update={"channels": chans})


@pytest.mark.parametrize("which", ["Total budget", "Budget Q4", "CAC cap", "Channel Search maximum spend"])
def test_shadow_prices_match_finite_differences(which):
    """Re-solve with the limit moved a little either way: the central difference of the
    objective (on the real curves) is the reported shadow price."""
    cons = [ConstraintRow(name="CAC cap", metric="cac", sense="<=", value=38)]
    base = quarterly_scenario(constraints=cons, q4=50_000)
    _, plan = _objective(base)
    row = _row(plan, which)
    assert row["binding"]
    h = 0.002 * row["limit"]
    up, _ = _objective(Scenario.model_validate(_move(base, which, row["limit"] + h, cons).model_dump()))
    down, _ = _objective(Scenario.model_validate(_move(base, which, row["limit"] - h, cons).model_dump()))
    fd = (up - down) / (2 * h)
    assert row["shadow_price"] == pytest.approx(fd, rel=0.01, abs=1e-4)


def test_independent_lp_reference_with_share_cac_and_roi():
    """scipy's linprog on the same small LP (linear curves are exact) gives the same plan."""
    b = np.array([30.0, 50.0, 80.0, 120.0])       # cost per customer per channel
    cap = np.array([3000.0, 8000.0, 20000.0, 50000.0])
    v, budget = 150.0, 40_000.0
    sc = Scenario(
        settings=settings(total_budget=budget),
        segments=[Segment(segment="S", margin_per_period=v, retention_rate=0)],
        channels=[Channel(channel=f"C{i}") for i in range(4)],
        curves=[Curve(segment="S", channel=f"C{i}", program="acquisition", curve="linear", b=b[i], max_spend=cap[i])
                for i in range(4)],
        constraints=[ConstraintRow(name="C3 share", metric="share", sense=">=", value=0.25, channel="C3"),
                     ConstraintRow(name="CAC", metric="cac", sense="<=", value=70),
                     ConstraintRow(name="ROI", metric="roi", sense=">=", value=2.2)],
    )
    plan = optimize(sc)
    # maximise Σ (v/b − 1) x  s.t. Σx ≤ B, x3 ≥ 0.25 Σx, Σx − 70 Σ x/b ≤ 0, 2.2 Σx − v Σ x/b ≤ 0
    c = -(v / b - 1)
    A_ub = np.vstack([np.ones(4), 0.25 * np.ones(4) - np.eye(4)[3], 1 - 70 / b, 2.2 - v / b])
    ref = linprog(c, A_ub=A_ub, b_ub=[budget, 0, 0, 0], bounds=list(zip([0] * 4, cap, strict=True)), method="highs")
    assert ref.status == 0
    got = plan.by_channel.set_index("channel")["spend"].reindex([f"C{i}" for i in range(4)]).to_numpy()
    np.testing.assert_allclose(got, ref.x, atol=1e-4 * budget)
    assert plan.summary["net_value"] == pytest.approx(-ref.fun, rel=1e-7)


def _conflicts(sc):
    plan = optimize(sc)
    assert plan.status == "infeasible"
    return {c.name: c for c in plan.conflicts}, plan


def test_infeasible_target_beyond_budget_names_both_and_amounts():
    sc = _linear([ConstraintRow(name="Growth target", metric="new_customers", sense=">=", value=400)], budget=20_000)
    conf, plan = _conflicts(sc)
    # 400 customers cost 4 000 + 300 × 100 = 34 000: raise budget by 14 000, or lower target by 140
    assert conf["Total budget"].change == pytest.approx(14_000, rel=1e-6)
    assert conf["Growth target"].change == pytest.approx(-140, rel=1e-6)
    assert "Growth target" in plan.message and "Total budget" in plan.message


def test_infeasible_period_budget_against_a_period_minimum():
    sc = quarterly_scenario(q1=30_000, constraints=[
        ConstraintRow(name="Q1 push", metric="spend", sense=">=", value=50_000, period="Q1")])
    conf, _ = _conflicts(sc)
    assert conf["Budget Q1"].change == pytest.approx(20_000, rel=1e-6)
    assert conf["Q1 push"].change == pytest.approx(-20_000, rel=1e-6)


@pytest.mark.parametrize("metric, sense, value, dims", [
    ("contacts_per_customer", "<=", 2.0, ("segment", "period")),
    ("cac", "<=", 90.0, ("segment", "channel")),
    ("roi", ">=", 1.5, ("channel", "period")),
    ("spend", "<=", 9_000.0, ("channel", "period")),
    ("new_customers", "<=", 40.0, ("segment", "period")),
])
def test_single_member_lines_built_together_equal_lines_built_one_by_one(metric, sense, value, dims):
    """Consecutive lines that differ only in members and limits (an 'each' line spelt out,
    as the marginal re-solves do) are built as one batch; the rows must be those of the
    lines built one at a time, limit by limit and coefficient by coefficient."""
    from planner.core.constraint_rows import user_rows
    from planner.core.rows import Rows
    from planner.core.scenario_arrays import Index

    sc = quarterly_scenario()
    names = {"segment": ["VIP", "Mass"], "channel": ["Email", "Search", "TV"], "period": ["Q1", "Q2", "Q3", "Q4"]}
    lines = []
    for i, (a, b) in enumerate((a, b) for a in names[dims[0]] for b in names[dims[1]]):
        lines.append(ConstraintRow(name=f"k [{a}, {b}]", metric=metric, sense=sense, value=value * (1 + 0.1 * i),
                                   **{dims[0]: a, dims[1]: b}))
    lines.append(ConstraintRow(name="other", metric="spend", sense="<=", value=1e5))  # ends the batch
    ix = Index.build(sc.model_copy(update={"constraints": lines}))
    together, apart = Rows(), Rows()
    user_rows(ix, together, lines)
    for k in lines:
        user_rows(ix, apart, [k])
    t, a = together.freeze(), apart.freeze()
    assert t.name == a.name and t.sense.tolist() == a.sense.tolist()
    for field in ("limit", "rhs", "d_const"):
        np.testing.assert_allclose(getattr(t, field), getattr(a, field), rtol=1e-15)
    for rows in (t, a):  # entries in a canonical order
        rows.__dict__["_e"] = sorted(zip(rows.e_row, rows.e_kt, rows.e_spend, rows.e_cust, strict=True))
        rows.__dict__["_d"] = sorted(zip(rows.d_row, rows.d_kt, rows.d_spend, rows.d_cust, strict=True))
    np.testing.assert_allclose(np.array(t.__dict__["_e"]), np.array(a.__dict__["_e"]), rtol=1e-15)
    np.testing.assert_allclose(np.array(t.__dict__["_d"]), np.array(a.__dict__["_d"]), rtol=1e-15)
