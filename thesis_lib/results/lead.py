"""Lead findings: the few claims a results chapter opens with, each one or two sentences with its
numbers and 95% intervals, chosen by the rules in docs/design.md ("Lead findings: the rules").

>>> lead_findings(runs)    # at most MAX_LEAD sentences, in the order below

1. Per dataset (the first :data:`MAX_DATASETS` in the thesis's order): the fastest format family,
   named only where its fastest member's interval clears every other family's, else the families
   tied for fastest; in how many of the dataset's conditions that holds, and what the others found.
2. The largest resolved effect: the widest ratio between formats under one access mode whose
   interval bounds stay above 1, and the widest resolved one between access modes beside it.
3. The most striking flip of the order (across datasets and sizes, or from RAM to storage): both
   sides resolved, the largest smaller-side ratio.
4. Which format/access pairs reach the MLPerf AU bar somewhere, and which stay below it everywhere.
5. The largest start-up cost whose interval lies above zero.
6. The lossless check.

Nothing is computed here that the appendix does not compute: the estimates and outcomes come from
:mod:`.ties`, :mod:`.cells`, :mod:`.consistency`, :mod:`.au`, :mod:`.startup` and :mod:`.lossless`.
"""
from __future__ import annotations

from collections import Counter

import pandas as pd

from .au import au_estimates, below_bar, reaches_bar
from .cells import format_and_access_effects, listing
from .consistency import across_columns, pair_outcomes
from .labels import counted
from .lossless import lossless_sentence
from .ranking import Effect, Estimate
from .startup import cost_text, startup_costs, startup_groups
from .ties import Condition, conditions

MAX_LEAD = 8
MAX_DATASETS = 3


def family(label: str) -> str:
    """A format label's format: ``"zarr (chunk 64, zstd), oindex"`` -> ``"zarr"``."""
    return label.split(" (")[0].split(",")[0]


# --------------------------------------------------------------------------------------------
# 1. The fastest format family per dataset


def family_outcome(condition: Condition) -> tuple[tuple[str, ...], list[Estimate]]:
    """The families tied for fastest (one where the fastest format's interval clears every other
    family's), and the estimates that say so: the winner and the best of another family, or every
    format not cleared by the fastest."""
    ranked = condition.formats
    top = ranked[0]
    rivals = [e for e in ranked if family(e.label) != family(top.label)]
    tied = [top, *(e for e in rivals if not top.clears(e))]
    if len(tied) == 1:
        return (family(top.label),), [top, rivals[0]]
    return tuple(dict.fromkeys(family(e.label) for e in tied)), tied


def outcome_phrase(families: list[str]) -> str:
    return f"{families[0]} alone fastest" if len(families) == 1 else f"{listing(list(families))} tied"


def fastest_family_sentence(dataset: str, found: list[Condition]) -> str | None:
    """The most frequent outcome of :func:`family_outcome` over the dataset's conditions with two or
    more families, shown at the first condition (in reading order) where it holds."""
    compared = [c for c in found if len({family(e.label) for e in c.formats}) > 1]
    if not compared:
        return None
    outcomes = [family_outcome(c) for c in compared]
    counts = Counter(frozenset(families) for families, _ in outcomes)
    common_set = max(counts, key=lambda families: counts[families])  # the first seen among equals
    example = next(k for k, (families, _) in enumerate(outcomes) if frozenset(families) == common_set)
    common, estimates = outcomes[example]
    share = "its one condition" if len(compared) == 1 else f"{counts[common_set]} of its {len(compared)} conditions"
    context = compared[example].context.removeprefix(dataset).removeprefix(" · ")
    if len(common) == 1:
        top, runner = estimates
        sentence = (f"{dataset}: {common[0]} is the fastest format family in {share}, its 95% interval clearing "
                    f"every other family's; at {context}, {top.label} takes {top.text()} per epoch against "
                    f"{runner.text()} for the next family's best, {runner.label}.")
    else:
        sentence = (f"{dataset}: no single fastest format family in {share}: {listing(list(common))} tie, their "
                    f"95% intervals overlapping; at {context}: "
                    + "; ".join(f"{e.label} {e.text()}" for e in estimates) + ".")
    others = [f"{outcome_phrase(sorted(families))} in {n}" for families, n in counts.items() if families != common_set]
    if others:
        sentence += f" Elsewhere: {'; '.join(others)}."
    return sentence


