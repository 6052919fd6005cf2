"""Reading records: a folder of benchmark records into a frame with one row per run, and the
frame of their epochs.

Every benchmark run leaves one JSON record (:class:`thesis_lib.record.Record`); this module reads
a folder of them and knows nothing of how they were made. A file that is not a record, or a record
with a field of the wrong type, is skipped with a warning that names it.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import get_type_hints

import numpy as np
import pandas as pd

from .. import paths
from ..cache import COLD_CACHED_LIMIT
from ..record import Record
from .labels import optional_column, with_labels

# Keys without which a JSON file is not a benchmark record.
RECORD_KEYS = Record.__required_keys__
# The columns a frame of records always has, even when no record was found: the record's keys
# (those holding a mapping become one column per entry, ``env.gpu``), and what the loader adds.
RECORD_COLUMNS = (*(key for key, kind in get_type_hints(Record).items() if kind is not dict),
                  "path", "notebook", "epochs_per_repeat")
# Fields a record must hold as text, and those that must be numbers when present.
RECORD_TEXT = ("run", "dataset", "fmt", "access", "model")
RECORD_NUMBERS = ("emulate_rate", "repeats", "batch_size", "workers", "n_train", "bytes_on_disk", "convert_s",
                  "accuracy", "f1_macro", "epoch_time_s_median", "samples_per_s_median", "au_median",
                  "data_wait_s_median", "peak_rss_mb", "h100_demand")
EPOCH_NUMBERS = ("wall_s", "data_wait_s", "compute_s", "samples", "samples_per_s", "samples_per_s_total", "au",
                 "cached_fraction", "loss")


def read_record(path: Path) -> Record | None:
    """One record, or None (with a warning naming the file) when the file is not valid JSON, not a
    record, or a record with a field of the wrong type."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        warnings.warn(f"skipping {path}: not readable JSON ({exc})", stacklevel=2)
        return None
    missing = sorted(RECORD_KEYS - set(record)) if isinstance(record, dict) else sorted(RECORD_KEYS)
    if missing:
        warnings.warn(f"skipping {path}: not a benchmark record (no {', '.join(missing)})", stacklevel=2)
        return None
    problem = record_problem(record)
    if problem:
        warnings.warn(f"skipping {path}: {problem}", stacklevel=2)
        return None
    return record


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def record_problem(record: dict) -> str | None:
    """What is wrong with the types of a record's fields that the figures and tables use, or None."""
    for key in RECORD_TEXT:
        if not isinstance(record[key], str):
            return f"{key} must be text, got {record[key]!r}"
    if not (_is_number(record["image_size"]) and record["image_size"] >= 1):
        return f"image_size must be a positive number, got {record['image_size']!r}"
    for key in RECORD_NUMBERS:
        if record.get(key) is not None and not _is_number(record[key]):
            return f"{key} must be a number, got {record[key]!r}"
    for key in ("write_options", "open_options", "fmt_options"):
        if not isinstance(record.get(key, {}), dict):
            return f"{key} must be a mapping, got {record[key]!r}"
    epochs = record["epochs"]
    if not isinstance(epochs, list) or not all(isinstance(e, dict) for e in epochs):
        return "epochs must be a list of per-epoch records"
    for k, epoch in enumerate(epochs):
        if not _is_number(epoch.get("wall_s")):
            return f"epoch {k}: wall_s must be a number, got {epoch.get('wall_s')!r}"
        wrong = next((key for key in EPOCH_NUMBERS if epoch.get(key) is not None and not _is_number(epoch[key])), None)
        if wrong:
            return f"epoch {k}: {wrong} must be a number, got {epoch[wrong]!r}"
    return None


def record_paths(results_dir: Path) -> list[Path]:
    """Every ``*.json`` under ``results_dir``, hidden files and folders left out, sorted."""
    found = Path(results_dir).rglob("*.json")
    return sorted(p for p in found if not any(part.startswith(".") for part in p.relative_to(results_dir).parts))


