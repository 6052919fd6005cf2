"""Readers of a converted dataset in an S3 bucket, one per format, behind the same :class:`Reader`
protocol as on disk (:func:`open_s3`):

| format | how it reads over S3 |
|---|---|
| npy | ranged GETs of the batch's runs of consecutive rows, concurrent (no memory map) |
| files | each image one GET, a batch's GETs concurrent, decoded here |
| hdf5 | h5py's ``fileobj`` driver on :class:`.s3_file.S3File` (ranged GETs, small reads through a block cache); ``read_path`` chunks (auto; a contiguous dataset: one slice per run of consecutive images), index, fancy or decode; ``direct`` refused |
| zarr | zarr-python over obstore (``zarr.storage.ObjectStore``); ``read_path=tensorstore``: TensorStore's ``s3`` kvstore with the endpoint and a request concurrency |
| cupy | refused, with the reason |

The open-time checks of the local readers that look at files (zarr's every chunk present at its
size) are made over S3 by :meth:`.s3_objects.S3Objects.open`: the upload put exactly the objects
of a local copy that its reader opened, listed in the manifest with their sizes, and every one is
checked present at its size before a read. A reader keeps its S3 client per process (its handles),
so DataLoader workers each open their own.
"""
from __future__ import annotations

import contextlib
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..core.errors import FormatError
from .files import INDEX, FilesReader
from .hdf5 import DATA_FILE, Hdf5Reader
from .reader import Reader
from .runs import contiguous_runs, run_bounds
from .s3_file import S3File
from .s3_objects import S3Location, S3Objects, failed_read
from .zarr_format import ZarrReader
from .zarr_tensorstore import TensorStoreZarrReader

NPY_HEADER_READ = 4096  # bytes fetched for an .npy header (the writer's is 128)


class S3Name:
    """How errors name an S3 dataset: the URL; messages already name the object's URL."""

    def __init__(self, location: S3Location):
        self.text = str(location)

    def __str__(self) -> str:
        return self.text

    def message(self, text: str) -> str:
        return text

    @contextlib.contextmanager
    def errors(self):
        yield


class S3Dataset:
    """What every S3 reader adds to its format's reader: the location, its checked client per process."""

    #: obstore's client runs on one tokio runtime per process, whose threads a fork does not copy:
    #: a forked child's first request hung, with the parent's client and with a new one alike
    #: (tried here), so DataLoader workers over S3 start from the forkserver (see handles.Handles).
    fork_safe = False

    location: S3Location
    upload: dict

    def __init__(self, location: S3Location, manifest: dict, **options):
        self.location, self.upload = location, manifest
        super().__init__(_pseudo_path(location), manifest, **options)  # the format's reader
        self.name = S3Name(self.location)  # Reader.__init__ named the dataset by a local path

    @property
    def objects(self) -> S3Objects:
        return self.handles.get("s3", lambda: S3Objects(self.location, self.upload))

    def files(self) -> list[Path]:
        return []  # nothing on local disk for a cold epoch to evict


def _pseudo_path(location: S3Location) -> Path:
    return Path(location.bucket, location.prefix)


