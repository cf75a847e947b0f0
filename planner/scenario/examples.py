"""The bundled example scenarios, built in code.

``scenarios/*.xlsx`` are written from these functions (:func:`write_examples`) and a test
checks that the files and the code agree.

* ``email_upgrade`` — the smallest useful plan: R100 000 of email to 5 000 customers,
  10 % of whom upgrade at R10 000 margin each; the answer (500 upgrades, CAC R200,
  ROI 50) can be checked by hand.
* ``retail_quarterly`` — a retailer's year in quarters: six segments, seven channels,
  acquisition and retention, seasonality, period budgets, channel change limits,
  finance constraints, what-ifs and P10 / P90 ranges on curves and segment values.
* ``subscription_churn`` — a monthly subscription business fighting high churn.
"""

from __future__ import annotations

from collections.abc import Callable

from planner.scenario.models import (
    Channel,
    ConstraintRow,
    Curve,
    Override,
    Period,
    Scenario,
    SeasonalityRow,
    Segment,
    Settings,
)


def _as_in_file(scenario: Scenario) -> Scenario:
    """Give each row the Excel row it has in ``scenarios/<name>.xlsx`` (header on row 1),
    so a scenario read from the bundled file equals the one built here."""
    for field in ("periods", "segments", "channels", "curves", "curve_points", "seasonality",
                  "constraints", "scenarios"):
        for i, row in enumerate(getattr(scenario, field)):
            row.at_row(i + 2)
    return scenario


def email_upgrade() -> Scenario:
    """R100 000 of email to 5 000 customers; 10 % upgrade at R10 000 each.

    One period, one segment, one channel: a linear curve at R200 per upgrade capped at
    500 upgrades (10 % of 5 000), so the plan spends R100 000 for 500 upgrades worth
    R5 000 000 — CAC R200, ROI 50.  The 5 000 customers are the *prospects* for the
    upgrade; an upgrade is worth its margin once (retention 0).
    """
    return _as_in_file(Scenario(
        settings=Settings(scenario_name="Email upgrade", currency="ZAR", periods_per_year=4,
                          annual_discount_rate=0.10, total_budget=100_000),
        periods=[Period(period="Campaign")],
        segments=[Segment(segment="Customers", customers=0, prospects=5_000,
                          margin_per_period=10_000, retention_rate=0.0)],
        channels=[Channel(channel="Email")],
        curves=[Curve(segment="Customers", channel="Email", program="acquisition",
                      curve="linear", a=500, b=200)],
    ))


# Retail: (segment, customers, prospects, margin per quarter, retention per quarter, referral)
_RETAIL_SEGMENTS = [
    ("VIP", 6_000, None, 150.0, 0.93, 0.0),
    ("Loyal", 30_000, None, 55.0, 0.88, 0.0),
    ("App-first", 45_000, None, 30.0, 0.82, 0.02),
    ("Web-first", 60_000, None, 22.0, 0.78, 0.0),
    ("Lapsed", 0, 80_000, 20.0, 0.70, 0.0),
    ("Prospects", 0, 400_000, 18.0, 0.72, 0.05),
]
# (channel, current spend per quarter, max change per quarter, cost per contact,
#  min spend and max spend over the year)
_RETAIL_CHANNELS = [
    ("Email", 30_000, 0.5, 0.05, None, None),
    ("App Push", 15_000, 0.6, 0.01, None, None),
    ("Paid Search", 125_000, 0.3, 0.80, 200_000, None),
    ("Paid Social", 100_000, 0.4, 0.05, None, None),
    ("Direct Mail", 60_000, 0.4, 0.60, None, None),
    ("TV", 90_000, 0.5, None, None, 500_000),
    ("Affiliates", 30_000, 0.5, None, None, None),
]
# (segment, channel, program, curve, a, b, shape): customers per quarter
_RETAIL_CURVES = [
    ("VIP", "Email", "retention", "saturation", 70, 4_000, None),
    ("VIP", "Direct Mail", "retention", "saturation", 110, 25_000, None),
    ("VIP", "App Push", "retention", "log", 25, 800, None),
    ("Loyal", "Email", "retention", "saturation", 500, 12_000, None),
    ("Loyal", "Direct Mail", "retention", "hill", 700, 60_000, 0.9),
    ("Loyal", "Paid Social", "retention", "saturation", 350, 40_000, None),
    ("App-first", "App Push", "retention", "saturation", 900, 8_000, None),
    ("App-first", "Email", "retention", "log", 300, 5_000, None),
    ("App-first", "Paid Social", "retention", "hill", 900, 50_000, 0.8),
    ("Web-first", "Email", "retention", "saturation", 1_100, 15_000, None),
    ("Web-first", "Paid Search", "retention", "power", 1_200, 60_000, 0.6),
    ("Web-first", "Paid Social", "retention", "saturation", 900, 45_000, None),
    ("Lapsed", "Email", "acquisition", "saturation", 900, 10_000, None),
    ("Lapsed", "Direct Mail", "acquisition", "saturation", 2_000, 80_000, None),
    ("Lapsed", "Paid Social", "acquisition", "log", 600, 15_000, None),
    ("Prospects", "Paid Search", "acquisition", "saturation", 6_000, 140_000, None),
    ("Prospects", "Paid Social", "acquisition", "hill", 5_000, 120_000, 0.9),
    ("Prospects", "TV", "acquisition", "saturation", 9_000, 250_000, None),
    ("Prospects", "Affiliates", "acquisition", "power", 2_500, 60_000, 0.7),
    ("App-first", "Paid Social", "acquisition", "saturation", 1_000, 40_000, None),
    ("Web-first", "Paid Search", "acquisition", "saturation", 1_500, 50_000, None),
]

