"""Benchmark records in, the thesis's figures, tables and findings out.

>>> runs = load_records("data/results")          # one row per run (records)
>>> repeats = repeats_frame(runs)                # one row per repeat, its steady state and start-up (records)
>>> epochs = epochs_frame(runs)                  # one row per epoch as measured, warm-up included (records)
>>> epoch_time_figure(runs)                      # seaborn figures, one function each (figures)
>>> lossless_verdict(runs)                       # lossless formats must train identically (lossless)
>>> summary_table(runs)                          # one row per condition, medians with 95% intervals (tables)
>>> headline.headline_tables(runs)               # epoch time per format × dataset × size (headline)
>>> findings.findings_markdown(runs)             # what the records say, in words (findings)

Medians and their 95% intervals always come from :func:`thesis_lib.core.stats.median_ci` (percentile
bootstrap) over repeats, each repeat contributing the mean of its steady-state epochs (epochs inside
one process are not independent samples), in the figures, the tables and the findings alike.

The modules, each with one job, in the order they build on each other:

- :mod:`.labels`: how a run's dataset, format options, settings and workload read; the label
  columns every frame of runs carries.
- :mod:`.order`: the order conditions read in (datasets, sizes, formats, access modes, workloads).
- :mod:`.records`: folders of JSON records into a frame of runs, and the frames of their repeats and epochs.
- :mod:`.plotting`: what every figure shares (panels, wrapped titles, grids of median bars).
- :mod:`.figures`: the thesis's figures, and the one bench.ipynb draws for its own run.
- :mod:`.tables`: the summary table, as a frame, Markdown and LaTeX.
- :mod:`.lossless`: whether lossless formats trained identical models.
- :mod:`.ranking`: which condition is faster, said only as far as the intervals allow.
- :mod:`.headline`: the headline table of epoch times.
- :mod:`.au`: accelerator utilisation against the MLPerf Storage bar.
- :mod:`.ties`: per condition, every pair of formats as `<`, `≈` or `>` (the tie matrices).
- :mod:`.findings`: the findings in words.
- :mod:`.lead`: the few lead findings the findings open with, chosen by written rules.
- :mod:`.lang`: the report's languages, one catalogue module each (English, Latvian): the tables'
  words, the lead findings' templates, how numbers are written.
- :mod:`.chapter`: ``rezultati.tex``, the results as a LaTeX fragment for the thesis.

The names below are this package's public face; the helpers behind them live in their modules.
:mod:`.headline`, :mod:`.findings`, :mod:`.lead` and :mod:`.ties` are used through their modules (``results.headline.to_markdown``
is the headline's, ``results.to_markdown`` the summary's).
"""
from . import findings, headline, labels, lead, lossless, order, ranking, records, tables, ties
from .figures import (FIGURES, accuracy_figure, au_figure, cold_warm_figure, epoch_figure, epoch_time_figure,
                      figures_per_dataset, storage_figure, throughput_figure)
from .labels import SECONDARY_SETTINGS, varying_columns, with_labels
from .lossless import check_lossless_agreement, lossless_comparisons, lossless_verdict
from .order import access_order, dataset_order, format_order, ordered, per_dataset, reading_order
from .plotting import EMPTY_FIGURE
from .records import (RECORD_KEYS, emulated_runs, epochs_frame, load_records, read_record, records_frame,
                      repeats_frame, warm_repeats)
from .tables import display_table, interval_text, summary_table, to_latex, to_markdown

__all__ = [
    "findings", "headline", "labels", "lead", "lossless", "order", "ranking", "records", "tables", "ties",
    "EMPTY_FIGURE", "FIGURES", "accuracy_figure", "au_figure", "cold_warm_figure", "epoch_figure", "epoch_time_figure",
    "figures_per_dataset", "storage_figure", "throughput_figure",
    "SECONDARY_SETTINGS", "varying_columns", "with_labels",
    "check_lossless_agreement", "lossless_comparisons", "lossless_verdict",
    "access_order", "dataset_order", "format_order", "ordered", "per_dataset", "reading_order",
    "RECORD_KEYS", "emulated_runs", "epochs_frame", "load_records", "read_record", "records_frame", "repeats_frame",
    "warm_repeats",
    "display_table", "interval_text", "summary_table", "to_latex", "to_markdown",
]
