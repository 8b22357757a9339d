"""A report as a list of blocks, rendered to markdown or LaTeX (booktabs) with the same content."""
from __future__ import annotations

from dataclasses import dataclass, field

from adlab.analysis.report.tables import Table, latex_escape, to_latex, to_markdown


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Code:
    text: str


@dataclass
class Figure:
    path: str  # relative to the report file
    caption: str


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        self.blocks.append(Heading(level, text))

    def p(self, text: str) -> None:
        self.blocks.append(Paragraph(text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(Bullets(items))

    def table(self, table: Table) -> None:
        self.blocks.append(table)

    def code(self, text: str) -> None:
        self.blocks.append(Code(text))

    def figure(self, path: str, caption: str) -> None:
        self.blocks.append(Figure(path, caption))


def to_markdown_text(doc: Document) -> str:
    out = [f"# {doc.title}\n"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * (b.level + 1)} {b.text}\n")
        elif isinstance(b, Paragraph):
            out.append(b.text + "\n")
        elif isinstance(b, Bullets):
            out.append("".join(f"- {item}\n" for item in b.items))
        elif isinstance(b, Code):
            out.append("```\n" + b.text.rstrip("\n") + "\n```\n")
        elif isinstance(b, Figure):
            out.append(f"![{b.caption}]({b.path})\n")
        elif isinstance(b, Table):
            out.append((f"*{b.caption}*\n\n" if b.caption else "") + to_markdown(b))
    return "\n".join(out)


def _md_inline_to_latex(text: str) -> str:
    """Escape, then turn the few markdown marks the report uses (**bold**, `code`) into LaTeX."""
    parts = text.split("**")
    out = []
    for i, part in enumerate(parts):
        code_parts = part.split("`")
        rendered = "".join((r"\texttt{" + latex_escape(c) + "}") if j % 2 else latex_escape(c)
                           for j, c in enumerate(code_parts))
        out.append(r"\textbf{" + rendered + "}" if i % 2 else rendered)
    return "".join(out)


def to_latex_text(doc: Document) -> str:
    out = [r"\documentclass{article}", r"\usepackage{booktabs}", r"\usepackage{graphicx}",
           r"\usepackage[margin=2cm]{geometry}", r"\begin{document}",
           r"\section*{" + latex_escape(doc.title) + "}"]
    commands = {1: "subsection*", 2: "subsubsection*", 3: "paragraph*"}
    for b in doc.blocks:
        if isinstance(b, Heading):
            out.append("\\" + commands.get(b.level, "paragraph*") + "{" + latex_escape(b.text) + "}")
        elif isinstance(b, Paragraph):
            out.append(_md_inline_to_latex(b.text) + "\n")
        elif isinstance(b, Bullets):
            out.append(r"\begin{itemize}")
            out += [r"\item " + _md_inline_to_latex(item) for item in b.items]
            out.append(r"\end{itemize}")
        elif isinstance(b, Code):
            out += [r"\begin{verbatim}", b.text.rstrip("\n"), r"\end{verbatim}"]
        elif isinstance(b, Figure):
            out += [r"\begin{figure}[ht]", r"\centering",
                    r"\includegraphics[width=0.8\linewidth]{" + b.path + "}",
                    r"\caption{" + latex_escape(b.caption) + "}", r"\end{figure}"]
        elif isinstance(b, Table):
            out.append(to_latex(b))
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"
