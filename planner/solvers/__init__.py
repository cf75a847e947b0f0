"""solvers: an LP given as arrays in, a checked solution out.

HiGHS (highspy) and CBC (through PuLP) behind one front end, plus the exact greedy fill for
a budget-only model.  The only layer that imports highspy or pulp.  May import
:mod:`planner.core` and :mod:`planner.scenario`.
"""
