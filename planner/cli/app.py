"""The ``planner`` command group and what every command shares: exit codes, error mapping,
common options, progress and formatting.  Only :mod:`planner.cli` imports click.
"""

from __future__ import annotations

import math
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pandas as pd

from planner import io
from planner.core.figures import HEADLINE_KEYS, format_figure, kind_of, label_of
from planner.core.plan import Plan
from planner.errors import PlannerError, SolverError
from planner.io import atomic
from planner.scenario import overrides
from planner.scenario.models import Scenario

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INFEASIBLE, EXIT_SOLVER = 0, 1, 2, 3, 4


class InvalidInput(click.ClickException):
    """Exit 1: the input has problems; nothing was written."""

    exit_code = EXIT_INVALID


class Infeasible(click.ClickException):
    """Exit 3: no plan meets every constraint; nothing was written."""

    exit_code = EXIT_INFEASIBLE


class SolverFailed(click.ClickException):
    """Exit 4: the solver failed or stopped without a plan."""

    exit_code = EXIT_SOLVER


@contextmanager
def user_errors(writes: bool = True) -> Iterator[None]:
    """Turn the library's domain errors into click errors; anything else is a bug."""
    tail = "\nNothing was written." if writes else ""
    try:
        with warnings.catch_warnings():
            # library warnings (openpyxl, numpy) are not for a planner's eyes: what matters is
            # reported by planner itself (Plan.warnings, the writer's losses)
            warnings.simplefilter("ignore")
            yield
    except SolverError as exc:
        raise SolverFailed(f"{exc}{tail}") from None
    except PlannerError as exc:
        raise InvalidInput(f"{exc}{tail}") from None


# --------------------------------------------------------------------------- options

_SOLVERS = click.Choice(["auto", "highs", "cbc"], case_sensitive=False)


