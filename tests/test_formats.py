"""The format protocol: exact round trips, loud failures, atomic writes, worker processes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import torch

from thesis_lib import FormatError, formats, sources
from thesis_lib.core import paths
from thesis_lib.sources.base import ArraySource
from tiny_data import CPU_FORMATS

# Every lossless option set that must round-trip byte for byte.
LOSSLESS = [
    ("npy", {}),
    ("files", {}),
    ("files", {"png_level": 1}),
    ("hdf5", {}),
    ("hdf5", {"chunk_images": 64}),
    ("hdf5", {"chunk_images": 50, "compression": "gzip", "checksum": True}),
    ("hdf5", {"chunk_images": 32, "compression": "lzf"}),
    ("zarr", {}),
    ("zarr", {"chunk_images": 32, "shard_images": 128}),
    ("zarr", {"codec": "zstd", "checksum": True}),
    ("zarr", {"codec": "blosc", "chunk_images": 100}),
    ("webdataset", {}),
    ("webdataset", {"shard_images": 64, "encoding": "png"}),
    ("webdataset", {"shard_images": 1}),
    ("litdata", {}),
    ("litdata", {"chunk_bytes": "100KB"}),
]
READ_PATHS = {"hdf5": [{"read_path": p} for p in ("direct", "chunks", "index", "fancy")],
              "zarr": [{"read_path": p} for p in ("oindex", "chunks", "direct")]}


def has_cuda() -> bool:
    try:
        formats.get("cupy")  # importable without CUDA
        from thesis_lib.formats.cupy_format import cuda_modules
        cuda_modules()
        return True
    except FormatError:
        return False


def random_source(n=300, size=16, seed=0) -> ArraySource:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return ArraySource(images, rng.integers(0, 10, n), classes=[f"c{i}" for i in range(10)])


def all_images(source) -> np.ndarray:
    return np.concatenate([images for images, _ in source.chunks(256)])


def assert_only_published(folder, name) -> None:
    """``folder`` holds the dataset ``name`` (a pointer and its one version) and nothing else:
    no partial build, no moved-away copy, no superseded version."""
    assert sorted(p.name for p in folder.iterdir()) == [f".{name}.versions", name]
    assert len(list((folder / f".{name}.versions").iterdir())) == 1


def assert_round_trip(reader, source, rng) -> None:
    expected = all_images(source)
    np.testing.assert_array_equal(reader.labels, source.labels)
    assert len(reader) == len(source) and reader.image_shape == tuple(source.image_shape)
    np.testing.assert_array_equal(reader.read(np.arange(len(source))), expected)
    order = np.concatenate([rng.permutation(len(source))[:100], [0, 0, len(source) - 1]])
    np.testing.assert_array_equal(reader.read(order), expected[order])
    np.testing.assert_array_equal(reader.read_range(7, 77), expected[7:77])


# -- registry -------------------------------------------------------------------------------------
def test_names_and_unknown_format():
    assert formats.names() == ["files", "npy", "cupy", "hdf5", "zarr", "webdataset", "litdata"]
    with pytest.raises(ValueError, match="valid formats: files, npy, cupy, hdf5, zarr, webdataset, litdata"):
        formats.get("parquet")


# -- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("fmt,options", LOSSLESS, ids=[f"{f}-{o}" for f, o in LOSSLESS])
def test_lossless_round_trip_synthetic(tmp_path, fmt, options, size):
    source = sources.load("synthetic", image_size=size, limit=160 if size == 64 else 300)
    stats = formats.get(fmt).write(source, tmp_path / "ds", progress=False, **options)
    assert stats["n"] == len(source) and stats["bytes_on_disk"] > 0 and stats["seconds"] >= 0
    assert stats["image_shape"] == [size, size, 3]
    for open_options in READ_PATHS.get(fmt, [{}]):
        try:
            reader = formats.get(fmt).open(tmp_path / "ds", **open_options)
        except ValueError:  # e.g. the direct path on compressed data: refused, not silently wrong
            assert open_options.get("read_path") == "direct" and (
                options.get("compression") or options.get("codec") or options.get("shard_images"))
            continue
        with reader:
            assert_round_trip(reader, source, np.random.default_rng(1))


def test_files_torchvision_decoder_matches_pil(tmp_path):
    source = random_source(100)
    formats.get("files").write(source, tmp_path / "ds", progress=False)
    with formats.get("files").open(tmp_path / "ds", decoder="torchvision") as reader:
        assert_round_trip(reader, source, np.random.default_rng(2))


@pytest.mark.slow
def test_real_cifar10_round_trip(tmp_path):
    if paths.cifar10_jpeg_zip() is None:
        pytest.skip("shared/data/cifar10-jpeg.zip is not present")
    source = sources.load("imagefolder", paths.cifar10_jpeg_zip(), split="train", limit=400)
    for fmt in CPU_FORMATS:
        formats.get(fmt).write(source, tmp_path / fmt, progress=False)
        with formats.open_any(tmp_path / fmt) as reader:
            assert_round_trip(reader, source, np.random.default_rng(3))


@pytest.mark.parametrize("name", ["files", "webdataset"])
def test_jpeg_is_lossy_within_stated_psnr(tmp_path, name):
    """JPEG at quality 90 stays above 30 dB PSNR on the synthetic photographs-like images."""
    source = sources.load("synthetic", limit=200)
    fmt = formats.get(name)
    fmt.write(source, tmp_path / "jpg", encoding="jpeg", quality=90, progress=False)
    with fmt.open(tmp_path / "jpg") as reader:
        decoded = reader.read(np.arange(len(source))).astype(np.float64)
        assert not reader.manifest["lossless"]
    mse = np.mean((decoded - all_images(source)) ** 2)
    psnr = 10 * np.log10(255**2 / mse)
    assert 30 < psnr < 60, psnr


# -- write protocol -------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", CPU_FORMATS + ["cupy"])
def test_refuses_to_overwrite_unless_asked(tmp_path, fmt):
    f = formats.get(fmt)
    f.write(random_source(20), tmp_path / "ds", progress=False)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        f.write(random_source(20), tmp_path / "ds", progress=False)
    f.write(random_source(30, seed=5), tmp_path / "ds", overwrite=True, progress=False)
    assert json.loads((tmp_path / "ds" / "manifest.json").read_text())["n"] == 30
    assert_only_published(tmp_path, "ds")


def test_a_plain_dataset_folder_opens_and_is_overwritten_into_a_version(tmp_path):
    """A dataset written before versions existed is a plain folder: it still opens, and overwriting
    it moves it among the versions, where it is deleted once nothing reads it."""
    formats.get("npy").write(random_source(20), tmp_path / "ds", progress=False)
    version = (tmp_path / "ds").resolve()
    (tmp_path / "ds").unlink()
    shutil.move(version, tmp_path / "ds")
    shutil.rmtree(tmp_path / ".ds.versions")
    with formats.get("npy").open(tmp_path / "ds") as reader:
        assert len(reader) == 20
    formats.get("npy").write(random_source(30), tmp_path / "ds", overwrite=True, progress=False)
    assert (tmp_path / "ds").is_symlink() and len(formats.get("npy").open(tmp_path / "ds")) == 30
    assert_only_published(tmp_path, "ds")


def test_overwrite_replaces_an_empty_folder(tmp_path):
    (tmp_path / "ds").mkdir()
    formats.get("npy").write(random_source(20), tmp_path / "ds", overwrite=True, progress=False)
    assert len(formats.get("npy").open(tmp_path / "ds")) == 20
    assert_only_published(tmp_path, "ds")


@pytest.mark.parametrize("fmt", CPU_FORMATS)
def test_unknown_or_invalid_option_names_it(tmp_path, fmt):
    with pytest.raises(ValueError, match="unknown write option 'colour'"):
        formats.get(fmt).write(random_source(5), tmp_path / "ds", colour="blue")
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("fmt,option,kind", [("hdf5", "rdcc_nbytes", "open"), ("zarr", "concurrency", "open"),
                                             ("npy", "block_size", "open"), ("files", "decoder", "open")])
def test_read_time_option_is_refused_as_write_option(tmp_path, fmt, option, kind):
    """A read-time setting must not re-convert the data: passed to write, it is refused, pointing at
    the open options; passed to open, a write option is refused likewise."""
    with pytest.raises(ValueError, match=f"unknown write option '{option}' \\(it is one of the open options\\)"):
        formats.get(fmt).write(random_source(5), tmp_path / "ds", **{option: 1})
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("fmt,option", [("hdf5", "chunk_images"), ("zarr", "codec"), ("files", "encoding")])
def test_write_option_is_refused_as_open_option(tmp_path, fmt, option):
    formats.get(fmt).write(random_source(5), tmp_path / "ds", progress=False)
    with pytest.raises(ValueError, match=f"unknown open option '{option}' \\(it is one of the write options\\)"):
        formats.get(fmt).open(tmp_path / "ds", **{option: 1})


@pytest.mark.parametrize("fmt,options", [("hdf5", {"read_path": "mmap"}), ("zarr", {"read_path": "fast"}),
                                         ("zarr", {"concurrency": 0}), ("files", {"decoder": "cv2"}),
                                         ("npy", {"block_size": 0}), ("hdf5", {"rdcc_nbytes": -1})])
def test_invalid_open_option_value_names_it(tmp_path, fmt, options):
    formats.get(fmt).write(random_source(5), tmp_path / "ds", progress=False)
    with pytest.raises(ValueError, match=f"format '{fmt}': open option {next(iter(options))}="):
        formats.get(fmt).open(tmp_path / "ds", **options)


@pytest.mark.parametrize("fmt,option", [("hdf5", {"compression": "brotli"}), ("zarr", {"codec": "lz77"}),
                                        ("zarr", {"chunk_images": 10, "shard_images": 15}),
                                        ("files", {"encoding": "gif"}), ("hdf5", {"compression": "gzip"})])
def test_invalid_option_value_names_it(tmp_path, fmt, option):
    with pytest.raises(ValueError, match=f"format '{fmt}'"):
        formats.get(fmt).write(random_source(5), tmp_path / "ds", **option)


def test_cli_style_string_options_are_parsed(tmp_path):
    stats = formats.get("zarr").write(random_source(40), tmp_path / "ds", progress=False,
                                      chunk_images="16", codec="zstd", checksum="true")
    assert stats["options"]["chunk_images"] == 16 and stats["options"]["checksum"] is True


def test_write_streams_chunk_by_chunk(tmp_path):
    """Every format pulls the source one chunk at a time: never more than one chunk is decoded."""

    class CountingSource(ArraySource):
        max_read = 0

        def read_range(self, start, stop):
            CountingSource.max_read = max(CountingSource.max_read, stop - start)
            return super().read_range(start, stop)

    base = random_source(1000, size=8)
    source = CountingSource(base.read_range(0, 1000), base.labels)
    for fmt in CPU_FORMATS + ["cupy"]:
        formats.get(fmt).write(source, tmp_path / fmt, chunk_size=100, progress=False)
    assert CountingSource.max_read == 100


# -- bad input ------------------------------------------------------------------------------------
@pytest.fixture
def npy_dataset(tmp_path):
    formats.get("npy").write(random_source(100), tmp_path / "ds", progress=False)
    return tmp_path / "ds"


@pytest.mark.timeout(30)
def test_truncated_npy(npy_dataset):
    images = npy_dataset / "images.npy"
    os.truncate(images, images.stat().st_size // 2)
    with pytest.raises(FormatError, match="images.npy"):
        formats.get("npy").open(npy_dataset)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("bad", [np.zeros((100, 16, 16), np.uint8), np.zeros((100, 16, 16, 3), np.float32)])
def test_npy_with_wrong_shape_or_dtype(npy_dataset, bad):
    np.save(npy_dataset / "images.npy", bad)
    with pytest.raises(FormatError, match=r"images\.npy: expected uint8"):
        formats.get("npy").open(npy_dataset)


@pytest.mark.timeout(30)
def test_images_and_labels_of_different_lengths(npy_dataset, tmp_path):
    np.save(npy_dataset / "labels.npy", np.zeros(99, np.int64))
    with pytest.raises(FormatError, match="labels.npy: holds 99 items but the manifest says 100"):
        formats.get("npy").open(npy_dataset)
    formats.get("hdf5").write(random_source(100), tmp_path / "h5", progress=False)
    with h5py.File(tmp_path / "h5" / "data.h5", "a") as f:
        del f["labels"]
        f["labels"] = np.zeros(98, np.int64)
    with pytest.raises(FormatError, match="98 labels but the manifest says 100"):
        formats.get("hdf5").open(tmp_path / "h5")


@pytest.mark.timeout(30)
def test_garbage_bytes_inside_hdf5(tmp_path):
    formats.get("hdf5").write(random_source(100), tmp_path / "ds", progress=False)
    with open(tmp_path / "ds" / "data.h5", "r+b") as f:
        f.write(os.urandom(4096))  # superblock and root group
    with pytest.raises(FormatError, match="data.h5: not a readable HDF5 file"):
        formats.get("hdf5").open(tmp_path / "ds")


@pytest.mark.timeout(30)
def test_garbage_in_hdf5_chunk_is_caught_by_the_checksum(tmp_path):
    source = random_source(200)
    formats.get("hdf5").write(source, tmp_path / "ds", progress=False, chunk_images=50, checksum=True)
    with h5py.File(tmp_path / "ds" / "data.h5", "r") as f:
        offset = f["images"].id.get_chunk_info(1).byte_offset
    with open(tmp_path / "ds" / "data.h5", "r+b") as f:
        f.seek(offset + 100)
        f.write(b"\xff" * 64)
    with formats.get("hdf5").open(tmp_path / "ds") as reader:
        np.testing.assert_array_equal(reader.read([0, 1]), all_images(source)[:2])  # chunk 0 intact
        with pytest.raises(FormatError, match="image data unreadable"):
            reader.read([60])


@pytest.mark.timeout(30)
def test_missing_dataset_inside_hdf5(tmp_path):
    formats.get("hdf5").write(random_source(50), tmp_path / "ds", progress=False)
    with h5py.File(tmp_path / "ds" / "data.h5", "a") as f:
        del f["images"]
    with pytest.raises(FormatError, match="has no dataset 'images'"):
        formats.get("hdf5").open(tmp_path / "ds")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("options", [{"chunk_images": 20}, {"chunk_images": 10, "shard_images": 40}],
                         ids=["chunk", "shard"])
def test_zarr_with_a_deleted_chunk_or_shard(tmp_path, options):
    formats.get("zarr").write(random_source(100), tmp_path / "ds", progress=False, **options)
    stored = sorted(p for p in (tmp_path / "ds" / "images" / "c").rglob("*") if p.is_file())
    assert len(stored) == -(-100 // (options.get("shard_images") or options["chunk_images"]))
    stored[1].unlink()
    with pytest.raises(FormatError, match=f"{stored[1].name}: missing"):
        formats.get("zarr").open(tmp_path / "ds")


@pytest.mark.timeout(30)
def test_garbage_zarr_metadata(tmp_path):
    formats.get("zarr").write(random_source(50), tmp_path / "ds", progress=False)
    (tmp_path / "ds" / "images" / "zarr.json").write_bytes(b"\x00garbage{{")
    with pytest.raises(FormatError, match="images"):
        formats.get("zarr").open(tmp_path / "ds")


@pytest.mark.timeout(30)
def test_corrupt_zarr_chunk_with_checksum(tmp_path):
    formats.get("zarr").write(random_source(100), tmp_path / "ds", progress=False, chunk_images=50,
                              checksum=True)
    chunk = next(p for p in (tmp_path / "ds" / "images" / "c").rglob("*") if p.is_file())
    data = bytearray(chunk.read_bytes())
    data[10:20] = b"\x00" * 10
    chunk.write_bytes(bytes(data))
    with formats.get("zarr").open(tmp_path / "ds") as reader, pytest.raises(FormatError, match="unreadable"):
        reader.read([0])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("damage", ["missing", "undecodable"])
def test_files_tree_with_missing_or_undecodable_image(tmp_path, damage):
    formats.get("files").write(random_source(30), tmp_path / "ds", progress=False)
    with formats.get("files").open(tmp_path / "ds") as reader:
        victim = tmp_path / "ds" / reader.rel_paths[3]
        if damage == "missing":
            victim.unlink()
        else:
            victim.write_bytes(b"not a png at all")
        reader.read([0, 1, 2])  # the others still read
        with pytest.raises(FormatError, match=victim.name):
            reader.read([2, 3])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt", CPU_FORMATS)
@pytest.mark.parametrize("indices,message", [([0, 100], "index 100 out of range"), ([-1], "index -1 out of range"),
                                             ([0.5], "indices must be integers")])
def test_bad_indices(tmp_path, fmt, indices, message):
    formats.get(fmt).write(random_source(100), tmp_path / "ds", progress=False)
    with formats.get(fmt).open(tmp_path / "ds") as reader, pytest.raises(IndexError, match=message):
        reader.read(indices)


def test_open_refuses_missing_foreign_or_partial(tmp_path):
    with pytest.raises(FormatError, match="no converted dataset here"):
        formats.get("npy").open(tmp_path / "nothing")
    formats.get("npy").write(random_source(10), tmp_path / "ds", progress=False)
    with pytest.raises(FormatError, match="holds format 'npy', not 'zarr'"):
        formats.get("zarr").open(tmp_path / "ds")
    (tmp_path / "ds" / "manifest.json").unlink()
    with pytest.raises(FormatError, match="manifest.json is missing"):
        formats.get("npy").open(tmp_path / "ds")


# -- interrupted writes ---------------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys, time, numpy as np
    from thesis_lib import formats
    from thesis_lib.sources.base import ArraySource

    class SlowSource(ArraySource):
        def read_range(self, start, stop):
            if start > 0:
                print("writing", flush=True)
                time.sleep(float(sys.argv[3]))
            return super().read_range(start, stop)

    rng = np.random.default_rng(0)
    source = SlowSource(rng.integers(0, 256, (400, 16, 16, 3), dtype=np.uint8), rng.integers(0, 10, 400))
    formats.get(sys.argv[1]).write(source, sys.argv[2], chunk_size=50, progress=False)
    print("done", flush=True)
""")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", CPU_FORMATS)
def test_killed_writer_leaves_nothing_openable(tmp_path, fmt):
    target = tmp_path / "ds"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, fmt, str(target), "30"], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "writing"  # midway: the first chunk is written
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with pytest.raises(FormatError, match="partial write"):
        formats.get(fmt).open(target)
    rerun = subprocess.run([sys.executable, "-c", WRITER, fmt, str(target), "0"], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    with formats.get(fmt).open(target) as reader:
        assert len(reader) == 400
    assert_only_published(tmp_path, "ds")  # the stale partial was cleaned up


# -- worker processes -----------------------------------------------------------------------------
def test_a_pickled_reader_holds_its_version_and_opens_its_own_handles(tmp_path):
    """What a spawned worker gets: no open handle of the parent's, and its own hold on the version,
    which outlives the parent's ``with`` and is let go when the copy is dropped."""
    import gc
    import pickle

    source = random_source(40)
    formats.get("hdf5").write(source, tmp_path / "ds", progress=False)
    versions = tmp_path / ".ds.versions"
    with formats.get("hdf5").open(tmp_path / "ds") as reader:
        reader.read([0, 3])
        assert "file" in reader.handles and "images" in reader.handles
        copy = pickle.loads(pickle.dumps(reader))
        assert "file" not in copy.handles and "images" not in copy.handles and copy.hold.held
    assert not reader.hold.held and copy.hold.held
    formats.get("hdf5").write(random_source(40, seed=1), tmp_path / "ds", progress=False, overwrite=True)
    assert len(list(versions.iterdir())) == 2  # the copy's version survives the overwrite
    np.testing.assert_array_equal(copy.read([0, 39]), all_images(source)[[0, 39]])
    del copy
    gc.collect()
    formats.get("hdf5").write(random_source(40, seed=2), tmp_path / "ds", progress=False, overwrite=True)
    assert len(list(versions.iterdir())) == 1


def test_run_bounds_and_contiguous_runs():
    from thesis_lib.formats.runs import contiguous_runs, run_bounds

    assert run_bounds(np.array([0, 1, 2, 5, 6, 9])) == [(0, 3), (3, 5), (5, 6)]
    assert run_bounds(np.array([0, 0, 1, 1, 1, 3]), step=0) == [(0, 2), (2, 5), (5, 6)]
    assert run_bounds(np.array([], np.int64)) == [] and contiguous_runs(np.array([], np.int64)) == []
    assert contiguous_runs(np.array([4, 5, 7])) == [(4, 6), (7, 8)]


class ReaderDataset(torch.utils.data.Dataset):
    def __init__(self, reader):
        self.reader = reader

    def __len__(self):
        return len(self.reader)

    def __getitem__(self, i):
        return torch.from_numpy(self.reader.read([i])[0])


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("context", ["fork", "spawn"])
@pytest.mark.parametrize("fmt", ["hdf5", "zarr"])
def test_dataloader_workers_read_the_same_bytes(tmp_path, fmt, context):
    source = random_source(64)
    formats.get(fmt).write(source, tmp_path / "ds", progress=False)
    reader = formats.get(fmt).open(tmp_path / "ds")
    reader.read([0, 5])  # open the handles in the parent, as a notebook would before forking
    loader = torch.utils.data.DataLoader(ReaderDataset(reader), batch_size=8, num_workers=2,
                                         multiprocessing_context=context)
    batches = torch.cat(list(loader)).numpy()
    np.testing.assert_array_equal(batches, reader.read(np.arange(64)))


def test_nvjpeg_refuses_png_files(tmp_path):
    formats.get("files").write(random_source(4), tmp_path / "ds", progress=False)
    with pytest.raises(FormatError, match=r"ds.*decoder=nvjpeg decodes JPEG only.*encoded as png"):
        formats.get("files").open(tmp_path / "ds", decoder="nvjpeg")


def test_nvjpeg_without_cuda_says_it_needs_a_gpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    formats.get("files").write(random_source(4), tmp_path / "ds", encoding="jpeg", progress=False)
    with pytest.raises(FormatError, match=r"ds.*decoder=nvjpeg decodes on a CUDA GPU"):
        formats.get("files").open(tmp_path / "ds", decoder="nvjpeg")


def test_formats_say_whether_they_read_into_gpu_memory():
    files, cupy = formats.get("files"), formats.get("cupy")
    assert cupy.needs_cuda(cupy.resolve_open_options({}))
    assert files.needs_cuda(files.resolve_open_options({"decoder": "nvjpeg"}))
    assert not any(formats.get(name).needs_cuda(formats.get(name).resolve_open_options({})) for name in CPU_FORMATS)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_nvjpeg_decodes_batches_on_the_gpu_close_to_the_cpu_decoder(tmp_path):
    from thesis_lib.loading import make_loader

    source = sources.load("synthetic", n=300)
    formats.get("files").write(source, tmp_path / "ds", encoding="jpeg", progress=False)
    with formats.get("files").open(tmp_path / "ds", decoder="nvjpeg") as gpu, \
            formats.get("files").open(tmp_path / "ds") as cpu:
        assert gpu.on_device
        order = np.array([5, 3, 3, 299, 0, 100])
        images = gpu.read_torch(order)
        assert images.is_cuda and images.dtype == torch.uint8 and tuple(images.shape) == (6, 32, 32, 3)
        difference = np.abs(images.cpu().numpy().astype(np.int16) - cpu.read(order))
        assert difference.mean() < 2  # JPEG decoders differ slightly
        assert gpu.read_range(0, 300).shape[0] == 300
        loader = make_loader(gpu, batch_size=128, device="cuda")
        assert sum(len(labels) for _, labels in loader) == 300


# -- cupy ------------------------------------------------------------------------------------------
def test_cupy_without_cuda_says_it_needs_a_gpu(tmp_path):
    if has_cuda():
        pytest.skip("a CUDA GPU is present")
    formats.get("cupy").write(random_source(10), tmp_path / "ds", progress=False)
    assert (tmp_path / "ds" / "images.u8").stat().st_size == 10 * 16 * 16 * 3
    with pytest.raises(FormatError, match="needs a CUDA GPU"):
        formats.get("cupy").open(tmp_path / "ds")


@pytest.mark.gpu
@pytest.mark.parametrize("open_options", [{}, {"resident": True}, {"use_kvikio": False}])
def test_cupy_round_trip_on_gpu(tmp_path, open_options):
    if not has_cuda():
        pytest.skip("needs a CUDA GPU")
    source = random_source(300)
    formats.get("cupy").write(source, tmp_path / "ds", progress=False)
    with formats.get("cupy").open(tmp_path / "ds", **open_options) as reader:
        order = np.array([5, 3, 3, 299, 0, 100, 101, 102])
        np.testing.assert_array_equal(reader.read(order).get(), all_images(source)[order])
        np.testing.assert_array_equal(reader.read_range(10, 200).get(), all_images(source)[10:200])
        tensor = reader.read_torch(order)
        assert tensor.is_cuda and tensor.dtype == torch.uint8
        np.testing.assert_array_equal(tensor.cpu().numpy(), all_images(source)[order])


class FakeFuture:
    """A KvikIO IOFuture's stand-in: ``get()`` returns ``size`` or raises ``error``, and says it was waited for."""

    def __init__(self, log, size=None, error=None):
        self.log, self.size, self.error = log, size, error

    def get(self):
        self.log.append(self)
        if self.error is not None:
            raise self.error
        return self.size


class FakeCuFile:
    """``pread`` hands out the prepared futures in turn; one may be an exception, raised at submission."""

    def __init__(self, futures):
        self.futures = iter(futures)

    def pread(self, buffer, size, offset):
        future = next(self.futures)
        if isinstance(future, BaseException):
            raise future
        return future


def test_pread_all_waits_for_every_read_before_raising_the_first_error():
    from thesis_lib.formats.cupy_format import pread_all

    waited = []
    futures = [FakeFuture(waited, 4), FakeFuture(waited, error=RuntimeError("cuFile error 5011")),
               FakeFuture(waited, 2), FakeFuture(waited, error=OSError("second")), FakeFuture(waited, 4)]
    pieces = [(None, 4, 4 * k) for k in range(5)]
    with pytest.raises(RuntimeError, match="cuFile error 5011"):
        pread_all(FakeCuFile(futures), pieces, "images.u8")
    assert waited == futures  # every read ended, in order, before the error went up


def test_pread_all_reports_a_short_read_once_every_read_has_ended():
    from thesis_lib.formats.cupy_format import pread_all

    waited = []
    futures = [FakeFuture(waited, 4), FakeFuture(waited, 3), FakeFuture(waited, 1), FakeFuture(waited, 4)]
    with pytest.raises(FormatError, match=r"images.u8: short read at byte 4 \(3 of 4 bytes\)"):
        pread_all(FakeCuFile(futures), [(None, 4, 4 * k) for k in range(4)], "images.u8")
    assert waited == futures
    pread_all(FakeCuFile([FakeFuture(waited, 4), FakeFuture(waited, 2)]), [(None, 4, 0), (None, 2, 4)], "x")


def test_pread_all_waits_for_the_reads_submitted_when_a_submission_fails():
    from thesis_lib.formats.cupy_format import pread_all

    waited = []
    futures = [FakeFuture(waited, 4), FakeFuture(waited, error=OSError("later")), MemoryError("bounce buffer")]
    with pytest.raises(MemoryError, match="bounce buffer"):
        pread_all(FakeCuFile(futures), [(None, 4, 4 * k) for k in range(4)], "images.u8")
    assert waited == futures[:2]


def test_cupy_use_kvikio_says_why_kvikio_did_not_import(tmp_path, monkeypatch):
    """With CuPy seeing a GPU but KvikIO's import failing (here: its cuFile library missing), the
    error for ``use_kvikio=True`` carries the import's own error."""
    import types

    class BrokenKvikio:
        def find_spec(self, name, path=None, target=None):
            if name == "kvikio":
                raise OSError("libcufile.so.0: cannot open shared object file")
            return None

    fake_cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1)))
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.delitem(sys.modules, "kvikio", raising=False)
    monkeypatch.setattr(sys, "meta_path", [BrokenKvikio(), *sys.meta_path])
    formats.get("cupy").write(random_source(10), tmp_path / "ds", progress=False)
    with pytest.raises(FormatError, match="KvikIO could not be imported: OSError: libcufile.so.0: cannot open"):
        formats.get("cupy").open(tmp_path / "ds", use_kvikio=True)


def test_a_reader_subclass_sets_its_own_fields_after_calling_super(tmp_path):
    """A reader's labels are loaded once the whole reader is built, so a subclass calls
    ``super().__init__`` first, as Python expects, and its ``_load_labels`` may use its own fields."""
    import copy

    from thesis_lib.formats.npy import NpyReader

    class ShiftedLabels(NpyReader):
        def __init__(self, path, manifest, **options):
            super().__init__(path, manifest, **options)
            self.shift = 1

        def _load_labels(self):
            return (super()._load_labels() + self.shift) % len(self.classes)

    images = np.zeros((6, 4, 4, 3), np.uint8)
    formats.get("npy").write(ArraySource(images, np.arange(6) % 3), tmp_path / "ds", progress=False)
    fmt = copy.copy(formats.get("npy"))
    fmt.reader = ShiftedLabels
    assert fmt.open(tmp_path / "ds").labels.tolist() == [1, 2, 0, 1, 2, 0]
