"""The optimiser façade: apply (scenario → LP) → solve → invert (solution → plan).

:class:`Optimizer` builds the scenario's arrays and rows once (:mod:`.workspace`) and
solves it at one budget (:mod:`.refinement`) or many (:mod:`.sweep`); :mod:`.outcome`
turns a solution into a :class:`Plan` on the real curves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from planner.core.linear_program import Model
from planner.core.plan import Plan
from planner.core.scenario_arrays import Index
from planner.core.types import Float, Int
from planner.engine import columns, exact_fill, generation, outcome, refinement, sweep
from planner.engine.marginals import true_marginals
from planner.engine.plan_assembly import headline
from planner.engine.round_off import clean_spend_customers
from planner.engine.workspace import Workspace
from planner.scenario.models import Scenario
from planner.solvers import Solution


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
    return true_marginals(opt, opt.run())  # shadow prices re-solved where degenerate (§2.6)


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
        self.ws = Workspace.build(scenario, solver, time_limit, max_budget)
        self.state = sweep.SweepState()
        self.seed: tuple[Int, Float] | None = None  # first breakpoints of a master (see nearby)
        self.warm: columns.Master | None = None     # or a whole master to start from
        self.polish = True  # column generation's last round for the duals (see generation.generate)

    def nearby(self, scenario: Scenario, time_limit: float) -> Optimizer:
        """An optimiser for ``scenario`` (this one with a limit moved a little: the marginal
        re-solves) whose column generation starts from this one's breakpoints."""
        other = type(self)(scenario, solver=self.solver, time_limit=time_limit)
        master = self.state.master
        if master is not None and other.ws.cap.shape == self.ws.cap.shape and other.ix.P == self.ix.P:
            other.warm = master.moved(other.ws)
            other.seed = (master.kt, master.lo)
        return other

    @property
    def ix(self) -> Index:
        return self.ws.ix

    @property
    def solver(self) -> str:  # asked for: auto, highs or cbc
        return self.ws.solver

    @property
    def time_limit(self) -> float:  # seconds the whole run may take
        return self.ws.time_limit

    def run(self, total_budget: float | None = None) -> Plan:
        """Solve (for ``total_budget`` if given, re-using the refined model) and evaluate."""
        if total_budget is not None and self.state.model is not None:
            return self.evaluate(self.resolve(float(total_budget)))
        started = datetime.now(UTC)
        ws = self.ws
        ws.start_clock()
        budget = ws.scenario.settings.total_budget if total_budget is None else float(total_budget)
        out = self._first(budget)
        info = outcome.run_info(ws, out.sol, started, out.solve_s, out.rounds, out.model)
        if out.sol.x is None:
            return outcome.failed(ws, out.model, out.sol, info)
        if out.pwl_tolerance is not None:
            info["pwl_tolerance"] = out.pwl_tolerance
        plan = outcome.evaluate(ws, out.model, out.sol, info)
        self.state.keep_model(ws, out.model)
        self.state.record(out.model, out.sol)
        return plan

    def headline_run(self) -> dict[str, Any]:
        """``status`` and the headline figures of a first solve, without the plan's tables
        or its dual-precision last round (the marginal re-solves need only the objective)."""
        self.ws.start_clock()
        budget = self.ws.scenario.settings.total_budget
        self.polish = False
        out = self._first(budget)
        return self.headline(Solved(budget, out.model, out.sol, {}))

    def _first(self, budget: float) -> refinement.Refined:
        """The first solve: the exact fill where only the budget binds, column generation on
        the real curves for other concave scenarios, chord bands refined otherwise (S-shaped
        curves, CBC, customer limits that need band order) or where the master found nothing."""
        ws = self.ws
        probe = exact_fill.applies(ws, budget)
        if probe is not None:
            return exact_fill.fill(ws, probe, budget)
        if columns.applies(ws):
            if self.warm is not None:
                master, out = self.warm, generation.generate(ws, self.warm, budget, polish=self.polish)
            else:
                master, out = generation.solve_columns(ws, budget, seed=self.seed, polish=self.polish)
            if out.sol.x is not None or ws.out_of_time():
                self.state.master = master
                return out
        out = refinement.solve_refined(ws, ws.bands, budget)
        if out.sol.x is not None:
            out = refinement.tighten(ws, out, budget)
        ws.bands_memo = out.bands
        return out

    def resolve(self, total_budget: float) -> Solved:
        """Solve at a total budget, re-using the model and the last solution, without
        evaluating the plan yet (:meth:`evaluate` does; :meth:`headline` is cheap)."""
        started = datetime.now(UTC)
        self.ws.start_clock()
        budget = float(total_budget)
        out = sweep.resolve(self.ws, self.state, budget)
        info = outcome.run_info(self.ws, out.sol, started, out.solve_s, out.rounds, out.model)
        info["total_budget"] = budget
        return Solved(budget, out.model, out.sol, info)

    def evaluate(self, solved: Solved) -> Plan:
        """The full plan of a :meth:`resolve` result, on the real response curves."""
        st = self.scenario.settings
        scen = self.scenario.model_copy(update={"settings": st.model_copy(update={"total_budget": solved.budget})})
        if solved.sol.x is None:
            return outcome.failed(self.ws, solved.model, solved.sol, dict(solved.info), scen)
        return outcome.evaluate(self.ws, solved.model, solved.sol, dict(solved.info), scen)

    def headline(self, solved: Solved) -> dict[str, Any]:
        """``status`` and the headline figures of a :meth:`resolve` result (real curves),
        without building the plan's tables."""
        sol = solved.sol
        if sol.x is None:
            return {"status": outcome.plan_status(sol)}
        gap = outcome.certified_gap(self.ws, solved.model, sol, solved.model.spend(sol.x))
        memo = self.ws.bound_memo
        if memo is not None and memo.sol is sol:  # the certificate evaluated it
            spend, cust = memo.spend, memo.cust
        else:
            spend, cust = clean_spend_customers(solved.model.spend(sol.x), self.ix)
        dual = 0.0 if sol.row_dual is None else -float(sol.row_dual[0])
        if sol.unbounded_budget_price:  # the first unit returns without limit (reported blank)
            dual = math.inf
        figures = headline(self.ix, spend, cust, dual)
        objective = figures.get("objective_value", float(solved.model.w_cust @ cust - solved.model.w_spend @ spend))
        status = outcome.certified_status(sol, gap, objective, self.ws.out_of_time(), solved.budget)
        return {"status": status, **figures}
