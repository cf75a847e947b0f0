"""core: the mathematics of a scenario, as numpy arrays (no solver, no Excel).

Customer value (:mod:`value`: discounting, CLV, active customers), response curves and their
chord approximations (:mod:`curves`), the scenario as flat arrays over cell-periods
(:mod:`scenario_arrays`), constraint rows (:mod:`rows`, :mod:`constraint_rows`), the linear
program as arrays (:mod:`linear_program`), and the records every upper layer shares: the
:class:`~planner.core.plan.Plan` (:mod:`plan`) and result tables described as plain data
(:mod:`sheet_spec`).  May import :mod:`planner.scenario` only.
"""
