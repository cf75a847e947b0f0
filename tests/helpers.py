"""Small scenario builders shared by the tests (hand-solvable by design)."""

from __future__ import annotations

from typing import Any

from planner.scenario.models import (
    Channel,
    ConstraintRow,
    Curve,
    Period,
    Scenario,
    Segment,
    Settings,
)


def settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {"total_budget": 100_000, "periods_per_year": 1, "annual_discount_rate": 0.0}
    base.update(kw)
    return Settings(**base)


def saturation_scenario(a: list[float], b: list[float], *, value: float = 100.0, budget: float = 60_000,
                        constraints: list[ConstraintRow] | None = None, **kw: Any) -> Scenario:
    """One segment worth ``value`` per customer (one period, no retention, no discounting),
    one saturation acquisition curve per channel."""
    n = len(a)
    return Scenario(
        settings=settings(total_budget=budget, **kw),
        segments=[Segment(segment="S", customers=0, margin_per_period=value, retention_rate=0)],
        channels=[Channel(channel=f"C{i}") for i in range(n)],
        curves=[Curve(segment="S", channel=f"C{i}", program="acquisition", curve="saturation", a=a[i], b=b[i])
                for i in range(n)],
        constraints=constraints or [],
    )


def quarterly_scenario(**kw: Any) -> Scenario:
    """Two segments, three channels, four quarters, acquisition and retention."""
    st = {"total_budget": 200_000, "periods_per_year": 4, "annual_discount_rate": 0.1}
    st.update(kw.pop("settings", {}))
    return Scenario(
        settings=Settings(**st),
        periods=[Period(period=f"Q{i + 1}", budget=kw.pop(f"q{i + 1}", None), seasonality=[1, 0.9, 1.1, 1.3][i])
                 for i in range(4)],
        segments=[
            Segment(segment="VIP", customers=2000, prospects=500, margin_per_period=120, retention_rate=0.9,
                    referral_rate=0.1),
            Segment(segment="Mass", customers=20000, margin_per_period=20, retention_rate=0.7),
        ],
        channels=[
            Channel(channel="Email", cost_per_contact=0.5, current_spend=5000, max_change=0.5),
            Channel(channel="Search", max_spend=80_000),
            Channel(channel="TV", min_spend=10_000),
        ],
        curves=[
            Curve(segment="VIP", channel="Email", program="retention", curve="saturation", a=150, b=3000),
            Curve(segment="Mass", channel="Email", program="retention", curve="log", a=300, b=2000),
            Curve(segment="VIP", channel="Search", program="acquisition", curve="hill", a=200, b=20000, shape=0.8),
            Curve(segment="Mass", channel="Search", program="acquisition", curve="power", a=400, b=10000, shape=0.6),
            Curve(segment="Mass", channel="TV", program="acquisition", curve="saturation", a=2000, b=60000),
        ],
        constraints=kw.pop("constraints", []),
    )
