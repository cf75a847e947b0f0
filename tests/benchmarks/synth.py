"""Synthetic scenarios for the performance suite (seeded, realistic, concave).

Three sizes (segments × channels × 2 programs × 4 quarters):

=======  ========  ========  =====  ============
size     segments  channels  cells  cell-periods
=======  ========  ========  =====  ============
small    10        5         100    400
medium   50        10        1000   4000
large    200       20        8000   32000
=======  ========  ========  =====  ============

xl (1 000 segments × 40 channels, 320 000 cell-periods) is the issue-18 scale test.

Variants:

* ``budget`` — only the total budget can bind (no period budgets, no bounds, no
  constraints, no prospects caps, retention curves that cannot exhaust the customers at
  risk), so the exact greedy fill is the reference optimum.
* ``constrained`` — period budgets, channel minimum and maximum spend, a share-of-spend
  ceiling per quarter, a CAC ceiling, contacts-per-customer caps per segment and quarter
  and prospects caps, on top of the same curves.
* ``dynamics`` (:func:`dynamics`) — saturation curves whose retention can save every
  customer at risk, so the at-risk caps bind and link the quarters.

:func:`many_channels` is one segment with hundreds of channels and its exact KKT allocation.

Curves mix the concave families planners fit in practice: mostly saturation and hill
(shape ≤ 1), some log, power with a per-period ``max_spend``, linear cost-per-customer with
a cap and a few hand-drawn ``points`` curves.  Each cell's first-unit ROI lies between
about 1.5 and 12, so the budget is spread over many cells rather than a handful.
"""

from __future__ import annotations

import numpy as np

from planner.core.curves import CurveSet, derivative
from planner.core.scenario_arrays import Index
from planner.scenario.models import (
    Channel,
    ConstraintRow,
    Curve,
    CurvePoint,
    Period,
    Scenario,
    SeasonalityRow,
    Segment,
    Settings,
)

SIZES: dict[str, tuple[int, int]] = {"small": (10, 5), "medium": (50, 10), "large": (200, 20), "xl": (1000, 40)}
PERIODS = ("Q1", "Q2", "Q3", "Q4")
SEASONALITY = (1.0, 0.9, 1.05, 1.25)
CHANNEL_NAMES = ("Email", "Paid Search", "Paid Social", "Direct Mail", "App Push", "TV", "Display",
                 "Affiliate", "SMS", "Radio", "Outdoor", "Podcast", "Influencer", "Print", "Call Centre",
                 "Video", "Retail Media", "Sponsorship", "Partnerships", "Events")


def _channels(n: int) -> list[str]:
    names = list(CHANNEL_NAMES[:n])
    names += [f"Channel {i + 1}" for i in range(len(names), n)]
    return names


