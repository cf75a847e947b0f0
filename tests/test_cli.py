"""The command line: every command, every exit code, exact user-facing text."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import sys
import types
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result

import planner
from planner.cli import app as cli
from planner.cli import main
from planner.core.plan import SUMMARY_KEYS, Plan
from planner.errors import SolverError, WorkbookError
from planner.scenario.models import (
    Channel,
    ConstraintRow,
    Curve,
    Override,
    Period,
    Scenario,
    Segment,
    Settings,
)

OPT = importlib.import_module("planner.engine.optimizer")
README = Path(__file__).resolve().parents[1] / "README.md"
COMMANDS = ["template", "validate", "optimize", "frontier", "compare", "fit", "value", "uplift", "risk", "sweep"]


def make(budget: float = 3000.0, channel_min: float | None = None, overrides=()) -> Scenario:
    curves = {"Email": (100.0, 500.0), "Search": (300.0, 2000.0), "Social": (200.0, 1500.0)}
    return Scenario(
        settings=Settings(scenario_name="Test plan", total_budget=budget, annual_discount_rate=0.0),
        periods=[Period(period="Q1")],
        segments=[Segment(segment="All", margin_per_period=10, retention_rate=0.5)],
        channels=[Channel(channel=c, min_spend=channel_min) for c in curves],
        curves=[Curve(segment="All", channel=c, program="acquisition", curve="saturation", a=a, b=b)
                for c, (a, b) in curves.items()],
        constraints=[ConstraintRow(name="Email cap", metric="spend", sense="<=", value=1e6,
                                   channel="Email")],
        scenarios=[Override(scenario=n, target=t, operation=o, value=v) for n, t, o, v in overrides],
    )


def book(tmp_path: Path, scenario: Scenario | None = None, name: str = "in.xlsx") -> Path:
    path = tmp_path / name
    planner.write_scenario(scenario or make(), path)
    return path


def run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_user_error(result: Result, code: int) -> None:
    """The exit code, and no traceback: click exited on purpose."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


# --------------------------------------------------------------------- help and docs


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output and f"planner {command} " in result.output
    assert main.commands[command].help


def test_the_group_lists_every_command_and_exit_codes():
    result = run("--help")
    assert result.exit_code == 0
    assert sorted(main.commands) == sorted(COMMANDS)
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", result.output, re.M)
    assert "3 infeasible" in result.output


def test_readme_documents_every_command_with_an_example():
    text = README.read_text()
    section = text.split("\n## Commands", 1)[1].split("\n## ", 1)[0]
    for command in COMMANDS:
        assert re.search(rf"^planner {command} \S", section, re.M), f"no example of {command}"
        assert f"`planner {command}" in section, f"{command} is not described"
    for code in ("0", "1", "2", "3", "4"):
        assert re.search(rf"\b{code}\b", section)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.output.startswith("planner, version ")


# --------------------------------------------------------------------- template and validate


def test_template_writes_a_workbook(tmp_path):
    out = tmp_path / "t.xlsx"
    result = run("template", out)
    assert result.exit_code == 0 and result.output == f"Wrote {out}\n"
    assert "Instructions" in openpyxl.load_workbook(out).sheetnames


def test_template_into_a_missing_folder_is_an_error(tmp_path):
    result = run("template", tmp_path / "nope" / "t.xlsx")
    assert_user_error(result, 1)
    assert result.output.startswith("Error: ")


def test_validate_a_good_workbook(tmp_path):
    path = book(tmp_path, make(overrides=[("High", "total_budget", "scale", 2)]))
    result = run("validate", path)
    assert result.exit_code == 0
    assert result.output == (
        f"OK: {path} is a valid scenario (Test plan): 1 period(s), 1 segment(s), 3 channel(s), "
        "3 curve(s), 1 constraint(s); scenarios: Base, High.\n")


