"""One benchmark run end to end: convert (or reuse), train and evaluate, and one JSON record.

A run is fixed by its :class:`BenchConfig`; the record stores all of it, the environment, every
epoch's timings, and the medians with bootstrap 95% intervals.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import cache, converted, formats, loading, machine, models, paths, sources, training
from .errors import SourceError
from .formats.base import _json_default
from .machine import peak_rss_mb
from .stats import h100_demand, median_ci

CACHE_STATES = ("warm", "cold")
DEVICES = ("cpu", "cuda")
MAX_SEED = 2**32 - 1  # NumPy's and most tools' seed range


@dataclass
class BenchConfig:
    dataset: str = "synthetic"
    root: str | None = None
    image_size: int | None = None
    limit: int | None = None
    fmt: str = "npy"
    fmt_options: dict = field(default_factory=dict)
    access: str = "batch"
    model: str = "convnet"
    epochs: int = 2
    batch_size: int = 512
    workers: int = 0
    device: str = "cpu"
    cache: str = "warm"
    emulate_rate: float | None = None
    repeats: int = 1
    seed: int = 0
    lr: float | None = None
    eval_limit: int | None = 10_000
    distributed: bool = False

    def validate(self) -> "BenchConfig":
        """Raise ValueError naming the first bad parameter, listing valid values where there are few."""
        choices = {"fmt": formats.names(), "dataset": sources.names(), "access": list(loading.MODES),
                   "model": models.names() + ["emulate"], "cache": list(CACHE_STATES), "device": list(DEVICES)}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"{name}={getattr(self, name)!r} is not valid; choose one of: {', '.join(valid)}")
        for name in ("epochs", "batch_size", "repeats"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("workers", self.workers, minimum=0)
        _check_int("seed", self.seed, minimum=0, maximum=MAX_SEED)
        for name in ("image_size", "limit", "eval_limit"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1)
        if self.emulate_rate is not None and not _finite_number(self.emulate_rate, minimum=0):
            raise ValueError(f"emulate_rate must be a finite number >= 0 (img/s), got {self.emulate_rate!r}")
        if self.lr is not None and not (_finite_number(self.lr, minimum=0) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if self.model != "emulate" and self.emulate_rate is not None:
            raise ValueError("emulate_rate applies only with model='emulate'")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch sees no CUDA GPU")
        if self.fmt == "cupy" and self.device != "cuda":
            raise ValueError("fmt='cupy' loads into GPU memory: it needs device='cuda'")
        formats.get(self.fmt).resolve_options(self.fmt_options)
        return self

    @property
    def run_name(self) -> str:
        size = self.image_size or "native"
        model = self.model
        if model == "emulate":
            model += "H100" if self.emulate_rate is None else f"{self.emulate_rate:g}"
        return (f"{self.dataset}-{size}-{self.fmt}-{self.access}-{model}-{self.cache}"
                f"-w{self.workers}-b{self.batch_size}-s{self.seed}")


def _check_int(name: str, value, *, minimum: int, maximum: int | None = None) -> None:
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum
            or (maximum is not None and value > maximum)):
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")


def _finite_number(value, *, minimum: float) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float, np.number)) and math.isfinite(value)
            and value >= minimum)


def environment() -> dict:
    return machine.environment(paths.data_root())


def _eval_reader(config: BenchConfig):
    """The held-out split (``test``, else ``val``) converted once to npy: evaluation measures the
    model, not the format. None when the dataset has no labelled held-out split."""
    for split in ("test", "val"):
        try:
            held_out = sources.load(config.dataset, config.root, split=split, image_size=config.image_size,
                                    limit=config.eval_limit)
        except SourceError:
            continue
        path, _ = converted.ensure_converted(held_out, "npy", progress=False)
        return formats.get("npy").open(path)
    return None


def run(config: BenchConfig, *, out: str | Path | None = None, progress: bool = True) -> dict | None:
    """Run one benchmark; write and return its record (None on non-zero ranks when distributed)."""
    config.validate()
    out = record_path(config, out)
    rank, world_size = _init_distributed(config)
    device = torch.device(config.device if config.device == "cpu" else f"cuda:{_local_rank()}")
    source = sources.load(config.dataset, config.root, split="train", image_size=config.image_size,
                          limit=config.limit)
    path, conversion = _convert_once(source, config, rank, progress)
    reader = formats.get(config.fmt).open(path)
    if config.cache == "cold" and not cache.can_evict(reader.path):
        warnings.warn(f"cache='cold' but {reader.path} is on {cache.filesystem(reader.path)}, which keeps files "
                      "in memory: no epoch can be cold; the record says cache 'cold-unavailable'", stacklevel=2)
    training_model = config.model != "emulate"
    eval_reader = _eval_reader(config) if training_model and rank == 0 else None
    num_classes = len(source.classes)
    image_size = source.image_shape[0]
    emulate_rate = config.emulate_rate if config.emulate_rate is not None else h100_demand(image_size)[0]

    eval_loader = (loading.make_loader(eval_reader, batch_size=config.batch_size, mode="batch", shuffle=False,
                                       device=device) if eval_reader is not None else None)
    fit_options = {"lr": config.lr} if config.lr is not None else {}
    epochs, evaluations = [], []
    for repeat in range(config.repeats):
        torch.manual_seed(config.seed)
        model = models.build(config.model, num_classes, image_size) if training_model else None
        # An emulated accelerator stands in for the device, including the device-side transforms
        # (augment, normalise): the host only reads, collates and hands over uint8 batches.
        loader = loading.make_loader(reader, batch_size=config.batch_size, mode=config.access, shuffle=True,
                                     workers=config.workers, seed=config.seed, device=device,
                                     augment=training_model, normalize=training_model,
                                     distributed=config.distributed)
        result = training.fit(model, loader, eval_loader, epochs=config.epochs, device=device,
                              num_classes=num_classes, emulate_rate=None if training_model else emulate_rate,
                              cache=config.cache, progress=progress and rank == 0, **fit_options)
        loader.release()
        epochs += [{**stats, "repeat": repeat, "epoch": k} for k, stats in enumerate(result["epochs"])]
        if result["eval"] is not None:
            evaluations.append(result["eval"])
    totals = _total_throughput(epochs, world_size)  # a collective: every rank takes part
    if config.distributed:
        torch.distributed.destroy_process_group()
    if rank != 0:
        return None
    for epoch, total in zip(epochs, totals):
        epoch["samples_per_s_total"] = total
    record = _record(config, source, reader, conversion, epochs, evaluations, emulate_rate, world_size)
    write_record(record, out)
    record["path"] = str(out)
    return record


def record_path(config: BenchConfig, out: str | Path | None) -> Path:
    """Where the run's record goes, checked before any work: a run must not train for an hour
    and then fail to save what it measured."""
    path = Path(out) if out else paths.data_dir("results") / f"{config.run_name}.json"
    if path.is_dir():
        raise ValueError(f"out={path} is a folder; give the record's file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.check-"):
            pass
    except OSError as exc:
        raise ValueError(f"out={path}: cannot write the record there ({exc.strerror or exc})") from None
    return path


def cache_state(requested: str, epochs: list[dict]) -> str:
    """``cold-unavailable`` when cold epochs were asked for but eviction left the files cached
    (a memory-backed file system), else what was asked for."""
    fractions = [e.get("cached_fraction") for e in epochs]
    if requested == "cold" and any(f is not None and f > cache.COLD_CACHED_LIMIT for f in fractions):
        return "cold-unavailable"
    return requested


def _convert_once(source, config: BenchConfig, rank: int, progress: bool):
    """Rank 0 converts (or reuses); the other ranks wait, then use its copy."""
    if rank == 0:
        result = converted.ensure_converted(source, config.fmt, config.fmt_options, progress=progress)
    if config.distributed:
        torch.distributed.barrier()
    if rank != 0:
        result = converted.ensure_converted(source, config.fmt, config.fmt_options, progress=False)
    return result


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def _init_distributed(config: BenchConfig) -> tuple[int, int]:
    if not config.distributed:
        return 0, 1
    import torch.distributed as dist
    if "RANK" not in os.environ:
        raise ValueError("distributed=True needs torchrun (RANK and WORLD_SIZE are not set)")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if config.device == "cuda" else "gloo")
    if config.device == "cuda":
        torch.cuda.set_device(_local_rank())
    return dist.get_rank(), dist.get_world_size()


def _total_throughput(epochs: list[dict], world_size: int) -> list[float]:
    """Samples/s of every epoch, summed over ranks when distributed (each rank saw its shard)."""
    rates = [e["samples_per_s"] for e in epochs]
    if world_size == 1:
        return rates
    tensor = torch.tensor(rates, dtype=torch.float64)
    torch.distributed.all_reduce(tensor)
    return tensor.tolist()


def _record(config, source, reader, conversion, epochs, evaluations, emulate_rate, world_size) -> dict:
    rates = [e["samples_per_s_total"] for e in epochs]
    wall = median_ci([e["wall_s"] for e in epochs])
    sps = median_ci(rates)
    au = median_ci([e["au"] for e in epochs])
    last_eval = evaluations[-1] if evaluations else {}
    demand, extrapolated = h100_demand(source.image_shape[0])
    return {
        "run": config.run_name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **{k: v for k, v in dataclasses.asdict(config).items() if k not in ("fmt_options", "root")},
        "cache": cache_state(config.cache, epochs),
        "root": config.root,
        "image_size": int(source.image_shape[0]),
        "n_train": len(source),
        "num_classes": len(source.classes),
        "fmt_options": conversion["options"],
        "lossless": reader.manifest.get("lossless", True),
        "block_size": reader.block_size,
        "source_spec": source.spec,
        "world_size": world_size,
        "emulate_rate": emulate_rate if config.model == "emulate" else None,
        "h100_demand": demand,
        "h100_demand_extrapolated": extrapolated,
        "epochs": epochs,
        "epoch_time_s_median": wall[0], "epoch_time_s_ci95": list(wall[1:]),
        "samples_per_s_median": sps[0], "samples_per_s_ci95": list(sps[1:]),
        "au_median": _finite(au[0]), "au_ci95": [_finite(v) for v in au[1:]],
        "data_wait_s_median": float(np.median([e["data_wait_s"] for e in epochs])),
        "bytes_on_disk": conversion["bytes_on_disk"],
        "convert_s": conversion["seconds"],
        "converted_reused": conversion["reused"],
        "peak_rss_mb": peak_rss_mb(),
        "accuracy": last_eval.get("accuracy"),
        "f1_macro": last_eval.get("f1_macro"),
        "accuracy_per_repeat": [e["accuracy"] for e in evaluations],
        "env": environment(),
    }


def _finite(value: float) -> float | None:
    """None for NaN (a loader-only run has no AU), so records stay valid JSON."""
    return None if value != value else value


def write_record(record: dict, path: Path) -> None:
    """Write a record atomically: a temporary sibling, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(_strict(record), indent=2, default=_json_default, allow_nan=False))
    os.replace(tmp, path)


def _strict(obj):
    """``obj`` with NaN and infinities as None (JSON null): strict JSON has no such numbers."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _strict(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(value) for value in obj]
    return obj


def headline(record: dict) -> dict:
    """The few figures a person reads first."""
    keys = ("run", "epoch_time_s_median", "epoch_time_s_ci95", "samples_per_s_median", "au_median",
            "bytes_on_disk", "convert_s", "accuracy", "f1_macro", "path")
    return {k: record.get(k) for k in keys}
