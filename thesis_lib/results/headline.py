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

from .lang import Words, catalogue
from .lang.en import WORDS as ENGLISH
from .labels import varying_columns
from .latex import fit_width
from .order import access_order, dataset_rank, format_order, ordered, workload_rank
from .ranking import Estimate, winner
from .records import repeats_frame
from .tables import interval_text

COLUMN_KEYS = ("dataset_name", "image_size", "n_train", "cache")
COLUMN_NAMES = ENGLISH["headline.columns"]
CACHE_STATES = ("warm", "cold", "cold-unavailable")
#: How a run's cache state reads as a column: where its bytes came from (English; other languages: :func:`read_from`).
READ_FROM = {state: ENGLISH[f"read_from.{state}"] for state in CACHE_STATES}
ROW_KEYS = ("format", "access")
# Settings that become row levels when they vary within one table.
ROW_SETTINGS = ("batch_size", "workers", "worker_kind", "device", "world_size", "epochs_per_repeat", "warmup_epochs",
                "machine")
ROW_NAMES = ENGLISH["rows"]
CAPTION = ENGLISH["headline.caption"]
MISSING = "–"


def read_from(cache: str, words: Words) -> str:
    """Where a cache state's bytes came from, in ``words``' language (an unknown state reads as itself)."""
    return words[f"read_from.{cache}"] if cache in CACHE_STATES else str(cache)


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


def headline_table(title: str, units: pd.DataFrame, value: str = "wall_s", words: Words | None = None) -> Headline:
    """The table of one workload: ``value`` (a column of ``units``) per row and column, its headers
    and numbers in ``words``' language (default English)."""
    words = words or catalogue()
    row_keys = [*ROW_KEYS, *varying_columns(units, ROW_SETTINGS)]
    cells = headline_estimates(units, row_keys, value)
    rows = pd.MultiIndex.from_tuples(row_order(cells, row_keys), names=[words["rows"][k] for k in row_keys])
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
            texts[i][j] = interval_text(estimate.median, estimate.low, estimate.high, words=words)
            bold[i][j] = estimate is fastest
    header = pd.MultiIndex.from_tuples(
        [(words.label(name), f"{int(size)} px", words.num(int(n), ",d"), read_from(cache, words))
         for name, size, n, cache in columns],
        names=words["headline.columns"])
    text = pd.DataFrame(texts, index=rows, columns=header)
    winners = pd.DataFrame(bold, index=rows, columns=header)
    return Headline(title, text, winners)


def tables_by_workload(units: pd.DataFrame, value: str, words: Words | None = None) -> list[Headline]:
    """One :class:`Headline` of ``value`` per workload, emulated accelerators first."""
    words = words or catalogue()
    units = units.dropna(subset=[value])
    groups = sorted(units.groupby("workload"), key=lambda item: workload_rank(item[0]))
    return [headline_table(words.label(workload), group, value, words) for workload, group in groups]


def headline_tables(runs: pd.DataFrame, words: Words | None = None) -> list[Headline]:
    """One :class:`Headline` of steady-state epoch times per workload, from RAM beside from storage."""
    return tables_by_workload(repeats_frame(runs), "wall_s", words)


def _flat_columns(table: pd.DataFrame, words: Words) -> pd.DataFrame:
    """Columns ``"CIFAR-10 · 32 px · 10,000 images · from RAM (page cache)"``, rows as leading
    columns: a flat table."""
    flat = table.copy()
    flat.columns = [words["flat_column"].format(name=name, size=size, n=n, source=source)
                    for name, size, n, source in table.columns]
    return flat.reset_index()


def markdown_table(headline: Headline, words: Words | None = None) -> str:
    """One table in GitHub Markdown, its resolved winners in bold."""
    shown = headline.cells.mask(headline.winners, "**" + headline.cells + "**")
    return _flat_columns(shown, words or catalogue()).to_markdown(index=False)


