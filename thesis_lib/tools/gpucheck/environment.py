"""What the check ran on: package versions, the device."""
from __future__ import annotations

import importlib
import os
import platform

import torch

from ...core.machine import cpu_model


def versions() -> dict:
    """Versions of what the check relies on; None where a package is missing or does not import."""
    out = {"python": platform.python_version(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    for module in ("torchvision", "numpy", "cupy", "kvikio", "h5py", "zarr", "numcodecs", "tensorstore"):
        try:
            mod = importlib.import_module(module)
        except Exception:  # noqa: BLE001 - missing, or present but broken (a CUDA library not found)
            out[module] = None
            continue
        out[module] = getattr(mod, "__version__", None) or _dist_version(module)
    return out


def _dist_version(module: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return "installed"


def device_info(on_gpu: bool) -> dict:
    if not on_gpu:
        return {"kind": "cpu", "name": "cpu", "cpu": cpu_model(), "cores": os.cpu_count()}
    props = torch.cuda.get_device_properties(0)
    return {"kind": "cuda", "name": props.name, "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1), "multiprocessors": props.multi_processor_count}
