"""LitData's optimised chunks: samples ``{"image": uint8 HWC array, "label": int}`` serialised by
LitData into ``chunk-R-N.bin`` files of about ``chunk_bytes`` each, described by its
``index.json``, and read back through ``litdata.StreamingDataset``'s random access
(``dataset[i]``), one sample at a time.

Written with LitData's ``BinaryWriter``, the writer ``litdata.optimize`` runs in each of its
worker processes: ``optimize`` maps a function over an input list it hands out to processes, and
the converter's input is a one-pass stream of checked chunks, which ``optimize`` could take only
through a queue pickling every image across processes. The chunks and the index are LitData's
own, so ``StreamingDataset`` (and ``litdata.optimize``'s readers) read them as they are.

LitData checks nothing it reads: the manifest lists each chunk's size and SHA-256, and the
index's, checked at open (the SHA-256 unless ``verify=false``); every image read is checked to be
uint8 of the dataset's shape and its label to be the one stored beside (``labels.npy``, so
opening needs no pass over the samples).
"""
from __future__ import annotations

import json
import re

import numpy as np

from ..core.errors import FormatError
from .base import Format
from .listed_files import Shard, check_bytes, listed, manifest_shards, sha256_of
from .npy import open_npy, save_npy
from .options import BLOCK_SIZE, Option
from .reader import Reader
from .runs import run_bounds
from .version_folders import MANIFEST
from .writing import naming

CHUNK_NAME = re.compile(r"^chunk-\d+-\d+\.bin$")
INDEX = "index.json"


class LitDataReader(Reader):
    def __init__(self, path, manifest, *, verify: bool = True, block_size: int = 512):
        super().__init__(path, manifest)
        self.block_size = block_size
        self.chunks = manifest_shards(manifest, self.path / MANIFEST, "chunks", CHUNK_NAME, "chunk-R-N.bin")
        for chunk in self.chunks:
            check_bytes(self.path / chunk.name, chunk, verify, noun="chunk")
        self._check_index(manifest.get("index_sha256"), verify)
        self.starts = np.cumsum([0] + [chunk.n for chunk in self.chunks])
        self.chunk_of = np.repeat(np.arange(len(self.chunks)), [chunk.n for chunk in self.chunks])

    def _check_index(self, digest, verify: bool) -> None:
        """FormatError unless LitData's index lists exactly the manifest's chunks, in order."""
        file = self.path / INDEX
        if not file.is_file():
            raise FormatError(f"{file}: missing")
        if verify and sha256_of(file) != digest:
            raise FormatError(f"{file}: damaged (its SHA-256 is not the manifest's)")
        try:
            listed_chunks = json.loads(file.read_text())["chunks"]
            found = [(c["filename"], c["chunk_size"]) for c in listed_chunks]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise FormatError(f"{file}: not LitData's index ({type(exc).__name__}: {exc})") from None
        if found != [(c.name, c.n) for c in self.chunks]:
            raise FormatError(f"{file}: lists chunks {found}, the manifest {[(c.name, c.n) for c in self.chunks]}")

    @property
    def shard_ranges(self) -> list[tuple[int, int]]:
        """Each chunk's samples as ``(start, stop)``: what the ``stream`` mode reads one after another."""
        return list(zip(self.starts[:-1].tolist(), self.starts[1:].tolist()))

    @property
    def dataset(self):
        """LitData's reader over the chunks, opened on first use in this process."""
        def opened():
            from litdata import StreamingDataset
            try:
                return StreamingDataset(str(self.path))
            except Exception as exc:  # noqa: BLE001 - LitData raises many types for a bad index
                raise FormatError(f"{self.path}: LitData cannot open it ({type(exc).__name__}: {exc})") from None
        return self.handles.get("dataset", opened)

    def _load_labels(self):
        return open_npy(self.path / "labels.npy", dtype=np.int64, shape_tail=(), n=self.n)

    def _read_sorted(self, indices):
        dataset, out = self.dataset, np.empty((len(indices), *self.image_shape), np.uint8)
        chunks = self.chunk_of[indices]
        for lo, hi in run_bounds(chunks, step=0):
            chunk = self.chunks[int(chunks[lo])]
            for k in range(lo, hi):
                out[k] = self._sample(dataset, chunk, int(indices[k]))
        return out

    def _sample(self, dataset, chunk: Shard, i: int) -> np.ndarray:
        file = self.path / chunk.name
        try:
            sample = dataset[i]
        except Exception as exc:  # noqa: BLE001 - a damaged chunk fails inside LitData's deserialisers
            raise FormatError(f"{file}: sample {i} unreadable ({type(exc).__name__}: {exc})") from None
        image = sample.get("image") if isinstance(sample, dict) else None
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.shape != self.image_shape:
            found = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise FormatError(f"{file}: sample {i} holds {found}, expected uint8 {self.image_shape}")
        if sample.get("label") != self.labels[i]:
            raise FormatError(f"{file}: sample {i} has label {sample.get('label')!r}, labels.npy says {self.labels[i]}")
        return image

    def files(self):
        return [self.path / chunk.name for chunk in self.chunks] + [self.path / INDEX, self.path / "labels.npy",
                                                                     self.path / MANIFEST]


class LitDataFormat(Format):
    name = "litdata"
    write_spec = {"chunk_bytes": Option(64 * 10**6, "bytes", "bytes per chunk (LitData's default 64 MB)",
                                        minimum=1, maximum=2**40)}
    open_spec = {"verify": Option(True, "bool", "check every chunk's SHA-256 at open"), "block_size": BLOCK_SIZE}
    reader = LitDataReader

    def _write(self, chunks, tmp, source, options):
        from litdata.streaming.writer import BinaryWriter  # imported here: it takes seconds, and only a writer needs it

        save_npy(tmp / "labels.npy", chunks.labels)
        if not len(source):  # LitData's merge waits forever for the index of a writer that wrote nothing
            for _ in chunks:
                pass
            (tmp / INDEX).write_text(json.dumps({"chunks": [], "config": None}))
            return {"chunks": [], "index_sha256": sha256_of(tmp / INDEX)}
        with naming(tmp / INDEX):
            writer = BinaryWriter(str(tmp), chunk_bytes=options["chunk_bytes"])
            pos = 0
            for images, labels in chunks:
                for image, label in zip(images, labels):
                    writer[pos] = {"image": np.ascontiguousarray(image), "label": int(label)}
                    pos += 1
            writer.done()
            writer.merge()
        index = json.loads((tmp / INDEX).read_text())
        return {"chunks": [listed(tmp / c["filename"], c["chunk_size"]) for c in index["chunks"]],
                "index_sha256": sha256_of(tmp / INDEX)}


FORMAT = LitDataFormat()
