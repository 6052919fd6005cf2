"""The training layer: metrics, timing arithmetic of the emulated accelerator, cold-cache epochs,
and learning that is real (and identical for identical bytes)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from tiny_data import CPU_FORMATS, colour_blobs, disk_dir, id_images, write  # noqa: F401 (fixture)

from thesis_lib import formats, metrics, models, training
from thesis_lib.loading import make_loader

# -- metrics ------------------------------------------------------------------------------------------
Y_TRUE = [0, 0, 1, 2, 2, 2]
Y_PRED = [0, 1, 1, 2, 0, 2]
HAND_CM = [[1, 1, 0],   # class 0: one right, one called 1
           [0, 1, 0],   # class 1: right
           [1, 0, 2]]   # class 2: two right, one called 0


def test_metrics_match_a_hand_computed_matrix():
    cm = metrics.confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == HAND_CM
    result = metrics.scores(cm)
    assert result["accuracy"] == pytest.approx(4 / 6)
    np.testing.assert_allclose(result["precision"], [1 / 2, 1 / 2, 2 / 2])
    np.testing.assert_allclose(result["recall"], [1 / 2, 1 / 1, 2 / 3])
    f1 = [0.5, 2 * 0.5 * 1 / 1.5, 2 * 1 * (2 / 3) / (1 + 2 / 3)]
    assert result["f1_macro"] == pytest.approx(sum(f1) / 3)


class PixelModel(torch.nn.Module):
    """Predicts whatever class the first pixel's red channel holds (logits one-hot)."""

    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes

    def forward(self, images):
        return 10.0 * torch.nn.functional.one_hot(images[:, 0, 0, 0].long(), self.num_classes).float()


def test_evaluate_reports_the_confusion_matrix_of_the_predictions():
    images = torch.zeros(6, 3, 2, 2)
    images[:, 0, 0, 0] = torch.tensor(Y_PRED, dtype=torch.float32)
    labels = torch.tensor(Y_TRUE)
    batches = [(images[:4], labels[:4]), (images[4:], labels[4:])]
    result = training.evaluate(PixelModel(3), batches, device="cpu", num_classes=3, progress=False)
    assert result["confusion"] == HAND_CM
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["f1_macro"] == pytest.approx(metrics.scores(np.array(HAND_CM))["f1_macro"])
    assert result["loss"] > 0


# -- the emulated accelerator ----------------------------------------------------------------------------
class SlowLoader:
    """``batches`` batches of ``batch_size`` images, each taking ``delay`` seconds to arrive."""

    def __init__(self, batches: int, batch_size: int, delay: float):
        self.batches, self.batch_size, self.delay = batches, batch_size, delay

    def __len__(self):
        return self.batches

    def __iter__(self):
        for _ in range(self.batches):
            time.sleep(self.delay)
            yield torch.zeros(self.batch_size, 3, 4, 4), torch.zeros(self.batch_size, dtype=torch.int64)


def test_emulated_compute_and_au_arithmetic():
    batches, batch_size, rate, delay = 8, 64, 6400.0, 0.005  # 10 ms of compute, 5 ms of waiting per batch
    stats = training.train_one_epoch(None, SlowLoader(batches, batch_size, delay), None, device="cpu",
                                     emulate_rate=rate, progress=False)
    expected_compute = batches * batch_size / rate
    assert stats["samples"] == batches * batch_size and stats["loss"] is None
    assert expected_compute <= stats["compute_s"] < 1.5 * expected_compute + 0.05  # sleep never ends early
    assert stats["data_wait_s"] >= batches * delay
    assert stats["wall_s"] >= stats["compute_s"] + stats["data_wait_s"]
    assert stats["au"] == pytest.approx(stats["compute_s"] / stats["wall_s"])
    assert stats["samples_per_s"] == pytest.approx(stats["samples"] / stats["wall_s"])
    assert stats["au"] <= stats["compute_s"] / (stats["compute_s"] + batches * delay)  # about 10 / (10 + 5)
    assert stats["peak_rss_mb"] > 0


def test_rate_zero_is_loader_only():
    stats = training.train_one_epoch(None, SlowLoader(4, 16, 0.0), None, device="cpu", emulate_rate=0,
                                     progress=False)
    assert stats["compute_s"] == 0 and stats["au"] is None and stats["samples"] == 64


