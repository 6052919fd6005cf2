"""Worker kinds: thread workers (a persistent thread pool), ring workers (processes writing into a
shared-memory ring) and process workers give the plain path's bytes in every access mode, readers
shared by threads give the bytes one thread does, a reader that threads must not share is refused
by name, a ring worker's death is named without a hang or a leftover, and the kind enters a run's
identity and name only when set."""
from __future__ import annotations

import gc
import os
import signal
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from tiny_data import CPU_FORMATS, decode_ids, id_images, write
from thesis_lib import loading
from thesis_lib.loading import ThreadWorkers
from thesis_lib.core.errors import FormatError
from thesis_lib.run.config import BenchConfig

N, BATCH, CHUNK = 300, 32, 16
#: Formats with their ways of reading: memory-mapped (npy, HDF5 contiguous), through window
#: buffers (zarr-python, TensorStore), through HDF5's library (chunks) and zlib, and decoded files.
READERS = {
    "npy": ("npy", {}, {}),
    "hdf5 contiguous": ("hdf5", {}, {}),
    "hdf5 gzip, h5py chunks": ("hdf5", {"chunk_images": CHUNK, "compression": "gzip"}, {}),
    "hdf5 gzip, raw chunk + zlib": ("hdf5", {"chunk_images": CHUNK, "compression": "gzip"}, {"read_path": "decode"}),
    "zarr-python": ("zarr", {"chunk_images": CHUNK}, {}),
    "zarr tensorstore": ("zarr", {"chunk_images": CHUNK}, {"read_path": "tensorstore"}),
    "zarr direct": ("zarr", {"chunk_images": CHUNK}, {"read_path": "direct"}),
    "files png": ("files", {}, {}),
}


@pytest.fixture(scope="module")
def arrays():
    return id_images(N, size=8)


@pytest.fixture(scope="module")
def opened(arrays, tmp_path_factory):
    folder = tmp_path_factory.mktemp("workers")
    readers = {}
    for name, (fmt, write_options, open_options) in READERS.items():
        readers[name] = write(fmt, *arrays, folder / name.replace(" ", "_").replace(",", ""), open_options,
                              **write_options)
    return readers


def epoch(reader, mode: str, workers: int = 0, kind: str = "process", epoch_number: int = 1):
    """One epoch's images (as their indices) and labels, in the order the loader gave them."""
    loader = loading.make_loader(reader, batch_size=BATCH, mode=mode, workers=workers, worker_kind=kind, seed=5,
                                 normalize=False)
    loader.set_epoch(epoch_number)
    ids, labels = zip(*((decode_ids(images), batch_labels.numpy()) for images, batch_labels in loader))
    return np.concatenate(ids), np.concatenate(labels)


def assert_same_epoch(got, plain, arrays):
    ids, labels = got
    assert np.array_equal(ids, plain[0]) and np.array_equal(labels, plain[1])  # same order, same bytes
    assert ids.sum() == N * (N - 1) // 2 and labels.sum() == arrays[1].sum()  # every image once
    assert np.array_equal(labels, arrays[1][ids])  # each label travels with its image


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["sample", "batch", "block", "resident"])
@pytest.mark.parametrize("kind,workers", [("thread", 1), ("thread", 2), ("ring", 1), ("ring", 2)])
@pytest.mark.parametrize("name", list(READERS))
def test_thread_and_ring_workers_give_the_plain_paths_bytes(opened, arrays, name, mode, kind, workers):
    reader = opened[name]
    assert_same_epoch(epoch(reader, mode, workers, kind), epoch(reader, mode), arrays)


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", ["sample", "batch", "block", "resident"])
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("name", ["npy", "hdf5 gzip, h5py chunks", "zarr-python"])
def test_process_workers_give_the_plain_paths_bytes(opened, arrays, name, mode, workers):
    reader = opened[name]
    assert_same_epoch(epoch(reader, mode, workers, "process"), epoch(reader, mode), arrays)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(READERS))
