"""WebDataset: samples in tar shards, each a ``KEY.cls`` (the class index as text) and a
``KEY.npy`` (the raw uint8 image, lossless), ``KEY.png`` or ``KEY.jpg``, written by
``webdataset.ShardWriter`` ``shard_images`` samples to a shard, with the shards' sizes and SHA-256
in the manifest.

Reads go through the shards' own index (:mod:`.tar_shards`): opening checks every shard's size
and (open option ``verify``, on by default) its SHA-256, parses its members and refuses what a
converted dataset must not hold; a batch is then a copy (``npy``) or a decode (``png``/``jpeg``)
per image from memory-mapped shards. Samples are numbered in shard order, so a shard is a
contiguous range and a sequential read of shards is a range read.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..core.errors import FormatError
from .base import Format
from .files import decode_pil
from .npy import npy_header
from .options import BLOCK_SIZE, Option
from .reader import Reader
from .runs import run_bounds
from .listed_files import Hashed, check_bytes, manifest_shards
from .tar_shards import SHARD_NAME, SHARD_PATTERN, index_shard, shard_name
from .version_folders import MANIFEST
from .writing import naming

EXTENSIONS = {"npy": "npy", "png": "png", "jpeg": "jpg"}


class WebDatasetReader(Reader):
    def __init__(self, path, manifest, *, verify: bool = True, block_size: int = 512):
        super().__init__(path, manifest)
        self.block_size = block_size
        self.encoding = self.options.get("encoding")
        if self.encoding not in EXTENSIONS:
            raise FormatError(f"{self.path / MANIFEST}: encoding {self.encoding!r} is not one of "
                              f"{', '.join(EXTENSIONS)}")
        self.header = npy_header(np.uint8, self.image_shape)
        self.shards = manifest_shards(manifest, self.path / MANIFEST, "shards", SHARD_NAME, "shard-NNNNNN.tar")
        offsets, sizes, labels, starts = [], [], [], [0]
        for shard in self.shards:
            file = self.path / shard.name
            check_bytes(file, shard, verify)
            _, index = index_shard(file, EXTENSIONS[self.encoding])
            if len(index.labels) != shard.n:
                raise FormatError(f"{file}: {len(index.labels)} samples, the manifest says {shard.n}")
            if self.encoding == "npy":
                self._check_npy_members(file, index.sizes)
            offsets.append(index.offsets)
            sizes.append(index.sizes)
            labels.append(index.labels)
            starts.append(starts[-1] + shard.n)
        self.offsets = np.concatenate(offsets) if offsets else np.empty(0, np.int64)
        self.sizes = np.concatenate(sizes) if sizes else np.empty(0, np.int64)
        self._labels = np.concatenate(labels) if labels else np.empty(0, np.int64)
        self.shard_of = np.repeat(np.arange(len(self.shards)), [s.n for s in self.shards])
        self.starts = np.asarray(starts, np.int64)
        if self.encoding == "npy":
            for k in range(len(self.shards)):  # the header of each image, as written, before any read
                self._check_headers(k)
        self.strides = [self._stride(k) for k in range(len(self.shards))]

    @property
    def shard_ranges(self) -> list[tuple[int, int]]:
        """Each shard's samples as ``(start, stop)``: what the ``stream`` mode reads one after another."""
        return list(zip(self.starts[:-1].tolist(), self.starts[1:].tolist()))

    def _stride(self, k: int) -> int:
        """The bytes from one image to the next in shard ``k`` when they are evenly spaced (raw
        images of one size, as the writer lays them out), so a batch is one NumPy gather from
        a strided view; 0 otherwise."""
        offsets = self.offsets[self.starts[k]:self.starts[k + 1]]
        if self.encoding != "npy" or len(offsets) < 2 or np.any(np.diff(offsets) != offsets[1] - offsets[0]):
            return 0
        return int(offsets[1] - offsets[0])

    def _check_npy_members(self, file, sizes):
        expected = len(self.header) + int(np.prod(self.image_shape))
        if np.any(sizes != expected):
            raise FormatError(f"{file}: an .npy member of {int(sizes[sizes != expected][0])} bytes, expected "
                              f"{expected} (uint8 {self.image_shape})")

    def _check_headers(self, k: int) -> None:
        data, rows = self._map(k), np.flatnonzero(self.shard_of == k)
        for i in rows:
            offset = int(self.offsets[i])
            if data[offset:offset + len(self.header)].tobytes() != self.header:
                raise FormatError(f"{self.path / self.shards[k].name}: sample {i - rows[0]} is not an .npy "
                                  f"array of uint8 {self.image_shape}")

    def _map(self, k: int) -> np.ndarray:
        return self.handles.get(f"shard{k}", lambda: np.memmap(self.path / self.shards[k].name, np.uint8, "r"))

    def _load_labels(self):
        return self._labels

    def _read_sorted(self, indices):
        out = np.empty((len(indices), *self.image_shape), np.uint8)
        shards = self.shard_of[indices]
        for lo, hi in run_bounds(shards, step=0):
            shard = int(shards[lo])
            data, file = self._map(shard), self.path / self.shards[shard].name
            if self.strides[shard]:
                out[lo:hi] = self._strided(shard, data)[indices[lo:hi] - self.starts[shard]]
                continue
            for k in range(lo, hi):
                i = int(indices[k])
                offset, size = int(self.offsets[i]), int(self.sizes[i])
                if self.encoding == "npy":
                    out[k] = data[offset + len(self.header):offset + size].reshape(self.image_shape)
                else:
                    out[k] = self._decode(file, i, data[offset:offset + size])
        return out

    def _strided(self, shard: int, data: np.ndarray) -> np.ndarray:
        """Shard ``shard``'s images as one (n, H, W, 3) view of its memory map, no copy. Every
        image lies inside the map: the index checked that each member ends within the file."""
        first = int(self.offsets[self.starts[shard]]) + len(self.header)
        n, stride = self.shards[shard].n, self.strides[shard]
        view = np.lib.stride_tricks.as_strided(data[first:], shape=(n, int(np.prod(self.image_shape))),
                                               strides=(stride, 1), writeable=False)
        return view.reshape(n, *self.image_shape)

    def _decode(self, file, i: int, blob: np.ndarray) -> np.ndarray:
        try:
            image = decode_pil(blob.tobytes())
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise FormatError(f"{file}: sample {i}: cannot decode image ({type(exc).__name__}: {exc})") from None
        if image.shape != self.image_shape:
            raise FormatError(f"{file}: sample {i}: decoded {image.shape}, expected {self.image_shape}")
        return image

    def files(self):
        return [self.path / shard.name for shard in self.shards] + [self.path / MANIFEST]


