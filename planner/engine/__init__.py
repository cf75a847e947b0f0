"""engine: find the plan and say how far from the optimum it can be.

The :class:`~planner.engine.optimizer.Optimizer` façade (:func:`planner.optimize`) builds the
model from :mod:`planner.core`, solves it through :mod:`planner.solvers`, certifies the answer
on the real curves (:mod:`certificate`), assembles the :class:`~planner.core.plan.Plan`
(:mod:`plan_assembly`; customers on the real curves in :mod:`real_customers`, the
solver's round-off removed in :mod:`round_off`) and explains infeasible scenarios (:mod:`infeasibility`).  Sits beside
:mod:`planner.io` and never imports it (nor ``analysis`` or the CLI).
"""
