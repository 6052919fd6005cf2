"""Converted datasets in a bucket of a real S3 server (SeaweedFS): uploaded objects first and the
manifest last, read by each format's S3 reader to the local copy's bytes (HDF5 through h5py on
ranged GETs, contiguous and gzip-chunked); a missing bucket, a
missing object, a half upload and a damaged object are FormatErrors naming the key; a server
killed mid-read fails within the request timeout naming the endpoint; cupy is refused."""
from __future__ import annotations

import time

import numpy as np
import obstore
import pytest

from thesis_lib import FormatError, formats, sources
from thesis_lib.core.s3_server import s3_server
from thesis_lib.formats import s3_objects
from thesis_lib.formats.s3_objects import S3Location, upload
from thesis_lib.formats.s3_readers import open_s3

pytestmark = pytest.mark.slow  # a real server

#: folder: (format, write options)
WRITES = {"npy": ("npy", {}), "files": ("files", {}), "zarr": ("zarr", {"chunk_images": 32, "checksum": True}),
          "hdf5": ("hdf5", {}), "hdf5-gzip": ("hdf5", {"chunk_images": 32, "compression": "gzip"})}
READS = [("npy", {}), ("files", {}), ("zarr", {}), ("zarr", {"read_path": "chunks"}),
         ("zarr", {"read_path": "tensorstore"}), ("hdf5", {}), ("hdf5", {"read_path": "index"}),
         ("hdf5-gzip", {}), ("hdf5-gzip", {"read_path": "fancy"}), ("hdf5-gzip", {"read_path": "decode"})]


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """Each format's local copy of 150 generated images."""
    folder = tmp_path_factory.mktemp("local")
    source = sources.load("synthetic", n=150)
    for name, (fmt, options) in WRITES.items():
        formats.get(fmt).write(source, folder / name, progress=False, **options)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("s3"), stop_timeout=1) as running:
        yield running


def uploaded(local, server, fmt: str, prefix: str) -> str:
    url = f"s3://data/{prefix}"
    upload(local / fmt, S3Location.parse(url, server.endpoint))
    return url


@pytest.mark.timeout(180)
@pytest.mark.parametrize("fmt, options", READS, ids=[f"{f}-{o.get('read_path', 'default')}" for f, o in READS])
def test_every_reader_gives_the_local_bytes(local, server, fmt, options):
    url = uploaded(local, server, fmt, f"same/{fmt}")
    reader = open_s3(url, server.endpoint, **options)
    with formats.get(WRITES[fmt][0]).open(local / fmt) as here:
        idx = np.array([149, 5, 3, 3, 64, 65, 66, 0])
        np.testing.assert_array_equal(reader.read(idx), here.read(idx))
        np.testing.assert_array_equal(reader.read_range(10, 90), here.read_range(10, 90))
        np.testing.assert_array_equal(reader.labels, here.labels)
        out = np.zeros((50, *reader.image_shape), np.uint8)
        rows = reader.read_ranges_into([(0, 20), (100, 130)], out)
        np.testing.assert_array_equal(rows, np.concatenate([here.read_range(0, 20), here.read_range(100, 130)]))
    assert str(reader.name) == f"{server.endpoint}/data/same/{fmt}"


@pytest.mark.timeout(60)
def test_manifest_is_uploaded_last_after_the_old_one_is_deleted(local, server, monkeypatch):
    calls = []
    for name in ("put", "delete"):
        real = getattr(obstore, name)
        monkeypatch.setattr(obstore, name, lambda store, key, *a, _real=real, _name=name, **k:
                            (calls.append((_name, key)), _real(store, key, *a, **k))[1])
    upload(local / "npy", S3Location.parse("s3://data/order", server.endpoint))
    assert calls[0] == ("delete", "order/manifest.json")
    assert calls[-1] == ("put", "order/manifest.json")
    assert {key for _, key in calls[1:-1]} >= {"order/images.npy", "order/labels.npy"}


