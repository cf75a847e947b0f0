"""Find the plan: chord bands → LP → solve → refine → evaluate on the real curves."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from planner._version import __version__
from planner.core.curves import Bands, chord_bands, densify
from planner.core.linear_program import Model, build_model, build_rows, out_of_order, undercut_cells
from planner.core.plan import Plan
from planner.core.rows import Float
from planner.core.scenario_arrays import Index
from planner.engine import certificate as certify
from planner.engine.infeasibility import explain_infeasible
from planner.engine.marginals import true_marginals  # marked hook, see optimize()
from planner.engine.plan_assembly import assemble, clean_spend, headline, true_customers
from planner.engine.windows import anchor_bands, budget_target, window_bands
from planner.scenario.models import Scenario
from planner.solvers.greedy import greedy_exact, solve_greedy
from planner.solvers.solve import FEAS_TOL, HighsSession, Solution, max_violation, solve

#: refinement stops once no cell-period's spend moves more than this share of the budget
REFINE_TOL = 1e-3
MAX_REFINE_ROUNDS = 8
#: refinement rounds for a re-run at another budget on the kept model (frontier points
#: that cannot use chord windows: S-shaped curves, CBC)
SWEEP_REFINE_ROUNDS = 1
#: chord windows of a frontier re-run: first half-width (share of the spend) and rounds
SWEEP_WINDOW = 0.05
MAX_SWEEP_ROUNDS = 6
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
    >>> from planner.scenario.models import Scenario, Settings, Segment, Channel, Curve
    >>> s = Scenario(settings=Settings(total_budget=100_000, periods_per_year=1, currency="ZAR"),
    ...     segments=[Segment(segment="Base", customers=5000, margin_per_period=10_000, retention_rate=0)],
    ...     channels=[Channel(channel="Email")],
    ...     curves=[Curve(segment="Base", channel="Email", program="acquisition", curve="linear", a=500, b=200)])
    >>> plan = optimize(s)
    >>> round(plan.summary["new_customers"]), round(plan.summary["blended_cac"]), round(plan.summary["roi"])
    (500, 200, 50)
    """
    opt = Optimizer(scenario, solver=solver, time_limit=time_limit)
    # --- true marginal values (planner.engine.marginals; issue 18 item 4): re-solves of
    # the binding limits replace LP duals that a degenerate LP makes ambiguous ---
    return true_marginals(opt, opt.run())


