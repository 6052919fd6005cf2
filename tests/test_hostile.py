"""Hostile input, kept fixed (issue 14): damaged files, odd datasets, bad parameters, concurrent runs.

Every case here once returned silently wrong data, lost a user's file, hung, or raised a raw error
that named nothing; each now gets a clear FormatError, SourceError or ValueError naming the file or
parameter, or the right data. All data is tiny, and every test has a timeout, so a hang fails.
"""
from __future__ import annotations

import io
import itertools
import json
import multiprocessing
import os
import shutil
import struct
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from PIL import Image

from thesis_lib import FormatError, SourceError, formats, loading, results, sources
from thesis_lib.core import cache
from thesis_lib.run import bench, converted, sweep
from thesis_lib.sources.base import ArraySource

RECORDS = Path(__file__).resolve().parent / "fixtures" / "records"


def array_source(n=100, size=8, value=None, seed=0, classes=4) -> ArraySource:
    """``n`` random images (or all ``value``) whose first pixel spells their index; labels cycle."""
    rng = np.random.default_rng(seed)
    images = rng.integers(1, 256, (n, size, size, 3), dtype=np.uint8)
    if value is not None:
        images[:] = value
    images[:, 0, 0, 0] = np.arange(n) % 256
    return ArraySource(images, np.arange(n) % classes, classes=[f"c{i}" for i in range(classes)])


def write(fmt, path, source=None, **options):
    formats.get(fmt).write(source or array_source(), path, progress=False, **options)
    return path


def edit_manifest(path: Path, **changes) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    for key, value in changes.items():
        if value is None:
            manifest.pop(key)
        else:
            manifest[key] = value
    (path / "manifest.json").write_text(json.dumps(manifest))


