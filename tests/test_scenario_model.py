"""Scenario models built in code: every problem at once, located; equality ignores rows."""

from __future__ import annotations

import pytest

import planner
from planner.scenario.models import Channel, ConstraintRow, Curve, Scenario, Segment, Settings


def _parts(**over):
    parts = dict(
        settings=Settings(total_budget=1000),
        segments=[Segment(segment="A", margin_per_period=10, retention_rate=0.5)],
        channels=[Channel(channel="Email")],
        curves=[Curve(segment="A", channel="Email", program="acquisition", curve="saturation", a=10, b=100)],
    )
    parts.update(over)
    return parts


def test_every_problem_is_listed_with_its_location():
    with pytest.raises(planner.ScenarioError) as err:
        Scenario(**_parts(
            segments=[{"segment": "A", "margin_per_period": 10, "retention_rate": 1.2},
                      {"segment": "A", "margin_per_period": -1, "retention_rate": 0.1}],
            curves=[{"segment": "A", "channel": "Fax", "program": "acquisition", "curve": "sigmoid", "a": 1, "b": 1}],
        ))
    text = [str(i) for i in err.value.issues]
    assert "Segments row 2 retention_rate: 1.2 is not allowed: expected a number < 1" in text
    assert "Segments row 3 margin_per_period: -1 is not allowed: expected a number >= 0" in text
    assert any(t.startswith("Curves row 2 curve: 'sigmoid' is not allowed") for t in text)


def test_cross_checks_collect_every_reference_problem():
    with pytest.raises(planner.ScenarioError) as err:
        Scenario(**_parts(
            segments=[Segment(segment="A", margin_per_period=10, retention_rate=0.5),
                      Segment(segment="a", margin_per_period=10, retention_rate=0.5)],
            curves=[Curve(segment="B", channel="Fax", program="acquisition", curve="hill", a=1, b=1)],
            constraints=[ConstraintRow(metric="cac", sense="<=", value=10, channel="TV")],
        ))
    text = "\n".join(str(i) for i in err.value.issues)
    assert "Segments row 3 segment: 'a' is a duplicate (first on row 2)" in text
    assert "Curves row 2 segment: 'B' is not a segment of the Segments sheet" in text
    assert "Curves row 2 channel: 'Fax' is not a channel of the Channels sheet" in text
    assert "Curves row 2 shape: is required for a hill curve (a number > 0)" in text
    assert "Constraints row 2 channel: 'TV' is not a channel" in text
    assert len(err.value.issues) == 5


def test_rows_compare_by_content_not_by_excel_row(tmp_path):
    a = Segment(segment="A", margin_per_period=10, retention_rate=0.5).at_row(7)
    b = Segment(segment="A", margin_per_period=10, retention_rate=0.5)
    assert a == b and a.source_row == 7 and b.source_row is None
    sc = Scenario(**_parts(settings=Settings(total_budget=1000, scenario_name="Q1 plan")))
    path = tmp_path / "s.xlsx"
    planner.write_scenario(sc, path)
    assert all(s.source_row is None for s in sc.segments)  # writing does not touch the scenario
    assert planner.read_scenario(path) == sc
