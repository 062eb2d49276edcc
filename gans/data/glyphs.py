"""``glyphs``: 70,000 handwritten-style 28×28 digits rendered from the fonts matplotlib ships.

An embedded MNIST stand-in: no download, the same shape and split sizes as MNIST (60,000 train,
10,000 test, labels 0–9), and varied enough that an MLP GAN learns it without memorising it.

Recipe (deterministic; every random draw comes from one seeded ``torch.Generator``):

1. *Templates*: each digit is drawn with PIL from every TrueType font in matplotlib's
   ``mpl-data/fonts/ttf`` that has the ten digits (the DejaVu families, STIX, Computer Modern)
   at three stroke widths, cropped to its ink, scaled so its longer side spans 20 of 28 pixels
   (MNIST's normalisation) and centred on its centre of mass, on a 32×32 canvas.
2. *Per sample* (vectorised, in chunks): a random template of the label, a random affine map
   (rotation ±12°, scale 0.8–1.1 per axis, shear ±0.3, shift ±1.5 px) plus an elastic
   distortion (a smooth random displacement field: 4×4 Gaussian noise upsampled bicubically),
   resampled at 28×28 with ``grid_sample``; then a random gain
   saturates the stroke centres as pen ink does.

The result is cached under ``gans.base.cache_dir()`` (``glyphs-<key>.pt``, written atomically),
keyed by a hash of the recipe version, its parameters and the font files' bytes; a cold build
shows a progress bar and takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..base import DataError, cache_dir
from ..cache import load_checked, save_checked
from .core import register_dataset, tensor_data

__all__ = ["RECIPE", "glyph_fonts", "glyph_arrays", "glyphs_cache_path", "render_glyphs"]

#: everything that decides the images; any change here gives a new cache key
RECIPE = {
    "version": 1,
    "n_train": 60_000,
    "n_test": 10_000,
    "seed_train": 20_240_601,
    "seed_test": 20_240_602,
    "canvas": 32,  # template size (resampled to 28 × 28)
    "box": 20 / 28,  # the glyph's longer side as a fraction of the image (MNIST: 20 of 28 px)
    "font_px": 120,  # PIL font size the templates are drawn at
    "strokes": [0, 2, 5],  # PIL stroke widths at font_px
    "rotate_deg": 12.0,
    "scale": [0.8, 1.1],
    "shear": 0.3,
    "shift_px": 1.5,
    "elastic": 0.06,  # displacement amplitude in normalised coordinates ([-1, 1] spans the image)
    "elastic_grid": 4,
    "gain": [1.2, 2.0],
}

_DIGITS = "0123456789"


#: text faces in matplotlib's mpl-data/fonts/ttf (its symbol faces and DejaVu's *Display faces are left out)
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmti10.ttf",
)


def glyph_fonts() -> list[Path]:
    """The fonts of :data:`FONT_FILES` present in this matplotlib (DejaVu at least), in that order."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts = [folder / name for name in FONT_FILES if (folder / name).is_file()]
    if not any(p.name.startswith("DejaVu") for p in fonts):
        raise DataError(f"glyphs: matplotlib's DejaVu fonts are missing from {folder}")
    return fonts


def _cache_key(fonts: list[Path]) -> str:
    h = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode())
    for p in fonts:
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


def glyphs_cache_path() -> Path:
    return cache_dir() / f"glyphs-{_cache_key(glyph_fonts())}.pt"


