"""The thesis's headline table: steady-state epoch time per format (rows) against dataset × image
size × training-set size × where the data was read from (columns), one table per workload.

A row is a format with the write and open options that tell it apart (``"zarr (chunk 1024,
zstd)"``) and an access mode, plus batch size, workers, device, ranks, epochs or machine where
those vary within the table. The innermost column level puts *from RAM* (warm page cache) beside
*from storage* (cold: evicted before every epoch). A cell is the median over repeats of each
repeat's steady-state epoch time (:func:`~thesis_lib.results.records.repeats_frame`), with the
percentile-bootstrap 95% interval; in each column the fastest cell is bold only where its interval
clears every other cell's there (:func:`thesis_lib.results.ranking.winner`). The same layout,
over another value, gives the start-up table (:mod:`.startup`).

>>> tables = headline_tables(runs)
>>> print(to_markdown(tables)); print(to_latex(tables))
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .labels import varying_columns
from .order import access_order, dataset_rank, format_order, ordered, workload_rank
from .ranking import Estimate, winner
from .records import repeats_frame
from .tables import interval_text

COLUMN_KEYS = ("dataset_name", "image_size", "n_train", "cache")
COLUMN_NAMES = ("Dataset", "Image size", "Training images", "Read from")
#: How a run's cache state reads as a column: where its bytes came from.
READ_FROM = {"warm": "RAM (page cache)", "cold": "storage (evicted)",
             "cold-unavailable": "RAM (eviction failed)"}
ROW_KEYS = ("format", "access")
# Settings that become row levels when they vary within one table.
ROW_SETTINGS = ("batch_size", "workers", "device", "world_size", "epochs_per_repeat", "warmup_epochs", "machine")
ROW_NAMES = {"format": "Format", "access": "Access", "batch_size": "Batch", "workers": "Workers",
             "device": "Device", "world_size": "Ranks", "epochs_per_repeat": "Epochs",
             "warmup_epochs": "Warm-up epochs", "machine": "Machine"}
CAPTION = ("Steady-state epoch time (s), {title}: the median over repeats of each repeat's steady-state epochs "
           "(its warm-up epoch left out), with the percentile-bootstrap 95% interval over repeats. Bold: the "
           "fastest in its column, where its interval clears every other's; elsewhere the fastest are not resolved.")
MISSING = "–"


@dataclass
class Headline:
    """One headline table: ``cells`` (text) and ``winners`` (bool) share rows and columns."""
    title: str
    cells: pd.DataFrame
    winners: pd.DataFrame


def headline_estimates(units: pd.DataFrame, row_keys: list[str], value: str = "wall_s") -> pd.DataFrame:
    """One row per (row, column) cell: its keys and its :class:`~thesis_lib.results.ranking.Estimate` of ``value``."""
    cells = [(*key, Estimate.of(str(key[0]), group[value]))
             for key, group in units.groupby([*row_keys, *COLUMN_KEYS], dropna=False)]
    return pd.DataFrame(cells, columns=[*row_keys, *COLUMN_KEYS, "estimate"])


def column_order(cells: pd.DataFrame) -> list[tuple]:
    """Dataset × image size × training-set size in reading order (the thesis's datasets, sizes as
    numbers), from RAM before from storage."""
    keys = cells[list(COLUMN_KEYS)].drop_duplicates()
    cache_rank = {state: k for k, state in enumerate(READ_FROM)}
    return sorted(map(tuple, keys.to_numpy()),
                  key=lambda k: (dataset_rank(k[0]), *k[1:3], cache_rank.get(k[3], len(cache_rank)), str(k[3])))


def row_order(cells: pd.DataFrame, row_keys: list[str]) -> list[tuple]:
    """Formats and access modes in design order, other settings as numbers."""
    rank = {"format": ordered(cells["format"], format_order()), "access": ordered(cells["access"], access_order())}
    rows = cells[row_keys].drop_duplicates()
    return sorted(map(tuple, rows.to_numpy()),
                  key=lambda row: tuple(rank[k].index(v) if k in rank else v for k, v in zip(row_keys, row)))


def headline_table(title: str, units: pd.DataFrame, value: str = "wall_s") -> Headline:
    """The table of one workload: ``value`` (a column of ``units``) per row and column."""
    row_keys = [*ROW_KEYS, *varying_columns(units, ROW_SETTINGS)]
    cells = headline_estimates(units, row_keys, value)
    rows = pd.MultiIndex.from_tuples(row_order(cells, row_keys), names=[ROW_NAMES[k] for k in row_keys])
    columns = column_order(cells)
    # Cells gathered into plain lists, then framed once: .loc writes into a MultiIndex frame, one
    # per cell, warn (lexsort depth) on the thesis grid and are slow.
    position = {row: k for k, row in enumerate(rows)}
    texts = [[MISSING] * len(columns) for _ in rows]
    bold = [[False] * len(columns) for _ in rows]
    for j, key in enumerate(columns):
        in_column = cells[(cells[list(COLUMN_KEYS)] == pd.Series(key, index=COLUMN_KEYS)).all(axis=1)]
        fastest = winner(in_column["estimate"])
        for _, cell in in_column.iterrows():
            i, estimate = position[tuple(cell[k] for k in row_keys)], cell["estimate"]
            texts[i][j] = interval_text(estimate.median, estimate.low, estimate.high)
            bold[i][j] = estimate is fastest
    header = pd.MultiIndex.from_tuples(
        [(name, f"{int(size)} px", f"{int(n):,}", READ_FROM.get(cache, cache)) for name, size, n, cache in columns],
        names=COLUMN_NAMES)
    text = pd.DataFrame(texts, index=rows, columns=header)
    winners = pd.DataFrame(bold, index=rows, columns=header)
    return Headline(title, text, winners)


def tables_by_workload(units: pd.DataFrame, value: str) -> list[Headline]:
    """One :class:`Headline` of ``value`` per workload, emulated accelerators first."""
    units = units.dropna(subset=[value])
    groups = sorted(units.groupby("workload"), key=lambda item: workload_rank(item[0]))
    return [headline_table(workload, group, value) for workload, group in groups]


def headline_tables(runs: pd.DataFrame) -> list[Headline]:
    """One :class:`Headline` of steady-state epoch times per workload, from RAM beside from storage."""
    return tables_by_workload(repeats_frame(runs), "wall_s")


def _flat_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Columns ``"CIFAR-10 · 32 px · 10,000 images · from RAM (page cache)"``, rows as leading
    columns: a flat table."""
    flat = table.copy()
    flat.columns = [f"{name} · {size} · {n} images · from {source}" for name, size, n, source in table.columns]
    return flat.reset_index()


