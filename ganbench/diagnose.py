"""``ganbench diagnose``: score any two sample sets (a thin shell over diagnostics.evaluate).

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

Real-data statistics in pytorch-fid's layout: ``--save-stats FILE.npz`` writes ``mu`` (D,) and ``sigma`` (D, D)
(float64) of the real reference features (the reference half of a file or folder, the train split of a data set;
without ``--fake``, of the ``--n`` real samples read), plus the extractor as extra keys (``extractor``,
``extractor_identity``, ``weights_hash``, ``n``). ``--real FILE.npz`` holding ``mu`` and ``sigma`` (ours or
pytorch-fid's) scores FID only (no samples: no ceiling, KID, PRDC or verdicts), with the features the file
records (``--features`` must agree with them; a file without that record, such as pytorch-fid's, needs
``--features`` and is noted as unchecked). Features trained on the real samples (``contrastive``,
``classifier``) cannot be rebuilt from statistics and are refused.

Bad input stops before anything more is read (one line, exit 2): non-finite values, values outside the
image range, too few samples (fewer than ``MIN_SAMPLES``), an explicit ``--n`` above what a set holds, a
fake set whose per-sample shape differs from the real one's (checked on the first real file or the
array's header before the real samples are read). ``.npy`` files are memory-mapped, so only the drawn
rows are read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gans.base import UserError, safe_torch_load
from gans.bounds import array_file_header, check_image_pixels, check_sample_values, to_8bit

if TYPE_CHECKING:  # torch and numpy are imported when a command runs, so that --help stays fast
    import torch

__all__ = ["add_commands", "load_samples", "cmd_diagnose"]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".gif")
PROGRESS_MIN_FILES = 2000  # folders read with a progress bar (on a terminal) from this many files on
MIN_SAMPLES = 6  # PRDC's k = 5 needs k + 1 samples per set (diagnostics.evaluate checks the same)
DEFAULT_N = 2000
GREY_MODES = ("L", "1", "I;16", "I", "LA")
ARRAY_KEYS = ("x", "samples", "images", "fake", "real", "arr_0")


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "diagnose",
        help="score two sample sets: FID, coverage, PRDC, NDB, modes, collapse verdict",
        description="Compare fake samples with real ones (every applicable metric, next to the real ceiling: held-out "
        "real data "
        "scored the same way) and give the collapse verdict. Exit codes: 0 ok, 2 bad input.",
        epilog="examples: ganbench diagnose --real digits --fake runs/mnist_mlp-…   |   ganbench diagnose --real "
        "real.npy --fake fake.npy --json",
    )
    p.add_argument(
        "--real",
        metavar="PATH|DATASET",
        help="real samples: image folder, .npy/.npz/.pt, or a data-set name (e.g. digits, fashion-mnist, ring8)",
    )
    p.add_argument(
        "--fake",
        metavar="PATH|RUN_DIR",
        help="fake samples: image folder, .npy/.npz/.pt, or a run directory (samples its last checkpoint)",
    )
    p.add_argument(
        "--features",
        default="auto",
        help="feature extractor: auto (classifier for a labelled data set; else inception when its weights are on "
        "disk; else contrastive for images, raw for vectors), classifier, contrastive, inception, random-conv, raw "
        "(default auto)",
    )
    p.add_argument(
        "--n",
        type=int,
        default=None,
        help=f"samples per set, drawn at random (seeded) from larger files and folders (default {DEFAULT_N}, fewer "
        "when a set is smaller; a --n you give above what the fake set holds is an error)",
    )
    p.add_argument(
        "--mixture", choices=["ring8", "grid25"], help="score 2-D points as this Gaussian mixture (modes, high quality)"
    )
    p.add_argument(
        "--gan",
        metavar="PATH.py:CLASS",
        help="the family of a --fake run directory trained from your own GAN (PATH.py:CLASS or MODULE:CLASS): "
        "ganbench never imports code named in a run folder, so name it here (installed families need nothing)",
    )
    p.add_argument("--data-root", metavar="PATH", help="where --real's data set lives (mnist, fashion-mnist)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed for sampling a run's generator and splitting --real files (default 0)"
    )
    p.add_argument(
        "--value-range",
        choices=["auto", "0,1", "0,255", "-1,1"],
        default="auto",
        help="value range of image files (default auto: only when unambiguous, else exit 2 naming the range seen)",
    )
    p.add_argument(
        "--save-stats",
        metavar="FILE.npz",
        help="write the real reference features' mu and sigma (pytorch-fid's .npz layout, plus keys extractor, "
        "extractor_identity, weights_hash, n) to FILE.npz; without --fake, of the --n real samples read. "
        "--real FILE.npz with mu and sigma reads such a file (FID only, the extractor checked where recorded)",
    )
    p.add_argument("--device", default="cpu", help="device for sampling and features (default cpu)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the inputs (or, without them, run on small built-in arrays) and print the plan",
    )
    p.set_defaults(func=cmd_diagnose)


# --------------------------------------------------------------------------------------------
# Loading


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


def _dataset_names() -> list[str]:
    from gans.data import list_datasets

    return list_datasets()


# --------------------------------------------------------------------------------------------
# The command


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _print_table(out: dict[str, Any]) -> None:
    print(f"real: {out['real']}   fake: {out['fake']}")
    print(
        f"features: {out['extractor']} (weights "
        f"{str(out['weights_hash'])[:12] if out['weights_hash'] else '–'})   n_real={out['n_real']}  "
        f"n_test={out['n_test']}  n_fake={out['n_fake']}"
    )
    for role, sm in (out.get("sampling") or {}).items():
        if sm and sm.get("how") == "random":
            print(f"{role}: {sm['drawn']} of {sm['total']} drawn at random (seed {sm['seed']})")
    print()
    iv = out.get("intervals") or {}

    def with_iv(v: Any, which: str, k: str) -> str:
        i = (iv.get(which) or {}).get(k)
        return f"{_fmt(v)} [{_fmt(i[0])}, {_fmt(i[1])}]" if i else _fmt(v)

    print(f"  {'metric':<16}{'fake':>32}{'real ceiling':>32}")
    print(f"  {'-' * 16}{'-' * 30:>32}{'-' * 30:>32}")
    for k, v in out["metrics"].items():
        print(f"  {k:<16}{with_iv(v, 'fake', k):>32}{with_iv(out['ceiling'].get(k), 'ceiling', k):>32}")
    print("  (intervals: 90 % bootstrap; the ceiling is held-out real data at the fake set's size)")
    for note in out.get("notes") or []:
        print(f"note: {note}")
    print()
    print(f"collapse verdict: {out['verdict']['collapse']} — {out['verdict']['sentence']}")
    if out.get("quality"):
        print(f"quality verdict: {out['quality']['verdict']} — {out['quality']['sentence']}")
    if out.get("memorisation"):
        print(f"memorisation verdict: {out['memorisation']['verdict']} — {out['memorisation']['sentence']}")
    if out.get("equilibrium"):
        eq = out["equilibrium"]
        print(f"equilibrium verdict (training run): {eq['verdict']} — {eq['sentence']}")


def _dry_arrays(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch

    from gans.data import mixture_centers

    centers, std = mixture_centers("ring8")
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(8, (600,), generator=g)
    real = centers[k] + std * torch.randn(600, 2, generator=g)
    kf = torch.randint(2, (300,), generator=g)  # a generator that found 2 of the 8 modes
    fake = centers[kf] + std * torch.randn(300, 2, generator=g)
    return real[:300], real[300:], fake


def cmd_diagnose(args: argparse.Namespace) -> int:
    out = diagnose_output(args)
    if out is not None:
        _emit(out, args)
    return 0


def diagnose_output(args: argparse.Namespace) -> dict[str, Any] | None:
    """What ``ganbench diagnose`` prints, as a dict (None for a dry run's plan, which it prints itself): the
    one path from the parsed arguments to metrics and verdicts, shared by the command and ``ganbench.evaluate``."""
    import torch

    from diagnostics.evaluate import evaluate_samples
    from diagnostics.features import get_extractor, resolve_extractor_name

    if args.n is not None and args.n <= 0:
        raise UserError(f"--n must be a positive integer, got {args.n}")
    n_given = args.n is not None
    args.n = args.n if n_given else DEFAULT_N
    if args.dry_run and args.real is None and args.fake is None:
        tr, te, fk = _dry_arrays(args.seed)
        res = evaluate_samples(
            tr, te, fk, extractor="raw", data_kind="vector", mixture="ring8", cache=False, seed=args.seed
        )
        out = {
            "real": "built-in ring8 (dry run)",
            "fake": "built-in 2-mode ring8 (dry run)",
            "dry_run": True,
            **_result_dict(res),
        }
        return out
    save = getattr(args, "save_stats", None)
    if save is not None and not str(save).endswith(".npz"):
        raise UserError(f"--save-stats {save}: the file name must end in .npz (pytorch-fid's layout)")
    if args.real is not None and _is_stats_file(Path(args.real)):
        if args.fake is None:
            raise UserError(f"--real {args.real} holds statistics: give --fake samples to score against them")
        return _against_stats(args, n_given)
    if args.real is not None and args.fake is None and save is not None:
        return _save_real_stats(args)
    if args.real is None or args.fake is None:
        raise UserError("diagnose needs --real and --fake (or --dry-run alone to check the install)")

    vr = getattr(args, "value_range", "auto")
    fake, fake_info = load_samples(
        args.fake, n=args.n, role="fake", seed=args.seed, device=args.device, value_range=vr,
        require=args.n if n_given else None,
    )
    data = None
    sampling: dict[str, Any] = {"fake": fake_info.get("sampling"), "real": None}
    real_is_dataset = not Path(args.real).exists() and args.real in _dataset_names()
    peek = None if real_is_dataset or not Path(args.real).exists() else _peek_shape(Path(args.real))
    if peek is not None and peek != tuple(fake.shape[1:]):
        raise UserError(_mismatch(torch.empty((0, *peek)), fake))
    if real_is_dataset:
        from gans.data import DataOptions, load_data

        data = load_data(args.real, tuple(fake.shape[1:]), options=DataOptions(root=args.data_root, seed=0))
        n_tr = min(args.n, data.n_train) if data.finite else args.n
        n_te = min(args.n, int(data.info.get("n_test", 0))) if data.finite else args.n
        if n_te == 0:
            raise UserError(f"{data.name} has no held-out test split; pass real samples as a file instead")
        real_train = data.real(n_tr, "train", seed=0)[0]
        real_test = data.real(n_te, "test", seed=0)[0]
        real_desc = f"{data.name} (train {n_tr}, test {n_te})"
    else:
        if not Path(args.real).exists():
            raise UserError(
                f"--real {args.real}: no such file or folder, and not a data-set name (valid: "
                f"{', '.join(_dataset_names())})"
            )
        real, real_info = load_samples(
            args.real, n=2 * args.n, role="real", seed=args.seed, value_range=vr, require=args.n if n_given else None
        )
        sampling["real"] = real_info.get("sampling")
        if tuple(real.shape[1:]) != tuple(fake.shape[1:]):
            raise UserError(_mismatch(real, fake))
        perm = torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(args.seed))
        half = real.shape[0] // 2
        real_train, real_test = real[perm[:half]], real[perm[half:]]
        real_desc = f"{args.real} ({real.shape[0]} samples split {half}/{real.shape[0] - half})"
        if fake_info.get("dataset"):  # a run's data set gives the classifier its labels
            try:
                from gans.data import DataOptions, load_data

                data = load_data(
                    fake_info["dataset"], tuple(fake.shape[1:]), options=DataOptions(root=fake_info.get("data_root"))
                )
            except UserError:
                data = None
    if tuple(real_train.shape[1:]) != tuple(fake.shape[1:]):
        raise UserError(_mismatch(real_train, fake))
    mixture = args.mixture or (data.name if data is not None and data.name in ("ring8", "grid25") else None)
    kind = "vector" if fake.ndim == 2 else "image"
    ex_name = resolve_extractor_name(args.features, data, shape=tuple(fake.shape[1:]))
    if args.dry_run:
        from diagnostics.evaluate import _check_counts

        _check_counts(real_train.shape[0], real_test.shape[0], fake.shape[0])
        plan = {
            "dry_run": True,
            "real": real_desc,
            "fake": args.fake,
            "shape": list(fake.shape[1:]),
            "n_real": real_train.shape[0],
            "n_test": real_test.shape[0],
            "n_fake": fake.shape[0],
            "extractor": ex_name,
            "mixture": mixture,
            "sampling": sampling,
        }
        print(
            json.dumps(plan, indent=2)
            if args.json
            else f"dry run: would score {plan['n_fake']} fake vs {plan['n_real']} real (+{plan['n_test']} "
            f"held-out) samples of shape {tuple(plan['shape'])} with {ex_name} features"
            + (f" and {mixture} modes" if mixture else "")
        )
        return None
    ex = get_extractor(ex_name, data, shape=tuple(fake.shape[1:]), device=args.device, real=real_train)
    res = evaluate_samples(
        real_train, real_test, fake, extractor=ex, data_kind=kind, mixture=mixture, data=data, seed=args.seed
    )
    out = {"real": real_desc, "fake": args.fake, "sampling": sampling, **_result_dict(res)}
    if save is not None:
        st = res.details["reference_stats"]
        _write_stats(Path(save), st["mu"], st["sigma"], ex, st["n"])
        out["saved_stats"] = str(save)
    if fake_info.get("source") == "run":
        from diagnostics.verdicts import read_verdicts

        eq = read_verdicts(fake_info["run"]).get("equilibrium")
        if eq:
            out["equilibrium"] = eq
    return out


STATS_KEYS = ("mu", "sigma")
UNREBUILDABLE = ("contrastive", "classifier")  # trained on the real samples: not rebuilt from statistics


def _is_stats_file(path: Path) -> bool:
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            return all(k in z.files for k in STATS_KEYS)
    except Exception:
        return False  # read as samples: that path says what is wrong


def _write_stats(path: Path, mu: Any, sigma: Any, ex: Any, n: int) -> None:
    """mu and sigma in pytorch-fid's .npz layout (float64), plus the extractor's identity as extra keys."""
    import io

    import numpy as np

    from gans.base import atomic_write_bytes

    buf = io.BytesIO()
    np.savez(
        buf,
        mu=np.asarray(mu, dtype=np.float64),
        sigma=np.asarray(sigma, dtype=np.float64),
        extractor=np.array(ex.name),
        extractor_identity=np.array(ex.identity()),
        weights_hash=np.array(ex.weights_hash or ""),
        n=np.array(int(n)),
    )
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as e:
        raise UserError(f"--save-stats {path}: cannot write ({e.strerror or e})") from None


def _read_stats(path: Path) -> dict[str, Any]:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            st = {k: np.asarray(z[k]) for k in z.files}
    except Exception as e:
        raise UserError(f"{path}: unreadable statistics ({type(e).__name__}: {e})") from None
    mu, sigma = st["mu"], st["sigma"]
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]) or mu.dtype.kind != "f" or sigma.dtype.kind != "f":
        raise UserError(f"{path}: mu must be (D,) and sigma (D, D) floats; got {mu.shape} and {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise UserError(f"{path}: mu or sigma holds NaN or Inf")
    return {k: (v.item() if v.ndim == 0 else v) for k, v in st.items()}


def _save_real_stats(args: argparse.Namespace) -> dict[str, Any]:
    """``--real X --save-stats F`` without ``--fake``: the statistics of ``--n`` real samples."""
    from diagnostics.features import get_extractor, resolve_extractor_name
    from diagnostics.metrics import gaussian_stats

    if not Path(args.real).exists() and args.real in _dataset_names():
        raise UserError(f"--save-stats without --fake reads real samples (a file or folder); for the data set "
                        f"{args.real} add --fake, whose shape sets the images'")
    real, _ = load_samples(args.real, n=args.n, role="real", seed=args.seed, value_range=args.value_range)
    shape = tuple(real.shape[1:])
    ex = get_extractor(resolve_extractor_name(args.features, None, shape=shape), None, shape=shape,
                       device=args.device, real=real)
    feats = ex.features(real, "real").double().cpu()
    mu, sigma = gaussian_stats(feats)
    _write_stats(Path(args.save_stats), mu, sigma, ex, real.shape[0])
    return {"real": args.real, "n_real": real.shape[0], "extractor": ex.name, "weights_hash": ex.weights_hash,
            "dimensions": int(feats.shape[1]), "saved_stats": args.save_stats, "stats_only": True}


def _against_stats(args: argparse.Namespace, n_given: bool) -> dict[str, Any]:
    """FID of ``--fake`` against real statistics read from ``--real FILE.npz``."""
    from diagnostics.features import get_extractor
    from diagnostics.metrics import frechet_distance, gaussian_stats

    st = _read_stats(Path(args.real))
    recorded = str(st.get("extractor") or "") or None
    name = args.features if args.features != "auto" else (recorded or "inception")
    if recorded and name != recorded:
        raise UserError(f"--real {args.real} holds {recorded} statistics but --features is {name}; FIDs of different "
                        f"features are not comparable (pass --features {recorded})")
    if name in UNREBUILDABLE:
        raise UserError(f"{name} features are trained on the real samples and cannot be rebuilt from statistics; use "
                        "raw, random-conv or inception features with --save-stats")
    fake, _ = load_samples(args.fake, n=args.n, role="fake", seed=args.seed, device=args.device,
                           value_range=args.value_range, require=args.n if n_given else None)
    ex = get_extractor(name, None, shape=tuple(fake.shape[1:]), device=args.device)
    notes = []
    ident = str(st.get("extractor_identity") or "") or None
    if ident is not None and ident != ex.identity():
        raise UserError(f"--real {args.real} was computed with features {ident} but these are {ex.identity()} "
                        "(other weights or sample shape); recompute the statistics")
    if ident is None:
        notes.append(f"{args.real} does not record its features: the FID is comparable only if they were {ex.name} "
                     "features of the same weights (pytorch-fid's files hold Inception pool3 features)")
    feats = ex.features(fake, "fake").double().cpu()
    if feats.shape[1] != st["mu"].shape[0]:
        raise UserError(f"--real {args.real} holds {st['mu'].shape[0]}-dimensional statistics but {ex.name} features "
                        f"have {feats.shape[1]} dimensions")
    mu, sigma = gaussian_stats(feats)
    fid = frechet_distance(st["mu"], st["sigma"], mu, sigma)
    return {"real": args.real, "fake": args.fake, "stats_only": True, "extractor": ex.name,
            "weights_hash": ex.weights_hash, "n_real": st.get("n"), "n_fake": fake.shape[0], "metrics": {"fid": fid},
            "notes": notes}


def _print_stats_only(out: dict[str, Any]) -> None:
    if "fake" not in out:
        print(f"wrote {out['saved_stats']}: mu and sigma of {out['n_real']} real samples' {out['extractor']} features "
              f"({out['dimensions']} dimensions)")
        return
    print(f"real: {out['real']} (statistics of {out.get('n_real') or '?'} samples)   fake: {out['fake']}")
    print(f"features: {out['extractor']}   n_fake={out['n_fake']}")
    print(f"FID {out['metrics']['fid']:.6g} (statistics only: no ceiling, KID, PRDC or verdicts)")
    for note in out["notes"]:
        print(f"note: {note}")


def _mismatch(real: torch.Tensor, fake: torch.Tensor) -> str:
    rs, fs = tuple(real.shape[1:]), tuple(fake.shape[1:])
    if len(rs) == 3 and len(fs) == 3 and rs[0] != fs[0]:
        return (
            f"real images have {rs[0]} channel(s) but fake images have {fs[0]} (shapes {rs} vs {fs}); convert one set"
        )
    return f"real samples have shape {rs} but fake samples have {fs}; both sets must have the same per-sample shape"


def _result_dict(res: Any) -> dict[str, Any]:
    return {
        "extractor": res.extractor,
        "weights_hash": res.weights_hash,
        "n_real": res.n_real,
        "n_test": res.n_test,
        "n_fake": res.n_fake,
        "metrics": res.metrics,
        "ceiling": res.ceiling,
        "n_compared": res.n_compared,
        "verdict": {"collapse": res.verdict.verdict, "sentence": res.verdict.sentence, "scores": res.verdict.scores},
        "quality": {"verdict": res.quality.verdict, "sentence": res.quality.sentence, "scores": res.quality.scores}
        if res.quality
        else None,
        "memorisation": res.memorisation.to_dict() if res.memorisation else None,
        "intervals": res.intervals,
        "notes": list(res.notes),
        "eval_s": round(res.eval_s, 3),
    }


def _emit(out: dict[str, Any], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    elif out.get("stats_only"):
        _print_stats_only(out)
    else:
        _print_table(out)
