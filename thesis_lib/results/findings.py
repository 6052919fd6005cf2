"""Findings in words, generated from the records, each only as strong as its 95% intervals allow.

>>> sections = findings_by_section(runs)   # {"CIFAR-10": [...], ..., ACROSS: [...]}
>>> print(findings_markdown(runs))

Per dataset, for each setting (image size, training-set size, ...), workload and cache state:
which format is fastest, named only where its interval clears every other format's (otherwise
the formats tied with it, each with its interval), the order of all formats, and whether the
format or the access mode mattered more (only where the bounds of the two effects separate);
then which format/access pairs keep an emulated accelerator at the MLPerf Storage bar, and
whether lossless formats trained identical models. Across datasets and sizes: whether the order
of formats holds from one to the next, and where it flips. The rules are :mod:`thesis_lib.results.ranking`'s.
"""
from __future__ import annotations

import dataclasses
import itertools

import pandas as pd

from ..stats import MLPERF_AU_THRESHOLD
from . import labels
from .labels import DATA_KEYS, SECONDARY_SETTINGS, varying_columns
from .lossless import disagreeing, lossless_comparisons
from .order import condition_rank, per_dataset, reading_order
from .ranking import Effect, Estimate, by_median, faster_of, leaders, order_text, spread, widest, winner
from .records import emulated_runs, repeats_frame, warm_repeats
from .startup import startup_sentences

ACROSS = "Across datasets and sizes"
# A cross-dataset comparison compares DATA_KEYS (the headline table's columns) ...
# ... within one workload and cache state, and within the other settings where they vary.
OTHER_SETTINGS = tuple(s for s in SECONDARY_SETTINGS if s != "n_train")
HOW_TO_READ = ("Epoch times are steady state: each repeat's warm-up epoch (start-up) is left out, and the figure "
               "is the median over repeats of each repeat's mean steady-state epoch, with a percentile-bootstrap "
               "95% interval [low, high] over repeats. A format is named faster only where its interval lies wholly "
               "below the other's; overlapping intervals are ties. An order lists the fastest first, `<` where the "
               "intervals separate and `≈` where they do not. AU ≥ 90% (the MLPerf Storage bar) is judged on "
               "MLPerf's AU (the first step's I/O left out) and counts only where the whole interval is above 90%. "
               "Start-up, what a short run pays, has a section of its own.")
STARTUP = "What a short run pays: start-up"


def _count(n: int, noun: str) -> str:
    return f"the one {noun}" if n == 1 else f"all {n} {noun}s"


