"""planner: allocate acquisition and retention budgets to maximise discounted customer value.

>>> import planner
>>> callable(planner.optimize)
True
"""

from __future__ import annotations

from planner._version import __version__
from planner.analysis.frontier import frontier
from planner.core.plan import Plan
from planner.engine.optimizer import Optimizer, optimize
from planner.errors import (
    Issue,
    OutputError,
    PlannerError,
    ScenarioError,
    SolverError,
    WorkbookError,
)
from planner.io.workbook import (
    read_scenario,
    read_table,
    write_plan,
    write_scenario,
    write_sheets,
    write_template,
)
from planner.scenario.models import (
    Channel,
    ConstraintRow,
    Curve,
    CurvePoint,
    Override,
    Period,
    Scenario,
    SeasonalityRow,
    Segment,
    Settings,
)
from planner.scenario.overrides import apply_scenario, compare

__all__ = [
    "Channel", "ConstraintRow", "Curve", "CurvePoint", "Issue", "OutputError", "Optimizer", "Override",
    "Period", "Plan", "PlannerError", "Scenario", "ScenarioError", "SeasonalityRow", "Segment",
    "Settings", "SolverError", "WorkbookError", "__version__", "apply_scenario", "compare",
    "frontier", "optimize", "read_scenario", "read_table", "write_plan", "write_scenario",
    "write_sheets", "write_template",
]
