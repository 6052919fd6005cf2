"""Benchmark records in, the thesis's figures, tables and findings out.

Every benchmark run leaves one JSON record (see :mod:`thesis_lib.bench`); this module reads a
folder of them and knows nothing of how they were made.

>>> runs = load_records("data/results")          # one row per run
>>> epochs = epochs_frame(runs)                  # one row per measured epoch
>>> epoch_time_figure(runs)                      # seaborn figures, one function each
>>> check_lossless_agreement(runs)               # lossless formats must train identically
>>> write_report_tables(runs, "data/results/report")   # summary.md, summary.tex, findings.md

Medians and their 95% intervals always come from :func:`thesis_lib.stats.median_ci` (percentile
bootstrap) over the per-epoch values, in the figures and in the tables alike.

Labels the figures and tables share, derived once in :func:`load_records`:

``setting``
    ``"<dataset> · <size> px"``, plus any of training-set size, batch size, workers, device and
    ranks that differ between the loaded runs (so runs measured differently never share a bar).
``workload``
    the model's name; ``"emulated H100"`` for the emulated accelerator at the rate one H100 consumes
    at that image size; ``"emulated <rate> img/s"`` at any other rate; ``"loader only"`` at rate 0.
``format``
    the format's name, plus the options that differ between the loaded runs of that format
    (``"files (encoding=jpeg)"``).
"""
from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from . import paths
from .cache import COLD_CACHED_LIMIT
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
SECONDARY_SETTINGS = {"n_train": "{} images", "batch_size": "batch {}", "workers": "{} workers",
                      "device": "{}", "world_size": "{} ranks"}
# The training configuration that, with identical bytes, must give an identical model.
TRAINING_CONFIG = ("dataset", "image_size", "n_train", "model", "seed", "epochs_per_repeat", "repeats",
                   "access", "block_unit", "batch_size", "workers", "device", "lr", "eval_limit",
                   "world_size")
# What findings compare formats within; dataset and image size lead so that sizes sort as numbers.
COMPARISON = ("dataset", "image_size", "setting", "workload", "cache")
MLPERF_AU_THRESHOLD = 0.90
MIB = 2**20


# --------------------------------------------------------------------------------------------
# Reading records


