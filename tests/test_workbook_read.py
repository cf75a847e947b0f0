"""Reading scenario workbooks: values as a planner means them, every problem located."""

from __future__ import annotations

import datetime as dt
import io
import math
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xlsx_fixtures import GOOD, make_book, sheets

from planner.errors import ScenarioError, WorkbookError
from planner.io import grids, read_scenario, read_table
from planner.io import zip_preflight as xlsxzip
from planner.io.cells import parse_number


def messages(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        read_scenario(path)
    return [str(i) for i in info.value.issues]


def test_good_workbook_reads(tmp_path: Path) -> None:
    s = read_scenario(make_book(tmp_path / "good.xlsx", GOOD))
    assert s.settings.total_budget == 10_000 and s.settings.currency == "EUR"
    assert [p.period for p in s.periods] == ["Q1", "Q2"]
    assert [c.cell for c in s.curves][1] == ("Mass", "Search", "acquisition")
    assert s.segments[1].source_row == 3
    assert s.curves[1].shape == 0.8


def test_names_are_case_insensitive_and_extras_ignored(tmp_path: Path) -> None:
    book = {(" " + k.upper() + " "): [list(r) for r in v] for k, v in GOOD.items()}
    book[" SEGMENTS "][0] = [" Segment", "CUSTOMERS", "Prospects ", "Margin per period", "retention_rate"]
    book[" CHANNELS "] = [row + ["note"] for row in GOOD["Channels"]]
    book["My notes"] = [["anything", "goes"], [1, 2]]
    s = read_scenario(make_book(tmp_path / "b.xlsx", book))
    assert s.segments[0].margin_per_period == 50
    assert [c.channel for c in s.channels] == ["Email", "Search"]


def test_scenario_name_defaults_to_file_name(tmp_path: Path) -> None:
    book = sheets(Settings=[["setting", "value"], ["total_budget", 1000]])
    assert read_scenario(make_book(tmp_path / "my plan.xlsx", book)).settings.scenario_name == "my plan"


def test_numbers_as_text_booleans_and_blank_rows(tmp_path: Path) -> None:
    book = sheets(
        Settings=[["setting", "value"], ["total_budget", "$10,000"], ["annual_discount_rate", "8%"],
                  [None, None], ["spend_full_budget", "TRUE"], ["periods_per_year", "12"]],
        Segments=[GOOD["Segments"][0], [None] * 5, ["VIP", "1,000", None, "R 50", "90%"],
                  ["  ", None, None, None, None], ["Mass", 5000, "20 000", 10, 0.7]],
        Channels=[["channel", "max_spend"], ["Email", "(0)"], ["Search", "€8,000.50"]],
    )
    s = read_scenario(make_book(tmp_path / "t.xlsx", book))
    assert s.settings.total_budget == 10_000 and s.settings.annual_discount_rate == pytest.approx(0.08)
    assert s.settings.spend_full_budget is True and s.settings.periods_per_year == 12
    assert [(x.segment, x.customers, x.margin_per_period, x.retention_rate) for x in s.segments] == [
        ("VIP", 1000, 50, pytest.approx(0.9)), ("Mass", 5000, 10, 0.7)]
    assert s.segments[0].source_row == 3 and s.segments[1].source_row == 5
    assert s.segments[1].prospects == 20_000 and s.channels[1].max_spend == 8000.5


def test_excel_booleans_and_numeric_names(tmp_path: Path) -> None:
    book = sheets(Settings=GOOD["Settings"] + [["spend_full_budget", True]],
                  Periods=[["period"], [2025], [2026]])
    s = read_scenario(make_book(tmp_path / "t.xlsx", book))
    assert s.settings.spend_full_budget is True
    assert s.periods_list() == ["2025", "2026"]


@pytest.mark.parametrize("text, value", [
    ("1,000", 1000.0), ("10%", 0.1), ("$5,000", 5000.0), ("-$5", -5.0), ("ZAR 1 000 000", 1e6),
    ("1e3", 1000.0), (" 7 ", 7.0), ("1,5", None), ("12k", None), ("abc", None), ("1,00", None),
])
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


def test_every_problem_is_collected_and_located(tmp_path: Path) -> None:
    book = sheets(
        Segments=[GOOD["Segments"][0], ["VIP", 1000, None, 50, 0.9], ["Mass", 5000, None, "lots", 1.2],
                  ["VIP", 10, None, 5, 0.5]],
        Channels=[GOOD["Channels"][0], ["Email", None, -5, 0.05], ["Search", None, "NaN", None]],
        Curves=[GOOD["Curves"][0], ["VIP", "Email", "retention", "sigmoid", 30, 500, None, None],
                ["Ghost", "Search", "acquisition", "hill", 400, 3000, 0.8, None],
                ["Mass", "Email", "acquisition", "linear", 100, 20, None, None]],
    )
    got = messages(make_book(tmp_path / "bad.xlsx", book))
    assert got == [
        "Segments!D3 margin_per_period: 'lots' is not a number",
        "Segments!E3 retention_rate: 1.2 is not in [0, 1)",
        "Segments!A4 segment: 'VIP' is a duplicate (first on row 2)",
        "Channels!C2 max_spend: -5 is negative: expected a number >= 0",
        "Channels!C3 max_spend: 'NaN' is not a finite number (NaN and infinity are not allowed)",
        "Curves!D2 curve: 'sigmoid' is not allowed: expected one of 'linear', 'saturation', 'hill', "
        "'log', 'power' or 'points'",
        "Curves!A3 segment: 'Ghost' is not a segment of the Segments sheet (expected one of: Mass, VIP)",
    ]


@pytest.mark.parametrize("change, expected", [
    ({"Curves": None}, "Curves: sheet is missing: add a sheet named Curves"),
    ({"Settings": None}, "Settings: sheet is missing: add a sheet named Settings"),
    ({"Segments": [["segment", "customers", "margin_per_period"], ["VIP", 1, 2]]},
     "Segments retention_rate: column is missing: put 'retention_rate' in row 1"),
    ({"Settings": [["setting", "value"], ["currency", "EUR"]]},
     "Settings total_budget: is required: add a row with setting total_budget and its value"),
    ({"Settings": GOOD["Settings"] + [["total_budjet", 5]]},
     "Settings!A5 setting: 'total_budjet' is not a known setting"),
    ({"Settings": GOOD["Settings"] + [["total_budget", 5]]},
     "Settings!A5 total_budget: 'total_budget' is set twice (first on row 2)"),
    ({"Settings": GOOD["Settings"] + [["objective", "profit"]]},
     "Settings!B5 objective: 'profit' is not allowed: expected one of"),
    ({"Settings": GOOD["Settings"] + [["periods_per_year", 5]]},
     "Settings!B5 periods_per_year: 5 is not allowed: expected one of 1, 2, 4 or 12"),
    ({"Curves": GOOD["Curves"] + [["Mass", "TV", "acquisition", "linear", None, 20, None, None]]},
     "Curves!B5 channel: 'TV' is not a channel of the Channels sheet"),
    ({"Curves": GOOD["Curves"] + [["Mass", "Email", "upsell", "linear", None, 20, None, None]]},
     "Curves!C5 program: 'upsell' is not allowed: expected one of 'acquisition' or 'retention'"),
    ({"Curves": GOOD["Curves"] + [["Mass", "Email", "acquisition", "linear", None, 20, None, None]]},
     "Curves!A5 segment: 'Mass' duplicates the acquisition curve of Email on row 4"),
    ({"Curves": GOOD["Curves"] + [["Mass", "Email", "retention", "saturation", 10, None, None, None]]},
     "Curves!F5 b: is required for a saturation curve (a number > 0)"),
    ({"Channels": [GOOD["Channels"][0], ["Email", None, None, 0.05], ["Search", None, "#DIV/0!", None]]},
     "Channels!C3 max_spend: '#DIV/0!' is an Excel error value: expected a number"),
    ({"Channels": [GOOD["Channels"][0], ["Email", None, None, 0.05], ["Search", None, "-inf", None]]},
     "Channels!C3 max_spend: '-inf' is not a finite number"),
    ({"Channels": [GOOD["Channels"][0], ["Email", None, None, 0.05], ["Search", "", "", None],
                   ["Email", None, None, None]]},
     "Channels!A4 channel: 'Email' is a duplicate (first on row 2)"),
    ({"Constraints": [["name", "metric", "sense", "value", "segment"], ["c", "spend", "<=", 5, "Nobody"]]},
     "Constraints!E2 segment: 'Nobody' is not a segment"),
    ({"Constraints": [["name", "metric", "sense", "value"], ["c", "spend", "<=", None]]},
     "Constraints!D2 value: is required"),
])
def test_each_bad_input_class_is_located(tmp_path: Path, change: dict, expected: str) -> None:
    got = messages(make_book(tmp_path / "bad.xlsx", sheets(**change)))
    assert any(m.startswith(expected) for m in got), got


def test_formula_without_saved_value_is_reported(tmp_path: Path) -> None:
    book = sheets(Settings=[["setting", "value"], ["total_budget", "=2*5000"]])
    got = messages(make_book(tmp_path / "f.xlsx", book))
    assert got == ["Settings!B2 total_budget: '=2*5000' is a formula with no saved result: open and save "
                   "the workbook in Excel or LibreOffice, or type the value"]


def test_failed_rows_do_not_cascade(tmp_path: Path) -> None:
    book = sheets(Segments=[GOOD["Segments"][0], ["VIP", 1000, None, 50, 1.5], ["Mass", 5000, None, 10, 0.7]])
    got = messages(make_book(tmp_path / "c.xlsx", book))
    assert got == ["Segments!E2 retention_rate: 1.5 is not in [0, 1)"]


def test_injection_text_stays_text(tmp_path: Path) -> None:
    name = '=HYPERLINK("http://x","y")'
    book = make_book(tmp_path / "i.xlsx", sheets())
    wb = openpyxl.load_workbook(book)
    for ref in ("Segments!A2", "Curves!A2"):
        sheet, cell = ref.split("!")
        wb[sheet][cell].value = name
        wb[sheet][cell].data_type = "s"
    wb.save(book)
    assert read_scenario(book).segments[0].segment == name


def test_read_table(tmp_path: Path) -> None:
    book = make_book(tmp_path / "h.xlsx", {"History": [[" Period ", "Spend", "Customers"], ["Q1", 10, 1],
                                                       [None, None, None], ["Q2", 20, None]]})
    frame = read_table(book, "history")
    assert list(frame.columns) == ["period", "spend", "customers"]
    assert list(frame.index) == [2, 4] and frame.index.name == "row"
    assert frame.loc[4, "spend"] == 20 and math.isnan(frame.loc[4, "customers"])
    with pytest.raises(ScenarioError, match="Transactions: sheet is missing"):
        read_table(book, "Transactions")


def test_defusedxml_is_active_and_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert openpyxl.DEFUSEDXML is True
    grids.check_defusedxml()
    book = make_book(tmp_path / "g.xlsx", GOOD)
    monkeypatch.setattr(openpyxl, "DEFUSEDXML", False)
    with pytest.raises(WorkbookError, match="defusedxml"):
        read_scenario(book)


def _zip(path: Path, parts: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


def test_zip_bomb_refused_before_parsing(tmp_path: Path) -> None:
    good = make_book(tmp_path / "g.xlsx", GOOD)
    with zipfile.ZipFile(good) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    parts["xl/worksheets/sheet1.xml"] = b"<worksheet>" + b" " * (40 * 1024**2) + b"</worksheet>"
    bomb = _zip(tmp_path / "bomb.xlsx", parts)
    with pytest.raises(WorkbookError, match="zip bomb"):
        read_scenario(bomb)


def test_oversized_part_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book(tmp_path / "g.xlsx", GOOD)
    monkeypatch.setattr(xlsxzip, "MAX_PART_BYTES", 1000)
    with pytest.raises(WorkbookError, match="refused, part .* expands"):
        read_scenario(book)


def test_entity_expansion_refused(tmp_path: Path) -> None:
    good = make_book(tmp_path / "g.xlsx", GOOD)
    with zipfile.ZipFile(good) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>')
    body = parts["xl/workbook.xml"]
    parts["xl/workbook.xml"] = laughs + (body.split(b"?>", 1)[1] if body.startswith(b"<?xml") else body)
    with pytest.raises(WorkbookError):
        read_scenario(_zip(tmp_path / "lol.xlsx", parts))


@pytest.mark.parametrize("content, match", [
    (b"not a zip at all", "not an .xlsx workbook"),
    (None, "no such file"),
])
def test_not_a_workbook(tmp_path: Path, content: bytes | None, match: str) -> None:
    path = tmp_path / "x.xlsx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WorkbookError, match=match):
        read_scenario(path)


def test_zip_without_workbook_part(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "hi")
    (tmp_path / "z.xlsx").write_bytes(buf.getvalue())
    with pytest.raises(WorkbookError, match="no xl/workbook.xml"):
        read_scenario(tmp_path / "z.xlsx")


@pytest.mark.parametrize("change, expected", [
    ({"Segments": [GOOD["Segments"][0], ["VIP", 1000, None, 50, 1.2]]},
     "Segments!E2 retention_rate: 1.2 is not in [0, 1)"),
    ({"Curves": None}, "Curves: sheet is missing"),
    ({"Channels": [["channel", "max_spend"], ["Email", -1], ["Search", "lots"]]},
     "Channels!B2 max_spend: -1 is negative"),
])
def test_cli_bad_input_writes_nothing(tmp_path: Path, change: dict, expected: str) -> None:
    from planner.cli import main

    bad = make_book(tmp_path / "bad.xlsx", sheets(**change))
    out = tmp_path / "out.xlsx"
    result = CliRunner().invoke(main, ["optimize", str(bad), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.xlsx"]


_CELLS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", " ", "1,000", "10%", "$5", "abc", "NaN", "inf", "#N/A", "=1+1", "each", "linear",
                     "acquisition", "VIP", "Email", "<=", "TRUE", "1,5", "(3)"]),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=8),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sheet=st.sampled_from(["Settings", "Segments", "Channels", "Curves", "Periods"]),
       row=st.integers(0, 3), col=st.integers(0, 7), value=_CELLS)
