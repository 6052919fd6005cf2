"""A reader's open handles (files, memory maps, stores), opened lazily in each process."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable

from ..core.errors import FormatError


class Handles:
    """Handles by name, each opened by its opener on first use in this process.

    Under fork a child inherits the parent's handles; HDF5 and Zarr's I/O threads do not survive
    that, so a forked child drops them and opens its own, or, when its owner is not
    ``fork_safe``, gets an error saying how to start workers instead. Pickles empty: an
    unpickled copy (a spawned worker's) opens its own. Thread workers share one: a handle is
    opened once, by the first thread that needs it.
    """

    def __init__(self, owner: str, fork_safe: bool = True):
        self.owner, self.fork_safe = owner, fork_safe  # owner: "<where>: <reader class>", for errors
        self._open: dict[str, object] = {}
        self._pid = os.getpid()
        self._opening = threading.RLock()  # an opener may open another handle first

    def get(self, name: str, opener: Callable[[], object]):
        """The handle ``name``, opened by ``opener()`` when this process has none yet."""
        if self._pid != os.getpid():
            # Only a fork carries handles into another process unpickled (__setstate__ resets the pid).
            if not self.fork_safe:
                raise FormatError(f"{self.owner} cannot be used in a forked process (its library's threads "
                                  "do not survive fork); start DataLoader workers with the 'spawn' or "
                                  "'forkserver' context")
            self._open.clear()  # the parent's: never closed here, they are still the parent's
            self._pid = os.getpid()
            self._opening = threading.RLock()  # a parent's thread may have held it at the fork
        handle = self._open.get(name)
        if handle is None:
            with self._opening:
                handle = self._open.get(name)
                if handle is None:
                    handle = self._open[name] = opener()
        return handle

    def __contains__(self, name: str) -> bool:
        """Whether ``name`` is open in this process."""
        return name in self._open and self._pid == os.getpid()

    def forget(self, name: str) -> None:
        """Drop the handle ``name`` unclosed (it is reopened, with new settings, on next use)."""
        self._open.pop(name, None)

    def close(self) -> None:
        """Close every handle, the last opened first (a decoder before the file it reads)."""
        while self._open:
            _, handle = self._open.popitem()
            if hasattr(handle, "close"):
                handle.close()

    def __getstate__(self):
        return {"owner": self.owner, "fork_safe": self.fork_safe}

    def __setstate__(self, state):
        self.__init__(**state)
