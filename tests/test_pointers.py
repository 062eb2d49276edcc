"""Every pointer to the code is alive: each module, dotted name and file named in README or a docstring exists.

A newcomer follows the pointers in docstrings and README to find things; a dead one (a moved function, a
renamed file) sends them to the wrong place, so it fails here.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ganbench", "gans", "diagnostics", "bench", "reports")
# `gans.models.core.GAN`, ``bench/limits.py``, :func:`~diagnostics.equilibrium.final_verdict`
DOTTED = re.compile(r"(?<![\w./-])~?((?:%s)(?:\.[A-Za-z_]\w*)+)" % "|".join(PACKAGES))
FILE = re.compile(r"(?<![\w./-])((?:%s|tests|examples|tools)/[\w./-]*\w\.(?:py|toml|json|html))" % "|".join(PACKAGES))


#: names that look like code but are not: the entry-point group families register under
NOT_CODE = {"ganbench.gans"}


def _sources() -> list[tuple[str, str]]:
    """(where, text) for README (less its notes on removed names) and every docstring in the packages."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    readme = re.sub(r"\n## Changes to public names\n.*?(?=\n## |\Z)", "\n", readme, flags=re.S)
    out = [("README.md", readme)]
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc:
                        out.append((f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 1)}", doc))
    return out


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def _pointers() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    dotted, files = [], []
    for where, text in _sources():
        for m in DOTTED.finditer(text):
            name = m.group(1).rstrip(".")
            if name.endswith((".py", ".json", ".toml", ".html")) or name in NOT_CODE:
                continue
            dotted.append((where, name))
        for m in FILE.finditer(text):
            files.append((where, m.group(1)))
    return dotted, files


def test_the_scanner_finds_pointers_and_would_catch_a_dead_one():
    dotted, files = _pointers()
    assert len(dotted) > 50 and len(files) > 20
    assert ("README.md", "examples/tinygan/tinygan.py") in files
    assert not _resolves("gans.models.core.no_such_thing") and not _resolves("diagnostics.cli")
    assert _resolves("gans.models.core.GAN.phases") and _resolves("bench.regress")


def test_every_dotted_name_in_docstrings_and_readme_exists():
    dotted, _ = _pointers()
    dead = sorted({f"{where}: {name}" for where, name in dotted if not _resolves(name)})
    assert not dead, "\n".join(dead)


def test_every_file_named_in_docstrings_and_readme_exists():
    _, files = _pointers()
    dead = sorted({f"{where}: {name}" for where, name in files if not (ROOT / name).exists()})
    assert not dead, "\n".join(dead)


@pytest.mark.parametrize("pkg", PACKAGES)
def test_every_module_imports(pkg):
    for path in sorted((ROOT / pkg).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if rel.name == "__main__":
            continue
        importlib.import_module(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
