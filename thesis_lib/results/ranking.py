"""Which conditions are faster, said only as far as their 95% intervals allow.

A condition's epoch time is the median of its epochs with a percentile-bootstrap 95% interval
(:func:`thesis_lib.core.stats.median_ci`). One condition is faster than another only when its interval
lies wholly below the other's (it *clears* it); where the intervals overlap the two are tied,
whatever their medians say. An interval needs two or more epochs: a single epoch ties with anything.

>>> npy, hdf5, zarr = (Estimate.of(name, times) for name, times in
...                    (("npy", [1.0, 1.1, 1.2]), ("hdf5", [1.05, 1.15, 1.3]), ("zarr", [3.0, 3.1, 3.3])))
>>> npy.clears(zarr), npy.clears(hdf5), winner([npy, hdf5, zarr])
(True, False, None)
>>> order_text([zarr, hdf5, npy])
'npy ≈ hdf5 < zarr'
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ..core.stats import median_ci
from .labels import is_missing
from .lang import catalogue

ENGLISH = catalogue()  # the wording of Estimate.text and Effect.text

# Fewer values than this give no interval (the bootstrap of one value is that value).
MIN_VALUES = 2


@dataclass(frozen=True)
class Estimate:
    """A condition's median and its 95% interval over ``n`` values."""
    label: str
    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, label: str, values: Iterable) -> "Estimate":
        values = [float(v) for v in values if not is_missing(v)]
        median, low, high = median_ci(values)
        return cls(label, median, low, high, len(values))

    @property
    def has_interval(self) -> bool:
        return self.n >= MIN_VALUES

    @property
    def floor(self) -> float:
        """The interval's lower end; 0 when there is no interval (times are positive)."""
        return self.low if self.has_interval else 0.0

    @property
    def ceiling(self) -> float:
        """The interval's upper end; infinity when there is no interval."""
        return self.high if self.has_interval else math.inf

    def clears(self, other: "Estimate") -> bool:
        """True when this interval lies wholly below ``other``'s: this one is resolved faster."""
        return self.ceiling < other.floor

    def text(self, unit: str = " s", spec: str = ".3g") -> str:
        """``"0.0153 s [0.0150, 0.0156]"``, or ``"0.0153 s (1 value, no interval)"``: the English
        catalogue's wording (:meth:`thesis_lib.results.lang.Words.estimate`), one formatter for all languages."""
        return ENGLISH.estimate(self, unit, spec)


def by_median(estimates: Iterable[Estimate]) -> list[Estimate]:
    """Fastest (smallest median) first."""
    return sorted(estimates, key=lambda e: (e.median, e.label))


def leaders(estimates: Iterable[Estimate]) -> list[Estimate]:
    """The fastest by median and every other that it does not clear: those tied for fastest."""
    ranked = by_median(estimates)
    return [e for e in ranked if e is ranked[0] or not ranked[0].clears(e)]


def winner(estimates: Iterable[Estimate]) -> Estimate | None:
    """The fastest, when there are two or more and its interval clears every other's; else None."""
    ranked = by_median(estimates)
    return ranked[0] if len(ranked) >= 2 and len(leaders(ranked)) == 1 else None


def tiers(estimates: Iterable[Estimate]) -> list[list[Estimate]]:
    """Estimates in groups, fastest group first: a group ends only where every interval in it and
    before it lies wholly below every interval after it. Within a group the order is not resolved."""
    ranked = by_median(estimates)
    groups: list[list[Estimate]] = []
    for k, estimate in enumerate(ranked):
        if not groups:
            groups.append([estimate])
            continue
        ceiling = max(e.ceiling for e in ranked[:k])
        floor = min(e.floor for e in ranked[k:])
        if ceiling < floor:
            groups.append([estimate])
        else:
            groups[-1].append(estimate)
    return groups


def order_text(estimates: Iterable[Estimate]) -> str:
    """``"npy ≈ hdf5 < zarr < files"``: ``<`` where the intervals separate, ``≈`` where they do not."""
    return " < ".join(" ≈ ".join(e.label for e in group) for group in tiers(estimates))


def faster_of(a: Estimate, b: Estimate) -> str | None:
    """The label of whichever of ``a`` and ``b`` clears the other, or None when they are tied."""
    if a.clears(b):
        return a.label
    return b.label if b.clears(a) else None


@dataclass(frozen=True)
class Effect:
    """How many times slower ``slow`` is than ``fast``: the ratio of medians and the bounds the two
    95% intervals allow (``low`` = slowest-fast over fastest-slow, ``high`` the other way round)."""
    slow: Estimate
    fast: Estimate
    where: str

    @property
    def ratio(self) -> float:
        return self.slow.median / self.fast.median

    @property
    def low(self) -> float:
        return self.slow.floor / self.fast.ceiling

    @property
    def high(self) -> float:
        return self.slow.ceiling / self.fast.floor if self.fast.floor > 0 else math.inf

    def exceeds(self, other: "Effect") -> bool:
        """True when even the smallest ratio this one allows is above the largest ``other`` allows."""
        return self.low > other.high

    def text(self) -> str:
        """``"2.31× (between 2.10× and 2.52×)"``, the English catalogue's wording."""
        return ENGLISH.effect(self)


def widest(effects: Iterable[Effect]) -> Effect | None:
    """The effect with the largest ratio of medians, or None."""
    return max(effects, key=lambda e: e.ratio, default=None)


def spread(estimates: Iterable[Estimate], where: str) -> Effect | None:
    """The slowest against the fastest of ``estimates`` (by median), or None with fewer than two."""
    ranked = by_median(estimates)
    return Effect(ranked[-1], ranked[0], where) if len(ranked) >= 2 else None
