"""Hostile converted datasets and writes (issue 25): HDF5 links that lead out of the file, errors
that name the dataset as the user opened it, and a disk that fills up during a conversion."""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from thesis_lib import FormatError, formats
from thesis_lib.formats import base
from thesis_lib.sources.base import ArraySource

N, SIZE = 60, 8


def source(value: int | None = None) -> ArraySource:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N, SIZE, SIZE, 3), dtype=np.uint8)
    if value is not None:
        images[:] = value
    return ArraySource(images, rng.integers(0, 3, N), classes=["a", "b", "c"])


def write(fmt: str, path: Path, **options) -> Path:
    formats.get(fmt).write(source(), path, progress=False, **options)
    return path


# -- HDF5 data outside the file --------------------------------------------------------------------
def foreign_file(tmp_path: Path) -> Path:
    """Another HDF5 file with datasets of the right shapes, its images all 255."""
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["images"] = np.full((N, SIZE, SIZE, 3), 255, np.uint8)
        f["labels"] = np.zeros(N, np.int64)
    return other


# Every read path that used to follow an external link: index, fancy and chunks read the other
# file's pixels, auto (direct) mapped data.h5 at the other file's offsets.
READ_PATHS = [({}, "auto"), ({}, "index"), ({}, "fancy"), ({"chunk_images": 20}, "chunks"),
              ({"chunk_images": 20}, "auto")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["images", "labels"])
@pytest.mark.parametrize("layout,read_path", READ_PATHS)
def test_hdf5_external_link_is_refused_at_open(tmp_path, name, layout, read_path):
    path = write("hdf5", tmp_path / "ds", **layout)
    other = foreign_file(tmp_path)
    with h5py.File(path / "data.h5", "a") as f:
        del f[name]
        f[name] = h5py.ExternalLink(str(other), f"/{name}")
    with pytest.raises(FormatError, match=rf"data\.h5: '{name}' is an external link to .*other\.h5:/{name}"):
        formats.get("hdf5").open(path, read_path=read_path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["images", "labels"])
def test_hdf5_soft_link_is_refused_at_open(tmp_path, name):
    path = write("hdf5", tmp_path / "ds")
    with h5py.File(path / "data.h5", "a") as f:
        f.move(name, "elsewhere")
        f[name] = h5py.SoftLink("/elsewhere")
    with pytest.raises(FormatError, match=rf"data\.h5: '{name}' is a soft link to /elsewhere"):
        formats.get("hdf5").open(path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["images", "labels"])
def test_hdf5_virtual_dataset_over_another_file_is_refused_at_open(tmp_path, name):
    path = write("hdf5", tmp_path / "ds")
    other = foreign_file(tmp_path)
    with h5py.File(other, "r") as f:
        shape, dtype = f[name].shape, f[name].dtype
    layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
    layout[:] = h5py.VirtualSource(str(other), name, shape=shape)
    with h5py.File(path / "data.h5", "a") as f:
        del f[name]
        f.create_virtual_dataset(name, layout)
    with pytest.raises(FormatError, match=rf"data\.h5: dataset '/{name}' is virtual, mapping .*other\.h5:/?{name}"):
        formats.get("hdf5").open(path)


@pytest.mark.timeout(60)
def test_hdf5_images_stored_in_an_external_raw_file_are_refused_at_open(tmp_path):
    path = write("hdf5", tmp_path / "ds")
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"\xff" * (N * SIZE * SIZE * 3))
    with h5py.File(path / "data.h5", "a") as f:
        del f["images"]
        f.create_dataset("images", (N, SIZE, SIZE, 3), np.uint8, external=[(str(raw), 0, raw.stat().st_size)])
    with pytest.raises(FormatError, match=r"data\.h5: dataset '/images' stores its bytes in external files .*raw\.bin"):
        formats.get("hdf5").open(path)


@pytest.mark.timeout(60)
def test_hdf5_virtual_dataset_inside_the_file_is_refused_as_virtual(tmp_path):
    path = write("hdf5", tmp_path / "ds")
    shape = (N, SIZE, SIZE, 3)
    layout = h5py.VirtualLayout(shape=shape, dtype=np.uint8)
    layout[:] = h5py.VirtualSource(".", "stored", shape=shape)
    with h5py.File(path / "data.h5", "a") as f:
        f.move("images", "stored")
        f.create_virtual_dataset("images", layout)
    with pytest.raises(FormatError, match=r"data\.h5: dataset '/images' is virtual, mapping this file:/?stored"):
        formats.get("hdf5").open(path)


# -- errors name the path the user opened, then the version ------------------------------------------
def assert_names_opened_path(exc: Exception, shown: str, file: str) -> None:
    message = str(exc)
    assert message.startswith(f"{shown} (version "), message
    assert f"): {file}" in message and ".versions" not in message, message


@pytest.mark.timeout(60)
def test_an_error_at_open_names_the_opened_path_then_the_version(tmp_path):
    path = write("npy", tmp_path / "ds")
    (path / "images.npy").write_bytes(b"not an npy file")
    with pytest.raises(FormatError) as caught:
        formats.get("npy").open(path)
    assert_names_opened_path(caught.value, str(path), "images.npy: not a readable .npy file")