def test_two_threads_sharing_a_reader_read_the_bytes_one_thread_does(opened, arrays, name):
    """2 threads x 200 batches through one reader, its handles opened by whichever thread comes
    first (closed beforehand): every batch equals the source's bytes."""
    reader = opened[name]
    reader.close()
    rng = np.random.default_rng(0)
    batches = [rng.choice(N, BATCH, replace=False) for _ in range(200)]
    with ThreadPoolExecutor(2) as pool:
        read = list(pool.map(reader.read, batches))
    wrong = [k for k, (images, b) in enumerate(zip(read, batches)) if not np.array_equal(images, arrays[0][b])]
    assert not wrong, f"{name}: batches {wrong[:5]} differ from the source"


@pytest.mark.timeout(60)
def test_thread_workers_window_buffers_are_each_threads_own(opened, arrays):
    """Block mode over zarr reads windows into buffers the dataset keeps: two threads must not share one."""
    reader = opened["zarr-python"]
    loader = loading.make_loader(reader, batch_size=BATCH, mode="block", workers=2, worker_kind="thread",
                                 normalize=False, block_size=CHUNK, window=2)
    for k in range(3):
        loader.set_epoch(k)
        ids = np.concatenate([decode_ids(images) for images, _ in loader])
        assert np.array_equal(np.sort(ids), np.arange(N))


class NotThreadSafe:
    """A reader that says threads must not share it."""
    thread_safe = False
    on_device = False

    def __repr__(self):
        return "<LockedReader data.bin>"


@pytest.mark.timeout(30)
def test_a_reader_threads_must_not_share_is_refused_by_name():
    with pytest.raises(ValueError, match=r"<LockedReader data.bin> \(NotThreadSafe\) is not safe to read from "
                                         r"several threads at once; use worker_kind='process'"):
        loading.make_loader(NotThreadSafe(), batch_size=4, mode="batch", workers=2, worker_kind="thread")


@pytest.mark.timeout(30)
def test_an_unknown_worker_kind_is_refused(opened):
    with pytest.raises(ValueError, match="worker_kind must be one of process, thread, ring, got 'fiber'"):
        loading.make_loader(opened["npy"], batch_size=4, workers=2, worker_kind="fiber")


@pytest.mark.timeout(30)
def test_worker_kind_enters_the_runs_identity_and_name_only_when_it_counts():
    process = BenchConfig(workers=2).resolve()
    thread = BenchConfig(workers=2, worker_kind="thread").resolve()
    assert "worker_kind" not in process.identity and "-w2-" in process.run_name
    assert thread.identity["worker_kind"] == "thread" and "-w2thread-" in thread.run_name
    assert thread.config_id != process.config_id
    ring = BenchConfig(workers=2, worker_kind="ring").resolve()
    assert ring.identity["worker_kind"] == "ring" and "-w2ring-" in ring.run_name
    assert len({ring.config_id, thread.config_id, process.config_id}) == 3
    # no workers: what they would be changes nothing, so one run
    assert BenchConfig(worker_kind="thread").resolve().config_id == BenchConfig().resolve().config_id
    with pytest.raises(ValueError, match="worker_kind='fiber' is not valid; choose one of: process, thread, ring"):
        BenchConfig(workers=2, worker_kind="fiber").resolve()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind,workers", [("process", 0), ("thread", 2), ("ring", 2)])
@pytest.mark.parametrize("mode", ["batch", "block"])
def test_batches_kept_alive_are_never_overwritten_by_reused_buffers(opened, arrays, mode, kind, workers):
    """Batch buffers are reused only once nothing holds them: a consumer keeping every batch of
    two epochs still holds the bytes it was given."""
    reader = opened["npy"]
    loader = loading.make_loader(reader, batch_size=BATCH, mode=mode, workers=workers, worker_kind=kind,
                                 normalize=False)
    kept = [batch for epoch_number in (1, 2) for batch in (loader.set_epoch(epoch_number) or loader)]
    for images, labels in kept:
        ids = decode_ids(images)
        assert np.array_equal(images.permute(0, 2, 3, 1).numpy(), arrays[0][ids])
        assert np.array_equal(labels.numpy(), arrays[1][ids])


