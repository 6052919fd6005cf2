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
                   max_seconds: float | None = None, left_over: float = 0.0) -> float:
        """Img/s of an epoch of ``images`` in batches of ``batch`` with ``compute_s`` of compute per
        batch: with workers the reads overlap the compute after the first batch, without they
        add to it; a measurement cut at ``max_seconds`` (loaderbench's) ends after the batch
        that passes it, and then each epoch first finishes the ``left_over`` batches of work that
        workers still had in flight when the one before it was cut."""
        batches = max(1, math.ceil(images / batch))
        step = max(self.batch_s, compute_s) if workers else self.batch_s + compute_s
        first = self.startup_s + (self.first_batch_s + compute_s if workers else step)
        if max_seconds is not None and first + (batches - 1) * step > max_seconds:
            first += left_over * step
            batches = max(1, min(batches, 1 + math.ceil((max(0.0, max_seconds - first)) / step)))
        return min(images, batches * batch) / (first + (batches - 1) * step)


def predict(shape: RunShape, profile: Profile) -> Prediction | NotModelled:
    """The steady-state prediction for ``shape`` on the machine ``profile`` describes, or
    :class:`NotModelled` with the reason (a run the model has no term for, or a primitive the
    profile could not measure)."""
    cores = _cores(profile)
    try:
        read = plan(shape, cores)
        terms, cpu, details = _terms(shape, read, profile)
        added = _handover_s(shape, profile, "cpu_") if shape.workers else 0.0
        busy = _get(profile, f"handover.{shape.worker_kind}.busy_share") if shape.workers else 1.0
        startup = 0.0
        if shape.workers and (shape.fresh_workers or shape.cache == "cold"):
            startup = _get(profile, f"workers.startup_s.{shape.worker_kind}")
    except NotModelledError as exc:
        return NotModelled(str(exc))
    batch_s, binding = _combine(shape, terms, cpu, details, cores, added, read.locked, busy)
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


def _terms(shape: RunShape, read: ReadPlan, profile: Profile) -> tuple[dict, dict, dict]:
    """Seconds per batch of each resource on one worker, the CPU seconds they take (more where a
    decode runs on several threads), and the words that explain each."""
    touch, image = read.touch, shape.image_bytes
    terms, details = dict.fromkeys(RESOURCES, 0.0), {}
    gather = _get(profile, "memory.gather_gbps") * 1e9
    fresh_units = touch.units * (1 - read.cached)  # units the library's own cache does not hold decoded
    read_bytes = fresh_units * touch.unit_images * image
    if read.request is not None:
        terms["per-request"], details["per-request"] = _requests(shape, read, profile)
    if read.files:
        each = _get(profile, "file.read_us") / 1e6
        terms["per-request"] += read.files * each
        details["per-request"] = f"{read.files:.0f} files opened and read x {_ms(each)} per batch"
    if read.decoder is not None:
        each = decode_us(profile, read.decoder, shape.image_size) / 1e6
        terms["decode"] = fresh_units * touch.unit_images * each
        threads = f" on {read.threads} threads" if read.threads > 1 else ""
        details["decode"] = (f"{fresh_units:.0f} {read.decoder} units of {touch.unit_images} images x "
                             f"{_ms(each / read.threads * touch.unit_images)}{threads} per batch")
    if read.request is None and read.source == "file":
        terms["page cache"] = read_bytes / (_get(profile, "page_cache.read_gbps") * 1e9)
        details["page cache"] = f"{read_bytes / MiB:.1f} MiB read per batch"
    # RAM: the batch's further copies, and the images taken out of the units a library's cache
    # holds, gathered; a read from RAM itself, by indexing; and the bytes a read path moves, at its
    # own per-MiB cost. A coded chunk's decoded bytes are its decode primitive's (measured writing
    # the decoded image); its stored bytes, fewer by a ratio the shape does not know, are left out.
    copied = (read.copies + read.cached) * touch.images * image
    terms["memory"] = copied / gather
    details["memory"] = f"{copied / MiB:.1f} MiB gathered"
    if read.request is None and read.source != "file":
        terms["memory"] += read_bytes / (_get(profile, "memory.index_gbps") * 1e9)
        details["memory"] = f"{(copied + read_bytes) / MiB:.1f} MiB gathered"
    through = read_bytes if read.request is not None and read.decoder is None else 0.0
    through_s = through / MiB * _get(profile, f"request.{read.request}.us_per_mib") / 1e6 if through else 0.0
    if through:
        details["memory"] += f" + {through / MiB:.1f} MiB through {read.request}"
    details["memory"] += " per batch"
    terms["memory"] += through_s
    cpu = dict(terms)
    terms["decode"] /= read.threads
    if shape.mode != "slice" and shape.fmt != "ram":
        terms["Python"] = (_get(profile, f"python.{shape.mode}_us_per_batch") * touch.images / PYTHON_BATCH
                           + _get(profile, f"python.{shape.mode}_us_per_mib") * touch.images * image / MiB) / 1e6
        details["Python"] = f"the {shape.mode} mode's own Python and copies"
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
        terms["handover"] = _handover_s(shape, profile, "")
        details["handover"] = f"{_handed_mib(shape):.1f} MiB batch from {shape.worker_kind} workers"
    cpu.update({name: terms[name] for name in ("Python", "storage", "handover")})
    return terms, cpu, details


