"""A converted dataset in an S3 bucket: where it lies, its upload, and the checked reads readers make.

A dataset is the objects of its converted folder under a prefix (``s3://bucket/prefix/<file>``),
uploaded every object first and ``manifest.json`` last, after any old manifest was deleted: a
half-uploaded dataset has no manifest, so it is never read. The uploaded manifest adds
``objects``, each object's size and CRC-32. Opening checks the manifest and that every object is
there at its size (a bucket, an object or a manifest without its objects is a FormatError naming
the key); whole-object reads check the CRC-32 too, so a damaged object is an error, never zeros.

The client is obstore (Rust, its own threads, the GIL released while it waits), anonymous, with a
request timeout and a bounded retry window, so a server killed mid-read fails within about
``timeout_s`` with an error naming the endpoint instead of retrying for minutes.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ..core.errors import FormatError
from .manifest import check_manifest, read_manifest
from .version_folders import MANIFEST
from . import version_locks

TIMEOUT_S = 10.0
CONCURRENCY = 16


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix`` on ``endpoint`` (``http://host:port``), read with these settings."""
    endpoint: str
    bucket: str
    prefix: str
    timeout_s: float = TIMEOUT_S
    concurrency: int = CONCURRENCY

    @classmethod
    def parse(cls, url: str, endpoint: str, **settings) -> "S3Location":
        if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
            raise ValueError(f"S3 dataset {url!r}: expected s3://BUCKET/PREFIX")
        bucket, _, prefix = url[5:].partition("/")
        return cls(endpoint.rstrip("/"), bucket, prefix.strip("/"), **settings)

    def __str__(self) -> str:
        return f"{self.endpoint}/{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def url(self, name: str) -> str:
        """How errors name the object ``name``: endpoint, bucket and key."""
        return f"{self.endpoint}/{self.bucket}/{self.key(name)}"

    def store(self, prefix: str | None = None):
        """An obstore S3 store over the bucket (rooted at ``prefix``, default none)."""
        from obstore.store import S3Store
        return S3Store(self.bucket, prefix=prefix, endpoint=self.endpoint, skip_signature=True, region="us-east-1",
                       client_options={"allow_http": True, "timeout": f"{self.timeout_s}s",
                                       "connect_timeout": f"{min(self.timeout_s, 5.0)}s",
                                       "pool_max_idle_per_host": str(max(self.concurrency, 1))},
                       retry_config={"max_retries": 2, "retry_timeout": timedelta(seconds=self.timeout_s),
                                     "backoff": {"init_backoff": timedelta(milliseconds=50),
                                                 "max_backoff": timedelta(seconds=1), "base": 2.0}})


class S3Objects:
    """Reads of one dataset's objects, each error a FormatError naming the object's URL."""

    def __init__(self, location: S3Location, manifest: dict | None = None):
        self.location = location
        self.store = location.store()
        self.manifest: dict = manifest or {}  # an opened upload's: whole-object reads are checked against it

    def _failed(self, name: str, exc: Exception) -> FormatError:
        return failed_read(self.location, name, exc)

    def get(self, name: str) -> bytes:
        """The whole object ``name``, checked against the manifest's size and CRC-32 when listed."""
        import obstore
        try:
            data = bytes(obstore.get(self.store, self.location.key(name)).bytes())
        except Exception as exc:  # obstore's errors: missing, refused, timed out
            raise self._failed(name, exc) from None
        listed = self.manifest.get("objects", {}).get(name)
        if listed is not None and (len(data) != listed["size"] or zlib.crc32(data) != listed["crc32"]):
            raise FormatError(f"{self.location.url(name)}: damaged ({len(data)} bytes, CRC-32 {zlib.crc32(data):08x}; "
                              f"the manifest says {listed['size']} bytes, {listed['crc32']:08x})")
        return data

    def get_ranges(self, name: str, starts: list[int], ends: list[int]) -> list[memoryview]:
        """Byte ranges ``[start, end)`` of object ``name``, fetched concurrently (coalesced by obstore)."""
        import obstore
        try:
            return [memoryview(b) for b in obstore.get_ranges(self.store, self.location.key(name),
                                                              starts=starts, ends=ends)]
        except Exception as exc:
            raise self._failed(name, exc) from None

    def open(self) -> dict:
        """Read and check the manifest and the presence and size of every object; returns the manifest."""
        try:
            raw = self.get(MANIFEST)
        except FormatError as exc:
            if "object missing" in str(exc):
                if not bucket_exists(self.location):
                    raise FormatError(f"{self.location.endpoint}/{self.location.bucket}: bucket "
                                      f"{self.location.bucket!r} does not exist at this S3 endpoint") from None
                raise FormatError(f"{self.location.url(MANIFEST)}: missing, so no complete dataset is there "
                                  "(never uploaded, or its upload did not finish)") from None
            raise
        try:
            manifest = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"{self.location.url(MANIFEST)}: not valid JSON ({exc})") from None
        check_manifest(manifest, Path(self.location.url(MANIFEST)))
        objects = manifest.get("objects")
        if not isinstance(objects, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("crc32"), int)
                for v in objects.values()):
            raise FormatError(f"{self.location.url(MANIFEST)}: lacks the 'objects' list of an upload")
        stored = self.sizes()
        for name, listed in sorted(objects.items()):
            if name not in stored:
                raise FormatError(f"{self.location.url(name)}: object missing (the manifest lists it)")
            if stored[name] != listed["size"]:
                raise FormatError(f"{self.location.url(name)}: {stored[name]} bytes, the manifest says "
                                  f"{listed['size']} (damaged or replaced)")
        self.manifest = manifest
        return manifest

    def sizes(self) -> dict[str, int]:
        """Every object under the prefix: name relative to it -> bytes."""
        import obstore
        base = self.location.key("")
        try:
            return {meta["path"][len(base):]: meta["size"]
                    for batch in obstore.list(self.store, prefix=self.location.prefix or None) for meta in batch}
        except Exception as exc:
            raise self._failed("", exc) from None