def _templates(fonts: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, 64, 64) float templates in [0, 1] and their (T,) digit labels."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    size, px = RECIPE["canvas"], RECIPE["font_px"]
    out, labels = [], []
    for path in fonts:
        font = ImageFont.truetype(str(path), px)
        for d, ch in enumerate(_DIGITS):
            for stroke in RECIPE["strokes"]:
                img = Image.new("L", (3 * px, 3 * px), 0)
                ImageDraw.Draw(img).text((px, px // 2), ch, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
                a = np.asarray(img, dtype=np.float32) / 255.0
                rows, cols = np.nonzero(a > 0.05)
                a = a[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
                t = torch.from_numpy(np.ascontiguousarray(a))[None, None]
                h, w = t.shape[2:]
                k = RECIPE["box"] * size / max(h, w)
                nh, nw = max(1, round(h * k)), max(1, round(w * k))
                t = F.interpolate(t, size=(nh, nw), mode="area")[0, 0]
                canvas = torch.zeros(size, size)
                # centre of mass at the canvas centre (MNIST's normalisation)
                ys, xs = torch.arange(nh, dtype=torch.float32), torch.arange(nw, dtype=torch.float32)
                m = t.sum().clamp_min(1e-6)
                cy, cx = float((t.sum(1) * ys).sum() / m), float((t.sum(0) * xs).sum() / m)
                top = min(max(0, round(size / 2 - cy - 0.5)), size - nh)
                left = min(max(0, round(size / 2 - cx - 0.5)), size - nw)
                canvas[top : top + nh, left : left + nw] = t
                out.append(canvas)
                labels.append(d)
    return torch.stack(out), torch.tensor(labels)


def render_glyphs(n: int, seed: int, templates: torch.Tensor, template_labels: torch.Tensor, *, chunk: int = 4096,
                  progress=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` distorted digits as uint8 (n, 1, 28, 28) and their int64 labels, from ``seed``."""
    r = RECIPE
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    by_digit = [torch.nonzero(template_labels == d).flatten() for d in range(10)]
    per = torch.tensor([len(b) for b in by_digit])
    table = torch.nn.utils.rnn.pad_sequence(by_digit, batch_first=True)  # (10, T_d)
    pick = (torch.rand(n, generator=g) * per[labels]).long().clamp_max(per[labels] - 1)
    tidx = table[labels, pick]
    # affine: rotation, per-axis scale, shear, shift (all drawn up front: chunking never changes a draw)
    rot = (torch.rand(n, generator=g) * 2 - 1) * math.radians(r["rotate_deg"])
    lo, hi = r["scale"]
    sx = lo + (hi - lo) * torch.rand(n, generator=g)
    sy = lo + (hi - lo) * torch.rand(n, generator=g)
    shear = (torch.rand(n, generator=g) * 2 - 1) * r["shear"]
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * (2 * r["shift_px"] / 28)
    eg = r["elastic_grid"]
    noise = torch.randn(n, 2, eg, eg, generator=g) * r["elastic"]
    glo, ghi = r["gain"]
    gain = glo + (ghi - glo) * torch.rand(n, generator=g)
    # output → template coordinates in grid_sample's normalised [-1, 1] units: p_in = A · p_out − shift + elastic
    cos, sin = torch.cos(rot), torch.sin(rot)
    a = torch.stack([cos / sx, (-sin + shear * cos) / sx, sin / sy, (cos + shear * sin) / sy], 1)  # (n, 4)
    size = 28
    c = (torch.arange(size, dtype=torch.float32) * 2 + 1) / size - 1  # pixel centres (align_corners=False)
    gy, gx = torch.meshgrid(c, c, indexing="ij")
    up = _bicubic_matrix(eg, size)  # (28, eg): separable bicubic upsampling of the noise field
    out = torch.empty(n, 1, size, size, dtype=torch.uint8)
    for i in range(0, n, chunk):
        j = min(n, i + chunk)
        ai = a[i:j, :, None, None]
        disp = torch.einsum("hp,bcpq,wq->bhwc", up, noise[i:j], up)  # (b, 28, 28, 2)
        x_in = ai[:, 0] * gx + ai[:, 1] * gy - shift[i:j, 0, None, None] + disp[..., 0]
        y_in = ai[:, 2] * gx + ai[:, 3] * gy - shift[i:j, 1, None, None] + disp[..., 1]
        grid = torch.stack([x_in, y_in], -1)
        x = F.grid_sample(templates[tidx[i:j]].unsqueeze(1), grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)
        x = (x * gain[i:j, None, None, None]).clamp_(0, 1)
        out[i:j] = (x * 255).round_().to(torch.uint8)
        if progress is not None:
            progress.update(j - i)
    return out, labels


def _bicubic_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in): bicubic upsampling with corners aligned, as a matrix (applied on both axes)."""
    eye = torch.eye(n_in).reshape(n_in, 1, n_in, 1)  # one impulse per input point
    cols = F.interpolate(eye, size=(n_out, 1), mode="bicubic", align_corners=True)[:, 0, :, 0]  # (n_in, n_out)
    return cols.t().contiguous()


def _build() -> dict[str, torch.Tensor]:
    from tqdm.auto import tqdm

    fonts = glyph_fonts()
    templates, tlabels = _templates(fonts)
    n_tr, n_te = RECIPE["n_train"], RECIPE["n_test"]
    with tqdm(total=n_tr + n_te, desc="rendering glyphs (once; cached)", unit="img", unit_scale=True,
              leave=False) as bar:
        xtr, ytr = render_glyphs(n_tr, RECIPE["seed_train"], templates, tlabels, progress=bar)
        xte, yte = render_glyphs(n_te, RECIPE["seed_test"], templates, tlabels, progress=bar)
    return {"train_x": xtr, "train_y": ytr, "test_x": xte, "test_y": yte}


def glyph_arrays() -> tuple[dict[str, torch.Tensor], Path]:
    """The rendered arrays and the cache file. The cache entry carries a content hash checked on load
    (``gans.cache``), and its arrays must have the recipe's counts and shapes; anything else is rebuilt
    with one line saying so."""
    path = glyphs_cache_path()
    blob = load_checked(path, "glyphs")
    if blob is not None:
        problem = _blob_problem(blob)
        if problem is None:
            return blob, path
        print(f"ganbench: note: glyphs cache entry {path.name} {problem}; rebuilding it", file=sys.stderr)
    blob = _build()
    save_checked(blob, path)
    return blob, path


def _blob_problem(blob: Any) -> str | None:
    """Why a (hash-checked) glyphs cache entry does not hold the recipe's data set, or None."""
    if not isinstance(blob, dict):
        return "is not a glyphs data set"
    for split, n in (("train", RECIPE["n_train"]), ("test", RECIPE["n_test"])):
        x, y = blob.get(f"{split}_x"), blob.get(f"{split}_y")
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            return f"has no {split} arrays"
        if tuple(x.shape) != (n, 1, 28, 28) or tuple(y.shape) != (n,):
            return f"holds {split} arrays of shape {tuple(x.shape)} / {tuple(y.shape)}, not ({n}, 1, 28, 28) / ({n},)"
    return None


@register_dataset(
    "glyphs", "image", "70,000 handwritten-style 28×28 digits rendered from matplotlib's fonts (embedded, cached)"
)
def _glyphs(opts, shape, device):
    blob, path = glyph_arrays()
    return tensor_data(
        "glyphs",
        shape,
        device,
        opts,
        blob["train_x"],
        blob["train_y"],
        blob["test_x"],
        blob["test_y"],
        10,
        {"source": "matplotlib's fonts, distorted (gans/data/glyphs.py)", "recipe": RECIPE["version"],
         "cache": path.name},
    )
