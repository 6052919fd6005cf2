"""The thesis's headline table: epoch time per format (rows) against dataset × image size ×
training-set size (columns), one table per workload and cache state.

A row is a format with the write and open options that tell it apart (``"zarr (chunk 1024,
zstd)"``) and an access mode, plus batch size, workers, device, ranks or epochs where those vary
within the table. A cell is the median epoch time over every epoch of its runs with the
percentile-bootstrap 95% interval; in each column the fastest cell is bold only where its
interval clears every other cell's there (:func:`thesis_lib.results.ranking.winner`).

>>> tables = headline_tables(runs)
>>> print(to_markdown(tables)); print(to_latex(tables))
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .labels import varying_columns
from .order import ACCESS_ORDER, FORMAT_ORDER, condition_rank, dataset_rank, ordered
from .ranking import Estimate, winner
from .records import epochs_frame
from .tables import interval_text

COLUMN_KEYS = ("dataset_name", "image_size", "n_train")
COLUMN_NAMES = ("Dataset", "Image size", "Training images")
ROW_KEYS = ("format", "access")
# Settings that become row levels when they vary within one table.
ROW_SETTINGS = ("batch_size", "workers", "device", "world_size", "epochs_per_repeat")
ROW_NAMES = {"format": "Format", "access": "Access", "batch_size": "Batch", "workers": "Workers",
             "device": "Device", "world_size": "Ranks", "epochs_per_repeat": "Epochs"}
CAPTION = ("Epoch time (s), {title}: median over all measured epochs with its percentile-bootstrap 95% interval. "
           "Bold: the fastest in its column, where its interval clears every other's; elsewhere the fastest "
           "are not resolved.")
MISSING = "–"


@dataclass
class Headline:
    """One headline table: ``cells`` (text) and ``winners`` (bool) share rows and columns."""
    title: str
    cells: pd.DataFrame
    winners: pd.DataFrame


def headline_estimates(epochs: pd.DataFrame, row_keys: list[str]) -> pd.DataFrame:
    """One row per (row, column) cell: its keys and its :class:`~thesis_lib.results.ranking.Estimate`."""
    cells = [(*key, Estimate.of(str(key[0]), group["wall_s"]))
             for key, group in epochs.groupby([*row_keys, *COLUMN_KEYS], dropna=False)]
    return pd.DataFrame(cells, columns=[*row_keys, *COLUMN_KEYS, "estimate"])


def column_order(cells: pd.DataFrame) -> list[tuple]:
    """Dataset × image size × training-set size in reading order (the thesis's datasets, sizes as numbers)."""
    keys = cells[list(COLUMN_KEYS)].drop_duplicates()
    return sorted(map(tuple, keys.to_numpy()), key=lambda k: (dataset_rank(k[0]), *k[1:]))


def row_order(cells: pd.DataFrame, row_keys: list[str]) -> list[tuple]:
    """Formats and access modes in design order, other settings as numbers."""
    rank = {"format": ordered(cells["format"], FORMAT_ORDER), "access": ordered(cells["access"], ACCESS_ORDER)}
    rows = cells[row_keys].drop_duplicates()
    return sorted(map(tuple, rows.to_numpy()),
                  key=lambda row: tuple(rank[k].index(v) if k in rank else v for k, v in zip(row_keys, row)))


def headline_table(title: str, epochs: pd.DataFrame) -> Headline:
    """The table of one workload and cache state."""
    row_keys = [*ROW_KEYS, *varying_columns(epochs, ROW_SETTINGS)]
    cells = headline_estimates(epochs, row_keys)
    rows = pd.MultiIndex.from_tuples(row_order(cells, row_keys), names=[ROW_NAMES[k] for k in row_keys])
    columns = column_order(cells)
    text = pd.DataFrame(MISSING, index=rows, columns=pd.MultiIndex.from_tuples(
        [(name, f"{int(size)} px", f"{int(n):,}") for name, size, n in columns], names=COLUMN_NAMES))
    winners = pd.DataFrame(False, index=text.index, columns=text.columns)
    for position, key in enumerate(columns):
        in_column = cells[(cells[list(COLUMN_KEYS)] == pd.Series(key, index=COLUMN_KEYS)).all(axis=1)]
        fastest = winner(in_column["estimate"])
        for _, cell in in_column.iterrows():
            row = tuple(cell[k] for k in row_keys)
            estimate = cell["estimate"]
            text.loc[row, text.columns[position]] = interval_text(estimate.median, estimate.low, estimate.high)
            winners.loc[row, text.columns[position]] = estimate is fastest
    return Headline(title, text, winners)


def headline_tables(runs: pd.DataFrame) -> list[Headline]:
    """One :class:`Headline` per workload and cache state: emulated accelerators first, warm before cold."""
    epochs = epochs_frame(runs).dropna(subset=["wall_s"])
    groups = sorted(epochs.groupby(["workload", "cache"]), key=lambda item: condition_rank(*item[0]))
    return [headline_table(f"{workload}, {cache} cache", group) for (workload, cache), group in groups]


def _flat_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Columns ``"CIFAR-10 · 32 px · 10,000 images"``, rows as leading columns: a flat table."""
    flat = table.copy()
    flat.columns = [f"{name} · {size} · {n} images" for name, size, n in table.columns]
    return flat.reset_index()


def markdown_table(headline: Headline) -> str:
    """One table in GitHub Markdown, its resolved winners in bold."""
    shown = headline.cells.mask(headline.winners, "**" + headline.cells + "**")
    return _flat_columns(shown).to_markdown(index=False)


def to_markdown(tables: list[Headline], level: int = 2) -> str:
    """Every table under a heading of ``level``, each with its caption."""
    if not tables:
        return "No benchmark records were found.\n"
    return "\n".join(f"{'#' * level} Epoch time (s): {t.title}\n\n{CAPTION.format(title=t.title)}\n\n"
                     f"{markdown_table(t)}\n" for t in tables)


def styled(headline: Headline) -> pd.io.formats.style.Styler:
    """``headline.cells`` with its resolved winners in bold (CSS, which LaTeX output converts)."""
    return headline.cells.style.apply(lambda _: headline.winners.map(lambda w: "font-weight: bold;" if w else ""),
                                      axis=None)


def latex_table(headline: Headline, label: str) -> str:
    """One table as a LaTeX ``table`` with grouped column headers and its winners bold (the
    preamble needs ``\\usepackage{booktabs,multirow}``)."""
    styler = (styled(headline).format(escape="latex").format_index(escape="latex", axis=0).format_index(escape="latex", axis=1))
    return styler.to_latex(caption=CAPTION.format(title=headline.title).replace("%", r"\%"), label=label,
                           hrules=True, multicol_align="c", multirow_align="t", convert_css=True,
                           position_float="centering", environment="table")


def to_latex(tables: list[Headline]) -> str:
    """Every table, labelled ``tab:headline-1``, ``tab:headline-2``..."""
    if not tables:
        return "% No benchmark records were found.\n"
    return "\n".join(latex_table(t, f"tab:headline-{k}") for k, t in enumerate(tables, 1))


def display_tables(runs: pd.DataFrame) -> list[pd.io.formats.style.Styler]:
    """Each table styled for a notebook, captioned, its resolved winners in bold."""
    return [styled(t).set_caption(CAPTION.format(title=t.title)).set_table_styles(
        [{"selector": "td", "props": "white-space: nowrap;"}]) for t in headline_tables(runs)]
