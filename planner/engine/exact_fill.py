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

from planner.core.curves import derivative, infinite_first_slope
from planner.core.linear_program import Model
from planner.core.scenario_arrays import Index
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
#: spends at this many prices are kept between the budgets of a sweep (and at price 0)
KEPT_PRICES = 4
#: after this many steps without a hit the search visits the prices where a linear or
#: points curve's spend jumps (a jump at the price stalls the secant steps)
STALL = 6
#: a price just below a jump: this share of the price lower
BELOW = 1e-12


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

    def guess(self, budget: float) -> float | None:
        """``budget``'s price from the two known positive prices whose spends are nearest
        to it, on a line in log price (saturation curves' total spend is one)."""
        pts = sorted((abs(float(x.sum()) - budget), float(x.sum()), lam)
                     for lam, x in self.known.items() if lam > 0)
        if len(pts) < 2 or pts[0][1] == pts[1][1]:
            return None
        (_, s0, l0), (_, s1, l1) = pts[:2]
        t = np.log(l0) + (budget - s0) * (np.log(l1) - np.log(l0)) / (s1 - s0)
        return float(np.exp(t)) if np.isfinite(t) else None

    def keep(self, lam: float, x: Float) -> None:
        """Remember the spends at ``lam`` (at most ``KEPT_PRICES``, the latest, and price 0)."""
        self.known[lam] = x
        while len(self.known) > KEPT_PRICES + (0.0 in self.known):
            del self.known[next(k for k in self.known if k != 0.0)]


def fill(ws: Workspace, probe: Model, budget: float, prices: Prices | None = None) -> Refined:
    """The exact allocation at ``budget`` (``probe`` from :func:`applies`; ``prices``
    known from earlier budgets of a sweep, and kept for the next)."""
    t0 = time.perf_counter()
    ix = ws.ix
    cap = probe.cap_kt
    full = ws.scenario.settings.spend_full_budget
    respond = Responder(ix, probe.w_cust, cap)
    # under ``value`` money has no price of its own: the LP's tie-break (1e-6 per unit, so
    # that it parks nothing on flat chords) has no chords to guard here, and would leave
    # budget unspent where value per unit of money is itself that small
    value = ws.scenario.settings.objective == "value"
    c2 = np.zeros_like(probe.w_spend) if value else probe.w_spend
    prices = Prices() if prices is None else prices

    def spend_at(lam: float) -> np.ndarray:
        x = respond(c2 + lam, steps=60)
        prices.keep(lam, x)
        return x

    unbounded = False
    if budget <= 0:  # nothing is bought: the price is what the best first unit returns
        (lam, unbounded), x = top_price(ix, probe.w_cust, c2, cap), np.zeros(len(cap))
    else:
        x0 = prices.known[0.0] if 0.0 in prices.known else spend_at(0.0)
        if x0.sum() <= budget and not full:
            lam, x = 0.0, x0
        elif x0.sum() < budget:  # the whole budget must go: a negative price pushes spend out
            lo, x_lo, _, _ = prices.bracket(budget)
            if x_lo is None:
                lo = -float(c2.max(initial=0.0)) - 1.0
            lam, x = _bisect(spend_at, budget, lo=lo, hi=0.0, x_hi=x0, x_lo=x_lo, jumps=jump_prices(respond, c2))
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
            lam, x = _bisect(spend_at, budget, lo=lo, hi=hi, x_hi=x_hi, x_lo=x_lo, jumps=jump_prices(respond, c2),
                             guess=prices.guess(budget))
    z = np.stack([np.zeros(len(cap)), np.minimum(x, cap), cap], axis=1)
    kt = np.flatnonzero(cap > 0)
    model = ws.model_on(grid_bands(ix.curves, ix.kt_cell[kt], kt, z[kt]), per_period=True)
    ws.set_budget(model, budget)
    col = np.zeros(model.lp.A.shape[1])
    col[0:2 * len(kt):2] = x[kt]
    dual = np.zeros(model.lp.A.shape[0])
    dual[0] = -lam
    sol = Solution(Status.OPTIMAL, "exact fill", 0.0, x=col, row_dual=dual, objective=float(model.lp.c @ col),
                   message="exact fill: only the budget binds; every cell at the budget's price",
                   unbounded_budget_price=unbounded)
    if x.sum() < budget * (1 - 1e-9) - 1e-9 and full:
        sol = Solution(Status.INFEASIBLE, "exact fill", 0.0, message="the curves cannot absorb the whole budget")
    sol = check(model.lp, sol)
    sol.seconds = time.perf_counter() - t0
    return Refined(model, sol, model.bands, 0, sol.seconds)


