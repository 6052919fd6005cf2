"""Hostile WebDataset shards: damaged bytes, and shards whose members break the convention, each
a FormatError naming the shard (and the sample's key where there is one), never wrong data."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile

import numpy as np
import pytest
from tiny_data import id_images

from thesis_lib import FormatError, formats
from thesis_lib.formats.npy import npy_header
from thesis_lib.sources.base import ArraySource

pytestmark = pytest.mark.timeout(30)
SIZE = 8


@pytest.fixture
def shards(tmp_path):
    """A webdataset of 30 images in three shards of 10; returns its version folder."""
    images, labels = id_images(30, size=SIZE)
    formats.get("webdataset").write(ArraySource(images, labels, classes=[str(c) for c in range(7)]),
                                    tmp_path / "ds", progress=False, shard_images=10)
    return (tmp_path / "ds").resolve()


def open_ds(folder, **options):
    return formats.get("webdataset").open(folder, **options)


def npy_member(value: int = 0) -> bytes:
    return npy_header(np.uint8, (SIZE, SIZE, 3)) + bytes([value]) * (SIZE * SIZE * 3)


def rewrite_shard(folder, members, number=1, kinds=None):
    """Replace shard ``number`` by a tar of ``members`` (name -> bytes; ``kinds`` gives a member
    another tar type), and list it in the manifest as written, so only its contents are wrong."""
    file = folder / f"shard-{number:06d}.tar"
    with tarfile.open(file, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if kinds and name in kinds:
                info.type, info.linkname, info.size = kinds[name], "shard-000000.tar", 0
            tar.addfile(info, io.BytesIO(data))
    rewrite_manifest_entry(folder, number)


def rewrite_manifest_entry(folder, number):
    """List shard ``number`` in the manifest with its present size and SHA-256."""
    file = folder / f"shard-{number:06d}.tar"
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = manifest["shards"][number]
    entry["bytes"] = file.stat().st_size
    entry["sha256"] = hashlib.sha256(file.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


def sample(key, label=b"1", image=None):
    return [(f"{key}.cls", label), (f"{key}.npy", image if image is not None else npy_member())]


def ten_samples_with(*extra_members):
    """Nine good samples, then ``extra_members`` (the shard's n stays 10)."""
    return [m for k in range(9) for m in sample(f"s{k}")] + list(extra_members)


# -- damaged bytes --------------------------------------------------------------------------------
def test_a_truncated_shard_is_named(shards):
    file = shards / "shard-000001.tar"
    file.write_bytes(file.read_bytes()[:-700])
    for verify in (True, False):
        with pytest.raises(FormatError, match=r"shard-000001\.tar: shard truncated \(\d+ bytes, the manifest says"):
            open_ds(shards, verify=verify)


def test_a_flipped_byte_in_a_checksummed_shard_is_named(shards):
    file = shards / "shard-000002.tar"
    data = bytearray(file.read_bytes())
    data[3000] ^= 0x01  # inside an image: the tar still parses
    file.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=r"shard-000002\.tar: shard damaged \(SHA-256 "):
        open_ds(shards)


def test_a_missing_shard_is_named(shards):
    (shards / "shard-000000.tar").unlink()
    with pytest.raises(FormatError, match=r"shard-000000\.tar: shard missing"):
        open_ds(shards)


def test_a_shard_with_fewer_samples_than_listed_is_named(shards):
    rewrite_shard(shards, [m for k in range(9) for m in sample(f"s{k}")])
    with pytest.raises(FormatError, match=r"shard-000001\.tar: 9 samples, the manifest says 10"):
        open_ds(shards)


def test_a_member_that_is_not_the_written_array_is_named(shards):
    rewrite_shard(shards, ten_samples_with(*sample("s9", image=b"\x93NUMPY" + bytes(len(npy_member()) - 6))))
    with pytest.raises(FormatError, match=r"shard-000001\.tar: sample 9 is not an \.npy array of uint8"):
        open_ds(shards)


# -- members that break the convention ------------------------------------------------------------
def test_a_member_of_an_unknown_extension_names_shard_and_key(shards):
    rewrite_shard(shards, ten_samples_with(*sample("s9"), ("s9.txt", b"hello")))
    with pytest.raises(FormatError, match=r"shard-000001\.tar: key 's9': member 's9\.txt' has extension 'txt'"):
        open_ds(shards)


@pytest.mark.parametrize("members,message", [
    (ten_samples_with(*sample("s3")), r"key 's3' names two samples"),
    (ten_samples_with(("s9.cls", b"1"), ("s9.cls", b"2"), ("s9.npy", npy_member())), r"key 's9': two \.cls members"),
], ids=["apart", "adjacent"])
def test_two_samples_with_one_key_name_shard_and_key(shards, members, message):
    rewrite_shard(shards, members)
    with pytest.raises(FormatError, match=r"shard-000001\.tar: " + message):
        open_ds(shards)


@pytest.mark.parametrize("members,what", [
    (ten_samples_with(("s9.npy", npy_member())), r"label \(\.cls\)"),
    (ten_samples_with(("s9.cls", b"1")), r"image \(\.npy\)"),
], ids=["label", "image"])
def test_a_sample_without_its_label_or_image_names_shard_and_key(shards, members, what):
    rewrite_shard(shards, members)
    with pytest.raises(FormatError, match=r"shard-000001\.tar: key 's9': sample without its " + what):
        open_ds(shards)


