"""A resumable sweep: ``bench.ipynb`` executed by papermill once per grid point.

The points come from a grid file (YAML; :mod:`thesis_lib.run.grid` reads it: ``defaults``, a list of
``grids`` whose list values are axes, the ``datasets`` and ``variants`` bundles).

Each point's record and executed notebook land side by side in the results folder as
``<run>.json`` and ``<run>.ipynb``, where ``<run>`` ends in a hash of the point's whole
configuration. A point is skipped only when a complete record of an equal configuration is there,
so an interrupted sweep resumes where it stopped and two grids that differ in any setting keep both
records. A dataset that is not on disk is skipped with the command that fetches it; a failing
point is reported at the end and does not stop the others. The end says each skip reason once,
with its count; every skipped point is named, with its reason, in ``sweep-skipped.txt``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import sys
import traceback
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import sources
from ..core import notebook_run, paths
from ..core.errors import SourceError
from ..core.machine import pid_alive
from ..core.record import write_text
from .grid import (BUNDLES, DEFAULT_GRID, PARAMETERS, forget_resolved_points, load_grid,  # noqa: F401 - the sweep's
                   resolve_point, run_name)  # public names
from .run_spec import RunSpec

BENCH_NOTEBOOK = paths.REPO_ROOT / "notebooks" / "bench.ipynb"


SKIPPED_LIST = paths.SKIPPED_LIST


@dataclasses.dataclass(frozen=True)
class Skip:
    """Why this machine cannot run a point (not a failure): ``reason``, the same for every point
    skipped for it (so a sweep counts them under one line); ``detail``, this point's particulars;
    ``fix``, the one command that fetches what is missing, where one does."""

    reason: str
    fix: str | None = None
    detail: str | None = None

    def __str__(self) -> str:
        text = self.reason + (f" ({self.detail})" if self.detail else "")
        return text + (f"; fetch it with: {self.fix}" if self.fix else "")

    @property
    def summary(self) -> str:
        """The reason as every point skipped for it shares it: without this point's detail."""
        return str(dataclasses.replace(self, detail=None))


def skip_cause(config: RunSpec, *, fetch: bool = True) -> Skip | None:
    """Why this machine cannot run a point at all, or None. ``fetch=False``: never download, even
    for a point that asks to (a plan looks; it does not fetch)."""
    if config.needs_cuda and not torch.cuda.is_available():
        return Skip(f"{'device cuda' if config.device == 'cuda' else config.fmt} needs a CUDA GPU")
    return missing_data(config, fetch=fetch)


def skip_reason(config: RunSpec, *, fetch: bool = True) -> str | None:
    """:func:`skip_cause` in words, or None."""
    cause = skip_cause(config, fetch=fetch)
    return str(cause) if cause else None


@functools.lru_cache(maxsize=64)
def _training_source(dataset: str, root: str | None, image_size: int | None, download: bool):
    """The training split, opened once per sweep for all points that share it (opening a zip of
    60,000 images lists its members: about a second). Quiet: a stand-in it falls back to is skipped."""
    with _quiet("thesis_lib.sources"):
        return sources.load(dataset, root, split="train", image_size=image_size, download=download)


@contextlib.contextmanager
def _quiet(logger: str):
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def missing_data(config: RunSpec, *, fetch: bool = True) -> Skip | None:
    """Why the point's dataset is not on disk, with the command that fetches it; None when it is.
    ``fetch=False``: look only, even for a point that asks to download."""
    command = f"python -m thesis_lib prepare --dataset {config.dataset} --download"
    if config.root_path is not None and not config.root_path.exists():
        return Skip(f"{config.root} is not on disk")
    try:
        source = _training_source(config.dataset, config.root, config.image_size, config.download and fetch)
    except SourceError as exc:
        if config.root is None and config.dataset in sources.DOWNLOADABLE:
            return Skip(f"{config.dataset} is not on disk", command, str(exc))
        return None  # on disk but unreadable: the run fails and says why
    if source.name != config.dataset and source.name.endswith("-synthetic"):
        return Skip(f"{config.dataset} is not on disk", command, "only its generated stand-in")
    if config.limit is not None and config.limit > len(source):
        return Skip(f"limit {config.limit:,} but {source.spec.get('root', config.dataset)} holds "
                    f"{len(source):,} training images")
    return None


def run_point(point: dict, results_dir: Path, spec: RunSpec | None = None) -> Path:
    """Execute bench.ipynb for one point (``spec``: the point resolved, when the caller has it);
    the executed notebook sits beside the record. The kernel resolves the point again and checks
    that it names the run the sweep resolved (its ``config_id``)."""
    spec = spec or resolve_point(point)
    name = spec.run_name
    notebook = results_dir / f"{name}.ipynb"
    # papermill saves the notebook after every cell: written under a private name and renamed at the
    # end, so two sweeps running the same point never interleave their writes.
    partial = results_dir / f".{name}.partial-{os.getpid()}.ipynb"
    try:
        notebook_run.execute(BENCH_NOTEBOOK, partial,
                             {**point, "results_dir": str(results_dir), "config_id": spec.config_id})
        os.replace(partial, notebook)
    except BaseException:
        if partial.exists():
            os.replace(partial, results_dir / f"{name}.failed.ipynb")
        raise
    return results_dir / f"{name}.json"


