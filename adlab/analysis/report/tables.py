"""Tables as data, rendered as GitHub markdown or LaTeX booktabs. Cells are already-formatted
text; bold is a flag per cell so both renderers mark the same cells."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Cell:
    text: str
    bold: bool = False


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    align: list[str] = field(default_factory=list)  # "l", "c" or "r" per column
    caption: str = ""

    def add(self, *cells: "Cell | str") -> None:
        self.rows.append([c if isinstance(c, Cell) else Cell(str(c)) for c in cells])

    def column_align(self, i: int) -> str:
        return self.align[i] if i < len(self.align) else "l"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(table: Table) -> str:
    marks = {"l": ":---", "c": ":---:", "r": "---:"}
    lines = ["| " + " | ".join(_md_escape(h) for h in table.headers) + " |",
             "|" + "|".join(marks[table.column_align(i)] for i in range(len(table.headers))) + "|"]
    for row in table.rows:
        cells = [f"**{_md_escape(c.text)}**" if c.bold and c.text not in ("", "-")
                 else _md_escape(c.text) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "±": r"$\pm$", "Δ": r"$\Delta$", "→": r"$\to$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    spec = "".join(table.column_align(i) for i in range(len(table.headers)))
    lines = [r"\begin{table}[ht]", r"\centering"]
    if table.caption:
        lines.append(r"\caption{" + latex_escape(table.caption) + "}")
    lines += [r"\begin{tabular}{" + spec + "}", r"\toprule",
              " & ".join(latex_escape(h) for h in table.headers) + r" \\", r"\midrule"]
    for row in table.rows:
        cells = [(r"\textbf{" + latex_escape(c.text) + "}") if c.bold and c.text not in ("", "-")
                 else latex_escape(c.text) for c in row]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"
