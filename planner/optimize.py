"""Find the plan: chord bands → LP → solve → refine → evaluate on the real curves."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime

import numpy as np

from planner import certify
from planner.curves import Bands, chord_bands, densify
from planner.evaluate import assemble, true_customers
from planner.index import ACQ, RET, Index
from planner.infeasible import explain_infeasible
from planner.model import Model, build_model, build_rows
from planner.plan import Plan
from planner.rows import Float
from planner.scenario import Scenario
from planner.solve import FEAS_TOL, HighsSession, Solution, max_violation, solve

#: refinement stops once no cell-period's spend moves more than this share of the budget
REFINE_TOL = 1e-3
MAX_REFINE_ROUNDS = 8
#: refinement rounds for a re-run at another budget (a frontier point)
SWEEP_REFINE_ROUNDS = 1
#: ... and, once spend has settled, while the certified gap exceeds this share of the
#: objective (DESIGN's 0.1 % bar)
REFINE_GAP = 1e-3
#: relative certified gap the MIP path tightens its chord tolerance towards (DESIGN: 0.1 %)
MIP_GAP_TARGET = 1e-3


def optimize(scenario: Scenario, *, solver: str | None = None, time_limit: float | None = None) -> Plan:
    """Optimise a scenario and return the plan, evaluated on the real response curves.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario (from :func:`planner.read_scenario` or built in code).
    solver : {'auto', 'highs', 'cbc'}, optional
        Overrides the scenario's ``solver`` setting.  ``auto`` uses the exact greedy fill
        when only the total budget can bind, HiGHS otherwise, and CBC if HiGHS fails.
    time_limit : float, optional
        Seconds for the whole optimisation (every solve of the refinement); overrides
        ``time_limit_s``.

    Returns
    -------
    Plan
        ``plan.status`` is ``optimal``, ``feasible`` (time limit, checked feasible),
        ``infeasible`` (``plan.conflicts`` says what to move), ``time_limit`` or ``error``.

    Examples
    --------
    >>> from planner.scenario import Scenario, Settings, Segment, Channel, Curve
    >>> s = Scenario(settings=Settings(total_budget=100_000, periods_per_year=1, currency="ZAR"),
    ...     segments=[Segment(segment="Base", customers=5000, margin_per_period=10_000, retention_rate=0)],
    ...     channels=[Channel(channel="Email")],
    ...     curves=[Curve(segment="Base", channel="Email", program="acquisition", curve="linear", a=500, b=200)])
    >>> plan = optimize(s)
    >>> round(plan.summary["new_customers"]), round(plan.summary["blended_cac"]), round(plan.summary["roi"])
    (500, 200, 50)
    """
    return Optimizer(scenario, solver=solver, time_limit=time_limit).run()


class Optimizer:
    """Builds the model once and re-solves it, e.g. for a budget frontier.

    ``max_budget`` widens the chord domain so later runs with a larger budget stay exact.
    """

    def __init__(self, scenario: Scenario, *, solver: str | None = None,
                 time_limit: float | None = None, max_budget: float | None = None):
        self.scenario = scenario
        st = scenario.settings
        self.solver = (solver or st.solver).lower()
        self.time_limit = float(time_limit or st.time_limit_s)
        t0 = time.perf_counter()
        if max_budget is not None and max_budget > st.total_budget:
            wide = scenario.model_copy(update={"settings": st.model_copy(update={"total_budget": max_budget})})
            cap = Index.build(wide).spend_cap()
        else:
            cap = None
        self.ix = Index.build(scenario)
        self.cap = self.ix.spend_cap() if cap is None else cap
        self.bands: Bands = chord_bands(self.ix.curves, self.cap, st.pwl_tolerance)
        self.rows, self.n_aux = build_rows(self.ix)
        self.build_seconds = time.perf_counter() - t0
        self._session: HighsSession | None = None
        self._bound_memo: tuple[Solution, float, float] | None = None
        self._deadline = time.perf_counter() + self.time_limit
        self._model: Model | None = None

    # -----------------------------------------------------------------------------------
    def run(self, total_budget: float | None = None) -> Plan:
        """Solve (for ``total_budget`` if given, re-using the refined model) and evaluate."""
        started = datetime.now(UTC)
        self._deadline = time.perf_counter() + self.time_limit
        ix, st = self.ix, self.scenario.settings
        budget = st.total_budget if total_budget is None else float(total_budget)
        if total_budget is not None and self._model is not None:
            return self._rerun(budget, started)
        model, sol, rounds, solve_s = self._solve_refined(budget)
        info = self._info(sol, started, solve_s, rounds, model)
        if sol.x is None:
            return self._failed(model, sol, info)
        plan = self._evaluate(model, sol, info)
        tol = st.pwl_tolerance
        # S-shaped curves: the MIP's certified bound rests on the chord error of every cell,
        # so tighten the tolerance until it is within MIP_GAP_TARGET of the plan's value
        while (model.lp.is_mip and plan.summary["optimality_gap_relative"] > MIP_GAP_TARGET and tol > 1e-5
               and not self._out_of_time()):
            tol /= 4
            self.bands = chord_bands(ix.curves, self.cap, tol)
            model2, sol2, r2, s2 = self._solve_refined(budget)
            solve_s += s2
            if sol2.x is None:
                break
            model, sol = model2, sol2
            info = self._info(sol, started, solve_s, rounds + r2, model)
            info["pwl_tolerance"] = tol
            plan = self._evaluate(model, sol, info)
        self._model = model
        return plan

    # -----------------------------------------------------------------------------------
    def _solve_once(self, bands: Bands, budget: float) -> tuple[Model, Solution]:
        t0 = time.perf_counter()
        model = build_model(self.ix, bands, self.rows, self.n_aux)
        self.build_seconds += time.perf_counter() - t0
        self._set_budget(model, budget)
        if self.solver == "auto" and greedy_exact(model):
            return model, solve_greedy(model)
        which = "cbc" if self.solver == "cbc" else "highs"
        if which == "highs":
            self._session = HighsSession(model.lp)
            sol = self._session.solve(self._remaining())
            sol = _check(model, sol, self.time_limit)
        else:
            sol = solve(model.lp, "cbc", self._remaining())
        if self.solver == "auto" and sol.status == "error":
            sol = solve(model.lp, "cbc", self._remaining())
        return model, sol

    def _remaining(self) -> float:
        """Seconds left of the time limit, which covers the whole run (all solves)."""
        return max(0.05, self._deadline - time.perf_counter())

    def _out_of_time(self) -> bool:
        return time.perf_counter() >= self._deadline

    def _set_budget(self, model: Model, budget: float) -> None:
        lp = model.lp
        lp.row_upper[0] = budget
        if self.scenario.settings.spend_full_budget:
            lp.row_lower[0] = budget

    def _solve_refined(self, budget: float) -> tuple[Model, Solution, int, float]:
        model, sol = self._solve_once(self.bands, budget)
        if sol.x is None:
            return model, sol, 0, sol.seconds
        return self._refine(model, sol, budget)

    def _refine(self, model: Model, sol: Solution, budget: float,
                max_rounds: int = MAX_REFINE_ROUNDS) -> tuple[Model, Solution, int, float]:
        """Densify bands around the chosen spends and re-solve until spend settles."""
        assert sol.x is not None
        bands = model.bands
        solve_s = sol.seconds
        rounds = 0
        spend = model.spend(sol.x)
        step = REFINE_TOL * max(min(budget, float(spend.sum())), 1e-9)
        moved = np.inf
        while rounds < max_rounds and not self._out_of_time():
            ix = self.ix
            kt = np.flatnonzero(spend > 1e-9 * max(1.0, budget))
            if not len(kt):
                break
            finer = bands
            if moved > step:
                # only bands wider than the step can hide a move larger than the step
                finer = densify(ix.curves, bands, ix.kt_cell[kt], spend[kt], min_width=step)
            if finer is bands and self._gap_too_wide(model, sol, spend):
                finer = densify(ix.curves, bands, ix.kt_cell[kt], spend[kt])
            if finer is bands:
                break
            rounds += 1
            bands = finer
            new_model, new_sol = self._solve_once(bands, budget)
            solve_s += new_sol.seconds
            if new_sol.x is None:
                break
            new_spend = new_model.spend(new_sol.x)
            moved = np.abs(new_spend - spend).max(initial=0.0)
            model, sol, spend = new_model, new_sol, new_spend
        self.bands = bands
        return model, sol, rounds, solve_s

    def _gap_too_wide(self, model: Model, sol: Solution, spend: Float) -> bool:
        """True when the certified gap of this solution exceeds ``REFINE_GAP``."""
        if model.lp.is_mip or sol.row_dual is None:
            return False
        upper, true_obj = self._lagrangian(model, sol, spend)
        return bool(upper - true_obj > REFINE_GAP * max(abs(true_obj), 1e-9))

    def _lagrangian(self, model: Model, sol: Solution, spend: Float) -> tuple[float, float]:
        """(Lagrangian upper bound, true objective) of a solution, computed once: the
        refinement's last gap check and the evaluation ask about the same solution."""
        if self._bound_memo is not None and self._bound_memo[0] is sol:
            return self._bound_memo[1], self._bound_memo[2]
        assert sol.row_dual is not None
        upper, true_obj = certify.lagrangian_bound(model, sol.row_dual), _true_objective(model, spend)
        self._bound_memo = (sol, upper, true_obj)
        return upper, true_obj

    def _rerun(self, budget: float, started: datetime) -> Plan:
        model = self._model
        assert model is not None
        self._set_budget(model, budget)
        if self.solver == "auto" and greedy_exact(model):
            sol = solve_greedy(model)
        elif self.solver != "cbc":
            if self._session is None or self._session.lp is not model.lp:
                self._session = HighsSession(model.lp)
            self._session.set_row_bounds(0, model.lp.row_lower[0], budget)
            sol = _check(model, self._session.solve(self._remaining()), self.time_limit)
        else:
            sol = solve(model.lp, "cbc" if self.solver == "cbc" else "highs", self._remaining())
        rounds, solve_s = 0, sol.seconds
        if sol.x is not None:  # the warm start lands near the answer; refine spend there too
            # ... but keep the base model and its warm session for the next budget: bands
            # refined for every budget would pile up and slow every later solve
            base, base_bands, session = model, self.bands, self._session
            # a round costs a build (and a cold solve for an LP) and grows the model, so a
            # sweep point gets one: 8× finer bands where its spend moved to
            model, sol, rounds, solve_s = self._refine(model, sol, budget, max_rounds=SWEEP_REFINE_ROUNDS)
            self._model, self.bands, self._session = base, base_bands, session
        info = self._info(sol, started, solve_s, rounds, model)
        info["total_budget"] = budget
        scen = self.scenario.model_copy(update={"settings": self.scenario.settings.model_copy(update={"total_budget": budget})})
        if sol.x is None:
            return self._failed(model, sol, info, scen)
        return self._evaluate(model, sol, info, scen)

    def _evaluate(self, model: Model, sol: Solution, info: dict, scenario: Scenario | None = None) -> Plan:
        ix = self.ix if scenario is None else Index.build(scenario)
        assert sol.x is not None
        spend = model.spend(sol.x)
        if model.lp.is_mip or sol.row_dual is None:
            gap = certify.mip_gap_bound(model, sol, _true_objective(model, spend))
        else:
            upper, true_obj = self._lagrangian(model, sol, spend)
            gap = min(max(0.0, upper - true_obj), certify.formula_bound(model) + _abs_tol(model))
        activity = model.lp.A @ sol.x
        plan = assemble(ix, model.rows if scenario is None else _rows_for(model, scenario), spend, sol.status,
                        row_dual=sol.row_dual, row_activity=activity, gap_bound=gap, info=info)
        if model.lp.is_mip:
            plan.summary["mip_gap"] = sol.mip_gap
            plan.warnings.append("Shadow prices come from the LP with the band choices of the mixed-integer "
                                 "solution fixed (S-shaped curves).")
        return plan

    def _failed(self, model: Model, sol: Solution, info: dict, scenario: Scenario | None = None) -> Plan:
        scen = scenario or self.scenario
        plan = Plan(scenario=scen, status=sol.status if sol.status != "unbounded" else "error",
                    message=sol.message, run_info=info)
        plan.summary = {"status": plan.status}
        if sol.status == "infeasible":
            wide = chord_bands(self.ix.curves, self.ix.spend_cap(relaxed=True), scen.settings.pwl_tolerance)
            wide_model = build_model(self.ix, wide, self.rows, self.n_aux)
            self._set_budget(wide_model, model.lp.row_upper[0])
            plan.conflicts = explain_infeasible(wide_model, self.time_limit)
            plan.message = "No plan meets every constraint. " + " ".join(c.message for c in plan.conflicts)
        return plan

    def _info(self, sol: Solution, started: datetime, solve_s: float, rounds: int, model: Model) -> dict:
        from planner import __version__

        n_row, n_col = model.lp.shape
        return {
            "tool": "planner", "version": __version__, "started": started.isoformat(timespec="seconds"),
            "scenario": self.scenario.name, "solver": sol.solver, "status": sol.status,
            "solver_message": sol.message, "solve_seconds": round(solve_s, 4),
            "build_seconds": round(self.build_seconds, 4), "refine_rounds": rounds,
            "variables": n_col, "rows": n_row, "nonzeros": int(model.lp.A.nnz),
            "integer_variables": int(model.lp.integrality.sum()),
            "bands": len(model.bands), "pwl_tolerance": self.scenario.settings.pwl_tolerance,
        }


