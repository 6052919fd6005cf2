"""The measurement protocol's arithmetic: which epochs are start-up and which are steady state,
and one summary per repeat, the unit of replication (docs/design.md, Measurement protocol).

A repeat is one loader (its workers persistent) and one model. Its first ``warmup_epochs`` epochs
are start-up: workers start, the pipeline fills, a warm run's page cache fills. The epochs after
them are its steady state. Epochs inside one process are not independent samples, so intervals are
bootstrapped over repeats, each contributing the mean of its steady-state epochs.

>>> summaries = repeat_summaries(record["epochs"])   # one dict per repeat
"""
from __future__ import annotations

import itertools
import math

#: Per-epoch figures a repeat's summary averages over its steady-state epochs.
MEANS = ("wall_s", "data_wait_s", "compute_s", "first_batch_s")


def is_warmup(epoch: dict) -> bool:
    """Whether an epoch was start-up (records from before the protocol had none: all measured)."""
    return bool(epoch.get("warmup", False))


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def steady_summary(measured: list[dict]) -> dict:
    """Means of the steady-state epochs, and rates and utilisations over their summed time."""
    wall = sum(e["wall_s"] for e in measured)
    samples = sum(e.get("samples", 0) for e in measured)
    total = sum((e.get("samples_per_s_total") or e.get("samples_per_s") or 0) * e["wall_s"] for e in measured)
    summary = {key: _mean(e.get(key) for e in measured) for key in MEANS}
    loader_only = any(e.get("au") is None for e in measured)
    compute = sum(e.get("compute_s") or 0.0 for e in measured)
    first = [e.get("first_batch_s") for e in measured]
    return {
        **summary,
        "epochs_measured": len(measured),
        "samples": samples,
        "samples_per_s": _ratio(samples, wall),
        "samples_per_s_total": _ratio(total, wall),
        "au": None if loader_only else _ratio(compute, wall),
        # MLPerf Storage leaves the first step's I/O out of AU
        "au_mlperf": None if loader_only or None in first else _ratio(compute, wall - sum(first)),
        "cold": any(e.get("cold", False) for e in measured),
        "cached_fraction": max((e["cached_fraction"] for e in measured if e.get("cached_fraction") is not None),
                               default=None),
    }


def startup_summary(warmup: list[dict], steady_wall_s: float | None) -> dict:
    """What a repeat paid to start: its warm-up epochs' time, the wait for their first batch, and
    how much longer they took than a steady-state epoch (what a short run pays)."""
    if not warmup:
        return {"startup_s": None, "startup_first_batch_s": None, "startup_extra_s": None}
    wall = sum(e["wall_s"] for e in warmup)
    extra = wall - steady_wall_s * len(warmup) if steady_wall_s is not None else None
    return {"startup_s": wall, "startup_first_batch_s": warmup[0].get("first_batch_s"), "startup_extra_s": extra}


def repeat_summaries(epochs: list[dict]) -> list[dict]:
    """One summary per repeat, in order: :func:`steady_summary` of its measured epochs plus
    :func:`startup_summary` of its warm-up. A repeat with no measured epoch is left out."""
    summaries = []
    for repeat, group in itertools.groupby(sorted(epochs, key=lambda e: e.get("repeat", 0)),
                                           key=lambda e: e.get("repeat", 0)):
        group = list(group)
        measured = [e for e in group if not is_warmup(e) and _finite(e.get("wall_s"))]
        if not measured:
            continue
        steady = steady_summary(measured)
        summaries.append({"repeat": repeat, **steady,
                          **startup_summary([e for e in group if is_warmup(e)], steady["wall_s"])})
    return summaries


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
