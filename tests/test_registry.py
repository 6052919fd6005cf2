"""Names come from the registries: a format, an access mode or a dataset registered there reaches
the help texts, the result order, the labels, the figures and the dataset overview with no other
edit (docs/design.md, "Extending"). Each dummy is registered for one test only."""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from unittest import mock

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from thesis_lib import formats, loading, results, sources  # noqa: E402
from thesis_lib.__main__ import build_parser  # noqa: E402
from thesis_lib.core import registry  # noqa: E402
from thesis_lib.formats.npy import NpyFormat  # noqa: E402
from thesis_lib.results import headline, labels, order  # noqa: E402
from thesis_lib.sources import show  # noqa: E402
from thesis_lib.sources.synthetic import open_synthetic  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RECORDS = Path(__file__).resolve().parent / "fixtures" / "records"
# Runs of one setting (synthetic 32 px, emulated accelerator, warm): npy, hdf5 and zarr in batch mode.
SETTING = "synthetic-32-n512-*-batch-emulate36300-warm-*.json"


class DummyFormat(NpyFormat):
    """A sixth format: npy's bytes under another name."""

    name = "dummy"


class DummyMode(loading.BatchMode):
    """A fifth access mode: batch mode under another name."""

    name = "dummy-mode"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def dummy_format(monkeypatch):
    """``dummy`` registered as formats register: a module whose ``FORMAT`` the registry names."""
    module = types.ModuleType("thesis_lib.formats._dummy")
    module.FORMAT = DummyFormat()
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(formats._MODULES, "dummy", "_dummy")
    return module.FORMAT


@pytest.fixture
def dummy_mode():
    with mock.patch.dict(loading.MODES, {DummyMode.name: DummyMode()}):
        yield DummyMode.name


@pytest.fixture
def dummy_source(monkeypatch):
    """``dummy`` registered as a dataset: 20 generated images."""
    def open_dummy(root, split, image_size, download):
        return open_synthetic(root, split, image_size, download, n=20, seed=7)

    monkeypatch.setitem(sources._OPENERS, "dummy", open_dummy)
    return "dummy"


def runs_with(**renamed) -> pd.DataFrame:
    """The fixture runs of :data:`SETTING`, and a copy of the npy run with ``renamed`` fields
    (``fmt``, ``access``, ``dataset``) as a record of that name would hold them."""
    records = [json.loads(path.read_text()) for path in sorted(RECORDS.glob(SETTING))]
    [npy] = [r for r in records if r["fmt"] == "npy"]
    copy = {**npy, **renamed, "config": {**npy["config"], **renamed}, "config_id": "0dd0dd00",
            "run": f"{npy['run']}-renamed"}
    if "dataset" in renamed:
        copy.update(source_name=renamed["dataset"], source_spec={**npy["source_spec"], "name": renamed["dataset"]})
    return results.with_labels(results.records_frame([*records, copy]))


