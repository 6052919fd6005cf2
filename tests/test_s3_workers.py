"""DataLoader worker processes over S3: process and ring workers (2 each) read every S3 reader's
images and labels as the local copy gives them, started from the forkserver because obstore's
client does not survive fork; a forked worker asked for explicitly is refused, never left to hang."""
from __future__ import annotations

import numpy as np
import pytest

from tiny_data import decode_ids, id_images, write
from thesis_lib import loading
from thesis_lib.core.s3_server import s3_server
from thesis_lib.formats.s3_objects import S3Location, upload
from thesis_lib.formats.s3_readers import open_s3

pytestmark = pytest.mark.slow  # a real server and worker processes

N, BATCH, CHUNK = 200, 32, 16
#: name: (format, write options, open options), one per way an S3 reader reads
READERS = {
    "npy": ("npy", {}, {}),
    "files": ("files", {}, {}),
    "zarr": ("zarr", {"chunk_images": CHUNK}, {}),
    "zarr chunks": ("zarr", {"chunk_images": CHUNK}, {"read_path": "chunks"}),
    "zarr tensorstore": ("zarr", {"chunk_images": CHUNK}, {"read_path": "tensorstore"}),
    "hdf5 contiguous": ("hdf5", {}, {}),
    "hdf5 gzip": ("hdf5", {"chunk_images": CHUNK, "compression": "gzip"}, {}),
}


@pytest.fixture(scope="module")
def arrays():
    return id_images(N, size=8)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("s3"), stop_timeout=1) as running:
        yield running


@pytest.fixture(scope="module")
def pairs(arrays, server, tmp_path_factory):
    """Each reader's local copy and its upload opened over S3."""
    folder = tmp_path_factory.mktemp("local")
    opened = {}
    for name, (fmt, write_options, open_options) in READERS.items():
        path = folder / name.replace(" ", "_")
        local = write(fmt, *arrays, path, open_options, **write_options)
        url = f"s3://data/{path.name}"
        upload(path, S3Location.parse(url, server.endpoint))
        opened[name] = local, open_s3(url, server.endpoint, **open_options)
    return opened


def epoch(reader, workers: int = 0, kind: str = "process", **options):
    loader = loading.make_loader(reader, batch_size=BATCH, mode="batch", workers=workers, worker_kind=kind, seed=3,
                                 normalize=False, **options)
    loader.set_epoch(1)
    ids, labels = zip(*((decode_ids(images), batch_labels.numpy()) for images, batch_labels in loader))
    return np.concatenate(ids), np.concatenate(labels)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(READERS))
def test_process_and_ring_workers_read_the_local_copys_images_and_labels(pairs, arrays, name):
    local, remote = pairs[name]
    plain_ids, plain_labels = epoch(local)
    for kind in ("process", "ring"):
        ids, labels = epoch(remote, 2, kind)
        assert ids.sum() == plain_ids.sum() == N * (N - 1) // 2, kind  # every image once
        assert labels.sum() == plain_labels.sum() == arrays[1].sum(), kind
        assert np.array_equal(ids, plain_ids) and np.array_equal(labels, plain_labels), kind  # same order
        assert np.array_equal(labels, arrays[1][ids]), kind  # each label with its image


@pytest.mark.timeout(60)
def test_forked_workers_over_s3_are_refused_naming_the_start_methods(pairs):
    _, remote = pairs["npy"]
    with pytest.raises(ValueError, match="cannot be read in forked workers .* mp_context='forkserver' or 'spawn'"):
        epoch(remote, 2, "process", mp_context="fork")
