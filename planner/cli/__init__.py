"""The ``planner`` command line: a thin layer over the library.

This is the only package that imports click.  Each command parses its arguments, makes one
library call and formats the result; library errors become exit codes here:

0 success · 1 invalid input (nothing written) · 2 usage · 3 infeasible (nothing written)
· 4 solver failure.

:mod:`app` holds the command group and what every command shares; the commands live in
:mod:`plan_commands`, :mod:`data_commands` and :mod:`many_plans`.
"""

from planner.cli import data_commands, many_plans, plan_commands  # noqa: F401  (registers the commands)
from planner.cli.app import main

__all__ = ["main"]
