"""One benchmark run end to end, its notebook under papermill, the sweep, and the CLI."""
from __future__ import annotations

import ast
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import papermill
import pytest
import torch
import yaml
from PIL import Image

from thesis_lib.core import paths
from thesis_lib.core.record import Epoch, Record
from thesis_lib.run import bench, config, sweep
from thesis_lib.run.config import ADDED_LATER

REPO = paths.REPO_ROOT
RECORD_KEYS = {"dataset", "image_size", "n_train", "fmt", "write_options", "open_options", "config", "config_id", "access", "workers", "batch_size", "model",
               "device", "seed", "cache", "epochs", "epoch_time_s_median", "samples_per_s_median", "au_median",
               "bytes_on_disk", "convert_s", "peak_rss_mb", "accuracy", "f1_macro", "env"}
EPOCH_KEYS = {"wall_s", "data_wait_s", "compute_s", "samples_per_s", "au", "cold"}
TINY = {"limit": 600, "epochs": 2, "batch_size": 128, "model": "emulate", "emulate_rate": 0}


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("THESIS_RESULTS_DIR", raising=False)
    return tmp_path / "data"


def run_env(**extra) -> dict:
    return {**os.environ, "MPLBACKEND": "Agg", **extra}


# -- configuration ---------------------------------------------------------------------------------
@pytest.mark.parametrize("change,message", [
    ({"fmt": "parquet"}, "fmt='parquet' is not valid; choose one of: files, npy, cupy, hdf5, zarr"),
    ({"dataset": "mnist"}, "dataset='mnist' is not valid; choose one of: synthetic"),
    ({"access": "random"}, "access='random' is not valid; choose one of: sample, batch, block, resident, stream"),
    ({"epochs": "two"}, "epochs must be an integer >= 1, got 'two'"),
    ({"workers": -1}, "workers must be an integer >= 0"),
    ({"emulate_rate": 100.0, "model": "convnet"}, "emulate_rate applies only with model='emulate'"),
    ({"write_options": {"colour": 1}}, "unknown write option 'colour'"),
    ({"fmt": "hdf5", "write_options": {"rdcc_nbytes": 2**20}}, "unknown write option 'rdcc_nbytes' (it is one of the open options)"),
    ({"fmt": "zarr", "open_options": {"chunk_images": 64}}, "unknown open option 'chunk_images' (it is one of the write options)"),
    ({"fmt": "zarr", "open_options": {"concurrency": 0}}, "open option concurrency=0: expected an integer in 1..65,536"),
    ({"write_options": "[1, 2]"}, "write_options must be a mapping"),
    ({"emulate_rate": float("nan"), "model": "emulate"}, "emulate_rate must be a finite number >= 0"),
    ({"emulate_rate": float("inf"), "model": "emulate"}, "emulate_rate must be a finite number >= 0"),
    ({"lr": float("nan")}, "lr must be a finite number > 0"),
    ({"seed": -1}, "seed must be an integer in 0..4294967295"),
    ({"root": "/no/such/cifar.zip", "dataset": "imagefolder"}, "root='/no/such/cifar.zip': no such file or folder"),
    ({"queue_steps": -1}, "queue_steps must be an integer >= 0"),
    ({"fmt": "cupy"}, "fmt='cupy' loads into GPU memory: it needs device='cuda'"),
    ({"fmt": "files", "open_options": {"decoder": "nvjpeg"}},
     "fmt='files', decoder='nvjpeg' loads into GPU memory: it needs device='cuda'"),
])
def test_bad_parameters_name_themselves(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bench.BenchConfig(**change).resolve().check_runnable()


# Config ids under the measurement protocol of docs/design.md (warm-up apart, data by content): a
# change to any of them re-runs every recorded point, so it must be deliberate.
PROTOCOL_IDS = [({}, "b7c874be"), ({"model": "emulate", "fmt": "zarr", "access": "block", "workers": 2}, "48ba5c23"),
                ({"fmt": "files", "open_options": {"decoder": "torchvision"}}, "8333b7b2")]


@pytest.mark.parametrize("values,config_id", PROTOCOL_IDS)
def test_config_ids_are_stable_and_a_field_added_later_is_left_out_at_its_old_value(values, config_id):
    assert bench.BenchConfig(**values).resolve().config_id == config_id
    assert "queue_steps" not in bench.BenchConfig(**values).resolve().identity
    queued = bench.BenchConfig(**values, queue_steps=2)
    assert queued.resolve().identity["queue_steps"] == 2 and queued.resolve().config_id != config_id


def test_one_zip_at_two_paths_or_on_two_machines_is_one_experiment(tmp_path):
    """The identity hashes what the data holds, not where it lies: a copy of the zip elsewhere (new
    name, new modification time), or an extracted copy of a folder, keeps the config id."""
    zipped = tmp_path / "a" / "cifar.zip"
    folder = tmp_path / "b" / "images"
    for k in range(3):
        (folder / f"class{k}").mkdir(parents=True)
        (folder / f"class{k}" / "0.png").write_bytes(bytes([k]) * (10 + k))
    zipped.parent.mkdir()
    shutil.make_archive(str(zipped.with_suffix("")), "zip", folder)
    copy = tmp_path / "elsewhere" / "renamed.zip"
    copy.parent.mkdir()
    shutil.copyfile(zipped, copy)
    folder_copy = tmp_path / "c" / "images"
    shutil.copytree(folder, folder_copy, copy_function=shutil.copyfile)

    def config_id(root):
        return bench.BenchConfig(dataset="imagefolder", root=str(root)).resolve().config_id

    assert config_id(zipped) == config_id(copy) == config_id(os.path.relpath(copy))
    assert config_id(folder) == config_id(folder_copy) != config_id(zipped)
    (folder_copy / "class0" / "0.png").write_bytes(b"other bytes, another size")
    assert config_id(folder_copy) != config_id(folder)
    record_root = bench.BenchConfig(dataset="imagefolder", root=str(copy)).resolve().identity
    assert "root" not in record_root and record_root["data"].startswith("zip:")


@pytest.mark.parametrize("epochs,warmup", [(1, 1), (2, 2), (3, 5)])
def test_a_protocol_without_a_measured_epoch_is_refused_naming_the_setting(epochs, warmup):
    with pytest.raises(ValueError, match=f"warmup_epochs={warmup} leaves no measured epoch of epochs={epochs}"):
        bench.BenchConfig(epochs=epochs, warmup_epochs=warmup).resolve().check_runnable()


# -- one run ---------------------------------------------------------------------------------------
def test_run_writes_a_complete_record_and_reuses_the_conversion(data_dir):
    config = bench.BenchConfig(fmt="hdf5", access="block", repeats=2, cache="cold", **TINY).resolve()
    record = bench.run(config, progress=False)
    assert RECORD_KEYS <= set(record)
    assert len(record["epochs"]) == 4 and all(EPOCH_KEYS <= set(e) for e in record["epochs"])
    assert [e["warmup"] for e in record["epochs"]] == [True, False, True, False]
    assert [r["repeat"] for r in record["per_repeat"]] == [0, 1]
    assert all(e["cold"] for e in record["epochs"]) and record["n_train"] == 600
    assert record["env"]["cores"] == os.cpu_count() and record["accuracy"] is None
    on_disk = json.loads(Path(record["path"]).read_text())
    assert on_disk["run"] == config.run_name and Path(record["path"]).parent == data_dir / "results"
    # The record's keys are what thesis_lib.core.record.Record says (less fmt_options, which older records hold,
    # and the settings added later, left out at their old values).
    assert set(on_disk) == set(Record.__annotations__) - {"fmt_options", *ADDED_LATER}
    assert all(set(epoch) == set(Epoch.__annotations__) for epoch in on_disk["epochs"])
    assert not record["converted_reused"]
    assert bench.run(config, progress=False)["converted_reused"]
    other = bench.run(bench.BenchConfig(fmt="hdf5", write_options={"chunk_images": 64}, **TINY), progress=False)
    assert not other["converted_reused"] and other["write_options"]["chunk_images"] == 64
    reread = bench.run(bench.BenchConfig(fmt="hdf5", open_options={"read_path": "index"}, **TINY), progress=False)
    assert reread["converted_reused"] and reread["open_options"]["read_path"] == "index"  # read-time: no re-conversion
    assert len({r["run"] for r in (record, other, reread)}) == 3


def test_run_name_is_readable_and_tells_every_measured_setting_apart():
    base = bench.BenchConfig(fmt="zarr", limit=5000, model="emulate").resolve()
    assert base.run_name.startswith("synthetic-native-n5000-zarr-batch-emulateH100-warm-w0-b512-s0-")
    changed = [{"limit": 2000}, {"epochs": 3}, {"warmup_epochs": 0}, {"repeats": 3}, {"write_options": {"chunk_images": 1024}},
               {"open_options": {"read_path": "chunks"}}, {"emulate_rate": 1000.0}, {"eval_limit": 5},
               {"root": str(REPO)}, {"image_size": 16}, {"lr": 0.1}]
    names = {bench.BenchConfig(**{**dataclasses.asdict(base.config), **change}).resolve().run_name for change in changed}
    assert len(names | {base.run_name}) == len(changed) + 1
    # Equal configurations have equal names however they are spelt: defaults filled in, text parsed.
    spelt = bench.BenchConfig(fmt="zarr", limit=5000, model="emulate", download=True,
                              write_options='{"chunk_images": "64"}', open_options={"read_path": "oindex"})
    assert spelt.resolve().run_name == base.run_name
    asynchronous = bench.BenchConfig(fmt="zarr", limit=5000, model="emulate", queue_steps=2).resolve()
    assert asynchronous.run_name.startswith("synthetic-native-n5000-zarr-batch-emulateH100-warm-w0-b512-q2-s0-")


def test_bench_and_sweep_write_to_the_results_dir_from_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("THESIS_RESULTS_DIR", str(tmp_path / "from-env"))
    config = bench.BenchConfig(**TINY).resolve()
    assert bench.record_path(config) == tmp_path / "from-env" / f"{config.run_name}.json"
    monkeypatch.chdir(tmp_path)
    assert bench.record_path(config, "given") == tmp_path / "given" / f"{config.run_name}.json"
    grid = tmp_path / "invalid.yaml"  # one point that fails before papermill (an empty grid is refused)
    grid.write_text("grids: [{model: emulate, emulate_rate: fast}]\n")
    assert [name[:-9] for name, _ in sweep.run_grid(grid)] == ["invalid-emulate_rate=fast-model=emulate"]
    assert f"-> {tmp_path / 'from-env'}" in capsys.readouterr().out and (tmp_path / "from-env").is_dir()


def test_emulated_accelerator_sets_au(data_dir):
    record = bench.run(bench.BenchConfig(fmt="npy", limit=1024, epochs=2, batch_size=256, model="emulate",
                                         emulate_rate=20_000), progress=False)
    for epoch in record["epochs"]:
        # Sleeping until a deadline never takes less; a loaded machine's late wake-ups may add more.
        assert 1024 / 20_000 <= epoch["compute_s"] < 1024 / 20_000 + 1.0
        assert 0 < epoch["au"] <= 1
    assert record["emulate_rate"] == 20_000


# -- bench.ipynb under papermill -------------------------------------------------------------------
def image_zip(folder: Path, per_class: int = 40) -> Path:
    """A small real image-folder zip: ``train/`` and ``test/``, two classes of 8 px PNGs."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label in ("ant", "bee"):
            (folder / "tree" / split / label).mkdir(parents=True)
            for k in range(per_class):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                    folder / "tree" / split / label / f"{k}.png")
    return Path(shutil.make_archive(str(folder / "tiny-set"), "zip", folder / "tree"))


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("where", ["repo root", "notebooks/"])
def test_bench_notebook_runs_under_papermill_on_real_files(tmp_path, where):
    """Any dataset and any format option reach the notebook: a root (relative to where papermill
    runs, or absolute), write options as YAML (``-y``) or as JSON text (``-p``)."""
    cwd = REPO if where == "repo root" else REPO / "notebooks"
    out = tmp_path / "out.ipynb"
    notebook = "notebooks/bench.ipynb" if where == "repo root" else "bench.ipynb"
    # nbval re-runs the notebook from its own folder, where only an absolute root means the same file.
    root = str(image_zip(tmp_path)) if where == "repo root" else os.path.relpath(image_zip(tmp_path), cwd)
    options = (["-y", "write_options: {chunk_images: 16}"] if where == "repo root"
               else ["-p", "write_options", '{"chunk_images": 16}'])
    result = subprocess.run([sys.executable, "-m", "papermill", notebook, str(out), "-p", "fmt", "zarr",
                             "-p", "dataset", "imagefolder", "-p", "root", root, *options,
                             "-p", "epochs", "2", "-p", "model", "emulate", "-p", "emulate_rate", "0",
                             "-p", "results_dir", str(tmp_path / "results"), "-k", "thesis-lab"],
                            cwd=cwd, env=run_env(THESIS_DATA=str(tmp_path / "data")), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    records = list((tmp_path / "results").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert (record["fmt"], record["dataset"], record["n_train"]) == ("zarr", "imagefolder", 80)
    assert record["write_options"]["chunk_images"] == 16 and record["root"] == str(tmp_path / "tiny-set.zip")
    if where == "repo root":  # the executed notebook, with its injected parameters, passes nbval-lax
        check = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", str(out),
                                "-p", "no:cacheprovider", "-q"], cwd=tmp_path, env=run_env(THESIS_DATA=str(tmp_path / "data")),
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout[-2000:]


def test_bench_notebook_parameters_are_the_config_fields():
    """The parameter cell holds one variable per BenchConfig field with its default (plus
    results_dir and the sweep's config_id), so papermill -p reaches every field and the lists cannot drift apart."""
    cells = json.loads((REPO / "notebooks" / "bench.ipynb").read_text())["cells"]
    cell = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    assigned = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse("".join(cell["source"])).body}
    assert assigned == config.notebook_parameters()
    assert set(assigned) - {"results_dir", "config_id"} == set(bench.BenchConfig.field_names())


def test_cli_bench_has_a_flag_for_every_field():
    from thesis_lib.__main__ import build_parser

    args = build_parser().parse_args(["bench", "--dataset", "imagefolder", "--root", "x.zip", "--download",
                                      "--limit", "none", "--fmt", "zarr", "--model", "emulate", "--write-option", "chunk_images=1024",
                                      "--option", "codec=zstd", "--open-option", "read_path=chunks",
                                      "--emulate-rate", "0", "--lr", "0.1", "--eval-limit", "None"])
    parsed = config.config_from_args(args)
    assert set(vars(args)) >= set(bench.BenchConfig.field_names())
    assert parsed.write_options == {"chunk_images": "1024", "codec": "zstd"}
    assert parsed.open_options == {"read_path": "chunks"} and parsed.download and parsed.limit is None
    assert parsed.resolve().write_options["chunk_images"] == 1024 and parsed.eval_limit is None


@pytest.mark.timeout(120)
@pytest.mark.parametrize("args,message", [
    (["-p", "fmt", "parquet"], "choose one of: files, npy, cupy, hdf5, zarr"),
    (["-p", "dataset", "mnist"], "choose one of: synthetic"),
    (["-p", "epochs", "two"], "epochs must be an integer >= 1, got 'two'"),
])
@pytest.mark.slow
def test_bench_notebook_fails_at_once_on_bad_parameters(tmp_path, args, message):
    with pytest.raises(papermill.PapermillExecutionError, match=message.replace("(", r"\(")) as info:
        papermill.execute_notebook(str(REPO / "notebooks" / "bench.ipynb"), str(tmp_path / "out.ipynb"),
                                   kernel_name="thesis-lab", progress_bar=False,
                                   parameters=dict(zip(args[1::3], args[2::3])))
    assert info.value.exec_count <= 3  # it stopped at the validation cell, before any work


# -- the sweep -------------------------------------------------------------------------------------
def skip_reason(point: dict) -> str | None:
    return sweep.skip_reason(sweep.resolve_point(point))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sweep_resumes_and_survives_a_failing_point(tmp_path, capsys, monkeypatch):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({
        "defaults": {"dataset": "synthetic", "limit": 600, "epochs": 2, "batch_size": 128, "model": "emulate"},
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
    assert "FAILED imagefolder" in printed and "1 point skipped: cupy needs a CUDA GPU" in printed
    skipped = (results / sweep.SKIPPED_LIST).read_text()  # the point is named there, with its reason
    assert skipped == ("# 1 point skipped: cupy needs a CUDA GPU\n"  # the summary line, then the point
                       f"{sweep.run_name(sweep.load_grid(grid)[3])}: cupy needs a CUDA GPU\n")
    stamps = {p: p.stat().st_mtime_ns for p in results.glob("*.json")}
    sweep.run_grid(grid, results_dir=results)  # resumes: the finished points are not run again
    assert {p: p.stat().st_mtime_ns for p in results.glob("*.json")} == stamps


def test_grid_with_an_unknown_parameter_is_refused(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("grids:\n  - {fmt: npy, colour: blue}\n")
    with pytest.raises(ValueError, match="unknown parameter 'colour'; valid: dataset, root, download"):
        sweep.load_grid(grid)
    grid.write_text("grids:\n  - variants: [{fmt: npy, colour: blue}]\n")
    with pytest.raises(ValueError, match="entry 0, variants: unknown parameter 'colour'"):
        sweep.load_grid(grid)


def test_a_bundles_values_override_the_entrys_wherever_they_are_written(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({
        "defaults": {"device": "cpu", "workers": 2},
        "grids": [{"variants": [{"fmt": "npy"}, {"fmt": "cupy", "device": "cuda", "workers": 0}],
                   "workers": 2, "access": "batch"}],
    }, sort_keys=False))
    points = sweep.load_grid(grid)
    assert [(p["fmt"], p["device"], p["workers"]) for p in points] == [("npy", "cpu", 2), ("cupy", "cuda", 0)]


def test_a_grid_lists_each_run_once_however_its_settings_are_spelt(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"grids": [{"fmt": "npy"}, {"fmt": "npy", "queue_steps": [0, 2]},
                                              {"fmt": "npy", "write_options": {}}]}))
    assert [p.get("queue_steps", 0) for p in sweep.load_grid(grid)] == [0, 2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the skip on a machine without CUDA")
def test_points_that_need_cuda_are_skipped_without_it_naming_why():
    assert skip_reason({"fmt": "cupy", "device": "cuda"}) == "device cuda needs a CUDA GPU"
    assert skip_reason({"fmt": "cupy"}) == "cupy needs a CUDA GPU"
    assert skip_reason({"fmt": "files", "open_options": {"decoder": "nvjpeg"}}) == "files needs a CUDA GPU"


def test_grid_bundles_datasets_and_variants_and_resolves_roots(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_HOME", str(tmp_path / "home"))
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"defaults": {"limit": 100}, "grids": [{
        "datasets": [{"dataset": "synthetic"}, {"dataset": "imagefolder", "root": "sets/c.zip"},
                     {"dataset": "tiny-imagenet", "root": "$DATA_HOME/t.zip"}],
        "variants": [{"fmt": "npy"}, {"fmt": "zarr", "write_options": {"chunk_images": 1024}},
                     {"fmt": "zarr", "open_options": {"read_path": "chunks"}}],
        "workers": [0, 2]}]}))
    points = sweep.load_grid(grid)
    assert len(points) == 3 * 3 * 2 and all(p["limit"] == 100 for p in points)
    assert {p.get("root") for p in points} == {None, str(tmp_path / "sets/c.zip"), str(tmp_path / "home/t.zip")}
    zarr_points = [p for p in points if p["fmt"] == "zarr"]
    assert sum("write_options" in p for p in zarr_points) == sum("open_options" in p for p in zarr_points) == 6
    assert len({sweep.run_name(p) for p in points}) == len(points)


def test_sweep_skips_data_that_is_not_on_disk_with_the_command_that_fetches_it(tmp_path, capsys):
    base = {"fmt": "npy", "limit": 60}
    assert "python -m thesis_lib prepare --dataset tiny-imagenet --download" in skip_reason(
        {**base, "dataset": "tiny-imagenet"})
    assert "python -m thesis_lib prepare --dataset hires --download" in skip_reason(
        {**base, "dataset": "hires"})  # not its generated stand-in
    missing = str(tmp_path / "no" / "cifar10-jpeg.zip")
    assert skip_reason({**base, "dataset": "imagefolder", "root": missing}) == f"{missing} is not on disk"
    archive = image_zip(tmp_path)
    assert skip_reason({**base, "dataset": "imagefolder", "root": str(archive)}) is None
    assert skip_reason({**base, "dataset": "imagefolder", "root": str(archive), "limit": 500}) == (
        f"limit 500 but {archive} holds 80 training images")
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"grids": [{"dataset": ["tiny-imagenet", "hires"], **base}]}))
    assert sweep.run_grid(grid, results_dir=tmp_path / "results") == []  # skipped, not failed
    assert "0 of 2 points done, 2 skipped, 0 failed" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sweep_keeps_both_records_of_runs_that_differ_only_in_limit_or_chunk_size(tmp_path):
    """Once, two such runs shared a record name: the second replaced the first (or was skipped as
    already recorded), and the thesis would have reported the wrong experiment."""
    tiny = {"dataset": "synthetic", "fmt": "zarr", "epochs": 2, "batch_size": 128, "model": "emulate",
            "emulate_rate": 0}
    by_limit, by_chunk = tmp_path / "limit.yaml", tmp_path / "chunk.yaml"
    by_limit.write_text(yaml.safe_dump({"defaults": tiny, "grids": [{"limit": [300, 400]}]}))
    by_chunk.write_text(yaml.safe_dump({"defaults": tiny, "grids": [
        {"limit": 300, "write_options": [{"chunk_images": 64}, {"chunk_images": 32}]}]}))
    results = tmp_path / "results"
    assert sweep.run_grid(by_limit, results_dir=results) == []
    assert sweep.run_grid(by_chunk, results_dir=results) == []
    files = sorted(results.glob("*.json"))
    records = [json.loads(p.read_text()) for p in files]
    # chunk 64 is zarr's default: that point is the limit-300 run, already recorded, not run again
    assert sorted((r["n_train"], r["write_options"]["chunk_images"]) for r in records) == [
        (300, 32), (300, 64), (400, 64)]
    assert [r["run"] for r in records] == [p.stem for p in files]  # each record named after its run


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_sweeps_into_one_results_folder_lose_and_corrupt_nothing(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"grids": [{"dataset": "synthetic", "fmt": "npy", "limit": 300, "epochs": 2,
                                               "batch_size": 128, "model": "emulate", "emulate_rate": 0}]}))
    code = f"from thesis_lib.run import sweep; raise SystemExit(len(sweep.run_grid({str(grid)!r}, results_dir='results')))"
    sweeps = [subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=run_env(THESIS_DATA=str(tmp_path / "d")),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=240)[0] for p in sweeps]
    assert [p.returncode for p in sweeps] == [0, 0], outputs
    results = tmp_path / "results"
    name = sweep.run_name(sweep.load_grid(grid)[0])
    assert sorted(p.name for p in results.iterdir() if p.is_file()) == [f"{name}.ipynb", f"{name}.json"]
    assert json.loads((results / f"{name}.json").read_text())["epochs"]
    nbformat.read(results / f"{name}.ipynb", as_version=4)  # a whole notebook, not two interleaved


