"""The project's notebooks executed headless by papermill, on the project's kernel.

The kernel is spoken to over Unix sockets (ZeroMQ's IPC transport) in the temporary folder rather
than over TCP on localhost: no port is bound, nothing is reachable from the network, and ipykernel
no longer warns on every run that it is "running over TCP without encryption" (one warning per
sweep point, which buried the sweep's progress bar).
"""
from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from jupyter_client.manager import KernelManager
from traitlets import default

#: The Jupyter kernel `make` registers in the virtual environment.
KERNEL = "thesis-lab"


class LocalKernelManager(KernelManager):
    """A kernel on this machine, reached over IPC sockets with a name of their own (so concurrent
    runs never share one), removed when the kernel shuts down."""

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("ip")
    def _default_ip(self) -> str:
        # jupyter_client's own default is a name relative to the current folder, shared by every
        # kernel started there.
        return os.path.join(tempfile.gettempdir(), f"thesis-lab-kernel-{secrets.token_hex(8)}")


def execute(notebook: Path, out: Path, parameters: dict) -> None:
    """Run ``notebook`` with ``parameters`` into ``out``, in the notebook's folder (papermill saves
    ``out`` after every cell; PapermillExecutionError when a cell fails)."""
    import papermill

    papermill.execute_notebook(str(notebook), str(out), kernel_name=KERNEL, progress_bar=False,
                               parameters=parameters, cwd=str(Path(notebook).parent),
                               kernel_manager_class=f"{__name__}.{LocalKernelManager.__name__}")
