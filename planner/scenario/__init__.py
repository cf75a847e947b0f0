"""scenario: what the planner describes, as validated data (the bottom layer).

The pydantic models of a scenario workbook (:mod:`models`: settings, periods, segments,
channels, curves, constraints, Scenarios-sheet overrides) with the cross-sheet checks that
locate every problem; applying a named what-if of the Scenarios sheet (:mod:`overrides`); the
bundled example scenarios (:mod:`examples`).  Imports nothing of planner but
:mod:`planner.errors`: every other layer builds on it.
"""
