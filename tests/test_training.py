"""The training layer: metrics, timing arithmetic of the emulated accelerator, cold-cache epochs,
and learning that is real (and identical for identical bytes)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from tiny_data import CPU_FORMATS, colour_blobs, disk_dir, id_images, write  # noqa: F401 (fixture)

from thesis_lib import formats, training
from thesis_lib.loading import make_loader
from thesis_lib.training import clocks, metrics, models

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

    def set_epoch(self, epoch):
        pass

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


class FakeTime:
    """A clock that moves only when slept on (or when a test moves it)."""

    def __init__(self):
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_emulated_queue_blocks_only_when_more_than_k_steps_are_outstanding():
    time_ = FakeTime()
    gpu = training.EmulatedAccelerator(rate=100.0, queue_steps=2, clock=time_.clock, sleep=time_.sleep)
    gpu.submit(10)  # 0.1 s each: done at 0.1, 0.2, 0.3
    gpu.submit(10)
    assert time_.now == 0 and gpu.outstanding() == 2
    gpu.submit(10)  # a third outstanding: wait for the first
    assert time_.now == pytest.approx(0.1) and gpu.outstanding() == 2
    time_.now += 0.05  # the host reads the next batch meanwhile
    gpu.submit(10)  # queued behind the others: starts at 0.3, not at 0.15
    assert time_.now == pytest.approx(0.2) and gpu.busy_until == pytest.approx(0.4)
    gpu.drain()
    assert time_.now == pytest.approx(0.4) and gpu.busy_s == pytest.approx(0.4) and gpu.outstanding() == 0


def test_an_idle_emulated_accelerator_starts_when_the_batch_arrives():
    time_ = FakeTime()
    gpu = training.EmulatedAccelerator(rate=100.0, queue_steps=1, clock=time_.clock, sleep=time_.sleep)
    for _ in range(3):
        time_.now += 0.3  # loading (0.3 s) is slower than computing (0.1 s): never a wait
        arrived = time_.now
        gpu.submit(10)
        assert time_.now == arrived and gpu.busy_until == pytest.approx(arrived + 0.1)
    gpu.drain()
    assert time_.now == pytest.approx(1.0) and gpu.busy_s == pytest.approx(0.3)  # AU 0.3 over a 1 s epoch
    with pytest.raises(ValueError, match="queue_steps must be >= 1"):
        training.EmulatedAccelerator(rate=100.0, queue_steps=0)


def test_async_emulation_overlaps_loading_with_compute():
    """Loading (20 ms a batch) is faster than computing (40 ms): synchronously the two add up,
    asynchronously the host reads while the accelerator computes, so the epoch is about as long as
    the compute. The sync lower bound is exact (sleeps never end early); the async epoch is
    expected 180 ms shorter, which no scheduling delay on a busy machine makes up."""
    batches, batch_size, rate, delay = 10, 64, 1600.0, 0.02
    compute = batches * batch_size / rate  # 0.4 s
    sync = training.train_one_epoch(None, SlowLoader(batches, batch_size, delay), None, device="cpu",
                                    emulate_rate=rate, progress=False)
    queued = training.train_one_epoch(None, SlowLoader(batches, batch_size, delay), None, device="cpu",
                                      emulate_rate=rate, queue_steps=2, progress=False)
    assert sync["queue_steps"] == 0 and queued["queue_steps"] == 2
    assert sync["wall_s"] >= compute + batches * delay
    assert sync["au"] <= compute / (compute + batches * delay)
    assert queued["compute_s"] == pytest.approx(compute)  # the emulated busy time, exactly
    assert queued["wall_s"] >= compute + delay  # it cannot start before the first batch
    assert queued["wall_s"] < compute + batches * delay <= sync["wall_s"]
    assert queued["au"] > sync["au"]
    assert queued["data_wait_s"] >= batches * delay  # host time in next(): overlapping compute now


def test_queue_steps_must_be_a_count():
    with pytest.raises(ValueError, match="queue_steps must be an integer >= 0"):
        training.train_one_epoch(None, SlowLoader(1, 1, 0.0), None, device="cpu", emulate_rate=1.0,
                                 queue_steps=-1, progress=False)


def test_queue_steps_reach_every_epoch_through_fit():
    run = training.fit(None, SlowLoader(2, 8, 0.0), epochs=2, device="cpu", num_classes=2, emulate_rate=1e5,
                       queue_steps=3, progress=False)
    assert [epoch["queue_steps"] for epoch in run["epochs"]] == [3, 3]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_async_cuda_training_times_with_events_and_learns_the_same(blobs):
    stats = {}
    for k in (0, 2):
        torch.manual_seed(0)
        model = models.build("convnet", 10, 32)
        loader = make_loader(blobs[0], batch_size=128, seed=0, device="cuda")
        stats[k] = training.fit(model, loader, epochs=1, device="cuda", num_classes=10, queue_steps=k,
                                progress=False)["epochs"][0]
    for epoch in stats.values():
        assert 0 < epoch["compute_s"] <= epoch["wall_s"] and 0 < epoch["au"] <= 1
    assert stats[2]["queue_steps"] == 2
    assert stats[2]["loss"] == pytest.approx(stats[0]["loss"], rel=1e-2)


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


# -- the clocks, through their one interface -------------------------------------------------------------
CPU, CUDA = torch.device("cpu"), torch.device("cuda")  # naming a CUDA device needs no GPU


@pytest.mark.parametrize("device, rate, queue_steps, kind", [
    (CPU, None, 0, clocks.SyncClock),
    (CPU, None, 2, clocks.SyncClock),  # a real CPU step is synchronous whatever k
    (CUDA, None, 0, clocks.SyncClock),
    (CUDA, None, 2, clocks.CudaQueue),
    (CPU, 100.0, 0, clocks.EmulatedSyncClock),
    (CUDA, 100.0, 2, clocks.EmulatedAccelerator),
    (CPU, 0, 0, clocks.LoaderOnlyClock),
    (CUDA, 0, 2, clocks.LoaderOnlyClock),
])
def test_make_clock_picks_one_clock_per_regime(device, rate, queue_steps, kind):
    assert type(clocks.make_clock(device, rate, queue_steps)) is kind


def run_steps(clock, batches: int, batch_size: int) -> list[int]:
    """The epoch loop's calls on ``clock``; returns the batch sizes whose host work ran."""
    ran = []
    for _ in range(batches):
        clock.batch_ready()
        clock.submit(batch_size, lambda: ran.append(batch_size))
    clock.drain()
    return ran


