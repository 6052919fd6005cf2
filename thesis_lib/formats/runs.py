"""Runs in sorted indices: where consecutive values keep one step apart, so a run is one read."""
from __future__ import annotations

import numpy as np


def run_bounds(values: np.ndarray, step: int = 1) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]``: the positions of the maximal runs of ``values`` in which each value is
    the one before plus ``step`` (1: consecutive indices; 0: equal values, such as the chunk ids
    of a sorted batch)."""
    if len(values) == 0:
        return []
    breaks = (np.flatnonzero(np.diff(values) != step) + 1).tolist()
    return list(zip([0, *breaks], [*breaks, len(values)]))


def contiguous_runs(sorted_unique: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering strictly increasing indices with maximal runs."""
    return [(int(sorted_unique[lo]), int(sorted_unique[hi - 1]) + 1) for lo, hi in run_bounds(sorted_unique)]
