"""The spend a plan reports: the solver's round-off removed (:func:`clean_spend`) and
spend-only rows it left broken within its tolerance met exactly (:func:`snap_to_rows`)."""

from __future__ import annotations

import numpy as np

from planner.core.rows import Float, FrozenRows
from planner.core.scenario_arrays import Index
from planner.engine.real_customers import true_customers

#: spend a solver may leave in a column by its feasibility tolerance alone (HiGHS's primal
#: feasibility tolerance); a curve with an infinite slope at 0 would count customers for it
SPEND_DUST = 1e-6  # the smallest spend planner represents (points knots below it are refused)


def clean_spend(spend: Float, ix: Index | None = None) -> Float:
    """Spend with the solver's round-off set to zero, so that no customers and no ratio (a
    share, a CAC) are reported for money that was never spent: amounts below
    ``SPEND_DUST`` (or 1e-6 of the plan's total spend, where that is smaller: a plan of 0.03 keeps
    its 4e-7, which a share ceiling counts) or below 1e-9 of the plan's total.  Not relative to the budget: a plan
    far below its budget keeps every real amount (zeroing a real 1e-5 of a 0.3 plan on a
    budget of 18 000 broke its share ceiling by 1e-5).  With ``ix``, an amount that buys
    a hundredth of a customer or more (or, in a plan buying less than 10 000 customers,
    1e-6 of its customers; and 1e-9 of the plan's, after the caps) is never round-off,
    however small (a hill curve of shape 0.3 saves a customer for 3.5e-8; a total spend
    limit of 1e-6 buys 0.01 customer, 13 % of it in one quarter), unless it breaks a limit
    on spend (:func:`snap_to_rows`)."""
    return _clean(spend, ix)[0]


def clean_spend_customers(spend: Float, ix: Index) -> tuple[Float, Float]:
    """:func:`clean_spend` and the real-curve customers of the cleaned spend (counted once
    where nothing is cut)."""
    real, bought = _clean(spend, ix)
    return real, (true_customers(ix, real)[0] if bought is None else bought)


def _clean(spend: Float, ix: Index | None) -> tuple[Float, Float | None]:
    """(the cleaned spend, its customers where they were counted and nothing was cut)"""
    total = float(np.abs(spend).sum())
    cut = (spend <= max(min(SPEND_DUST, 1e-6 * total), 1e-9 * total)) & (spend != 0)
    if ix is None or not cut.any():
        return spend, None
    bought, _ = true_customers(ix, spend)  # customers as reported: a binding cap scales them away
    total = float(bought.sum())
    cut &= bought <= max(min(1e-2, 1e-6 * total), 1e-9 * total)
    return (np.where(cut, 0.0, spend), None) if cut.any() else (spend, bought)


#: amounts at most this share of the budget are within the LP's feasibility tolerance
SNAP = 1e-9


def snap_to_rows(ix: Index, rows: FrozenRows, spend: Float) -> Float:
    """Spend with the amounts the LP's feasibility tolerance cannot tell from 0 (at most
    ``SNAP`` of the budget) set to 0 where they break an upper limit on spend alone: a
    share ceiling that one channel can meet only by spending nothing is met by a few 1e-9
    of money within the tolerance, which a curve with an infinite first slope turns into
    whole customers.  A row still broken by no more than the LP's absolute tolerance (a
    share ceiling on 2e-5 of money, off by 3e-10: 8e-6 of the share) is met by scaling down
    the cells that push it up (:func:`_shrink_into`).  Mending one row can break another
    (shares of 25 % on each of three channels allow only a plan of nothing: cutting one
    channel's 1e-8 raises the other's share), so the passes repeat on what is broken then,
    until nothing is or a pass changes nothing."""
    if not len(rows) or not spend.any():
        return spend
    out = spend
    for _ in range(SNAP_PASSES):
        broken = _broken(ix, rows, out)
        if not broken.any():
            break
        before = out
        out = _snap_pass(ix, rows, out, broken)
        if np.array_equal(out, before):
            break
    return out


