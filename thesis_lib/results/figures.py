"""The thesis's figures, one function each, from a frame of runs (:func:`thesis_lib.results.load_records`):

>>> for fig in figures_per_dataset(epoch_time_figure, runs): ...   # or any other of FIGURES

:data:`FIGURES` holds them in results.ipynb's order, each with the heading and note it shows them
under; and :func:`epoch_figure`, where one run's epochs went (bench.ipynb draws it from its record).
Medians and their 95% intervals come from :func:`thesis_lib.core.stats.median_ci` (percentile
bootstrap) over repeats (:func:`~thesis_lib.results.records.repeats_frame`); a figure with nothing
to draw says why instead.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..core.record import Record
from ..core.stats import MLPERF_AU_THRESHOLD, h100_demand
from .labels import MIB, describe, optional_column
from .lang import Words, catalogue
from .object_store import has_object_store_runs, object_store_figure, object_store_sentences
from .order import access_order, format_order, ordered, per_dataset, reading_order
from .plotting import (CATEGORY_POINTS, EMPTY_FIGURE, PANEL_PARTS, bars_or_message, bar_grid, bootstrap_interval,
                       category_labels, finish, message_figure, panel_context, panel_height, with_panel)
from .records import emulated_runs, repeats_frame, warm_repeats


def epoch_time_figure(runs: pd.DataFrame, words: Words | None = None) -> plt.Figure:
    """Epoch time per format, one panel per setting and workload; bars by access mode."""
    say = FigureWords("epoch_time", words)
    return bars_or_message(warm_repeats(runs), value="wall_s", category="format", hue="access",
                           category_label=say("category"), value_label=say("value"), hue_label=say("access"),
                           title=say("title"), empty=say("empty"), words=say.words)


def h100_demand_line(ax, sizes: pd.Series, label: str) -> None:
    """The images/s one H100 consumes training ResNet-18 (docs/design.md), across ``sizes`` and a little beyond."""
    span = np.arange(max(1, int(sizes.min() / 1.3)), int(sizes.max() * 1.3) + 1)
    ax.plot(span, [h100_demand(int(s))[0] for s in span], color="black", ls="--", lw=1)
    ax.annotate(label, (span[0], h100_demand(int(span[0]))[0]), ha="left", va="bottom", fontsize=8)


def throughput_figure(runs: pd.DataFrame, words: Words | None = None) -> plt.Figure:
    """Samples/s against image size on log axes, per format and access mode, one panel per
    workload; the dashed line is what one H100 consumes training ResNet-18 (docs/design.md)."""
    say = FigureWords("throughput", words)
    epochs = warm_repeats(runs).dropna(subset=["samples_per_s_total"])
    if epochs.empty:
        return message_figure(say("title"), say("empty"))
    context = say.words.phrase(panel_context(epochs, exclude=["image_size"]))
    epochs = with_panel(epochs, exclude=["image_size"], words=say.words)
    hue, style = say("category"), say("access")  # the legend's titles
    epochs = epochs.assign(**{hue: epochs["format"], style: epochs["access"]})
    grid = sns.relplot(data=epochs, kind="line", x="image_size", y="samples_per_s_total", hue=hue,
                       style=style, col="panel", col_order=reading_order(epochs, "panel"),
                       col_wrap=min(3, epochs["panel"].nunique()),
                       hue_order=ordered(epochs["format"], format_order()),
                       style_order=ordered(epochs["access"], access_order()), estimator="median",
                       errorbar=bootstrap_interval, err_style="bars", markers=True, dashes=False,
                       height=3.6, aspect=1.2)
    sizes = sorted(epochs["image_size"].unique())
    for ax in grid.axes.flat:
        h100_demand_line(ax, epochs["image_size"], say("h100"))
        ax.set(xscale="log", yscale="log")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.xaxis.set_minor_locator(plt.NullLocator())
    grid.set_axis_labels(say("x"), say("value"))
    grid.set_titles(col_template="{col_name}")
    return finish(grid, say("title"), context)


def au_figure(runs: pd.DataFrame, words: Words | None = None) -> plt.Figure:
    """MLPerf's accelerator utilisation (the first step's I/O left out) under the emulated load,
    against its 90% bar; records from before the protocol, which lack it, show the whole epoch's."""
    say = FigureWords("au", words)
    repeats = warm_repeats(emulated_runs(runs))
    au = repeats["au_mlperf"].fillna(repeats["au"]) if "au_mlperf" in repeats else repeats["au"]
    return bars_or_message(repeats.assign(au_percent=100 * au), value="au_percent", category="format",
                           hue="access", category_label=say("category"), value_label=say("value"),
                           hue_label=say("access"), share_values=True,
                           reference=(100 * MLPERF_AU_THRESHOLD, say("bar")), empty=say("empty"),
                           title=say("title"), words=say.words)


