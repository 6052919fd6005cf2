"""The command: the four steps in turn, the table printed as it grows, the JSON rewritten after
each step; without CUDA (and without ``--dry-run``) one line saying so."""
from __future__ import annotations

import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ...core import paths
from ...core.record import write_json
from .au import au_comparison, side_by_side
from .copies import step_copies
from .cupy_kvikio import step_cupy
from .environment import device_info, versions
from .measure import error_text
from .nvjpeg import step_decode
from .report import document
from .settings import DRY, FULL, QUICK, Sizes
from .table import format_row, not_measured, table_header
from .training_runs import step_training


def run_check(*, sizes: Sizes, dry_run: bool, out: Path | None, work_dir: Path | None = None,
              printer: Callable[[str], None] = tqdm.write) -> dict:
    """Run the four steps (the CPU-capable parts only when ``dry_run``), print the table as it
    grows, write the JSON to ``out``; returns the JSON document."""
    started = time.perf_counter()
    on_gpu = not dry_run
    device = device_info(on_gpu)
    gpu = device["name"] if on_gpu else None
    if on_gpu:
        torch.backends.cudnn.benchmark = True  # as a training script on a fixed input size would
    label = f"on {gpu}" if on_gpu else "CPU DRY RUN: nothing here stands for a GPU; every target 'not measured'"
    found = versions()
    printer(f"gpucheck {label}; {sizes}")
    printer("versions: " + ", ".join(f"{k} {v}" for k, v in found.items()))
    printer(table_header())
    rows: list[dict] = []

    def emit(row: dict) -> dict:
        printer(format_row(row))
        rows.append(row)
        return row

    work = Path(tempfile.mkdtemp(prefix="gpucheck-", dir=work_dir))
    runs: list[dict] = []

    def make_doc() -> dict:
        return document(rows, runs=runs, comparison=au_comparison(runs), device=device, sizes=sizes,
                        dry_run=dry_run, versions=found, seconds=time.perf_counter() - started)

    steps = [("1", "CuPy format", step_cupy), ("2", "training", step_training), ("3", "JPEG decode", step_decode),
             ("4", "host to device", step_copies)]
    try:
        for step, name, measure in steps:
            try:
                result = measure(work, sizes, gpu, emit)
            except Exception as exc:  # noqa: BLE001 - the other steps still run and report
                traceback.print_exc()
                emit(not_measured(step, f"{name}: the step failed", "", error_text(exc)))
            else:
                if step == "2":
                    runs = result
                    printer(f"step 2, real and emulated side by side:\n{side_by_side(runs)}")
            if out is not None:  # what is done so far survives a run cut short
                write_json(out, {**make_doc(), "complete": False, "last_step_done": step})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    doc = {**make_doc(), "complete": True}
    printer(f"gpucheck: {doc['summary']} in {doc['seconds']:.0f} s" + (" (CPU dry run)" if dry_run else ""))
    if out is not None:
        write_json(out, doc)
        printer(f"gpucheck: JSON written to {out}")
    return doc


def default_out(dry_run: bool) -> Path:
    return paths.data_dir("gpucheck") / ("gpucheck-dry-run.json" if dry_run else "gpucheck.json")


def main(*, out: str | None = None, quick: bool = False, dry_run: bool = False, work_dir: str | None = None) -> int:
    """The command. Without CUDA (and without ``dry_run``): one line saying so, exit status 0.
    ValueError, before anything runs, when ``out`` names a folder (the JSON could not be written)."""
    out_path = Path(out) if out else default_out(dry_run)
    if out_path.is_dir():
        raise ValueError(f"gpucheck --out {out_path}: that is a folder; name the JSON file to write")
    if not dry_run and not torch.cuda.is_available():
        print(f"gpucheck: no CUDA device (torch {torch.__version__} sees none), nothing measured; "
              "`python -m thesis_lib gpucheck --dry-run` runs the CPU-capable parts")
        return 0
    sizes = DRY if dry_run else QUICK if quick else FULL
    run_check(sizes=sizes, dry_run=dry_run, out=out_path, work_dir=Path(work_dir) if work_dir else None)
    return 0