def save_png(path: Path, array: np.ndarray, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


# =================================================================================================
# Damaged or odd input: datasets
# =================================================================================================
@pytest.mark.timeout(30)
def test_imagefolder_split_with_a_class_of_no_images_keeps_the_training_indices(tmp_path):
    """test/bird holds only a README: its classes are still the dataset's, so cat is 2 in both."""
    with zipfile.ZipFile(tmp_path / "set.zip", "w") as archive:
        for k, name in enumerate(["ant", "bird", "cat", "dog"]):
            for split in ("train", "test"):
                if split == "test" and name == "bird":
                    archive.writestr("test/bird/README.txt", "no test birds")
                    continue
                buffer = io.BytesIO()
                Image.fromarray(np.full((4, 4, 3), 50 * k, np.uint8)).save(buffer, "PNG")
                archive.writestr(f"{split}/{name}/0.png", buffer.getvalue())
    train = sources.load("imagefolder", tmp_path / "set.zip", split="train")
    test = sources.load("imagefolder", tmp_path / "set.zip", split="test")
    assert train.classes == test.classes == ["ant", "bird", "cat", "dog"]
    assert test.labels.tolist() == [0, 2, 3]


@pytest.mark.timeout(30)
def test_imagefolder_split_missing_a_class_folder_names_it(tmp_path):
    for split, names in (("train", ["ant", "bird", "cat"]), ("test", ["ant", "cat"])):
        for name in names:
            save_png(tmp_path / "tree" / split / name / "0.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(SourceError, match="split 'test' has no folder for class bird"):
        sources.load("imagefolder", tmp_path / "tree", split="test")


@pytest.mark.timeout(30)
def test_zip_member_with_an_absolute_path_is_refused(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, "PNG")
    with zipfile.ZipFile(tmp_path / "set.zip", "w") as archive:
        archive.writestr(zipfile.ZipInfo("/cat/0.png"), buffer.getvalue())
        archive.writestr("dog/0.png", buffer.getvalue())
    with pytest.raises(SourceError, match="/cat/0.png: unsafe member name"):
        sources.load("imagefolder", tmp_path / "set.zip")


@pytest.mark.timeout(30)
def test_duplicate_wnids_are_refused(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    (root).mkdir()
    (root / "wnids.txt").write_text("n01\nn02\nn01\n")
    for wnid in ("n01", "n02"):
        save_png(root / "train" / wnid / "images" / f"{wnid}_0.JPEG", np.zeros((4, 4, 3), np.uint8), format="JPEG")
    with pytest.raises(SourceError, match=r"wnids.txt, line 3: class 'n01' repeats line 1"):
        sources.load("tiny-imagenet", tmp_path)


@pytest.mark.timeout(20)
def test_a_fifo_named_like_an_image_is_refused_not_read(tmp_path):
    save_png(tmp_path / "tree" / "cat" / "0.png", np.zeros((4, 4, 3), np.uint8))
    os.mkfifo(tmp_path / "tree" / "cat" / "1.png")  # reading it would wait for a writer forever
    with pytest.raises(SourceError, match="1.png: cannot read \\(not a regular file\\)"):
        sources.load("imagefolder", tmp_path / "tree").read_range(0, 2)


@pytest.mark.timeout(30)
def test_16_bit_grey_image_is_scaled_not_clipped(tmp_path):
    save_png(tmp_path / "tree" / "a" / "0.png", np.full((4, 4), 40000, np.uint16))
    save_png(tmp_path / "tree" / "b" / "0.png", np.full((4, 4, 3), 7, np.uint8))
    image, _ = sources.load("imagefolder", tmp_path / "tree").get(0)
    assert (image == round(40000 * 255 / 65535)).all()  # 156, where PIL's own conversion gives 255


@pytest.mark.timeout(30)
def test_float_image_is_refused(tmp_path):
    save_png(tmp_path / "tree" / "a" / "0.tif", np.full((4, 4), 0.5, np.float32))
    with pytest.raises(SourceError, match="0.tif: a floating-point image"):
        sources.load("imagefolder", tmp_path / "tree").read_range(0, 1)


def _bmp_tree(folder: Path, value: int) -> None:
    for k, name in enumerate(["a", "b"]):
        save_png(folder / name / "0.bmp", np.full((4, 4, 3), value + k, np.uint8))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("packed", [False, True], ids=["folder", "zip"])
def test_converted_copy_is_not_reused_after_its_source_changed(tmp_path, data_home, packed):
    """Same names, same sizes, new pixels: the copy made from the old files must not be served."""
    tree = tmp_path / "tree"
    _bmp_tree(tree, 10)
    root = tree
    if packed:
        root = tmp_path / "set.zip"
        shutil.make_archive(str(root.with_suffix("")), "zip", tree)
    first, stats = converted.ensure_converted(sources.load("imagefolder", root), "npy", progress=False)
    assert not stats["reused"]
    _bmp_tree(tree, 20)  # BMP: the same byte count for new pixels
    for file in tree.rglob("*.bmp"):
        os.utime(file, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    if packed:
        shutil.make_archive(str(root.with_suffix("")), "zip", tree)
    source = sources.load("imagefolder", root)
    path, stats = converted.ensure_converted(source, "npy", progress=False)
    assert not stats["reused"]
    assert formats.get("npy").open(path).read([0])[0, 0, 0, 0] == 20


# =================================================================================================
# Damaged or odd input: converted datasets
# =================================================================================================
@pytest.mark.timeout(30)
def test_zarr_missing_labels_chunk(tmp_path):
    path = write("zarr", tmp_path / "ds")
    (path / "labels" / "c" / "0").unlink()
    with pytest.raises(FormatError, match="labels/c/0: missing"):
        formats.get("zarr").open(path)


@pytest.mark.timeout(30)
def test_zarr_empty_shard_file(tmp_path):
    path = write("zarr", tmp_path / "ds", array_source(200), chunk_images=20, shard_images=100)
    os.truncate(path / "images" / "c" / "1" / "0" / "0" / "0", 0)
    with pytest.raises(FormatError, match=r"images/c/1/0/0/0: 0 bytes, expected \d+"):
        formats.get("zarr").open(path)


@pytest.mark.timeout(30)
def test_zarr_stray_hidden_file_does_not_mask_a_missing_chunk(tmp_path):
    path = write("zarr", tmp_path / "ds", chunk_images=32)
    chunks = path / "images" / "c"
    (chunks / "1" / "0" / "0" / "0").unlink()
    (chunks / ".1.aB12cd").write_bytes(b"an interrupted rsync's temporary file")
    with pytest.raises(FormatError, match="images/c/1/0/0/0: missing"):
        formats.get("zarr").open(path)


@pytest.mark.timeout(30)
def test_hdf5_missing_chunks_on_the_chunks_read_path(tmp_path):
    path = write("hdf5", tmp_path / "ds", array_source(300), chunk_images=64, compression="gzip")
    with h5py.File(path / "data.h5", "a") as f:  # the same layout, only the first chunk written
        del f["images"]
        f.create_dataset("images", shape=(300, 8, 8, 3), dtype=np.uint8, chunks=(64, 8, 8, 3),
                         compression="gzip")[:64] = array_source(64).read_range(0, 64)
    with pytest.raises(FormatError, match="dataset '/images': 1 of 5 chunks stored"):
        formats.get("hdf5").open(path)


class ShortSource(ArraySource):
    """Reports 100 images, yields 32."""

    def chunks(self, n=32):
        return itertools.islice(super().chunks(n), 1)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "cupy"])
def test_short_source_stream_is_refused(tmp_path, fmt):
    full = array_source(100)
    short = ShortSource(full.read_range(0, 100), full.labels, classes=full.classes)
    with pytest.raises(SourceError, match="yielded 32 images but reports 100"):
        formats.get(fmt).write(short, tmp_path / "ds", chunk_size=32, progress=False)
    assert not (tmp_path / "ds").exists()


def _flip_label_byte(fmt: str, path: Path, label: int) -> None:
    if fmt == "zarr":
        file, offset = path / "labels" / "c" / "0", 8 * label
    else:
        file = path / "data.h5"
        with h5py.File(file, "r") as f:
            labels = f["labels"]
            start = labels.id.get_chunk_info(0).byte_offset if labels.chunks else labels.id.get_offset()
        offset = start + 8 * label
    with open(file, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 1]))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt,options", [("zarr", {}), ("hdf5", {"chunk_images": 20})])
