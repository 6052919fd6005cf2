"""What a finding compares: one estimate per format and access mode (the median epoch time over
repeats, with its interval), each format at its best access mode, and the words that list them.
"""
from __future__ import annotations

import dataclasses

import pandas as pd

from .lang import catalogue
from .ranking import Effect, Estimate, spread, widest


def listing(items: list[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return catalogue().listing(items)


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
