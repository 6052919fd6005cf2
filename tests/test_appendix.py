"""``python -m thesis_lib appendix``: the theory notebooks, the executed results notebook and the
bench notebooks as HTML, and as PDF where XeLaTeX and pandoc are installed (README's one install
line); without them the PDF is skipped aloud, never a failure."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("seaborn")

from test_results import RECORDS  # noqa: E402

from thesis_lib.results import report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
THEORY = sorted((REPO / "notebooks").glob("theory_*.ipynb"))


@pytest.mark.timeout(60)
def test_without_a_tex_engine_the_pdf_is_skipped_naming_what_is_missing_and_the_install_line(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report.shutil, "which", lambda tool: None if tool == "pandoc" else f"/usr/bin/{tool}")
    assert report.to_pdf(THEORY[0], tmp_path) is None
    said = capsys.readouterr().out
    assert f"skipped PDF of {THEORY[0].name}: pandoc not installed" in said
    assert report.PDF_INSTALL in said and not list(tmp_path.iterdir())


@pytest.mark.timeout(60)
def test_the_readme_gives_the_install_line_the_skip_message_gives():
    assert report.PDF_INSTALL in (REPO / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(bool(report.pdf_tools_missing()), reason="xelatex or pandoc not installed (README: PDF)")
def test_appendix_renders_every_notebook_to_html_and_pdf(tmp_path):
    results = tmp_path / "records"
    shutil.copytree(RECORDS, results)
    out = tmp_path / "appendix"
    done = subprocess.run([sys.executable, "-m", "thesis_lib", "appendix", "--results-dir", str(results),
                           "--out", str(out)], capture_output=True, text=True, timeout=880, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    names = {path.name for path in out.iterdir()}
    stems = [notebook.stem for notebook in THEORY] + ["results"]
    assert names >= {f"{stem}.{kind}" for stem in stems for kind in ("html", "pdf")}
    for stem in stems:
        pdf = (out / f"{stem}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and len(pdf) > 20_000, stem
    assert "skipped PDF" not in done.stdout


@pytest.mark.timeout(60)
def test_a_shown_table_prints_in_the_pdf_in_escaped_parts_holding_every_cell_once():
    import pandas as pd

    from thesis_lib.results.latex import COLUMNS_PER_PART, ROWS_PER_PART, ShownTable

    rows, columns = ROWS_PER_PART + 5, COLUMNS_PER_PART + 2
    frame = pd.DataFrame([[f"r{r}c{c}" for c in range(columns)] for r in range(rows)],
                         columns=[f"col_{c}" for c in range(columns)])
    frame.iloc[0, 0] = "page_cache_gb_s & 95%"
    styler = frame.style.hide(axis="index").set_caption("95% interval").set_table_styles(
        [{"selector": "td", "props": "white-space: nowrap;"}])
    latex = ShownTable(styler)._repr_latex_()
    assert latex.count("\\begin{tabular}") == 4  # 2 row parts × 2 column parts
    assert "page\\_cache\\_gb\\_s \\& 95\\%" in latex and "\\caption{95\\% interval}" in latex
    assert "col\\_0" in latex and "\\multirow" not in latex and "nowrap" not in latex
    for r in range(rows):
        for c in range(columns):
            if (r, c) != (0, 0):
                assert latex.count(f"r{r}c{c} ") + latex.count(f"r{r}c{c}\\\\") == 1, (r, c)
    assert "<table" in ShownTable(styler)._repr_html_()