def cold_warm_figure(runs: pd.DataFrame, words: Words | None = None) -> plt.Figure:
    """Cold-cache against warm-cache epoch times, for the conditions that have cold epochs."""
    say = FigureWords("cold_warm", words)
    epochs = repeats_frame(runs).dropna(subset=["wall_s"])
    condition = [c for c in (*PANEL_PARTS, "format", "access") if c in epochs]
    cold = epochs.loc[epochs["cold"], condition].drop_duplicates()
    if cold.empty:
        return message_figure(say("title"), say("empty"))
    epochs = epochs.merge(cold, on=condition)
    epochs["page cache"] = epochs["cache_state"].map(say.words.label)
    epochs["format / access"] = epochs["format"] + " / " + epochs["access"]
    states = [say.words.label(state) for state in ("warm", "cold", "cold-unavailable")
              if state in set(epochs["cache_state"])]
    return bar_grid(epochs, category="format / access", value="wall_s", hue="page cache",
                    hue_order=states, category_label=say("category"), hue_label=say("hue"),
                    value_label=say("value"), title=say("title"), words=say.words)


def storage_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per converted copy: its dataset label, format, MiB on disk and conversion seconds
    (medians over the runs that used it)."""
    keys = ["dataset_name", "image_size", "n_train", "format"]
    if runs.empty:
        return pd.DataFrame(columns=[*keys, "copy", "mib_on_disk", "convert_s"])
    copies = runs.groupby(keys, as_index=False)[["bytes_on_disk", "convert_s"]].median()
    copies["mib_on_disk"] = copies["bytes_on_disk"] / MIB
    copies["copy"] = [describe(row, keys[:3]) for _, row in copies.iterrows()]
    return copies


def storage_figure(runs: pd.DataFrame, words: Words | None = None) -> plt.Figure:
    """Bytes on disk and conversion time per format, one bar per converted copy."""
    say = FigureWords("storage", words)
    copies = storage_frame(runs)
    if copies.empty:
        return message_figure(say("title"), say("empty"))
    copies["copy"] = copies["copy"].map(say.words.phrase)
    labels_of, hue_order = category_labels(copies["format"], format_order()), reading_order(copies, "copy")
    copies = copies.assign(format=copies["format"].map(labels_of))
    fig, axes = plt.subplots(1, 2, figsize=(11, panel_height(len(labels_of), len(hue_order))), sharey=True)
    for ax, column, label in ((axes[0], "mib_on_disk", say("size")), (axes[1], "convert_s", say("convert"))):
        sns.barplot(data=copies, x=column, y="format", orient="h", hue="copy", order=list(labels_of.values()),
                    hue_order=hue_order, errorbar=None, ax=ax, legend=ax is axes[0])
        ax.set(ylabel=say("category") if ax is axes[0] else "", xlabel=label, title=label.split(" (")[0])
        ax.tick_params(axis="y", labelsize=CATEGORY_POINTS)
    handles, names = axes[0].get_legend_handles_labels()
    axes[0].get_legend().remove()
    fig.tight_layout()
    fig.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, 0), ncol=min(3, len(names)),
               title=say("hue"), fontsize=8, frameon=False)
    context = say.words.label(copies["dataset_name"].iloc[0]) if copies["dataset_name"].nunique() == 1 else ""
    fig.suptitle("\n".join(t for t in (say("title"), context) if t), y=1.01, va="bottom")
    return fig


def quality_frame(runs: pd.DataFrame, metrics: tuple[str, str] = ("accuracy (%)", "macro F1 (%)")) -> pd.DataFrame:
    """Accuracy and macro F1 (%) of trained runs, long form: one row per run and metric, the
    metrics named ``metrics``."""
    trained = runs.dropna(subset=["accuracy"]) if "accuracy" in runs else runs.iloc[0:0]
    f1 = pd.to_numeric(optional_column(trained, "f1_macro"), errors="coerce")
    trained = trained.assign(**{metrics[0]: 100 * pd.to_numeric(trained["accuracy"], errors="coerce"),
                                metrics[1]: 100 * f1})
    keys = [c for c in (*PANEL_PARTS, "format", "access", "lossless", "run") if c in trained]
    return trained.melt(id_vars=keys, value_vars=list(metrics), var_name="metric", value_name="percent")


def accuracy_figure(runs: pd.DataFrame, words: Words | None = None) -> plt.Figure:
    """Test accuracy and macro F1 per format; lossless formats should give identical bars."""
    say = FigureWords("accuracy", words)
    return bars_or_message(quality_frame(runs, say("metrics")), value="percent", category="format", hue="access",
                           col="metric", row="panel", category_label=say("category"), value_label=say("value"),
                           hue_label=say("access"), share_values=True, title=say("title"), empty=say("empty"),
                           words=say.words)


class FigureWords:
    """One figure's words in a language: ``say("title")`` is ``figure.<key>.title`` of ``words``
    (English by default), or the figures' shared ``figure.<name>`` where the figure has none of its own."""

    def __init__(self, key: str, words: Words | None = None):
        self.key, self.words = key, words or catalogue()

    def __call__(self, name: str):
        own = f"figure.{self.key}.{name}"
        return self.words[own if own in self.words.english.WORDS else f"figure.{name}"]


