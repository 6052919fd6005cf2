"""What a sweep would do and what it would cost, said before anything runs.

>>> print(dry_run("thesis_lib/grids/thesis.yaml"))   # python -m thesis_lib sweep --dry-run
>>> confirm(points, results_dir, yes=False)           # ValueError past CONFIRM_POINTS new points

A dry run lists the points (a summary when there are many), how many are already recorded, which
would be skipped and why (each reason once, with its count), the distinct converted copies the
runs need with an upper bound on their bytes, and an estimated time: from the records already in
the results folder where similar runs are there, else from a stated rough rate. It opens the
datasets to count their images, but converts, trains and writes nothing.

A grid of more than :data:`CONFIRM_POINTS` points not yet recorded runs only with ``--yes``;
one of more than :data:`thesis_lib.run.grid.MAX_POINTS` points is refused whatever is said
(:func:`thesis_lib.run.grid.grid_entries`), before a point is made.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path

from ..core import paths
from ..core.errors import ThesisLabError
from ..results.records import scan_records
from . import sweep
from .run_spec import RunSpec

# Points not yet recorded that a sweep runs without --yes.
CONFIRM_POINTS = 1_000
# Without similar records: the default grid's pace on the 2-core development VM (54 points of
# 10,000 images, 2 epochs, 3 repeats in about 13 minutes), rounded down; conversion not included.
ROUGH_IMAGES_PER_S = 4_000
POINT_OVERHEAD_S = 5  # a kernel started and the notebook saved, per point
# Up to this many points to run are listed by name; more are summarised.
LISTED_POINTS = 40


@dataclasses.dataclass
class Plan:
    """A sweep's points sorted by what would happen to each."""
    grid: Path
    results_dir: Path
    points: int = 0
    recorded: list[str] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, sweep.Skip]] = dataclasses.field(default_factory=list)
    invalid: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    to_run: list[RunSpec] = dataclasses.field(default_factory=list)
    copies: dict[str, int] = dataclasses.field(default_factory=dict)  # converted copy -> bytes, at most
    estimate_s: float = 0.0
    estimated_from_records: int = 0  # of to_run, the points timed from similar records


def new_points(points: list[dict], results_dir: Path) -> list[dict]:
    """The points without a complete record of their configuration in ``results_dir``."""
    fresh = []
    for point in points:
        try:
            spec = sweep.resolve_point(point)
            recorded = sweep.record_matches(results_dir / f"{spec.run_name}.json", spec)
        except Exception:  # noqa: BLE001 - an invalid point is new: it fails when run, and says why
            recorded = False
        if not recorded:
            fresh.append(point)
    return fresh


def confirm(grid: str | Path | None, results_dir: str | Path | None, *, yes: bool) -> None:
    """ValueError, in one line naming ``--yes``, when the grid has more than :data:`CONFIRM_POINTS`
    points not yet recorded and ``yes`` is not given."""
    results_dir = paths.results_dir(results_dir)
    points = sweep.load_grid(grid)
    if yes or len(points) <= CONFIRM_POINTS:
        return
    fresh = len(new_points(points, results_dir))
    if fresh > CONFIRM_POINTS:
        raise ValueError(f"grid {grid or sweep.DEFAULT_GRID}: {fresh:,} points not yet recorded in {results_dir} "
                         f"(more than {CONFIRM_POINTS:,}); see them with --dry-run, run them with --yes")


def plan(grid: str | Path | None = None, results_dir: str | Path | None = None) -> Plan:
    """What running ``grid`` into ``results_dir`` would do (see the module's docstring)."""
    results_dir = paths.results_dir(results_dir)
    points = sweep.load_grid(grid)
    result = Plan(Path(grid) if grid else sweep.DEFAULT_GRID, results_dir, points=len(points))
    for point in points:
        name = sweep._label(point)
        try:
            config = sweep.resolve_point(point)
            if sweep.record_matches(results_dir / f"{name}.json", config):
                result.recorded.append(name)
                continue
            # Nothing is fetched: a point that would download its data is planned without its size
            cause = sweep.skip_cause(config, fetch=False)
            if cause and not config.download:
                result.skipped.append((name, cause))
                continue
            config.check_runnable()
        except Exception as exc:  # noqa: BLE001 - said in the plan, as the sweep would say it
            result.invalid.append((name, sweep._short_error(exc)))
            continue
        result.to_run.append(config)
    _size_copies(result)
    _estimate_time(result)
    return result


def _images(config: RunSpec) -> tuple[int, int, int] | None:
    """Training images, height and width a run reads; None when its data is not on disk."""
    try:
        source = sweep._training_source(config.dataset, config.root, config.image_size, False)
    except (ThesisLabError, OSError, ValueError):
        return None
    n = len(source) if config.limit is None else min(config.limit, len(source))
    return n, int(source.image_shape[0]), int(source.image_shape[1])


