"""Round trip: planner reads what it wrote, and the user's package survives byte for byte.

The copy is made at the package level (planner.io.merge): a scenario cell that is a formula
keeps its saved value, so ``optimize`` on the output (or ``--in-place`` twice) gives the same
plan; every user part other than the four bookkeeping parts is unchanged.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from xlsx_fixtures import hand_plan

import planner
from planner.cli import main
from planner.core.sheet_spec import SheetSpec, TableBlock
from planner.errors import OutputError
from planner.io import package as pk
from planner.io import (
    read_scenario,
    read_table,
    sheet_xml,
    write_plan,
    write_scenario,
    write_sheets,
)
from planner.io.merge import MARK, Book, merge
from planner.io.sheet_parts import shown_decimals
from planner.io.styles_merge import merge_styles
from planner.scenario.examples import retail_quarterly

BOOKKEEPING = {"xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml", "xl/styles.xml"}


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        return {n: zf.read(n) for n in zf.namelist()}


def rewrite(path: Path, change: dict[str, bytes]) -> None:
    old = parts(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in (old | change).items():
            zf.writestr(n, d)


def formula_scenario(tmp_path: Path) -> Path:
    """retail_quarterly with total_budget typed as ``=850000*2`` (saved value 1 700 000), as Excel saves it."""
    path = tmp_path / "formula.xlsx"
    write_scenario(retail_quarterly(), path)
    wb = openpyxl.load_workbook(path)
    cell = next(r[1] for r in wb["Settings"].iter_rows() if r[0].value == "total_budget")
    cell.value = "=850000*2"
    wb.save(path)
    sheet = parts(path)["xl/worksheets/sheet1.xml"]
    fixed = re.sub(rb"<f>850000\*2</f><v\s*/>", b"<f>850000*2</f><v>1700000</v>", sheet)
    assert fixed != sheet
    rewrite(path, {"xl/worksheets/sheet1.xml": fixed})
    return path


def run(*args: object) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


def test_formula_inputs_survive_optimize_in_place_twice(tmp_path: Path) -> None:
    src = formula_scenario(tmp_path)
    assert read_scenario(src).settings.total_budget == 1_700_000
    before = parts(src)
    first = run("optimize", src, "-o", tmp_path / "out.xlsx", "--json")
    assert first.exit_code == 0, first.output
    out = tmp_path / "out.xlsx"
    assert run("validate", out).exit_code == 0
    again = run("optimize", out, "-o", tmp_path / "out2.xlsx", "--json")
    assert again.exit_code == 0, again.output
    assert again.stdout == first.stdout  # the same plan, to the last digit
    for _ in range(2):
        result = run("optimize", src, "--in-place", "--json")
        assert result.exit_code == 0, result.output
        assert result.stdout == first.stdout
    assert run("validate", src).exit_code == 0
    after = parts(src)
    for name, data in before.items():  # every user part, cached formula value included, untouched
        if name not in BOOKKEEPING:
            assert after[name] == data, name
    assert b"<v>1700000</v>" in after["xl/worksheets/sheet1.xml"]


def test_output_reads_back_everywhere(tmp_path: Path) -> None:
    src = tmp_path / "retail.xlsx"
    write_scenario(retail_quarterly(), src)
    plan = planner.optimize(read_scenario(src))
    out = tmp_path / "plan.xlsx"
    write_plan(plan, out, source=src)
    frame = pd.read_excel(out, sheet_name="Plan")
    pd.testing.assert_frame_equal(frame, plan.allocation.reset_index(drop=True), check_dtype=False,
                                  check_exact=True)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[-4:] == ["Plan", "Summary", "Constraints Report", "Run Info"]
    assert {n for ws in wb.worksheets for n in ws.defined_names} == {MARK}
    pd.testing.assert_frame_equal(read_table(out, "Plan"), read_table(out, "Plan"))
    # styles do not grow when the same sheets are written again
    write_plan(plan, out, source=out, in_place=True)
    styles = parts(out)["xl/styles.xml"]
    write_plan(plan, out, source=out, in_place=True)
    assert parts(out)["xl/styles.xml"] == styles


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_converts_the_merged_copy_and_planner_updates_its_save(tmp_path: Path) -> None:
    src = formula_scenario(tmp_path)
    out = tmp_path / "plan.xlsx"
    write_plan(planner.optimize(read_scenario(src)), out, source=src)
    cmd = ["soffice", f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}", "--headless",
           "--norestore", "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(tmp_path / "lo"), str(out)]
    subprocess.run(cmd, capture_output=True, timeout=240, check=False)
    converted = tmp_path / "lo" / "plan.xlsx"
    assert converted.exists()
    back = read_scenario(converted)
    assert back.settings.total_budget == 1_700_000
    assert len(pd.read_excel(converted, sheet_name="Plan")) == len(pd.read_excel(out, sheet_name="Plan"))
    # LibreOffice keeps planner's marks: the next run replaces its sheets without --force
    names = openpyxl.load_workbook(converted, read_only=True).sheetnames
    plan = planner.optimize(back)
    assert write_plan(plan, None, source=converted, in_place=True) == []
    assert openpyxl.load_workbook(converted, read_only=True).sheetnames == names
    assert len(pd.read_excel(converted, sheet_name="Plan")) == len(plan.allocation)


# --------------------------------------------------------------------- generated rows


def _cells(path: Path, sheet: str) -> list[tuple[str, object, str]]:
    ws = openpyxl.load_workbook(path)[sheet]
    return [(c.coordinate, c.value, c.number_format) for row in ws.iter_rows() for c in row
            if c.value is not None or c.has_style]


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _same(a: list[tuple[str, object, str]], b: list[tuple[str, object, str]]) -> bool:
    """Equal cells; floats to openpyxl's 16 significant digits (its 1.797693134862316e+308 reads as inf)."""
    def close(x: float, y: float) -> bool:
        return math.isclose(x, y, rel_tol=1e-15) or (math.isinf(y) and abs(x) > 1.79e308)

    return len(a) == len(b) and all(
        x[0] == y[0] and x[2] == y[2] and (
            close(float(x[1]), float(y[1])) if _number(x[1]) and _number(y[1]) else x[1] == y[1])
        for x, y in zip(a, b, strict=True))


