"""The loader roofline's model: layout expectations against a Monte Carlo draw, predictions against
figures computed by hand from a profile of round values, the runs it does not model, and validate."""
import json
import math
import re

import numpy as np
import pytest

from thesis_lib.__main__ import main as cli
from thesis_lib.roofline import FIELDS, Profile, ProfileError, Stat
from thesis_lib.roofline import layout
from thesis_lib.roofline.model import NotModelled, Prediction, predict
from thesis_lib.roofline.shape import RunShape
from roofline_profiles import ROUND, round_profile  # noqa: F401 - ROUND: the figures the hand computations use

IMAGE = 64 * 64 * 3  # bytes of one 64 px image
def rng_batches(n, batch, draws, seed=0):
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(n, batch, replace=False)) for _ in range(draws)]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("n, batch, unit", [(1000, 100, 16), (1003, 64, 64), (500, 400, 7)])
def test_expected_units_matches_a_monte_carlo_draw(n, batch, unit):
    drawn = np.mean([len(np.unique(b // unit)) for b in rng_batches(n, batch, 3000)])
    assert layout.expected_units(n, batch, unit) == pytest.approx(drawn, rel=0.01)


@pytest.mark.timeout(20)
def test_expected_runs_matches_a_monte_carlo_draw():
    drawn = np.mean([1 + np.count_nonzero(np.diff(b) != 1) for b in rng_batches(2000, 512, 3000)])
    assert layout.expected_runs(2000, 512) == pytest.approx(drawn, rel=0.01)


@pytest.mark.timeout(20)
def test_block_window_runs_match_a_monte_carlo_draw():
    n, block, window, batch = 4096, 64, 8, 512
    rng = np.random.default_rng(1)
    runs = [1 + np.count_nonzero(np.diff(np.sort(rng.choice(n // block, window, replace=False))) != 1)
            for _ in range(3000)]
    touch = layout.block_window(n, batch, block, window, 1)
    assert touch.requests == pytest.approx(np.mean(runs) * batch / (window * block), rel=0.01)


@pytest.mark.timeout(20)
def test_layout_refuses_a_batch_larger_than_the_set():
    with pytest.raises(ValueError, match="batch 600 is larger than the dataset's 500"):
        layout.expected_units(500, 600, 8)


@pytest.mark.timeout(20)
def test_npy_batch_without_workers_by_hand():
    got = predict(RunShape("npy", "batch", 64, 20_000), round_profile())
    # one call of 1 us, 512 rows x 0.1 us; 6 MiB through the map at 1000 us a MiB; the mode's
    # 100 us of Python and 1 us a MiB
    by_hand = 1e-6 + 51.2e-6 + 6 * 1e-3 + 100e-6 + 6 * 1e-6
    assert got.batch_s == pytest.approx(by_hand)
    assert got.rate == pytest.approx(512 / by_hand)
    assert got.binding == "memory: 0.0 MiB gathered + 6.0 MiB through memmap per batch"


@pytest.mark.timeout(20)
def test_zarr_chunked_batch_by_hand():
    # n = batch: all 8 chunks of 64 are touched in one call (2 ms), each read for 500 us and
    # decoded whole (coded: its bytes are the decode's), 504 more images taken at 1 us; the batch
    # gathered once at 1 GB/s; the mode's Python
    got = predict(RunShape("zarr", "batch", 64, 512, write_options={"codec": "zstd"}), round_profile())
    per_request = 2e-3 + 8 * 500e-6 + 504 * 1e-6
    by_hand = per_request + 512 * 10e-6 + 512 * IMAGE / 1e9 + 100e-6 + 6 * 1e-6
    assert got.batch_s == pytest.approx(by_hand)
    assert got.terms["per-request"] == pytest.approx(per_request)
    assert got.binding == "per-request: 8 zarr-python-oindex reads x 500 us + 504 more images taken per batch"


@pytest.mark.timeout(20)
def test_sample_mode_pays_a_call_per_image_beyond_the_memory_map_call_its_python_holds():
    got = predict(RunShape("zarr", "sample", 64, 512), round_profile())
    # 512 calls of 2 ms less the 1 us memory-map call in the sample mode's Python; 512 chunk reads
    assert got.terms["per-request"] == pytest.approx(512 * (2000e-6 - 1e-6) + 512 * 500e-6)
    assert "512 calls x" in got.binding


@pytest.mark.timeout(20)
def test_workers_bound_by_the_handover_in_the_main_process():
    shape = RunShape("zarr", "batch", 64, 512, workers=2, write_options={"codec": "zstd"})
    got = predict(shape, round_profile())
    handover = 20e-3 + 1e-3 * 512 * IMAGE / 2**20  # 20 ms + 6 MiB x 1 ms
    assert got.batch_s == pytest.approx(handover)
    assert got.binding == "handover: 6.0 MiB batch from process workers in the main process"
    # an epoch: the first batch through one worker, then one batch per handover
    work = sum(got.terms.values())
    assert got.epoch_rate(2048, 512, workers=2) == pytest.approx(2048 / (work + 3 * handover))
    # loaderbench's epoch of 40 batches cut at 0.3 s: first what the cut epoch before left (3
    # batches' work), then batches until one passes the cut
    first = work + 3 * handover
    batches = 1 + math.ceil((0.3 - first) / handover)
    assert batches > 1
    assert got.epoch_rate(20480, 512, workers=2, max_seconds=0.3, left_over=3) == pytest.approx(
        batches * 512 / (first + (batches - 1) * handover))


@pytest.mark.timeout(20)
def test_thread_workers_hold_the_gil_for_python_and_calls_and_share_the_cores():
    shape = RunShape("zarr", "batch", 64, 512, workers=2, worker_kind="thread", write_options={"codec": "zstd"})
    got = predict(shape, round_profile())
    held = got.terms["handover"] + got.terms["Python"] + got.terms["per-request"]
    on_cores = (sum(got.terms.values()) - got.terms["handover"] + (1 + 6) * 1e-6) / 2  # + the CPU workers add
    assert got.batch_s == pytest.approx(max(held, on_cores))
    assert got.binding.endswith("in the main process" if held > on_cores else " per batch)")


@pytest.mark.timeout(20)
def test_cold_npy_batch_seeks_once_per_run_by_hand():
    got = predict(RunShape("npy", "batch", 64, 1024, cache="cold"), round_profile())
    runs = 512 - 512 * 511 / 1024
    assert got.terms["storage"] == pytest.approx(runs * 100e-6 + 512 * IMAGE / 1e9)
    assert got.binding.startswith("storage: 256 seeks x 100 us")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("shape, reason", [
    (RunShape("cupy", "batch", 64, 1000), "cupy reads to the GPU"),
    (RunShape("litdata", "batch", 64, 1000), "StreamingDataset"),
    (RunShape("npy", "batch", 64, 1000, storage="s3"), "object-store latency"),
    (RunShape("zarr", "batch", 64, 1000, write_options={"codec": "blosc"}), "codec 'blosc'"),
])
def test_runs_the_model_does_not_represent_say_why(shape, reason):
    got = predict(shape, round_profile())
    assert isinstance(got, NotModelled) and reason in got.reason


@pytest.mark.timeout(20)
def test_an_unmeasured_primitive_gives_not_modelled_with_its_reason():
    profile = round_profile(unmeasured={"storage.latency_4k_us": "tmpfs: eviction impossible"})
    assert isinstance(predict(RunShape("npy", "batch", 64, 1000), profile), Prediction)
    got = predict(RunShape("npy", "batch", 64, 1000, cache="cold"), profile)
    assert isinstance(got, NotModelled)
    assert "storage.latency_4k_us unmeasured: tmpfs: eviction impossible" in got.reason


@pytest.mark.timeout(20)
def test_a_bad_profile_is_refused_naming_the_path_or_field(tmp_path):
    with pytest.raises(ProfileError, match="missing.json does not exist"):
        Profile.load(tmp_path / "missing.json")
    doc = round_profile().to_dict()
    doc["primitives"]["decode.png.64"]["median"] = math.nan
    (tmp_path / "p.json").write_text(json.dumps(doc))
    with pytest.raises(ProfileError, match="decode.png.64.median must be a finite number"):
        Profile.load(tmp_path / "p.json")
    no_cores = round_profile().to_dict()
    del no_cores["machine"]["cores"]
    with pytest.raises(ProfileError, match="machine.cores"):
        predict(RunShape("npy", "batch", 64, 1000), Profile.from_dict(no_cores))


@pytest.mark.timeout(20)
def test_validate_prints_the_tables_and_ends_with_the_share(tmp_path, capsys):
    profile = tmp_path / "profile.json"
    round_profile().save(profile)
    shape = RunShape("npy", "batch", 64, 2048)
    exact = predict(shape, Profile.load(profile)).epoch_rate(2048, 512)
    rows = [{"variant": "npy", "fmt": "npy", "mode": "batch", "workers": 0, "samples_per_s": exact},
            {"variant": "npy", "fmt": "npy", "mode": "batch", "workers": 0, "samples_per_s": exact * 3},
            {"variant": "litdata, 64 MB chunks", "fmt": "litdata", "mode": "batch", "workers": 0,
             "samples_per_s": 100.0},
            {"variant": "a variant since removed", "fmt": "zarr", "mode": "batch", "workers": 0,
             "samples_per_s": 100.0}]
    bench = tmp_path / "lb.json"
    bench.write_text(json.dumps({"image_size": 64, "n": 2048, "batch_size": 512, "batches_per_measurement": None,
                                 "table": rows}))
    cli(["roofline", "validate", "--profile", str(profile), "--loaderbench", str(bench), "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == "50% of rows within 25%"
    assert "Not modelled (2 rows)" in out and "StreamingDataset" in out and "not in loaderbench's variants" in out
    assert "under-predicts x3.00" in out
    assert "By group:" in out
    assert re.search(r"loaderbench\s+workers 0\s+2\s+50%\s+0.67", out)
    assert (tmp_path / "o" / "roofline-validation.png").stat().st_size > 0
    assert (tmp_path / "o" / "roofline-validation.pdf").stat().st_size > 0


@pytest.mark.timeout(20)
def test_validate_names_a_bad_loaderbench_row(tmp_path):
    profile = tmp_path / "profile.json"
    round_profile().save(profile)
    bad = tmp_path / "lb.json"
    bad.write_text(json.dumps({"image_size": 64, "n": 10, "batch_size": 4, "batches_per_measurement": None,
                               "table": [{"variant": "npy", "fmt": "npy", "mode": "batch", "workers": 0,
                                          "samples_per_s": -1}]}))
    with pytest.raises(SystemExit, match=r"lb.json table row 0 samples_per_s must be a finite number > 0"):
        cli(["roofline", "validate", "--profile", str(profile), "--loaderbench", str(bad)])


@pytest.mark.timeout(20)
def test_files_pay_a_file_open_per_image_and_its_decode():
    got = predict(RunShape("files", "batch", 64, 1000, write_options={"encoding": "png"}), round_profile())
    # 512 files opened and read at 1 us, 512 PNG decodes at 1 us, 6 MiB through the page cache
    assert got.terms["per-request"] == pytest.approx(512e-6)
    assert got.terms["decode"] == pytest.approx(512e-6)
    assert got.terms["page cache"] == pytest.approx(512 * IMAGE / 10e9)


@pytest.mark.timeout(20)
def test_which_terms_thread_workers_take_in_turns_depends_on_the_library():
    def held(write, read):
        shape = RunShape("hdf5" if "compression" in write else "zarr", "batch", 64, 20_000, workers=2,
                         worker_kind="thread", write_options=write, open_options=read)
        got = predict(shape, round_profile(cores=64))  # cores enough: the main thread's turns bind
        return got.batch_s, got.terms
    batch_s, terms = held({"chunk_images": 64, "compression": "gzip"}, {"read_path": "chunks"})
    # h5py: its calls, its filters and its bytes under one lock, beside the handover and Python
    assert batch_s == pytest.approx(terms["handover"] + terms["Python"] + terms["per-request"]
                                    + terms["decode"] + terms["memory"])
    batch_s, terms = held({}, {"read_path": "tensorstore"})
    # TensorStore: its calls run on the workers, two at a time
    main = terms["handover"] + terms["Python"]
    assert batch_s == pytest.approx(max(main, (sum(terms.values()) - main) / 2))
