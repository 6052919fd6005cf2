"""Hostile records, results folders and grids, kept fixed (issue 25).

Each case once crashed the report, hung, dropped a record without a word, reported a wrong figure
or ran for minutes on a tiny file; each now quarantines the record with its reason, names the file
or parameter at fault, or refuses before anything is measured. Every test has a timeout, so a hang
fails.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from thesis_lib import __main__ as cli
from thesis_lib import results
from thesis_lib.core import record, record_check
from thesis_lib.results import report
from thesis_lib.run import bench, grid, plan, sweep
from thesis_lib.run.config import BenchConfig

RECORDS = Path(__file__).resolve().parent / "fixtures" / "records"
TEMPLATE = next(RECORDS.glob("synthetic-32-n512-npy-batch-emulate36300-warm-*.json"))
TINY = {"dataset": "synthetic", "model": "emulate", "emulate_rate": 36300.0, "limit": 600, "epochs": 2,
        "batch_size": 128}


def template() -> dict:
    return json.loads(TEMPLATE.read_text())


@pytest.fixture
def folder(tmp_path) -> Path:
    """A results folder holding a copy of the fixture records."""
    copy = tmp_path / "results"
    shutil.copytree(RECORDS, copy)
    return copy


def load_with_warnings(folder: Path):
    with pytest.warns(UserWarning) as caught:
        runs = results.load_records(folder)
    return runs, [str(w.message) for w in caught]


def quarantined_alone(folder: Path, name: str, text: str, reason: str):
    """Put ``text`` in ``folder/name`` and check it, and only it, is quarantined for ``reason``;
    the other records are all read and the report's tables are written."""
    (folder / name).write_text(text)
    runs, warned = load_with_warnings(folder)
    assert len(runs) == len(list(RECORDS.glob("*.json")))
    [(path, why)] = runs.attrs["quarantined"]
    assert Path(path).name == name and reason in why
    assert any(name in message and reason in message for message in warned)
    assert set(report.write_report_tables(runs, folder / "report")) >= {"headline.md", "findings.md"}
    return runs


# --- 1. records checked before they are analysed --------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_a_record_with_repeats_nan_or_infinity_is_quarantined(folder, value):
    text = json.dumps(template()).replace('"repeats": 3', f'"repeats": {value}')
    assert value in text
    quarantined_alone(folder, "bad.json", text, "repeats must be a finite number")


@pytest.mark.timeout(60)
def test_a_record_with_a_zero_epoch_time_is_quarantined(folder):
    bad = template()
    bad["epochs"][1]["wall_s"] = 0
    quarantined_alone(folder, "bad.json", json.dumps(bad), "epoch 1: wall_s must be a number above 0, got 0")


@pytest.mark.timeout(60)
def test_nan_epoch_times_are_quarantined_not_dropped_from_the_ranking_silently(folder):
    bad = template()
    for epoch in bad["epochs"]:
        epoch["wall_s"] = float("nan")
    quarantined_alone(folder, "bad.json", json.dumps(bad), "epochs[0].wall_s must be a finite number")


@pytest.mark.timeout(60)
def test_negative_epoch_times_are_refused_and_no_format_is_fastest_at_them(folder):
    bad = {**template(), "fmt": "hdf5"}
    for epoch in bad["epochs"]:
        epoch["wall_s"] = -0.05
    runs = quarantined_alone(folder, "bad.json", json.dumps(bad), "wall_s must be a number above 0, got -0.05")
    assert "-0.05" not in results.findings.findings_markdown(runs)


@pytest.mark.timeout(60)
def test_json_nested_100000_deep_is_quarantined(folder):
    quarantined_alone(folder, "deep.json", "[" * 100_000 + "]" * 100_000, "nested too deep")


@pytest.mark.timeout(60)
def test_markup_in_a_text_field_is_quarantined_and_escaped_where_named(folder):
    bad = {**template(), "access": '<img src=x onerror="alert(1)">'}
    runs = quarantined_alone(folder, "bad.json", json.dumps(bad), "access: holds HTML markup")
    page = BeautifulSoup(report.quarantine_html(runs), "html.parser")
    assert page.find("img") is None and "<img src=x" in page.get_text()  # shown as text, never as a tag


