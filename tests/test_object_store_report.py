"""The storage chapter in the report: runs read over S3 get a figure of throughput against zarr
chunk size (one line per latency, a panel per read path) and findings in both languages (the best
chunk size at each latency, named only where its interval clears the others; what request
concurrency buys back, with the bounds the intervals allow); a report without S3 runs has neither."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from thesis_lib import results
from thesis_lib.results import figure_files, findings, object_store, report
from thesis_lib.results.lang import catalogue

RECORDS = Path(__file__).resolve().parent / "fixtures" / "records"
TEMPLATE = RECORDS / "imagefolder-cifar10-jpeg-native-n1024-zarr-batch-emulateH100-warm-w0-b128-s0-2d62fa5f.json"
N = 1024


def s3_record(template: dict, read_path: str, chunk: int, latency: float, concurrency: int,
              seconds: list[float]) -> dict:
    """``template`` as a run over S3: its steady-state epochs take ``seconds`` (one per repeat)."""
    record = copy.deepcopy(template)
    name = f"s3-{read_path}-c{chunk}-l{latency:g}-q{concurrency}"
    record.update(run=name, config_id=name[-8:], storage="s3",
                  storage_options={"latency_ms": latency, "bandwidth_mbps": 0.0, "concurrency": concurrency},
                  write_options={**record["write_options"], "chunk_images": chunk},
                  open_options={**record["open_options"], "read_path": read_path}, repeats=len(seconds))
    epochs = []
    for repeat, wall in enumerate(seconds):
        for epoch, time in enumerate((wall * 1.2, wall)):  # a warm-up epoch, then the steady state
            epochs.append({**template["epochs"][0], "epoch": epoch, "repeat": repeat, "warmup": epoch == 0,
                           "wall_s": time, "samples_per_s": N / time, "samples_per_s_total": N / time,
                           "data_wait_s": time * 0.9, "compute_s": time * 0.1, "first_batch_s": time * 0.05})
    record["epochs"] = epochs
    return record


# Made epoch times (s, one per repeat): at 20 ms chunk 256 is resolved fastest; at 0 ms chunks 256
# and 1024 overlap; one request in flight at chunk 256, 20 ms takes about 4 times as long.
TIMES = {
    (16, 0.0): [1.00, 1.02, 1.04], (64, 0.0): [0.70, 0.71, 0.72], (256, 0.0): [0.50, 0.52, 0.55],
    (1024, 0.0): [0.51, 0.53, 0.56],
    (16, 20.0): [4.0, 4.1, 4.2], (64, 20.0): [2.0, 2.05, 2.1], (256, 20.0): [1.0, 1.02, 1.04],
    (1024, 20.0): [1.5, 1.55, 1.6],
}


@pytest.fixture(scope="module")
def s3_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("s3-records")
    template = json.loads(TEMPLATE.read_text())
    made = [s3_record(template, path, chunk, latency, 16, seconds)
            for path in ("oindex", "tensorstore") for (chunk, latency), seconds in TIMES.items()]
    made.append(s3_record(template, "oindex", 256, 20.0, 1, [4.0, 4.1, 4.2]))
    made.append(s3_record(template, "tensorstore", 256, 0.0, 1, [0.40, 0.41, 0.42]))  # one request is faster here
    for record in made:
        (folder / f"{record['run']}.json").write_text(json.dumps(record))
    return folder


@pytest.fixture(scope="module")
def s3_runs(s3_folder):
    runs = results.load_records(s3_folder)
    assert not runs.attrs.get("quarantined")
    return runs


@pytest.mark.timeout(30)
def test_the_best_chunk_size_is_named_only_where_its_interval_clears_the_others(s3_runs):
    said = object_store.object_store_sentences(s3_runs)
    at_20 = [s for s in said if "zarr-python over S3 at 20 ms" in s]
    at_0 = [s for s in said if "zarr-python over S3 at 0 ms" in s]
    assert len(at_20) == 1 and "chunks of 256 images read fastest" in at_20[0] and "next, chunks of 1024" in at_20[0]
    assert len(at_0) == 1 and "no single best chunk size" in at_0[0] and "256" in at_0[0] and "1024" in at_0[0]
    assert any("TensorStore over S3 at 20 ms: chunks of 256 images read fastest" in s for s in said)


@pytest.mark.timeout(30)
def test_what_concurrency_buys_back_is_a_ratio_with_its_bounds(s3_runs):
    [costs, said] = [s for s in object_store.object_store_sentences(s3_runs) if "requests in flight" in s]
    assert "zarr-python at chunks of 256 images over S3 at 20 ms: 16 requests in flight instead of 1" in said
    assert "4.02× (between 3.85× and 4.20×)" in said  # 4.1 / 1.02, bounded by 4.0 / 1.04 and 4.2 / 1.0
    assert "TensorStore at chunks of 256 images over S3 at 0 ms: 16 requests in flight instead of 1 make the epoch " \
           "slower, 0.79× (between 0.73× and 0.84×) as fast" in costs  # 0.41 / 0.52, bounds 0.40 / 0.55, 0.42 / 0.50


@pytest.mark.timeout(30)
def test_the_findings_and_figure_read_in_latvian_with_none_of_their_words_missing(s3_runs):
    words = catalogue("lv")
    said = object_store.object_store_sentences(s3_runs, words)
    assert any("visātrāk lasa 256 attēlu gabali" in s for s in said)
    assert any("16 vienlaicīgi pieprasījumi 1 vietā" in s and "4,02×" in s for s in said)
    object_store.object_store_figure(s3_runs, words)
    assert not [m for m in words.missing if "object_store" in m or "S3" in m or "request" in m]


@pytest.fixture
def only_the_object_store_figure(monkeypatch):
    """draw_figures with the storage chapter's section alone (drawing every figure takes long)."""
    monkeypatch.setattr(figure_files, "FIGURES", {"object_store": results.FIGURES["object_store"]})


