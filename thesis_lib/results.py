"""Benchmark records in, the thesis's figures, tables and findings out.

Every benchmark run leaves one JSON record (see :mod:`thesis_lib.bench`); this module reads a
folder of them and knows nothing of how they were made.

>>> runs = load_records("data/results")          # one row per run
>>> epochs = epochs_frame(runs)                  # one row per measured epoch
>>> epoch_time_figure(runs)                      # seaborn figures, one function each
>>> check_lossless_agreement(runs)               # lossless formats must train identically
>>> summary_table(runs)                           # one row per condition, medians with 95% intervals

Medians and their 95% intervals always come from :func:`thesis_lib.stats.median_ci` (percentile
bootstrap) over the per-epoch values, in the figures and in the tables alike.

Labels the figures and tables share, derived once in :func:`load_records`:

``dataset_name``
    what the thesis calls the data (:func:`thesis_lib.labels.dataset_name`): ``CIFAR-10`` (also
    ``imagefolder`` over a CIFAR-10 tree or zip), ``Tiny ImageNet``, ``High-res``, and
    ``synthetic (generated)`` or ``High-res (synthetic stand-in)`` for generated images.
``setting``
    ``"<dataset name> · <size> px"``, plus any of training-set size, batch size, workers, device,
    ranks and epochs per repeat that differ between the loaded runs (so runs measured differently
    never share a bar).
``workload``
    the model's name; ``"emulated H100"`` for the emulated accelerator at the rate one H100 consumes
    at that image size; ``"emulated <rate> img/s"`` at any other rate; ``"loader only"`` at rate 0.
``format``
    the format's name, plus the options that differ between the loaded runs of that format: write
    options in parentheses, then open options (``"zarr (chunk 1024, zstd)"``, ``"hdf5, fancy"``).
    Older records hold ``fmt_options`` only; they are read as ``write_options``.
"""
from __future__ import annotations

import json
import math
import os
import textwrap
import warnings
from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from . import labels, paths
from .cache import COLD_CACHED_LIMIT
from .labels import OPTION_KINDS, dataset_rank, is_missing
from .stats import h100_demand, median_ci

# Keys without which a JSON file is not a benchmark record.
RECORD_KEYS = frozenset({"run", "dataset", "image_size", "fmt", "access", "model", "epochs"})
# The flat columns a frame of records always has, even when no record was found.
RECORD_COLUMNS = ("run", "created", "dataset", "root", "image_size", "limit", "fmt", "access", "model", "epochs",
                  "batch_size", "workers", "device", "cache", "emulate_rate", "repeats", "seed", "lr", "eval_limit",
                  "n_train", "num_classes", "lossless", "world_size", "h100_demand", "epoch_time_s_median",
                  "epoch_time_s_ci95", "samples_per_s_median", "samples_per_s_ci95", "au_median", "au_ci95",
                  "data_wait_s_median", "bytes_on_disk", "convert_s", "converted_reused", "peak_rss_mb", "accuracy",
                  "f1_macro", "accuracy_per_repeat", "path", "notebook", "epochs_per_repeat")
# Fields a record must hold as text, and those that must be numbers when present.
RECORD_TEXT = ("run", "dataset", "fmt", "access", "model")
RECORD_NUMBERS = ("emulate_rate", "repeats", "batch_size", "workers", "n_train", "bytes_on_disk", "convert_s",
                  "accuracy", "f1_macro", "epoch_time_s_median", "samples_per_s_median", "au_median",
                  "data_wait_s_median", "peak_rss_mb", "h100_demand")
EPOCH_NUMBERS = ("wall_s", "data_wait_s", "compute_s", "samples", "samples_per_s", "samples_per_s_total", "au",
                 "cached_fraction", "loss")
FORMAT_ORDER = ("files", "npy", "cupy", "hdf5", "zarr")
ACCESS_ORDER = ("sample", "batch", "block", "resident")
# Settings that split the `setting` label when they differ between the loaded runs.
SECONDARY_SETTINGS = ("n_train", "batch_size", "workers", "device", "world_size", "epochs_per_repeat")
# The training configuration that, with identical bytes, must give an identical model.
TRAINING_CONFIG = ("dataset", "dataset_name", "image_size", "n_train", "model", "seed", "epochs_per_repeat", "repeats",
                   "access", "block_unit", "batch_size", "workers", "device", "lr", "eval_limit",
                   "world_size")
MLPERF_AU_THRESHOLD = 0.90
MIB = 2**20