@pytest.mark.timeout(60)
def test_a_record_nested_too_deep_or_with_text_too_long_is_refused():
    nested = {}
    for _ in range(record_check.MAX_DEPTH):
        nested = {"deeper": nested}
    deep = {**template(), "env": nested}
    assert any("nested more than" in p for p in record_check.record_problems(deep))
    long = {**template(), "dataset": "x" * 5000}
    assert any("dataset: text of 5,000 characters" in p for p in record_check.record_problems(long))


@pytest.mark.timeout(60)
def test_check_record_passes_every_fixture_record_and_names_the_run_and_its_problems():
    for path in RECORDS.glob("*.json"):
        record_check.check_record(json.loads(path.read_text()))
    bad = {**template(), "repeats": 0, "au_median": 1.5}
    bad["epochs"][0]["au"] = -0.1
    with pytest.raises(record_check.RecordError) as caught:
        record_check.check_record(bad)
    message = str(caught.value)
    assert message.startswith(f"record {bad['run']}: ")
    for problem in ("repeats must be a positive integer, got 0", "au_median must be between 0 and 1, got 1.5",
                    "epoch 0: au must be between 0 and 1, got -0.1"):
        assert problem in message
    held = {**template(), "au_median": float("nan")}  # as bench holds a loader-only run: written as null
    record_check.check_record(held, as_written=True)
    with pytest.raises(record_check.RecordError, match="au_median must be a finite number, got nan"):
        record_check.check_record(held)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_report_names_quarantined_records_at_its_top_and_on_stderr(folder, capsys):
    bad = template()
    bad["epochs"][0]["wall_s"] = 0
    (folder / "zero.json").write_text(json.dumps(bad))
    (folder / "nan-repeats.json").write_text(json.dumps(template()).replace('"repeats": 3', '"repeats": NaN'))
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "markup.json").write_text(json.dumps({**template(), "fmt": "<img src=x onerror=alert(1)>"}))
    page = BeautifulSoup(report.build(folder).read_text(), "html.parser")
    headings = [h.get_text().rstrip("¶") for h in page.find_all("h2")]
    assert headings[:2] == ["Records left out", "Where this was measured"]
    listed = page.find("h2").find_next("ul").get_text()
    for name in ("zero.json", "nan-repeats.json", "deep.json", "markup.json"):
        assert name in listed
    assert not [img for img in page.find_all("img") if img.get("src") == "x"]
    stderr = capsys.readouterr().err
    assert "left out" in stderr and "markup.json" in stderr and "deep.json" in stderr


# --- 2. non-regular files ---------------------------------------------------------------------------

@pytest.mark.timeout(30)
def test_a_fifo_named_json_is_skipped_by_name_not_waited_on(folder):
    os.mkfifo(folder / "pipe.json")
    runs, warned = load_with_warnings(folder)
    assert len(runs) == len(list(RECORDS.glob("*.json")))
    [(path, why)] = runs.attrs["quarantined"]
    assert path == str(folder / "pipe.json") and why.startswith("not a regular file")
    assert any("pipe.json: not a regular file" in message for message in warned)


# --- 3. read-only folders, a full disk, a name too long ---------------------------------------------

@pytest.mark.timeout(60)
def test_a_report_into_a_read_only_results_folder_names_the_folder(folder, monkeypatch):
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the folder refuse as it would a user
        real_mkdir = Path.mkdir

        def mkdir(self, *args, **kwargs):
            if self.is_relative_to(folder):
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    try:
        with pytest.raises(ValueError, match=f"report folder .*{folder.name}/report: cannot create it "
                                             r"\(Permission denied\)"):
            report.build(folder, html=False)
    finally:
        folder.chmod(0o755)


@pytest.mark.timeout(30)
def test_a_full_disk_while_writing_a_record_is_named_with_its_path(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    record.write_json(path, {"run": "old"})

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(record.WriteError, match=f"cannot write {path}: No space left on device "
                                                r"\(the disk is full; free some space\)") as caught:
        record.write_json(path, {"run": "new"})
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"run": "old"} and os.listdir(tmp_path) == ["run.json"]


def no_training(*args, **kwargs):
    raise AssertionError("measured before checking where the record goes")