def _size_copies(result: Plan) -> None:
    """The distinct converted copies the runs need, each at most images x H x W x 3 bytes."""
    for config in result.to_run:
        identity = config.identity
        key = json.dumps([identity["data"], config.dataset, config.image_size, config.limit, config.fmt,
                          identity["write_options"]], sort_keys=True, default=str)
        shape = _images(config)
        result.copies[key] = shape[0] * shape[1] * shape[2] * 3 if shape else 0


def _estimate_time(result: Plan) -> None:
    """Seconds for the runs: per image and epoch as similar records took (same format, access,
    model, cache and workers; else same format and model), else :data:`ROUGH_IMAGES_PER_S`; plus
    :data:`POINT_OVERHEAD_S` a point."""
    paces = _recorded_paces(result.results_dir)
    for config in result.to_run:
        shape = _images(config)
        n = shape[0] if shape else (config.limit or 0)
        exact = paces.get((config.fmt, config.access, config.model, config.cache, config.workers))
        pace = exact or paces.get((config.fmt, config.model))
        if pace:
            result.estimated_from_records += 1
        per_image = statistics.median(pace) if pace else 1 / ROUGH_IMAGES_PER_S
        result.estimate_s += per_image * n * config.epochs * config.repeats + POINT_OVERHEAD_S


def _recorded_paces(results_dir: Path) -> dict[tuple, list[float]]:
    """Seconds per image and epoch of each record in ``results_dir``, by its setting and by its
    format and model (quarantined files left out)."""
    paces: dict[tuple, list[float]] = {}
    if not results_dir.is_dir():
        return paces
    for record in scan_records(results_dir)[0]:
        epochs = record["epochs"]
        n = record.get("n_train")
        if not n:
            continue
        pace = sum(e["wall_s"] for e in epochs) / (n * len(epochs))
        keys = ((record["fmt"], record["access"], record["model"], record.get("cache"), record.get("workers")),
                (record["fmt"], record["model"]))
        for key in keys:
            paces.setdefault(key, []).append(pace)
    return paces


def dry_run(grid: str | Path | None = None, results_dir: str | Path | None = None) -> str:
    """The plan of a sweep (:func:`plan`) as text for a person."""
    p = plan(grid, results_dir)
    lines = [f"sweep --dry-run: {p.grid} into {p.results_dir}",
             f"  {p.points:,} points: {len(p.recorded):,} already recorded, {len(p.skipped):,} would be skipped, "
             f"{len(p.invalid):,} invalid, {len(p.to_run):,} to run"]
    lines += [f"  {line}" for line in sweep.skip_lines(p.skipped)]
    lines += [f"  invalid {name}: {error}" for name, error in p.invalid]
    if p.to_run:
        unknown = sum(1 for size in p.copies.values() if not size)
        lines.append(f"  converted copies: {len(p.copies):,} distinct, at most {_bytes(sum(p.copies.values()))} "
                     "(upper bound: images x H x W x 3 bytes each, uncompressed; reused where already converted)"
                     + (f"; {unknown} of unknown size (data to be downloaded)" if unknown else ""))
        basis = (f"{p.estimated_from_records:,} of {len(p.to_run):,} points from similar records in {p.results_dir}, "
                 if p.estimated_from_records else "")
        lines.append(f"  estimated time: {_duration(p.estimate_s)} ({basis}"
                     f"{'the rest ' if basis else ''}at a rough {ROUGH_IMAGES_PER_S:,} images/s per epoch and "
                     f"{POINT_OVERHEAD_S} s per point; conversion not included)")
        lines.append("  to run:")
        names = [config.run_name for config in p.to_run]
        lines += [f"    {name}" for name in names[:LISTED_POINTS]]
        if len(names) > LISTED_POINTS:
            by_format: dict[str, int] = {}
            for config in p.to_run[LISTED_POINTS:]:
                by_format[config.fmt] = by_format.get(config.fmt, 0) + 1
            lines.append(f"    ... and {len(names) - LISTED_POINTS:,} more ("
                         + ", ".join(f"{count:,} {fmt}" for fmt, count in sorted(by_format.items())) + ")")
    if len(p.to_run) > CONFIRM_POINTS:
        lines.append(f"  more than {CONFIRM_POINTS:,} points to run: the sweep needs --yes")
    lines.append("  nothing was run")
    return "\n".join(lines)


def _bytes(count: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= size:
            return f"{count / size:,.1f} {unit}"
    return f"{count} bytes"


def _duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"
