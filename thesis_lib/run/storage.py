"""Where a run reads its converted copy from: ``storage: local`` (the copy on disk) or ``s3`` (the
copy uploaded to an S3 bucket and read through :func:`~thesis_lib.formats.s3_readers.open_s3`).

:func:`resolve_storage` checks ``storage_options`` once, when a run is resolved; :func:`s3_reader`
gives a run its reader over S3. With no ``endpoint`` the run starts a private SeaweedFS server of
its own (its data in a fresh folder under ``$THESIS_DATA/s3``), and with ``latency_ms`` or
``bandwidth_mbps`` set, a link proxy in front of the endpoint; both are stopped, and the private
server's folder removed, when the ``with`` ends, however it ends.

Under ``torchrun`` every rank reads from one endpoint: rank 0 (the ``leader``) starts the server
and the proxy, uploads the copy once and hands the endpoint its readers use to the other ranks
(``share``, a broadcast from rank 0), which start nothing. The server stops when rank 0's block
ends, after every rank has read (the run's closing collective comes first).
"""
from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

STORAGES = ("local", "s3")
BUCKET = "thesis"


@dataclass(frozen=True)
class S3Settings:
    """``storage_options`` of an S3 run, typed and with their defaults."""
    endpoint: str | None = None  # None: a private server for this run
    latency_ms: float = 0.0  # one-way delay the link proxy adds to each request and response
    bandwidth_mbps: float = 0.0  # the link proxy's cap in MB/s; 0: none
    concurrency: int = 16  # requests in flight at once per reader

    @property
    def proxied(self) -> bool:
        return bool(self.latency_ms or self.bandwidth_mbps)

    def measured(self) -> dict:
        """What changes the measurement: all but the endpoint, which is a place (like ``root``)."""
        return {k: v for k, v in asdict(self).items() if k != "endpoint"}


OPTION_NAMES = tuple(S3Settings.__dataclass_fields__)


def resolve_storage(storage: str, options: dict, fmt: str, open_options: dict) -> S3Settings | None:
    """The settings of an S3 run (None for local), ValueError naming the first bad option or a
    format that is not read over S3."""
    from ..formats.s3_readers import check_s3_readable

    if storage == "local":
        if options:
            raise ValueError(f"storage_options {sorted(options)} apply only with storage='s3'")
        return None
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise ValueError(f"storage_options: unknown option {unknown[0]!r}; valid: {', '.join(OPTION_NAMES)}")
    check_s3_readable(fmt, open_options)
    values = {name: _typed(name, value) for name, value in options.items()}
    return S3Settings(**values)


def _typed(name: str, value):
    """One option from YAML (typed) or the command line (text), checked."""
    if name == "endpoint":
        if value is None:
            return None
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise ValueError(f"storage_options: endpoint must be http://HOST:PORT, got {value!r}")
        return value.rstrip("/")
    kind, minimum = (int, 1) if name == "concurrency" else (float, 0)
    try:
        number = kind(value) if isinstance(value, str) and not isinstance(value, bool) else value
    except ValueError:
        number = value
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) \
            or number < minimum or (kind is int and number != int(number)):
        what = "an integer >= 1" if kind is int else "a number >= 0"
        raise ValueError(f"storage_options: {name} must be {what}, got {value!r}")
    return kind(number)


@contextlib.contextmanager
def s3_reader(settings: S3Settings, path: Path, name: str, open_options: dict, *, leader: bool = True,
              share=None):
    """The converted copy at ``path`` uploaded to ``s3://thesis/<name>`` and opened over S3 with
    ``open_options``, through the link proxy when one is set; everything started here stops when
    the block ends. Under torchrun only the ``leader`` (rank 0) starts, uploads and stops anything;
    ``share(value)`` gives every rank rank 0's ``value`` (a broadcast; it also makes the other
    ranks wait for the upload)."""
    from ..formats.s3_readers import open_s3

    url = f"s3://{BUCKET}/{name}"
    with contextlib.ExitStack() as stack:
        endpoint = _serve_copy(stack, settings, path, url) if leader else None
        if share is not None:
            endpoint = share(endpoint)
        yield open_s3(url, endpoint, concurrency=settings.concurrency, options=open_options)


def _serve_copy(stack: contextlib.ExitStack, settings: S3Settings, path: Path, url: str) -> str:
    """Start what ``settings`` asks for on ``stack`` (a private server, the link proxy), upload the
    copy at ``path`` to ``url``; the endpoint readers use."""
    from ..core.link_proxy import link_proxy
    from ..core.paths import data_dir
    from ..core.s3_server import s3_server
    from ..formats.s3_objects import S3Location, upload

    stack.enter_context(_sigterm_exits())
    endpoint = settings.endpoint
    if endpoint is None:
        folder = Path(tempfile.mkdtemp(prefix="run-", dir=data_dir("s3")))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        endpoint = stack.enter_context(s3_server(folder)).endpoint
    upload(path, S3Location.parse(url, endpoint, concurrency=settings.concurrency))
    if settings.proxied:
        endpoint = stack.enter_context(link_proxy(endpoint, settings.latency_ms, settings.bandwidth_mbps))
    return endpoint


@contextlib.contextmanager
def _sigterm_exits():
    """SIGTERM (``timeout``, a job scheduler) as SystemExit while the block runs, so the ``with``
    stops the server it started: by default SIGTERM ends Python without running ``finally``, and
    the server, in its own process group, would outlive the run. Only the main thread sets handlers."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_now(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