def test_validate_lists_every_located_problem(tmp_path):
    path = book(tmp_path)
    wb = openpyxl.load_workbook(path)
    seg = wb["Segments"]
    header = [c.value for c in seg[1]]
    seg.cell(2, header.index("retention_rate") + 1, 1.5)
    seg.cell(2, header.index("margin_per_period") + 1, -3)
    wb.save(path)
    result = run("validate", path)
    assert_user_error(result, 1)
    assert result.output.startswith("Error: 2 problems in the scenario:\n")
    assert "Segments!" in result.output and "retention_rate" in result.output
    assert "margin_per_period" in result.output
    assert "Nothing was written" not in result.output


def test_validate_checks_the_scenarios_sheet(tmp_path):
    path = book(tmp_path, make(overrides=[("High", "total_budget", "scale", 2),
                                          ("Bad", "segment:Nobody:margin_per_period", "set", 3)]))
    result = run("validate", path)
    assert_user_error(result, 1)
    assert ("Scenarios row 3 target: 'segment:Nobody:margin_per_period' names no segment "
            "'Nobody' (expected * or one of ['All'])") in result.output


def test_validate_a_missing_file(tmp_path):
    result = run("validate", tmp_path / "missing.xlsx")
    assert_user_error(result, 1)
    assert "missing.xlsx" in result.output


# --------------------------------------------------------------------- optimize


def test_optimize_writes_the_plan_and_prints_a_summary(tmp_path):
    path, out = book(tmp_path), tmp_path / "out.xlsx"
    before = sha(path)
    result = run("optimize", path, "-o", out)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Plan for Test plan: optimal"
    assert re.search(r"^  Total spend\s+3,000 USD$", result.stdout, re.M)
    assert "Top allocations (3 of 3, USD):" in result.stdout
    assert re.search(r"Binding constraints \(1\):\n.*\n"
                     r"\s+Total budget\s+spend\s+<=\s+3,000", result.stdout)
    assert result.stderr == f"Wrote {out}\n"
    assert {"Plan", "Summary"} <= set(openpyxl.load_workbook(out).sheetnames)
    assert sha(path) == before


def test_optimize_prints_plan_warnings(tmp_path):
    result = run("optimize", book(tmp_path, make(budget=100_000)), "-o", tmp_path / "o.xlsx")
    assert result.exit_code == 0
    assert "Warnings:\n  - " in result.stdout and "unspent" in result.stdout


def test_optimize_json_prints_one_object_with_the_summary_keys(tmp_path):
    out = tmp_path / "out.xlsx"
    result = run("optimize", book(tmp_path), "-o", out, "--json")
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert set(SUMMARY_KEYS) <= set(summary)
    assert summary["status"] == "optimal" and summary["total_spend"] == pytest.approx(3000)
    assert result.stdout.count("\n") == 1 and out.exists()
    assert result.output == result.stdout  # nothing on stderr either: scripts may merge them


def test_optimize_quiet_prints_nothing(tmp_path):
    result = run("optimize", book(tmp_path), "-o", tmp_path / "out.xlsx", "--quiet")
    assert result.exit_code == 0 and result.output == ""


def test_optimize_a_what_if_scenario_with_another_solver(tmp_path):
    path = book(tmp_path, make(overrides=[("Lean", "total_budget", "scale", 0.5)]))
    base = json.loads(run("optimize", path, "-o", tmp_path / "a.xlsx", "--json").stdout)
    lean = run("optimize", path, "-o", tmp_path / "b.xlsx", "--json", "--scenario", "lean")
    cbc = run("optimize", path, "-o", tmp_path / "c.xlsx", "--json", "--scenario", "Lean",
              "--solver", "cbc")
    assert lean.exit_code == 0 and cbc.exit_code == 0
    assert json.loads(lean.stdout)["total_spend"] == pytest.approx(1500)
    assert json.loads(cbc.stdout)["net_value"] == pytest.approx(json.loads(lean.stdout)["net_value"], rel=1e-6)
    assert base["total_spend"] == pytest.approx(3000)