def test_thesis_grid_loads():
    points = sweep.load_grid(REPO / "thesis_lib" / "grids" / "thesis.yaml")
    assert {p["dataset"] for p in points} == {"imagefolder", "cifar10", "tiny-imagenet", "hires"}
    assert {p.get("image_size") for p in points} >= {32, 64, 128}
    assert len({p.get("limit") for p in points}) >= 3
    assert len({sweep.run_name(p) for p in points}) == len(points)


def test_default_grid_loads():
    points = sweep.load_grid()
    assert {p["fmt"] for p in points} == {"files", "npy", "cupy", "hdf5", "zarr"}
    assert len({sweep.run_name(p) for p in points}) == len(points)


# -- command line ----------------------------------------------------------------------------------
@pytest.mark.slow
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
    assert bad.returncode != 0 and "unknown write option 'colour'" in bad.stderr
    out = tmp_path / "record.json"
    ran = cli("bench", "--dataset", "synthetic", "--limit", "300", "--fmt", "npy", "--access", "resident",
              "--model", "emulate", "--emulate-rate", "0", "--epochs", "2", "--out", str(out))
    assert ran.returncode == 0, ran.stderr
    record = json.loads(out.read_text())
    assert record["access"] == "resident"
    # The first bench on a machine measures the data folder's storage once; every record carries it.
    storage = record["env"]["storage"]
    assert storage["filesystem"] and storage["page_cache_gb_s"] > 0
    assert (tmp_path / "data" / "storage-check.json").is_file()
    assert not list((tmp_path / "data").glob(".storage-check-*"))  # the scratch file is gone


