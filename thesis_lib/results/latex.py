"""LaTeX the report writes: text escaped so that it prints as itself, tables that never run past
the text width, and the notebook's tables as the PDF appendix prints them (:class:`ShownTable`)."""
from __future__ import annotations

import copy

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


# A table in the PDF appendix is printed in parts of at most this many rows (a tabular never breaks
# across pages, and one longer than a page would run off it) and this many columns (a wider one,
# shrunk to the line, would be too small to read); each part repeats the row labels.
ROWS_PER_PART = 35
COLUMNS_PER_PART = 3


def _slices(items, size: int) -> list:
    """``items`` (an index) in consecutive parts of at most ``size``; one empty part when empty."""
    return [items[start:start + size] for start in range(0, max(len(items), 1), size)]


class ShownTable:
    """A styled table (:class:`pandas.io.formats.style.Styler`) as the notebook shows it (HTML) and
    as the PDF appendix prints it (LaTeX): in parts of at most :data:`ROWS_PER_PART` rows and
    :data:`COLUMNS_PER_PART` columns, each shrunk to the line where still wider, row labels repeated
    rather than spanned (``\\multirow`` is not among nbconvert's LaTeX packages).
    ``display(ShownTable(styler))``; without it a PDF shows only the Styler's name."""

    def __init__(self, styler):
        self.styler = styler

    def _repr_html_(self) -> str:
        return self.styler.to_html()

    def _repr_latex_(self) -> str:
        rows, columns = self.styler.data.index, self.styler.data.columns
        parts = [self._part(rows.difference(keep_rows, sort=False), columns.difference(keep_columns, sort=False))
                 for keep_columns in _slices(columns, COLUMNS_PER_PART) for keep_rows in _slices(rows, ROWS_PER_PART)]
        return "\n\n".join(f"\\begin{{center}}\n{latex}\n\\end{{center}}" for latex in parts)

    def _part(self, hidden_rows, hidden_columns) -> str:
        part = copy.deepcopy(self.styler)
        if len(hidden_rows):
            part.hide(hidden_rows, axis="index")
        if len(hidden_columns):
            part.hide(hidden_columns, axis="columns")
        # Styler leaves text unescaped: "page_cache_gb_s" in a cell stops XeLaTeX. Escaping
        # replaces the cells' formatting, so numbers get the raw-records table's again.
        part.format(escape="latex", precision=3, thousands=",", na_rep="–")
        part.format_index(escape="latex", axis=0).format_index(escape="latex", axis=1)
        part.set_table_styles([], overwrite=True)  # the HTML's CSS (nowrap) has no LaTeX command
        if isinstance(part.caption, str):
            part.set_caption(latex_escape(part.caption))
        return fit_width(part.to_latex(hrules=True, sparse_index=False, convert_css=True, multicol_align="c"))