def run_grid(grid: str | Path | None = None, *, results_dir: str | Path | None = None) -> list[tuple[str, str]]:
    """Run every point not yet done; return the failures as ``(run, error)`` pairs."""
    # Absolute: the notebook runs inside notebooks/, where a relative path would mean another folder.
    results_dir = paths.results_dir(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    forget_resolved_points()
    _tidy_partials(results_dir)
    points = load_grid(grid)
    failures, skipped, done = [], [], 0
    with tqdm(points, desc="sweep", unit="run") as bar:
        for point in bar:
            name = _label(point)
            bar.set_postfix_str(name, refresh=True)
            try:  # one bad point (even one whose configuration is invalid) must not stop the sweep
                spec = resolve_point(point)  # a bad setting fails here, not in a kernel
                if record_matches(results_dir / f"{name}.json", spec):
                    done += 1
                    continue
                cause = skip_cause(spec)
                if cause:
                    skipped.append((name, cause))
                    continue
                spec.check_runnable()
                run_point(point, results_dir, spec)
                done += 1
            except Exception as exc:
                failures.append((name, _short_error(exc)))
                _write_note(results_dir, name, traceback.format_exc())
    print(f"sweep: {done} of {len(points)} points done, {len(skipped)} skipped, {len(failures)} failed "
          f"-> {results_dir}")
    for line in skip_lines(skipped):
        print(f"  {line}")
    if (listing := _write_skipped(results_dir, skipped)) is not None:
        print(f"  every skipped point, each with its reason: {listing}")
    for name, error in failures:
        print(f"  FAILED {name}: {error}")
    return failures


def skip_lines(skipped: list[tuple[str, Skip]]) -> list[str]:
    """Skipped points, one line per distinct reason with its count and the command that fixes it:
    167 points skipped for want of a GPU are one line, not 167 (each point is named in
    :data:`SKIPPED_LIST`)."""
    counts: dict[str, int] = {}
    for _, cause in skipped:
        counts[cause.summary] = counts.get(cause.summary, 0) + 1
    return [f"{count:,} point{'s' if count > 1 else ''} skipped: {summary}" for summary, count in counts.items()]


def _write_skipped(results_dir: Path, skipped: list[tuple[str, Skip]]) -> Path | None:
    """Every skipped point with its whole reason, one a line, in :data:`SKIPPED_LIST` in the
    results folder (atomically), after the :func:`skip_lines` as ``#`` lines; its path, or None when nothing was skipped (a list an earlier
    sweep left is removed: it no longer says what this one skipped) or it cannot be written."""
    listing = results_dir / SKIPPED_LIST
    try:
        if not skipped:
            listing.unlink(missing_ok=True)
            return None
        summary = "".join(f"# {line}\n" for line in skip_lines(skipped))  # the report reads these
        write_text(listing, summary + "".join(f"{name}: {cause}\n" for name, cause in skipped))
    except OSError as exc:
        print(f"sweep: could not write the list of skipped points {listing} ({exc})", file=sys.stderr)
        return None
    return listing


def _label(point: dict) -> str:
    """The point's run name, or for an invalid point a stand-in that is a safe file name: its
    values with anything but letters, digits and ``_=.-`` replaced, cut short, and a hash of the
    whole point, so no grid value can name a path and two invalid points never share a note."""
    try:
        return run_name(point)
    except Exception:
        values = "-".join(f"{k}={v}" for k, v in sorted(point.items()) if not isinstance(v, dict))
        digest = hashlib.sha256(json.dumps(point, sort_keys=True, default=str).encode()).hexdigest()[:8]
        return f"invalid-{re.sub(r'[^A-Za-z0-9_=.-]+', '_', values)[:80]}-{digest}"


def _write_note(results_dir: Path, name: str, text: str) -> None:
    """A failed point's traceback as ``<name>.error.txt`` in the results folder; where it cannot be
    written (a read-only folder, a full disk) the sweep says so and goes on with the next point."""
    note = results_dir / f"{name}.error.txt"
    if note.parent != results_dir or name.startswith("."):  # names are built to be safe; never write elsewhere
        raise ValueError(f"sweep: error note name {name!r} would leave {results_dir}")
    try:
        write_text(note, text)
    except OSError as exc:
        print(f"sweep: could not write the error note {note} ({exc})", file=sys.stderr)


def _tidy_partials(results_dir: Path) -> None:
    """Notebooks a killed sweep left half-written (``.<run>.partial-<pid>.ipynb`` of a process that is
    gone) become ``<run>.failed.ipynb``, as a point that failed leaves them."""
    for partial in results_dir.glob(".*.partial-*.ipynb"):
        stem, _, pid = partial.name[1:-len(".ipynb")].rpartition(".partial-")
        if pid.isdigit() and not pid_alive(int(pid)) and partial.is_file():
            os.replace(partial, results_dir / f"{stem}.failed.ipynb")



def record_matches(path: Path, config: RunSpec) -> bool:
    """Whether ``path`` holds a complete record of exactly this run."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and "epochs" in record and record.get("config") == config.identity


def _short_error(exc: Exception) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    tail = [line for line in lines if "Error" in line] or lines or [type(exc).__name__]
    return tail[-1][:300]
