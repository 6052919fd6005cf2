"""How a run's dataset, format options and settings read in figures, tables and findings.

>>> dataset_name("imagefolder", "../shared/data/cifar10-jpeg.zip")
'CIFAR-10'
>>> dataset_name("hires", None, source="hires-synthetic")
'High-res (synthetic stand-in)'
>>> option_phrase("write_options.chunk_images", 1024), option_phrase("write_options.codec", "zstd")
('chunk 1024', 'zstd')
>>> format_label("zarr", ["chunk 1024", "zstd"], ["chunks read"])
'zarr (chunk 1024, zstd), chunks read'

The columns :func:`with_labels` adds to a frame of runs (:func:`thesis_lib.results.load_records`
does, once), which the figures and tables share:

``dataset_name``
    what the thesis calls the data (:func:`dataset_name`): ``CIFAR-10`` (also ``imagefolder`` over
    a CIFAR-10 tree or zip), ``Tiny ImageNet``, ``High-res``, and ``synthetic (generated)`` or
    ``High-res (synthetic stand-in)`` for generated images.
``setting``
    ``"<dataset name> · <size> px"``, plus any of training-set size, batch size, workers, device,
    ranks and epochs per repeat that differ between the loaded runs (so runs measured differently
    never share a bar).
``workload``
    the model's name; ``"emulated H100"`` for the emulated accelerator at the rate one H100 consumes
    at that image size; ``"emulated <rate> img/s"`` at any other rate; ``"loader only"`` at rate 0;
    followed by ``", async (k queued)"`` when the host ran ``k = queue_steps`` steps ahead (so
    synchronous and asynchronous runs never share a table, a bar or a finding).
``format``
    the format's name, plus the options that differ between the loaded runs of that format: write
    options in parentheses, then open options (``"zarr (chunk 1024, zstd)"``, ``"hdf5, fancy"``).
    Older records hold ``fmt_options`` only; they are read as ``write_options``.
``block_unit``
    images per contiguous block in ``block`` access (None in other modes).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import PurePath

import pandas as pd

from ..core.stats import h100_demand

MIB = 2**20  # sizes on disk read in MiB
# What the thesis calls its datasets, by source name (the record's ``dataset``, or its
# ``source_spec.name``): an override; any other source reads as its own name (:func:`dataset_label`).
DATASET_NAMES = {"cifar10": "CIFAR-10", "tiny-imagenet": "Tiny ImageNet", "hires": "High-res",
                 "hires-synthetic": "High-res (synthetic stand-in)", "synthetic": "synthetic (generated)"}
# An ``imagefolder`` root whose file or folder name matches one of these holds that dataset.
ROOT_PATTERNS = ((re.compile(r"cifar-?10(?!\d)", re.I), "CIFAR-10"),
                 (re.compile(r"tiny-?imagenet", re.I), "Tiny ImageNet"))
# The two kinds of format options a record holds (older records: ``fmt_options``, read as write options).
OPTION_KINDS = ("write_options", "open_options")


def dataset_label(name: str) -> str:
    """What the thesis calls the source registered as ``name``: its :data:`DATASET_NAMES` entry,
    else its own name."""
    return DATASET_NAMES.get(name, str(name))


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


def _bytes(value) -> str:
    return f"{value / MIB:g} MiB" if value >= MIB else f"{value:g} B"


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
    "chunk_bytes": lambda v: f"chunks of {_bytes(v)}",
    "verify": lambda v: "SHA-256 checked" if v else "SHA-256 not checked",
    "buffer": lambda v: f"buffer {v}",
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


# Settings that split the `setting` label when they differ between the loaded runs.
SECONDARY_SETTINGS = ("n_train", "object_store", "batch_size", "workers", "worker_kind", "device", "world_size",
                      "epochs_per_repeat", "warmup_epochs", "machine")
#: What the data of a result is named by: the headline's columns but the source of the bytes.
DATA_KEYS = ("dataset_name", "image_size", "n_train")
# The parts a setting (and a figure panel) is named by, in reading order: column -> how a value reads.
SETTING_PARTS = {
    "dataset_name": str,
    "image_size": lambda v: f"{int(v)} px",
    "n_train": lambda v: counted(v, "image"),
    "object_store": str,
    "batch_size": lambda v: f"batch {int(v)}",
    "workers": lambda v: counted(v, "worker"),
    "worker_kind": lambda v: f"{v} workers",
    "device": lambda v: str(v).upper(),
    "world_size": lambda v: counted(v, "rank"),
    "epochs_per_repeat": lambda v: counted(v, "epoch"),
    "warmup_epochs": lambda v: counted(v, "warm-up epoch"),
    "machine": str,
}


def describe(row, columns) -> str:
    """``row``'s values of ``columns`` as they read (``"CIFAR-10 · 32 px · 10,000 images"``);
    missing values are left out."""
    return " · ".join(SETTING_PARTS.get(c, str)(row[c]) for c in columns if not is_missing(row[c]))


# --------------------------------------------------------------------------------------------
# The label columns of a frame of runs


def with_labels(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with the ``dataset_name``, ``workload``, ``format``, ``object_store``, ``machine``,
    ``setting`` and ``block_unit`` columns."""
    runs = runs.copy()
    if runs.empty:
        for column in ("dataset_name", "workload", "format", "object_store", "machine", "setting", "block_unit"):
            runs[column] = pd.Series(dtype=object)
        return runs
    sources = optional_column(runs, "source_name").fillna(optional_column(runs, "source_spec.name"))
    runs["dataset_name"] = [dataset_name(d, r, source=s) for d, r, s in
                            zip(runs["dataset"], optional_column(runs, "root"), sources)]
    runs["workload"] = [workload_label(m, r, s, q) for m, r, s, q in
                        zip(runs["model"], optional_column(runs, "emulate_rate"), runs["image_size"],
                            optional_column(runs, "queue_steps"))]
    runs["format"] = format_labels(runs)
    runs["object_store"] = [object_store_label(*values) for values in zip(
        optional_column(runs, "storage"), optional_column(runs, "storage_options.latency_ms"),
        optional_column(runs, "storage_options.concurrency"))]
    runs["machine"] = [machine_label(*values) for values in zip(
        *(optional_column(runs, f"env.{key}") for key in ("cpu", "cores", "ram_gb", "gpu")))]
    runs["setting"] = setting_labels(runs)
    runs["block_unit"] = block_units(runs)
    return runs