@pytest.mark.timeout(60)
def test_bench_refuses_a_results_folder_without_free_space_before_measuring(tmp_path, data_home, monkeypatch):
    monkeypatch.setattr("thesis_lib.training.fit", no_training)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 10**6, 10**6))
    with pytest.raises(ValueError, match=r"results folder .*: only 1.0 MiB free, at least 16 MiB needed"):
        bench.run(BenchConfig(**TINY), out=tmp_path / "record.json", progress=False)


@pytest.mark.timeout(60)
def test_bench_refuses_a_record_name_too_long_before_measuring(tmp_path, data_home, monkeypatch):
    monkeypatch.setattr("thesis_lib.training.fit", no_training)
    root = tmp_path / ("d" * 196)  # a dataset folder's name goes into the record's only as a short hint
    root.mkdir()
    config = BenchConfig(**{**TINY, "dataset": "imagefolder", "root": str(root)})
    assert len(config.resolve().run_name) < 160
    with pytest.raises(ValueError, match=r"results folder .*: the file name x+\.\.\. is 305 bytes, more "
                                         r"than its file system allows \(255\)"):
        bench.run(BenchConfig(**TINY), out=tmp_path / ("x" * 300 + ".json"), progress=False)
    fits = tmp_path / ("r" * 250 + ".json")  # 255 bytes: written, its temporary name shortened
    record.write_json(fits, {"run": "r"})
    assert json.loads(fits.read_text()) == {"run": "r"}


# --- 4. grids say what they cost ---------------------------------------------------------------------

def grid_file(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.timeout(30)
def test_a_grid_key_written_twice_is_refused(tmp_path):
    path = grid_file(tmp_path, "grids:\n  - fmt: npy\n    limit: 100\n    fmt: zarr\n")
    with pytest.raises(ValueError, match=r"grid .*grid.yaml: the key 'fmt' is written twice in one mapping "
                                         r"\(lines 2 and 4\)"):
        sweep.load_grid(path)


@pytest.mark.timeout(10)
def test_a_yaml_alias_bomb_is_refused_fast(tmp_path):
    levels = "abcdefghi"
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip(levels, levels[1:])) + "grids: [{fmt: *i}]\n"
    assert len(bomb) < 1024
    with pytest.raises(ValueError, match=r"grid .*grid.yaml: its aliases expand to more than 100,000 YAML nodes"):
        sweep.load_grid(grid_file(tmp_path, bomb))


@pytest.mark.timeout(10)
def test_a_grid_alias_that_refers_to_itself_is_refused(tmp_path):
    with pytest.raises(ValueError, match="an alias refers to itself"):
        sweep.load_grid(grid_file(tmp_path, "anchors: &a [1, *a]\ngrids: [{fmt: npy}]\n"))


@pytest.mark.timeout(30)
def test_a_grid_that_is_not_utf8_names_the_file(tmp_path):
    path = grid_file(tmp_path, "grids:\n  - fmt: npy  # café\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"grid .*grid.yaml: not UTF-8 text \(byte 0xe9 at offset 26\)"):
        sweep.load_grid(path)


@pytest.mark.timeout(30)
def test_grid_defaults_that_are_not_a_mapping_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"defaults must be a mapping of parameters, got \[1, 2\]"):
        sweep.load_grid(grid_file(tmp_path, "defaults: [1, 2]\ngrids: [{fmt: npy}]\n"))


@pytest.mark.timeout(30)
def test_invalid_yaml_in_text_write_options_is_said_in_one_clear_line(tmp_path):
    path = grid_file(tmp_path, "grids:\n  - fmt: zarr\n    write_options: '{chunk_images: [1'\n")
    with pytest.raises(ValueError) as caught:
        sweep.load_grid(path)
    message = str(caught.value)
    assert "\n" not in message and "^" not in message
    assert message.startswith(f"grid {path}, entry 0, write_options: '{{chunk_images: [1' is not a YAML mapping")
    assert sweep.load_grid(grid_file(tmp_path, "grids:\n  - {fmt: zarr, write_options: '{codec: zstd}'}\n"))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("text, named", [
    ("grids:\n  - {fmt: npy, seed: []}\n", r"entry 0: the axis 'seed' is empty"),
    ("grids:\n  - {variants: []}\n", r"entry 0: the axis 'variants' is empty"),
    ("grids: []\n", r"'grids' is empty: the grid has no points"),
], ids=["seed", "variants", "grids"])
def test_an_empty_axis_or_grid_is_an_error_naming_it(tmp_path, text, named):
    with pytest.raises(ValueError, match=named):
        sweep.load_grid(grid_file(tmp_path, text))