def test_checksum_covers_the_labels(tmp_path, fmt, options):
    path = write(fmt, tmp_path / "ds", checksum=True, **options)
    _flip_label_byte(fmt, path, label=3)
    with pytest.raises(FormatError, match="labels"):
        formats.get(fmt).open(path)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt", ["files", "npy"])
def test_writers_refuse_source_labels_outside_its_classes(tmp_path, fmt):
    images = array_source(6).read_range(0, 6)
    with pytest.raises(SourceError, match="a label outside the 2 classes 0..1"):
        write(fmt, tmp_path / "ds", ArraySource(images, np.arange(6), classes=["a", "b"]))
    assert not (tmp_path / "ds").exists()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt", ["files", "npy", "hdf5", "zarr", "cupy"])
def test_writers_refuse_a_source_whose_chunks_disagree_with_its_labels(tmp_path, fmt):
    """Writers store ``source.labels`` whole; a chunk stream that says otherwise is refused, not
    silently overruled."""
    source = array_source(6)
    real_chunks = source.chunks

    def chunks(n):
        for images, labels in real_chunks(n):
            yield images, (labels + 1) % 2

    source.chunks = chunks
    with pytest.raises(SourceError, match="labels that are not the source's labels"):
        write(fmt, tmp_path / "ds", source)
    assert not (tmp_path / "ds").exists()


@pytest.mark.timeout(30)
def test_labels_outside_the_classes_are_refused(tmp_path):
    path = write("npy", tmp_path / "ds")
    np.save(path / "labels.npy", np.full(100, 12, np.int64))
    with pytest.raises(FormatError, match="label 12 is outside the 4 classes"):
        formats.get("npy").open(path)


@pytest.mark.timeout(30)
def test_damaged_npy_header_names_the_file(tmp_path):
    path = write("npy", tmp_path / "ds")
    with open(path / "images.npy", "r+b") as f:
        f.seek(10)
        f.write(b"xx")  # the header dict's opening brace: Python's tokenizer gives up on it
    with pytest.raises(FormatError, match="images.npy: not a readable .npy file"):
        formats.get("npy").open(path)