def scenario(size: str, variant: str = "budget", seed: int = 7) -> Scenario:
    """A synthetic scenario of ``size`` (small, medium, large) and ``variant``
    (``budget``, ``constrained`` or ``dynamics``), identical for identical arguments."""
    if variant == "dynamics":
        return dynamics(size, seed)
    n_seg, n_ch = SIZES[size]
    rng = np.random.default_rng(seed)
    channels = _channels(n_ch)
    seg_names = [f"Segment {i + 1:03d}" for i in range(n_seg)]

    customers = np.round(rng.lognormal(np.log(20_000), 0.8, n_seg))
    margin = np.round(rng.uniform(4, 60, n_seg), 2)
    retention = np.round(rng.uniform(0.6, 0.95, n_seg), 3)
    referral = np.round(rng.uniform(0.0, 0.15, n_seg), 3)
    ch_scale = rng.lognormal(0.0, 0.5, n_ch)          # some channels are dearer than others
    season = rng.uniform(0.8, 1.25, (n_ch, len(PERIODS)))

    st = {"total_budget": 1.0, "periods_per_year": 4, "annual_discount_rate": 0.08,
          "scenario_name": f"synthetic {size} {variant}", "currency": "EUR"}
    periods = [Period(period=p, seasonality=s) for p, s in zip(PERIODS, SEASONALITY, strict=True)]
    segments = [Segment(segment=seg_names[i], customers=float(customers[i]), margin_per_period=float(margin[i]),
                        retention_rate=float(retention[i]), referral_rate=float(referral[i]))
                for i in range(n_seg)]
    chans = [Channel(channel=c, cost_per_contact=round(float(rng.uniform(0.05, 2.0)), 3)) for c in channels]
    base = Scenario(settings=Settings(**st), periods=periods, segments=segments, channels=chans,
                    curves=[Curve(segment=seg_names[0], channel=channels[0], program="acquisition",
                                  curve="linear", b=1.0)])
    ix = Index.build(base)
    va, vr = ix.va.max(axis=1), ix.vr.max(axis=1)   # value of a customer (upper end over quarters)
    sig_max = ix.sigma.max() * season.max()

    curves: list[Curve] = []
    points: list[CurvePoint] = []
    kinds = rng.choice(["saturation", "hill", "log", "power", "linear", "points"],
                       size=(n_seg, n_ch, 2), p=[0.42, 0.25, 0.12, 0.08, 0.08, 0.05])
    roi0 = rng.uniform(1.5, 12.0, (n_seg, n_ch, 2))  # value of the first unit of money
    for s in range(n_seg):
        at_risk = (1 - retention[s]) * customers[s] * retention[s] ** (len(PERIODS) - 1)
        for c in range(n_ch):
            for p, prog in enumerate(("acquisition", "retention")):
                value = va[s] if p == 0 else vr[s]
                kind = str(kinds[s, c, p])
                if prog == "retention" and kind not in ("saturation", "hill"):
                    kind = "saturation"   # bounded, so the customers at risk are never exhausted
                if prog == "retention":
                    a = float(rng.uniform(0.15, 0.9) * at_risk / (n_ch * sig_max))
                else:
                    a = float(customers[s] * rng.uniform(0.002, 0.05) * ch_scale[c] ** -0.5)
                a = max(a, 1.0)
                slope0 = roi0[s, c, p] / value             # customers per unit at the start
                name = dict(segment=seg_names[s], channel=channels[c], program=prog)
                if kind == "saturation":
                    curves.append(Curve(**name, curve=kind, a=round(a, 3), b=round(a / slope0, 2)))
                elif kind == "hill":
                    shape = round(float(rng.uniform(0.55, 1.0)), 3)
                    # hill's slope is infinite at 0 for shape < 1: put b where the average ROI is roi0
                    curves.append(Curve(**name, curve=kind, a=round(a, 3), b=round(2 * a / slope0, 2), shape=shape))
                elif kind == "log":
                    b = a / slope0 / 3
                    curves.append(Curve(**name, curve=kind, a=round(a / 3, 3), b=round(b, 2)))
                elif kind == "power":
                    shape = round(float(rng.uniform(0.35, 0.8)), 3)
                    b = a / slope0
                    curves.append(Curve(**name, curve=kind, a=round(a, 3), b=round(b, 2), shape=shape,
                                        max_spend=round(6 * b, 2)))
                elif kind == "linear":
                    cpa = 1.6 / slope0            # linear: pays ROI0/1.6 on every unit until the cap
                    curves.append(Curve(**name, curve=kind, a=round(a / 2, 3), b=round(cpa, 4)))
                else:
                    curves.append(Curve(**name, curve="points"))
                    xs = np.array([0.3, 0.8, 1.6, 3.0]) * a / slope0
                    ys = a * np.array([0.28, 0.55, 0.78, 0.92])
                    points += [CurvePoint(**name, spend=round(float(x), 2), customers=round(float(y), 3))
                               for x, y in zip(xs, ys, strict=True)]

    seasonality = [SeasonalityRow(channel=channels[c], period=PERIODS[t],
                                  multiplier=round(float(season[c, t] * SEASONALITY[t]), 3))
                   for c in range(n_ch) for t in range(len(PERIODS))]
    sc = Scenario(settings=Settings(**st), periods=periods, segments=segments, channels=chans,
                  curves=curves, curve_points=points, seasonality=seasonality)
    total = _budget_at_roi_one(sc)
    budget = float(round(0.55 * total, -3))
    sc = sc.model_copy(update={"settings": sc.settings.model_copy(update={"total_budget": budget})})
    if variant == "budget":
        return Scenario.model_validate(sc.model_dump())
    if variant != "constrained":
        raise ValueError(f"unknown variant {variant!r}")
    return _constrain(sc, rng)


