"""The bundled scenarios: files agree with the code that builds them, and their plans are sane."""

from __future__ import annotations

from pathlib import Path

import pytest

import planner
from planner.core.plan import Plan
from planner.io import read_scenario
from planner.scenario.examples import EXAMPLES
from planner.scenario.models import Scenario
from planner.scenario.overrides import apply_scenario, check_scenarios, scenario_names
from planner.workflows import write_examples

FOLDER = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.fixture(scope="module")
def plans() -> dict[str, tuple[Scenario, Plan]]:
    out = {}
    for name in EXAMPLES:
        s = read_scenario(FOLDER / f"{name}.xlsx")
        out[name] = (s, planner.optimize(s))
    return out


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_file_matches_code(name: str) -> None:
    assert read_scenario(FOLDER / f"{name}.xlsx") == EXAMPLES[name](), (
        f"scenarios/{name}.xlsx is out of date: run python -c "
        "\"from planner.workflows import write_examples; write_examples('scenarios')\"")


def test_write_examples(tmp_path: Path) -> None:
    paths = write_examples(tmp_path)
    assert [p.name for p in paths] == [f"{n}.xlsx" for n in EXAMPLES]
    assert all(read_scenario(p) for p in paths)


def test_email_upgrade_by_hand(plans: dict[str, tuple[Scenario, Plan]]) -> None:
    s, plan = plans["email_upgrade"]
    assert s.settings.total_budget == 100_000 and s.settings.currency == "ZAR"
    assert plan.status == "optimal"
    summary = plan.summary
    assert summary["total_spend"] == pytest.approx(100_000, rel=1e-3)
    assert summary["new_customers"] == pytest.approx(500, rel=1e-3)
    assert summary["blended_cac"] == pytest.approx(200, rel=1e-3)
    assert summary["roi"] == pytest.approx(50, rel=1e-3)
    assert summary["total_value"] == pytest.approx(5_000_000, rel=1e-3)


def _check_sane(s: Scenario, plan: Plan) -> None:
    assert plan.status == "optimal", plan.message
    summary = plan.summary
    budget = s.settings.total_budget
    assert 0.5 * budget <= summary["total_spend"] <= budget * (1 + 1e-6)
    assert summary["roi"] > 1.5
    assert summary["net_value"] > 0
    shares = plan.allocation.groupby("channel")["spend"].sum() / summary["total_spend"]
    assert (shares > 0.03).sum() >= 5, shares
    assert shares.max() < 0.5, shares
    by_period = plan.allocation.groupby("period")["spend"].sum()
    for p in s.periods:
        assert by_period.get(p.period, 0) > 0
        if p.budget is not None:
            assert by_period[p.period] <= p.budget * (1 + 1e-6)
    both = set(plan.allocation["program"])
    assert both == {"acquisition", "retention"}
    c = plan.constraints
    assert len(c) > 0
    for row in c.itertuples():
        if row.actual != row.actual:  # NaN: a ratio with nothing to divide by
            continue
        scale = max(1.0, abs(row.limit))
        if row.sense == "<=":
            assert row.actual <= row.limit + 1e-4 * scale, row
        elif row.sense == ">=":
            assert row.actual >= row.limit - 1e-4 * scale, row
        else:
            assert row.actual == pytest.approx(row.limit, rel=1e-4, abs=1e-4), row
    assert (plan.allocation["roi"] > 0).all()


def test_retail_quarterly_is_sane(plans: dict[str, tuple[Scenario, Plan]]) -> None:
    s, plan = plans["retail_quarterly"]
    assert len(s.segments) >= 6 and len(s.channels) >= 6 and len(s.periods) == 4
    kinds = {c.curve for c in s.curves}
    assert {"saturation", "hill", "log", "power"} <= kinds
    assert all(c.shape is None or c.shape <= 1 for c in s.curves)
    metrics = {k.metric for k in s.constraints}
    assert {"share", "cac", "contacts_per_customer", "new_customers"} <= metrics
    assert len(scenario_names(s)) >= 3
    _check_sane(s, plan)
    user = plan.constraints[plan.constraints["name"].isin([k.name for k in s.constraints])]
    assert user["binding"].any()


def test_subscription_churn_is_sane(plans: dict[str, tuple[Scenario, Plan]]) -> None:
    s, plan = plans["subscription_churn"]
    assert s.settings.periods_per_year == 12
    assert min(x.retention_rate for x in s.segments if x.customers > 0) <= 0.85
    _check_sane(s, plan)
    assert plan.summary["retained_customers"] > 1000


@pytest.mark.parametrize("name", ["retail_quarterly", "subscription_churn"])
def test_what_ifs_run(name: str) -> None:
    s = EXAMPLES[name]()
    assert check_scenarios(s) == []
    base = planner.optimize(s).summary["total_value"]
    for what_if in scenario_names(s)[1:]:
        plan = planner.optimize(apply_scenario(s, what_if))
        assert plan.ok, (what_if, plan.message)
        if "Budget +" in what_if:
            assert plan.summary["total_value"] > base
