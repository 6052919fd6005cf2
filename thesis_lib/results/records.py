"""Reading records: a folder of benchmark records into a frame with one row per run, and the
frame of their epochs.

Every benchmark run leaves one JSON record (:class:`thesis_lib.core.record.Record`); this module reads
a folder of them and knows nothing of how they were made. A file that is not a regular file, not
JSON, not a record, or a record that fails :func:`thesis_lib.core.record_check.record_problems` (wrong types,
NaN or negative times, markup in its text, nesting too deep) is **quarantined**: left out of every
frame, named with its reason in a warning and in the frame's ``attrs["quarantined"]``, which the
report shows at its top. It never stops the others from being read.
"""
from __future__ import annotations

import json
import os
import stat
import warnings
from pathlib import Path
from typing import get_type_hints

import pandas as pd

from ..core import paths
from ..core.cache import cache_state
from ..core.protocol import is_warmup, repeat_summaries
from ..core.errors import MissingResultsFolder
from ..core.record import Record
from ..core.record_check import problems_text, record_problems
from .labels import optional_column, with_labels

# Keys without which a JSON file is not a benchmark record.
RECORD_KEYS = Record.__required_keys__
# The columns a frame of records always has, even when no record was found: the record's keys
# (those holding a mapping become one column per entry, ``env.gpu``), and what the loader adds.
RECORD_COLUMNS = (*(key for key, kind in get_type_hints(Record).items() if kind is not dict),
                  "path", "results_folder", "notebook", "epochs_per_repeat")
# A record is tens of kilobytes; a file far larger is not one, and is not read into memory.
MAX_RECORD_BYTES = 64 * 2**20


def read_record(path: Path) -> Record | None:
    """One record, or None (with a warning naming the file and why) when it is quarantined."""
    record, problem = _read(Path(path))
    if problem:
        warnings.warn(f"skipping {path}: {problem}", stacklevel=2)
    return record


def _read(path: Path) -> tuple[Record | None, str | None]:
    """The record at ``path`` and None, or None and why it is quarantined."""
    try:
        info = path.stat()  # before opening: opening a FIFO would wait for a writer forever
        if not stat.S_ISREG(info.st_mode):
            return None, "not a regular file (a FIFO, device or socket is never opened)"
        if info.st_size > MAX_RECORD_BYTES:
            return None, f"{info.st_size:,} bytes, more than a record ever holds ({MAX_RECORD_BYTES:,})"
        record = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not readable JSON ({exc})"
    except RecursionError:
        return None, "not readable JSON (nested too deep to parse)"
    problems = record_problems(record)
    return (None, problems_text(problems)) if problems else (record, None)


def record_paths(results_dir: Path) -> list[Path]:
    """Every ``*.json`` under ``results_dir``, hidden files and folders left out, sorted."""
    found = Path(results_dir).rglob("*.json")
    return sorted(p for p in found if not any(part.startswith(".") for part in p.relative_to(results_dir).parts))


def scan_records(results_dir: str | os.PathLike | list | None = None) -> tuple[list[dict], list[tuple[str, str]]]:
    """The records in one results folder or several (each with ``path``, ``results_folder`` and
    ``notebook``), and the quarantined files as ``(path, reason)`` pairs; warns of nothing."""
    records, quarantined, seen = [], [], set()
    for folder in results_folders(results_dir):
        for path in record_paths(folder):
            if path.resolve() in seen:  # one folder inside another: each record once
                continue
            seen.add(path.resolve())
            record, problem = _read(path)
            if problem:
                quarantined.append((str(path), problem))
                continue
            notebook = path.with_suffix(".ipynb")
            records.append({**record, "path": str(path), "results_folder": str(folder),
                            "notebook": str(notebook) if notebook.is_file() else None})
    return records, quarantined


