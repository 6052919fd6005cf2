"""LaTeX the report writes: text escaped so that it prints as itself, and tables that never run
past the text width."""
from __future__ import annotations

# Characters LaTeX reads as commands, and Unicode symbols pdfLaTeX has no glyph for outside math.
LATEX_SPECIALS = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "%": r"\%", "#": r"\#",
                  "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}", "≥": r"$\geq$",
                  "×": r"$\times$", "·": r"$\cdot$", "\u00a0": "~"}


def latex_escape(text: str) -> str:
    """``text`` as LaTeX source that prints it."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def fit_width(table: str) -> str:
    """``table`` (LaTeX holding one ``tabular``) with the ``tabular`` shrunk to the line's width
    where it is wider, and left as it is where it fits: plain LaTeX and ``graphicx``, no other package."""
    begin, end = table.find("\\begin{tabular}"), table.find("\\end{tabular}")
    if begin < 0 or end < 0:
        return table
    end += len("\\end{tabular}")
    return (f"{table[:begin]}\\sbox0{{{table[begin:end]}}}%\n"
            f"\\ifdim\\wd0>\\linewidth\\resizebox{{\\linewidth}}{{!}}{{\\usebox0}}\\else\\usebox0\\fi{table[end:]}")
