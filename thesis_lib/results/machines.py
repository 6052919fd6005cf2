"""Where the records were measured, and what pooling them across results folders found.

Every record carries its machine (CPU, cores, RAM, GPU) and the storage figures of its data folder
(:mod:`thesis_lib.tools.storage`). The report's header lists each machine once with those figures, so a
reader knows what "from storage" means there. Records of several folders pool by configuration
id, which names the experiment, not the place (the data by its content): the same experiment on two
machines is two rows, the machine a column; two records of one experiment on one machine are both
kept and said so, as disagreeing where their intervals do not overlap.

>>> machines_table(runs)     # one row per machine
>>> pooling_notes(runs)      # sentences about configurations recorded more than once
"""
from __future__ import annotations

import pandas as pd

from .labels import is_missing, optional_column
from .lang import Words, catalogue
from .ranking import Estimate
from .records import repeats_frame

# (record key under env.storage, column) of the header table.
STORAGE_COLUMNS = (("seq_read_mb_s", "Sequential read (MB/s)"), ("rand4k_iops", "4 KiB random reads (IOPS)"),
                   ("rand4k_latency_us", "4 KiB latency (µs)"), ("rand64k_iops", "64 KiB random reads (IOPS)"),
                   ("rand64k_latency_us", "64 KiB latency (µs)"), ("page_cache_gb_s", "Page cache (GB/s)"))


def machines_table(runs: pd.DataFrame, words: Words | None = None) -> pd.DataFrame:
    """One row per machine: its label, file system, records, and its storage figures (or why there
    are none: not measured, or memory-backed storage where a disk figure would be the page cache's);
    the columns named in ``words``' language (default English)."""
    return _machines_table(runs).rename(columns=(words or catalogue())["machines.columns"])


def _machines_table(runs: pd.DataFrame) -> pd.DataFrame:
    columns = ["Machine", "File system", "Records", *(name for _, name in STORAGE_COLUMNS), "Storage note"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for machine, group in runs.groupby("machine", sort=True):
        storage = _latest_storage(group)
        filesystems = optional_column(group, "env.filesystem").dropna()
        row = {"Machine": machine, "File system": ", ".join(sorted(set(filesystems))) or "unknown",
               "Records": len(group)}
        for key, name in STORAGE_COLUMNS:
            value = storage.get(key) if storage else None
            row[name] = "–" if is_missing(value) else f"{value:,.3g}" if value < 100 else f"{value:,.0f}"
        row["Storage note"] = (storage.get("note") or "") if storage else (
            "not measured (python -m thesis_lib storage measures it; bench and sweep do once per machine)")
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _latest_storage(group: pd.DataFrame) -> dict | None:
    """The storage figures the machine's most recent record carries, or None."""
    found = [s for s in optional_column(group.sort_values("created") if "created" in group else group,
                                        "env.storage") if isinstance(s, dict)]
    return found[-1] if found else None


def pooling_notes(runs: pd.DataFrame) -> list[str]:
    """One sentence per configuration recorded more than once on one machine (across results folders
    or within one): every record is kept; they disagree where their epoch-time intervals over repeats
    do not overlap."""
    if runs.empty or "config_id" not in runs:
        return []
    repeats = repeats_frame(runs)
    notes = []
    for (config_id, machine), group in runs.groupby(["config_id", "machine"]):
        if len(group) < 2:
            continue
        estimates = [Estimate.of(str(path), repeats.loc[repeats["path"] == path, "wall_s"]) for path in group["path"]]
        apart = any(a.clears(b) or b.clears(a) for a in estimates for b in estimates)
        where = "; ".join(f"{e.label}: {e.text()}" for e in estimates)
        verdict = ("they disagree: their intervals do not overlap" if apart
                   else "they agree within their intervals")
        notes.append(f"{group['run'].iloc[0]} (config {config_id}) on {machine} was recorded {len(group)} times, "
                     f"all kept and pooled as repeats of one experiment; {verdict} ({where}).")
    return notes