@pytest.mark.timeout(60)
def test_half_upload_missing_object_and_missing_bucket_are_named(local, server):
    url = uploaded(local, server, "npy", "half")
    location = S3Location.parse(url, server.endpoint)
    store = location.store()
    obstore.delete(store, "half/manifest.json")  # as if the upload stopped before its last step
    with pytest.raises(FormatError, match=r"data/half/manifest\.json: missing, so no complete dataset"):
        open_s3(url, server.endpoint)
    url = uploaded(local, server, "npy", "gone")
    obstore.delete(store, "gone/images.npy")
    with pytest.raises(FormatError, match=r"/data/gone/images\.npy: object missing \(the manifest lists it\)"):
        open_s3(url, server.endpoint)
    with pytest.raises(FormatError, match=r"bucket 'nobucket' does not exist"):
        open_s3("s3://nobucket/npy", server.endpoint)


@pytest.mark.timeout(60)
def test_damaged_object_is_an_error_never_zeros(local, server):
    url = uploaded(local, server, "files", "damaged")
    reader = open_s3(url, server.endpoint)
    name = reader.rel_paths[7]
    size = reader.upload["objects"][name]["size"]
    obstore.put(S3Location.parse(url, server.endpoint).store(), f"damaged/{name}", b"\0" * size)  # same size
    reader.read([6])
    with pytest.raises(FormatError, match=rf"data/damaged/{name}: damaged \({size} bytes, CRC-32"):
        reader.read([7])
    # zarr's own CRC32C: a chunk of the right size with flipped bytes
    url = uploaded(local, server, "zarr", "damaged-zarr")
    store = S3Location.parse(url, server.endpoint).store()
    key = "damaged-zarr/images/c/1/0/0/0"
    chunk = bytearray(bytes(obstore.get(store, key).bytes()))
    chunk[100] ^= 0xFF
    obstore.put(store, key, bytes(chunk))
    for options in ({}, {"read_path": "tensorstore"}):
        with pytest.raises(FormatError, match="data/damaged-zarr/images"):
            open_s3(url, server.endpoint, **options).read([40])


@pytest.mark.timeout(60)
def test_damaged_hdf5_object_is_an_error_never_zeros(local, server):
    import h5py
    with h5py.File(local / "hdf5-gzip" / "data.h5", "r") as here:
        chunk = here["images"].id.get_chunk_info(2)  # images 64..95
    url = uploaded(local, server, "hdf5-gzip", "damaged-hdf5")
    store = S3Location.parse(url, server.endpoint).store()
    data = bytearray(bytes(obstore.get(store, "damaged-hdf5/data.h5").bytes()))
    data[chunk.byte_offset + chunk.size // 2] ^= 0xFF  # same size, so the open's check passes
    obstore.put(store, "damaged-hdf5/data.h5", bytes(data))
    reader = open_s3(url, server.endpoint)
    reader.read([10])
    with pytest.raises(FormatError, match="data/damaged-hdf5/data.h5: image data unreadable"):
        reader.read([70])
    with pytest.raises(FormatError, match="data/damaged-hdf5/data.h5: chunk 2 does not inflate"):
        open_s3(url, server.endpoint, read_path="decode").read([70])
    data[:8] = bytes(8)  # the HDF5 signature
    obstore.put(store, "damaged-hdf5/data.h5", bytes(data))
    with pytest.raises(FormatError, match="data/damaged-hdf5/data.h5: not a readable HDF5 file"):
        open_s3(url, server.endpoint)


@pytest.mark.timeout(60)
def test_cupy_and_unknown_options_are_refused_with_the_reason(local, server):
    formats.get("cupy").write(sources.load("synthetic", n=10), local / "cupy", progress=False)
    url = uploaded(local, server, "cupy", "cupy")
    with pytest.raises(ValueError, match="'cupy' is not read over S3: .*GPU memory"):
        open_s3(url, server.endpoint)
    url = uploaded(local, server, "zarr", "opts")
    with pytest.raises(ValueError, match="unknown open option 'chunk_size'; valid open options: cache_bytes"):
        open_s3(url, server.endpoint, chunk_size=3)
    with pytest.raises(ValueError, match="read_path 'direct' reads local chunk files"):
        open_s3(url, server.endpoint, read_path="direct")
    url = uploaded(local, server, "hdf5", "opts-hdf5")
    with pytest.raises(ValueError, match="hdf5 read_path 'direct' memory-maps the local file at HDF5's offsets; over S3 use chunks"):
        open_s3(url, server.endpoint, read_path="direct")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fmt, options", [("npy", {}), ("zarr", {}), ("zarr", {"read_path": "tensorstore"})],
                         ids=["npy", "zarr", "zarr-tensorstore"])
