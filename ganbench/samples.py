"""Reading ``ganbench diagnose``'s sample sets: image folders, ``.npy``/``.npz``/``.pt`` files and run folders.

Inputs (``--real`` and ``--fake``):

* a folder of images (.png/.jpg/.jpeg/.gif), all of one size and one mode (grey or colour): when it holds
  more files than needed, a random subset (seeded by ``--seed``; the output records it under ``sampling``) is
  read, never the first files in name order (exported data sets often name files by class), and only those
  files are opened, with a progress bar from ``PROGRESS_MIN_FILES`` files on;
* ``.npy`` / ``.npz`` (the array under ``x``, ``samples``, ``images`` or the only/first array) /
  ``.pt`` (a tensor, or a dict holding one under those keys): images ``(N, C, H, W)``,
  ``(N, H, W)`` or ``(N, H, W, C)`` (C ∈ {1, 3}); vectors ``(N, D)`` for toys. Image values are
  read as uint8 0–255, floats in [0, 1], or floats in [−1, 1] (tanh outputs) only when that is
  unambiguous (integers within 0–255 with some value above 1; floats within [0, 1]; floats within
  [−1, 1] reaching below −0.5) or given with ``--value-range``; anything else exits 2 naming the
  range seen;
* a run directory (``--fake`` only; its last checkpoint is sampled via ``gans.training.load_run_gan``);
* a data-set name such as ``digits`` or ``ring8`` (``--real`` only): its train split is the
  reference and its test split the held-out ceiling.

When ``--real`` is a file or folder, it is split in half at random (seeded): one half is the
reference, the other the held-out ceiling.

Bad input stops before anything more is read (one line, exit 2): non-finite values, values outside the
image range, too few samples (fewer than ``MIN_SAMPLES``), an explicit ``--n`` above what a set holds, a
fake set whose per-sample shape differs from the real one's (checked on the first real file or the
array's header before the real samples are read). ``.npy`` files are memory-mapped, so only the drawn
rows are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gans.base import UserError, safe_torch_load
from gans.bounds import array_file_header, check_image_pixels, check_sample_values, to_8bit

if TYPE_CHECKING:  # torch and numpy are imported when a command runs, so that --help stays fast
    import torch

__all__ = ["load_samples", "dataset_names", "IMAGE_EXTS", "MIN_SAMPLES", "DEFAULT_N"]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".gif")
PROGRESS_MIN_FILES = 2000  # folders read with a progress bar (on a terminal) from this many files on
MIN_SAMPLES = 6  # PRDC's k = 5 needs k + 1 samples per set (diagnostics.evaluate checks the same)
DEFAULT_N = 2000
GREY_MODES = ("L", "1", "I;16", "I", "LA")
ARRAY_KEYS = ("x", "samples", "images", "fake", "real", "arr_0")


RANGES = {"0,1": (0.0, 1.0), "0,255": (0.0, 255.0), "-1,1": (-1.0, 1.0)}


def _image_range(lo: float, hi: float, is_int: bool, is_uint8: bool, where: str, given: str) -> tuple[float, float]:
    """The value range (lo, hi) of an image array: as given, or read off the values when unambiguous."""
    tol = 1e-6
    if given != "auto":
        a, b = RANGES[given]
        if lo < a - 1e-3 * (b - a) or hi > b + 1e-3 * (b - a):
            raise UserError(f"{where}: --value-range {given} but the values span [{lo:.4g}, {hi:.4g}]")
        return a, b
    if is_uint8:
        return 0.0, 255.0
    if is_int:
        if lo >= 0 and hi <= 255 and hi > 1:
            return 0.0, 255.0
        raise UserError(
            f"{where}: integer images with values in [{lo:.4g}, {hi:.4g}] are ambiguous (0–255 expected); "
            "pass --value-range"
        )
    if lo >= -tol and hi <= 1 + tol:
        return 0.0, 1.0
    if lo >= -1 - tol and hi <= 1 + tol and lo <= -0.5:
        return -1.0, 1.0
    raise UserError(
        f"{where}: float images with values in [{lo:.4g}, {hi:.4g}] fit neither [0, 1] nor [-1, 1] unambiguously; "
        "rescale them or pass --value-range 0,1 / -1,1 / 0,255"
    )


def _to_float_samples(arr: Any, where: str, value_range: str = "auto") -> torch.Tensor:
    import numpy as np
    import torch

    if not isinstance(arr, torch.Tensor):
        arr = np.asarray(arr)
        if arr.dtype.kind not in "biufc":  # text, dates, records: nothing torch can hold
            raise UserError(f"{where}: expected a numeric array, got dtype {arr.dtype}")
    t = torch.as_tensor(arr) if not isinstance(arr, torch.Tensor) else arr.detach().cpu()
    if (
        t.dtype == torch.bool
        or t.is_complex()
        or not (t.is_floating_point() or t.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64))
    ):
        raise UserError(f"{where}: expected a numeric array, got dtype {t.dtype}")
    if t.ndim < 2:
        raise UserError(f"{where}: expected samples of shape (N, D) or images (N, C, H, W), got shape {tuple(t.shape)}")
    if t.ndim > 4:
        raise UserError(f"{where}: expected at most 4 dimensions (N, C, H, W), got shape {tuple(t.shape)}")
    if t.is_floating_point():
        bad = ~torch.isfinite(t.reshape(t.shape[0], -1)).all(dim=1)
        if bool(bad.any()):
            raise UserError(
                f"{where}: {int(bad.sum())} of {t.shape[0]} samples contain NaN or Inf (a diverged generator?)"
            )
    is_uint8 = t.dtype == torch.uint8
    is_int = not t.is_floating_point()
    t = t.float()
    if t.ndim == 3:
        t = t.unsqueeze(1)  # (N, H, W) grey images
    elif t.ndim == 4 and t.shape[1] not in (1, 3) and t.shape[3] in (1, 3):
        t = t.permute(0, 3, 1, 2).contiguous()  # channels-last
    if t.ndim == 4:
        if t.shape[1] not in (1, 3):
            raise UserError(f"{where}: images must have 1 or 3 channels, got shape {tuple(t.shape)}")
        finite = t[torch.isfinite(t)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.numel() else (0.0, 1.0)
        a, b = _image_range(lo, hi, is_int, is_uint8, where, value_range)
        if (a, b) != (0.0, 1.0):
            t = (t - a) / (b - a)
    return t


def _sample_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The per-sample shape :func:`_to_float_samples` makes of an array of ``shape`` (grey (N, H, W) gets a channel;
    channels-last is moved first)."""
    if len(shape) == 3:
        return (1, *shape[1:])
    if len(shape) == 4 and shape[1] not in (1, 3) and shape[3] in (1, 3):
        return (shape[3], shape[1], shape[2])
    return tuple(shape[1:])


