"""Writing: result sheets into a copy of the input, the user's sheets untouched."""

from __future__ import annotations

import errno
import io
import os
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.styles import Font
from openpyxl.utils.cell import range_boundaries
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from xlsx_fixtures import GOOD, hand_plan, make_book, sha256

import planner
from planner.core.figures import HEADLINE_KEYS
from planner.core.plan import CONSTRAINT_COLUMNS, PLAN_COLUMNS
from planner.core.sheet_spec import ChartSpec, SheetSpec, TableBlock
from planner.errors import OutputError
from planner.io import (
    atomic,
    excel,
    read_scenario,
    read_table,
    write_plan,
    write_scenario,
    write_sheets,
)
from planner.scenario.examples import email_upgrade, retail_quarterly
from planner.scenario.models import (
    Channel,
    Curve,
    CurvePoint,
    Override,
    Scenario,
    SeasonalityRow,
    Segment,
    Settings,
)

RESULTS = ["Plan", "Summary", "Constraints Report", "Run Info"]
INJECT = '=HYPERLINK("http://x","y")'


def user_book(tmp_path: Path) -> Path:
    """The email example plus the planner's own sheet: formulas, bold text, a defined name."""
    path = tmp_path / "in.xlsx"
    write_scenario(email_upgrade(), path)
    wb = openpyxl.load_workbook(path)
    ws = wb.create_sheet("My Notes")
    ws["A1"] = "Budget check"
    ws["A1"].font = Font(bold=True)
    ws["B1"] = "=Settings!B2*2"
    ws["B2"] = "=SUM(B1,1)"
    ws["C1"] = 0.25
    ws["C1"].number_format = "0.0%"
    dv = DataValidation(type="list", formula1='"yes,no"')
    dv.add("D1:D5")
    ws.add_data_validation(dv)
    wb.defined_names["my_budget"] = DefinedName("my_budget", attr_text="'My Notes'!$B$1")
    wb.save(path)
    return path


def test_write_plan_into_copy_keeps_user_sheets(tmp_path: Path) -> None:
    src = user_book(tmp_path)
    before = sha256(src)
    out = tmp_path / "out.xlsx"
    assert write_plan(hand_plan(), out, source=src) == []
    assert sha256(src) == before
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[:5] == ["Settings", "Periods", "Segments", "Channels", "Curves"]
    assert wb.sheetnames[-4:] == RESULTS and "My Notes" in wb.sheetnames
    ws = wb["My Notes"]
    assert ws["A1"].value == "Budget check" and ws["A1"].font.bold
    assert ws["B1"].value == "=Settings!B2*2" and ws["B2"].value == "=SUM(B1,1)"
    assert ws["C1"].number_format == "0.0%"
    assert [str(d.sqref) for d in ws.data_validations.dataValidation] == ["D1:D5"]
    assert wb.defined_names["my_budget"].attr_text == "'My Notes'!$B$1"
    assert wb.active.title == "Settings"  # the workbook opens where its owner left it
    # a second run replaces the result sheets instead of adding "Plan1"
    write_plan(hand_plan(), out, source=out, in_place=True)
    assert openpyxl.load_workbook(out).sheetnames == wb.sheetnames


