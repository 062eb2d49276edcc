"""Bounds checked before work: what ganbench agrees to decode, load or parse, and how images scale.

Each limit is checked from what a file's header says (an image's size, an ``.npy``/``.npz`` member's
shape and dtype, a JSON file's byte count) before anything is decoded or allocated; a file over a limit
is a :class:`~gans.base.UserError` whose message names the limit. Nothing here imports torch.

| limit | value | where |
|---|---|---|
| :data:`MAX_IMAGE_PIXELS` | 67,108,864 pixels (8192²) per image | image folders (``diagnose``, ``image-folder``) |
| :data:`MAX_SAMPLE_VALUES` | 536,870,912 values per sample set | ``diagnose`` image folders and arrays |
| :data:`MAX_JSON_BYTES` | 32 MiB per file (pytest-benchmark runs are kilobytes) | benchmark JSON files |
| :data:`MAX_JSON_DEPTH` | 64 levels of nesting | the same |

16-bit images (Pillow modes ``I;16*`` and ``I``) scale by their real range, 0–65535, to 8 bits
(:func:`to_8bit`), instead of being clipped to white by Pillow's conversion to ``L``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .base import UserError

__all__ = [
    "MAX_IMAGE_PIXELS",
    "MAX_SAMPLE_VALUES",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "check_image_pixels",
    "check_sample_values",
    "to_8bit",
    "array_file_header",
    "load_json_bounded",
    "json_depth",
]

#: the largest image decoded (pixels); Pillow's own bomb error starts only at 178,956,970
MAX_IMAGE_PIXELS = 8192 * 8192
#: the most values (samples × channels × height × width) one sample set may hold once decoded
MAX_SAMPLE_VALUES = 2**29
#: the largest JSON file parsed
MAX_JSON_BYTES = 32 * 2**20
#: the deepest nesting of objects and lists accepted in a JSON file
MAX_JSON_DEPTH = 64


def check_image_pixels(path: str | os.PathLike, size: tuple[int, int]) -> None:
    """Refuse an image whose header says it is larger than :data:`MAX_IMAGE_PIXELS` (before decoding it)."""
    w, h = int(size[0]), int(size[1])
    if w * h > MAX_IMAGE_PIXELS:
        raise UserError(
            f"{path}: a {w}×{h} image ({w * h:,} pixels) is over the limit of {MAX_IMAGE_PIXELS:,} pixels per image; "
            "downscale it"
        )


def check_sample_values(what: str, shape: tuple[int, ...], itemsize: int = 1) -> None:
    """Refuse a sample set of ``shape`` (samples first) holding more than :data:`MAX_SAMPLE_VALUES` values."""
    n = 1
    for s in shape:
        n *= max(int(s), 0)
    if n > MAX_SAMPLE_VALUES:
        raise UserError(
            f"{what}: {' × '.join(f'{int(s):,}' for s in shape)} = {n:,} values ({n * itemsize / 2**30:.1f} GiB) is "
            f"over the limit of {MAX_SAMPLE_VALUES:,} values per sample set; pass a smaller --n or smaller samples"
        )


_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def to_8bit(im: Any, path: str | os.PathLike = "image") -> Any:
    """``im`` as an 8-bit Pillow image when it is a 16-bit (``I;16*``/``I``) or float (``F``) one, scaled by its
    real range (0–65535; floats 0–1); any other image is returned as it is."""
    import numpy as np
    from PIL import Image

    if im.mode not in _SIXTEEN_BIT and im.mode != "F":
        return im
    a = np.asarray(im).astype(np.float64)
    if im.mode == "F":
        a = np.clip(np.nan_to_num(a, nan=0.0), 0.0, 1.0) * 255.0
    else:
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise UserError(
                f"{path}: a 32-bit integer image with values {a.min():.0f}…{a.max():.0f}, outside 0…65535; "
                "save it as 8- or 16-bit"
            )
        a = a * (255.0 / 65535.0)
    return Image.fromarray(np.round(a).astype(np.uint8))  # mode L


def array_file_header(path: str | os.PathLike, member: str | None = None) -> tuple[tuple[int, ...], Any]:
    """(shape, dtype) of an ``.npy`` file, or of ``member`` of an ``.npz``, read from its header only."""
    import zipfile

    import numpy as np

    def read(f: Any) -> tuple[tuple[int, ...], Any]:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            shape, _, dtype = np.lib.format._read_array_header(f, version)  # noqa: SLF001 - (3, 0)
        return tuple(int(s) for s in shape), dtype

    if member is None:
        with open(path, "rb") as f:
            return read(f)
    with zipfile.ZipFile(path) as z:
        name = member if member.endswith(".npy") else f"{member}.npy"
        with z.open(name) as f:
            return read(f)


def json_depth(obj: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """The nesting depth of a parsed JSON value (iterative; stops counting past ``limit`` + 1)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, (dict, list)):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return deepest


def load_json_bounded(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Parse a JSON file no larger than :data:`MAX_JSON_BYTES` and nested no deeper than :data:`MAX_JSON_DEPTH`;
    anything else (and invalid JSON) is a :class:`UserError` naming the file and the limit."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise UserError(
            f"{path}: a {size / 2**20:,.0f} MiB {what}, over the limit of {MAX_JSON_BYTES // 2**20} MiB per file"
        )
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except RecursionError:
        raise UserError(f"{path}: {what} nested deeper than the limit of {MAX_JSON_DEPTH} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({str(e)[:200]})") from None
    if json_depth(obj) > MAX_JSON_DEPTH:
        raise UserError(f"{path}: {what} nested deeper than the limit of {MAX_JSON_DEPTH} levels")
    return obj
