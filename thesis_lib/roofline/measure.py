"""``python -m thesis_lib roofline measure``: this machine's primitives, each a median with its
95% interval over repeated trials, written as a profile (:class:`.profile.Profile`).

The measurements live in ``measure_memory`` (memory gather, page cache, storage),
``measure_decode``, ``measure_requests`` and ``measure_loader`` (worker start-up, handover, each
access mode's Python); docs/design.md, "Loader roofline: the profile", says how each is taken.
"""
from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import __version__, sources
from ..core import machine, paths
from .measure_decode import decode_us
from .measure_loader import python_trials, workers_trials
from .measure_memory import gather_gbps, index_gbps, storage_trials
from .measure_requests import file_read_trials, request_trials
from .profile import FIELDS, IMAGE_SIZES, Profile
from .trials import FULL, QUICK, Settings, stat


def decode_images(dataset: str, root, px: int, n: int) -> np.ndarray:
    """``n`` images of ``dataset`` at ``root`` resized to ``px``, or synthetic ones when ``root`` is None."""
    source = (sources.load(dataset, root, image_size=px, limit=n) if root is not None
              else sources.load("synthetic", image_size=px, limit=n))
    return np.concatenate([images for images, _ in source.chunks(n)])


def measure(*, dataset: str = "synthetic", root=None, folder=None, quick: bool = False,
            log=lambda line: None) -> Profile:
    """Every primitive of :data:`.profile.FIELDS` measured here; the storage ones on ``folder``
    (default: the data folder), decode on ``dataset`` at ``root`` (synthetic images when None).
    ``quick``: a few seconds, for tests; otherwise a few minutes. ``log`` hears each step."""
    settings: Settings = QUICK if quick else FULL
    folder = paths.data_root() if folder is None else Path(folder)
    started, load_before = time.perf_counter(), os.getloadavg()
    trials: dict[str, list[float]] = {}
    log("memory gather")
    trials["memory.gather_gbps"] = gather_gbps(settings)
    trials["memory.index_gbps"] = index_gbps(settings)
    log(f"storage check on {folder}")
    storage_values, unmeasured, storage_about = storage_trials(settings, folder)
    trials.update(storage_values)
    for px in IMAGE_SIZES:
        log(f"decode at {px} px")
        images = decode_images(dataset, root, px, settings.decode_images[px])
        trials.update({f"decode.{kind}.{px}": values for kind, values in decode_us(images, settings.trials).items()})
    with tempfile.TemporaryDirectory(prefix="roofline-") as scratch:
        log("per-request overhead")
        trials.update(request_trials(Path(scratch), settings))
        trials["file.read_us"] = file_read_trials(Path(scratch), settings)
        log("worker start-up and handover")
        trials.update(workers_trials(Path(scratch), settings))
        log("each access mode's Python")
        trials.update(python_trials(Path(scratch), settings))
    values = {name: stat(name, trials[name]) for name in FIELDS if name in trials}
    # The load average says how busy a shared machine was: medians move with it, beyond their intervals.
    load = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}
    return Profile({**_machine(dataset, root, settings, quick, storage_about, time.perf_counter() - started),
                    "load_average_1_5_15min": load}, values, unmeasured)


def _machine(dataset, root, settings: Settings, quick: bool, storage_about: dict, seconds: float) -> dict:
    data = (f"real {dataset} images from {Path(root).name}, resized to each size" if root is not None
            else "synthetic images (thesis_lib's generator): not a real dataset")
    return {**machine.environment(Path(storage_about["folder"])),
            "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "tool_version": f"thesis_lib {__version__}", "quick": quick, "trials": settings.trials,
            "seconds": round(seconds, 1), "decode_data": data, "storage": storage_about}


def format_table(profile: Profile) -> str:
    """One line per primitive: its median, its interval and its unit; then the unmeasured ones and why."""
    lines = [f"{'primitive':<34}{'median':>12}  {'95% interval':<28} unit"]
    for name, (unit, _) in FIELDS.items():
        if profile.has(name):
            value = profile.values[name]
            interval = f"[{value.low:,.3f}, {value.high:,.3f}]"
            lines.append(f"{name:<34}{value.median:>12,.3f}  {interval:<28} {unit}")
    for name, reason in profile.unmeasured.items():
        lines.append(f"{name:<34}{'unmeasured':>12}  {reason}")
    return "\n".join(lines)


def main(*, out=None, dataset: str = "synthetic", root=None, folder=None, quick: bool = False) -> Profile:
    """Measure, write the profile atomically to ``out`` (default: data/roofline/profile.json) and print its table."""
    if root is None and dataset != "synthetic":
        raise ValueError(f"roofline measure: --dataset {dataset} needs --root (where its images lie)")
    out = Path(out) if out else paths.data_dir("roofline") / "profile.json"
    profile = measure(dataset=dataset, root=root, folder=folder, quick=quick,
                      log=lambda line: print(f"roofline: {line}", flush=True))
    profile.save(out)
    print(format_table(profile))
    print(f"\nwritten: {out}")
    return profile