# --------------------------------------------------------------------------------------------
# Reading records


def read_record(path: Path) -> dict | None:
    """One record, or None (with a warning naming the file) when the file is not valid JSON, not a
    record, or a record with a field of the wrong type."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        warnings.warn(f"skipping {path}: not readable JSON ({exc})", stacklevel=2)
        return None
    missing = sorted(RECORD_KEYS - set(record)) if isinstance(record, dict) else sorted(RECORD_KEYS)
    if missing:
        warnings.warn(f"skipping {path}: not a benchmark record (no {', '.join(missing)})", stacklevel=2)
        return None
    problem = record_problem(record)
    if problem:
        warnings.warn(f"skipping {path}: {problem}", stacklevel=2)
        return None
    return record


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def record_problem(record: dict) -> str | None:
    """What is wrong with the types of a record's fields that the figures and tables use, or None."""
    for key in RECORD_TEXT:
        if not isinstance(record[key], str):
            return f"{key} must be text, got {record[key]!r}"
    if not (_is_number(record["image_size"]) and record["image_size"] >= 1):
        return f"image_size must be a positive number, got {record['image_size']!r}"
    for key in RECORD_NUMBERS:
        if record.get(key) is not None and not _is_number(record[key]):
            return f"{key} must be a number, got {record[key]!r}"
    for key in ("write_options", "open_options", "fmt_options"):
        if not isinstance(record.get(key, {}), dict):
            return f"{key} must be a mapping, got {record[key]!r}"
    epochs = record["epochs"]
    if not isinstance(epochs, list) or not all(isinstance(e, dict) for e in epochs):
        return "epochs must be a list of per-epoch records"
    for k, epoch in enumerate(epochs):
        if not _is_number(epoch.get("wall_s")):
            return f"epoch {k}: wall_s must be a number, got {epoch.get('wall_s')!r}"
        wrong = next((key for key in EPOCH_NUMBERS if epoch.get(key) is not None and not _is_number(epoch[key])), None)
        if wrong:
            return f"epoch {k}: {wrong} must be a number, got {epoch[wrong]!r}"
    return None


def record_paths(results_dir: Path) -> list[Path]:
    """Every ``*.json`` under ``results_dir``, hidden files and folders left out, sorted."""
    found = Path(results_dir).rglob("*.json")
    return sorted(p for p in found if not any(part.startswith(".") for part in p.relative_to(results_dir).parts))


