"""Lead findings (thesis_lib.results.lead) and tie matrices (thesis_lib.results.ties): few, each
with its intervals, never claiming a winner the intervals do not resolve; findings.md opens with them."""
from __future__ import annotations

import re

import pytest

pytest.importorskip("seaborn")  # test_results's imports, whose record helpers these tests use

from test_results import APART, RECORDS, TIED, frame, made_record, made_repeats  # noqa: E402

from thesis_lib import results  # noqa: E402
from thesis_lib.results import findings, lead, report, ties  # noqa: E402
from thesis_lib.results.ranking import Estimate, faster_of  # noqa: E402

INTERVAL = re.compile(r"\[-?[\d.]+%?, -?[\d.]+%?\]")


@pytest.fixture(scope="module")
def runs():
    return results.load_records(RECORDS)


def one_dataset(times: dict[str, list[float]]) -> str:
    """The lead finding on the fastest family of one synthetic condition with these epoch times."""
    runs = frame(*(made_record(wall, fmt=fmt) for fmt, wall in times.items()))
    [sentence] = [s for s in lead.lead_findings(runs) if s.startswith("synthetic (generated):")]
    return sentence


# --- the fixture records ------------------------------------------------------------------------

def test_at_most_eight_lead_findings_each_with_its_intervals(runs):
    found = lead.lead_findings(runs)
    assert 5 <= len(found) <= lead.MAX_LEAD
    assert [s.split(":")[0] for s in found[:3]] == ["CIFAR-10", "Tiny ImageNet", "synthetic (generated)"]
    for sentence in found:
        if not sentence.startswith("Lossless formats"):
            assert INTERVAL.search(sentence), sentence
    assert found[-1].startswith("Lossless formats trained identical models")
    assert any(s.startswith("MLPerf AU ≥ 90%") for s in found)
    assert any(s.startswith("Start-up: the largest resolved cost") for s in found)


def test_findings_md_opens_with_the_lead_and_keeps_every_finding_below(runs, tmp_path):
    text = report.write_report_tables(runs, tmp_path)["findings.md"].read_text()
    assert text.startswith("# Findings\n\n## Lead findings\n\n- CIFAR-10: ")
    lead_part, appendix = text.split(f"\n## {findings.APPENDIX}\n\n")
    assert lead_part.count("\n- ") == len(lead.lead_findings(runs))
    # the appendix is every finding as before, one heading level down
    assert appendix == findings.sections_markdown(runs, level=3)
    assert appendix.startswith(findings.HOW_TO_READ) and "\n### CIFAR-10\n" in appendix


def test_ties_md_has_a_matrix_per_condition(runs, tmp_path):
    text = report.write_report_tables(runs, tmp_path)["ties.md"].read_text()
    assert text.startswith("# Tie matrices")
    assert text.count("| # | Format | Access | Epoch time (s) [95% CI] |") == sum(
        len(c.formats) > 1 for c in ties.conditions(runs))
    assert "### 32 px · 512 images, emulated H100, warm cache" in text


def test_the_tie_matrix_is_antisymmetric_and_ties_where_intervals_overlap(runs):
    for condition in ties.conditions(runs):
        estimates = condition.formats
        matrix = ties.tie_matrix(estimates)
        found = {e.label: e for e in estimates}
        for a in matrix.index:
            assert matrix.loc[a, a] == ties.DIAGONAL
            for b in matrix.columns.drop(a):
                assert (matrix.loc[a, b] == "<") == (matrix.loc[b, a] == ">")
                assert (matrix.loc[a, b] == "≈") == (matrix.loc[b, a] == "≈") == (faster_of(found[a], found[b]) is None)


def test_a_tie_matrix_of_made_times():
    runs = frame(*(made_record(wall, fmt=fmt) for fmt, wall in TIED.items()))
    [condition] = ties.conditions(runs)
    matrix = ties.tie_matrix(condition.formats)
    assert list(matrix.index) == ["npy", "hdf5", "zarr"]
    assert matrix.loc["npy", "hdf5"] == matrix.loc["hdf5", "npy"] == "≈"
    assert matrix.loc["npy", "zarr"] == "<" and matrix.loc["zarr", "npy"] == ">"


# --- no lead finding claims more than its intervals allow ------------------------------------------

def test_a_tie_is_never_named_a_winner():
    assert Estimate.of("npy", TIED["npy"]).median < Estimate.of("hdf5", TIED["hdf5"]).median
    sentence = one_dataset(TIED)
    assert "is the fastest format family" not in sentence and "no single fastest format family" in sentence
    assert "npy and hdf5 tie" in sentence
    for fmt in ("npy", "hdf5"):
        assert f"{fmt} {Estimate.of(fmt, TIED[fmt]).text()}" in sentence


