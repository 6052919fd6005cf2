"""The shuffle-quality measure: each mode's order found without reading is the order its loader
delivers, and the measures tell a storage-order pass from a uniform shuffle."""
from __future__ import annotations

import numpy as np
import pytest
from tiny_data import decode_ids, id_images, write

from thesis_lib.loading import make_loader
from thesis_lib.tools import shufflequality

N = 301
IMAGES, LABELS = id_images(N)
pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write("webdataset", IMAGES, LABELS, tmp_path_factory.mktemp("wds") / "set", open_options={"block_size": 20},
                 shard_images=40)


@pytest.mark.parametrize("mode,options", [("batch", {}), ("block", {"window": 2}), ("stream", {"buffer": 64})])
def test_the_order_found_without_reading_is_the_loaders(shards, mode, options):
    loader = make_loader(shards, batch_size=32, mode=mode, seed=3, normalize=False, **options)
    loader.set_epoch(2)
    read = np.concatenate([decode_ids(x) for x, _ in loader])
    np.testing.assert_array_equal(shufflequality.mode_order(shards, mode, 32, seed=3, epoch=2, **options), read)


def test_the_measures_tell_storage_order_from_a_uniform_shuffle():
    labels = np.arange(10_000) // 100  # storage sorted by class: the worst case for runs
    in_storage = shufflequality.quality(np.arange(10_000), labels, 500)
    assert in_storage["displacement"] == 0 and in_storage["storage_neighbours"] == 1
    assert in_storage["longest_class_run"] == 100 and in_storage["classes_per_batch"] == 5
    assert in_storage["batch_span"] == pytest.approx(499 / 10_000)
    uniform = shufflequality.quality(np.random.default_rng(0).permutation(10_000), labels, 500)
    assert uniform["displacement"] == pytest.approx(1 / 3, abs=0.01) and uniform["batch_span"] > 0.99
    assert uniform["storage_neighbours"] < 0.02 and uniform["longest_class_run"] <= 4
    assert uniform["classes_per_batch"] > 90


def test_longest_run():
    assert [shufflequality.longest_run(np.array(v)) for v in ([], [1], [1, 1, 2], [3, 1, 1, 1, 2, 2])] == [0, 1, 2, 3]


def test_the_table_has_a_row_per_order(shards):
    table = shufflequality.measure(shards, batch_size=32, buffers=[32, 301], epochs=2, seed=0, workers=2)
    assert table["mode"].tolist() == ["uniform", "batch", "block", "stream", "stream"]
    assert table["buffer"].tolist() == ["", "", "", 32, 301]
    small, whole = table.iloc[3], table.iloc[4]
    assert small["batch_span"] < whole["batch_span"]  # a buffer of one batch keeps batches within a few shards
