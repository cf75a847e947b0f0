"""The exact fill where only the total budget can bind: one price, found by bisection.

With concave curves and every other row provably slack, the optimum spends each
cell-period where its marginal value equals the budget's price ``λ``
(``x_kt = argmax c1·σ·f(x) − (c2 + λ)·x``, closed forms per curve family:
:class:`~planner.engine.certificate.Responder`), and ``λ`` makes the spends meet the budget.
That is the exact KKT allocation on the real curves, not on chords: per cell, not only in
the objective.  Cells whose spend jumps at ``λ`` (linear and points curves, ties) share the
last amount in proportion, as a greedy fill would.  The result is handed on as a per
cell-period model with a breakpoint at the chosen spend, so the evaluation, the
certificate (the Lagrangian bound at ``λ``) and the report treat it like any solve.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from planner.core.linear_program import Model
from planner.core.types import Float
from planner.engine.certificate import Responder
from planner.engine.refinement import Refined
from planner.engine.windows import grid_bands
from planner.engine.workspace import Workspace
from planner.solvers import Solution, Status, check
from planner.solvers.greedy import greedy_exact

#: steps on the budget's price at most (each one evaluation of every cell's best spend)
PRICE_STEPS = 80
#: the price search stops once its bracket's two spends differ by this share of the budget
SPREAD = 1e-10
#: ... or once its bracket's two prices differ by this share of the price
PRICE_RESOLUTION = 1e-10
#: spends at this many prices are kept between the budgets of a sweep
KEPT_PRICES = 4


def applies(ws: Workspace, budget: float) -> Model | None:
    """The one-band-per-cell-period model when only the budget can bind (else None)."""
    if ws.solver != "auto" or not ws.concave:
        return None
    model = ws.whole_domain_model(budget)
    return model if greedy_exact(model) else None


@dataclass
class Prices:
    """Spends at budget prices already evaluated (a sweep's earlier budgets): they bracket
    the next budget's price, so its search starts narrow."""

    known: dict[float, Float] = field(default_factory=dict)

    def bracket(self, budget: float) -> tuple[float, Float | None, float, Float | None]:
        """The tightest known ``(lo, x_lo, hi, x_hi)`` around ``budget``'s price (spend
        falls as the price rises; None where no known price is on that side)."""
        lo, x_lo, hi, x_hi = -np.inf, None, np.inf, None
        for lam, x in self.known.items():
            s = float(x.sum())
            if s > budget and lam > lo:
                lo, x_lo = lam, x
            elif s <= budget and lam < hi:
                hi, x_hi = lam, x
        return lo, x_lo, hi, x_hi

    def keep(self, lam: float, x: Float) -> None:
        """Remember the spends at ``lam`` (at most ``KEPT_PRICES``, the latest)."""
        self.known[lam] = x
        while len(self.known) > KEPT_PRICES:
            del self.known[next(iter(self.known))]


def fill(ws: Workspace, probe: Model, budget: float, prices: Prices | None = None) -> Refined:
    """The exact allocation at ``budget`` (``probe`` from :func:`applies`; ``prices``
    known from earlier budgets of a sweep, and kept for the next)."""
    t0 = time.perf_counter()
    ix = ws.ix
    cap = probe.cap_kt
    full = ws.scenario.settings.spend_full_budget
    respond = Responder(ix, probe.w_cust, cap)
    c2 = probe.w_spend
    # (no budget: the search for a price where nothing is bought climbs past any real
    # price, and would bracket the next budget's far too widely)
    prices = Prices() if prices is None or budget <= 0 else prices

    def spend_at(lam: float) -> np.ndarray:
        x = respond(c2 + lam, steps=60)
        prices.keep(lam, x)
        return x

    x0 = prices.known[0.0] if 0.0 in prices.known else spend_at(0.0)
    if x0.sum() <= budget and not full:
        lam, x = 0.0, x0
    elif x0.sum() < budget:  # the whole budget must go: a negative price pushes spend out
        lo, x_lo, _, _ = prices.bracket(budget)
        if x_lo is None:
            lo = -float(c2.max(initial=0.0)) - 1.0
        lam, x = _bisect(spend_at, budget, lo=lo, hi=0.0, x_hi=x0, x_lo=x_lo)
    else:
        lo, x_lo, hi, x_hi = prices.bracket(budget)
        if x_hi is None:
            hi = max(1e-12, float(np.median(c2)) if len(c2) else 1.0)
            x_hi = spend_at(hi)
            while x_hi.sum() > budget and hi < 1e300:
                hi *= 8.0
                x_hi = spend_at(hi)
        if x_lo is None or lo < 0.0:
            lo, x_lo = 0.0, x0
        lam, x = _bisect(spend_at, budget, lo=lo, hi=hi, x_hi=x_hi, x_lo=x_lo)
    z = np.stack([np.zeros(len(cap)), np.minimum(x, cap), cap], axis=1)
    kt = np.flatnonzero(cap > 0)
    model = ws.model_on(grid_bands(ix.curves, ix.kt_cell[kt], kt, z[kt]), per_period=True)
    ws.set_budget(model, budget)
    col = np.zeros(model.lp.A.shape[1])
    col[0:2 * len(kt):2] = x[kt]
    dual = np.zeros(model.lp.A.shape[0])
    dual[0] = -lam
    sol = Solution(Status.OPTIMAL, "exact fill", 0.0, x=col, row_dual=dual, objective=float(model.lp.c @ col),
                   message="exact fill: only the budget binds; every cell at the budget's price")
    if x.sum() < budget * (1 - 1e-9) - 1e-9 and full:
        sol = Solution(Status.INFEASIBLE, "exact fill", 0.0, message="the curves cannot absorb the whole budget")
    sol = check(model.lp, sol)
    sol.seconds = time.perf_counter() - t0
    return Refined(model, sol, model.bands, 0, sol.seconds)


def _bisect(spend_at, budget: float, lo: float, hi: float, x_hi: np.ndarray,
            x_lo: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """The price in ``[lo, hi]`` where total spend crosses ``budget`` (spend falls as the
    price rises), and the spends there: those of the bracket's two ends blended so that they
    meet the budget (cells that jump at the price share the difference).

    Regula falsi with the Illinois step (a few evaluations where the total spend is smooth
    in the price), halving the bracket where it stalls; it stops once the two ends' spends
    differ by at most ``SPREAD`` of the budget (the blend then moves no cell by more)."""
    if x_lo is None:
        x_lo = spend_at(lo)
    s_lo, s_hi = float(x_lo.sum()), float(x_hi.sum())
    f_lo, f_hi = s_lo - budget, s_hi - budget  # f_lo > 0 ≥ f_hi
    last = 0  # which end the last step moved: +1 lo, -1 hi
    for _ in range(PRICE_STEPS):
        if s_lo - s_hi <= SPREAD * max(budget, 1e-300) or hi - lo <= PRICE_RESOLUTION * max(abs(lo), abs(hi)):
            break  # (the second: a jump in the spend at the price, which the blend shares)
        mid = lo + (hi - lo) * f_lo / (f_lo - f_hi) if f_lo > f_hi else 0.5 * (lo + hi)
        if not lo < mid < hi:
            mid = 0.5 * (lo + hi) if lo <= 0 or hi <= 0 else float(np.sqrt(lo * hi))
            if not lo < mid < hi:
                break
        x_mid = spend_at(mid)
        s_mid = float(x_mid.sum())
        if s_mid > budget:
            lo, x_lo, s_lo, f_lo = mid, x_mid, s_mid, s_mid - budget
            f_hi = f_hi / 2 if last == 1 else f_hi  # Illinois: the end that stays twice is halved
            last = 1
        else:
            hi, x_hi, s_hi, f_hi = mid, x_mid, s_mid, s_mid - budget
            f_lo = f_lo / 2 if last == -1 else f_lo
            last = -1
        if abs(s_mid - budget) <= SPREAD * max(budget, 1e-300):
            break  # a hit: the blend below meets the budget exactly
    theta = 0.0 if s_lo <= s_hi else min(1.0, max(0.0, (budget - s_hi) / (s_lo - s_hi)))
    return hi, x_hi + theta * (x_lo - x_hi)