@pytest.mark.timeout(30)
def test_read_into_refuses_a_buffer_of_the_wrong_shape(opened):
    with pytest.raises(ValueError, match=r"out must be uint8 \(>= 3, 8, 8, 3\), got uint8 \(2, 8, 8, 3\)"):
        opened["npy"].read_into([0, 1, 2], np.empty((2, 8, 8, 3), np.uint8))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["thread", "ring"])
@pytest.mark.parametrize("mode", ["batch", "block"])
def test_an_epoch_left_unfinished_leaves_the_next_one_whole(opened, arrays, kind, mode):
    """Thread and ring workers persist from epoch to epoch: an epoch abandoned after one batch
    (its items not begun are cancelled, or its batches still to come given back) is followed by
    whole, correct ones."""
    reader = opened["zarr tensorstore"]
    windows = {"block_size": CHUNK, "window": 4} if mode == "block" else {}
    loader = loading.make_loader(reader, batch_size=BATCH, mode=mode, workers=2, worker_kind=kind,
                                 normalize=False, **windows)
    next(iter(loader))
    for epoch_number in (1, 2):
        loader.set_epoch(epoch_number)
        ids = np.concatenate([decode_ids(images) for images, _ in loader])
        assert np.array_equal(np.sort(ids), np.arange(N))
    assert_same_epoch(epoch(reader, mode, 2, kind), epoch(reader, mode), arrays)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["thread", "ring"])
def test_a_workers_error_reaches_the_loop_naming_the_file(arrays, tmp_path, kind):
    reader = write("files", *arrays, tmp_path / "files")
    (reader.path / reader.rel_paths[7]).unlink()
    loader = loading.make_loader(reader, batch_size=BATCH, mode="batch", workers=2, worker_kind=kind)
    with pytest.raises(FormatError, match=f"{reader.rel_paths[7]}: image file missing"):
        for _ in loader:
            pass


@pytest.mark.timeout(60)
@pytest.mark.parametrize("layout,named", [({"codec": "zstd"}, "BytesCodec, ZstdCodec"),
                                          ({"checksum": True}, "BytesCodec, Crc32cCodec"),
                                          ({"shard_images": 64}, "in shards of 64")])
def test_zarr_direct_refuses_chunks_that_are_not_raw_bytes(arrays, tmp_path, layout, named):
    with pytest.raises(ValueError, match=f"read_path 'direct' reads uncompressed, unsharded chunks without a "
                                         f"checksum; .*images is stored with .*{named}"):
        write("zarr", *arrays, tmp_path / "z", {"read_path": "direct"}, chunk_images=CHUNK, **layout)


@pytest.mark.timeout(60)
def test_zarr_direct_reads_window_ranges_across_chunk_edges(opened, arrays):
    reader = opened["zarr direct"]
    ranges = [(3, 40), (280, N), (100, 143)]
    rows = reader.read_ranges_into(ranges, np.empty((120, 8, 8, 3), np.uint8))
    assert np.array_equal(rows, np.concatenate([arrays[0][a:b] for a, b in ranges]))


def shm_entries() -> set[str]:
    return set(os.listdir("/dev/shm")) if Path("/dev/shm").is_dir() else set()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["batch", "block"])
