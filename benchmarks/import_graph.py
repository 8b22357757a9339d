"""Package-level import graph of adlab (``python benchmarks/import_graph.py > graph.txt``).

One line per edge ``importer -> imported  (N module imports)`` between adlab's top-level
units (``adlab.db``, ``adlab.queue``, ...), static imports anywhere in a module, lazy ones
inside functions included: it is what the import contracts in pyproject.toml judge.
"""
from __future__ import annotations

import sys
from collections import Counter

import grimp


def unit(module: str) -> str:
    """``adlab.db.engine`` -> ``adlab.db``; ``adlab.queue`` stays itself."""
    return ".".join(module.split(".")[:2])


def edges(package: str = "adlab") -> Counter[tuple[str, str]]:
    graph = grimp.build_graph(package, cache_dir=None)
    counts: Counter[tuple[str, str]] = Counter()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = unit(importer), unit(imported)
            if a != b and b.startswith(package + "."):
                counts[(a, b)] += 1
    return counts


def main() -> None:
    counts = edges(sys.argv[1] if len(sys.argv) > 1 else "adlab")
    for (a, b), n in sorted(counts.items()):
        print(f"{a} -> {b}  ({n})")


if __name__ == "__main__":
    main()
