"""Where datasets, converted copies and results live: ``$THESIS_DATA`` or the repository's ``data/``;
results may live elsewhere, named by ``$THESIS_RESULTS_DIR`` (:func:`results_dir`)."""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # thesis_lib/core/paths.py
# Every point the last sweep skipped, with its reason, in the results folder: first one "# " line a
# reason with its count (the sweep prints these; a report of a folder without records shows them),
# then one line a point.
SKIPPED_LIST = "sweep-skipped.txt"


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


def results_dir(results_dir: str | os.PathLike | None = None) -> Path:
    """The results folder, absolute: ``results_dir`` (relative to the current directory), else
    ``$THESIS_RESULTS_DIR``, else ``results`` under :func:`data_root`. Only that default is created
    here; a folder named by the argument or the variable is not, so a misspelt name is noticed."""
    chosen = results_dir or os.environ.get("THESIS_RESULTS_DIR")
    return Path(chosen).expanduser().resolve() if chosen else data_dir("results")


def shared_data_dir() -> Path:
    """The read-only ``shared/data`` folder beside the checkout (may not exist)."""
    return REPO_ROOT.parent / "shared" / "data"


def cifar10_jpeg_zip() -> Path | None:
    """The real CIFAR-10 JPEG zip from ``shared/data`` when it is present, else None."""
    path = shared_data_dir() / "cifar10-jpeg.zip"
    return path if path.is_file() else None


def read_regular_file(path: str | os.PathLike) -> bytes:
    """The bytes of ``path``; OSError unless it is a regular file (reading a FIFO would block
    forever, a directory cannot be read)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO must not wait for a writer
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        with open(fd, "rb", closefd=False) as file:
            return file.read()
    finally:
        os.close(fd)
