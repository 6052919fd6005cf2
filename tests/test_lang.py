"""The report in Latvian as well as English (thesis_lib.results.lang): the same numbers in both,
written with a decimal comma in Latvian; unknown languages refused; labels without wording listed;
report/rezultati.tex ready to \\input."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("seaborn")  # test_results's imports

from test_results import RECORDS  # noqa: E402

from thesis_lib import results  # noqa: E402
from thesis_lib.results import figure_files, lead, report  # noqa: E402
from thesis_lib.results.lang import LANGUAGES, UnknownLanguage, catalogue, lv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TABLE_FILES = ("headline.md", "headline.tex", "summary.md", "summary.tex", "startup.md", "startup.tex")
# A number as each language writes it: English 1,024.5; Latvian 1 024,5 (a no-break space).
NUMBER = {"en": re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?"),
          "lv": re.compile(r"\d+(?:\u00a0\d{3})*(?:,\d+)?(?:e[-+]?\d+)?")}


def numbers(text: str, code: str) -> list[float]:
    """Every number in ``text`` as ``code`` writes them, read back as floats."""
    if code == "lv":
        return [float(n.replace("\u00a0", "").replace(",", ".")) for n in NUMBER["lv"].findall(text)]
    return [float(n.replace(",", "")) for n in NUMBER["en"].findall(text)]


@pytest.fixture(scope="module")
def runs():
    return results.load_records(RECORDS)


@pytest.fixture(scope="module")
def written(runs, tmp_path_factory):
    """The report's files from the fixture records, per language."""
    found = {}
    for code in ("en", "lv"):
        out = tmp_path_factory.mktemp(code)
        words = catalogue(code)
        figures = figure_files.draw_figures(runs, words, out / figure_files.FIGURES_FOLDER)
        found[code] = {name: path.read_text(encoding="utf-8")
                       for name, path in report.write_report_tables(runs, out, words, figures).items()}
        found[code]["folder"] = out
    return found


@pytest.mark.parametrize("name", TABLE_FILES)
def test_latvian_tables_hold_the_english_numbers(written, name):
    english, latvian = written["en"][name], written["lv"][name]
    assert english != latvian
    assert numbers(latvian, "lv") == numbers(english, "en")
    assert len(numbers(english, "en")) > 10


def test_latvian_tables_use_the_theses_terms_and_a_decimal_comma(written):
    headline = written["lv"]["headline.md"]
    for term in ("no RAM (lapu kešatmiņa)", "no krātuves (izlikts no kešatmiņas)", "Formāts", "Piekļuves režīms",
                 "95% ticamības intervālu"):
        assert term in headline
    assert re.search(r"\d,\d+ \[\d,\d+; \d,\d+\]", headline)
    assert not re.search(r"\d\.\d", headline)
    assert "Datu kopa" in written["lv"]["summary.md"] and "Paātrinātāja noslodze" in written["lv"]["summary.md"]
    assert "zarr (chunk 64, uncompressed)" in headline  # format names keep their own wording


def test_latvian_lead_findings_hold_the_english_numbers(runs):
    english, latvian = lead.lead_findings(runs), lead.lead_findings(runs, catalogue("lv"))
    assert len(latvian) == len(english)
    for en_sentence, lv_sentence in zip(english, latvian):
        assert en_sentence != lv_sentence
        assert Counter(numbers(lv_sentence, "lv")) == Counter(numbers(en_sentence, "en")), lv_sentence


def test_english_is_the_default_and_writes_no_chapter(written, runs):
    assert "rezultati.tex" not in written["en"]
    assert lead.lead_findings(runs) == lead.lead_findings(runs, catalogue("en"))
    assert "Labels without" not in written["en"]["findings.md"]


def test_unknown_language_is_refused_listing_the_languages(runs, tmp_path):
    with pytest.raises(UnknownLanguage, match="'xx'.*en, lv"):
        catalogue("xx")
    with pytest.raises(UnknownLanguage):
        report.write_report_tables(runs, tmp_path / "report", "xx")
    assert not (tmp_path / "report").exists()  # nothing half-written


def test_cli_refuses_an_unknown_language_listing_the_languages():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "thesis_lib", "report", "--lang", "xx"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--lang" in done.stderr and ", ".join(LANGUAGES) in done.stderr


def test_a_missing_word_reads_in_english_and_is_listed(monkeypatch):
    monkeypatch.delitem(lv.WORDS, "headline.heading")
    words = catalogue("lv")
    assert words["headline.heading"] == "Steady-state epoch time (s)"
    assert words.label("some model") == "some model"
    assert words.label("emulated H100") == "emulēts H100"
    assert words.missing == ["headline.heading", "some model"]
    assert words.missing_note().rstrip().endswith("- headline.heading\n- some model")


def test_labels_without_latvian_wording_are_listed_at_the_end(written):
    findings = written["lv"]["findings.md"]
    tail = findings.rsplit("## Apzīmējumi bez latviešu tulkojuma (parādīti angliski)", 1)
    assert len(tail) == 2 and "- convnet" in tail[1]  # the fixture's model has no Latvian wording
    assert written["lv"]["rezultati.tex"].rstrip().splitlines()[-1].endswith("convnet")


def environments(tex: str) -> list[str]:
    """The unclosed environments after ``tex`` (raises on a mismatched \\end)."""
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{([^}]*)\}", tex):
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, name
    return stack


