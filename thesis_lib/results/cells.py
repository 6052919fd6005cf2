"""What a finding compares: one estimate per format and access mode (the median epoch time over
repeats, with its interval), each format at its best access mode, and the words that list them.
"""
from __future__ import annotations

import pandas as pd

from .ranking import Estimate


def count_phrase(n: int, noun: str) -> str:
    """``"the one run"``, ``"all 3 runs"``."""
    return f"the one {noun}" if n == 1 else f"all {n} {noun}s"


def listing(items: list[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


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
