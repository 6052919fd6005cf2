"""A network link you can set: a TCP proxy that adds latency and caps bandwidth between a client
and a server on this machine.

Linux ``tc netem`` is missing from this kernel, so the delay is added here. Each direction is a
:class:`Link` shared by every connection through the proxy, as one network path is: a chunk read
from one side is sent after the link has carried the chunks before it at ``bandwidth_mbps``
(MB/s, 10^6 bytes a second; 0 = no cap), and arrives half the round trip ``latency_ms`` later.
A new connection first waits one round trip (TCP's handshake). So a small request and its
response take ``latency_ms`` more than without the proxy, and a large transfer runs at the cap.

The proxy runs as a process of its own (:func:`link_proxy`, ``python -m thesis_lib s3 proxy``) so
its Python never competes for the GIL with the reader it serves. Threads, not asyncio: asyncio's
timers ride on epoll's whole milliseconds (up to 1 ms late a direction, half of a 2 ms round trip),
and finishing each wait with a blocking sleep stalled the loop's reads, so a 50 MB/s cap ran at 41.
Each direction of a connection has a reader and a deliverer thread; ``time.sleep`` with the timer
slack set to 1 ns (``prctl``) wakes about 30 us late instead of 85.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ThesisLabError
from .processes import start_group, stop_group

CHUNK = 256 * 1024  # bytes read at once, at most
QUEUE_CHUNKS = 32  # chunks a direction holds before it stops reading (back-pressure to the sender)
START_TIMEOUT = 30.0
PR_SET_TIMERSLACK = 29


class LinkProxyError(ThesisLabError):
    """The link proxy could not be started (its settings or target named)."""


class Link:
    """One direction of the path, shared by all connections: when a chunk arrives at the far end."""

    def __init__(self, latency_ms: float, bandwidth_mbps: float):
        self.delay = latency_ms / 2000  # one way
        self.seconds_per_byte = 1 / (bandwidth_mbps * 1e6) if bandwidth_mbps else 0.0
        self.free_at = 0.0
        self.lock = threading.Lock()

    def arrival(self, now: float, nbytes: int) -> float:
        if self.seconds_per_byte:
            with self.lock:
                self.free_at = max(now, self.free_at) + nbytes * self.seconds_per_byte
                now = self.free_at
        return now + self.delay


class Waker:
    """Sleeps that end on time on average: each aims early by the median lateness of ``time.sleep``
    measured at start (about 30 us with 1 ns timer slack, 85 us without)."""

    def __init__(self, samples: int = 25):
        late = []
        for _ in range(samples):
            start = time.monotonic()
            time.sleep(0.0005)
            late.append(time.monotonic() - start - 0.0005)
        self.early = sorted(late)[samples // 2]

    def sleep_until(self, when: float) -> None:
        ahead = when - time.monotonic() - self.early
        if ahead > 0:
            time.sleep(ahead)


def _pump(src: socket.socket, dst: socket.socket, link: Link, waker: Waker) -> None:
    """Carry ``src``'s bytes to ``dst`` over ``link`` until ``src`` ends; then end ``dst``'s side."""
    chunks: queue.Queue = queue.Queue(QUEUE_CHUNKS)

    def deliver():
        failed = False
        while (item := chunks.get()) is not None:
            if failed:
                continue  # keep taking chunks so the reader never blocks on a full queue
            when, data = item
            waker.sleep_until(when)
            try:
                dst.sendall(data)
            except OSError:
                failed = True
                _close(src)  # the reader's recv fails and it stops
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    deliverer = threading.Thread(target=deliver, daemon=True)
    deliverer.start()
    try:
        while data := src.recv(CHUNK):
            chunks.put((link.arrival(time.monotonic(), len(data)), data))
    except OSError:
        _close(dst)
    finally:
        chunks.put(None)
        deliverer.join()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class LinkProxy:
    """The proxy: after :meth:`start`, connections to ``port`` go to the target over the links."""

    def __init__(self, target_host: str, target_port: int, latency_ms: float = 0.0, bandwidth_mbps: float = 0.0):
        check_link(latency_ms, bandwidth_mbps)
        with contextlib.suppress(OSError, AttributeError):  # precise sleeps: 1 ns timer slack (Linux)
            ctypes.CDLL(None).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
        self.target = (target_host, target_port)
        self.latency = latency_ms / 1000
        self.up, self.down = Link(latency_ms, bandwidth_mbps), Link(latency_ms, bandwidth_mbps)
        self.waker = Waker()
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = self.listener.getsockname()[1]

    def start(self) -> "LinkProxy":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed
            threading.Thread(target=self._connection, args=(client, time.monotonic()), daemon=True).start()

    def _connection(self, client: socket.socket, accepted: float) -> None:
        with client:
            try:
                server = socket.create_connection(self.target)
            except OSError:
                return  # the client sees the connection close, as with a server gone
            with server:
                for sock in (client, server):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.waker.sleep_until(accepted + self.latency)  # TCP's handshake costs a round trip
                upstream = threading.Thread(target=_pump, args=(client, server, self.up, self.waker),
                                            daemon=True)
                upstream.start()
                _pump(server, client, self.down, self.waker)
                upstream.join()

    def close(self) -> None:
        self.listener.close()


def check_link(latency_ms, bandwidth_mbps) -> None:
    """ValueError naming the setting unless both are finite numbers >= 0."""
    for name, value in (("latency_ms", latency_ms), ("bandwidth_mbps", bandwidth_mbps)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ValueError(f"link proxy: {name} must be a number >= 0, got {value!r}")


def parse_target(target: str) -> tuple[str, int]:
    """``http://HOST:PORT`` as (host, port); ValueError naming it otherwise."""
    parts = urlsplit(target)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or not port:
        raise ValueError(f"link proxy: target must be http://HOST:PORT, got {target!r}")
    return parts.hostname, port


