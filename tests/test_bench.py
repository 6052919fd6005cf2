"""One benchmark run end to end, its notebook under papermill, the sweep, and the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import papermill
import pytest
import yaml

from thesis_lib import bench, paths, sweep

REPO = paths.REPO_ROOT
RECORD_KEYS = {"dataset", "image_size", "n_train", "fmt", "fmt_options", "access", "workers", "batch_size", "model",
               "device", "seed", "cache", "epochs", "epoch_time_s_median", "samples_per_s_median", "au_median",
               "bytes_on_disk", "convert_s", "peak_rss_mb", "accuracy", "f1_macro", "env"}
EPOCH_KEYS = {"wall_s", "data_wait_s", "compute_s", "samples_per_s", "au", "cold"}
TINY = {"limit": 600, "epochs": 1, "batch_size": 128, "model": "emulate", "emulate_rate": 0}


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def run_env(**extra) -> dict:
    return {**os.environ, "MPLBACKEND": "Agg", **extra}


# -- configuration ---------------------------------------------------------------------------------
@pytest.mark.parametrize("change,message", [
    ({"fmt": "parquet"}, "fmt='parquet' is not valid; choose one of: files, npy, cupy, hdf5, zarr"),
    ({"dataset": "mnist"}, "dataset='mnist' is not valid; choose one of: synthetic"),
    ({"access": "random"}, "access='random' is not valid; choose one of: sample, batch, block, resident"),
    ({"epochs": "two"}, "epochs must be an integer >= 1, got 'two'"),
    ({"workers": -1}, "workers must be an integer >= 0"),
    ({"emulate_rate": 100.0, "model": "convnet"}, "emulate_rate applies only with model='emulate'"),
    ({"fmt_options": {"colour": 1}}, "unknown option 'colour'"),
])
def test_bad_parameters_name_themselves(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bench.BenchConfig(**change).validate()


# -- one run ---------------------------------------------------------------------------------------
def test_run_writes_a_complete_record_and_reuses_the_conversion(data_dir):
    config = bench.BenchConfig(fmt="hdf5", access="block", repeats=2, cache="cold", **TINY)
    record = bench.run(config, progress=False)
    assert RECORD_KEYS <= set(record)
    assert len(record["epochs"]) == 2 and all(EPOCH_KEYS <= set(e) for e in record["epochs"])
    assert all(e["cold"] for e in record["epochs"]) and record["n_train"] == 600
    assert record["env"]["cores"] == os.cpu_count() and record["accuracy"] is None
    on_disk = json.loads(Path(record["path"]).read_text())
    assert on_disk["run"] == config.run_name and Path(record["path"]).parent == data_dir / "results"
    assert not record["converted_reused"]
    assert bench.run(config, progress=False)["converted_reused"]
    other = bench.run(bench.BenchConfig(fmt="hdf5", fmt_options={"chunk_images": 64}, **TINY), progress=False)
    assert not other["converted_reused"] and other["fmt_options"]["chunk_images"] == 64


def test_emulated_accelerator_sets_au(data_dir):
    record = bench.run(bench.BenchConfig(fmt="npy", limit=1024, epochs=2, batch_size=256, model="emulate",
                                         emulate_rate=20_000), progress=False)
    for epoch in record["epochs"]:
        assert epoch["compute_s"] == pytest.approx(1024 / 20_000, rel=0.2)
        assert 0 < epoch["au"] <= 1
    assert record["emulate_rate"] == 20_000


# -- bench.ipynb under papermill -------------------------------------------------------------------
@pytest.mark.timeout(300)
@pytest.mark.parametrize("where", ["repo root", "notebooks/"])
def test_bench_notebook_runs_under_papermill(tmp_path, where):
    cwd = REPO if where == "repo root" else REPO / "notebooks"
    out = tmp_path / "out.ipynb"
    notebook = "notebooks/bench.ipynb" if where == "repo root" else "bench.ipynb"
    result = subprocess.run([sys.executable, "-m", "papermill", notebook, str(out), "-p", "fmt", "zarr",
                             "-p", "limit", "600", "-p", "epochs", "1", "-p", "model", "emulate",
                             "-p", "results_dir", str(tmp_path / "results"), "-k", "thesis-lab"],
                            cwd=cwd, env=run_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    records = list((tmp_path / "results").glob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["fmt"] == "zarr"
    if where == "repo root":  # the executed notebook, with its injected parameters, passes nbval-lax
        check = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", str(out),
                                "-p", "no:cacheprovider", "-q"], cwd=tmp_path, env=run_env(),
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout[-2000:]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("args,message", [
    (["-p", "fmt", "parquet"], "choose one of: files, npy, cupy, hdf5, zarr"),
    (["-p", "dataset", "mnist"], "choose one of: synthetic"),
    (["-p", "epochs", "two"], "epochs must be an integer >= 1, got 'two'"),
])
def test_bench_notebook_fails_at_once_on_bad_parameters(tmp_path, args, message):
    with pytest.raises(papermill.PapermillExecutionError, match=message.replace("(", r"\(")) as info:
        papermill.execute_notebook(str(REPO / "notebooks" / "bench.ipynb"), str(tmp_path / "out.ipynb"),
                                   kernel_name="thesis-lab", progress_bar=False,
                                   parameters=dict(zip(args[1::3], args[2::3])))
    assert info.value.exec_count <= 3  # it stopped at the validation cell, before any work


# -- the sweep -------------------------------------------------------------------------------------
@pytest.mark.timeout(300)
def test_sweep_resumes_and_survives_a_failing_point(tmp_path, capsys, monkeypatch):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({
        "defaults": {"dataset": "synthetic", "limit": 600, "epochs": 1, "batch_size": 128, "model": "emulate"},
        "grids": [{"fmt": ["npy", "hdf5"], "access": "batch"},
                  {"fmt": "npy", "access": "block", "dataset": "imagefolder"},  # no root: fails
                  {"fmt": "cupy", "access": "batch"}],  # skipped without CUDA
    }))
    results = tmp_path / "results"
    monkeypatch.chdir(tmp_path)
    failures = sweep.run_grid(grid, results_dir="results")  # relative to where the sweep is started
    names = sorted(p.stem for p in results.glob("*.json"))
    assert names == sorted(sweep.run_name(p) for p in sweep.load_grid(grid)[:2])
    for name in names:  # the executed notebook sits beside its record
        assert (results / f"{name}.ipynb").is_file()
    assert [name for name, _ in failures] == [sweep.run_name(sweep.load_grid(grid)[2])]
    assert "imagefolder: pass root" in failures[0][1]
    printed = capsys.readouterr().out
    assert "FAILED imagefolder" in printed and "skipped synthetic-native-cupy" in printed
    stamps = {p: p.stat().st_mtime_ns for p in results.glob("*.json")}
    sweep.run_grid(grid, results_dir=results)  # resumes: the finished points are not run again
    assert {p: p.stat().st_mtime_ns for p in results.glob("*.json")} == stamps


def test_grid_with_an_unknown_parameter_is_refused(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("grids:\n  - {fmt: npy, colour: blue}\n")
    with pytest.raises(ValueError, match="unknown parameter 'colour'"):
        sweep.load_grid(grid)


def test_default_grid_loads():
    points = sweep.load_grid()
    assert {p["fmt"] for p in points} == {"files", "npy", "cupy", "hdf5", "zarr"}
    assert len({sweep.run_name(p) for p in points}) == len(points)


# -- command line ----------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_cli_prepare_convert_bench(tmp_path):
    def cli(*args):
        result = subprocess.run([sys.executable, "-m", "thesis_lib", *args], capture_output=True, text=True,
                                env=run_env(THESIS_DATA=str(tmp_path / "data")))
        return result

    prepared = cli("prepare", "--dataset", "synthetic", "--limit", "200")
    assert prepared.returncode == 0, prepared.stderr
    assert json.loads(prepared.stdout)["n"] == 200
    converted = cli("convert", "--dataset", "synthetic", "--limit", "200", "--fmt", "zarr",
                    "--option", "chunk_images=32", "--option", "codec=zstd")
    assert converted.returncode == 0, converted.stderr
    stats = json.loads(converted.stdout)
    assert stats["options"]["chunk_images"] == 32 and stats["bytes_on_disk"] > 0 and stats["n"] == 200
    bad = cli("convert", "--dataset", "synthetic", "--limit", "200", "--fmt", "zarr", "--option", "colour=red")
    assert bad.returncode != 0 and "unknown option 'colour'" in bad.stderr
    out = tmp_path / "record.json"
    ran = cli("bench", "--dataset", "synthetic", "--limit", "300", "--fmt", "npy", "--access", "resident",
              "--model", "emulate", "--emulate-rate", "0", "--epochs", "1", "--out", str(out))
    assert ran.returncode == 0, ran.stderr
    assert json.loads(out.read_text())["access"] == "resident"


@pytest.mark.timeout(180)
def test_torchrun_two_ranks_on_gloo(tmp_path):
    out = tmp_path / "record.json"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531",
         "-m", "thesis_lib", "bench", "--distributed", "--dataset", "synthetic", "--limit", "512", "--fmt", "npy",
         "--model", "convnet", "--epochs", "1", "--batch-size", "64", "--eval-limit", "128", "--out", str(out)],
        capture_output=True, text=True, env=run_env(THESIS_DATA=str(tmp_path / "data"), OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["world_size"] == 2 and record["distributed"]
    epoch = record["epochs"][0]
    assert epoch["samples"] == 256  # rank 0's shard
    assert epoch["samples_per_s_total"] > epoch["samples_per_s"]  # summed over both ranks
    assert record["accuracy"] is not None
