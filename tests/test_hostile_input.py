"""Hostile input, read side: every class ends in a located error (exit 1), never a traceback.

Each test is a class of input (issue 17), not one case: Excel error values and formulas in
name cells, curve parameters no curve can be computed with, damaged or unsafe package
parts, values stored in forms Excel never writes, files that are not workbooks, sheets that
shadow input sheets, reserved names.  Memory and time per class: ``test_read_limits.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from xlsx_fixtures import GOOD, make_book, sheets

import planner
from planner.cli import main
from planner.errors import ScenarioError, WorkbookError
from planner.io import read_scenario
from planner.io import zip_preflight as xlsxzip

#: ``PLANNER_DEEP=3000 pytest ...`` runs the properties with that many random examples.
DEEP = int(os.environ.get("PLANNER_DEEP", "0"))
PROPERTY = settings(max_examples=DEEP or 30, deadline=None, derandomize=not DEEP,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def issues_of(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        read_scenario(path)
    return [str(i) for i in info.value.issues]


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rezip(path: Path, content: dict[str, bytes], stored: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in content.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED)
    return path


def sheet_part(path: Path, title: str) -> str:
    with zipfile.ZipFile(path) as zf:
        return next(p for p, t in xlsxzip.sheet_parts(zf).items() if t == title)


def cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


# --------------------------------------------------------------------------- name cells


@pytest.mark.parametrize("sheet, field", [("Segments", "segment"), ("Channels", "channel"), ("Periods", "period")])
@pytest.mark.parametrize("value, as_text", [("#N/A", False), ("#DIV/0!", False), ("#REF!", False), ("#N/A", True),
                                            ("=A1*2", False)])
def test_excel_errors_and_unsaved_formulas_in_name_cells(tmp_path: Path, sheet: str, field: str, value: str,
                                                         as_text: bool) -> None:
    book = make_book(tmp_path / "n.xlsx", GOOD)
    wb = openpyxl.load_workbook(book)
    wb[sheet]["A2"].value = value
    if as_text:
        wb[sheet]["A2"].data_type = "s"
    wb.save(book)
    got = issues_of(book)
    assert any(m.startswith(f"{sheet}!A2 {field}: '{value}' is ") and ("Excel error" in m or "formula" in m)
               for m in got), got


# --------------------------------------------------------------------------- curve parameters


@pytest.mark.parametrize("column, value, reason", [
    (6, 1e308, "a shape above 50 is a step"), (6, 1e15, "a shape above 50"), (6, 400, "a shape above 50"),
    (6, 50.5, "a shape above 50"), (5, 5e-324, "between 1e-09 and 1e+15"), (4, 1e300, "between 1e-09 and 1e+15"),
    (6, "NaN", "not a finite number"), (6, "inf", "not a finite number"), (6, "-inf", "not a finite number"), (6, -2, "is not above 0"),
])
def test_hill_parameters_no_curve_can_compute_are_refused_with_why(tmp_path: Path, column: int, value: object,
                                                                   reason: str) -> None:
    rows = [list(r) for r in GOOD["Curves"]]
    rows[2][column] = value  # the hill curve
    got = issues_of(make_book(tmp_path / "h.xlsx", sheets(Curves=rows)))
    letter = "ABCDEFGH"[column]
    assert any(m.startswith(f"Curves!{letter}3 ") and reason in m for m in got), got


def test_largest_accepted_hill_shape_optimises(tmp_path: Path) -> None:
    rows = [list(r) for r in GOOD["Curves"]]
    rows[2][6] = 50
    plan = planner.optimize(read_scenario(make_book(tmp_path / "h.xlsx", sheets(Curves=rows))))
    assert plan.status in ("optimal", "time_limit", "feasible") and plan.allocation["spend"].notna().all()


def test_points_curve_through_zero_only_is_refused(tmp_path: Path) -> None:
    curves = GOOD["Curves"] + [["VIP", "Search", "acquisition", "points", None, None, None, None]]
    points = [["segment", "channel", "program", "spend", "customers"], ["VIP", "Search", "acquisition", 0, 0]]
    got = issues_of(make_book(tmp_path / "p.xlsx", sheets(Curves=curves, CurvePoints=points)))
    assert got == ["Curves!D5 curve: 'points' has no point with spend > 0 and customers > 0 on the CurvePoints "
                   "sheet: add the points of the curve (a curve through (0, 0) only wins no one)"]


# --------------------------------------------------------------------------- stored values


@pytest.mark.parametrize("stored", [b"NaN", b"INF", b"-inf", b"0x1A", b"1e999", b"12abc", b"1,5"])
def test_number_cell_holding_what_excel_never_writes_is_located(tmp_path: Path, stored: bytes) -> None:
    book = make_book(tmp_path / "v.xlsx", GOOD)
    part = sheet_part(book, "Settings")
    content = parts(book)
    xml = content[part]
    new, n = re.subn(rb'(<c r="B2"[^>]*>)<v>[^<]*</v>', rb"\g<1><v>" + stored + b"</v>", xml)
    assert n == 1
    content[part] = new
    got = issues_of(rezip(tmp_path / "bad.xlsx", content))
    assert got == [f"Settings!B2 total_budget: '{stored.decode()}' is stored in the file as a number but is not "
                   "one Excel can write (NaN, infinity or hex are not numbers): the file was made by another "
                   "program; retype the value"]


# --------------------------------------------------------------------------- damaged or unsafe parts


def _corrupt(path: Path, marker: bytes, offset: int = 3) -> None:
    data = bytearray(path.read_bytes())
    i = data.find(marker)
    assert i >= 0
    data[i + offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_damaged_part_no_sheet_refers_to_is_never_read(tmp_path: Path) -> None:
    content = parts(make_book(tmp_path / "g.xlsx", GOOD))
    content["xl/worksheets/sheet99.xml"] = b"<worksheet><sheetData/>" + b"<!--x-->" * 50 + b"</worksheet>"
    bad_crc = rezip(tmp_path / "crc.xlsx", content, stored=("xl/worksheets/sheet99.xml",))
    _corrupt(bad_crc, b"<!--x--><!--x-->")
    content["xl/worksheets/sheet99.xml"] = os.urandom(2000)  # corrupt deflate stream follows
    assert read_scenario(bad_crc).settings.total_budget == 10_000
    code, out = cli("optimize", bad_crc, "-o", tmp_path / "out.xlsx", "-q")
    assert code == 0, out


@pytest.mark.parametrize("how", ["crc", "deflate"])
def test_damaged_scenario_sheet_is_named(tmp_path: Path, how: str) -> None:
    good = make_book(tmp_path / "g.xlsx", GOOD)
    part = sheet_part(good, "Segments")
    book = rezip(tmp_path / "d.xlsx", parts(good), stored=(part,) if how == "crc" else ())
    if how == "crc":
        _corrupt(book, b"<sheetData>")
    else:
        with zipfile.ZipFile(book) as zf:
            info = zf.getinfo(part)
        data = bytearray(book.read_bytes())
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        data[start:start + 4] = b"\xff\xff\xff\xff"
        book.write_bytes(bytes(data))
    with pytest.raises(WorkbookError, match=r"d.xlsx: sheet 'Segments' \(part .*\) (cannot be read from the "
                                            r"archive|is not well-formed).*(restore a copy|save it again)"):
        read_scenario(book)
    code, out = cli("validate", book)
    assert code == 1 and "sheet 'Segments'" in out and "Traceback" not in out


@pytest.mark.parametrize("part", ["xl/drawings/_rels/drawing1.xml.rels", "xl/workbook.xml",
                                  "xl/worksheets/_rels/sheet1.xml.rels", "docProps/custom.xml"])
def test_entity_declaration_in_any_part_is_refused_before_the_solve(tmp_path: Path, part: str) -> None:
    good = make_book(tmp_path / "g.xlsx", GOOD)
    content = parts(good)
    body = content.get(part, b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>')
    body = body.split(b"?>", 1)[1] if body.startswith(b"<?xml") else body
    content[part] = (b'<?xml version="1.0"?>\n<!-- a comment first -->\n<!DOCTYPE r [<!ENTITY a "b">]>' + body)
    bad = rezip(tmp_path / "e.xlsx", content)
    with pytest.raises(WorkbookError, match=f"refused, part {re.escape(part)} declares a DTD"):
        read_scenario(bad)
    out = tmp_path / "out.xlsx"
    code, text = cli("optimize", bad, "-o", out)
    assert code == 1 and "declares a DTD" in text and not out.exists()


def test_extlst_scan_is_linear(tmp_path: Path) -> None:
    import time

    good = make_book(tmp_path / "g.xlsx", GOOD)
    content = parts(good)
    part = sheet_part(good, "Settings")
    content[part] = content[part].replace(b"</worksheet>", b"<extLst " * 200_000 + b"</worksheet>")
    bad = rezip(tmp_path / "x.xlsx", content)
    start = time.perf_counter()
    assert xlsxzip.losses(bad) == []
    assert time.perf_counter() - start < 5  # the old regex took minutes at 20 000 openings
    assert xlsxzip.ext_blocks(b"<extLst><x:extLst>a</x:extLst></extLst><extLst><ext/></extLst><extLst ") == [
        b"<extLst><x:extLst>a</x:extLst></extLst>", b"<extLst><ext/></extLst>"]


# --------------------------------------------------------------------------- not workbooks


def _ole(extra: bytes) -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + extra


@pytest.mark.parametrize("content, says", [
    pytest.param(_ole("EncryptedPackage".encode("utf-16-le")), "is password-protected (encrypted)", id="encrypted"),
    pytest.param(_ole("Workbook".encode("utf-16-le")), "old Excel 97-2003 workbook (.xls)", id="xls"),
    (b"setting,value\ntotal_budget,1000\n", "is a text file (CSV or similar)"),
    (b"\xef\xbb\xbfsegment;customers\r\nVIP;10\r\n", "is a text file (CSV or similar)"),
    (b"<html><body><table></table></body></html>", "is a web page (HTML)"),
    (b"", "is empty (0 bytes)"),
    (None, "no such file"),
    ("folder", "is a folder, not a workbook"),
    ("ods", "is an OpenDocument spreadsheet (.ods)"),
    ("zip", "is a zip archive but not an .xlsx workbook"),
])
def test_files_that_are_not_workbooks_say_what_they_are(tmp_path: Path, content: object, says: str) -> None:
    path = tmp_path / "in.xlsx"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "folder":
        path.mkdir()
    elif content in ("ods", "zip"):
        names = {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}
        rezip(path, names if content == "ods" else {"a.txt": b"hi"})
    with pytest.raises(WorkbookError, match=re.escape(says)):
        read_scenario(path)
    for command in ("validate", "optimize"):
        code, out = cli(command, path, *(["-o", tmp_path / "out.xlsx"] if command == "optimize" else []))
        assert code == 1 and says in out, out
    assert "File is not a zip file" not in out


def test_unreadable_file_exits_1_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_book(tmp_path / "locked.xlsx", GOOD)
    real_open = Path.open

    def deny(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if self.name == "locked.xlsx":
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    code, out = cli("validate", path)
    assert code == 1 and "cannot be read (Permission denied): check its permissions" in out


# --------------------------------------------------------------------------- shadowing and reserved words


@pytest.mark.parametrize("title, state", [("_Settings", "veryHidden"), ("settings_", "hidden"), ("SET TINGS", "visible")])
def test_a_second_sheet_read_as_an_input_sheet_is_an_error_naming_both(tmp_path: Path, title: str, state: str) -> None:
    book = make_book(tmp_path / "s.xlsx", GOOD)
    wb = openpyxl.load_workbook(book)
    ws = wb.create_sheet(title, 0)
    ws.append(["setting", "value"])
    ws.append(["total_budget", 999_999_999])
    ws.sheet_state = state
    wb.save(book)
    got = issues_of(book)
    shown = f"'{title}'" + {"veryHidden": " (very hidden)", "hidden": " (hidden)", "visible": ""}[state]
    assert got == [f"Settings: 2 sheets are read as this sheet: 'Settings', {shown} (names are matched ignoring "
                   "case, spaces and '_'); delete or rename all but one"]


@pytest.mark.parametrize("sheet, field", [("Segments", "segment"), ("Channels", "channel"), ("Periods", "period")])
@pytest.mark.parametrize("word", ["each", "EACH", " Each "])
def test_a_name_the_constraints_filters_reserve_is_refused(tmp_path: Path, sheet: str, field: str, word: str) -> None:
    book = sheets()
    book[sheet][1][0] = word
    got = issues_of(make_book(tmp_path / "e.xlsx", book))
    assert any(m.startswith(f"{sheet}!A2 {field}: ") and "is a reserved word" in m for m in got), got


# --------------------------------------------------------------------------- properties


HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(-10**18, 10**18),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1e-12, 1e15, 1e16, 1e300, 1.7976931348623157e308, 50, 50.0001,
                     400, 0.5, 1, 30, 85, 100, -1]),
    st.sampled_from(["", " ", "NaN", "inf", "-Infinity", "0x1A", "1e999", "#N/A", "#DIV/0!", "#REF!", "=1+1",
                     "each", "EACH", "email", "vip", " Mass ", "Paid Serach", "linear", "points", "hill",
                     "acquisition", "retention", "share", "<=", ">=", "TRUE", "1,5", "(3)", "30%", "85%",
                     "$1,000", "Q1", "q2"]),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1)),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=6),
)
EXTRA = {
    "Constraints": [["name", "metric", "sense", "value", "segment", "channel", "program", "period"],
                    ["cap", "share", "<=", 0.8, None, "Email", None, None]],
    "CurvePoints": [["segment", "channel", "program", "spend", "customers"], ["VIP", "Search", "acquisition", 100, 5],
                    ["VIP", "Search", "acquisition", 400, 12]],
    "Seasonality": [["channel", "period", "multiplier"], ["Search", "Q2", 1.5]],
}
BASE = {**GOOD, **EXTRA, "Curves": GOOD["Curves"] + [["VIP", "Search", "acquisition", "points", None, None, None,
                                                        None]]}


def _no_traceback(path: Path) -> None:
    try:
        scenario = read_scenario(path)
    except ScenarioError as exc:
        assert exc.issues and all(i.sheet and i.expected for i in exc.issues)
        for text in map(str, exc.issues):
            assert not any(w in text for w in ("Input should", "datetime.", "Value error", "Traceback")), text
        return
    except WorkbookError as exc:
        assert str(exc)
        return
    plan = planner.optimize(scenario)
    assert plan.status


@PROPERTY
@given(edits=st.lists(st.tuples(st.sampled_from(sorted(BASE)), st.integers(0, 4), st.integers(0, 8), HOSTILE),
                      min_size=1, max_size=4))
@example(edits=[("Curves", 3, 6, 1e308)])
@example(edits=[("Segments", 1, 0, "#N/A")])
@example(edits=[("Segments", 1, 0, "each")])
@example(edits=[("CurvePoints", 1, 3, 0), ("CurvePoints", 1, 4, 0), ("CurvePoints", 2, 3, 0), ("CurvePoints", 2, 4, 0)])
@example(edits=[("Curves", 3, 5, 5e-324)])
def test_no_traceback_for_any_cell_value(tmp_path: Path, edits: list[tuple[str, int, int, object]]) -> None:
    book = {k: [list(r) for r in v] for k, v in BASE.items()}
    for sheet, row, col, value in edits:
        rows = book[sheet]
        while len(rows) <= row:
            rows.append([])
        while len(rows[row]) <= col:
            rows[row].append(None)
        rows[row][col] = value
    _no_traceback(make_book(tmp_path / "fuzz.xlsx", book))


STORED = st.one_of(
    st.sampled_from([b"NaN", b"nan", b"INF", b"-inf", b"0x10", b"1e999", b"", b" ", b"1.5.2", b"--1", b"1e-400",
                     b"4.9e-324", b"99999999999999999999999", b"#N/A", b"TRUE"]),
    st.binary(max_size=6).map(lambda b: bytes(c for c in b if 0x30 <= c < 0x7f and c not in b"<&>")),
)


@PROPERTY
@given(sheet=st.sampled_from(["Settings", "Segments", "Channels", "Curves", "Periods"]),
       nth=st.integers(0, 30), stored=STORED, kind=st.sampled_from(["n", "s", "b", "e", "str", "d", "inlineStr", None]))
@example(sheet="Settings", nth=0, stored=b"0x10", kind="n")
@example(sheet="Segments", nth=1, stored=b"7", kind="s")
@example(sheet="Segments", nth=1, stored="²".encode(), kind="s")
@example(sheet="Settings", nth=2, stored="١٢".encode(), kind="n")
def test_no_traceback_for_any_stored_cell(tmp_path: Path, sheet: str, nth: int, stored: bytes, kind: str | None) -> None:
    good = make_book(tmp_path / "g.xlsx", BASE)
    part = sheet_part(good, sheet)
    content = parts(good)
    cells = list(re.finditer(rb'<c r="([A-Z]+\d+)"[^>]*?(/>|>.*?</c>)', content[part], re.S))
    m = cells[nth % len(cells)]
    t = b"" if kind is None else b' t="' + kind.encode() + b'"'
    content[part] = content[part][:m.start()] + b'<c r="' + m[1] + b'"' + t + b"><v>" + stored + b"</v></c>" \
        + content[part][m.end():]
    _no_traceback(rezip(tmp_path / "fuzz.xlsx", content))


def test_library_warnings_never_reach_the_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from planner import io as planner_io

    real = planner_io.read_scenario

    def noisy(path: str):  # type: ignore[no-untyped-def]
        warnings.warn("Data Validation extension is not supported and will be removed", UserWarning, stacklevel=1)
        warnings.warn("invalid value encountered in cast", RuntimeWarning, stacklevel=1)
        return real(path)

    monkeypatch.setattr(planner_io, "read_scenario", noisy)
    code, out = cli("validate", make_book(tmp_path / "w.xlsx", GOOD))
    assert code == 0 and out.startswith("OK:") and "extension" not in out and "RuntimeWarning" not in out


@PROPERTY
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.integers(0, 10**6)), stored=st.booleans())
@example(flips=[(0, 1)], cut=None, stored=False)
def test_no_traceback_for_any_damaged_file(tmp_path: Path, flips: list[tuple[int, int]], cut: int | None,
                                           stored: bool) -> None:
    good = make_book(tmp_path / "g.xlsx", BASE)
    content = parts(good)
    raw = bytearray(rezip(tmp_path / "r.xlsx", content, stored=tuple(content) if stored else ()).read_bytes())
    for at, xor in flips:
        raw[at % len(raw)] ^= xor
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(bytes(raw[:cut % len(raw)] if cut is not None else raw))
    _no_traceback(path)
