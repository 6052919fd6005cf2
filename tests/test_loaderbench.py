"""loaderbench on real image files (the peer ImageFolder over the very same files), and the
TensorStore read path reaching a benchmark run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

from unittest import mock

import numpy as np
import pytest
from PIL import Image

from thesis_lib import sources
from thesis_lib.formats.zarr_tensorstore import TensorStoreZarrReader
from thesis_lib.run import bench
from thesis_lib.tools import peer


@pytest.fixture
def jpeg_zip(tmp_path):
    """``train/<class>/<n>.jpg`` in a zip: 2 classes x 12 JPEGs of 8 x 8 px."""
    archive = tmp_path / "photos.zip"
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(archive, "w") as z:
        for cls in ("ant", "cat"):
            for k in range(12):
                path = tmp_path / "tmp.jpg"
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path, "JPEG")
                z.write(path, f"train/{cls}/{k:02d}.jpg")
    return archive


def test_peer_folder_holds_the_sources_original_files(jpeg_zip, tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_DATA", str(tmp_path / "data"))
    source = sources.load("imagefolder", jpeg_zip, limit=15)
    folder, resize, what = peer.peer_folder(source)
    files = sorted(p for p in folder.rglob("*.jpg"))
    assert len(files) == 15 and not resize and str(jpeg_zip) in what
    with zipfile.ZipFile(jpeg_zip) as z:
        originals = sorted(z.read(m) for m in source.base.members[:15])
    assert sorted(p.read_bytes() for p in files) == originals
    assert peer.peer_folder(source)[0] == folder  # made once, then reused
    resized = sources.load("imagefolder", jpeg_zip, image_size=4, limit=15)
    images, _ = next(iter(peer.imagefolder_loader(peer.peer_folder(resized)[0], 4, True, 8, 0, 0)))
    assert peer.peer_folder(resized)[1] and images.shape == (8, 3, 4, 4)


def test_peer_of_array_data_is_the_files_format(tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_DATA", str(tmp_path / "data"))
    folder, resize, what = peer.peer_folder(sources.load("synthetic", limit=20))
    assert len(list(folder.rglob("*.png"))) == 20 and not resize and "files format" in what


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_loaderbench_cli_on_a_zip_of_jpegs(jpeg_zip, tmp_path):
    out = tmp_path / "lb.json"
    ran = subprocess.run([sys.executable, "-m", "thesis_lib", "loaderbench", "--dataset", "imagefolder",
                          "--root", str(jpeg_zip), "--limit", "20", "--workers", "0", "--repeats", "1",
                          "--only", "npy", "--only", "zarr chunk 64, tensorstore", "--out", str(out)],
                         capture_output=True, text=True, env={**os.environ, "THESIS_DATA": str(tmp_path / "data")})
    assert ran.returncode == 0, ran.stderr
    result = json.loads(out.read_text())
    assert result["n"] == 20 and result["image_size"] == 8 and str(jpeg_zip) in result["peer_images"]
    rows = {(row["variant"], row["mode"]) for row in result["table"]}
    assert {("npy", "slice"), ("npy", "block"), ("zarr chunk 64, tensorstore", "batch"),
            ("ImageFolder + DataLoader (peer)", "sample")} <= rows
    assert all(row["samples_per_s"] > 0 for row in result["table"])
    assert any(t["target"].startswith("npy, block / batch") for t in result["targets"])
    assert "ImageFolder + DataLoader (peer)" in ran.stdout and "targets" in ran.stdout


def test_loaderbench_names_the_variants_when_none_match(tmp_path, monkeypatch):
    from thesis_lib.tools import loaderbench
    monkeypatch.setenv("THESIS_DATA", str(tmp_path / "data"))
    with pytest.raises(ValueError, match="no variant matches.*variants: npy, hdf5 contiguous"):
        loaderbench.main(limit=10, only=["parquet"], out=tmp_path / "lb.json")


# -- the table of variants and the command's refusals ---------------------------------------------------
def test_the_variants_are_uniquely_labelled_registered_formats_in_known_modes():
    import dataclasses

    from thesis_lib import formats, loading
    from thesis_lib.tools import loaderbench

    labels = [variant.label for variant in loaderbench.VARIANTS]
    assert len(set(labels)) == len(labels)
    for variant in loaderbench.VARIANTS:
        assert variant.fmt in formats.names(), variant
        assert variant.modes and set(variant.modes) <= set(loading.MODES), variant
        assert len(set(variant.modes)) == len(variant.modes), variant
        assert loaderbench.named(variant.label) is variant
    # every zarr layout read by each library, the library in the label and the open options
    tensorstore = [v for v in loaderbench.VARIANTS if v.label.endswith(", tensorstore")]
    codecs_in_tensorstore = [v for v in loaderbench.CODEC_VARIANTS if v.label.endswith(", tensorstore")]
    assert len(tensorstore) == len(loaderbench.ZARR_LAYOUTS) + len(codecs_in_tensorstore) == len(loaderbench.ZARR_LAYOUTS) + 3
    assert all(v.open_options == {"read_path": "tensorstore"} for v in tensorstore)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaderbench.VARIANTS[0].fmt = "zarr"


def test_only_chooses_the_variants_whose_label_holds_a_word():
    from thesis_lib.tools import loaderbench

    assert [v.label for v in loaderbench.matching(["zarr chunk 1024"])] == [
        "zarr chunk 1024, zarr-python", "zarr chunk 1024, tensorstore", "zarr chunk 1024, direct"]
    assert loaderbench.matching(None) == list(loaderbench.VARIANTS)


@pytest.mark.parametrize("flag", ["--repeats", "--batches"])
@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_the_command_refuses_fewer_than_one_repeat_or_batch_naming_the_flag(flag, value, capsys):
    from thesis_lib.__main__ import build_parser

    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["loaderbench", flag, value])
    assert exit_.value.code == 2
    assert f"argument {flag}: must be" in capsys.readouterr().err
    assert build_parser().parse_args(["loaderbench", flag, "1"]).__dict__[flag[2:]] == 1


@pytest.mark.parametrize("setting", [{"repeats": 0}, {"batches": 0}, {"repeats": -2}])
def test_main_refuses_fewer_than_one_repeat_or_batch_before_loading_anything(setting, tmp_path, monkeypatch):
    from thesis_lib.tools import loaderbench

    monkeypatch.setenv("THESIS_DATA", str(tmp_path / "data"))
    (name, value), = setting.items()
    with pytest.raises(ValueError, match=f"loaderbench: {name} must be an integer >= 1, got {value}"):
        loaderbench.main(limit=10, only=["npy"], out=tmp_path / "lb.json", **setting)
    assert list(tmp_path.iterdir()) == []


# -- the TensorStore read path in a benchmark run -------------------------------------------------------
def test_bench_run_reads_through_tensorstore_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_DATA", str(tmp_path / "data"))
    config = bench.BenchConfig(fmt="zarr", open_options={"read_path": "tensorstore"}, limit=300, epochs=2,
                               batch_size=100, model="emulate", emulate_rate=0)
    read = TensorStoreZarrReader._read_sorted
    with mock.patch.object(TensorStoreZarrReader, "_read_sorted", autospec=True, side_effect=read) as spy:
        record = bench.run(config, progress=False)
    assert spy.call_count == 6  # three batches in each of the two epochs (warm-up and measured)
    assert record["open_options"]["read_path"] == "tensorstore" and record["n_train"] == 300
    assert record["run"] != bench.BenchConfig(fmt="zarr", limit=300, epochs=2, batch_size=100, model="emulate",
                                              emulate_rate=0).resolve().run_name
