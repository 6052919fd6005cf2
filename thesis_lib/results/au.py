"""Accelerator utilisation against the MLPerf Storage bar (AU >= 90%), per setting and workload
of the emulated runs from RAM: each format/access pair's AU with its 95% interval over repeats,
and whether the whole interval lies above the bar or below it. The findings
(:mod:`.findings`) and the lead findings (:mod:`.lead`) both read it from here.
"""
from __future__ import annotations

import pandas as pd

from ..core.stats import MLPERF_AU_THRESHOLD
from .order import reading_order
from .ranking import Estimate
from .records import emulated_runs, warm_repeats


def au_estimates(runs: pd.DataFrame) -> list[tuple[str, str, str, list[Estimate]]]:
    """Per setting and workload of the emulated runs from RAM: ``(setting, workload, AU's name,
    AU per format/access pair, highest first)``."""
    epochs = warm_repeats(emulated_runs(runs))
    found = []
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
            found.append((setting, workload, name, sorted(au, key=lambda e: -e.median)))
    return found


def reaches_bar(estimate: Estimate) -> bool:
    """The whole AU interval at or above the MLPerf Storage bar."""
    return estimate.floor >= MLPERF_AU_THRESHOLD


def below_bar(estimate: Estimate) -> bool:
    """The whole AU interval below the MLPerf Storage bar."""
    return estimate.ceiling < MLPERF_AU_THRESHOLD