@pytest.mark.parametrize("queue_steps", [0, 2])
def test_an_emulated_accelerators_busy_time_is_batches_over_rate(queue_steps):
    batches, batch_size, rate = 5, 10, 1000.0  # 10 ms a batch
    expected = batches * batch_size / rate
    clock = clocks.make_clock(CPU, rate, queue_steps)
    started = time.perf_counter()
    assert run_steps(clock, batches, batch_size) == [batch_size] * batches
    if queue_steps:
        assert clock.busy_s == pytest.approx(expected)  # accounted, not measured
    else:
        assert expected <= clock.busy_s < 1.5 * expected + 0.05  # slept: never less, a little more
    assert time.perf_counter() - started >= expected  # drained: every step's time has passed


def test_the_sync_clock_counts_the_step_and_not_the_time_between_steps():
    time_ = FakeTime()
    clock = clocks.SyncClock(CPU, clock=time_.clock)
    for seconds in (0.25, 0.5):
        time_.now += 1.0  # the host reads the next batch: not compute
        clock.batch_ready()
        clock.submit(8, lambda seconds=seconds: time_.sleep(seconds))
    clock.drain()
    assert clock.busy_s == pytest.approx(0.75) and time_.now == pytest.approx(2.75)


def test_the_sync_clock_waits_for_cuda_before_and_after_each_step(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(("sync", device)))
    clock = clocks.SyncClock(CUDA)
    clock.batch_ready()  # the loader's copies finish inside the data wait
    clock.submit(8, lambda: calls.append("step"))
    assert calls == [("sync", CUDA), "step", ("sync", CUDA)] and clock.busy_s > 0


def test_the_loader_only_clock_runs_the_host_work_and_counts_no_compute():
    clock = clocks.make_clock(CPU, 0, 2)
    assert run_steps(clock, 3, 4) == [4, 4, 4] and clock.busy_s == 0


class FakeEvent:
    """A CUDA event on a :class:`FakeTime` clock: recorded at creation, done once synchronised."""

    def __init__(self, time_: FakeTime):
        self.at, self.done = time_.now, False

    def synchronize(self) -> None:
        self.done = True

    def elapsed_time(self, end: "FakeEvent") -> float:
        return (end.at - self.at) * 1000  # milliseconds, as CUDA's


def test_the_cuda_queue_keeps_k_steps_in_flight_timed_by_events():
    time_, ends = FakeTime(), []

    def record_event():
        ends.append(FakeEvent(time_))
        return ends[-1]

    queue = clocks.CudaQueue(2, record_event=record_event)
    for _ in range(2):
        queue.batch_ready()
        queue.submit(8, lambda: time_.sleep(0.1))  # each step spans 0.1 s between its events
    assert queue.busy_s == 0 and not any(event.done for event in ends)  # two in flight: no wait
    queue.submit(8, lambda: time_.sleep(0.1))
    assert ends[1].done and not ends[3].done and queue.busy_s == pytest.approx(0.1)  # step 1 retired
    queue.drain()
    assert ends[5].done and not queue.pending and queue.busy_s == pytest.approx(0.3)
    with pytest.raises(ValueError, match="queue_steps must be >= 1"):
        clocks.CudaQueue(0)


class FakeClock:
    """A clock that records the loop's calls and claims 1 ms of compute a step."""

    def __init__(self):
        self.calls, self.busy_s = [], 0.0

    def batch_ready(self):
        self.calls.append("ready")

    def submit(self, samples, run):
        run()
        self.calls.append(("submit", samples))
        self.busy_s += 0.001

    def drain(self):
        self.calls.append("drain")


@pytest.mark.parametrize("emulate_rate", [None, 100.0])
def test_the_epoch_loop_has_no_branch_on_the_regime(monkeypatch, emulate_rate):
    """Whatever clock the factory gives, train_one_epoch makes the same calls and reports its busy time."""
    fake, asked = FakeClock(), []
    monkeypatch.setattr(training.loop, "make_clock", lambda *args: asked.append(args) or fake)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 2))
    margin = model[1].bias.detach().clone()  # labels are all 0: training raises bias 0 over bias 1
    stats = training.train_one_epoch(model, SlowLoader(3, 4, 0.0), training.make_optimizer(model, lr=0.1),
                                      device="cpu", emulate_rate=emulate_rate, queue_steps=1, progress=False)
    assert asked == [(CPU, emulate_rate, 1)]
    assert fake.calls == ["ready", ("submit", 4)] * 3 + ["drain"]
    assert stats["compute_s"] == pytest.approx(0.003) and stats["au"] == pytest.approx(0.003 / stats["wall_s"])
    trained = (model[1].bias[0] - model[1].bias[1]).item() > (margin[0] - margin[1]).item()
    if emulate_rate is None:  # the real steps ran inside submit
        assert trained and stats["loss"] > 0
    else:
        assert not trained and stats["loss"] is None


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


@pytest.mark.slow
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
