"""The loader model: a run's img/s from a machine's profile, the time per batch split by resource,
and the resource that binds it, named in words.

Every number is a profile primitive (:mod:`.profile`) or a layout fact (:mod:`.layout`,
:mod:`.plans`); nothing is fitted. docs/design.md ("Loader roofline: the model") gives each term's
formula and the measurement it rests on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType

from .plans import NotModelledError, ReadPlan, plan
from .profile import IMAGE_SIZES, Profile, ProfileError
from .shape import RunShape

MiB = 2**20
PYTHON_BATCH = 512  # the python.<mode> primitives are per batch of this many images
FLOAT_BYTES = 4  # the ImageFolder peer hands over float32 tensors (ToTensor)
RESOURCES = ("storage", "page cache", "memory", "decode", "per-request", "Python", "handover")


@dataclass(frozen=True)
class NotModelled:
    """A run the model does not represent, with the reason in words."""
    reason: str


@dataclass(frozen=True)
class Prediction:
    """``rate`` img/s in steady state; ``terms``: seconds per batch of each resource as one worker
    (or the main process) spends them; ``batch_s``: the seconds per batch once they are combined
    over the workers and cores; ``first_batch_s``: a batch's latency through one worker (what an
    epoch's start waits for); ``binding``: the resource that sets ``batch_s``, in words."""
    rate: float
    batch_s: float
    first_batch_s: float
    terms: dict = field(default_factory=dict)
    binding: str = ""
    startup_s: float = 0.0  # workers started afresh for each epoch (cold epochs, the ImageFolder peer)

    def __post_init__(self):
        object.__setattr__(self, "terms", MappingProxyType(dict(self.terms)))

    def epoch_rate(self, images: int, batch: int, compute_s: float = 0.0, workers: int = 0,
                   max_seconds: float | None = None) -> float:
        """Img/s of an epoch of ``images`` in batches of ``batch`` with ``compute_s`` of compute per
        batch: with workers the reads overlap the compute after the first batch, without they
        add to it; a measurement cut at ``max_seconds`` (loaderbench's) ends after the batch
        that passes it."""
        batches = max(1, math.ceil(images / batch))
        step = max(self.batch_s, compute_s) if workers else self.batch_s + compute_s
        first = self.startup_s + (self.first_batch_s + compute_s if workers else step)
        if max_seconds is not None and first + (batches - 1) * step > max_seconds:
            batches = max(1, min(batches, 1 + math.ceil((max_seconds - first) / step)))
        return min(images, batches * batch) / (first + (batches - 1) * step)


def predict(shape: RunShape, profile: Profile) -> Prediction | NotModelled:
    """The steady-state prediction for ``shape`` on the machine ``profile`` describes, or
    :class:`NotModelled` with the reason (a run the model has no term for, or a primitive the
    profile could not measure)."""
    cores = _cores(profile)
    try:
        read = plan(shape, cores)
        terms, details = _terms(shape, read, profile)
        startup = 0.0
        if shape.workers and (shape.fresh_workers or shape.cache == "cold"):
            startup = _get(profile, f"workers.startup_s.{shape.worker_kind}")
    except NotModelledError as exc:
        return NotModelled(str(exc))
    batch_s, binding = _combine(shape, terms, details, cores)
    return Prediction(rate=shape.batch / batch_s, batch_s=batch_s, first_batch_s=sum(terms.values()),
                      terms=terms, binding=binding, startup_s=startup)


def _cores(profile: Profile) -> int:
    cores = profile.machine.get("cores")
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise ProfileError(f"profile: machine.cores must be a whole number >= 1, got {cores!r}")
    return cores


def _get(profile: Profile, name: str) -> float:
    try:
        return profile[name]
    except KeyError as exc:
        raise NotModelledError(f"primitive {exc.args[0]}") from None


def decode_us(profile: Profile, codec: str, px: int) -> float:
    """Microseconds to decode one ``px``-pixel image stored as ``codec``: measured at
    :data:`IMAGE_SIZES`, linear in the pixel count between the two sizes around ``px``, and in
    proportion to the pixel count beyond the ends."""
    if px in IMAGE_SIZES:
        return _get(profile, f"decode.{codec}.{px}")
    below = max((s for s in IMAGE_SIZES if s < px), default=None)
    above = min((s for s in IMAGE_SIZES if s > px), default=None)
    if below is None or above is None:
        end = above if below is None else below
        return _get(profile, f"decode.{codec}.{end}") * px * px / (end * end)
    low, high = _get(profile, f"decode.{codec}.{below}"), _get(profile, f"decode.{codec}.{above}")
    return low + (high - low) * (px * px - below * below) / (above * above - below * below)


