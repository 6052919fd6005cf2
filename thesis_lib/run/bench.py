"""One benchmark run end to end: convert (or reuse), train and evaluate, and one JSON record.

A run is fixed by its :class:`~thesis_lib.run.run_spec.RunSpec` (a :class:`BenchConfig`, resolved once);
the record stores all of it, the environment, every epoch's timings, and the medians with bootstrap
95% intervals.
"""
from __future__ import annotations

import contextlib
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import formats, loading, sources, training
from ..core import cache, paths
from ..core.errors import SplitNotFound
from ..core.machine import peak_rss_mb
from ..core.protocol import repeat_summaries
from ..core.record import Record, check_writable, environment, write_json
from ..core.record_check import check_record
from ..core.stats import h100_demand, median_ci
from ..training import models
from . import converted, storage
from .config import BenchConfig
from .run_spec import RunSpec


def _eval_reader(spec: RunSpec):
    """The held-out split (``test``, else ``val``) converted once to npy: evaluation measures the
    model, not the format. None when the dataset has no labelled held-out split."""
    for split in ("test", "val"):
        try:
            held_out = sources.load(spec.dataset, spec.root, split=split, image_size=spec.image_size,
                                    limit=spec.eval_limit)
        except SplitNotFound:  # any other SourceError is broken data, not a missing split
            continue
        path, _ = converted.ensure_converted(held_out, "npy", progress=False)
        return formats.get("npy").open(path)
    return None


def record_path(spec: RunSpec | BenchConfig, results_dir: str | os.PathLike | None = None) -> Path:
    """Where a run's record goes: ``<run>.json`` in :func:`thesis_lib.core.paths.results_dir`."""
    return _spec(spec).record_path(results_dir)


def _spec(spec: RunSpec | BenchConfig) -> RunSpec:
    return spec if isinstance(spec, RunSpec) else spec.resolve()


def run(spec: RunSpec | BenchConfig, *, out: str | Path | None = None, progress: bool = True) -> Record | None:
    """Run one benchmark; write and return its record (None on non-zero ranks when distributed).
    ``spec``: the run, resolved (a :class:`BenchConfig` is resolved here). ``out``: the record's
    file (default: :meth:`RunSpec.record_path`)."""
    spec = _spec(spec).check_runnable()
    _check_writable(Path(out).parent if out else paths.results_dir(),  # before any work, not after an hour
                    Path(out).name if out else f"{spec.run_name}.json")
    if out is not None and Path(out).is_dir():
        raise ValueError(f"out={out} is a folder; give the record's file name")
    rank, world_size = _init_distributed(spec)
    device = torch.device(spec.device if spec.device == "cpu" else f"cuda:{_local_rank()}")
    source = sources.load(spec.dataset, spec.root, split="train", image_size=spec.image_size,
                          limit=spec.limit, download=spec.download)
    if spec.download:  # the data may have just arrived: the run's identity names what it holds now
        spec = spec.config.resolve()
    out = Path(out) if out else spec.record_path()
    path, conversion = _convert_once(source, spec, rank, progress)
    with _opened(spec, path, rank) as reader:
        if spec.cache == "cold" and not cache.can_evict(reader.path):
            warnings.warn(f"cache='cold' but {reader.path} is on {cache.filesystem(reader.path)}, which keeps files "
                          "in memory: no epoch can be cold; the record says cache 'cold-unavailable'", stacklevel=2)
        training_model = spec.model != "emulate"
        eval_reader = _eval_reader(spec) if training_model and rank == 0 else None
        num_classes = len(source.classes)
        image_size = source.image_shape[0]
        emulate_rate = spec.emulate_rate if spec.emulate_rate is not None else h100_demand(image_size)[0]

        eval_loader = (loading.make_loader(eval_reader, batch_size=spec.batch_size, mode="batch", shuffle=False,
                                           device=device) if eval_reader is not None else None)
        fit_options = {"lr": spec.lr} if spec.lr is not None else {}
        epochs, evaluations, setup_s = [], [], []
        for repeat in range(spec.repeats):
            torch.manual_seed(spec.seed)
            model = models.build(spec.model, num_classes, image_size) if training_model else None
            # An emulated accelerator stands in for the device, including the device-side transforms
            # (augment, normalise): the host only reads, collates and hands over uint8 batches.
            loader = loading.make_loader(reader, batch_size=spec.batch_size, mode=spec.access, shuffle=True,
                                         workers=spec.workers, worker_kind=spec.worker_kind, seed=spec.seed,
                                         device=device,
                                         augment=training_model, normalize=training_model,
                                         distributed=spec.distributed)
            result = training.fit(model, loader, eval_loader, epochs=spec.epochs, device=device,
                                  num_classes=num_classes, emulate_rate=None if training_model else emulate_rate,
                                  queue_steps=spec.queue_steps, cache=spec.cache, warmup_epochs=spec.warmup_epochs,
                                  progress=progress and rank == 0, **fit_options)
            loader.release()
            epochs += [{**stats, "repeat": repeat, "epoch": k} for k, stats in enumerate(result["epochs"])]
            setup_s.append(loader.setup_s)
            if result["eval"] is not None:
                evaluations.append(result["eval"])
        totals = _total_throughput(epochs, world_size)  # a collective: every rank takes part
        if spec.distributed:
            torch.distributed.destroy_process_group()
        if rank != 0:
            return None
        for epoch, total in zip(epochs, totals):
            epoch["samples_per_s_total"] = total
        per_repeat = [{**summary, "loader_setup_s": setup_s[summary["repeat"]]} for summary in repeat_summaries(epochs)]
        record = _record(spec, source, reader, conversion, epochs, per_repeat, evaluations, emulate_rate, world_size)
        check_record(record, as_written=True)  # a record the report would quarantine is never written
        write_json(out, record)
        record["path"] = str(out)
        return record


