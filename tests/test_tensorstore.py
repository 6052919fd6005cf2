"""zarr read by TensorStore's compiled reader: the same bytes as zarr-python, the same loud
failures, and TensorStore's threads kept out of forked processes."""
from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
import torch
from test_formats import LOSSLESS, all_images, assert_round_trip, random_source

from thesis_lib import FormatError, formats, loading, sources

TENSORSTORE = {"read_path": "tensorstore"}
ZARR_LAYOUTS = [options for fmt, options in LOSSLESS if fmt == "zarr"]


def zarr_chunk_files(path):
    return sorted(p for p in (path / "images" / "c").rglob("*") if p.is_file())


# -- zarr through TensorStore ------------------------------------------------------------------------
@pytest.mark.parametrize("options", ZARR_LAYOUTS, ids=[str(o) for o in ZARR_LAYOUTS])
def test_tensorstore_reads_every_zarr_layout_byte_for_byte(tmp_path, options):
    source = sources.load("synthetic", image_size=32, limit=300)
    formats.get("zarr").write(source, tmp_path / "ds", progress=False, **options)
    for cache_bytes in (0, 2**20):
        with formats.get("zarr").open(tmp_path / "ds", cache_bytes=cache_bytes, **TENSORSTORE) as reader:
            assert type(reader).__name__ == "TensorStoreZarrReader" and not reader.fork_safe
            assert_round_trip(reader, source, np.random.default_rng(4))
            out = np.zeros((150, 32, 32, 3), np.uint8)
            rows = reader.read_ranges_into([(250, 300), (0, 64), (100, 136)], out)
            np.testing.assert_array_equal(rows, all_images(source)[np.r_[250:300, 0:64, 100:136]])


def test_zarr_python_reads_ranges_into_a_buffer(tmp_path):
    source = random_source(200)
    formats.get("zarr").write(source, tmp_path / "ds", progress=False, chunk_images=32)
    with formats.get("zarr").open(tmp_path / "ds") as reader:
        out = np.zeros((100, 16, 16, 3), np.uint8)
        np.testing.assert_array_equal(reader.read_ranges_into([(160, 200), (32, 64)], out)[:72],
                                      all_images(source)[np.r_[160:200, 32:64]])
        with pytest.raises(IndexError, match=r"range \[190, 201\) outside 0..200"):
            reader.read_ranges_into([(190, 201)], out)
        with pytest.raises(ValueError, match="out must be uint8"):
            reader.read_ranges_into([(0, 10)], out[:5])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("options", [{"chunk_images": 20}, {"chunk_images": 10, "shard_images": 40}],
                         ids=["chunk", "shard"])
