"""In what order conditions read, in figures, tables and findings alike: the thesis's datasets in
its order, sizes as numbers, formats and access modes in design order, emulated accelerators
(the storage question) before trained models, warm cache before cold.

The names come from the registries (:func:`thesis_lib.formats.names`, :data:`thesis_lib.loading.MODES`,
:func:`thesis_lib.sources.names`), so a format, mode or dataset registered there reads here too;
:data:`DATASET_ORDER` only overrides the order of the datasets it names.
"""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .. import formats, sources
from ..core.registry import in_order
from .labels import dataset_label

# The thesis's reading order of its datasets, by source name (``hires-synthetic`` is the generated
# stand-in of ``hires``, as its spec names it); datasets it leaves out read after them, in the
# registry's order, and any other name after those.
DATASET_ORDER = ("cifar10", "tiny-imagenet", "hires", "hires-synthetic", "synthetic")


def dataset_order() -> list[str]:
    """Display names (:func:`thesis_lib.results.labels.dataset_label`) of the registered datasets
    in reading order: :data:`DATASET_ORDER` first."""
    return [dataset_label(name) for name in in_order(sources.names(), DATASET_ORDER)]


def format_order() -> list[str]:
    """The registered formats in the registry's order, the thesis's."""
    return formats.names()


def access_order() -> list[str]:
    """The registered access modes in the registry's order, the design's."""
    from ..loading import MODES  # deferred: the modes import torch, which reading records never needs

    return list(MODES)


def dataset_rank(name: str) -> tuple[int, str]:
    """Sort key of a display name: the datasets in :func:`dataset_order`, then any other by name."""
    order = dataset_order()
    return (order.index(name) if name in order else len(order), str(name))


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
            "format": ordered(frame["format"], format_order()),
            "access": ordered(frame["access"], access_order())}
    by = [c for c in ("dataset_name", "image_size", "n_train", "workload", "cache", "format", "access") if c in frame]
    return frame.sort_values(by, key=lambda s: s.map({v: i for i, v in enumerate(rank[s.name])})
                             if s.name in rank else s)