# How sure each channel's curves are (planner risk): a's P10 / P90 are a / (1 + w) and
# a · (1 + w); acquisition curves' b gets half that width.  Margins are known to ±10 %,
# retention to -3 / +2 points.
_RETAIL_WIDTH = {"Email": 0.15, "App Push": 0.2, "Paid Search": 0.15, "Paid Social": 0.25,
                 "Direct Mail": 0.2, "TV": 0.4, "Affiliates": 0.3}


def _retail_curve(s: str, c: str, p: str, k: str, a: float, b: float, sh: float | None) -> Curve:
    w = _RETAIL_WIDTH[c]
    wb = w / 2 if p == "acquisition" else None
    return Curve(segment=s, channel=c, program=p, curve=k, a=a, b=b, shape=sh,
                 a_low=round(a / (1 + w), 2), a_high=round(a * (1 + w), 2),
                 b_low=round(b / (1 + wb), 2) if wb else None, b_high=round(b * (1 + wb), 2) if wb else None)


def _retail_segment(n: str, c: float, p: float | None, m: float, r: float, f: float) -> Segment:
    return Segment(segment=n, customers=c, prospects=p, margin_per_period=m, retention_rate=r,
                   referral_rate=f, margin_low=round(m * 0.9, 2), margin_high=round(m * 1.1, 2),
                   retention_low=round(r - 0.03, 3), retention_high=round(r + 0.02, 3))


def retail_quarterly() -> Scenario:
    """A retailer's next year in quarters: six segments, seven channels, four quarters."""
    periods = [
        Period(period="Q1", budget=380_000, seasonality=0.9),
        Period(period="Q2", budget=400_000, seasonality=0.95),
        Period(period="Q3", budget=420_000, seasonality=1.0),
        Period(period="Q4", budget=560_000, seasonality=1.25),
    ]
    return _as_in_file(Scenario(
        settings=Settings(scenario_name="Retail quarterly plan", currency="USD", periods_per_year=4,
                          annual_discount_rate=0.10, clv_horizon_years=5, total_budget=1_700_000,
                          risk_correlation=0.3),
        periods=periods,
        segments=[_retail_segment(*row) for row in _RETAIL_SEGMENTS],
        channels=[Channel(channel=n, current_spend=cur, max_change=mc, cost_per_contact=cpc,
                          min_spend=lo, max_spend=hi) for n, cur, mc, cpc, lo, hi in _RETAIL_CHANNELS],
        curves=[_retail_curve(*row) for row in _RETAIL_CURVES],
        seasonality=[
            SeasonalityRow(channel="TV", period="Q4", multiplier=1.5),
            SeasonalityRow(channel="Direct Mail", period="Q4", multiplier=1.35),
            SeasonalityRow(channel="Paid Search", period="Q1", multiplier=0.85),
        ],
        constraints=[
            ConstraintRow(name="TV at most 15% of spend", metric="share", sense="<=", value=0.15, channel="TV"),
            ConstraintRow(name="Prospect CAC ceiling", metric="cac", sense="<=", value=30,
                          segment="Prospects", program="acquisition"),
            ConstraintRow(name="Contact pressure", metric="contacts_per_customer", sense="<=", value=30,
                          segment="each", program="retention"),
            ConstraintRow(name="New customer floor", metric="new_customers", sense=">=", value=25_000),
            ConstraintRow(name="Retention at least 20% of spend", metric="share", sense=">=", value=0.20,
                          program="retention"),
        ],
        scenarios=[
            Override(scenario="Budget +20%", target="total_budget", operation="scale", value=1.2),
            Override(scenario="Budget +20%", target="period:*:budget", operation="scale", value=1.2),
            Override(scenario="Email costs up", target="curve:*:Email:*:b", operation="scale", value=1.3),
            Override(scenario="TV capped", target="channel:TV:max_spend", operation="set", value=200_000),
        ],
    ))