def help_of_bench(capsys) -> str:
    """``python -m thesis_lib bench --help``, its whitespace normalised (argparse wraps lines)."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--help"])
    return " ".join(capsys.readouterr().out.split())


# --- the helpers --------------------------------------------------------------------------------

def test_in_order_puts_the_override_first_and_never_hides_a_registered_name():
    assert registry.in_order(["a", "b", "c"]) == ["a", "b", "c"]
    assert registry.in_order(["a", "b", "c"], ["c", "a"]) == ["c", "a", "b"]
    assert registry.in_order(["a", "b"], ["x", "b"]) == ["x", "b", "a"]  # an override may name an unregistered name


def test_one_of_lists_names_as_the_help_texts_do():
    assert registry.one_of(formats.names()) == "files | npy | cupy | hdf5 | zarr | webdataset | litdata"
    assert registry.one_of(loading.MODES) == "sample | batch | block | resident | stream"
    assert registry.one_of(sources.names()) == "synthetic | cifar10 | tiny-imagenet | imagefolder | hires"


def test_bench_help_lists_every_registered_format_mode_and_dataset(capsys):
    text = help_of_bench(capsys)
    for names in (formats.names(), loading.MODES, sources.names()):
        assert registry.one_of(names) in text


def test_bench_help_lists_a_format_registered_later(dummy_format, capsys):
    assert "hdf5 | zarr | webdataset | litdata | dummy" in help_of_bench(capsys)


def test_the_existing_names_keep_their_order():
    """What the tables and figures were before the orders came from the registries."""
    assert order.format_order() == ["files", "npy", "cupy", "hdf5", "zarr", "webdataset", "litdata"]
    assert order.access_order() == ["sample", "batch", "block", "resident", "stream"]
    assert order.dataset_order()[:5] == ["CIFAR-10", "Tiny ImageNet", "High-res", "High-res (synthetic stand-in)",
                                         "synthetic (generated)"]


# --- a sixth format -------------------------------------------------------------------------------

def test_a_registered_format_is_named_in_the_help_text_and_the_order(dummy_format):
    assert formats.get("dummy") is dummy_format
    assert registry.one_of(formats.names()) == "files | npy | cupy | hdf5 | zarr | webdataset | litdata | dummy"
    assert order.format_order()[-1] == "dummy"
    assert order.ordered(["dummy", "zarr", "other", "files"], order.format_order()) == [
        "files", "zarr", "dummy", "other"]


def test_a_registered_format_reads_after_the_others_in_labels_tables_and_figures(dummy_format):
    runs = runs_with(fmt="dummy")
    assert "dummy" in set(runs["format"])
    assert list(dict.fromkeys(order.sort_conditions(runs)["format"])) == ["npy", "hdf5", "zarr", "dummy"]
    [table] = headline.headline_tables(runs)
    assert [fmt for fmt, _ in table.cells.index] == ["npy", "hdf5", "zarr", "dummy"]
    fig = results.FIGURES["epoch_time"](runs)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["npy", "hdf5", "zarr", "dummy"]


# --- a fifth access mode ------------------------------------------------------------------------

def test_a_registered_mode_reads_after_the_others(dummy_mode):
    assert registry.one_of(loading.MODES).endswith("| resident | stream | dummy-mode")
    assert order.access_order()[-1] == "dummy-mode"
    runs = runs_with(access=dummy_mode)
    assert list(dict.fromkeys(order.sort_conditions(runs)["access"])) == ["batch", "dummy-mode"]
    [table] = headline.headline_tables(runs)
    assert [access for fmt, access in table.cells.index if fmt == "npy"] == ["batch", "dummy-mode"]
    fig = results.FIGURES["epoch_time"](runs)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["batch", "dummy-mode"]


# --- another dataset ------------------------------------------------------------------------------

def test_a_registered_dataset_is_labelled_by_its_name_and_read_after_the_others(dummy_source):
    assert registry.one_of(sources.names()).endswith("| hires | dummy")
    assert labels.dataset_label("dummy") == labels.dataset_name("dummy") == "dummy"
    assert order.dataset_order()[-1] == "dummy"
    runs = runs_with(dataset=dummy_source)
    assert [name for name, _ in order.per_dataset(runs)] == ["synthetic (generated)", "dummy"]
    assert [fig.get_suptitle().splitlines()[1].split(" · ")[0]
            for fig in results.figures_per_dataset(results.FIGURES["epoch_time"], runs)] == [
        "synthetic (generated)", "dummy"]


def test_a_registered_dataset_is_shown_among_the_sources_at_hand(data_home, dummy_source):
    found = show.sources_at_hand(limit=10)
    registered = [label for label in found if label != "CIFAR-10 JPEG zip"]  # the zip where shared/data has it
    assert registered[:1] == ["synthetic"] and registered[-1] == "dummy"
    assert "imagefolder" not in found  # it needs a root
    assert list(show.summary_table(found).loc["dummy", ["images", "classes"]]) == [10, 10]


# --- the results notebook -------------------------------------------------------------------------

def test_results_notebook_shows_every_figure_of_the_registry_through_one_loop():
    notebook = json.loads((REPO / "notebooks" / "results.ipynb").read_text())
    code = "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
    assert "results.FIGURES.values()" in code
    assert not [name for name, section in results.FIGURES.items() if section.draw.__name__ in code]
    markdown = "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    assert not [name for name, section in results.FIGURES.items() if section.heading() in markdown]


def test_every_figure_section_has_a_heading_and_draws():
    headings = [section.heading() for section in results.FIGURES.values()]
    assert len(set(headings)) == len(headings) and all(headings)
    assert results.FIGURES["storage"].markdown() == "## Storage cost: bytes on disk and conversion time"
    assert results.FIGURES["au"].markdown().startswith("## Accelerator utilisation under an emulated H100\n\nAU = ")