def _terms(shape: RunShape, read: ReadPlan, profile: Profile) -> tuple[dict, dict]:
    """Seconds per batch of each resource on one worker, and the words that explain each."""
    touch, image = read.touch, shape.image_bytes
    terms, details = dict.fromkeys(RESOURCES, 0.0), {}
    gather = _get(profile, "memory.gather_gbps") * 1e9
    fresh_units = touch.units * (1 - read.cached)  # units the library's own cache does not hold decoded
    if read.request is not None:
        each = _get(profile, f"request.{read.request}") / 1e6
        terms["per-request"] = touch.requests * each
        details["per-request"] = f"{touch.requests:.0f} {read.request} calls x {_ms(each)} per batch"
    if read.decoder is not None:
        each = decode_us(profile, read.decoder, shape.image_size) / 1e6 / read.threads
        terms["decode"] = fresh_units * touch.unit_images * each
        threads = f" on {read.threads} threads" if read.threads > 1 else ""
        details["decode"] = (f"{fresh_units:.0f} {read.decoder} units of {touch.unit_images} images x "
                             f"{_ms(each * touch.unit_images)}{threads} per batch")
    read_bytes = fresh_units * touch.unit_images * image
    if read.source == "file":
        terms["page cache"] = read_bytes / (_get(profile, "page_cache.read_gbps") * 1e9)
        details["page cache"] = f"{read_bytes / MiB:.1f} MiB read per batch"
    copied = (read.copies * touch.images + (read_bytes / image if read.source != "file" else 0)
              + (touch.units - fresh_units) * touch.unit_images) * image
    terms["memory"] = copied / gather
    details["memory"] = f"{copied / MiB:.1f} MiB gathered per batch"
    if shape.mode != "slice" and shape.fmt != "ram":
        terms["Python"] = _get(profile, f"python.{shape.mode}_us_per_batch") / 1e6 * touch.images / PYTHON_BATCH
        details["Python"] = f"the {shape.mode} mode's own Python"
    if shape.cache == "cold" and read.source != "ram":
        # A cold epoch reads each stored unit from storage once; a unit touched again in the same
        # epoch (read amplification) is in the page cache by then: per batch, the batch's own
        # images' worth of units, and at most that many seeks.
        latency = _get(profile, "storage.latency_4k_us") / 1e6
        seeks = min(read.seeks, touch.images / touch.unit_images)
        cold_bytes = min(read_bytes, touch.images * image)
        terms["storage"] = seeks * latency + cold_bytes / (_get(profile, "storage.seq_mbps") * 1e6)
        details["storage"] = f"{seeks:.0f} seeks x {_ms(latency)} + {cold_bytes / MiB:.1f} MiB from storage"
    if shape.workers:
        handed = touch.images * image * (FLOAT_BYTES if shape.fmt == "imagefolder" else 1) / MiB
        kind = shape.worker_kind
        terms["handover"] = (_get(profile, f"handover.{kind}.fixed_us")
                             + _get(profile, f"handover.{kind}.us_per_mib") * handed) / 1e6
        details["handover"] = f"{handed:.1f} MiB batch from {kind} workers"
    return terms, details


def _combine(shape: RunShape, terms: dict, details: dict, cores: int) -> tuple[float, str]:
    """Seconds per batch over the workers and cores, and the binding resource in words.

    No workers: the main process does everything, one term after another. ``W`` workers: each
    batch's work runs on one worker, ``min(W, cores)`` at a time; the main process takes each
    batch over meanwhile (the handover; thread workers also hold the GIL there for their Python
    and library calls); and the work and the handover together cannot use more than the cores
    (storage waits use none). The slowest of the three bounds binds."""
    if not shape.workers:
        return sum(terms.values()), _words(terms, details, list(terms), 1.0, "")
    held = ["handover"] + (["Python", "per-request"] if shape.worker_kind == "thread" else [])
    on_workers = [r for r in RESOURCES if r not in held]
    on_cores = [r for r in RESOURCES if r != "storage"]
    parallel = min(shape.workers, cores)
    bounds = [(sum(terms[r] for r in on_workers) / parallel, on_workers, parallel, f" over {parallel} workers"),
              (sum(terms[r] for r in held), held, 1.0, " in the main process"),
              (sum(terms[r] for r in on_cores) / cores, on_cores, cores, f" sharing {cores} cores")]
    seconds, names, share, where = max(bounds, key=lambda bound: bound[0])
    return seconds, _words(terms, details, names, share, where)


def _words(terms: dict, details: dict, names: list, share: float, where: str) -> str:
    """The largest of ``names`` in words: "per-request: 252 zarr-python-oindex calls x 2.3 ms per batch"."""
    top = max(names, key=lambda name: terms[name])
    return f"{top}: {details.get(top, top)}{where}" + (f" ({_ms(terms[top] / share)} per batch)" if share != 1 else "")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.3g} us"