@pytest.mark.timeout(60)
def test_a_relative_path_is_named_as_given(tmp_path, monkeypatch):
    write("zarr", tmp_path / "ds", chunk_images=20)
    next(p for p in (tmp_path / "ds" / "images" / "c").rglob("*") if p.is_file()).unlink()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FormatError) as caught:
        formats.get("zarr").open("ds")
    assert_names_opened_path(caught.value, "ds", "images/c/")


@pytest.mark.timeout(60)
def test_an_error_while_reading_names_the_opened_path_then_the_version(tmp_path):
    path = write("hdf5", tmp_path / "ds", chunk_images=20, checksum=True)
    with h5py.File(path / "data.h5", "r") as f:
        offset = f["images"].id.get_chunk_info(1).byte_offset
    with open(path / "data.h5", "r+b") as f:
        f.seek(offset + 10)
        f.write(b"\x00" * 64)
    with formats.get("hdf5").open(path) as reader:
        with pytest.raises(FormatError) as caught:
            reader.read([25])
        assert_names_opened_path(caught.value, str(path), "data.h5: image data unreadable")
        with pytest.raises(IndexError, match=rf"^{path} \(version [^)]+\): index {N} out of range"):
            reader.read([N])


@pytest.mark.timeout(60)
def test_an_unversioned_folder_is_named_as_it_is(tmp_path):
    """A dataset written before versions existed is a plain folder: its own path is the name."""
    write("npy", tmp_path / "ds")
    version = tmp_path / "ds"
    plain = tmp_path / "plain"
    os.rename(version.resolve(), plain)
    (plain / "images.npy").write_bytes(b"junk")
    with pytest.raises(FormatError, match=rf"^{plain}/images\.npy: not a readable"):
        formats.get("npy").open(plain)


# -- a full disk during a conversion ----------------------------------------------------------------
def _fill_up(monkeypatch, name: str) -> None:
    """Make the writer's file ``name`` a link to /dev/full, where every write fails with ENOSPC:
    a real full-disk error, from the kernel, through each library's own write path."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    new_partial = base.version_folders.new_partial

    def partial_on_a_full_disk(path):
        partial = new_partial(path)
        (partial / name).symlink_to("/dev/full")
        return partial
    monkeypatch.setattr(base.version_folders, "new_partial", partial_on_a_full_disk)


def assert_disk_full_reported(caught, path: Path, file: str) -> None:
    """The error is ENOSPC, names the dataset, the file (a regular expression) and the full disk."""
    exc = caught.value
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC, repr(exc)
    expected = rf"{re.escape(str(path))}: no space left on the disk, writing {file}; the partial copy was removed"
    assert re.search(expected, str(exc)), str(exc)
    assert list(path.parent.iterdir()) == [], "the partial copy stays behind"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt,file", [("npy", "images.npy"), ("npy", "labels.npy"), ("cupy", "images.u8"),
                                      ("cupy", "labels.npy"), ("hdf5", "data.h5")])
def test_a_full_disk_is_named_and_the_partial_copy_removed(tmp_path, monkeypatch, fmt, file):
    _fill_up(monkeypatch, file)
    path = tmp_path / "out" / "ds"
    with pytest.raises(OSError) as caught:
        formats.get(fmt).write(source(), path, progress=False)
    assert_disk_full_reported(caught, path, re.escape(file))


@pytest.mark.timeout(60)
def test_a_full_disk_under_zarr_is_named(tmp_path, monkeypatch):
    from zarr.storage import _local

    put = _local._put

    def put_on_a_full_disk(file, value, exclusive=False):
        if "/c/" in str(file):  # chunk data: the metadata fits, the images do not
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return put(file, value, exclusive)
    monkeypatch.setattr(_local, "_put", put_on_a_full_disk)
    path = tmp_path / "out" / "ds"
    with pytest.raises(OSError) as caught:
        formats.get("zarr").write(source(), path, progress=False)
    assert_disk_full_reported(caught, path, "images")


def _save_failing_with(monkeypatch, code: int) -> None:
    """Every PIL save fails as a write does, with ``code`` and no file name."""
    from PIL import Image

    def save(self, fp, *args, **kwargs):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(Image.Image, "save", save)


@pytest.mark.timeout(60)
def test_a_full_disk_under_image_files_is_named(tmp_path, monkeypatch):
    _save_failing_with(monkeypatch, errno.ENOSPC)
    path = tmp_path / "out" / "ds"
    with pytest.raises(OSError) as caught:
        formats.get("files").write(source(), path, progress=False)
    assert_disk_full_reported(caught, path, r"[abc]/\d+\.png")


@pytest.mark.timeout(60)
def test_other_write_errors_pass_unchanged(tmp_path, monkeypatch):
    _save_failing_with(monkeypatch, errno.EACCES)
    path = tmp_path / "out" / "ds"
    with pytest.raises(PermissionError, match="Permission denied") as caught:
        formats.get("files").write(source(), path, progress=False)
    assert "no space" not in str(caught.value) and list(path.parent.iterdir()) == []