def to_markdown(tables: list[Headline], level: int = 2, words: Words | None = None, kind: str = "headline") -> str:
    """Every table under a heading of ``level``, each with its caption (``kind``: the catalogue's
    ``headline`` or ``startup`` words)."""
    words = words or catalogue()
    if not tables:
        return words[f"{kind}.none"] + "\n"
    heading, caption = words[f"{kind}.heading"], words[f"{kind}.caption"]
    return "\n".join(f"{'#' * level} {heading}: {t.title}\n\n{caption.format(title=t.title)}\n\n"
                     f"{markdown_table(t, words)}\n" for t in tables)


def styled(headline: Headline) -> pd.io.formats.style.Styler:
    """``headline.cells`` with its resolved winners in bold (CSS, which LaTeX output converts)."""
    return headline.cells.style.apply(lambda _: headline.winners.map(lambda w: "font-weight: bold;" if w else ""),
                                      axis=None)


# A LaTeX table shows at most this many columns of cells (each "0.338 [0.333, 0.344]"): a table
# with more is split into parts across the page, so none is shrunk past reading.
LATEX_COLUMNS = 2


def latex_table(headline: Headline, label: str, caption: str = CAPTION) -> str:
    """One table as a LaTeX ``table`` with grouped column headers and its winners bold, shrunk to
    the line's width where wider (the preamble needs ``\\usepackage{booktabs,multirow,graphicx}``)."""
    styler = (styled(headline).format(escape="latex").format_index(escape="latex", axis=0).format_index(escape="latex", axis=1))
    return fit_width(styler.to_latex(caption=caption.format(title=headline.title).replace("%", r"\%"), label=label,
                                     hrules=True, multicol_align="c", multirow_align="t", convert_css=True,
                                     position_float="centering", environment="table"))


def column_parts(headline: Headline, width: int = LATEX_COLUMNS) -> list[Headline]:
    """``headline`` in parts of at most ``width`` columns each, titled ``"<title> (1/3)"`` and so on
    (one part, as it is, where it fits); a row with no cell in a part is left out of it."""
    count = len(headline.cells.columns)
    if count <= width:
        return [headline]
    parts = []
    for k, start in enumerate(range(0, count, width), 1):
        cells, winners = headline.cells.iloc[:, start:start + width], headline.winners.iloc[:, start:start + width]
        kept = (cells != MISSING).any(axis=1)
        parts.append(Headline(f"{headline.title} ({k}/{-(-count // width)})", cells[kept], winners[kept]))
    return parts


def to_latex(tables: list[Headline], label: str = "headline", words: Words | None = None) -> str:
    """Every table, labelled ``tab:<label>-1``, ``tab:<label>-2``... (``label``: the catalogue's
    ``headline`` or ``startup`` words); a table wider than :data:`LATEX_COLUMNS` in parts labelled
    ``tab:<label>-1-1``, ``tab:<label>-1-2``..."""
    words = words or catalogue()
    if not tables:
        return f"% {words[f'{label}.none']}\n"
    caption = words[f"{label}.caption"]
    return "\n".join(latex_table(part, f"tab:{label}-{k}" + (f"-{j}" if len(parts) > 1 else ""), caption)
                     for k, parts in enumerate(map(column_parts, tables), 1) for j, part in enumerate(parts, 1))


def display_styled(tables: list[Headline], caption: str = CAPTION) -> list[pd.io.formats.style.Styler]:
    """Each table styled for a notebook, captioned, its resolved winners in bold."""
    return [styled(t).set_caption(caption.format(title=t.title)).set_table_styles(
        [{"selector": "td", "props": "white-space: nowrap;"}]) for t in tables]


def display_tables(runs: pd.DataFrame, words: Words | None = None) -> list[pd.io.formats.style.Styler]:
    """The headline tables styled for a notebook (:func:`display_styled`), in ``words``' language."""
    words = words or catalogue()
    return display_styled(headline_tables(runs, words), words["headline.caption"])
