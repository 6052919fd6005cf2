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
from .cells import format_and_access_effects
from .consistency import across_columns, pair_outcomes
from .labels import counted
from .lang import Words, catalogue
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


def outcome_phrase(families: list[str], words: Words) -> str:
    return (words["family.alone"].format(family=families[0]) if len(families) == 1
            else words["family.tie"].format(families=words.listing(list(families))))


def fastest_family_sentence(dataset: str, found: list[Condition], words: Words | None = None) -> str | None:
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
    words = words or catalogue()
    share = (words["share.one"] if len(compared) == 1
             else words["share.many"].format(n=counts[common_set], total=len(compared)))
    context = words.phrase(compared[example].context.removeprefix(dataset).removeprefix(" · "))
    if len(common) == 1:
        top, runner = estimates
        sentence = words["family.one"].format(
            dataset=words.label(dataset), family=common[0], share=share, context=context, top=top.label,
            top_text=words.estimate(top), runner_text=words.estimate(runner), runner=runner.label)
    else:
        sentence = words["family.tied"].format(
            dataset=words.label(dataset), share=share, families=words.listing(list(common)), context=context,
            listed="; ".join(f"{e.label} {words.estimate(e)}" for e in estimates))
    others = [words["family.in"].format(outcome=outcome_phrase(sorted(families), words), n=n)
              for families, n in counts.items() if families != common_set]
    if others:
        sentence += words["family.elsewhere"].format(others="; ".join(others))
    return sentence


# --------------------------------------------------------------------------------------------
# 2. The largest resolved effect


def resolved(effect: Effect | None) -> bool:
    """Both intervals allow only a ratio above 1: the slow one is resolved slower."""
    return effect is not None and effect.low > 1


def effect_sentence(found: list[Condition], words: Words | None = None) -> str | None:
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
    words = words or catalogue()
    parts = []
    if by_format is not None:
        mode = by_format.where.removesuffix(" access")
        parts.append(words["effect.format"].format(
            context=words.phrase(format_at), slow=by_format.slow.label, ratio=words.effect(by_format),
            fast=by_format.fast.label, where=words["access_mode"].format(mode=mode),
            slow_text=words.estimate(by_format.slow), fast_text=words.estimate(by_format.fast)))
    if by_access is not None:
        parts.append(words["effect.access.alone" if by_format is None else "effect.access.beside"].format(
            slow=by_access.slow.label, fast=by_access.fast.label, where=by_access.where,
            context=words.phrase(access_at), ratio=words.effect(by_access)))
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


def where(column: str, words: Words | None = None) -> str:
    words = words or catalogue()
    return words.phrase(column) if column.startswith("from ") else words["flip.on"].format(column=words.phrase(column))


def flip_sentence(found: list[Condition], runs: pd.DataFrame, words: Words | None = None) -> str | None:
    """The flip whose weaker side is resolved by the widest ratio, with both intervals on each side."""
    flips = []
    compared = comparisons(found, runs)
    for context, columns in compared:
        for pair, per_column in pair_outcomes(columns).items():
            if set(per_column.values()) >= set(pair):
                strength, sides = flip_strength(pair, per_column, columns)
                flips.append((strength, context, pair, sides, columns))
    words = words or catalogue()
    if not flips:
        return words["flip.none"] if compared else None
    _, context, (a, b), sides, columns = max(flips, key=lambda flip: flip[0])

    def side(fmt: str, other: str) -> str:
        at = {e.label: e for e in columns[sides[fmt]]}
        return words["flip.side"].format(where=where(sides[fmt], words), own=words.estimate(at[fmt]),
                                         other=words.estimate(at[other]))
    how = words["flip.once"] if len(flips) == 1 else words["flip.many"].format(n=len(flips))
    return words["flip"].format(how=how, context=words.phrase(context), a=a, b=b, a_side=side(a, b),
                                b_side=side(b, a))


# --------------------------------------------------------------------------------------------
# 4. The MLPerf AU bar


def au_sentence(runs: pd.DataFrame, words: Words | None = None) -> str | None:
    """The pairs whose AU interval lies above 90% in some setting (each at its best), and those
    whose interval lies below it in every setting measured (the closest of them with its interval)."""
    words = words or catalogue()
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
        return words.estimate(e, unit="", spec=".1%")
    reach = [label for label, found in by_label.items() if any(reaches_bar(e) for _, e in found)]
    never = sorted((label for label, found in by_label.items() if all(below_bar(e) for _, e in found)),
                   key=lambda label: -best(label)[1].median)
    if reach:
        listed = "; ".join(words["au.reach.item"].format(
            label=label, n=sum(reaches_bar(e) for _, e in by_label[label]),
            conditions=words.counted(len(by_label[label]), "condition"), best=text(best(label)[1]))
            for label in sorted(reach, key=lambda l: -best(l)[1].median))
        sentence = words["au.reach"].format(name=name, listed=listed)
    else:
        sentence = words["au.none"].format(name=name)
    if never:
        closest, (context, estimate) = never[0], best(never[0])
        sentence += words["au.never"].format(never="; ".join(never), closest=closest, best=text(estimate),
                                             context=words.phrase(context))
    return sentence


# --------------------------------------------------------------------------------------------
# 5. Start-up


def startup_sentence(runs: pd.DataFrame, words: Words | None = None) -> str | None:
    """The largest start-up cost whose interval lies wholly above zero, with where."""
    words = words or catalogue()
    costs = []
    for context, by_workers in startup_groups(runs):
        for workers, subset in by_workers.items():
            cells, ranked = startup_costs(subset)
            costs += [(e, cells[e.label], f"{context}, {counted(workers, 'worker')}") for e in ranked
                      if e.has_interval and e.floor > 0]
    if not costs:
        return None if not startup_groups(runs) else words["startup.lead.none"]
    estimate, group, context = max(costs, key=lambda cost: cost[0].median)
    return words["startup.lead"].format(cost=cost_text(group, estimate.label, words), context=words.phrase(context))


# --------------------------------------------------------------------------------------------
# All of them


def lead_findings(runs: pd.DataFrame, words: Words | None = None) -> list[str]:
    """At most :data:`MAX_LEAD` lead findings, in the order of this module's rules, in ``words``'
    language (default English)."""
    words = words or catalogue()
    if runs.empty:
        return []
    found = conditions(runs)
    datasets = list(dict.fromkeys(c.dataset for c in found))[:MAX_DATASETS]
    sentences = [fastest_family_sentence(d, [c for c in found if c.dataset == d], words) for d in datasets]
    sentences += [effect_sentence(found, words), flip_sentence(found, runs, words), au_sentence(runs, words),
                  startup_sentence(runs, words), lossless_sentence(runs, words)]
    return [s for s in sentences if s][:MAX_LEAD]
