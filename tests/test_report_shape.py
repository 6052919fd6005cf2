"""The report and the sweep under the thesis grid's shape (issue 24).

The records are generated (``tests/fixtures/thesis_shape.py``), one per point of
``thesis_lib/grids/thesis.yaml``: the report meets every dataset, size, format, variant, access
mode, worker count and cache state of the thesis at once, in a few seconds. The last real report
had 304 pandas PerformanceWarnings in it; these tests keep any warning or stray output out of it.

How a warning is caught: the kernel papermill starts inherits ``PYTHONWARNINGS``, set here to turn
every warning into an error, so a warning fails the cell that raised it (``build`` raises, naming
the line). Deprecations of the libraries themselves are left alone (they come from their own
imports, out of this project's hands; one raised by a cell's own code is still shown, IPython shows
those, and the next check catches it). As the catch-all for what an error filter does not reach
(a warning a library prints itself, a log line, a progress bar), the executed notebook must hold
no output on stderr and the rendered HTML no stderr block.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fixtures.thesis_shape import THESIS_GRID, write_thesis_shape

from thesis_lib import results
from thesis_lib.core import paths
from thesis_lib.results import report
from thesis_lib.run import grid, plan, sweep
from thesis_lib.run.config import BenchConfig

WARNINGS_AS_ERRORS = "error,ignore::DeprecationWarning,ignore::PendingDeprecationWarning"
STDERR = "application/vnd.jupyter.stderr"


@pytest.fixture(scope="module")
def shape(tmp_path_factory) -> Path:
    """The thesis grid's records, generated into a folder of their own."""
    return write_thesis_shape(tmp_path_factory.mktemp("thesis-shape"))


