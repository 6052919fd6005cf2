"""The machine a measurement ran on, and this process's memory: what every record stores."""
from __future__ import annotations

import os
import platform
import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(data_root: Path) -> dict:
    """Package versions, CPU, cores, RAM, GPU and the file system holding ``data_root``."""
    import h5py
    import numpy as np
    import torch
    import zarr

    from .cache import filesystem

    return {
        "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
        "h5py": h5py.__version__, "zarr": zarr.__version__, "platform": platform.platform(),
        "cpu": cpu_model(), "cores": os.cpu_count(),
        "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "filesystem": filesystem(data_root),
    }


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
