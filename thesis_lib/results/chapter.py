"""``rezultati.tex``: the results as a LaTeX fragment that ``\\input``s into the thesis without edits:
a ``\\subsection`` per part (lead findings as an ``itemize``, then the headline and start-up
tables, each a ``table`` with ``\\caption`` and ``\\label``, then the figures, each a
``figure`` that includes the PDF the report saved, by its path under the report folder), in the
report's language.
"""
from __future__ import annotations

from .lang import Words
from .latex import latex_escape

# What the fragment needs from the thesis's preamble, said at its top.
PREAMBLE_NOTE = (
    "% Results chapter fragment, written by thesis_lib (python -m thesis_lib report --lang {code}).\n"
    "% \\input{{rezultati}} inside a chapter. Preamble packages it needs: booktabs, multirow, graphicx; the text is\n"
    "% UTF-8 (XeLaTeX/LuaLaTeX with fontspec, or pdfLaTeX with \\usepackage[utf8]{{inputenc}} and\n"
    "% \\usepackage[L7x]{{fontenc}} for Latvian). Figures are included by their path under the report folder\n"
    "% (figures/...pdf): where the thesis's main file lies elsewhere, add \\graphicspath{{{{<report folder>/}}}}.\n"
    "% With \\usepackage{{placeins}}, each part's tables and figures stay within its subsection.\n"
    "\\providecommand{{\\FloatBarrier}}{{}}\n")
# The tables, in the order the chapter shows them: (file the report writes, subsection's catalogue key).
# The summary (summary.tex) has a column per measure, too wide for a page: it belongs in an appendix,
# in landscape, not in the chapter.
TABLES = (("headline.tex", "chapter.headline"), ("startup.tex", "chapter.startup"))


def figure_tex(path: str, caption: str, label: str) -> str:
    """A ``figure`` environment: the file at ``path`` (relative to the report folder) a column wide."""
    return (f"\\begin{{figure}}[htbp]\n\\centering\n\\includegraphics[width=\\linewidth]{{{path}}}\n"
            f"\\caption{{{latex_escape(caption)}}}\n\\label{{{label}}}\n\\end{{figure}}\n")


def itemized(heading: str, sentences: list[str]) -> str:
    """A ``\\subsection`` titled ``heading`` holding ``sentences`` as an ``itemize``."""
    items = "".join(f"  \\item {latex_escape(s)}\n" for s in sentences)
    return f"\\subsection{{{latex_escape(heading)}}}\n\\begin{{itemize}}\n{items}\\end{{itemize}}\n"


def chapter_tex(tables: dict[str, str], lead_sentences: list[str], words: Words,
                figures: list[tuple[str, str, str]] = (), findings: dict[str, list[str]] | None = None) -> str:
    """The fragment: ``tables`` maps the report's ``.tex`` file names to their LaTeX (``table``
    environments); ``lead_sentences`` are the lead findings in ``words``' language; ``figures``
    are ``(path under the report folder, caption, label)``; ``findings`` (heading -> sentences)
    are parts' own findings, each a subsection after the figures."""
    parts = [PREAMBLE_NOTE.format(code=words.code)]
    if lead_sentences:
        parts.append(itemized(words["chapter.lead"], lead_sentences))
    for name, key in TABLES:
        parts.append(f"\\subsection{{{latex_escape(words[key])}}}\n{tables[name]}\\FloatBarrier\n")
    if figures:
        parts.append(f"\\subsection{{{latex_escape(words['chapter.figures'])}}}\n"
                     + "\n".join(figure_tex(*figure) for figure in figures) + "\\FloatBarrier\n")
    parts += [itemized(heading, sentences) for heading, sentences in (findings or {}).items() if sentences]
    if words.missing:
        parts.append(f"% {words['missing.heading']}: " + "; ".join(" ".join(m.split()) for m in words.missing) + "\n")
    return "\n".join(parts)
