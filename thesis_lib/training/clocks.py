"""How a training step's compute is timed: one small interface for every regime (see docs/design.md).

Every clock has

``batch_ready()``         called when ``next(loader)`` has returned, still inside the data wait;
``submit(samples, run)``  a step of ``samples`` images: ``run()`` is its host work (the real
                          training step, or nothing when emulating), then its compute is done
                          or queued;
``drain()``               wait until every submitted step is done;
``busy_s``                seconds of compute so far.

Two ways of timing, chosen by ``queue_steps`` (``k``), the steps the host may run ahead of the
accelerator:

``k = 0`` (synchronous, the default)
    After each step the host waits for the accelerator: CUDA is synchronised after every step,
    the emulated accelerator sleeps in the main thread. While the device computes, the host does
    nothing, so with 0 workers the next batch is never read meanwhile. Simple and exact per step,
    but slower than real training, where nothing forces the wait.
``k >= 1`` (asynchronous, as a real training loop without a per-step ``.item()``)
    The host queues up to ``k`` steps on the accelerator and goes on reading; it blocks only when
    more than ``k`` steps are outstanding (on CUDA it waits for the end event of step ``i - k``;
    the emulated accelerator keeps a busy-until clock), and at the end of the epoch until all are
    done. On a CPU device a real step is synchronous whatever ``k``.

Emulated accelerator (``emulate_rate`` img/s, as DLIO's ``computation_time``): instead of a model,
each batch costs ``batch_size / emulate_rate`` seconds. It **sleeps** (until a deadline, so the
time per batch is exact up to the scheduler's wake-up delay) rather than spinning: a real GPU
computes without using host CPU, and sleeping likewise leaves the core free for DataLoader
workers, which on a two-core machine is the difference between measuring the format and
measuring a busy-wait. ``emulate_rate=0`` is loader-only: no compute at all, ``busy_s`` stays 0.

Nothing here touches CUDA until a CUDA clock is used, so the module imports without a GPU.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Callable, Protocol

import torch

__all__ = ["Clock", "CudaQueue", "EmulatedAccelerator", "EmulatedSyncClock", "LoaderOnlyClock", "SyncClock",
           "make_clock"]


def no_work() -> None:
    """The host work of a step that has none (emulation: there is no model)."""


class Clock(Protocol):
    busy_s: float

    def batch_ready(self) -> None: ...

    def submit(self, samples: int, run: Callable[[], object] = no_work) -> None: ...

    def drain(self) -> None: ...


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sleep_until(deadline: float, clock=time.perf_counter, sleep=time.sleep) -> None:
    """Sleep until ``clock()`` reaches ``deadline`` (never less: ``sleep`` may wake early)."""
    while (left := deadline - clock()) > 0:
        sleep(left)


def emulate_compute(batch_size: int, rate: float) -> None:
    """Spend ``batch_size / rate`` seconds as an accelerator would: asleep (see the module doc)."""
    sleep_until(time.perf_counter() + batch_size / rate)


class SyncClock:
    """Synchronous real steps: each is done on ``device`` before :meth:`submit` returns.

    ``busy_s`` is host time from a step's start until the device finished it (CUDA synchronised,
    so the device's time, not the launch's). ``clock`` is injectable for tests.
    """

    def __init__(self, device: torch.device, clock=time.perf_counter):
        self.device, self.clock = device, clock
        self.busy_s = 0.0

    def batch_ready(self) -> None:
        synchronize(self.device)  # the loader's copies and transforms are data time, not compute

    def submit(self, samples: int, run: Callable[[], object] = no_work) -> None:
        start = self.clock()
        run()
        self.finish(samples)
        self.busy_s += self.clock() - start

    def finish(self, samples: int) -> None:
        """Wait for the device's part of the step just run."""
        synchronize(self.device)

    def drain(self) -> None:
        """Nothing is ever in flight."""


class EmulatedSyncClock(SyncClock):
    """Synchronous emulated steps: each sleeps ``samples / rate`` in the main thread, timed as slept."""

    def __init__(self, device: torch.device, rate: float, clock=time.perf_counter):
        if not rate > 0:
            raise ValueError(f"EmulatedSyncClock: rate must be > 0 img/s, got {rate}")
        super().__init__(device, clock)
        self.rate = rate

    def finish(self, samples: int) -> None:
        emulate_compute(samples, self.rate)


