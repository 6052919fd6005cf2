"""Loader throughput, measured in one process so the ratios compare like with like.

Warm page cache, loader only (uint8 batches as they leave the loader, before any transform),
batch 512, whole epochs. It measures (a) the in-RAM limit, a NumPy gather of random batches;
(b) every format in every access mode, at its best and in the ways people usually read it, in
the steady state of training (workers started, a new order each epoch), beside a plain slice
of the same array (the read block mode builds on); (c) the peer people pick today,
torchvision's ``ImageFolder`` with a ``DataLoader`` over the same images; the workers (CPU
cores) each format needs to keep one H100 busy; and the targets of issue 11 as ratios.
"""
from __future__ import annotations

import io
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import converted, formats, loading, paths, peer, sources
from .record import environment, write_json
from .stats import h100_demand

BATCH = 512
MiB = 2**20
HDF5_GZIP = {"chunk_images": 64, "compression": "gzip"}
# zarr layouts, each read by zarr-python and by TensorStore: the format and the library apart
ZARR_LAYOUTS = [  # (label, write options, access modes)
    ("zarr chunk 64", {}, ("sample", "batch", "block")),
    ("zarr chunk 16", {"chunk_images": 16}, ("batch", "block")),
    ("zarr chunk 256", {"chunk_images": 256}, ("batch", "block")),
    ("zarr chunk 1024", {"chunk_images": 1024}, ("batch", "block")),
    ("zarr chunk 16, shard 1024", {"chunk_images": 16, "shard_images": 1024}, ("batch", "block")),
    ("zarr chunk 64 zstd", {"codec": "zstd"}, ("batch", "block")),
]
ZARR_READERS = [("zarr-python", {}), ("tensorstore", {"read_path": "tensorstore"})]
# (label, format, write options, open options, access modes)
VARIANTS = [
    ("npy", "npy", {}, {}, loading.MODES),
    ("hdf5 contiguous, direct", "hdf5", {}, {}, loading.MODES),
    ("hdf5 contiguous, h5py per-index", "hdf5", {}, {"read_path": "index"}, ("batch",)),
    ("hdf5 contiguous, h5py fancy", "hdf5", {}, {"read_path": "fancy"}, ("batch",)),
    ("hdf5 chunk 64 gzip, h5py per-chunk, 16 MiB cache", "hdf5", HDF5_GZIP, {}, ("batch", "block")),
    ("hdf5 chunk 64 gzip, h5py per-chunk, 256 MiB cache", "hdf5", HDF5_GZIP, {"rdcc_nbytes": 256 * MiB},
     ("batch",)),
    ("hdf5 chunk 64 gzip, raw chunk + zlib", "hdf5", HDF5_GZIP, {"read_path": "decode"}, ("batch", "block")),
    ("hdf5 chunk 64 gzip, raw chunk + zlib, 2 threads", "hdf5", HDF5_GZIP,
     {"read_path": "decode", "decode_threads": 2}, ("batch",)),
    *[(f"{layout}, {library}", "zarr", write, read, modes)
      for layout, write, modes in ZARR_LAYOUTS for library, read in ZARR_READERS],
    ("zarr chunk 64, zarr-python, resident", "zarr", {}, {}, ("resident",)),
    ("zarr chunk 64, zarr-python chunk runs", "zarr", {}, {"read_path": "chunks"}, ("batch",)),
    ("zarr chunk 64, zarr-python concurrency 1", "zarr", {}, {"concurrency": 1}, ("batch",)),
    ("zarr chunk 64, tensorstore, 256 MiB cache", "zarr", {}, {"read_path": "tensorstore", "cache_bytes": 256 * MiB},
     ("batch",)),
    ("files png, PIL", "files", {}, {}, loading.MODES),
    ("files png, torchvision.io", "files", {}, {"decoder": "torchvision"}, ("batch",)),
]


def time_batches(make_batches, n_batches: int | None = None, max_seconds: float = 3.0) -> float:
    """Samples/s over the first ``n_batches`` batches of ``make_batches()`` (all of them when None;
    fewer if ``max_seconds`` run out), timed from the first request for a batch. (A loader's
    ``raw_batches()`` first collects what persistent workers still read for an epoch cut short by
    ``max_seconds``: work that training, which never cuts an epoch, does not have.)"""
    batches = make_batches()
    start, samples = time.perf_counter(), 0
    for k, (images, _) in enumerate(batches):
        samples += len(images)
        if k + 1 == n_batches or time.perf_counter() - start > max_seconds:
            break
    return samples / (time.perf_counter() - start)


