"""The roofline profile: refused when not whole, saved and loaded unchanged, measured here (quick),
its cold terms unmeasured where eviction is impossible, and the H100 anchor profile as derived."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from thesis_lib.__main__ import main as cli
from thesis_lib.core import cache
from thesis_lib.roofline import FIELDS, Profile, ProfileError, anchor
from thesis_lib.roofline.measure import format_table, main as measure_main
from thesis_lib.roofline.measure_decode import decode_us
from thesis_lib.roofline.measure_loader import CpuClock, nonnegative_line
from thesis_lib.roofline.measure_memory import STORAGE_FIGURES, storage_trials
from thesis_lib.roofline.trials import QUICK, MeasureError, Stopwatch, stat

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(60)


def whole_doc() -> dict:
    """A valid profile document: every primitive 1.0 [0.5, 2.0], the storage ones unmeasured."""
    primitives = {name: {"median": 1.0, "low": 0.5, "high": 2.0} for name in FIELDS if not name.startswith("storage.")}
    unmeasured = {name: "no disk here" for name in FIELDS if name.startswith("storage.")}
    return {"schema": 2, "machine": {"cpu": "test"}, "primitives": primitives, "unmeasured": unmeasured}


def test_whole_profile_is_accepted_and_gives_medians():
    profile = Profile.from_dict(whole_doc())
    assert profile["decode.png.64"] == 1.0 and not profile.has("storage.seq_mbps")
    with pytest.raises(KeyError, match="storage.seq_mbps unmeasured: no disk here"):
        profile["storage.seq_mbps"]


@pytest.mark.parametrize("spoil, named", [
    (lambda d: d["primitives"].pop("decode.zstd.128"), "decode.zstd.128"),
    (lambda d: d["primitives"]["request.tensorstore.fixed_us"].update(median=-1.0, low=-2.0),
     "request.tensorstore.fixed_us.median"),
    (lambda d: d["primitives"].pop("handover.thread.cpu_us_per_mib"), "handover.thread.cpu_us_per_mib"),
    (lambda d: d["primitives"]["handover.ring.fixed_us"].update(median=math.nan), "handover.ring.fixed_us.median"),
    (lambda d: d["primitives"]["python.batch_us_per_batch"].update(high=math.inf), "python.batch_us_per_batch.high"),
    (lambda d: d["primitives"].update({"decode.webp.64": {"median": 1, "low": 1, "high": 1}}), "decode.webp.64"),
    (lambda d: d["unmeasured"].update({"storage.iops_4k": "  "}), "storage.iops_4k"),
    (lambda d: d["unmeasured"].update({"storage.iops_4k": None}), "storage.iops_4k"),
    (lambda d: d["unmeasured"].update({"memory.gather_gbps": "twice"}), "memory.gather_gbps"),
    (lambda d: d["primitives"]["memory.gather_gbps"].update(low=3.0), "memory.gather_gbps"),
])
def test_profile_that_is_not_whole_is_refused_naming_the_field(spoil, named):
    doc = whole_doc()
    spoil(doc)
    with pytest.raises(ProfileError, match=named.replace(".", r"\.")):
        Profile.from_dict(doc)


def test_a_profile_of_the_first_schema_is_refused_naming_the_schema():
    doc = whole_doc()
    doc["schema"] = 1
    with pytest.raises(ProfileError, match="schema must be 2, got 1"):
        Profile.from_dict(doc)


def test_cpu_clock_counts_a_worker_process_and_the_main_thread_apart():
    clock = CpuClock("process")
    main0, total0 = clock.read()
    busy_then_sleep = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\ntime.sleep(5)"
    child = subprocess.Popen([sys.executable, "-c", busy_then_sleep])
    try:
        deadline = time.monotonic() + 20
        while clock.read()[1] - total0 < 0.25 and time.monotonic() < deadline:
            time.sleep(0.05)
        main1, total1 = clock.read()
    finally:
        child.kill()
        child.wait()
    assert total1 - total0 >= 0.25  # the child's busy 0.3 s, counted while it lives
    assert main1 - main0 < 0.25  # the main process mostly slept
    threaded = CpuClock("thread")
    before = threaded.read()[0]
    busy = threading.Thread(target=lambda: sum(range(3_000_000)))
    busy.start()
    busy.join()
    assert threaded.read()[0] - before < 0.05  # another thread's CPU is not the main thread's


def test_saved_profile_loads_back_equal(tmp_path):
    profile = Profile.from_dict(whole_doc())
    profile.save(tmp_path / "p.json")
    again = Profile.load(tmp_path / "p.json")
    assert again.to_dict() == profile.to_dict() and dict(again.values) == dict(profile.values)


def test_profile_file_that_is_not_json_is_named(tmp_path):
    (tmp_path / "p.json").write_text("{")
    with pytest.raises(ProfileError, match="p.json is not JSON"):
        Profile.load(tmp_path / "p.json")


def test_stat_refuses_a_primitive_with_no_usable_trial():
    assert stat("x", [3.0, 1.0, 2.0]).median == 2.0
    with pytest.raises(MeasureError, match="decode.png.64"):
        stat("decode.png.64", [1.0, math.nan])
    with pytest.raises(MeasureError, match="request.memmap.call_us"):
        stat("request.memmap.call_us", [])


def test_stopwatch_counts_cpu_work_not_waiting():
    with Stopwatch() as watch:
        time.sleep(0.05)
    assert watch.wall >= 0.05 and watch.seconds < 0.025


def test_nonnegative_line_fits_and_never_goes_below_zero():
    x = np.array([1.0, 2.0, 4.0])
    assert nonnegative_line(x, 3 + 2 * x) == pytest.approx((3.0, 2.0))
    assert nonnegative_line(x, 5 - x) == pytest.approx((np.mean(5 - x), 0.0))  # falling: flat
    assert nonnegative_line(x, 2 * x - 1) == pytest.approx((0.0, np.dot(x, 2 * x - 1) / np.dot(x, x)))
    assert nonnegative_line(x, -x) == (0.0, 0.0)


def test_decode_costs_cover_every_form_and_round_trip():
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    costs = decode_us(images, trials=2)
    assert set(costs) == {"png", "jpeg", "zlib", "zstd", "blosc-lz4", "blosc-zstd", "lz4"}
    assert all(len(values) == 2 and all(v > 0 for v in values) for values in costs.values())


def test_cold_terms_are_unmeasured_with_the_reason_where_eviction_is_impossible(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "can_evict", lambda folder: False)
    values, unmeasured, about = storage_trials(QUICK, tmp_path)
    cold = {name for name in STORAGE_FIGURES if name.startswith("storage.")}
    assert set(unmeasured) == cold and set(values) == {"page_cache.read_gbps"}
    assert all(str(tmp_path) in reason and "disk figures are not given" in reason for reason in unmeasured.values())
    assert about["evictable"] is False and len(values["page_cache.read_gbps"]) == QUICK.trials


def test_cold_terms_are_measured_where_eviction_works(tmp_path):
    if not cache.can_evict(tmp_path):
        pytest.skip(f"{tmp_path} is on {cache.filesystem(tmp_path)}, not a disk")
    values, unmeasured, _ = storage_trials(QUICK, tmp_path)
    assert not unmeasured and all(len(v) == QUICK.trials and min(v) > 0 for v in values.values())


def test_measure_needs_a_root_for_a_real_dataset(tmp_path):
    with pytest.raises(ValueError, match="--dataset tiny-imagenet needs --root"):
        measure_main(out=tmp_path / "p.json", dataset="tiny-imagenet", quick=True)
    assert not (tmp_path / "p.json").exists()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_measure_writes_a_valid_profile(tmp_path, capsys):
    out = tmp_path / "profile.json"
    cli(["roofline", "measure", "--quick", "--out", str(out), "--folder", str(tmp_path)])
    profile = Profile.load(out)
    assert set(profile.values) | set(profile.unmeasured) == set(FIELDS)
    assert set(profile.unmeasured) <= {name for name in FIELDS if name.startswith("storage.")}
    assert profile["memory.gather_gbps"] > 0 and profile["decode.png.64"] > profile["decode.lz4.64"]
    assert profile["request.zarr-python-oindex.call_us"] > profile["request.memmap.call_us"]
    assert profile.machine["quick"] is True and "synthetic" in profile.machine["decode_data"]
    printed = capsys.readouterr().out
    assert "decode.png.64" in printed and "95% interval" in printed and f"written: {out}" in printed
    assert not list(tmp_path.glob(".storage-check-*"))


def test_anchor_profile_is_the_committed_one_and_derives_what_the_issue_quotes():
    committed = Profile.load(REPO / "profiles" / "h100-anchor.json")
    assert committed.to_dict() == json.loads(json.dumps(anchor.profile().to_dict()))
    assert round(anchor.chunks_touched()) == 377  # "a random batch touches about 377 chunks"
    assert committed["decode.png.32"] == pytest.approx(1e6 / 9_000)
    assert all(stat_.source and "Reference figures" in stat_.source for stat_ in committed.values.values())
    assert "storage.seq_mbps" in committed.unmeasured


def test_this_vm_profile_is_whole():
    profile = Profile.load(REPO / "profiles" / "this-vm.json")
    assert profile.machine["quick"] is False and "tiny-imagenet" in profile.machine["decode_data"]
    assert "decode.png.64" in format_table(profile)
