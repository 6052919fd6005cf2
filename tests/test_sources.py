"""Data sources: official-layout fixtures written here, the real CIFAR-10 zip when present, bad input."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import pickle
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from thesis_lib import SourceError, sources
from thesis_lib.core import paths
from thesis_lib.sources import cifar10, download, hires
from thesis_lib.sources.base import LimitedSource, ResizedSource
from thesis_lib.sources.imagefolder import FileSource
from thesis_lib.sources.synthetic import SyntheticSource

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
WNIDS = ["n01443537", "n01629819", "n01641577"]


def rgb(seed: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save_image(path: Path, array: np.ndarray, fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, fmt)


def decoded(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def zip_tree(folder: Path, archive: Path, wrapper: str = "") -> Path:
    assert not archive.resolve().is_relative_to(folder.resolve()), "the archive would swallow itself"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(folder.rglob("*")):
            z.write(path, f"{wrapper}{path.relative_to(folder).as_posix()}")
    return archive


# --- official CIFAR-10 python archive --------------------------------------------------------------

def cifar_pickle(content: dict) -> bytes:
    """Pickle like the official files: protocol 2, bytes keys, arrays from ``numpy.core``."""
    return pickle.dumps(content, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def write_cifar(root: Path, per_batch: int = 4) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A small ``cifar-10-python.tar.gz`` in ``root``; returns the expected HWC images and labels per split."""
    rng = np.random.default_rng(1)
    files = {"batches.meta": cifar_pickle({b"label_names": [n.encode() for n in CIFAR_NAMES],
                                           b"num_cases_per_batch": per_batch, b"num_vis": 3072})}
    expected = {"train": [], "test": []}
    for split, batch in [("train", f"data_batch_{i}") for i in range(1, 6)] + [("test", "test_batch")]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        files[batch] = cifar_pickle({b"batch_label": batch.encode(), b"labels": labels, b"data": data,
                                     b"filenames": [b"x.png"] * per_batch})
        expected[split].append((data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.array(labels)))
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(root / cifar10.ARCHIVE, "w:gz") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(f"{cifar10.FOLDER}/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return {split: (np.concatenate([d for d, _ in parts]), np.concatenate([l for _, l in parts]))
            for split, parts in expected.items()}


def official(archive: Path, monkeypatch) -> Path:
    """Make ``archive`` pass for the official one: its md5 becomes the expected one."""
    monkeypatch.setattr(cifar10, "CHECKSUM", "md5:" + hashlib.md5(archive.read_bytes()).hexdigest())
    return archive


def extracted(data_home: Path) -> Path:
    """The one folder the archive was extracted into, under the data folder."""
    (folder,) = (data_home / "extracted").glob(f"cifar10-*/{cifar10.FOLDER}")
    return folder


@pytest.fixture
def cifar_root(tmp_path, data_home, monkeypatch):
    expected = write_cifar(tmp_path / "cifar")
    official(tmp_path / "cifar" / cifar10.ARCHIVE, monkeypatch)
    return tmp_path / "cifar", expected


def test_cifar10_reads_official_archive(cifar_root, data_home):
    root, expected = cifar_root
    for split in ("train", "test"):
        src = sources.load("cifar10", root, split=split)
        images, labels = expected[split]
        assert len(src) == len(images) and src.image_shape == (32, 32, 3)
        assert src.class_names == CIFAR_NAMES
        np.testing.assert_array_equal(src.labels, labels)
        np.testing.assert_array_equal(src.read_range(0, len(src)), images)
        np.testing.assert_array_equal(src.read_range(3, 9), images[3:9])  # across batch boundaries
        assert src.spec.items() >= {"name": "cifar10", "root": str(root / cifar10.ARCHIVE), "split": split}.items()
        assert "allow_unofficial" not in src.spec
        assert len(src.spec["content"]) == 16  # the files' fingerprint
    assert (extracted(data_home) / "data_batch_5").is_file()  # extracted once, under the data folder
    assert sorted(p.name for p in root.iterdir()) == [cifar10.ARCHIVE]  # the user's folder is only read
    assert not list(data_home.rglob(".extract-*"))


