"""Across datasets and sizes: whether the order of formats holds from one dataset and size to the
next, and where it flips (both sides resolved by non-overlapping intervals), with each column's
order. Part of the findings (:mod:`.findings`), by the rules of :mod:`.ranking`.
"""
from __future__ import annotations

import itertools

import pandas as pd

from . import labels
from .labels import DATA_KEYS, SECONDARY_SETTINGS, varying_columns
from .order import condition_rank, reading_order
from .cells import best_access, cell_estimates, listing
from .ranking import Estimate, faster_of, order_text
from .records import repeats_frame

# A cross-dataset comparison compares DATA_KEYS (the headline table's columns) ...
# ... within one workload and cache state, and within the other settings where they vary.
OTHER_SETTINGS = tuple(s for s in SECONDARY_SETTINGS if s != "n_train")


def data_columns(epochs: pd.DataFrame) -> dict[str, list[Estimate]]:
    """Per dataset × image size × training-set size (in reading order): each format at its best access mode."""
    columns = epochs.assign(column=[labels.describe(row, DATA_KEYS) for _, row in epochs.iterrows()])
    return {column: best_access(cell_estimates(columns[columns["column"] == column]))[0]
            for column in reading_order(columns, "column")}


def pair_outcomes(columns: dict[str, list[Estimate]]) -> dict[tuple[str, str], dict[str, str | None]]:
    """For each pair of formats measured together in two or more columns: per column, the label of
    the one that clears the other, or None where they are tied."""
    outcomes: dict[tuple[str, str], dict[str, str | None]] = {}
    for column, estimates in columns.items():
        found = {e.label: e for e in estimates}
        for a, b in itertools.combinations(sorted(found), 2):
            outcomes.setdefault((a, b), {})[column] = faster_of(found[a], found[b])
    return {pair: per_column for pair, per_column in outcomes.items() if len(per_column) >= 2}


def flip_sentence(pair: tuple[str, str], per_column: dict[str, str | None],
                  columns: dict[str, list[Estimate]]) -> str:
    """Where each of the two formats is resolved faster, with both intervals."""
    def where(fmt: str) -> str:
        sides = []
        for column, faster in per_column.items():
            if faster == fmt:
                found = {e.label: e for e in columns[column]}
                sides.append(f"{column} ({' vs '.join(found[f].text() for f in pair)})")
        return "; ".join(sides)
    a, b = pair
    return f"{a} is faster than {b} on {where(a)}, but slower on {where(b)}"


def winner_and_loser(pair_outcome: tuple[tuple[str, str], dict[str, str | None]]) -> tuple[str, str]:
    """``(faster, slower)`` of a pair that one format wins in every column."""
    (a, b), per_column = pair_outcome
    faster = next(iter(per_column.values()))
    return (a, b) if faster == a else (b, a)


def consistency_sentences(context: str, columns: dict[str, list[Estimate]]) -> list[str]:
    """Whether the order of formats holds across the columns, where it flips (both sides resolved
    by non-overlapping intervals), and which pairs the intervals leave unresolved somewhere."""
    outcomes = pair_outcomes(columns)
    flips = {p: o for p, o in outcomes.items() if set(o.values()) >= set(p)}
    steady = {p: o for p, o in outcomes.items() if None not in o.values() and len(set(o.values())) == 1}
    unresolved = {p: o for p, o in outcomes.items() if p not in flips and p not in steady}
    sentences = []
    if flips:
        sentences.append(f"{context}: the order of formats flips. "
                         + " ".join(f"{flip_sentence(p, o, columns)}." for p, o in flips.items()))
    if steady:
        beaten: dict[str, list[str]] = {}
        for faster, slower in map(winner_and_loser, steady.items()):
            beaten.setdefault(faster, []).append(slower)
        holds = "; ".join(f"{faster} than {listing(slower)}" for faster, slower in beaten.items())
        lead = ("apart from that the order holds" if flips else
                f"the order of formats holds across the {len(columns)} datasets and sizes (no two formats swap "
                f"places where their intervals separate)")
        sentences.append(f"{context}: {lead}. Faster in every dataset and size where both were measured: {holds}.")
    if unresolved:
        sentences.append(f"{context}: the order is not resolved (the 95% intervals overlap) for "
                         + "; ".join(f"{a} vs {b}, tied in {sum(v is None for v in o.values())} of {len(o)} datasets "
                                     f"and sizes" for (a, b), o in unresolved.items()) + ".")
    return sentences


def across_columns(runs: pd.DataFrame) -> list[tuple[str, dict[str, list[Estimate]]]]:
    """Per workload, cache state (and other setting that varies), in reading order: its context and
    :func:`data_columns`."""
    epochs = repeats_frame(runs).dropna(subset=["wall_s"])
    group_keys = ["workload", "cache", *varying_columns(epochs, OTHER_SETTINGS)]
    found = []
    for key, group in sorted(epochs.groupby(group_keys, dropna=False), key=lambda item: condition_rank(*item[0][:2])):
        settings = labels.describe(dict(zip(group_keys, key)), group_keys[2:])
        found.append((", ".join([key[0], f"{key[1]} cache", *([settings] if settings else [])]), data_columns(group)))
    return found


def across_dataset_sentences(runs: pd.DataFrame) -> list[str]:
    """Per workload, cache state (and other setting that varies): the order of formats in each
    dataset and size, then whether it holds from one to the next and where it flips."""
    sentences = []
    for context, columns in across_columns(runs):
        orders = [f"{context}, {column}: {order_text(estimates)}." for column, estimates in columns.items()]
        if len(columns) < 2:
            sentences.append(f"{context}: only {next(iter(columns))} was measured, so the order of formats cannot be "
                             f"compared across datasets or sizes.")
            continue
        sentences += consistency_sentences(context, columns) + orders
    return sentences
