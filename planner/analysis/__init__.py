"""analysis: questions answered with many plans or with data.

Scenario comparison (:mod:`compare`), the budget frontier (:mod:`frontier`), response curves
fitted to spend history (:mod:`fit`), segment value measured from transactions
(:mod:`segment_value`) and CLV uplift between two periods (:mod:`uplift`).  Takes and returns
data (:class:`~planner.core.sheet_spec.SheetSpec` for sheets); may import ``engine`` and the
layers below it, never :mod:`planner.io` (files are :mod:`planner.workflows`' job).
"""