def test_cifar10_chunks_load_each_batch_once(cifar_root, monkeypatch):
    root, expected = cifar_root
    src = sources.load("cifar10", root)
    loads = []
    original = type(src).load_block
    monkeypatch.setattr(type(src), "load_block", lambda self, b: loads.append(b) or original(self, b))
    chunks = list(src.chunks(3))
    np.testing.assert_array_equal(np.concatenate([c for c, _ in chunks]), expected["train"][0])
    assert loads == [0, 1, 2, 3, 4]


def test_cifar10_from_extracted_folder(cifar_root, data_home):
    root, expected = cifar_root
    sources.load("cifar10", root)  # extracts
    (root / cifar10.ARCHIVE).unlink()
    src = sources.load("cifar10", extracted(data_home), split="test")
    np.testing.assert_array_equal(src.read_range(0, len(src)), expected["test"][0])


@pytest.mark.parametrize("payload, message", [
    (b"not a pickle", "not a CIFAR-10 pickle"),
    (pickle.dumps({b"data": np.zeros((4, 3072), np.uint8)}, protocol=2), "lacks 'labels'"),
    (b"cos\nsystem\n(S'echo pwned'\ntR.", "refusing to load os.system"),
])
def test_cifar10_bad_batch(cifar_root, data_home, payload, message):
    root, _ = cifar_root
    sources.load("cifar10", root)
    (extracted(data_home) / "data_batch_2").write_bytes(payload)
    with pytest.raises(SourceError, match=message) as error:
        sources.load("cifar10", root)
    assert "data_batch_2" in str(error.value)


def test_cifar10_missing_or_wrong_root(tmp_path):
    with pytest.raises(SourceError, match=rf"{tmp_path / 'nowhere'}: does not exist"):
        sources.load("cifar10", tmp_path / "nowhere")
    with pytest.raises(SourceError, match=rf"{tmp_path}: holds no cifar-10-python.tar.gz"):
        sources.load("cifar10", tmp_path)


def test_cifar10_unknown_split(cifar_root):
    with pytest.raises(SourceError, match="no split 'val'"):
        sources.load("cifar10", cifar_root[0], split="val")


def test_cifar10_download_verifies_and_extracts(tmp_path, data_home, monkeypatch):
    write_cifar(tmp_path / "server")
    archive = tmp_path / "server" / cifar10.ARCHIVE
    monkeypatch.setattr(cifar10, "URL", archive.as_uri())
    monkeypatch.setattr(cifar10, "CHECKSUM", "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest())
    src = sources.load("cifar10", download=True, split="test")
    assert len(src) == 4 and (data_home / "downloads" / cifar10.ARCHIVE).is_file()
    assert src.spec["root"] == str(data_home / "cifar10" / cifar10.FOLDER)


# --- official tiny-imagenet-200 layout -------------------------------------------------------------

def write_tiny_imagenet(parent: Path, per_class: int = 2) -> Path:
    """A small ``tiny-imagenet-200`` tree: grayscale JPEGs, ``.DS_Store`` strays, no final newline in wnids."""
    root = parent / "tiny-imagenet-200"
    root.mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(WNIDS))
    (root / "words.txt").write_text("n00001740\tentity\n" + "".join(
        f"{w}\t{name}, other name\n" for w, name in zip(WNIDS, ["goldfish", "salamander", "eft"])))
    for c, wnid in enumerate(WNIDS):
        folder = root / "train" / wnid
        for k in range(per_class):
            image = rgb(10 * c + k, 64, 64)
            save_image(folder / "images" / f"{wnid}_{k}.JPEG", image[..., 0] if k == 0 else image, "JPEG")
        boxes = [f"{wnid}_{k}.JPEG\t0\t0\t63\t63\n" for k in range(per_class)]
        (folder / f"{wnid}_boxes.txt").write_text("".join(boxes))
        (folder / "images" / ".DS_Store").write_bytes(b"\0\1junk")
    (root / "train" / ".DS_Store").write_bytes(b"\0\1junk")
    notes = []
    for k, wnid in enumerate([WNIDS[2], WNIDS[0], WNIDS[1], WNIDS[2]]):
        save_image(root / "val" / "images" / f"val_{k}.JPEG", rgb(100 + k, 64, 64)[..., 1], "JPEG")
        notes.append(f"val_{k}.JPEG\t{wnid}\t1\t2\t60\t61\n")
    (root / "val" / "val_annotations.txt").write_text("".join(notes))
    (root / "val" / ".DS_Store").write_bytes(b"\0\1junk")
    save_image(root / "test" / "images" / "test_0.JPEG", rgb(7, 64, 64), "JPEG")
    return root


