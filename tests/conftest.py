"""Shared fixtures: tiny data files in the seed's exact formats."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# ---- the user's cache is never touched ---------------------------------------------------------------------------
# Every test runs with GANBENCH_CACHE in a temporary folder: one per session, shared by pytest-xdist's workers (the
# parent of their basetemps), so cached models are built once per session; the digits classifier, which many tests
# use, is built up front under a file lock when the session runs more than a handful of tests. Tests that need an
# empty cache set their own. `USER_CACHE_ENV` is what the user had, for tests/test_isolation.py.
USER_CACHE_ENV = os.environ.get("GANBENCH_CACHE")
SHARED_MODELS_MIN_TESTS = 50  # fewer tests (a single file): models are built by the first test that needs them


def _worker_threads() -> int | None:
    """torch's intra-op threads for a pytest-xdist worker: its share of the cores (at least one), or None outside
    xdist. Two workers with two threads each on two cores spin OpenMP threads against each other, which slows
    compute by integer factors."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if not os.environ.get("PYTEST_XDIST_WORKER") or workers < 2:
        return None
    return max(1, (os.cpu_count() or 1) // workers)


def pytest_configure(config: pytest.Config) -> None:
    if (threads := _worker_threads()) is not None:
        import torch

        torch.set_num_threads(threads)


def _session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """The session's GANBENCH_CACHE (a temporary folder), with the shared cached models built once."""
    from filelock import FileLock

    cache = _session_root(tmp_path_factory) / "ganbench-cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANBENCH_CACHE", str(cache))
        with FileLock(str(cache) + ".lock"):  # one xdist worker builds, the others wait and then load
            cache.mkdir(exist_ok=True)
            if len(request.session.items) >= SHARED_MODELS_MIN_TESTS:
                _build_shared_models()
        yield cache


def _build_shared_models() -> None:
    """The cached models many tests read: the digits classifier extractor (trained once, then cached)."""
    import torch

    from diagnostics.features import get_extractor
    from gans.data import load_data

    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)  # the other workers wait for it: it has every core
    try:
        get_extractor("classifier", load_data("digits", (1, 28, 28)))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _temporary_cache(session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the session's temporary cache, whatever an earlier test did to the variable."""
    monkeypatch.setenv("GANBENCH_CACHE", str(session_cache))


# ---- memory: a worker gives back what a big test freed ------------------------------------------------------------
# The full-size face GANs (celeba_mlp: 47 M parameters, ~0.75 GB with Adam's state) leave freed heap pages, and
# sometimes reference cycles, in the worker after the test, so the next big test on the same xdist worker stacked on
# top (a worker peaked at 3.2 GB). After any test that leaves the worker above RELEASE_ABOVE_MB, the cycles are
# collected and glibc returns free heap pages to the system (malloc_trim); cheaper tests pay one read of /proc.
RELEASE_ABOVE_MB = 1200


def _rss_mb() -> float:
    """Total RSS (what the memory limit counts). bench.memory.rss_bytes' anonymous share at 1,000 MB fired on more
    tests, and the suite took 5:12 and 5:33 in two clean-clone runs against 4:53 and 4:57 with this reading."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _malloc_trim() -> None:
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


@pytest.fixture(autouse=True)
def _release_memory():
    yield
    if _rss_mb() > RELEASE_ABOVE_MB:
        import gc

        gc.collect()
        _malloc_trim()


def write_celeba_h5(
    path: Path, n: int = 24, shape=(218, 178, 3), group: str = "img_align_celeba", seed: int = 0
) -> Path:
    """An h5 file in the seed's CelebA layout: group img_align_celeba, datasets "0.jpg", "1.jpg", …"""
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        g = f.create_group(group)
        for i in range(n):
            # a face-ish blob: a bright ellipse on a dark background, plus noise
            h, w = shape[:2]
            yy, xx = np.mgrid[0:h, 0:w]
            mask = ((yy - h / 2) / (h / 3)) ** 2 + ((xx - w / 2) / (w / 4)) ** 2 < 1
            img = rng.integers(0, 60, size=shape, dtype=np.uint8)
            img[mask] = (
                np.clip(180 + rng.integers(-20, 20, size=(mask.sum(), shape[2])), 0, 255).astype(np.uint8)
                if len(shape) == 3
                else 180
            )
            g.create_dataset(f"{i}.jpg", data=img)
    return path


def write_image_folder(
    folder: Path, n: int = 12, size=(80, 96), exts=(".jpg", ".png", ".jpeg", ".gif"), seed: int = 0
) -> Path:
    """A folder in the seed's anime-loader layout: images of mixed formats in one folder."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        arr = rng.integers(0, 255, size=(size[0], size[1], 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"img{i:03d}{exts[i % len(exts)]}")
    return folder


@pytest.fixture
def celeba_h5(tmp_path: Path) -> Path:
    return write_celeba_h5(tmp_path / "celeba.h5")


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return write_image_folder(tmp_path / "faces")


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600, env: dict | None = None):
    """Run ``python -m gans ARGS`` in a subprocess (the console script's entry point)."""
    import subprocess

    e = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ganbench", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=e,
    )
