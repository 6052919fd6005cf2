"""The report's figures drawn once, in the report's language, and saved as files the thesis can
include: every section of :data:`~thesis_lib.results.figures.FIGURES`, one figure per dataset,
each with something to draw written to ``report/figures/<key>-<dataset>.pdf`` (vector, fonts
embedded; ``rezultati.tex`` includes them by that path).

>>> drawn = draw_figures(runs, catalogue("lv"), "data/results/report/figures")
>>> [(d.section.key, d.dataset, d.path) for d in drawn]   # path None: a figure saying why it is empty
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ..core.record import write_bytes
from .figures import FIGURES, FigureSection, dataset_figures
from .lang import Words, catalogue
from .plotting import EMPTY_FIGURE

FIGURES_FOLDER = "figures"  # under the report folder


@dataclass(frozen=True)
class DrawnFigure:
    """One drawn figure: its ``section``, the ``dataset`` it shows (None when it says why nothing
    was drawn), its ``image`` for a notebook (PNG with alt text, :func:`figure_image`) and the
    ``path`` its PDF was saved to (None when not saved). The figure itself is closed: a notebook
    shows only the images it displays, never a figure left open."""

    section: FigureSection
    dataset: str | None
    image: object
    path: Path | None

    def caption(self, words: Words) -> str:
        return words["figure.caption"].format(heading=self.section.heading(words), dataset=words.label(self.dataset))


def slug(text: str) -> str:
    """``"Tiny ImageNet"`` → ``"tiny-imagenet"``: a file-name and LaTeX-label part of plain letters."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "figure"


def draw_figures(runs: pd.DataFrame, words: Words | None = None, folder: str | Path | None = None) -> list[DrawnFigure]:
    """Every section's figures over ``runs`` in ``words``' language, in :data:`FIGURES` order; the
    figures with something to draw saved as PDF into ``folder`` (when given), each atomically;
    display their images where they belong (``display(drawn.image)``)."""
    words = words or catalogue()
    if runs.empty:  # nothing recorded: the report says so in one line (report.nothing_recorded), no empty figures
        return []
    if folder is not None:
        forget_old_figures(Path(folder))
    drawn, used = [], set()
    for section in (section for section in FIGURES.values() if section.shown(runs)):
        for dataset, fig in dataset_figures(section, runs, words):
            path = None
            if folder is not None and fig.get_label() != EMPTY_FIGURE:
                path = unused(Path(folder) / f"{section.key}-{slug(dataset)}.pdf", used)
                write_bytes(path, figure_bytes(fig))
            drawn.append(DrawnFigure(section, dataset, figure_image(fig), path))
            plt.close(fig)
    return drawn


def unused(path: Path, used: set) -> Path:
    """``path``, or ``<stem>-2.pdf``, ``-3``... where two datasets' names make one slug ("CIFAR-10",
    "cifar 10"), so no figure overwrites another; remembered in ``used``."""
    found, k = path, 1
    while found in used:
        k += 1
        found = path.with_name(f"{path.stem}-{k}{path.suffix}")
    used.add(found)
    return found


def forget_old_figures(folder: Path) -> None:
    """Remove the figure files an earlier report saved in ``folder`` (named ``<key>-*.pdf`` for a
    key of :data:`FIGURES`), so that the folder holds this report's figures only."""
    for key in FIGURES:
        for old in folder.glob(f"{key}-*.pdf"):
            if old.is_file() and not old.is_symlink():
                old.unlink()


def figure_bytes(fig: plt.Figure, fmt: str = "pdf", dpi: int = 100) -> bytes:
    """``fig`` as a PDF (or PNG, ...), cropped to what it draws (the title above, the legend below
    included); a PDF without its creation date, so the same figure gives the same bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight",
                **({"metadata": {"CreationDate": None}} if fmt == "pdf" else {}))
    return buffer.getvalue()


def save_png_and_pdf(fig: plt.Figure, folder: Path, stem: str, dpi: int = 100) -> list[Path]:
    """``fig`` written atomically as ``<stem>.png`` and ``<stem>.pdf`` in ``folder``, then closed."""
    written = []
    for suffix in ("png", "pdf"):
        written.append(Path(folder) / f"{stem}.{suffix}")
        write_bytes(written[-1], figure_bytes(fig, suffix, dpi))
    plt.close(fig)
    return written


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def alt_text(fig: plt.Figure) -> str:
    """What a figure shows, in words, from its own labels: title, panels, axes, legend and any
    message it carries instead of data."""
    parts = [_one_line(line) for line in fig.get_suptitle().splitlines()]
    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = [_one_line(ax.get_title()) for ax in axes if ax.get_title()]
    if len(titles) > 1:
        parts.append(f"{len(titles)} panels: {'; '.join(titles)}")
    elif titles:
        parts.append(titles[0])
    x = next((ax.get_xlabel() for ax in axes if ax.get_xlabel()), "")
    y = next((ax.get_ylabel() for ax in axes if ax.get_ylabel()), "")
    if x or y:
        parts.append(f"x axis: {_one_line(x) or 'none'}; y axis: {_one_line(y) or 'none'}")
    for legend in [*fig.legends, *(ax.get_legend() for ax in axes if ax.get_legend())]:
        entries = ", ".join(_one_line(t.get_text()) for t in legend.get_texts())
        parts.append(f"legend {_one_line(legend.get_title().get_text())}: {entries}".replace("legend :", "legend:"))
    parts += [_one_line(t.get_text()) for ax in axes for t in ax.texts if not ax.axison and t.get_text()]
    return ". ".join(p.rstrip(".") for p in parts if p) + "." if parts else "A figure without labels."


def figure_image(fig: plt.Figure):
    """``fig`` as an :class:`IPython.display.Image` (PNG) whose alt text is :func:`alt_text`."""
    from IPython.display import Image

    return Image(data=figure_bytes(fig, "png"), format="png", alt=alt_text(fig))