def test_result_sheet_contents(tmp_path: Path) -> None:
    src = user_book(tmp_path)
    out = tmp_path / "out.xlsx"
    write_plan(hand_plan(), out, source=src)
    wb = openpyxl.load_workbook(out)
    plan = wb["Plan"]
    assert [c.value for c in plan[1]] == PLAN_COLUMNS
    assert plan.freeze_panes == "A2"
    assert plan["E2"].value == 100_000 and "ZAR" in plan["E2"].number_format and "#,##0" in plan["E2"].number_format
    summary = wb["Summary"]
    # the headline figures: label, value, meaning and key (for scripts), an Excel table
    figures = {row[3].value: row for row in summary.iter_rows(max_col=4) if row[3].value in HEADLINE_KEYS}
    assert list(figures) == HEADLINE_KEYS and "Headlines" in summary.tables
    assert figures["total_value"][1].value == 5_000_000 and figures["baseline_value"][1].value == 0
    assert figures["total_spend"][0].value == "Total spend" and figures["roi"][0].value == "ROI"
    assert "%" not in figures["roi"][1].number_format and figures["status"][1].value == "optimal"
    titles = {row[0].value for row in summary.iter_rows() if row[0].font.bold and row[0].font.size == 12}
    assert {"Headline figures", "By channel", "By segment", "By period", "Spend by channel per period"} <= titles
    assert len(summary._charts) == 2
    report = wb["Constraints Report"]
    assert [c.value for c in report[1]] == CONSTRAINT_COLUMNS
    info = {r[0].value: r[1].value for r in wb["Run Info"].iter_rows(min_row=2)}
    assert info["input_sha256"] == sha256(src) and info["input_file"] == str(src)
    assert info["solver"] == "by hand" and info["version"] == planner.__version__


def test_results_only_and_no_source(tmp_path: Path) -> None:
    src = user_book(tmp_path)
    for kwargs in ({"source": src, "results_only": True}, {}):
        out = tmp_path / "r.xlsx"
        write_plan(hand_plan(), out, **kwargs)
        assert openpyxl.load_workbook(out).sheetnames == RESULTS


def test_input_never_overwritten_unless_in_place(tmp_path: Path) -> None:
    src = user_book(tmp_path)
    before = sha256(src)
    with pytest.raises(OutputError, match="refusing to overwrite the input"):
        write_plan(hand_plan(), src, source=src)
    with pytest.raises(OutputError, match="refusing to overwrite the input"):
        write_plan(hand_plan(), src, source=src, results_only=True)
    assert sha256(src) == before
    write_plan(hand_plan(), None, source=src, in_place=True)
    wb = openpyxl.load_workbook(src)
    assert "My Notes" in wb.sheetnames and "Plan" in wb.sheetnames
    assert read_scenario(src).model_dump() == email_upgrade().model_dump()


