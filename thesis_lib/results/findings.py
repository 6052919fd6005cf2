"""Findings in words, generated from the records, each only as strong as its 95% intervals allow.

>>> sections = findings_by_section(runs)   # {"CIFAR-10": [...], ..., ACROSS: [...]}
>>> print(findings_markdown(runs))         # the lead findings (:mod:`.lead`), then all of these as an appendix

Per dataset, for each setting (image size, training-set size, ...), workload and cache state:
which format is fastest, named only where its interval clears every other format's (otherwise
the formats tied with it, each with its interval), the order of all formats, and whether the
format or the access mode mattered more (only where the bounds of the two effects separate);
then which format/access pairs keep an emulated accelerator at the MLPerf Storage bar, and
whether lossless formats trained identical models. Across datasets and sizes: whether the order
of formats holds from one to the next, and where it flips. The rules are :mod:`thesis_lib.results.ranking`'s.
"""
from __future__ import annotations

import pandas as pd

from . import lead
from .au import au_estimates, below_bar, reaches_bar
from .cells import best_access, cell_estimates, format_and_access_effects, listing
from .consistency import across_dataset_sentences, pair_outcomes
from .lang import Words, catalogue
from .lossless import lossless_sentence
from .object_store import object_store_sentences
from .order import condition_rank, per_dataset, reading_order
from .ranking import Estimate, by_median, leaders, order_text, winner
from .records import repeats_frame
from .startup import startup_sentences

ACROSS = "Across datasets and sizes"
HOW_TO_READ = ("Epoch times are steady state: each repeat's warm-up epoch (start-up) is left out, and the figure "
               "is the median over repeats of each repeat's mean steady-state epoch, with a percentile-bootstrap "
               "95% interval [low, high] over repeats. A format is named faster only where its interval lies wholly "
               "below the other's; overlapping intervals are ties. An order lists the fastest first, `<` where the "
               "intervals separate and `≈` where they do not. AU ≥ 90% (the MLPerf Storage bar) is judged on "
               "MLPerf's AU (the first step's I/O left out) and counts only where the whole interval is above 90%. "
               "Start-up, what a short run pays, has a section of its own.")
STARTUP = "What a short run pays: start-up"
OBJECT_STORE = "Data on an object store (S3)"
LEAD_NOTE = ("Times are steady-state epochs, the median over repeats with its 95% interval [low, high]; a format "
             "is named faster only where its interval clears the other's. These findings are chosen by the rules "
             "in docs/design.md (\"Lead findings: the rules\"); every finding follows in the appendix, and the tie "
             "matrices (report/ties.md) show every pair of formats in every condition.")
APPENDIX = "Appendix: every finding"


# --------------------------------------------------------------------------------------------
# Formats and access modes within one setting


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
    return (f"{context}: no single fastest format: {listing(tied)} are tied for fastest, their 95% intervals "
            f"overlapping.{order}")


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
    sentences = []
    for setting, workload, name, au in au_estimates(runs):
        parts = {"above": [e for e in au if reaches_bar(e)], "below": [e for e in au if below_bar(e)]}
        parts["undecided"] = [e for e in au if e not in parts["above"] and e not in parts["below"]]
        listed = {k: ", ".join(f"{e.label} ({e.text(unit='', spec='.1%')})" for e in v) for k, v in parts.items()}
        sentence = (f"{context_of(setting)}, {workload}: {name} ≥ 90% with "
                    f"{listed['above'] or 'no format/access pair'}")
        sentence += f"; below 90%: {listed['below']}" if listed["below"] else ""
        sentence += f"; interval spanning 90%: {listed['undecided']}" if listed["undecided"] else ""
        sentences.append(sentence + ".")
    return sentences


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
# All of it


def findings_by_section(runs: pd.DataFrame) -> dict[str, list[str]]:
    """Findings per dataset (by display name, in the thesis's order), then :data:`ACROSS`."""
    if runs.empty:
        return {"No records": ["No benchmark records were found."]}
    sections = {name: dataset_findings(subset, name) for name, subset in per_dataset(runs)}
    sections[ACROSS] = across_dataset_sentences(runs)
    if startup := startup_sentences(runs):
        sections[STARTUP] = startup
    if over_s3 := object_store_sentences(runs):
        sections[OBJECT_STORE] = over_s3
    return sections


def sections_markdown(runs: pd.DataFrame, level: int = 3) -> str:
    """:func:`findings_by_section` as Markdown: how to read them, then a heading of ``level`` per
    section and a bullet per finding."""
    return f"{HOW_TO_READ}\n\n" + "\n".join(f"{'#' * level} {section}\n\n" + "".join(f"- {s}\n" for s in sentences)
                                              for section, sentences in findings_by_section(runs).items())


def lead_markdown(runs: pd.DataFrame, level: int = 3, words: Words | None = None) -> str:
    """The lead findings (:func:`thesis_lib.results.lead.lead_findings`) under a heading of ``level``,
    in ``words``' language (default English; the note on how they were chosen stays English)."""
    words = words or catalogue()
    sentences = lead.lead_findings(runs, words) or [words["headline.none"]]
    return f"{'#' * level} {words['lead.heading']}\n\n" + "".join(f"- {s}\n" for s in sentences) + f"\n{LEAD_NOTE}\n"


def findings_markdown(runs: pd.DataFrame, level: int = 3, words: Words | None = None) -> str:
    """The lead findings (:func:`lead_markdown`), then every finding (:func:`sections_markdown`,
    one level down) under the heading :data:`APPENDIX`."""
    return (lead_markdown(runs, level, words) + f"\n{'#' * level} {APPENDIX}\n\n" + sections_markdown(runs, level + 1))
