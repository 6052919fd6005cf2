"""What a short run pays: each repeat's start-up apart from its steady state.

A repeat's first epoch is a warm-up (:mod:`thesis_lib.core.protocol`): DataLoader workers start, the
pipeline fills, a warm run's page cache fills. Its *start-up cost* is how much longer that epoch
took than one of the repeat's steady-state epochs (``startup_extra_s``); its *first batch* is the
wait before the first batch arrived (``startup_first_batch_s``). Both are medians over repeats
with bootstrap 95% intervals, like every other figure of the report.

Only runs from RAM are shown: a cold epoch must close every handle on the files for the kernel to
drop their pages, which restarts DataLoader workers before *every* cold epoch, so there the warm-up
and the steady state pay the same start and their difference is not what a short run pays.

>>> tables = startup_tables(runs)          # the headline's layout, start-up cost in the cells
>>> startup_sentences(runs)               # per dataset setting, workload, source and worker count
"""
from __future__ import annotations

import pandas as pd

from . import headline
from .lang import Words, catalogue
from .lang.en import WORDS as ENGLISH
from .labels import DATA_KEYS, counted, describe
from .order import condition_rank, reading_order
from .ranking import Estimate, by_median
from .records import warm_repeats

CAPTION = ENGLISH["startup.caption"]


def startup_tables(runs: pd.DataFrame, words: Words | None = None) -> list[headline.Headline]:
    """One table per workload: start-up cost per format (rows) and dataset × size × source (columns)."""
    return headline.tables_by_workload(warm_repeats(runs), "startup_extra_s", words)


def to_markdown(tables: list[headline.Headline], level: int = 2, words: Words | None = None) -> str:
    return headline.to_markdown(tables, level, words, kind="startup")


def to_latex(tables: list[headline.Headline], words: Words | None = None) -> str:
    return headline.to_latex(tables, label="startup", words=words)


def display_tables(runs: pd.DataFrame, words: Words | None = None) -> list:
    words = words or catalogue()
    return headline.display_styled(startup_tables(runs, words), words["startup.caption"])


def cost_text(group: pd.DataFrame, label: str, words: Words | None = None) -> str:
    """``"npy 0.041 s [0.03, 0.05] (11% of an epoch; first batch 0.08 s)"``, in ``words``' language."""
    words = words or catalogue()
    extra = Estimate.of(label, group["startup_extra_s"])
    steady = group["wall_s"].median()
    first = group["startup_first_batch_s"].median()
    share = (words["startup.share"].format(share=words.num(extra.median / steady, ".0%")) if steady > 0
             else words["startup.unknown"])
    return words["startup.cost"].format(label=label, extra=words.estimate(extra), share=share,
                                        first=words.num(first, ".3g"))


def startup_sentences(runs: pd.DataFrame) -> list[str]:
    """Per dataset × size × training-set size, workload, source of the bytes and worker count:
    every format's start-up cost, cheapest first, each with its interval, its share of a
    steady-state epoch and its first-batch wait; where several worker counts were measured, what
    the workers' start adds."""
    sentences = []
    for context, by_workers in startup_groups(runs):
        for workers, subset in by_workers.items():
            cells, ranked = startup_costs(subset)
            listed = "; ".join(cost_text(cells[e.label], e.label) for e in ranked)
            sentences.append(f"{context}, {counted(workers, 'worker')}: a short run pays for start-up, "
                             f"cheapest first: {listed}.")
        if len(by_workers) > 1:
            sentences.append(worker_sentence(context, by_workers))
    return sentences


def startup_groups(runs: pd.DataFrame) -> list[tuple[str, dict]]:
    """Per dataset × size × training-set size, workload and source of the bytes (in reading order):
    its context and its repeats by worker count."""
    repeats = warm_repeats(runs).dropna(subset=["startup_extra_s"])
    if repeats.empty:
        return []
    repeats = repeats.assign(data=[describe(row, DATA_KEYS) for _, row in repeats.iterrows()])
    found = []
    for data in reading_order(repeats, "data"):
        at_data = repeats[repeats["data"] == data]
        for (workload, cache), group in sorted(at_data.groupby(["workload", "cache"]),
                                               key=lambda item: condition_rank(*item[0])):
            found.append((f"{data}, {workload}, from {headline.READ_FROM.get(cache, cache)}",
                          dict(list(group.groupby("workers")))))
    return found


def startup_costs(repeats: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], list[Estimate]]:
    """The repeats per ``format/access`` label, and each label's start-up cost, cheapest first."""
    cells = {f"{f}/{a}": g for (f, a), g in repeats.groupby(["format", "access"])}
    return cells, by_median(Estimate.of(label, g["startup_extra_s"]) for label, g in cells.items())


def worker_sentence(context: str, by_workers: dict) -> str:
    """What starting workers adds to start-up, per format measured with the fewest and the most workers."""
    fewest, most = min(by_workers), max(by_workers)
    parts = []
    for (fmt, access), few in by_workers[fewest].groupby(["format", "access"]):
        many = by_workers[most][(by_workers[most]["format"] == fmt) & (by_workers[most]["access"] == access)]
        if many.empty:
            continue
        low, high = (Estimate.of(str(w), g["startup_extra_s"]) for w, g in ((fewest, few), (most, many)))
        verdict = (f"costlier with {most}" if low.clears(high) else f"cheaper with {most}" if high.clears(low)
                   else "tied, the intervals overlap")
        parts.append(f"{fmt}/{access} {low.median:.3g} s with {fewest} against {high.median:.3g} s with {most} "
                     f"({verdict})")
    return f"{context}: start-up with {most} workers against {fewest}: {'; '.join(parts)}."