def test_nothing_written_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = user_book(tmp_path)
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"old")
    with pytest.raises(OutputError, match="exists and is not a workbook; pass --force"):
        write_plan(hand_plan(), out, source=src)
    assert out.read_bytes() == b"old"
    write_plan(hand_plan(), out, source=src, force=True)
    before = sha256(out)

    def boom(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(excel, "render_sheet", boom)
    with pytest.raises(RuntimeError):
        write_plan(hand_plan(), out, source=src)
    assert sha256(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.xlsx", "out.xlsx"]
    monkeypatch.undo()
    with pytest.raises(OutputError, match="no such folder"):
        write_plan(hand_plan(), tmp_path / "nope" / "o.xlsx")
    with pytest.raises(OutputError, match=r"\.xlsx"):
        write_plan(hand_plan(), tmp_path / "o.csv")


def test_saving_failure_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Full(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            raise OSError(errno.ENOSPC, "No space left on device")

        def fileno(self) -> int:
            raise OSError(errno.EBADF, "no file")

    monkeypatch.setattr(atomic, "open_temp", lambda fd: (os.close(fd), Full())[1])
    with pytest.raises(OutputError, match="no space left on the disk"):
        write_plan(hand_plan(), tmp_path / "o.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_user_names_stay_text(tmp_path: Path) -> None:
    s = Scenario(
        settings=Settings(total_budget=1000, scenario_name=INJECT),
        segments=[Segment(segment=INJECT, margin_per_period=10, retention_rate=0.5)],
        channels=[Channel(channel="=1+1")],
        curves=[Curve(segment=INJECT, channel="=1+1", program="acquisition", curve="linear", b=20)],
    )
    path = tmp_path / "s.xlsx"
    write_scenario(s, path)
    assert read_scenario(path) == s
    out = tmp_path / "o.xlsx"
    plan = hand_plan(s)
    plan.allocation.loc[0, "period"] = "Plan"
    write_plan(plan, out, source=path)
    wb = openpyxl.load_workbook(out)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and c.value.startswith("=")]
    assert cells and all(c.data_type == "s" for c in cells)
    with zipfile.ZipFile(out) as zf:
        assert not any(b"<f>" in zf.read(n) for n in zf.namelist() if n.startswith("xl/worksheets/"))


def test_write_scenario_round_trip_every_sheet(tmp_path: Path) -> None:
    s = retail_quarterly()
    extra = s.model_copy(update={
        "curves": [*s.curves, Curve(segment="Loyal", channel="App Push", program="retention", curve="points")],
        "curve_points": [CurvePoint(segment="Loyal", channel="App Push", program="retention", spend=x, customers=y)
                         for x, y in ((1000, 10), (5000, 30))],
        "seasonality": [*s.seasonality, SeasonalityRow(channel="Email", period="Q2", multiplier=0.8)],
        "scenarios": [*s.scenarios, Override(scenario="Flag", target="spend_full_budget", operation="set",
                                             value=True)],
    })
    full = Scenario.model_validate(extra.model_dump())
    path = tmp_path / "full.xlsx"
    write_scenario(full, path)
    back = read_scenario(path)
    assert back == full
    assert back.model_dump() == full.model_dump()
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Settings", "Periods", "Segments", "Channels", "Curves", "CurvePoints",
                             "Seasonality", "Constraints", "Scenarios"]
    assert wb["Segments"]["E2"].number_format == "0.0%"


def test_read_plan_write_read_cycle(tmp_path: Path) -> None:
    src = tmp_path / "retail.xlsx"
    write_scenario(retail_quarterly(), src)
    scenario = read_scenario(src)
    plan = planner.optimize(scenario)
    assert plan.ok
    out = tmp_path / "plan.xlsx"
    write_plan(plan, out, source=src)
    again = read_scenario(out)
    assert again.model_dump() == scenario.model_dump()
    frame = read_table(out, "Plan")
    assert list(frame.columns) == PLAN_COLUMNS
    assert frame["spend"].sum() == pytest.approx(plan.allocation["spend"].sum())
    # and the written plan, optimised again, is the same plan
    assert planner.optimize(again).summary["total_value"] == pytest.approx(plan.summary["total_value"], rel=1e-6)


def test_write_sheets_specs_and_charts(tmp_path: Path) -> None:
    frame = pd.DataFrame({"budget": [0.0, 1e5, 2e5], "value": [0.0, 3e5, 4e5], "share": [0, 0.5, 0.25]})
    spec = SheetSpec("Frontier", [TableBlock(frame, "Budget sweep", {"budget": "currency", "share": "percent"})],
                     [ChartSpec("scatter", "Value by budget", 0, "budget", ["value"]),
                      ChartSpec("line", "Line", 0, "budget", ["value", "share"])],
                     notes=["A note", INJECT], currency="EUR")
    out = tmp_path / "f.xlsx"
    src = make_book(tmp_path / "g.xlsx", GOOD)
    write_sheets([spec], out, source=src)
    ws = openpyxl.load_workbook(out)["Frontier"]
    assert ws["A1"].value == "A note" and ws["A2"].value == INJECT and ws["A2"].data_type == "s"
    assert ws["A1"].font.bold  # the first note is the title of a report-layout sheet
    assert ws["A4"].value == "Budget sweep" and ws["A5"].value == "budget"
    assert "EUR" in ws["A7"].number_format and ws["C7"].number_format == "0.0%"
    assert len(ws._charts) == 2


def test_nothing_of_the_user_package_is_lost(tmp_path: Path) -> None:
    """Sparklines, shapes, pictures and metadata the old openpyxl copy dropped are kept."""
    src = make_book(tmp_path / "g.xlsx", GOOD)
    with zipfile.ZipFile(src) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    sheet = parts["xl/worksheets/sheet3.xml"]
    ext = (b'<extLst><ext uri="{05C60535-1F16-4fd2-B633-F4F36F0B64E0}" '
           b'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
           b'<x14:sparklineGroups/></ext></extLst>')
    parts["xl/worksheets/sheet3.xml"] = sheet.replace(b"</worksheet>", ext + b"</worksheet>")
    parts["xl/metadata.xml"] = b"<metadata/>"
    parts["xl/drawings/drawing1.xml"] = (
        b'<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing">'
        b'<xdr:twoCellAnchor><xdr:sp macro="" textlink=""/></xdr:twoCellAnchor>'
        b'<xdr:twoCellAnchor><xdr:pic/></xdr:twoCellAnchor></xdr:wsDr>')
    parts["xl/worksheets/_rels/sheet1.xml.rels"] = (
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/drawing" Target="../drawings/drawing1.xml"/></Relationships>')
    odd = tmp_path / "odd.xlsx"
    with zipfile.ZipFile(odd, "w") as zf:
        for n, d in parts.items():
            zf.writestr(n, d)
    out = tmp_path / "o.xlsx"
    assert write_plan(hand_plan(), out, source=odd) == []
    with zipfile.ZipFile(out) as zf:
        for name in ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet3.xml", "xl/metadata.xml",
                     "xl/drawings/drawing1.xml", "xl/worksheets/_rels/sheet1.xml.rels"):
            assert zf.read(name) == parts[name], name
    assert openpyxl.load_workbook(out).sheetnames == [*GOOD, *RESULTS]
    assert write_plan(hand_plan(), tmp_path / "o2.xlsx", source=odd, results_only=True) == []


def test_infeasible_plan_is_reported(tmp_path: Path) -> None:
    s = email_upgrade()
    s = Scenario.model_validate(s.model_dump() | {"constraints": [
        {"name": "Too many", "metric": "new_customers", "sense": ">=", "value": 1000}]})
    plan = planner.optimize(s)
    assert plan.status == "infeasible"
    out = tmp_path / "inf.xlsx"
    write_plan(plan, out)
    wb = openpyxl.load_workbook(out)
    assert [c.value for c in wb["Plan"][1]] == PLAN_COLUMNS and wb["Plan"].max_row == 1
    status = [r[1].value for r in wb["Summary"].iter_rows(max_col=4) if r[3].value == "status"]
    assert status == ["infeasible"]
    report = [c.value for row in wb["Constraints Report"].iter_rows() for c in row]
    assert "Too many" in report and any(str(v).startswith("Conflicts") for v in report)


def test_pictures_in_user_sheets_survive_the_copy(tmp_path: Path) -> None:
    """Pillow is a dependency so that a logo on the planner's own sheet is kept."""
    from openpyxl.drawing.image import Image
    from PIL import Image as PILImage

    src = user_book(tmp_path)
    PILImage.new("RGB", (20, 10), "red").save(tmp_path / "logo.png")
    wb = openpyxl.load_workbook(src)
    wb["My Notes"].add_image(Image(str(tmp_path / "logo.png")), "F2")
    wb.save(src)
    out = tmp_path / "out.xlsx"
    warnings = write_plan(hand_plan(), out, source=src)
    assert not any("picture" in w.lower() for w in warnings)
    assert len(openpyxl.load_workbook(out)["My Notes"]._images) == 1


def test_every_tables_columns_are_named_by_its_header_cells(tmp_path: Path) -> None:
    """Table columns are named when the table is added (openpyxl would otherwise create a
    cell object for every cell of the range at save): the names must be the header cells,
    in order, for every table of every result sheet."""
    src = user_book(tmp_path)
    out = tmp_path / "out.xlsx"
    write_plan(hand_plan(), out, source=src)
    wb = openpyxl.load_workbook(out)
    seen = 0
    for ws in wb.worksheets:
        for table in ws.tables.values():
            c0, r0, c1, _ = range_boundaries(table.ref)
            header = [ws.cell(row=r0, column=c) for c in range(c0, c1 + 1)]
            assert [c.name for c in table.tableColumns] == [str(c.value) for c in header], table.displayName
            assert [c.id for c in table.tableColumns] == list(range(1, len(header) + 1))
            seen += 1
    assert seen >= 3