def test_a_ring_worker_killed_mid_epoch_is_named_and_its_ring_released(opened, arrays, mode):
    """SIGKILL to a ring worker after the first batch: the loop raises an error naming it (no
    hang), the other worker stops, the ring's shared memory is gone (no /dev/shm entry left, the
    ring object freed), and the next epoch starts new workers and is whole."""
    before = shm_entries()
    windows = {"block_size": CHUNK, "window": 2} if mode == "block" else {}
    loader = loading.make_loader(opened["zarr direct"], batch_size=8, mode=mode, workers=2, worker_kind="ring",
                                 normalize=False, **windows)
    batches = iter(loader)
    next(batches)
    crew = loader.data_loader.crew
    ring, victim = weakref.ref(crew.ring), crew.processes[1]
    os.kill(victim.pid, signal.SIGKILL)
    with pytest.raises(loading.WorkerDied, match=rf"ring worker 1 \(pid {victim.pid}\) reading .*zarr.* exited "
                                                 r"unexpectedly \(killed by SIGKILL\)"):
        for _ in batches:
            pass
    del crew, batches
    gc.collect()
    assert ring() is None
    assert not any(p.is_alive() for p in loader.data_loader.crew.processes)
    assert shm_entries() <= before
    loader.set_epoch(1)
    ids = np.concatenate([decode_ids(images) for images, _ in loader])
    assert np.array_equal(np.sort(ids), np.arange(N))


@pytest.mark.timeout(30)
def test_a_batch_larger_than_a_ring_slot_is_refused_at_construction_with_the_sizes(opened):
    with pytest.raises(ValueError, match=r"a batch of 512 images of 8x8x3 with their labels \(0.10 MiB\) is larger "
                                         r"than a ring slot of ring_slot_mib=0.05 \(0.05 MiB\)"):
        loading.make_loader(opened["npy"], batch_size=512, workers=2, worker_kind="ring", ring_slot_mib=0.05)
    loading.make_loader(opened["npy"], batch_size=512, workers=2, worker_kind="ring", ring_slot_mib=0.1)


@pytest.mark.timeout(30)
def test_thread_workers_hand_a_windows_batches_over_as_they_are_made():
    """The consumer gets a window's first batch while its thread still waits to make the second
    (a window made whole before hand-over would never come)."""
    consumer_has_first = threading.Event()

    class TwoBatchWindows(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, item):
            yield torch.zeros(1), torch.zeros(1)
            assert consumer_has_first.wait(10), "the first batch was not handed over before the second was made"
            yield torch.ones(1), torch.ones(1)

    pool = ThreadWorkers(TwoBatchWindows(), dict(batch_size=None, collate_fn=lambda batch: batch), [0],
                         workers=1, prefetch_factor=2, pin_memory=False)
    windows = iter(pool)
    window = next(windows)
    first = next(iter(window))
    consumer_has_first.set()
    assert [float(images) for images, _ in [first, *window]] == [0.0, 1.0]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ["npy", "zarr direct", "files png"])
def test_a_ring_workers_batch_is_gathered_into_its_slot_in_place(opened, arrays, name):
    """Batch mode gathers a batch (from a memory map, or back into the sampler's order) straight
    into the slot the worker then sends: one slot taken per batch. A batch made elsewhere (sample
    mode's collate) is copied into a free slot."""
    from multiprocessing import Pipe

    from thesis_lib.loading.ring import Inbox, Ring, SlotWriter

    reader = opened[name]
    ring = Ring(slots=3, capacity=BATCH, image_shape=reader.image_shape)
    inbox = Inbox(Pipe(duplex=False)[0], os.getpid(), [0, 1, 2])
    slots = SlotWriter(ring, inbox)
    dataset = loading.BatchDataset(reader)
    dataset.use_batch_buffers(slots)
    indices = np.arange(40, 40 + BATCH)[::-1]
    images, labels = dataset.__getitems__(indices)
    k, n = slots.put(images, labels)
    slots.end_item()
    assert n == BATCH and np.array_equal(ring.images[k][:n].numpy(), arrays[0][indices])
    assert np.array_equal(ring.labels[k][:n].numpy(), arrays[1][indices])
    assert images.data_ptr() == ring.images[k].data_ptr()
    assert sorted(inbox.free) == sorted({0, 1, 2} - {k})  # the slot sent is the only one in use
    made_elsewhere = torch.from_numpy(arrays[0][:5].copy())
    k2, n2 = slots.put(made_elsewhere, torch.from_numpy(arrays[1][:5]))
    assert k2 != k and n2 == 5 and np.array_equal(ring.images[k2][:5].numpy(), arrays[0][:5])
