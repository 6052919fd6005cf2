"""Read amplification from a layout: how many storage units (chunks, shards, runs of rows) one batch
touches and how many bytes it reads, for each access mode. Exact expectations, no sampling.

A ``batch`` read draws ``batch`` distinct images of ``n`` uniformly at random (the epoch's
permutation cut into batches), sorted; ``sample`` reads them one at a time; ``block`` reads
shuffled whole blocks, ``window`` at a time, as contiguous runs; ``stream`` and ``slice`` read
units in order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Touch:
    """What one batch reads: ``requests`` read calls to the library (a chunk, a run, an image),
    ``units`` of ``unit_images`` images each that it decodes or copies whole, and ``images``
    images it keeps."""
    requests: float
    units: float
    unit_images: int
    images: int

    @property
    def images_read(self) -> float:
        """Images' worth of data read (and decoded, when compressed): the read amplification times
        the batch."""
        return self.units * self.unit_images


def _checked(n: int, batch: int, unit: int) -> None:
    for name, value in (("n", n), ("batch", batch), ("unit", unit)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"layout: {name} must be a whole number >= 1, got {value!r}")
    if batch > n:
        raise ValueError(f"layout: batch {batch} is larger than the dataset's {n} images")


def _untouched(n: int, batch: int, size: int) -> float:
    """P(a unit of ``size`` images holds none of ``batch`` images drawn without replacement from
    ``n``): C(n - size, batch) / C(n, batch)."""
    if size > n - batch:
        return 0.0
    return math.exp(math.lgamma(n - size + 1) - math.lgamma(n - size - batch + 1)
                    + math.lgamma(n - batch + 1) - math.lgamma(n + 1))


def expected_units(n: int, batch: int, unit: int) -> float:
    """Expected distinct units of ``unit`` consecutive images (the last may be short) that a random
    batch of ``batch`` distinct images out of ``n`` touches: hypergeometric occupancy, summed over
    the units."""
    _checked(n, batch, unit)
    whole, rest = divmod(n, unit)
    touched = whole * (1.0 - _untouched(n, batch, unit))
    return touched + (1.0 - _untouched(n, batch, rest) if rest else 0.0)


def expected_runs(n: int, batch: int) -> float:
    """Expected runs of consecutive rows in a random sorted batch of ``batch`` out of ``n``:
    ``batch`` minus the expected adjacent pairs, (n - 1) * batch (batch - 1) / (n (n - 1))."""
    _checked(n, batch, 1)
    return batch - batch * (batch - 1) / n


def random_batch(n: int, batch: int, chunk: int, shard: int = 0) -> Touch:
    """A sorted random batch (``batch`` mode) over chunks of ``chunk`` images: one request per chunk
    touched, each decoded whole; with shards of ``shard`` images (a multiple of ``chunk``), one
    index request per shard touched besides."""
    chunks = expected_units(n, batch, chunk)
    shards = expected_units(n, batch, shard) if shard else 0.0
    return Touch(requests=chunks + shards, units=chunks, unit_images=chunk, images=batch)


def random_rows(n: int, batch: int) -> Touch:
    """A sorted random batch over rows (a contiguous array read by runs): a request per run of
    consecutive rows, each image read once."""
    return Touch(requests=expected_runs(n, batch), units=batch, unit_images=1, images=batch)


def one_at_a_time(batch: int, chunk: int) -> Touch:
    """``sample`` mode: each image its own read, which decodes its whole chunk (1 for a row or a file)."""
    return Touch(requests=batch, units=batch, unit_images=chunk, images=batch)


def block_window(n: int, batch: int, block: int, window: int, chunk: int) -> Touch:
    """``block`` mode, per batch: windows of ``window`` shuffled blocks of ``block`` images (a
    multiple of ``chunk``), each window read as its contiguous runs, every image once an epoch.
    A run of blocks is one read request per chunk in it (chunk == 1: one per run)."""
    blocks = max(1, n // block)
    window = min(window, blocks)
    runs = window - window * (window - 1) / blocks  # adjacent blocks in a random sorted window merge
    per_window = runs if chunk == 1 else window * block / chunk
    share = batch / (window * block)  # a window's reads spread over the batches it yields
    return Touch(requests=per_window * share, units=batch / chunk, unit_images=chunk, images=batch)


def in_order(batch: int, unit: int) -> Touch:
    """``stream`` and a plain slice: units read one after another, each request a unit."""
    return Touch(requests=batch / unit, units=batch / unit, unit_images=unit, images=batch)