def results_folders(results_dirs) -> list[Path]:
    """The results folders named by ``results_dirs`` (one, several, or None for the default), each
    :func:`thesis_lib.core.paths.results_dir`; :class:`~thesis_lib.core.errors.MissingResultsFolder`
    (a FileNotFoundError) naming the first that is not a folder, so a misspelt name never renders an
    empty report."""
    named = list(results_dirs) if isinstance(results_dirs, (list, tuple)) else [results_dirs]
    folders = list(dict.fromkeys(paths.results_dir(d) for d in named or [None]))
    for folder in folders:
        if not folder.is_dir():
            raise MissingResultsFolder(f"results folder {folder} does not exist (misspelt --results-dir or "
                                       "$THESIS_RESULTS_DIR?)")
    return folders


def skip_summary(results_dirs) -> list[str]:
    """What the last sweep into each of ``results_dirs`` skipped: its one line a reason, with the
    count and the command that fixes it (the ``#`` lines of :data:`~thesis_lib.core.paths.SKIPPED_LIST`);
    empty where nothing was skipped."""
    lines = []
    for folder in results_folders(results_dirs):
        listing = folder / paths.SKIPPED_LIST
        if listing.is_file():
            lines += [line[2:] for line in listing.read_text(errors="replace").splitlines() if line.startswith("# ")]
    return lines


def load_records(results_dir: str | os.PathLike | list | None = None) -> pd.DataFrame:
    """One row per run from the records in one results folder or several (``results_dir`` a list:
    records from several machines pooled, :mod:`~thesis_lib.results.machines`): every record key,
    nested dicts flattened (``env.gpu``, ``write_options.codec``, ``open_options.read_path``), lists
    kept as objects, plus the ``dataset_name``, ``setting``, ``workload``, ``format`` and
    ``machine`` labels (:func:`~thesis_lib.results.labels.with_labels`), ``epochs_per_repeat``,
    ``block_unit``, ``path``, ``results_folder`` and ``notebook`` (the executed bench notebook beside
    the record, or None). A record found in two folders is kept from each. Quarantined files
    (:func:`scan_records`) are left out, each named in a warning and in ``attrs["quarantined"]``."""
    records, quarantined = scan_records(results_dir)
    for path, problem in quarantined:
        warnings.warn(f"skipping {path}: {problem}", stacklevel=2)
    frame = with_labels(records_frame(records))
    frame.attrs["quarantined"] = quarantined
    return frame


def records_frame(records: list[dict]) -> pd.DataFrame:
    """Flatten records into a frame; lists (per-epoch stats, intervals) stay objects."""
    if not records:
        return pd.DataFrame(columns=list(RECORD_COLUMNS))
    frame = pd.json_normalize([with_split_options(r) for r in records], max_level=1)
    # the steady-state epochs: the warm-up is start-up, not a measured epoch
    frame["epochs_per_repeat"] = [sum(not is_warmup(e) for e in epochs) // max(1, int(r or 1))
                                  for epochs, r in zip(frame["epochs"], frame["repeats"])]
    # Records from before the protocol charged start-up to every epoch: 0 warm-up epochs, a setting
    # of their own, so they never share a cell with steady-state figures.
    frame["warmup_epochs"] = pd.to_numeric(optional_column(frame, "warmup_epochs"), errors="coerce").fillna(0).astype(int)
    # Process workers, the default, are not recorded (a field added later); nor is a kind without
    # workers, read as the default too, so only thread workers add a setting.
    frame["worker_kind"] = optional_column(frame, "worker_kind").fillna("process")
    return frame


def with_split_options(record: dict) -> dict:
    """``record`` with ``write_options`` (and ``open_options`` when it has them): a record from
    before the split keeps its format options in ``fmt_options``, read here as write options."""
    if "fmt_options" not in record or "write_options" in record:
        return record
    return {**{k: v for k, v in record.items() if k != "fmt_options"}, "write_options": record["fmt_options"]}


# --------------------------------------------------------------------------------------------
# Epochs


EPOCH_COLUMNS = ("repeat", "epoch", "warmup", "cold", "cached_fraction", "wall_s", "data_wait_s", "first_batch_s",
                 "compute_s", "samples", "samples_per_s", "samples_per_s_total", "au", "au_mlperf", "peak_rss_mb",
                 "loss")
