"""Fixtures of the robustness tests: a finished 4-step run, copied by each test that changes it, and a per-test
cache and working folder (modules that want them say ``pytestmark = pytest.mark.usefixtures("isolated_cache")``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gans.training import train
from tests.helpers.robust import tiny_cfg


@pytest.fixture(scope="session")
def base_run(tmp_path_factory) -> Path:
    """A finished 4-step run (checkpoint at step 4), copied by each test that changes it; built once per session
    (per xdist worker) for every module here, never changed itself."""
    out = tmp_path_factory.mktemp("robust") / "run"
    r = train(tiny_cfg(), out, progress=False)
    assert r.status == "finished"
    return out


@pytest.fixture
def run(base_run, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(base_run, dst)
    return dst


@pytest.fixture
def isolated_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
