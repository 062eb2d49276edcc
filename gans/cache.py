"""Cache entries that prove what they hold: a SHA-256 of the content, stored with it and checked on load.

Every derived artefact under :func:`gans.base.cache_dir` (the rendered glyphs, real-data statistics, the
classifier extractor, the contrastive encoder) is saved by :func:`save_checked` as
``{"format": CACHE_FORMAT, "sha256": <hash of content>, "content": <content>}`` and read back by
:func:`load_checked`, which recomputes the hash over the loaded tensors and values. A flipped or zeroed
region of the file, a truncated file, an entry written by an older ganbench (no hash) or anything that
is not such an entry is *not used*: the loader returns None, prints one line saying why, and the caller
rebuilds the entry. Files load with ``weights_only=True`` (data only, never code).
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
from pathlib import Path
from typing import Any

from .base import atomic_torch_save

__all__ = ["CACHE_FORMAT", "content_hash", "save_checked", "load_checked"]

CACHE_FORMAT = "ganbench-cache-1"


def content_hash(obj: Any) -> str:
    """SHA-256 over a tree of tensors and plain values: keys, types, dtypes, shapes and every byte."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    import numpy as np
    import torch

    if isinstance(obj, torch.Tensor):
        if obj.layout != torch.strided:
            obj = obj.to_dense()
        t = obj.detach().cpu().contiguous()
        h.update(f"T|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, np.ndarray):
        _feed(h, torch.from_numpy(np.ascontiguousarray(obj)))
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}|".encode())
        for k in sorted(obj, key=repr):
            _feed(h, k)
            _feed(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(f"{'L' if isinstance(obj, list) else 'U'}{len(obj)}|".encode())
        for v in obj:
            _feed(h, v)
    elif isinstance(obj, bool) or obj is None:
        h.update(f"B{obj!r}|".encode())
    elif isinstance(obj, int):
        h.update(f"I{obj}|".encode())
    elif isinstance(obj, float):
        h.update(b"F" + struct.pack("<d", obj))
    elif isinstance(obj, str):
        b = obj.encode("utf-8", "surrogatepass")
        h.update(f"S{len(b)}|".encode() + b)
    elif isinstance(obj, bytes):
        h.update(f"Y{len(obj)}|".encode() + obj)
    else:
        h.update(f"O{type(obj).__name__}|{obj!r}|".encode())


def save_checked(content: Any, path: str | os.PathLike) -> None:
    """Save ``content`` (tensors and plain values) atomically with its content hash."""
    from .base import plain

    content = plain(content)
    atomic_torch_save({"format": CACHE_FORMAT, "sha256": content_hash(content), "content": content}, path)


def load_checked(path: str | os.PathLike, what: str, *, quiet: bool = False) -> Any | None:
    """The content of a cache entry saved by :func:`save_checked`, or None when it is missing or cannot be
    trusted (then one line on stderr says why, and that it is rebuilt)."""
    import pickle
    import warnings

    import torch

    path = Path(path)
    if not path.is_file():
        return None
    why = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, IndexError, KeyError,
            AttributeError, TypeError, MemoryError, OverflowError, UnicodeDecodeError) as e:
        why = f"unreadable ({type(e).__name__})"
        blob = None
    if why is None:
        if not isinstance(blob, dict) or blob.get("format") != CACHE_FORMAT or "content" not in blob:
            why = "written without a content hash (an older ganbench, or not a cache entry)"
        else:
            try:
                ok = content_hash(blob["content"]) == blob.get("sha256")
            except Exception as e:  # a tensor that cannot be read back whole
                ok, why = False, f"unreadable ({type(e).__name__})"
            if not ok:
                why = why or "its content does not match its hash (damaged)"
            else:
                return blob["content"]
    if not quiet:
        print(f"ganbench: note: {what} cache entry {path.name} {why}; rebuilding it", file=sys.stderr)
    return None
