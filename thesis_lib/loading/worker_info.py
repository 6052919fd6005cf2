"""Whether the code running now is a loader's worker: a DataLoader worker process, a thread
worker (:mod:`.threads`) or a ring worker process (:mod:`.ring`). Datasets ask, to leave pinning
and reading ahead to the main thread, and to hand a DataLoader worker's window over whole (its
result is pickled; the other kinds take a window's batches one by one as they are made).
"""
from __future__ import annotations

import threading

from torch.utils.data import get_worker_info

_THREAD = threading.local()


def in_worker() -> bool:
    """True in a DataLoader worker process, a thread worker and a ring worker; False in the main thread."""
    return get_worker_info() is not None or getattr(_THREAD, "worker", False)


def in_data_loader_worker() -> bool:
    """True in a torch DataLoader worker process, whose items cross to the main process pickled."""
    return get_worker_info() is not None


def mark_thread_worker() -> None:
    """Mark the calling thread as a thread worker (for good: it is one of a pipeline's own), or a
    ring worker process's one thread."""
    _THREAD.worker = True