def _rows_for(model: Model, scenario: Scenario):
    """Rows with the scenario's budget as the total budget limit (frontier re-runs)."""
    limit = model.rows.limit.copy()
    rhs = model.rows.rhs.copy()
    limit[0] = rhs[0] = scenario.settings.total_budget
    return dataclasses.replace(model.rows, limit=limit, rhs=rhs)


def _abs_tol(model: Model) -> float:
    return 1e-9 * (1.0 + float(np.abs(model.lp.c).sum()))


def _true_objective(model: Model, spend: Float) -> float:
    cust, _ = true_customers(model.ix, spend)
    return float(model.w_cust @ cust - model.w_spend @ spend)


def _check(model: Model, sol: Solution, time_limit: float) -> Solution:
    """Apply solve()'s feasibility check to a session solve."""
    if sol.x is not None:
        sol.x = np.clip(sol.x, model.lp.col_lower, model.lp.col_upper)
    if sol.x is not None and max_violation(model.lp, sol.x) > FEAS_TOL:
        sol.x = None
        sol.status = "time_limit" if sol.status == "time_limit" else "error"
        sol.message = "the solver's answer breaks a constraint"
    elif sol.x is not None and sol.status == "time_limit":
        sol.status = "feasible"
    return sol


# ----------------------------------------------------------------------------------------
def greedy_exact(model: Model) -> bool:
    """True when only the total budget can bind, so filling bands by slope is exact."""
    ix, rows = model.ix, model.rows
    if model.lp.is_mip or ix.scenario.settings.objective == "min_spend":
        return False
    if any(k not in ("budget", "prospects", "at_risk") for k in rows.kind):
        return False
    # caps must be provably slack: the most each could see is below the cap
    # no cell can spend more than the budget, whatever its chord domain
    most = ix.customers(np.minimum(_cap_of(model), model.lp.row_upper[0])[ix.kt_cell])
    acq, ret = ix.kt_prog == ACQ, ix.kt_prog == RET
    won = np.bincount(ix.kt_seg[acq], weights=most[acq], minlength=ix.S)
    if (won > ix.prospects).any():
        return False
    m = ret
    saved = np.zeros((ix.S, ix.P))
    np.add.at(saved, (ix.kt_seg[m], ix.kt_t[m]), most[m])
    floor = (1 - ix.retention)[:, None] * ix.n0[:, None] * ix.retention[:, None] ** np.arange(ix.P)
    return bool((saved <= floor + 1e-12).all())