@pytest.fixture(scope="module")
def built(shape):
    """The report over ``shape``, built with warnings as errors in its kernel: the HTML's path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONWARNINGS", WARNINGS_AS_ERRORS)
        return report.build(shape)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_generated_set_has_the_thesis_grids_shape(shape, monkeypatch):
    runs = results.load_records(shape)
    assert not runs.attrs.get("quarantined")  # every record is valid (each was checked as it was made)
    monkeypatch.chdir(shape.parent / "checkout")  # the grid's relative roots, as the generator took them
    points = grid.load_grid(THESIS_GRID)
    assert len(runs) == len(points) == len(list(shape.glob("*.json")))
    configs = [json.loads(path.read_text())["config"] for path in shape.glob("*.json")]
    default = BenchConfig()  # a record's config leaves out a setting added later at its default (queue_steps: 0)
    for axis in ("dataset", "fmt", "access", "workers", "queue_steps", "repeats", "epochs", "cache", "limit",
                 "storage"):
        assert ({c.get(axis, getattr(default, axis)) for c in configs}
                == {getattr(BenchConfig.from_mapping(p), axis) for p in points}), axis
    # every variant's write options: the peers', and zarr's chunks 16 and 256 of the storage chapter
    assert len({json.dumps(c["write_options"], sort_keys=True) for c in configs}) == 13
    assert set(runs["image_size"]) == {32, 64, 128, 256}  # as read: each dataset's native size, and the sweep's


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_report_over_the_thesis_shape_holds_no_warning_and_no_stderr(built):
    executed = json.loads((built.parent / "results.ipynb").read_text())
    stray = [(k, output.get("name") or output.get("ename"), "".join(output.get("text", output.get("evalue", ""))))
             for k, cell in enumerate(executed["cells"]) for output in cell.get("outputs", [])
             if output.get("name") == "stderr" or output["output_type"] == "error"]
    assert stray == [], f"the report's cells wrote to stderr or failed: {stray}"
    shown = "\n".join(json.dumps(output) for cell in executed["cells"] for output in cell.get("outputs", []))
    assert not re.findall(r"\b\w*Warning: ", shown)
    page = BeautifulSoup(built.read_text(), "html.parser")
    assert not page.find_all(attrs={"data-mime-type": STDERR}), "the HTML shows a stderr block"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_report_over_the_thesis_shape_names_no_absolute_path_of_this_machine(built, shape):
    page = BeautifulSoup(built.read_text(), "html.parser")
    for hidden in page(["style", "script"]):
        hidden.decompose()
    visible = page.get_text(" ") + " ".join(img.get("alt", "") for img in page.find_all("img"))
    machine = {"the repository": str(paths.REPO_ROOT), "the results' folder": str(shape.parent),
               "$HOME": os.path.expanduser("~")}
    machine = {what: path for what, path in machine.items() if path.strip("/")}  # a home of / names nothing
    found = {what: re.findall(re.escape(path) + r"\S*", visible)[:3] for what, path in machine.items()
             if path in visible}
    assert found == {}, f"the report shows absolute paths of this machine: {found}"


def sweep_without_data(tmp_path: Path, monkeypatch) -> None:
    """The thesis grid swept into ``tmp_path / "results"`` on a machine with none of its data and no GPU."""
    def never(*args, **kwargs):
        raise AssertionError("a point without its data was run")

    monkeypatch.setattr(sweep, "run_point", never)
    monkeypatch.setattr(sweep.torch.cuda, "is_available", lambda: False)
    checkout = tmp_path / "checkout"  # ../shared/data holds nothing, nor does $THESIS_DATA
    checkout.mkdir()
    monkeypatch.chdir(checkout)
    assert sweep.run_grid(THESIS_GRID, results_dir=tmp_path / "results") == []  # skipped, not failed


@pytest.mark.timeout(120)
def test_a_sweep_of_the_thesis_grid_without_its_data_says_each_reason_once_and_lists_every_point(
        tmp_path, data_home, monkeypatch, capsys):
    sweep_without_data(tmp_path, monkeypatch)
    points = grid.load_grid(THESIS_GRID)  # from the data-less checkout: its roots name the points
    printed = capsys.readouterr().out.splitlines()
    listing = tmp_path / "results" / sweep.SKIPPED_LIST
    assert printed[0].startswith(f"sweep: 0 of {len(points)} points done, {len(points)} skipped, 0 failed")
    assert printed[-1] == f"  every skipped point, each with its reason: {listing}"
    summary = printed[1:-1]  # one line per reason, with its count: no point's name
    assert len(summary) == 6 and sum(int(line.split()[0]) for line in summary) == len(points)
    for dataset in ("cifar10", "tiny-imagenet", "hires"):
        assert any(line.endswith(f"{dataset} is not on disk; fetch it with: python -m thesis_lib prepare "
                                 f"--dataset {dataset} --download") for line in summary), dataset
    assert any(line.endswith(" points skipped: device cuda needs a CUDA GPU") for line in summary)
    assert not any(sweep.run_name(p) in line for p in points for line in printed)
    lines = listing.read_text().splitlines()  # the summary, then every point by name, with its whole reason
    assert [line[2:] for line in lines if line.startswith("# ")] == [line.strip() for line in summary]
    lines = [line for line in lines if not line.startswith("# ")]
    assert sorted(line.split(": ", 1)[0] for line in lines) == sorted(sweep.run_name(p) for p in points)
    assert all(line.split(": ", 1)[1] for line in lines)


@pytest.mark.timeout(60)
def test_a_sweep_that_skips_nothing_leaves_no_stale_list_of_skipped_points(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sweep, "run_point", lambda point, results_dir, spec=None: None)
    stale = tmp_path / sweep.SKIPPED_LIST
    stale.write_text("synthetic-...: an earlier sweep's reason\n")
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text("grids:\n  - {dataset: synthetic, fmt: npy, limit: 100}\n")
    assert sweep.run_grid(grid_file, results_dir=tmp_path) == []
    assert not stale.exists() and "every skipped point" not in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_a_dry_run_never_fetches_even_a_point_that_asks_to_download(tmp_path, data_home, monkeypatch):
    """Once the skip check took its own fetch command for ``fetch=True``: a dry run downloaded."""
    asked = []

    def training_source(dataset, root, image_size, download):
        asked.append(download)
        raise sweep.SourceError(f"{dataset}: not here")

    monkeypatch.setattr(sweep, "_training_source", training_source)
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text("grids:\n  - {dataset: cifar10, download: true, fmt: npy, limit: 100}\n")
    assert "1 would be skipped" not in plan.dry_run(grid_file, tmp_path / "results")  # it would run, fetching first
    assert asked and not any(asked)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("lang", ["en", "lv"])
def test_the_report_of_a_sweep_that_skipped_every_point_says_so_in_one_line_and_draws_nothing(
        tmp_path, data_home, monkeypatch, capsys, lang):
    sweep_without_data(tmp_path, monkeypatch)
    skipped = [line[2:] for line in (tmp_path / "results" / sweep.SKIPPED_LIST).read_text().splitlines()
               if line.startswith("# ")]
    page = BeautifulSoup(report.build(tmp_path / "results", lang=lang).read_text(), "html.parser")
    said = [p.get_text(" ", strip=True) for p in page.find_all("p") if "skip" in p.get_text() or "izlaisti" in p.get_text()]
    assert len(said) == 1 and all(reason in said[0] for reason in skipped), said
    assert not page.find_all("img") and not page.find_all("table")
    assert [h.get_text().rstrip("¶") for h in page.find_all("h2")] == []
    assert not list((tmp_path / "results" / "report").glob("figures/*.pdf"))