def ram_baseline(images: np.ndarray, n_batches: int | None, seed: int) -> float:
    """(a) The in-RAM limit: random batches gathered from an array already in memory (an epoch's
    worth unless ``n_batches`` is given)."""
    rng = np.random.default_rng(seed)
    n_batches = n_batches or -(-len(images) // BATCH)
    size = min(BATCH, len(images))
    return time_batches(lambda: ((images[np.sort(rng.choice(len(images), size, replace=False))], None)
                                 for _ in range(n_batches)), n_batches)


def loader_rates(reader, mode: str, workers: int, repeats: int, n_batches: int | None) -> tuple[list[float], float]:
    """(b) One format in one access mode through :func:`loading.make_loader`, as training sees it
    from its second epoch on: one loader whose (persistent) workers a first, short epoch starts,
    then ``repeats`` epochs timed, each in a new order. Returns their rates (whole epochs unless
    ``n_batches`` is given) and the seconds the fresh loader took to give its first batch
    (worker start-up included). ``resident`` is timed after its one-off load."""
    loader = loading.make_loader(reader, batch_size=BATCH, mode=mode, workers=workers if mode != "resident" else 0,
                                 seed=0, normalize=False)
    started = time.perf_counter()
    next(iter(loader.raw_batches()))
    first_batch_s = time.perf_counter() - started
    rates = []
    for epoch in range(1, repeats + 1):
        loader.set_epoch(epoch)
        rates.append(time_batches(loader.raw_batches, n_batches))
    # No release(): the reader keeps its memory maps, as it does from one training epoch to the next.
    return rates, first_batch_s


def slice_rate(reader, n_batches: int | None, seed: int) -> float:
    """A plain slice of the same array: contiguous reads of as many images as a block-mode window
    holds, at random block-aligned starts, no shuffle: the read that block mode builds on."""
    span = loading.block_window(reader.block_size, BATCH) * reader.block_size
    starts = np.random.default_rng(seed).permutation(np.arange(0, max(1, len(reader) - span + 1), span))
    reads = -(-n_batches * BATCH // span) if n_batches else None
    return time_batches(lambda: ((reader.read_range(int(start), min(int(start) + span, len(reader))), None)
                                 for start in starts), reads)


def warm(reader) -> None:
    """Read the whole set once in order: the page cache, and a library's chunk cache when it is
    sized to hold the set, start warm, as they are from the second training epoch on."""
    for start in range(0, len(reader), 4096):
        reader.read_range(start, min(start + 4096, len(reader)))


def imagefolder_rate(root: Path, resize: bool, image_size: int, workers: int, n_batches: int | None,
                     seed: int) -> float:
    """(c) The peer: torchvision ImageFolder + ToTensor + DataLoader over the same images, as its
    users run it (workers started afresh for the epoch)."""
    return time_batches(lambda: peer.imagefolder_loader(root, image_size, resize, BATCH, workers, seed), n_batches)


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


def main(*, dataset: str = "synthetic", root: str | None = None, image_size: int | None = None, limit: int = 50_000,
         workers: int | None = None, repeats: int = 3, batches: int | None = None, only: list[str] | None = None,
         out: str | Path | None = None) -> dict:
    """Measure every variant (those whose label contains one of ``only``, when given) over
    ``dataset`` (from ``root``), print the table and the targets, and write the JSON result."""
    cores = os.cpu_count() or 1
    workers = cores if workers is None else workers
    source = sources.load(dataset, root, image_size=image_size, limit=limit)
    image_size = int(source.image_shape[0])
    demand, _ = h100_demand(image_size)
    variants = [v for v in VARIANTS if not only or any(word in v[0] for word in only)]
    if not variants:
        raise ValueError(f"loaderbench: no variant matches {only}; variants: {', '.join(v[0] for v in VARIANTS)}")
    rows = []

    def add(label, fmt, mode, w, rates, first_batch_s=None):
        rows.append({"variant": label, "fmt": fmt, "mode": mode, "workers": w,
                     "samples_per_s": float(np.median(rates)), "repeats": [round(r) for r in rates],
                     "first_batch_s": first_batch_s})

    in_ram = np.concatenate([images for images, _ in source.chunks(4096)])
    add("in-RAM NumPy gather (baseline)", "ram", "batch", 0,
        [ram_baseline(in_ram, batches, seed) for seed in range(repeats)])
    del in_ram

    def open_variant(label):
        """The variant's reader, warm. One reader is open at a time: HDF5 shares an open dataset,
        and with it the chunk cache sized by the first reader, with every reader of the file."""
        _, fmt, write_options, open_options, _ = next(v for v in VARIANTS if v[0] == label)
        path, _ = converted.ensure_converted(source, fmt, write_options, progress=False)
        reader = formats.get(fmt).open(path, **open_options)
        warm(reader)
        return reader

    plan = [(v, mode, w) for v in variants for mode in v[4]
            for w in ([0] if mode == "resident" else sorted({0, workers}))]
    reader, opened, decode_rate = None, None, None
    for (label, fmt, _, _, modes), mode, w in tqdm(plan, desc="loaderbench", unit="case"):
        if opened != label:
            if reader is not None:
                reader.close()
            reader, opened = open_variant(label), label
            if "block" in modes:  # the plain read that block mode builds on
                add(label, fmt, "slice", 0, [slice_rate(reader, batches, s + 1) for s in range(repeats)])
            if label == "files png, PIL":
                decode_rate = float(np.median([single_core_decode_rate(reader) for _ in range(repeats)]))
        add(label, fmt, mode, w, *loader_rates(reader, mode, w, repeats, batches))
    if reader is not None:
        reader.close()

    folder, resize, peer_images = peer.peer_folder(source)
    add("ImageFolder + DataLoader (peer)", "imagefolder", "sample", workers,
        [imagefolder_rate(folder, resize, image_size, workers, batches, s) for s in range(repeats)])

    table = pd.DataFrame(rows)
    baseline = table.loc[0, "samples_per_s"]
    table["x_baseline"] = table["samples_per_s"] / baseline
    table["x_h100"] = table["samples_per_s"] / demand

    cores_per_gpu = {}
    streaming = table[table["fmt"].isin(formats.names()) & ~table["mode"].isin(["resident", "slice"])]
    best = streaming.sort_values("samples_per_s").groupby("fmt").tail(1)
    for _, row in tqdm(list(best.iterrows()), desc="cores per GPU", unit="fmt"):
        measured = streaming[(streaming["variant"] == row["variant"]) & (streaming["mode"] == row["mode"])]
        rates = dict(zip(measured["workers"], measured["samples_per_s"]))
        missing = [w for w in range(workers + 1) if w not in rates]
        if missing:
            with open_variant(row["variant"]) as reader:
                for w in missing:
                    rates[w] = float(np.median(loader_rates(reader, row["mode"], w, repeats, batches)[0]))
        rates = {int(w): float(r) for w, r in sorted(rates.items())}
        cores_per_gpu[row["fmt"]] = {"variant": row["variant"], "mode": row["mode"], "rates": rates,
                                     **workers_needed(rates, demand, cores)}

    result = {
        "dataset": dataset, "root": root, "image_size": image_size, "n": len(source), "batch_size": BATCH,
        "workers": workers, "repeats": repeats, "batches_per_measurement": batches, "h100_demand": demand,
        "peer_images": peer_images, "single_core_png_decode_rate": decode_rate,
        "table": table.to_dict(orient="records"), "targets": targets(table, demand, workers),
        "cores_per_gpu": cores_per_gpu, "env": environment(),
    }
    out = Path(out) if out else paths.data_dir("loaderbench") / f"loaderbench-{dataset}-{image_size}.json"
    write_json(out, result)
    print(render(result))
    print(f"\nwritten: {out}")
    return result


def _rate(table: pd.DataFrame, variant: str, mode: str, workers: int = 0) -> float | None:
    hit = table[(table["variant"] == variant) & (table["mode"] == mode) & (table["workers"] == workers)]
    return float(hit["samples_per_s"].iloc[0]) if len(hit) else None


def targets(table: pd.DataFrame, demand: float, workers: int) -> list[dict]:
    """Issue 11's targets as ratios of rates measured in this run (those whose rows were measured)."""
    ram = float(table.loc[0, "samples_per_s"])
    found = []

    def check(what, measured, reference, goal):
        if measured is not None and reference:
            found.append({"target": what, "ratio": float(measured / reference), "goal": goal,
                          "met": bool(measured / reference >= goal)})

    for variant in ("npy", "hdf5 contiguous, direct"):
        for w in sorted({0, workers}):
            check(f"{variant}, block / batch, {w} workers", _rate(table, variant, "block", w),
                  _rate(table, variant, "batch", w), 1.0)
        # the in-RAM gather runs in this process: compared with the loader in this process
        check(f"{variant}, block / in-RAM, 0 workers", _rate(table, variant, "block"), ram, 0.7)
    zarr_block = table[(table["fmt"] == "zarr") & (table["mode"] == "block") & (table["workers"] == 0)]
    if len(zarr_block):
        best = zarr_block.sort_values("samples_per_s").iloc[-1]
        check(f"zarr best block ({best['variant']}) / in-RAM", best["samples_per_s"], ram, 0.5)
        check(f"zarr best block ({best['variant']}) / its plain slice", best["samples_per_s"],
              _rate(table, best["variant"], "slice"), 0.8)
    random = table[(table["fmt"] == "zarr") & (table["mode"] == "batch") & (table["workers"] <= 2)
                   & table["variant"].str.startswith("zarr chunk 64,")]
    cached = random["variant"].str.contains("cache")
    for rows, what in ((random[~cached], "no chunk cache"), (random[cached], "a chunk cache holding the set")):
        if len(rows):
            best = rows.sort_values("samples_per_s").iloc[-1]
            check(f"zarr chunk 64 random batch, {what}: {best['variant']}, {best['workers']} workers / H100",
                  best["samples_per_s"], demand, 1.0)
    return found


def render(result: dict) -> str:
    """The printed report: the table of medians and ratios, then the cores each format needs."""
    table = pd.DataFrame(result["table"])
    buf = io.StringIO()
    print(f"{result['dataset']} {result['image_size']} px, n={result['n']}, batch {result['batch_size']}, "
          f"{result['workers']} workers, median of {result['repeats']} x "
          f"{result['batches_per_measurement'] or 'an epoch of'} batches, warm cache; "
          f"H100 demand {result['h100_demand']:,.0f} img/s", file=buf)
    shown = table.reindex(columns=["variant", "mode", "workers", "samples_per_s", "x_baseline", "x_h100",
                                   "first_batch_s"])
    print(shown.to_string(index=False, na_rep="", formatters={
        "samples_per_s": "{:,.0f}".format, "x_baseline": "{:.3f}".format, "x_h100": "{:.2f}".format,
        "first_batch_s": lambda v: "" if v != v or v is None else f"{v:.2f}"}), file=buf)
    print("(first_batch_s: a fresh loader's seconds to its first batch, worker start-up included)", file=buf)
    print(f"\npeer ImageFolder read {result.get('peer_images', 'the files format PNG tree')}", file=buf)
    if result.get("single_core_png_decode_rate"):
        print(f"single-core PNG decode (files format, PIL): {result['single_core_png_decode_rate']:,.0f} img/s",
              file=buf)
    if result.get("targets"):
        print("\ntargets (ratios of rates measured above, in this run):", file=buf)
        for t in result["targets"]:
            print(f"  {'met   ' if t['met'] else 'MISSED'} {t['target']}: {t['ratio']:.2f}x (goal >= {t['goal']}x)",
                  file=buf)
    print("\nworkers (CPU cores) to feed one H100, each format in its best streaming mode "
          "(resident needs RAM for the whole set, so it is left out):", file=buf)
    for fmt, info in result["cores_per_gpu"].items():
        rates = ", ".join(f"{w}w {r:,.0f}" for w, r in info["rates"].items())
        label = " (extrapolated)" if info["extrapolated"] else ""
        print(f"  {fmt:6s} {info['mode']:8s} needs {info['workers']} workers{label}   [{rates}]", file=buf)
    return buf.getvalue()

