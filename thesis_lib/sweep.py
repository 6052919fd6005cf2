"""A resumable sweep: ``bench.ipynb`` executed by papermill once per grid point.

A grid file (YAML) holds ``defaults`` and a list of ``grids``. In each grid a list value is an
axis and the points are the cartesian product of the axes. Every key is a field of
:class:`~thesis_lib.config.BenchConfig` (``write_options``/``open_options`` take mappings, so a list
of mappings is an axis of option sets), plus two bundle axes whose values are partial points that
travel together: ``datasets`` (e.g. ``{dataset: imagefolder, root: ../shared/data/cifar10-jpeg.zip}``)
and ``variants`` (e.g. ``{fmt: zarr, write_options: {chunk_images: 1024}}``); a bundle's values
override the entry's (``{fmt: cupy, device: cuda, workers: 0}`` in an entry of 2 workers on the
CPU). A relative ``root`` is
taken from the folder the sweep is started in; ``$VARS`` and ``~`` are expanded.

Each point's record and executed notebook land side by side in the results folder as
``<run>.json`` and ``<run>.ipynb``, where ``<run>`` ends in a hash of the point's whole
configuration. A point is skipped only when a complete record of an equal configuration is there,
so an interrupted sweep resumes where it stopped and two grids that differ in any setting keep both
records. A dataset that is not on disk is skipped with the command that fetches it; a failing
point is reported at the end and does not stop the others.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import os
import traceback
from pathlib import Path

import torch
import yaml
from tqdm.auto import tqdm

from . import notebook_run, paths, sources
from .config import BenchConfig
from .errors import SourceError
from .record import write_text
from .run_spec import RunSpec

BENCH_NOTEBOOK = paths.REPO_ROOT / "notebooks" / "bench.ipynb"
DEFAULT_GRID = paths.REPO_ROOT / "thesis_lib" / "grids" / "default.yaml"
PARAMETERS = BenchConfig.field_names()
BUNDLES = ("datasets", "variants")


def load_grid(path: str | Path | None = None) -> list[dict]:
    """The grid's points as parameter dicts for bench.ipynb, defaults filled in."""
    path = Path(path) if path else DEFAULT_GRID
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"grid {path}: cannot read it ({exc})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("grids"), list):
        raise ValueError(f"grid {path}: expected a mapping with a 'grids' list")
    unknown = sorted(set(spec) - {"defaults", "grids", "anchors"})
    if unknown:
        raise ValueError(f"grid {path}: unknown top-level key {unknown[0]!r}; valid: defaults, grids, anchors "
                         "(a place for YAML anchors)")
    defaults = spec.get("defaults") or {}
    points, seen = [], set()
    for k, grid in enumerate(spec["grids"]):
        where = f"grid {path}, entry {k}"
        if not isinstance(grid, dict):
            raise ValueError(f"{where}: expected a mapping of parameters, got {grid!r}")
        merged = {**defaults, **grid}
        merged.pop("name", None)
        _check_keys(merged, where, allowed=[*PARAMETERS, *BUNDLES])
        axes = {key: value if isinstance(value, list) else [value] for key, value in merged.items()}
        for bundle in BUNDLES:
            for value in axes.get(bundle, []):
                if not isinstance(value, dict):
                    raise ValueError(f"{where}: each of {bundle} must be a mapping of parameters, got {value!r}")
                _check_keys(value, f"{where}, {bundle}", allowed=PARAMETERS)
        for combo in itertools.product(*axes.values()):
            chosen = dict(zip(axes, combo))
            point = {key: value for key, value in chosen.items() if key not in BUNDLES}
            for bundle in BUNDLES:  # a bundle's values override the entry's, wherever they are written
                point.update(chosen.get(bundle, {}))
            point = _resolve_root(point)
            if (key := _point_key(point)) not in seen:
                seen.add(key)
                points.append(point)
    return points


def _point_key(point: dict) -> str:
    """What makes two points the same run: their run name (so a setting spelt out at its default,
    ``queue_steps: 0``, is the point that leaves it out), or for an invalid point its text."""
    try:
        return resolve_point(point).run_name
    except Exception:  # noqa: BLE001 - an invalid point is kept, and fails, or is skipped, when run
        return json.dumps(point, sort_keys=True, default=str)


def _check_keys(mapping: dict, where: str, *, allowed) -> None:
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown parameter {unknown[0]!r}; valid: {', '.join(allowed)}")


def _resolve_root(point: dict) -> dict:
    """An absolute root: the notebook runs inside notebooks/, where a relative path means another place."""
    root = point.get("root")
    if isinstance(root, str):
        point = {**point, "root": str(Path(os.path.expandvars(root)).expanduser().absolute())}
    return point


def resolve_point(point: dict) -> RunSpec:
    """The point's run, resolved once however often a sweep asks (to tell points apart, to name,
    skip and run one); ValueError naming a bad setting."""
    return _resolve_point_text(json.dumps(point, sort_keys=True, default=str))


@functools.lru_cache(maxsize=4096)
def _resolve_point_text(text: str) -> RunSpec:
    return BenchConfig.from_mapping(json.loads(text)).resolve()


def run_name(point: dict) -> str:
    return resolve_point(point).run_name


def skip_reason(config: RunSpec) -> str | None:
    """Why this machine cannot run a point at all (not a failure), or None."""
    if config.needs_cuda and not torch.cuda.is_available():
        return f"{'device cuda' if config.device == 'cuda' else config.fmt} needs a CUDA GPU"
    return missing_data_reason(config)


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


def missing_data_reason(config: RunSpec) -> str | None:
    """Why the point's dataset is not on disk, with the command that fetches it; None when it is."""
    fetch = f"python -m thesis_lib prepare --dataset {config.dataset} --download"
    if config.root is not None and not Path(config.root).exists():
        return f"{config.root} is not on disk"
    try:
        source = _training_source(config.dataset, config.root, config.image_size, config.download)
    except SourceError as exc:
        if config.root is None and config.dataset in sources.DOWNLOADABLE:
            return f"{config.dataset} is not on disk ({exc}); fetch it with: {fetch}"
        return None  # on disk but unreadable: the run fails and says why
    if source.name != config.dataset and source.name.endswith("-synthetic"):
        return f"{config.dataset} is not on disk (only its generated stand-in); fetch it with: {fetch}"
    if config.limit is not None and config.limit > len(source):
        return f"limit {config.limit:,} but {source.spec.get('root', config.dataset)} holds {len(source):,} training images"
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
    _resolve_point_text.cache_clear()  # data may have changed since an earlier sweep in this process
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
                reason = skip_reason(spec)
                if reason:
                    skipped.append((name, reason))
                    continue
                spec.check_runnable()
                run_point(point, results_dir, spec)
                done += 1
            except Exception as exc:
                failures.append((name, _short_error(exc)))
                write_text(results_dir / f"{name}.error.txt", traceback.format_exc())
    print(f"sweep: {done} of {len(points)} points done, {len(skipped)} skipped, {len(failures)} failed "
          f"-> {results_dir}")
    for name, reason in skipped:
        print(f"  skipped {name}: {reason}")
    for name, error in failures:
        print(f"  FAILED {name}: {error}")
    return failures


def _label(point: dict) -> str:
    """The point's run name, or a readable stand-in when its configuration is invalid."""
    try:
        return run_name(point)
    except Exception:
        return "invalid-" + "-".join(f"{k}={v}" for k, v in sorted(point.items()) if not isinstance(v, dict))[:120]


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