def dynamics(size: str, seed: int = 7) -> Scenario:
    """The *dynamics* variant: saturation curves only, segments of 1 000–50 000 customers
    with retention 0.5–0.9, and retention curves that can each save every customer at risk,
    so the at-risk caps bind and customer dynamics link the quarters (issue 18, case 1)."""
    n_seg, n_ch = SIZES[size]
    rng = np.random.default_rng(seed)
    channels = _channels(n_ch)
    seg_names = [f"Segment {i + 1:03d}" for i in range(n_seg)]
    customers = np.round(rng.uniform(1_000, 50_000, n_seg))
    retention = np.round(rng.uniform(0.5, 0.9, n_seg), 3)
    margin = np.round(rng.uniform(4, 60, n_seg), 2)
    segments = [Segment(segment=seg_names[i], customers=float(customers[i]), margin_per_period=float(margin[i]),
                        retention_rate=float(retention[i])) for i in range(n_seg)]
    st = Settings(total_budget=1.0, periods_per_year=4, annual_discount_rate=0.08, currency="EUR",
                  scenario_name=f"synthetic {size} dynamics")
    periods = [Period(period=p) for p in PERIODS]
    life = margin / (1 - retention / 1.02)
    curves = []
    for s in range(n_seg):
        at_risk = (1 - retention[s]) * customers[s]
        for c in range(n_ch):
            for prog in ("acquisition", "retention"):
                a = at_risk * rng.uniform(1.0, 2.0) if prog == "retention" else customers[s] * rng.uniform(0.01, 0.05)
                roi0 = rng.uniform(1.5, 12.0)
                b = a * life[s] / roi0
                curves.append(Curve(segment=seg_names[s], channel=channels[c], program=prog, curve="saturation",
                                    a=round(float(a), 3), b=round(float(b), 2)))
    sc = Scenario(settings=st, periods=periods, segments=segments,
                  channels=[Channel(channel=c) for c in channels], curves=curves)
    # the at-risk caps stop spend at about a fifth of the budget-free optimum's: a tenth of
    # it makes the budget bind too (measured on medium and large)
    budget = float(round(0.1 * _budget_at_roi_one(sc), -3))
    return sc.model_copy(update={"settings": st.model_copy(update={"total_budget": budget})})


def many_channels(n_ch: int = 500, seed: int = 7) -> tuple[Scenario, np.ndarray]:
    """The *many channels* variant: one segment, ``n_ch`` saturation acquisition channels,
    one period, only the budget binds.  Returns the scenario and the exact KKT allocation
    ``x_i = b_i·ln(M·a_i / (λ·b_i))`` (``λ`` by bisection so that the spends meet the budget)."""
    rng = np.random.default_rng(seed)
    M = 100.0
    a = np.round(rng.uniform(50, 500, n_ch), 3)
    b = np.round(rng.uniform(1_000, 20_000, n_ch), 2)
    slope0 = M * a / b                       # value of the first unit in each channel
    total_at_one = float(np.sum(b * np.log(np.maximum(slope0, 1.0))))
    budget = float(round(0.5 * total_at_one, -2))
    lo, hi = 0.0, float(slope0.max())
    for _ in range(200):
        lam = 0.5 * (lo + hi)
        x = b * np.log(np.maximum(slope0 / lam, 1.0))
        lo, hi = (lam, hi) if x.sum() > budget else (lo, lam)
    exact = b * np.log(np.maximum(slope0 / (0.5 * (lo + hi)), 1.0))
    sc = Scenario(
        settings=Settings(total_budget=budget, periods_per_year=1, annual_discount_rate=0.0, currency="EUR",
                          objective="value", scenario_name=f"synthetic {n_ch} channels"),
        segments=[Segment(segment="S", customers=0, margin_per_period=M, retention_rate=0)],
        channels=[Channel(channel=f"C{i:03d}") for i in range(n_ch)],
        curves=[Curve(segment="S", channel=f"C{i:03d}", program="acquisition", curve="saturation",
                      a=float(a[i]), b=float(b[i])) for i in range(n_ch)])
    return sc, exact