@pytest.mark.timeout(30)
def test_hdf5_group_in_place_of_the_images_dataset(tmp_path):
    path = write("hdf5", tmp_path / "ds")
    with h5py.File(path / "data.h5", "a") as f:
        del f["images"]
        f.create_group("images")
    with pytest.raises(FormatError, match="data.h5: 'images' is a Group, not a dataset"):
        formats.get("hdf5").open(path)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("fmt,changes,message", [
    ("zarr", {"options": None}, "lacks 'options'"),
    ("hdf5", {"options": None}, "lacks 'options'"),
    ("npy", {"n": "lots"}, "n must be an integer >= 0"),
], ids=["zarr-no-options", "hdf5-no-options", "n-text"])
def test_bad_manifest_values_name_the_manifest(tmp_path, fmt, changes, message):
    path = write(fmt, tmp_path / "ds")
    edit_manifest(path, **changes)
    with pytest.raises(FormatError, match=f"manifest.json: .*{message}"):
        formats.get(fmt).open(path)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("fmt,changes", [
    ("zarr", {"options": {"concurrency": 0}}),  # zarr's sync layer waited forever on it
    ("zarr", {"options": {"concurrency": "many"}}),
    ("npy", {"block_size": 0}),  # block mode divided by it
], ids=["zarr-concurrency-0", "zarr-concurrency-text", "block-size-0"])
def test_read_time_values_left_in_a_manifest_neither_hang_nor_configure_a_reader(tmp_path, fmt, changes):
    path = write(fmt, tmp_path / "ds")
    edit_manifest(path, **changes)
    reader = formats.get(fmt).open(path)
    np.testing.assert_array_equal(reader.read([0, 99]), array_source().read_range(0, 100)[[0, 99]])
    assert reader.block_size >= 1


@pytest.mark.timeout(20)
def test_zarr_concurrency_zero_as_open_option_or_text(tmp_path):
    """0 would hang zarr-python: refused where the option is parsed, as a number or as CLI text."""
    path = write("zarr", tmp_path / "ds")
    for value in (0, "0"):
        with pytest.raises(ValueError, match=r"open option concurrency=0|open option concurrency='0'"):
            formats.get("zarr").open(path, concurrency=value)


@pytest.fixture
def files_dataset(tmp_path):
    return write("files", tmp_path / "ds", array_source(20))


def _replace_index_line(path: Path, first_line: bytes) -> None:
    lines = (path / "index.tsv").read_bytes().splitlines(keepends=True)
    (path / "index.tsv").write_bytes(first_line + b"".join(lines[1:]))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("entry", [b"../../outside.png\t0\n", b"/etc/passwd\t0\n"], ids=["parent", "absolute"])
def test_files_index_entry_outside_the_dataset(files_dataset, entry):
    _replace_index_line(files_dataset, entry)
    with pytest.raises(FormatError, match="index.tsv:1: image path .* points outside the dataset"):
        formats.get("files").open(files_dataset)


@pytest.mark.timeout(30)
def test_files_index_not_utf8(files_dataset):
    _replace_index_line(files_dataset, b"c0/\xff\xfe.png\t0\n")
    with pytest.raises(FormatError, match="index.tsv: unreadable"):
        formats.get("files").open(files_dataset)


@pytest.mark.timeout(30)
def test_files_index_entry_naming_a_folder(files_dataset):
    _replace_index_line(files_dataset, b"c0\t0\n")
    reader = formats.get("files").open(files_dataset)
    with pytest.raises(FormatError, match="c0: cannot read image file \\(not a regular file\\)"):
        reader.read([0])


@pytest.mark.timeout(30)
def test_files_broken_png_chunk(files_dataset):
    reader = formats.get("files").open(files_dataset)
    png = files_dataset / reader.rel_paths[0]
    data = bytearray(png.read_bytes())
    idat = data.find(b"IDAT")
    data[idat - 4:idat] = struct.pack(">I", struct.unpack(">I", data[idat - 4:idat])[0] - 10)
    png.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=f"{png.name}: cannot decode image \\(SyntaxError"):
        reader.read([0])


