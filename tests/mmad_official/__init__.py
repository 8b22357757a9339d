"""The official MMAD functions, read at test time from a checkout of jam-cc/MMAD.

jam-cc/MMAD (cross-checked at commit bad03b44c30fdb4d0e1774e07e0f245fbaae3b6c) carries no
licence file, so adlab ships no copy of its code. Point ``MMAD_OFFICIAL_ROOT`` at a checkout
and the cross-check tests take ``GPT4Query.parse_answer`` (evaluation/examples/GPT4/gpt4v.py,
the parser the other families' scripts inherit), ``caculate_accuracy_mmad``
(evaluation/examples/helper/summary.py) and the query scripts' request builders
(``get_query``/``parse_conversation`` of each family) from the files themselves; without it
they are skipped with that reason. Only the definitions are executed, with the imports they use: the scripts'
API clients, argument parsing and ``__main__`` blocks are left out, matplotlib draws off screen
and a missing seaborn is replaced by a heatmap that draws nothing (figures are not compared).
"""
from __future__ import annotations

import ast
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

ROOT_ENV = "MMAD_OFFICIAL_ROOT"
PARSER_FILE = "evaluation/examples/GPT4/gpt4v.py"
SUMMARY_FILE = "evaluation/examples/helper/summary.py"
# Imports the kept definitions need; the scripts' clients (requests, cv2, tqdm...) are dropped.
_KEPT_IMPORTS = {"re", "difflib", "json", "os", "pandas", "matplotlib.pyplot", "seaborn"}


def official_root() -> Path:
    """The checkout to read, or a skip that says how to give one."""
    root = os.environ.get(ROOT_ENV)
    if not root:
        pytest.skip(f"set {ROOT_ENV} to a checkout of github.com/jam-cc/MMAD to cross-check "
                    "against its own code (no copy is shipped: the repository has no licence)")
    path = Path(root)
    for rel in (PARSER_FILE, SUMMARY_FILE):
        if not (path / rel).is_file():
            pytest.skip(f"{ROOT_ENV}={root} has no {rel}; point it at a jam-cc/MMAD checkout")
    return path


def _imported(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module]
    return []


def load_definitions(relpath: str, names: set[str], assigns: frozenset[str] = frozenset(),
                     imports: frozenset[str] = frozenset(),
                     base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute the named top-level functions/classes of an official file (and its kept imports,
    plus ``imports``), the module-level assignments named in ``assigns`` (a script's
    ``instruction``) and nothing else; ``base`` seeds the namespace (a parent class the file
    imports from another script, such as ``GPT4Query``)."""
    import matplotlib

    matplotlib.use("Agg")
    if "seaborn" not in sys.modules:
        try:
            import seaborn  # noqa: F401
        except ImportError:
            stub = types.ModuleType("seaborn")
            stub.heatmap = lambda *args, **kwargs: None  # type: ignore[attr-defined]
            sys.modules["seaborn"] = stub
    path = official_root() / relpath
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    kept = _KEPT_IMPORTS | imports
    body = [n for n in tree.body
            if (_imported(n) and set(_imported(n)) <= kept)
            or (isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in names)
            or (isinstance(n, ast.Assign) and len(n.targets) == 1
                and isinstance(n.targets[0], ast.Name) and n.targets[0].id in assigns)]
    found = {n.name for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    if found != names:
        pytest.fail(f"{path} no longer defines {sorted(names - found)}")
    namespace: dict[str, Any] = {**(base or {}), "__name__": f"mmad_official_{Path(relpath).stem}"}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)
    return namespace