@pytest.fixture
def tiny_root(tmp_path):
    return write_tiny_imagenet(tmp_path)


def test_tiny_imagenet_train(tiny_root):
    src = sources.load("tiny-imagenet", tiny_root.parent)
    assert src.classes == WNIDS and src.class_names == ["goldfish", "salamander", "eft"]
    assert len(src) == 6 and src.image_shape == (64, 64, 3)
    np.testing.assert_array_equal(src.labels, [0, 1, 2, 0, 1, 2])  # dealt out class by class
    images = src.read_range(0, len(src))
    gray = images[:3]  # image 0 of each class was saved as grayscale
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    second = tiny_root / "train" / WNIDS[1] / "images" / f"{WNIDS[1]}_1.JPEG"
    np.testing.assert_array_equal(images[4], decoded(second))


def test_tiny_imagenet_val_uses_annotations(tiny_root):
    src = sources.load("tiny-imagenet", tiny_root, split="val")
    np.testing.assert_array_equal(src.labels, [0, 1, 2, 2])  # annotations say 2, 0, 1, 2: dealt out by class
    np.testing.assert_array_equal(src.get(0)[0], decoded(tiny_root / "val" / "images" / "val_1.JPEG"))


def test_tiny_imagenet_from_zip_matches_folder(tiny_root, tmp_path):
    (tmp_path / "zips").mkdir()
    archive = zip_tree(tiny_root, tmp_path / "zips" / "tiny-imagenet-200.zip", wrapper="tiny-imagenet-200/")
    from_zip = sources.load("tiny-imagenet", archive, split="val")
    from_folder = sources.load("tiny-imagenet", tiny_root, split="val")
    np.testing.assert_array_equal(from_zip.read_range(0, 4), from_folder.read_range(0, 4))
    np.testing.assert_array_equal(from_zip.labels, from_folder.labels)


def test_tiny_imagenet_test_split_is_unlabelled(tiny_root):
    with pytest.raises(SourceError, match=rf"{tiny_root / 'test'}: .*unlabelled"):
        sources.load("tiny-imagenet", tiny_root, split="test")