def _cap_of(model: Model) -> Float:
    cap = np.zeros(model.ix.K)
    np.add.at(cap, model.bands.cell, model.bands.width)
    return cap


def solve_greedy(model: Model) -> Solution:
    """Fill band columns by objective per unit of money until the budget is used.

    A fractional knapsack: exact for concave curves with only the budget binding; the
    marginal band's score is the budget dual.
    """
    t0 = time.perf_counter()
    lp = model.lp
    n = model.n_band_vars
    score = -lp.c[:n]
    width = lp.col_upper[:n]
    budget = lp.row_upper[0]
    full = np.isfinite(lp.row_lower[0])
    order = np.argsort(-score, kind="stable")
    take_ok = np.ones(n, dtype=bool) if full else score[order] > 0
    w = np.where(take_ok, width[order], 0.0)
    cum = np.cumsum(w)
    before = cum - w
    fill = np.clip(budget - before, 0.0, w)
    x = np.zeros(lp.A.shape[1])
    x[order] = fill
    used = fill.sum()
    dual = np.zeros(lp.A.shape[0])
    if used < budget - 1e-9 * max(1.0, budget):
        if full:
            return Solution("infeasible", "greedy", time.perf_counter() - t0,
                            message="the curves cannot absorb the whole budget")
    else:
        nxt = np.flatnonzero(fill < w - 1e-12)
        marginal = score[order][nxt[0]] if len(nxt) else 0.0
        dual[0] = -max(marginal, 0.0) if not full else -marginal
    sol = Solution("optimal", "greedy", time.perf_counter() - t0, x=x, row_dual=dual,
                   objective=float(lp.c @ x), message="exact greedy fill (only the budget binds)")
    return sol