class WebDatasetFormat(Format):
    name = "webdataset"
    write_spec = {
        "shard_images": Option(1000, "int", "samples per tar shard", minimum=1, maximum=2**31),
        "encoding": Option("npy", "choice", "the image member: npy (raw, lossless), png (lossless) or jpeg",
                           choices=tuple(EXTENSIONS)),
        "quality": Option(90, "int", "JPEG quality", minimum=1, maximum=100),
    }
    open_spec = {"verify": Option(True, "bool", "check every shard's SHA-256 at open"), "block_size": BLOCK_SIZE}
    reader = WebDatasetReader

    def lossless(self, options=None):
        return (options or self.defaults)["encoding"] != "jpeg"

    def _write(self, chunks, tmp, source, options):
        import webdataset  # imported here: it takes seconds, and only a writer needs it

        encode, ext = self._encoder(options, source.image_shape), EXTENSIONS[options["encoding"]]
        shards, open_files = [], {}

        def opener(name):
            with naming(Path(name)):
                open_files[name] = Hashed(open(name, "wb"))
            return open_files[name]

        def finished(name):  # the shard is complete: close it and list it
            hashed = open_files.pop(name)
            with naming(Path(name)):
                hashed.file.close()
            shards.append({"name": Path(name).name, "n": writer.count, "bytes": hashed.bytes,
                           "sha256": hashed.sha256.hexdigest()})

        pattern = str(tmp).replace("%", "%%") + "/" + SHARD_PATTERN
        writer = webdataset.ShardWriter(pattern, maxcount=options["shard_images"], maxsize=float("inf"),
                                        post=finished, verbose=0, opener=opener, encoder=False, mtime=0)
        try:
            pos = 0
            for images, labels in chunks:
                for image, label in zip(images, labels):
                    with naming(tmp / shard_name(len(shards))):
                        writer.write({"__key__": f"{pos:09d}", "cls": str(int(label)).encode(), ext: encode(image)})
                    pos += 1
            writer.close()
        finally:
            for hashed in open_files.values():  # a failed write: the partial folder is removed after
                hashed.file.close()
        return {"shards": shards}

    @staticmethod
    def _encoder(options, image_shape):
        if options["encoding"] == "npy":
            header = npy_header(np.uint8, tuple(image_shape))
            return lambda image: header + np.ascontiguousarray(image).tobytes()
        save = {"format": "PNG"} if options["encoding"] == "png" else {"format": "JPEG", "quality": options["quality"]}

        def encoded(image):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, **save)
            return buffer.getvalue()
        return encoded


FORMAT = WebDatasetFormat()
