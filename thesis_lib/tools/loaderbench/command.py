"""The command: every chosen variant measured in one process, the cores each format needs, the JSON
result written and the report printed."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ... import formats, loading, sources
from ...core import paths
from ...core.checks import checked_int
from ...core.record import environment, write_json
from ...core.stats import h100_demand
from ...run import converted
from .. import peer
from .rates import (BATCH, imagefolder_rate, loader_rates, ram_baseline, single_core_decode_rate, slice_rate, warm,
                    workers_needed)
from .report import render, targets
from .variants import PNG_DECODE_VARIANT, Variant, matching, named


def main(*, dataset: str = "synthetic", root: str | None = None, image_size: int | None = None, limit: int = 50_000,
         workers: int | None = None, repeats: int = 3, batches: int | None = None, only: list[str] | None = None,
         out: str | Path | None = None) -> dict:
    """Measure every variant (those whose label contains one of ``only``, when given) over
    ``dataset`` (from ``root``), print the table and the targets, and write the JSON result.
    ValueError, before anything is loaded, for ``repeats`` or ``batches`` below 1 or an ``only``
    that matches no variant."""
    checked_int(repeats, "loaderbench: repeats", 1)
    if batches is not None:
        checked_int(batches, "loaderbench: batches", 1)
    variants = matching(only)
    cores = os.cpu_count() or 1
    workers = cores if workers is None else workers
    source = sources.load(dataset, root, image_size=image_size, limit=limit)
    image_size = int(source.image_shape[0])
    demand, _ = h100_demand(image_size)
    rows = []

    def add(label, fmt, mode, w, rates, first_batch_s=None, kind="process"):
        rows.append({"variant": label, "fmt": fmt, "mode": mode, "workers": w, "kind": kind if w else "",
                     "samples_per_s": float(np.median(rates)), "repeats": [round(r) for r in rates],
                     "first_batch_s": first_batch_s})

    in_ram = np.concatenate([images for images, _ in source.chunks(4096)])
    add("in-RAM NumPy gather (baseline)", "ram", "batch", 0,
        [ram_baseline(in_ram, batches, seed) for seed in range(repeats)])
    del in_ram
    decode_rate = measure_variants(source, variants, workers, repeats, batches, add)
    folder, resize, peer_images = peer.peer_folder(source)
    add("ImageFolder + DataLoader (peer)", "imagefolder", "sample", workers,
        [imagefolder_rate(folder, resize, image_size, workers, batches, s) for s in range(repeats)])

    table = pd.DataFrame(rows)
    baseline = table.loc[0, "samples_per_s"]
    table["x_baseline"] = table["samples_per_s"] / baseline
    table["x_h100"] = table["samples_per_s"] / demand
    result = {
        "dataset": dataset, "root": root, "image_size": image_size, "n": len(source), "batch_size": BATCH,
        "workers": workers, "repeats": repeats, "batches_per_measurement": batches, "h100_demand": demand,
        "peer_images": peer_images, "single_core_png_decode_rate": decode_rate,
        "table": table.to_dict(orient="records"), "targets": targets(table, demand, workers),
        "cores_per_gpu": cores_per_gpu(source, table, workers, cores, demand, repeats, batches), "env": environment(),
    }
    out = Path(out) if out else paths.data_dir("loaderbench") / f"loaderbench-{dataset}-{image_size}.json"
    write_json(out, result)
    print(render(result))
    print(f"\nwritten: {out}")
    return result


def open_variant(source, variant: Variant):
    """The variant's reader over ``source`` (converted once), warm."""
    path, _ = converted.ensure_converted(source, variant.fmt, variant.write_options, progress=False)
    reader = formats.get(variant.fmt).open(path, **variant.open_options)
    warm(reader)
    return reader


def measure_variants(source, variants: list[Variant], workers: int, repeats: int, batches: int | None,
                     add: Callable) -> float | None:
    """Each variant in each of its modes, with 0 and ``workers`` workers (``resident`` with 0), and
    its plain slice where it reads in blocks, each measurement handed to ``add``. Returns the
    single-core PNG decode rate (None when its variant was not chosen). One reader is open at a
    time: HDF5 shares an open dataset, and with it the chunk cache sized by the first reader,
    with every reader of the file."""
    plan = [(variant, mode, w, kind) for variant in variants for mode in variant.modes
            for w, kind in ([(0, "process")] if mode == "resident" else worker_cases(workers, mode))]
    plan += [(variant, mode, 1, "thread") for variant in variants for mode in variant.one_thread_modes if workers > 1]
    reader, opened, decode_rate = None, None, None
    for variant, mode, w, kind in tqdm(plan, desc="loaderbench", unit="case"):
        if opened is not variant:
            if reader is not None:
                reader.close()
            reader, opened = open_variant(source, variant), variant
            if "block" in variant.modes:  # the plain read that block mode builds on
                add(variant.label, variant.fmt, "slice", 0, [slice_rate(reader, batches, s + 1) for s in range(repeats)])
            if variant.label == PNG_DECODE_VARIANT:
                decode_rate = float(np.median([single_core_decode_rate(reader) for _ in range(repeats)]))
        add(variant.label, variant.fmt, mode, w, *loader_rates(reader, mode, w, repeats, batches, kind), kind=kind)
    if reader is not None:
        reader.close()
    return decode_rate


def worker_cases(workers: int, mode: str) -> list[tuple[int, str]]:
    """``(workers, kind)`` measured per variant and mode: none, then ``workers`` of each kind the mode reads through."""
    return [(0, "process")] + [(workers, kind) for kind in loading.MODES[mode].worker_kinds if workers]


def cores_per_gpu(source, table: pd.DataFrame, workers: int, cores: int, demand: float, repeats: int,
                  batches: int | None) -> dict:
    """Per format, its best streaming variant, mode and worker kind measured with every worker
    count up to ``workers`` (those not measured yet measured now), and the workers it needs to
    reach ``demand``."""
    found = {}
    streaming = table[table["fmt"].isin(formats.names()) & ~table["mode"].isin(["resident", "slice"])]
    best = streaming.sort_values("samples_per_s").groupby("fmt").tail(1)
    for _, row in tqdm(list(best.iterrows()), desc="cores per GPU", unit="fmt"):
        kind = row["kind"] or "process"
        measured = streaming[(streaming["variant"] == row["variant"]) & (streaming["mode"] == row["mode"])
                             & streaming["kind"].isin(["", kind])]
        rates = dict(zip(measured["workers"], measured["samples_per_s"]))
        missing = [w for w in range(workers + 1) if w not in rates]
        if missing:
            with open_variant(source, named(row["variant"])) as reader:
                for w in missing:
                    rates[w] = float(np.median(loader_rates(reader, row["mode"], w, repeats, batches, kind)[0]))
        rates = {int(w): float(r) for w, r in sorted(rates.items())}
        found[row["fmt"]] = {"variant": row["variant"], "mode": row["mode"], "kind": kind, "rates": rates,
                             **workers_needed(rates, demand, cores)}
    return found
