"""HDF5 chunks read raw and inflated outside the library (``read_path="decode"``), and the chunk
cache: a hash slot per chunk, alive as long as the reader."""
from __future__ import annotations

import zlib

import h5py
import numpy as np
import pytest
from test_formats import all_images, assert_round_trip, random_source

from thesis_lib import FormatError, formats

HDF5_DECODABLE = [{"chunk_images": 64}, {"chunk_images": 50, "compression": "gzip"},
                  {"chunk_images": 32, "compression": "gzip", "compression_level": 9}]


@pytest.mark.parametrize("options", HDF5_DECODABLE, ids=[str(o) for o in HDF5_DECODABLE])
@pytest.mark.parametrize("threads", [1, 2])
def test_hdf5_decode_path_round_trip(tmp_path, options, threads):
    source = random_source(300)
    formats.get("hdf5").write(source, tmp_path / "ds", progress=False, **options)
    with formats.get("hdf5").open(tmp_path / "ds", read_path="decode", decode_threads=threads) as reader:
        assert_round_trip(reader, source, np.random.default_rng(5))


def test_hdf5_decode_path_reads_a_chunk_stored_without_deflate(tmp_path):
    """HDF5 skips the optional deflate filter for a chunk it cannot shrink and says so in the
    chunk's filter mask: such a chunk is taken as it is, not inflated."""
    source = random_source(100)
    formats.get("hdf5").write(source, tmp_path / "ds", progress=False, chunk_images=50, compression="gzip")
    images = all_images(source)
    with h5py.File(tmp_path / "ds" / "data.h5", "a") as f:
        f["images"].id.write_direct_chunk((50, 0, 0, 0), images[50:].tobytes(), filter_mask=1)
    with formats.get("hdf5").open(tmp_path / "ds", read_path="decode") as reader:
        np.testing.assert_array_equal(reader.read(np.arange(100)), images)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("damage,message", [("garbage", "chunk 1 does not inflate"),
                                            ("short", "chunk 1 holds 100 bytes, expected 38400")])
def test_hdf5_decode_path_raises_on_a_damaged_chunk(tmp_path, damage, message):
    source = random_source(100)
    formats.get("hdf5").write(source, tmp_path / "ds", progress=False, chunk_images=50, compression="gzip")
    raw = b"\x00garbage" * 40 if damage == "garbage" else zlib.compress(bytes(100))
    with h5py.File(tmp_path / "ds" / "data.h5", "a") as f:
        f["images"].id.write_direct_chunk((50, 0, 0, 0), raw)
    with formats.get("hdf5").open(tmp_path / "ds", read_path="decode") as reader:
        np.testing.assert_array_equal(reader.read([3]), all_images(source)[[3]])
        with pytest.raises(FormatError, match=f"data.h5: {message}"):
            reader.read([3, 70])


@pytest.mark.parametrize("options,message", [
    ({}, "needs chunked data"),
    ({"chunk_images": 50, "compression": "gzip", "checksum": True}, "fletcher32=True"),
    ({"chunk_images": 50, "compression": "lzf"}, "compression=lzf"),
])
def test_hdf5_decode_path_refuses_what_it_cannot_check(tmp_path, options, message):
    formats.get("hdf5").write(random_source(100), tmp_path / "ds", progress=False, **options)
    with pytest.raises(ValueError, match=message):
        formats.get("hdf5").open(tmp_path / "ds", read_path="decode")


def test_hdf5_decode_threads_need_the_decode_path(tmp_path):
    formats.get("hdf5").write(random_source(100), tmp_path / "ds", progress=False, chunk_images=50)
    with pytest.raises(ValueError, match="decode_threads needs read_path='decode'"):
        formats.get("hdf5").open(tmp_path / "ds", decode_threads=2)


def test_hdf5_chunk_cache_has_a_slot_per_chunk(tmp_path):
    """HDF5's 521 default slots let chunks evict each other in a cache sized for the whole set."""
    formats.get("hdf5").write(random_source(3000, size=8), tmp_path / "ds", progress=False, chunk_images=4)
    with formats.get("hdf5").open(tmp_path / "ds", rdcc_nbytes=2**24) as reader:
        slots, nbytes = reader.file.id.get_access_plist().get_cache()[1:3]
        assert slots == 750 and nbytes == 2**24


@pytest.mark.timeout(30)
def test_hdf5_chunk_cache_lives_as_long_as_the_reader(tmp_path):
    """The dataset stays open between reads, so its chunk cache does: a chunk read once is served
    from the cache even after its bytes on disk are damaged; a fresh reader sees the damage."""
    source = random_source(200)
    formats.get("hdf5").write(source, tmp_path / "ds", progress=False, chunk_images=50, compression="gzip",
                              checksum=True)
    with h5py.File(tmp_path / "ds" / "data.h5", "r") as f:
        offset = f["images"].id.get_chunk_info(1).byte_offset
    reader = formats.get("hdf5").open(tmp_path / "ds", read_path="chunks")
    np.testing.assert_array_equal(reader.read([60, 61]), all_images(source)[[60, 61]])
    with open(tmp_path / "ds" / "data.h5", "r+b") as f:
        f.seek(offset + 100)
        f.write(b"\xff" * 64)
    np.testing.assert_array_equal(reader.read([70]), all_images(source)[[70]])  # from the cache
    reader.close()
    with formats.get("hdf5").open(tmp_path / "ds", read_path="chunks") as fresh:
        with pytest.raises(FormatError, match="image data unreadable"):
            fresh.read([70])
