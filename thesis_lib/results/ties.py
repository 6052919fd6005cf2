"""Tie matrices: per condition (dataset setting × workload × cache state), every format against
every other, `<` where the row's epoch time is resolved shorter than the column's (its 95% interval
lies wholly below), `>` where longer, `≈` where the intervals overlap. Each format at its best
access mode, as in the findings; the rules are :mod:`thesis_lib.results.ranking`'s.

>>> for condition in conditions(runs):
...     tie_matrix(condition.formats)        # a frame of "<", "≈", ">" ("–" on the diagonal)
>>> print(to_markdown(runs))                 # report/ties.md
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .cells import best_access, cell_estimates
from .order import condition_rank, per_dataset, reading_order
from .ranking import Estimate, by_median, faster_of
from .records import repeats_frame

DIAGONAL = "–"
NOTE = ("Row against column, each format at its fastest access mode: `<` the row's steady-state epoch time is "
        "resolved shorter (its 95% interval lies wholly below the column's), `>` resolved longer, `≈` tied (the "
        "intervals overlap). Rows fastest first, by median; the columns are numbered as the rows.")


@dataclass(frozen=True)
class Condition:
    """One dataset setting, workload and cache state: epoch time per (format, access)."""
    dataset: str
    setting: str
    workload: str
    cache: str
    cells: dict[tuple[str, str], Estimate]

    @property
    def context(self) -> str:
        return f"{self.setting}, {self.workload}, {self.cache} cache"

    @property
    def formats(self) -> list[Estimate]:
        """Each format at its best access mode, fastest first by median."""
        return by_median(best_access(self.cells)[0])

    @property
    def access(self) -> dict[str, str]:
        """Each format's best access mode."""
        return best_access(self.cells)[1]


def conditions(runs: pd.DataFrame) -> list[Condition]:
    """Every condition of ``runs`` in reading order: dataset, setting, then emulated before trained
    workloads, warm before cold."""
    epochs = repeats_frame(runs).dropna(subset=["wall_s"])
    found = []
    for name, at_dataset in per_dataset(epochs):
        for setting in reading_order(at_dataset, "setting"):
            groups = at_dataset[at_dataset["setting"] == setting].groupby(["workload", "cache"])
            for (workload, cache), group in sorted(groups, key=lambda item: condition_rank(*item[0])):
                found.append(Condition(name, setting, workload, cache, cell_estimates(group)))
    return found


def symbol(row: Estimate, column: Estimate) -> str:
    """``<`` where ``row`` clears ``column``, ``>`` the other way round, ``≈`` where they are tied."""
    faster = faster_of(row, column)
    return "≈" if faster is None else "<" if faster == row.label else ">"


def tie_matrix(estimates: list[Estimate]) -> pd.DataFrame:
    """Formats × formats (labels, in the order given) of :func:`symbol`, :data:`DIAGONAL` on the diagonal."""
    return pd.DataFrame([[DIAGONAL if a is b else symbol(a, b) for b in estimates] for a in estimates],
                        index=[e.label for e in estimates], columns=[e.label for e in estimates])


def matrix_markdown(estimates: list[Estimate], access: dict[str, str]) -> str:
    """The matrix as a Markdown table: a numbered row per format with its access mode and epoch
    time, columns by number."""
    matrix = tie_matrix(estimates)
    header = ["#", "Format", "Access", "Epoch time (s) [95% CI]", *map(str, range(1, len(estimates) + 1))]
    rows = [[str(k), e.label, access[e.label], e.text(unit=""), *matrix.iloc[k - 1]]
            for k, e in enumerate(estimates, start=1)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, ["---"] * len(header), *rows]) + "\n"


def to_markdown(runs: pd.DataFrame, level: int = 2) -> str:
    """A heading of ``level`` per dataset, one of ``level + 1`` per condition with its matrix; a
    condition with one format says so instead."""
    found = conditions(runs)
    if not found:
        return "No benchmark records were found.\n"
    parts = [NOTE + "\n"]
    for dataset in dict.fromkeys(c.dataset for c in found):
        parts.append(f"{'#' * level} {dataset}\n")
        for condition in (c for c in found if c.dataset == dataset):
            estimates = condition.formats
            context = condition.context.removeprefix(dataset).removeprefix(" · ") or condition.context
            body = (matrix_markdown(estimates, condition.access) if len(estimates) > 1 else
                    f"Only {estimates[0].label} was measured: nothing to compare.\n")
            parts.append(f"{'#' * (level + 1)} {context}\n\n{body}")
    return "\n".join(parts)
