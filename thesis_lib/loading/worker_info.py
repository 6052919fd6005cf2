"""Whether the code running now is a loader's worker: a DataLoader worker process, or a thread
worker (:mod:`.threads`). Datasets ask, to hand a worker's batches over whole and to leave
pinning and reading ahead to the main thread.
"""
from __future__ import annotations

import threading

from torch.utils.data import get_worker_info

_THREAD = threading.local()


def in_worker() -> bool:
    """True in a DataLoader worker process and in a thread worker; False in the main thread."""
    return get_worker_info() is not None or getattr(_THREAD, "worker", False)


def mark_thread_worker() -> None:
    """Mark the calling thread as a thread worker (for good: it is one of a pipeline's own)."""
    _THREAD.worker = True
