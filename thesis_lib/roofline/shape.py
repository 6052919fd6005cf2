"""A run's shape: what the loader model needs to know of a run, from a bench record or a loaderbench
row (its variant label names the format's write and open options in loaderbench's variants)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .. import formats

#: Formats that are not a storage format of the package but a loaderbench baseline or peer.
BASELINES = ("ram", "imagefolder")


@dataclass(frozen=True)
class RunShape:
    """One loader run: ``fmt`` written with ``write_options`` and opened with ``open_options``
    (defaults filled in), read in access ``mode`` by ``workers`` workers of ``worker_kind``;
    ``n_images`` of ``image_size`` px in batches of ``batch_size``; ``cache`` warm or cold;
    ``storage`` local or s3. ``fresh_workers``: workers started for this measurement (the
    ImageFolder peer), not persistent ones."""
    fmt: str
    mode: str
    image_size: int
    n_images: int
    batch_size: int = 512
    workers: int = 0
    worker_kind: str = "process"
    cache: str = "warm"
    storage: str = "local"
    write_options: Mapping[str, object] = field(default_factory=dict)
    open_options: Mapping[str, object] = field(default_factory=dict)
    fresh_workers: bool = False

    def __post_init__(self):
        for name in ("image_size", "n_images", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RunShape: {name} must be a whole number >= 1, got {value!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"RunShape: workers must be a whole number >= 0, got {self.workers!r}")
        if self.cache not in ("warm", "cold"):
            raise ValueError(f"RunShape: cache must be 'warm' or 'cold', got {self.cache!r}")
        if self.fmt not in BASELINES:
            fmt = formats.get(self.fmt)  # an unknown name: ValueError listing the valid ones
            object.__setattr__(self, "write_options", dict(fmt.resolve_options(self.write_options)))
            object.__setattr__(self, "open_options", dict(fmt.resolve_open_options(self.open_options)))
        object.__setattr__(self, "write_options", MappingProxyType(dict(self.write_options)))
        object.__setattr__(self, "open_options", MappingProxyType(dict(self.open_options)))

    @property
    def image_bytes(self) -> int:
        return self.image_size * self.image_size * 3

    @property
    def batch(self) -> int:
        """Images per batch: the batch, or the whole set when it is smaller."""
        return min(self.batch_size, self.n_images)

    def words(self) -> str:
        """A short description: format, mode, workers."""
        workers = f"{self.workers} {self.worker_kind}" if self.workers else "0"
        return f"{self.fmt} {self.mode}, {workers} workers, {self.image_size} px, {self.cache}"

    @classmethod
    def from_record(cls, record: Mapping) -> "RunShape":
        """The shape of a bench record (its config, and the sizes it resolved)."""
        config = record["config"]
        return cls(fmt=config["fmt"], mode=config["access"], image_size=int(record["image_size"]),
                   n_images=int(record["n_train"]), batch_size=int(config["batch_size"]),
                   workers=int(config["workers"]), worker_kind=config.get("worker_kind") or "process",
                   cache=config["cache"], storage=config.get("storage") or "local",
                   write_options=config.get("write_options") or {}, open_options=config.get("open_options") or {})

    @classmethod
    def from_loaderbench(cls, row: Mapping, result: Mapping) -> "RunShape":
        """The shape of one row of a loaderbench result: the variant's options by its label
        (KeyError naming a label loaderbench no longer has)."""
        from ..tools.loaderbench.variants import VARIANTS
        fmt, write, read, fresh = row["fmt"], {}, {}, False
        if fmt == "imagefolder":
            fresh = True  # the peer starts its workers for each measurement
        elif fmt != "ram":
            variant = next((v for v in VARIANTS if v.label == row["variant"]), None)
            if variant is None:
                raise KeyError(f"loaderbench variant {row['variant']!r} is not in loaderbench's variants")
            write, read = variant.write_options, variant.open_options
        workers = int(row["workers"])
        return cls(fmt=fmt, mode=row["mode"], image_size=int(result["image_size"]), n_images=int(result["n"]),
                   batch_size=int(result["batch_size"]), workers=workers,
                   worker_kind=row.get("kind") or "process", write_options=write, open_options=read,
                   fresh_workers=fresh)