def test_tensorstore_path_refuses_a_missing_chunk_at_open(tmp_path, options):
    """TensorStore would fill a missing chunk with zeros: the open-time check covers this path too."""
    formats.get("zarr").write(random_source(100), tmp_path / "ds", progress=False, **options)
    zarr_chunk_files(tmp_path / "ds")[1].unlink()
    with pytest.raises(FormatError, match=r"missing \(zarr would silently read it as zeros\)"):
        formats.get("zarr").open(tmp_path / "ds", **TENSORSTORE)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("options,damage,message", [
    ({"chunk_images": 50}, "truncate", "19200 bytes, expected 38400"),
    ({"chunk_images": 50, "codec": "blosc"}, "empty", "0 bytes, expected at least 1"),
])
def test_tensorstore_path_refuses_a_chunk_of_the_wrong_size_at_open(tmp_path, options, damage, message):
    """A chunk whose size cannot be right is refused when the reader opens, before any read path."""
    formats.get("zarr").write(random_source(100), tmp_path / "ds", progress=False, **options)
    victim = zarr_chunk_files(tmp_path / "ds")[1]
    data = victim.read_bytes()
    victim.write_bytes(data[:len(data) // 2] if damage == "truncate" else b"")
    with pytest.raises(FormatError, match=message):
        formats.get("zarr").open(tmp_path / "ds", **TENSORSTORE)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("options,damage,message", [
    ({"chunk_images": 50, "codec": "zstd"}, "truncate", "Zstd"),
    ({"chunk_images": 50, "checksum": True}, "flip", "Digest mismatch"),
    ({"chunk_images": 10, "shard_images": 50, "checksum": True}, "flip", "Digest mismatch"),
])
def test_tensorstore_path_raises_on_a_damaged_chunk(tmp_path, options, damage, message):
    """A damaged chunk is a FormatError naming the array and the file, never zeros or wrong bytes."""
    source = random_source(100)
    formats.get("zarr").write(source, tmp_path / "ds", progress=False, **options)
    victim = zarr_chunk_files(tmp_path / "ds")[1]  # images 50..99
    data = bytearray(victim.read_bytes())
    if damage == "truncate":
        data = data[:len(data) // 2]
    elif damage == "empty":
        data = b""
    else:
        data[len(data) // 3:len(data) // 3 + 16] = bytes(16)
    victim.write_bytes(bytes(data))
    with formats.get("zarr").open(tmp_path / "ds", **TENSORSTORE) as reader:
        np.testing.assert_array_equal(reader.read([0, 49]), all_images(source)[[0, 49]])  # chunk 0 intact
        with pytest.raises(FormatError, match=f"images: chunk data unreadable.*{message}") as raised:
            reader.read([0, 60])
        assert str(victim.relative_to(tmp_path / "ds" / "images")) in str(raised.value)
        with pytest.raises(FormatError, match=message):
            reader.read_ranges_into([(50, 100)], np.empty((50, 16, 16, 3), np.uint8))


def test_cache_bytes_is_tensorstores_option(tmp_path):
    formats.get("zarr").write(random_source(20), tmp_path / "ds", progress=False)
    with pytest.raises(ValueError, match="cache_bytes sizes TensorStore's cache; it needs read_path='tensorstore'"):
        formats.get("zarr").open(tmp_path / "ds", cache_bytes=2**20)
    with pytest.raises(ValueError, match="open option cache_bytes=-1: expected a byte count"):
        formats.get("zarr").open(tmp_path / "ds", cache_bytes=-1, **TENSORSTORE)
    with pytest.raises(ValueError, match="expected one of oindex, chunks, tensorstore"):
        formats.get("zarr").open(tmp_path / "ds", read_path="ts")


# -- TensorStore and worker processes -----------------------------------------------------------------
@pytest.fixture(scope="module")
def tensorstore_reader(tmp_path_factory):
    source = random_source(256)
    path = tmp_path_factory.mktemp("ts") / "ds"
    formats.get("zarr").write(source, path, progress=False, chunk_images=32)
    reader = formats.get("zarr").open(path, **TENSORSTORE)
    reader.read_range(0, 64)  # TensorStore's threads now run in this process
    return reader, all_images(source)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["batch", "block"])
def test_tensorstore_reader_in_two_workers_gives_the_same_bytes(tensorstore_reader, mode):
    """Not fork-safe: the loader starts its workers by forkserver, each opens its own store."""
    reader, expected = tensorstore_reader
    loader = loading.make_loader(reader, batch_size=64, mode=mode, workers=2, seed=3, normalize=False)
    assert loader.data_loader.multiprocessing_context.get_start_method() == "forkserver"
    single = loading.make_loader(reader, batch_size=64, mode=mode, workers=0, seed=3, normalize=False)
    for (images, labels), (ref_images, ref_labels) in zip(loader.raw_batches(), single.raw_batches(), strict=True):
        assert torch.equal(images, ref_images) and torch.equal(labels, ref_labels)
    seen = torch.cat([images for images, _ in loader.raw_batches()]).numpy()
    np.testing.assert_array_equal(np.sort(seen.reshape(len(seen), -1), axis=0),
                                  np.sort(expected.reshape(len(expected), -1), axis=0))


def test_an_explicit_fork_is_refused_for_a_reader_that_is_not_fork_safe(tensorstore_reader):
    reader, _ = tensorstore_reader
    with pytest.raises(ValueError, match="cannot be read in forked workers.*use mp_context='forkserver' or 'spawn'"):
        loading.make_loader(reader, batch_size=64, workers=2, mp_context="fork")
    spawned = loading.make_loader(reader, batch_size=64, workers=2, mp_context="spawn")
    assert spawned.data_loader.multiprocessing_context.get_start_method() == "spawn"
    loading.make_loader(reader, batch_size=64, workers=0, mp_context="fork")  # no workers: nothing forks


def _read_in_forked_child(reader, queue):
    try:
        reader.read([0])
        queue.put("read")
    except FormatError as exc:
        queue.put(str(exc))


@pytest.mark.timeout(60)
def test_a_forked_child_gets_an_error_not_a_hang(tensorstore_reader):
    reader, _ = tensorstore_reader
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_read_in_forked_child, args=(reader, queue))
    child.start()
    assert "cannot be used in a forked process" in queue.get(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0
