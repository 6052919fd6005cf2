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
from .lang import Words, catalogue
from .lang.en import WORDS as ENGLISH
from .latex import fit_width
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


def _number(value, spec: str, words: Words | None = None) -> str:
    return "–" if value is None or pd.isna(value) else (words or catalogue()).num(value, spec)


def interval_text(median: float, low: float, high: float, spec: str = ".3g", words: Words | None = None) -> str:
    """``"0.123 [0.120, 0.130]"``: a median and its 95% interval, as the tables print them
    (``"0,123 [0,120; 0,130]"`` in Latvian)."""
    sep = (words or catalogue()).module.LIST_SEP
    return f"{_number(median, spec, words)} [{_number(low, spec, words)}{sep} {_number(high, spec, words)}]"


# The summary's key columns (their English names; other languages: the catalogue's "summary.columns").
KEY_COLUMNS = ("dataset_name", "image_size", "n_train", "batch_size", "workers", "worker_kind", "device", "world_size",
               "epochs_per_repeat", "workload", "cache", "format", "access")
DISPLAY_LABELS = {key: ENGLISH["summary.columns"][key] for key in KEY_COLUMNS}
# Key columns whose values are words (translated); the others are numbers, names or format labels.
WORDED_COLUMNS = ("dataset_name", "workload", "cache")

# (summary column, scale, format spec)
DISPLAY_NUMBERS = (("samples_per_s", 1, ",.0f"), ("au", 100, ".0f"), ("au_mlperf", 100, ".0f"),
                   ("startup_extra_s", 1, ".2g"), ("bytes_on_disk", 1 / MIB, ".3g"), ("convert_s", 1, ".3g"),
                   ("accuracy", 100, ".2f"), ("f1_macro", 100, ".2f"))


def display_table(table: pd.DataFrame, words: Words | None = None) -> pd.DataFrame:
    """:func:`summary_table` as strings with units, for the Markdown and LaTeX reports, in
    ``words``' language (default English)."""
    words = words or catalogue()
    names = words["summary.columns"]
    keys = [c for c in table.columns if c in KEY_COLUMNS]
    shown = table[keys].astype(str)
    for column in (c for c in WORDED_COLUMNS if c in keys):
        shown[column] = [words.label(v) for v in shown[column]]
    shown = shown.rename(columns={key: names[key] for key in keys})
    shown[names["runs"]] = table["runs"].astype(str)
    shown[names["repeats"]] = table["repeats"].astype(str)
    shown[names["epoch_time"]] = [
        interval_text(m, lo, hi, words=words)
        for m, lo, hi in zip(table["epoch_time_s"], table["epoch_time_lo"], table["epoch_time_hi"])]
    for column, scale, spec in DISPLAY_NUMBERS:
        shown[names[column]] = [_number(v * scale if pd.notna(v) else v, spec, words) for v in table[column]]
    return shown


def to_markdown(table: pd.DataFrame, words: Words | None = None) -> str:
    """:func:`summary_table` as a GitHub Markdown table."""
    return display_table(table, words).to_markdown(index=False) + "\n"


def to_latex(table: pd.DataFrame, words: Words | None = None) -> str:
    """:func:`summary_table` as a LaTeX ``table`` (booktabs rules)."""
    words = words or catalogue()
    shown = display_table(table, words)
    text_columns = sum(key in table.columns for key in KEY_COLUMNS)
    return fit_width(shown.to_latex(
        index=False, escape=True, column_format="l" * text_columns + "r" * (len(shown.columns) - text_columns),
        caption=words["summary.caption"], label="tab:format-summary"))