def test_a_model_is_needed_unless_emulating():
    with pytest.raises(ValueError, match="model and an optimizer"):
        training.train_one_epoch(None, SlowLoader(1, 1, 0.0), None, device="cpu", progress=False)
    with pytest.raises(ValueError, match="emulate_rate"):
        training.train_one_epoch(None, SlowLoader(1, 1, 0.0), None, device="cpu", emulate_rate=-1,
                                 progress=False)


def test_cold_epochs_are_evicted_and_marked(disk_dir):
    reader = write("npy", *id_images(1024, size=16), disk_dir / "set")
    loader = make_loader(reader, batch_size=128, workers=2)
    run = training.fit(None, loader, epochs=2, device="cpu", num_classes=7, emulate_rate=1e6, cache="cold",
                       progress=False)
    assert run["eval"] is None
    assert [epoch["cold"] for epoch in run["epochs"]] == [True, True]
    assert all(epoch["cached_fraction"] < 0.1 for epoch in run["epochs"])
    warm = training.fit(None, loader, epochs=1, device="cpu", num_classes=7, emulate_rate=0, progress=False)
    assert warm["epochs"][0]["cold"] is False and warm["epochs"][0]["cached_fraction"] is None


def test_a_sharded_loader_needs_torch_distributed(blobs):
    loader = make_loader(blobs[0], batch_size=64, distributed=True, rank=0, world_size=2)
    with pytest.raises(ValueError, match="torch.distributed is not initialised"):
        training.fit(models.build("convnet", 10, 32), loader, epochs=1, device="cpu", num_classes=10,
                     progress=False)


# -- optimisation ---------------------------------------------------------------------------------------
def test_schedule_warms_up_then_decays_to_zero():
    optimizer = training.make_optimizer(torch.nn.Linear(2, 2), lr=0.4)
    assert optimizer.defaults["nesterov"] and optimizer.defaults["momentum"] == 0.9
    scheduler = training.make_scheduler(optimizer, total_steps=100, warmup_fraction=0.1)
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.04) and max(rates) == pytest.approx(0.4)
    assert int(np.argmax(rates)) == 9 and rates[-1] < 0.001
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))


# -- learning is real -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    """1,000 training and 300 test 32 px colour-blob images in npy."""
    folder = tmp_path_factory.mktemp("blobs")
    return (write("npy", *colour_blobs(1000, seed=0), folder / "train"),
            write("npy", *colour_blobs(300, seed=1), folder / "test"))


def train_convnet(train_reader, test_reader=None, epochs: int = 1, **loader_options) -> tuple[dict, torch.nn.Module]:
    torch.manual_seed(0)
    model = models.build("convnet", 10, 32)
    test_loader = test_reader and make_loader(test_reader, batch_size=300, shuffle=False)
    run = training.fit(model, make_loader(train_reader, batch_size=64, seed=0, **loader_options), test_loader,
                       epochs=epochs, device="cpu", num_classes=10, lr=0.1, progress=False)
    return run, model


def test_convnet_learns_well_above_chance_in_two_epochs(blobs):
    run, _ = train_convnet(*blobs, epochs=2, augment=True)
    assert run["epochs"][1]["loss"] < run["epochs"][0]["loss"]
    assert run["eval"]["accuracy"] > 0.5  # chance is 0.1
    assert np.array(run["eval"]["confusion"]).sum() == 300
    assert all(0 < epoch["au"] <= 1 for epoch in run["epochs"])


@pytest.mark.parametrize("fmt", [name for name in CPU_FORMATS if name != "npy"])
def test_identical_bytes_train_identically(blobs, fmt, tmp_path):
    """Every lossless format hands training the same bytes, so the same seed gives the same model."""
    images, labels = blobs[0].read_range(0, 256), np.array(blobs[0].labels[:256])
    reference = write("npy", images, labels, tmp_path / "npy")
    other = write(fmt, images, labels, tmp_path / fmt)
    assert formats.get(fmt).lossless(other.options)
    (run_a, model_a), (run_b, model_b) = train_convnet(reference), train_convnet(other)
    assert run_a["epochs"][0]["loss"] == run_b["epochs"][0]["loss"]
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), name