def _handed_mib(shape: RunShape) -> float:
    return shape.batch * shape.image_bytes * (FLOAT_BYTES if shape.fmt == "imagefolder" else 1) / MiB


def _handover_s(shape: RunShape, profile: Profile, which: str) -> float:
    """Seconds of CPU per batch handed over from the run's workers: the main process's (``which``
    "") or what the workers add over all processes ("cpu_")."""
    kind = shape.worker_kind
    return (_get(profile, f"handover.{kind}.{which}fixed_us")
            + _get(profile, f"handover.{kind}.{which}us_per_mib") * _handed_mib(shape)) / 1e6


def _requests(shape: RunShape, read: ReadPlan, profile: Profile) -> tuple[float, str]:
    """Seconds per batch of the read path's own work, and the words: a fixed cost per read (a chunk,
    a row), one per call, and, where a selection takes several images out of one chunk (batch and
    sample modes), one per image beyond the first. (Its cost per MiB is a memory term.)"""
    path, touch = read.request, read.touch
    fixed = _get(profile, f"request.{path}.fixed_us") / 1e6
    call = _get(profile, f"request.{path}.call_us") / 1e6
    if shape.mode == "sample":  # the sample mode's Python holds one memory-map call per image
        call = max(0.0, call - _get(profile, "request.memmap.call_us") / 1e6)
    seconds = read.calls * call + touch.requests * fixed
    words = f"{touch.requests:.0f} {path} reads x {_ms(fixed)}"
    if read.calls > 1:
        words += f" + {read.calls:.0f} calls x {_ms(call)}"
    extra = touch.images - touch.requests
    if path != "memmap" and shape.mode in ("batch", "sample") and extra > 0:
        seconds += extra * _get(profile, f"request.{path}.us_per_image") / 1e6
        words += f" + {extra:.0f} more images taken"
    return seconds, words + " per batch"


def _combine(shape: RunShape, terms: dict, cpu: dict, details: dict, cores: int, added: float,
             locked: tuple = ("per-request",), busy: float = 1.0) -> tuple[float, str]:
    """Seconds per batch over the workers and cores, and the binding resource in words.

    No workers: the main process does everything, one term after another. ``W`` workers: each
    batch's work runs on one worker, ``min(W, cores)`` at a time; the main process takes each
    batch over meanwhile (the handover; thread workers also take turns at their Python and at
    the read plan's ``locked`` terms, under the GIL or a library's lock); and the work's ``cpu``
    (a library's threads each counted), with the CPU the workers ``added`` (the main process's
    handover included), cannot use more than the ``busy`` share of the cores that a loader of the
    kind keeps busy (storage waits use none). The slowest of the three bounds binds."""
    if not shape.workers:
        return sum(terms.values()), _words(terms, details, list(terms), 1.0, "")
    held = ["handover"] + (["Python", *locked] if shape.worker_kind == "thread" else [])
    on_workers = [r for r in RESOURCES if r not in held]
    on_cores = [r for r in RESOURCES if r not in ("storage", "handover")]
    parallel = min(shape.workers, cores)
    cpu = dict(cpu, handover=added)
    usable = cores * busy
    bounds = [(sum(terms[r] for r in on_workers) / parallel, terms, on_workers, parallel, f" over {parallel} workers"),
              (sum(terms[r] for r in held), terms, held, 1.0, " in the main process"),
              (sum(cpu[r] for r in on_cores + ["handover"]) / usable, cpu, on_cores + ["handover"], usable,
               f" sharing {cores} cores ({busy:.0%} busy)")]
    seconds, named, names, share, where = max(bounds, key=lambda bound: bound[0])
    return seconds, _words(named, details, names, share, where)


def _words(terms: dict, details: dict, names: list, share: float, where: str) -> str:
    """The largest of ``names`` in words: "per-request: 252 zarr-python-oindex calls x 2.3 ms per batch"."""
    top = max(names, key=lambda name: terms[name])
    return f"{top}: {details.get(top, top)}{where}" + (f" ({_ms(terms[top] / share)} per batch)" if share != 1 else "")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.3g} us"
