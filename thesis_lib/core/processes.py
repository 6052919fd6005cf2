"""Helper processes a run starts and must stop (the S3 server, the link proxy): started in a
process group of their own, stopped as one, SIGTERM first and SIGKILL after a bounded wait; and
killed by the kernel if the process that started them dies first, even by SIGKILL (torchrun
SIGKILLs a rank that does not end soon after SIGTERM), so none is ever left running."""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess

PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """For ``preexec_fn``: the child gets SIGKILL when the thread that started it ends (Linux;
    elsewhere nothing). Resolved before any fork, so the child only makes the call."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


DIE_WITH_PARENT = _die_with_parent()


def start_group(command: list[str], **popen_args) -> subprocess.Popen:
    """``command`` started in a process group of its own (stopped as one by :func:`stop_group`,
    never by the caller's Ctrl-C), killed if its starter dies first."""
    return subprocess.Popen(command, start_new_session=True, preexec_fn=DIE_WITH_PARENT, **popen_args)


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