def test_server_killed_mid_read_fails_in_time_naming_the_endpoint(local, tmp_path, fmt, options):
    with s3_server(tmp_path / "s3", stop_timeout=1) as doomed:
        url = uploaded(local, doomed, fmt, "killed")
        reader = open_s3(url, doomed.endpoint, timeout_s=3, **options)
        reader.read([1, 2])
        doomed.process.kill()
        doomed.process.wait()
        started = time.monotonic()
        with pytest.raises(FormatError, match=f"S3 endpoint {doomed.endpoint}|{doomed.endpoint}.*(Connection|connect)"):
            reader.read([100, 120])
        assert time.monotonic() - started < 3 * 3 + 5


def test_location_is_parsed_or_refused():
    location = S3Location.parse("s3://bucket/a/b/", "http://127.0.0.1:9/")
    assert (location.bucket, location.prefix, location.url("x")) == ("bucket", "a/b", "http://127.0.0.1:9/bucket/a/b/x")
    with pytest.raises(ValueError, match="expected s3://BUCKET/PREFIX"):
        S3Location.parse("/data/npy", "http://127.0.0.1:9")
    assert s3_objects.TIMEOUT_S > 0


@pytest.mark.timeout(120)
def test_cli_uploads_a_converted_copy(local, server):
    import json
    import os
    import subprocess
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-m", "thesis_lib", "s3", "upload", str(local / "npy"), "s3://data/cli",
                           "--endpoint", server.endpoint], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": repo}, timeout=100)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["objects"] >= 2
    assert len(open_s3("s3://data/cli", server.endpoint)) == 150


@pytest.mark.timeout(60)
def test_convert_with_storage_s3_uploads_the_copy_and_prints_where(server, tmp_path, capsys):
    import json
    from thesis_lib.__main__ import main
    main(["convert", "--dataset", "synthetic", "--limit", "40", "--fmt", "hdf5", "--option", "chunk_images=16",
          "--out", str(tmp_path / "h5"), "--storage", "s3", "--storage-option", f"endpoint={server.endpoint}/",
          "--url", "s3://data/converted-h5"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["s3"]["url"] == "s3://data/converted-h5" and printed["s3"]["endpoint"] == server.endpoint
    with formats.get("hdf5").open(tmp_path / "h5") as here:
        np.testing.assert_array_equal(open_s3("s3://data/converted-h5", server.endpoint).read_range(0, 40),
                                      here.read_range(0, 40))
    for flags, message in [
            ([], "needs the server to upload to: --storage-option endpoint=http://HOST:PORT"),
            (["--storage-option", "endpoint=localhost"], "convert --storage-option endpoint='localhost': expected a URL"),
            (["--storage-option", f"endpoint={server.endpoint}", "--storage-option", "latency_ms=2"],
             "latency_ms and bandwidth_mbps set a run's link"),
            (["--storage-option", "latncy=2"], "unknown option 'latncy'; valid: endpoint, latency_ms"),
            (["--storage-option", f"endpoint={server.endpoint}", "--url", "data/x"], "expected s3://BUCKET/PREFIX")]:
        with pytest.raises(SystemExit, match=message):
            main(["convert", "--limit", "4", "--fmt", "npy", "--out", str(tmp_path / "no"), "--storage", "s3", *flags])
    assert not (tmp_path / "no").exists()  # refused before converting
