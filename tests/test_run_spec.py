"""One resolved run: typed options parsed once, one config id however a run is spelt, and a sweep
point that builds its configuration once and resolves its options once."""
from __future__ import annotations

import pickle

import pytest
import yaml

from thesis_lib import formats
from thesis_lib.__main__ import build_parser, main
from thesis_lib.formats.base import Format
from thesis_lib.formats.options import Option, ResolvedOptions
from thesis_lib.run import bench, sweep
from thesis_lib.run.config import BenchConfig, config_from_args
from thesis_lib.run.run_spec import RunSpec

CUPY = {"fmt": "cupy", "device": "cuda"}


# -- the options' one parser -----------------------------------------------------------------------
@pytest.mark.parametrize("text,value", [("false", False), ("0", False), ("no", False), ("OFF", False),
                                        ("true", True), ("1", True), ("yes", True), (False, False), (True, True),
                                        ("none", None), (None, None)])
def test_a_boolean_option_means_what_a_person_means(text, value):
    """``use_kvikio=false`` from the command line was the string "false", which is truthy."""
    assert formats.get("cupy").resolve_open_options({"use_kvikio": text})["use_kvikio"] is value


@pytest.mark.parametrize("option,text,value", [
    (Option(0, "bytes", "a size", minimum=0), "64MiB", 64 * 2**20),
    (Option(0, "bytes", "a size", minimum=0), "1 GB", 10**9),
    (Option(0, "bytes", "a size", minimum=0), "4096", 4096),
    (Option(0, "int", "a count"), " 12 ", 12),
    (Option(0.0, "float", "a rate"), "2.5", 2.5),
    (Option("a", "choice", "a pick", choices=("a", "b")), "b", "b"),
])
def test_each_kind_parses_text_and_values_alike(option, text, value):
    assert option.parse(text, "x") == value


@pytest.mark.parametrize("fmt,side,options,message", [
    ("cupy", "open", {"use_kvikio": "maybe"},
     "format 'cupy': open option use_kvikio='maybe': expected true or false (also yes/no, on/off, 1/0), or none"),
    ("zarr", "write", {"chunk_images": 1.5}, "format 'zarr': write option chunk_images=1.5: expected an integer in 1.."),
    ("zarr", "write", {"chunk_images": "1.5"}, "write option chunk_images='1.5': expected an integer"),
    ("zarr", "write", {"codec": "lz5"}, "format 'zarr': write option codec='lz5': expected one of none, zstd, blosc"),
    ("zarr", "write", {"checksum": 2}, "write option checksum=2: expected true or false"),
    ("zarr", "open", {"cache_bytes": 2**70, "read_path": "tensorstore"}, "open option cache_bytes=1180591620717411303424: "
     "expected a byte count (1024, 64MiB, 1GB) in 0..1,099,511,627,776"),
    ("hdf5", "open", {"rdcc_nbytes": 2**64}, "open option rdcc_nbytes=18446744073709551616: expected a byte count"),
    ("npy", "open", {"block_size": 2**64}, "open option block_size=18446744073709551616: expected an integer in 1.."),
    ("files", "write", {"quality": float("nan")}, "write option quality=nan: expected an integer in 1..100"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_option_value_and_accepted(fmt, side, options, message):
    resolve = formats.get(fmt).resolve_options if side == "write" else formats.get(fmt).resolve_open_options
    with pytest.raises(ValueError) as info:
        resolve(options)
    assert str(info.value).startswith(message) or message in str(info.value)


def test_resolved_options_are_complete_read_only_and_never_parsed_again(monkeypatch):
    fmt = formats.get("zarr")
    resolved = fmt.resolve_options({"chunk_images": "32"})
    assert resolved == {**fmt.defaults, "chunk_images": 32} and isinstance(resolved, ResolvedOptions)
    with pytest.raises(TypeError, match="read-only"):
        resolved["codec"] = "zstd"
    monkeypatch.setattr(Option, "parse", lambda *a: pytest.fail("parsed again"))
    assert fmt.resolve_options(resolved) is resolved
    assert pickle.loads(pickle.dumps(resolved)) == resolved
    with pytest.raises(ValueError):  # another format's options are resolved afresh (and refused here)
        formats.get("hdf5").resolve_options(resolved)


# -- the same refusal from every entry point ---------------------------------------------------------
BAD = ("open_options", {"use_kvikio": "maybe"})
BAD_MESSAGE = "open option use_kvikio='maybe': expected true or false"


def test_the_refusal_from_the_python_api():
    with pytest.raises(ValueError, match=BAD_MESSAGE):
        BenchConfig(**CUPY, open_options={"use_kvikio": "maybe"}).resolve()
    with pytest.raises(ValueError, match="write option chunk_images='1.5'"):
        formats.get("zarr").write(None, "unused", chunk_images="1.5")  # refused before the source is touched


def test_the_refusal_from_the_cli(capsys):
    with pytest.raises(SystemExit) as info:
        main(["bench", "--fmt", "cupy", "--device", "cuda", "--open-option", "use_kvikio=maybe"])
    assert BAD_MESSAGE in str(info.value)


def test_the_refusal_from_a_grid(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "run_point", lambda *a, **k: pytest.fail("a bad point reached papermill"))
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"grids": [{**CUPY, "open_options": {"use_kvikio": "maybe"}}]}))
    failures = sweep.run_grid(grid, results_dir=tmp_path / "results")
    assert len(failures) == 1 and BAD_MESSAGE in failures[0][1]