def top_price(ix: Index, c1: Float, c2: Float, cap: Float) -> tuple[float, bool]:
    """The budget's price where nothing is bought: the most the first unit of money returns
    in any cell-period, at least 0; and whether that is unbounded.  A curve with an infinite
    slope at 0 gives its slope at the smallest positive spend, astronomically large: a finite
    price for the certificate (the solution says the true one is unbounded)."""
    w = c1 * ix.kt_sigma
    live = (w > 0) & (cap > 0)
    with np.errstate(all="ignore"):
        first = np.where(w > 0, w * derivative(ix.curves, ix.kt_cell, np.zeros(len(cap))), 0.0) - c2
    first = first[(cap > 0) & np.isfinite(first)]
    unbounded = bool((live & infinite_first_slope(ix.curves, ix.kt_cell)).any())
    return float(max(0.0, first.max(initial=0.0))), unbounded


def jump_prices(respond: Responder, c2: Float) -> Float:
    """The budget prices at which some cell-period's best spend jumps (sorted, unique):
    linear and points curves at their slopes, and cells whose customers count for nothing
    at the price where their spend turns from worth it to not."""
    pos, slope = respond.fit.jumps()
    return np.unique(np.concatenate([slope * respond.w_inner[pos] - c2[respond.inner[pos]], -c2[respond.ends]]))


def _bisect(spend_at, budget: float, lo: float, hi: float, x_hi: np.ndarray, x_lo: np.ndarray | None = None,
            jumps: Float | None = None, guess: float | None = None) -> tuple[float, np.ndarray]:
    """The price in ``[lo, hi]`` where total spend crosses ``budget`` (spend falls as the
    price rises), and the spends there: those of the bracket's two ends blended so that they
    meet the budget (cells that jump at the price share the difference).

    Starts at ``guess`` (a sweep's earlier budgets), then regula falsi with the Illinois
    step, in log price once both ends are positive (total spend is close to linear in it);
    it stops at a hit, or once the two ends' spends differ by at most ``SPREAD`` of the
    budget (the blend then moves no cell by more), or at a jump: where the steps stall, the
    ``jumps`` inside the bracket are visited (halving them) and, at the one that crosses the
    budget, the price just below it closes the bracket."""
    jumps = np.zeros(0) if jumps is None else jumps
    if x_lo is None:
        x_lo = spend_at(lo)
    s_lo, s_hi = float(x_lo.sum()), float(x_hi.sum())
    f_lo, f_hi = s_lo - budget, s_hi - budget  # f_lo > 0 ≥ f_hi
    tol = SPREAD * max(budget, 1e-300)
    last = 0  # which end the last step moved: +1 lo, -1 hi
    prev_hi: tuple[float, float] | None = None
    below: float | None = None  # just under a jump that became the bracket's top
    for step in range(PRICE_STEPS):
        if s_lo - s_hi <= tol or hi - lo <= PRICE_RESOLUTION * max(abs(lo), abs(hi)):
            break
        at_jump = False
        if below is not None:
            mid = below
        else:
            inside = jumps[(jumps > lo) & (jumps < hi)] if step >= STALL else jumps[:0]
            if len(inside):
                mid, at_jump = float(inside[len(inside) // 2]), True
            elif guess is not None and lo < guess < hi:
                mid = guess
            else:
                mid = _secant(lo, hi, f_lo, f_hi, prev_hi, budget)
        guess = None
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
            if below is not None:
                break  # the budget's price is the jump at hi: the blend shares its spend
        else:
            prev_hi = (hi, s_hi)
            hi, x_hi, s_hi, f_hi = mid, x_mid, s_mid, s_mid - budget
            f_lo = f_lo / 2 if last == -1 else f_lo
            last = -1
        below = mid - BELOW * max(abs(mid), abs(lo)) if at_jump and s_mid <= budget else None
        if abs(s_mid - budget) <= tol:
            break  # a hit: the blend below meets the budget exactly
    theta = 0.0 if s_lo <= s_hi else min(1.0, max(0.0, (budget - s_hi) / (s_lo - s_hi)))
    # the price of the end the spends are (a hit on the low side: its own price, not the top's)
    return (lo if theta > 0.5 else hi), x_hi + theta * (x_lo - x_hi)


def _secant(lo: float, hi: float, f_lo: float, f_hi: float, prev_hi: tuple[float, float] | None,
            budget: float) -> float:
    """The next price: regula falsi, in log price where both ends are positive; with the
    bracket still at price 0, the line through the two latest tops in log price,
    overshooting by half so that the step lands under the budget's price."""
    if lo > 0:
        a, b = np.log(lo), np.log(hi)
        return float(np.exp(a + (b - a) * f_lo / (f_lo - f_hi)))
    if lo == 0 and prev_hi is not None and 0 < hi < prev_hi[0] and prev_hi[1] < f_hi + budget:
        (p, s_p), s_h = prev_hi, f_hi + budget
        step = (budget - s_h) * (np.log(hi) - np.log(p)) / (s_h - s_p)
        return float(hi * np.exp(1.5 * step))
    return lo + (hi - lo) * f_lo / (f_lo - f_hi)