def _subset(total: int, n: int | None, seed: int) -> Any:
    """The rows drawn from a set of ``total``: all in order when it holds at most ``n``, else ``n`` at random."""
    import torch

    if n is None or total <= n:
        return None
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed + 17))[:n]


def _load_array_file(
    path: Path, value_range: str = "auto", *, n: int | None = None, seed: int = 0, require: int | None = None
) -> tuple[torch.Tensor, int]:
    """The samples of an array file (a random ``n`` of them when it holds more) and how many it holds."""
    import numpy as np
    import torch

    suffix = path.suffix.lower()
    idx = None
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False, mmap_mode="r")  # only the drawn rows are read
            _check_drawn(path, tuple(arr.shape), arr.dtype.itemsize, n)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                if not keys:
                    raise UserError(f"{path}: the .npz holds no arrays")
                key = next((k for k in ARRAY_KEYS if k in keys), keys[0])
                shape, dtype = array_file_header(path, key)  # the size from its header, before decompressing
                check_sample_values(f"{path} ({key})", shape, dtype.itemsize)
                arr = z[key]
        elif suffix in (".pt", ".pth"):
            obj = safe_torch_load(path, ".pt file")
            if isinstance(obj, dict):
                key = next((k for k in ARRAY_KEYS if k in obj and isinstance(obj[k], torch.Tensor)), None)
                if key is None:
                    raise UserError(f"{path}: a dict without a tensor under {', '.join(ARRAY_KEYS)}")
                obj = obj[key]
            if not isinstance(obj, torch.Tensor):
                raise UserError(f"{path}: expected a tensor, got {type(obj).__name__}")
            if obj.layout != torch.strided:
                raise UserError(f"{path}: a {obj.layout} tensor; save a dense one (tensor.to_dense())")
            arr = obj
        else:
            raise UserError(f"{path}: unsupported file type {suffix!r}; use an image folder, .npy, .npz or .pt")
        total = int(arr.shape[0]) if getattr(arr, "ndim", 0) >= 1 else 0
        _check_count(path, total, require)
        idx = _subset(total, n, seed)
        if idx is not None:
            arr = arr[idx] if isinstance(arr, torch.Tensor) else np.asarray(arr[idx.numpy()])
        elif isinstance(arr, np.memmap):
            arr = np.array(arr)  # read (and own) the rows
    except UserError:
        raise
    except Exception as e:
        raise UserError(
            f"{path}: unreadable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from None
    return _to_float_samples(arr, str(path), value_range), total


def _check_drawn(path: Path, shape: tuple[int, ...], itemsize: int, n: int | None) -> None:
    """The rows that will be read (at most ``n``) must be within the sample-set bound."""
    if shape:
        rows = shape[0] if n is None else min(shape[0], n)
        check_sample_values(str(path), (rows, *shape[1:]), itemsize)


def _check_count(path: Path, total: int, require: int | None) -> None:
    if total < MIN_SAMPLES:
        what = "a single sample" if total == 1 else f"{total} samples"
        raise UserError(f"{path}: holds {what}; diagnose needs at least {MIN_SAMPLES} per set (PRDC's k = 5 + 1)")
    if require is not None and total < require:
        raise UserError(f"{path}: --n {require} but it holds {total} samples; pass --n {total} or fewer")


def _image_files(path: Path) -> list[Path]:
    files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_EXTS and f.is_file())
    if not files:
        raise UserError(f"{path}: no images (.png, .jpg, .jpeg, .gif) in this folder")
    return files


