"""The floor under every ganbench package: user errors, atomic writes, the cache folder, shared defaults.

Anything a user can cause (a wrong name, a missing file, a bad batch size) raises
:class:`UserError`. The command line prints its message on one line and exits with code 2;
library callers get an ordinary ``ValueError`` subclass. Nothing here imports torch at module
level, so the command line starts fast.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

__all__ = [
    "UserError",
    "DataError",
    "unknown_name",
    "DEFAULT_BATCH_SIZES",
    "DATASET_NAMES",
    "PRECISIONS",
    "check_batch_sizes",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_torch_save",
    "plain",
    "safe_torch_load",
    "read_jsonl",
    "cache_dir",
]

#: the batch sizes the main job compares (the course notes' 96 against a large 512)
DEFAULT_BATCH_SIZES = (96, 512)
#: the data sources' names, for help texts that must not import torch (a test checks them against the
#: data registry, ``gans.data.list_datasets()``)
DATASET_NAMES = (
    "auto",
    "celeba-h5",
    "digits",
    "fake",
    "fashion-mnist",
    "glyphs",
    "grid25",
    "image-folder",
    "mnist",
    "pattern1010",
    "photos",
    "ring8",
    "speech",
)
#: precision name → the autocast dtype's name in torch (None: no autocast)
PRECISIONS = {"fp32": None, "bf16": "bfloat16"}


class UserError(ValueError):
    """A mistake in what the user asked for; the message says how to fix it."""


class DataError(UserError):
    """Missing or malformed data; the message names the file and what was expected."""


def unknown_name(kind: str, name: str, valid: list[str] | tuple[str, ...]) -> UserError:
    """The standard error for a name that is not in a registry."""
    return UserError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(sorted(valid))}")


def check_batch_sizes(sizes: Any, *, flag: str = "--batch-sizes", at_least: int = 1) -> list[int]:
    """Distinct positive batch sizes in the order given; anything else is a :class:`UserError`."""
    out: list[int] = []
    for b in sizes or []:
        if isinstance(b, bool) or not isinstance(b, int) or b <= 0:
            raise UserError(f"{flag} must be positive integers, got {b!r}")
        if b not in out:
            out.append(b)
    if len(out) < at_least:
        if at_least == 2:
            raise UserError(f"{flag} needs at least two different sizes to compare, e.g. {flag} 96 512")
        raise UserError(f"{flag} needs at least {at_least} size(s)")
    return out


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """Save ``obj`` (as plain types: see :func:`plain`) so that it loads with ``weights_only=True``."""
    import torch

    buf = io.BytesIO()
    torch.save(plain(obj), buf)
    atomic_write_bytes(path, buf.getvalue())


def plain(obj: Any) -> Any:
    """``obj`` with NumPy arrays as tensors and NumPy scalars as Python numbers, containers rebuilt.

    What ``torch.load(weights_only=True)`` accepts: tensors, numbers, strings, None and containers of them.
    """
    import numpy as np
    import torch

    if isinstance(obj, torch.Tensor) or obj is None or type(obj) in (bool, int, float, str, bytes):
        return obj
    for t in (bool, int, float, str, bytes):  # subclasses (e.g. torch.__version__) as the plain type
        if isinstance(obj, t):
            return t(obj)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {plain(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj) if type(obj) in (list, tuple) else [plain(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def _unpickler_reason(message: str) -> str:
    """The specific reason in torch's weights-only refusal ("Unsupported global: GLOBAL x.Y was not an
    allowed global by default", "Unsupported operand 229", "Trying to load unsupported GLOBAL …"), without
    the rest, which advises loading the file unsafely or allow-listing the global: advice ganbench never gives
    for a file from someone else."""
    import re

    m = re.search(r"(Trying to load unsupported [^\n]*|Unsupported [^\n]*)", message)
    return m.group(1).split(". ")[0].strip().rstrip(".") if m else ""


def safe_torch_load(path: str | os.PathLike, what: str = "file") -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain values only, never code.

    A missing, unreadable or disallowed file is a :class:`UserError` naming it.
    """
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols before refusing the file
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path}: no {what} here") from None
    except IsADirectoryError:
        raise UserError(f"{path}: a folder, not a {what}") from None
    except pickle.UnpicklingError as e:
        reason = _unpickler_reason(str(e))
        raise UserError(
            f"{path}: refused to load this {what}: it holds something other than tensors and plain values"
            f"{f' ({reason[:200]})' if reason else ''}; it was not executed"
        ) from None
    except Exception as e:  # whatever bytes that are not a torch file make the unpickler raise (IndexError …)
        raise UserError(f"{path}: unreadable {what} ({type(e).__name__}: {str(e)[:200]})") from None


def read_jsonl(path: str | os.PathLike, type_: str | None = None) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, one per line, tolerant of what crashes and editors leave.

    A torn last line, a blank line, a line that is not JSON or not an object, and bytes that are
    not UTF-8 are skipped. With ``type_`` only records whose ``"type"`` equals it are given.
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
                continue
            if isinstance(rec, dict) and (type_ is None or rec.get("type") == type_):
                yield rec


def cache_dir() -> Path:
    """Where derived artefacts (trained feature extractors, real statistics, speech) are cached.

    ``GANBENCH_CACHE`` overrides the default ``~/.cache/ganbench``.
    """
    root = os.environ.get("GANBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ganbench"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
