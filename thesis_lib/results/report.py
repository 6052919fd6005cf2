"""Rendering: the report's tables, results.ipynb executed over the records, and notebooks turned
into HTML (and PDF).

>>> write_report_tables(runs, "data/results/report")   # headline, summary, findings, ties (.md, .tex)
>>> show(results.epoch_time_figure(runs))              # in a notebook: the figure, with alt text
>>> build("data/results")                              # data/results/report/results.html

The HTML report hides code cells (the notebook keeps them). Figures shown with :func:`show` (or
drawn by :func:`.figure_files.draw_figures`) carry alt text describing them
(:func:`.figure_files.alt_text`); :class:`AltTextImages` hands it to nbconvert, whose templates
would otherwise drop it.
"""
from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
from nbconvert.preprocessors import Preprocessor

from .. import results
from ..core import notebook_run, paths
from ..core.record import check_writable, write_text
from . import chapter, findings, headline, lead, machines, startup, ties
from .figure_files import DrawnFigure, alt_text, figure_image  # noqa: F401 - alt_text: the report's API too
from .lang import Words, catalogue as lang_catalogue, check_language

RESULTS_NOTEBOOK = paths.REPO_ROOT / "notebooks" / "results.ipynb"


def execute_results(results_dir: str | Path | list | None = None, lang: str = "en") -> Path:
    """Execute results.ipynb over ``results_dir`` (a folder, or a list of folders whose records
    pool) into ``report/results.ipynb`` under the first of them; ``lang``: the tables' and lead
    findings' language."""
    check_language(lang)
    folders = results.records.results_folders(results_dir)
    out = folders[0] / "report" / "results.ipynb"
    check_writable(out.parent, what="report folder (inside the results folder)")
    named = [str(f) for f in folders]
    say_quarantined(results.records.scan_records(named)[1])
    notebook_run.execute(RESULTS_NOTEBOOK, out, {"results_dir": named if len(named) > 1 else named[0],
                                                        "lang": lang})
    return out


def say_quarantined(quarantined: list[tuple[str, str]], file=None) -> None:
    """Name each file left out of the report, and why, on stderr (the report shows them too)."""
    for path, reason in quarantined:
        print(f"report: left out {path}: {reason}", file=file or sys.stderr)


def quarantine_html(runs) -> str | None:
    """The files :func:`thesis_lib.results.load_records` left out of ``runs``, each named with why,
    as an HTML section for the top of the report (the text escaped: a name may hold markup); None
    when there are none."""
    quarantined = runs.attrs.get("quarantined", [])
    if not quarantined:
        return None
    items = "".join(f"<li><code>{html.escape(path)}</code>: {html.escape(reason)}</li>" for path, reason in quarantined)
    return (f"<h2>Records left out</h2><p>{len(quarantined)} file(s) in the results folder are not valid records "
            f"and are in no table, figure or finding below:</p><ul>{items}</ul>")


def nothing_recorded(runs, folders: list[Path], words) -> str | None:
    """For a report without a single run, one Markdown line that says so, naming the folders, with
    what the last sweep skipped and why (:func:`~thesis_lib.results.records.skip_summary`); None
    when there are runs."""
    if len(runs):
        return None
    named = ", ".join(f"`{folder.name}`" for folder in folders)
    skipped = results.records.skip_summary(folders)
    if not skipped:
        return words["empty.none"].format(folders=named)
    return words["empty.skipped"].format(folders=named, skipped="; ".join(skipped), listing=paths.SKIPPED_LIST)


def to_html(notebook: Path, out_dir: Path, *, hide_code: bool = False) -> Path:
    """Render an (already executed) notebook to standalone HTML in ``out_dir``, atomically;
    ``hide_code`` leaves out the code cells and prompts (nbconvert's ``--no-input``)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=hide_code, exclude_input_prompt=hide_code, exclude_output_prompt=hide_code)
    exporter.register_preprocessor(AltTextImages, enabled=True)
    body, _ = exporter.from_filename(str(notebook))
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{Path(notebook).stem}.html"
    write_text(out, body)
    return out


# What nbconvert's PDF needs beyond Python, and the one line that installs it on Debian (README).
PDF_TOOLS = ("xelatex", "pandoc")
PDF_INSTALL = ("apt-get install texlive-xetex texlive-fonts-recommended texlive-plain-generic "
               "texlive-lang-european pandoc")


# nbconvert's LaTeX template with a font that has every glyph the report prints (nbconvert/thesis).
PDF_TEMPLATES = Path(__file__).with_name("nbconvert")


def pdf_tools_missing() -> list[str]:
    """Which of :data:`PDF_TOOLS` this machine lacks."""
    return [tool for tool in PDF_TOOLS if shutil.which(tool) is None]


def to_pdf(notebook: Path, out_dir: Path, *, hide_code: bool = False) -> Path | None:
    """PDF through nbconvert's LaTeX exporter (XeLaTeX) when xelatex and pandoc are installed; None,
    said aloud with the install line, otherwise. ``hide_code``: as :func:`to_html`."""
    if missing := pdf_tools_missing():
        print(f"skipped PDF of {notebook.name}: {' and '.join(missing)} not installed (HTML was written); "
              f"install with: {PDF_INSTALL}")
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    hidden = ["--no-input"] if hide_code else []
    done = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "pdf", *hidden, "--template", "thesis",
                           f"--TemplateExporter.extra_template_basedirs={PDF_TEMPLATES}", "--output-dir",
                           str(out_dir), "--log-level", "ERROR", str(notebook)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"PDF of {notebook} failed (nbconvert --to pdf, xelatex):\n{done.stderr[-3000:]}")
    return out_dir / f"{notebook.stem}.pdf"


def build(results_dir: str | Path | list | None = None, *, html: bool = True, lang: str = "en") -> Path:
    """Execute results.ipynb over one results folder or several (pooled) and (by default) render
    it to HTML; return the report's path. ``lang``: see :func:`write_report_tables`."""
    executed = execute_results(results_dir, lang)
    return to_html(executed, executed.parent, hide_code=True) if html else executed