def subscription_churn() -> Scenario:
    """A monthly subscription business with high churn: winning back is as urgent as winning."""
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    seasonal = [1.15, 1.0, 0.95, 0.9, 0.9, 0.95]
    return _as_in_file(Scenario(
        settings=Settings(scenario_name="Subscription churn", currency="EUR", periods_per_year=12,
                          annual_discount_rate=0.12, clv_horizon_years=3, total_budget=900_000),
        periods=[Period(period=m, seasonality=z) for m, z in zip(months, seasonal, strict=True)],
        segments=[
            Segment(segment="New subscribers", customers=12_000, margin_per_period=9.0, retention_rate=0.80),
            Segment(segment="Monthly plan", customers=60_000, margin_per_period=11.0, retention_rate=0.90),
            Segment(segment="Annual plan", customers=25_000, margin_per_period=9.5, retention_rate=0.97),
            Segment(segment="Trialists", customers=0, prospects=600_000, margin_per_period=10.0,
                    retention_rate=0.85, referral_rate=0.03),
            Segment(segment="Churned", customers=0, prospects=150_000, margin_per_period=10.0,
                    retention_rate=0.82),
        ],
        channels=[
            Channel(channel="Paid Search", current_spend=45_000, max_change=0.4),
            Channel(channel="Paid Social", current_spend=40_000, max_change=0.5),
            Channel(channel="Affiliates", current_spend=15_000, max_change=0.5),
            Channel(channel="Email", current_spend=7_000, max_change=1.0, cost_per_contact=0.02),
            Channel(channel="In-app", current_spend=5_000, max_change=1.0, cost_per_contact=0.02),
            Channel(channel="Call centre", current_spend=14_000, max_change=0.5, cost_per_contact=4.0),
        ],
        curves=[
            Curve(segment="Trialists", channel="Paid Search", program="acquisition", curve="saturation", a=2_600, b=45_000),
            Curve(segment="Trialists", channel="Paid Social", program="acquisition", curve="hill", a=3_000, b=60_000, shape=0.85),
            Curve(segment="Trialists", channel="Affiliates", program="acquisition", curve="saturation", a=1_200, b=25_000),
            Curve(segment="Churned", channel="Email", program="acquisition", curve="saturation", a=500, b=4_000),
            Curve(segment="Churned", channel="Paid Social", program="acquisition", curve="log", a=400, b=8_000),
            Curve(segment="New subscribers", channel="Email", program="retention", curve="saturation", a=400, b=2_500),
            Curve(segment="New subscribers", channel="In-app", program="retention", curve="saturation", a=450, b=3_000),
            Curve(segment="Monthly plan", channel="Email", program="retention", curve="saturation", a=600, b=5_000),
            Curve(segment="Monthly plan", channel="In-app", program="retention", curve="log", a=250, b=2_000),
            Curve(segment="Monthly plan", channel="Call centre", program="retention", curve="power", a=700, b=40_000, shape=0.7),
            Curve(segment="Annual plan", channel="Call centre", program="retention", curve="saturation", a=200, b=15_000),
            Curve(segment="Annual plan", channel="Email", program="retention", curve="saturation", a=120, b=2_000),
        ],
        constraints=[
            ConstraintRow(name="Acquisition CAC ceiling", metric="cac", sense="<=", value=60, program="acquisition"),
            ConstraintRow(name="Call centre capacity", metric="spend", sense="<=", value=20_000,
                          channel="Call centre", period="each"),
            ConstraintRow(name="Contact pressure", metric="contacts_per_customer", sense="<=", value=10,
                          segment="each", program="retention"),
        ],
        scenarios=[
            Override(scenario="Budget -25%", target="total_budget", operation="scale", value=0.75),
            Override(scenario="Churn worse", target="segment:*:retention_rate", operation="add", value=-0.03),
        ],
    ))


#: File stem in ``scenarios/`` → builder.
EXAMPLES: dict[str, Callable[[], Scenario]] = {
    "email_upgrade": email_upgrade,
    "retail_quarterly": retail_quarterly,
    "subscription_churn": subscription_churn,
}
