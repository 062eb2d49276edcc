"""Where GAN families come from, without importing torch: entry points and typed specs.

Every family, built-in or not, is a subclass of :class:`gans.models.GAN` found in one of three ways:

- **an installed entry point** in the group ``ganbench.gans`` (``name = "module:Class"``). ganbench's own
  eleven families are declared this way in its ``pyproject.toml``, exactly as a user's package declares
  its own; the name then works wherever a GAN name is accepted;
- **a file spec** ``PATH.py:CLASS`` typed on the command line;
- **a module spec** ``MODULE:CLASS`` typed on the command line (an importable module).

This module only reads installed metadata and parses specs; loading (which imports the family's code,
and torch) is :func:`gans.models.load_family`. Code is imported only from what the user typed or
installed: never from a run folder, a ``config.json``, a sweep file or a baseline.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Literal

from .base import UserError

__all__ = [
    "GROUP",
    "BUILTIN_DIST",
    "Spec",
    "entry_point_table",
    "family_names",
    "folder_name",
    "is_spec",
    "parse_spec",
]

#: the entry-point group families register under
GROUP = "ganbench.gans"
#: the distribution whose entry points are the built-in families
BUILTIN_DIST = "ganbench"


@dataclass(frozen=True)
class Spec:
    """A parsed GAN reference: an entry-point name, ``PATH.py:CLASS`` or ``MODULE:CLASS``."""

    kind: Literal["entry_point", "file", "module"]
    target: str  # the entry-point name, the absolute file path, or the module name
    attr: str = ""  # the class name (file and module specs)

    @property
    def text(self) -> str:
        """The canonical form: what to type to name this family again (files by absolute path)."""
        return self.target if self.kind == "entry_point" else f"{self.target}:{self.attr}"


@dataclass(frozen=True)
class EntryPointInfo:
    name: str
    value: str  # "module:Class"
    dist: str  # the distribution that declares it
    version: str


@functools.lru_cache(maxsize=1)
def entry_point_table() -> dict[str, EntryPointInfo]:
    """Installed ``ganbench.gans`` entry points by name. Where two distributions declare one name, the
    built-in one wins, else the first in sorted distribution order (``ganbench list`` shows the winner)."""
    from importlib.metadata import distributions

    found: dict[str, EntryPointInfo] = {}
    for dist in sorted(distributions(), key=lambda d: (d.metadata.get("Name") or "").lower() != BUILTIN_DIST):
        name = dist.metadata.get("Name") or "?"
        for ep in dist.entry_points:
            if ep.group == GROUP and ep.name not in found:
                found[ep.name] = EntryPointInfo(ep.name, ep.value, name, dist.version or "")
    return dict(sorted(found.items()))


def family_names() -> list[str]:
    """The names of the installed families (built-in ones included), sorted; imports nothing."""
    return list(entry_point_table())


def is_spec(text: str) -> bool:
    """True for ``PATH.py:CLASS`` and ``MODULE:CLASS`` (anything with a colon), False for a plain name."""
    return ":" in text


def folder_name(gan: str) -> str:
    """A family's name as a file or folder name: a registered name as it is; a spec (whose path would nest or
    escape the folder) as its class name and a short hash of the spec, e.g. ``TinyGAN-3f2a9c1b``."""
    if not is_spec(gan):
        return gan
    import hashlib

    return f"{gan.rpartition(':')[2]}-{hashlib.sha256(gan.encode()).hexdigest()[:8]}"


def parse_spec(text: str) -> Spec:
    """Parse a GAN reference as typed; a malformed one is a :class:`UserError` saying what is expected."""
    if not isinstance(text, str) or not text.strip():
        raise UserError("a GAN is named by a registered name (see `ganbench list`), PATH.py:CLASS or MODULE:CLASS")
    text = text.strip()
    if not is_spec(text):
        return Spec("entry_point", text)
    target, _, attr = text.rpartition(":")
    if not target or not attr.isidentifier():
        raise UserError(f"GAN {text!r}: expected PATH.py:CLASS or MODULE:CLASS (CLASS a Python name)")
    if target.endswith(".py") or os.sep in target or "/" in target:
        if not target.endswith(".py"):
            raise UserError(f"GAN {text!r}: a file spec names a .py file, e.g. my_gan.py:MyGAN")
        return Spec("file", os.path.abspath(os.path.expanduser(target)), attr)
    if not all(part.isidentifier() for part in target.split(".")):
        raise UserError(f"GAN {text!r}: {target!r} is neither a .py file nor a module name")
    return Spec("module", target, attr)