def appendix(results_dir: str | Path | None = None, out_dir: str | Path | None = None,
             bench_runs: list[str] | None = None, pdf: bool = True) -> list[Path]:
    """Render the theory notebooks, the executed results.ipynb and roofline.ipynb, and chosen bench notebooks.

    ``bench_runs``: names of executed bench notebooks in ``results_dir`` (default: all of them).
    """
    results_dir = results.records.results_folders(results_dir)[0]
    out_dir = Path(out_dir) if out_dir else paths.data_dir("appendix")
    notebooks = sorted((paths.REPO_ROOT / "notebooks").glob("theory_*.ipynb"))
    executed = execute_results(results_dir)
    from ..roofline import report as roofline_report
    roofline = roofline_report.execute(results_dir)
    notebooks += [executed, roofline]
    benches = sorted(results_dir.glob("*.ipynb"))
    if bench_runs:
        benches = [b for b in benches if b.stem in set(bench_runs)]
    notebooks += benches
    written = []
    for notebook in notebooks:
        hide_code = notebook in (executed, roofline)
        written.append(to_html(notebook, out_dir, hide_code=hide_code))
        if pdf and (found := to_pdf(notebook, out_dir, hide_code=hide_code)):
            written.append(found)
    return written


# --------------------------------------------------------------------------------------------
# Tables


def write_report_tables(runs, out_dir: str | os.PathLike, lang: str | Words = "en",
                        figures: list[DrawnFigure] = ()) -> dict[str, Path]:
    """Write the headline table (``headline.md``, ``headline.tex``), the start-up table
    (``startup.md``, ``startup.tex``), the summary (``summary.md``, ``summary.tex``), the findings
    (``findings.md``: the lead findings, then every finding), the tie matrices (``ties.md``) and the
    machines with their storage (``machines.md``) into ``out_dir``, each atomically; return their
    paths by name.

    ``lang`` (:data:`thesis_lib.results.lang.LANGUAGES`, or its catalogue): the language of the headline, start-up and
    summary tables and of the lead findings; other than English, also ``rezultati.tex`` (the
    chapter's fragment, :mod:`.chapter`), and the labels shown in English for want of wording are
    listed at the end of ``findings.md``. The other files stay English. ``figures``
    (:func:`.figure_files.draw_figures`, saved under ``out_dir``) join ``rezultati.tex``."""
    words = lang if isinstance(lang, Words) else lang_catalogue(lang)
    out_dir = Path(out_dir)
    tables = headline.headline_tables(runs, words)
    starts = startup.startup_tables(runs, words)
    summary = results.summary_table(runs)
    notes = machines.pooling_notes(runs)
    texts = {
        "headline.md": f"# {words['headline.title']}\n\n" + headline.to_markdown(tables, words=words),
        "headline.tex": headline.to_latex(tables, words=words),
        "startup.md": f"# {words['startup.title']}\n\n" + startup.to_markdown(starts, words=words),
        "startup.tex": startup.to_latex(starts, words=words),
        "machines.md": ("# Where the records were measured\n\n" + machines.machines_table(runs).to_markdown(index=False)
                        + "\n" + "".join(f"\n- {note}" for note in notes) + "\n"),
        "summary.md": f"# {words['summary.title']}\n\n" + results.to_markdown(summary, words),
        "summary.tex": results.to_latex(summary, words),
        "findings.md": "# Findings\n\n" + findings.findings_markdown(runs, level=2, words=words),
        "ties.md": "# Tie matrices: every pair of formats in every condition\n\n" + ties.to_markdown(runs, level=2),
    }
    if words.code != "en":
        included = [(Path(os.path.relpath(drawn.path, out_dir)).as_posix(), drawn.caption(words),
                     f"fig:{drawn.path.stem}")
                    for drawn in figures if drawn.path is not None]
        own = {section.heading(words): section.sentences(runs, words) for section in results.FIGURES.values()}
        texts["rezultati.tex"] = chapter.chapter_tex(texts, lead.lead_findings(runs, words), words, included, own)
        texts["findings.md"] += words.missing_note()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, text in texts.items():
        write_text(out_dir / name, text)
        written[name] = out_dir / name
    return written


# --------------------------------------------------------------------------------------------
# Figures with alt text


def show(fig: plt.Figure) -> None:
    """Display ``fig`` in a notebook with its alt text, and release it."""
    from IPython.display import display

    display(figure_image(fig))
    plt.close(fig)


class AltTextImages(Preprocessor):
    """Hand a PNG output's alt text (IPython keeps ``Image(alt=...)`` in the output's metadata) to
    the HTML: nbconvert's templates ignore that metadata and write ``<img>`` without ``alt``. The
    output gains an ``<img alt=...>`` as ``text/html``, which the HTML exporter prefers; the PNG
    stays for other exporters (LaTeX, PDF)."""

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            alt = output.get("metadata", {}).get("image/png", {}).get("alt")
            if alt and "image/png" in data and "text/html" not in data:
                png = "".join(data["image/png"].split())
                data["text/html"] = (f'<img src="data:image/png;base64,{png}" alt="{html.escape(alt, quote=True)}" '
                                     f'style="max-width: 100%">')
        return cell, resources
