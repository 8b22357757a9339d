"""JSON as researchers write it: ``//`` and ``/* */`` comments and trailing commas.

Seed 002's ``base-exp_condition.json`` annotates fields inline (``"model_type": "draem",  // new``),
which strict JSON (and YAML) refuse. The comments are blanked out (newlines kept, so parse
errors still point at the right line) and a comma before ``}`` or ``]`` is dropped; text inside
strings is never touched, so ``"http://..."`` stays as written.
"""
from __future__ import annotations


def strip_json_comments(text: str) -> str:
    """``text`` with comments replaced by spaces and trailing commas removed."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_string = False
            i += 1
            continue
        if ch == '"':
            in_string = True
            out.append(ch)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join(c if c == "\n" else " " for c in text[i:end]))
            i = end
        else:
            out.append(ch)
            i += 1
    return _drop_trailing_commas("".join(out))


def _drop_trailing_commas(text: str) -> str:
    """Remove a comma (outside strings) whose next non-space character closes a bracket."""
    out = list(text)
    in_string = False
    i = 0
    while i < len(out):
        ch = out[i]
        if in_string:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == ",":
            j = i + 1
            while j < len(out) and out[j] in " \t\r\n":
                j += 1
            if j < len(out) and out[j] in "}]":
                out[i] = " "
        i += 1
    return "".join(out)