@dataclass(frozen=True)
class FigureSection:
    """One of the thesis's figures as results.ipynb shows it: ``key`` names its words in the
    catalogues (its section heading and a note on how to read it, ``figure.<key>.heading`` and
    ``.note``), and ``draw`` makes it from a frame of runs (calling the section calls ``draw``).
    A section that belongs to some runs only has ``applies`` (runs -> bool): without such runs it
    is left out, not drawn saying why; ``findings`` (runs, words -> sentences) are said under it."""

    key: str
    draw: Callable[..., plt.Figure]
    applies: Callable[[pd.DataFrame], bool] | None = None
    findings: Callable[..., list[str]] | None = None

    def shown(self, runs: pd.DataFrame) -> bool:
        return self.applies is None or self.applies(runs)

    def sentences(self, runs: pd.DataFrame, words: Words | None = None) -> list[str]:
        return self.findings(runs, words) if self.findings is not None and self.shown(runs) else []

    def __call__(self, runs: pd.DataFrame, words: Words | None = None) -> plt.Figure:
        return self.draw(runs, words)

    def heading(self, words: Words | None = None) -> str:
        return FigureWords(self.key, words)("heading")

    def markdown(self, words: Words | None = None) -> str:
        """The section's heading and note, as results.ipynb displays them."""
        say = FigureWords(self.key, words)
        return "\n\n".join(part for part in (f"## {say('heading')}", say("note")) if part)


# The figures of results.ipynb, in the order it shows them: a new figure is one entry here (and its
# words, figure.<key>.*, in each catalogue of results/lang).
FIGURES = {section.key: section for section in (
    FigureSection("epoch_time", epoch_time_figure),
    FigureSection("throughput", throughput_figure),
    FigureSection("au", au_figure),
    FigureSection("cold_warm", cold_warm_figure),
    FigureSection("storage", storage_figure),
    FigureSection("accuracy", accuracy_figure),
    FigureSection("object_store", object_store_figure, has_object_store_runs, object_store_sentences),
)}


def figures_per_dataset(draw, runs: pd.DataFrame, words: Words | None = None) -> list[plt.Figure]:
    """``draw`` (one of :data:`FIGURES`) over each dataset's runs, in ``words``' language: one
    figure per dataset that has something to draw; when none has, one figure over all of ``runs``
    saying why."""
    return [fig for _, fig in dataset_figures(draw, runs, words)]


def dataset_figures(draw, runs: pd.DataFrame, words: Words | None = None) -> list[tuple[str | None, plt.Figure]]:
    """:func:`figures_per_dataset` with each figure's dataset name (None for the one that says why
    nothing was drawn)."""
    figures = [(name, draw(subset, words)) for name, subset in per_dataset(runs)]
    drawn = [(name, fig) for name, fig in figures if fig.get_label() != EMPTY_FIGURE]
    for _, fig in figures:
        if fig.get_label() == EMPTY_FIGURE:
            plt.close(fig)
    return drawn or [(None, draw(runs, words))]


def epoch_figure(record: Record) -> plt.Figure:
    """One run's epochs (bench.ipynb draws it for its own run): wall time as stacked data wait +
    compute + other, one bar per (repeat, epoch)."""
    epochs = pd.DataFrame(record["epochs"])
    epochs["label"] = [f"r{r} e{e}{' cold' if c else ''}" for r, e, c in
                       zip(epochs["repeat"], epochs["epoch"], epochs["cold"])]
    epochs["other_s"] = (epochs["wall_s"] - epochs["data_wait_s"] - epochs["compute_s"]).clip(lower=0)
    parts = [("data_wait_s", "data wait"), ("compute_s", "compute"), ("other_s", "other")]
    colors = sns.color_palette("deep", len(parts))
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(epochs) + 2), 3.5))
    bottom = pd.Series(0.0, index=epochs.index)
    for (column, name), color in zip(parts, colors):
        ax.bar(epochs["label"], epochs[column], bottom=bottom, label=name, color=color)
        bottom += epochs[column]
    ax.set_xlabel("repeat and epoch")
    ax.set_ylabel("seconds")
    subtitle = f"median epoch {record['epoch_time_s_median']:.2f} s"
    au = record.get("au_median")
    if au is not None and au == au:  # None or NaN for a loader-only run
        subtitle += f", AU {au:.0%}"
    ax.set_title(f"{record['run']}\n{subtitle}", fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    sns.despine(fig)
    fig.tight_layout()
    return fig
