"""In what order conditions read, in figures, tables and findings alike: the thesis's datasets in
its order, sizes as numbers, formats and access modes in design order, emulated accelerators
(the storage question) before trained models, warm cache before cold."""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

# Display names (:func:`thesis_lib.results.labels.dataset_name`) in the thesis's reading order;
# any other name sorts after them.
DATASET_ORDER = ("CIFAR-10", "Tiny ImageNet", "High-res", "High-res (synthetic stand-in)", "synthetic (generated)")
FORMAT_ORDER = ("files", "npy", "cupy", "hdf5", "zarr")
ACCESS_ORDER = ("sample", "batch", "block", "resident")


def dataset_rank(name: str) -> tuple[int, str]:
    """Sort key: the thesis's datasets in :data:`DATASET_ORDER`, then any other by name."""
    return (DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER), str(name))


def workload_rank(workload: str) -> tuple[int, str]:
    """Sort key: emulated accelerators first (the storage question), then trained models, then loader-only."""
    return (0 if workload.startswith("emulated") else 2 if workload == "loader only" else 1, workload)


def condition_rank(workload: str, cache: str) -> tuple:
    """Sort key of a workload and cache state: :func:`workload_rank`, warm before cold."""
    return (workload_rank(workload), cache != "warm")


def ordered(values: Iterable[str], preferred: Iterable[str]) -> list[str]:
    """Distinct ``values``: those whose base name (before any " (") is in ``preferred`` first,
    in that order, then the rest sorted."""
    distinct = sorted(set(values))
    rank = {name: i for i, name in enumerate(preferred)}
    return sorted(distinct, key=lambda v: (rank.get(str(v).split(" (")[0], len(rank)), str(v)))


def reading_order(data: pd.DataFrame, column: str) -> list:
    """Distinct values of ``column``, ordered by dataset (the thesis's order), image size and
    training-set size (as numbers) where known."""
    keys = [c for c in ("image_size", "n_train") if c in data] + [column]
    if "dataset_name" in data:
        data = data.assign(_dataset=[dataset_rank(n) for n in data["dataset_name"]])
        keys = ["_dataset", *keys]
    return list(dict.fromkeys(data.sort_values(keys)[column]))


def per_dataset(runs: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``(dataset name, its runs)`` for each dataset in ``runs``, in the thesis's order."""
    names = sorted(runs["dataset_name"].dropna().unique(), key=dataset_rank) if "dataset_name" in runs else []
    return [(name, runs[runs["dataset_name"] == name]) for name in names]


def sort_conditions(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in reading order: dataset (the thesis's order), size, training-set size, workload,
    cache, then format and access in design order."""
    rank = {"dataset_name": sorted(frame["dataset_name"].unique(), key=dataset_rank),
            "format": ordered(frame["format"], FORMAT_ORDER), "access": ordered(frame["access"], ACCESS_ORDER)}
    by = [c for c in ("dataset_name", "image_size", "n_train", "workload", "cache", "format", "access") if c in frame]
    return frame.sort_values(by, key=lambda s: s.map({v: i for i, v in enumerate(rank[s.name])})
                             if s.name in rank else s)
