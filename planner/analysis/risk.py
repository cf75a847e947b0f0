"""Plan risk (docs/design.md §7): how sure is this plan?

:func:`plan_risk` finds the plan as :func:`planner.optimize` does, then evaluates that
fixed plan on every Monte Carlo draw of the inputs that carry a range
(:mod:`planner.analysis.risk_draws`), vectorised over draws with no re-solve
(:mod:`planner.analysis.risk_eval`).  With ``robust`` it also finds the plan that maximises
the expected objective over the same draws (:mod:`planner.analysis.risk_robust`) and
evaluates it on the same draws, beside the base plan.  Results are plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from planner.analysis.risk_draws import Draws, Float, draw_inputs
from planner.analysis.risk_eval import Outcomes, PlanOnDraws, plan_spend
from planner.analysis.risk_robust import robust_scenario
from planner.core.plan import PLAN_COLUMNS, Plan
from planner.core.scenario_arrays import Index
from planner.core.sheet_spec import ChartSpec, SheetSpec, TableBlock
from planner.engine.optimizer import optimize
from planner.scenario.models import Scenario

__all__ = ["FIGURES", "RiskResult", "plan_risk", "summarize"]

#: the figures of the Risk sheet and their number formats
FIGURES: dict[str, str] = {"total_value": "currency", "net_value": "currency", "new_customers": "number",
                           "retained_customers": "number", "roi": "ratio", "blended_cac": "currency"}
STATS = ("mean", "p10", "p50", "p90")
HISTOGRAM_BINS = 20
_ROW_FORMAT = "_format"  # per-row number format column (planner.io.excel.ROW_FORMAT)


def summarize(values: Float) -> dict[str, float]:
    """Mean, P10, P50 and P90 of draws (NaN draws, e.g. a CAC without customers, ignored)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return dict.fromkeys(STATS, float("nan"))
    p10, p50, p90 = np.percentile(v, [10, 50, 90])
    return {"mean": float(v.mean()), "p10": float(p10), "p50": float(p50), "p90": float(p90)}


def _probabilities(o: Outcomes, scenario: Scenario) -> dict[str, float]:
    st = scenario.settings
    out = {"prob_net_value_below_0": float(np.mean(o.net_value < 0))}
    if st.objective == "target_mroi":
        out["prob_roi_below_target_mroi"] = float(np.mean(~(o.roi >= st.target_mroi)))
    return out


