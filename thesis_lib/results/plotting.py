"""What every figure shares: bootstrap error bars, panels titled by what tells them apart, titles
wrapped to their panel, a grid of horizontal median bars, and a small figure in place of one with
nothing to draw. The figures themselves are in :mod:`thesis_lib.results.figures`."""
from __future__ import annotations

import textwrap
from collections.abc import Iterable

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ..core.stats import median_ci
from .labels import SECONDARY_SETTINGS, describe, varying_columns
from .lang import Words, catalogue
from .order import access_order, format_order, ordered, reading_order


def bootstrap_interval(values) -> tuple[float, float]:
    """The percentile-bootstrap 95% interval of the median (seaborn ``errorbar`` callable)."""
    _, low, high = median_ci(values)
    return low, high


# The label (``Figure.get_label``) of a figure that says why there is nothing to draw.
EMPTY_FIGURE = "nothing to draw"


def message_figure(title: str, message: str) -> plt.Figure:
    """A small figure that says why there is nothing to draw (labelled :data:`EMPTY_FIGURE`)."""
    fig, ax = plt.subplots(figsize=(7, 1.6))
    fig.set_label(EMPTY_FIGURE)
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.45, message, ha="center", va="center", fontsize=11, transform=ax.transAxes)
    return fig


# What a panel's title is made of, in reading order: the settings, then the workload.
PANEL_PARTS = ("dataset_name", "image_size", *SECONDARY_SETTINGS, "workload")


def with_panel(frame: pd.DataFrame, exclude: Iterable[str] = (), words: Words | None = None) -> pd.DataFrame:
    """``frame`` with ``panel``: the :data:`PANEL_PARTS` that differ within ``frame`` (less
    ``exclude``), in ``words``' language, so panel titles name only what tells panels apart
    (:func:`panel_context` says the rest)."""
    words = words or catalogue()
    varying = varying_columns(frame, [c for c in PANEL_PARTS if c not in exclude])
    return frame.assign(panel=[words.phrase(describe(row, varying)) for _, row in frame.iterrows()])


def panel_context(frame: pd.DataFrame, exclude: Iterable[str] = ()) -> str:
    """What every panel of ``frame`` shares (the :data:`PANEL_PARTS` with one value), e.g.
    ``"CIFAR-10 · 32 px · emulated H100"``; empty for an empty frame."""
    parts = [c for c in PANEL_PARTS if c in frame and c not in exclude]
    shared = [c for c in parts if c not in varying_columns(frame, parts)]
    return describe(frame.iloc[0], shared) if len(frame) else ""


def wrap_label(text: str, width: int) -> str:
    """``text`` in lines of at most ``width`` characters, broken between its ``" · "`` parts
    where it can, else between words, else at hyphens or inside a word too long for a line."""
    lines: list[str] = []
    for part in str(text).split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return "\n".join(textwrap.fill(line, max(width, 8)) for line in lines)


def characters_across(inches: float, fontsize: float) -> int:
    """About how many characters of ``fontsize`` points fit in ``inches`` (a glyph is ~0.6 em wide)."""
    return max(1, int(inches * 72 / (0.6 * fontsize)))


def wrap_titles(fig: plt.Figure, *, fontsize: float = 10) -> None:
    """Wrap every panel title to its panel's width, so that neighbouring titles never run into
    each other however many panels there are."""
    for ax in fig.axes:
        if ax.get_title():
            width = ax.get_position().width * fig.get_figwidth()
            ax.set_title(wrap_label(ax.get_title(), characters_across(width, fontsize)), fontsize=fontsize)


def finish(grid: sns.FacetGrid, title: str, context: str = "") -> plt.Figure:
    """Wrap the panel titles, lay out, and put ``title`` (and the shared ``context``) on top."""
    wrap_titles(grid.figure)
    grid.tight_layout()
    grid.figure.suptitle("\n".join(t for t in (title, context) if t), y=1.01, va="bottom")
    return grid.figure


# Horizontal bars: a category (a format with its options) per line, its label read across and
# wrapped at this many characters; a panel is this wide, and tall enough for its bars.
CATEGORY_CHARACTERS = 26
CATEGORY_POINTS = 9
PANEL_INCHES = 4.2


def category_labels(values: Iterable[str], preferred: Iterable[str]) -> dict[str, str]:
    """Each distinct value, in :func:`ordered` order, with its wrapped label."""
    return {v: wrap_label(v, CATEGORY_CHARACTERS) for v in ordered(values, preferred)}


def panel_height(categories: int, hues: int) -> float:
    """Inches for a panel of horizontal bars: room for each category's group of bars and for a
    two-line label (at :data:`CATEGORY_POINTS`)."""
    return max(2.4, 1.0 + 0.38 * categories * (1 + 0.35 * (max(hues, 1) - 1)))


def bar_grid(data: pd.DataFrame, *, category: str, value: str, hue: str, category_label: str,
             value_label: str, title: str, col: str = "panel", row: str | None = None, hue_order=None,
             share_values: bool = False, reference: tuple[float, str] | None = None,
             hue_label: str | None = None, words: Words | None = None) -> plt.Figure:
    """Median bars (horizontal, one line per ``category``) with bootstrap 95% intervals, one panel
    per ``col`` (wrapped) or per ``row`` × ``col``; ``reference`` (value, label) draws a labelled
    line on every panel. Panels are titled by what differs between them; what they share goes
    under the figure's title, both in ``words``' language (English by default); ``hue_label``
    titles the legend (default: the ``hue`` column's name)."""
    words = words or catalogue()
    context = words.phrase(panel_context(data))
    data = with_panel(data, words=words)
    labels_of = category_labels(data[category], format_order())
    hue_order = hue_order or ordered(data[hue], access_order())
    height = panel_height(len(labels_of), len(hue_order))
    grid = sns.catplot(data=data.assign(**{category: data[category].map(labels_of)}), kind="bar", x=value,
                       y=category, orient="h", hue=hue, col=col, row=row,
                       col_wrap=None if row else min(3, data[col].nunique()), order=list(labels_of.values()),
                       hue_order=hue_order, col_order=reading_order(data, col),
                       row_order=reading_order(data, row) if row else None, estimator="median",
                       errorbar=bootstrap_interval, capsize=0.1, sharex=share_values, height=height,
                       aspect=PANEL_INCHES / height)
    grid.set_axis_labels(value_label, category_label)
    if grid.legend is not None:
        grid.legend.set_title(hue_label or hue)
    grid.set_titles(col_template="{col_name}", row_template="{row_name}")
    for ax in grid.axes.flat:
        ax.set_title(ax.get_title().strip(" |"))  # a row or column with one unnamed panel
        ax.tick_params(axis="y", labelsize=CATEGORY_POINTS)
        if reference:
            ax.axvline(reference[0], color="crimson", ls="--", lw=1.2)
            ax.annotate(reference[1], (reference[0], 1), xycoords=("data", "axes fraction"), xytext=(-2, -2),
                        textcoords="offset points", ha="right", va="top", color="crimson", fontsize=8)
    return finish(grid, title, context)


def bars_or_message(data: pd.DataFrame, *, value: str, title: str, empty: str, **grid) -> plt.Figure:
    """:func:`bar_grid` over the rows of ``data`` that have ``value``, or a figure saying ``empty``."""
    data = data.dropna(subset=[value])
    if data.empty:
        return message_figure(title, empty)
    return bar_grid(data, value=value, title=title, **grid)