class LoaderOnlyClock(SyncClock):
    """No accelerator (``emulate_rate`` 0): steps cost nothing and ``busy_s`` stays 0."""

    def submit(self, samples: int, run: Callable[[], object] = no_work) -> None:
        run()


class EmulatedAccelerator:
    """An accelerator of ``rate`` img/s that queues up to ``queue_steps`` steps (``k``) asynchronously.

    It keeps a busy-until clock: a step submitted at ``now`` starts at ``max(now, busy_until)`` and
    ends ``batch / rate`` seconds later. :meth:`submit` returns at once while at most ``k`` steps
    are outstanding, else sleeps until the oldest is done; :meth:`drain` sleeps until all are.
    ``busy_s`` is the emulated compute time so far (the sum of ``batch / rate``). ``clock`` and
    ``sleep`` are injectable so the queueing can be tested without real time.
    """

    def __init__(self, rate: float, queue_steps: int, clock=time.perf_counter, sleep=time.sleep):
        if not rate > 0:
            raise ValueError(f"EmulatedAccelerator: rate must be > 0 img/s, got {rate}")
        if queue_steps < 1:
            raise ValueError(f"EmulatedAccelerator: queue_steps must be >= 1 (0 is synchronous), got {queue_steps}")
        self.rate, self.queue_steps = rate, queue_steps
        self.clock, self.sleep = clock, sleep
        self.busy_until = 0.0
        self.busy_s = 0.0
        self.finishes: deque[float] = deque()  # end times of the steps not yet known to be done

    def batch_ready(self) -> None:
        """The host does not wait for the accelerator here."""

    def outstanding(self) -> int:
        """Steps queued and not yet done."""
        now = self.clock()
        while self.finishes and self.finishes[0] <= now:
            self.finishes.popleft()
        return len(self.finishes)

    def submit(self, samples: int, run: Callable[[], object] = no_work) -> None:
        run()
        seconds = samples / self.rate
        self.busy_until = max(self.clock(), self.busy_until) + seconds
        self.busy_s += seconds
        self.finishes.append(self.busy_until)
        while self.outstanding() > self.queue_steps:
            sleep_until(self.finishes[0], self.clock, self.sleep)

    def drain(self) -> None:
        sleep_until(self.busy_until, self.clock, self.sleep)
        self.finishes.clear()


def recorded_cuda_event() -> torch.cuda.Event:
    """A timing event recorded now on the current CUDA stream."""
    event = torch.cuda.Event(enable_timing=True)
    event.record()
    return event


class CudaQueue:
    """Real steps on CUDA with up to ``queue_steps`` in flight, timed by CUDA events.

    ``busy_s`` is the device's busy time summed over the retired steps (each step's start event
    to its end event). ``record_event`` makes a recorded event; injectable so the queueing can be
    tested without a GPU.
    """

    def __init__(self, queue_steps: int, record_event: Callable[[], torch.cuda.Event] = recorded_cuda_event):
        if queue_steps < 1:
            raise ValueError(f"CudaQueue: queue_steps must be >= 1 (0 is synchronous), got {queue_steps}")
        self.queue_steps, self.record_event = queue_steps, record_event
        self.pending: deque[tuple[torch.cuda.Event, torch.cuda.Event]] = deque()
        self.busy_s = 0.0

    def batch_ready(self) -> None:
        """The host does not wait for the device here: queued steps may still be computing."""

    def submit(self, samples: int, run: Callable[[], object] = no_work) -> None:
        start = self.record_event()
        run()
        self.pending.append((start, self.record_event()))
        while len(self.pending) > self.queue_steps:
            self._retire()

    def _retire(self) -> None:
        start, end = self.pending.popleft()
        end.synchronize()
        self.busy_s += start.elapsed_time(end) / 1000

    def drain(self) -> None:
        while self.pending:
            self._retire()


def make_clock(device: torch.device, emulate_rate: float | None, queue_steps: int) -> Clock:
    """The clock for a run: real or emulated (``emulate_rate``, 0 loader-only), ``queue_steps`` ahead.

    ``queue_steps`` must already be a checked count. A real step on a non-CUDA device is
    synchronous whatever ``queue_steps``.
    """
    if emulate_rate == 0:
        return LoaderOnlyClock(device)
    if emulate_rate is not None:
        return EmulatedAccelerator(emulate_rate, queue_steps) if queue_steps else EmulatedSyncClock(device, emulate_rate)
    if queue_steps and device.type == "cuda":
        return CudaQueue(queue_steps)
    return SyncClock(device)
