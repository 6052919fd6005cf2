"""The access modes: same data in every mode and format, deterministic order, block alignment,
sharding, on-device transforms, and cold-cache eviction checked with mincore."""
from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import torch
from tiny_data import CPU_FORMATS, decode_ids, disk_dir, id_images, write  # noqa: F401 (fixture)

from thesis_lib import loading
from thesis_lib.core import cache
from thesis_lib.loading import (CIFAR10_MEAN, CIFAR10_STD, MODES, BatchDataset, BlockWindows, WindowDataset,
                                batch_cuts, block_window, contiguous_runs, make_loader, random_crop_flip, rebatch)

N, BLOCK = 301, 32  # N is not a multiple of the block, the batch or the world sizes used below
TENSORSTORE = {"read_path": "tensorstore"}
IMAGES, LABELS = id_images(N)


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    return write("npy", IMAGES, LABELS, tmp_path_factory.mktemp("npy") / "set", open_options={"block_size": BLOCK})


def epoch(loader) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass over a ``normalize=False`` loader: ids decoded from the pixels, images NHWC, labels."""
    images, labels = zip(*[(x.cpu(), y.cpu()) for x, y in loader])
    images, labels = torch.cat(images), torch.cat(labels).numpy()
    return decode_ids(images), images.permute(0, 2, 3, 1).numpy(), labels


def order(reader, mode, batch_size=50, **kwargs) -> np.ndarray:
    return epoch(make_loader(reader, batch_size=batch_size, mode=mode, normalize=False, **kwargs))[0]


# -- every mode, every CPU format: the source's images and labels, each exactly once -------------
@pytest.mark.parametrize("fmt", CPU_FORMATS)
def test_every_mode_yields_the_source_once(fmt, tmp_path):
    options = {"block_size": BLOCK} if fmt == "npy" else {}
    reader = write(fmt, IMAGES, LABELS, tmp_path / fmt, open_options=options)
    for mode in MODES:
        mode_options = {"window": 2} if mode == "block" else {}
        ids, images, labels = epoch(make_loader(reader, batch_size=64, mode=mode, normalize=False, **mode_options))
        assert sorted(ids.tolist()) == list(range(N)), mode
        np.testing.assert_array_equal(images, IMAGES[ids], err_msg=mode)
        np.testing.assert_array_equal(labels, LABELS[ids], err_msg=mode)


@pytest.mark.parametrize("mode", MODES)
def test_batches_are_float_nchw_normalised(reader, mode):
    loader = make_loader(reader, batch_size=64, mode=mode, shuffle=False)
    images, labels = next(iter(loader))
    assert images.dtype == torch.float32 and images.shape == (64, 3, 8, 8) and images.is_contiguous()
    assert labels.dtype == torch.int64 and labels.tolist() == LABELS[:64].tolist()
    raw = torch.from_numpy(IMAGES[:64]).permute(0, 3, 1, 2).float() / 255
    mean, std = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(images, (raw - mean) / std)
    assert len(loader) == 5


# -- order -----------------------------------------------------------------------------------------
def test_order_is_deterministic_and_shared_by_sample_batch_resident(reader):
    first = order(reader, "batch", seed=3)
    np.testing.assert_array_equal(order(reader, "batch", seed=3), first)
    np.testing.assert_array_equal(order(reader, "sample", seed=3), first)
    np.testing.assert_array_equal(order(reader, "resident", seed=3), first)
    assert not np.array_equal(order(reader, "batch", seed=4), first)
    np.testing.assert_array_equal(order(reader, "batch", shuffle=False), np.arange(N))
    np.testing.assert_array_equal(order(reader, "block", shuffle=False), np.arange(N))


@pytest.mark.parametrize("mode", MODES)
def test_set_epoch_changes_the_order_reproducibly(reader, mode):
    loader = make_loader(reader, batch_size=50, mode=mode, normalize=False, seed=1)
    epoch0 = epoch(loader)[0]
    loader.set_epoch(1)
    epoch1 = epoch(loader)[0]
    assert not np.array_equal(epoch0, epoch1)
    loader.set_epoch(0)
    np.testing.assert_array_equal(epoch(loader)[0], epoch0)


@pytest.mark.parametrize("mode", ["sample", "batch", "block"])
def test_fork_workers_give_the_same_sequence_as_the_main_process(reader, mode):
    np.testing.assert_array_equal(order(reader, mode, seed=5, workers=2), order(reader, mode, seed=5))


@pytest.mark.slow
def test_spawn_workers_reopen_the_reader(reader):
    np.testing.assert_array_equal(order(reader, "batch", seed=5, workers=1, mp_context="spawn"),
                                  order(reader, "batch", seed=5))


def test_drop_last(reader):
    for mode in MODES:
        loader = make_loader(reader, batch_size=64, mode=mode, normalize=False, drop_last=True)
        ids = epoch(loader)[0]
        assert len(loader) == N // 64 and len(ids) == 64 * (N // 64) and len(set(ids)) == len(ids), mode


# -- batch mode: one sorted read, the sampler's order restored ---------------------------------
@pytest.mark.parametrize("fmt,options,sorted_read", [("zarr", {"chunk_images": BLOCK}, True),
                                                     ("hdf5", {"chunk_images": BLOCK}, True),
                                                     ("npy", {}, False), ("hdf5", {}, False)])
def test_batch_mode_reads_once_sorted_and_restores_the_order(tmp_path, fmt, options, sorted_read):
    """One read per batch: sorted for chunked storage; in the sampler's order for a memory-mapped
    gather (``gathers_any_order``), where sorting would only add a copy, into a reused buffer."""
    reader = write(fmt, IMAGES, LABELS, tmp_path / "set", **options)
    assert reader.gathers_any_order is not sorted_read
    dataset = BatchDataset(reader)
    asked = [40, 3, 17, 3, 250]
    method = "read" if sorted_read else "read_into"
    with mock.patch.object(reader, method, wraps=getattr(reader, method)) as read:
        images, labels = dataset.__getitems__(asked)
    assert read.call_count == 1
    assert list(read.call_args.args[0]) == (sorted(asked) if sorted_read else asked)
    np.testing.assert_array_equal(images.numpy(), IMAGES[asked])
    np.testing.assert_array_equal(labels.numpy(), LABELS[asked])


def test_sample_mode_reads_one_image_at_a_time(reader):
    with mock.patch.object(reader, "read", wraps=reader.read) as read:
        epoch(make_loader(reader, batch_size=64, mode="sample", normalize=False))
    assert read.call_count == N
    assert {len(call.args[0]) for call in read.call_args_list} == {1}


# -- block mode ------------------------------------------------------------------------------------
@pytest.mark.parametrize("open_options,buffers", [({}, 1), (TENSORSTORE, 2)], ids=["zarr-python", "tensorstore"])
def test_block_mode_reads_whole_aligned_blocks_once_into_reused_buffers(tmp_path, open_options, buffers):
    """Chunked storage: each window is one read of whole aligned blocks into a buffer the dataset
    reuses (two when the reader reads the next window in the background meanwhile), every image
    read exactly once per epoch, the batches gathered from the buffer."""
    reader = write("zarr", IMAGES, LABELS, tmp_path / "set", chunk_images=BLOCK, open_options=open_options)
    with mock.patch.object(reader, "start_read_ranges_into", wraps=reader.start_read_ranges_into) as read:
        ids = epoch(make_loader(reader, batch_size=50, mode="block", normalize=False, window=3))[0]
    assert sorted(ids.tolist()) == list(range(N))
    assert read.call_count == 4  # 10 blocks, 3 per window
    ranges = [r for call in read.call_args_list for r in call.args[0]]
    for start, stop in ranges:
        assert start % BLOCK == 0 and (stop % BLOCK == 0 or stop == N), (start, stop)
    assert sum(stop - start for start, stop in ranges) == N
    assert len({id(call.args[1]) for call in read.call_args_list}) == buffers


def test_block_mode_reads_the_next_window_ahead_in_the_main_process(tmp_path):
    reader = write("zarr", IMAGES, LABELS, tmp_path / "set", chunk_images=BLOCK, open_options=TENSORSTORE)
    windows = list(BlockWindows(N, block_size=BLOCK, window=3, shuffle=True, seed=0, rank=0, world_size=1,
                                drop_last=False))
    dataset = WindowDataset(reader, batch_size=50)

    def check(item):
        ids = np.concatenate([decode_ids(images.permute(0, 3, 1, 2)) for images, _ in dataset[item]])
        np.testing.assert_array_equal(ids, item[1])

    with mock.patch.object(reader, "start_read_ranges_into", wraps=reader.start_read_ranges_into) as read:
        check(windows[0])
        assert read.call_count == 2  # this window, then the next one ahead
        check(windows[1])
        assert read.call_count == 3  # read ahead: only the one after it
        check(windows[3])  # not the window read ahead (an abandoned order): read afresh, and it is the last
        assert read.call_count == 4 and dataset.ahead is None


def test_block_mode_over_a_memory_map_gathers_each_batch_from_one_window(reader):
    """A memory-mapped reader gathers each batch straight from its map (into a reused buffer): one
    read per batch (per share of a batch at a window's edge), all of its indices inside one
    window's blocks."""
    assert reader.gathers_any_order
    windows = BlockWindows(N, block_size=BLOCK, window=3, shuffle=True, seed=0, rank=0, world_size=1,
                           drop_last=False).windows()
    window_of = {int(i): k for k, window in enumerate(windows) for i in window}
    with mock.patch.object(reader, "read_into", wraps=reader.read_into) as read:
        ids = epoch(make_loader(reader, batch_size=50, mode="block", normalize=False, window=3))[0]
    assert sorted(ids.tolist()) == list(range(N))
    for call in read.call_args_list:
        assert len(call.args[0]) <= 50 and len({window_of[int(i)] for i in call.args[0]}) == 1
    firsts = np.cumsum([0] + [len(w) for w in windows[:-1]])
    assert read.call_count == sum(len(batch_cuts(f, len(w), 50)) - 1 for f, w in zip(firsts, windows)) > 7


@pytest.mark.parametrize("first,count,cuts", [(0, 96, [0, 50, 96]), (96, 96, [0, 4, 54, 96]),
                                              (100, 50, [0, 50]), (90, 5, [0, 5])])
def test_batch_cuts_follow_the_epochs_batches(first, count, cuts):
    assert batch_cuts(first, count, 50).tolist() == cuts


def test_block_windows_are_unions_of_shuffled_blocks(reader):
    sampler = BlockWindows(N, block_size=BLOCK, window=3, shuffle=True, seed=0, rank=0, world_size=1,
                           drop_last=False)
    windows = sampler.windows()
    firsts, visited, following = zip(*sampler)
    assert list(firsts) == np.cumsum([0] + [len(w) for w in windows[:-1]]).tolist()  # where each begins
    assert all(a is b for a, b in zip(visited, windows))
    assert all(a is b for a, b in zip(following, windows[1:])) and following[-1] is None
    assert len(windows) == 4  # 10 blocks (the last one 13 images), 3 per window
    for window in windows:
        blocks = np.unique(window // BLOCK)
        assert len(blocks) <= 3
        whole = np.concatenate([np.arange(b * BLOCK, min((b + 1) * BLOCK, N)) for b in blocks])
        np.testing.assert_array_equal(np.sort(window), whole)
        assert not np.array_equal(window, np.sort(window))  # shuffled inside the window
    first_blocks = [int(w[0] // BLOCK) for w in windows]
    assert first_blocks != sorted(first_blocks) or len(set(first_blocks)) < len(first_blocks)


def test_block_order_keeps_the_short_last_block_last(reader):
    """Only whole blocks are shuffled: windows of whole batches then never split a batch, so no
    batch is joined from two windows (a copy)."""
    sampler = BlockWindows(N, block_size=BLOCK, window=2, shuffle=True, seed=0, rank=0, world_size=1,
                           drop_last=False)
    windows = sampler.windows()
    assert [len(w) for w in windows] == [2 * BLOCK] * 4 + [BLOCK + N % BLOCK]
    assert set(range(N - N % BLOCK, N)) <= set(windows[-1].tolist())  # the short block is in the last window
    with mock.patch("thesis_lib.loading.orders.concatenate", wraps=loading.concatenate) as joined:
        ids = epoch(make_loader(reader, batch_size=2 * BLOCK, mode="block", normalize=False, window=2))[0]
    assert sorted(ids.tolist()) == list(range(N)) and joined.call_count == 0


def test_block_window_holds_at_least_one_batch_by_default():
    assert block_window(512, 512) == 8 and block_window(1024, 512) == 8
    assert block_window(16, 512) == 32 and block_window(100, 512) == 8
    assert block_window(16, 512, window=3) == 3
    with pytest.raises(ValueError, match="window must be an integer >= 1"):
        block_window(16, 512, window=0)


def test_block_size_option_must_keep_chunk_alignment(reader):
    make_loader(reader, batch_size=50, mode="block", block_size=2 * BLOCK)
    with pytest.raises(ValueError, match="multiple of the reader's block size 32"):
        make_loader(reader, batch_size=50, mode="block", block_size=BLOCK + 1)


@pytest.mark.parametrize("window_sizes", [[5, 5, 5], [2, 1, 7, 3], [12], [4, 4]])
@pytest.mark.parametrize("drop_last", [False, True])
def test_rebatch_cuts_a_stream_of_windows_into_batches(window_sizes, drop_last):
    stream = torch.arange(sum(window_sizes))
    batches = [images for images, _ in rebatch([(w, w) for w in stream.split(window_sizes)], 4, drop_last)]
    kept = len(stream) // 4 * 4 if drop_last else len(stream)
    torch.testing.assert_close(torch.cat(batches), stream[:kept])
    assert [len(b) for b in batches[:kept // 4]] == [4] * (kept // 4)


def test_contiguous_runs():
    assert contiguous_runs(np.array([0, 1, 2, 5, 6, 9])) == [(0, 3), (5, 7), (9, 10)]


# -- distributed shards ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_shards_are_disjoint_and_cover(reader, mode, drop_last):
    world = 4  # 301 = 4 * 75 + 1; batches of 25 leave no partial batch for drop_last to drop
    shards = [order(reader, mode, 25, distributed=True, rank=rank, world_size=world, seed=2, drop_last=drop_last)
              for rank in range(world)]
    everything = np.concatenate(shards)
    if drop_last:
        assert all(len(shard) == N // world for shard in shards)
        assert len(set(everything.tolist())) == len(everything) == world * (N // world)
    else:
        assert all(len(shard) == -(-N // world) for shard in shards)
        assert set(everything.tolist()) == set(range(N))
        assert len(everything) - N == world * (-(-N // world)) - N  # padding repeats only 3 samples
    again = order(reader, mode, 25, distributed=True, rank=1, world_size=world, seed=2, drop_last=drop_last)
    np.testing.assert_array_equal(again, shards[1])


def test_distributed_needs_a_rank(reader):
    with pytest.raises(ValueError, match="rank and world_size"):
        make_loader(reader, batch_size=8, distributed=True)
    with pytest.raises(ValueError, match="distributed=True"):
        make_loader(reader, batch_size=8, rank=1, world_size=2)


# -- options ---------------------------------------------------------------------------------------
def test_unknown_mode_and_option_are_named(reader):
    with pytest.raises(ValueError, match="valid modes: sample, batch, block, resident"):
        make_loader(reader, batch_size=8, mode="random")
    with pytest.raises(ValueError, match="unknown option 'window'"):
        make_loader(reader, batch_size=8, mode="batch", window=4)


class Backwards(torch.utils.data.Sampler):
    """Every sample, last to first, each epoch."""

    def __init__(self, n: int):
        self.n = n

    def __iter__(self):
        return iter(range(self.n - 1, -1, -1))

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        pass


class BackwardsMode(loading.BatchMode):
    """A fifth access mode: batch mode's reads in its own order."""

    name = "backwards"

    def sampler(self, request):
        return Backwards(len(request.reader))


def test_a_fifth_mode_is_one_class_and_one_registry_entry(reader):
    with mock.patch.dict(loading.MODES, {BackwardsMode.name: BackwardsMode()}):
        assert order(reader, "backwards", workers=1).tolist() == list(range(N - 1, -1, -1))
        with pytest.raises(ValueError, match="unknown option 'window'; valid options: crop_padding, mean, mp_context"):
            make_loader(reader, batch_size=8, mode="backwards", window=2)
        with pytest.raises(ValueError, match="valid modes: sample, batch, block, resident, stream, backwards$"):
            make_loader(reader, batch_size=8, mode="random")
    with pytest.raises(ValueError, match="unknown access mode 'backwards'; valid modes: sample, batch, block, "
                                         "resident, stream$"):
        make_loader(reader, batch_size=8, mode="backwards")


# -- on-device transforms ----------------------------------------------------------------------------
def test_random_crop_flip_is_a_shifted_possibly_mirrored_crop():
    images = torch.from_numpy(IMAGES[:64])
    padding = 2
    out = random_crop_flip(images, padding, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (0, 0, padding, padding, padding, padding))
    flips = set()
    for image, result in zip(padded, out):
        matches = [(dy, dx, flip) for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)
                   for flip in (False, True)
                   if torch.equal(result, (lambda c: c.flip(1) if flip else c)(image[dy:dy + 8, dx:dx + 8]))]
        assert matches
        flips.update(flip for *_, flip in matches)
    assert flips == {False, True}


def test_augmentation_is_seeded_per_epoch(reader):
    loader = make_loader(reader, batch_size=64, mode="batch", augment=True, shuffle=False)
    first = next(iter(loader))[0]
    torch.testing.assert_close(next(iter(make_loader(reader, batch_size=64, mode="batch", augment=True,
                                                     shuffle=False)))[0], first)
    loader.set_epoch(1)
    assert not torch.equal(next(iter(loader))[0], first)


# -- a device-side reader (the CuPy format's protocol), simulated with CPU tensors ---------------------
class DeviceReader:
    """Stands in for the CuPy reader: ``on_device`` and ``read_torch``; ``read`` must not be used."""

    on_device = True

    def __init__(self, reader):
        self.inner, self.labels, self.image_shape = reader, reader.labels, reader.image_shape
        self.block_size = reader.block_size
        self.reads, self.asked = 0, []

    def __len__(self):
        return len(self.inner)

    def read_torch(self, indices):
        self.reads += 1
        self.asked.append(np.asarray(indices))
        return torch.from_numpy(self.inner.read(indices))

    def close(self):
        pass


@pytest.mark.parametrize("mode", MODES)
def test_device_reader_goes_through_read_torch(reader, mode):
    device_reader = DeviceReader(reader)
    if mode == "stream":  # its shuffle buffer is host memory
        with pytest.raises(ValueError, match="mode='stream'.*returns device arrays; use mode 'block' or 'resident'"):
            make_loader(device_reader, batch_size=64, mode=mode)
        return
    ids, images, _ = epoch(make_loader(device_reader, batch_size=64, mode=mode, normalize=False))
    np.testing.assert_array_equal(images, IMAGES[ids])
    assert device_reader.reads > 0


def test_device_reader_refuses_workers(reader):
    with pytest.raises(ValueError, match="workers=0"):
        make_loader(DeviceReader(reader), batch_size=64, mode="batch", workers=2)


# -- cold cache: eviction really drops the pages (mincore, no timing) -----------------------------------
def test_evict_drops_pages_from_the_page_cache(disk_dir):
    file = disk_dir / "blob.bin"
    file.write_bytes(np.random.default_rng(0).bytes(1 << 20))
    file.read_bytes()
    assert cache.resident_fraction(file) > 0.9
    assert cache.evict(file) == 1 << 20
    assert cache.resident_fraction(file) < 0.1
    file.read_bytes()
    assert cache.resident_fraction(disk_dir) > 0.9


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_evict_releases_mapped_files(disk_dir, workers):
    reader = write("npy", *id_images(2048, size=16), disk_dir / "set")
    loader = make_loader(reader, batch_size=256, mode="batch", workers=workers, normalize=False)
    first = epoch(loader)[0]
    assert cache.resident_fraction(reader.files()) > 0.9
    assert loader.evict() < 0.1  # the memmaps here and in the workers are closed first
    np.testing.assert_array_equal(epoch(loader)[0], first)  # and reopened by the next epoch
    assert cache.resident_fraction(reader.files()) > 0.9


def test_memory_filesystems_are_recognised():
    assert cache.filesystem("/proc/self") == "proc"
    assert not cache.can_evict("/dev/shm") or cache.filesystem("/dev/shm") not in cache.MEMORY_FILESYSTEMS


def test_block_mode_reads_whole_blocks_to_the_device(reader):
    """A device reader (KvikIO reads one range per call) gets whole aligned blocks, never a
    batch's scattered indices; the batches are gathered on the device."""
    device_reader = DeviceReader(reader)
    ids = epoch(make_loader(device_reader, batch_size=50, mode="block", normalize=False, window=3))[0]
    assert sorted(ids.tolist()) == list(range(N))
    for asked in device_reader.asked:
        assert asked[0] % BLOCK == 0 and np.array_equal(asked, np.arange(asked[0], asked[-1] + 1))
    assert sum(len(a) for a in device_reader.asked) == N