_value = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))


# two workbooks written and read per example: a tenth of the loaded profile's examples
@settings(max_examples=max(15, settings.default.max_examples // 10), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9),
                               st.booleans(), st.text(max_size=10), _value), min_size=2, max_size=60))
@example(rows=[(0.0, 0, False, "", None), (0.0, 0, False, "", None)])
@example(rows=[(0.0, 0, False, "", None), (1000000000000000.5, 0, False, "", None)])
@example(rows=[(0.0, 0, False, "", None), (0.0, 0, False, "", None), (0.0, 0, False, "0000000\x1e", None)])
@example(rows=[(-1.7976931348623157e+308, -560, True, "Channels", 6.662448203858811e+16),
               (2.7051362869279115e+287, 1486, True, "\x031\U0007ed31s", 3.646434534706414e+141),
               (-8.730664705856587e-274, -5586, True, "", "\x12\U00099af4")])
@example(rows=[(float("inf"), 0, False, "", None), (0.0, 0, False, "", None)])  # blank first row
@example(rows=[(1.0, 1, True, "=1+1", "a"), (float("nan"), -2, False, "#N/A", 3.5),
               (float("inf"), 0, True, "\x01<&>", None), (1e-300, 5, False, " x ", True)])
def test_generated_rows_match_openpyxl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list) -> None:
    """The XML written for long tables reads back exactly as openpyxl's own cells."""
    frame = pd.DataFrame(rows, columns=["spend", "n", "flag", "name", "mixed"])
    frame["mixed"] = frame["mixed"].astype(object)
    spec = SheetSpec("T", [TableBlock(frame, "Block", {"spend": "currency", "n": "integer"})], notes=["note"])
    monkeypatch.setattr(sheet_xml, "FAST_ROWS", 10**9)
    slow = tmp_path / "slow.xlsx"
    write_sheets([spec], slow)
    monkeypatch.setattr(sheet_xml, "FAST_ROWS", 1)
    fast = tmp_path / "fast.xlsx"
    write_sheets([spec], fast)
    assert _same(_cells(fast, "T"), _cells(slow, "T"))  # openpyxl writes 16 significant digits
    cells = openpyxl.load_workbook(fast)["T"]["A"][4:]
    places = shown_decimals(cells[0].number_format)

    def shown(v: float) -> float | None:  # exact, but never a "-0.00" (written as 0)
        if not np.isfinite(v):
            return None
        return 0.0 if v == 0 or (v < 0 and round(v, places) == 0) else v

    assert [c.value for c in cells] == [shown(v) for v in frame["spend"]]
    wb_fast, wb_slow = openpyxl.load_workbook(fast)["T"], openpyxl.load_workbook(slow)["T"]
    assert {k: v.width for k, v in wb_fast.column_dimensions.items()} == \
        {k: v.width for k, v in wb_slow.column_dimensions.items()}


