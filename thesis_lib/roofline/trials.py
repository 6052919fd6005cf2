"""How much each measurement of a profile repeats, and its trials summarised as a :class:`.profile.Stat`."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..core.errors import ThesisLabError
from ..core.stats import median_ci
from .profile import Stat

BATCH = 512  # images per batch, as the thesis grid and loaderbench read them


@dataclass(frozen=True)
class Settings:
    """``trials``: values per primitive (its median and bootstrap interval are over them);
    ``gather_rows``: rows of 12 KiB in the in-RAM array gathered from; ``storage_mb``,
    ``storage_budget_s``: the storage check's scratch file and seconds per cold phase;
    ``decode_images``: images decoded per trial at each size; ``request_images``: images in each
    read path's small dataset; ``request_chunks``: chunks of 64 images of 64 px in its sized
    one; ``request_batches``: batches of requests per trial;
    ``handover_px``: the image sizes whose batches the handover line is fitted through;
    ``loader_batches``: batches per epoch of the in-RAM loaders; ``handover_epochs``: timed epochs
    per loader in the handover's trials (their median is the trial's value)."""
    trials: int
    gather_rows: int
    storage_mb: int
    storage_budget_s: float
    decode_images: dict
    request_images: int
    request_chunks: int
    request_batches: int
    handover_px: tuple
    loader_batches: int
    handover_epochs: int


FULL = Settings(trials=7, gather_rows=16_384, storage_mb=256, storage_budget_s=1.5,
                decode_images={32: 512, 64: 256, 128: 128, 256: 64}, request_images=4096, request_chunks=64,
                request_batches=3,
                handover_px=(16, 32, 64), loader_batches=40, handover_epochs=3)
QUICK = Settings(trials=2, gather_rows=1024, storage_mb=8, storage_budget_s=0.15,
                 decode_images={32: 16, 64: 8, 128: 4, 256: 2}, request_images=64, request_chunks=4,
                 request_batches=1,
                 handover_px=(8, 16), loader_batches=2, handover_epochs=1)


class Stopwatch:
    """Seconds of work done in this process on the CPU (``with Stopwatch() as watch: ...;
    watch.seconds``): the lesser of the wall time and the process's CPU time (user and system, all
    its threads). On a shared machine the wall time of a process taken off the CPU includes other
    processes' turns, and its CPU time does not; where a library works on several threads at once,
    the wall time is the lesser. Only for work that waits on nothing but the CPU and memory."""

    def __enter__(self) -> "Stopwatch":
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._wall
        self.seconds = min(self.wall, time.process_time() - self._cpu)


class MeasureError(ThesisLabError):
    """A primitive whose trials gave no usable value (named)."""


def stat(name: str, values) -> Stat:
    """The median of ``values`` (one per trial) with its percentile-bootstrap 95% interval."""
    values = [float(v) for v in values]
    if not values or not all(math.isfinite(v) and v >= 0 for v in values):
        raise MeasureError(f"roofline measure: {name} gave no finite, non-negative value: {values}")
    return Stat(*median_ci(values))
