"""Holding the published version a reader reads, so no writer deletes it under the reader."""
from __future__ import annotations

import weakref
from pathlib import Path

from ..core.errors import FormatError
from . import version_locks


class VersionHold:
    """The shared lock on one version folder (:func:`.version_locks.hold`), released when this
    object is released or dropped. A pickled hold is re-taken where it is unpickled, so a reader
    handed to a spawned worker holds its version there too."""

    def __init__(self, folder: Path, lock=None):
        self.folder = Path(folder)
        self._release = weakref.finalize(self, lock.close) if lock is not None else None

    @property
    def held(self) -> bool:
        return self._release is not None and self._release.alive

    def release(self) -> None:
        if self._release is not None:
            self._release()

    def __getstate__(self):
        return {"folder": self.folder, "held": self.held}

    def __setstate__(self, state):
        lock = None
        if state["held"]:
            lock = version_locks.hold(state["folder"])
            if lock is None:
                raise FormatError(f"{state['folder']}: this version of the dataset was deleted")
        self.__init__(state["folder"], lock)