@pytest.mark.timeout(10)
def test_a_grid_of_a_million_points_is_refused_before_expanding(tmp_path, monkeypatch):
    monkeypatch.setattr(grid, "_point_key", no_training)  # no point may be made
    axes = {key: list(range(1, 11)) for key in ("seed", "limit", "batch_size", "workers", "epochs", "repeats")}
    path = grid_file(tmp_path, yaml.safe_dump({"grids": [axes]}))
    with pytest.raises(ValueError, match=r"1,000,000 points \(entry 0: 10 batch_size x 10 epochs x .* x 10 workers\); "
                                         r"at most 100,000 in one grid, even with --yes"):
        sweep.load_grid(path)


@pytest.mark.timeout(120)
def test_more_than_a_thousand_new_points_need_yes(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "run_point", no_training)
    path = grid_file(tmp_path, yaml.safe_dump({"defaults": TINY, "grids": [{"seed": list(range(1001))}]}))
    with pytest.raises(SystemExit, match=r"1,001 points not yet recorded in .* \(more than 1,000\); "
                                         r"see them with --dry-run, run them with --yes"):
        cli.main(["sweep", "--grid", str(path), "--results-dir", str(tmp_path / "results")])
    plan.confirm(path, tmp_path / "results", yes=True)  # said yes: no objection
    small = grid_file(tmp_path, yaml.safe_dump({"defaults": TINY, "grids": [{"seed": list(range(1000))}]}))
    plan.confirm(small, tmp_path / "results", yes=False)


# --- 5. sweep --dry-run ------------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_sweep_dry_run_says_what_it_would_run_skip_and_cost_and_runs_nothing(tmp_path, data_home, capsys,
                                                                            monkeypatch):
    monkeypatch.setattr(sweep, "run_point", no_training)
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    shutil.copy(TEMPLATE, results_dir)  # a similar run already measured: the time comes from it
    done = {**TINY, "fmt": "hdf5"}
    spec = BenchConfig.from_mapping(done).resolve()
    (results_dir / f"{spec.run_name}.json").write_text(json.dumps({"epochs": [], "config": spec.identity}))
    path = grid_file(tmp_path, yaml.safe_dump({"defaults": TINY, "grids": [
        {"fmt": ["npy", "hdf5", "zarr"]},
        {"fmt": "npy", "dataset": ["tiny-imagenet", "hires"]},  # not on disk: skipped, each with its reason
        {"fmt": "npy", "seed": [1, 2]}]}))
    before = sorted(os.listdir(results_dir))
    cli.main(["sweep", "--dry-run", "--grid", str(path), "--results-dir", str(results_dir)])
    out = capsys.readouterr().out
    assert "7 points: 1 already recorded, 2 would be skipped, 0 invalid, 4 to run" in out
    assert "tiny-imagenet is not on disk" in out
    assert "fetch it with: python -m thesis_lib prepare --dataset hires" in out
    # npy (seeds 0, 1 and 2 share one copy) and zarr: 600 images of 32 x 32 x 3 bytes each, at most
    assert f"converted copies: 2 distinct, at most {2 * 600 * 32 * 32 * 3 / 1e6:,.1f} MB (upper bound" in out
    assert "estimated time:" in out and "3 of 4 points from similar records" in out
    assert out.count("synthetic-native-n600-") == 4 and "nothing was run" in out
    assert sorted(os.listdir(results_dir)) == before and not list(data_home.rglob("manifest.json"))


@pytest.mark.timeout(30)
def test_the_sweep_prints_each_skip_reason_once_with_its_count_and_its_fix():
    fetch = "python -m thesis_lib prepare --dataset hires --download"
    skipped = [(f"run-{k}", sweep.Skip("cupy needs a CUDA GPU")) for k in range(1670)] + [
        ("run-x", sweep.Skip("hires is not on disk", fetch, "only its generated stand-in")),
        ("run-y", sweep.Skip("hires is not on disk", fetch, "no such folder"))]  # the detail is the point's own
    assert sweep.skip_lines(skipped) == [
        "1,670 points skipped: cupy needs a CUDA GPU",
        f"2 points skipped: hires is not on disk; fetch it with: {fetch}"]
    assert sweep.skip_lines(skipped[-1:]) == [f"1 point skipped: hires is not on disk; fetch it with: {fetch}"]
    assert str(skipped[-1][1]) == f"hires is not on disk (no such folder); fetch it with: {fetch}"