@pytest.mark.timeout(60)
def test_s3_runs_get_their_figure_and_findings_in_the_chapter(s3_runs, tmp_path, only_the_object_store_figure):
    words = catalogue("lv")
    drawn = figure_files.draw_figures(s3_runs, words, tmp_path / "figures")
    [figure] = [d for d in drawn if d.section.key == "object_store"]
    assert figure.path.name == "object_store-cifar-10.pdf" and figure.path.stat().st_size > 0
    chapter = report.write_report_tables(s3_runs, tmp_path, words, drawn)["rezultati.tex"].read_text()
    assert "figures/object_store-cifar-10.pdf" in chapter
    assert "\\subsection{Dati objektu krātuvē: caurlaidspēja pret zarr gabala izmēru}" in chapter
    assert "visātrāk lasa 256 attēlu gabali" in chapter
    assert "\n#### Data on an object store (S3)\n" in findings.findings_markdown(s3_runs)  # in the appendix


@pytest.mark.timeout(60)
def test_local_runs_get_neither_and_keep_their_labels(tmp_path, only_the_object_store_figure):
    runs = results.load_records(RECORDS)
    assert not object_store.has_object_store_runs(runs) and object_store.object_store_sentences(runs) == []
    drawn = figure_files.draw_figures(runs, catalogue("lv"), tmp_path / "figures")
    assert drawn == []  # not a figure saying why it is empty: no section at all
    assert not list((tmp_path / "figures").glob("object_store-*"))
    chapter = report.write_report_tables(runs, tmp_path, "lv", drawn)["rezultati.tex"].read_text()
    assert "objektu krātuvē" not in chapter and "S3" not in runs["setting"].str.cat()


@pytest.mark.timeout(30)
def test_pooled_local_and_s3_runs_stay_apart_by_their_object_store(s3_folder, tmp_path):
    runs = results.load_records([RECORDS, s3_folder])
    summary = results.summary_table(runs)
    s3_rows = summary[summary["object_store"].notna()]
    assert set(s3_rows["object_store"]) == {"S3 · 0 ms · 16 requests", "S3 · 20 ms · 16 requests",
                                            "S3 · 20 ms · 1 request", "S3 · 0 ms · 1 request"}
    assert summary["object_store"].isna().sum() == len(summary) - len(s3_rows) > 0
    assert catalogue("lv").phrase("S3 · 20 ms · 1 request") == "S3 · 20 ms · 1 pieprasījums"
