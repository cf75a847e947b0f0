"""Solvers: an LP (arrays) in, a checked :class:`Solution` with a :class:`Status` out.

Owns the back ends (HiGHS in :mod:`.highs`, CBC through PuLP in :mod:`.cbc`, the exact
greedy fill in :mod:`.greedy`) behind one front end, :func:`solve`, which checks every
answer the same way.  The only layer that imports highspy or pulp.  May import
``planner.core`` and ``planner.errors``; nothing above.
"""

from planner.solvers.frontend import FEAS_TOL, check, max_violation, solve
from planner.solvers.highs import HighsSession
from planner.solvers.result import Solution, Status

__all__ = ["FEAS_TOL", "HighsSession", "Solution", "Status", "check", "max_violation", "solve"]
