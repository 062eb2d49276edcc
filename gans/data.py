"""Data sources: a registry of named sources, each delivering batches on the training device.

Every source yields ``(x, y)`` batches with images as float ``(B, C, H, W)`` in [0, 1] (the
GAN maps them to its own range) and toy data as float ``(B, D)`` vectors; ``y`` holds class
labels (or a conditioning signal) or ``None``. Sources that fit in memory live on the device as
tensors, so the hot loop does no per-item PIL work; folders and h5 files stream through a
``DataLoader``. Epoch order is a pure function of ``(seed, epoch)``, so a resumed run sees the
same batches as an uninterrupted one. Nothing is downloaded unless ``download=True``.

========================  ==========================================================
name                      what
========================  ==========================================================
``pattern1010``           the 1010 GAN's [0.8–1, 0–0.2, 0.8–1, 0–0.2] 4-vectors
``digits``                scikit-learn's 1,797 8×8 digits resized to 28×28 (embedded)
``mnist``                 torchvision layout under the data root (``MNIST/raw``)
``fashion-mnist``         torchvision layout, or Debian's ``dataset-fashion-mnist``
``celeba-h5``             the seed's h5: group ``img_align_celeba``, ``"0.jpg"``, …
``image-folder``          the seed's anime loader: jpg/jpeg/png/gif in one folder
``photos``                random crops of scikit-learn's two sample photos (embedded)
``ring8`` / ``grid25``    2-D Gaussian mixtures (VEEGAN / PacGAN protocol)
``speech``                espeak-ng speech mixed with noise (SEGAN); see gans/speech.py
``fake``                  random tensors of the model's input shape (timing, dry runs)
``auto``                  mnist → fashion-mnist → digits, whichever is present first
========================  ==========================================================
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DataError, UserError, unknown_name

__all__ = [
    "Data",
    "DataOptions",
    "list_datasets",
    "get_dataset_entry",
    "load_data",
    "RING8_RADIUS",
    "RING8_STD",
    "GRID25_SPACING",
    "GRID25_STD",
    "mixture_centers",
    "DEBIAN_FASHION_MNIST",
    "register_dataset",
    "synthetic_data",
    "tensor_data",
]

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif")  # the seed's anime loader
CELEBA_GROUP = "img_align_celeba"
CELEBA_SHAPE = (218, 178, 3)

# VEEGAN (Srivastava et al. 2017) ring: 8 modes on a circle of radius 2, std 0.02.
# PacGAN (Lin et al. 2018) grid: 25 modes at {-4,-2,0,2,4}², std 0.05.
# One definition, shared with the mode-counting metric so data and metric cannot disagree.
from diagnostics.metrics import GRID25_SPACING, GRID25_STD, RING8_RADIUS, RING8_STD, grid25_centers, ring8_centers  # noqa: E402


def mixture_centers(name: str) -> tuple[torch.Tensor, float]:
    """Mode centres (K, 2) and per-mode std of the ``ring8`` or ``grid25`` mixture."""
    if name == "ring8":
        return ring8_centers().float(), RING8_STD
    if name == "grid25":
        return grid25_centers().float(), GRID25_STD
    raise unknown_name("mixture", name, ["ring8", "grid25"])


@dataclass
class DataOptions:
    """How to find and prepare a data set (the CLI's data flags)."""

    root: str | None = None  # --data-root: folder, h5 file, or image folder
    download: bool = False  # allow torchvision to download mnist / fashion-mnist
    seed: int = 0  # epoch order and synthetic samples derive from it
    skip_corrupt: bool = False  # image-folder: skip unreadable files (counted) instead of failing
    workers: int = 0  # DataLoader workers for streamed sources
    epoch_size: int | None = None  # synthetic sources: samples per epoch


@dataclass
class Data:
    """A resolved data set on a device. ``info`` goes into the run's config.json."""

    name: str
    shape: tuple[int, ...]
    kind: str  # "image" | "vector" | "audio"
    num_classes: int | None
    n_train: int
    info: dict[str, Any]
    _epoch: Callable[[int, int, int, torch.device], Iterator[tuple[torch.Tensor, torch.Tensor | None]]]
    _real: Callable[[int, str, int], tuple[torch.Tensor, torch.Tensor | None]]
    finite: bool = True  # False for synthetic sources (no batch-size limit)
    extra: dict[str, Any] = field(default_factory=dict)

    def steps_per_epoch(self, batch_size: int) -> int:
        return max(1, self.n_train // batch_size)

    def check_batch_size(self, batch_size: int) -> None:
        if batch_size <= 0:
            raise UserError(f"batch size must be a positive integer, got {batch_size}")
        if self.finite and batch_size > self.n_train:
            raise UserError(
                f"batch size {batch_size} is larger than the data: {self.name} has "
                f"{self.n_train} training samples; use --batch-size {self.n_train} or less"
            )

    def epoch(self, batch_size: int, epoch: int, *, device: torch.device, skip: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """The batches of one epoch (partial last batch dropped), skipping the first ``skip``."""
        self.check_batch_size(batch_size)
        return self._epoch(batch_size, epoch, skip, device)

    def real(self, n: int, split: str = "test", seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` real samples on the CPU from ``split`` ("train" or "test"), for diagnostics."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return self._real(n, split, seed)


# --------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class DataEntry:
    name: str
    kind: str  # image | vector | audio | any
    summary: str
    build: Callable[[DataOptions, tuple[int, ...], torch.device], Data]


_SOURCES: dict[str, DataEntry] = {}


def register_dataset(name: str, kind: str, summary: str):
    """Decorator: register ``build(options, shape, device) -> Data`` under ``name``."""

    def deco(fn):
        if name in _SOURCES:
            raise RuntimeError(f"data source {name!r} registered twice")
        _SOURCES[name] = DataEntry(name, kind, summary, fn)
        return fn

    return deco


def list_datasets() -> list[str]:
    return sorted(_SOURCES)


def get_dataset_entry(name: str) -> DataEntry:
    if name not in _SOURCES:
        raise unknown_name("data set", name, list(_SOURCES))
    return _SOURCES[name]


def load_data(name: str, shape: tuple[int, ...], *, options: DataOptions | None = None, device: torch.device | str = "cpu") -> Data:
    """Resolve data set ``name`` for a model that takes samples of ``shape``."""
    options = options or DataOptions()
    entry = get_dataset_entry(name)
    if options.root is not None and name not in ("auto",) and entry.kind != "vector" and name not in ("digits", "photos", "fake"):
        if not os.path.exists(options.root):
            raise DataError(f"data root {options.root} does not exist")
    is_vector = len(shape) == 1
    if entry.kind == "image" and is_vector:
        raise UserError(f"data set {name!r} holds images but this GAN takes {shape[0]}-vectors; use one of: {', '.join(_vector_sources(shape[0]))}")
    if entry.kind == "vector" and not is_vector:
        raise UserError(f"data set {name!r} holds 2-/4-D points but this GAN takes images of shape {shape}; use an image data set")
    return entry.build(options, tuple(shape), torch.device(device))


def _vector_sources(dim: int) -> list[str]:
    return {4: ["pattern1010", "fake"], 2: ["ring8", "grid25", "fake"]}.get(dim, ["fake"])


# --------------------------------------------------------------------------------------------
# Building blocks


def _epoch_perm(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def _fit_images(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """uint8 (N, C, H, W) → uint8 of ``shape``: channels repeated/averaged, size resized."""
    c, h, w = shape
    if x.shape[1] != c:
        if x.shape[1] == 1:
            x = x.expand(-1, c, -1, -1)
        elif c == 1:
            x = x.float().mean(1, keepdim=True).round().to(torch.uint8)
        else:
            raise UserError(f"cannot turn {x.shape[1]}-channel images into {c} channels")
    if tuple(x.shape[2:]) != (h, w):
        out = []
        for i in range(0, x.shape[0], 2048):
            chunk = x[i : i + 2048].float()
            chunk = F.interpolate(chunk, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
            out.append(chunk.round().clamp(0, 255).to(torch.uint8))
        x = torch.cat(out)
    return x.contiguous()


def tensor_data(name: str, shape, device, opts: DataOptions, train_x: torch.Tensor, train_y, test_x: torch.Tensor, test_y, num_classes, info) -> Data:
    """Data held as uint8 tensors on ``device``; batches are converted to float there."""
    train_x = _fit_images(train_x, shape).to(device)
    test_x = _fit_images(test_x, shape)
    train_y = None if train_y is None else train_y.to(device)
    n = train_x.shape[0]

    def epoch(bs: int, ep: int, skip: int, dev: torch.device):
        perm = _epoch_perm(n, opts.seed, ep).to(train_x.device)
        for b in range(skip, n // bs):
            idx = perm[b * bs : (b + 1) * bs]
            x = train_x.index_select(0, idx).to(dev, non_blocking=True).float().div_(255.0)
            y = None if train_y is None else train_y.index_select(0, idx).to(dev, non_blocking=True)
            yield x, y

    def real(k: int, split: str, seed: int):
        xs, ys = (train_x.cpu(), None if train_y is None else train_y.cpu()) if split == "train" else (test_x, test_y)
        if k > xs.shape[0]:
            raise UserError(f"asked for {k} real {split} samples but {name} has {xs.shape[0]}")
        idx = torch.randperm(xs.shape[0], generator=torch.Generator().manual_seed(seed))[:k]
        return xs[idx].float() / 255.0, None if ys is None else ys[idx]

    info = {"name": name, "n_train": n, "n_test": int(test_x.shape[0]), **info}
    return Data(name, tuple(shape), "image", num_classes, n, info, epoch, real)


def synthetic_data(name: str, shape, device, opts: DataOptions, sampler: Callable[[int, torch.Generator], torch.Tensor], epoch_size: int, info, kind="vector") -> Data:
    """Fresh samples per batch from ``sampler(n, generator)``, seeded by (seed, epoch, batch)."""
    n = opts.epoch_size or epoch_size

    def epoch(bs: int, ep: int, skip: int, dev: torch.device):
        for b in range(skip, max(1, n // bs)):
            g = torch.Generator().manual_seed((opts.seed * 1_000_003 + ep) * 100_003 + b)
            yield sampler(bs, g).to(dev, non_blocking=True), None

    def real(k: int, split: str, seed: int):
        g = torch.Generator().manual_seed(seed + (7_919 if split == "test" else 0) + 1)
        return sampler(k, g), None

    return Data(name, tuple(shape), kind, None, n, {"name": name, "epoch_size": n, "synthetic": True, **info}, epoch, real, finite=False)


# --------------------------------------------------------------------------------------------
# Synthetic and embedded sources


@register_dataset("pattern1010", "vector", "the 1010 GAN's real 4-vectors [0.8–1, 0–0.2, 0.8–1, 0–0.2]")
def _pattern1010(opts, shape, device):
    if shape != (4,):
        raise UserError(f"pattern1010 gives 4-vectors; this GAN takes {shape}")
    lo = torch.tensor([0.8, 0.0, 0.8, 0.0])

    def sampler(n, g):
        return lo + 0.2 * torch.rand((n, 4), generator=g)  # random.uniform on each range

    return synthetic_data("pattern1010", shape, device, opts, sampler, 1, {"source": "embedded generator (seed's generate_real)"})


def _mixture(name: str):
    def build(opts, shape, device):
        if shape != (2,):
            raise UserError(f"{name} gives 2-D points; this GAN takes {shape}")
        centers, std = mixture_centers(name)

        def sampler(n, g):
            k = torch.randint(centers.shape[0], (n,), generator=g)
            return centers[k] + std * torch.randn((n, 2), generator=g)

        return synthetic_data(name, shape, device, opts, sampler, 10_000, {"modes": int(centers.shape[0]), "std": std, "source": "embedded Gaussian mixture"})

    return build


register_dataset("ring8", "vector", "8 Gaussians on a circle of radius 2, std 0.02 (VEEGAN)")(_mixture("ring8"))
register_dataset("grid25", "vector", "25 Gaussians on a 5×5 grid, spacing 2, std 0.05 (PacGAN)")(_mixture("grid25"))


@register_dataset("fake", "any", "random tensors of the model's input shape (timing and dry runs only)")
def _fake(opts, shape, device):
    kind = "vector" if len(shape) == 1 else "image"
    return synthetic_data("fake", shape, device, opts, lambda n, g: torch.rand((n, *shape), generator=g), 1024, {"source": "torch.rand"}, kind=kind)


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
    return tensor_data("digits", shape, device, opts, x[tr], y[tr], x[te], y[te], 10, {"source": "sklearn.datasets.load_digits (8×8 → 28×28 bilinear)"})


@register_dataset("photos", "image", "random crops of scikit-learn's two sample photos (embedded)")
def _photos(opts, shape, device):
    from PIL import Image
    from sklearn.datasets import load_sample_images

    c, h, w = shape
    photos = [Image.fromarray(np.array(im)) for im in load_sample_images().images]  # 2 × 427×640 RGB
    budget = 96 * 2**20  # bytes of uint8 crops to hold on the device
    n_train = int(min(1024, max(64, budget // (c * h * w))))
    n_test = max(32, n_train // 4)

    def crops(n: int, seed: int) -> torch.Tensor:
        # PIL does the resampling (single-threaded C, fast); torch only holds the result
        rng = np.random.default_rng(seed)
        out = np.empty((n, h, w, 3), dtype=np.uint8)
        for i in range(n):
            img = photos[rng.integers(len(photos))]
            W, H = img.size
            scale = rng.uniform(0.25, 1.0)  # crop side: 25–100 % of the largest crop that fits
            ch = int(min(H, W * h / w) * scale)
            cw = max(1, int(ch * w / h))
            top, left = int(rng.integers(H - ch + 1)), int(rng.integers(W - cw + 1))
            out[i] = np.asarray(img.resize((w, h), Image.BILINEAR, box=(left, top, left + cw, top + ch), reducing_gap=2.0))
        x = torch.from_numpy(out).permute(0, 3, 1, 2)
        return x if c == 3 else x.float().mean(1, keepdim=True).round().to(torch.uint8)

    train, test = crops(n_train, 0), crops(n_test, 1)
    return tensor_data("photos", shape, device, opts, train, None, test, None, None, {"source": "sklearn.datasets.load_sample_images (china.jpg, flower.jpg), random crops", "crop_seed": [0, 1]})


# --------------------------------------------------------------------------------------------
# MNIST family


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
        files = [_find_idx(folder, f"{split}-{kind}-idx{d}-ubyte") for split in ("train", "t10k") for kind, d in (("images", 3), ("labels", 1))]
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


def _mnist_like(name: str, tv_name: str, allow_debian: bool):
    def build(opts, shape, device):
        folder, (xtr, ytr, xte, yte) = _load_mnist_family(name, tv_name, opts, allow_debian)
        for arr, what in ((xtr, "train images"), (xte, "test images")):
            if arr.ndim != 3 or arr.shape[1:] != (28, 28):
                raise DataError(f"{folder}: {what} have shape {arr.shape}; expected (N, 28, 28)")
        to_t = lambda a: torch.from_numpy(a.copy())  # noqa: E731
        return tensor_data(name, shape, device, opts, to_t(xtr).unsqueeze(1), to_t(ytr).long(), to_t(xte).unsqueeze(1), to_t(yte).long(), 10, {"source": str(folder)})

    return build


register_dataset("mnist", "image", "MNIST in torchvision's layout under --data-root (MNIST/raw)")(_mnist_like("mnist", "MNIST", False))
register_dataset("fashion-mnist", "image", "Fashion-MNIST: torchvision layout under --data-root, or Debian's dataset-fashion-mnist")(_mnist_like("fashion-mnist", "FashionMNIST", True))


@register_dataset("auto", "image", "mnist → fashion-mnist → digits: the first one present")
def _auto(opts, shape, device):
    tried = []
    for name in ("mnist", "fashion-mnist", "digits"):
        try:
            data = get_dataset_entry(name).build(DataOptions(**{**opts.__dict__, "download": False}), shape, device)
        except DataError as e:
            tried.append(f"{name}: {e}")
            continue
        data.info["auto"] = {"chosen": name, "skipped": tried}
        return data
    raise DataError("no data set found for auto: " + "; ".join(tried))  # digits is embedded: unreachable


# --------------------------------------------------------------------------------------------
# Streamed sources: the seed's CelebA h5 and the anime image folder


def _stream_data(name: str, shape, device, opts: DataOptions, dataset, n_total: int, info: dict) -> Data:
    from torch.utils.data import DataLoader, Subset

    n_test = min(max(1, n_total // 10), 1000) if n_total >= 20 else 0
    n_train = n_total - n_test
    test_idx = list(range(n_train, n_total))

    def epoch(bs: int, ep: int, skip: int, dev: torch.device):
        perm = _epoch_perm(n_train, opts.seed, ep)[skip * bs : (n_train // bs) * bs].tolist()
        loader = DataLoader(Subset(dataset, perm), batch_size=bs, shuffle=False, drop_last=True,
                            num_workers=opts.workers, pin_memory=dev.type == "cuda")
        for x in loader:
            yield x.to(dev, non_blocking=True), None

    def real(k: int, split: str, seed: int):
        pool = list(range(n_train)) if split == "train" or not test_idx else test_idx
        g = torch.Generator().manual_seed(seed)
        pick = [pool[i] for i in torch.randperm(len(pool), generator=g)[:k].tolist()]
        if k > len(pool):
            raise UserError(f"asked for {k} real {split} samples but {name} has {len(pool)}")
        return torch.stack([dataset[i] for i in pick]), None

    return Data(name, tuple(shape), "image", None, n_train, {"name": name, "n_train": n_train, "n_test": n_test, **info}, epoch, real)


def _crop_or_resize(img: torch.Tensor, h: int, w: int, squash: bool) -> torch.Tensor:
    """float (C, H, W) → (C, h, w). ``squash``: the seed's Resize((h, w)) then CenterCrop.
    Otherwise the seed's ``crop_centre`` when the crop is at least half the image, else a
    resize of the short side followed by a centre crop."""
    H, W = img.shape[1:]
    if (H, W) == (h, w):
        return img
    if squash:
        return F.interpolate(img[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
    if h <= H and w <= W and 2 * h > H and 2 * w > W:
        top, left = H // 2 - h // 2, W // 2 - w // 2
        return img[:, top : top + h, left : left + w]
    s = max(h / H, w / W)
    img = F.interpolate(img[None], size=(max(h, round(H * s)), max(w, round(W * s))), mode="bilinear", align_corners=False, antialias=True)[0]
    H, W = img.shape[1:]
    top, left = (H - h) // 2, (W - w) // 2
    return img[:, top : top + h, left : left + w]


class CelebAH5:
    """The seed's CelebA h5: group ``img_align_celeba`` of datasets ``"0.jpg"``, ``"1.jpg"``, …"""

    def __init__(self, path: str, shape: tuple[int, int, int]):
        import h5py

        self.path, self.shape = path, shape
        if not os.path.isfile(path):
            raise DataError(f"{path}: no such file; celeba-h5 expects the seed's h5 file (--data-root FILE.h5)")
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            raise DataError(f"{path}: not a readable HDF5 file ({e})") from None
        with f:
            if CELEBA_GROUP not in f:
                raise DataError(f"{path}: no group '{CELEBA_GROUP}' (found: {', '.join(list(f.keys())[:5]) or 'nothing'}); expected the seed's layout: {CELEBA_GROUP}/0.jpg, 1.jpg, … each 218×178×3 uint8")
            group = f[CELEBA_GROUP]
            self.n = len(group)
            if self.n == 0:
                raise DataError(f"{path}: group '{CELEBA_GROUP}' is empty")
            for i in range(self.n):  # metadata only: cheap even for 200k images
                key = f"{i}.jpg"
                if key not in group:
                    raise DataError(f"{path}: missing dataset '{CELEBA_GROUP}/{key}'; expected datasets named 0.jpg … {self.n - 1}.jpg")
                ds = group[key]
                if tuple(ds.shape) != CELEBA_SHAPE:
                    raise DataError(f"{path}: '{CELEBA_GROUP}/{key}' has shape {tuple(ds.shape)}; expected 218×178×3 (height, width, RGB)")
        self._file = None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        import h5py

        if self._file is None:  # opened lazily, once per worker process
            self._file = h5py.File(self.path, "r")
        img = torch.from_numpy(np.asarray(self._file[CELEBA_GROUP][f"{i}.jpg"])).permute(2, 0, 1).float() / 255.0
        c, h, w = self.shape
        img = _crop_or_resize(img, h, w, squash=False)
        return img if c == 3 else img.mean(0, keepdim=True)

    def __getstate__(self):
        return {**self.__dict__, "_file": None}


@register_dataset("celeba-h5", "image", "the seed's CelebA h5 file: group img_align_celeba, datasets 0.jpg, 1.jpg, … (218×178×3)")
def _celeba(opts, shape, device):
    if opts.root is None:
        raise DataError("celeba-h5 needs --data-root pointing at the h5 file (group img_align_celeba, datasets 0.jpg, 1.jpg, …)")
    ds = CelebAH5(opts.root, shape)
    return _stream_data("celeba-h5", shape, device, opts, ds, len(ds), {"source": os.path.abspath(opts.root)})


class ImageFolder:
    """The seed's anime loader: .jpg .jpeg .png .gif files in one folder; Resize then CenterCrop."""

    def __init__(self, root: str, shape: tuple[int, int, int], *, skip_corrupt: bool = False):
        from PIL import Image

        if not os.path.isdir(root):
            raise DataError(f"{root}: not a folder; image-folder expects a folder of .jpg/.jpeg/.png/.gif files")
        files = sorted(os.path.join(root, f) for f in os.listdir(root) if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(root, f)))
        if not files:
            raise DataError(f"{root}: no images (.jpg, .jpeg, .png, .gif) in this folder")
        self.shape, self.skipped = shape, []
        good = []
        for path in _progress(files, "checking images"):
            try:
                with Image.open(path) as im:
                    im.verify()  # header and, for PNG, checksums: catches truncated and bogus files
            except Exception as e:
                if not skip_corrupt:
                    raise DataError(f"{path}: corrupt or unreadable image ({type(e).__name__}: {e}); remove it or pass --skip-corrupt") from None
                self.skipped.append(path)
                continue
            good.append(path)
        if not good:
            raise DataError(f"{root}: every image is unreadable ({len(files)} skipped)")
        self.files = good

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image

        path = self.files[i]
        c, h, w = self.shape
        try:
            with Image.open(path) as im:
                im = im.convert("RGB" if c == 3 else "L")
                arr = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy())
        except Exception as e:
            raise DataError(f"{path}: corrupt image ({type(e).__name__}: {e})") from None
        img = (arr.permute(2, 0, 1) if arr.dim() == 3 else arr[None]).float() / 255.0
        return _crop_or_resize(img, h, w, squash=True)


@register_dataset("image-folder", "image", "a folder of .jpg/.jpeg/.png/.gif (the seed's anime loader: Resize, CenterCrop)")
def _image_folder(opts, shape, device):
    if opts.root is None:
        raise DataError("image-folder needs --data-root pointing at a folder of images")
    ds = ImageFolder(opts.root, shape, skip_corrupt=opts.skip_corrupt)
    info = {"source": os.path.abspath(opts.root), "skipped_files": len(ds.skipped)}
    if ds.skipped:
        info["skipped_examples"] = ds.skipped[:10]
    return _stream_data("image-folder", shape, device, opts, ds, len(ds), info)


def _progress(items, desc: str):
    if len(items) < 2000:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="file")