# --------------------------------------------------------------------------------------------
# 2. The largest resolved effect


def resolved(effect: Effect | None) -> bool:
    """Both intervals allow only a ratio above 1: the slow one is resolved slower."""
    return effect is not None and effect.low > 1


def effect_sentence(found: list[Condition]) -> str | None:
    """The widest resolved difference between formats (under one access mode), and beside it the
    widest resolved one between access modes (for one format), each with where and both intervals."""
    found_effects = {"format": [], "access": []}
    for condition in found:
        for kind, effect in zip(found_effects, format_and_access_effects(condition.cells)):
            if resolved(effect):
                found_effects[kind].append((effect, condition.context))
    (by_format, format_at), (by_access, access_at) = (
        max(effects, key=lambda item: item[0].ratio, default=(None, "")) for effects in found_effects.values())
    if by_format is None and by_access is None:
        return None
    parts = []
    if by_format is not None:
        parts.append(f"The largest resolved difference between formats: at {format_at}, "
                     f"{by_format.slow.label} takes {by_format.text()} as long as {by_format.fast.label} under "
                     f"{by_format.where} ({by_format.slow.text()} against {by_format.fast.text()}).")
    if by_access is not None:
        parts.append(f"{'Between' if by_format is None else 'Beside it, between'} access modes: "
                     f"{by_access.slow.label} against {by_access.fast.label} access for {by_access.where} at "
                     f"{access_at}, {by_access.text()}.")
    return " ".join(parts)


# --------------------------------------------------------------------------------------------
# 3. The most striking flip


def comparisons(found: list[Condition], runs: pd.DataFrame) -> list[tuple[str, dict[str, list[Estimate]]]]:
    """What the order of formats is compared over: datasets and sizes (:func:`across_columns`),
    and RAM against storage for each setting and workload measured both ways."""
    sides = {"warm": "from RAM", "cold": "from storage"}
    paired: dict[tuple[str, str], dict[str, list[Estimate]]] = {}
    for c in found:
        if c.cache in sides:
            paired.setdefault((c.setting, c.workload), {})[sides[c.cache]] = c.formats
    return [*across_columns(runs), *((f"{setting}, {workload}", columns) for (setting, workload), columns
                                     in paired.items() if len(columns) == 2)]


def flip_strength(pair: tuple[str, str], per_column: dict, columns: dict) -> tuple[float, dict[str, str]]:
    """How far each side of a flip is resolved: the smaller of the two largest ratios, and for each
    format the column where it wins by most."""
    best: dict[str, tuple[float, str]] = {}
    for column, faster in per_column.items():
        if faster is None:
            continue
        found = {e.label: e for e in columns[column]}
        slower = pair[1] if faster == pair[0] else pair[0]
        ratio = found[slower].median / found[faster].median
        if ratio > best.get(faster, (0.0, ""))[0]:
            best[faster] = (ratio, column)
    return min(r for r, _ in best.values()), {fmt: column for fmt, (_, column) in best.items()}


def where(column: str) -> str:
    return column if column.startswith("from ") else f"on {column}"


def flip_sentence(found: list[Condition], runs: pd.DataFrame) -> str | None:
    """The flip whose weaker side is resolved by the widest ratio, with both intervals on each side."""
    flips = []
    compared = comparisons(found, runs)
    for context, columns in compared:
        for pair, per_column in pair_outcomes(columns).items():
            if set(per_column.values()) >= set(pair):
                strength, sides = flip_strength(pair, per_column, columns)
                flips.append((strength, context, pair, sides, columns))
    if not flips:
        return ("The order of formats never flips where the intervals resolve it, across datasets and sizes or "
                "from RAM to storage." if compared else None)
    _, context, (a, b), sides, columns = max(flips, key=lambda flip: flip[0])

    def side(fmt: str, other: str) -> str:
        at = {e.label: e for e in columns[sides[fmt]]}
        return f"{where(sides[fmt])} ({at[fmt].text()} against {at[other].text()})"
    how = ("once where both sides are resolved" if len(flips) == 1 else
           f"in {len(flips)} cases where both sides are resolved; most strikingly")
    return f"The order of formats flips {how} ({context}): {a} is faster than {b} {side(a, b)}, but slower {side(b, a)}."