def _budget_at_roi_one(sc: Scenario) -> float:
    """Total spend of the unconstrained net-value optimum (every cell at marginal ROI 1),
    by bisection on the real curves: the budget is then set below it so it binds."""
    ix = Index.build(sc.model_copy(update={"settings": sc.settings.model_copy(update={"total_budget": 1e12})}))
    cs: CurveSet = ix.curves
    cell = ix.kt_cell
    gain = ix.kt_value * ix.kt_sigma / ix.kt_discount
    lo = np.zeros(len(cell))
    hi = np.full(len(cell), 1.0)
    for _ in range(60):  # grow hi until the marginal ROI there is below 1
        more = gain * derivative(cs, cell, hi) > 1
        if not more.any():
            break
        hi = np.where(more, hi * 4, hi)
    cap = np.array([np.inf if c.max_spend is None else c.max_spend for c in sc.curves])[cell]
    hi = np.minimum(hi, cap)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        up = gain * derivative(cs, cell, mid) > 1
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    return float(hi.sum())


def _constrain(sc: Scenario, rng: np.random.Generator) -> Scenario:
    """Add the constraints a finance team sets (all feasible by construction)."""
    budget = sc.settings.total_budget
    channels = [c.channel for c in sc.channels]
    n_ch = len(channels)
    periods = [p.model_copy(update={"budget": round(budget * f, -2)})
               for p, f in zip(sc.periods, (0.22, 0.24, 0.26, 0.30), strict=True)]
    chans = list(sc.channels)
    # a floor on the first channel (contracted), a ceiling on the second and third
    chans[0] = chans[0].model_copy(update={"min_spend": round(0.03 * budget, -2)})
    chans[1] = chans[1].model_copy(update={"max_spend": round(0.8 * budget / n_ch, -2)})
    chans[2] = chans[2].model_copy(update={"max_spend": round(1.2 * budget / n_ch, -2)})
    segs = [s.model_copy(update={"prospects": round(float(s.customers) * float(rng.uniform(0.3, 1.5)))})
            for s in sc.segments]
    cons = [
        ConstraintRow(name="TV share", metric="share", sense="<=", value=0.08, channel=channels[min(5, n_ch - 1)],
                      period="each"),
        ConstraintRow(name="Blended CAC", metric="cac", sense="<=", value=_cac_limit(sc), program="acquisition"),
        ConstraintRow(name="Contact pressure", metric="contacts_per_customer", sense="<=", value=3.0),
    ]
    return Scenario.model_validate({**sc.model_dump(), "periods": [p.model_dump() for p in periods],
                                    "channels": [c.model_dump() for c in chans],
                                    "segments": [s.model_dump() for s in segs],
                                    "constraints": [k.model_dump() for k in cons]})


def _cac_limit(sc: Scenario) -> float:
    """A CAC ceiling somewhat below what the unconstrained plan's average would be."""
    values = [s.margin_per_period / (1 - s.retention_rate / 1.02) for s in sc.segments]
    return round(float(np.median(values)) * 0.35, 2)
