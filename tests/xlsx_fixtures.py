"""Helpers for the workbook tests: build workbooks cell by cell, and a hand-made plan."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd

from planner.core.plan import CONSTRAINT_COLUMNS, PLAN_COLUMNS, Plan
from planner.scenario.examples import email_upgrade
from planner.scenario.models import Scenario

#: A small valid scenario as sheet rows (header first), for breaking one thing at a time.
GOOD: dict[str, list[list[Any]]] = {
    "Settings": [["setting", "value"], ["total_budget", 10_000], ["currency", "EUR"],
                 ["scenario_name", "Good"]],
    "Periods": [["period", "budget", "seasonality"], ["Q1", None, 1], ["Q2", None, 1.2]],
    "Segments": [["segment", "customers", "prospects", "margin_per_period", "retention_rate"],
                 ["VIP", 1000, None, 50, 0.9], ["Mass", 5000, 20_000, 10, 0.7]],
    "Channels": [["channel", "min_spend", "max_spend", "cost_per_contact"],
                 ["Email", None, None, 0.05], ["Search", None, 8000, None]],
    "Curves": [["segment", "channel", "program", "curve", "a", "b", "shape", "max_spend"],
               ["VIP", "Email", "retention", "saturation", 30, 500, None, None],
               ["Mass", "Search", "acquisition", "hill", 400, 3000, 0.8, None],
               ["Mass", "Email", "acquisition", "linear", 100, 20, None, None]],
}


def make_book(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """Write ``sheets`` (name → rows, header first) with openpyxl, values as given."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def sheets(**changes: list[list[Any]] | None) -> dict[str, list[list[Any]]]:
    """:data:`GOOD` with some sheets replaced (or removed when given None)."""
    out = {k: [list(r) for r in v] for k, v in GOOD.items()}
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def hand_plan(scenario: Scenario | None = None) -> Plan:
    """A plan built by hand (no optimiser): one row per (period, segment, channel, program)."""
    s = scenario or email_upgrade()
    alloc = pd.DataFrame(
        [["Campaign", s.segments[0].segment, s.channels[0].channel, "acquisition", 100_000.0, 500.0,
          5_000_000.0, 50.0, 0.0]],
        columns=PLAN_COLUMNS,
    )
    summary = {"total_spend": 100_000.0, "total_value": 5_000_000.0, "baseline_value": 0.0,
               "net_value": 4_900_000.0, "roi": 50.0, "new_customers": 500.0, "retained_customers": 0.0,
               "blended_cac": 200.0, "cost_per_retained": float("nan"), "unspent_budget": 0.0,
               "budget_shadow_price": 49.0, "optimality_gap_bound": 0.0, "status": "optimal"}
    constraints = pd.DataFrame([["Total budget", "spend", "<=", 100_000.0, 100_000.0, 0.0, True, 49.0]],
                               columns=CONSTRAINT_COLUMNS)
    return Plan(scenario=s, status="optimal", allocation=alloc, summary=summary, constraints=constraints,
                run_info={"solver": "by hand", "solve_seconds": 0.01})
