"""The ``stream`` access mode: shards in a new order each epoch through a shuffle buffer, what it
delivers predicted without reading (the shuffle-quality measure relies on that), the buffer's
range refused outside it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_data import decode_ids, id_images, write

from thesis_lib.loading import make_loader
from thesis_lib.loading.stream import buffer_plan, epoch_order, shard_ranges

N, SHARD = 301, 40
IMAGES, LABELS = id_images(N)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write("webdataset", IMAGES, LABELS, tmp_path_factory.mktemp("wds") / "set", shard_images=SHARD)


def delivered(loader):
    ids, labels = zip(*[(decode_ids(x), y.numpy()) for x, y in loader])
    return np.concatenate(ids), np.concatenate(labels)


@pytest.mark.timeout(60)
def test_the_shards_are_the_readers_own_else_its_blocks(shards):
    assert shard_ranges(shards) == [(k, min(k + SHARD, N)) for k in range(0, N, SHARD)]
    blocks = write("npy", IMAGES, LABELS, shards.path.parent.parent / "npy", open_options={"block_size": 100})
    assert shard_ranges(blocks) == [(0, 100), (100, 200), (200, 300), (300, 301)]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [0, 2])
def test_each_epoch_delivers_every_image_once_in_the_predicted_order(shards, workers):
    loader = make_loader(shards, batch_size=32, mode="stream", workers=workers, seed=5, buffer=100, normalize=False)
    orders = []
    for epoch in (0, 1):
        loader.set_epoch(epoch)
        ids, labels = delivered(loader)
        assert sorted(ids.tolist()) == list(range(N))
        np.testing.assert_array_equal(labels, LABELS[ids])
        np.testing.assert_array_equal(ids, epoch_order(loader.sampler, epoch, 32))
        assert len(loader) == -(-N // 32)
        orders.append(ids)
    assert not np.array_equal(*orders)  # a new shard order and buffer draws each epoch


@pytest.mark.timeout(60)
def test_a_buffer_shuffles_only_within_its_reach(shards):
    """With a buffer of one batch an image leaves at most a buffer's length after it arrives, and
    shards arrive whole: positions stay near the shard order's."""
    loader = make_loader(shards, batch_size=16, mode="stream", seed=1, buffer=16, normalize=False)
    ids, _ = delivered(loader)
    arrivals = np.concatenate([np.arange(a, b) for a, b in loader.sampler.rank_pieces(0)])
    arrived_at = {i: k for k, i in enumerate(arrivals)}
    lags = np.array([k - arrived_at[i] for k, i in enumerate(ids)])
    assert lags.min() >= -16 and not np.array_equal(ids, arrivals)


@pytest.mark.timeout(60)
def test_without_shuffle_the_stream_is_the_storage_order(shards):
    ids, _ = delivered(make_loader(shards, batch_size=50, mode="stream", shuffle=False, normalize=False))
    np.testing.assert_array_equal(ids, np.arange(N))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("buffer", [0, 31, N + 1, -5, 2.5, "100", True])
def test_a_buffer_outside_one_batch_to_the_dataset_is_refused_with_the_range(shards, buffer):
    with pytest.raises(ValueError, match=rf"mode='stream'\): buffer={buffer!r} must be an integer in 32\.\.{N} "
                                         r"\(at least one batch of 32, at most the 301 images"):
        make_loader(shards, batch_size=32, mode="stream", buffer=buffer)


@pytest.mark.timeout(30)
def test_the_default_buffer_is_ten_thousand_or_the_whole_set(shards):
    assert make_loader(shards, batch_size=32, mode="stream").sampler.buffer == N
    assert make_loader(shards, batch_size=500, mode="stream").sampler.buffer == N


@pytest.mark.timeout(30)
def test_the_buffer_plan_keeps_every_item_and_a_buffer_of_one_keeps_the_order():
    rng = np.random.default_rng(0)
    sent, slots = buffer_plan(10_000, 500, rng)
    assert sorted(sent.tolist()) == list(range(10_000)) and sent.tolist() != list(range(10_000))
    assert slots.min() == 0 and slots.max() == 499
    # an item leaves at the step that brings in the item taking its slot (or in the final drain)
    left_at = np.empty(10_000, np.int64)
    left_at[sent] = np.arange(10_000)
    for item in range(500, 10_000):
        assert slots[sent[item - 500]] == slots[item]
    assert (left_at >= np.arange(10_000) - 500).all()
    assert buffer_plan(100, 1, rng)[0].tolist() == list(range(100))
    assert sorted(buffer_plan(5, 50, rng)[0].tolist()) == list(range(5))


@pytest.mark.timeout(60)
def test_distributed_ranks_stream_equal_disjoint_shares(shards):
    shares = [delivered(make_loader(shards, batch_size=25, mode="stream", distributed=True, rank=r, world_size=3,
                                    seed=2, buffer=50, normalize=False))[0] for r in range(3)]
    assert [len(s) for s in shares] == [101] * 3
    everything = np.concatenate(shares)
    assert set(everything.tolist()) == set(range(N)) and len(everything) - N == 2  # padding repeats 2


@pytest.mark.timeout(60)
def test_stream_batches_are_tensors_of_the_source(shards):
    images, labels = next(iter(make_loader(shards, batch_size=20, mode="stream", seed=4, buffer=60,
                                           normalize=False)))
    ids = decode_ids(images)
    assert images.dtype == torch.uint8 and images.shape == (20, 3, 8, 8)
    np.testing.assert_array_equal(images.permute(0, 2, 3, 1).numpy(), IMAGES[ids])
    np.testing.assert_array_equal(labels.numpy(), LABELS[ids])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["thread", "ring"])
def test_thread_and_ring_workers_are_refused_by_the_stream_mode_naming_what_works(shards, kind):
    # ring workers once crashed in the worker (AttributeError) instead of being refused
    with pytest.raises(ValueError, match=f"mode='stream'.*{kind} workers cannot.*worker_kind='process'"):
        make_loader(shards, batch_size=32, mode="stream", workers=2, worker_kind=kind, buffer=100)
    make_loader(shards, batch_size=32, mode="stream", workers=0, worker_kind="thread", buffer=100)  # no workers: fine
