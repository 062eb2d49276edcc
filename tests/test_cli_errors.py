"""User errors are raised where they are known; the CLI no longer turns every ValueError and OSError into exit 2
(issue 23, item 6): an OSError is the user's when it is their machine's (a full disk, no permission, a read-only
file system, a quota …) or concerns a path they named; anything else unexpected is an internal error with a log."""

from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path

import pytest

import gans.data
from ganbench.cli import main, users_os_error
from gans.base import UserError


def _ns(**kw) -> argparse.Namespace:
    return argparse.Namespace(**kw)


@pytest.mark.parametrize("code", ["ENOSPC", "EACCES", "EPERM", "EROFS", "EDQUOT"])
def test_the_users_machine_is_theirs_wherever_the_path(code):
    assert users_os_error(OSError(getattr(errno, code), os.strerror(getattr(errno, code)), "/var/x"), _ns())


def test_a_missing_path_is_the_users_only_when_they_named_it(tmp_path):
    args = _ns(run=str(tmp_path / "runs" / "a"), out=None, fake=[str(tmp_path / "f.npy")], gan="x.py:MyGAN")
    enoent = lambda f: OSError(errno.ENOENT, "No such file or directory", f)  # noqa: E731
    assert users_os_error(enoent(str(tmp_path / "runs" / "a")), args)
    assert users_os_error(enoent(str(tmp_path / "runs" / "a" / "config.json")), args)  # inside a named folder
    assert users_os_error(enoent(str(tmp_path / "f.npy")), args)
    assert users_os_error(enoent(os.path.abspath("x.py")), args)  # a PATH.py:CLASS spec names its file
    assert users_os_error(OSError(errno.EISDIR, "Is a directory", str(tmp_path / "f.npy")), args)
    assert not users_os_error(enoent(str(tmp_path / "runs" / "ab")), args)  # a sibling, not inside
    assert not users_os_error(enoent("/usr/lib/ganbench-internal/table.json"), args)
    assert not users_os_error(enoent(None), args)
    assert not users_os_error(OSError(errno.EBADF, "Bad file descriptor", str(tmp_path / "f.npy")), args)


def _raising(exc: BaseException):
    def boom(*a, **k):
        raise exc

    return boom


def _lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))


def test_an_unexpected_value_error_is_an_internal_error_with_its_log(monkeypatch, capsys):
    monkeypatch.setattr(gans.data, "list_dataset_entries", _raising(ValueError("a genuine bug")))
    assert main(["list"]) == 1
    lines = _lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("ganbench: internal error: ValueError: a genuine bug; details in ")
    log = Path(lines[0].rsplit("details in ", 1)[1])
    assert "Traceback" in log.read_text(encoding="utf-8")


def test_an_os_error_on_a_path_nobody_named_is_internal(monkeypatch, capsys):
    monkeypatch.setattr(gans.data, "list_dataset_entries", _raising(FileNotFoundError(2, "No such file", "/opt/x")))
    assert main(["list"]) == 1
    assert _lines(capsys)[0].startswith("ganbench: internal error: FileNotFoundError")


def test_a_full_disk_stays_a_user_error(monkeypatch, capsys):
    monkeypatch.setattr(gans.data, "list_dataset_entries", _raising(OSError(errno.ENOSPC, "No space left", "/d/f")))
    assert main(["list"]) == 2
    assert _lines(capsys) == ["ganbench: error: /d/f: No space left (the disk is full)"]


def test_a_known_mistake_raised_as_user_error_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(gans.data, "list_dataset_entries", _raising(UserError("that is not a data set")))
    assert main(["list"]) == 2
    assert _lines(capsys) == ["ganbench: error: that is not a data set"]


def test_a_missing_run_folder_the_user_named_is_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    lines = _lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("ganbench: error: ") and "nowhere" in lines[0]
