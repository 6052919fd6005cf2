"""Hostile sources and publishing paths, kept fixed (issue 25): each case once deleted a user's
files, wrote into their source folder, read unverified or silently mislabelled data, or failed
late with a message naming nothing. All data is tiny and built here (nothing is downloaded), and
every test has a timeout, so a hang fails.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import ImageFolder

from thesis_lib import SourceError, formats, sources
from thesis_lib.run import bench
from thesis_lib.sources import cifar10, stores
from thesis_lib.training import models

from test_sources import WNIDS, write_cifar, write_tiny_imagenet


def save_png(path: Path, seed: int = 0, size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def png_bytes(seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), seed, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (not following links) and its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- case 1: a linked versions folder ----------------------------------------------------------------
@pytest.mark.timeout(120)
@pytest.mark.parametrize("overwrite", [False, True])
def test_symlinked_versions_folder_is_refused_and_nothing_of_the_users_is_deleted(tmp_path, data_home,
                                                                                  monkeypatch, overwrite):
    from thesis_lib.__main__ import main

    mydocs = tmp_path / "mydocs"
    (mydocs / "thesis").mkdir(parents=True)
    (mydocs / "thesis" / "ch1.tex").write_text("\\chapter{Introduction}")
    (tmp_path / ".out.versions").symlink_to(mydocs)
    monkeypatch.chdir(tmp_path)
    before = tree(mydocs)
    with pytest.raises(SystemExit, match=r"\.out\.versions is a symbolic link \(to .*mydocs\)"):
        main(["convert", "--dataset", "synthetic", "--limit", "20", "--fmt", "npy", "--out", "out",
              *(["--overwrite"] if overwrite else [])])
    assert tree(mydocs) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.versions", "mydocs", "thesis-data"]


@pytest.mark.timeout(60)
def test_clean_up_deletes_only_what_it_marked(tmp_path):
    """In a real versions folder, and beside the dataset, clean-up leaves alone whatever it did not
    create, however it is named; what it made and superseded goes."""
    source = sources.load("synthetic", n=20)
    npy = formats.get("npy")
    npy.write(source, tmp_path / "ds", progress=False)
    first = (tmp_path / "ds").resolve()
    foreign = tmp_path / ".ds.versions" / "20200101T000000-1-deadbeef"  # a version's name, no marker
    (foreign / "notes").mkdir(parents=True)
    (foreign / "notes" / "keep.txt").write_text("mine")
    dead = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    partial = tmp_path / f".ds.partial-{dead}-00000000"  # a partial's name, no marker
    partial.mkdir()
    (partial / "keep.txt").write_text("mine too")
    npy.write(source, tmp_path / "ds", overwrite=True, progress=False)
    assert not first.exists()  # superseded, made here, held by no one
    assert (foreign / "notes" / "keep.txt").read_text() == "mine"
    assert (partial / "keep.txt").read_text() == "mine too"


# -- case 2: superseded versions go with their last reader ------------------------------------------
@pytest.mark.timeout(60)
def test_superseded_version_goes_when_its_last_reader_lets_go(tmp_path):
    npy = formats.get("npy")
    npy.write(sources.load("synthetic", n=20), tmp_path / "ds", progress=False)
    first = (tmp_path / "ds").resolve()
    reader, second_reader = npy.open(tmp_path / "ds"), npy.open(tmp_path / "ds")
    npy.write(sources.load("synthetic", n=30), tmp_path / "ds", overwrite=True, progress=False)
    assert first.is_dir()  # held: the overwrite left it
    with reader:
        assert len(reader) == 20
    assert first.is_dir()  # the second reader still holds it
    with second_reader:
        second_reader.read([0])
    assert not first.exists()  # its last reader let go: no write needed to delete it
    assert len(list((tmp_path / ".ds.versions").iterdir())) == 1
    with npy.open(tmp_path / "ds") as current:  # the current version stays however often it is let go
        assert len(current) == 30
    assert len(npy.open(tmp_path / "ds")) == 30


# -- case 3: cifar10 archives -----------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_cifar10_archive_in_a_read_only_root_is_md5_checked_and_extracted_under_thesis_data(
        tmp_path, data_home, monkeypatch):
    root = tmp_path / "cifar"
    expected = write_cifar(root)
    archive = root / cifar10.ARCHIVE
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    root.chmod(0o555)  # the user's folder, read-only (root ignores the mode: the listing is checked too)
    try:
        with pytest.raises(SourceError, match=rf"{archive}: md5 {md5} is not the official CIFAR-10 archive's "
                                              r"\(c58f30108f718f92721af3b95e74349a\); pass allow_unofficial=True"):
            sources.load("cifar10", root)
        assert not (data_home / "extracted").exists()  # refused before anything was extracted

        unofficial = sources.load("cifar10", root, split="test", allow_unofficial=True)
        assert unofficial.spec["allow_unofficial"] is True and unofficial.spec["archive"] == f"md5:{md5}"
        np.testing.assert_array_equal(unofficial.read_range(0, len(unofficial)), expected["test"][0])

        monkeypatch.setattr(cifar10, "CHECKSUM", f"md5:{md5}")  # now it passes for the official one
        src = sources.load("cifar10", archive, split="train")  # the archive itself as root, too
        np.testing.assert_array_equal(src.read_range(0, len(src)), expected["train"][0])
        assert "allow_unofficial" not in src.spec and src.spec["root"] == str(archive)
    finally:
        root.chmod(0o755)
    assert sorted(p.name for p in root.iterdir()) == [cifar10.ARCHIVE]  # nothing written beside it
    assert (data_home / "extracted" / f"cifar10-{md5[:16]}" / cifar10.FOLDER / "test_batch").is_file()


# -- case 4: sources behave like torchvision's ImageFolder ----------------------------------------------
@pytest.mark.timeout(60)
def test_symlinked_class_folders_are_followed_as_torchvision_does(tmp_path):
    elsewhere, root = tmp_path / "elsewhere", tmp_path / "set"
    for k, name in enumerate("ab"):
        save_png(elsewhere / name / "0.png", seed=k)
    save_png(root / "c" / "0.png", seed=2)
    (root / "a").symlink_to(elsewhere / "a")
    (root / "b").symlink_to(elsewhere / "b")
    src = sources.load("imagefolder", root)
    assert src.classes == ImageFolder(root).classes == ["a", "b", "c"]
    np.testing.assert_array_equal(sorted(src.labels), [0, 1, 2])
    (elsewhere / "a" / "loop").symlink_to(elsewhere / "a")  # a link to the folder that holds it
    with pytest.raises(SourceError, match=rf"{root}/a/loop: a symbolic link to a folder that holds it \(a loop\)"):
        sources.load("imagefolder", root)


@pytest.mark.timeout(60)
def test_empty_class_folder_is_refused_with_its_name(tmp_path):
    for k, name in enumerate(["a", "c"]):
        save_png(tmp_path / "set" / "train" / name / "0.png", seed=k)
        save_png(tmp_path / "set" / "val" / name / "0.png", seed=k)
    (tmp_path / "set" / "train" / "b").mkdir()
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes b"):
        ImageFolder(tmp_path / "set" / "train")  # what torchvision does
    for split in ("train", "val"):  # dropped, c would be 1 here but 2 to torchvision
        with pytest.raises(SourceError, match=r"class folder train/b holds no images in any split; dropped, it "
                                              "would shift the labels"):
            sources.load("imagefolder", tmp_path / "set", split=split)
    (tmp_path / "set" / "train" / "b" / "notes.txt").write_text("not an image")
    with pytest.raises(SourceError, match=r"class folder train/b holds no images"):
        sources.load("imagefolder", tmp_path / "set", split="train")
    save_png(tmp_path / "set" / "val" / "b" / "0.png", seed=5)  # b is a class now, with an index everywhere
    assert sources.load("imagefolder", tmp_path / "set", split="train").classes == ["a", "b", "c"]
    flat = tmp_path / "flat"  # no split folders
    save_png(flat / "a" / "0.png")
    (flat / "b").mkdir()
    with pytest.raises(SourceError, match=rf"{flat}: class folder b holds no images"):
        sources.load("imagefolder", flat)


@pytest.mark.timeout(60)
def test_repeated_zip_member_names_are_refused_with_their_names(tmp_path):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as z, pytest.warns(UserWarning, match="Duplicate name"):
        z.writestr("a/0.png", png_bytes(1))
        z.writestr("b/0.png", png_bytes(2))
        z.writestr("a/0.png", png_bytes(3))
    with pytest.raises(SourceError, match=rf"{archive}: holds 1 member name twice or more \(a/0.png\); "
                                          "only the last copy of each could be read"):
        sources.load("imagefolder", archive)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("damage", ["missing", "unknown class"])
def test_tiny_imagenet_broken_val_labels_are_named_not_an_empty_accuracy(tmp_path, data_home, damage):
    root = write_tiny_imagenet(tmp_path)
    notes = root / "val" / "val_annotations.txt"
    if damage == "missing":
        notes.unlink()
        message = rf"{notes}: missing; it gives the labels of the val split's 4 images"
    else:
        notes.write_text(notes.read_text() + "val_0.JPEG\tn99999999\t0\t0\t1\t1\n")
        message = rf"{notes}, line 5: class 'n99999999' is not in wnids.txt"
    assert len(sources.load("tiny-imagenet", root)) == 2 * len(WNIDS)  # the train split is fine
    with pytest.raises(SourceError, match=message):
        sources.load("tiny-imagenet", root, split="val")
    config = bench.BenchConfig(dataset="tiny-imagenet", root=str(root), eval_limit=4)
    with pytest.raises(SourceError, match=message):  # once None: the record said accuracy: null
        bench._eval_reader(config)


@pytest.mark.timeout(60)
def test_a_missing_held_out_split_still_means_no_evaluation(tmp_path, data_home):
    save_png(tmp_path / "set" / "a" / "0.png")
    assert bench._eval_reader(bench.BenchConfig(dataset="imagefolder", root=str(tmp_path / "set"))) is None


# -- case 5: a model's minimum image size -------------------------------------------------------------
@pytest.mark.timeout(240)
def test_image_size_below_a_models_minimum_is_named(tmp_path):
    assert set(models.MIN_IMAGE_SIZE) == set(models.names())
    torch.manual_seed(0)
    for name, least in models.MIN_IMAGE_SIZE.items():
        builder = models._BUILDERS[name]
        with torch.no_grad():
            builder(3, least).train()(torch.zeros(2, 3, least, least))  # the minimum runs
            if least > 1:
                with pytest.raises(RuntimeError):  # and one pixel less does not: the constant is measured
                    builder(3, least - 1).train()(torch.zeros(2, 3, least - 1, least - 1))
        models.check_image_size(name, least)
        if least > 1:
            with pytest.raises(ValueError, match=rf"image_size={least - 1} is too small for model '{name}': "
                                                 rf"it needs at least {least} px"):
                models.check_image_size(name, least - 1)
    with pytest.raises(ValueError, match="image_size=4 is too small for model 'densenet': it needs at least 8 px"):
        models.build("densenet", 10, 4)
    with pytest.raises(ValueError, match="vgg"):
        models.check_image_size("vgg", 32)


# -- case 6: zip members that expand to gigabytes ------------------------------------------------------
@pytest.mark.timeout(60)
def test_zip_member_too_large_or_too_compressed_is_refused_before_decompressing(tmp_path):
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("a/0.png", png_bytes(1))
        with z.open("b/0.png", "w", force_zip64=True) as member:  # 257 MiB of zeros, about 1 MB packed
            for _ in range(257):
                member.write(bytes(1 << 20))
    assert big.stat().st_size < 2 << 20
    src = sources.load("imagefolder", big)
    assert src.members == ["a/0.png", "b/0.png"]
    with pytest.raises(SourceError, match=rf"{big}:b/0.png: member would expand to 269,484,032 bytes, "
                                          r"more than the 256 MiB an image may have; not decompressed"):
        src.read_range(1, 2)
    assert src.read_range(0, 1).shape == (1, 8, 8, 3)  # the other member reads

    dense = tmp_path / "dense.zip"
    with zipfile.ZipFile(dense, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("a/0.bmp", bytes(2 << 20))  # 2 MiB that pack about 1000x
    with pytest.raises(SourceError, match=rf"{dense}:a/0.bmp: member would expand 1,0\d\dx .*more than the "
                                          "1000x an image may"):
        sources.load("imagefolder", dense)
    assert stores.MAX_MEMBER_BYTES == 256 << 20 and stores.MAX_RATIO == 1000