def test_optimize_unknown_scenario_is_invalid_input(tmp_path):
    out = tmp_path / "out.xlsx"
    result = run("optimize", book(tmp_path), "-o", out, "--scenario", "Nope")
    assert_user_error(result, 1)
    assert result.output == (
        "Error: 1 problem in the scenario:\n"
        "  - Scenarios scenario: 'Nope' is not a scenario of the Scenarios sheet "
        "(expected one of ['Base'])\nNothing was written.\n")
    assert not out.exists()


def test_optimize_in_place_and_results_only(tmp_path):
    path = book(tmp_path)
    result = run("optimize", path, "--in-place", "-q")
    assert result.exit_code == 0, result.output
    assert {"Settings", "Plan"} <= set(openpyxl.load_workbook(path).sheetnames)
    out = tmp_path / "only.xlsx"
    assert run("optimize", path, "-o", out, "--results-only", "-q").exit_code == 0
    assert "Settings" not in openpyxl.load_workbook(out).sheetnames


@pytest.mark.parametrize(("args", "message"), [
    ([], "Missing option '-o' / '--output' (or use --in-place)."),
    (["-o", "{in}"], "OUT.xlsx is the input file: use --in-place to write into it."),
    (["--in-place", "--results-only"], "--in-place and --results-only cannot be combined."),
    (["--in-place", "-o", "{out}"], "--in-place writes into IN.xlsx: leave out -o."),
    (["-o", "{out}", "--solver", "gurobi"], "Invalid value for '--solver'"),
    (["-o", "{out}", "--colour"], "No such option '--colour'"),
])
def test_optimize_usage_errors_exit_2(tmp_path, args, message):
    path, out = book(tmp_path), tmp_path / "out.xlsx"
    before = sha(path)
    result = run("optimize", path, *[a.format(**{"in": path, "out": out}) for a in args])
    assert_user_error(result, 2)
    assert message in result.output and result.output.startswith("Usage: ")
    assert not out.exists() and sha(path) == before


def test_no_arguments_is_a_usage_error():
    assert run("optimize").exit_code == 2
    assert run("nosuchcommand").exit_code == 2


def test_optimize_invalid_input_exits_1_and_writes_nothing(tmp_path):
    path, out = book(tmp_path), tmp_path / "out.xlsx"
    wb = openpyxl.load_workbook(path)
    wb["Curves"].cell(2, 1, "Nobody")
    wb.save(path)
    result = run("optimize", path, "-o", out, "--json")
    assert_user_error(result, 1)
    assert result.stdout == "" and "Curves!A2 segment: 'Nobody'" in result.output
    assert result.output.endswith("Nothing was written.\n") and not out.exists()


def test_optimize_infeasible_exits_3_with_the_conflicts(tmp_path):
    scenario = make(channel_min=2000)
    path, out = book(tmp_path, scenario), tmp_path / "out.xlsx"
    result = run("optimize", path, "-o", out)
    assert_user_error(result, 3)
    plan = planner.optimize(scenario)
    assert plan.status == "infeasible" and plan.conflicts
    assert result.output.startswith(
        "Error: the scenario is infeasible: no plan meets every constraint. To make it feasible:\n")
    for conflict in plan.conflicts:
        assert f"  - {conflict.message}\n" in result.output
    assert "'Total budget' (<= 3,000): raise it by 3,000 to 6,000" in result.output
    assert result.output.endswith("Nothing was written.\n") and not out.exists()


def test_infeasible_with_json_still_prints_the_status(tmp_path):
    result = run("optimize", book(tmp_path, make(channel_min=2000)), "-o", tmp_path / "o.xlsx", "--json")
    assert result.exit_code == 3 and json.loads(result.stdout)["status"] == "infeasible"


def test_solver_failure_exits_4(tmp_path, monkeypatch):
    out = tmp_path / "out.xlsx"
    monkeypatch.setattr(OPT, "optimize", lambda s, **k: Plan(scenario=s, status="error",
                                                              message="HiGHS crashed"))
    result = run("optimize", book(tmp_path), "-o", out)
    assert_user_error(result, 4)
    assert result.output == ("Error: the solver stopped without a plan (error): HiGHS crashed\n"
                             "Nothing was written.\n")

    def no_solver(s, **k):
        raise SolverError("no LP solver is installed")

    monkeypatch.setattr(OPT, "optimize", no_solver)
    result = run("optimize", book(tmp_path), "-o", out)
    assert_user_error(result, 4)
    assert result.output == "Error: no LP solver is installed\nNothing was written.\n"
    assert not out.exists()