def _listing(items: list[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


# --------------------------------------------------------------------------------------------
# Formats and access modes within one setting


def cell_estimates(epochs: pd.DataFrame) -> dict[tuple[str, str], Estimate]:
    """Epoch time per (format, access), labelled by the format."""
    return {(fmt, access): Estimate.of(fmt, group["wall_s"])
            for (fmt, access), group in epochs.groupby(["format", "access"])}


def best_access(cells: dict[tuple[str, str], Estimate]) -> tuple[list[Estimate], dict[str, str]]:
    """Each format at its fastest access mode (by median), and which mode that was."""
    best: dict[str, tuple[str, Estimate]] = {}
    for (fmt, access), estimate in cells.items():
        if fmt not in best or estimate.median < best[fmt][1].median:
            best[fmt] = (access, estimate)
    return [e for _, e in best.values()], {fmt: access for fmt, (access, _) in best.items()}


def fastest_format_sentence(context: str, cells: dict[tuple[str, str], Estimate]) -> str:
    """The fastest format, where its interval clears every other format's; else the formats tied
    for fastest, each with its interval. Then the order of all formats."""
    best, mode = best_access(cells)
    ranked = by_median(best)
    first = ranked[0]
    if len(ranked) == 1:
        return f"{context}: only {first.label} was measured ({first.text()} per epoch, {mode[first.label]} access)."
    order = f" Order: {order_text(ranked)}."
    top = winner(ranked)
    if top is not None:
        runner = ranked[1]
        return (f"{context}: {top.label} is the fastest format, {top.text()} per epoch with {mode[top.label]} "
                f"access; its 95% interval clears every other format's. The next, {runner.label}, takes "
                f"{runner.text()} ({runner.median / top.median:.2f}× as long).{order}")
    tied = [f"{e.label} ({e.text()}, {mode[e.label]} access)" for e in leaders(ranked)]
    return (f"{context}: no single fastest format: {_listing(tied)} are tied for fastest, their 95% intervals "
            f"overlapping.{order}")


def format_and_access_effects(cells: dict[tuple[str, str], Estimate]) -> tuple[Effect | None, Effect | None]:
    """The widest difference between formats under one access mode, and between access modes for
    one format (each the slowest against the fastest by median), or None where nothing varies."""
    formats = sorted({f for f, _ in cells})
    modes = sorted({a for _, a in cells})
    by_format = [spread([dataclasses.replace(e, label=f) for (f, a), e in cells.items() if a == mode],
                        f"{mode} access") for mode in modes]
    by_access = [spread([dataclasses.replace(e, label=a) for (f, a), e in cells.items() if f == fmt], fmt)
                 for fmt in formats]
    return widest(e for e in by_format if e), widest(e for e in by_access if e)


def access_versus_format_sentences(context: str, cells: dict[tuple[str, str], Estimate]) -> list[str]:
    """Whether the format or the access mode mattered more, said only where the bounds that the
    95% intervals put on the two effects do not overlap."""
    by_format, by_access = format_and_access_effects(cells)
    if by_access is None:
        return []
    access = (f"{by_access.slow.label} against {by_access.fast.label} access for {by_access.where}: "
              f"{by_access.text()}")
    if by_format is None:
        resolved = "resolved" if by_access.low > 1 else "not resolved, the 95% intervals overlap"
        return [f"{context}: the access mode changes epoch time {access}; {resolved}."]
    fmt = f"{by_format.slow.label} against {by_format.fast.label} under {by_format.where}: {by_format.text()}"
    if by_format.exceeds(by_access):
        verdict = "the format mattered more than the access mode"
    elif by_access.exceeds(by_format):
        verdict = "the access mode mattered more than the format"
    else:
        return [f"{context}: neither the format nor the access mode clearly mattered more: formats differ up to "
                f"{fmt}; access modes up to {access}. The bounds overlap."]
    return [f"{context}: {verdict}, with the bounds from the 95% intervals apart: formats differ up to {fmt}; "
            f"access modes up to {access}."]


def au_sentences(runs: pd.DataFrame, context_of) -> list[str]:
    """Which format/access pairs keep the emulated accelerator at or above 90% utilisation (the
    whole 95% interval above the bar), which stay below it, and which the interval cannot place."""
    epochs = warm_repeats(emulated_runs(runs))
    sentences = []
    for setting in reading_order(epochs, "setting"):
        at_setting = epochs[epochs["setting"] == setting]
        for workload, group in at_setting.groupby("workload"):
            # MLPerf's AU (the first step's I/O left out) where the records have it; records from
            # before the protocol (a setting of their own) have only the whole epoch's
            key, name = ("au_mlperf", "MLPerf AU") if group["au_mlperf"].notna().all() else ("au", "AU")
            group = group.dropna(subset=[key])
            if group.empty:
                continue
            au = [Estimate.of(f"{f}/{a}", g[key]) for (f, a), g in group.groupby(["format", "access"])]
            au = sorted(au, key=lambda e: -e.median)
            parts = {"above": [e for e in au if e.floor >= MLPERF_AU_THRESHOLD],
                     "below": [e for e in au if e.ceiling < MLPERF_AU_THRESHOLD]}
            parts["undecided"] = [e for e in au if e not in parts["above"] and e not in parts["below"]]
            listed = {k: ", ".join(f"{e.label} ({e.text(unit='', spec='.1%')})" for e in v) for k, v in parts.items()}
            sentence = (f"{context_of(setting)}, {workload}: {name} ≥ 90% with "
                        f"{listed['above'] or 'no format/access pair'}")
            sentence += f"; below 90%: {listed['below']}" if listed["below"] else ""
            sentence += f"; interval spanning 90%: {listed['undecided']}" if listed["undecided"] else ""
            sentences.append(sentence + ".")
    return sentences


def lossless_sentence(runs: pd.DataFrame) -> str | None:
    """Whether lossless formats trained identical models, or None when nothing was comparable."""
    comparisons = lossless_comparisons(runs)
    if comparisons.empty:
        return None
    disagree = disagreeing(comparisons)
    if disagree.empty:
        return (f"Lossless formats trained identical models: accuracy and macro F1 agree in "
                f"{_count(len(comparisons), 'comparable training configuration')}.")
    where = "; ".join(f"{', '.join(r.formats)} at {r.dataset_name} · {r.image_size} px, {r.model}, {r.access} "
                      f"access (accuracy {100 * r.accuracy_min:.2f}–{100 * r.accuracy_max:.2f}%, "
                      f"macro F1 {100 * r.f1_min:.2f}–{100 * r.f1_max:.2f}%)"
                      for r in disagree.itertuples())
    return (f"WARNING: lossless formats disagree in {len(disagree)} of {len(comparisons)} comparable training "
            f"configurations: {where}. Identical bytes should train identically.")


def ram_versus_storage_sentences(context: str, warm: pd.DataFrame, cold: pd.DataFrame) -> list[str]:
    """Whether the order of formats read from RAM (warm page cache) holds when they read from
    storage (evicted before every epoch): each pair that swaps places, both sides resolved by
    their intervals, with its medians; and how many pairs are resolved on one side only."""
    ram, disk = "from RAM", "from storage"
    columns = {ram: best_access(cell_estimates(warm))[0], disk: best_access(cell_estimates(cold))[0]}
    outcomes = pair_outcomes(columns)
    if not outcomes:
        return []
    found = {side: {e.label: e for e in estimates} for side, estimates in columns.items()}

    def swap(pair: tuple[str, str], per_side: dict) -> str:
        first, second = per_side[ram], per_side[disk]
        return (f"{first} before {second} from RAM ({found[ram][first].median:.3g} against "
                f"{found[ram][second].median:.3g} s), {second} before {first} from storage "
                f"({found[disk][second].median:.3g} against {found[disk][first].median:.3g} s)")

    swaps = [swap(pair, o) for pair, o in outcomes.items() if set(o.values()) >= set(pair)]
    one_sided = sum((o[ram] is None) != (o[disk] is None) for o in outcomes.values())
    tail = (f" {one_sided} of {len(outcomes)} pairs are resolved on one side only (tied, their intervals "
            f"overlapping, on the other)." if one_sided else "")
    if swaps:
        return [f"{context}: reading from storage changes the order of formats (both sides resolved by their "
                f"95% intervals): {'; '.join(swaps)}. From storage: {order_text(columns[disk])}.{tail}"]
    return [f"{context}: the order of formats read from RAM holds when they read from storage (no two formats swap "
            f"places where their intervals separate). From storage: {order_text(columns[disk])}.{tail}"]


def dataset_findings(runs: pd.DataFrame, name: str) -> list[str]:
    """The findings of one dataset's runs; contexts leave out the dataset's ``name``."""
    def context_of(setting: str) -> str:
        return setting.removeprefix(name).removeprefix(" · ") or name

    epochs = repeats_frame(runs).dropna(subset=["wall_s"])
    sentences = []
    for setting in reading_order(epochs, "setting"):
        at_setting = epochs[epochs["setting"] == setting].groupby(["workload", "cache"])
        for (workload, cache), group in sorted(at_setting, key=lambda item: condition_rank(*item[0])):
            context = f"{context_of(setting)}, {workload}, {cache} cache"
            cells = cell_estimates(group)
            sentences += [fastest_format_sentence(context, cells), *access_versus_format_sentences(context, cells)]
        for workload, group in sorted(epochs[epochs["setting"] == setting].groupby("workload"),
                                      key=lambda item: condition_rank(item[0], "warm")):
            if {"warm", "cold"} <= set(group["cache"]):
                sentences += ram_versus_storage_sentences(f"{context_of(setting)}, {workload}", group[group["cache"] == "warm"],
                                                          group[group["cache"] == "cold"])
    lossless = lossless_sentence(runs)
    return sentences + au_sentences(runs, context_of) + ([lossless] if lossless else [])


# --------------------------------------------------------------------------------------------
# Across datasets and sizes


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
        holds = "; ".join(f"{faster} than {_listing(slower)}" for faster, slower in beaten.items())
        lead = ("apart from that the order holds" if flips else
                f"the order of formats holds across the {len(columns)} datasets and sizes (no two formats swap "
                f"places where their intervals separate)")
        sentences.append(f"{context}: {lead}. Faster in every dataset and size where both were measured: {holds}.")
    if unresolved:
        sentences.append(f"{context}: the order is not resolved (the 95% intervals overlap) for "
                         + "; ".join(f"{a} vs {b}, tied in {sum(v is None for v in o.values())} of {len(o)} datasets "
                                     f"and sizes" for (a, b), o in unresolved.items()) + ".")
    return sentences


def across_dataset_sentences(runs: pd.DataFrame) -> list[str]:
    """Per workload, cache state (and other setting that varies): the order of formats in each
    dataset and size, then whether it holds from one to the next and where it flips."""
    epochs = repeats_frame(runs).dropna(subset=["wall_s"])
    group_keys = ["workload", "cache", *varying_columns(epochs, OTHER_SETTINGS)]
    sentences = []
    for key, group in sorted(epochs.groupby(group_keys), key=lambda item: condition_rank(*item[0][:2])):
        settings = labels.describe(dict(zip(group_keys, key)), group_keys[2:])
        context = ", ".join([key[0], f"{key[1]} cache", *([settings] if settings else [])])
        columns = data_columns(group)
        orders = [f"{context}, {column}: {order_text(estimates)}." for column, estimates in columns.items()]
        if len(columns) < 2:
            sentences.append(f"{context}: only {next(iter(columns))} was measured, so the order of formats cannot be "
                             f"compared across datasets or sizes.")
            continue
        sentences += consistency_sentences(context, columns) + orders
    return sentences


# --------------------------------------------------------------------------------------------
# All of it


def findings_by_section(runs: pd.DataFrame) -> dict[str, list[str]]:
    """Findings per dataset (by display name, in the thesis's order), then :data:`ACROSS`."""
    if runs.empty:
        return {"No records": ["No benchmark records were found."]}
    sections = {name: dataset_findings(subset, name) for name, subset in per_dataset(runs)}
    sections[ACROSS] = across_dataset_sentences(runs)
    if startup := startup_sentences(runs):
        sections[STARTUP] = startup
    return sections


def findings_markdown(runs: pd.DataFrame, level: int = 3) -> str:
    """:func:`findings_by_section` as Markdown: how to read them, then a heading of ``level`` per
    section and a bullet per finding."""
    return f"{HOW_TO_READ}\n\n" + "\n".join(f"{'#' * level} {section}\n\n" + "".join(f"- {s}\n" for s in sentences)
                                              for section, sentences in findings_by_section(runs).items())