def test_a_winner_is_named_with_its_interval_and_the_runner_up_s():
    sentence = one_dataset(APART)
    assert sentence.startswith("synthetic (generated): npy is the fastest format family in its one condition")
    assert (f"npy takes {Estimate.of('npy', APART['npy']).text()} per epoch against "
            f"{Estimate.of('hdf5', APART['hdf5']).text()} for the next family's best, hdf5") in sentence
    # npy clears the runner-up by median, but not a noisy third format: no winner then
    noisy = one_dataset({**APART, "files": [0.9, 1.5, 3.0]})
    assert "is the fastest format family" not in noisy and "npy and files tie" in noisy


def test_a_family_wins_over_its_own_variants_only_against_other_families():
    # two zarr variants tie with each other, and the faster clears npy: zarr is the fastest family
    runs = frame(made_record([1.0, 1.01, 1.02], fmt="zarr", write_options={"chunk_images": 64}),
                 made_record([1.0, 1.3, 1.6], fmt="zarr", write_options={"chunk_images": 1024}),
                 made_record([2.0, 2.01, 2.02], fmt="npy"))
    [sentence] = [s for s in lead.lead_findings(runs) if s.startswith("synthetic (generated):")]
    assert "zarr is the fastest format family" in sentence and "for the next family's best, npy" in sentence


def test_only_a_resolved_effect_leads():
    clear = frame(made_record([1.0, 1.01, 1.02], fmt="npy"), made_record([3.0, 3.02, 3.04], fmt="zarr"))
    [effect] = [s for s in lead.lead_findings(clear) if "largest resolved difference" in s]
    assert f"zarr takes {3.02 / 1.01:.2f}× (between" in effect and "as long as npy under batch access" in effect
    noisy = frame(made_record([0.8, 1.0, 1.6], fmt="npy"), made_record([1.5, 2.0, 2.6], fmt="zarr"))
    assert not any("largest resolved" in s for s in lead.lead_findings(noisy))


def test_the_most_striking_flip_with_both_intervals():
    runs = frame(made_record([1.0, 1.01, 1.02], fmt="npy"), made_record([2.0, 2.01, 2.02], fmt="zarr"),
                 made_record([5.0, 5.01, 5.02], fmt="npy", cache="cold"),
                 made_record([3.0, 3.01, 3.02], fmt="zarr", cache="cold"))
    [flip] = [s for s in lead.lead_findings(runs) if "flips" in s]
    text = {(fmt, cache): Estimate.of(fmt, wall).text() for fmt, cache, wall in (
        ("npy", "warm", [1.0, 1.01, 1.02]), ("zarr", "warm", [2.0, 2.01, 2.02]),
        ("npy", "cold", [5.0, 5.01, 5.02]), ("zarr", "cold", [3.0, 3.01, 3.02]))}
    assert flip.startswith("The order of formats flips once where both sides are resolved")
    assert (f"npy is faster than zarr from RAM ({text['npy', 'warm']} against {text['zarr', 'warm']}), but slower "
            f"from storage ({text['zarr', 'cold']} against {text['npy', 'cold']})") in flip
    held = frame(made_record([1.0, 1.01, 1.02], fmt="npy"), made_record([2.0, 2.01, 2.02], fmt="zarr"),
                 made_record([2.0, 2.01, 2.02], fmt="npy", cache="cold"),
                 made_record([3.0, 3.01, 3.02], fmt="zarr", cache="cold"))
    assert any(s.startswith("The order of formats never flips") for s in lead.lead_findings(held))


def test_start_up_leads_only_where_resolved_above_zero():
    runs = frame(made_repeats([1.0, 1.0, 1.0], [1.5, 1.52, 1.51]),
                 made_repeats([2.0, 2.0, 2.0], [1.9, 2.3, 2.05], fmt="zarr"))
    [sentence] = [s for s in lead.lead_findings(runs) if s.startswith("Start-up")]
    assert f"npy/batch {Estimate.of('npy', [0.5, 0.52, 0.51]).text()}" in sentence and "zarr" not in sentence
    unresolved = frame(made_repeats([2.0, 2.0, 2.0], [1.9, 2.3, 2.05], fmt="zarr"))
    assert "no start-up cost is resolved above zero" in " ".join(lead.lead_findings(unresolved))


def test_no_records_no_lead_findings(tmp_path):
    assert lead.lead_findings(results.load_records(tmp_path)) == []