# --- 6. convertbench ---------------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_convertbench_records_what_was_written_not_what_was_asked(tmp_path, data_home):
    from thesis_lib.tools import convertbench

    table = convertbench.main(image_size=8, sizes=[1000, 100_000_000], fmts=["npy"], out=tmp_path / "cb.json",
                              workdir=tmp_path)
    rows = json.loads((tmp_path / "cb.json").read_text())["rows"]
    assert [(r["requested"], r["n"]) for r in rows] == [(1000, 1000), (100_000_000, 50_000)]
    big = rows[1]
    assert big["img_per_s"] == pytest.approx(50_000 / big["write_s"])
    assert list(table["n"]) == [1000, 50_000]


# --- sweep notes: never outside the results folder, one per point, never stopping the sweep ------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("value", ["/abs/dir/z", "../../x", "a/b"], ids=["absolute", "dot-dot", "nested"])
def test_an_invalid_points_note_is_named_safely_inside_the_results_folder(tmp_path, monkeypatch, value):
    monkeypatch.setattr(sweep, "run_point", no_training)
    results_dir = tmp_path / "deep" / "results"
    path = grid_file(tmp_path, yaml.safe_dump({"grids": [{"dataset": value, "access": value}]}))
    failures = sweep.run_grid(path, results_dir=results_dir)
    assert len(failures) == 1
    notes = [p for p in tmp_path.rglob("*") if p.is_file() and p.name.endswith(".error.txt")]
    assert [p.parent for p in notes] == [results_dir] and "/" not in notes[0].name[:-len(".error.txt")]
    assert not list(results_dir.glob("*/"))  # no folder made inside it either


@pytest.mark.timeout(60)
def test_every_failed_point_gets_its_own_note(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "run_point", no_training)
    path = grid_file(tmp_path, yaml.safe_dump({"grids": [{"model": "emulate", "emulate_rate": ["fast", "slow", "x"]}]}))
    failures = sweep.run_grid(path, results_dir=tmp_path / "results")
    notes = sorted((tmp_path / "results").glob("*.error.txt"))
    assert len(failures) == len(notes) == 3
    assert [n.read_text().count("emulate_rate") > 0 for n in notes] == [True] * 3


@pytest.mark.timeout(60)
def test_a_read_only_results_folder_does_not_stop_the_sweep_at_its_first_note(tmp_path, monkeypatch, capsys):
    if os.geteuid() == 0:
        monkeypatch.setattr(sweep, "write_text", lambda path, text: (_ for _ in ()).throw(
            PermissionError(errno.EACCES, "Permission denied", str(path))))
    monkeypatch.setattr(sweep, "run_point", no_training)
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    path = grid_file(tmp_path, yaml.safe_dump({"grids": [{"model": "emulate", "emulate_rate": ["fast", "slow"]}]}))
    results_dir.chmod(0o555)
    try:
        failures = sweep.run_grid(path, results_dir=results_dir)
    finally:
        results_dir.chmod(0o755)
    assert len(failures) == 2  # the second point was tried after the first note could not be written
    assert capsys.readouterr().err.count("could not write the error note") == 2


@pytest.mark.timeout(60)
def test_a_killed_sweeps_half_written_notebook_is_kept_as_failed(tmp_path, monkeypatch):
    import subprocess
    import sys
    monkeypatch.setattr(sweep, "run_point", no_training)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    (results_dir / f".run-a.partial-{dead}.ipynb").write_text("{}")
    live = results_dir / f".run-b.partial-{os.getpid()}.ipynb"  # a sweep still running: left alone
    live.write_text("{}")
    sweep.run_grid(grid_file(tmp_path, yaml.safe_dump({"grids": [{"model": "emulate", "emulate_rate": "fast"}]})),
                   results_dir=results_dir)
    assert (results_dir / "run-a.failed.ipynb").is_file() and live.is_file()
    assert not list(results_dir.glob(f".run-a.partial-*"))