#: passes of :func:`snap_to_rows` at most (each mends or zeroes at least one amount)
SNAP_PASSES = 8


def _upper(rows: FrozenRows) -> Float:
    return np.where(rows.sense == ">=", np.inf, rows.rhs)


def _broken(ix: Index, rows: FrozenRows, spend: Float) -> np.ndarray:
    """Upper limits on spend alone that ``spend`` breaks by more than round-off of its size."""
    n = len(rows)
    aux = np.bincount(ix.kt_t, weights=spend, minlength=ix.P) if len(rows.aux_row) else np.zeros(0)
    act = rows.activity(spend, np.zeros_like(spend), aux)
    gross = np.zeros(n)  # the row's size at this plan: a share is broken by a share of it
    np.add.at(gross, rows.e_row, np.abs(rows.e_spend * spend[rows.e_kt]))
    if len(rows.aux_row):
        np.add.at(gross, rows.aux_row, np.abs(rows.aux_coef * aux[rows.aux_col]))
    on_customers = np.zeros(n, dtype=bool)
    on_customers[rows.e_row[rows.e_cust != 0]] = True
    slack = 1e-6 * gross + 1e-15 * np.abs(rows.rhs)  # relative: a limit of 1e-85 is one
    excess = act - _upper(rows)
    return ~on_customers & (excess > slack)


def _snap_pass(ix: Index, rows: FrozenRows, spend: Float, broken: np.ndarray) -> Float:
    """One pass: rows broken within the LP's absolute tolerance are mended pro rata; the
    tiny amounts that push a row still broken go."""
    upper = _upper(rows)
    aux = np.bincount(ix.kt_t, weights=spend, minlength=ix.P) if len(rows.aux_row) else np.zeros(0)
    act = rows.activity(spend, np.zeros_like(spend), aux)
    out = spend.copy()
    mendable = np.flatnonzero(broken & (act - upper <= FEASIBILITY_TOL * (1.0 + np.abs(rows.rhs))))
    for r in mendable:
        out = _shrink_into(ix, rows, out, int(r), float(upper[r]))
    if len(mendable):  # what that cannot mend (a ceiling met only by spending nothing, or
        broken = _broken(ix, rows, out)  # a row the mending broke): the tiny amounts go
    tiny = (out > 0) & (out <= SNAP * max(1.0, float(ix.scenario.settings.total_budget)))
    hit = broken[rows.e_row] & (rows.e_spend > 0) & tiny[rows.e_kt]
    out[rows.e_kt[hit]] = 0.0
    return out


#: a row broken by no more is the solver's round-off, mended pro rata: HiGHS's absolute
#: primal feasibility tolerance is 1e-7, but on its internally scaled LP a 50 % share of
#: 0.003 of money came back broken by 2e-7 (deep run 7)
FEASIBILITY_TOL = 1e-6


def _shrink_into(ix: Index, rows: FrozenRows, spend: Float, r: int, upper: float) -> Float:
    """``spend`` with the cells of positive net coefficient in spend-only row ``r`` scaled
    down so that the row meets ``upper`` (its terms, and its total-spend columns spread over
    their periods' cells)."""
    net = np.zeros(len(spend))
    m = rows.e_row == r
    np.add.at(net, rows.e_kt[m], rows.e_spend[m])
    a = rows.aux_row == r
    if a.any():
        per_period = np.zeros(ix.P)
        np.add.at(per_period, rows.aux_col[a], rows.aux_coef[a])
        net += per_period[ix.kt_t]
    push = (net > 0) & (spend > 0)
    up = float(net[push] @ spend[push])
    excess = float(net @ spend) - upper
    if up <= 0 or excess <= 0 or excess >= up:
        return spend
    out = spend.copy()
    out[push] *= 1.0 - excess / up
    return out