@dataclass
class Solved:
    """One budget's solution, before it is evaluated into a :class:`Plan`."""

    budget: float
    model: Model
    sol: Solution
    info: dict[str, Any]


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
        self._bands: Bands | None = None  # chord bands at pwl_tolerance, built when first needed
        self.rows, self.n_aux = build_rows(self.ix)
        self.build_seconds = time.perf_counter() - t0
        self._session: HighsSession | None = None
        self._bound_memo: _Bound | None = None
        # the last solved LP with duals: a frontier re-run starts from its prices
        self._last: tuple[Model, Solution] | None = None
        self._window_basis: tuple[tuple[int, int], Any] | None = None
        self._coarse: Bands | None = None
        self._path: list[tuple[float, Float]] = []  # (budget, spend) of the last two solves
        self._concave = bool(self.ix.curves.concave().all())
        self._ordered = np.zeros(self.ix.K, dtype=bool)  # concave cells that need band order
        self._undercut = undercut_cells(self.ix, self.rows)  # cells where that could happen
        self._deadline = time.perf_counter() + self.time_limit
        self._model: Model | None = None

    @property
    def bands(self) -> Bands:
        """Chord bands of every cell at ``pwl_tolerance`` (a sweep may never need them)."""
        if self._bands is None:
            t0 = time.perf_counter()
            self._bands = chord_bands(self.ix.curves, self.cap, self.scenario.settings.pwl_tolerance)
            self.build_seconds += time.perf_counter() - t0
        return self._bands

    @bands.setter
    def bands(self, bands: Bands) -> None:
        self._bands = bands

    # -----------------------------------------------------------------------------------
    def run(self, total_budget: float | None = None) -> Plan:
        """Solve (for ``total_budget`` if given, re-using the refined model) and evaluate."""
        started = datetime.now(UTC)
        self._deadline = time.perf_counter() + self.time_limit
        ix, st = self.ix, self.scenario.settings
        budget = st.total_budget if total_budget is None else float(total_budget)
        if total_budget is not None and self._model is not None:
            return self.evaluate(self.resolve(budget))
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
        self._keep(model, sol)
        return plan

    def _keep(self, model: Model, sol: Solution) -> None:
        if sol.x is not None and sol.row_dual is not None and not model.lp.is_mip:
            self._last = (model, sol)
            self._path = [*self._path[-1:], (float(model.lp.row_upper[0]), model.spend(sol.x))]

    def _extrapolate(self, budget: float, cap: Float) -> Float:
        """Spend per cell-period extrapolated along the last two solved budgets."""
        (b0, s0), (b1, s1) = self._path[0], self._path[-1]
        if b1 == b0:  # one solve so far, or the same budget twice
            return s1
        return np.clip(s1 + (s1 - s0) * (budget - b1) / (b1 - b0), 0.0, cap)

    # -----------------------------------------------------------------------------------
    def _solve_once(self, bands: Bands, budget: float) -> tuple[Model, Solution]:
        model, sol = self._solve_model(bands, budget)
        # an upper limit on customers is not convex in spend: the LP may meet it by filling
        # a cell's bands out of order (undercounting its customers).  Such cells get the
        # band-order binaries of S-shaped curves, and the model is solved again.
        for _ in range(3):
            flagged = out_of_order(model, sol.x) & self._undercut
            if not flagged.any():
                break
            self._ordered |= flagged
            model, sol = self._solve_model(bands, budget)
        return model, sol

    def _solve_model(self, bands: Bands, budget: float) -> tuple[Model, Solution]:
        t0 = time.perf_counter()
        model = build_model(self.ix, bands, self.rows, self.n_aux, ordered=self._ordered)
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
        if self._bound_memo is None or self._bound_memo.sol is not sol:
            assert sol.row_dual is not None
            upper, arg = certify.lagrangian(model, sol.row_dual)
            real = clean_spend(spend)
            cust, _ = true_customers(model.ix, real)
            self._bound_memo = _Bound(sol, upper, _objective(model, real, cust), arg, real, cust)
        return self._bound_memo.upper, self._bound_memo.true_obj

    def resolve(self, total_budget: float) -> Solved:
        """Solve at a total budget, re-using the model and the last solution, without
        evaluating the plan yet (:meth:`evaluate` does; :meth:`headline` is cheap).

        The first solve (no plan yet) is one LP on the chord bands; every solve of concave
        curves then narrows chord windows per cell-period until the certified gap is
        within ``REFINE_GAP`` (S-shaped curves and CBC re-use the kept model instead).
        """
        started = datetime.now(UTC)
        self._deadline = time.perf_counter() + self.time_limit
        budget = float(total_budget)
        if self._model is None:
            model, sol, rounds, solve_s = self._anchor(budget)
        else:
            out = self._sweep_solve(budget) if self._windowed() else None
            model, sol, rounds, solve_s = out if out is not None else self._rerun_kept(budget)
        self._keep(model, sol)
        info = self._info(sol, started, solve_s, rounds, model)
        info["total_budget"] = budget
        return Solved(budget, model, sol, info)

    def evaluate(self, solved: Solved) -> Plan:
        """The full plan of a :meth:`resolve` result, on the real response curves."""
        st = self.scenario.settings
        scen = self.scenario.model_copy(update={"settings": st.model_copy(update={"total_budget": solved.budget})})
        if solved.sol.x is None:
            return self._failed(solved.model, solved.sol, dict(solved.info), scen)
        return self._evaluate(solved.model, solved.sol, dict(solved.info), scen)

    def headline(self, solved: Solved) -> dict[str, Any]:
        """``status`` and the headline figures of a :meth:`resolve` result (real curves),
        without building the plan's tables."""
        sol = solved.sol
        status = "error" if sol.status == "unbounded" else sol.status
        if sol.x is None:
            return {"status": status}
        memo = self._bound_memo
        if memo is not None and memo.sol is sol:  # the resolve's gap check evaluated it
            spend, cust = memo.spend, memo.cust
        else:
            spend = clean_spend(solved.model.spend(sol.x))
            cust, _ = true_customers(self.ix, spend)
        dual = 0.0 if sol.row_dual is None else -float(sol.row_dual[0])
        return {"status": status, **headline(self.ix, spend, cust, dual)}

    def _rerun_kept(self, budget: float) -> tuple[Model, Solution, int, float]:
        """Warm-started solve of the kept model at another budget, then one refinement round."""
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
            base, base_bands, session = model, self._bands, self._session
            # a round costs a build (and a cold solve for an LP) and grows the model, so a
            # sweep point gets one: 8× finer bands where its spend moved to
            model, sol, rounds, solve_s = self._refine(model, sol, budget, max_rounds=SWEEP_REFINE_ROUNDS)
            self._model, self._bands, self._session = base, base_bands, session
        return model, sol, rounds, solve_s

    def _anchor(self, budget: float) -> tuple[Model, Solution, int, float]:
        """First solve of a sweep: one LP on the chord bands (kept for later budgets), then
        chord windows from its prices; the full refinement where windows do not apply."""
        if not self._windowable():
            model, sol, rounds, solve_s = self._solve_refined(budget)
            if sol.x is not None:
                self._model = model
            return model, sol, rounds, solve_s
        if self._coarse is None:
            self._coarse = anchor_bands(self.ix.curves, self.cap)
        model, sol = self._solve_once(self._coarse, budget)
        if self._ordered.any():  # band order needs integers: no windows for this scenario
            model, sol, rounds, solve_s = self._solve_refined(budget)
            if sol.x is not None:
                self._model = model
            return model, sol, rounds, solve_s
        if sol.status == "infeasible" and not self._spend_infeasible(budget):
            model, sol = self._solve_once(self.bands, budget)  # coarser chords buy fewer customers
        if sol.x is None or sol.row_dual is None:
            return model, sol, 0, sol.seconds
        self._model = model
        self._keep(model, sol)
        out = self._sweep_solve(budget)
        if out is None:
            return model, sol, 0, sol.seconds
        return out[0], out[1], out[2], sol.seconds + out[3]

    def _breaks_rows(self, model: Model, spend: Float) -> bool:
        """True when a row is broken on the real curves by more than the chord tolerance
        allows on the full chord bands (``pwl_tolerance·σ·f(X)`` per cell-period of a
        customer term): a customer row met only on a wide chord of the window.  Another,
        re-centred round puts a breakpoint at the spend."""
        ix, rows, n = self.ix, self.rows, len(self.rows)
        act = rows.activity(spend, true_customers(ix, spend)[0], model.aux_values(spend))
        lower, upper = model.lp.row_lower[:n], model.lp.row_upper[:n]
        scale = 1.0 + np.abs(np.where(np.isfinite(upper), upper, np.where(np.isfinite(lower), lower, 0.0)))
        reach = ix.customers(model.cap_kt)[rows.e_kt] * np.abs(rows.e_cust)
        allowed = self.scenario.settings.pwl_tolerance * np.bincount(rows.e_row, weights=reach, minlength=n)
        return bool((np.maximum(act - upper, lower - act) > allowed + 1e-6 * scale).any())

    def _spend_infeasible(self, budget: float) -> bool:
        """True when the spend-side rows alone cannot be met (every row that counts customers
        dropped): then no chords can make the scenario feasible at this budget."""
        ix = self.ix
        cap = self.cap[ix.kt_cell]
        kt = np.flatnonzero(cap > 0)
        zero = np.zeros(len(kt))
        model = build_model(ix, Bands(kt, zero, cap[kt], zero, zero), self.rows, self.n_aux, per_period=True)
        self._set_budget(model, budget)
        counts = np.unique(self.rows.e_row[self.rows.e_cust != 0])
        model.lp.row_lower[counts], model.lp.row_upper[counts] = -np.inf, np.inf
        return HighsSession(model.lp).solve(self._remaining()).status == "infeasible"

    def _windowable(self) -> bool:
        """Chord windows (a sequential LP) need concave curves and HiGHS or the greedy fill."""
        return self.solver in ("auto", "highs") and self._concave and not self._ordered.any()

    def _windowed(self) -> bool:
        """Re-runs use chord windows when the last solve was an LP with duals."""
        return self._last is not None and self._windowable()

    def _sweep_solve(self, budget: float) -> tuple[Model, Solution, int, float] | None:
        """Solve at another budget on per cell-period chord windows, narrowing them until the
        certified gap is within ``REFINE_GAP`` (None: fall back to the kept model, also when
        the rounds run out first, e.g. where money parked past a binding cap makes room
        under a share ceiling: seven chords per cell-period cannot park it for free)."""
        assert self._last is not None
        ix, (last, last_sol) = self.ix, self._last
        assert last_sol.row_dual is not None and last_sol.x is not None
        c1, c2, mu, _ = certify.prices(last, last_sol.row_dual)
        if not np.isfinite(c1).all():
            return None
        cap = self.cap[ix.kt_cell]
        budget_row = self.rows.e_row == 0
        a0 = np.bincount(self.rows.e_kt[budget_row], weights=self.rows.e_spend[budget_row], minlength=len(cap))
        target = budget_target(ix, c1, c2 - mu[0] * a0, a0, cap, budget,
                               self.scenario.settings.spend_full_budget, float(mu[0]))
        coarse = self._coarse if self._coarse is not None else self.bands
        n_bands = np.bincount(coarse.cell, minlength=ix.K)
        floor = (self.cap / np.maximum(n_bands, 1))[ix.kt_cell]
        centre, other, solve_s = self._extrapolate(budget, cap), target, 0.0
        delta = np.full(len(cap), SWEEP_WINDOW)
        rounds = 0
        while rounds < MAX_SWEEP_ROUNDS:
            rounds += 1
            t0 = time.perf_counter()
            width = delta * np.maximum(centre, floor)
            bands = window_bands(ix, cap, centre, other, width)
            model = build_model(ix, bands, self.rows, self.n_aux, per_period=True)
            self.build_seconds += time.perf_counter() - t0
            self._set_budget(model, budget)
            greedy = self.solver == "auto" and greedy_exact(model)  # every row but the budget slack
            if greedy:
                sol = solve_greedy(model)
            else:
                session = HighsSession(model.lp)
                # measured on the medium synthetic sweep: without scaling a warm-started window
                # LP takes half the iterations (and _check still vets the answer)
                session.set_option("simplex_scale_strategy", 0)
                if self._window_basis is not None and self._window_basis[0] == model.lp.shape:
                    session.start_from(self._window_basis[1])
                sol = _check(model, session.solve(self._remaining()), self.time_limit)
                if sol.x is not None:
                    self._window_basis = (model.lp.shape, session.basis())
            solve_s += sol.seconds
            if sol.x is None or sol.row_dual is None:
                return None
            flagged = out_of_order(model, sol.x) & self._undercut
            if flagged.any():  # see _solve_once: these cells need band order (integers)
                self._ordered |= flagged
                return None
            spend = model.spend(sol.x)
            close = not self._gap_too_wide(model, sol, spend)
            if (close and (greedy or not self._breaks_rows(model, spend))) or self._out_of_time():
                break
            if budget <= 0:  # nothing to spend: no chords can change the plan (the bound
                break        # stays loose where a curve's first unit is infinitely steep)
            # a trust region per cell-period: widen the window where the spend ran to its
            # edge, keep it while the spend still moves, narrow it where the spend settled
            step = np.abs(spend - centre)
            delta = np.where(step >= 0.9 * width, np.minimum(2 * delta, 1.0),
                             np.where(step >= 0.2 * width, delta, delta / 4))
            assert self._bound_memo is not None
            centre, other = spend, self._bound_memo.arg
        else:  # the windows never certified the gap: the kept model's bands decide instead
            return None
        return model, sol, rounds, solve_s

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
                                 "solution fixed (S-shaped curves, or cells whose customers an upper "
                                 "limit caps: their bands must fill in order).")
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
    """The maximised objective of the plan the report will show (round-off spend is none)."""
    spend = clean_spend(spend)
    return _objective(model, spend, true_customers(model.ix, spend)[0])


def _objective(model: Model, spend: Float, cust: Float) -> float:
    return float(model.w_cust @ cust - model.w_spend @ spend)


@dataclass
class _Bound:
    """A solution's certificate on the real curves, computed once per solution."""

    sol: Solution
    upper: float      # Lagrangian upper bound on the true optimum
    true_obj: float   # the plan's own objective on the real curves
    arg: Float        # where each cell-period's 1-D maximum is (the next window's target)
    spend: Float      # spend per cell-period, round-off removed
    cust: Float       # real-curve customers per cell-period


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