def load_records(results_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """One row per run from the records in :func:`thesis_lib.paths.results_dir`: every record key,
    nested dicts flattened (``env.gpu``, ``write_options.codec``, ``open_options.read_path``), lists
    kept as objects, plus the ``dataset_name``, ``setting``, ``workload`` and ``format`` labels,
    ``epochs_per_repeat``, ``block_unit``, ``path`` and ``notebook`` (the executed bench notebook
    beside the record, or None)."""
    folder = paths.results_dir(results_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"results folder {folder} does not exist")
    records = []
    for path in record_paths(folder):
        record = read_record(path)
        if record is not None:
            notebook = path.with_suffix(".ipynb")
            records.append({**record, "path": str(path), "notebook": str(notebook) if notebook.is_file() else None})
    return with_labels(records_frame(records))


def records_frame(records: list[dict]) -> pd.DataFrame:
    """Flatten records into a frame; lists (per-epoch stats, intervals) stay objects."""
    if not records:
        return pd.DataFrame(columns=list(RECORD_COLUMNS))
    frame = pd.json_normalize([with_split_options(r) for r in records], max_level=1)
    frame["epochs_per_repeat"] = [len(e) // max(1, int(r or 1)) for e, r in zip(frame["epochs"], frame["repeats"])]
    return frame


def with_split_options(record: dict) -> dict:
    """``record`` with ``write_options`` (and ``open_options`` when it has them): a record from
    before the split keeps its format options in ``fmt_options``, read here as write options."""
    if "fmt_options" not in record or "write_options" in record:
        return record
    return {**{k: v for k, v in record.items() if k != "fmt_options"}, "write_options": record["fmt_options"]}


def with_labels(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with the ``dataset_name``, ``workload``, ``format``, ``setting`` and ``block_unit`` columns."""
    runs = runs.copy()
    if runs.empty:
        for column in ("dataset_name", "workload", "format", "setting", "block_unit"):
            runs[column] = pd.Series(dtype=object)
        return runs
    sources = _column(runs, "source_name").fillna(_column(runs, "source_spec.name"))
    runs["dataset_name"] = [labels.dataset_name(d, r, source=s) for d, r, s in
                            zip(runs["dataset"], _column(runs, "root"), sources)]
    runs["workload"] = [workload_label(m, r, s) for m, r, s in
                        zip(runs["model"], _column(runs, "emulate_rate"), runs["image_size"])]
    runs["format"] = format_labels(runs)
    runs["setting"] = setting_labels(runs)
    runs["block_unit"] = block_units(runs)
    return runs


def _column(frame: pd.DataFrame, name: str, default=None) -> pd.Series:
    """``frame[name]``, or a column of ``default`` when older records lack it."""
    return frame[name] if name in frame else pd.Series(default, index=frame.index, dtype=object)


def workload_label(model: str, emulate_rate: float | None, image_size: int) -> str:
    """What the accelerator did: a model's name, ``emulated H100``, ``emulated N img/s`` or ``loader only``."""
    if model != "emulate":
        return str(model)
    if is_missing(emulate_rate) or math.isclose(emulate_rate, h100_demand(int(image_size))[0]):
        return "emulated H100"
    return "loader only" if emulate_rate == 0 else f"emulated {emulate_rate:,.0f} img/s"


def varying_columns(frame: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """Those of ``columns`` that ``frame`` has and that take two or more values in it."""
    return [c for c in columns if c in frame and frame[c].astype(str).nunique() > 1]


def format_labels(runs: pd.DataFrame) -> pd.Series:
    """The format's name, plus a phrase for each write option (in parentheses) and open option
    (after a comma) that differs among that format's runs: ``"zarr (chunk 1024, zstd), chunks"``."""
    options = {kind: [c for c in runs.columns if c.startswith(f"{kind}.")] for kind in OPTION_KINDS}
    names = runs["fmt"].astype(str).copy()
    for fmt, group in runs.groupby("fmt"):
        varying = {kind: varying_columns(group, columns) for kind, columns in options.items()}
        for index, row in group.iterrows():
            phrases = {kind: [labels.option_phrase(c, row[c]) for c in columns if not is_missing(row[c])]
                       for kind, columns in varying.items()}
            names[index] = labels.format_label(fmt, phrases["write_options"], phrases["open_options"])
    return names


def setting_labels(runs: pd.DataFrame) -> pd.Series:
    """``"<dataset name> · <size> px"`` plus the secondary settings that differ between the runs."""
    parts = ["dataset_name", "image_size", *varying_columns(runs, SECONDARY_SETTINGS)]
    return pd.Series([labels.describe(row, parts) for _, row in runs.iterrows()], index=runs.index, dtype=object)


def block_units(runs: pd.DataFrame) -> pd.Series:
    """Images per contiguous block in ``block`` access (which fixes that mode's visiting order):
    the record's ``block_size`` when it has one, else the format's chunk or block-size option."""
    def unit(row) -> int | None:
        if row.get("access") != "block":
            return None
        for key in ("block_size", "open_options.block_size", "write_options.chunk_images",
                    "write_options.block_size"):
            value = row.get(key)
            if not is_missing(value) and value:
                return int(min(value, row.get("n_train") or value))
        return None
    return pd.Series([unit(row) for _, row in runs.iterrows()], index=runs.index, dtype=object)


EPOCH_COLUMNS = ("repeat", "epoch", "cold", "cached_fraction", "wall_s", "data_wait_s", "compute_s", "samples",
                 "samples_per_s", "samples_per_s_total", "au", "peak_rss_mb", "loss")
RUN_COLUMNS = ("run", "setting", "workload", "format", "fmt", "access", "cache", "dataset", "dataset_name",
               "image_size", "n_train", "model", "emulate_rate", "batch_size", "workers", "device", "world_size",
               "epochs_per_repeat", "seed", "lossless")


def epochs_frame(records: pd.DataFrame | str | os.PathLike | None) -> pd.DataFrame:
    """One row per measured epoch (``wall_s``, ``data_wait_s``, ``compute_s``, ``samples_per_s``,
    ``samples_per_s_total``, ``au``, ``loss``, ``repeat``, ``epoch``, ``cold``...), with the run's
    configuration columns and ``cache_state`` ("warm", "cold", or "cold-unavailable" when the
    eviction left the files cached, per epoch)."""
    runs = records if isinstance(records, pd.DataFrame) else load_records(records)
    columns = [c for c in RUN_COLUMNS if c in runs]
    rows = [{**{c: run[c] for c in columns}, **epoch}
            for _, run in runs.iterrows() for epoch in (run["epochs"] or [])]
    extra = [k for row in rows for k in row if k not in EPOCH_COLUMNS and k not in columns]
    epochs = pd.DataFrame(rows, columns=list(dict.fromkeys([*columns, *EPOCH_COLUMNS, *extra])))
    epochs["samples_per_s_total"] = epochs["samples_per_s_total"].fillna(epochs["samples_per_s"])
    epochs["cold"] = epochs["cold"].fillna(False).astype(bool)
    # An epoch whose files stayed cached through the eviction (tmpfs) was not cold, whatever was asked.
    still_cached = pd.to_numeric(epochs["cached_fraction"], errors="coerce") > COLD_CACHED_LIMIT
    epochs["cache_state"] = np.select([epochs["cold"] & still_cached, epochs["cold"]],
                                      ["cold-unavailable", "cold"], "warm")
    return epochs


# --------------------------------------------------------------------------------------------
# Figures


def ordered(values: Iterable[str], preferred: Iterable[str]) -> list[str]:
    """Distinct ``values``: those whose base name (before any " (") is in ``preferred`` first,
    in that order, then the rest sorted."""
    distinct = sorted(set(values))
    rank = {name: i for i, name in enumerate(preferred)}
    return sorted(distinct, key=lambda v: (rank.get(str(v).split(" (")[0], len(rank)), str(v)))


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


def reading_order(data: pd.DataFrame, column: str) -> list:
    """Distinct values of ``column``, ordered by dataset (the thesis's order), image size and
    training-set size (as numbers) where known."""
    keys = [c for c in ("image_size", "n_train") if c in data] + [column]
    if "dataset_name" in data:
        data = data.assign(_dataset=[dataset_rank(n) for n in data["dataset_name"]])
        keys = ["_dataset", *keys]
    return list(dict.fromkeys(data.sort_values(keys)[column]))


def per_dataset(runs: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``(dataset name, its runs)`` for each dataset in ``runs``, in the thesis's order."""
    names = sorted(runs["dataset_name"].dropna().unique(), key=dataset_rank) if "dataset_name" in runs else []
    return [(name, runs[runs["dataset_name"] == name]) for name in names]


def figures_per_dataset(draw, runs: pd.DataFrame) -> list[plt.Figure]:
    """``draw`` (one of :data:`FIGURES`) over each dataset's runs: one figure per dataset that has
    something to draw; when none has, one figure over all of ``runs`` saying why."""
    figures = [draw(subset) for _, subset in per_dataset(runs)]
    drawn = [fig for fig in figures if fig.get_label() != EMPTY_FIGURE]
    for fig in figures:
        if fig not in drawn:
            plt.close(fig)
    return drawn or [draw(runs)]


# What a panel's title is made of, in reading order: the settings, then the workload.
PANEL_PARTS = ("dataset_name", "image_size", *SECONDARY_SETTINGS, "workload")


def with_panel(frame: pd.DataFrame, exclude: Iterable[str] = ()) -> pd.DataFrame:
    """``frame`` with ``panel``: the :data:`PANEL_PARTS` that differ within ``frame`` (less
    ``exclude``), so panel titles name only what tells panels apart (:func:`panel_context` says the rest)."""
    varying = varying_columns(frame, [c for c in PANEL_PARTS if c not in exclude])
    return frame.assign(panel=[labels.describe(row, varying) for _, row in frame.iterrows()])


def panel_context(frame: pd.DataFrame, exclude: Iterable[str] = ()) -> str:
    """What every panel of ``frame`` shares (the :data:`PANEL_PARTS` with one value), e.g.
    ``"CIFAR-10 · 32 px · emulated H100"``; empty for an empty frame."""
    parts = [c for c in PANEL_PARTS if c in frame and c not in exclude]
    shared = [c for c in parts if c not in varying_columns(frame, parts)]
    return labels.describe(frame.iloc[0], shared) if len(frame) else ""


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


def _finish(grid: sns.FacetGrid, title: str, context: str = "") -> plt.Figure:
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


def _bar_grid(data: pd.DataFrame, *, category: str, value: str, hue: str, category_label: str,
              value_label: str, title: str, col: str = "panel", row: str | None = None, hue_order=None,
              share_values: bool = False, reference: tuple[float, str] | None = None) -> plt.Figure:
    """Median bars (horizontal, one line per ``category``) with bootstrap 95% intervals, one panel
    per ``col`` (wrapped) or per ``row`` × ``col``; ``reference`` (value, label) draws a labelled
    line on every panel. Panels are titled by what differs between them; what they share goes
    under the figure's title."""
    context = panel_context(data)
    data = with_panel(data)
    labels_of = category_labels(data[category], FORMAT_ORDER)
    hue_order = hue_order or ordered(data[hue], ACCESS_ORDER)
    height = panel_height(len(labels_of), len(hue_order))
    grid = sns.catplot(data=data.assign(**{category: data[category].map(labels_of)}), kind="bar", x=value,
                       y=category, orient="h", hue=hue, col=col, row=row,
                       col_wrap=None if row else min(3, data[col].nunique()), order=list(labels_of.values()),
                       hue_order=hue_order, col_order=reading_order(data, col),
                       row_order=reading_order(data, row) if row else None, estimator="median",
                       errorbar=bootstrap_interval, capsize=0.1, sharex=share_values, height=height,
                       aspect=PANEL_INCHES / height)
    grid.set_axis_labels(value_label, category_label)
    grid.set_titles(col_template="{col_name}", row_template="{row_name}")
    for ax in grid.axes.flat:
        ax.set_title(ax.get_title().strip(" |"))  # a row or column with one unnamed panel
        ax.tick_params(axis="y", labelsize=CATEGORY_POINTS)
        if reference:
            ax.axvline(reference[0], color="crimson", ls="--", lw=1.2)
            ax.annotate(reference[1], (reference[0], 1), xycoords=("data", "axes fraction"), xytext=(-2, -2),
                        textcoords="offset points", ha="right", va="top", color="crimson", fontsize=8)
    return _finish(grid, title, context)


def _bars_or_message(data: pd.DataFrame, *, value: str, title: str, empty: str, **grid) -> plt.Figure:
    """:func:`_bar_grid` over the rows of ``data`` that have ``value``, or a figure saying ``empty``."""
    data = data.dropna(subset=[value])
    if data.empty:
        return message_figure(title, empty)
    return _bar_grid(data, value=value, title=title, **grid)


def warm_epochs(runs: pd.DataFrame) -> pd.DataFrame:
    """Epochs of warm-cache runs."""
    epochs = epochs_frame(runs)
    return epochs[epochs["cache_state"] == "warm"]


def epoch_time_figure(runs: pd.DataFrame) -> plt.Figure:
    """Epoch time per format, one panel per setting and workload; bars by access mode."""
    return _bars_or_message(warm_epochs(runs), value="wall_s", category="format", hue="access",
                            category_label="Storage format", value_label="Epoch time (s)",
                            title="Epoch time per storage format (warm cache): median with bootstrap 95% interval",
                            empty="no warm-cache epochs in these records")


def h100_demand_line(ax, sizes: pd.Series) -> None:
    """The images/s one H100 consumes training ResNet-18 (DESIGN.md), across ``sizes`` and a little beyond."""
    span = np.arange(max(1, int(sizes.min() / 1.3)), int(sizes.max() * 1.3) + 1)
    ax.plot(span, [h100_demand(int(s))[0] for s in span], color="black", ls="--", lw=1)
    ax.annotate("one H100, ResNet-18", (span[0], h100_demand(int(span[0]))[0]), ha="left", va="bottom", fontsize=8)


def throughput_figure(runs: pd.DataFrame) -> plt.Figure:
    """Samples/s against image size on log axes, per format and access mode, one panel per
    workload; the dashed line is what one H100 consumes training ResNet-18 (DESIGN.md)."""
    title = "Throughput against image size (warm cache): median with bootstrap 95% interval"
    epochs = warm_epochs(runs).dropna(subset=["samples_per_s_total"])
    if epochs.empty:
        return message_figure(title, "no warm-cache epochs in these records")
    context = panel_context(epochs, exclude=["image_size"])
    epochs = with_panel(epochs, exclude=["image_size"])
    grid = sns.relplot(data=epochs, kind="line", x="image_size", y="samples_per_s_total", hue="format",
                       style="access", col="panel", col_order=reading_order(epochs, "panel"),
                       col_wrap=min(3, epochs["panel"].nunique()),
                       hue_order=ordered(epochs["format"], FORMAT_ORDER),
                       style_order=ordered(epochs["access"], ACCESS_ORDER), estimator="median",
                       errorbar=bootstrap_interval, err_style="bars", markers=True, dashes=False,
                       height=3.6, aspect=1.2)
    sizes = sorted(epochs["image_size"].unique())
    for ax in grid.axes.flat:
        h100_demand_line(ax, epochs["image_size"])
        ax.set(xscale="log", yscale="log")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.xaxis.set_minor_locator(plt.NullLocator())
    grid.set_axis_labels("Image size (px, log scale)", "Samples/s (log scale)")
    grid.set_titles(col_template="{col_name}")
    return _finish(grid, title, context)


def emulated_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs under an emulated accelerator (model ``emulate`` at a rate above zero)."""
    rate = pd.to_numeric(_column(runs, "emulate_rate"), errors="coerce")
    return runs[(runs["model"] == "emulate") & (rate > 0)]


def au_figure(runs: pd.DataFrame) -> plt.Figure:
    """Accelerator utilisation under the emulated load, with the 90% MLPerf Storage threshold."""
    epochs = warm_epochs(emulated_runs(runs))
    return _bars_or_message(epochs.assign(au_percent=100 * epochs["au"]), value="au_percent", category="format",
                            hue="access", category_label="Storage format", value_label="AU = compute / wall (%)",
                            share_values=True,
                            reference=(100 * MLPERF_AU_THRESHOLD, "MLPerf Storage: 90%"),
                            empty="no emulated-accelerator runs in these records",
                            title="Accelerator utilisation under an emulated accelerator: median with bootstrap 95% "
                                  "interval")


def cold_warm_figure(runs: pd.DataFrame) -> plt.Figure:
    """Cold-cache against warm-cache epoch times, for the conditions that have cold epochs."""
    title = "Cold against warm page cache: median epoch time with bootstrap 95% interval"
    epochs = epochs_frame(runs).dropna(subset=["wall_s"])
    condition = [c for c in (*PANEL_PARTS, "format", "access") if c in epochs]
    cold = epochs.loc[epochs["cold"], condition].drop_duplicates()
    if cold.empty:
        return message_figure(title, "no cold-cache runs in these records")
    epochs = epochs.merge(cold, on=condition).rename(columns={"cache_state": "page cache"})
    epochs["format / access"] = epochs["format"] + " / " + epochs["access"]
    states = [state for state in ("warm", "cold", "cold-unavailable") if state in set(epochs["page cache"])]
    return _bar_grid(epochs, category="format / access", value="wall_s", hue="page cache",
                     hue_order=states, category_label="Storage format / access mode",
                     value_label="Epoch time (s)", title=title)


def storage_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per converted copy: its dataset label, format, MiB on disk and conversion seconds
    (medians over the runs that used it)."""
    keys = ["dataset_name", "image_size", "n_train", "format"]
    if runs.empty:
        return pd.DataFrame(columns=[*keys, "copy", "mib_on_disk", "convert_s"])
    copies = runs.groupby(keys, as_index=False)[["bytes_on_disk", "convert_s"]].median()
    copies["mib_on_disk"] = copies["bytes_on_disk"] / MIB
    copies["copy"] = [labels.describe(row, keys[:3]) for _, row in copies.iterrows()]
    return copies


def storage_figure(runs: pd.DataFrame) -> plt.Figure:
    """Bytes on disk and conversion time per format, one bar per converted copy."""
    title = "Storage cost of each format"
    copies = storage_frame(runs)
    if copies.empty:
        return message_figure(title, "no records")
    labels_of, hue_order = category_labels(copies["format"], FORMAT_ORDER), reading_order(copies, "copy")
    copies = copies.assign(format=copies["format"].map(labels_of))
    fig, axes = plt.subplots(1, 2, figsize=(11, panel_height(len(labels_of), len(hue_order))), sharey=True)
    for ax, column, label in ((axes[0], "mib_on_disk", "Size on disk (MiB)"),
                              (axes[1], "convert_s", "Conversion time (s)")):
        sns.barplot(data=copies, x=column, y="format", orient="h", hue="copy", order=list(labels_of.values()),
                    hue_order=hue_order, errorbar=None, ax=ax, legend=ax is axes[0])
        ax.set(ylabel="Storage format" if ax is axes[0] else "", xlabel=label, title=label.split(" (")[0])
        ax.tick_params(axis="y", labelsize=CATEGORY_POINTS)
    handles, names = axes[0].get_legend_handles_labels()
    axes[0].get_legend().remove()
    fig.tight_layout()
    fig.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, 0), ncol=min(3, len(names)),
               title="converted copy", fontsize=8, frameon=False)
    context = copies["dataset_name"].iloc[0] if copies["dataset_name"].nunique() == 1 else ""
    fig.suptitle("\n".join(t for t in (title, context) if t), y=1.01, va="bottom")
    return fig


def quality_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Accuracy and macro F1 (%) of trained runs, long form: one row per run and metric."""
    trained = runs.dropna(subset=["accuracy"]) if "accuracy" in runs else runs.iloc[0:0]
    trained = trained.assign(**{"accuracy (%)": 100 * pd.to_numeric(trained["accuracy"], errors="coerce"),
                                "macro F1 (%)": 100 * pd.to_numeric(_column(trained, "f1_macro"), errors="coerce")})
    keys = [c for c in (*PANEL_PARTS, "format", "access", "lossless", "run") if c in trained]
    return trained.melt(id_vars=keys,
                        value_vars=["accuracy (%)", "macro F1 (%)"], var_name="metric", value_name="percent")


def accuracy_figure(runs: pd.DataFrame) -> plt.Figure:
    """Test accuracy and macro F1 per format; lossless formats should give identical bars."""
    return _bars_or_message(quality_frame(runs), value="percent", category="format", hue="access", col="metric",
                            row="panel", category_label="Storage format", value_label="Test set (%)",
                            share_values=True,
                            title="Test accuracy and macro F1 per storage format: median over runs, "
                                  "bootstrap 95% interval",
                            empty="no trained-model runs (with accuracy) in these records")


FIGURES = {
    "epoch_time": epoch_time_figure,
    "throughput": throughput_figure,
    "au": au_figure,
    "cold_warm": cold_warm_figure,
    "storage": storage_figure,
    "accuracy": accuracy_figure,
}


# --------------------------------------------------------------------------------------------
# Lossless agreement


def lossless_comparisons(runs: pd.DataFrame, *, tolerance: float = 1e-9) -> pd.DataFrame:
    """Every group of trained runs on lossless formats that share one training configuration
    (:data:`TRAINING_CONFIG`) and span two or more formats: formats, runs, accuracy and F1 ranges
    and ``agree`` (both ranges within ``tolerance``). Identical bytes must train identically."""
    keys = [c for c in TRAINING_CONFIG if c in runs]
    result_columns = [*keys, "formats", "runs", "accuracy_min", "accuracy_max", "f1_min", "f1_max", "agree"]
    if runs.empty or "accuracy" not in runs:
        return pd.DataFrame(columns=result_columns)
    trained = runs[runs["lossless"].fillna(True).astype(bool) & runs["accuracy"].notna()]
    rows = []
    for key, group in trained.groupby(keys, dropna=False):
        if group["format"].nunique() < 2:
            continue
        f1 = pd.to_numeric(_column(group, "f1_macro"), errors="coerce")
        spread = max(group["accuracy"].max() - group["accuracy"].min(), np.nan_to_num(f1.max() - f1.min()))
        rows.append([*key, sorted(group["format"].unique()), sorted(group["run"]), group["accuracy"].min(),
                     group["accuracy"].max(), f1.min(), f1.max(), bool(spread <= tolerance)])
    return pd.DataFrame(rows, columns=result_columns)


def check_lossless_agreement(runs: pd.DataFrame, *, tolerance: float = 1e-9) -> pd.DataFrame:
    """The groups of :func:`lossless_comparisons` whose formats disagree (empty when all agree)."""
    comparisons = lossless_comparisons(runs, tolerance=tolerance)
    return comparisons[~comparisons["agree"].astype(bool)].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Tables


def summary_keys(runs: pd.DataFrame) -> list[str]:
    """Summary rows: dataset × image size × the secondary settings that vary × workload × cache
    × format × access."""
    return ["dataset_name", "image_size", *varying_columns(runs, SECONDARY_SETTINGS), "workload", "cache", "format",
            "access"]


def _median_with_interval(values: pd.Series) -> pd.Series:
    median, low, high = median_ci(values.dropna())
    return pd.Series({"median": median, "lo": low, "hi": high})


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × image size × workload × cache × format × access: runs, epochs, median epoch
    time with its bootstrap 95% interval, median samples/s, AU and data wait (over epochs), and
    median bytes on disk, conversion seconds, accuracy and macro F1 (over runs)."""
    keys = summary_keys(runs)
    numeric = ["epoch_time_s", "epoch_time_lo", "epoch_time_hi", "samples_per_s", "au", "data_wait_s",
               "bytes_on_disk", "convert_s", "accuracy", "f1_macro"]
    if runs.empty:
        return pd.DataFrame(columns=[*keys, "runs", "epochs", *numeric])
    epochs = epochs_frame(runs).groupby(keys, sort=False, dropna=False)
    times = epochs["wall_s"].apply(_median_with_interval).unstack()
    per_epoch = pd.DataFrame({
        "epochs": epochs.size(),
        "epoch_time_s": times["median"], "epoch_time_lo": times["lo"], "epoch_time_hi": times["hi"],
        "samples_per_s": epochs["samples_per_s_total"].median(),
        "au": epochs["au"].median(), "data_wait_s": epochs["data_wait_s"].median(),
    })
    per_run = runs.assign(f1_macro=pd.to_numeric(_column(runs, "f1_macro"), errors="coerce"),
                          accuracy=pd.to_numeric(_column(runs, "accuracy"), errors="coerce"))
    per_run = per_run.groupby(keys, sort=False, dropna=False).agg(
        runs=("run", "size"), bytes_on_disk=("bytes_on_disk", "median"), convert_s=("convert_s", "median"),
        accuracy=("accuracy", "median"), f1_macro=("f1_macro", "median"))
    table = per_run.join(per_epoch).reset_index()
    return sort_conditions(table)[[*keys, "runs", "epochs", *numeric]].reset_index(drop=True)


def sort_conditions(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in reading order: dataset (the thesis's order), size, training-set size, workload,
    cache, then format and access in design order."""
    rank = {"dataset_name": sorted(frame["dataset_name"].unique(), key=dataset_rank),
            "format": ordered(frame["format"], FORMAT_ORDER), "access": ordered(frame["access"], ACCESS_ORDER)}
    by = [c for c in ("dataset_name", "image_size", "n_train", "workload", "cache", "format", "access") if c in frame]
    return frame.sort_values(by, key=lambda s: s.map({v: i for i, v in enumerate(rank[s.name])})
                             if s.name in rank else s)


def _number(value, spec: str) -> str:
    return "–" if value is None or pd.isna(value) else format(value, spec)


def interval_text(median: float, low: float, high: float, spec: str = ".3g") -> str:
    """``"0.123 [0.120, 0.130]"``: a median and its 95% interval, as the tables print them."""
    return f"{_number(median, spec)} [{_number(low, spec)}, {_number(high, spec)}]"


DISPLAY_LABELS = {"dataset_name": "Dataset", "image_size": "Size (px)", "n_train": "Images", "batch_size": "Batch",
                  "workers": "Workers", "device": "Device", "world_size": "Ranks", "epochs_per_repeat": "Epochs",
                  "workload": "Workload", "cache": "Cache", "format": "Format", "access": "Access"}


# (summary column, displayed label, scale, format spec)
DISPLAY_NUMBERS = (("samples_per_s", "Samples/s", 1, ",.0f"), ("au", "AU (%)", 100, ".0f"),
                   ("bytes_on_disk", "Disk (MiB)", 1 / MIB, ".3g"), ("convert_s", "Convert (s)", 1, ".3g"),
                   ("accuracy", "Accuracy (%)", 100, ".2f"), ("f1_macro", "Macro F1 (%)", 100, ".2f"))


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`summary_table` as strings with units, for the Markdown and LaTeX reports."""
    keys = [c for c in table.columns if c in DISPLAY_LABELS]
    shown = table[keys].rename(columns=DISPLAY_LABELS).astype(str)
    shown["Runs"] = table["runs"].astype(str)
    shown["Epoch time (s), median [95% CI]"] = [
        interval_text(m, lo, hi) for m, lo, hi in zip(table["epoch_time_s"], table["epoch_time_lo"], table["epoch_time_hi"])]
    for column, label, scale, spec in DISPLAY_NUMBERS:
        shown[label] = [_number(v * scale if pd.notna(v) else v, spec) for v in table[column]]
    return shown


def to_markdown(table: pd.DataFrame) -> str:
    """:func:`summary_table` as a GitHub Markdown table."""
    return display_table(table).to_markdown(index=False) + "\n"


def to_latex(table: pd.DataFrame) -> str:
    """:func:`summary_table` as a LaTeX ``table`` (booktabs rules)."""
    shown = display_table(table)
    text_columns = sum(column in DISPLAY_LABELS.values() for column in shown.columns)
    return shown.to_latex(
        index=False, escape=True, column_format="l" * text_columns + "r" * (len(shown.columns) - text_columns),
        caption="Benchmark summary: median epoch time with percentile-bootstrap 95\\% interval, "
                "throughput, accelerator utilisation, storage cost and model quality.",
        label="tab:format-summary")
