"""Rendering: results.ipynb executed over the records, and notebooks turned into HTML (and PDF)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import paths

RESULTS_NOTEBOOK = paths.REPO_ROOT / "notebooks" / "results.ipynb"
KERNEL = "thesis-lab"


def existing_results_dir(results_dir: str | Path | None) -> Path:
    """``results_dir`` made absolute (default: ``data/results``); ValueError when it is not a folder,
    so a misspelt name never renders an empty report."""
    if not results_dir:
        return paths.data_dir("results")
    folder = Path(results_dir).expanduser().resolve()
    if not folder.is_dir():
        raise ValueError(f"results folder {folder} does not exist (misspelt --results-dir?)")
    return folder


def execute_results(results_dir: str | Path | None = None) -> Path:
    """Execute results.ipynb over ``results_dir`` into ``<results_dir>/report/results.ipynb``."""
    import papermill

    results_dir = existing_results_dir(results_dir)
    out = results_dir / "report" / "results.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(RESULTS_NOTEBOOK), str(out), kernel_name=KERNEL, progress_bar=False,
                               parameters={"results_dir": str(results_dir)}, cwd=str(RESULTS_NOTEBOOK.parent))
    return out


def to_html(notebook: Path, out_dir: Path) -> Path:
    """Render an (already executed) notebook to standalone HTML in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _nbconvert(notebook, out_dir, "html")
    return out_dir / f"{notebook.stem}.html"


def to_pdf(notebook: Path, out_dir: Path) -> Path | None:
    """PDF through nbconvert's LaTeX exporter when xelatex is installed; None (said aloud) otherwise."""
    if shutil.which("xelatex") is None:
        print(f"skipped PDF of {notebook.name}: xelatex (TeX Live) is not installed; HTML was written")
        return None
    _nbconvert(notebook, out_dir, "pdf")
    return out_dir / f"{notebook.stem}.pdf"


def _nbconvert(notebook: Path, out_dir: Path, to: str) -> None:
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", to, "--output-dir", str(out_dir),
                    "--log-level", "WARN", str(notebook)], check=True)


def build(results_dir: str | Path | None = None, *, html: bool = True) -> Path:
    """Execute results.ipynb and (by default) render it to HTML; return the report's path."""
    executed = execute_results(results_dir)
    return to_html(executed, executed.parent) if html else executed


def appendix(results_dir: str | Path | None = None, out_dir: str | Path | None = None,
             bench_runs: list[str] | None = None, pdf: bool = True) -> list[Path]:
    """Render the theory notebooks, the executed results.ipynb and chosen bench notebooks.

    ``bench_runs``: names of executed bench notebooks in ``results_dir`` (default: all of them).
    """
    results_dir = existing_results_dir(results_dir)
    out_dir = Path(out_dir) if out_dir else paths.data_dir("appendix")
    notebooks = sorted((paths.REPO_ROOT / "notebooks").glob("theory_*.ipynb"))
    notebooks.append(execute_results(results_dir))
    benches = sorted(results_dir.glob("*.ipynb"))
    if bench_runs:
        benches = [b for b in benches if b.stem in set(bench_runs)]
    notebooks += benches
    written = []
    for notebook in notebooks:
        written.append(to_html(notebook, out_dir))
        if pdf and (found := to_pdf(notebook, out_dir)):
            written.append(found)
    return written
