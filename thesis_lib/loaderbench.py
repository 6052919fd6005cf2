"""Loader throughput, measured in one process so the ratios compare like with like.

Warm page cache, loader only (uint8 batches as they leave the loader, before any transform),
batch 512. It measures (a) the in-RAM limit, a NumPy gather of random batches; (b) every format
in every access mode, at its best and in the ways people usually read it; (c) the peer people
pick today, torchvision's ``ImageFolder`` with a ``DataLoader`` over the same image files; and
the workers (CPU cores) each format needs to keep one H100 busy.
"""
from __future__ import annotations

import io
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import converted, formats, loading, paths, sources
from .bench import environment, write_record
from .stats import h100_demand

BATCH = 512
# (label, format, write options, open options, access modes)
VARIANTS = [
    ("npy", "npy", {}, {}, loading.MODES),
    ("hdf5 contiguous, direct", "hdf5", {}, {}, loading.MODES),
    ("hdf5 contiguous, h5py per-index", "hdf5", {}, {"read_path": "index"}, ("batch",)),
    ("hdf5 contiguous, h5py fancy", "hdf5", {}, {"read_path": "fancy"}, ("batch",)),
    ("hdf5 chunk 64 gzip, per-chunk", "hdf5", {"chunk_images": 64, "compression": "gzip"}, {}, ("batch", "block")),
    ("zarr chunk 64", "zarr", {}, {}, loading.MODES),
    ("zarr chunk 64, chunk runs", "zarr", {}, {"read_path": "chunks"}, ("batch",)),
    ("zarr chunk 64, concurrency 1", "zarr", {}, {"concurrency": 1}, ("batch",)),
    ("zarr chunk 16", "zarr", {"chunk_images": 16}, {}, ("batch", "block")),
    ("zarr chunk 256", "zarr", {"chunk_images": 256}, {}, ("batch", "block")),
    ("zarr chunk 1024", "zarr", {"chunk_images": 1024}, {}, ("batch", "block")),
    ("zarr chunk 16, shard 1024", "zarr", {"chunk_images": 16, "shard_images": 1024}, {}, ("batch", "block")),
    ("zarr chunk 64 zstd", "zarr", {"codec": "zstd"}, {}, ("batch", "block")),
    ("files png, PIL", "files", {}, {}, loading.MODES),
    ("files png, torchvision.io", "files", {}, {"decoder": "torchvision"}, ("batch",)),
]


def time_batches(batches, n_batches: int, max_seconds: float = 3.0) -> float:
    """Samples/s over the first ``n_batches`` batches (fewer if ``max_seconds`` run out), timed
    from the start of iteration: DataLoader worker start-up is part of what an epoch pays, and a
    block loader's first window holds several batches, so no batch may be left out."""
    start, samples = time.perf_counter(), 0
    for k, (images, _) in enumerate(batches):
        samples += len(images)
        if k + 1 == n_batches or time.perf_counter() - start > max_seconds:
            break
    return samples / (time.perf_counter() - start)


def ram_baseline(images: np.ndarray, n_batches: int, seed: int) -> float:
    """(a) The in-RAM limit: random batches gathered from an array already in memory."""
    rng = np.random.default_rng(seed)
    batches = ((images[np.sort(rng.choice(len(images), BATCH, replace=False))], None) for _ in range(n_batches))
    return time_batches(batches, n_batches)


def loader_rate(reader, mode: str, workers: int, n_batches: int, seed: int) -> float:
    """(b) One format in one access mode, through :func:`loading.make_loader`. For ``resident``
    this is the gather rate once the set is in memory; its one-off load (when the loader is
    made) is not counted."""
    loader = loading.make_loader(reader, batch_size=BATCH, mode=mode, workers=workers if mode != "resident" else 0,
                                 seed=seed, normalize=False)
    loader.set_epoch(seed)
    # No release() afterwards: the reader keeps its memory maps, as it does from one training epoch
    # to the next, so a measurement does not pay for mapping the file afresh.
    return time_batches(loader.raw_batches(), n_batches)


def imagefolder_rate(root: Path, workers: int, n_batches: int, seed: int) -> float:
    """(c) The peer: torchvision ImageFolder + ToTensor + DataLoader over the same PNG files
    (the files format's tree is ``<class>/<image>.png``, which ImageFolder reads as it is)."""
    from torchvision import datasets, transforms

    dataset = datasets.ImageFolder(str(root), transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers,
                                         generator=torch.Generator().manual_seed(seed))
    return time_batches(loader, n_batches)


def single_core_decode_rate(reader, n: int = 2000) -> float:
    """Images/s one core decodes from the files format (reading included), PIL as the reader uses."""
    indices = np.random.default_rng(0).choice(len(reader), min(n, len(reader)), replace=False)
    start = time.perf_counter()
    for i in indices:
        reader.read([i])
    return len(indices) / (time.perf_counter() - start)


def workers_needed(rates_by_workers: dict[int, float], demand: float, cores: int) -> dict:
    """Workers at which a loader reaches ``demand``: measured up to ``cores``, else extrapolated
    from the per-worker rate at the most workers measured."""
    for workers in sorted(rates_by_workers):
        if rates_by_workers[workers] >= demand:
            return {"workers": workers, "extrapolated": False}
    most = max(rates_by_workers)
    per_worker = rates_by_workers[most] / max(most, 1)
    return {"workers": math.ceil(demand / per_worker), "extrapolated": True, "per_worker_rate": per_worker}