def test_time_limit_without_a_plan_exits_4(tmp_path, monkeypatch):
    monkeypatch.delattr(OPT, "Optimizer", raising=False)
    monkeypatch.setattr(OPT, "optimize", lambda s, **k: Plan(scenario=s, status="time_limit"))
    result = run("frontier", book(tmp_path), "-o", tmp_path / "f.xlsx", "--points", "2")
    assert_user_error(result, 4)
    assert "(time_limit)" in result.output


def test_a_real_bug_keeps_its_traceback(tmp_path, monkeypatch):
    def broken(s, **k):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(OPT, "optimize", broken)
    result = run("optimize", book(tmp_path), "-o", tmp_path / "o.xlsx")
    assert isinstance(result.exception, ZeroDivisionError)


# --------------------------------------------------------------------- frontier and compare


def test_frontier_writes_a_frontier_sheet(tmp_path):
    path, out = book(tmp_path), tmp_path / "f.xlsx"
    result = run("frontier", path, "-o", out, "--points", "5")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Budget frontier of Test plan (USD):\n")
    assert re.search(r"^\s+6,000\s", result.stdout, re.M)  # the sweep ends at 2x budget
    wb = openpyxl.load_workbook(out)
    assert "Frontier" in wb.sheetnames and "Settings" in wb.sheetnames
    assert wb["Frontier"]._charts


def test_frontier_max_budget_and_bad_options(tmp_path):
    path = book(tmp_path)
    result = run("frontier", path, "-o", tmp_path / "f.xlsx", "--points", "3", "--max-budget", "1000")
    assert result.exit_code == 0 and re.search(r"^\s+1,000\s", result.stdout, re.M)
    for bad in (["--points", "1"], ["--max-budget", "0"], ["--points", "x"]):
        result = run("frontier", path, "-o", tmp_path / "g.xlsx", *bad)
        assert_user_error(result, 2)
    assert not (tmp_path / "g.xlsx").exists()
    assert run("frontier", path).exit_code == 2  # -o is required


def test_frontier_without_a_budget_is_invalid_input(tmp_path):
    result = run("frontier", book(tmp_path, make(budget=0)), "-o", tmp_path / "f.xlsx")
    assert_user_error(result, 1)
    assert "total_budget: 0.0 must be > 0 to sweep a frontier" in result.output


def test_frontier_where_no_budget_is_feasible_exits_3(tmp_path):
    out = tmp_path / "f.xlsx"
    result = run("frontier", book(tmp_path, make(channel_min=5000)), "-o", out, "--points", "3")
    assert_user_error(result, 3)
    assert "infeasible" in result.output and not out.exists()


def test_frontier_reports_budgets_without_a_plan(tmp_path):
    # minimums of 3 x 500 cannot be met by the budgets 0 and 1 000 of the sweep
    result = run("frontier", book(tmp_path, make(channel_min=500)), "-o", tmp_path / "f.xlsx",
                 "--points", "7")
    assert result.exit_code == 0
    assert "Warning: 2 of 7 budgets have no plan (infeasible): 0, 1,000" in result.stderr


def test_progress_bars_only_on_a_terminal_and_not_when_quiet(tmp_path, monkeypatch):
    path = book(tmp_path, make(overrides=[("High", "total_budget", "scale", 2)]))
    result = run("frontier", path, "-o", tmp_path / "a.xlsx", "--points", "3")
    assert "Budgets" not in result.stderr  # CliRunner's stderr is not a terminal
    monkeypatch.setattr(cli, "_stderr_is_terminal", lambda: True)
    result = run("frontier", path, "-o", tmp_path / "b.xlsx", "--points", "3")
    assert "Budgets" in result.stderr and "Budgets" not in result.stdout
    result = run("compare", path, "-o", tmp_path / "c.xlsx")
    assert "Scenarios" in result.stderr
    result = run("compare", path, "-o", tmp_path / "d.xlsx", "--quiet")
    assert result.output == ""