@dataclass
class RiskResult:
    """A plan and its figures over the draws (and the robust plan's, with ``robust``).

    ``outcomes`` is None when the plan has no usable status (``plan.ok`` is False).
    """

    scenario: Scenario
    plan: Plan
    draws: Draws
    outcomes: Outcomes | None = None
    robust_plan: Plan | None = None
    robust_outcomes: Outcomes | None = None
    warnings: list[str] = field(default_factory=list)

    def figures(self, robust: bool = False) -> dict[str, dict[str, float]]:
        """``{figure: {mean, p10, p50, p90}}`` of the base (or robust) plan."""
        o = self.robust_outcomes if robust else self.outcomes
        if o is None:
            return {}
        return {k: summarize(v) for k, v in o.figures().items()}

    def probabilities(self, robust: bool = False) -> dict[str, float]:
        o = self.robust_outcomes if robust else self.outcomes
        return {} if o is None else _probabilities(o, self.scenario)

    def trade_off(self) -> dict[str, float]:
        """What the robust plan gives up at the median and gains at P10 and on average
        (net value, robust minus base: positive is better for the robust plan)."""
        if self.robust_outcomes is None or self.outcomes is None:
            return {}
        b, r = summarize(self.outcomes.net_value), summarize(self.robust_outcomes.net_value)
        return {"median_net_value_given_up": b["p50"] - r["p50"], "p10_net_value_gained": r["p10"] - b["p10"],
                "mean_net_value_gained": r["mean"] - b["mean"]}

    def as_dict(self) -> dict[str, Any]:
        """The Risk figures as JSON-ready data: ``{figure: {mean, p10, p50, p90}, …}``,
        the probabilities, and ``robust`` / ``trade_off`` with a robust plan."""
        out: dict[str, Any] = {**self.figures(), **self.probabilities()}
        if self.robust_outcomes is not None:
            out["robust"] = {**self.figures(True), **self.probabilities(True)}
            out["trade_off"] = self.trade_off()
        return out

    def table(self) -> pd.DataFrame:
        """The Risk table: one row per figure (mean, P10, P50, P90), then the probabilities."""
        rows = [{"figure": k, **v, _ROW_FORMAT: FIGURES[k]} for k, v in self.figures().items()]
        rows += [{"figure": k, "mean": p, _ROW_FORMAT: "percent"} for k, p in self.probabilities().items()]
        return pd.DataFrame(rows, columns=["figure", *STATS, _ROW_FORMAT])

    def sheets(self) -> list[SheetSpec]:
        """Sheet ``Risk`` (the table, header on row 1; histogram of net value; P10-P90 by
        segment; with a robust plan, both plans on the same draws) and ``Robust Plan``."""
        if self.outcomes is None:
            return []
        o, cur = self.outcomes, self.scenario.settings.currency
        # object columns: each row keeps its own number format (money, count, ratio, share)
        blocks = [TableBlock(self.table().astype(object), None, {"figure": "text"}, "Risk")]
        net = o.net_value
        counts, edges = np.histogram(net, bins=HISTOGRAM_BINS)
        hist = pd.DataFrame({"net_value_from": edges[:-1], "net_value_to": edges[1:],
                             "net_value": (edges[:-1] + edges[1:]) / 2, "draws": counts})
        blocks.append(TableBlock(hist, f"Net value over {self.draws.n} draws (seed {self.draws.seed})",
                                 {"net_value_from": "currency", "net_value_to": "currency",
                                  "net_value": "currency", "draws": "integer"}))
        q = np.percentile(o.segment_net_value, [10, 50, 90], axis=0)
        seg = pd.DataFrame({"segment": [s.segment for s in self.scenario.segments],
                            "p10": q[0], "p50": q[1], "p90": q[2]})
        blocks.append(TableBlock(seg, "Net value by segment (value less its discounted spend)",
                                 dict.fromkeys(("p10", "p50", "p90"), "currency")))
        charts = [ChartSpec("bar", "Net value over the draws", 1, "net_value", ["draws"], "net value", "draws"),
                  ChartSpec("bar", "Net value by segment: P10, P50, P90", 2, "segment", ["p10", "p50", "p90"],
                            "segment", "net value")]
        specs = [SheetSpec("Risk", blocks, charts, currency=cur, layout="table")]
        if self.robust_outcomes is not None and self.robust_plan is not None:
            specs[0].blocks += self._robust_blocks()
            specs[0].charts.append(ChartSpec("bar", "Net value: base and robust plan", 3, "statistic",
                                              ["base", "robust"], "", "net value"))
            specs.append(SheetSpec("Robust Plan", [TableBlock(self.robust_plan.allocation[PLAN_COLUMNS], None,
                                                              {"spend": "currency", "value": "currency",
                                                               "customers": "number", "roi": "ratio",
                                                               "marginal_roi": "ratio"})], currency=cur))
        return specs

    def _robust_blocks(self) -> list[TableBlock]:
        assert self.outcomes is not None and self.robust_outcomes is not None
        base, rob = summarize(self.outcomes.net_value), summarize(self.robust_outcomes.net_value)
        both = pd.DataFrame({"statistic": list(STATS), "base": [base[s] for s in STATS],
                             "robust": [rob[s] for s in STATS]})
        fb, fr = self.figures(), self.figures(True)
        rows = [{"figure": k, **{f"base_{s}": fb[k][s] for s in STATS}, **{f"robust_{s}": fr[k][s] for s in STATS}}
                for k in FIGURES]
        every = pd.DataFrame(rows)
        trade = pd.DataFrame({"measure": list(self.trade_off()), "value": list(self.trade_off().values())})
        money = dict.fromkeys(("base", "robust"), "currency")
        return [TableBlock(both, "Net value of the base and the robust plan on the same draws", money),
                TableBlock(every, "Every figure, base and robust plan, same draws"),
                TableBlock(trade, "Robust minus base (net value)", {"value": "currency"})]


def plan_risk(scenario: Scenario, *, draws: int | None = None, seed: int | None = None,
              robust: bool = False, solver: str | None = None, time_limit: float | None = None) -> RiskResult:
    """Find the plan and measure its risk over draws of the uncertain inputs.

    Parameters
    ----------
    scenario : Scenario
        Ranges on Curves (``a_low`` … ``b_high``) and Segments (``margin_low`` …
        ``retention_high``); settings ``risk_draws``, ``risk_seed``, ``risk_correlation``.
    draws, seed : int, optional
        Override ``risk_draws`` and ``risk_seed``.
    robust : bool
        Also find the plan that maximises the expected objective over the same draws.
    solver, time_limit
        As for :func:`planner.optimize`.

    Returns
    -------
    RiskResult
        With ``outcomes`` None when the plan is not usable (check ``plan.ok``).

    Examples
    --------
    >>> from planner.scenario.examples import retail_quarterly
    >>> r = plan_risk(retail_quarterly(), draws=200, seed=1)
    >>> f = r.figures()["net_value"]
    >>> f["p10"] < f["p50"] < f["p90"]
    True
    """
    st = scenario.settings
    d = draw_inputs(scenario, draws if draws is not None else st.risk_draws,
                    seed if seed is not None else st.risk_seed, st.risk_correlation)
    plan = optimize(scenario, solver=solver, time_limit=time_limit)
    result = RiskResult(scenario, plan, d)
    if not plan.ok:
        return result
    ix = Index.build(scenario)
    result.outcomes = PlanOnDraws(ix, plan_spend(ix, plan), d).outcomes()
    if d.uncertain == 0:
        result.warnings.append("no input has a range (a_low … b_high on Curves, margin_low … "
                               "retention_high on Segments): every draw is the plan itself")
    if robust:
        rplan = optimize(robust_scenario(ix, d), solver=solver, time_limit=time_limit)
        result.robust_plan = rplan
        if rplan.ok:
            result.robust_outcomes = PlanOnDraws(ix, plan_spend(ix, rplan), d).outcomes()
        else:
            result.warnings.append(f"the robust plan could not be found ({rplan.status}): {rplan.message}")
    return result
