"""``rezultati.tex``: the results as a LaTeX fragment that ``\\input``s into the thesis without edits:
a ``\\subsection`` per part (lead findings as an ``itemize``, then the headline, start-up and
summary tables, each a ``table`` with ``\\caption`` and ``\\label``), in the report's language.

Figures are left out: the report shows its figures inline and saves no image files to include.
"""
from __future__ import annotations

from .lang import Words

# What the fragment needs from the thesis's preamble, said at its top.
PREAMBLE_NOTE = (
    "% Results chapter fragment, written by thesis_lib (python -m thesis_lib report --lang {code}).\n"
    "% \\input{{rezultati}} inside a chapter. Preamble packages it needs: booktabs, multirow; the text is UTF-8\n"
    "% (XeLaTeX/LuaLaTeX with fontspec, or pdfLaTeX with \\usepackage[utf8]{{inputenc}} and\n"
    "% \\usepackage[L7x]{{fontenc}} for Latvian). No figures: the report saves none as files.\n")
# Characters LaTeX reads as commands, and Unicode symbols pdfLaTeX has no glyph for outside math.
LATEX_SPECIALS = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "%": r"\%", "#": r"\#",
                  "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}", "≥": r"$\geq$",
                  "×": r"$\times$", "·": r"$\cdot$", "\u00a0": "~"}
# The tables, in the order the chapter shows them: (file the report writes, subsection's catalogue key).
TABLES = (("headline.tex", "chapter.headline"), ("startup.tex", "chapter.startup"), ("summary.tex", "chapter.summary"))


def latex_escape(text: str) -> str:
    """``text`` as LaTeX source that prints it."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def chapter_tex(tables: dict[str, str], lead_sentences: list[str], words: Words) -> str:
    """The fragment: ``tables`` maps the report's ``.tex`` file names to their LaTeX (``table``
    environments); ``lead_sentences`` are the lead findings in ``words``' language."""
    parts = [PREAMBLE_NOTE.format(code=words.code)]
    if lead_sentences:
        items = "".join(f"  \\item {latex_escape(s)}\n" for s in lead_sentences)
        parts.append(f"\\subsection{{{latex_escape(words['chapter.lead'])}}}\n\\begin{{itemize}}\n{items}\\end{{itemize}}\n")
    for name, key in TABLES:
        parts.append(f"\\subsection{{{latex_escape(words[key])}}}\n{tables[name]}")
    if words.missing:
        parts.append(f"% {words['missing.heading']}: " + "; ".join(" ".join(m.split()) for m in words.missing) + "\n")
    return "\n".join(parts)