# --------------------------------------------------------------------------------------------
# 4. The MLPerf AU bar


def au_sentence(runs: pd.DataFrame) -> str | None:
    """The pairs whose AU interval lies above 90% in some setting (each at its best), and those
    whose interval lies below it in every setting measured (the closest of them with its interval)."""
    measured = au_estimates(runs)
    if not measured:
        return None
    by_label: dict[str, list[tuple[str, Estimate]]] = {}
    for setting, workload, _, au in measured:
        for e in au:
            by_label.setdefault(e.label, []).append((f"{setting}, {workload}", e))
    name = "MLPerf AU" if all(n == "MLPerf AU" for _, _, n, _ in measured) else "AU"

    def best(label: str) -> tuple[str, Estimate]:
        return max(by_label[label], key=lambda item: item[1].median)

    def text(e: Estimate) -> str:
        return e.text(unit="", spec=".1%")
    reach = [label for label, found in by_label.items() if any(reaches_bar(e) for _, e in found)]
    never = sorted((label for label, found in by_label.items() if all(below_bar(e) for _, e in found)),
                   key=lambda label: -best(label)[1].median)
    if reach:
        listed = "; ".join(f"{label} in {sum(reaches_bar(e) for _, e in by_label[label])} of "
                           f"{counted(len(by_label[label]), 'condition')} (best {text(best(label)[1])})" for label in sorted(reach, key=lambda l: -best(l)[1].median))
        sentence = f"{name} ≥ 90%, the MLPerf Storage bar, with the whole interval above it: {listed}."
    else:
        sentence = f"No format/access pair reaches {name} ≥ 90%, the MLPerf Storage bar, with its whole interval."
    if never:
        closest, (context, estimate) = never[0], best(never[0])
        sentence += (f" Below it wherever measured: {'; '.join(never)}. The closest of these, {closest}, peaks at "
                     f"{text(estimate)} ({context}).")
    return sentence


# --------------------------------------------------------------------------------------------
# 5. Start-up


def startup_sentence(runs: pd.DataFrame) -> str | None:
    """The largest start-up cost whose interval lies wholly above zero, with where."""
    costs = []
    for context, by_workers in startup_groups(runs):
        for workers, subset in by_workers.items():
            cells, ranked = startup_costs(subset)
            costs += [(e, cells[e.label], f"{context}, {counted(workers, 'worker')}") for e in ranked
                      if e.has_interval and e.floor > 0]
    if not costs:
        return None if not startup_groups(runs) else ("Start-up: no start-up cost is resolved above zero "
                                                      "(every interval reaches 0 s).")
    estimate, group, context = max(costs, key=lambda cost: cost[0].median)
    return (f"Start-up: the largest resolved cost of a short run (the warm-up epoch's time over a steady-state "
            f"epoch's) is {cost_text(group, estimate.label)}, at {context}.")


# --------------------------------------------------------------------------------------------
# All of them


def lead_findings(runs: pd.DataFrame) -> list[str]:
    """At most :data:`MAX_LEAD` lead findings, in the order of this module's rules."""
    if runs.empty:
        return []
    found = conditions(runs)
    datasets = list(dict.fromkeys(c.dataset for c in found))[:MAX_DATASETS]
    sentences = [fastest_family_sentence(d, [c for c in found if c.dataset == d]) for d in datasets]
    sentences += [effect_sentence(found), flip_sentence(found, runs), au_sentence(runs), startup_sentence(runs),
                  lossless_sentence(runs)]
    return [s for s in sentences if s][:MAX_LEAD]
