"""Colour image sources: the embedded photo crops, the seed's CelebA h5 and the anime image folder."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from ..base import DataError, UserError
from ..bounds import check_image_pixels, to_8bit
from .core import Data, DataOptions, epoch_perm, register_dataset, tensor_data

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif")  # the seed's anime loader
CELEBA_GROUP = "img_align_celeba"
CELEBA_SHAPE = (218, 178, 3)


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
            out[i] = np.asarray(
                img.resize((w, h), Image.BILINEAR, box=(left, top, left + cw, top + ch), reducing_gap=2.0)
            )
        x = torch.from_numpy(out).permute(0, 3, 1, 2)
        return x if c == 3 else x.float().mean(1, keepdim=True).round().to(torch.uint8)

    train, test = crops(n_train, 0), crops(n_test, 1)
    return tensor_data(
        "photos",
        shape,
        device,
        opts,
        train,
        None,
        test,
        None,
        None,
        {"source": "sklearn.datasets.load_sample_images (china.jpg, flower.jpg), random crops", "crop_seed": [0, 1]},
    )


def _stream_data(name: str, shape, device, opts: DataOptions, dataset, n_total: int, info: dict) -> Data:
    from torch.utils.data import DataLoader, Subset

    n_test = min(max(1, n_total // 10), 1000) if n_total >= 20 else 0
    n_train = n_total - n_test
    test_idx = list(range(n_train, n_total))

    def epoch(bs: int, ep: int, skip: int, dev: torch.device):
        perm = epoch_perm(n_train, opts.seed, ep)[skip * bs : (n_train // bs) * bs].tolist()
        loader = DataLoader(
            Subset(dataset, perm),
            batch_size=bs,
            shuffle=False,
            drop_last=True,
            num_workers=opts.workers,
            pin_memory=dev.type == "cuda",
        )
        for x in loader:
            yield x.to(dev, non_blocking=True), None

    def real(k: int, split: str, seed: int):
        pool = list(range(n_train)) if split == "train" or not test_idx else test_idx
        g = torch.Generator().manual_seed(seed)
        pick = [pool[i] for i in torch.randperm(len(pool), generator=g)[:k].tolist()]
        if k > len(pool):
            raise UserError(f"asked for {k} real {split} samples but {name} has {len(pool)}")
        return torch.stack([dataset[i] for i in pick]), None

    return Data(
        name,
        tuple(shape),
        "image",
        None,
        n_train,
        {"name": name, "n_train": n_train, "n_test": n_test, **info},
        epoch,
        real,
    )


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
    img = F.interpolate(
        img[None],
        size=(max(h, round(H * s)), max(w, round(W * s))),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )[0]
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
                raise DataError(
                    f"{path}: no group '{CELEBA_GROUP}' (found: "
                    f"{', '.join(list(f.keys())[:5]) or 'nothing'}); expected the seed's layout: "
                    f"{CELEBA_GROUP}/0.jpg, 1.jpg, … each 218×178×3 uint8"
                )
            group = f[CELEBA_GROUP]
            self.n = len(group)
            if self.n == 0:
                raise DataError(f"{path}: group '{CELEBA_GROUP}' is empty")
            for i in range(self.n):  # metadata only: cheap even for 200k images
                key = f"{i}.jpg"
                if key not in group:
                    raise DataError(
                        f"{path}: missing dataset '{CELEBA_GROUP}/{key}'; expected datasets named 0.jpg … "
                        f"{self.n - 1}.jpg"
                    )
                ds = group[key]
                if tuple(ds.shape) != CELEBA_SHAPE:
                    raise DataError(
                        f"{path}: '{CELEBA_GROUP}/{key}' has shape {tuple(ds.shape)}; expected 218×178×3 "
                        "(height, width, RGB)"
                    )
            first = np.asarray(group["0.jpg"])
        # uint8 images are 0…255; float images already in [0, 1] are used as they are
        self.scale = 1.0 if first.dtype.kind == "f" and float(np.nanmax(first)) <= 1.0 else 255.0
        self._file = None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        import h5py

        if self._file is None:  # opened lazily, once per worker process
            self._file = h5py.File(self.path, "r")
        img = torch.from_numpy(np.asarray(self._file[CELEBA_GROUP][f"{i}.jpg"])).permute(2, 0, 1).float() / self.scale
        c, h, w = self.shape
        img = _crop_or_resize(img, h, w, squash=False)
        return img if c == 3 else img.mean(0, keepdim=True)

    def __getstate__(self):
        return {**self.__dict__, "_file": None}


@register_dataset(
    "celeba-h5", "image", "the seed's CelebA h5 file: group img_align_celeba, datasets 0.jpg, 1.jpg, … (218×178×3)"
)
def _celeba(opts, shape, device):
    if opts.root is None:
        raise DataError(
            "celeba-h5 needs --data-root pointing at the h5 file (group img_align_celeba, datasets 0.jpg, 1.jpg, …)"
        )
    ds = CelebAH5(opts.root, shape)
    return _stream_data("celeba-h5", shape, device, opts, ds, len(ds), {"source": os.path.abspath(opts.root)})


class ImageFolder:
    """The seed's anime loader: .jpg .jpeg .png .gif files in one folder; Resize then CenterCrop."""

    def __init__(self, root: str, shape: tuple[int, int, int], *, skip_corrupt: bool = False):
        from PIL import Image

        if not os.path.isdir(root):
            raise DataError(f"{root}: not a folder; image-folder expects a folder of .jpg/.jpeg/.png/.gif files")
        files = sorted(
            os.path.join(root, f)
            for f in os.listdir(root)
            if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(root, f))
        )
        if not files:
            raise DataError(f"{root}: no images (.jpg, .jpeg, .png, .gif) in this folder")
        self.shape, self.skipped = shape, []
        good = []
        for path in _progress(files, "checking images"):
            try:
                with Image.open(path) as im:
                    check_image_pixels(path, im.size)  # from the header, before decoding
                    im.verify()  # header and, for PNG, checksums
                with Image.open(path) as im:
                    im.load()  # a full decode: catches truncated JPEGs, which verify() lets through
            except UserError:
                raise
            except Exception as e:
                if not skip_corrupt:
                    raise DataError(
                        f"{path}: corrupt or unreadable image ({type(e).__name__}: {e}); remove it or pass "
                        "--skip-corrupt"
                    ) from None
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
                im = to_8bit(im, path).convert("RGB" if c == 3 else "L")  # 16-bit: by its real range
                arr = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy())
        except Exception as e:
            raise DataError(f"{path}: corrupt image ({type(e).__name__}: {e})") from None
        img = (arr.permute(2, 0, 1) if arr.dim() == 3 else arr[None]).float() / 255.0
        return _crop_or_resize(img, h, w, squash=True)


@register_dataset(
    "image-folder", "image", "a folder of .jpg/.jpeg/.png/.gif (the seed's anime loader: Resize, CenterCrop)"
)
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
