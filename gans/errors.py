"""User-facing errors.

Anything a user can cause (a wrong name, a missing file, a bad batch size) raises
:class:`UserError`. The command line prints its message on one line and exits with
code 2; library callers get an ordinary ``ValueError`` subclass.
"""

from __future__ import annotations

__all__ = ["UserError", "DataError", "unknown_name"]


class UserError(ValueError):
    """A mistake in what the user asked for; the message says how to fix it."""


class DataError(UserError):
    """Missing or malformed data; the message names the file and what was expected."""


def unknown_name(kind: str, name: str, valid: list[str] | tuple[str, ...]) -> UserError:
    """The standard error for a name that is not in a registry."""
    return UserError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(sorted(valid))}")
