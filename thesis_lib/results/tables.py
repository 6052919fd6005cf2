"""The summary table: one row per condition (dataset × image size × the settings that vary ×
workload × cache × format × access), medians with their bootstrap 95% intervals, and the same as
text for the Markdown and LaTeX reports.

>>> table = summary_table(runs)
>>> print(to_markdown(table)); print(to_latex(table))
"""
from __future__ import annotations

import pandas as pd

from ..core.stats import median_ci
from .labels import MIB, SECONDARY_SETTINGS, optional_column, varying_columns
from .order import sort_conditions
from .records import repeats_frame


def summary_keys(runs: pd.DataFrame) -> list[str]:
    """Summary rows: dataset × image size × the secondary settings that vary × workload × cache
    × format × access."""
    return ["dataset_name", "image_size", *varying_columns(runs, SECONDARY_SETTINGS), "workload", "cache", "format",
            "access"]


def _median_with_interval(values: pd.Series) -> pd.Series:
    median, low, high = median_ci(values.dropna())
    return pd.Series({"median": median, "lo": low, "hi": high})


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × image size × workload × cache × format × access: runs, repeats, median
    steady-state epoch time with its bootstrap 95% interval, median samples/s, AU (whole epoch and
    MLPerf's), data wait and start-up cost (over repeats), and median bytes on disk, conversion
    seconds, accuracy and macro F1 (over runs)."""
    keys = summary_keys(runs)
    numeric = ["epoch_time_s", "epoch_time_lo", "epoch_time_hi", "samples_per_s", "au", "au_mlperf", "data_wait_s",
               "startup_extra_s", "bytes_on_disk", "convert_s", "accuracy", "f1_macro"]
    if runs.empty:
        return pd.DataFrame(columns=[*keys, "runs", "repeats", *numeric])
    repeats = repeats_frame(runs).groupby(keys, sort=False, dropna=False)
    times = repeats["wall_s"].apply(_median_with_interval).unstack()
    per_repeat = pd.DataFrame({
        "repeats": repeats.size(),
        "epoch_time_s": times["median"], "epoch_time_lo": times["lo"], "epoch_time_hi": times["hi"],
        **{column: repeats[column].median() for column in ("samples_per_s_total", "au", "au_mlperf", "data_wait_s",
                                                             "startup_extra_s")},
    }).rename(columns={"samples_per_s_total": "samples_per_s"})
    per_run = runs.assign(f1_macro=pd.to_numeric(optional_column(runs, "f1_macro"), errors="coerce"),
                          accuracy=pd.to_numeric(optional_column(runs, "accuracy"), errors="coerce"))
    per_run = per_run.groupby(keys, sort=False, dropna=False).agg(
        runs=("run", "size"), bytes_on_disk=("bytes_on_disk", "median"), convert_s=("convert_s", "median"),
        accuracy=("accuracy", "median"), f1_macro=("f1_macro", "median"))
    table = per_run.join(per_repeat).reset_index()
    return sort_conditions(table)[[*keys, "runs", "repeats", *numeric]].reset_index(drop=True)


def _number(value, spec: str) -> str:
    return "–" if value is None or pd.isna(value) else format(value, spec)


def interval_text(median: float, low: float, high: float, spec: str = ".3g") -> str:
    """``"0.123 [0.120, 0.130]"``: a median and its 95% interval, as the tables print them."""
    return f"{_number(median, spec)} [{_number(low, spec)}, {_number(high, spec)}]"


DISPLAY_LABELS = {"dataset_name": "Dataset", "image_size": "Size (px)", "n_train": "Images", "batch_size": "Batch",
                  "workers": "Workers", "device": "Device", "world_size": "Ranks", "epochs_per_repeat": "Epochs",
                  "workload": "Workload", "cache": "Cache", "format": "Format", "access": "Access"}


# (summary column, displayed label, scale, format spec)
DISPLAY_NUMBERS = (("samples_per_s", "Samples/s", 1, ",.0f"), ("au", "AU, whole epoch (%)", 100, ".0f"),
                   ("au_mlperf", "AU, MLPerf (%)", 100, ".0f"), ("startup_extra_s", "Start-up (s)", 1, ".2g"),
                   ("bytes_on_disk", "Disk (MiB)", 1 / MIB, ".3g"), ("convert_s", "Convert (s)", 1, ".3g"),
                   ("accuracy", "Accuracy (%)", 100, ".2f"), ("f1_macro", "Macro F1 (%)", 100, ".2f"))


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`summary_table` as strings with units, for the Markdown and LaTeX reports."""
    keys = [c for c in table.columns if c in DISPLAY_LABELS]
    shown = table[keys].rename(columns=DISPLAY_LABELS).astype(str)
    shown["Runs"] = table["runs"].astype(str)
    shown["Repeats"] = table["repeats"].astype(str)
    shown["Steady-state epoch time (s), median [95% CI]"] = [
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
        caption="Benchmark summary: median steady-state epoch time with percentile-bootstrap 95\\% interval over "
                "repeats, throughput, accelerator utilisation (whole epoch, and MLPerf's with the first step's I/O "
                "left out), start-up cost, storage cost and model quality.",
        label="tab:format-summary")