@pytest.mark.timeout(30)
def test_files_writer_with_class_ids_dot_and_dotdot(tmp_path):
    source = array_source(6, classes=3)
    source.classes = source.class_names = [".", "..", "ok"]
    write("files", tmp_path / "ds", source)
    reader = formats.get("files").open(tmp_path / "ds")
    np.testing.assert_array_equal(reader.read(np.arange(6)), source.read_range(0, 6))
    assert all(p.resolve().is_relative_to((tmp_path / "ds").resolve()) for p in reader.files())


# =================================================================================================
# Overwrites and concurrency
# =================================================================================================
@pytest.mark.timeout(60)
def test_convert_overwrite_refuses_a_foreign_folder(tmp_path):
    from thesis_lib.__main__ import main

    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "ch1.tex").write_text("\\chapter{Introduction}")
    with pytest.raises(SystemExit, match="is a folder that is not a thesis-lab dataset"):
        main(["convert", "--dataset", "synthetic", "--limit", "20", "--fmt", "npy", "--out", str(thesis),
              "--overwrite"])
    assert (thesis / "ch1.tex").read_text() == "\\chapter{Introduction}"


@pytest.mark.timeout(30)
def test_overwrite_refuses_a_regular_file(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="notes.txt is a file that is not a thesis-lab dataset"):
        write("npy", tmp_path / "notes.txt", overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.timeout(30)
def test_leftover_old_folder_of_a_dead_writer_is_removed(tmp_path):
    """A moved-away copy of a dataset is removed; a folder of the same name that holds no dataset
    is not the project's to delete (issue 25)."""
    dead = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process can have it
    shutil.copytree(write("npy", tmp_path / "old").resolve(), tmp_path / f".ds.old-{dead}")
    (tmp_path / f".other.old-{dead}").mkdir()
    (tmp_path / f".other.old-{dead}" / "images.npy").write_bytes(b"the user's")
    write("npy", tmp_path / "ds")
    write("npy", tmp_path / "other")
    assert not (tmp_path / f".ds.old-{dead}").exists()
    assert (tmp_path / f".other.old-{dead}" / "images.npy").read_bytes() == b"the user's"


@pytest.mark.timeout(30)
def test_open_reader_keeps_reading_its_version_across_an_overwrite(tmp_path):
    old, new = array_source(value=7), array_source(value=9)
    write("zarr", tmp_path / "ds", old, chunk_images=16)
    reader = formats.get("zarr").open(tmp_path / "ds")
    write("zarr", tmp_path / "ds", new, chunk_images=16, overwrite=True)
    np.testing.assert_array_equal(reader.read(np.arange(100)), old.read_range(0, 100))
    np.testing.assert_array_equal(formats.get("zarr").open(tmp_path / "ds").read([5]), new.read_range(5, 6))


def _overwrite_repeatedly(fmt: str, path: str, writer: int, rounds: int, report) -> None:
    try:
        for k in range(rounds):
            write(fmt, Path(path), array_source(64, value=1 + 100 * writer + k), overwrite=True)
        report.put(("writer", writer, None))
    except BaseException as exc:  # noqa: BLE001 - the test reports whatever stopped the writer
        report.put(("writer", writer, f"{type(exc).__name__}: {exc}"))


def _read_repeatedly(fmt: str, path: str, stop, report) -> None:
    """Open and read the whole set until told to stop; every read must be one whole version."""
    problems, reads = [], 0
    while not stop.is_set():
        try:
            reader = formats.get(fmt).open(path)
            time.sleep(0.001)  # let a writer swap and clean up in between
            images = reader.read(np.arange(len(reader)))
            values = set(images[:, 1, 1, 0].tolist())
            if 0 in values or len(values) != 1 or not (images[:, 0, 0, 0] == np.arange(64)).all():
                problems.append(f"mixed or zeroed images: values {sorted(values)}")
            reads += 1
            del reader
        except Exception as exc:  # noqa: BLE001 - any failure to read is what the test counts
            problems.append(f"{type(exc).__name__}: {exc}")
    report.put(("reader", reads, problems[:3]))


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize("fmt", ["npy", "zarr"])
def test_concurrent_overwrites_all_succeed_and_a_reader_sees_only_whole_versions(tmp_path, fmt):
    path = str(tmp_path / "ds")
    write(fmt, Path(path), array_source(64, value=1))
    context = multiprocessing.get_context("fork")
    report, stop = context.Queue(), context.Event()
    reader = context.Process(target=_read_repeatedly, args=(fmt, path, stop, report))
    writers = [context.Process(target=_overwrite_repeatedly, args=(fmt, path, w, 30, report)) for w in (1, 2)]
    for process in [reader, *writers]:
        process.start()
    try:
        outcomes = [report.get(timeout=60) for _ in writers]
        stop.set()
        outcomes.append(report.get(timeout=30))
    finally:
        stop.set()
        for process in [reader, *writers]:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    assert [error for kind, _, error in outcomes if kind == "writer"] == [None, None]
    reads, problems = next((count, found) for kind, count, found in outcomes if kind == "reader")
    assert reads > 0 and problems == []
    formats.get(fmt).open(path)  # the last writer's version is whole
    write(fmt, Path(path), array_source(64, value=3), overwrite=True)
    assert len(list((tmp_path / ".ds.versions").iterdir())) == 1  # nothing holds the superseded ones now


# =================================================================================================
# Parameters
# =================================================================================================
@pytest.fixture
def tiny_reader(tmp_path):
    return formats.get("npy").open(write("npy", tmp_path / "ds", array_source(64)))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode,options,name", [
    ("resident", {"chunk_size": -1}, "chunk_size"),
    ("block", {"window": 0}, "window"),
    ("batch", {"crop_padding": -1, "augment": True}, "crop_padding"),
    ("batch", {"prefetch_factor": 0}, "prefetch_factor"),
    ("batch", {"std": (0.0, 0.2, 0.2)}, "std"),
    ("block", {"seed": -1}, "seed"),
])
def test_loader_option_values_are_checked(tiny_reader, mode, options, name):
    with pytest.raises(ValueError, match=f"make_loader: {name} must be"):
        loading.make_loader(tiny_reader, batch_size=16, mode=mode, **options)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("change,name", [
    ({"model": "emulate", "emulate_rate": float("nan")}, "emulate_rate"),
    ({"model": "emulate", "emulate_rate": float("inf")}, "emulate_rate"),
    ({"lr": float("nan")}, "lr"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**40}, "seed"),
])
def test_bench_numbers_must_be_finite_and_in_range(change, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        bench.BenchConfig(**change).resolve().check_runnable()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("options", [{"codec": "zstd", "level": 99}, {"codec": "blosc", "level": 10}],
                         ids=["zstd", "blosc"])
def test_compression_level_is_checked_before_writing(tmp_path, options):
    with pytest.raises(ValueError, match="format 'zarr': write option level=.*: expected an integer in"):
        write("zarr", tmp_path / "ds", **options)
    assert not (tmp_path / "ds").exists()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt,options,name", [
    ("hdf5", {"rdcc_nbytes": -1}, "rdcc_nbytes"),
    ("hdf5", {"block_size": 0}, "block_size"),
    ("files", {"block_size": 0}, "block_size"),
])
def test_read_time_option_values_are_checked(tmp_path, fmt, options, name):
    path = write(fmt, tmp_path / "ds")
    with pytest.raises(ValueError, match=f"open option {name}=.*: expected "):
        formats.get(fmt).open(path, **options)
    with pytest.raises(ValueError, match=f"open option {name}=.*: expected "):  # as CLI text too
        formats.get(fmt).open(path, **{k: str(v) for k, v in options.items()})


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["a folder", "under a file"])
def test_bench_checks_the_record_location_before_training(tmp_path, data_home, monkeypatch, where):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking where the record goes")

    monkeypatch.setattr("thesis_lib.training.fit", no_training)
    (tmp_path / "file").write_text("")
    out = tmp_path if where == "a folder" else tmp_path / "file" / "record.json"
    config = bench.BenchConfig(model="emulate", emulate_rate=0, limit=64, epochs=2, batch_size=32)
    with pytest.raises(ValueError, match="is a folder; give the record's file name|cannot create it"):
        bench.run(config, out=out, progress=False)


