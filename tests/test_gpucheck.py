"""The GPU check's CPU-side logic on fake timings: targets, the table, the emulated-vs-real AU
comparison and the JSON; the command without CUDA; a CPU dry run end to end; and step 1's parts
on fakes of CuPy, KvikIO and the page cache."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from thesis_lib.core import cache, paths
from thesis_lib.core.record import write_json
from thesis_lib.tools import gpucheck
from thesis_lib.tools.gpucheck import au_comparison, judge, make_row

TINY = gpucheck.Sizes(cupy_images=0, train_images=128, epochs=1, batch=64, jpeg_images=32, model="convnet")


def fake_run(fmt, mode, kind, au, device="GPU X", samples=1000, compute_s=0.05):
    return {"fmt": fmt, "mode": mode, "kind": kind, "au": au, "device": device, "samples": samples,
            "compute_s": compute_s}


# -- targets --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value,target,on_gpu,status", [
    (1.2e6, (">=", 1e6), True, "met"),
    (0.9e6, (">=", 1e6), True, "missed"),
    (1.2e6, (">=", 1e6), False, "not measured"),  # a CPU dry run never meets a target
    (None, (">=", 1e6), True, "not measured"),
    (4.6, None, True, "n/a"),
    (None, None, True, "not measured"),
    (9.9, ("<=", 10.0), True, "met"),
    (10.1, ("<=", 10.0), True, "missed"),
    (True, ("==", True), True, "met"),
    (False, ("==", True), True, "missed"),
])
def test_judge(value, target, on_gpu, status):
    assert judge(value, target, on_gpu) == status


def test_a_row_names_its_device_and_without_one_is_not_measured():
    row = make_row("1", "gather", 2e6, "img/s", "NVIDIA H100", target=(">=", 1e6), anchor=3.5e6)
    assert row["device"] == "NVIDIA H100" and row["status"] == "met" and row["target"] == {"op": ">=", "value": 1e6}
    assert make_row("1", "gather", 2e6, "img/s", None, target=(">=", 1e6))["status"] == "not measured"
    assert gpucheck.not_measured("4", "copy", "GB/s", "no CUDA device", anchor=55.0)["status"] == "not measured"


# -- the table -------------------------------------------------------------------------------------------
def test_table_shows_value_target_anchor_ratio_and_status():
    rows = [make_row("1", "KvikIO read", 4.14, "GB/s", "NVIDIA H200", target=(">=", 4.0), anchor=4.6),
            make_row("3", "nvJPEG", 27_000.0, "img/s", "NVIDIA H200", anchor=25_500.0),
            gpucheck.not_measured("4", "pinned copy", "GB/s", "no CUDA device", anchor=55.0)]
    lines = gpucheck.format_table(rows).splitlines()
    assert lines[0].split()[:3] == ["step", "what", "value"] and set(lines[1]) == {"-"}
    assert "4.14" in lines[2] and ">= 4.00" in lines[2] and "4.60 (x0.90)" in lines[2] and lines[2].count("met") == 1
    assert "27,000" in lines[3] and "25,500 (x1.06)" in lines[3] and "n/a" in lines[3]
    assert "not measured" in lines[4] and "no CUDA device" in lines[4] and "(x" not in lines[4]


@pytest.mark.parametrize("value,unit,text", [(None, "GB/s", "-"), (True, "", "yes"), (36_312.4, "img/s", "36,312"),
                                             (0.5512, "GB/s", "0.55"), (7.25, "points", "7.2"), (0.123456, "", "0.123")])
def test_format_value(value, unit, text):
    assert gpucheck.format_value(value, unit) == text


# -- emulated against real AU ------------------------------------------------------------------------
def test_au_comparison_pairs_real_and_emulated_per_format_and_mode():
    runs = [fake_run("npy", "sync", "real", 0.62), fake_run("npy", "sync", "emulated", 0.70, device="emulated"),
            fake_run("npy", "async", "real", 0.97), fake_run("npy", "async", "emulated", 0.99),
            fake_run("files", "sync", "real", 0.40), fake_run("files", "sync", "emulated", 0.55),
            fake_run("zarr", "sync", "real", 0.90)]
    by_key = {(c["fmt"], c["mode"]): c for c in au_comparison(runs)}
    assert by_key["npy", "sync"]["diff_points"] == pytest.approx(8.0) and by_key["npy", "sync"]["within"] is True
    assert by_key["npy", "sync"]["device"] == "GPU X"  # the real run's device
    assert by_key["npy", "async"]["within"] is True
    assert by_key["files", "sync"]["diff_points"] == pytest.approx(15.0) and by_key["files", "sync"]["within"] is False
    assert by_key["zarr", "sync"]["diff_points"] is None and by_key["zarr", "sync"]["within"] is None
    rows = {row["what"]: row for row in gpucheck.au_rows(au_comparison(runs), on_gpu=True)}
    assert rows["AU emulated vs real: npy, sync"]["status"] == "met"
    assert rows["AU emulated vs real: files, sync"]["status"] == "missed"
    assert rows["AU emulated vs real: zarr, sync"]["status"] == "not measured"
    assert {row["status"] for row in gpucheck.au_rows(au_comparison(runs), on_gpu=False)} == {"not measured"}


def test_compute_rate_is_the_median_of_the_real_synchronous_runs():
    runs = [fake_run("a", "sync", "real", 0.5, samples=1000, compute_s=0.1),
            fake_run("b", "sync", "real", 0.5, samples=1000, compute_s=0.04),
            fake_run("c", "sync", "real", 0.5, samples=1000, compute_s=0.05),
            fake_run("a", "async", "real", 0.5, samples=1000, compute_s=1.0),
            fake_run("a", "sync", "emulated", 0.5, samples=1000, compute_s=1.0)]
    assert gpucheck.compute_rate(runs) == pytest.approx(20_000)
    assert gpucheck.compute_rate([]) is None


# -- the JSON ------------------------------------------------------------------------------------------
def test_document_is_strict_json_with_every_figure_and_its_device(tmp_path):
    rows = [make_row("1", "gather", 2e6, "img/s", "NVIDIA H100", target=(">=", 1e6)),
            gpucheck.not_measured("4", "copy", "GB/s", "no CUDA device")]
    runs = [fake_run("npy", "sync", "real", 0.6), fake_run("npy", "sync", "emulated", 0.65)]
    doc = gpucheck.document(rows, runs=runs, comparison=au_comparison(runs), device={"name": "NVIDIA H100"},
                            sizes=gpucheck.QUICK, dry_run=False, versions={"torch": "2.11"}, seconds=12.0)
    out = tmp_path / "deep" / "gpucheck.json"
    write_json(out, doc)
    assert [p.name for p in out.parent.iterdir()] == ["gpucheck.json"]  # no temporary file left
    loaded = json.loads(out.read_text())
    assert loaded["measured_on"] == "NVIDIA H100" and loaded["sizes"]["train_images"] == 5_120
    assert all("device" in row and "status" in row for row in loaded["rows"])
    assert loaded["au_comparison"][0]["within"] is True and set(loaded["au_meaning"]) == {"sync", "async"}
    assert loaded["summary"] == "1 met, 0 missed, 1 not measured of 2 rows"


# -- the command ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_without_cuda_the_command_says_so_in_one_line_and_exits_0():
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    done = subprocess.run([sys.executable, "-m", "thesis_lib", "gpucheck"], cwd=paths.REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.count("\n") == 1 and "no CUDA device" in done.stdout and "nothing measured" in done.stdout


@pytest.mark.slow
def test_a_cpu_dry_run_goes_through_every_step_and_meets_no_target(tmp_path):
    printed = []
    out = tmp_path / "dry.json"
    doc = gpucheck.run_check(sizes=TINY, dry_run=True, out=out, work_dir=tmp_path, printer=printed.append)
    assert "CPU DRY RUN" in printed[0] and printed[-1].endswith("dry.json")
    assert json.loads(out.read_text())["dry_run"] is True and doc["measured_on"].startswith("CPU dry run")
    assert {row["step"] for row in doc["rows"]} == {"1", "2", "3", "4"}
    assert not any(row["status"] in ("met", "missed") for row in doc["rows"])
    assert not any("failed" in row["note"] for row in doc["rows"]), [r for r in doc["rows"] if "failed" in r["note"]]
    runs = doc["training_runs"]
    assert {run["fmt"] for run in runs} == {"files", "npy", "hdf5", "zarr"}  # cupy needs CUDA
    assert {(run["mode"], run["kind"]) for run in runs} == {(m, k) for m in ("sync", "async") for k in ("real", "emulated")}
    assert len(doc["au_comparison"]) == 8 and all(c["diff_points"] is not None for c in doc["au_comparison"])
    decoded = [row for row in doc["rows"] if row["step"] == "3" and row["value"] is not None]
    assert {row["device"] for row in decoded} == {"cpu, 1 core"} and len(decoded) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["dry.json"]  # the generated data is gone


def test_side_by_side_puts_the_emulated_run_beside_the_real_one():
    runs = [{**fake_run("npy", "sync", "real", 0.62), "epoch_s": 0.8, "samples_per_s": 25_000.0},
            {**fake_run("npy", "sync", "emulated", 0.70), "epoch_s": 0.7, "samples_per_s": 28_571.0}]
    header, line = gpucheck.side_by_side(runs).splitlines()
    assert header.split()[:2] == ["format", "mode"]
    assert line.split() == ["npy", "sync", "0.80", "25,000", "0.62", "0.70", "28,571", "0.7", "8.0"]


# -- step 1's parts, on fakes --------------------------------------------------------------------------
def test_a_failing_part_of_step_1_leaves_its_rows_not_measured_and_the_others_run():
    rows = []

    def warm_then_fail(emit):
        emit(gpucheck.cupy_row(gpucheck.KVIKIO_WARM, 4.2, "GPU X"))
        raise OSError("cuFile: 5030")

    gpucheck.cupy_part(rows.append, [gpucheck.KVIKIO_WARM, gpucheck.KVIKIO_COLD], warm_then_fail)
    gpucheck.cupy_part(rows.append, [gpucheck.FALLBACK], lambda emit: emit(gpucheck.cupy_row(gpucheck.FALLBACK, 1.5, "GPU X")))
    assert [(r["what"], r["value"]) for r in rows] == [(gpucheck.KVIKIO_WARM, 4.2), (gpucheck.KVIKIO_COLD, None),
                                                       (gpucheck.FALLBACK, 1.5)]
    assert rows[1]["status"] == "not measured" and rows[1]["note"] == "failed: OSError: cuFile: 5030"
    assert rows[0]["target"] == {"op": ">=", "value": 4.0} and rows[0]["anchor"] == gpucheck.ANCHORS["kvikio"]


def test_the_training_run_of_cupy_reads_without_kvikio():
    (open_options,) = [run.open_options for run in gpucheck.TRAINING_RUNS if run.fmt == "cupy"]
    assert open_options == {"resident": True, "use_kvikio": False}


def test_the_training_runs_are_one_registered_format_each_in_a_known_mode():
    from thesis_lib import formats, loading

    fmts = [run.fmt for run in gpucheck.TRAINING_RUNS]
    assert len(set(fmts)) == len(fmts) and set(fmts) <= set(formats.names())
    assert all(run.access in loading.MODES for run in gpucheck.TRAINING_RUNS)
    assert all(run.workers is None or run.workers >= 0 for run in gpucheck.TRAINING_RUNS)
    # what a dry run trains on: every format but those that need CUDA to be read
    assert [run.fmt for run in gpucheck.TRAINING_RUNS if not run.needs_cuda()] == ["files", "npy", "hdf5", "zarr"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        gpucheck.TRAINING_RUNS[0].fmt = "npy"


def test_read_rate_warms_up_once_then_takes_the_median_of_three(monkeypatch):
    calls, times = [], iter([3.0, 1.0, 2.0])
    monkeypatch.setattr(gpucheck.cupy_kvikio, "timed", lambda fn, sync: (fn(), next(times))[1])
    assert gpucheck.read_rate(lambda: calls.append(1), int(4e9), sync=lambda: None) == pytest.approx(2.0)
    assert len(calls) == 4


class FakeCache:
    """The page cache as :func:`gpucheck.cold_row` sees it, logging each call in order; whether a
    read was cold is decided as everywhere else, by :func:`cache.cache_state`."""

    COLD_CACHED_LIMIT = 0.5
    cache_state = staticmethod(cache.cache_state)

    def __init__(self, cached: float, evictable: bool = True, evict_error: Exception | None = None):
        self.cached, self.evictable, self.evict_error, self.log = cached, evictable, evict_error, []

    def can_evict(self, path):
        return self.evictable

    def filesystem(self, path):
        return "tmpfs"

    def evict(self, files):
        self.log.append("evict")
        if self.evict_error:
            raise self.evict_error

    def resident_fraction(self, files):
        self.log.append("fraction")
        return self.cached


@pytest.mark.parametrize("cached,measured", [(0.02, True), (0.5, True), (0.97, False)])
def test_a_cold_read_is_measured_only_when_the_eviction_took_before_it(monkeypatch, tmp_path, cached, measured):
    fake = FakeCache(cached)
    monkeypatch.setattr(gpucheck.cupy_kvikio, "cache", fake)
    assert fake.COLD_CACHED_LIMIT == cache.COLD_CACHED_LIMIT  # the limit the cold runs use
    row = gpucheck.cold_row([tmp_path / "images.u8"], lambda: fake.log.append("read"), int(1e9), "GPU X",
                            sync=lambda: None, note="mode compat (POSIX)")
    assert row["what"] == gpucheck.KVIKIO_COLD
    if measured:
        assert fake.log == ["evict", "fraction", "read"] and row["value"] > 0 and row["device"] == "GPU X"
        assert row["note"] == f"{cached:.0%} cached before the read; mode compat (POSIX)"
    else:
        assert fake.log == ["evict", "fraction"] and row["value"] is None and row["status"] == "not measured"
        assert "eviction did not take: 97% still cached before the read" in row["note"]


def test_a_cold_read_on_a_memory_file_system_or_failing_eviction_is_not_measured(monkeypatch, tmp_path):
    monkeypatch.setattr(gpucheck.cupy_kvikio, "cache", FakeCache(0.0, evictable=False))
    row = gpucheck.cold_row([tmp_path / "images.u8"], lambda: None, 1, "GPU X", sync=lambda: None)
    assert row["value"] is None and row["note"] == "tmpfs keeps files in memory"
    monkeypatch.setattr(gpucheck.cupy_kvikio, "cache", FakeCache(0.0, evict_error=OSError(5, "Input/output error")))
    rows = []
    gpucheck.cupy_part(rows.append, [gpucheck.KVIKIO_COLD], lambda emit: emit(gpucheck.cold_row(
        [tmp_path / "images.u8"], lambda: None, 1, "GPU X", sync=lambda: None)))
    assert [r["note"] for r in rows] == ["failed: OSError: [Errno 5] Input/output error"]


@pytest.mark.parametrize("requested,fractions,state", [
    ("cold", [0.01, 0.3], "cold"),
    ("cold", [0.01, 0.97], "cold-unavailable"),  # one epoch whose eviction did not take is enough
    ("cold", [cache.COLD_CACHED_LIMIT], "cold"),  # at most the limit still counts as cold
    ("cold", [None, float("nan")], "cold"),  # nothing measured: what was asked for
    ("cold", [], "cold"),
    ("warm", [0.99, None], "warm"),  # a warm run never evicts
])
def test_cache_state_is_cold_unavailable_only_where_a_cold_eviction_did_not_take(requested, fractions, state):
    assert cache.cache_state(requested, fractions) == state
    assert cache.cache_state(requested, iter(fractions)) == state  # any iterable, read once


def test_kvikio_settings_name_the_mode_the_threads_and_the_task_size(monkeypatch):
    import types

    settings = {"num_threads": 8, "task_size": 4 * 2**20}
    defaults = types.SimpleNamespace(is_compat_mode_preferred=lambda: True, get=settings.__getitem__)
    monkeypatch.setitem(sys.modules, "kvikio", types.SimpleNamespace(defaults=defaults))
    monkeypatch.setitem(sys.modules, "kvikio.defaults", defaults)
    assert gpucheck.kvikio_settings() == "mode compat (POSIX), 8 threads, task size 4 MiB"
    settings["auto_direct_io_read"] = False
    assert gpucheck.kvikio_settings() == "mode compat (POSIX), 8 threads, task size 4 MiB, direct I/O reads off"
    defaults.is_compat_mode_preferred = lambda: False
    assert gpucheck.kvikio_settings().startswith("mode GDS, ")
    monkeypatch.delitem(sys.modules, "kvikio.defaults")
    monkeypatch.setitem(sys.modules, "kvikio", None)
    assert gpucheck.kvikio_settings().startswith("KvikIO settings unknown (ModuleNotFoundError")


class HostArray(np.ndarray):
    """A CuPy array's stand-in in host memory."""

    def set(self, host):
        self[...] = host


