"""Customer value math and response curves against hand computations and dense sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.core.chords import chord_bands, densify
from planner.core.curves import CurveSet, derivative
from planner.core.curves import response as evaluate
from planner.core.value import (
    active_customers,
    discount_factors,
    lifetime_value,
    period_rate,
)


def test_period_rate_and_discounting_quarterly():
    delta = period_rate(0.10, 4)
    assert delta == pytest.approx(1.10 ** 0.25 - 1, rel=1e-12)
    d = discount_factors(4, delta)
    # start-of-period: d_4 is one year out
    assert d[0] == 1.0
    assert d[4] == pytest.approx(1 / 1.10, rel=1e-12)


def test_lifetime_value_finite_and_unlimited_horizon_by_hand():
    # m=100, r=0.8, δ=0.05: q = 0.8/1.05
    q = 0.8 / 1.05
    by_hand_3 = 100 * (1 + q + q**2)
    assert lifetime_value(100, 0.8, 0.05, horizon=3).item() == pytest.approx(by_hand_3, rel=1e-12)
    assert lifetime_value(100, 0.8, 0.05).item() == pytest.approx(100 / (1 - q), rel=1e-12)


def test_active_customers_dynamics_by_hand():
    r = np.array([0.5])
    A = np.array([[10.0, 0.0, 0.0]])
    R = np.array([[4.0, 2.0, 0.0]])
    N = active_customers([100.0], r, A, R)
    # t0: 100; t1: 50 + 10*0.5 + 4; t2: 25 + 10*0.25 + 4*0.5 + 2
    assert N.ravel().tolist() == pytest.approx([100, 59, 31.5])


def test_active_customers_with_zero_retention_keeps_only_saved_from_last_period():
    N = active_customers([100.0], np.array([0.0]), np.array([[10.0, 5.0]]), np.array([[3.0, 0.0]]))
    assert N.ravel().tolist() == pytest.approx([100, 3])


CURVES = CurveSet.build(
    ["linear", "saturation", "hill", "log", "power", "points", "hill", "power"],
    [30, 100, 50, 20, 10, None, 80, 5],
    [10, 1000, 500, 200, 100, None, 300, 50],
    [None, None, 0.7, None, 0.5, None, 2.5, 1.5],
    {5: [(100, 10), (300, 20), (600, 25)]},
)


def test_curve_values_match_formulas():
    x = np.full(8, 400.0)
    f = evaluate(CURVES, np.arange(8), x)
    assert f[0] == pytest.approx(min(30, 400 / 10))
    assert f[1] == pytest.approx(100 * (1 - np.exp(-0.4)))
    assert f[2] == pytest.approx(50 * 400**0.7 / (400**0.7 + 500**0.7))
    assert f[3] == pytest.approx(20 * np.log(3))
    assert f[4] == pytest.approx(10 * 4**0.5)
    assert f[5] == pytest.approx(20 + 5 * 100 / 300)
    assert evaluate(CURVES, [5], [10_000.0])[0] == pytest.approx(25)  # flat after the last point


def test_derivatives_match_finite_differences():
    x = np.linspace(50, 2000, 40)
    for k in [1, 2, 3, 4, 6, 7]:
        h = 1e-4
        fd = (evaluate(CURVES, np.full(40, k), x + h) - evaluate(CURVES, np.full(40, k), x - h)) / (2 * h)
        np.testing.assert_allclose(derivative(CURVES, np.full(40, k), x), fd, rtol=1e-5)


def test_concavity_detection():
    assert CURVES.concave().tolist() == [True, True, True, True, True, True, False, False]
    convex_points = CurveSet.build(["points"], [None], [None], [None], {0: [(100, 1), (200, 10)]})
    assert not convex_points.concave()[0]


def _dense_gap(cs: CurveSet, bands, k: int, cap: float) -> float:
    m = bands.cell == k
    xs = np.linspace(0, cap, 100_001)
    bz = np.r_[bands.lo[m], cap]
    chord = np.interp(xs, bz, evaluate(cs, np.full(len(bz), k), bz))
    return float(np.abs(evaluate(cs, np.full(len(xs), k), xs) - chord).max())


def test_chord_bands_meet_tolerance_and_error_is_exact():
    cap = np.array([5000, 5000, 5000, 5000, 5000, 800, 3000, 400.0])
    tol = 0.001
    bands = chord_bands(CURVES, cap, tol)
    fcap = evaluate(CURVES, np.arange(8), cap)
    err = bands.cell_error(8)
    assert (err <= tol * fcap * (1 + 1e-9)).all()
    for k in range(8):
        # the reported error is the real largest gap (dense sampling can only find less)
        assert _dense_gap(CURVES, bands, k, cap[k]) <= err[k] * (1 + 1e-6) + 1e-12
        assert _dense_gap(CURVES, bands, k, cap[k]) >= err[k] * 0.99 - 1e-12
    # linear and points curves are exact
    assert err[0] == 0 and err[5] == 0


@settings(max_examples=30, deadline=None)
@given(
    a=st.floats(1, 1e5), b=st.floats(1, 1e6), s=st.floats(0.2, 1.0),
    cap_mult=st.floats(0.01, 50), tol=st.sampled_from([0.05, 0.01, 0.001]),
    kind=st.sampled_from(["saturation", "hill", "log", "power"]),
)
def test_chord_bands_property(a, b, s, cap_mult, tol, kind):
    cs = CurveSet.build([kind], [a], [b], [s])
    cap = np.array([b * cap_mult])
    bands = chord_bands(cs, cap, tol)
    f = evaluate(cs, [0], cap)[0]
    assert bands.err.max() <= tol * f * (1 + 1e-9)
    assert np.all(np.diff(bands.slope) <= 1e-12 * (1 + bands.slope[:-1]))  # concave: slopes fall
    assert bands.width.sum() == pytest.approx(cap[0], rel=1e-9)


def test_densify_adds_breakpoints_at_chosen_spend():
    cap = np.array([5000.0] * 8)
    bands = chord_bands(CURVES, cap, 0.01)
    finer = densify(CURVES, bands, np.array([1]), np.array([1234.5]))
    assert len(finer) > len(bands)
    _, z = finer.breakpoints()
    assert np.isclose(z, 1234.5).any()
    assert finer.err[finer.cell == 1].max() <= bands.err[bands.cell == 1].max()
