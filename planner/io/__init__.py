"""io: workbooks in and out (the only layer that imports openpyxl).

Reads scenario workbooks and data sheets into the scenario models and DataFrames
(:mod:`grids` and :mod:`sheet_stream` stream only the sheets needed, :mod:`sheet_match` tells
which sheet is which, :mod:`cells` and :mod:`scenario_reader` give values meaning), checks
every file before any XML is parsed (:mod:`zip_preflight`), and writes plans, scenarios, the template and result sheets
described as :class:`~planner.core.sheet_spec.SheetSpec` (:mod:`report_sheets`,
:mod:`writer`, :mod:`excel`, :mod:`template`).  Sits beside ``engine``: it may import
``scenario``, ``core`` and ``planner.errors``, never ``engine``, ``analysis`` or the CLI.
"""

from planner.io.scenario_reader import ROW_MODELS, read_scenario, read_table
from planner.io.writer import (
    scenario_sheets,
    write_plan,
    write_scenario,
    write_sheets,
    write_template,
)

__all__ = [
    "ROW_MODELS", "read_scenario", "read_table", "scenario_sheets", "write_plan",
    "write_scenario", "write_sheets", "write_template",
]