# --------------------------------------------------------------------- package edits


def test_styles_merge_keeps_prefixes_and_reuses_styles() -> None:
    user = (b'<?xml version="1.0" encoding="UTF-8"?>\n<x:styleSheet xmlns:x="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
            b'mc:Ignorable="x14ac" xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac">'
            b'<x:fonts count="1" x14ac:knownFonts="1"><x:font><x:sz val="11"/><x:name val="Calibri"/></x:font>'
            b'</x:fonts><x:fills count="1"><x:fill><x:patternFill patternType="none"/></x:fill></x:fills>'
            b'<x:borders count="1"><x:border/></x:borders><x:cellXfs count="1"><x:xf fontId="0"/></x:cellXfs>'
            b'</x:styleSheet>')
    wb = openpyxl.Workbook()
    wb.active["A1"] = 1.5
    wb.active["A1"].number_format = '#,##0.00" EUR"'
    wb.active["A1"].font = openpyxl.styles.Font(bold=True)
    import io

    buf = io.BytesIO()
    wb.save(buf)
    result = pk.Package.read(io.BytesIO(buf.getvalue())).parts["xl/styles.xml"]
    merged, smap = merge_styles(user, result)
    assert merged.startswith(user[:user.index(b"<x:fonts")])  # head, prefixes and mc:Ignorable untouched
    assert b'x14ac:knownFonts="1"' in merged and b"<x:numFmts" in merged and b"<numFmt" not in merged
    again, smap2 = merge_styles(merged, result)
    assert again == merged and smap2.xf == smap.xf  # nothing added twice
    from defusedxml import ElementTree

    root = ElementTree.fromstring(merged)
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    xfs = root.find(ns + "cellXfs")
    assert int(xfs.get("count")) == len(list(xfs))
    bold = [x for x in xfs if x.get("numFmtId") not in (None, "0")]
    assert bold and int(bold[0].get("numFmtId")) >= 164


def test_tables_get_unique_ids_and_names(tmp_path: Path) -> None:
    """A result table named like a user table is renamed; table ids stay unique."""
    from openpyxl.worksheet.table import Table

    def book(sheet: str) -> Path:
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = sheet
        ws.append(["a", "b"])
        ws.append([1, 2])
        ws.add_table(Table(displayName="Results", ref="A1:B2"))
        path = tmp_path / f"{sheet}.xlsx"
        wb.save(path)
        return path

    user, result = pk.Package.read(book("Mine")), pk.Package.read(book("Plan"))
    merged = merge(user, result, {})
    assert merged.warnings == ["table 'Results' is already used in the workbook; planner's is named 'Results_2'"]
    out = tmp_path / "m.xlsx"
    with out.open("wb") as fh:
        pk.write_zip(fh, merged.parts, user.infos)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Mine", "Plan"]
    assert list(wb["Mine"].tables) == ["Results"] and list(wb["Plan"].tables) == ["Results_2"]
    ids = [int(m) for n, d in merged.parts if n.startswith("xl/tables/") for m in re.findall(rb'\sid="(\d+)"', d)[:1]]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 2


