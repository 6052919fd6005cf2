"""The roofline's what-if and why: a profile changed in cores and storage, its slow and fast ends,
an anchor completed by a measured profile, ties named as ties, the bottleneck that moves, each
headline row's binding resource, and the command and notebook that show them."""
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from roofline_profiles import round_profile
from thesis_lib.__main__ import main as cli
from thesis_lib.roofline import Profile, Stat, whatif
from thesis_lib.roofline.shape import RunShape
from thesis_lib.roofline.why import binding_of, why_lines

RECORDS = Path(__file__).resolve().parent / "fixtures" / "records"


def widened(profile: Profile, spread: float) -> Profile:
    """Every primitive with an interval of +-``spread`` around its median."""
    return replace(profile, values={name: Stat(s.median, s.median * (1 - spread), s.median * (1 + spread))
                                    for name, s in profile.values.items()})


@pytest.mark.timeout(20)
def test_a_machine_changes_only_its_cores_and_storage_latency():
    base = round_profile(cores=2)
    there = whatif.machine(base, cores=16, latency_us=20_000)
    assert there.machine["cores"] == 16 and base.machine["cores"] == 2
    assert there["storage.latency_4k_us"] == 20_000 and there["storage.iops_4k"] == pytest.approx(50)
    assert "what-if" in there.values["storage.latency_4k_us"].source
    unchanged = [n for n in base.values if n not in ("storage.latency_4k_us", "storage.iops_4k")]
    assert all(there.values[n] == base.values[n] for n in unchanged)


@pytest.mark.timeout(20)
def test_the_slow_end_takes_rates_low_and_costs_high():
    slow, fast = whatif.ends(widened(round_profile(), 0.5))
    assert slow["memory.gather_gbps"] == 0.5 and fast["memory.gather_gbps"] == 1.5  # a rate
    assert slow["decode.zstd.64"] == 15.0 and fast["decode.zstd.64"] == 5.0  # a cost


@pytest.mark.timeout(20)
def test_an_anchor_is_completed_by_the_measured_profile_and_says_so():
    anchor = Profile({"cores": 16, "description": "H100 host"},
                     {"memory.gather_gbps": Stat(20.0, 19.0, 21.0, "design.md")},
                     {name: "not in the anchors" for name in round_profile().values if name != "memory.gather_gbps"})
    there = whatif.overlay(anchor, round_profile(description="dev VM"))
    assert there["memory.gather_gbps"] == 20.0 and there.values["memory.gather_gbps"].source == "design.md"
    assert there["decode.zstd.64"] == 10.0
    assert there.values["decode.zstd.64"].source == "not known there: dev VM's"
    assert there.machine["cores"] == 16 and not there.unmeasured


@pytest.mark.timeout(60)
def test_a_winner_is_named_only_where_it_clears_the_runner_up():
    exact = whatif.fastest(whatif.sweep(round_profile(), cores=(2,), image_sizes=(64,)))
    wide = whatif.fastest(whatif.sweep(widened(round_profile(), 0.9), cores=(2,), image_sizes=(64,)))
    assert len(exact) == len(wide) == len(whatif.STORAGES)
    assert exact["resolved"].any()
    for _, row in wide.iterrows():  # intervals of +-90% leave the leader tied with its runner-up
        assert not row["resolved"] and " ≈ " in row["fastest"]


@pytest.mark.timeout(60)
def test_a_candidate_the_model_does_not_cover_is_kept_with_its_reason():
    cupy = whatif.Candidate("cupy on the GPU", "cupy", "batch", {}, {})
    frame = whatif.sweep(round_profile(), cores=(2,), storages={"NVMe": 100.0}, image_sizes=(64,),
                         candidates=(whatif.CANDIDATES[0], cupy))
    row = frame[frame["candidate"] == "cupy on the GPU"].iloc[0]
    assert row["img_s"] is None or row["img_s"] != row["img_s"]  # None or NaN: never a number
    assert row["how"].startswith("not modelled: cupy") and not row.get("fastest", False)


@pytest.mark.timeout(20)
def test_the_bottleneck_moves_when_a_primitive_does():
    shape = RunShape(fmt="zarr", mode="batch", image_size=64, n_images=10_000,
                     write_options={"codec": "zstd"}, open_options={"read_path": "tensorstore"})
    here = round_profile()
    fast_decode = replace(here, values={**here.values, "decode.zstd.64": Stat(*(0.01,) * 3)})
    moved = whatif.bottleneck_moves({"zarr zstd": shape}, here, fast_decode)
    assert list(moved["row"]) == ["zarr zstd"]
    assert moved.iloc[0]["here"].startswith("decode") and not moved.iloc[0]["there"].startswith("decode")
    assert whatif.bottleneck_moves({"zarr zstd": shape}, here, here).empty


@pytest.mark.timeout(60)
def test_each_headline_row_gets_one_line_naming_its_binding_resource():
    from thesis_lib import results
    runs = results.load_records(str(RECORDS))
    lines = why_lines(runs, round_profile())
    assert len(lines) == len(runs.groupby(["format", "access"])) > 3
    for row in lines.itertuples():
        in_row = ((runs["format"] == row.format) & (runs["access"] == row.access)).sum()
        assert f"of {in_row} runs)" in row.binding and ":" in row.binding  # a resource, in words


@pytest.mark.timeout(20)
def test_a_record_of_an_unknown_format_is_not_modelled_naming_it():
    record = json.loads(next(RECORDS.glob("*npy-batch*.json")).read_text())
    record["config"] = {**record["config"], "fmt": "parquet"}
    name, words = binding_of(record, round_profile())
    assert name == "not modelled" and "parquet" in words


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_whatif_command_writes_the_table_and_the_figure(tmp_path, capsys):
    path = tmp_path / "profile.json"
    round_profile().save(path)
    cli(["roofline", "whatif", "--profile", str(path), "--out", str(tmp_path / "out")])
    written = capsys.readouterr().out.split()
    assert [Path(p).name for p in written] == ["roofline-whatif.csv", "roofline-whatif.png", "roofline-whatif.pdf"]
    assert (tmp_path / "out" / "roofline-whatif.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(SystemExit):  # the profile is required, and argparse names it
        cli(["roofline", "whatif", "--out", str(tmp_path)])


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_roofline_notebook_runs_over_records_and_a_loaderbench_result(tmp_path):
    from thesis_lib.roofline import report
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    for record in sorted(RECORDS.glob("tiny-imagenet-*-batch-*.json")):
        shutil.copy(record, results_dir)
    profile = tmp_path / "profile.json"
    round_profile(description="round values").save(profile)
    result = {"dataset": "synthetic", "image_size": 64, "n": 2000, "batch_size": 512, "batches_per_measurement": None,
              "table": [{"variant": "npy", "fmt": "npy", "mode": "batch", "workers": 0, "kind": "",
                         "samples_per_s": 50_000.0}]}
    (tmp_path / "lb.json").write_text(json.dumps(result))
    out = report.execute(results_dir, profile=profile, other_profile=profile, loaderbench=[tmp_path / "lb.json"])
    text = out.read_text()
    assert "of rows within 25%" in text and "Why each headline row" in text and "Fastest predicted" in text
    assert '"output_type": "error"' not in text