@pytest.mark.slow
def test_cli_bench_names_a_bad_setting_before_measuring_anything(tmp_path):
    result = subprocess.run([sys.executable, "-m", "thesis_lib", "bench", "--epochs", "1"], capture_output=True,
                            text=True, env=run_env(THESIS_DATA=str(tmp_path / "data")))
    assert result.returncode != 0
    assert "warmup_epochs=1 leaves no measured epoch of epochs=1" in result.stderr
    assert not (tmp_path / "data").exists()  # no storage check, no folder


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_torchrun_two_ranks_on_gloo(tmp_path):
    out = tmp_path / "record.json"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531",
         "-m", "thesis_lib", "bench", "--distributed", "--dataset", "synthetic", "--limit", "512", "--fmt", "npy",
         "--model", "convnet", "--epochs", "2", "--batch-size", "64", "--eval-limit", "128", "--out", str(out)],
        capture_output=True, text=True, env=run_env(THESIS_DATA=str(tmp_path / "data"), OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["world_size"] == 2 and record["distributed"]
    epoch = record["epochs"][0]
    assert epoch["samples"] == 256  # rank 0's shard
    assert epoch["samples_per_s_total"] > epoch["samples_per_s"]  # summed over both ranks
    assert record["accuracy"] is not None


@pytest.mark.timeout(120)
def test_notebooks_run_on_the_project_kernel_over_ipc_quietly(tmp_path, capfd):
    """No TCP port and no "running over TCP without encryption" warning per run (it buried the
    sweep's progress bar); the kernel's sockets are its own and gone afterwards."""
    import glob
    import tempfile

    from thesis_lib.core import notebook_run

    notebook = tmp_path / "tiny.ipynb"
    cells = [nbformat.v4.new_code_cell("answer = 6 * 7", metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell("print(answer)")]
    kernel = {"kernelspec": {"name": "thesis-lab", "display_name": "thesis-lab", "language": "python"}}
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=kernel), notebook)
    before = set(glob.glob(f"{tempfile.gettempdir()}/thesis-lab-kernel-*"))
    notebook_run.execute(notebook, tmp_path / "out.ipynb", {"answer": 41})
    assert nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1].outputs[0]["text"] == "41\n"
    assert "without encryption" not in capfd.readouterr().err
    assert set(glob.glob(f"{tempfile.gettempdir()}/thesis-lab-kernel-*")) <= before
