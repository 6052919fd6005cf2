"""One codec in both containers: HDF5 through hdf5plugin and zarr v3 with the same compressors,
byte for byte, and every codec a platform or a reader lacks refused by name."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from test_formats import READ_PATHS, assert_round_trip

from tiny_data import id_images

from thesis_lib import FormatError, formats
from thesis_lib.formats import codecs
from thesis_lib.sources.base import ArraySource

SHARED = ("gzip", "zstd", "blosc-lz4", "blosc-zstd", "lz4")
HDF5_ONLY_PATHS = [{"read_path": p} for p in ("chunks", "index", "fancy")]


def synthetic(n=200):
    """Random images whose lower half is black: every codec shrinks them, so a test can tell the
    filter ran."""
    images, labels = id_images(n, size=32)
    images[:, 16:] = 0
    return ArraySource(images, labels, classes=[f"c{i}" for i in range(7)])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("codec", SHARED)
def test_every_shared_codec_round_trips_in_hdf5(tmp_path, codec):
    source = synthetic()
    stats = formats.get("hdf5").write(source, tmp_path / "ds", progress=False, chunk_images=64, compression=codec)
    assert stats["bytes_on_disk"] < source.raw_bytes  # the filter ran: synthetic images compress
    for open_options in HDF5_ONLY_PATHS:
        with formats.get("hdf5").open(tmp_path / "ds", **open_options) as reader:
            assert_round_trip(reader, source, np.random.default_rng(2))
    with h5py.File(tmp_path / "ds" / "data.h5") as f:
        plist = f["images"].id.get_create_plist()
        stored = {plist.get_filter(k)[0] for k in range(plist.get_nfilters())}
    assert stored == {codecs.HDF5_PLUGINS.get(codec, h5py.h5z.FILTER_DEFLATE)}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("shard", [0, 128])
@pytest.mark.parametrize("codec", SHARED)
def test_every_shared_codec_round_trips_in_zarr(tmp_path, codec, shard):
    source = synthetic()
    stats = formats.get("zarr").write(source, tmp_path / "ds", progress=False, chunk_images=32, shard_images=shard,
                                      codec=codec)
    assert stats["bytes_on_disk"] < source.raw_bytes
    for open_options in [*READ_PATHS["zarr"], {"read_path": "tensorstore"}]:
        if open_options["read_path"] == "direct":  # raw chunk files only: a compressed layout is named
            with pytest.raises(ValueError, match="read_path 'direct' reads uncompressed, unsharded chunks"):
                formats.get("zarr").open(tmp_path / "ds", **open_options)
            continue
        if codec == "lz4" and open_options["read_path"] == "tensorstore":
            with pytest.raises(ValueError, match="read_path 'tensorstore' cannot decode codec 'lz4'.*'oindex'"):
                formats.get("zarr").open(tmp_path / "ds", **open_options)
            continue
        with formats.get("zarr").open(tmp_path / "ds", **open_options) as reader:
            assert_round_trip(reader, source, np.random.default_rng(3))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_compressed_hdf5_refuses_the_raw_read_paths(tmp_path, codec):
    formats.get("hdf5").write(synthetic(100), tmp_path / "ds", progress=False, chunk_images=32, compression=codec)
    with pytest.raises(ValueError, match="read_path 'direct' needs unfiltered data"):
        formats.get("hdf5").open(tmp_path / "ds", read_path="direct")
    with pytest.raises(ValueError, match="read_path 'decode' handles gzip or unfiltered chunks"):
        formats.get("hdf5").open(tmp_path / "ds", read_path="decode")
    with formats.get("hdf5").open(tmp_path / "ds") as reader:  # auto picks the path that decodes
        assert reader.read_path == "chunks"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt,option,codec,level,bounds", [
    ("hdf5", "compression_level", "gzip", 10, "0..9"),
    ("hdf5", "compression_level", "blosc-lz4", 10, "0..9"),
    ("hdf5", "compression_level", "zstd", 23, "-131,072..22"),
    ("zarr", "level", "gzip", 10, "0..9"),
    ("zarr", "level", "blosc-zstd", -1, "0..9"),
])
def test_a_level_outside_the_codecs_range_is_refused_before_writing(tmp_path, fmt, option, codec, level, bounds):
    codec_option = "compression" if fmt == "hdf5" else "codec"
    chunking = {"chunk_images": 32} if fmt == "hdf5" else {}
    with pytest.raises(ValueError, match=f"write option {option}={level}( for codec '{codec}')?: expected an "
                                         f"integer in {bounds}"):
        formats.get(fmt).write(synthetic(50), tmp_path / "ds", progress=False, **chunking,
                               **{codec_option: codec, option: level})
    assert not (tmp_path / "ds").exists()


@pytest.mark.timeout(30)
def test_a_codec_hdf5plugin_lacks_is_refused_with_the_ones_it_has(tmp_path, monkeypatch):
    formats.get("hdf5").write(synthetic(50), tmp_path / "old", progress=False, chunk_images=32, compression="zstd")
    monkeypatch.setattr(codecs, "_plugin_available", lambda filter_id: filter_id != codecs.HDF5_PLUGINS["zstd"])
    assert "zstd" not in codecs.hdf5_available() and {"gzip", "lzf", "lz4"} <= set(codecs.hdf5_available())
    with pytest.raises(ValueError, match="compression 'zstd' needs hdf5plugin's filter 32015, which this platform "
                                         "lacks; available: none, gzip, lzf, blosc-lz4, blosc-zstd, lz4"):
        formats.get("hdf5").write(synthetic(50), tmp_path / "ds", progress=False, chunk_images=32, compression="zstd")
    assert not (tmp_path / "ds").exists()
    with pytest.raises(FormatError, match="old.*dataset '/images' is compressed with HDF5 filter 32015 .*cannot "
                                          "decode; its codecs: none, gzip"):
        formats.get("hdf5").open(tmp_path / "old")