def test_tiny_imagenet_annotation_with_unknown_class(tiny_root):
    notes = tiny_root / "val" / "val_annotations.txt"
    notes.write_text(notes.read_text() + "val_0.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(SourceError, match=rf"{notes}, line 5: class 'n99999999' is not in wnids.txt"):
        sources.load("tiny-imagenet", tiny_root, split="val")


def test_tiny_imagenet_wrong_layout(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(SourceError, match=rf"{tmp_path}: holds no tiny-imagenet-200/"):
        sources.load("tiny-imagenet", tmp_path)


def test_tiny_imagenet_undecodable_image(tiny_root):
    bad = tiny_root / "train" / WNIDS[1] / "images" / f"{WNIDS[1]}_0.JPEG"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    src = sources.load("tiny-imagenet", tiny_root)
    src.read_range(0, 1)  # class 0's first image; class 1's is the second
    with pytest.raises(SourceError, match=rf"{bad}: cannot decode image"):
        src.read_range(0, len(src))


# --- image folders ----------------------------------------------------------------------------------

def write_folder(root: Path, sizes=((8, 8),) * 3) -> dict[str, dict[str, np.ndarray]]:
    """``root/{train,test}/{cat,ant}/*.png`` (classes deliberately unsorted on disk), with strays."""
    written = {}
    for s, split in enumerate(("train", "test")):
        for c, cls in enumerate(("cat", "ant")):
            for k, (h, w) in enumerate(sizes):
                image = rgb(100 * s + 10 * c + k, h, w)
                save_image(root / split / cls / f"{k:02d}.png", image)
                written.setdefault(split, {})[f"{cls}/{k:02d}"] = image
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"junk")
    (root / "train" / "notes.txt").write_text("not an image")
    return written


def test_imagefolder_tree_with_splits(tmp_path):
    written = write_folder(tmp_path / "tree")
    src = sources.load("imagefolder", tmp_path / "tree", split="test")
    assert src.classes == ["ant", "cat"] and len(src) == 6 and src.image_shape == (8, 8, 3)
    np.testing.assert_array_equal(src.labels, [0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(src.get(3)[0], written["test"]["cat/01"])
    assert src.spec.items() >= {"name": "imagefolder", "root": str(tmp_path / "tree"), "split": "test", "n": 6,
                                "order": "class-interleaved"}.items()
    assert len(src.spec["content"]) == 16  # the files' fingerprint


def test_folder_sources_deal_classes_out_so_a_limit_stays_balanced(tmp_path):
    """A limit keeps the first images; class folders listed one after another would give it
    only the first classes (and a block of contiguous images only one class)."""
    for cls, count in (("a", 3), ("b", 5), ("c", 2)):
        for k in range(count):
            save_image(tmp_path / "tree" / cls / f"{k}.png", rgb(k, 4, 4))
    full = sources.load("imagefolder", tmp_path / "tree")
    np.testing.assert_array_equal(full.labels, [0, 1, 2, 0, 1, 2, 0, 1, 1, 1])
    assert sorted(full.members) == sorted(str(p.relative_to(tmp_path / "tree")) for p in
                                          (tmp_path / "tree").rglob("*.png"))
    assert [m.split("/")[-1] for m in full.members if m.startswith("b/")] == [f"{k}.png" for k in range(5)]
    np.testing.assert_array_equal(np.bincount(sources.load("imagefolder", tmp_path / "tree", limit=6).labels), [2, 2, 2])


def test_imagefolder_zip_with_wrapper_folder_matches_tree(tmp_path):
    write_folder(tmp_path / "tree")
    archive = zip_tree(tmp_path / "tree", tmp_path / "set.zip", wrapper="set/")
    from_zip = sources.load("imagefolder", archive)
    from_tree = sources.load("imagefolder", tmp_path / "tree")
    np.testing.assert_array_equal(from_zip.read_range(0, 6), from_tree.read_range(0, 6))
    assert from_zip.spec["root"] == str(archive)


def test_imagefolder_zip_source_pickles_and_reopens(tmp_path):
    write_folder(tmp_path / "tree")
    src = sources.load("imagefolder", zip_tree(tmp_path / "tree", tmp_path / "set.zip"))
    first = src.read_range(0, 6)  # opens the archive in this process
    clone = pickle.loads(pickle.dumps(src))
    np.testing.assert_array_equal(clone.read_range(0, 6), first)


def test_imagefolder_without_split_folders(tmp_path):
    write_folder(tmp_path / "tree")
    src = sources.load("imagefolder", tmp_path / "tree" / "train")
    assert src.classes == ["ant", "cat"] and len(src) == 6
    with pytest.raises(SourceError, match="has no split folders"):
        sources.load("imagefolder", tmp_path / "tree" / "train", split="test")


def test_imagefolder_missing_split_names_the_ones_found(tmp_path):
    write_folder(tmp_path / "tree")
    with pytest.raises(SourceError, match=rf"{tmp_path / 'tree'}: no split 'val' \(found: test, train\)"):
        sources.load("imagefolder", tmp_path / "tree", split="val")


def test_imagefolder_differing_sizes_need_image_size(tmp_path):
    write_folder(tmp_path / "tree", sizes=[(8, 8), (8, 8), (12, 6)])
    src = sources.load("imagefolder", tmp_path / "tree")
    with pytest.raises(SourceError, match=r"ant/02.png: image is 6x12 px .* pass image_size"):
        src.read_range(0, 5)  # ant/02 is the fifth once the classes are dealt out
    resized = sources.load("imagefolder", tmp_path / "tree", image_size=5)
    assert isinstance(resized, FileSource) and resized.read_range(0, 6).shape == (6, 5, 5, 3)
    assert resized.spec["image_size"] == 5


def test_imagefolder_undecodable_member_in_zip(tmp_path):
    write_folder(tmp_path / "tree")
    (tmp_path / "tree" / "train" / "cat" / "01.png").write_bytes(b"\x89PNG\r\n garbage")
    src = sources.load("imagefolder", zip_tree(tmp_path / "tree", tmp_path / "set.zip"))
    with pytest.raises(SourceError, match=rf"{tmp_path / 'set.zip'}:train/cat/01.png: cannot decode image"):
        list(src.chunks(4))


def test_imagefolder_bad_roots(tmp_path):
    with pytest.raises(SourceError, match="pass root"):
        sources.load("imagefolder")
    with pytest.raises(SourceError, match=rf"{tmp_path / 'missing'}: does not exist"):
        sources.load("imagefolder", tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    save_image(tmp_path / "flat" / "a.png", rgb(0, 4, 4))
    with pytest.raises(SourceError, match=rf"{tmp_path / 'flat'}: wrong layout"):
        sources.load("imagefolder", tmp_path / "flat")
    (tmp_path / "fake.zip").write_bytes(b"PK not really")
    with pytest.raises(SourceError, match=rf"{tmp_path / 'fake.zip'}: not a readable zip"):
        sources.load("imagefolder", tmp_path / "fake.zip")


real_zip = pytest.mark.skipif(paths.cifar10_jpeg_zip() is None, reason="shared/data/cifar10-jpeg.zip is absent")


@pytest.mark.slow
@real_zip
def test_real_cifar10_jpeg_zip():
    src = sources.load("imagefolder", paths.cifar10_jpeg_zip(), split="test", limit=40)
    assert isinstance(src, LimitedSource) and len(src) == 40 and src.base.spec["n"] == 10_000
    assert src.class_names == CIFAR_NAMES
    images, labels = next(src.chunks(64))
    assert images.shape == (40, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, np.arange(40) % 10)  # every class, not the first one only
    assert 40 < images.mean() < 220 and images.std() > 20  # real photographs, not blank
    big = sources.load("imagefolder", paths.cifar10_jpeg_zip(), image_size=64, limit=3)
    assert big.read_range(0, 3).shape == (3, 64, 64, 3)


# --- synthetic ----------------------------------------------------------------------------------------

def test_synthetic_default_mimics_cifar10():
    train, test = sources.load("synthetic"), sources.load("synthetic", split="test")
    assert (len(train), len(test)) == (50_000, 10_000)
    assert train.image_shape == (32, 32, 3) and train.num_classes == 10
    assert np.bincount(train.labels).tolist() == [5000] * 10
    assert not np.array_equal(train.read_range(0, 8), test.read_range(0, 8))


def test_synthetic_is_deterministic_and_random_access():
    src = sources.load("synthetic", n=700)
    whole = np.concatenate([images for images, _ in src.chunks(300)])
    np.testing.assert_array_equal(src.read_range(5, 7), src.read_range(0, 10)[5:7])
    np.testing.assert_array_equal(src.read_range(250, 520), whole[250:520])  # spans generator blocks
    np.testing.assert_array_equal(sources.load("synthetic", n=700).get(611)[0], whole[611])
    assert not np.array_equal(sources.load("synthetic", n=700, seed=1).read_range(0, 4), whole[:4])


def test_synthetic_images_have_structure_not_noise():
    images = sources.load("synthetic", n=256).read_range(0, 256).astype(np.float64)
    left, right = images[:, :, :-1].ravel(), images[:, :, 1:].ravel()
    assert np.corrcoef(left, right)[0, 1] > 0.8  # neighbouring pixels agree, as in photographs
    assert images.std() > 30


def test_synthetic_generates_natively_at_image_size():
    src = sources.load("synthetic", image_size=48, num_classes=3, n=10)
    assert isinstance(src, SyntheticSource) and src.read_range(0, 10).shape == (10, 48, 48, 3)
    assert src.spec["image_size"] == 48 and src.num_classes == 3


def test_synthetic_rejects_bad_options():
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        sources.load("synthetic", num_classes=0)
    with pytest.raises(ValueError, match="root must be None"):
        sources.load("synthetic", "/tmp")
    with pytest.raises(SourceError, match="no split 'val'"):
        sources.load("synthetic", split="val")


def peak_bytes_while_streaming(source, chunk: int) -> int:
    tracemalloc.start()
    try:
        for _ in source.chunks(chunk):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_chunks_stream_within_a_bounded_memory():
    small, large = sources.load("synthetic", n=1024), sources.load("synthetic", n=8192)  # 3 and 25 MB decoded
    peak_small, peak_large = peak_bytes_while_streaming(small, 256), peak_bytes_while_streaming(large, 256)
    assert peak_large < 1.2 * peak_small  # set by the chunk, not by the dataset
    assert peak_large < large.raw_bytes / 2


def test_file_source_decodes_only_the_chunk(tmp_path, monkeypatch):
    write_folder(tmp_path / "tree")
    src = sources.load("imagefolder", tmp_path / "tree")
    reads = []
    original = src.store.read
    monkeypatch.setattr(src.store, "read", lambda name: reads.append(name) or original(name))
    for images, _ in src.chunks(4):
        assert len(reads) == len(images)
        reads.clear()


# --- hires ----------------------------------------------------------------------------------------------

def test_hires_offline_stand_in_says_so(data_home, caplog):
    with caplog.at_level(logging.WARNING):
        src = sources.load("hires", split="val")
    assert src.name == src.spec["name"] == "hires-synthetic" and "hires-synthetic" in caplog.text
    assert src.image_shape == (256, 256, 3) and len(src) == hires.SPLITS["val"]
    assert sources.load("hires", image_size=64, limit=2).read_range(0, 2).shape == (2, 64, 64, 3)


def test_hires_reads_imagenette_layout(tmp_path):
    root = tmp_path / "hires" / hires.FOLDER
    for split in ("train", "val"):
        save_image(root / split / "n01440764" / "a.JPEG", rgb(1, 320, 400), "JPEG")
        save_image(root / split / "n03888257" / "b.JPEG", rgb(2, 480, 320), "JPEG")
    src = sources.load("hires", tmp_path / "hires", split="val")
    assert src.name == "hires" and src.class_names == ["tench", "parachute"]
    assert src.read_range(0, 2).shape == (2, 256, 256, 3)
    assert sources.load("hires", root, image_size=32).image_shape == (32, 32, 3)
    with pytest.raises(SourceError, match="no split 'test'"):
        sources.load("hires", root, split="test")


def test_hires_missing_root(tmp_path):
    with pytest.raises(SourceError, match=rf"{tmp_path / 'none'}: does not exist"):
        sources.load("hires", tmp_path / "none")


# --- load, resizing, summaries --------------------------------------------------------------------

def test_names_and_unknown_name():
    assert sources.names() == ["synthetic", "cifar10", "tiny-imagenet", "imagefolder", "hires"]
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; valid datasets: synthetic, cifar10"):
        sources.load("mnist")


def test_unknown_option_is_named():
    with pytest.raises(ValueError, match="synthetic: unknown option 'colour'; valid options: seed"):
        sources.load("synthetic", colour="red")
    with pytest.raises(ValueError, match="cifar10: unknown option 'seed'; valid options: allow_unofficial"):
        sources.load("cifar10", seed=1)
    with pytest.raises(ValueError, match="tiny-imagenet: unknown option 'seed'; valid options: none"):
        sources.load("tiny-imagenet", seed=1)


def test_resizing_and_limit_wrap_any_source(cifar_root):
    root, expected = cifar_root
    src = sources.load("cifar10", root, image_size=16, limit=5)
    assert isinstance(src, LimitedSource) and isinstance(src.base, ResizedSource)
    images = src.read_range(0, 10)
    assert images.shape == (5, 16, 16, 3) and len(src) == 5
    assert abs(images.mean() - expected["train"][0][:5].mean()) < 3  # a resize, not new content
    assert src.spec["image_size"] == 16 and src.spec["limit"] == 5
    assert sources.load("cifar10", root, image_size=32).spec == sources.load("cifar10", root).spec


def test_specs_are_json_and_tell_sources_apart(cifar_root, tiny_root, data_home):
    specs = [
        sources.load("synthetic").spec, sources.load("synthetic", seed=2).spec,
        sources.load("synthetic", split="test").spec, sources.load("cifar10", cifar_root[0]).spec,
        sources.load("tiny-imagenet", tiny_root).spec, sources.load("hires").spec,
    ]
    encoded = [json.dumps(spec, sort_keys=True) for spec in specs]
    assert len(set(encoded)) == len(encoded)


def test_summarize_adds_channel_statistics(small_source):
    summary = sources.summarize(small_source, progress=False)
    pixels = small_source.read_range(0, len(small_source)).reshape(-1, 3) / 255
    np.testing.assert_allclose(summary["mean"], pixels.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(summary["std"], pixels.std(axis=0), atol=1e-4)
    assert summary["n"] == 200 and summary["raw_bytes"] == 200 * 32 * 32 * 3
    assert sum(summary["class_counts"].values()) == 200
    json.dumps(summary)


@pytest.mark.slow
def test_show_helpers_find_and_tile_sources(data_home, small_source):
    from thesis_lib.sources import show

    found = show.sources_at_hand(limit=30)
    assert {"synthetic", "hires"} <= set(found) and found["hires"].name == "hires-synthetic"
    assert show.sample_mosaic(small_source, per_class=3, side=16).shape == (10 * 16, 3 * 16, 3)
    assert list(show.summary_table(found).loc["synthetic", ["images", "classes"]]) == [30, 10]


# --- download helper ----------------------------------------------------------------------------------

def test_fetch_verifies_checksum_and_is_atomic(tmp_path):
    payload = tmp_path / "server" / "archive.bin"
    payload.parent.mkdir()
    payload.write_bytes(b"thesis" * 1000)
    dest = tmp_path / "downloads"
    good = "md5:" + hashlib.md5(payload.read_bytes()).hexdigest()
    fetched = download.fetch(payload.as_uri(), good, dest, progress=False)
    assert fetched == dest / "archive.bin" and fetched.read_bytes() == payload.read_bytes()
    assert download.fetch("file:///nonexistent/archive.bin", good, dest) == fetched  # verified copy reused

    fetched.unlink()
    with pytest.raises(SourceError, match="checksum mismatch"):
        download.fetch(payload.as_uri(), "sha256:" + "0" * 64, dest, progress=False)
    assert list(dest.iterdir()) == []
    with pytest.raises(SourceError, match="download failed"):
        download.fetch((tmp_path / "absent.bin").as_uri(), good, dest, progress=False)
    assert list(dest.iterdir()) == []
    with pytest.raises(ValueError, match="checksum must be"):
        download.fetch(payload.as_uri(), "c58f30108f718f92721af3b95e74349a", dest)


def test_fetch_defaults_to_the_data_downloads_folder(tmp_path, data_home):
    payload = tmp_path / "file.txt"
    payload.write_text("x")
    fetched = download.fetch(payload.as_uri(), "sha256:" + hashlib.sha256(b"x").hexdigest(), progress=False)
    assert fetched == data_home / "downloads" / "file.txt"
