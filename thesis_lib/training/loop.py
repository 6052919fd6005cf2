"""Training and evaluation, timed the way the measurement protocol asks (see docs/design.md).

In the style of torchvision's classification references: :func:`train_one_epoch`,
:func:`evaluate`, an SGD optimizer and a per-step schedule, and :func:`fit` to run them.

How each step's compute is timed (synchronously or with ``queue_steps`` steps queued, real or
emulated) is the job of :mod:`thesis_lib.training.clocks`; this module runs one loop over whichever clock
:func:`~thesis_lib.training.clocks.make_clock` picks.

Each epoch reports

``wall_s``        the whole epoch, first ``next(loader)`` to the last step done (async: drained);
``data_wait_s``   time the host was blocked in ``next(loader)``: reading, collating, the move to the
                  device and the on-device transforms the loader runs. Sync: the accelerator is
                  idle all that time (on CUDA the loader's copies are synchronised before compute
                  starts). Async: host time only; the accelerator may still be computing queued
                  steps meanwhile, so it idles only ``wall_s - compute_s``;
``compute_s``     forward, backward and optimizer step (or the emulated compute). Sync: host time
                  from the step's start until the device finished it (CUDA synchronised, so the
                  device's time, not the launch's; the emulator's sleep as slept). Async: the
                  device's busy time, summed over steps (CUDA events around each step; the
                  emulator's ``batch / rate`` per step);
``first_batch_s`` the wait for the first batch: the pipeline filling (and, where workers start with
                  the epoch, their start);
``samples_per_s`` samples / wall_s;
``au``            accelerator utilisation over the whole epoch, compute_s / wall_s, in the mode
                  ``queue_steps`` names (an epoch's stats carry it);
``au_mlperf``     the same with the first step's I/O left out, compute_s / (wall_s - first_batch_s):
                  MLPerf Storage's rule, which charges a run's steady state, not its start;
``peak_rss_mb``   peak resident memory of this (the training) process so far; DataLoader workers
                  are separate processes and not included.

``emulate_rate=0`` is loader-only: no compute at all, ``compute_s`` is 0 and ``au`` is None (there
is no accelerator whose utilisation could be reported).
"""
from __future__ import annotations

import math
import time
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..core.checks import check_measured_epochs, checked_int
from ..core.machine import peak_rss_mb
from . import metrics
from .clocks import EmulatedAccelerator, make_clock
from .steps import autocast, make_steps

__all__ = ["EmulatedAccelerator", "evaluate", "fit", "make_optimizer", "make_scheduler", "train_one_epoch"]


