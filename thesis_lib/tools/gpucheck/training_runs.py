"""Step 2, every format under real GPU training: ResNet-18 at 32 px, bf16 autocast,
channels_last, each format in its best mode, synchronous and asynchronous (``queue_steps``); then
the emulated accelerator at the rate this GPU computed, in both modes, and the two AUs compared."""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ... import formats, loading, training
from ...training import models
from .au import au_comparison, au_rows, compute_rate
from .measure import error_text, write_synthetic
from .settings import ANCHORS, ASYNC_QUEUE_STEPS, Sizes
from .table import format_value, make_row, not_measured


@dataclass(frozen=True)
class TrainingRun:
    """One format in its best mode: what step 2 writes, opens and trains on."""
    fmt: str
    access: str
    #: DataLoader workers; None: the host's cores less two, at most 8 (image files need decoding cores).
    workers: int | None = 0
    write_options: Mapping[str, object] = field(default_factory=dict)
    open_options: Mapping[str, object] = field(default_factory=dict)

    def needs_cuda(self) -> bool:
        fmt = formats.get(self.fmt)
        return fmt.needs_cuda(fmt.resolve_open_options(self.open_options))


TRAINING_RUNS = (
    TrainingRun("files", "batch", workers=None),
    TrainingRun("npy", "batch"),
    TrainingRun("hdf5", "block"),
    TrainingRun("zarr", "block"),
    # KvikIO: step 1's rows of its own
    TrainingRun("cupy", "batch", open_options={"resident": True, "use_kvikio": False}),
)


def training_workers(workers: int | None) -> int:
    return workers if workers is not None else max(0, min(8, (os.cpu_count() or 1) - 2))


def train_run(reader, access: str, workers: int, device: str, sizes: Sizes, queue_steps: int,
              emulate_rate: float | None) -> list[dict]:
    """The epochs of one training run (real, or emulated at ``emulate_rate``)."""
    real = emulate_rate is None
    torch.manual_seed(0)
    model = models.build(sizes.model, len(reader.classes), reader.image_shape[0]) if real else None
    loader = loading.make_loader(reader, batch_size=sizes.batch, mode=access, shuffle=True, workers=workers,
                                 seed=0, device=device, augment=real, normalize=real)
    try:
        result = training.fit(model, loader, epochs=sizes.epochs, device=device, num_classes=len(reader.classes),
                              emulate_rate=emulate_rate, queue_steps=queue_steps, progress=False)
    finally:
        loader.release()
    return result["epochs"]


def run_summary(epochs: list[dict], **labels) -> dict:
    """A run as the report keeps it: its labels, its last epoch's figures (the first warms up:
    workers, cuDNN's choice of kernels) and every epoch."""
    last = epochs[-1]
    return {**labels, "epoch_s": last["wall_s"], "samples_per_s": last["samples_per_s"], "au": last["au"],
            "data_wait_s": last["data_wait_s"], "compute_s": last["compute_s"], "samples": last["samples"],
            "epochs": epochs}


def run_row(run: dict, on_gpu: bool) -> dict:
    what = f"{run['fmt']} {run['access']} w{run['workers']}, {run['mode']}, {run['kind']}"
    note = f"epoch {run['epoch_s']:.2f} s, AU {format_value(run['au'])}, wait {run['data_wait_s']:.2f} s"
    return make_row("2", what, run["samples_per_s"], "img/s", run["device"], note=note, on_gpu=on_gpu)


def step_training(work: Path, sizes: Sizes, gpu: str | None, emit: Callable[[dict], dict]) -> list[dict]:
    """Step 2: every format trained for real on ``gpu`` (None: the CPU, a dry run), synchronous
    and asynchronous; then emulated at the rate the device computed, and the AUs compared.
    Returns the runs."""
    on_gpu = gpu is not None
    device, real_name = ("cuda", gpu) if on_gpu else ("cpu", "cpu")
    plan = [run for run in TRAINING_RUNS if on_gpu or not run.needs_cuda()]
    readers, runs = {}, []
    for spec in plan:
        try:
            write_synthetic(spec.fmt, sizes.train_images, work / f"t-{spec.fmt}", **spec.write_options)
            readers[spec.fmt] = formats.get(spec.fmt).open(work / f"t-{spec.fmt}", **spec.open_options)
        except Exception as exc:  # noqa: BLE001 - one format failing must not stop the others
            emit(not_measured("2", f"{spec.fmt}: write and open", "", f"failed: {error_text(exc)}"))
    modes = {"sync": 0, "async": ASYNC_QUEUE_STEPS}
    bar = tqdm(total=2 * len(readers) * len(modes), desc="gpucheck training", unit="run", leave=False,
               disable=None)  # None: no bar when the output is a pipe or a file (the table saved by tee)

    def run_all(kind: str, rate: float | None) -> None:
        for spec in plan:
            if spec.fmt not in readers:
                continue
            fmt, access, reader, workers = spec.fmt, spec.access, readers[spec.fmt], training_workers(spec.workers)
            # The emulated accelerator stands in for the GPU on the host, as in the CPU-side runs;
            # a reader that reads into GPU memory keeps its batches there.
            run_device = device if kind == "real" or reader.on_device else "cpu"
            name = real_name if kind == "real" else (
                f"emulated {rate:,.0f} img/s on " + (real_name if run_device == device else "host cpu"))
            for mode, k in modes.items():
                labels = dict(fmt=fmt, access=access, workers=workers, mode=mode, queue_steps=k, kind=kind, device=name)
                try:
                    run = run_summary(train_run(reader, access, workers, run_device, sizes, k, rate), **labels)
                except Exception as exc:  # noqa: BLE001
                    emit(not_measured("2", f"{fmt} {access} w{workers}, {mode}, {kind}", "img/s",
                                      f"failed: {error_text(exc)}"))
                else:
                    runs.append(run)
                    emit(run_row(run, on_gpu))
                bar.update()

    try:
        run_all("real", None)
        rate = compute_rate(runs)
        precision = "bf16 channels_last" if on_gpu else "fp32"
        emit(make_row("2", f"{sizes.model} 32 px, batch {sizes.batch}, {precision}: compute rate", rate, "img/s",
                      real_name, anchor=ANCHORS["resnet18"] if on_gpu else None,
                      note="anchor: ResNet-18 on one H100" if on_gpu else "the CPU computing, not a GPU"))
        if rate:
            run_all("emulated", rate)
    finally:
        bar.close()
        for reader in readers.values():
            reader.close()
    for row in au_rows(au_comparison(runs), on_gpu):
        emit(row)
    return runs