def test_the_refusal_from_a_notebooks_parameters():
    """What bench.ipynb's validation cell calls with its globals (the papermill run of a bad
    parameter is tested in test_bench)."""
    with pytest.raises(ValueError, match=BAD_MESSAGE):
        RunSpec.from_parameters({**CUPY, "open_options": '{"use_kvikio": "maybe"}', "results_dir": None})


# -- one run, one id ---------------------------------------------------------------------------------
def test_cli_yaml_json_and_python_spellings_give_one_config_id():
    python = BenchConfig(**CUPY, write_options={}, open_options={"use_kvikio": False, "resident": True}).resolve()
    args = build_parser().parse_args(["bench", "--fmt", "cupy", "--device", "cuda",
                                      "--open-option", "use_kvikio=false", "--open-option", "resident=yes"])
    cli = config_from_args(args).resolve()
    grid = BenchConfig.from_mapping(yaml.safe_load("{fmt: cupy, device: cuda, open_options: "
                                                   "{use_kvikio: no, resident: on}}")).resolve()
    json_text = BenchConfig(**CUPY, open_options='{"use_kvikio": "0", "resident": "1"}').resolve()
    assert python.config_id == cli.config_id == grid.config_id == json_text.config_id
    assert python.run_name == cli.run_name and python.open_options["use_kvikio"] is False


def test_a_spec_is_frozen_and_reads_its_settings_through():
    spec = BenchConfig(fmt="zarr", limit=300, write_options={"chunk_images": "16"}).resolve()
    assert spec.limit == 300 and spec.format is formats.get("zarr") and spec.write_options["chunk_images"] == 16
    with pytest.raises(AttributeError):
        spec.limit = 5
    with pytest.raises(AttributeError):
        spec.config.limit = 5
    assert pickle.loads(pickle.dumps(spec.config)) == spec.config


def test_a_notebook_refuses_to_run_another_run_than_the_sweep_resolved():
    spec = BenchConfig(limit=300).resolve()
    assert RunSpec.from_parameters({"limit": 300, "config_id": spec.config_id}).config_id == spec.config_id
    with pytest.raises(ValueError, match=f"config_id: this run resolves to {spec.config_id}, not the deadbeef"):
        RunSpec.from_parameters({"limit": 300, "config_id": "deadbeef"})


# -- counted: one sweep point builds its configuration once and resolves its options once ------------
@pytest.fixture
def counts(monkeypatch):
    counted = {"built": 0, "write": 0, "open": 0}
    post_init, resolve = BenchConfig.__post_init__, Format._resolve

    def counting_post_init(self):
        counted["built"] += 1
        post_init(self)

    def counting_resolve(self, options, side, *args):
        if not isinstance(options, ResolvedOptions):
            counted[side] += 1
        return resolve(self, options, side, *args)

    monkeypatch.setattr(BenchConfig, "__post_init__", counting_post_init)
    monkeypatch.setattr(Format, "_resolve", counting_resolve)
    return counted


def test_one_sweep_point_builds_its_config_once_and_resolves_its_options_once(tmp_path, monkeypatch, counts):
    started = []
    monkeypatch.setattr(sweep, "run_point", lambda point, results_dir, spec=None: started.append(spec))
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"grids": [{"fmt": "zarr", "model": "emulate", "limit": 300,
                                               "write_options": {"chunk_images": "32"}}]}))
    assert sweep.run_grid(grid, results_dir=tmp_path / "results") == []
    assert counts == {"built": 1, "write": 1, "open": 1}
    assert [spec.write_options["chunk_images"] for spec in started] == [32]


def test_a_run_given_its_spec_resolves_nothing_again(tmp_path, data_home, counts):
    spec = BenchConfig(fmt="zarr", model="emulate", emulate_rate=0, limit=128, epochs=2, batch_size=64,
                       write_options={"chunk_images": 32}).resolve()
    assert counts == {"built": 1, "write": 1, "open": 1}
    record = bench.run(spec, out=tmp_path / "record.json", progress=False)
    assert record["config_id"] == spec.config_id and record["write_options"]["chunk_images"] == 32
    assert counts == {"built": 1, "write": 1, "open": 1}


def test_an_image_size_below_the_models_minimum_is_refused_before_any_conversion(data_home):
    with pytest.raises(ValueError, match="image_size=4 is too small for model 'densenet': it needs at least 8 px"):
        BenchConfig(model="densenet", image_size=4).resolve()
    assert not any(data_home.iterdir())  # nothing converted, nothing written
    assert BenchConfig(model="emulate", image_size=4).resolve().image_size == 4  # no network, no minimum
