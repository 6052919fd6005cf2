"""The GPU check's CPU-side logic on fake timings: targets, the table, the emulated-vs-real AU
comparison and the JSON; the command without CUDA; and a CPU dry run end to end."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from thesis_lib import gpucheck, paths
from thesis_lib.gpucheck import au_comparison, judge, make_row
from thesis_lib.record import write_json

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
def test_without_cuda_the_command_says_so_in_one_line_and_exits_0():
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    done = subprocess.run([sys.executable, "-m", "thesis_lib", "gpucheck"], cwd=paths.REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.count("\n") == 1 and "no CUDA device" in done.stdout and "nothing measured" in done.stdout


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