class S3NpyReader(S3Dataset, Reader):
    def __init__(self, location: S3Location, manifest: dict, *, block_size: int = 512):
        super().__init__(location, manifest)
        self.block_size = block_size
        self.row_bytes = int(np.prod(self.image_shape))
        self.offset = self._check_header()

    def _check_header(self) -> int:
        head = bytes(self.objects.get_ranges("images.npy", [0], [NPY_HEADER_READ])[0])
        array_bytes = self.n * self.row_bytes
        try:
            buffer = io.BytesIO(head)
            version = np.lib.format.read_magic(buffer)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in read_header:
                raise ValueError(f"npy version {version} is not one the writer makes")
            shape, fortran, dtype = read_header[version](buffer)
        except (ValueError, OSError, EOFError, SyntaxError) as exc:
            raise FormatError(f"{self.location.url('images.npy')}: not a readable .npy header ({exc})") from None
        if dtype != np.uint8 or fortran or tuple(shape) != (self.n, *self.image_shape):
            raise FormatError(f"{self.location.url('images.npy')}: holds {dtype} {tuple(shape)}, expected uint8 "
                              f"{(self.n, *self.image_shape)}")
        offset = buffer.tell()
        size = self.upload["objects"]["images.npy"]["size"]
        if size != offset + array_bytes:
            raise FormatError(f"{self.location.url('images.npy')}: {size} bytes, its header needs {offset + array_bytes}")
        return offset

    def _load_labels(self):
        try:
            labels = np.load(io.BytesIO(self.objects.get("labels.npy")), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise FormatError(f"{self.location.url('labels.npy')}: not a readable .npy file ({exc})") from None
        return labels

    def _read_runs(self, runs: list[tuple[int, int]], out: np.ndarray) -> None:
        starts = [self.offset + start * self.row_bytes for start, _ in runs]
        ends = [self.offset + stop * self.row_bytes for _, stop in runs]
        flat = out.reshape(len(out), -1)
        pos = 0
        for (start, stop), data in zip(runs, self.objects.get_ranges("images.npy", starts, ends)):
            flat[pos:pos + stop - start] = np.frombuffer(data, np.uint8).reshape(stop - start, -1)
            pos += stop - start

    def _read_sorted(self, indices):
        out = np.empty((len(indices), *self.image_shape), np.uint8)
        self._read_runs(contiguous_runs(indices), out)
        return out

    def _read_range(self, start, stop):
        out = np.empty((stop - start, *self.image_shape), np.uint8)
        self._read_runs([(start, stop)], out)
        return out

    def _read_ranges_into(self, ranges, out):
        self._read_runs(list(ranges), out)


class S3FilesReader(S3Dataset, FilesReader):
    def _index(self):
        return self.location.url(INDEX), self.objects.get(INDEX)

    def _read_file(self, i: int):
        name = self.rel_paths[i]
        return self.location.url(name), self.objects.get(name)

    def _read_sorted(self, indices):
        if self.decoder == "nvjpeg":
            return super()._read_sorted(indices)
        pool = self.handles.get("pool", lambda: ThreadPoolExecutor(self.location.concurrency))
        out = np.empty((len(indices), *self.image_shape), np.uint8)
        for k, (file, data) in enumerate(pool.map(self._read_file, (int(i) for i in indices))):
            out[k] = self._decode_data(file, data)
        return out


class S3Hdf5Reader(S3Dataset, Hdf5Reader):
    def _data_file(self):
        return self.location.url(DATA_FILE)

    def _file_bytes(self) -> int:
        return self.upload["objects"][DATA_FILE]["size"]  # checked against the bucket at open

    def _resolve_read_path(self, read_path, dset):
        return "chunks" if read_path == "auto" else read_path  # "direct" was refused by check_s3_readable

    def _open_file(self):
        import h5py
        try:
            return h5py.File(S3File(self.objects, DATA_FILE, self._file_bytes()), "r", rdcc_nbytes=self.rdcc_nbytes,
                             rdcc_nslots=self._rdcc_nslots())
        except OSError as exc:
            raise FormatError(f"{self.file_path}: not a readable HDF5 file ({exc})") from None

    def _gather_chunks(self, indices):
        if self.chunk_images:
            return super()._gather_chunks(indices)
        dset = self.images  # contiguous: one slice, one ranged read, per run of consecutive images
        out = np.empty((len(indices), *self.image_shape), np.uint8)
        for lo, hi in run_bounds(indices):
            out[lo:hi] = dset[indices[lo]:indices[hi - 1] + 1]
        return out


class S3ZarrReader(S3Dataset, ZarrReader):
    def _check_stored(self, name: str) -> None:
        """Made by :meth:`S3Objects.open` for every object of the upload (see the module's note)."""

    def _open_group(self):
        import zarr
        from zarr.storage import ObjectStore
        zarr.config.set({"async.concurrency": self.concurrency})
        store = ObjectStore(self.location.store(prefix=self.location.prefix or None), read_only=True)
        try:
            return zarr.open_group(store=store, mode="r")
        except Exception as exc:
            raise FormatError(f"{self.location}: not a readable zarr group ({type(exc).__name__}: {exc})") from None

    def _array(self, name: str):
        # Kept per process: looking an array up in the group GETs its zarr.json, a round trip a batch.
        group = self.handles.get("group", self._open_group)
        return self.handles.get(f"array {name}", lambda: self._guarded(name, lambda: group[name]))

    def _guarded(self, what: str, read):
        try:
            return read()
        except FormatError:
            raise
        except Exception as exc:  # obstore's errors (a server gone, a timeout) surface through zarr
            raise failed_read(self.location, what, exc) from None


class S3TensorStoreZarrReader(S3ZarrReader, TensorStoreZarrReader):
    def _kvstore(self):
        return {"driver": "s3", "bucket": self.location.bucket, "path": self.location.key("images/"),
                "endpoint": self.location.endpoint, "aws_region": "us-east-1",
                "aws_credentials": {"type": "anonymous"}}

    def _context(self):
        return {"s3_request_concurrency": {"limit": self.location.concurrency},
                "s3_request_retries": {"max_retries": 2, "initial_delay": "50ms", "max_delay": "1s"}}


def _zarr_reader(location, manifest, *, read_path, cache_bytes, **options):
    if read_path == "tensorstore":
        return S3TensorStoreZarrReader(location, manifest, read_path=read_path, cache_bytes=cache_bytes, **options)
    return S3ZarrReader(location, manifest, read_path=read_path, **options)


READERS = {"npy": S3NpyReader, "files": S3FilesReader, "zarr": _zarr_reader, "hdf5": S3Hdf5Reader}
#: Read paths that map local files, with what to use over S3 instead.
LOCAL_READ_PATHS = {"zarr": "reads local chunk files; over S3 use oindex, chunks or tensorstore",
                    "hdf5": "memory-maps the local file at HDF5's offsets; over S3 use chunks (auto), index, "
                            "fancy or decode"}


def check_s3_readable(fmt: str, open_options: dict, where: str = "storage='s3'") -> None:
    """ValueError naming the format (or zarr's read path) unless it is read over S3: checked by
    :func:`open_s3`, and by a run before anything is converted or uploaded."""
    if fmt == "cupy":
        raise ValueError(f"{where}: format 'cupy' is not read over S3: it loads files from local disk straight "
                         "into GPU memory (KvikIO/GDS), and an object store has no such path; read npy over S3 "
                         "and copy to the GPU instead")
    if fmt not in READERS:
        raise ValueError(f"{where}: format {fmt!r} has no S3 reader; formats read over S3: {', '.join(READERS)}")
    if fmt in LOCAL_READ_PATHS and open_options.get("read_path") == "direct":
        raise ValueError(f"{where}: {fmt} read_path 'direct' {LOCAL_READ_PATHS[fmt]}")


def open_s3(url: str, endpoint: str, *, timeout_s: float | None = None, concurrency: int | None = None,
            options=None, **open_options) -> Reader:
    """Open the dataset uploaded at ``url`` (``s3://bucket/prefix``) on ``endpoint`` with the
    format's open options; FormatError naming the object when it is missing, incomplete or damaged."""
    from . import get
    settings = {k: v for k, v in (("timeout_s", timeout_s), ("concurrency", concurrency)) if v is not None}
    location = S3Location.parse(url, endpoint, **settings)
    manifest = S3Objects(location).open()
    fmt = get(manifest["format"])
    resolved = fmt.resolve_open_options({**(options or {}), **open_options})
    check_s3_readable(fmt.name, resolved, str(location))
    return READERS[fmt.name](location, manifest, **resolved).load_labels()