def serve(target: str, latency_ms: float, bandwidth_mbps: float, announce=print) -> None:
    """Run the proxy in front of ``target`` (``http://host:port``) until SIGTERM or SIGINT; the
    first line announced names its endpoint."""
    proxy = LinkProxy(*parse_target(target), latency_ms, bandwidth_mbps).start()
    announce(f"proxy http://127.0.0.1:{proxy.port} -> {target} latency_ms={latency_ms:g} "
             f"bandwidth_mbps={bandwidth_mbps:g}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    proxy.close()


@contextlib.contextmanager
def link_proxy(target: str, latency_ms: float = 0.0, bandwidth_mbps: float = 0.0, *,
               start_timeout: float = START_TIMEOUT, stop_timeout: float = 2.0):
    """``with link_proxy("http://127.0.0.1:8333", latency_ms=20) as endpoint:`` the proxy's
    endpoint, served by a process of its own that is stopped when the block ends."""
    check_link(latency_ms, bandwidth_mbps)
    parse_target(target)
    # this module run directly: the package's command line imports torch, seconds before it answers
    command = [sys.executable, "-m", __name__, target, repr(float(latency_ms)), repr(float(bandwidth_mbps))]
    package_parent = str(Path(__file__).resolve().parents[2])  # this thesis_lib, wherever the child starts
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    process = start_group(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          stdin=subprocess.DEVNULL)
    try:
        endpoint = _announced_endpoint(process, target, start_timeout)
        yield endpoint
    finally:
        stop_group(process, stop_timeout)
        for stream in (process.stdout, process.stderr):
            stream.close()


def _announced_endpoint(process: subprocess.Popen, target: str, timeout: float) -> str:
    import selectors
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise LinkProxyError(f"link proxy to {target} did not start within {timeout:g} s")
    line = process.stdout.readline()
    if not line.startswith("proxy http://"):
        process.wait(5)
        raise LinkProxyError(f"link proxy to {target} failed to start: {line}{process.stderr.read()[-2000:]}")
    return line.split()[1]


if __name__ == "__main__":  # what link_proxy runs: TARGET LATENCY_MS BANDWIDTH_MBPS
    serve(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), announce=lambda line: print(line, flush=True))