def test_macros_are_dropped_from_an_xlsx_copy_with_a_warning(tmp_path: Path) -> None:
    src = tmp_path / "in.xlsx"
    write_scenario(retail_quarterly(), src)
    rels = parts(src)["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Id="rId99" Type="http://schemas.microsoft.com/office/2006/'
                             b'relationships/vbaProject" Target="vbaProject.bin"/></Relationships>')
    rewrite(src, {"xl/_rels/workbook.xml.rels": rels, "xl/vbaProject.bin": b"\x00vba"})
    warnings = write_plan(hand_plan(retail_quarterly()), tmp_path / "o.xlsx", source=src)
    assert warnings == ["workbook: macros (VBA) are not kept in an .xlsx copy; write .xlsm to keep them"]
    assert "xl/vbaProject.bin" not in parts(tmp_path / "o.xlsx")
    write_plan(hand_plan(retail_quarterly()), tmp_path / "o.xlsm", source=src)
    kept = parts(tmp_path / "o.xlsm")
    assert kept["xl/vbaProject.bin"] == b"\x00vba" and b"macroEnabled" in kept["[Content_Types].xml"]


def test_numbers_survive_exactly() -> None:
    values = np.array([0.1, 1e-300, 1e20, 123456789.123456789, -0.0, 5e-324, 2.5, np.nan])
    xml = sheet_xml.rows_xml(sheet_xml.Deferred(1, [values]), {"A": "3"})
    found = [float(v) for v in re.findall(r"<v>([^<]*)</v>", xml)]
    assert found == values[:-1].tolist() and xml.endswith('<row r="8"></row>')  # a blank is not written


_NAMES = ["Plan", "PLAN", "plan_", "Summary", "Run_Info", "Run Info", "Notes", "Data 1", "Curves", "x"]


@settings(max_examples=max(20, settings.default.max_examples // 5), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=st.lists(st.tuples(st.sampled_from(_NAMES), st.booleans()), min_size=1, max_size=6,
                     unique_by=lambda t: t[0].lower()),
       force=st.booleans())
@example(user=[("Run_Info", False), ("Run Info", True)], force=False)
@example(user=[("PLAN", False), ("plan_", False)], force=True)
def test_merge_never_loses_or_steals_a_sheet(tmp_path: Path, user: list[tuple[str, bool]], force: bool) -> None:
    """Any mix of user sheets, some written by planner (marked): the merge refuses exactly when
    it would replace an unmarked sheet (unless forced), keeps every other user part byte for
    byte, never has fewer sheets than before, and the result opens."""
    from openpyxl.workbook.defined_name import DefinedName

    from planner.io.merge import MARK_TEXT, sheet_key

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, mine in user:
        ws = wb.create_sheet(name)
        ws["A1"] = f"={len(name)}*2"
        if mine:
            ws.defined_names[MARK] = DefinedName(MARK, attr_text=MARK_TEXT, hidden=True)
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example (tmp_path is shared)
    src = folder / "u.xlsx"
    wb.save(src)
    titles = {sheet_key(t) for t in ("Plan", "Summary", "Constraints Report", "Run Info")}
    steals = [n for n, mine in user if sheet_key(n) in titles and not mine]
    out = folder / "o.xlsx"
    if steals and not force:
        with pytest.raises(OutputError, match="which planner did not write"):
            write_plan(hand_plan(), out, source=src)
        assert not out.exists()
        return
    write_plan(hand_plan(), out, source=src, force=force)
    names = [sh["name"] for sh in Book.read(pk.Package.read(out)).sheets]
    assert len({n.lower() for n in names}) == len(names)  # Excel names are case-insensitive
    assert openpyxl.load_workbook(out).sheetnames == names
    assert len(names) >= len(user) and {"Plan", "Summary", "Constraints Report", "Run Info"} <= set(names)
    kept = [n for n, _ in user if sheet_key(n) not in titles]
    assert [n for n in names if n in kept] == kept
    before, after = parts(src), parts(out)
    book = openpyxl.load_workbook(src)
    for n in kept:
        i = book.sheetnames.index(n)
        assert after[f"xl/worksheets/sheet{i + 1}.xml"] == before[f"xl/worksheets/sheet{i + 1}.xml"]
