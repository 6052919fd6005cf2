"""Decode cost per image: each stored form the formats read, at each image size.

PNG and JPEG are one file per image, encoded as the ``files`` format writes them (PNG at zlib
level 6, JPEG at quality 90) and decoded by PIL as its reader does. The codecs compress chunks of
up to 64 images (zarr's and the HDF5 variants' chunk), at the levels the formats default to: zlib
at 4 (HDF5's gzip; its ``decode`` path inflates with zlib), zstd and Blosc at 3 (zarr's), plain
LZ4; decoded by numcodecs, zarr's codec library, and zlib. The cost of a chunk is shared by its images.
"""
from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import numpy as np
from numcodecs import LZ4, Blosc, Zstd
from PIL import Image

from ..formats.files import decode_pil
from .profile import DECODERS
from .trials import MeasureError, Stopwatch

CHUNK_IMAGES = 64
LEVEL = {"zlib": 4, "zstd": 3, "blosc": 3}  # the formats' defaults
PNG_LEVEL, JPEG_QUALITY = 6, 90  # formats/files.py's defaults


def _image_file(kind: str, image: np.ndarray) -> bytes:
    save = {"format": "PNG", "compress_level": PNG_LEVEL} if kind == "png" else {"format": "JPEG",
                                                                                 "quality": JPEG_QUALITY}
    out = io.BytesIO()
    Image.fromarray(image).save(out, **save)
    return out.getvalue()


def _codec(name: str):
    """(compress, decompress) of one codec over bytes."""
    if name == "zlib":
        return (lambda data: zlib.compress(data, LEVEL["zlib"])), zlib.decompress
    codec = {"zstd": lambda: Zstd(level=LEVEL["zstd"]), "lz4": LZ4,
             "blosc-lz4": lambda: Blosc(cname="lz4", clevel=LEVEL["blosc"], shuffle=Blosc.SHUFFLE),
             "blosc-zstd": lambda: Blosc(cname="zstd", clevel=LEVEL["blosc"], shuffle=Blosc.SHUFFLE)}[name]()
    return codec.encode, codec.decode


def encoded(kind: str, images: np.ndarray) -> tuple[list[bytes], Callable[[bytes], object]]:
    """``images`` stored as ``kind`` (one of DECODERS): the stored units, and the function decoding one."""
    if kind in ("png", "jpeg"):
        return [_image_file(kind, image) for image in images], decode_pil
    compress, decompress = _codec(kind)
    chunks = [images[start:start + CHUNK_IMAGES] for start in range(0, len(images), CHUNK_IMAGES)]
    return [compress(np.ascontiguousarray(chunk).tobytes()) for chunk in chunks], decompress


def decode_us(images: np.ndarray, trials: int) -> dict[str, list[float]]:
    """Microseconds per image to decode ``images`` (n, px, px, 3) from each form in DECODERS, one
    value per trial; each form's decoded bytes are checked against ``images`` once (JPEG, lossy,
    for its size only). The forms take turns within a trial, so a busy moment of a shared machine
    spreads over all of them rather than landing on one."""
    forms = {kind: encoded(kind, images) for kind in DECODERS}
    for kind, (units, decode) in forms.items():
        first = np.concatenate([np.frombuffer(decode(unit), np.uint8).reshape(-1) for unit in units])
        if first.size != images.size or (kind != "jpeg" and not np.array_equal(first, images.reshape(-1))):
            raise MeasureError(f"roofline measure: {kind} did not decode to the images it encoded")
    costs = {kind: [] for kind in forms}
    for _ in range(trials):
        for kind, (units, decode) in forms.items():
            with Stopwatch() as watch:
                for unit in units:
                    decode(unit)
            costs[kind].append(watch.seconds / len(images) * 1e6)
    return costs