def prepare_model(model: nn.Module, device) -> nn.Module:
    """The model on ``device``, channels_last on CUDA (the loader's images are too)."""
    device = torch.device(device)
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def make_optimizer(model: nn.Module, lr: float, momentum: float = 0.9, nesterov: bool = True,
                   weight_decay: float = 5e-4) -> torch.optim.SGD:
    """SGD with (Nesterov) momentum and weight decay on every parameter."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=nesterov,
                           weight_decay=weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int,
                   warmup_fraction: float = 0.1) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step learning rate: linear warm-up from 0 over ``warmup_fraction``, then cosine to 0."""
    warmup = max(1, round(warmup_fraction * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_one_epoch(model: nn.Module | None, loader, optimizer, *, device, scheduler=None,
                    emulate_rate: float | None = None, queue_steps: int = 0, progress: bool = True,
                    epoch: int = 0) -> dict:
    """Train one pass over ``loader`` (or emulate it) and time it; returns the epoch's stats.

    With ``emulate_rate`` set, ``model`` and ``optimizer`` may be None. ``loss`` is the mean
    training loss, None when emulating. ``queue_steps``: steps the host may run ahead of the
    accelerator, 0 to synchronise after every step (see the module doc for what each figure
    means in either mode).
    """
    device = torch.device(device)
    emulating = emulate_rate is not None
    if emulating and emulate_rate < 0:
        raise ValueError(f"emulate_rate must be >= 0 img/s, got {emulate_rate}")
    queue_steps = checked_int(queue_steps, "queue_steps", 0)
    steps = make_steps(model, optimizer, scheduler, device, emulating)
    clock = make_clock(device, emulate_rate, queue_steps)
    data_wait = 0.0
    first_batch = None
    samples = 0
    bar = tqdm(total=len(loader), desc=f"train {epoch}", unit="batch", leave=False, disable=not progress)
    batches = iter(loader)
    wall_start = time.perf_counter()
    while True:
        wait_start = time.perf_counter()
        try:
            images, labels = next(batches)
        except StopIteration:
            break
        clock.batch_ready()
        compute_start = time.perf_counter()
        data_wait += compute_start - wait_start
        if first_batch is None:
            first_batch = compute_start - wait_start
        clock.submit(len(labels), partial(steps, images, labels))
        samples += len(labels)
        bar.update()
    clock.drain()
    wall = time.perf_counter() - wall_start
    bar.close()
    compute = clock.busy_s
    first_batch = first_batch or 0.0
    return {
        "epoch": epoch,
        "wall_s": wall,
        "data_wait_s": data_wait,
        "first_batch_s": first_batch,
        "compute_s": compute,
        "samples": samples,
        "samples_per_s": samples / wall if wall > 0 else 0.0,
        "au": utilisation(compute, wall, emulate_rate),
        "au_mlperf": utilisation(compute, wall - first_batch, emulate_rate),
        "queue_steps": queue_steps,
        "peak_rss_mb": peak_rss_mb(),
        "loss": steps.mean_loss(samples),
    }


def utilisation(compute: float, wall: float, emulate_rate: float | None) -> float | None:
    """compute / wall; None for a loader-only run (``emulate_rate`` 0), which has no accelerator."""
    if emulate_rate == 0:
        return None
    return compute / wall if wall > 0 else 0.0


def all_reduce_sum(array: np.ndarray, device: torch.device, world_size: int) -> np.ndarray:
    """Sum ``array`` over the ranks of torch.distributed (unchanged when not distributed)."""
    if world_size <= 1 or not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return array
    tensor = torch.from_numpy(np.ascontiguousarray(array)).to(device)
    torch.distributed.all_reduce(tensor)
    return tensor.cpu().numpy()


@torch.inference_mode()
def evaluate(model: nn.Module, loader, *, device, num_classes: int, progress: bool = True) -> dict:
    """Accuracy, macro-F1, the confusion matrix (rows true, columns predicted) and the mean loss.

    Under torch.distributed each rank evaluates its shard and the counts are summed over ranks
    (DistributedSampler's padding may count up to ``world_size - 1`` samples twice).
    """
    device = torch.device(device)
    model.eval()
    predictions, targets = [], []
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    for images, labels in tqdm(loader, desc="evaluate", unit="batch", leave=False, disable=not progress):
        with autocast(device):
            logits = model(images)
        loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum")
        predictions.append(logits.argmax(dim=1).cpu())
        targets.append(labels.cpu())
    cm = metrics.confusion_matrix(torch.cat(targets).numpy(), torch.cat(predictions).numpy(), num_classes)
    world_size = getattr(loader, "world_size", 1)
    cm = all_reduce_sum(cm, device, world_size)
    loss_sum = all_reduce_sum(np.array([loss_sum.item()]), device, world_size)[0]
    result = metrics.scores(cm)
    return {
        "accuracy": result["accuracy"],
        "f1_macro": result["f1_macro"],
        "confusion": cm.tolist(),
        "loss": float(loss_sum) / max(1, int(cm.sum())),
    }


def data_parallel(model: nn.Module, device: torch.device, world_size: int) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel when the loader is one rank's shard of several."""
    if world_size <= 1:
        return model
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        raise ValueError("fit: the loader is sharded over ranks but torch.distributed is not initialised")
    if device.type != "cuda":
        return nn.parallel.DistributedDataParallel(model)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return nn.parallel.DistributedDataParallel(model, device_ids=[index])


def fit(model: nn.Module | None, train_loader, test_loader=None, *, epochs: int, device, num_classes: int,
        lr: float = 0.1, emulate_rate: float | None = None, queue_steps: int = 0, cache: str = "warm",
        warmup_epochs: int = 0, progress: bool = True) -> dict:
    """Train for ``epochs`` epochs, then evaluate once; returns ``{"epochs": [...], "eval": ...}``.

    The first ``warmup_epochs`` of them are start-up (``"warmup": True`` in their stats): they
    train like the others, but they are where workers start, the pipeline fills and (warm cache)
    the page cache fills, so the measurement protocol keeps them apart from the steady state.

    When ``train_loader`` is one rank's shard (``world_size > 1``), training runs through
    DistributedDataParallel (gradients averaged over ranks); evaluation uses the bare model, so it
    may run on one rank alone.

    ``cache="cold"`` evicts the training set's files from the page cache before every epoch and
    records, per epoch, ``cold`` and ``cached_fraction`` (what mincore found still cached after
    the eviction: near 0 on a disk, near 1 on tmpfs where eviction is impossible). When emulating,
    ``model`` may be None and ``eval`` is None. ``queue_steps``: see :func:`train_one_epoch`.
    """
    if cache not in ("warm", "cold"):
        raise ValueError(f"cache must be 'warm' or 'cold', got {cache!r}")
    check_measured_epochs(epochs, warmup_epochs)
    device = torch.device(device)
    trained = optimizer = scheduler = None
    if emulate_rate is None:
        model = prepare_model(model, device)
        trained = data_parallel(model, device, getattr(train_loader, "world_size", 1))
        optimizer = make_optimizer(model, lr)
        scheduler = make_scheduler(optimizer, epochs * len(train_loader))
    history = []
    for epoch in range(epochs):
        train_loader.set_epoch(epoch)
        cached_fraction = train_loader.evict() if cache == "cold" else None
        stats = train_one_epoch(trained, train_loader, optimizer, device=device, scheduler=scheduler,
                                emulate_rate=emulate_rate, queue_steps=queue_steps, progress=progress,
                                epoch=epoch)
        history.append({**stats, "warmup": epoch < warmup_epochs, "cold": cache == "cold",
                        "cached_fraction": cached_fraction})
    result = None
    if test_loader is not None and emulate_rate is None:
        result = evaluate(model, test_loader, device=device, num_classes=num_classes, progress=progress)
    return {"epochs": history, "eval": result}