def test_compare_writes_a_comparison_sheet(tmp_path):
    path = book(tmp_path, make(overrides=[("High", "total_budget", "scale", 2),
                                          ("Low", "total_budget", "scale", 0.5)]))
    out = tmp_path / "c.xlsx"
    result = run("compare", path, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Scenarios compared (USD):\n")
    names = [line.split()[0] for line in result.stdout.splitlines()[2:]]
    assert names == ["Base", "High", "Low"]
    wb = openpyxl.load_workbook(out)
    assert "Comparison" in wb.sheetnames and wb["Comparison"]._charts


def test_compare_with_a_bad_scenario_exits_1(tmp_path):
    out = tmp_path / "c.xlsx"
    path = book(tmp_path, make(overrides=[("High", "total_budget", "scale", 2),
                                          ("Odd", "segment:All:retention_rate", "set", 2)]))
    result = run("compare", path, "-o", out)
    assert_user_error(result, 1)
    assert ("Scenarios row 3 value: 2.0 gives segment 'All' retention_rate 2.0, which is not "
            "allowed: expected a number < 1") in result.output
    assert not out.exists()


def test_compare_with_an_infeasible_scenario_warns(tmp_path):
    path = book(tmp_path, make(channel_min=500, overrides=[("Tiny", "total_budget", "set", 100)]))
    result = run("compare", path, "-o", tmp_path / "c.xlsx")
    assert result.exit_code == 0
    assert "Warning: scenario 'Tiny' has no plan (infeasible)." in result.stderr


def test_compare_with_an_infeasible_base_exits_3(tmp_path):
    out = tmp_path / "c.xlsx"
    path = book(tmp_path, make(channel_min=2000, overrides=[("Big", "total_budget", "set", 1e5)]))
    result = run("compare", path, "-o", out)
    assert_user_error(result, 3)
    assert not out.exists()


# --------------------------------------------------------------------- data commands


@pytest.fixture
def data_modules(monkeypatch):
    """Stand-ins for planner.analysis.fit / segment_value / uplift that record their calls."""
    calls: list[tuple[str, tuple, dict]] = []

    def recorder(name: str):
        def call(*args, **kwargs):
            calls.append((name, args, kwargs))
            if "bad" in str(args[0]):
                raise WorkbookError(f"{args[0]}: not an xlsx workbook")
            return types.SimpleNamespace(warnings=["2 cells have too few points"], table=None)
        return call

    for func in ("fit_workbook", "value_workbook", "uplift_workbook"):
        monkeypatch.setattr(f"planner.workflows.{func}", recorder(func))
    return calls


def test_fit_value_uplift_call_the_library(tmp_path, data_modules):
    out = str(tmp_path / "s.xlsx")
    assert run("fit", "history.xlsx", "-o", out).exit_code == 0
    result = run("value", "tx.csv", "-o", out, "--periods-per-year", "12", "--segments", "rfm")
    assert result.exit_code == 0
    assert result.stderr == f"Warning: 2 cells have too few points\nWrote {out}\n"
    assert run("uplift", "a.csv", "b.csv", "-o", out, "--n-boot", "500", "--seed", "7").exit_code == 0
    assert data_modules == [
        ("fit_workbook", ("history.xlsx", out), {"force": False}),
        ("value_workbook", ("tx.csv", out), {"periods_per_year": 12, "segments": "rfm", "force": False}),
        ("uplift_workbook", ("a.csv", "b.csv", out), {"force": False, "n_boot": 500, "seed": 7}),
    ]


def test_data_commands_exit_codes(tmp_path, data_modules):
    out = tmp_path / "s.xlsx"
    result = run("fit", "bad.xlsx", "-o", out)
    assert_user_error(result, 1)
    assert result.output == "Error: bad.xlsx: not an xlsx workbook\nNothing was written.\n"
    assert run("value", "tx.csv", "-o", out, "--segments", "abc").exit_code == 2
    assert run("value", "tx.csv", "-o", out, "--periods-per-year", "5").exit_code == 2
    assert run("uplift", "a.csv", "-o", out).exit_code == 2
    assert run("fit", "history.xlsx").exit_code == 2
    assert [c[0] for c in data_modules] == ["fit_workbook"]  # usage errors call nothing


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_json_stdout_is_clean_at_the_file_descriptor_level(tmp_path, solver):
    """Solver banners written by C code would bypass CliRunner: run a real process."""
    import subprocess

    path = book(tmp_path, make(channel_min=100))
    proc = subprocess.run([sys.executable, "-m", "planner.cli", "optimize", str(path), "-o",
                           str(tmp_path / "o.xlsx"), "--json", "--solver", solver],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "optimal"
    assert proc.stdout.count("\n") == 1


def test_a_time_limited_plan_is_written_with_a_warning(tmp_path, monkeypatch):
    """DESIGN: the best plan found within the time limit, status time_limit, exit 0, a warning."""
    real = OPT.optimize

    def stopped(s, **k):
        plan = real(s)
        plan.status = plan.summary["status"] = "time_limit"
        return plan

    monkeypatch.setattr(OPT, "optimize", stopped)
    out = tmp_path / "o.xlsx"
    result = run("optimize", book(tmp_path), "-o", out)
    assert result.exit_code == 0 and out.exists()
    assert "Warning: the run stopped at its time limit (time_limit_s)" in result.stderr


def test_a_time_limit_without_a_plan_exits_4_naming_time_limit_s(tmp_path, monkeypatch):
    from planner.core.plan import Plan

    def nothing(s, **k):
        return Plan(scenario=s, status="time_limit", message="No feasible plan was found within "
                    "time_limit_s = 1 s; raise time_limit_s in Settings.")

    monkeypatch.setattr(OPT, "optimize", nothing)
    out = tmp_path / "o.xlsx"
    result = run("optimize", book(tmp_path), "-o", out)
    assert result.exit_code == 4 and not out.exists()
    assert "time_limit_s" in result.stderr


def test_fit_value_uplift_end_to_end(tmp_path):
    """The real data modules behind the commands, on small synthetic data."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = [(f"c{c}", pd.Timestamp(2023, 1, 1) + pd.Timedelta(days=int(m * 30.4 + rng.integers(0, 28))),
             float(rng.gamma(2, 30)), "Gold" if c % 3 == 0 else "Silver")
            for c in range(150) for m in range(24) if rng.random() < (0.5 if c % 3 == 0 else 0.3)]
    tx = pd.DataFrame(rows, columns=["customer_id", "date", "amount", "segment"])
    tx.to_csv(tmp_path / "tx.csv", index=False)
    tx[tx.date < "2024-01-01"].to_csv(tmp_path / "before.csv", index=False)
    tx[tx.date >= "2024-01-01"].to_csv(tmp_path / "after.csv", index=False)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "History"
    ws.append(["segment", "channel", "program", "period", "spend", "customers"])
    for i, x in enumerate(np.linspace(100, 4000, 10)):
        ws.append(["All", "Email", "acquisition", f"P{i}", float(x),
                   float(100 * (1 - np.exp(-x / 500)) * rng.normal(1, 0.03))])
    wb.save(tmp_path / "history.xlsx")

    for args, sheet in ((["value", tmp_path / "tx.csv", "--segments", "given"], "Segments"),
                        (["uplift", tmp_path / "before.csv", tmp_path / "after.csv", "--n-boot", "200"],
                         "Uplift"),
                        (["fit", tmp_path / "history.xlsx"], "Curves")):
        out = tmp_path / f"{args[0]}.xlsx"
        result = run(*args, "-o", out)
        assert result.exit_code == 0, result.output
        assert f"Wrote {out}" in result.stderr
        assert sheet in openpyxl.load_workbook(out).sheetnames
