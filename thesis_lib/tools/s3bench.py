"""Read throughput over S3 at a set latency: each format and zarr chunk size uploaded to a private
SeaweedFS, then read in random batches through the link proxy at each latency, in one run (so
the rates compare as ratios). ``python -m thesis_lib.tools.s3bench --root ZIP --limit N``.

``--only TEXT`` keeps the variants whose label contains it (repeatable); ``--worker-kind KIND``
(repeatable) reads each variant through a loader (batch mode, ``--workers`` workers of that kind)
as well as straight from the reader, the first batch (the workers' start) left out.
It ends with issue 21's targets, each a ratio of rates measured in this run: at the largest latency
each format's best read path keeps at least half its rate without added latency (through request
concurrency), and TensorStore or zarr-python (obstore) at chunk 64 reaches one H100's demand at the
image size (``core.stats.h100_demand``; 15,250 img/s at 64 px).
"""
from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import formats, loading, sources
from ..core.link_proxy import link_proxy
from ..core.stats import h100_demand
from ..core.s3_server import s3_server
from ..formats.s3_objects import S3Location, upload
from ..formats.s3_readers import open_s3

# (label, format, write options, open options)
VARIANTS = [("npy, ranged GETs", "npy", {}, {}), ("files, concurrent GETs", "files", {}, {})]
for _chunk in (16, 64, 256, 1024):
    VARIANTS += [(f"zarr chunk {_chunk}, zarr-python", "zarr", {"chunk_images": _chunk}, {}),
                 (f"zarr chunk {_chunk}, tensorstore", "zarr", {"chunk_images": _chunk}, {"read_path": "tensorstore"})]
VARIANTS += [("hdf5 contiguous, h5py", "hdf5", {}, {}), ("hdf5 chunk 64, h5py", "hdf5", {"chunk_images": 64}, {})]


def images_per_second(reader, batch: int, batches: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    reader.read(rng.choice(len(reader), batch, replace=False))  # connections and metadata first
    start = time.perf_counter()
    for _ in range(batches):
        reader.read(rng.choice(len(reader), batch, replace=False))
    return batch * batches / (time.perf_counter() - start)


def loader_images_per_second(reader, batch: int, batches: int, workers: int, kind: str) -> float:
    loader = loading.make_loader(reader, batch_size=batch, mode="batch", workers=workers, worker_kind=kind,
                                 normalize=False, seed=0)
    loaded = iter(loader)
    next(loaded)  # the workers' start
    start = time.perf_counter()
    for _ in range(batches):
        next(loaded)
    rate = batch * batches / (time.perf_counter() - start)
    del loaded
    return rate


def run(source, latencies, batch: int, batches: int, concurrency: int, work: Path, variants=VARIANTS,
        worker_kinds=(), workers: int = 2) -> list[dict]:
    rows = []
    with s3_server(work / "s3", stop_timeout=1) as server:
        for label, fmt, write, _ in variants:
            prefix = f"{fmt}-{'-'.join(f'{k}{v}' for k, v in write.items()) or 'default'}"
            local = work / prefix
            if not local.exists():
                formats.get(fmt).write(source, local, progress=False, **write)
                upload(local, S3Location.parse(f"s3://bench/{prefix}", server.endpoint))
        for latency in latencies:
            proxy = link_proxy(server.endpoint, latency) if latency else contextlib.nullcontext(server.endpoint)
            with proxy as endpoint:
                for label, fmt, write, read in variants:
                    prefix = f"{fmt}-{'-'.join(f'{k}{v}' for k, v in write.items()) or 'default'}"
                    with open_s3(f"s3://bench/{prefix}", endpoint, concurrency=concurrency, **read) as reader:
                        rates = {label: images_per_second(reader, batch, batches)}
                        for kind in worker_kinds:
                            rates[f"{label}, {workers} {kind} workers"] = loader_images_per_second(
                                reader, batch, batches, workers, kind)
                    for name, rate in rates.items():
                        rows.append({"variant": name, "format": fmt, "chunk": write.get("chunk_images"),
                                     "latency_ms": latency, "img_s": rate})
                        print(f"{name:50s} {latency:>4g} ms {rate:>10,.0f} img/s", flush=True)
    return rows


def table(rows: list[dict], latencies) -> str:
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    rate = {(r["variant"], r["latency_ms"]): r["img_s"] for r in rows}
    head = "| variant | " + " | ".join(f"{l:g} ms, img/s" for l in latencies) + " | kept at the last |"
    lines = [head, "|---" * (len(latencies) + 2) + "|"]
    for v in variants:
        cells = [f"{rate[v, l]:,.0f}" for l in latencies]
        lines.append(f"| {v} | " + " | ".join(cells) + f" | {rate[v, latencies[-1]] / rate[v, latencies[0]]:.0%} |")
    return "\n".join(lines)


KEPT_TARGET = 0.5  # of the rate without added latency, at the largest latency
TARGET_CHUNK = 64


def targets(rows: list[dict], image_size: int) -> list[str]:
    """The targets as same-run ratios, one line each, saying whether each is met."""
    low, high = min(r["latency_ms"] for r in rows), max(r["latency_ms"] for r in rows)
    rate = {(r["variant"], r["latency_ms"]): r["img_s"] for r in rows}
    lines = []
    for fmt in dict.fromkeys(r["format"] for r in rows):
        best = max((r for r in rows if r["format"] == fmt and r["latency_ms"] == high), key=lambda r: r["img_s"])
        kept = best["img_s"] / rate[best["variant"], low]
        lines.append(f"{fmt}: best at {high:g} ms is {best['variant']}, {best['img_s']:,.0f} img/s = {kept:.0%} of its "
                     f"{low:g} ms rate (target >= {KEPT_TARGET:.0%}): {'met' if kept >= KEPT_TARGET else 'not met'}")
    demand = h100_demand(image_size)[0]
    for r in rows:
        if r["chunk"] == TARGET_CHUNK and r["latency_ms"] == high:
            share = r["img_s"] / demand
            lines.append(f"{r['variant']} at {high:g} ms: {r['img_s']:,.0f} img/s = {share:.1%} of one H100's "
                         f"{demand:,.0f} img/s at {image_size} px (target >= 100%): "
                         f"{'met' if share >= 1 else 'not met'}")
    return lines


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset", default="tiny-imagenet")
    p.add_argument("--root", required=True)
    p.add_argument("--limit", type=int, default=10000)
    p.add_argument("--latency-ms", type=float, action="append", help="repeatable (default 0, 2, 20)")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--concurrency", type=int, default=16, help="S3 requests in flight per reader")
    p.add_argument("--only", action="append", help="keep variants whose label contains this (repeatable)")
    p.add_argument("--worker-kind", action="append", default=[], choices=loading.WORKER_KINDS,
                   help="also read through a loader with --workers workers of this kind (repeatable)")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    variants = [v for v in VARIANTS if not args.only or any(text in v[0] for text in args.only)]
    if not variants:
        p.error(f"--only {args.only}: no variant matches; variants: {', '.join(v[0] for v in VARIANTS)}")
    latencies = args.latency_ms or [0.0, 2.0, 20.0]
    source = sources.load(args.dataset, args.root, limit=args.limit)
    with tempfile.TemporaryDirectory() as work:
        rows = run(source, latencies, args.batch, args.batches, args.concurrency, Path(work), variants,
                   args.worker_kind, args.workers)
    print(table(rows, latencies))
    print("\nTargets (same-run ratios):")
    print("\n".join(f"- {line}" for line in targets(rows, source.image_shape[0])))


if __name__ == "__main__":
    main()
