"""Produced workbooks open, recalculate and print in LibreOffice (a real client).

Skipped only where ``soffice`` is not installed (``.ci/run`` installs libreoffice-calc-nogui).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

import planner
from planner.io import read_scenario, write_plan, write_scenario, write_template
from planner.io.cells import EXCEL_ERRORS
from planner.scenario.examples import retail_quarterly

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = [pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed"),
              pytest.mark.slow]


def convert(path: Path, fmt: str, out: Path, profile: Path) -> Path:
    """Convert with a private LibreOffice profile (parallel runs must not share one)."""
    out.mkdir(exist_ok=True)
    cmd = [str(SOFFICE), f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
           "--convert-to", fmt, "--outdir", str(out), str(path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    target = out / f"{path.stem}.{fmt.split(':')[0]}"
    assert target.exists(), f"soffice failed ({result.returncode}): {result.stdout} {result.stderr}"
    return target


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float]:
    """A retail plan written into a copy of its workbook, with a user sheet whose formulas
    read the result sheets."""
    folder = tmp_path_factory.mktemp("lo")
    src = folder / "retail.xlsx"
    write_scenario(retail_quarterly(), src)
    wb = openpyxl.load_workbook(src)
    ws = wb.create_sheet("Checks")
    ws["A1"], ws["B1"] = "planned spend", "=SUM(Plan!E:E)"
    ws["A2"], ws["B2"] = "budget", "=VLOOKUP(\"total_budget\",Settings!A:B,2,FALSE)"
    ws["A3"], ws["B3"] = "headroom", "=B2-B1"
    wb.save(src)
    plan = planner.optimize(retail_quarterly())
    out = folder / "plan.xlsx"
    write_plan(plan, out, source=src)
    return folder, out, float(plan.allocation["spend"].sum())


def test_converts_to_pdf(produced: tuple[Path, Path, float]) -> None:
    folder, out, _ = produced
    pdf = convert(out, "pdf", folder / "pdf", folder / "profile")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 10_000


def test_recalculates_without_error_values(produced: tuple[Path, Path, float]) -> None:
    folder, out, spend = produced
    again = convert(out, "xlsx", folder / "recalc", folder / "profile")
    wb = openpyxl.load_workbook(again, data_only=True)
    errors = [f"{ws.title}!{c.coordinate}={c.value}" for ws in wb.worksheets for row in ws.iter_rows()
              for c in row if isinstance(c.value, str) and c.value.strip() in EXCEL_ERRORS]
    assert errors == []
    checks = wb["Checks"]
    assert checks["B1"].value == pytest.approx(spend, rel=1e-9)
    assert checks["B2"].value == 1_700_000
    assert checks["B3"].value == pytest.approx(1_700_000 - spend, abs=1e-6)
    for name in ("Plan", "Summary", "Constraints Report", "Run Info"):
        assert wb[name].max_row > 1


def test_template_opens(tmp_path: Path) -> None:
    path = tmp_path / "template.xlsx"
    write_template(path)
    pdf = convert(path, "pdf", tmp_path / "pdf", tmp_path / "profile")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_workbook_saved_by_libreoffice_reads_back(tmp_path: Path) -> None:
    src = tmp_path / "retail.xlsx"
    write_scenario(retail_quarterly(), src)
    saved = convert(src, "xlsx", tmp_path / "saved", tmp_path / "profile")
    assert read_scenario(saved).model_dump() == retail_quarterly().model_dump()
