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
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..formats.options import Option

STORAGES = ("local", "s3")
BUCKET = "thesis"


#: ``storage_options`` of an S3 run, declared once: their types, ranges and defaults.
STORAGE_OPTIONS = {
    "endpoint": Option(None, "url", "the S3 server; none: a private server for this run", optional=True),
    "latency_ms": Option(0.0, "float", "one-way delay the link proxy adds to each request and response",
                         minimum=0),
    "bandwidth_mbps": Option(0.0, "float", "the link proxy's cap in MB/s; 0: none", minimum=0),
    "concurrency": Option(16, "int", "requests in flight at once per reader", minimum=1),
}
OPTION_NAMES = tuple(STORAGE_OPTIONS)


@dataclass(frozen=True)
class S3Settings:
    """``storage_options`` of an S3 run, parsed (:data:`STORAGE_OPTIONS`), with their defaults."""
    endpoint: str | None = STORAGE_OPTIONS["endpoint"].default
    latency_ms: float = STORAGE_OPTIONS["latency_ms"].default
    bandwidth_mbps: float = STORAGE_OPTIONS["bandwidth_mbps"].default
    concurrency: int = STORAGE_OPTIONS["concurrency"].default

    @property
    def proxied(self) -> bool:
        return bool(self.latency_ms or self.bandwidth_mbps)

    def measured(self) -> dict:
        """What changes the measurement: all but the endpoint, which is a place (like ``root``)."""
        return {k: v for k, v in asdict(self).items() if k != "endpoint"}


def resolve_storage(storage: str, options: dict, fmt: str, open_options: dict) -> S3Settings | None:
    """The settings of an S3 run (None for local), ValueError naming the first bad option or a
    format that is not read over S3."""
    from ..formats.s3_readers import check_s3_readable

    if storage == "local":
        if options:
            raise ValueError(f"storage_options {sorted(options)} apply only with storage='s3'")
        return None
    check_known(options)
    check_s3_readable(fmt, open_options)
    return parse_s3_options(options)


def check_known(options: dict, where: str = "storage_options") -> None:
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise ValueError(f"{where}: unknown option {unknown[0]!r}; valid: {', '.join(OPTION_NAMES)}")


def parse_s3_options(options: dict, where: str = "storage_options") -> S3Settings:
    """``options`` (known keys, from YAML, Python or ``KEY=VALUE`` text) parsed, defaults filled in."""
    check_known(options, where)
    return S3Settings(**{name: STORAGE_OPTIONS[name].parse(value, name, where) for name, value in options.items()})


def upload_target(storage: str, options: dict, fmt: str) -> S3Settings | None:
    """Where ``convert --storage s3`` uploads (None: it stays local), ValueError naming the flag
    when the endpoint is missing or an option only a run's reads use is set."""
    from ..formats.s3_readers import check_s3_readable

    if storage not in STORAGES:
        raise ValueError(f"convert --storage {storage!r}: choose one of {', '.join(STORAGES)}")
    if storage == "local":
        if options:
            raise ValueError(f"convert --storage-option {sorted(options)} applies only with --storage s3")
        return None
    settings = parse_s3_options(options, "convert --storage-option")
    if settings.endpoint is None:
        raise ValueError("convert --storage s3 needs the server to upload to: --storage-option "
                         "endpoint=http://HOST:PORT (python -m thesis_lib s3 serve starts one and prints it)")
    if settings.proxied:
        raise ValueError("convert --storage-option latency_ms and bandwidth_mbps set a run's link to the "
                         "server; an upload goes straight to the endpoint")
    check_s3_readable(fmt, {}, "convert --storage s3")
    return settings


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
