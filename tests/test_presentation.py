"""Presentation: labels, number formats, Excel tables and sheets a script can read back."""

from __future__ import annotations

import math
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import planner
from planner.analysis.compare import compare
from planner.analysis.frontier import frontier
from planner.cli.app import _table, fmt, json_summary, plan_summary
from planner.core.figures import FIGURES, HEADLINE_KEYS, figure, format_figure
from planner.core.plan import CONSTRAINT_COLUMNS, PLAN_COLUMNS
from planner.core.sheet_spec import ChartSpec, SheetSpec, TableBlock
from planner.io import write_plan, write_sheets
from planner.io.excel import number_format
from planner.io.report_sheets import ROW_FORMAT, summary_sheet
from planner.io.sheet_parts import shown_decimals
from planner.scenario.examples import retail_quarterly

KINDS = ("currency", "integer", "ratio", "percent", "number")


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The retail plan, frontier and comparison written as a user gets them."""
    folder = tmp_path_factory.mktemp("present")
    s = retail_quarterly()
    plan = planner.optimize(s)
    out = {"plan": folder / "plan.xlsx", "frontier": folder / "frontier.xlsx", "compare": folder / "compare.xlsx"}
    write_plan(plan, out["plan"])
    write_sheets(frontier(s, points=6).sheets(), out["frontier"])
    write_sheets(compare(s).sheets(), out["compare"])
    return out


# --------------------------------------------------------------------------- the catalogue


def test_one_catalogue_names_every_headline_figure() -> None:
    assert HEADLINE_KEYS[:4] == ["total_spend", "total_value", "net_value", "roi"]
    assert HEADLINE_KEYS[-1] == "status"
    for key in HEADLINE_KEYS:
        f = FIGURES[key]
        assert f.label and f.label != key and f.meaning and len(f.meaning) <= 50, key
    assert len({FIGURES[k].label for k in HEADLINE_KEYS}) == len(HEADLINE_KEYS)
    assert figure("new_customers").kind == "integer" and figure("optimality_gap_relative").kind == "percent"


@pytest.mark.parametrize(("value", "kind", "text"), [
    (1_700_000.4, "currency", "1,700,000 USD"), (999.994, "currency", "999.99 USD"), (0.0, "currency", "0 USD"),
    (-1_234.5, "currency", "-1,234 USD"), (39_058.07, "integer", "39,058"), (3.17768, "ratio", "3.18"),
    (0.255745, "percent", "25.6%"), (0.000217, "percent", "0.02%"), (-1e-12, "ratio", "0.00"),
    (-0.004, "currency", "0.00 USD"), (None, "currency", "-"), (math.nan, "ratio", "-"), ("optimal", "text", "optimal"),
])
def test_format_figure(value: object, kind: str, text: str) -> None:
    assert format_figure(value, kind, "USD") == text


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12), st.sampled_from(KINDS))
@example(-0.0, "ratio")
@example(-0.004999, "ratio")
@example(-0.0004999, "percent")
@example(-999.995, "currency")
def test_format_figure_never_shows_minus_zero_and_keeps_the_value(x: float, kind: str) -> None:
    text = format_figure(x, kind, "USD")
    number = text.removesuffix(" USD").removesuffix("%")
    assert not re.fullmatch(r"-0(\.0*)?", number), text
    shown = float(number.replace(",", "")) / (100 if kind == "percent" else 1)
    places = len(number.split(".")[1]) if "." in number else 0
    assert abs(shown - x) <= 0.5 * 10.0 ** -places * (0.01 if kind == "percent" else 1) * (1 + 1e-9) + 1e-9 * abs(x)
    if kind == "currency" and abs(x) >= 1000:
        assert "." not in number and (abs(x) < 1e4 or "," in number)


@pytest.mark.parametrize(("kind", "scale", "fmt"), [
    ("currency", 25_000.0, '#,##0" EUR";-#,##0" EUR";0" EUR"'),
    ("currency", 28.15, '#,##0.00" EUR";-#,##0.00" EUR";0.00" EUR"'),
    ("integer", 5.0, "#,##0"), ("percent", 0.25, "0.0%"), ("percent", 0.002, "0.00%"),
    ("number", 0.07, "#,##0.000"), ("number", 560_000.0, "#,##0"), ("precise", 1.0, "#,##0.00##"),
    ("general", 0.001, None),
])
def test_number_formats(kind: str, scale: float, fmt: str | None) -> None:
    assert number_format(kind, "EUR", scale) == fmt


# --------------------------------------------------------------------------- the sheets


def test_result_tables_read_back_with_pandas_from_row_1(books: dict[str, Path]) -> None:
    plan = pd.read_excel(books["plan"], sheet_name="Plan")
    assert list(plan.columns) == PLAN_COLUMNS and len(plan) > 10
    report = pd.read_excel(books["plan"], sheet_name="Constraints Report")
    assert list(report.columns[: len(CONSTRAINT_COLUMNS)]) == CONSTRAINT_COLUMNS
    # the user's own constraints first (Constraints sheet order), then the total budget
    own = [c.name for c in retail_quarterly().constraints]
    names = list(report["name"])
    first_generated = names.index("Total budget")
    assert first_generated > 0
    assert all(any(n.startswith(o) for o in own) for n in names[:first_generated])
    assert not any(any(n.startswith(o) for o in own) for n in names[first_generated:])
    front = pd.read_excel(books["frontier"], sheet_name="Frontier")
    assert list(front.columns[:6]) == ["budget", "spend", "value", "net_value", "marginal_roi", "incremental_roi"]
    assert front["budget"].is_monotonic_increasing and len(front) == 6
    comp = pd.read_excel(books["compare"], sheet_name="Comparison")
    assert list(comp["scenario"]) == ["Base", "Budget +20%", "Email costs up", "TV capped"]
    assert comp.loc[0, "delta_net_value"] == 0 and comp["total_spend"].dtype.kind == "f"
    spend = pd.read_excel(books["compare"], sheet_name="Comparison Spend")
    channels = [c.channel for c in retail_quarterly().channels]
    assert list(spend.columns[: len(channels) + 1]) == ["scenario", *channels]
    assert spend[channels].sum(axis=1).to_numpy() == pytest.approx(comp["total_spend"].to_numpy())
    for frame in (plan, report, front, comp, spend):  # notes beside a table add no rows
        assert frame.iloc[:, 0].notna().all()


def test_every_result_table_is_an_excel_table_with_a_stable_name(books: dict[str, Path]) -> None:
    names = {ws.title: set(ws.tables) for p in books.values() for ws in openpyxl.load_workbook(p).worksheets}
    assert names["Plan"] == {"Plan"} and names["Constraints Report"] == {"Constraints"}
    assert names["Run Info"] == {"RunInfo"} and names["Frontier"] == {"Frontier"}
    assert names["Comparison"] == {"Comparison"} and names["Comparison Spend"] == {"ComparisonSpend"}
    assert {"Headlines", "ByChannel", "BySegment", "ByPeriod", "SpendByChannelPeriod"} <= names["Summary"]
    ws = openpyxl.load_workbook(books["plan"])["Plan"]
    assert ws.tables["Plan"].ref == f"A1:I{ws.max_row}"


def test_table_names_stay_unique_when_a_workbook_already_uses_them(tmp_path: Path) -> None:
    spec = SheetSpec("Other", [TableBlock(pd.DataFrame({"a": [1.0]}), name="Plan")], layout="table")
    src = tmp_path / "src.xlsx"
    write_sheets([spec], src)
    out = tmp_path / "out.xlsx"
    write_plan(planner.optimize(retail_quarterly()), out, source=src)
    wb = openpyxl.load_workbook(out)
    assert set(wb["Other"].tables) == {"Plan"} and set(wb["Plan"].tables) == {"Plan_2"}


def test_formats_as_a_reader_expects(books: dict[str, Path]) -> None:
    wb = openpyxl.load_workbook(books["plan"])
    rows = {r[3].value: r for r in wb["Summary"].iter_rows(max_col=4) if r[3].value}
    assert rows["total_spend"][0].value == "Total spend"
    assert rows["total_spend"][1].number_format.startswith('#,##0" USD"')  # whole money above 1 000
    assert rows["blended_cac"][1].number_format.startswith('#,##0.00" USD"')
    assert rows["new_customers"][1].number_format == "#,##0"
    assert rows["optimality_gap_relative"][1].number_format.endswith("%")
    plan = wb["Plan"]
    assert plan["F1"].value == "customers" and plan["F2"].number_format == "#,##0"
    info = {r[0].value: r[1] for r in wb["Run Info"].iter_rows(min_row=2)}
    assert info["pwl_tolerance"].value == 0.001 and info["pwl_tolerance"].number_format == "General"
    assert info["variables"].number_format == "#,##0"


def test_minus_zero_is_written_as_zero(tmp_path: Path) -> None:
    frame = pd.DataFrame({"slack": [-1e-12, -0.004, -0.006, -0.0], "spend": [-0.3, 2.0, 3.0, 4.0]})
    out = tmp_path / "z.xlsx"
    write_sheets([SheetSpec("Z", [TableBlock(frame, formats={"slack": "ratio", "spend": "currency"})])], out)
    ws = openpyxl.load_workbook(out)["Z"]
    slack = [ws.cell(row=r, column=1) for r in range(2, 6)]
    # shown with two decimals: -1e-12, -0.004 and -0.0 would read "-0.00"; -0.006 is "-0.01"
    assert [c.value for c in slack] == [0.0, 0.0, -0.006, 0.0]
    assert all(math.copysign(1.0, c.value) > 0 for c in slack if c.value == 0)
    assert {shown_decimals(c.number_format) for c in slack} == {2}
    assert ws["B2"].value == -0.3


def test_summary_opens_with_a_brief(tmp_path: Path) -> None:
    plan = planner.optimize(retail_quarterly())
    spec = summary_sheet(plan)
    assert spec.notes[0] == "Retail quarterly plan: optimal"
    brief = spec.notes[1]
    s = plan.summary
    assert f"spends {format_figure(s['total_spend'], 'currency', 'USD')}" in brief
    assert f"wins {format_figure(s['new_customers'], 'integer')} new customers" in brief
    assert f"(ROI {s['roi']:.2f})" in brief
    head = spec.blocks[0].frame
    assert list(head["Key"]) == HEADLINE_KEYS and list(head["Figure"][:2]) == ["Total spend", "Total value"]
    assert ROW_FORMAT in head and spec.breaks == [1]
    more = next(b.frame for b in spec.blocks if b.name == "MoreFigures").set_index("Key")["Value"]
    assert more["scenario"] == "Base" and more["workbook_scenario"] == "Retail quarterly plan"
    assert {c.y_format for c in spec.charts} == {"compact"}


def test_frontier_charts_are_scatter_with_labelled_series(books: dict[str, Path]) -> None:
    ws = openpyxl.load_workbook(books["frontier"])["Frontier"]
    assert ws["A1"].value == "budget" and ws.freeze_panes == "A2"
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToHeight == 0
    spec = frontier(retail_quarterly(), points=3).sheets()[0]
    chart: ChartSpec = spec.charts[0]
    assert chart.kind == "scatter" and chart.labels["net_value"] == "Net value" and chart.x_format == "compact"


def test_printout_uses_labels_and_json_keeps_keys() -> None:
    plan = planner.optimize(retail_quarterly())
    text = plan_summary(plan)
    assert "Total spend" in text and "total_spend" not in text and "-0.00" not in text
    assert fmt(plan.summary["total_spend"], "money", "USD") in text
    assert "Shadow price" in text and "Marginal ROI" in text
    plan.run_info["what_if"] = "Budget +20%"
    js = json_summary(plan, "Budget +20%")
    assert js["scenario"] == "Budget +20%" and js["workbook_scenario"] == "Retail quarterly plan"
    assert js["total_spend"] == pytest.approx(plan.summary["total_spend"])
    assert json_summary(plan, None)["scenario"] == "Budget +20%"


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9), min_size=1,
                max_size=6), st.sampled_from(("currency", "number", "ratio", "percent", "integer", "precise")))
@example([-0.004, 1500.0], "currency")
@example([-0.0004, 0.5], "number")
def test_written_cells_never_show_minus_zero(xs: list[float], kind: str) -> None:
    from planner.io import excel

    ws = openpyxl.Workbook().active
    excel.render_sheet(ws, SheetSpec("S", [TableBlock(pd.DataFrame({"x": xs}), formats={"x": kind})]))
    for x, row in zip(xs, ws.iter_rows(min_row=2, max_col=1), strict=True):
        cell = row[0]
        places = shown_decimals(cell.number_format)
        assert places is not None
        assert not (cell.value < 0 and round(cell.value, places) == 0), (x, cell.number_format)
        assert abs(cell.value - x) < 10.0 ** -places


def test_printed_tables_never_show_minus_zero() -> None:
    frame = pd.DataFrame({"name": ["a", "b"], "x": [-0.0, -0.00001], "y": [-1e-12, 2.5]})
    text = _table(frame.round(4), {"y": "ratio"})
    assert "-0" not in text and "2.50" in text


def test_analysis_sheets_are_excel_tables_read_from_row_1(tmp_path: Path) -> None:
    """Risk, Uplift, Curves, Fit Families and Segments: a script reads them with pandas."""
    from test_fit import history
    from test_uplift import simulate

    from planner.analysis.fit import fit_history
    from planner.analysis.risk import plan_risk
    from planner.analysis.segment_value import segment_values
    from planner.analysis.uplift import measure_uplift

    specs = [*plan_risk(retail_quarterly(), draws=50, seed=1).sheets(),
             *measure_uplift(simulate(300, 0.6, 1), simulate(300, 0.7, 2), n_boot=50, seed=1).sheets(),
             *fit_history(history("saturation", 0)).sheets(),
             *segment_values(simulate(300, 0.6, 3, segment="Core"), 4, "given").sheets()]
    out = tmp_path / "analysis.xlsx"
    write_sheets(specs, out)
    wb = openpyxl.load_workbook(out)
    for sheet, table, first in [("Risk", "Risk", "figure"), ("Uplift", "Uplift", "segment"),
                                ("Curves", "Curves", "segment"), ("Fit Families", "FitFamilies", None),
                                ("Segments", "Segments", "segment")]:
        assert table in wb[sheet].tables, sheet
        frame = pd.read_excel(out, sheet_name=sheet)
        assert first is None or frame.columns[0] == first, (sheet, list(frame.columns)[:3])
        assert len(frame) > 0