def output_option(required: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-o/--output OUT.xlsx``: where the result workbook goes."""
    return click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                        required=required, metavar="OUT.xlsx",
                        help="Workbook to write (a copy of the input with the result sheets).")


def force_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--force``: replace sheets of the output planner did not write."""
    return click.option("--force", is_flag=True,
                        help="Replace a sheet of the output that has a result sheet's name but "
                             "was not written by planner, or an existing OUT.xlsx with sheets the "
                             "new workbook would not keep (by default planner refuses and writes "
                             "nothing).")(f)


def in_place_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--in-place``: write the result sheets into the input workbook itself."""
    return click.option("--in-place", is_flag=True,
                        help="Write the result sheets into IN.xlsx itself (no -o needed).")(f)


def resolve_output(input_path: Path, output: Path | None, in_place: bool) -> Path:
    """The output path from ``-o`` and ``--in-place`` (usage errors exit 2)."""
    if in_place:
        if output is not None and output.resolve() != input_path.resolve():
            raise click.UsageError("--in-place writes into IN.xlsx: leave out -o.")
        return input_path
    if output is None:
        raise click.UsageError("Missing option '-o' / '--output' (or use --in-place).")
    if output.resolve() == input_path.resolve():
        raise click.UsageError("OUT.xlsx is the input file: use --in-place to write into it.")
    return output


def _on_terminate(signum: int, frame: Any) -> None:
    """SIGTERM/SIGHUP: remove the temporary file of a write in progress, then exit."""
    atomic.remove_live_temps()
    raise SystemExit(128 + signum)


def solve_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that optimises: --scenario, --solver, --quiet."""
    f = click.option("-q", "--quiet", is_flag=True,
                     help="No progress bar and no terminal summary (errors still print).")(f)
    f = click.option("--solver", type=_SOLVERS, default=None,
                     help="Solver to use instead of the workbook's 'solver' setting.")(f)
    return f


def scenario_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--scenario NAME``: run one what-if scenario of the Scenarios sheet."""
    return click.option("--scenario", "scenario_name", metavar="NAME", default=None,
                        help="Apply this scenario of the Scenarios sheet to the workbook first "
                             "(default: Base, the workbook as it is).")(f)


INPUT = click.Path(path_type=Path)  # missing, folder, unreadable: the library says so (exit 1)


def load(path: Path, scenario_name: str | None = None, solver: str | None = None,
         writes: bool = True) -> Scenario:
    """Read (and optionally transform) the scenario, or exit 1 with every located problem."""

    with user_errors(writes):
        scenario = io.read_scenario(str(path))
        if scenario_name:
            scenario = overrides.apply_scenario(scenario, scenario_name)
    if solver:
        scenario = scenario.with_settings(solver=solver.lower())
    return scenario


def check_plan(plan: Plan) -> None:
    """Exit 3 (infeasible, with what must move) or 4 (no plan) unless the plan is usable."""
    if plan.ok:
        return
    if plan.status == "infeasible":
        lines = [c.message for c in plan.conflicts] or [plan.message or "no reason given"]
        body = "\n".join(f"  - {line}" for line in lines)
        raise Infeasible("the scenario is infeasible: no plan meets every constraint. "
                         f"To make it feasible:\n{body}\nNothing was written.")
    why = f": {plan.message}" if plan.message else ""
    raise SolverFailed(f"the solver stopped without a plan ({plan.status}){why}\nNothing was written.")


def warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


def report_written(warnings: Sequence[str], output: Path, quiet: bool) -> None:
    """Print the warnings of the write (or of the analysis) and where the result went."""
    for w in warnings:
        warn(w)
    if not quiet:
        click.echo(f"Wrote {output}", err=True)


def _stderr_is_terminal() -> bool:
    return click.get_text_stream("stderr").isatty()


@contextmanager
def progress_bar(label: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a bar on stderr, or None when off."""
    if quiet or not _stderr_is_terminal():
        yield None
        return
    bars: list[Any] = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(click.progressbar(length=total, label=label,
                                          file=click.get_text_stream("stderr")))
            bars[0].__enter__()
        bars[0].update(done - bars[0].pos)

    try:
        yield update
    finally:
        if bars:
            bars[0].__exit__(None, None, None)


# --------------------------------------------------------------------------- formatting


def jsonable(value: Any) -> Any:
    """A JSON value: numpy scalars become Python numbers, NaN and infinity become null."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


#: Headline figures of the printout: key, label and format kind, from the catalogue.
_HEADLINES = [(k, label_of(k), kind_of(k)) for k in HEADLINE_KEYS if k != "status"]
#: The printout's older kind names, kept for callers: money → currency, count → integer.
_KINDS = {"money": "currency", "count": "integer"}


def fmt(value: Any, kind: str = "number", currency: str = "") -> str:
    """A figure as a planner reads it (:func:`planner.core.figures.format_figure`): money
    whole from 1 000 up, counts whole, ratios with two decimals, rates as %, '-' for missing."""
    return format_figure(value, _KINDS.get(kind, kind), currency)


def _table(frame: pd.DataFrame, kinds: dict[str, str], currency: str = "", labels: bool = False) -> str:
    """A frame as indented text, its columns formatted by ``kinds`` (headers by their
    catalogue label when ``labels``)."""
    shown = frame.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col] + 0.0  # -0.0 + 0.0 is 0.0: no "-0.0" in the printout
    for col, kind in kinds.items():
        if col in shown:
            shown[col] = [fmt(v, kind, "") for v in shown[col]]
    if labels:
        shown.columns = [label_of(str(c)) for c in shown.columns]
    text = shown.to_string(index=False)
    return "\n".join("  " + line for line in text.splitlines())


def json_summary(plan: Plan, scenario_name: str | None = None) -> dict[str, Any]:
    """The ``--json`` object: every Summary figure by key, ``scenario`` the what-if applied
    (``Base`` when none) and ``workbook_scenario`` the workbook's own scenario name."""
    out = jsonable(plan.summary or {"status": plan.status})
    out["scenario"] = scenario_name or plan.run_info.get("what_if") or overrides.BASE
    out["workbook_scenario"] = plan.scenario.name
    return out


def plan_summary(plan: Plan, top: int = 10) -> str:
    """The terminal summary of a plan: headlines, top allocations, binding constraints, warnings."""
    s = plan.scenario
    cur = s.settings.currency
    what_if = plan.run_info.get("what_if")
    title = f"Plan for {s.name}" + (f" (scenario {what_if})" if what_if else "")
    lines = [f"{title}: {plan.status}"]
    for key, label, kind in _HEADLINES:
        if key in plan.summary:
            lines.append(f"  {label:<28}{fmt(plan.summary[key], kind, cur):>18}")
    alloc = plan.allocation
    if len(alloc):
        best = alloc.sort_values("spend", ascending=False).head(top)
        cols = [c for c in ("period", "segment", "channel", "program", "spend", "customers",
                            "roi", "marginal_roi") if c in best]
        lines += ["", f"Top allocations ({min(top, len(alloc))} of {len(alloc)}, {cur}):",
                  _table(best[cols], {"spend": "number", "customers": "integer", "roi": "ratio",
                                      "marginal_roi": "ratio"}, labels=True)]
    cons = plan.constraints
    if len(cons) and "binding" in cons:
        binding = cons[cons["binding"].astype(bool)]
        if len(binding):
            cols = [c for c in ("name", "metric", "sense", "limit", "actual", "shadow_price") if c in binding]
            more = len(binding) - top
            lines += ["", f"Binding constraints ({len(binding)}):",
                      _table(binding[cols].head(top), {"limit": "number", "actual": "number",
                                                       "shadow_price": "number"}, labels=True)]
            if more > 0:
                lines.append(f"  ... and {more} more in the Constraints Report sheet")
    if plan.warnings:
        lines += ["", "Warnings:", *(f"  - {w}" for w in plan.warnings)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- commands


@click.group(name="planner", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="planner", prog_name="planner")
def main() -> None:
    """Allocate acquisition and retention budgets to maximise discounted customer value.

    Scenarios live in Excel workbooks; results are written to a copy of the workbook.

    \b
    Example:
      planner template my_plan.xlsx
      planner optimize my_plan.xlsx -o my_plan_results.xlsx

    \b
    Exit codes:
      0 success
      1 invalid input (every problem is listed; nothing written)
      2 usage
      3 infeasible (what must move is listed; nothing written)
      4 solver failure
    """
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), _on_terminate)


