"""One writer per folder: an advisory ``fcntl.flock`` on a lock file inside it.

``train`` (and ``--resume``) holds :data:`LOCK_NAME` in its run directory for as long as it writes
there; ``compare-batch`` holds it on its ``--out`` folder and each run's own; ``sweep`` on its ``--out``.
A second writer gets a :class:`~gans.base.UserError` naming the holder's PID (exit 2). The lock belongs
to the open file description, so it dies with its process: a folder left by a killed run is never
blocked by a stale lock file (the file itself stays; it holds only the last holder's PID).

Readers (``report``, ``diagnose``) never take the lock: :func:`writer_pid` asks the kernel's lock
table (``/proc/locks``) who holds it, so a reader can say that a run is still being written without
ever getting in a writer's way.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

from .base import UserError

__all__ = ["LOCK_NAME", "FolderLock", "writer_pid", "still_written_note"]

#: the lock file's name inside a locked folder (hidden; reports and folder checks ignore it)
LOCK_NAME = ".ganbench.lock"


class FolderLock:
    """An exclusive, non-blocking lock on ``folder`` for one writer; ``what`` names the writer in messages.

    Use as a context manager, or :meth:`acquire` / :meth:`release`. A folder the lock had to create is removed
    on release when nothing but the lock file is in it (a command that failed before writing leaves nothing).
    Acquiring a folder this process already
    holds through another :class:`FolderLock` object fails like any second writer (flock locks are per open
    file), so nest locks only on different folders.
    """

    def __init__(self, folder: str | os.PathLike, what: str = "ganbench") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self._fd: int | None = None
        self._created = False

    def acquire(self) -> FolderLock:
        import fcntl

        if self._fd is not None:
            return self
        self._created = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = writer_pid(self.folder)
            who = f"process {pid}" if pid else "another process"
            raise UserError(
                f"{self.folder} is being written by {who} (another ganbench {self.what}); wait for it to end, "
                "or choose another folder"
            ) from None
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):  # a file system without locks
                print(f"ganbench: note: {self.folder}: this file system cannot lock files ({e.strerror}); "
                      "nothing stops a second writer here", file=sys.stderr)
                return self
            raise
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass  # the PID is a courtesy for messages; the lock itself is held
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        import fcntl

        try:
            if self._created:  # a folder this lock made, left holding nothing else (the command failed early)
                try:
                    if [p.name for p in self.folder.iterdir()] == [LOCK_NAME]:
                        self.path.unlink()
                        self.folder.rmdir()
                except OSError:
                    pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def writer_pid(folder: str | os.PathLike) -> int | None:
    """The PID of the process holding ``folder``'s lock, or None when nobody writes it (never takes the lock).

    Reads the kernel's lock table (``/proc/locks``) for the lock file's inode. Where there is no such table,
    the PID the last holder wrote is given when that process is still alive.
    """
    path = Path(folder) / LOCK_NAME
    try:
        st = path.stat()
    except OSError:
        return None
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            table = f.read()
    except OSError:
        table = None
    if table is not None:
        for line in table.splitlines():
            parts = line.split()
            # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (a blocked waiter's line has "->" after "1:")
            if "->" in parts or len(parts) < 6 or parts[1] != "FLOCK":
                continue
            try:
                pid = int(parts[4])
                major, minor, inode = parts[5].split(":")
                if int(inode) == st.st_ino and os.makedev(int(major, 16), int(minor, 16)) == st.st_dev:
                    return pid
            except ValueError:
                continue
        return None
    try:
        pid = int(path.read_text(encoding="ascii").strip() or "0")
        if pid > 0:
            os.kill(pid, 0)
            return pid
    except (OSError, ValueError):
        pass
    return None


def still_written_note(folder: str | os.PathLike) -> str | None:
    """One sentence for readers when ``folder`` is being written right now (None otherwise)."""
    pid = writer_pid(folder)
    if pid is None or pid == os.getpid():
        return None
    return f"{folder} is still being written by process {pid}: what is read now is a snapshot of an unfinished run"