def load_records(results_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """One row per run from the records in :func:`thesis_lib.paths.results_dir`: every record key,
    nested dicts flattened (``env.gpu``, ``write_options.codec``, ``open_options.read_path``), lists
    kept as objects, plus the ``dataset_name``, ``setting``, ``workload`` and ``format`` labels
    (:func:`~thesis_lib.results.labels.with_labels`), ``epochs_per_repeat``, ``block_unit``, ``path``
    and ``notebook`` (the executed bench notebook beside the record, or None)."""
    folder = paths.results_dir(results_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"results folder {folder} does not exist")
    records = []
    for path in record_paths(folder):
        record = read_record(path)
        if record is not None:
            notebook = path.with_suffix(".ipynb")
            records.append({**record, "path": str(path), "notebook": str(notebook) if notebook.is_file() else None})
    return with_labels(records_frame(records))


def records_frame(records: list[dict]) -> pd.DataFrame:
    """Flatten records into a frame; lists (per-epoch stats, intervals) stay objects."""
    if not records:
        return pd.DataFrame(columns=list(RECORD_COLUMNS))
    frame = pd.json_normalize([with_split_options(r) for r in records], max_level=1)
    frame["epochs_per_repeat"] = [len(e) // max(1, int(r or 1)) for e, r in zip(frame["epochs"], frame["repeats"])]
    return frame


def with_split_options(record: dict) -> dict:
    """``record`` with ``write_options`` (and ``open_options`` when it has them): a record from
    before the split keeps its format options in ``fmt_options``, read here as write options."""
    if "fmt_options" not in record or "write_options" in record:
        return record
    return {**{k: v for k, v in record.items() if k != "fmt_options"}, "write_options": record["fmt_options"]}


# --------------------------------------------------------------------------------------------
# Epochs


EPOCH_COLUMNS = ("repeat", "epoch", "cold", "cached_fraction", "wall_s", "data_wait_s", "compute_s", "samples",
                 "samples_per_s", "samples_per_s_total", "au", "peak_rss_mb", "loss")
RUN_COLUMNS = ("run", "setting", "workload", "format", "fmt", "access", "cache", "dataset", "dataset_name",
               "image_size", "n_train", "model", "emulate_rate", "batch_size", "workers", "device", "world_size",
               "epochs_per_repeat", "seed", "lossless")


def epochs_frame(records: pd.DataFrame | str | os.PathLike | None) -> pd.DataFrame:
    """One row per measured epoch (``wall_s``, ``data_wait_s``, ``compute_s``, ``samples_per_s``,
    ``samples_per_s_total``, ``au``, ``loss``, ``repeat``, ``epoch``, ``cold``...), with the run's
    configuration columns and ``cache_state`` ("warm", "cold", or "cold-unavailable" when the
    eviction left the files cached, per epoch)."""
    runs = records if isinstance(records, pd.DataFrame) else load_records(records)
    columns = [c for c in RUN_COLUMNS if c in runs]
    rows = [{**{c: run[c] for c in columns}, **epoch}
            for _, run in runs.iterrows() for epoch in (run["epochs"] or [])]
    extra = [k for row in rows for k in row if k not in EPOCH_COLUMNS and k not in columns]
    epochs = pd.DataFrame(rows, columns=list(dict.fromkeys([*columns, *EPOCH_COLUMNS, *extra])))
    epochs["samples_per_s_total"] = epochs["samples_per_s_total"].fillna(epochs["samples_per_s"])
    epochs["cold"] = epochs["cold"].fillna(False).astype(bool)
    # An epoch whose files stayed cached through the eviction (tmpfs) was not cold, whatever was asked.
    still_cached = pd.to_numeric(epochs["cached_fraction"], errors="coerce") > COLD_CACHED_LIMIT
    epochs["cache_state"] = np.select([epochs["cold"] & still_cached, epochs["cold"]],
                                      ["cold-unavailable", "cold"], "warm")
    return epochs


def warm_epochs(runs: pd.DataFrame) -> pd.DataFrame:
    """Epochs of warm-cache runs."""
    epochs = epochs_frame(runs)
    return epochs[epochs["cache_state"] == "warm"]


def emulated_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs under an emulated accelerator (model ``emulate`` at a rate above zero)."""
    rate = pd.to_numeric(optional_column(runs, "emulate_rate"), errors="coerce")
    return runs[(runs["model"] == "emulate") & (rate > 0)]
