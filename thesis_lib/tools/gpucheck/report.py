"""The check's JSON document: every row with its device, the runs behind step 2, the AU
comparison, what AU means in each mode, the device, the host and the package versions."""
from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict

from ...core.machine import cpu_model
from .au import side_by_side
from .settings import AU_MEANING, Sizes
from .table import format_table, summary


def document(rows: list[dict], *, runs: list[dict], comparison: list[dict], device: dict, sizes: Sizes,
             dry_run: bool, versions: dict, seconds: float) -> dict:
    """The JSON document: every row with its device, the runs behind step 2, the AU comparison,
    what AU means in each mode, the device, the host and the package versions."""
    return {
        "check": "gpucheck",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dry_run": dry_run,
        "measured_on": "CPU dry run: no figure stands for a GPU" if dry_run else device.get("name"),
        "device": device,
        "host": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
        "versions": versions,
        "sizes": asdict(sizes),
        "seconds": seconds,
        "summary": summary(rows),
        "table": format_table(rows),
        "rows": rows,
        "training_runs": runs,
        "au_comparison": comparison,
        "side_by_side": side_by_side(runs),
        "au_meaning": AU_MEANING,
    }
