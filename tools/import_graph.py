"""Print the import graph between ganbench's packages (edges with the number of module imports).

Usage: python tools/import_graph.py   (from the repository root; needs grimp, which import-linter brings)
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import grimp

PACKAGES = ("ganbench", "gans", "diagnostics", "bench", "reports")


def package_edges() -> Counter[tuple[str, str]]:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    edges: Counter[tuple[str, str]] = Counter()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = module.split(".")[0], imported.split(".")[0]
            if a != b:
                edges[(a, b)] += 1
    return edges


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    edges = package_edges()
    for (a, b), n in sorted(edges.items()):
        print(f"{a:<12} -> {b:<12} {n:>3} module import(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