def object_store_label(storage, latency_ms, concurrency) -> str | None:
    """``"S3 · 20 ms · 16 requests"`` for a run read over S3 (the link's added latency, requests in
    flight per reader); None for a local run (and records older than ``storage``), so that local
    settings read as they always did."""
    if storage != "s3":
        return None
    return " · ".join(["S3", f"{float(latency_ms):g} ms", counted(concurrency, "request")])


def machine_label(cpu, cores, ram_gb, gpu) -> str:
    """``"AMD EPYC 7B13, 2 cores, 23.5 GB RAM"`` (and the GPU where there is one): the machine a
    record was measured on, so that records pooled from several machines stay apart."""
    parts = [str(cpu) if not is_missing(cpu) else "unknown CPU"]
    parts += [counted(cores, "core")] if not is_missing(cores) else []
    parts += [f"{float(ram_gb):g} GB RAM"] if not is_missing(ram_gb) else []
    parts += [str(gpu)] if not is_missing(gpu) else []
    return ", ".join(parts)


def optional_column(frame: pd.DataFrame, name: str, default=None) -> pd.Series:
    """``frame[name]``, or a column of ``default`` when older records lack it."""
    return frame[name] if name in frame else pd.Series(default, index=frame.index, dtype=object)


def varying_columns(frame: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """Those of ``columns`` that ``frame`` has and that take two or more values in it."""
    return [c for c in columns if c in frame and frame[c].astype(str).nunique() > 1]


def workload_label(model: str, emulate_rate: float | None, image_size: int, queue_steps: int | None = None) -> str:
    """What the accelerator did: a model's name, ``emulated H100``, ``emulated N img/s`` or ``loader
    only``, and ``, async (k queued)`` unless it ran synchronously (records older than
    ``queue_steps`` did)."""
    suffix = "" if is_missing(queue_steps) or not queue_steps else f", async ({int(queue_steps)} queued)"
    if model != "emulate":
        return f"{model}{suffix}"
    if is_missing(emulate_rate) or math.isclose(emulate_rate, h100_demand(int(image_size))[0]):
        return f"emulated H100{suffix}"
    return "loader only" if emulate_rate == 0 else f"emulated {emulate_rate:,.0f} img/s{suffix}"


def format_labels(runs: pd.DataFrame) -> pd.Series:
    """The format's name, plus a phrase for each write option (in parentheses) and open option
    (after a comma) that differs among that format's runs: ``"zarr (chunk 1024, zstd), chunks"``."""
    options = {kind: [c for c in runs.columns if c.startswith(f"{kind}.")] for kind in OPTION_KINDS}
    names = runs["fmt"].astype(str).copy()
    for fmt, group in runs.groupby("fmt"):
        varying = {kind: varying_columns(group, columns) for kind, columns in options.items()}
        for index, row in group.iterrows():
            phrases = {kind: [option_phrase(c, row[c]) for c in columns if not is_missing(row[c])]
                       for kind, columns in varying.items()}
            names[index] = format_label(fmt, phrases["write_options"], phrases["open_options"])
    return names


def setting_labels(runs: pd.DataFrame) -> pd.Series:
    """``"<dataset name> · <size> px"`` plus the secondary settings that differ between the runs."""
    parts = ["dataset_name", "image_size", *varying_columns(runs, SECONDARY_SETTINGS)]
    return pd.Series([describe(row, parts) for _, row in runs.iterrows()], index=runs.index, dtype=object)


def block_units(runs: pd.DataFrame) -> pd.Series:
    """Images per contiguous block in ``block`` access (which fixes that mode's visiting order):
    the record's ``block_size`` when it has one, else the format's chunk or block-size option."""
    def unit(row) -> int | None:
        if row.get("access") != "block":
            return None
        for key in ("block_size", "open_options.block_size", "write_options.chunk_images",
                    "write_options.block_size"):
            value = row.get(key)
            if not is_missing(value) and value:
                return int(min(value, row.get("n_train") or value))
        return None
    return pd.Series([unit(row) for _, row in runs.iterrows()], index=runs.index, dtype=object)