@pytest.mark.timeout(60)
def test_sweep_goes_on_past_a_point_whose_run_name_fails(tmp_path):
    from thesis_lib.run.config import BenchConfig

    grid = tmp_path / "grid.yaml"
    good = {"model": "emulate", "emulate_rate": 0, "limit": 600, "epochs": 2}
    grid.write_text(yaml.safe_dump({"grids": [{"model": "emulate", "emulate_rate": "fast"}, good]}))
    done = tmp_path / "results" / f"{sweep.run_name(good)}.json"
    done.parent.mkdir()  # already run: the sweep skips it without papermill
    done.write_text(json.dumps({"epochs": [], "config": BenchConfig.from_mapping(good).resolve().identity}))
    failures = sweep.run_grid(grid, results_dir=tmp_path / "results")
    assert [name[:-9] for name, _ in failures] == ["invalid-emulate_rate=fast-model=emulate"]


@pytest.mark.timeout(60)
def test_loaderbench_limit_below_one_batch(tmp_path, data_home):
    from thesis_lib.tools import loaderbench

    # Once an IndexError; now a set smaller than a batch is measured in one batch of all its images.
    loaderbench.main(limit=100, repeats=1, batches=1, workers=0, only=["npy"], out=tmp_path / "lb.json")
    assert json.loads((tmp_path / "lb.json").read_text())["table"]