def test_a_label_that_is_not_an_integer_names_shard_and_key(shards):
    rewrite_shard(shards, ten_samples_with(*sample("s9", label=b"cat")))
    with pytest.raises(FormatError, match=r"shard-000001\.tar: key 's9': label b'cat' is not an integer"):
        open_ds(shards)


@pytest.mark.parametrize("name", ["../s9.npy", "/tmp/s9.npy", "a/../../s9.npy"])
def test_a_member_path_that_escapes_is_refused(shards, name):
    rewrite_shard(shards, ten_samples_with(("s9.cls", b"1"), (name, npy_member())))
    with pytest.raises(FormatError, match=r"shard-000001\.tar: member .* has a path that escapes the shard"):
        open_ds(shards)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE], ids=["symlink", "hardlink"])
def test_a_link_member_is_refused(shards, kind):
    rewrite_shard(shards, ten_samples_with(("s9.cls", b"1"), ("s9.npy", b"")), kinds={"s9.npy": kind})
    with pytest.raises(FormatError, match=r"shard-000001\.tar: key 's9': member 's9\.npy' is not a regular file"):
        open_ds(shards)


@pytest.mark.parametrize("name", ["../shard-000000.tar", "/etc/passwd", "shard-1.tar"])
def test_a_manifest_shard_name_outside_the_pattern_is_refused(shards, name):
    manifest = json.loads((shards / "manifest.json").read_text())
    manifest["shards"][0]["name"] = name
    (shards / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FormatError, match=r"manifest\.json: shards\[0\]: name .* is not a data file name "
                                          r"\(shard-NNNNNN\.tar\)"):
        open_ds(shards)


def test_a_good_rewritten_shard_still_opens(shards):
    """The helpers themselves: a shard rewritten by the convention opens and reads what it holds."""
    rewrite_shard(shards, ten_samples_with(*sample("s9", label=b"4", image=npy_member(7))))
    with open_ds(shards) as reader:
        assert reader.labels[19] == 4 and (reader.read([19]) == 7).all()
        np.testing.assert_array_equal(reader.read([25]), id_images(30, size=SIZE)[0][[25]])


def test_a_shard_cut_inside_a_member_and_relisted_is_named(shards):
    """Cut inside the last image and listed again with its new size and digest: the manifest's
    checks pass, so the tar index itself must see the member running past the end."""
    file = shards / "shard-000001.tar"
    file.write_bytes(file.read_bytes()[:512 * 31 + 100])  # inside the 8th image (2 KiB a sample)
    rewrite_manifest_entry(shards, 1)
    with pytest.raises(FormatError, match=r"shard-000001\.tar: (not a readable tar shard|a member's data runs past)"):
        open_ds(shards)


# -- LitData chunks -------------------------------------------------------------------------------
@pytest.fixture
def chunks(tmp_path):
    """A litdata dataset of 30 images in several chunks; returns its version folder."""
    images, labels = id_images(30, size=SIZE)
    formats.get("litdata").write(ArraySource(images, labels, classes=[str(c) for c in range(7)]),
                                 tmp_path / "ds", progress=False, chunk_bytes=2000)
    folder = (tmp_path / "ds").resolve()
    assert len(json.loads((folder / "manifest.json").read_text())["chunks"]) >= 3
    return folder


def test_a_truncated_missing_or_damaged_chunk_is_named(chunks):
    file = chunks / "chunk-0-1.bin"
    data = file.read_bytes()
    file.write_bytes(data[:-10])
    with pytest.raises(FormatError, match=r"chunk-0-1\.bin: chunk truncated"):
        formats.get("litdata").open(chunks, verify=False)
    file.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    with pytest.raises(FormatError, match=r"chunk-0-1\.bin: chunk damaged \(SHA-256 "):
        formats.get("litdata").open(chunks)
    file.unlink()
    with pytest.raises(FormatError, match=r"chunk-0-1\.bin: chunk missing"):
        formats.get("litdata").open(chunks)


def test_litdatas_index_must_be_the_written_one(chunks):
    index = chunks / "index.json"
    listed = json.loads(index.read_text())
    listed["chunks"] = listed["chunks"][::-1]
    index.write_text(json.dumps(listed))
    with pytest.raises(FormatError, match=r"index\.json: damaged"):
        formats.get("litdata").open(chunks)
    with pytest.raises(FormatError, match=r"index\.json: lists chunks \[\('chunk-0-"):
        formats.get("litdata").open(chunks, verify=False)


def test_a_label_other_than_the_stored_samples_is_named(chunks):
    labels = np.load(chunks / "labels.npy")
    labels[4] = (labels[4] + 1) % 7
    np.save(chunks / "labels.npy", labels)
    with formats.get("litdata").open(chunks) as reader, \
            pytest.raises(FormatError, match=r"chunk-0-0\.bin: sample 4 has label \d, labels\.npy says \d"):
        reader.read([3, 4])


def test_reading_never_deletes_or_changes_the_chunks(chunks):
    """LitData deletes chunks it has streamed from a cache; a converted copy is no cache."""
    with formats.get("litdata").open(chunks) as reader:
        for _ in range(2):
            reader.read(np.arange(30))
    formats.get("litdata").open(chunks).close()  # sizes and SHA-256 unchanged
