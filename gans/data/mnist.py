"""The MNIST family: scikit-learn's embedded digits, MNIST and Fashion-MNIST on disk, and ``auto``.

``auto`` takes mnist → fashion-mnist → glyphs (``glyphs.py``) → digits.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..base import DataError
from .core import DataOptions, get_dataset_entry, register_dataset, tensor_data

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
#: Fashion-MNIST's label meanings, in label order (its published labels; verdicts name missing classes by them)
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


@register_dataset("digits", "image", "scikit-learn's 1,797 8×8 handwritten digits, resized to 28×28 (embedded)")
def _digits(opts, shape, device):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images).float().div(16.0).unsqueeze(1)  # (1797, 1, 8, 8), 0..16 → [0, 1]
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    y = torch.from_numpy(d.target).long()
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))  # fixed split
    n_test = 360
    te, tr = perm[:n_test], perm[n_test:]
    return tensor_data(
        "digits",
        shape,
        device,
        opts,
        x[tr],
        y[tr],
        x[te],
        y[te],
        10,
        {"source": "sklearn.datasets.load_digits (8×8 → 28×28 bilinear)"},
    )


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST's format), gzipped or not; malformed files name themselves."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        zero, dtype, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype != 0x08:
            raise ValueError("bad magic number")
        dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
        arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
        return arr.reshape(dims)
    except (OSError, ValueError, struct.error, EOFError) as e:
        raise DataError(f"{path}: not a valid IDX file ({e}); expected MNIST's *-idx?-ubyte[.gz] format") from None


def idx_bytes(arr: np.ndarray) -> bytes:
    """A uint8 array as an IDX file's bytes (MNIST's format; what :func:`_read_idx` reads back)."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return struct.pack(f">HBB{arr.ndim}I", 0, 0x08, arr.ndim, *arr.shape) + arr.tobytes()


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _mnist_folder_candidates(root: Path, tv_name: str) -> list[Path]:
    return [root / tv_name / "raw", root / tv_name, root]


def _load_mnist_family(name: str, tv_name: str, opts: DataOptions, allow_debian: bool) -> tuple[Path, tuple]:
    explicit = opts.root is not None
    root = Path(opts.root or os.environ.get("GANBENCH_DATA", "data"))
    candidates = _mnist_folder_candidates(root, tv_name)
    if allow_debian and not explicit:
        candidates.append(DEBIAN_FASHION_MNIST)
    for folder in candidates:
        files = [
            _find_idx(folder, f"{split}-{kind}-idx{d}-ubyte")
            for split in ("train", "t10k")
            for kind, d in (("images", 3), ("labels", 1))
        ]
        if all(files):
            arrays = [_read_idx(p) for p in files]
            return folder, tuple(arrays)
    if opts.download:
        import torchvision

        cls = getattr(torchvision.datasets, tv_name)
        try:
            cls(str(root), train=True, download=True)
            cls(str(root), train=False, download=True)
        except Exception as e:  # network failures and the like
            raise DataError(f"downloading {name} to {root} failed: {e}") from None
        return _load_mnist_family(name, tv_name, DataOptions(root=str(root)), False)
    hint = " or install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)" if allow_debian else ""
    raise DataError(
        f"{name} not found: looked for train-images-idx3-ubyte[.gz] etc. in "
        f"{', '.join(str(c) for c in candidates)}; pass --data-root, add --download{hint}"
    )


def _mnist_like(name: str, tv_name: str, allow_debian: bool, class_names: tuple[str, ...] | None = None):
    def build(opts, shape, device):
        folder, (xtr, ytr, xte, yte) = _load_mnist_family(name, tv_name, opts, allow_debian)
        for arr, what in ((xtr, "train images"), (xte, "test images")):
            if arr.ndim != 3 or arr.shape[1:] != (28, 28):
                raise DataError(f"{folder}: {what} have shape {arr.shape}; expected (N, 28, 28)")
        to_t = lambda a: torch.from_numpy(a.copy())  # noqa: E731
        info: dict = {"source": str(folder)}
        if class_names is not None:
            info["class_names"] = list(class_names)
        return tensor_data(
            name,
            shape,
            device,
            opts,
            to_t(xtr).unsqueeze(1),
            to_t(ytr).long(),
            to_t(xte).unsqueeze(1),
            to_t(yte).long(),
            10,
            info,
        )

    return build


register_dataset("mnist", "image", "MNIST in torchvision's layout under --data-root (MNIST/raw)")(
    _mnist_like("mnist", "MNIST", False)
)
register_dataset(
    "fashion-mnist", "image", "Fashion-MNIST: torchvision layout under --data-root, or Debian's dataset-fashion-mnist"
)(_mnist_like("fashion-mnist", "FashionMNIST", True, FASHION_CLASSES))


@register_dataset("auto", "image", "mnist → fashion-mnist → glyphs → digits: the first one present")
def _auto(opts, shape, device):
    tried = []
    for name in ("mnist", "fashion-mnist", "glyphs", "digits"):
        try:
            data = get_dataset_entry(name).build(DataOptions(**{**opts.__dict__, "download": False}), shape, device)
        except DataError as e:
            tried.append(f"{name}: {e}")
            continue
        data.info["auto"] = {"chosen": name, "skipped": tried}
        return data
    raise DataError("no data set found for auto: " + "; ".join(tried))  # glyphs and digits are embedded
