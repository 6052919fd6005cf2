"""A machine's profile: the measured primitives the loader model is built from, one JSON document.

Every primitive is a median with its 95% interval, under a dotted name from :data:`FIELDS`; a
primitive this machine could not measure (no eviction, no GPU) is listed under ``unmeasured``
with the reason, never given a number. The profile is checked once, when it is made, then frozen.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..core.errors import ThesisLabError
from ..core.record import write_json

SCHEMA = 2  # 2: a request's cost per MiB and per image; the handover in CPU time, main and added
IMAGE_SIZES = (32, 64, 128, 256)  # px: decode costs are measured at each, interpolated between
DECODERS = ("png", "jpeg", "zlib", "zstd", "blosc-lz4", "blosc-zstd", "lz4")
READ_PATHS = ("memmap", "zarr-python-oindex", "zarr-python-chunks", "tensorstore", "h5py-chunk", "raw-chunk")
CHUNK_PATHS = READ_PATHS[1:]  # the paths that read a chunk whole and take images out of it
WORKER_KINDS = ("process", "thread", "ring")
ACCESS_MODES = ("sample", "batch", "block", "resident", "stream")

#: Every primitive: its unit, and what it is.
FIELDS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "memory.gather_gbps": ("GB/s", "rows of 12 KiB gathered at random from an array in RAM into a reused buffer"),
    "memory.index_gbps": ("GB/s", "rows of 12 KiB taken at random from an array in RAM by indexing, a fresh array"),
    "page_cache.read_gbps": ("GB/s", "a warm file read in 1 MiB preads"),
    "file.read_us": ("us", "one small file of a warm folder opened, read whole and closed, as the files format does"),
    "storage.seq_mbps": ("MB/s", "a cold file read in order, 1 MiB at a time (the storage check)"),
    "storage.latency_4k_us": ("us", "one 4 KiB random read of a cold file, queue depth 1"),
    "storage.iops_4k": ("1/s", "4 KiB random reads a second, queue depth 1"),
    **{f"decode.{codec}.{px}": ("us", f"decoding one {px}x{px}x3 image stored as {codec}")
       for codec in DECODERS for px in IMAGE_SIZES},
    **{f"request.{path}.fixed_us": ("us", f"one read request through {path}, bytes apart")
       for path in READ_PATHS},
    "request.memmap.us_per_mib": ("us", "each MiB of rows gathered from a warm memory map into a reused buffer"),
    **{f"request.{path}.us_per_mib": ("us", f"each MiB of the chunk one request through {path} reads whole")
       for path in CHUNK_PATHS},
    **{f"request.{path}.call_us": ("us", f"each call to {path} beyond the chunks or rows it reads (one image a "
                                   f"call, against a batch's worth in one)") for path in READ_PATHS},
    **{f"request.{path}.us_per_image": ("us", f"each image more that one request through {path} takes out of "
                                       f"its chunk") for path in CHUNK_PATHS},
    **{f"workers.startup_s.{kind}": ("s", f"a DataLoader's {kind} workers started, to their first batch")
       for kind in WORKER_KINDS},
    **{f"handover.{kind}.fixed_us": ("us", f"the main process's CPU per batch taken over from {kind} workers, "
                                     f"bytes apart") for kind in WORKER_KINDS},
    **{f"handover.{kind}.us_per_mib": ("us", f"the main process's CPU per MiB of a batch from {kind} workers")
       for kind in WORKER_KINDS},
    **{f"handover.{kind}.cpu_fixed_us": ("us", f"the CPU per batch that {kind} workers add over all processes, "
                                         f"bytes apart") for kind in WORKER_KINDS},
    **{f"handover.{kind}.cpu_us_per_mib": ("us", f"the CPU per MiB of a batch that {kind} workers add over all "
                                           f"processes") for kind in WORKER_KINDS},
    **{f"handover.{kind}.busy_share": ("share", f"the share of the usable cores' time that {kind} workers (2) and the "
                                       f"main process keep busy over an in-RAM read") for kind in WORKER_KINDS},
    **{f"python.{mode}_us_per_batch": ("us", f"the access mode {mode}'s own Python per batch of 512, bytes apart")
       for mode in ACCESS_MODES},
    **{f"python.{mode}_us_per_mib": ("us", f"what the access mode {mode} adds per MiB of a batch beyond the read "
                                     f"(its copies)") for mode in ACCESS_MODES},
})


class ProfileError(ThesisLabError):
    """A profile that is not whole: a primitive missing, negative, NaN, or unknown (named)."""


@dataclass(frozen=True)
class Stat:
    """A median and its 95% interval; ``source`` says where a figure not measured here comes from."""
    median: float
    low: float
    high: float
    source: str | None = None

    def to_dict(self) -> dict:
        return {"median": self.median, "low": self.low, "high": self.high,
                **({"source": self.source} if self.source else {})}


@dataclass(frozen=True)
class Profile:
    """``machine`` describes where it was measured; ``values`` maps every measured field of
    :data:`FIELDS` to its :class:`Stat`; ``unmeasured`` maps the others to the reason."""
    machine: Mapping[str, object]
    values: Mapping[str, Stat]
    unmeasured: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        for name in self.values:
            if name not in FIELDS:
                raise ProfileError(f"profile: unknown primitive {name!r}")
        for name, reason in self.unmeasured.items():
            if name not in FIELDS:
                raise ProfileError(f"profile: unknown primitive {name!r} in unmeasured")
            if name in self.values:
                raise ProfileError(f"profile: {name} is both measured and unmeasured")
            if not isinstance(reason, str) or not reason.strip():
                raise ProfileError(f"profile: unmeasured {name} needs a reason in words")
        missing = [name for name in FIELDS if name not in self.values and name not in self.unmeasured]
        if missing:
            raise ProfileError(f"profile: {len(missing)} primitive(s) missing, first {missing[0]} "
                               f"({FIELDS[missing[0]][1]}); list each under unmeasured with its reason if it "
                               f"cannot be measured")
        object.__setattr__(self, "machine", MappingProxyType(dict(self.machine)))
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        object.__setattr__(self, "unmeasured", MappingProxyType(dict(self.unmeasured)))

    def __getitem__(self, name: str) -> float:
        """The median of ``name``; KeyError with the reason when it was not measured."""
        if name in self.values:
            return self.values[name].median
        if name in self.unmeasured:
            raise KeyError(f"{name} unmeasured: {self.unmeasured[name]}")
        raise KeyError(f"{name} is not a primitive")

    def has(self, name: str) -> bool:
        return name in self.values

    @classmethod
    def from_dict(cls, doc: object, where: str = "profile") -> "Profile":
        if not isinstance(doc, dict):
            raise ProfileError(f"{where}: a profile is a JSON object, got {type(doc).__name__}")
        if doc.get("schema") != SCHEMA:
            raise ProfileError(f"{where}: schema must be {SCHEMA}, got {doc.get('schema')!r}")
        for key, kind in (("machine", dict), ("primitives", dict), ("unmeasured", dict)):
            if not isinstance(doc.get(key, {}), kind):
                raise ProfileError(f"{where}: {key} must be a JSON object")
        values = {name: _stat(name, raw, where) for name, raw in doc.get("primitives", {}).items()}
        try:
            return cls(doc.get("machine", {}), values, doc.get("unmeasured", {}))
        except ProfileError as exc:
            raise ProfileError(str(exc).replace("profile:", f"{where}:", 1)) from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Profile":
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except FileNotFoundError:
            raise ProfileError(f"profile {os.fspath(path)} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProfileError(f"profile {os.fspath(path)} is not JSON: {exc}") from None
        return cls.from_dict(doc, where=f"profile {os.fspath(path)}")

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "machine": dict(self.machine),
                "primitives": {name: self.values[name].to_dict() for name in FIELDS if name in self.values},
                "unmeasured": {name: self.unmeasured[name] for name in FIELDS if name in self.unmeasured}}

    def save(self, path: str | os.PathLike) -> None:
        write_json(path, self.to_dict())


def _stat(name: str, raw: object, where: str) -> Stat:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: {name} must be an object with median, low and high, got {raw!r}")
    numbers = {}
    for key in ("median", "low", "high"):
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ProfileError(f"{where}: {name}.{key} must be a finite number >= 0, got {value!r}")
        numbers[key] = float(value)
    if not numbers["low"] <= numbers["median"] <= numbers["high"]:
        raise ProfileError(f"{where}: {name} needs low <= median <= high, got {numbers}")
    source = raw.get("source")
    if source is not None and not isinstance(source, str):
        raise ProfileError(f"{where}: {name}.source must be text, got {source!r}")
    return Stat(**numbers, source=source)
