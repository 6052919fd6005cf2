"""How a run's dataset, format options and settings read in figures, tables and findings.

>>> dataset_name("imagefolder", "../shared/data/cifar10-jpeg.zip")
'CIFAR-10'
>>> dataset_name("hires", None, source="hires-synthetic")
'High-res (synthetic stand-in)'
>>> option_phrase("write_options.chunk_images", 1024), option_phrase("write_options.codec", "zstd")
('chunk 1024', 'zstd')
>>> format_label("zarr", ["chunk 1024", "zstd"], ["chunks read"])
'zarr (chunk 1024, zstd), chunks read'
"""
from __future__ import annotations

import math
import re
from pathlib import PurePath

# Display names in the thesis's reading order; any other name sorts after them.
DATASET_ORDER = ("CIFAR-10", "Tiny ImageNet", "High-res", "High-res (synthetic stand-in)", "synthetic (generated)")
# Source names (the record's ``dataset``, or its ``source_spec.name``) and what they are called.
DATASET_NAMES = {"cifar10": "CIFAR-10", "tiny-imagenet": "Tiny ImageNet", "hires": "High-res",
                 "hires-synthetic": "High-res (synthetic stand-in)", "synthetic": "synthetic (generated)"}
# An ``imagefolder`` root whose file or folder name matches one of these holds that dataset.
ROOT_PATTERNS = ((re.compile(r"cifar-?10(?!\d)", re.I), "CIFAR-10"),
                 (re.compile(r"tiny-?imagenet", re.I), "Tiny ImageNet"))
# The two kinds of format options a record holds (older records: ``fmt_options``, read as write options).
OPTION_KINDS = ("write_options", "open_options")


def dataset_name(dataset: str, root: str | None = None, *, source: str | None = None) -> str:
    """What the thesis calls a run's data: ``CIFAR-10``, ``Tiny ImageNet``, ``High-res``, or
    ``synthetic (generated)`` / ``High-res (synthetic stand-in)`` for generated images;
    ``imagefolder (<root name>)`` for any other image tree. ``source`` is the source's own name
    (``source_spec.name``), which tells the synthetic stand-in of ``hires`` apart."""
    for name in (source, dataset):
        if name in DATASET_NAMES:
            return DATASET_NAMES[name]
    if dataset == "imagefolder" and isinstance(root, str) and root:
        base = PurePath(root).name
        for pattern, name in ROOT_PATTERNS:
            if pattern.search(base):
                return name
        return f"imagefolder ({base})"
    return str(dataset)


def dataset_rank(name: str) -> tuple[int, str]:
    """Sort key: the thesis's datasets in :data:`DATASET_ORDER`, then any other by name."""
    return (DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER), str(name))


def workload_rank(workload: str) -> tuple[int, str]:
    """Sort key: emulated accelerators first (the storage question), then trained models, then loader-only."""
    return (0 if workload.startswith("emulated") else 2 if workload == "loader only" else 1, workload)


def condition_rank(workload: str, cache: str) -> tuple:
    """Sort key of a workload and cache state: :func:`workload_rank`, warm before cold."""
    return (workload_rank(workload), cache != "warm")


def _bytes(value) -> str:
    return f"{value / 2**20:g} MiB" if value >= 2**20 else f"{value:g} B"


# How one option reads: option name -> value -> phrase. Options not listed read "name=value".
OPTION_PHRASES = {
    "chunk_images": lambda v: "contiguous" if v == 0 else f"chunk {v}",
    "shard_images": lambda v: "no shards" if v == 0 else f"shard {v}",
    "codec": lambda v: "uncompressed" if v == "none" else str(v),
    "compression": lambda v: "uncompressed" if v == "none" else str(v),
    "level": lambda v: f"level {v}",
    "compression_level": lambda v: f"level {v}",
    "checksum": lambda v: "checksum" if v else "no checksum",
    "encoding": lambda v: str(v).upper(),
    "quality": lambda v: f"quality {v}",
    "png_level": lambda v: f"PNG level {v}",
    "read_path": str,
    "decoder": lambda v: f"{v} decoder",
    "rdcc_nbytes": lambda v: f"chunk cache {_bytes(v)}",
    "concurrency": lambda v: f"concurrency {v}",
    "block_size": lambda v: f"block {v}",
    "resident": lambda v: "resident" if v else "not resident",
    "use_kvikio": lambda v: "KvikIO" if v else "no KvikIO",
}


def option_phrase(column: str, value) -> str:
    """``write_options.chunk_images`` = 1024 -> ``"chunk 1024"``; an unlisted option -> ``"name=value"``."""
    name = column.rsplit(".", 1)[-1]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    phrase = OPTION_PHRASES.get(name)
    return phrase(value) if phrase else f"{name}={value}"


def format_label(fmt: str, write: list[str], read: list[str]) -> str:
    """``fmt (write phrases), read phrases``: how the bytes were stored, then how they were read."""
    label = f"{fmt} ({', '.join(write)})" if write else str(fmt)
    return ", ".join([label, *read])


def is_missing(value) -> bool:
    """None or NaN (what a column holds where a record lacks the key)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def counted(n, noun: str) -> str:
    """``"1 worker"``, ``"2 workers"``, ``"10,000 images"``."""
    return f"{int(n):,} {noun}{'' if int(n) == 1 else 's'}"


# The parts a setting (and a figure panel) is named by, in reading order: column -> how a value reads.
SETTING_PARTS = {
    "dataset_name": str,
    "image_size": lambda v: f"{int(v)} px",
    "n_train": lambda v: counted(v, "image"),
    "batch_size": lambda v: f"batch {int(v)}",
    "workers": lambda v: counted(v, "worker"),
    "device": lambda v: str(v).upper(),
    "world_size": lambda v: counted(v, "rank"),
    "epochs_per_repeat": lambda v: counted(v, "epoch"),
}


def describe(row, columns) -> str:
    """``row``'s values of ``columns`` as they read (``"CIFAR-10 · 32 px · 10,000 images"``);
    missing values are left out."""
    return " · ".join(SETTING_PARTS.get(c, str)(row[c]) for c in columns if not is_missing(row[c]))