@pytest.mark.timeout(120)
def test_convertbench_reports_the_childs_error_not_its_traceback(tmp_path):
    from thesis_lib.tools import convertbench

    with pytest.raises(SourceError) as caught:
        convertbench.main(dataset="imagefolder", root=str(tmp_path / "no-such-set"), sizes=[10], fmts=["npy"],
                          out=tmp_path / "cb.json", workdir=tmp_path)
    assert "no-such-set: does not exist" in str(caught.value) and "Traceback" not in str(caught.value)


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("damage", [{"epochs": "three"}, {"image_size": "big"}], ids=["epochs", "image_size"])
def test_results_skip_and_name_a_record_with_wrong_types(tmp_path, damage):
    shutil.copytree(RECORDS, tmp_path / "records")
    good = sorted((tmp_path / "records").glob("*.json"))
    bad = tmp_path / "records" / "damaged.json"
    bad.write_text(json.dumps({**json.loads(good[0].read_text()), **damage}))
    from thesis_lib.results import report

    with pytest.warns(UserWarning, match="skipping .*damaged.json: "):
        runs = results.load_records(tmp_path / "records")
    assert len(runs) == len(good)
    assert set(report.write_report_tables(runs, tmp_path / "report")) >= {"summary.md", "findings.md"}


@pytest.mark.timeout(120)
def test_report_refuses_a_misspelt_results_folder(tmp_path):
    from thesis_lib.results import report

    with pytest.raises(FileNotFoundError, match="results folder .*reslts does not exist"):
        report.build(tmp_path / "reslts", html=False)
    assert not (tmp_path / "reslts").exists()


@pytest.mark.timeout(60)
def test_results_show_cold_epochs_that_stayed_cached(tmp_path):
    cold = json.loads(next(RECORDS.glob("*-cold-*.json")).read_text())
    for epoch in cold["epochs"]:
        epoch["cached_fraction"] = 1.0  # what eviction on tmpfs leaves
    (tmp_path / "cold.json").write_text(json.dumps(cold))
    assert set(results.epochs_frame(tmp_path)["cache_state"]) == {"cold-unavailable"}


@pytest.mark.timeout(120)
def test_cold_run_on_tmpfs_is_marked_cold_unavailable(monkeypatch):
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)) or cache.can_evict(shm):
        pytest.skip("no writable memory-backed file system at /dev/shm")
    home = shm / f"thesis-lab-test-{os.getpid()}"
    monkeypatch.setenv("THESIS_DATA", str(home))
    try:
        config = bench.BenchConfig(model="emulate", emulate_rate=0, limit=64, epochs=2, batch_size=32, cache="cold")
        with pytest.warns(UserWarning, match="no epoch can be cold"):
            record = bench.run(config, progress=False)
        assert record["cache"] == "cold-unavailable" and record["epochs"][0]["cached_fraction"] > 0.5
    finally:
        shutil.rmtree(home, ignore_errors=True)