def markdown_table(headline: Headline) -> str:
    """One table in GitHub Markdown, its resolved winners in bold."""
    shown = headline.cells.mask(headline.winners, "**" + headline.cells + "**")
    return _flat_columns(shown).to_markdown(index=False)


def to_markdown(tables: list[Headline], level: int = 2, heading: str = "Steady-state epoch time (s)",
                caption: str = CAPTION) -> str:
    """Every table under a heading of ``level``, each with its caption."""
    if not tables:
        return "No benchmark records were found.\n"
    return "\n".join(f"{'#' * level} {heading}: {t.title}\n\n{caption.format(title=t.title)}\n\n"
                     f"{markdown_table(t)}\n" for t in tables)


def styled(headline: Headline) -> pd.io.formats.style.Styler:
    """``headline.cells`` with its resolved winners in bold (CSS, which LaTeX output converts)."""
    return headline.cells.style.apply(lambda _: headline.winners.map(lambda w: "font-weight: bold;" if w else ""),
                                      axis=None)


def latex_table(headline: Headline, label: str, caption: str = CAPTION) -> str:
    """One table as a LaTeX ``table`` with grouped column headers and its winners bold (the
    preamble needs ``\\usepackage{booktabs,multirow}``)."""
    styler = (styled(headline).format(escape="latex").format_index(escape="latex", axis=0).format_index(escape="latex", axis=1))
    return styler.to_latex(caption=caption.format(title=headline.title).replace("%", r"\%"), label=label,
                           hrules=True, multicol_align="c", multirow_align="t", convert_css=True,
                           position_float="centering", environment="table")


def to_latex(tables: list[Headline], label: str = "headline", caption: str = CAPTION) -> str:
    """Every table, labelled ``tab:<label>-1``, ``tab:<label>-2``..."""
    if not tables:
        return "% No benchmark records were found.\n"
    return "\n".join(latex_table(t, f"tab:{label}-{k}", caption) for k, t in enumerate(tables, 1))


def display_styled(tables: list[Headline], caption: str = CAPTION) -> list[pd.io.formats.style.Styler]:
    """Each table styled for a notebook, captioned, its resolved winners in bold."""
    return [styled(t).set_caption(caption.format(title=t.title)).set_table_styles(
        [{"selector": "td", "props": "white-space: nowrap;"}]) for t in tables]


def display_tables(runs: pd.DataFrame) -> list[pd.io.formats.style.Styler]:
    """The headline tables styled for a notebook (:func:`display_styled`)."""
    return display_styled(headline_tables(runs))