def _mode_of(im: Any) -> str:
    return "L" if im.mode in GREY_MODES else "RGB"


def _peek_shape(path: Path) -> tuple[int, ...] | None:
    """The per-sample shape of a folder's first image or a .npy file's header, without reading the samples."""
    import numpy as np
    from PIL import Image

    try:
        if path.is_dir() and not _is_run_dir(path):
            with Image.open(_image_files(path)[0]) as im:
                return (1 if _mode_of(im) == "L" else 3, im.size[1], im.size[0])
        if path.suffix.lower() == ".npy":
            return _sample_shape(tuple(np.load(path, allow_pickle=False, mmap_mode="r").shape))
    except UserError:
        raise
    except Exception:
        return None  # unreadable: the full read says why
    return None


def _load_image_folder(
    path: Path, n: int, *, seed: int = 0, require: int | None = None
) -> tuple[torch.Tensor, int]:
    """``n`` images of a folder drawn at random (seeded; all of them, in name order, when it holds at most ``n``),
    and how many it holds. Only the drawn files are opened; one size and one mode (grey or colour) throughout."""
    import sys

    import numpy as np
    import torch
    from PIL import Image
    from tqdm import tqdm

    files = _image_files(path)
    _check_count(path, len(files), require)
    idx = _subset(len(files), n, seed)
    chosen = files if idx is None else [files[i] for i in idx.tolist()]
    out, mode, size, first = [], None, None, None
    bar = tqdm(
        chosen, desc=f"reading {path.name}", unit="img", file=sys.stderr, leave=False,
        disable=True if len(chosen) < PROGRESS_MIN_FILES else None,
    )
    for f in bar:
        try:
            with Image.open(f) as im:  # the header only: sizes are checked before anything is decoded
                check_image_pixels(f, im.size)
                m = _mode_of(im)
                if mode is None:
                    mode, first = m, f
                    check_sample_values(f"{path} ({len(chosen)} images like {f.name})",
                                        (len(chosen), 1 if m == "L" else 3, im.size[1], im.size[0]), 4)
                elif m != mode:
                    raise UserError(
                        f"{f}: a {'grey' if m == 'L' else 'colour'} image ({im.mode}) in a folder of "
                        f"{'grey' if mode == 'L' else 'colour'} images (first: {first.name}); convert them to one mode"
                    )
                arr = np.asarray(to_8bit(im, f).convert(mode), dtype=np.uint8)  # 16-bit: by its real range
        except UserError:
            raise
        except Exception as e:
            raise UserError(f"{f}: unreadable image ({type(e).__name__}: {e})") from None
        if size is None:
            size = arr.shape
        elif arr.shape != size:
            raise UserError(
                f"{f}: image size {arr.shape[:2]} differs from {first.name}'s {size[:2]}; all images must share "
                "one size"
            )
        out.append(arr)
    x = torch.from_numpy(np.stack(out))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    return x.float() / 255.0, len(files)


def _sampling(total: int, drawn: int, seed: int) -> dict[str, Any]:
    """How a set was drawn from a file or folder (recorded in the output)."""
    how = "random" if drawn < total else "all"
    return {"total": total, "drawn": drawn, "how": how, "seed": seed + 17 if how == "random" else None}


def _is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def load_samples(
    spec: str, *, n: int, role: str, seed: int = 0, device: str = "cpu", value_range: str = "auto",
    require: int | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Samples from a path (file, folder, run directory); returns (samples, info).

    A file or folder holding more than ``n`` samples gives a random subset of ``n`` (seeded by ``seed``; ``info``
    records it under ``sampling``); one holding fewer than ``require`` (or than ``MIN_SAMPLES``) is an error.
    """
    import torch

    path = Path(spec)
    if not path.exists():
        raise UserError(f"--{role} {spec}: no such file or folder" + (" (or data-set name)" if role == "real" else ""))
    if _is_run_dir(path):
        if role != "fake":
            raise UserError(
                f"--real {spec} is a run directory; give real samples or a data-set name (the run's data set: "
                "see its config.json)"
            )
        from gans.training.rundir import load_run_gan
        from gans.training.runtime import resolve_device

        gan, config = load_run_gan(path, device=resolve_device(device))
        g = torch.Generator(device="cpu").manual_seed(seed + 424_242)
        x = gan.sample(n, generator=g).float().cpu()
        return x, {
            "source": "run",
            "run": str(path),
            "dataset": config.get("dataset"),
            "gan": config.get("gan"),
            "data_root": (config.get("train") or {}).get("data_root"),
        }
    if path.is_dir():
        x, total = _load_image_folder(path, n, seed=seed, require=require)
        return x, {"source": "folder", "path": str(path), "sampling": _sampling(total, x.shape[0], seed)}
    x, total = _load_array_file(path, value_range, n=n, seed=seed, require=require)
    return x, {"source": "file", "path": str(path), "sampling": _sampling(total, x.shape[0], seed)}


def dataset_names() -> list[str]:
    from gans.data import list_datasets

    return list_datasets()
