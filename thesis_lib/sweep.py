"""A resumable sweep: ``bench.ipynb`` executed by papermill once per grid point.

A grid file (YAML) holds ``defaults`` and a list of ``grids``; in each grid a list value is an
axis and the points are the cartesian product of the axes. Each point's record and executed
notebook land side by side in the results folder as ``<run>.json`` and ``<run>.ipynb``; a point
whose record exists is skipped, so an interrupted sweep resumes where it stopped. A failing
point is reported at the end and does not stop the others.
"""
from __future__ import annotations

import itertools
import json
import traceback
from pathlib import Path

import torch
import yaml
from tqdm.auto import tqdm

from . import paths
from .bench import BenchConfig

BENCH_NOTEBOOK = paths.REPO_ROOT / "notebooks" / "bench.ipynb"
DEFAULT_GRID = paths.REPO_ROOT / "thesis_lib" / "grids" / "default.yaml"
KERNEL = "thesis-lab"
PARAMETERS = {f.name for f in BenchConfig.__dataclass_fields__.values()} - {"root", "fmt_options", "lr",
                                                                           "eval_limit", "distributed"}


def load_grid(path: str | Path | None = None) -> list[dict]:
    """The grid's points as parameter dicts for bench.ipynb, defaults filled in."""
    path = Path(path) if path else DEFAULT_GRID
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"grid {path}: cannot read it ({exc})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("grids"), list):
        raise ValueError(f"grid {path}: expected a mapping with a 'grids' list")
    defaults = spec.get("defaults") or {}
    points = []
    for k, grid in enumerate(spec["grids"]):
        merged = {**defaults, **grid}
        merged.pop("name", None)
        unknown = set(merged) - PARAMETERS
        if unknown:
            raise ValueError(f"grid {path}, entry {k}: unknown parameter {sorted(unknown)[0]!r}; "
                             f"valid: {', '.join(sorted(PARAMETERS))}")
        axes = {key: value if isinstance(value, list) else [value] for key, value in merged.items()}
        for combo in itertools.product(*axes.values()):
            point = dict(zip(axes, combo))
            if point not in points:
                points.append(point)
    return points


def run_name(point: dict) -> str:
    return BenchConfig(**point).run_name


def skip_reason(point: dict) -> str | None:
    """Why this machine cannot run a point at all (not a failure), or None."""
    if point.get("fmt") == "cupy" and not torch.cuda.is_available():
        return "cupy needs a CUDA GPU"
    if point.get("device") == "cuda" and not torch.cuda.is_available():
        return "device cuda needs a CUDA GPU"
    return None


def run_point(point: dict, results_dir: Path) -> Path:
    """Execute bench.ipynb for one point; the executed notebook sits beside the record."""
    import papermill

    name = run_name(point)
    notebook = results_dir / f"{name}.ipynb"
    papermill.execute_notebook(str(BENCH_NOTEBOOK), str(notebook), kernel_name=KERNEL, progress_bar=False,
                               parameters={**point, "results_dir": str(results_dir)},
                               cwd=str(BENCH_NOTEBOOK.parent))
    return results_dir / f"{name}.json"


def run_grid(grid: str | Path | None = None, *, results_dir: str | Path | None = None) -> list[tuple[str, str]]:
    """Run every point not yet done; return the failures as ``(run, error)`` pairs."""
    # Absolute: the notebook runs inside notebooks/, where a relative path would mean another folder.
    results_dir = Path(results_dir).resolve() if results_dir else paths.data_dir("results")
    results_dir.mkdir(parents=True, exist_ok=True)
    points = load_grid(grid)
    failures, skipped, done = [], [], 0
    with tqdm(points, desc="sweep", unit="run") as bar:
        for k, point in enumerate(bar):
            name = f"point-{k}"
            try:  # one failing point, even one whose parameters are invalid, must not stop the sweep
                name = run_name(point)
                bar.set_postfix_str(name, refresh=True)
                if _record_complete(results_dir / f"{name}.json"):
                    done += 1
                    continue
                reason = skip_reason(point)
                if reason:
                    skipped.append((name, reason))
                    continue
                run_point(point, results_dir)
                done += 1
            except Exception as exc:
                failures.append((name, _short_error(exc)))
                (results_dir / f"{name}.error.txt").write_text(traceback.format_exc())
    print(f"sweep: {done} of {len(points)} points done, {len(skipped)} skipped, {len(failures)} failed "
          f"-> {results_dir}")
    for name, reason in skipped:
        print(f"  skipped {name}: {reason}")
    for name, error in failures:
        print(f"  FAILED {name}: {error}")
    return failures


def _record_complete(path: Path) -> bool:
    try:
        return "epochs" in json.loads(path.read_text())
    except (OSError, ValueError):
        return False


def _short_error(exc: Exception) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    tail = [line for line in lines if "Error" in line] or lines or [type(exc).__name__]
    return tail[-1][:300]