REPEAT_COLUMNS = ("repeat", "epochs_measured", "cold", "cached_fraction", "wall_s", "data_wait_s", "first_batch_s",
                  "compute_s", "samples", "samples_per_s", "samples_per_s_total", "au", "au_mlperf", "startup_s",
                  "startup_first_batch_s", "startup_extra_s")
RUN_COLUMNS = ("run", "path", "config_id", "machine", "setting", "workload", "format", "fmt", "access", "cache", "dataset",
               "dataset_name", "image_size", "n_train", "object_store", "model", "emulate_rate", "batch_size", "workers", "worker_kind",
               "device",
               "world_size", "epochs_per_repeat", "warmup_epochs", "seed", "lossless")


def _unit_frame(runs: pd.DataFrame, units_of, unit_columns: tuple[str, ...]) -> pd.DataFrame:
    """One row per unit (``units_of(run)``: its epochs, or its repeats) with the run's configuration
    columns and ``cache_state``: "warm", "cold", or "cold-unavailable" where the eviction left the
    files cached (tmpfs)."""
    columns = [c for c in RUN_COLUMNS if c in runs]
    rows = [{**{c: run[c] for c in columns}, **unit} for _, run in runs.iterrows() for unit in units_of(run)]
    extra = [k for row in rows for k in row if k not in unit_columns and k not in columns]
    units = pd.DataFrame(rows, columns=list(dict.fromkeys([*columns, *unit_columns, *extra])))
    units["samples_per_s_total"] = units["samples_per_s_total"].fillna(units["samples_per_s"])
    units["cold"] = _flags(units["cold"])
    fractions = pd.to_numeric(units["cached_fraction"], errors="coerce")
    units["cache_state"] = [cache_state("cold" if cold else "warm", [fraction])
                            for cold, fraction in zip(units["cold"], fractions)]
    return units


def _flags(values: pd.Series) -> pd.Series:
    """True where a flag was recorded true; False where false or missing (older records)."""
    return pd.Series([v is not None and not pd.isna(v) and bool(v) for v in values], index=values.index, dtype=bool)


def _runs(records: pd.DataFrame | str | os.PathLike | None) -> pd.DataFrame:
    return records if isinstance(records, pd.DataFrame) else load_records(records)


def epochs_frame(records: pd.DataFrame | str | os.PathLike | None) -> pd.DataFrame:
    """One row per epoch as measured, warm-up included (``warmup``): ``wall_s``, ``data_wait_s``,
    ``first_batch_s``, ``compute_s``, ``samples_per_s``, ``samples_per_s_total``, ``au``,
    ``au_mlperf``, ``loss``, ``repeat``, ``epoch``, ``cold``..., with the run's configuration
    columns and ``cache_state``."""
    frame = _unit_frame(_runs(records), lambda run: run["epochs"] or [], EPOCH_COLUMNS)
    frame["warmup"] = _flags(frame["warmup"])
    return frame


def repeats_frame(records: pd.DataFrame | str | os.PathLike | None) -> pd.DataFrame:
    """One row per repeat, the unit of replication (:func:`thesis_lib.core.protocol.repeat_summaries`):
    the means of its steady-state epochs (``wall_s`` is the steady-state epoch time), AU whole
    (``au``) and MLPerf's (``au_mlperf``, the first step's I/O left out), and its start-up
    (``startup_s``, ``startup_first_batch_s``, ``startup_extra_s``), with the run's
    configuration columns and ``cache_state``. Every interval in the report is over these rows."""
    return _unit_frame(_runs(records), lambda run: repeat_summaries(run["epochs"] or []), REPEAT_COLUMNS)


def warm_repeats(runs: pd.DataFrame) -> pd.DataFrame:
    """Repeats of warm-cache runs."""
    repeats = repeats_frame(runs)
    return repeats[repeats["cache_state"] == "warm"]


def emulated_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs under an emulated accelerator (model ``emulate`` at a rate above zero)."""
    rate = pd.to_numeric(optional_column(runs, "emulate_rate"), errors="coerce")
    return runs[(runs["model"] == "emulate") & (rate > 0)]
