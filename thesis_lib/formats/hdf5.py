"""HDF5 through h5py: one ``images`` dataset (N, H, W, 3) and one ``labels`` dataset in ``data.h5``.

Layout options: contiguous (``chunk_images=0``, the default) or chunked along N, compressed with
gzip, lzf, or through hdf5plugin zstd, blosc-lz4, blosc-zstd or lz4 (:mod:`.codecs`), and an
optional Fletcher-32 checksum per chunk (needs chunking).

How a batch is read is the ``read_path`` open option, because that choice, not HDF5 itself,
decides the speed:

- ``direct``: the raw bytes are memory-mapped at the offsets HDF5 reports (``get_offset`` for a
  contiguous dataset, ``get_chunk_info`` per chunk otherwise), so a batch is a NumPy gather.
  Only for unfiltered data (no compression, no checksum).
- ``chunks``: the batch's sorted indices grouped by chunk, one slice read per chunk touched.
- ``index``: one ``dset[i]`` read per image (what careful h5py users do).
- ``fancy``: ``dset[sorted_indices]``, h5py's point selection (what most code does; very slow).
- ``decode``: each chunk touched read raw (``read_direct_chunk``) and inflated by zlib outside
  HDF5, on ``decode_threads`` threads (:mod:`.hdf5_decode`); gzip or unfiltered chunks only.
- ``auto``: ``direct`` when the data is unfiltered, else ``chunks``.

A converted file holds its own data: external and soft links, virtual datasets and raw storage
in external files are refused at open (:func:`check_link`, :func:`check_data_inside`); followed,
they would read another file's images, or map this file at another file's offsets.

The chunk cache (``rdcc_nbytes``) gets one hash slot per chunk of the dataset (HDF5's default of 521
slots makes chunks evict each other long before a large cache is full).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..core.errors import FormatError
from .base import Format
from .codecs import HDF5_CODECS, LEVELS, check_hdf5_available, check_hdf5_filters, check_level, hdf5_filter
from .options import Option
from .hdf5_decode import ChunkDecoder, check_decodable
from .reader import Reader
from .runs import run_bounds
from .writing import naming

READ_PATHS = ("auto", "direct", "chunks", "decode", "index", "fancy")
RDCC_NBYTES = 16 * 2**20  # h5py's default chunk cache is 1 MiB: too small for a batch's chunks
DATA_FILE = "data.h5"
LABEL_CHUNK = 2**16  # labels per chunk when labels are checksummed (Fletcher-32 needs chunking)


def check_storage(file_path, dset: h5py.Dataset, size: int) -> None:
    """FormatError unless every byte of ``dset`` was written and lies inside the file.

    HDF5 reads a chunk that was never written (or a contiguous dataset never allocated) as its
    fill value, zeros, without complaint; a file cut short loses the data at its end.
    """
    where = f"{file_path}: dataset {dset.name!r}"
    if dset.chunks is None:
        offset, nbytes = dset.id.get_offset(), dset.id.get_storage_size()
        if dset.size and (offset is None or nbytes < dset.nbytes):
            raise FormatError(f"{where}: data was never written")
        if dset.size and offset + nbytes > size:
            raise FormatError(f"{where}: truncated ({size} bytes, the data needs {offset + nbytes})")
        return
    expected = int(np.prod([-(-extent // chunk) for extent, chunk in zip(dset.shape, dset.chunks)]))
    ends = []
    dset.id.chunk_iter(lambda info: ends.append(info.byte_offset + info.size))
    if len(ends) != expected:
        raise FormatError(f"{where}: {len(ends)} of {expected} chunks stored (HDF5 would read the missing "
                          "ones as zeros)")
    end = max(ends, default=0)
    if end > size:
        raise FormatError(f"{where}: truncated ({size} bytes, the chunks need {end})")


def check_link(file_path: Path, name: str, link) -> None:
    """FormatError unless ``link`` (``name`` in ``file_path``'s root group) is a hard link: an
    external link would read another file's images (and the ``direct`` path would map this file
    at that file's offsets), a soft link another object than the one written."""
    if isinstance(link, h5py.ExternalLink):
        raise FormatError(f"{file_path}: {name!r} is an external link to {link.filename}:{link.path}; "
                          "a converted file holds its own data, so it is not followed")
    if isinstance(link, h5py.SoftLink):
        raise FormatError(f"{file_path}: {name!r} is a soft link to {link.path}; a converted file holds "
                          f"{name!r} itself, so it is not followed")
    if not isinstance(link, h5py.HardLink):
        raise FormatError(f"{file_path}: {name!r} is a {type(link).__name__}, not a dataset stored in the file")


def check_data_inside(file_path: Path, dset: h5py.Dataset) -> None:
    """FormatError when ``dset``'s bytes are not its own in this file: a virtual dataset (mapping
    another file's data, or this file's other datasets, which the raw ``direct`` path cannot
    map either) or raw storage in external files. The writer stores neither."""
    if dset.is_virtual:
        source = dset.virtual_sources()[0]
        where = "this file" if source.file_name == "." else source.file_name
        raise FormatError(f"{file_path}: dataset {dset.name!r} is virtual, mapping {where}:{source.dset_name}; "
                          "a converted file stores its data itself, so it is not read")
    if dset.external:
        raise FormatError(f"{file_path}: dataset {dset.name!r} stores its bytes in external files "
                          f"({', '.join(str(name) for name, *_ in dset.external)}), so it is not read")


class Hdf5Reader(Reader):
    def __init__(self, path, manifest, *, read_path: str = "auto", rdcc_nbytes: int = RDCC_NBYTES,
                 block_size: int = 512, decode_threads: int = 1):
        super().__init__(path, manifest)
        self.file_path = self._data_file()
        # The options come resolved (declared, parsed and checked once in Format.open).
        self.rdcc_nbytes, self.decode_threads = rdcc_nbytes, decode_threads
        dset = self.images
        for stored in (dset, self._dataset("labels")):
            check_storage(self.file_path, stored, self._file_bytes())
            check_hdf5_filters(self.file_path, stored)
        if dset.shape != (self.n, *self.image_shape) or dset.dtype != np.uint8:
            raise FormatError(f"{self.file_path}: dataset 'images' is {dset.dtype} {dset.shape}, "
                              f"expected uint8 {(self.n, *self.image_shape)}")
        self.chunk_images = dset.chunks[0] if dset.chunks else 0
        self.block_size = self.chunk_images or block_size
        read_path = self._resolve_read_path(read_path, dset)
        if read_path == "decode":
            check_decodable(self.file_path, dset, self.n)
        self.read_path = read_path
        self.gathers_any_order = read_path == "direct" and not self.chunk_images
        if read_path == "direct":
            self._mapped()  # fail at open, not in a worker, when the raw data is truncated

    def _resolve_read_path(self, read_path: str, dset: h5py.Dataset) -> str:
        unfiltered = not dset.compression and not dset.fletcher32 and not dset.shuffle
        if read_path == "auto":
            read_path = "direct" if unfiltered else "chunks"
        if read_path == "direct" and not unfiltered:
            raise ValueError(f"hdf5: read_path 'direct' needs unfiltered data, but {self.file_path} "
                             f"uses compression={dset.compression} fletcher32={dset.fletcher32}")
        if read_path == "chunks" and not self.chunk_images:
            read_path = "direct"  # a contiguous dataset has one "chunk": direct is the same read
        return read_path

    def _data_file(self):
        """Where the HDF5 file lies, as errors name it."""
        return self.path / DATA_FILE

    def _file_bytes(self) -> int:
        return self.file_path.stat().st_size

    # -- handles ------------------------------------------------------------------------------
    def _rdcc_nslots(self) -> int:
        chunks = -(-self.n // self.options["chunk_images"]) if self.options.get("chunk_images") else 0
        return max(521, chunks)

    def _open_file(self) -> h5py.File:
        if not self.file_path.is_file():
            raise FormatError(f"{self.file_path}: missing")
        try:
            return h5py.File(self.file_path, "r", rdcc_nbytes=self.rdcc_nbytes, rdcc_nslots=self._rdcc_nslots())
        except OSError as exc:
            raise FormatError(f"{self.file_path}: not a readable HDF5 file ({exc})") from None

    @property
    def file(self) -> h5py.File:
        return self.handles.get("file", self._open_file)

    def _dataset(self, name: str) -> h5py.Dataset:
        link = self.file.get(name, getlink=True)
        if link is None:
            raise FormatError(f"{self.file_path}: the HDF5 file has no dataset {name!r}")
        check_link(self.file_path, name, link)
        found = self.file[name]
        if not isinstance(found, h5py.Dataset):
            raise FormatError(f"{self.file_path}: {name!r} is a {type(found).__name__}, not a dataset")
        check_data_inside(self.file_path, found)
        return found

    @property
    def images(self) -> h5py.Dataset:
        # Kept open: HDF5's chunk cache belongs to the open dataset, and a dataset object dropped
        # after each batch took its cache with it (a 256 MiB cache then never held a chunk).
        return self.handles.get("images", lambda: self._dataset("images"))

    def _load_labels(self):
        try:
            return self._dataset("labels")[()]
        except OSError as exc:
            raise FormatError(f"{self.file_path}: labels unreadable ({exc})") from None

    def _mapped(self) -> list[np.ndarray]:
        """Memory maps of the raw image bytes: one per chunk (one in all when contiguous)."""
        return self.handles.get("map", self._map_raw)

    def _map_raw(self) -> list[np.ndarray]:
        dset = self.images
        per_chunk = self.chunk_images or self.n
        if dset.chunks:
            if dset.id.get_num_chunks() != -(-self.n // per_chunk):
                raise FormatError(f"{self.file_path}: {dset.id.get_num_chunks()} chunks stored, "
                                  f"expected {-(-self.n // per_chunk)} (chunks missing)")
            offsets = [dset.id.get_chunk_info(i).byte_offset for i in range(dset.id.get_num_chunks())]
        else:
            offsets = [dset.id.get_offset()]
        if None in offsets:
            raise FormatError(f"{self.file_path}: image data was never written")
        size = self._file_bytes()
        chunk_shape = (per_chunk, *self.image_shape)
        chunk_bytes = int(np.prod(chunk_shape))
        if max(offsets) + chunk_bytes > size:
            raise FormatError(f"{self.file_path}: truncated ({size} bytes, image data needs "
                              f"{max(offsets) + chunk_bytes})")
        raw = np.memmap(self.file_path, dtype=np.uint8, mode="r")
        return [raw[o:o + chunk_bytes].reshape(chunk_shape) for o in offsets]

    # -- reads --------------------------------------------------------------------------------
    def _read_sorted(self, indices):
        try:
            if self.read_path == "direct":
                return self._gather_direct(indices)
            if self.read_path == "chunks":
                return self._gather_chunks(indices)
            if self.read_path == "decode":
                return self._gather_decoded(indices)
            dset = self.images
            if self.read_path == "index":
                out = np.empty((len(indices), *self.image_shape), np.uint8)
                for k, i in enumerate(indices):
                    out[k] = dset[i]
                return out
            return dset[indices]
        except OSError as exc:  # a checksum or decompression failure inside HDF5
            raise FormatError(f"{self.file_path}: image data unreadable ({exc})") from None

    def _gather_by_chunk(self, indices, chunk_images):
        """Images at sorted ``indices``, one ``chunk_images(c)`` call per chunk ``c`` touched;
        that call returns the chunk's images, indexed from the chunk's first image."""
        per_chunk = self.chunk_images
        out = np.empty((len(indices), *self.image_shape), np.uint8)
        chunk_ids = indices // per_chunk
        for lo, hi in run_bounds(chunk_ids, step=0):
            chunk = int(chunk_ids[lo])
            out[lo:hi] = chunk_images(chunk)[indices[lo:hi] - chunk * per_chunk]
        return out

    def _gather_direct(self, indices):
        maps = self._mapped()
        if len(maps) == 1:
            return maps[0][indices]
        return self._gather_by_chunk(indices, maps.__getitem__)

    def _gather_chunks(self, indices):
        dset, per_chunk = self.images, self.chunk_images
        return self._gather_by_chunk(indices, lambda c: dset[c * per_chunk:min((c + 1) * per_chunk, self.n)])

    def _gather_decoded(self, indices):
        decoder = self.handles.get("decoder", lambda: ChunkDecoder(self.file_path, self.images, self.decode_threads))
        return self._gather_by_chunk(indices, decoder.chunks(np.unique(indices // self.chunk_images)).__getitem__)

    def _read_into(self, indices, out):
        if self.read_path == "direct" and len(self._mapped()) == 1:
            np.take(self._mapped()[0], indices, axis=0, out=out)
        else:
            super()._read_into(indices, out)

    def _read_range(self, start, stop):
        if self.read_path == "decode":
            return self._gather_decoded(np.arange(start, stop))
        if self.read_path == "direct" and len(self._mapped()) == 1:
            return np.array(self._mapped()[0][start:stop])
        try:
            return self.images[start:stop]
        except OSError as exc:
            raise FormatError(f"{self.file_path}: image data unreadable ({exc})") from None

    def files(self):
        return [self.file_path]


class Hdf5Format(Format):
    name = "hdf5"
    write_spec = {
        "chunk_images": Option(0, "int", "images per chunk along N; 0 = contiguous", minimum=0, maximum=2**31),
        "compression": Option("none", "choice", "the chunks' filter", choices=HDF5_CODECS),
        "compression_level": Option(4, "int", "level of gzip (0-9), zstd (-131072-22), blosc (0-9); lzf, lz4: none",
                                    minimum=LEVELS["zstd"][0], maximum=LEVELS["zstd"][1]),
        "checksum": Option(False, "bool", "Fletcher-32 per chunk"),
    }
    open_spec = {
        "read_path": Option("auto", "choice", "how a batch is read", choices=READ_PATHS),
        "rdcc_nbytes": Option(RDCC_NBYTES, "bytes", "chunk cache per open file", minimum=0, maximum=2**40),
        "block_size": Option(512, "int", "block-mode unit when contiguous (chunked: the chunk)", minimum=1,
                             maximum=2**31),
        "decode_threads": Option(1, "int", "threads inflating chunks (read_path=decode)", minimum=1, maximum=64),
    }
    reader = Hdf5Reader

    def validate_options(self, o):
        if not o["chunk_images"] and (o["compression"] != "none" or o["checksum"]):
            raise ValueError("format 'hdf5': compression and checksum need chunking; set chunk_images > 0")
        check_level("hdf5", "compression_level", o["compression"], o["compression_level"])
        check_hdf5_available(o["compression"])

    def validate_open_options(self, o):
        if o["decode_threads"] > 1 and o["read_path"] != "decode":
            raise ValueError(f"format 'hdf5': option decode_threads needs read_path='decode', not {o['read_path']!r}")

    def _write(self, chunks, tmp, source, options):
        n, shape = len(source), tuple(source.image_shape)
        layout = {}
        if options["chunk_images"]:
            layout["chunks"] = (min(options["chunk_images"], n), *shape)
            layout["fletcher32"] = options["checksum"]
            layout |= hdf5_filter(options["compression"], options["compression_level"])
        with naming(tmp / DATA_FILE), h5py.File(tmp / DATA_FILE, "w") as f:
            images = f.create_dataset("images", shape=(n, *shape), dtype=np.uint8, **layout)
            checked = {"chunks": (max(1, min(n, LABEL_CHUNK)),), "fletcher32": True} if options["checksum"] else {}
            f.create_dataset("labels", data=chunks.labels, **checked)
            pos = 0
            for chunk, _ in chunks:
                images[pos:pos + len(chunk)] = chunk
                pos += len(chunk)
            f.attrs["classes"] = list(source.classes)
        return {}


FORMAT = Hdf5Format()