def test_any_cell_value_gives_a_scenario_or_located_issues(tmp_path: Path, sheet: str, row: int, col: int,
                                                           value: object) -> None:
    book = sheets()
    rows = book[sheet]
    while len(rows) <= row:
        rows.append([])
    while len(rows[row]) <= col:
        rows[row].append(None)
    rows[row][col] = value
    path = make_book(tmp_path / "fuzz.xlsx", book)
    try:
        read_scenario(path)
    except ScenarioError as exc:
        assert exc.issues and all(i.sheet for i in exc.issues)


def test_raw_package_features_read_as_excel_shows_them(tmp_path: Path) -> None:
    """Rich text runs, phonetic guides, prefixed namespaces, the 1904 calendar, shared
    formulas with and without a saved value, and cells far to the right."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    book = (f'<workbook xmlns="{main}" xmlns:r="{rel}"><workbookPr date1904="1"/><sheets>'
            '<sheet name="History" sheetId="1" r:id="rId1"/></sheets></workbook>')
    rels = ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
            f'<Relationship Id="rId3" Type="{rel}/styles" Target="styles.xml"/></Relationships>')
    strings = (f'<sst xmlns="{main}"><si><t>name</t></si><si><r><t>Ki</t></r><r><rPr/><t>to</t></r>'
               '<rPh><t>KITO</t></rPh></si><si><t>when</t></si></sst>')
    styles = f'<styleSheet xmlns="{main}"><cellXfs><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs></styleSheet>'
    sheet = (f'<x:worksheet xmlns:x="{main}"><x:sheetData>'
             '<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="s"><x:v>2</x:v></x:c>'
             '<x:c r="C1" t="inlineStr"><x:is><x:t>total</x:t></x:is></x:c></x:row>'
             '<x:row r="2"><x:c r="A2" t="s"><x:v>1</x:v></x:c><x:c r="B2" s="1"><x:v>366</x:v></x:c>'
             '<x:c r="C2"><x:f t="shared" si="0" ref="C2:C3">B2*2</x:f><x:v>4</x:v></x:c>'
             '<x:c r="XFD2" t="inlineStr"><x:is><x:t>far</x:t></x:is></x:c></x:row>'
             '<x:row r="3"><x:c r="A3" t="inlineStr"><x:is><x:r><x:t>A</x:t></x:r><x:r><x:t>B</x:t></x:r></x:is>'
             '</x:c><x:c r="C3"><x:f t="shared" si="0"/></x:c></x:row></x:sheetData></x:worksheet>')
    path = tmp_path / "raw.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", book)
        zf.writestr("xl/_rels/workbook.xml.rels", rels)
        zf.writestr("xl/sharedStrings.xml", strings)
        zf.writestr("xl/styles.xml", styles)
        zf.writestr("xl/worksheets/sheet1.xml", sheet)
    grid = grids.read_book(path, ["history"]).grids["history"]
    assert grid.row(1) == {0: "name", 1: "when", 2: "total"}
    assert grid.row(2) == {0: "Kito", 1: dt.datetime(1905, 1, 1), 2: 4}  # XFD2 has no header: skipped
    assert grid.row(3)[0] == "AB" and isinstance(grid.row(3)[2], grids.FormulaWithoutValue)
    with pytest.raises(ScenarioError, match=r"History!C3 total: '\(a formula\)' is a formula with no saved result"):
        read_table(path, "History")
