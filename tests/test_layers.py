"""The floors of the house, as written in pyproject.toml's import-linter contracts.

``gans`` is the bottom floor and imports no other ganbench package; ``diagnostics`` stands on it,
``bench`` on both, ``reports`` reads files and never trains, and ``ganbench`` (the command) sees
everything. These tests run import-linter on the tree, and on a copy with a planted back-import,
which it must catch.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ganbench", "gans", "diagnostics", "bench", "reports")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.exists():
        found = shutil.which("lint-imports")
        if found is None:
            pytest.skip("import-linter is not installed (pip install -e '.[test]')")
        exe = Path(found)
    return subprocess.run([str(exe), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120)


def _copy_tree(dst: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", dst / "pyproject.toml")
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def test_the_tree_keeps_its_floors():
    r = _lint_imports(ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "ganbench floors KEPT" in r.stdout and "reports never trains KEPT" in r.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("gans/models/core.py", "import diagnostics.metrics", "ganbench floors BROKEN"),
        ("gans/training/loop.py", "from bench import timing", "ganbench floors BROKEN"),
        ("diagnostics/verdicts.py", "import reports.html", "ganbench floors BROKEN"),
        ("reports/compare.py", "from gans.training import loop", "reports never trains BROKEN"),
    ],
)
def test_a_planted_back_import_is_caught(tmp_path, module, planted, broken):
    tree = _copy_tree(tmp_path)
    with open(tree / module, "a", encoding="utf-8") as f:
        f.write(f"\n{planted}  # planted by the test\n")
    r = _lint_imports(tree)
    assert r.returncode != 0, r.stdout[-3000:]
    assert broken in r.stdout