def test_chapter_tables_have_caption_and_label_and_balance(written):
    tex = written["lv"]["rezultati.tex"]
    tables = re.findall(r"\\begin\{table\}(.*?)\\end\{table\}", tex, flags=re.S)
    assert len(tables) == tex.count("\\begin{table}") >= 3
    for table in tables:
        assert table.count("\\caption{") == 1 and table.count("\\label{tab:") == 1
    unescaped = re.sub(r"\\[{}]", "", tex)
    assert unescaped.count("{") == unescaped.count("}")
    assert environments(tex) == []
    assert tex.count("\\subsection{") == 4 and "\\begin{itemize}" in tex
    assert tex.count("\\item ") == len(lead.lead_findings(results.load_records(RECORDS)))
    assert "\\usepackage" not in tex.replace("% ", "").split("\n\\subsection", 1)[1]  # the preamble stays the thesis's


def test_chapter_includes_every_saved_figure_with_a_latvian_caption_and_label(written):
    tex, folder = written["lv"]["rezultati.tex"], written["lv"]["folder"]
    figures = re.findall(r"\\begin\{figure\}(.*?)\\end\{figure\}", tex, flags=re.S)
    included = [re.search(r"\\includegraphics\[[^]]*\]\{([^}]*)\}", f)[1] for f in figures]
    saved = sorted(p.relative_to(folder).as_posix() for p in (folder / "figures").glob("*.pdf"))
    assert sorted(included) == saved and len(saved) >= 4
    assert all((folder / path).read_bytes().startswith(b"%PDF") for path in included)
    captions = [re.search(r"\\caption\{(.*?)\}\n", f)[1] for f in figures]
    assert "Epohas laiks pēc formāta: sintētiski (ģenerēti)." in captions
    assert len({re.search(r"\\label\{(fig:[^}]*)\}", f)[1] for f in figures}) == len(figures)


def test_two_datasets_whose_names_make_one_file_name_get_a_figure_each(tmp_path):
    used = set()
    names = [figure_files.unused(tmp_path / f"au-{figure_files.slug(name)}.pdf", used)
             for name in ("CIFAR-10", "cifar 10", "Cifar_10")]
    assert [p.name for p in names] == ["au-cifar-10.pdf", "au-cifar-10-2.pdf", "au-cifar-10-3.pdf"]


def test_latvian_figures_are_worded_in_latvian(runs):
    words = catalogue("lv")
    drawn = [d for d in figure_files.draw_figures(runs, words) if d.section.key == "epoch_time"]
    assert len(drawn) == runs["dataset_name"].nunique()
    alt = drawn[0].image.alt
    assert "Epohas laiks pēc glabāšanas formāta" in alt and "Epohas laiks (s)" in alt
    assert "Glabāšanas formāts" in alt and "Epoch time" not in alt


def test_a_report_of_no_runs_draws_no_figure_and_says_why_in_one_line(tmp_path):
    (tmp_path / "sweep-skipped.txt").write_text("# 72 points skipped: cifar10 is not on disk; fetch it with: "
                                                 "python -m thesis_lib prepare --dataset cifar10 --download\n"
                                                 "cifar10-a: cifar10 is not on disk (…)\n")
    runs = results.load_records(tmp_path)
    assert figure_files.draw_figures(runs, catalogue("lv"), tmp_path / "report" / "figures") == []
    assert not (tmp_path / "report" / "figures").exists()
    line = report.nothing_recorded(runs, [tmp_path], catalogue("en"))
    assert line.count("\n") == 0 and "72 points skipped: cifar10 is not on disk" in line
    assert "prepare --dataset cifar10 --download" in line and "sweep-skipped.txt" in line
    assert report.nothing_recorded(runs, [tmp_path], catalogue("lv")).startswith("Mapē `")
    assert report.nothing_recorded(results.load_records(RECORDS), [RECORDS], catalogue("en")) is None


# The thesis's preamble as each engine takes Latvian: polyglossia with XeLaTeX or LuaLaTeX, babel with pdfLaTeX.
ENGINES = {"xelatex": "\\usepackage{fontspec}\n\\usepackage{polyglossia}\n\\setdefaultlanguage{latvian}\n",
           "lualatex": "\\usepackage{fontspec}\n\\usepackage{polyglossia}\n\\setdefaultlanguage{latvian}\n",
           "pdflatex": "\\usepackage[utf8]{inputenc}\n\\usepackage[L7x]{fontenc}\n\\usepackage[latvian]{babel}\n"}
ENGINE = next((name for name in ENGINES if shutil.which(name)), None)


@pytest.mark.skipif(ENGINE is None, reason="no xelatex, lualatex or pdflatex installed")
def test_chapter_compiles_in_a_latvian_skeleton(written, tmp_path):
    (tmp_path / "rezultati.tex").write_text(written["lv"]["rezultati.tex"], encoding="utf-8")
    shutil.copytree(written["lv"]["folder"] / "figures", tmp_path / "figures")
    (tmp_path / "thesis.tex").write_text(
        "\\documentclass{article}\n" + ENGINES[ENGINE] + "\\usepackage{booktabs,multirow,graphicx}\n"
        "\\begin{document}\n\\section{Rezultāti}\n\\input{rezultati}\n\\end{document}\n", encoding="utf-8")
    done = subprocess.run([ENGINE, "-interaction=nonstopmode", "-halt-on-error", "thesis.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "thesis.pdf").stat().st_size > 10_000 and "Overfull" not in done.stdout.split("Output written")[-1]
