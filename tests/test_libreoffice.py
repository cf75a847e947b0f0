"""Produced workbooks open, recalculate and print in LibreOffice (a real client).

Skipped only where ``soffice`` is not installed (``.ci/run`` installs libreoffice-calc-nogui).
"""

from __future__ import annotations

import re
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


# --------------------------------------------------------------------------- the look


PDFTOTEXT = shutil.which("pdftotext")


def result_sheets() -> list:
    """Every result sheet a user gets for the bundled retail scenario (plan, frontier, comparison)."""
    from planner.analysis.compare import compare
    from planner.analysis.frontier import frontier
    from planner.io.report_sheets import plan_sheets

    source = Path(__file__).parents[1] / "scenarios" / "retail_quarterly.xlsx"
    s = read_scenario(source)
    return plan_sheets(planner.optimize(s), source) + frontier(s, points=11).sheets() + compare(s).sheets()


def render_pages(folder: Path, profile: Path, png: Path | None = None) -> dict[str, Path]:
    """Each result sheet in its own workbook, printed to PDF by LibreOffice (first pages as
    small PNGs into ``png`` when given: docs/images is made this way)."""
    from planner.io import write_sheets

    pdfs: dict[str, Path] = {}
    for spec in result_sheets():
        book = folder / f"{spec.name.lower().replace(' ', '_')}.xlsx"
        write_sheets([spec], book)
        pdfs[spec.name] = convert(book, "pdf", folder / "pdf", profile)
        if png is not None:
            subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile",
                            str(pdfs[spec.name]), str(png / book.stem)], check=True)
    return pdfs


@pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext (poppler-utils) is not installed")
def test_printed_sheets_read_as_a_user_expects(tmp_path: Path) -> None:
    pdfs = render_pages(tmp_path, tmp_path / "profile")

    def text(name: str, first: int | None = None) -> str:
        pages = ["-f", "1", "-l", str(first)] if first else []
        return subprocess.run([str(PDFTOTEXT), "-layout", *pages, str(pdfs[name]), "-"], capture_output=True,
                              text=True, check=True).stdout

    everything = "\n".join(text(name) for name in pdfs)
    assert "-0.00" not in everything and not re.search(r"(?<![\d,.])-0(?![\d.,])", everything)
    brief = text("Summary", first=1)  # page 1 is the brief: title, two sentences, headline figures
    assert brief.startswith("Retail quarterly plan: optimal")
    for label in ("Total spend", "Net value", "ROI", "New customers", "Blended CAC", "Marginal ROI of budget"):
        assert label in brief
    assert re.search(r"Total spend\s+1,700,000 USD", brief)  # whole money with thousands separators
    assert re.search(r"Blended CAC\s+\d{2}\.\d{2} USD", brief)  # money under 1 000 with cents
    assert re.search(r"New customers\s+\d{2},\d{3}\s", brief)  # customers whole
    assert re.search(r"Optimality gap \(relative\)\s+\d\.\d+%", brief)
    assert "By channel" not in brief  # the breakdowns start on page 2
    assert re.search(r"pwl_tolerance\s+0\.001\b", text("Run Info"))
    plan = text("Plan", first=1)
    assert re.search(r"period\s+segment\s+channel\s+program\s+spend\s+customers\s+value\s+roi", plan)
    assert re.search(r"\d{1,3},\d{3} USD", plan)
    frontier_text = text("Frontier")
    assert "Marginal ROI by total budget" in frontier_text and re.search(r"\b\d(\.\d)?M\b", frontier_text)
    comparison = text("Comparison")
    assert re.search(r"Budget \+20%\s+optimal\s+2,040,000 USD", comparison) and "%" in comparison
    for name in pdfs:  # landscape pages
        info = subprocess.run(["pdfinfo", str(pdfs[name])], capture_output=True, text=True).stdout
        width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info).groups())
        assert width > height, name


if __name__ == "__main__":  # python tests/test_libreoffice.py: refresh docs/images
    import tempfile

    images = Path(__file__).parents[1] / "docs" / "images"
    images.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        render_pages(Path(tmp), Path(tmp) / "profile", images)
    print("\n".join(sorted(str(p) for p in images.glob("*.png"))))