def resolve_results_dir(results_dir: str | os.PathLike | None = None) -> Path:
    """The folder to read: ``results_dir`` (relative to the current directory), else
    ``$THESIS_RESULTS_DIR``, else ``data/results`` (honouring ``$THESIS_DATA``)."""
    chosen = results_dir or os.environ.get("THESIS_RESULTS_DIR")
    return Path(chosen).expanduser().resolve() if chosen else paths.data_dir("results")


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
    if not isinstance(record.get("fmt_options", {}), dict):
        return f"fmt_options must be a mapping, got {record['fmt_options']!r}"
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
    """One row per run: every record key, nested dicts flattened (``env.gpu``,
    ``fmt_options.codec``), lists kept as objects, plus the ``setting``, ``workload`` and
    ``format`` labels, ``epochs_per_repeat``, ``block_unit``, ``path`` and ``notebook`` (the
    executed bench notebook beside the record, or None)."""
    folder = resolve_results_dir(results_dir)
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
    frame = pd.json_normalize(records, max_level=1)
    frame["epochs_per_repeat"] = [len(e) // max(1, int(r or 1)) for e, r in zip(frame["epochs"], frame["repeats"])]
    return frame


def with_labels(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with the ``workload``, ``format``, ``setting`` and ``block_unit`` columns."""
    runs = runs.copy()
    if runs.empty:
        for column in ("workload", "format", "setting", "block_unit"):
            runs[column] = pd.Series(dtype=object)
        return runs
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
    if emulate_rate is None or _isnan(emulate_rate) or math.isclose(emulate_rate, h100_demand(int(image_size))[0]):
        return "emulated H100"
    return "loader only" if emulate_rate == 0 else f"emulated {emulate_rate:,.0f} img/s"


def _isnan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def format_labels(runs: pd.DataFrame) -> pd.Series:
    """The format's name, plus ``key=value`` for each option that differs among that format's runs."""
    option_columns = [c for c in runs.columns if c.startswith("fmt_options.")]
    labels = runs["fmt"].astype(str).copy()
    for fmt, group in runs.groupby("fmt"):
        varying = [c for c in option_columns if group[c].astype(str).nunique() > 1]
        for index, row in group.iterrows():
            details = ", ".join(f"{c.removeprefix('fmt_options.')}={row[c]}" for c in varying)
            labels[index] = f"{fmt} ({details})" if details else fmt
    return labels


def setting_labels(runs: pd.DataFrame) -> pd.Series:
    """``"<dataset> · <size> px"`` plus the secondary settings that differ between the runs."""
    varying = [c for c in SECONDARY_SETTINGS if c in runs and runs[c].astype(str).nunique() > 1]
    return pd.Series([" · ".join([f"{row['dataset']} · {row['image_size']} px",
                                  *(SECONDARY_SETTINGS[c].format(row[c]) for c in varying)])
                      for _, row in runs.iterrows()], index=runs.index, dtype=object)


def block_units(runs: pd.DataFrame) -> pd.Series:
    """Images per contiguous block in ``block`` access (which fixes that mode's visiting order):
    the record's ``block_size`` when it has one, else the format's chunk or block-size option."""
    def unit(row) -> int | None:
        if row.get("access") != "block":
            return None
        for key in ("block_size", "fmt_options.chunk_images", "fmt_options.block_size"):
            value = row.get(key)
            if value is not None and not _isnan(value) and value:
                return int(min(value, row.get("n_train") or value))
        return None
    return pd.Series([unit(row) for _, row in runs.iterrows()], index=runs.index, dtype=object)


EPOCH_COLUMNS = ("repeat", "epoch", "cold", "cached_fraction", "wall_s", "data_wait_s", "compute_s", "samples", "samples_per_s",
                 "samples_per_s_total", "au", "peak_rss_mb", "loss")
RUN_COLUMNS = ("run", "setting", "workload", "format", "fmt", "access", "cache", "dataset", "image_size",
               "n_train", "model", "emulate_rate", "batch_size", "workers", "device", "world_size", "seed",
               "lossless")


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


def message_figure(title: str, message: str) -> plt.Figure:
    """A small figure that says why there is nothing to draw."""
    fig, ax = plt.subplots(figsize=(7, 1.6))
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.45, message, ha="center", va="center", fontsize=11, transform=ax.transAxes)
    return fig


def reading_order(data: pd.DataFrame, column: str) -> list:
    """Distinct values of ``column``, ordered by dataset and image size (as numbers) where known."""
    by = [c for c in ("dataset", "image_size") if c in data] + [column]
    return list(dict.fromkeys(data.sort_values(by)[column]))


def with_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``panel`` = ``"<setting> · <workload>"``: one figure panel per comparable group."""
    return frame.assign(panel=frame["setting"].astype(str) + " · " + frame["workload"].astype(str))


def _finish(grid: sns.FacetGrid, title: str) -> plt.Figure:
    grid.tight_layout()
    grid.figure.suptitle(title, y=1.03)
    return grid.figure


def _bar_grid(data: pd.DataFrame, *, x: str, y: str, hue: str, xlabel: str, ylabel: str, title: str,
              col: str = "panel", row: str | None = None, hue_order=None, sharey: bool = False,
              reference: tuple[float, str] | None = None) -> plt.Figure:
    """Median bars with bootstrap 95% intervals, one panel per ``col`` (wrapped) or per ``row`` ×
    ``col``; ``reference`` (value, label) draws a labelled horizontal line on every panel."""
    wrap = None if row else min(3, data[col].nunique())
    grid = sns.catplot(data=data, kind="bar", x=x, y=y, hue=hue, col=col, row=row, col_wrap=wrap,
                       order=ordered(data[x], FORMAT_ORDER), hue_order=hue_order or ordered(data[hue], ACCESS_ORDER),
                       col_order=reading_order(data, col), row_order=reading_order(data, row) if row else None,
                       estimator="median", errorbar=bootstrap_interval,
                       capsize=0.1, sharey=sharey, height=3.4, aspect=1.25)
    grid.set_axis_labels(xlabel, ylabel)
    grid.set_titles(col_template="{col_name}", row_template="{row_name}")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", labelrotation=20)
        if reference:
            ax.axhline(reference[0], color="crimson", ls="--", lw=1.2)
            ax.annotate(reference[1], (1, reference[0]), xycoords=("axes fraction", "data"), ha="right",
                        va="bottom", color="crimson", fontsize=8)
    return _finish(grid, title)


def _bars_or_message(data: pd.DataFrame, *, y: str, title: str, empty: str, **grid) -> plt.Figure:
    """:func:`_bar_grid` over the rows of ``data`` that have ``y``, or a figure saying ``empty``."""
    data = data.dropna(subset=[y])
    if data.empty:
        return message_figure(title, empty)
    return _bar_grid(data, y=y, title=title, **grid)


def warm_epochs(runs: pd.DataFrame) -> pd.DataFrame:
    """Epochs of warm-cache runs, with the ``panel`` label."""
    epochs = with_panel(epochs_frame(runs))
    return epochs[epochs["cache_state"] == "warm"]


def epoch_time_figure(runs: pd.DataFrame) -> plt.Figure:
    """Epoch time per format, one panel per setting and workload; bars by access mode."""
    return _bars_or_message(warm_epochs(runs), y="wall_s", x="format", hue="access",
                            xlabel="Storage format", ylabel="Epoch time (s)",
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
    grid = sns.relplot(data=epochs, kind="line", x="image_size", y="samples_per_s_total", hue="format",
                       style="access", col="workload", col_order=sorted(epochs["workload"].unique()),
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
    return _finish(grid, title)


def emulated_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs under an emulated accelerator (model ``emulate`` at a rate above zero)."""
    rate = pd.to_numeric(_column(runs, "emulate_rate"), errors="coerce")
    return runs[(runs["model"] == "emulate") & (rate > 0)]


def au_figure(runs: pd.DataFrame) -> plt.Figure:
    """Accelerator utilisation under the emulated load, with the 90% MLPerf Storage threshold."""
    epochs = warm_epochs(emulated_runs(runs))
    return _bars_or_message(epochs.assign(au_percent=100 * epochs["au"]), y="au_percent", x="format", hue="access",
                            xlabel="Storage format", ylabel="AU = compute / wall (%)", sharey=True,
                            reference=(100 * MLPERF_AU_THRESHOLD, "MLPerf Storage: 90%"),
                            empty="no emulated-accelerator runs in these records",
                            title="Accelerator utilisation under an emulated accelerator: median with bootstrap 95% "
                                  "interval")


def cold_warm_figure(runs: pd.DataFrame) -> plt.Figure:
    """Cold-cache against warm-cache epoch times, for the conditions that have cold epochs."""
    title = "Cold against warm page cache: median epoch time with bootstrap 95% interval"
    epochs = with_panel(epochs_frame(runs)).dropna(subset=["wall_s"])
    condition = ["panel", "format", "access"]
    cold = epochs.loc[epochs["cold"], condition].drop_duplicates()
    if cold.empty:
        return message_figure(title, "no cold-cache runs in these records")
    epochs = epochs.merge(cold, on=condition).rename(columns={"cache_state": "page cache"})
    epochs["format / access"] = epochs["format"] + " / " + epochs["access"]
    states = [state for state in ("warm", "cold", "cold-unavailable") if state in set(epochs["page cache"])]
    return _bar_grid(epochs, x="format / access", y="wall_s", hue="page cache", hue_order=states,
                     xlabel="Storage format / access mode", ylabel="Epoch time (s)", title=title)


def storage_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per converted copy: its dataset label, format, MiB on disk and conversion seconds
    (medians over the runs that used it)."""
    keys = ["dataset", "image_size", "n_train", "format"]
    if runs.empty:
        return pd.DataFrame(columns=[*keys, "copy", "mib_on_disk", "convert_s"])
    copies = runs.groupby(keys, as_index=False)[["bytes_on_disk", "convert_s"]].median()
    copies["mib_on_disk"] = copies["bytes_on_disk"] / MIB
    copies["copy"] = [f"{d} · {s} px · {n} images" for d, s, n in
                      zip(copies["dataset"], copies["image_size"], copies["n_train"])]
    return copies


def storage_figure(runs: pd.DataFrame) -> plt.Figure:
    """Bytes on disk and conversion time per format, one bar per converted copy."""
    title = "Storage cost of each format"
    copies = storage_frame(runs)
    if copies.empty:
        return message_figure(title, "no records")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    order, hue_order = ordered(copies["format"], FORMAT_ORDER), reading_order(copies, "copy")
    for ax, column, label in ((axes[0], "mib_on_disk", "Size on disk (MiB)"),
                              (axes[1], "convert_s", "Conversion time (s)")):
        sns.barplot(data=copies, x="format", y=column, hue="copy", order=order, hue_order=hue_order,
                    errorbar=None, ax=ax)
        ax.set(xlabel="Storage format", ylabel=label, title=label.split(" (")[0])
        ax.tick_params(axis="x", labelrotation=20)
        ax.legend(title="dataset", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def quality_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Accuracy and macro F1 (%) of trained runs, long form: one row per run and metric."""
    trained = with_panel(runs.dropna(subset=["accuracy"]) if "accuracy" in runs else runs.iloc[0:0])
    trained = trained.assign(**{"accuracy (%)": 100 * pd.to_numeric(trained["accuracy"], errors="coerce"),
                                "macro F1 (%)": 100 * pd.to_numeric(_column(trained, "f1_macro"), errors="coerce")})
    return trained.melt(id_vars=["dataset", "image_size", "panel", "format", "access", "lossless", "run"],
                        value_vars=["accuracy (%)", "macro F1 (%)"], var_name="metric", value_name="percent")


def accuracy_figure(runs: pd.DataFrame) -> plt.Figure:
    """Test accuracy and macro F1 per format; lossless formats should give identical bars."""
    return _bars_or_message(quality_frame(runs), y="percent", x="format", hue="access", col="metric", row="panel",
                            xlabel="Storage format", ylabel="Test set (%)", sharey=True,
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
    varying = [c for c in SECONDARY_SETTINGS if c in runs and runs[c].astype(str).nunique() > 1]
    return ["dataset", "image_size", *varying, "workload", "cache", "format", "access"]


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
    """Rows in reading order: dataset, size, workload, cache, then format and access in design order."""
    rank = {"format": ordered(frame["format"], FORMAT_ORDER), "access": ordered(frame["access"], ACCESS_ORDER)}
    by = [c for c in ("dataset", "image_size", "workload", "cache", "format", "access") if c in frame]
    return frame.sort_values(by, key=lambda s: s.map({v: i for i, v in enumerate(rank[s.name])})
                             if s.name in rank else s)


def _number(value, spec: str) -> str:
    return "–" if value is None or pd.isna(value) else format(value, spec)


DISPLAY_LABELS = {"dataset": "Dataset", "image_size": "Size (px)", "n_train": "Images", "batch_size": "Batch",
                  "workers": "Workers", "device": "Device", "world_size": "Ranks", "workload": "Workload",
                  "cache": "Cache", "format": "Format", "access": "Access"}


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
        f"{_number(m, '.3g')} [{_number(lo, '.3g')}, {_number(hi, '.3g')}]"
        for m, lo, hi in zip(table["epoch_time_s"], table["epoch_time_lo"], table["epoch_time_hi"])]
    for column, label, scale, spec in DISPLAY_NUMBERS:
        shown[label] = [_number(v * scale if pd.notna(v) else v, spec) for v in table[column]]
    return shown


def to_markdown(table: pd.DataFrame) -> str:
    """:func:`summary_table` as a GitHub Markdown table."""
    return display_table(table).to_markdown(index=False) + "\n"


def to_latex(table: pd.DataFrame) -> str:
    """:func:`summary_table` as a LaTeX ``table`` (booktabs rules)."""
    shown = display_table(table)
    labels = sum(column in DISPLAY_LABELS.values() for column in shown.columns)
    return shown.to_latex(
        index=False, escape=True, column_format="l" * labels + "r" * (len(shown.columns) - labels),
        caption="Benchmark summary: median epoch time with percentile-bootstrap 95\\% interval, "
                "throughput, accelerator utilisation, storage cost and model quality.",
        label="tab:format-summary")


# --------------------------------------------------------------------------------------------
# Findings


def median_epoch_times(runs: pd.DataFrame) -> pd.Series:
    """Median epoch wall time (s) per (setting, workload, cache, format, access)."""
    epochs = epochs_frame(runs).dropna(subset=["wall_s"])
    return epochs.groupby([*COMPARISON, "format", "access"])["wall_s"].median()


def _seconds(value: float) -> str:
    return f"{value:.3g} s"


def _faster(ratio: float) -> str:
    """``"2.31× faster"``, or ``"4.2% faster"`` when the ratio is below 1.1."""
    return f"{ratio:.2f}× faster" if ratio >= 1.1 else f"{100 * (ratio - 1):.1f}% faster"


def _count(n: int, noun: str) -> str:
    return f"the one {noun}" if n == 1 else f"all {n} {noun}s"


def fastest_format_sentence(context: str, times: pd.DataFrame) -> str:
    """Which format is fastest (at its best access mode) and by how much; ``times`` is format × access."""
    best = times.min(axis=1).dropna().sort_values()
    mode = times.idxmin(axis=1)
    fastest, t0 = best.index[0], best.iloc[0]
    if len(best) == 1:
        return f"{context}: only {fastest} was measured ({_seconds(t0)} per epoch, {mode[fastest]} access)."
    lead = f"{context}: {fastest} is the fastest format ({_seconds(t0)} per epoch with {mode[fastest]} access)"
    nxt, slowest = best.index[1], best.index[-1]
    if len(best) == 2:
        return f"{lead}, {_faster(best[nxt] / t0)} than {nxt} ({_seconds(best[nxt])}), the only other format."
    return (f"{lead}, {_faster(best[slowest] / t0)} than the slowest, {slowest} ({_seconds(best[slowest])}), "
            f"and {_faster(best[nxt] / t0)} than the next, {nxt} ({_seconds(best[nxt])}).")


def spreads(times: pd.DataFrame, axis: int) -> pd.DataFrame:
    """Slowest/fastest ratio along ``axis`` of a format × access table (1: across access modes, per
    format; 0: across formats, per access mode), with the slowest and fastest labels; only where
    two or more cells are measured."""
    counts = times.notna().sum(axis=axis)
    ratio = times.max(axis=axis) / times.min(axis=axis)
    frame = pd.DataFrame({"ratio": ratio, "slow": times.idxmax(axis=axis), "fast": times.idxmin(axis=axis)})
    return frame[counts >= 2].sort_values("ratio", ascending=False)


def access_versus_format_sentences(context: str, times: pd.DataFrame) -> list[str]:
    """Where the access mode mattered more than the format, or the other way round, with numbers."""
    by_access, by_format = spreads(times, axis=1), spreads(times, axis=0)
    if by_access.empty:
        return []
    if by_format.empty:
        fmt, row = next(by_access.iterrows())
        return [f"{context}: for {fmt}, {row.slow} access is {row.ratio:.2f}× slower than {row.fast} access."]
    widest_mode, widest = by_format.index[0], by_format.iloc[0]
    stronger = by_access[by_access["ratio"] > widest["ratio"]]
    if stronger.empty:
        fmt, row = next(by_access.iterrows())
        return [f"{context}: the format mattered more than the access mode: formats differ up to "
                f"{widest.ratio:.2f}× ({widest.slow} vs {widest.fast}, {widest_mode} access), access modes at most "
                f"{row.ratio:.2f}× (for {fmt})."]
    return [f"{context}: for {fmt}, the access mode mattered more than the format: {row.slow} access is "
            f"{row.ratio:.2f}× slower than {row.fast} access ({_seconds(times.loc[fmt, row.slow])} vs "
            f"{_seconds(times.loc[fmt, row.fast])}), while changing format under one access mode changes "
            f"epoch time at most {widest.ratio:.2f}× ({widest_mode} access)."
            for fmt, row in stronger.iterrows()]


def au_sentences(runs: pd.DataFrame) -> list[str]:
    """Which format/access pairs keep the emulated accelerator at or above 90% utilisation."""
    epochs = warm_epochs(emulated_runs(runs)).dropna(subset=["au"])
    sentences = []
    for (_, _, setting, workload), group in epochs.groupby(["dataset", "image_size", "setting", "workload"]):
        au = group.groupby(["format", "access"])["au"].median().sort_values(ascending=False)
        above, below = (", ".join(f"{f}/{a} ({100 * v:.1f}%)" for (f, a), v in part.items())
                        for part in (au[au >= MLPERF_AU_THRESHOLD], au[au < MLPERF_AU_THRESHOLD]))
        sentences.append(f"{setting}, {workload}: AU ≥ 90% (the MLPerf Storage bar) with "
                         f"{above or 'no format/access pair'}; "
                         f"{'below it: ' + below if below else 'every pair measured reaches it'}.")
    return sentences


def lossless_sentence(runs: pd.DataFrame) -> str | None:
    """Whether lossless formats trained identical models, or None when nothing was comparable."""
    comparisons = lossless_comparisons(runs)
    if comparisons.empty:
        return None
    disagree = comparisons[~comparisons["agree"].astype(bool)]
    if disagree.empty:
        return (f"Lossless formats trained identical models: accuracy and macro F1 agree in "
                f"{_count(len(comparisons), 'comparable training configuration')}.")
    where = "; ".join(f"{', '.join(r.formats)} at {r.dataset} · {r.image_size} px, {r.model}, {r.access} access "
                      f"(accuracy {100 * r.accuracy_min:.2f}–{100 * r.accuracy_max:.2f}%, "
                      f"macro F1 {100 * r.f1_min:.2f}–{100 * r.f1_max:.2f}%)"
                      for r in disagree.itertuples())
    return (f"WARNING: lossless formats disagree in {len(disagree)} of {len(comparisons)} comparable training "
            f"configurations: {where}. Identical bytes should train identically.")


def findings(runs: pd.DataFrame) -> list[str]:
    """Sentences with numbers, generated from the records: per setting, workload and cache state the
    fastest format and by how much, and whether the access mode or the format mattered more; then
    utilisation under the emulated accelerator and the lossless-agreement check."""
    if runs.empty:
        return ["No benchmark records were found."]
    sentences = []
    for key, cell in median_epoch_times(runs).groupby(level=list(COMPARISON)):
        context = "{}, {}, {} cache".format(*key[2:])
        times = cell.droplevel(list(COMPARISON)).unstack("access")
        sentences += [fastest_format_sentence(context, times), *access_versus_format_sentences(context, times)]
    lossless = lossless_sentence(runs)
    return sentences + au_sentences(runs) + ([lossless] if lossless else [])


# --------------------------------------------------------------------------------------------
# Report


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling and a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_report_tables(runs: pd.DataFrame, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``summary.md``, ``summary.tex`` and ``findings.md`` into ``out_dir``, each atomically;
    return their paths by name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = summary_table(runs)
    texts = {
        "summary.md": "# Benchmark summary\n\n" + to_markdown(table),
        "summary.tex": to_latex(table),
        "findings.md": "# Findings\n\n" + "".join(f"- {s}\n" for s in findings(runs)),
    }
    written = {}
    for name, text in texts.items():
        write_atomic(out_dir / name, text)
        written[name] = out_dir / name
    return written
