"""The storage check (thesis_lib.tools.storage): figures on disk and on tmpfs, the cache, bad input, clean-up."""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile

import pytest

from thesis_lib import __main__ as cli
from thesis_lib.core import cache
from thesis_lib.tools import storage

SMALL = {"size_mb": 8, "budget_s": 0.15}


def scratch_files(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".storage-check")]


@pytest.fixture
def disk_folder(tmp_path):
    if not cache.can_evict(tmp_path):
        pytest.skip(f"{tmp_path} is on {cache.filesystem(tmp_path)}, not a disk")
    return tmp_path


@pytest.fixture
def shm_folder():
    if not os.path.isdir("/dev/shm") or cache.filesystem("/dev/shm") != "tmpfs":
        pytest.skip("no tmpfs at /dev/shm")
    folder = tempfile.mkdtemp(dir="/dev/shm")
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def quick_measure(monkeypatch):
    """Count :func:`storage.measure` calls and keep each one short, whatever its caller asks."""
    calls, real = [], storage.measure

    def measure(folder, **kwargs):
        calls.append(folder)
        return real(folder, **{**kwargs, **SMALL})
    monkeypatch.setattr(storage, "measure", measure)
    return calls


def test_disk_figures_are_positive(disk_folder):
    figures = storage.measure(disk_folder, **SMALL)
    assert figures["method"] in ("o_direct", "evicted")
    assert figures["evictable"] and not figures["memory_backed"]
    assert all(figures[key] > 0 for key in storage.FIGURE_KEYS)
    assert figures["folder"] == str(disk_folder.resolve()) and figures["size_mb"] == 8
    assert json.loads(json.dumps(figures)) == figures
    assert scratch_files(disk_folder) == []


def test_falls_back_to_eviction_without_o_direct(disk_folder, monkeypatch):
    real_open = os.open

    def refuse_direct(path, flags, *args):
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)
    monkeypatch.setattr(os, "open", refuse_direct)
    figures = storage.measure(disk_folder, **SMALL)
    assert figures["method"] == "evicted" and "evict" in figures["note"]
    assert all(figures[key] > 0 for key in storage.FIGURE_KEYS)


def test_tmpfs_is_memory_backed(shm_folder):
    figures = storage.measure(shm_folder, **SMALL)
    assert figures["memory_backed"] and not figures["evictable"]
    assert figures["method"] == "memory" and "tmpfs" in figures["note"]
    assert all(figures[key] is None for key in storage.DISK_KEYS)
    assert figures["page_cache_gb_s"] > 0
    assert os.listdir(shm_folder) == []


def test_folder_that_keeps_its_cache_gives_no_disk_figures(disk_folder, monkeypatch):
    monkeypatch.setattr(cache, "resident_fraction", lambda paths: 1.0)
    figures = storage.measure(disk_folder, **SMALL)
    assert not figures["memory_backed"] and not figures["evictable"] and figures["method"] == "memory"
    assert all(figures[key] is None for key in storage.DISK_KEYS)
    assert "Eviction left 100%" in figures["note"]


def test_cache_measures_once_until_refresh(data_home, disk_folder, quick_measure):
    first = storage.storage_figures(disk_folder)
    assert storage.storage_figures(disk_folder) == first
    assert len(quick_measure) == 1
    saved = json.loads((data_home / storage.CACHE_FILE).read_text())
    assert list(saved.values()) == [first]
    assert storage.storage_figures(disk_folder, refresh=True) != first  # a new timing, a new timestamp
    assert len(quick_measure) == 2


def test_default_folder_is_the_data_root(data_home, quick_measure):
    assert storage.storage_figures()["folder"] == str(data_home.resolve())


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_corrupt_cache_warns_and_measures_again(data_home, disk_folder, quick_measure, text):
    (data_home / storage.CACHE_FILE).write_text(text)
    with pytest.warns(UserWarning, match=storage.CACHE_FILE):
        figures = storage.storage_figures(disk_folder)
    assert len(quick_measure) == 1
    assert list(json.loads((data_home / storage.CACHE_FILE).read_text()).values()) == [figures]


@pytest.mark.parametrize("check", [storage.measure, storage.storage_figures, storage.fio_figures])
def test_folder_must_exist_and_be_a_folder(tmp_path, data_home, check):
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'missing'} does not exist")):
        check(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'file'} is not a folder")):
        check(tmp_path / "file")


@pytest.mark.parametrize("size_mb", [0, -1, 1.5, "8", True, None])
def test_size_must_be_a_positive_int(tmp_path, data_home, size_mb):
    for check in (storage.measure, storage.storage_figures, storage.fio_figures):
        with pytest.raises(ValueError, match="size_mb"):
            check(tmp_path, size_mb=size_mb)


def test_read_only_folder_is_named_and_left_clean(tmp_path, monkeypatch):
    real_open = os.open

    def read_only(path, flags, *args):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args)
    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(OSError, match=rf"{re.escape(str(tmp_path))}.*read-only") as caught:
        storage.measure(tmp_path, **SMALL)
    assert caught.value.errno == errno.EROFS
    assert list(tmp_path.iterdir()) == []


def test_full_folder_is_named_and_left_clean(tmp_path, monkeypatch):
    real_write, writes = os.write, []

    def fill_up(fd, data):
        writes.append(fd)
        if len(writes) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)
    monkeypatch.setattr(os, "write", fill_up)
    with pytest.raises(OSError, match=rf"{re.escape(str(tmp_path))}.*no space") as caught:
        storage.measure(tmp_path, **SMALL)
    assert caught.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
def test_scratch_file_is_removed_when_measuring_fails(tmp_path, monkeypatch, interruption):
    def interrupt(*args):
        assert len(scratch_files(tmp_path)) == 1  # the scratch file is there while reading
        raise interruption
    monkeypatch.setattr(storage, "_timed_reads", interrupt)
    with pytest.raises(interruption):
        storage.measure(tmp_path, **SMALL)
    assert list(tmp_path.iterdir()) == []


needs_fio = pytest.mark.skipif(shutil.which("fio") is None, reason="fio is not installed")


@pytest.mark.slow
@needs_fio
def test_fio_figures(disk_folder):
    figures = storage.fio_figures(disk_folder, size_mb=8, runtime_s=0.3)
    assert all(figures[key] > 0 for key in storage.DISK_KEYS)
    assert figures["page_cache_gb_s"] is None and figures["tool_version"].startswith("fio")
    assert list(disk_folder.iterdir()) == []


@needs_fio
def test_fio_on_tmpfs_is_labelled(shm_folder):
    try:
        figures = storage.fio_figures(shm_folder, size_mb=8, runtime_s=0.2)
    except storage.StorageError as exc:  # kernels before 6.6 refuse O_DIRECT on tmpfs
        assert "fio failed" in str(exc)
    else:
        assert "from memory, not a disk" in figures["note"]
    assert os.listdir(shm_folder) == []


def test_fio_missing_is_said(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(storage.StorageError, match="fio is not on PATH"):
        storage.fio_figures(tmp_path, size_mb=8)


def test_cli_prints_a_table(data_home, disk_folder, quick_measure, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    cli.main(["storage", "--folder", str(disk_folder), "--size-mb", "8", "--fio"])
    out = capsys.readouterr().out
    assert "no fio figures: " in out and "fio is not on PATH" in out
    assert all(key in out for key in storage.FIGURE_KEYS) and str(disk_folder.resolve()) in out
    assert len(quick_measure) == 1