def _opened(spec: RunSpec, path: Path, rank: int):
    """The converted copy's reader: opened from disk, or (storage s3) uploaded and read over S3,
    the server and proxy the run started stopped when the block ends; under torchrun rank 0
    serves and uploads, and every rank reads from the endpoint it shares."""
    if spec.s3 is None:
        return contextlib.nullcontext(spec.format.open(path, options=spec.open_options))
    return storage.s3_reader(spec.s3, path, spec.run_name, spec.open_options, leader=rank == 0,
                             share=_from_rank0 if spec.distributed else None)


def _from_rank0(value):
    """Rank 0's ``value`` on every rank (a collective: every rank calls it)."""
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def _convert_once(source, spec: RunSpec, rank: int, progress: bool):
    """Rank 0 converts (or reuses); the other ranks wait, then use its copy."""
    if rank == 0:
        result = converted.ensure_converted(source, spec.fmt, spec.write_options, progress=progress)
    if spec.distributed:
        torch.distributed.barrier()
    if rank != 0:
        result = converted.ensure_converted(source, spec.fmt, spec.write_options, progress=False)
    return result


def _check_writable(folder: Path, name: str | None = None) -> None:
    """ValueError, before any measuring, unless the record ``name`` can be written into ``folder``:
    writable, a few MB free (a record and its executed notebook), the name within NAME_MAX."""
    check_writable(folder, what="results folder", name=name, min_free=16 * 2**20)


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def _init_distributed(spec: RunSpec) -> tuple[int, int]:
    if not spec.distributed:
        return 0, 1
    import torch.distributed as dist
    if "RANK" not in os.environ:
        raise ValueError("distributed=True needs torchrun (RANK and WORLD_SIZE are not set)")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if spec.device == "cuda" else "gloo")
    if spec.device == "cuda":
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


def _record(spec, source, reader, conversion, epochs, per_repeat, evaluations, emulate_rate, world_size) -> Record:
    """The record: every epoch as measured, and the steady-state figures as medians over repeats
    (each repeat's mean of its measured epochs) with bootstrap 95% intervals."""
    def over_repeats(key):
        return median_ci([r[key] for r in per_repeat])

    wall, sps, au, au_mlperf = map(over_repeats, ("wall_s", "samples_per_s_total", "au", "au_mlperf"))
    startup, first_batch = over_repeats("startup_s"), over_repeats("startup_first_batch_s")
    last_eval = evaluations[-1] if evaluations else {}
    demand, extrapolated = h100_demand(source.image_shape[0])
    identity = spec.identity
    return {
        "run": spec.run_name,
        "config_id": spec.config_id,
        "config": identity,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **identity,
        "root": str(spec.root_path.resolve()) if spec.root_path is not None else None,
        "cache": cache.cache_state(spec.cache, [e.get("cached_fraction") for e in epochs]),
        # storage and storage_options come with the identity (a local run's leave them out, as its id does)
        "storage_endpoint": spec.s3.endpoint if spec.s3 is not None else None,  # None: local, or a private server
        "source_name": source.name,
        "image_size": int(source.image_shape[0]),
        "n_train": len(source),
        "num_classes": len(source.classes),
        "lossless": reader.manifest.get("lossless", True),
        "block_size": reader.block_size,
        "source_spec": source.spec,
        "world_size": world_size,
        "emulate_rate": emulate_rate if spec.model == "emulate" else None,
        "h100_demand": demand,
        "h100_demand_extrapolated": extrapolated,
        "epochs": epochs,
        "per_repeat": per_repeat,
        "epoch_time_s_median": wall[0], "epoch_time_s_ci95": list(wall[1:]),
        "samples_per_s_median": sps[0], "samples_per_s_ci95": list(sps[1:]),
        "au_median": _finite(au[0]), "au_ci95": [_finite(v) for v in au[1:]],
        "au_mlperf_median": _finite(au_mlperf[0]), "au_mlperf_ci95": [_finite(v) for v in au_mlperf[1:]],
        "startup_s_median": _finite(startup[0]), "startup_s_ci95": [_finite(v) for v in startup[1:]],
        "startup_first_batch_s_median": _finite(first_batch[0]),
        "data_wait_s_median": float(np.median([r["data_wait_s"] for r in per_repeat])),
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
