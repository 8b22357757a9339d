"""Pipeline shortcut flags on ``adlab queue`` (``--few-shot 2``, ``--batch-mode``).

The flags are declared by the pipelines (``PipelineSpec.cli_shortcuts``), not by the command:
``adlab queue`` passes what it does not know itself here, and the declarations of every
registered pipeline say how to read it. Which param a flag sets is decided per run by its
pipeline (``adlab.config.overrides.shortcut_sets``).
"""
from __future__ import annotations

from typing import Any, Sequence

import typer

from adlab.pipelines import declared_shortcuts
from adlab.pipelines.views import CliShortcut, shortcut_table

__all__ = ["declared_shortcuts", "shortcut_table", "shortcuts_help", "split_shortcut_args"]


def split_shortcut_args(tokens: Sequence[str], shortcuts: Sequence[CliShortcut]
                        ) -> tuple[list[str], dict[str, Any]]:
    """(positional arguments, ``{shortcut name: value}``) from the command line's leftovers;
    an unknown flag or a bad value is a usage error (exit code 2), like click's own."""
    table = shortcut_table(shortcuts)
    positionals: list[str] = []
    values: dict[str, Any] = {}
    rest = list(tokens)
    while rest:
        token = rest.pop(0)
        if not token.startswith("--") or token == "--":
            positionals.append(token)
            continue
        flag, eq, inline = token.partition("=")
        s = table.get(flag)
        if s is None:
            known = ", ".join(sorted(table)) or "none"
            raise typer.BadParameter(f"unknown option {flag}; adlab queue takes --set KEY=VALUE and the "
                              f"pipelines' shortcuts ({known}); `adlab pipelines` lists them")
        if s.type is bool:
            if eq:
                raise typer.BadParameter(f"{flag} is a switch and takes no value; use {s.flag} or "
                                  f"--no-{s.flag[2:]}")
            values[s.name] = not flag.startswith("--no-")
            continue
        if eq:
            raw = inline
        elif rest:
            raw = rest.pop(0)
        else:
            raise typer.BadParameter(f"{flag} needs a value, e.g. {flag} {'2' if s.type is int else 'NAME'}")
        if s.type is int:
            try:
                values[s.name] = int(raw)
            except ValueError:
                raise typer.BadParameter(f"{flag} takes a whole number, got {raw!r}") from None
        else:
            values[s.name] = raw
    return positionals, values


def shortcuts_help(shortcuts: Sequence[CliShortcut]) -> list[str]:
    """One line per flag: spelling, value and help (for ``adlab pipelines``)."""
    out = []
    for s in shortcuts:
        spelling = (f"{s.flag}/--no-{s.flag[2:]}" if s.type is bool
                    else f"{s.flag} {'N' if s.type is int else 'VALUE'}")
        out.append(f"{spelling}  -> {s.path}" + (f"  ({s.help})" if s.help else ""))
    return out
