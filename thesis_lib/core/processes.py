"""Helper processes a run starts and must stop (the S3 server, the link proxy): started in a
process group of their own, stopped as one, SIGTERM first and SIGKILL after a bounded wait."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_group(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to ``process``'s group (it was started with ``start_new_session``), SIGKILL after
    ``timeout`` s; returns once the process is reaped."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, None)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)
    process.wait()
