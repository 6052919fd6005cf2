"""What each access mode's speed costs in randomness: the order it visits an epoch in, measured
beside a uniform shuffle, without reading an image (each mode's order is a function of its seed,
epoch and the reader's layout).

Per epoch, averaged over epochs:

- ``displacement``: the mean distance of an image's place in the epoch from its place in
  storage, over the dataset's length. A uniform shuffle gives about 1/3.
- ``batch_span``: the mean distance between a batch's first and last image in storage, over the
  dataset's length (uniform: nearly 1; a batch drawn from a few blocks or shards: small).
- ``storage_neighbours``: the share of consecutive images in the epoch that lie within 64 of each
  other in storage (uniform: about 128 / n).
- ``classes_per_batch``: the mean number of classes in a batch.
- ``longest_class_run``: the longest run of one class inside any batch, and its mean over batches.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import formats, loading, sources
from ..core import paths
from ..core.record import write_json
from ..loading.options import LoaderRequest
from ..loading.orders import BlockWindows
from ..loading.stream import StreamOrder, epoch_order
from ..run import converted

NEIGHBOUR = 64  # storage distance within which two images count as neighbours (a small chunk)


def mode_order(reader, mode: str, batch_size: int, seed: int, epoch: int, workers: int = 0,
               **mode_options) -> np.ndarray:
    """The indices a loader in ``mode`` over ``reader`` visits in ``epoch``, found from its sampler."""
    options = loading.resolve_options(mode, mode_options)
    request = LoaderRequest(reader=reader, batch_size=batch_size, shuffle=True, workers=workers, worker_kind="process",
                            seed=seed,
                            device=torch.device("cpu"), drop_last=False, rank=0, world_size=1, options=options)
    sampler = loading.MODES[mode].sampler(request)
    sampler.set_epoch(epoch)
    if isinstance(sampler, StreamOrder):
        return epoch_order(sampler, epoch, batch_size)
    if isinstance(sampler, BlockWindows):
        return np.concatenate(sampler.windows())
    return np.fromiter(sampler, dtype=np.int64)


def longest_run(values: np.ndarray) -> int:
    if len(values) == 0:
        return 0
    breaks = np.flatnonzero(np.diff(values) != 0)
    return int(np.diff(np.r_[-1, breaks, len(values) - 1]).max())


def quality(order: np.ndarray, labels: np.ndarray, batch_size: int) -> dict:
    """The measures of one epoch's ``order`` (see the module's docstring)."""
    n = len(order)
    batches = [order[k:k + batch_size] for k in range(0, n, batch_size)]
    runs = [longest_run(labels[b]) for b in batches]
    return {
        "displacement": float(np.mean(np.abs(order - np.arange(n))) / n),
        "batch_span": float(np.mean([(b.max() - b.min()) / n for b in batches])),
        "storage_neighbours": float(np.mean(np.abs(np.diff(order)) <= NEIGHBOUR)),
        "classes_per_batch": float(np.mean([len(np.unique(labels[b])) for b in batches])),
        "longest_class_run": int(max(runs)),
        "mean_longest_class_run": float(np.mean(runs)),
    }


def measure(reader, batch_size: int, buffers: list[int], epochs: int, seed: int, workers: int) -> pd.DataFrame:
    """One row per order: uniform, batch, block and stream with each of ``buffers``; each the mean over ``epochs``."""
    labels = np.asarray(reader.labels)
    cases = [("uniform", None, lambda e: np.random.default_rng((seed, e, 7)).permutation(len(reader))),
             ("batch", None, lambda e: mode_order(reader, "batch", batch_size, seed, e)),
             ("block", None, lambda e: mode_order(reader, "block", batch_size, seed, e))]
    cases += [("stream", buffer, lambda e, b=buffer: mode_order(reader, "stream", batch_size, seed, e, workers,
                                                                 buffer=b)) for buffer in buffers]
    rows = []
    for mode, buffer, order_of in cases:
        measured = pd.DataFrame([quality(order_of(e), labels, batch_size) for e in range(epochs)])
        means = measured.mean().to_dict()
        means["longest_class_run"] = int(measured["longest_class_run"].max())
        rows.append({"mode": mode, "buffer": buffer or "", **means})
    return pd.DataFrame(rows)


def main(*, dataset: str, root: str | None, image_size: int | None, limit: int | None, fmt: str,
         write_options: dict, batch_size: int, buffers: list[int], epochs: int, seed: int, workers: int,
         out=None) -> pd.DataFrame:
    """Convert ``dataset`` to ``fmt`` (reused when converted already), measure every mode's order and
    print and write the table."""
    source = sources.load(dataset, root, image_size=image_size, limit=limit)
    path, _ = converted.ensure_converted(source, fmt, write_options, progress=False)
    with formats.get(fmt).open(path) as reader:
        table = measure(reader, batch_size, buffers, epochs, seed, workers)
        layout = {"block_size": int(reader.block_size),
                  "shards": len(loading.stream.shard_ranges(reader))}
    out = out or paths.data_dir("shufflequality") / f"shufflequality-{dataset}-{len(source)}.json"
    write_json(out, {"dataset": dataset, "root": root, "n": len(source), "fmt": fmt, "write_options": write_options,
                     **layout, "batch_size": batch_size, "epochs": epochs, "seed": seed, "workers": workers,
                     "table": table.to_dict(orient="records")})
    print(f"{dataset}, n={len(source)}, {fmt} {write_options or ''} (block {layout['block_size']}, "
          f"{layout['shards']} shards), batch {batch_size}, {workers} workers, mean of {epochs} epochs\n")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    print(f"\nwritten: {out}")
    return table
