"""Inputs a human types (issue 14): percentages for fractions, near-miss names, case and
spaces in names, renamed sheets, dates in number cells: each gets a message that says what
to type, in plain words, with no library internals."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from xlsx_fixtures import GOOD, make_book, sheets

import planner
from planner.errors import ScenarioError
from planner.io import read_scenario
from planner.scenario.models import Channel, Curve, Scenario, Segment, Settings

DEEP = int(os.environ.get("PLANNER_DEEP", "0"))
PROPERTY = settings(max_examples=DEEP or 30, deadline=None, derandomize=not DEEP,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CONSTRAINTS = ["name", "metric", "sense", "value", "segment", "channel", "program", "period"]


def issues_of(tmp_path: Path, **change: list[list[object]] | None) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        read_scenario(make_book(tmp_path / "h.xlsx", sheets(**change)))
    return [str(i) for i in info.value.issues]


def one(tmp_path: Path, **change: list[list[object]] | None) -> str:
    got = issues_of(tmp_path, **change)
    assert len(got) == 1, got
    return got[0]


# --------------------------------------------------------------------------- percentages


@pytest.mark.parametrize("typed, meant", [(30, "0.3"), (85, "0.85"), (100, "1"), (2, "0.02")])
def test_share_typed_as_a_percentage_suggests_the_fraction(tmp_path: Path, typed: float, meant: str) -> None:
    got = one(tmp_path, Constraints=[CONSTRAINTS, ["TV share", "share", "<=", typed, None, "Email", None, None]])
    assert got == (f"Constraints!D2 value: {typed} is a share above 1 (100 %): shares are fractions between 0 "
                   f"and 1; did you mean {meant}?")


def test_share_written_with_a_percent_sign_is_the_fraction(tmp_path: Path) -> None:
    book = sheets(Constraints=[CONSTRAINTS, ["cap", "share", "<=", "30%", None, "Email", None, None]])
    assert read_scenario(make_book(tmp_path / "s.xlsx", book)).constraints[0].value == pytest.approx(0.3)


@pytest.mark.parametrize("column, letter, typed, meant", [
    ("retention_rate", "E", 85, "0.85"), ("retention_rate", "E", 99.5, "0.995"), ("referral_rate", "F", 20, "0.2"),
])
def test_rates_typed_as_percentages_suggest_the_fraction(tmp_path: Path, column: str, letter: str, typed: float,
                                                         meant: str) -> None:
    header = GOOD["Segments"][0] + ["referral_rate"]
    rows = [header, ["VIP", 1000, None, 50, 0.9, 0.1], ["Mass", 5000, 20_000, 10, 0.7, 0.0]]
    rows[1][header.index(column)] = typed
    got = one(tmp_path, Segments=rows)
    assert got == (f"Segments!{letter}2 {column}: {typed} is not in [0, 1): it looks like a percentage; "
                   f"did you mean {meant}?")


def test_a_rate_of_exactly_one_says_why(tmp_path: Path) -> None:
    rows = [GOOD["Segments"][0], ["VIP", 1000, None, 50, 1], GOOD["Segments"][2]]
    assert one(tmp_path, Segments=rows) == ("Segments!E2 retention_rate: 1 is not in [0, 1) (1 is 100 %; "
                                            "rates are fractions below 1)")


def test_discount_rate_typed_as_a_percentage(tmp_path: Path) -> None:
    got = one(tmp_path, Settings=GOOD["Settings"] + [["annual_discount_rate", 8]])
    assert got == ("Settings!B5 annual_discount_rate: 8 is above 1 (100 % a year): rates are fractions; "
                   "did you mean 0.08?")


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("sheet, change, expected", [
    ("Curves", lambda b: b["Curves"][2].__setitem__(1, "Serach"),
     "Curves!B3 channel: 'Serach' is not a channel of the Channels sheet; did you mean 'Search'? "
     "(expected one of: Email, Search)"),
    ("Curves", lambda b: b["Curves"][1].__setitem__(0, "VPI"),
     "Curves!A2 segment: 'VPI' is not a segment of the Segments sheet; did you mean 'VIP'? "
     "(expected one of: Mass, VIP)"),
    ("Constraints", lambda b: b.__setitem__("Constraints", [CONSTRAINTS, ["c", "spend", "<=", 5, None, "Emial"]]),
     "Constraints!F2 channel: 'Emial' is not a channel of the Channels sheet; did you mean 'Email'? "
     "(expected blank, 'each' or one of: Email, Search)"),
    ("Seasonality", lambda b: b.__setitem__("Seasonality", [["channel", "period", "multiplier"], ["Email", "Qtr2", 2]]),
     "Seasonality!B2 period: 'Qtr2' is not a period of the Periods sheet; did you mean 'Q2'? "
     "(expected one of: Q1, Q2)"),
    ("Curves", lambda b: b["Curves"][2].__setitem__(1, "Radio"),
     "Curves!B3 channel: 'Radio' is not a channel of the Channels sheet (expected one of: Email, Search)"),
])
def test_unknown_names_list_the_valid_ones_and_the_closest(tmp_path: Path, sheet: str, change, expected: str) -> None:
    book = sheets()
    change(book)
    got = issues_of(tmp_path, **book)
    assert expected in got, got


def test_paid_serach_names_paid_search(tmp_path: Path) -> None:
    book = sheets(Channels=[["channel"], ["Email"], ["Paid Search"]])
    book["Curves"][2][1] = "Paid Serach"
    got = issues_of(tmp_path, **book)
    assert got == ["Curves!B3 channel: 'Paid Serach' is not a channel of the Channels sheet; did you mean "
                   "'Paid Search'? (expected one of: Email, Paid Search)"]


def test_names_match_ignoring_case_and_spaces_everywhere(tmp_path: Path) -> None:
    book = sheets(
        Channels=[["channel", "max_spend"], ["Email", None], ["Paid Search", 8000]],
        Seasonality=[["channel", "period", "multiplier"], ["paid search", " q2 ", 1.5]],
        Constraints=[CONSTRAINTS, ["cap", "spend", "<=", 5000, "MASS", "EMAIL", "Acquisition", "q1"],
                     ["each", "spend", ">=", 0, "Each", "paidsearch", None, None]],
        CurvePoints=[["segment", "channel", "program", "spend", "customers"], ["vip", "PAID SEARCH", "Acquisition", 100, 5]],
    )
    book["Curves"] = [GOOD["Curves"][0], ["vip", " email ", "Retention", "saturation", 30, 500, None, None],
                      ["mass", "paid_search", "acquisition", "hill", 400, 3000, 0.8, None],
                      ["Mass", "EMAIL", "ACQUISITION", "linear", 100, 20, None, None],
                      ["VIP", "Paid  Search", "acquisition", "points", None, None, None, None]]
    s = read_scenario(make_book(tmp_path / "n.xlsx", book))
    assert [c.cell for c in s.curves] == [("VIP", "Email", "retention"), ("Mass", "Paid Search", "acquisition"),
                                          ("Mass", "Email", "acquisition"), ("VIP", "Paid Search", "acquisition")]
    assert (s.seasonality[0].channel, s.seasonality[0].period) == ("Paid Search", "Q2")
    k = s.constraints[0]
    assert (k.segment, k.channel, k.program, k.period) == ("Mass", "Email", "acquisition", "Q1")
    assert (s.constraints[1].segment, s.constraints[1].channel) == ("each", "Paid Search")
    assert (s.curve_points[0].segment, s.curve_points[0].channel) == ("VIP", "Paid Search")
    plan = planner.optimize(s)
    assert plan.ok and set(plan.allocation["channel"]) <= {"Email", "Paid Search"}


def test_names_that_differ_only_in_case_or_spaces_are_duplicates(tmp_path: Path) -> None:
    got = one(tmp_path, Channels=[["channel"], ["Email"], ["Search"], ["e mail"]])
    assert got == ("Channels!A4 channel: 'e mail' is a duplicate (first on row 2): 'Email' and 'e mail' are one "
                   "name to planner, which ignores case, spaces and '_' in names; rename one")


def test_api_names_are_canonical_too() -> None:
    s = Scenario(settings=Settings(total_budget=100), segments=[Segment(segment="All", margin_per_period=1,
                                                                        retention_rate=0)],
                 channels=[Channel(channel="Email")],
                 curves=[Curve(segment="all", channel="EMAIL", program="acquisition", curve="linear", b=2)])
    assert s.curves[0].cell == ("All", "Email", "acquisition")


# --------------------------------------------------------------------------- sheets, settings, columns


def test_renamed_sheet_is_named_as_the_likely_one(tmp_path: Path) -> None:
    book = sheets()
    book["Response Curves"] = book.pop("Curves")
    with pytest.raises(ScenarioError) as info:
        read_scenario(make_book(tmp_path / "r.xlsx", book))
    got = [str(i) for i in info.value.issues]
    assert got == ["Curves: sheet is missing: add a sheet named Curves; is 'Response Curves' that sheet? "
                   "rename it to Curves"]


def test_sheet_names_with_case_and_spaces_are_found(tmp_path: Path) -> None:
    book = {("segments " if k == "Segments" else k.upper()): v for k, v in sheets().items()}
    assert read_scenario(make_book(tmp_path / "c.xlsx", book)).segments[0].segment == "VIP"


def test_misspelt_setting_names_the_setting(tmp_path: Path) -> None:
    got = one(tmp_path, Settings=GOOD["Settings"] + [["total_budjet", 5]])
    assert got.startswith("Settings!A5 setting: 'total_budjet' is not a known setting; did you mean 'total_budget'?")


def test_missing_column_names_the_header_most_like_it(tmp_path: Path) -> None:
    rows = [list(r) for r in GOOD["Segments"]]
    rows[0][4] = "retention rate %"
    got = one(tmp_path, Segments=rows)
    assert got == ("Segments retention_rate: column is missing: put 'retention_rate' in row 1 (is column E "
                   "'retention_rate_%' meant? rename its header)")


# --------------------------------------------------------------------------- plain words


@pytest.mark.parametrize("sheet, row, col, value, expected", [
    ("Settings", 1, 1, dt.datetime(2025, 3, 1), "Settings!B2 total_budget: the date 2025-03-01 is a date, not a "
                                                "number: format the cell as a number and type the value"),
    ("Channels", 1, 3, 0, "Channels!D2 cost_per_contact: 0 is not above 0: expected a number > 0 (leave the cell "
                          "blank if it does not apply)"),
    ("Segments", 1, 1, True, "Segments!B2 customers: TRUE is not a number"),
    ("Settings", 1, 1, dt.datetime(2025, 3, 1, 9, 30), "the date 2025-03-01 09:30:00 is a date, not a number"),
])
def test_messages_use_plain_words(tmp_path: Path, sheet: str, row: int, col: int, value: object,
                                  expected: str) -> None:
    book = sheets()
    book[sheet][row][col] = value
    got = issues_of(tmp_path, **book)
    assert any(expected in m for m in got), got
    assert not any(w in m for m in got for w in ("Input should", "datetime.", "Value error"))


# --------------------------------------------------------------------------- properties

_NAMES = {"Segments": ["VIP", "Mass"], "Channels": ["Email", "Search"]}


def _respell(name: str, flips: list[bool], spaces: int) -> str:
    out = "".join(ch.swapcase() if f else ch for ch, f in zip(name, flips + [False] * len(name), strict=False))
    return " " * spaces + out + " " * spaces


@PROPERTY
@given(flips=st.lists(st.booleans(), max_size=6), spaces=st.integers(0, 2), which=st.integers(0, 3))
@example(flips=[True, True, True], spaces=1, which=0)
def test_any_case_and_spacing_of_a_name_reads_as_the_defined_name(tmp_path: Path, flips: list[bool], spaces: int,
                                                                  which: int) -> None:
    book = sheets()
    row = book["Curves"][1 + which % 3]
    column = which // 3 if which < 3 else 1
    defined = row[column]
    row[column] = _respell(defined, flips, spaces)
    s = read_scenario(make_book(tmp_path / "p.xlsx", book))
    reference = read_scenario(make_book(tmp_path / "r.xlsx", sheets()))
    assert [c.cell for c in s.curves] == [c.cell for c in reference.curves]


@PROPERTY
@given(value=st.floats(min_value=2, max_value=100, allow_nan=False), column=st.sampled_from([4]))
@example(value=85.0, column=4)
def test_any_percentage_typed_as_a_rate_suggests_its_fraction(tmp_path: Path, value: float, column: int) -> None:
    rows = [list(r) for r in GOOD["Segments"]]
    rows[1][column] = value
    got = one(tmp_path, Segments=rows)
    assert got.endswith(f"did you mean {value / 100:.4g}?"), got


@pytest.mark.parametrize("change, expected", [
    ({"Curves": GOOD["Curves"][:1] + [["VIP", "Email", "retention", "saturaton", 30, 500, None, None]]},
     "Curves!D2 curve: 'saturaton' is not allowed: expected one of 'linear', 'saturation', 'hill', 'log', 'power' "
     "or 'points'; did you mean 'saturation'?"),
    ({"Settings": GOOD["Settings"] + [["objective", "net value"]]},
     "Settings!B5 objective: 'net value' is not allowed: expected one of 'net_value', 'value', 'target_mroi' or "
     "'min_spend'; did you mean 'net_value'?"),
    ({"Constraints": [CONSTRAINTS, ["c", "spend", "<=", 5, None, None, "aquisition"]]},
     "Constraints!G2 program: 'aquisition' is not a program; did you mean 'acquisition'? (expected blank, 'each' "
     "or one of: acquisition, retention)"),
])
def test_near_miss_words_name_the_word(tmp_path: Path, change: dict, expected: str) -> None:
    assert one(tmp_path, **change) == expected
