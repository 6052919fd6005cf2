"""Where datasets, converted copies and results live: ``$THESIS_DATA`` or the repository's ``data/``."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """The data folder: ``$THESIS_DATA`` when set, else ``<repo>/data``."""
    env = os.environ.get("THESIS_DATA")
    root = Path(env).expanduser() if env else REPO_ROOT / "data"
    root.mkdir(parents=True, exist_ok=True)
    return root


def data_dir(*parts: str) -> Path:
    """A sub-folder of :func:`data_root`, created on first use."""
    path = data_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_dir() -> Path:
    """The read-only ``shared/data`` folder beside the checkout (may not exist)."""
    return REPO_ROOT.parent / "shared" / "data"


def cifar10_jpeg_zip() -> Path | None:
    """The real CIFAR-10 JPEG zip from ``shared/data`` when it is present, else None."""
    path = shared_data_dir() / "cifar10-jpeg.zip"
    return path if path.is_file() else None