def failed_read(location: S3Location, name: str, exc: Exception) -> FormatError:
    """The FormatError for a failed request for object ``name``, naming it and the endpoint."""
    if _not_found(exc):
        return FormatError(f"{location.url(name)}: object missing (the bucket {location.bucket!r} or the key "
                           "is not there)")
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    return FormatError(f"{location.url(name)}: read from S3 endpoint {location.endpoint} failed "
                       f"({type(exc).__name__}: {first_line})")


def _not_found(exc: Exception) -> bool:
    from obstore.exceptions import NotFoundError
    return isinstance(exc, (NotFoundError, FileNotFoundError))


def bucket_exists(location: S3Location) -> bool:
    request = urllib.request.Request(f"{location.endpoint}/{location.bucket}", method="HEAD")
    try:
        urllib.request.urlopen(request, timeout=location.timeout_s).close()
        return True
    except urllib.error.HTTPError as exc:
        return exc.code != 404
    except OSError as exc:
        raise FormatError(f"S3 endpoint {location.endpoint}: unreachable ({exc})") from None


def create_bucket(endpoint: str, bucket: str, timeout_s: float = TIMEOUT_S) -> None:
    """Create ``bucket`` (anonymous PUT); an existing one is kept."""
    request = urllib.request.Request(f"{endpoint.rstrip('/')}/{bucket}", method="PUT")
    try:
        urllib.request.urlopen(request, timeout=timeout_s).close()
    except urllib.error.HTTPError as exc:
        if exc.code != 409:  # BucketAlreadyExists / OwnedByYou
            raise FormatError(f"{endpoint}/{bucket}: cannot create the bucket (HTTP {exc.code})") from None
    except OSError as exc:
        raise FormatError(f"S3 endpoint {endpoint}: cannot create bucket {bucket!r} ({exc})") from None


def upload(path, location: S3Location) -> dict:
    """Upload the converted dataset at ``path`` to ``location``: every object, then the manifest
    (with each object's size and CRC-32) last. Returns that manifest."""
    import obstore
    path = Path(path)
    manifest = read_manifest(path)  # a complete local copy, or FormatError naming it
    version, held = version_locks.resolve(path)
    try:
        files = sorted(p for p in version.rglob("*") if p.is_file() and p.name != MANIFEST)
        create_bucket(location.endpoint, location.bucket, location.timeout_s)
        store = location.store()
        objects = S3Objects(location)
        with _errors_named(objects, MANIFEST):
            obstore.delete(store, location.key(MANIFEST))  # the old dataset, if any, is unreadable from here on

        def put(file: Path) -> tuple[str, dict]:
            name = file.relative_to(version).as_posix()
            data = file.read_bytes()
            with _errors_named(objects, name):
                obstore.put(store, location.key(name), data)
            return name, {"size": len(data), "crc32": zlib.crc32(data)}

        with ThreadPoolExecutor(location.concurrency) as pool:
            listed = dict(pool.map(put, files))
        uploaded = {**manifest, "objects": listed}
        with _errors_named(objects, MANIFEST):
            obstore.put(store, location.key(MANIFEST), json.dumps(uploaded, indent=1).encode())
        return uploaded
    finally:
        if held is not None:
            held.close()


class _errors_named:
    """Turns an obstore error inside into the FormatError naming the object."""

    def __init__(self, objects: S3Objects, name: str):
        self.objects, self.name = objects, name

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or _not_found(exc) and self.name == MANIFEST:
            return exc is not None  # deleting a manifest that is not there is fine
        if isinstance(exc, Exception) and not isinstance(exc, FormatError):
            raise self.objects._failed(self.name, exc) from None
        return False