def main(*, dataset: str = "synthetic", image_size: int = 32, limit: int = 50_000, workers: int | None = None,
         repeats: int = 3, batches: int = 40, out: str | Path | None = None) -> dict:
    cores = os.cpu_count() or 1
    workers = cores if workers is None else workers
    source = sources.load(dataset, image_size=image_size, limit=limit)
    if len(source) < BATCH:
        raise ValueError(f"loaderbench: {len(source)} images (limit={limit}) is less than one batch of {BATCH}; "
                         f"use a limit of at least {BATCH}")
    demand, _ = h100_demand(source.image_shape[0])
    rows = []

    def add(label, fmt, mode, w, rates):
        rows.append({"variant": label, "fmt": fmt, "mode": mode, "workers": w,
                     "samples_per_s": float(np.median(rates)), "repeats": [round(r) for r in rates]})

    in_ram = np.concatenate([images for images, _ in source.chunks(4096)])
    add("in-RAM NumPy gather (baseline)", "ram", "batch", 0,
        [ram_baseline(in_ram, batches, seed) for seed in range(repeats)])
    del in_ram

    readers = {}
    plan = [(v, mode, w) for v in VARIANTS for mode in v[4]
            for w in ([0] if mode == "resident" else sorted({0, workers}))]
    for (label, fmt, write_options, open_options, _), mode, w in tqdm(plan, desc="loaderbench", unit="case"):
        path, _ = converted.ensure_converted(source, fmt, write_options, progress=False)
        reader = readers.setdefault(label, formats.get(fmt).open(path, **open_options))
        loader_rate(reader, mode, w, 2, 0)  # warm the page cache and the worker start path
        add(label, fmt, mode, w, [loader_rate(reader, mode, w, batches, s + 1) for s in range(repeats)])

    files_path, _ = converted.ensure_converted(source, "files", {}, progress=False)
    add("ImageFolder + DataLoader (peer)", "imagefolder", "sample", workers,
        [imagefolder_rate(files_path, workers, batches, s) for s in range(repeats)])
    decode_rate = float(np.median([single_core_decode_rate(readers["files png, PIL"]) for _ in range(repeats)]))

    table = pd.DataFrame(rows)
    baseline = table.loc[0, "samples_per_s"]
    table["x_baseline"] = table["samples_per_s"] / baseline
    table["x_h100"] = table["samples_per_s"] / demand

    cores_per_gpu = {}
    streaming = table[table["fmt"].isin(formats.names()) & (table["mode"] != "resident")]
    best = streaming.sort_values("samples_per_s").groupby("fmt").tail(1)
    for _, row in tqdm(list(best.iterrows()), desc="cores per GPU", unit="fmt"):
        measured = streaming[(streaming["variant"] == row["variant"]) & (streaming["mode"] == row["mode"])]
        rates = dict(zip(measured["workers"], measured["samples_per_s"]))
        for w in range(workers + 1):
            if w not in rates:
                rates[w] = float(np.median([loader_rate(readers[row["variant"]], row["mode"], w, batches, s)
                                            for s in range(repeats)]))
        rates = {int(w): float(r) for w, r in sorted(rates.items())}
        cores_per_gpu[row["fmt"]] = {"variant": row["variant"], "mode": row["mode"], "rates": rates,
                                     **workers_needed(rates, demand, cores)}

    result = {
        "dataset": dataset, "image_size": int(source.image_shape[0]), "n": len(source), "batch_size": BATCH,
        "workers": workers, "repeats": repeats, "batches_per_measurement": batches, "h100_demand": demand,
        "single_core_png_decode_rate": decode_rate, "table": table.to_dict(orient="records"),
        "cores_per_gpu": cores_per_gpu, "env": environment(),
    }
    for reader in readers.values():
        reader.close()
    out = Path(out) if out else paths.data_dir("loaderbench") / f"loaderbench-{dataset}-{image_size}.json"
    write_record(result, out)
    print(render(result))
    print(f"\nwritten: {out}")
    return result


def render(result: dict) -> str:
    """The printed report: the table of medians and ratios, then the cores each format needs."""
    table = pd.DataFrame(result["table"])
    buf = io.StringIO()
    print(f"{result['dataset']} {result['image_size']} px, n={result['n']}, batch {result['batch_size']}, "
          f"{result['workers']} workers, median of {result['repeats']} x {result['batches_per_measurement']} "
          f"batches, warm cache; H100 demand {result['h100_demand']:,.0f} img/s", file=buf)
    shown = table[["variant", "mode", "workers", "samples_per_s", "x_baseline", "x_h100"]]
    print(shown.to_string(index=False, formatters={"samples_per_s": "{:,.0f}".format,
                                                    "x_baseline": "{:.3f}".format, "x_h100": "{:.2f}".format}),
          file=buf)
    print(f"\nsingle-core PNG decode (files format, PIL): {result['single_core_png_decode_rate']:,.0f} img/s",
          file=buf)
    print("\nworkers (CPU cores) to feed one H100, each format in its best streaming mode "
          "(resident needs RAM for the whole set, so it is left out):", file=buf)
    for fmt, info in result["cores_per_gpu"].items():
        rates = ", ".join(f"{w}w {r:,.0f}" for w, r in info["rates"].items())
        label = " (extrapolated)" if info["extrapolated"] else ""
        print(f"  {fmt:6s} {info['mode']:8s} needs {info['workers']} workers{label}   [{rates}]", file=buf)
    return buf.getvalue()