class FakeCuFile:
    """KvikIO's CuFile on a host file; ``fail`` makes every read's future raise, as a cuFile error would."""

    fail = False

    def __init__(self, path, flags):
        self.file = open(path, "rb")

    def pread(self, buffer, size, offset):
        self.file.seek(offset)
        data = self.file.read(size)
        np.asarray(buffer)[:len(data)] = np.frombuffer(data, np.uint8)
        return FakeFuture(len(data), RuntimeError("cuFile error 5011") if self.fail else None)

    def close(self):
        self.file.close()


class FakeFuture:
    def __init__(self, size: int, error: Exception | None):
        self.size, self.error = size, error

    def get(self) -> int:
        if self.error is not None:
            raise self.error
        return self.size


@pytest.mark.parametrize("kvikio_fails", [False, True])
def test_step_1_runs_end_to_end_on_host_stand_ins_for_cupy_and_kvikio(monkeypatch, tmp_path, kvikio_fails):
    """The GPU-only step 1 with CuPy and KvikIO replaced by NumPy and a host file: every row comes
    out, KvikIO on its threads; a KvikIO that fails leaves its two rows not measured and the rest measured."""
    cupy = types.SimpleNamespace(empty=lambda shape, dtype: np.empty(shape, dtype).view(HostArray), uint8=np.uint8,
                                 asarray=lambda a: np.array(a).view(HostArray), asnumpy=np.asarray,
                                 cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1)))
    settings = {"num_threads": 1, "task_size": 4 * 2**20}

    @contextlib.contextmanager
    def set_setting(key, value):
        old, settings[key] = settings[key], value
        yield
        settings[key] = old

    defaults = types.SimpleNamespace(set=set_setting, get=settings.__getitem__, is_compat_mode_preferred=lambda: True)
    monkeypatch.setattr(FakeCuFile, "fail", kvikio_fails)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "kvikio", types.SimpleNamespace(CuFile=FakeCuFile, defaults=defaults))
    monkeypatch.setitem(sys.modules, "kvikio.defaults", defaults)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *args: None)
    rows = []
    gpucheck.step_cupy(tmp_path, gpucheck.Sizes(cupy_images=600, batch=128, gather_rounds=2), "GPU X", rows.append)
    assert [row["what"] for row in rows] == list(gpucheck.CUPY_ROWS)
    by_what = {row["what"]: row for row in rows}
    kvikio = {gpucheck.KVIKIO_WARM, gpucheck.KVIKIO_COLD}
    assert by_what[gpucheck.WHAT_EQUAL]["status"] == "met" and by_what[gpucheck.WHAT_GATHER]["value"] > 0
    assert all(row["value"] > 0 for what, row in by_what.items() if what not in kvikio | {gpucheck.WHAT_EQUAL})
    if kvikio_fails:
        assert {by_what[what]["note"] for what in kvikio} == {"failed: RuntimeError: cuFile error 5011"}
    else:
        assert by_what[gpucheck.KVIKIO_WARM]["note"] == "mode compat (POSIX), 8 threads, task size 4 MiB"
        assert settings["num_threads"] == 1  # set for the KvikIO rows only


def test_kvikio_reads_through_the_page_cache_where_it_has_the_setting():
    """The warm KvikIO row must be warm: direct I/O (which bypasses the page cache) is off while it
    is measured, and a KvikIO without the setting is left as it is."""
    import types

    settings = {"auto_direct_io_read": True}

    @contextlib.contextmanager
    def set_setting(key, value):
        old, settings[key] = settings[key], value  # KeyError for a setting this KvikIO lacks
        yield
        settings[key] = old

    kd = types.SimpleNamespace(set=set_setting)
    with gpucheck.page_cache_reads(kd):
        assert settings["auto_direct_io_read"] is False
    assert settings["auto_direct_io_read"] is True
    del settings["auto_direct_io_read"]
    with gpucheck.page_cache_reads(kd):
        assert settings == {}


def test_an_out_that_names_a_folder_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match=f"gpucheck --out {tmp_path}: that is a folder"):
        gpucheck.main(out=str(tmp_path), dry_run=True)
    assert list(tmp_path.iterdir()) == []
