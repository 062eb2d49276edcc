"""The test suite leaves the user's machine alone: every test runs with a temporary GANBENCH_CACHE (tests/conftest.py),
and a pytest session started with the user's cache in its environment leaves that cache exactly as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gans.base import cache_dir
from tests.conftest import ROOT, USER_CACHE_ENV


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time (ns)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.stat()
        out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    st = folder.stat()
    out["."] = (0, st.st_mtime_ns)
    return out


def test_this_test_runs_with_a_temporary_cache(session_cache, tmp_path_factory):
    here = cache_dir().resolve()
    assert here == Path(session_cache).resolve()
    root = tmp_path_factory.getbasetemp().resolve()
    assert root in here.parents or root.parent in here.parents  # under pytest's temporary folder (xdist: its parent)
    assert USER_CACHE_ENV is None or Path(USER_CACHE_ENV).resolve() != here
    assert Path("~/.cache/ganbench").expanduser().resolve() != here


INNER = '''
from gans.base import atomic_write_text, cache_dir


def test_writes_into_the_cache():
    atomic_write_text(cache_dir() / "stamp.txt", "written by a test")
    assert (cache_dir() / "stamp.txt").read_text() == "written by a test"
'''


def test_a_session_leaves_the_users_cache_untouched(tmp_path):
    user_cache = tmp_path / "user-cache"
    (user_cache / "extractors").mkdir(parents=True)
    (user_cache / "extractors" / "classifier-digits-x.json").write_text("{}")
    home = tmp_path / "home"
    home.mkdir()
    before = _tree(user_cache)
    (tmp_path / "inner").mkdir()
    inner = tmp_path / "inner" / "test_inner.py"
    inner.write_text(INNER)
    env = {**os.environ, "GANBENCH_CACHE": str(user_cache), "HOME": str(home)}
    env.pop("XDG_CACHE_HOME", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest", str(inner)]
        + ["--basetemp", str(tmp_path / "inner-tmp"), "--rootdir", str(ROOT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "1 passed" in r.stdout
    assert _tree(user_cache) == before  # nothing added, changed or touched
    assert not (home / ".cache").exists()
    stamped = list((tmp_path / "inner-tmp").rglob("stamp.txt"))
    assert len(stamped) == 1 and "ganbench-cache" in str(stamped[0])  # the test wrote into the session's cache
